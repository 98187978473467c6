"""Real SSH hosts for the engine's tests: Debian sshd processes on loopback addresses.

Each host is an sshd of its own on 127.0.0.x and a free port, with a host key
and an authorized key made here; a ``connection: local`` host runs on this
machine directly. Every host gets a scratch root (``root_prefix``) so hosts
sharing this machine do not write over each other; the modules use real
paths and real commands under it.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from labkit.provision.sshd import SshdProcess, make_key

LAB = Path(__file__).resolve().parent / "lab"
SITE = LAB / "roles" / "site.yaml"


@pytest.fixture(scope="session")
def sshd_hosts(tmp_path_factory):
    """Three running sshd hosts (stopped by PID at the end of the session)."""
    if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
        pytest.fail("sshd is missing: run `bash scripts/bootstrap.sh setup` (scripts/engine-packages.txt)")
    base = tmp_path_factory.mktemp("sshd")
    key = make_key(base / "client_key")
    first = random.randrange(20, 200)
    hosts = []
    try:
        for i in range(3):
            hosts.append(SshdProcess(base / f"ssh-{i + 1}", address=f"127.0.{first}.{i + 2}", client_key=key).start())
        yield hosts
    finally:
        for host in hosts:
            host.stop()


class Lab:
    """An inventory over the sshd hosts plus one local host, with scratch roots."""

    def __init__(self, base: Path, sshd_hosts: list[SshdProcess], host_vars: dict | None = None, extra_hosts: dict | None = None):
        self.base = base
        self.control_dir = base / "control"
        self.control_dir.mkdir(parents=True, exist_ok=True)
        self.roots: dict[str, Path] = {}
        hosts = {}
        for i, sshd in enumerate(sshd_hosts):
            name = f"ssh-{i + 1}"
            hosts[name] = {"address": sshd.address, "port": sshd.port, "user": "root", "key": str(sshd.client_key),
                           "vars": {"root_prefix": str(base / name)}}
            self.roots[name] = base / name
        hosts["local-1"] = {"connection": "local", "vars": {"root_prefix": str(base / "local-1")}}
        self.roots["local-1"] = base / "local-1"
        for name, extra in (host_vars or {}).items():
            hosts[name]["vars"].update(extra)
        hosts.update(extra_hosts or {})
        self.inventory = {
            "lab": {"name": "enginetest", "provider": "ssh"},
            "vars": {"control_dir": str(self.control_dir)},
            "hosts": hosts,
            "groups": {"remote": {"hosts": [h for h in hosts if h.startswith("ssh-")]}},
        }
        self.write()

    @property
    def path(self) -> Path:
        return self.base / "inventory.yaml"

    def write(self) -> None:
        self.path.write_text(yaml.safe_dump(self.inventory, sort_keys=False))

    def set_var(self, host: str, key: str, value) -> None:
        self.inventory["hosts"][host]["vars"][key] = value
        self.write()

    def labkit(self, *args: str) -> subprocess.CompletedProcess:
        """The real `labkit` command line, as a user runs it."""
        exe = Path(__import__("sys").executable).parent / "labkit"
        return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=600)


@pytest.fixture
def lab(tmp_path, sshd_hosts) -> Lab:
    return Lab(tmp_path, sshd_hosts)


@pytest.fixture
def make_lab(tmp_path, sshd_hosts):
    """Lab(...) with extra hosts or vars: make_lab(extra_hosts={...})."""
    return lambda **kw: Lab(tmp_path, sshd_hosts, **kw)


@pytest.fixture(scope="session")
def site_play() -> Path:
    """The engine test play (tests/integration/provision/lab/roles/site.yaml)."""
    return SITE


@pytest.fixture(scope="session")
def lab_sources() -> Path:
    return LAB
