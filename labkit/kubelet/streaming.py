"""The kubelet's streaming server: what the apiserver calls for ``kubectl logs``, ``exec`` and ``attach``.

The kubelet serves HTTPS on its port (10250) with its serving certificate
(``--tls-cert-file``/``--tls-private-key-file``). The apiserver comes with
its kubelet client certificate (labkit.pki's apiserver-kubelet-client) and
asks, for the pod's namespace, name and container:

    GET /containerLogs/{ns}/{pod}/{container}?follow&tailLines&sinceSeconds&sinceTime&timestamps&previous&limitBytes
    GET /exec/{ns}/{pod}/{container}?command=sh&command=-c&command=...&stdin=1&stdout=1&stderr=1&tty=0
    GET /attach/{ns}/{pod}/{container}?stdin=1&stdout=1&stderr=1&tty=0

exec and attach are WebSocket upgrades speaking the channel.k8s.io protocols
(channels.py). Logs are plain text, streamed.

Who may ask, as upstream's kubelet does it:

- authentication: a client certificate signed by ``--client-ca-file``
  (user = CN, groups = O); no certificate or a bad one is 401.
- authorization (upstream's ``--authorization-mode=Webhook``): the kubelet
  asks the apiserver with a SubjectAccessReview whether that user may
  ``<verb>`` the ``nodes/proxy`` subresource of this node (verb from the HTTP
  method: GET get, POST create ...). The apiserver-kubelet-client identity is
  in system:masters and may; anybody else needs an RBAC rule for nodes/proxy.
  A refusal is 403 with upstream's text
  ``Forbidden (user=..., verb=..., resource=nodes, subresource=proxy)``.

Upstream's kubelet streams exec/attach through the runtime's own streaming
server (CRI Exec/Attach return its URL) and speaks SPDY as well; labkit's
speaks the WebSocket protocols only (v5, v4 and the older channel.k8s.io),
which is what its apiserver relays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiohttp import WSMsgType, web

from labkit.apiserver.auth import UserInfo
from labkit.apiserver.auth.authn import InvalidCredentials, X509Authenticator
from labkit.apiserver.tls import server_context
from labkit.client import ApiClient
from labkit.kubelet import channels
from labkit.kubelet.logs import LogOptions, LogOptionsError, serve_log
from labkit.kubelet.runtime import ContainerNotFound, ContainerRef, ExecFailed, Runtime, Streams

log = logging.getLogger("labkit.kubelet.streaming")

KUBELET_PORT = 10250
AUTHENTICATED = "system:authenticated"
# The kubelet API paths authorized as the nodes/proxy subresource (upstream: exec, attach, portForward,
# containerLogs, run; /logs is nodes/log, /stats nodes/stats ... served by the kubelet issue).
PROXY_PATHS = ("exec", "attach", "portForward", "containerLogs", "run")
METHOD_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete"}


def plain(status: int, text: str) -> web.Response:
    """The kubelet answers errors as plain text (the apiserver wraps them in a Status for its client)."""
    return web.Response(status=status, text=text + "\n", content_type="text/plain")


def client_gone(request: web.Request) -> bool:
    """The client closed its connection (a quiet stream would not notice until its next write)."""
    return request.transport is None or request.transport.is_closing()


def _flag(query, name: str) -> bool:
    return query.get(name, "") in ("1", "true", "True")


class SubjectAccessReviewAuthorizer:
    """upstream's kubelet ``--authorization-mode=Webhook``: a SubjectAccessReview, answered by the apiserver
    with the kubelet's own credentials (system:node:<name> may create them). Answers are remembered as
    upstream's defaults say (--authorization-webhook-cache-authorized-ttl 5m, -unauthorized-ttl 30s)."""

    def __init__(self, client: ApiClient, authorized_ttl: float = 300.0, unauthorized_ttl: float = 30.0):
        self.client = client
        self.ttl = {True: authorized_ttl, False: unauthorized_ttl}
        self.answers: dict[tuple, tuple[bool, str, float]] = {}  # question -> (allowed, reason, expires)

    async def authorize(self, user: UserInfo, verb: str, node_name: str, subresource: str) -> tuple[bool, str]:
        question = (user.name, user.uid, user.groups, tuple(sorted((k, tuple(v)) for k, v in user.extra.items())),
                    verb, node_name, subresource)
        now = time.monotonic()
        known = self.answers.get(question)
        if known is not None and known[2] > now:
            return known[0], known[1]
        allowed, reason = await self._ask(user, verb, node_name, subresource)
        if len(self.answers) > 1024:  # forget the expired ones now and then
            self.answers = {q: a for q, a in self.answers.items() if a[2] > now}
        self.answers[question] = (allowed, reason, now + self.ttl[allowed])
        return allowed, reason

    async def _ask(self, user: UserInfo, verb: str, node_name: str, subresource: str) -> tuple[bool, str]:
        review = {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user.name, "groups": list(user.groups), "uid": user.uid,
                     "extra": {k: list(v) for k, v in user.extra.items()},
                     "resourceAttributes": {"verb": verb, "group": "", "version": "v1", "resource": "nodes",
                                            "subresource": subresource, "name": node_name}},
        }
        answer = await self.client.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                                           body=review)
        status = (answer or {}).get("status") or {}
        return bool(status.get("allowed")), str(status.get("reason") or "")


