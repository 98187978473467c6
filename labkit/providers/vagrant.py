"""Lab machines as Vagrant VMs (VirtualBox on a laptop), from the repository's Vagrantfile.

The Vagrantfile reads the same inventory (``LABKIT_INVENTORY``), so this
module only drives Vagrant through python-vagrant and reads back what it
says: ``up`` (its output shown line by line as progress), ``status`` (Vagrant's
machine-readable output), ``ssh-config`` (retried: it is known to fail now and
then while VirtualBox is busy) and ``destroy``. Vagrant's state for a lab lives
in ``.labkit/<lab>/vagrant`` (``VAGRANT_DOTFILE_PATH``), so labs do not mix.

The engine reaches every VM as root on its host-only address with the lab's
SSH key (the Vagrantfile's ``labkit-root-key`` provisioner puts it there),
exactly like an nspawn machine. Addresses keep their host number and move
from ``lab.network`` to ``lab.vagrant_network`` (see ``vagrant_address``).

With ``LABKIT_VAGRANT_PROVIDER=lxc`` (vagrant-lxc, a box made from labkit's
base image: ``LABKIT_LXC_BOX``) the machines are LXC containers on the lab
bridge at the inventory's own addresses; tried by hand on the project's
machines, not part of the test suite (installing Debian's lxc would also
install lxc-net, whose bridge NATs to the outside where systemd starts it).

Machines come up in parallel where the Vagrant provider allows it (Vagrant
decides: VirtualBox goes one machine after another, lxc in parallel);
``LABKIT_VAGRANT_PROVIDER`` chooses another provider than virtualbox.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import time
from typing import Any

from labkit.provision.inventory import Inventory
from labkit.providers.network import Bridge
from labkit.providers.base import (
    REPO_ROOT, Machine, Provider, ProviderError, UpReport, lab_ssh_key, remove_own_state,
)

# Vagrant's machine states -> the provider interface's (running | stopped | missing)
STATES = {
    "running": "running",
    "not_created": "missing",
    "poweroff": "stopped", "aborted": "stopped", "saved": "stopped", "stopped": "stopped",
    "frozen": "stopped", "shutoff": "stopped", "paused": "stopped", "gurumeditation": "stopped",
}
SSH_CONFIG_TRIES = 5


def vagrant_address(address: str, network: str, vagrant_network: str) -> str:
    """The host number of ``address`` on ``network``, moved into ``vagrant_network``
    (192.168.77.11 on 192.168.77.0/24 -> 192.168.56.11 on 192.168.56.0/24)."""
    lab_net = ipaddress.ip_network(network, strict=False)
    vagrant_net = ipaddress.ip_network(vagrant_network, strict=False)
    ip = ipaddress.ip_address(address)
    if ip not in lab_net:
        raise ProviderError(f"address {address} is outside lab.network {lab_net}")
    moved = vagrant_net.network_address + (int(ip) - int(lab_net.network_address))
    if moved not in vagrant_net or moved in (vagrant_net.network_address, vagrant_net.broadcast_address):
        raise ProviderError(f"address {address} has no place in lab.vagrant_network {vagrant_net}")
    return str(moved)


def parse_machine_readable(text: str) -> list[dict[str, Any]]:
    """Vagrant's ``--machine-readable`` lines: ``timestamp,target,type,data...``;
    ``%!(VAGRANT_COMMA)`` stands for a comma inside a field, ``\\n`` for a newline."""
    rows = []
    for line in text.splitlines():
        parts = line.split(",")
        if len(parts) < 3 or not parts[0].isdigit():
            continue    # plugin warnings and other noise Vagrant prints around the lines
        data = [p.replace("%!(VAGRANT_COMMA)", ",").replace("\\n", "\n") for p in parts[3:]]
        rows.append({"target": parts[1], "type": parts[2], "data": data})
    return rows


def machine_states(text: str) -> dict[str, str]:
    """``vagrant status --machine-readable`` -> {machine: Vagrant's state}; an error-exit raises."""
    states: dict[str, str] = {}
    for row in parse_machine_readable(text):
        if row["type"] == "state" and row["target"]:
            states[row["target"]] = row["data"][0]
        if row["type"] == "error-exit":
            raise ProviderError(f"vagrant: {row['data'][1] if len(row['data']) > 1 else row['data']}")
    return states


def parse_ssh_config(text: str) -> dict[str, str]:
    """``vagrant ssh-config NAME`` (OpenSSH client config) -> {HostName, User, Port, IdentityFile, ...}."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        words = line.strip().split(None, 1)
        if len(words) == 2 and not words[0].startswith("#"):
            found.setdefault(words[0], words[1].strip().strip('"'))
    missing = [k for k in ("HostName", "User", "Port") if k not in found]
    if missing:
        raise ProviderError(f"vagrant ssh-config gave no {', '.join(missing)}: {text.strip()[:300]!r}")
    return found


class VagrantProvider(Provider):
    name = "vagrant"

    def __init__(self, inventory: Inventory, progress=print):
        super().__init__(inventory, progress)
        self.backend = os.environ.get("LABKIT_VAGRANT_PROVIDER", "virtualbox")
        lab = inventory.lab
        if self.backend == "lxc":
            # LXC containers sit on the lab bridge at the inventory's own addresses (as nspawn machines)
            from labkit.providers.nspawn import bridge_name
            self.bridge: Bridge | None = Bridge(bridge_name(inventory), ipaddress.ip_network(str(lab["network"])))
            self.addresses = {h.name: h.address for h in inventory.hosts.values()}
        else:
            self.bridge = None
            self.addresses = {h.name: vagrant_address(h.address, str(lab["network"]), str(lab["vagrant_network"]))
                              for h in inventory.hosts.values()}

    @property
    def key(self):
        return self.dir / "ssh" / "id_ed25519"

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "LABKIT_INVENTORY": str(self.inventory.path.resolve()),
            "LABKIT_SSH_KEY": str(self.key),
            "VAGRANT_DOTFILE_PATH": str(self.dir / "vagrant"),
            "VAGRANT_CHECKPOINT_DISABLE": "1",       # no calls home to HashiCorp
            "VAGRANT_DEFAULT_PROVIDER": self.backend,
        }
        if self.inventory.lab.get("apt_proxy"):
            env["LABKIT_APT_PROXY"] = str(self.inventory.lab["apt_proxy"])
        return env

    def vagrant(self):
        if shutil.which("vagrant") is None:
            raise ProviderError("vagrant is not installed (a laptop: Vagrant and VirtualBox from their sites; "
                                "Debian: `apt-get install vagrant`)")
        import vagrant as python_vagrant
        return python_vagrant.Vagrant(root=str(REPO_ROOT), env=self.env(), quiet_stdout=False, quiet_stderr=False)

    def up(self) -> UpReport:
        report = UpReport()
        v = self.vagrant()
        self.dir.mkdir(parents=True, exist_ok=True)
        lab_ssh_key(self.inventory)
        if self.bridge is not None:
            self.bridge.check()
            if self.bridge.ensure():
                report.changed(f"bridge {self.bridge.name} with {self.bridge.address}")
        before = {m.name: m.state for m in self.status()}
        if any(state != "running" for state in before.values()):
            try:
                for line in v.up(provider=self.backend, stream_output=True):
                    self.progress(line.rstrip())
            except Exception as exc:   # python-vagrant raises CalledProcessError with Vagrant's message
                raise ProviderError(f"vagrant up failed: {exc}") from None
            report.changes += [f"machine {n} {'created' if s == 'missing' else 'started'}"
                               for n, s in before.items() if s != "running"]
        report.machines = self.status()
        return report

    def status(self) -> list[Machine]:
        try:
            states = {s.name: s.state for s in self.vagrant().status()}
        except subprocess.CalledProcessError as exc:   # Vagrant's reason is in its machine-readable output
            machine_states(exc.output.decode() if isinstance(exc.output, bytes) else exc.output or "")
            raise ProviderError(f"vagrant status failed with code {exc.returncode}") from None
        return [Machine(h.name, self.addresses[h.name], STATES.get(states.get(h.name, "not_created"), "stopped"),
                        details={"vagrant_state": states.get(h.name)})
                for h in self.inventory.hosts.values()]

    def ssh_config(self, name: str) -> dict[str, str]:
        """``vagrant ssh-config NAME``, retried: Vagrant fails it now and then while VMs settle."""
        v = self.vagrant()
        last = ""
        for attempt in range(SSH_CONFIG_TRIES):
            try:
                return parse_ssh_config(v.ssh_config(vm_name=name))
            except Exception as exc:
                last = str(exc)
                time.sleep(1 + attempt)
        raise ProviderError(f"vagrant ssh-config {name} failed {SSH_CONFIG_TRIES} times: {last}")

    def down(self) -> list[str]:
        removed = []
        if (self.dir / "vagrant").exists():
            self.vagrant().destroy()
            removed.append(f"machines of lab {self.lab} destroyed")
        if self.bridge is not None and self.bridge.remove():
            removed.append(f"bridge {self.bridge.name} removed")
        return removed + remove_own_state(self.dir, ["vagrant", "ssh"])

    def connections(self) -> dict[str, dict[str, Any]]:
        return {name: {"address": address, "port": 22, "user": "root", "key": str(self.key)}
                for name, address in self.addresses.items()}

    def ssh_argv(self, name: str, command: list[str] | None = None) -> list[str]:
        if name not in self.addresses:
            raise ProviderError(f"lab {self.lab} has no machine {name!r} (machines: {', '.join(self.addresses)})")
        return ["ssh", "-i", str(self.key), "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=accept-new",
                "-o", f"UserKnownHostsFile={self.dir / 'ssh' / 'known_hosts'}", f"root@{self.addresses[name]}",
                *(command or [])]

