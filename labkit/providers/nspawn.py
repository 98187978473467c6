"""Lab machines as systemd-nspawn containers: a full systemd and sshd each, on the lab bridge.

For a lab (``.labkit/<lab>/``, see base.py) ``up`` makes, in this order:

1. the base image (image.py, cached by recipe hash; ~50 s the first time),
2. the lab's SSH key (``ssh/id_ed25519``) and known_hosts,
3. the bridge with the host's address (network.py; never NATed),
4. the package proxy on the bridge address (aptproxy.py),
5. per machine ``machines/<name>/``: ``root/`` (a plain copy of the base
   image, so /var/lib/containerd is a plain directory on which containerd's
   overlayfs snapshotter works), its identity written into it (hostname,
   /etc/hosts, static address on ``host0`` (labkit-host0.service of the image) and
   no default route, SSH host keys, machine-id, the lab key, the apt proxy), then
   ``systemd-nspawn -b`` started in the background with ``nspawn.pid`` and
   ``console.log``; ``up`` returns when every sshd answers.

nspawn flags, from notes/lab-hosts.md: ``--register=no --keep-unit`` (the host
has no systemd to register with), ``--capability=all`` and the keyring/mount
syscalls (runc inside), ``SYSTEMD_NSPAWN_API_VFS_WRITABLE=1`` (the cgroup
remount unit of the image makes /sys/fs/cgroup writable).

Stopping: SIGTERM to systemd-nspawn makes it ask the machine's systemd for an
orderly poweroff (SIGRTMIN+3); SIGKILL after a grace period. A machine whose
nspawn died (killed from outside) shows ``stopped``, and ``up`` starts it again.
The memory/cpus group vars are Vagrant's; nspawn machines share the host.
"""

from __future__ import annotations

import ipaddress
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from labkit.provision.inventory import Host, Inventory
from labkit.providers.aptproxy import AptProxy
from labkit.providers.base import (
    Machine, PidFile, Provider, ProviderError, UpReport, lab_home, lab_ssh_key, remove_own_state,
)
from labkit.providers.image import ensure_base_image, image_path, recipe
from labkit.providers.network import Bridge, interface_exists

BOOT_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0
SYSCALL_FILTER = "@keyring @privileged @mount bpf"
TOOLS = {"systemd-nspawn": "systemd-container", "debootstrap": "debootstrap", "apt-cacher-ng": "apt-cacher-ng",
         "ssh-keygen": "openssh-client", "ip": "iproute2"}


def bridge_name(inventory: Inventory) -> str:
    return str(inventory.lab.get("bridge") or f"lk-{inventory.name}")


