"""Control-plane processes on this machine, on loopback.

Used by the tests, the benchmarks and ``invoke local.up``: a real etcd (the
Debian ``etcd`` binary) and labkit's own apiserver, each started as a child
process on free loopback ports, waited for until healthy, and stopped by the
PID we started (never by name).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_http_ok(url: str, timeout: float, proc: subprocess.Popen | None = None, what: str = "",
                 context: ssl.SSLContext | None = None) -> None:
    """Poll ``url`` until it answers 200; fail early if ``proc`` died (``context``: TLS settings for https)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what or url}: process exited with code {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as resp:
                if resp.status == 200:
                    return
                last = f"HTTP {resp.status}"
        except Exception as exc:  # not up yet
            last = str(exc)
        time.sleep(0.1)
    raise TimeoutError(f"{what or url} not ready after {timeout:.0f}s (last: {last})")


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM the process we started, SIGKILL it if it lingers."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


@dataclass
class EtcdProcess:
    """An etcd member on loopback, with its data in a private directory.

    Alone by default; ``etcd_cluster()`` makes several that form one cluster
    (each then names all of them in ``initial_cluster``).
    """

    data_dir: Path | None = None
    client_port: int = 0
    peer_port: int = 0
    binary: str = "etcd"
    log_path: Path | None = None
    detach: bool = False  # keep running after we exit (invoke local.up): own session, stopped by PID later
    name: str = "labkit-local"
    initial_cluster: str = ""  # "name=http://127.0.0.1:PEER,...": the cluster's members (empty: this one alone)
    proc: subprocess.Popen | None = field(default=None, repr=False)
    _owns_dir: bool = field(default=False, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def start(self, timeout: float = 30.0, wait: bool = True) -> "EtcdProcess":
        """Start the member; with ``wait``, until it answers healthy (a member of a cluster
        only does once a quorum of members runs: start them all, then ``wait_healthy``)."""
        exe = shutil.which(self.binary)
        if exe is None:
            raise RuntimeError(
                f"{self.binary!r} not found on PATH: install Debian's etcd-server "
                "(bash scripts/bootstrap.sh setup does)"
            )
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="labkit-etcd-"))
            self._owns_dir = True
        self.client_port = self.client_port or free_port()
        self.peer_port = self.peer_port or free_port()
        log_path = self.log_path or (Path(self.data_dir).parent / f"{Path(self.data_dir).name}.log")
        self.log_path = log_path
        log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [
                exe,
                "--name", self.name,
                "--data-dir", str(self.data_dir),
                "--listen-client-urls", self.endpoint,
                "--advertise-client-urls", self.endpoint,
                "--listen-peer-urls", self.peer_url,
                "--initial-advertise-peer-urls", self.peer_url,
                "--initial-cluster", self.initial_cluster or f"{self.name}={self.peer_url}",
                "--quota-backend-bytes", str(2 * 1024**3),
            ],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=self.detach,
        )
        log.close()
        if wait:
            self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 30.0) -> None:
        wait_http_ok(f"{self.endpoint}/health", timeout, self.proc, what=f"etcd {self.name} (log: {self.log_path})")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
        if self._owns_dir and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            if self.log_path is not None:
                try:
                    os.unlink(self.log_path)
                except FileNotFoundError:
                    pass

    def compact(self) -> int:
        """Compact etcd's history up to now (etcdctl): every older revision is gone; returns the revision."""
        env = {**os.environ, "ETCDCTL_API": "3"}
        out = subprocess.run(["etcdctl", f"--endpoints={self.endpoint}", "endpoint", "status", "-w", "json"],
                             check=True, capture_output=True, text=True, env=env).stdout
        revision = int(json.loads(out)[0]["Status"]["header"]["revision"])
        subprocess.run(["etcdctl", f"--endpoints={self.endpoint}", "compact", str(revision)],
                       check=True, capture_output=True, env=env)
        return revision

    def wipe(self, prefix: str = "/") -> None:
        """Delete every key under ``prefix`` (tests call this between tests)."""
        subprocess.run(
            ["etcdctl", f"--endpoints={self.endpoint}", "del", "--prefix", prefix],
            check=True, stdout=subprocess.DEVNULL, env={**os.environ, "ETCDCTL_API": "3"},
        )

    def __enter__(self) -> "EtcdProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def etcd_cluster(base: Path, size: int = 3, timeout: float = 30.0) -> list[EtcdProcess]:
    """``size`` etcd members on loopback forming one cluster, as the lab's stacked etcd on its masters.

    The members are started together and waited for together: none is healthy before a quorum runs.
    """
    base.mkdir(parents=True, exist_ok=True)
    members = [EtcdProcess(data_dir=base / f"member-{i}", name=f"member-{i}", client_port=free_port(),
                           peer_port=free_port()) for i in range(1, size + 1)]
    cluster = ",".join(f"{m.name}={m.peer_url}" for m in members)
    try:
        for member in members:
            member.initial_cluster = cluster
            member.start(wait=False)
        for member in members:
            member.wait_healthy(timeout)
    except BaseException:
        for member in members:
            member.stop()
        raise
    return members


