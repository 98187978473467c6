"""Lab machines as systemd-nspawn containers: a full systemd and sshd each, on the lab bridge.

For a lab (``.labkit/<lab>/``, see base.py) ``up`` makes, in this order:

1. the base image (image.py, cached by recipe hash; debootstrap, 2-6 min the first time),
2. the lab's SSH key (``ssh/id_ed25519``) and known_hosts,
3. the bridge with the host's address (network.py; never NATed),
4. the package proxy on the bridge address (aptproxy.py),
5. per machine ``machines/<name>/``: its root is an overlay of the base
   image and ``upper/`` (its own changes), mounted at ``root/`` in a mount
   namespace of the machine's own, so nothing stays mounted on the host;
   ``containerd/`` is bind-mounted at /var/lib/containerd, a plain directory
   where containerd's overlayfs snapshotter works (overlay on overlay does
   not). Its identity is written into ``upper/`` (hostname,
   /etc/hosts, static address on ``host0`` (labkit-host0.service of the image) and
   no default route, an SSH host key, machine-id, the lab key, the apt proxy), then
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

import fcntl
import ipaddress
import json
import os
import platform
import re
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

MACHINE_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
BOOT_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0
SYSCALL_FILTER = "@keyring @privileged @mount bpf"
TOOLS = {"systemd-nspawn": "systemd-container", "debootstrap": "debootstrap", "apt-cacher-ng": "apt-cacher-ng",
         "ssh-keygen": "openssh-client", "ip": "iproute2", "unshare": "util-linux"}


def cgroup_hierarchies() -> list[Path]:
    """This process's cgroup in every hierarchy (cgroup v1 controllers, name=systemd, unified)."""
    mounts: dict[str, str] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, right = line.split(" - ", 1)
        fstype, _, options = right.split()[:3]
        if fstype == "cgroup2":
            mounts.setdefault("", left.split()[4])
        elif fstype == "cgroup":
            for option in options.split(","):
                mounts.setdefault(option, left.split()[4])
    found = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        mount = mounts.get(controllers.split(",")[0])
        if mount and (Path(mount) / path.lstrip("/")).is_dir():
            found.append(Path(mount) / path.lstrip("/"))
    return found