class NspawnProvider(Provider):
    name = "nspawn"

    def __init__(self, inventory: Inventory, progress=print):
        super().__init__(inventory, progress)
        network = ipaddress.ip_network(str(inventory.lab["network"]), strict=False)
        if not isinstance(network, ipaddress.IPv4Network):
            raise ProviderError(f"{inventory.path}: lab.network {network} must be an IPv4 network")
        self.network = network
        self.bridge = Bridge(bridge_name(inventory), network)
        self.proxy = AptProxy(self.dir / "apt-proxy", str(self.bridge.address.ip))
        self.hosts: list[Host] = list(inventory.hosts.values())

    # --- where things are -------------------------------------------------
    def machine_dir(self, name: str) -> Path:
        return self.dir / "machines" / name

    def rootfs(self, name: str) -> Path:
        return self.machine_dir(name) / "root"

    def nspawn_pid(self, name: str) -> PidFile:
        return PidFile(self.machine_dir(name) / "nspawn.pid")

    def leader_pid(self, name: str) -> PidFile:
        """The machine's PID 1 (systemd), child of systemd-nspawn."""
        return PidFile(self.machine_dir(name) / "leader.pid")

    @property
    def key(self) -> Path:
        return self.dir / "ssh" / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "ssh" / "known_hosts"

    # --- checks before anything changes ----------------------------------
    def check(self) -> None:
        """Every reason ``up`` would fail, found before anything is made."""
        where = self.inventory.path
        reserved = {self.network.network_address, self.network.broadcast_address, self.bridge.address.ip}
        for host in self.hosts:
            try:
                address = ipaddress.ip_address(host.address)
            except ValueError:
                raise ProviderError(f"{host.file}:{host.line}: host {host.name}: address {host.address!r} must be "
                                    f"an IP address in lab.network {self.network} for nspawn machines") from None
            if address not in self.network:
                raise ProviderError(f"{host.file}:{host.line}: host {host.name}: address {address} is outside "
                                    f"lab.network {self.network} (the nspawn bridge {self.bridge.name})")
            if address in reserved:
                raise ProviderError(f"{host.file}:{host.line}: host {host.name}: address {address} is reserved "
                                    f"(network, broadcast or the host's bridge address {self.bridge.address.ip})")
        if platform.system() != "Linux" or os.geteuid() != 0:
            raise ProviderError("the nspawn provider needs root on Linux (it makes a bridge and boots machines "
                                "with systemd-nspawn): run as root, or use --provider vagrant")
        missing = [f"{tool} (Debian package {pkg})" for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
        if missing:
            raise ProviderError(f"missing: {', '.join(missing)}; run `bash scripts/bootstrap.sh setup`")
        self._check_names()
        self.bridge.check()

    def _check_names(self) -> None:
        """A machine name used by a running machine of another lab (veth vb-<name> would clash)."""
        ours = {h.name for h in self.hosts}
        home = lab_home()
        for other in sorted(home.iterdir()) if home.exists() else []:
            if other == self.dir or not (other / "machines").is_dir():
                continue
            for mdir in (other / "machines").iterdir():
                if mdir.name in ours and PidFile(mdir / "nspawn.pid").pid() is not None:
                    raise ProviderError(
                        f"machine {mdir.name} is already running in lab {other.name} ({other}); machine names "
                        f"are host-wide for nspawn: stop it with `invoke machines.down --lab {other.name}` "
                        f"or rename the host in {self.inventory.path}")
        ports = set(self.bridge.ports())
        for name in ours:
            veth = f"vb-{name}"[:15]
            if interface_exists(veth) and veth not in ports:
                raise ProviderError(f"interface {veth} exists on this host but not on bridge {self.bridge.name}: "
                                    f"another nspawn machine named {name} is running; rename host {name}")

    # --- up ---------------------------------------------------------------
    def up(self) -> UpReport:
        self.check()
        report = UpReport()
        suite = str(self.inventory.lab.get("debian") or "bookworm")
        if not (image_path(recipe(suite)) / "usr/sbin/sshd").exists():
            report.changed(f"base image debian-{suite} built")
        image = ensure_base_image(suite, progress=self.progress)
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.key.exists():
            report.changed(f"lab SSH key {self.key}")
        lab_ssh_key(self.inventory)
        self._write_state()
        if self.bridge.ensure():
            report.changed(f"bridge {self.bridge.name} with {self.bridge.address}")
        if self.proxy.ensure():
            report.changed(f"package proxy {self.proxy.url}")

        for gone in sorted(self._made_machines() - {h.name for h in self.hosts}):
            self._stop_machine(gone)
            shutil.rmtree(self.machine_dir(gone))
            report.changed(f"machine {gone} removed (no longer in the inventory)")

        to_create = [h for h in self.hosts if not (self.rootfs(h.name) / "usr").exists()]
        if to_create:
            self.progress(f"copying the base image for {', '.join(h.name for h in to_create)}")
            with ThreadPoolExecutor(max_workers=3) as pool:
                list(pool.map(lambda h: self._create_root(h, image), to_create))
            for h in to_create:
                report.changed(f"machine {h.name} created")

        starting = []
        for host in self.hosts:
            changed_files = self._configure(host)
            running = self.nspawn_pid(host.name).pid() is not None
            if running and changed_files and host not in to_create:
                self.progress(f"{host.name}: {', '.join(changed_files)} changed, restarting it")
                self._stop_machine(host.name)
                running = False
            if not running:
                self._start_machine(host)
                starting.append(host)
                report.changed(f"machine {host.name} started")
        self._write_known_hosts()
        if starting:
            self.progress(f"waiting for sshd on {', '.join(h.name for h in starting)}")
            with ThreadPoolExecutor(max_workers=len(starting)) as pool:
                list(pool.map(self._wait_booted, starting))
        report.machines = self.status()
        return report

    def _write_state(self) -> None:
        state = {"provider": self.name, "bridge": self.bridge.name, "network": str(self.network),
                 "inventory": str(self.inventory.path)}
        (self.dir / "provider.json").write_text(json.dumps(state, indent=2) + "\n")

    def _made_machines(self) -> set[str]:
        mdir = self.dir / "machines"
        return {p.name for p in mdir.iterdir()} if mdir.is_dir() else set()

    def _create_root(self, host: Host, image: Path) -> None:
        """The machine's own writable root: a plain copy of the base image."""
        target = self.rootfs(host.name)
        copying = target.with_name("root.copying")
        shutil.rmtree(copying, ignore_errors=True)
        copying.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", "--reflink=auto", str(image), str(copying)], check=True, capture_output=True)
        shutil.rmtree(target, ignore_errors=True)
        copying.rename(target)

    def identity_files(self, host: Host) -> dict[str, tuple[str, int]]:
        """Files that make the copy *this* machine: path in the root -> (content, mode)."""
        prefix = self.network.prefixlen
        hosts = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        hosts += [f"{h.address}\t{h.name}" for h in self.hosts]
        return {
            "etc/hostname": (f"{host.name}\n", 0o644),
            "etc/hosts": ("\n".join(hosts) + "\n", 0o644),
            # read by the image's labkit-host0.service: the address on the bridge, no gateway
            "etc/labkit/host0.env": (f"ADDRESS={host.address}/{prefix}\n", 0o644),
            "root/.ssh/authorized_keys": (Path(f"{self.key}.pub").read_text(), 0o600),
            "etc/apt/apt.conf.d/01labkit-proxy": (self.proxy.apt_conf(), 0o644),
        }

    def _configure(self, host: Host) -> list[str]:
        """Write the machine's identity into its root; return what changed."""
        root = self.rootfs(host.name)
        changed = []
        for rel, (content, mode) in self.identity_files(host).items():
            path = root / rel
            if path.exists() and path.read_text() == content:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            path.chmod(mode)
            changed.append("/" + rel)
        (root / "root/.ssh").chmod(0o700)
        machine_id = root / "etc/machine-id"
        if not machine_id.read_text().strip():
            machine_id.write_text(uuid.uuid4().hex + "\n")
        if not list((root / "etc/ssh").glob("ssh_host_*_key")):
            # ssh-keygen -A -f PREFIX writes PREFIX/etc/ssh/ssh_host_*_key
            subprocess.run(["ssh-keygen", "-A", "-f", str(root)], check=True, capture_output=True)
        return changed

    def _write_known_hosts(self) -> None:
        lines = []
        for host in self.hosts:
            for pub in sorted((self.rootfs(host.name) / "etc/ssh").glob("ssh_host_*_key.pub")):
                keytype, key = pub.read_text().split()[:2]
                lines.append(f"{host.address},{host.name} {keytype} {key}")
        self.known_hosts.write_text("\n".join(lines) + "\n")

    def nspawn_argv(self, host: Host) -> list[str]:
        return [
            "systemd-nspawn", "--quiet", "-D", str(self.rootfs(host.name)), "-M", host.name,
            "--register=no", "--keep-unit",            # no systemd on the host to register with
            "--capability=all", f"--system-call-filter={SYSCALL_FILTER}",   # containerd/runc inside
            f"--network-bridge={self.bridge.name}",
            "--resolv-conf=off", "--timezone=off", "--link-journal=no",     # leave the root as we wrote it
            "--console=pipe", "--boot",
        ]

    def _start_machine(self, host: Host) -> None:
        self._kill_leftover(host.name)
        mdir = self.machine_dir(host.name)
        log = open(mdir / "console.log", "ab")
        env = {**os.environ, "SYSTEMD_NSPAWN_API_VFS_WRITABLE": "1"}
        proc = subprocess.Popen(self.nspawn_argv(host), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                env=env, start_new_session=True)
        log.close()
        self.nspawn_pid(host.name).record(proc.pid)

    def _wait_booted(self, host: Host) -> None:
        """Until the machine's sshd greets us; then records its PID 1."""
        pidfile = self.nspawn_pid(host.name)
        deadline = time.monotonic() + BOOT_TIMEOUT
        while True:
            pid = pidfile.pid()
            if pid is None:
                raise ProviderError(f"machine {host.name} stopped while booting:\n{self.console_tail(host.name)}")
            try:
                with socket.create_connection((host.address, 22), timeout=1) as s:
                    s.settimeout(2)
                    if s.recv(4) == b"SSH-":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ProviderError(f"machine {host.name}: sshd on {host.address}:22 did not answer within "
                                    f"{BOOT_TIMEOUT:.0f} s:\n{self.console_tail(host.name)}")
            time.sleep(0.2)
        # nspawn's child is the machine's systemd once booted (an intermediate child exits early):
        # recorded so a machine whose nspawn was killed from outside can be ended too
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if children:
            self.leader_pid(host.name).record(int(children[0]))

    def console_tail(self, name: str, chars: int = 3000) -> str:
        log = self.machine_dir(name) / "console.log"
        return log.read_text(errors="replace")[-chars:] if log.exists() else "(no console log)"

    # --- stop -----------------------------------------------------------
    def _stop_machine(self, name: str) -> bool:
        """Orderly poweroff (SIGTERM to nspawn), SIGKILL after the grace period; True if it ran."""
        was_running = self.nspawn_pid(name).stop(signal.SIGTERM, STOP_TIMEOUT)
        self._kill_leftover(name)
        return was_running

    def _kill_leftover(self, name: str) -> None:
        """A machine whose nspawn was killed from outside may leave its PID 1 behind: end it."""
        leader = self.leader_pid(name)
        if leader.pid() is not None:
            leader.stop(signal.SIGKILL, 10)
        leader.path.unlink(missing_ok=True)

    def down(self) -> list[str]:
        removed = []
        names = sorted(self._made_machines())
        bridge = self.bridge
        state = self.dir / "provider.json"
        if state.exists():   # the bridge up made, even if the inventory changed since
            saved = json.loads(state.read_text())
            bridge = Bridge(saved["bridge"], ipaddress.ip_network(saved["network"]))
        if names and os.geteuid() != 0:
            raise ProviderError("stopping nspawn machines needs root")
        # SIGTERM every machine first, so they power off in parallel
        with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
            stopped = list(pool.map(self._stop_machine, names))
        removed += [f"machine {n} stopped" for n, s in zip(names, stopped) if s]
        if self.proxy.stop():
            removed.append(f"package proxy {self.proxy.url} stopped")
        if bridge.remove():
            removed.append(f"bridge {bridge.name} removed")
        removed += remove_own_state(self.dir, ["machines", "apt-proxy", "ssh", "provider.json"])
        return removed

    # --- what the engine and people see --------------------------------
    def status(self) -> list[Machine]:
        machines = []
        for host in self.hosts:
            pid = self.nspawn_pid(host.name).pid()
            if pid is not None:
                state = "running"
            elif (self.rootfs(host.name) / "usr").exists():
                state = "stopped"
            else:
                state = "missing"
            machines.append(Machine(host.name, host.address, state, pid))
        return machines

    def connections(self) -> dict[str, dict[str, Any]]:
        return {h.name: {"address": h.address, "port": 22, "user": "root", "key": str(self.key)} for h in self.hosts}

    def ssh_argv(self, name: str, command: list[str] | None = None) -> list[str]:
        if name not in self.inventory.hosts:
            raise ProviderError(f"lab {self.lab} has no machine {name!r} (machines: {', '.join(self.inventory.hosts)})")
        host = self.inventory.hosts[name]
        return ["ssh", "-i", str(self.key), "-o", "IdentitiesOnly=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes",
                "-o", "LogLevel=ERROR", f"root@{host.address}", *(command or [])]

    def lab_vars(self) -> dict[str, Any]:
        """Lab settings the engine needs from this provider (lab.apt_proxy for the common role)."""
        return {"apt_proxy": self.proxy.url}
