"""Real nspawn machines: three booted from a small test-only lab, reached over real SSH.

The lab is made for this run only: its own name, bridge and /24 (one no
interface of this host uses), and machine names with the same number, so
several runs and the real lab never collide. One lab is shared by the
module's tests (booting is the expensive part); the last test takes it down
and checks that nothing is left, and the fixture's teardown does it again.
"""

from __future__ import annotations

import ipaddress
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labkit.provision.connection import connect
from labkit.provision.inventory import load_inventory
from labkit.providers.base import ProviderError, lab_home
from labkit.providers.network import interface_addresses, interface_exists
from labkit.providers.nspawn import MachineCgroup, NspawnProvider
from labkit.providers.wheelhouse import ON_MACHINE, VENV, build_wheelhouse, install_script

pytestmark = [pytest.mark.lab, pytest.mark.timeout(900)]
REPO = Path(__file__).resolve().parents[3]


def free_lab_number() -> int:
    """N for 10.213.N.0/24: a network no interface of this host has an address in."""
    used = {addr.network for addrs in interface_addresses().values() for addr in addrs}
    candidates = list(range(20, 250))
    random.shuffle(candidates)
    for n in candidates:
        net = ipaddress.ip_network(f"10.213.{n}.0/24")
        if not any(net.overlaps(u) for u in used) and not interface_exists(f"lkt-{n}"):
            return n
    raise RuntimeError("no free 10.213.N.0/24 for a test lab")


def write_inventory(path: Path, n: int, lab: str, names: list[str], bridge: str | None = None,
                    network: str | None = None) -> Path:
    network = network or f"10.213.{n}.0/24"
    base = ipaddress.ip_network(network).network_address
    hosts = "".join(f"  {name}: {{address: {base + 11 + i}}}\n" for i, name in enumerate(names))
    path.write_text(f"lab:\n  name: {lab}\n  provider: nspawn\n  network: {network}\n  bridge: {bridge or f'lkt-{n}'}\n"
                    f"vars: {{ssh_user: root}}\nhosts:\n{hosts}")
    return path


