"""What every provider gives the engine: machines from the inventory, up and down.

A provider turns the inventory's hosts into running Debian machines with
systemd and sshd, and tells the engine how to reach them::

    provider = get_provider(load_inventory("inventory/ha.yaml"))
    provider.up()                   # idempotent: running machines are reused
    provider.status()               # [Machine(name, address, state), ...]
    provider.connections()          # {name: {address, port, user, key}} for the engine's Runner
    provider.down()                 # stop and remove everything it made

Lab state (SSH key, machines, PID files, logs) lives in ``lab_dir(inventory)``:
``.labkit/<lab>/`` at the repository root, or ``$LABKIT_HOME/<lab>/``. The lab's
PKI shares that directory: ``down`` removes only what the provider made.
Caches shared by labs (base images, the wheelhouse) live in ``cache_dir()``:
``.labkit/cache/`` or ``$LABKIT_CACHE``.

Processes a provider starts outlive the command that started them (``invoke
machines.up`` returns while the machines run), so they are supervised through
``PidFile``: the PID *and* the kernel's start time of the process, so a
recycled PID is never mistaken for ours and never signalled.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.provision.inventory import Inventory
from labkit.provision.sshd import make_key

REPO_ROOT = Path(__file__).resolve().parents[2]
STATES = ("running", "stopped", "missing")


class ProviderError(Exception):
    """Something that stops a provider, said so a person knows what to do next."""


def lab_home() -> Path:
    """Where labs keep their state: $LABKIT_HOME or .labkit/ at the repository root."""
    return Path(os.environ.get("LABKIT_HOME") or REPO_ROOT / ".labkit")


def cache_dir() -> Path:
    """Caches shared by every lab (base images, wheelhouse): $LABKIT_CACHE or <lab home>/cache."""
    return Path(os.environ.get("LABKIT_CACHE") or lab_home() / "cache")


def lab_dir(inventory: Inventory) -> Path:
    if inventory.name == "cache":
        raise ProviderError(f"{inventory.path}: the lab name 'cache' is reserved (it is {cache_dir()}); rename the lab")
    return lab_home() / inventory.name


def lab_ssh_key(inventory: Inventory) -> Path:
    """The lab's SSH private key (ed25519, made on first use); its .pub goes into every machine."""
    keydir = lab_dir(inventory) / "ssh"
    keydir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return make_key(keydir / "id_ed25519")


def remove_own_state(directory: Path, names: list[str]) -> list[str]:
    """Remove what a provider made in the lab directory (other parts, e.g. the PKI, share it)
    and the directory itself once nothing else is left in it."""
    removed = []
    for name in names:
        path = directory / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        removed.append(f"{path} removed")
    if directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
    return removed


@dataclass
class Machine:
    """One lab machine as a provider sees it."""

    name: str
    address: str
    state: str                      # running | stopped | missing
    pid: int | None = None          # the supervising process (systemd-nspawn), when running
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class UpReport:
    """What ``up`` did: one line per change; empty when everything was already up."""

    changes: list[str] = field(default_factory=list)
    machines: list[Machine] = field(default_factory=list)

    def changed(self, what: str) -> None:
        self.changes.append(what)


class Provider(ABC):
    """The one interface of nspawn and Vagrant machines (see the module docstring)."""

    name = ""

    def __init__(self, inventory: Inventory, progress=print):
        self.inventory = inventory
        self.lab = inventory.name
        self.progress = progress       # callable(str): long work says what it is doing

    @property
    def dir(self) -> Path:
        return lab_dir(self.inventory)

    @abstractmethod
    def up(self) -> UpReport: ...

    @abstractmethod
    def status(self) -> list[Machine]: ...

    @abstractmethod
    def down(self) -> list[str]:
        """Stop and remove everything ``up`` made; returns what was removed."""

    @abstractmethod
    def connections(self) -> dict[str, dict[str, Any]]:
        """name -> {address, port, user, key}: what the engine's Runner(connections=...) takes."""

    @abstractmethod
    def ssh_argv(self, name: str, command: list[str] | None = None) -> list[str]:
        """The ``ssh`` command line that logs into machine ``name`` (and runs ``command``)."""

    def machine(self, name: str) -> Machine:
        for m in self.status():
            if m.name == name:
                return m
        raise ProviderError(f"lab {self.lab} has no machine {name!r} (machines: {', '.join(self.inventory.hosts)})")


def get_provider(inventory: Inventory, provider: str | None = None, progress=print) -> Provider:
    """The provider ``--provider`` asks for, else the inventory's ``lab.provider``; ``auto`` chooses."""
    choice = provider or inventory.lab.get("provider") or "auto"
    if choice == "auto":
        choice = choose_provider()
    if choice == "nspawn":
        from labkit.providers.nspawn import NspawnProvider
        return NspawnProvider(inventory, progress=progress)
    if choice == "vagrant":
        from labkit.providers.vagrant import VagrantProvider
        return VagrantProvider(inventory, progress=progress)
    raise ProviderError(f"provider {choice!r} is not one of auto, nspawn, vagrant "
                        f"(lab {inventory.name}, {inventory.path})")


def choose_provider() -> str:
    """``auto``: Vagrant with VirtualBox where both are installed, else nspawn as root on Linux."""
    if shutil.which("vagrant") and shutil.which("VBoxManage"):
        return "vagrant"
    if platform.system() == "Linux" and os.geteuid() == 0 and shutil.which("systemd-nspawn"):
        return "nspawn"
    raise ProviderError(
        "no way to make lab machines here. Either install Vagrant and VirtualBox (a laptop: "
        "`vagrant` and `VBoxManage` on PATH), or run as root on Linux with systemd-nspawn "
        "(Debian: `bash scripts/bootstrap.sh setup` installs systemd-container); "
        "or choose one with --provider nspawn|vagrant.")


# --- supervised processes -------------------------------------------------

def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of a process, None if there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()   # the command name may hold spaces
    return fields[0], int(fields[19])


class PidFile:
    """A process we started and left running: ``<pid> <start time>`` in a file."""

    def __init__(self, path: Path):
        self.path = path

    def record(self, pid: int) -> None:
        stat = _proc_stat(pid)
        if stat is None:
            raise ProviderError(f"process {pid} exited right after it was started (see the log next to {self.path})")
        self.path.write_text(f"{pid} {stat[1]}\n")

    def pid(self) -> int | None:
        """Our process's PID if it is still alive (not a zombie, not a recycled PID)."""
        try:
            pid_text, start_text = self.path.read_text().split()
            pid, start = int(pid_text), int(start_text)
        except (FileNotFoundError, ValueError):
            return None
        stat = _proc_stat(pid)
        if stat is None or stat[1] != start:
            return None
        if stat[0] == "Z":          # dead; reap it if it is our child
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            return None
        return pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> bool:
        """Signal our process, wait for it, SIGKILL it if it lingers; True if one was running."""
        pid = self.pid()
        if pid is None:
            self.path.unlink(missing_ok=True)
            return False
        os.kill(pid, sig)
        if not self.wait_gone(timeout):
            os.kill(pid, signal.SIGKILL)
            self.wait_gone(10)
        self.path.unlink(missing_ok=True)
        return True

    def wait_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.pid() is not None:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True
