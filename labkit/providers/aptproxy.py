"""The lab's package proxy: Debian's apt-cacher-ng on the bridge address.

Machines have no route to the outside, so ``apt-get`` in a machine goes
through this proxy (``Acquire::http::Proxy "http://<bridge address>:3142"``).
It listens only on the bridge address, with its own config, cache and log in
the lab's directory, and fetches from the Debian mirror of the host's own apt
sources: apt-cacher-ng's stock backend list names mirrors this host cannot
reach (notes/lab-hosts.md), so ``backends_debian`` is written here.

Port 3142 (apt-cacher-ng's own) is safe to fix: the proxy binds the lab's
bridge address only, and every lab has its own bridge network.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from labkit.providers.base import PidFile, ProviderError
from labkit.providers.image import host_debian_mirror

PORT = 3142


class AptProxy:
    def __init__(self, workdir: Path, address: str, mirror: str | None = None, port: int = PORT):
        self.workdir = workdir
        self.address = address
        self.port = port
        self.mirror = mirror or host_debian_mirror()
        self.pidfile = PidFile(workdir / "apt-cacher-ng.pid")

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def apt_conf(self) -> str:
        """What a machine's /etc/apt/apt.conf.d/01labkit-proxy holds."""
        return f'Acquire::http::Proxy "{self.url}";\n'

    def config(self) -> str:
        return "\n".join([
            f"CacheDir: {self.workdir / 'cache'}",
            f"LogDir: {self.workdir / 'log'}",
            "SupportDir: /usr/lib/apt-cacher-ng",
            f"BindAddress: {self.address}",
            f"Port: {self.port}",
            "ForeGround: 1",
            # any Debian mirror a machine's sources name is served from the host's mirror
            "Remap-debrep: file:deb_mirror*.gz /debian ; file:backends_debian",
            "ReportPage: acng-report.html",
            "ExThreshold: 4",
            "",
        ])

    def running(self) -> bool:
        return self.pidfile.pid() is not None

    def ensure(self, timeout: float = 20.0) -> bool:
        """Start the proxy unless it runs; True if it was started."""
        if self.running():
            return False
        binary = shutil.which("apt-cacher-ng") or "/usr/sbin/apt-cacher-ng"
        if not Path(binary).exists():
            raise ProviderError("apt-cacher-ng is not installed: run `bash scripts/bootstrap.sh setup` "
                                "(scripts/machines-packages.txt)")
        for sub in ("cache", "log", "conf"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        (self.workdir / "conf/acng.conf").write_text(self.config())
        (self.workdir / "conf/backends_debian").write_text(self.mirror.rstrip("/") + "/\n")
        log = open(self.workdir / "log/stdout.log", "ab")
        proc = subprocess.Popen([binary, "-c", str(self.workdir / "conf")], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, start_new_session=True)
        self.pidfile.record(proc.pid)
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise ProviderError(f"apt-cacher-ng exited with code {proc.returncode}; "
                                    f"see {self.workdir / 'log'}")
            try:
                socket.create_connection((self.address, self.port), timeout=0.5).close()
                return True
            except OSError:
                if time.monotonic() > deadline:
                    raise ProviderError(f"apt-cacher-ng does not answer on {self.url}; see {self.workdir / 'log'}")
                time.sleep(0.1)

    def stop(self) -> bool:
        return self.pidfile.stop()