class StreamingServer:
    """The kubelet's HTTPS server for logs, exec and attach of the containers ``runtime`` runs."""

    def __init__(self, node_name: str, runtime: Runtime, *, tls_cert_file, tls_private_key_file, client_ca_file,
                 authorizer: SubjectAccessReviewAuthorizer):
        self.node_name = node_name
        self.runtime = runtime
        self.ssl_context = server_context(tls_cert_file, tls_private_key_file, client_ca_file)
        self.authenticator = X509Authenticator(client_ca_file)
        self.authorizer = authorizer
        self.app = web.Application(middlewares=[self.gate])
        for path, handler in (("/containerLogs/{namespace}/{pod}/{container}", self.container_logs),
                              ("/exec/{namespace}/{pod}/{container}", self.exec),
                              ("/attach/{namespace}/{pod}/{container}", self.attach)):
            self.app.router.add_route("GET", path, handler)
            self.app.router.add_route("POST", path, handler)
        self._runner: web.AppRunner | None = None

    async def start(self, address: str = "127.0.0.1", port: int = KUBELET_PORT) -> None:
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, address, port, ssl_context=self.ssl_context).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- who may ask ------------------------------------------------------------------

    @web.middleware
    async def gate(self, request: web.Request, handler):
        try:
            user = self.authenticator.authenticate(request)
        except InvalidCredentials as exc:
            log.info("refused a client certificate: %s", exc)
            user = None
        if user is None:
            return plain(401, "Unauthorized")
        user = UserInfo(user.name, user.uid, (*user.groups, AUTHENTICATED), user.extra)
        first = request.path.strip("/").split("/", 1)[0]
        subresource = "proxy" if first in PROXY_PATHS else first
        verb = METHOD_VERBS.get(request.method, request.method.lower())
        try:
            allowed, reason = await self.authorizer.authorize(user, verb, self.node_name, subresource)
        except Exception as exc:  # the apiserver could not be asked: refuse, and say why
            log.warning("SubjectAccessReview for %s failed: %s", user.name, exc)
            return plain(500, f"Authorization error (user={user.name}, verb={verb}, resource=nodes, "
                              f"subresource={subresource}): {exc}")
        if not allowed:
            log.info("forbidden: %s %s %s", user.name, verb, reason)
            return plain(403, f"Forbidden (user={user.name}, verb={verb}, resource=nodes, "
                              f"subresource={subresource})")
        return await handler(request)

    @staticmethod
    def _ref(request: web.Request) -> ContainerRef:
        m = request.match_info
        return ContainerRef(m["namespace"], m["pod"], m["container"])

    # -- logs ---------------------------------------------------------------------------

    async def container_logs(self, request: web.Request) -> web.StreamResponse:
        ref = self._ref(request)
        try:
            options = LogOptions.from_query(request.query)
            path = self.runtime.log_path(ref, previous=options.previous)
        except LogOptionsError as exc:
            return plain(400, str(exc))
        except ContainerNotFound as exc:
            return plain(404, str(exc))
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        try:
            # follow ends when the container stops, or when the client left (checked between polls)
            await serve_log(path, options, response.write,
                            lambda: self.runtime.is_running(ref) and not client_gone(request))
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client went away (``logs -f`` ended by the user)
        return response

    # -- exec and attach ------------------------------------------------------------------

    async def exec(self, request: web.Request) -> web.StreamResponse:
        command = request.query.getall("command", [])
        if not command:
            return plain(400, "you must specify at least one command for the container")
        return await self._stream(request, command)

    async def attach(self, request: web.Request) -> web.StreamResponse:
        return await self._stream(request, None)

    async def _stream(self, request: web.Request, command: list[str] | None) -> web.StreamResponse:
        """exec (a command) or attach (command None) over a channel.k8s.io WebSocket."""
        ref = self._ref(request)
        q = request.query
        want_stdin, want_stdout, want_stderr, tty = (_flag(q, n) for n in ("stdin", "stdout", "stderr", "tty"))
        if not (want_stdin or want_stdout or want_stderr):
            return plain(400, "you must specify at least one of stdin, stdout, stderr")
        if not self.runtime.is_running(ref):
            return plain(404, f'container not found ("{ref.container}")')
        if request.headers.get("Upgrade", "").lower() != "websocket":
            # 426 Upgrade Required: everything else was in order (the apiserver asks so to learn why an
            # upgrade was refused, and to answer a SPDY client)
            return plain(426, "labkit's kubelet streams exec and attach over WebSocket only (protocols "
                              f"{', '.join(p.name for p in channels.PROTOCOLS)}); this request asks for "
                              f"{request.headers.get('Upgrade') or 'no upgrade'}")
        asked = channels.offered(request.headers.get("Sec-WebSocket-Protocol"))
        protocol = channels.negotiate(asked)
        if protocol is None:
            return plain(400, f"requested protocol(s) are not supported: {asked}; supports "
                              f"{[p.name for p in channels.PROTOCOLS]}")
        ws = web.WebSocketResponse(protocols=(protocol.name,) if asked else (), autoping=True)
        await ws.prepare(request)

        async def send(stream: int, data: bytes) -> None:
            message = channels.encode(protocol, stream, data)
            if isinstance(message, str):
                await ws.send_str(message)
            else:
                await ws.send_bytes(message)

        async def stdout(data: bytes) -> None:
            await send(channels.STDOUT, data)

        async def stderr(data: bytes) -> None:
            await send(channels.STDERR, data)

        streams = Streams(stdin=asyncio.StreamReader() if want_stdin else None,
                          stdout=stdout if want_stdout else None,
                          stderr=stderr if want_stderr and not tty else None, tty=tty)
        reader = asyncio.create_task(self._read_client(ws, protocol, streams))
        if command is None:
            work = asyncio.create_task(self.runtime.attach(ref, streams))
        else:
            work = asyncio.create_task(self.runtime.exec(ref, command, streams))
        await asyncio.wait((work, reader), return_when=asyncio.FIRST_COMPLETED)
        if not work.done():  # the client left: stop the command (exec) or detach (attach)
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await work
            return ws
        try:
            exit_code = work.result()
            if command is None or exit_code == 0:
                status = channels.success_status()
            else:
                status = channels.exit_code_status(exit_code, command)
        except ContainerNotFound as exc:
            status = channels.error_status(str(exc))
        except ExecFailed as exc:
            status = channels.error_status(f"error executing command in container: {exc}")
        except ConnectionResetError:
            status = None  # the client is gone
        except Exception as exc:  # the runtime failed: the client hears why, the log keeps the traceback
            log.exception("%s %s failed", "attach" if command is None else "exec", ref)
            status = channels.error_status(f"error executing command in container: {exc}")
        payload = channels.status_payload(protocol, status) if status else None
        with contextlib.suppress(ConnectionResetError):
            if payload is not None:
                await send(channels.ERROR, payload)
            await ws.close()
        reader.cancel()
        return ws

    @staticmethod
    async def _read_client(ws: web.WebSocketResponse, protocol: channels.Protocol, streams: Streams) -> None:
        """The client's messages: stdin data, v5 close of stdin, terminal sizes; returns when it closes."""
        stdin_open = streams.stdin is not None
        try:
            async for message in ws:
                if message.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                    continue
                try:
                    stream, data = channels.decode(protocol, message.data)
                    if stream == channels.STDIN and stdin_open and data:
                        streams.stdin.feed_data(data)
                    elif stream == channels.CLOSE and data[0] == channels.STDIN and stdin_open:
                        stdin_open = False
                        streams.stdin.feed_eof()
                    elif stream == channels.RESIZE:
                        streams.resize.put_nowait(channels.terminal_size(data))
                except channels.ProtocolError as exc:
                    log.info("ignored a message: %s", exc)
        finally:
            if stdin_open:
                streams.stdin.feed_eof()
