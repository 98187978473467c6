"""Real SSH hosts on this machine: Debian's sshd on its own loopback address and port.

Used by the engine's tests and its benchmark to get SSH hosts without VMs.
Each ``SshdProcess`` has a private directory with its own host key, config,
authorized key and log, listens on one 127.0.0.x address and a free port,
and is stopped by the PID it started (never by name).

An sshd can also run inside a network namespace of its own (``NetnsLink``:
a namespace joined to this machine by a veth pair on a link-local /30), so
that per-namespace kernel settings (``net.*`` sysctls) can be changed for
real without touching this machine's.
"""

from __future__ import annotations

import random
import secrets
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
class NetnsLink:
    """A network namespace of our own, reachable from this machine over a veth pair.

    The pair gets a random link-local /30 (169.254.x.y): this machine is
    ``host_address``, the namespace ``address``. Nothing is routed beyond it.
    ``delete()`` removes the namespace, which takes the veth pair with it.
    """

    name: str = field(default_factory=lambda: "lk-" + secrets.token_hex(4))
    address: str = ""
    host_address: str = ""

    def create(self) -> "NetnsLink":
        block = 4 * random.randrange(64)
        third = random.randrange(1, 255)
        self.host_address, self.address = f"169.254.{third}.{block + 1}", f"169.254.{third}.{block + 2}"
        outside, inside = f"{self.name}h", f"{self.name}n"   # interface names: at most 15 characters
        steps = [
            ["ip", "netns", "add", self.name],
            ["ip", "link", "add", outside, "type", "veth", "peer", "name", inside, "netns", self.name],
            ["ip", "addr", "add", f"{self.host_address}/30", "dev", outside],
            ["ip", "link", "set", outside, "up"],
            ["ip", "-n", self.name, "link", "set", "lo", "up"],
            ["ip", "-n", self.name, "addr", "add", f"{self.address}/30", "dev", inside],
            ["ip", "-n", self.name, "link", "set", inside, "up"],
        ]
        try:
            for step in steps:
                subprocess.run(step, check=True, capture_output=True, text=True)
        except subprocess.CalledProcessError as exc:
            self.delete()
            raise RuntimeError(f"{' '.join(exc.cmd)} failed: {exc.stderr.strip()}") from None
        return self

    def run(self, *command: str) -> str:
        """Run a command inside the namespace; its stdout."""
        return subprocess.run(["ip", "netns", "exec", self.name, *command], check=True, capture_output=True,
                              text=True).stdout

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


@dataclass
class SshdProcess:
    workdir: Path
    address: str = "127.0.0.1"
    client_key: Path | None = None       # its .pub goes into authorized_keys
    port: int = 0
    stock_shell: bool = True             # hide this machine's ~/.bashrc from the SSH sessions
    netns: NetnsLink | None = None       # run inside this namespace (address: the namespace's)
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
        if self.netns is not None:
            self.address = self.netns.address
            self.port = self.port or 22      # a namespace of our own: every port is free
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
        if self.netns is not None:
            command = ["ip", "netns", "exec", self.netns.name, *command]
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