def leftovers(provider: NspawnProvider, pids: list[int]) -> list[str]:
    """Anything of the lab still on the host: processes, mounts, bridge, veths, cgroups, state."""
    found = [f"process {pid}" for pid in pids if Path(f"/proc/{pid}").exists()
             and Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"]
    mounts = Path("/proc/self/mountinfo").read_text()
    found += [f"mount under {provider.dir}" for line in mounts.splitlines() if str(provider.dir) in line]
    if interface_exists(provider.bridge.name):
        found.append(f"bridge {provider.bridge.name}")
    found += [f"veth {name}" for name in os.listdir("/sys/class/net")
              if any(name.startswith(f"vb-{h}"[:15]) for h in provider.inventory.hosts)]
    found += [f"cgroup {d}" for h in provider.inventory.hosts for d in MachineCgroup(provider.lab, h).exists()]
    if provider.dir.exists():
        found.append(f"directory {provider.dir}")
    return found


def all_pids(provider: NspawnProvider) -> list[int]:
    pids = [m.pid for m in provider.status() if m.pid]
    pids += [p for h in provider.inventory.hosts if (p := provider.leader_pid(h).pid())]
    if (proxy := provider.proxy.pidfile.pid()):
        pids.append(proxy)
    return pids


def run(provider: NspawnProvider, name: str, command: str, timeout: float = 120):
    """A command on a machine over real SSH (the engine's own connection, with the provider's data)."""
    host = provider.inventory.hosts[name]
    conn = connect(host, provider.connections()[name])
    try:
        return conn.run(command, timeout=timeout)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("lab tests need root (systemd-nspawn, a bridge)")
    n = free_lab_number()
    names = [f"t{n}-a", f"t{n}-b", f"t{n}-c"]
    path = write_inventory(tmp_path_factory.mktemp("lab") / "lab.yaml", n, f"lkt{n}", names)
    provider = NspawnProvider(load_inventory(path))
    started = time.monotonic()
    report = provider.up()
    print(f"\nup of 3 machines (base image {'built' if any('base image' in c for c in report.changes) else 'cached'}): "
          f"{time.monotonic() - started:.1f} s")
    pids = all_pids(provider)
    yield provider, report, path, n
    pids += all_pids(provider)
    provider.down()
    assert leftovers(provider, pids) == []


def test_machines_are_up_reachable_over_ssh_and_reach_each_other(lab):
    provider, report, _, _ = lab
    assert [m.state for m in report.machines] == ["running"] * 3
    assert sum("started" in c for c in report.changes) == 3
    addresses = {h.name: h.address for h in provider.inventory.hosts.values()}
    for name, address in addresses.items():
        out = run(provider, name, "hostname; ip -4 -o address show dev host0; ip route; "
                  "systemctl is-active ssh labkit-host0 labkit-cgroup-rw; "
                  "systemctl is-system-running --wait; findmnt -no FSTYPE -T /var/lib/containerd")
        assert out.ok, out.stderr
        lines = out.stdout.splitlines()
        assert lines[0] == name
        assert f"inet {address}/24" in lines[1]
        assert not any(line.startswith("default") for line in lines), "a lab machine must have no default route"
        assert lines[-5:-2] == ["active"] * 3
        assert lines[-2] == "running", run(provider, name, "systemctl --failed").stdout   # no failed unit
        assert lines[-1] != "overlay"           # containerd's overlayfs snapshotter needs a plain directory
        others = [a for other, a in addresses.items() if other != name]
        ping = run(provider, name, " && ".join(f"ping -c1 -W2 {a} >/dev/null" for a in others)
                   + " && getent hosts " + " ".join(o for o in addresses if o != name))
        assert ping.ok, ping.stdout + ping.stderr
    # the provider's own ssh command line (the lab key, strict host keys from known_hosts)
    name = next(iter(addresses))
    proc = subprocess.run(provider.ssh_argv(name, ["cat", "/etc/hostname"]), capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and proc.stdout.strip() == name, proc.stderr


def test_up_again_changes_nothing(lab):
    provider, _, _, _ = lab
    before = {m.name: m.pid for m in provider.status()}
    again = provider.up()
    assert again.changes == []
    assert {m.name: m.pid for m in again.machines} == before


def test_invoke_machines_status_and_ssh(lab):
    """The same lab through the command line people use."""
    provider, _, path, _ = lab
    name = list(provider.inventory.hosts)[1]
    invoke = [sys.executable, "-m", "invoke"]
    status = subprocess.run(invoke + ["machines.status", "--inventory", str(path)], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    for host in provider.inventory.hosts.values():
        assert any(host.name in line and host.address in line and "running" in line
                   for line in status.stdout.splitlines()), status.stdout
    ssh = subprocess.run(invoke + ["machines.ssh", name, "--inventory", str(path), "--command", "cat /etc/hostname"],
                         cwd=REPO, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert ssh.returncode == 0 and ssh.stdout.strip() == name, ssh.stderr
    up = subprocess.run(invoke + ["machines.up", "--inventory", str(path)], cwd=REPO, capture_output=True,
                        text=True, timeout=120)
    assert up.returncode == 0 and "nothing to do: every machine is up" in up.stdout, up.stdout + up.stderr


def test_apt_get_install_works_through_the_lab_proxy(lab):
    provider, _, _, _ = lab
    name = next(iter(provider.inventory.hosts))
    out = run(provider, name, "apt-config dump Acquire::http::Proxy; apt-get -qq update && "
              "DEBIAN_FRONTEND=noninteractive apt-get -qq install -y hello >/dev/null && hello", timeout=300)
    assert out.ok, out.stdout + out.stderr
    assert provider.proxy.url in out.stdout and "Hello, world!" in out.stdout
    # the proxy fetched it: apt-cacher-ng's own cache holds the package now
    assert list((provider.proxy.workdir / "cache").rglob("hello_*.deb"))


def test_containerd_runs_a_runc_container_in_a_machine(lab):
    """The notes' fixes at work: cgroups writable (labkit-cgroup-rw), keyring syscalls allowed,
    and /var/lib/containerd a plain directory (the overlayfs snapshotter loads: ``ok``)."""
    provider, _, _, _ = lab
    name = list(provider.inventory.hosts)[0]
    out = run(provider, name,
              "apt-get -qq update && "
              "DEBIAN_FRONTEND=noninteractive apt-get -qq install -y containerd runc busybox-static >/dev/null && "
              "ctr plugins ls | grep -E 'snapshotter.v1 +overlayfs' && "
              "mkdir -p /root/bb/bin && cp /bin/busybox /root/bb/bin/ && "
              "ctr run --rm --rootfs /root/bb lk-test /bin/busybox echo hello from runc", timeout=300)
    assert out.ok, out.stdout + out.stderr
    assert out.stdout.split("\n")[0].split()[-1] == "ok"
    assert "hello from runc" in out.stdout


def test_wheelhouse_installs_labkit_into_opt_labkit_venv(lab, tmp_path_factory):
    provider, _, _, _ = lab
    wheels = build_wheelhouse(tmp_path_factory.mktemp("wheelhouse"))
    name = list(provider.inventory.hosts)[1]
    tar = subprocess.Popen(["tar", "-C", str(wheels), "-cf", "-", "."], stdout=subprocess.PIPE)
    copy = subprocess.run(provider.ssh_argv(name, [f"mkdir -p {ON_MACHINE} && tar -C {ON_MACHINE} -xf -"]),
                          stdin=tar.stdout, capture_output=True, text=True, timeout=300)
    tar.wait()
    assert copy.returncode == 0, copy.stderr
    out = run(provider, name, f"{install_script()} && {VENV}/bin/labkit-apiserver --help", timeout=600)
    assert out.ok, out.stdout + out.stderr
    assert "--etcd-servers" in out.stdout


def test_bad_input_is_refused_before_anything_changes(lab, tmp_path):
    provider, _, _, n = lab
    taken = next(iter(provider.inventory.hosts))
    # a running machine's name in another lab (its own bridge and network)
    m = free_lab_number()
    other = NspawnProvider(load_inventory(write_inventory(tmp_path / "other.yaml", m, f"lkt{m}x", [taken])))
    with pytest.raises(ProviderError) as err:
        other.up()
    assert f"machine {taken} is already running in lab lkt{n}" in str(err.value)
    assert not other.dir.exists() and not interface_exists(other.bridge.name)
    # not root: a clear error, nothing made
    path = write_inventory(tmp_path / "plain.yaml", m, f"lkt{m}y", [f"t{m}-z"])
    code = ("from labkit.provision.inventory import load_inventory\n"
            "from labkit.providers.nspawn import NspawnProvider\n"
            f"NspawnProvider(load_inventory({str(path)!r})).up()\n")
    # a user namespace of its own: the process is uid 65534 with no privilege on this host
    # (and can still read the venv, which lives under /root here)
    proc = subprocess.run(["unshare", "--user", sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0
    assert "the nspawn provider needs root" in proc.stderr
    assert not (lab_home() / f"lkt{m}y").exists() and not interface_exists(f"lkt-{m}")


def test_machine_killed_from_outside_shows_stopped_and_up_restarts_it(lab):
    provider, _, _, _ = lab
    victim = list(provider.inventory.hosts)[2]
    pid = provider.machine(victim).pid
    os.kill(pid, signal.SIGKILL)                 # not through the provider
    deadline = time.monotonic() + 30
    while provider.machine(victim).state != "stopped":
        assert time.monotonic() < deadline, provider.status()
        time.sleep(0.2)
    assert [m.state for m in provider.status()].count("running") == 2
    report = provider.up()
    assert report.changes == [f"machine {victim} started"]
    assert provider.machine(victim).state == "running" and provider.machine(victim).pid != pid
    assert run(provider, victim, "hostname").stdout.strip() == victim


def test_down_leaves_nothing_and_up_after_down_works(lab):
    provider, _, _, _ = lab
    pids = all_pids(provider)
    assert len(pids) == 7                       # 3 nspawn + 3 machine PID 1 + the package proxy
    started = time.monotonic()
    removed = provider.down()
    print(f"\ndown of 3 machines: {time.monotonic() - started:.1f} s")
    assert leftovers(provider, pids) == []
    assert any("bridge" in r for r in removed)
    assert [m.state for m in provider.status()] == ["missing"] * 3
    assert provider.down() == []                 # down again: nothing to do
    started = time.monotonic()
    report = provider.up()
    print(f"up of 3 machines after down (image cached): {time.monotonic() - started:.1f} s")
    assert [m.state for m in report.machines] == ["running"] * 3
    for name in provider.inventory.hosts:
        assert run(provider, name, "hostname").stdout.strip() == name