@dataclass
class ApiserverProcess:
    """labkit-apiserver on free loopback ports, backed by ``etcd``.

    By default plain HTTP only (the development insecure port). With ``secure``
    it also serves HTTPS on ``secure_port``: ``extra_args`` then carry the TLS
    and authentication flags (--tls-cert-file, --client-ca-file ...), ``ca_file``
    is the CA that signed the serving certificate, and ``url`` is the https one.
    ``insecure=False`` serves HTTPS only.

    Like every kube-apiserver it signs service-account tokens (TokenRequest,
    ``kubectl create token``): unless ``extra_args`` name a signing key, a key
    pair made the labkit.pki way (sa.key, sa.pub) next to the log is used.
    """

    etcd: EtcdProcess
    insecure_port: int = 0
    etcd_prefix: str = "/registry"
    log_path: Path | None = None
    extra_args: tuple[str, ...] = ()
    detach: bool = False
    secure: bool = False
    secure_port: int = 0
    ca_file: Path | None = None
    insecure: bool = True
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.secure_port}" if self.secure else self.insecure_url

    @property
    def insecure_url(self) -> str:
        return f"http://127.0.0.1:{self.insecure_port}"

    def start(self, timeout: float = 60.0) -> "ApiserverProcess":
        if not self.secure and not self.insecure:
            raise ValueError("ApiserverProcess: neither secure nor insecure: nothing to serve")
        ports = []
        if self.insecure:
            self.insecure_port = self.insecure_port or free_port()
            ports.append(f"--insecure-port={self.insecure_port}")
        if self.secure:
            self.secure_port = self.secure_port or free_port()
            ports += [f"--secure-port={self.secure_port}", "--bind-address=127.0.0.1"]
        else:
            ports.append("--secure-port=0")
        if self.log_path is None:
            self.log_path = Path(tempfile.mkdtemp(prefix="labkit-apiserver-")) / "apiserver.log"
        tokens = []
        if not any(a.startswith("--service-account-signing-key-file") for a in self.extra_args):
            from labkit.pki import serviceaccount
            keys = self.log_path.parent / "service-account"
            keys.mkdir(mode=0o700, exist_ok=True)
            serviceaccount.ensure(keys)  # kept across restarts: tokens stay valid
            tokens = [f"--service-account-signing-key-file={keys / serviceaccount.KEY}",
                      f"--service-account-key-file={keys / serviceaccount.PUB}",
                      "--service-account-issuer=https://kubernetes.default.svc.cluster.local"]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [python_executable(), "-m", "labkit.apiserver", f"--etcd-servers={self.etcd.endpoint}",
             f"--etcd-prefix={self.etcd_prefix}", *ports, *tokens, *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=self.detach,
        )
        log.close()
        what = f"labkit-apiserver (log: {self.log_path})"
        if self.insecure:
            wait_http_ok(f"{self.insecure_url}/readyz", timeout, self.proc, what=what)
        else:  # /readyz is public (anonymous), as upstream's system:public-info-viewer allows
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            wait_http_ok(f"{self.url}/readyz", timeout, self.proc, what=what, context=context)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def kubeconfig(self, path: Path, user: str = "admin") -> Path:
        """A kubeconfig for this server's insecure loopback port (what the components and kubectl get)."""
        import yaml
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "local",
            "clusters": [{"name": "local", "cluster": {"server": self.insecure_url if self.insecure else self.url}}],
            "users": [{"name": user, "user": {}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": user}}],
        }))
        return path

    def __enter__(self) -> "ApiserverProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def python_executable() -> str:
    """The interpreter of this environment (children run labkit from the same venv)."""
    return sys.executable
