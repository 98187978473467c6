"""Real SSH hosts on this machine: Debian's sshd on its own loopback address and port.

Used by the engine's tests and its benchmark to get SSH hosts without VMs.
Each ``SshdProcess`` has a private directory with its own host key, config,
authorized key and log, listens on one 127.0.0.x address and a free port,
and is stopped by the PID it started (never by name).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from labkit.localplane import free_port, stop_process


def make_key(path: Path) -> Path:
    """An ed25519 key pair (``path`` and ``path.pub``), made with ssh-keygen."""
    if not path.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "labkit-test", "-f", str(path)],
                       check=True, capture_output=True)
    return path


@dataclass
class SshdProcess:
    workdir: Path
    address: str = "127.0.0.1"
    client_key: Path | None = None       # its .pub goes into authorized_keys
    port: int = 0
    stock_shell: bool = True             # hide this machine's ~/.bashrc from the SSH sessions
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def start(self, timeout: float = 10.0) -> "SshdProcess":
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        if not Path(sshd).exists():
            raise RuntimeError("sshd is not installed (Debian openssh-server; see scripts/engine-packages.txt)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        host_key = make_key(self.workdir / "ssh_host_ed25519_key")
        if self.client_key is None:
            self.client_key = make_key(self.workdir / "client_key")
        (self.workdir / "authorized_keys").write_text(Path(f"{self.client_key}.pub").read_text())
        self.port = self.port or free_port(self.address)
        config = self.workdir / "sshd_config"
        config.write_text("\n".join([
            f"ListenAddress {self.address}:{self.port}",
            f"HostKey {host_key}",
            f"AuthorizedKeysFile {self.workdir / 'authorized_keys'}",
            f"PidFile {self.workdir / 'sshd.pid'}",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",            # the key files live in a temporary directory
            "MaxSessions 64",
            "MaxStartups 64",
            "Subsystem sftp internal-sftp",   # as on a stock Debian host (pyinfra and ansible use it)
            "LogLevel ERROR",
            "",
        ]))
        log = open(self.workdir / "sshd.log", "ab")
        command = [sshd, "-D", "-e", "-f", str(config)]
        bashrc = Path.home() / ".bashrc"
        if self.stock_shell and bashrc.exists() and shutil.which("unshare"):
            # bash sources ~/.bashrc for every SSH command; this machine's (pyenv init)
            # costs ~150 ms a command, which a stock lab host does not pay. In a private
            # mount namespace for this sshd only, an empty file stands in for it.
            empty = self.workdir / "stock_bashrc"
            empty.write_text("")
            command = ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
                       'mount --bind "$1" "$2" && shift 2 && exec "$@"', "sh", str(empty), str(bashrc), *command]
        self.proc = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}: {(self.workdir / 'sshd.log').read_text()[-2000:]}")
            try:
                with socket.create_connection((self.address, self.port), timeout=0.5) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"sshd on {self.address}:{self.port} not ready after {timeout}s")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