class MachineCgroup:
    """A cgroup of the machine's own in every hierarchy, joined before nspawn starts.

    Without a systemd on the host, nspawn puts its machine in ``payload/`` under
    the cgroup it was started in: every machine started from one process would
    share ``payload/system.slice/...``, and one machine's systemd removing a
    unit's cgroup makes another's start of the same unit fail (219/CGROUP).
    """

    def __init__(self, lab: str, name: str):
        self.dirs = [h / f"labkit-{lab}-{name}" for h in cgroup_hierarchies()]

    def create(self) -> str:
        """Make the cgroups; returns them space-separated for the start command to join."""
        for d in self.dirs:
            d.mkdir(exist_ok=True)
            for knob in ("cpuset.cpus", "cpuset.mems"):       # cgroup v1 cpuset starts empty
                if (d / knob).exists() and not (d / knob).read_text().strip():
                    (d / knob).write_text((d.parent / knob).read_text())
        return " ".join(str(d) for d in self.dirs)

    def remove(self) -> None:
        """Remove the machine's cgroups (deepest first) once its processes are gone."""
        for d in self.dirs:
            if not d.exists():
                continue
            for sub in sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [d]:
                for _ in range(50):
                    try:
                        sub.rmdir()
                        break
                    except FileNotFoundError:
                        break
                    except OSError:       # busy: a process is still leaving it
                        time.sleep(0.1)

    def exists(self) -> list[Path]:
        return [d for d in self.dirs if d.exists()]


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
        """Where the overlay (base image + this machine's changes) is mounted, inside nspawn's namespace."""
        return self.machine_dir(name) / "root"

    def upper(self, name: str) -> Path:
        """This machine's own files: everything it changed on top of the base image."""
        return self.machine_dir(name) / "upper"

    def lower(self, name: str) -> Path | None:
        """The base image this machine was made from (kept even when a newer image exists)."""
        recorded = self.machine_dir(name) / "image"
        return Path(recorded.read_text().strip()) if recorded.exists() else None

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
        reserved = {self.network.network_address, self.network.broadcast_address, self.bridge.address.ip}
        for host in self.hosts:
            if not MACHINE_NAME.match(host.name):
                raise ProviderError(f"{host.file}:{host.line}: host {host.name!r}: an nspawn machine name is its "
                                    "hostname: letters, digits and '-' only, 63 characters at most")
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
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)       # one up or down of a lab at a time
            return self._up()

    def _up(self) -> UpReport:
        report = UpReport()
        suite = str(self.inventory.lab.get("debian") or "bookworm")
        if not (image_path(recipe(suite)) / "usr/sbin/sshd").exists():
            report.changed(f"base image debian-{suite} built")
        image = ensure_base_image(suite, progress=self.progress)
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

        to_create = [h for h in self.hosts if self.lower(h.name) is None]
        for host in to_create:
            self._create_machine(host, image)
            report.changed(f"machine {host.name} created")

        starting = []
        for host in self.hosts:
            running = self.nspawn_pid(host.name).pid() is not None
            changed_files = self._identity_changes(host)
            if running and changed_files:
                # the upper directory is only written while its overlay is not mounted
                self.progress(f"{host.name}: {', '.join(changed_files)} changed, restarting it")
                self._stop_machine(host.name)
                running = False
            if not running:
                self._configure(host)
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

    def _create_machine(self, host: Host, image: Path) -> None:
        """The machine's directories: its overlay's upper and work dirs, the mount point, and
        a plain directory for /var/lib/containerd (containerd's overlayfs snapshotter cannot
        work on an overlayfs root)."""
        mdir = self.machine_dir(host.name)
        for sub in ("upper", "work", "root", "containerd"):
            (mdir / sub).mkdir(parents=True, exist_ok=True)
        (mdir / "containerd").chmod(0o711)
        (mdir / "image").write_text(f"{image}\n")

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
            "etc/ssh/sshd_config.d/labkit-hostkey.conf": ("HostKey /etc/ssh/ssh_host_ed25519_key\n", 0o644),
        }

    def _identity_changes(self, host: Host) -> list[str]:
        """Identity files whose content in the machine differs from what it should be."""
        upper = self.upper(host.name)
        return ["/" + rel for rel, (content, _) in self.identity_files(host).items()
                if not (upper / rel).exists() or (upper / rel).read_text() != content]

    def _configure(self, host: Host) -> None:
        """Write the machine's identity into its upper directory (machine stopped)."""
        upper = self.upper(host.name)
        for rel, (content, mode) in self.identity_files(host).items():
            path = upper / rel
            if path.exists() and path.read_text() == content:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            path.chmod(mode)
        (upper / "root").chmod(0o700)
        (upper / "root/.ssh").chmod(0o700)
        machine_id = upper / "etc/machine-id"
        if not machine_id.exists() or not machine_id.read_text().strip():
            machine_id.write_text(uuid.uuid4().hex + "\n")
        host_key = upper / "etc/ssh/ssh_host_ed25519_key"
        if not host_key.exists():   # ed25519 only: made in milliseconds (RSA takes seconds a machine)
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{host.name}",
                            "-f", str(host_key)], check=True, capture_output=True)

    def _write_known_hosts(self) -> None:
        lines = []
        for host in self.hosts:
            for pub in sorted((self.upper(host.name) / "etc/ssh").glob("ssh_host_*_key.pub")):
                keytype, key = pub.read_text().split()[:2]
                lines.append(f"{host.address},{host.name} {keytype} {key}")
        self.known_hosts.write_text("\n".join(lines) + "\n")

    def nspawn_argv(self, host: Host) -> list[str]:
        """The machine's command line: mount its overlay root in a mount namespace of its own
        (gone with the machine: no mount is ever left on the host), in cgroups of its own
        (``MachineCgroup``), then become systemd-nspawn (``exec``: the PID we record is nspawn's)."""
        mdir = self.machine_dir(host.name)
        overlay = ('for cg in $LABKIT_CGROUPS; do echo $$ > "$cg/cgroup.procs" || exit 1; done; '
                   'mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4" '
                   '&& shift 4 && exec "$@"')
        return [
            "unshare", "--mount", "--propagation", "private",
            "/bin/sh", "-c", overlay, "sh", str(self.lower(host.name)), str(mdir / "upper"), str(mdir / "work"),
            str(self.rootfs(host.name)),
            "systemd-nspawn", "--quiet", "-D", str(self.rootfs(host.name)), "-M", host.name,
            "--register=no", "--keep-unit",            # no systemd on the host to register with
            "--capability=all", f"--system-call-filter={SYSCALL_FILTER}",   # containerd/runc inside
            f"--network-bridge={self.bridge.name}",
            f"--bind={mdir / 'containerd'}:/var/lib/containerd",
            "--resolv-conf=off", "--timezone=off", "--link-journal=no",     # leave the root as we wrote it
            "--console=pipe", "--boot",
        ]

    def _start_machine(self, host: Host) -> None:
        self._kill_leftover(host.name)
        lower = self.lower(host.name)
        if lower is None or not (lower / "usr").is_dir():
            raise ProviderError(f"machine {host.name}: its base image {lower} is gone; "
                                f"`invoke machines.down --lab {self.lab}` and up again make new machines")
        mdir = self.machine_dir(host.name)
        log = open(mdir / "console.log", "ab")
        env = {**os.environ, "SYSTEMD_NSPAWN_API_VFS_WRITABLE": "1",
               "LABKIT_CGROUPS": MachineCgroup(self.lab, host.name).create()}
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
                                    f"{BOOT_TIMEOUT:.0f} s:\n{self.console_tail(host.name)}{self._failed_units(pid)}")
            time.sleep(0.2)
        # nspawn's child is the machine's systemd once booted (an intermediate child exits early):
        # recorded so a machine whose nspawn was killed from outside can be ended too
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if children:
            self.leader_pid(host.name).record(int(children[0]))

    def _failed_units(self, nspawn_pid: int) -> str:
        """The machine's failed units and their last log lines, read from the host side."""
        children = Path(f"/proc/{nspawn_pid}/task/{nspawn_pid}/children").read_text().split()
        if not children:
            return ""
        enter = ["nsenter", "-t", children[0], "-m", "-p"]
        failed = subprocess.run(enter + ["systemctl", "--failed", "--no-legend", "--plain"],
                                capture_output=True, text=True).stdout
        log = subprocess.run(enter + ["journalctl", "-b", "-p", "warning", "-n", "20", "--no-pager"],
                             capture_output=True, text=True).stdout
        return f"\nfailed units:\n{failed}\nwarnings:\n{log}"

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
        if self.nspawn_pid(name).pid() is None:
            MachineCgroup(self.lab, name).remove()

    def down(self) -> list[str]:
        if not self.dir.exists():
            return []
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            removed = self._down()
        (self.dir / ".lock").unlink(missing_ok=True)
        remove_own_state(self.dir, [])       # the directory too, when nothing else is in it
        return removed

    def _down(self) -> list[str]:
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
            elif self.lower(host.name) is not None:
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
