"""How the engine reaches a host: the project's one SSH runner (paramiko), or local.

One ``Connection`` per host per run, opened once and reused for every
command (each command is one SSH channel on the same transport, so a task
costs one round trip, not a handshake). Files are sent through the same
channel kind (``cat > tmp && mv``), never a separate SFTP session.

``connection: local`` hosts run commands on the control machine with the
same interface, so modules never know the difference.
"""

from __future__ import annotations

import os
import select
import shlex
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any, Mapping

import paramiko

from labkit.provision.inventory import Host

CONNECT_TIMEOUT = 10.0


class Unreachable(Exception):
    """The host could not be reached (connection refused, timeout, bad key)."""


@dataclass
class Result:
    command: str
    rc: int
    stdout_bytes: bytes
    stderr: str

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode("utf-8", errors="replace")

    @property
    def ok(self) -> bool:
        return self.rc == 0


def shell_command(command: str, env: Mapping[str, Any] | None = None) -> str:
    """``command`` for /bin/sh, with exported environment variables in front."""
    exports = "".join(f"export {k}={shlex.quote(str(v))}; " for k, v in (env or {}).items())
    return exports + command


class Connection:
    """Run shell commands and write files on one host."""

    host: Host
    commands_run: int = 0

    def run(self, command: str, stdin: bytes | None = None, env: Mapping[str, Any] | None = None,
            timeout: float | None = None) -> Result:
        raise NotImplementedError

    def put(self, data: bytes, path: str, mode: str | None = None) -> Result:
        """Write ``data`` to ``path`` atomically (temporary file, then rename)."""
        quoted = shlex.quote(path)
        tmp = shlex.quote(f"{path}.labkit-tmp")
        chmod = f" && chmod {shlex.quote(mode)} {tmp}" if mode else ""
        return self.run(f"cat > {tmp}{chmod} && mv -f {tmp} {quoted}", stdin=data)

    def close(self) -> None:
        pass


class LocalConnection(Connection):
    """The control machine itself (``connection: local``, ``delegate_to: localhost``)."""

    def __init__(self, host: Host):
        self.host = host

    def run(self, command, stdin=None, env=None, timeout=None) -> Result:
        self.commands_run += 1
        full = shell_command(command, env)
        try:
            proc = subprocess.run(["/bin/sh", "-c", full], input=stdin or b"", capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            return Result(command, 124, exc.stdout or b"", f"timed out after {timeout}s")
        return Result(command, proc.returncode, proc.stdout, proc.stderr.decode("utf-8", errors="replace"))


class SSHConnection(Connection):
    """One paramiko SSH transport to a host, reused for every command of the run."""

    def __init__(self, host: Host, connect_timeout: float = CONNECT_TIMEOUT):
        self.host = host
        self.client = paramiko.SSHClient()
        # Lab machines are created fresh with new host keys: accept them on
        # first use for this run (like ssh -o StrictHostKeyChecking=accept-new).
        self.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        try:
            self.client.connect(
                hostname=host.address, port=host.port, username=host.user,
                key_filename=host.key, look_for_keys=host.key is None, allow_agent=host.key is None,
                timeout=connect_timeout, banner_timeout=connect_timeout, auth_timeout=connect_timeout,
                compress=False,
            )
        except (OSError, socket.timeout, paramiko.SSHException) as exc:
            self.client.close()
            if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError) and exc.errors:
                exc = next(iter(exc.errors.values()))  # the socket error itself (e.g. refused)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
            key = f" with key {host.key}" if host.key else ""
            raise Unreachable(f"cannot reach {host.user}@{host.address}:{host.port}{key}: {reason}") from None
        transport = self.client.get_transport()
        assert transport is not None
        transport.set_keepalive(15)
        # many small request/response exchanges: Nagle's algorithm would add ~40 ms to each
        transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport = transport
        self._lock = threading.Lock()

    def run(self, command, stdin=None, env=None, timeout=None) -> Result:
        self.commands_run += 1
        full = "/bin/sh -c " + shlex.quote(shell_command(command, env))
        try:
            channel = self.transport.open_session(timeout=CONNECT_TIMEOUT)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise Unreachable(f"lost the connection to {self.host.address}:{self.host.port}: {exc}") from None
        try:
            channel.exec_command(full)
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
            out, err = bytearray(), bytearray()
            deadline = time.monotonic() + timeout if timeout else None
            while True:
                readable, _, _ = select.select([channel], [], [], 0.5)
                while channel.recv_ready():
                    out += channel.recv(1 << 16)
                while channel.recv_stderr_ready():
                    err += channel.recv_stderr(1 << 16)
                if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
                    break
                if deadline and time.monotonic() > deadline:
                    return Result(command, 124, bytes(out), f"timed out after {timeout}s")
            rc = channel.recv_exit_status()
            return Result(command, rc, bytes(out), err.decode("utf-8", errors="replace"))
        finally:
            channel.close()

    def close(self) -> None:
        self.client.close()


def connect(host: Host, override: Mapping[str, Any] | None = None) -> Connection:
    """Open the connection a host asks for; ``override`` (from a provider) may replace
    address, port, user, key or connection."""
    if override:
        host = Host(**{**host.__dict__, **{k: v for k, v in override.items() if k in ("address", "port", "user", "key", "connection")}})
    if host.connection == "local":
        return LocalConnection(host)
    return SSHConnection(host)


def control_host() -> Host:
    """The machine labkit runs on, as a host (``delegate_to: localhost``)."""
    import getpass
    return Host(name="localhost", address="127.0.0.1", user=getpass.getuser(), connection="local",
                groups=["all"], vars={}, file="<control host>", line=0)

