"""A mutual-TLS server presenting a lab's apiserver certificate (a stand-in for the apiserver until issue 4).

aiohttp on 127.0.0.1 (a free port) with the generated apiserver.crt/.key,
requiring a client certificate signed by the lab's CA. It answers /version
like kube-apiserver and records who each request came from (the client
certificate's CN and O: the user and groups the apiserver would see).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from pathlib import Path

from aiohttp import web

from labkit.localplane import free_port

REPO = Path(__file__).resolve().parents[3]

VERSION = {"major": "1", "minor": "31", "gitVersion": "v1.31.0-labkit-pki-test", "gitCommit": "0" * 40,
           "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "python",
           "compiler": "cpython", "platform": "linux/amd64"}


class MutualTlsServer:
    def __init__(self, pki: Path):
        self.pki = pki
        self.port = free_port()
        self.seen: list[dict] = []  # per request: path, CN, O
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="pki-tls-server", daemon=True)
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.pki / "ca.crt"))
        ctx.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: no client certificate from the lab's CA, no connection
        ctx.load_cert_chain(str(self.pki / "apiserver.crt"), str(self.pki / "apiserver.key"))
        return ctx

    async def version(self, request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert") or {}
        subject = [attr for rdn in peer.get("subject", ()) for attr in rdn]
        self.seen.append({
            "path": request.path,
            "cn": next((v for k, v in subject if k == "commonName"), None),
            "o": [v for k, v in subject if k == "organizationName"],
        })
        return web.json_response(VERSION)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/version", self.version)
        app.router.add_get("/version/", self.version)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port, ssl_context=self.ssl_context()).start()

    def start(self) -> "MutualTlsServer":
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=30)
        return self

    def stop(self) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()
