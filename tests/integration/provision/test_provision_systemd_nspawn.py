"""Modules on a real Debian machine with systemd: a booted systemd-nspawn machine, reached over SSH.

This machine has no systemd as PID 1, so the systemd module's real test needs
a machine that has one: a Debian bookworm root (debootstrap, cached under
~/.cache/labkit-test) booted with systemd-nspawn with a volatile overlay
(a tmpfs over the cached root: nothing is copied at start, nothing is kept
at the end). The machine shares the host's network namespace; its sshd
listens only on a 127.0.x.y address and a free port (a drop-in config bound
into it), with an authorized key made here. Stopped by the PID we started.

The same machine is where apt runs for real: through Debian's apt-cacher-ng
on loopback, from a repository served on loopback (nothing leaves the machine).
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from labkit.localplane import free_port, stop_process
from labkit.provision.runner import run_play_file
from labkit.provision.sshd import make_key

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[3]
CACHE = Path(os.environ.get("LABKIT_TEST_CACHE", Path.home() / ".cache" / "labkit-test"))
ROOTFS = CACHE / "nspawn-rootfs"


def debian_mirror() -> str:
    """The mirror this machine's own apt sources use (the only one it can reach)."""
    for path in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]:
        if path.is_file():
            for line in path.read_text().splitlines():
                words = line.split()
                if words[:1] == ["URIs:"] and "debian" in words[1] and "security" not in words[1]:
                    return words[1]
                if words[:1] == ["deb"] and "debian" in line and "security" not in line:
                    return next(w for w in words[1:] if w.startswith("http"))
    return "http://deb.debian.org/debian"


def build_rootfs() -> Path:
    if (ROOTFS / "usr/sbin/sshd").exists():
        return ROOTFS
    if shutil.which("debootstrap") is None or shutil.which("systemd-nspawn") is None:
        pytest.fail("debootstrap and systemd-nspawn are missing: run `bash scripts/bootstrap.sh setup`")
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = CACHE / f"nspawn-rootfs.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(["debootstrap", "--variant=minbase", "--include=systemd,systemd-sysv,dbus,openssh-server,python3",
                    "bookworm", str(tmp), debian_mirror()], check=True, capture_output=True, timeout=900)
    (tmp / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
    (tmp / "root/.ssh/authorized_keys").touch()
    tmp.rename(ROOTFS) if not ROOTFS.exists() else shutil.rmtree(tmp)
    return ROOTFS


@pytest.fixture(scope="module")
def systemd_machine(tmp_path_factory):
    rootfs = build_rootfs()
    work = tmp_path_factory.mktemp("machine")
    key = make_key(work / "client_key")
    address, port = f"127.0.{random.randrange(20, 200)}.{random.randrange(2, 250)}", 0
    port = free_port(address)
    conf = work / "labkit-listen.conf"
    conf.write_text(f"ListenAddress {address}:{port}\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n")
    name = f"lkt-{os.getpid()}-{random.randrange(1000)}"
    log = open(work / "nspawn.log", "wb")
    proc = subprocess.Popen(
        ["systemd-nspawn", "-D", str(rootfs), "--volatile=overlay", "-M", name, "--register=no", "--keep-unit",
         "--console=pipe", f"--bind-ro={conf}:/etc/ssh/sshd_config.d/labkit-listen.conf",
         f"--bind-ro={key}.pub:/root/.ssh/authorized_keys", "-b"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the nspawn machine exited: {(work / 'nspawn.log').read_text()[-2000:]}")
            try:
                with socket.create_connection((address, port), timeout=0.5) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"sshd in the nspawn machine did not answer: {(work / 'nspawn.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield {"address": address, "port": port, "key": str(key), "work": work}
    finally:
        stop_process(proc, timeout=20)


def test_systemd_unit_enabled_started_reloaded_and_restarted(systemd_machine, tmp_path):
    m = systemd_machine
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "lk-demo.service.j2").write_text(
        "[Unit]\nDescription=labkit demo {{ version }}\n\n[Service]\nExecStart=/bin/sleep infinity\n\n"
        "[Install]\nWantedBy=multi-user.target\n")
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(f"hosts:\n  machine-1: {{address: {m['address']}, port: {m['port']}, user: root, key: {m['key']},"
                         " vars: {version: '1'}}\n")
    play = tmp_path / "play.yaml"
    play.write_text("""
- hosts: all
  tasks:
    - name: demo unit
      template: {src: lk-demo.service.j2, dest: /etc/systemd/system/lk-demo.service}
      notify: restart demo
    - name: demo running and enabled
      systemd: {name: lk-demo, state: started, enabled: true}
    - name: read the state
      shell: "systemctl is-active lk-demo; systemctl is-enabled lk-demo; systemctl show -p MainPID --value lk-demo"
      register: state
      changed_when: false
      check_mode: false
  handlers:
    - name: restart demo
      systemd: {name: lk-demo, state: restarted}
""")
    first = run_play_file(inventory, play)
    assert first.failed_hosts == [], [str(f) for f in first.failures]
    records = {r.task: r for r in first.records}
    assert records["demo running and enabled"].status == "changed"
    active, enabled, pid1 = _state(inventory, play)
    assert (active, enabled) == ("active", "enabled")

    again = run_play_file(inventory, play)
    assert again.changed == 0, again.changed_tasks()
    assert _state(inventory, play)[2] == pid1  # not restarted

    inventory.write_text(inventory.read_text().replace("version: '1'", "version: '2'"))
    check = run_play_file(inventory, play, check=True, diff=True)
    assert "demo unit" in check.changed_tasks()
    assert _state(inventory, play)[2] == pid1  # check mode touched nothing
    changed = run_play_file(inventory, play, diff=True)
    assert changed.failed_hosts == []
    diffs = {r.task: r.diff for r in changed.records}
    assert "+Description=labkit demo 2" in diffs["demo unit"]
    # the unit changed: daemon-reload ran before the unit was looked at, and the handler restarted it
    assert "daemon-reload" in diffs["demo running and enabled"]
    assert "restart demo" in changed.changed_tasks()
    active, _, pid2 = _state(inventory, play)
    assert active == "active" and pid2 != pid1
    assert run_play_file(inventory, play).changed == 0


def _state(inventory: Path, play: Path) -> tuple[str, str, str]:
    from labkit.provision.inventory import load_inventory
    from labkit.provision.playbook import load_play_file
    from labkit.provision.runner import Runner
    runner = Runner(load_inventory(inventory), load_play_file(play), tags=["never-matches"])
    conn = runner.connection(runner.inventory.hosts["machine-1"])
    try:
        out = conn.run("systemctl is-active lk-demo; systemctl is-enabled lk-demo; systemctl show -p MainPID --value lk-demo").stdout
    finally:
        runner.close()
    lines = out.split()
    return lines[0], lines[1], lines[2]


# -- apt through a package proxy, on the same machine --------------------------------

def machine_run(machine: dict, command: str) -> str:
    """A command in the machine over SSH (the engine's own connection)."""
    from labkit.provision.connection import connect
    from labkit.provision.inventory import Host
    conn = connect(Host(name="machine-1", address=machine["address"], port=machine["port"], key=machine["key"]))
    try:
        result = conn.run(command)
    finally:
        conn.close()
    assert result.rc == 0, result.stderr
    return result.stdout


def low_free_port() -> int:
    """A free loopback port below 32768: apt-cacher-ng 3.7 refuses higher ones (to bind and to fetch from)."""
    for _ in range(200):
        port = random.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port below 32768")


def publish(repo: Path, version: str) -> None:
    """A real .deb (dpkg-deb) in a flat apt repository: Packages and Release written as apt reads them."""
    import hashlib
    build = repo.parent / f"build-{version}"
    (build / "DEBIAN").mkdir(parents=True, exist_ok=True)
    (build / "usr/share/labkit-probe").mkdir(parents=True, exist_ok=True)
    (build / "usr/share/labkit-probe/VERSION").write_text(version + "\n")
    control = (f"Package: labkit-probe\nVersion: {version}\nArchitecture: all\nMaintainer: labkit <labkit@localhost>\n"
               "Description: a package the engine's apt test installs\n")
    (build / "DEBIAN/control").write_text(control)
    deb = repo / f"labkit-probe_{version}_all.deb"
    if not deb.exists():  # a published version never changes (the proxy has cached it)
        subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(build), str(deb)], check=True, capture_output=True)
    data = deb.read_bytes()
    packages = (control.replace("Description:", f"Filename: ./{deb.name}\nSize: {len(data)}\n"
                                f"SHA256: {hashlib.sha256(data).hexdigest()}\nDescription:") + "\n")
    (repo / "Packages").write_text(packages)
    p = packages.encode()
    (repo / "Release").write_text(f"Origin: labkit-test\nLabel: labkit-test\nDate: {time.strftime('%a, %d %b %Y %H:%M:%S UTC', time.gmtime())}\n"
                                  f"SHA256:\n {hashlib.sha256(p).hexdigest()} {len(p)} Packages\n")


@pytest.fixture(scope="module")
def package_proxy(tmp_path_factory):
    """A flat apt repository over HTTP on loopback, and Debian's apt-cacher-ng as the proxy in front of it."""
    import functools
    import http.server
    import threading
    if shutil.which("apt-cacher-ng") is None and not Path("/usr/sbin/apt-cacher-ng").exists():
        pytest.fail("apt-cacher-ng is missing: run `bash scripts/bootstrap.sh setup` (scripts/engine-packages.txt)")
    work = tmp_path_factory.mktemp("apt")
    repo = work / "repo"
    repo.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(repo))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", low_free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conf, cache, logs = work / "acng-conf", work / "acng-cache", work / "acng-log"
    for d in (conf, cache, logs):
        d.mkdir()
    port = low_free_port()
    (conf / "acng.conf").write_text(
        f"CacheDir: {cache}\nLogDir: {logs}\nSupportDir: /usr/lib/apt-cacher-ng\nBindAddress: 127.0.0.1\n"
        f"Port: {port}\nForeGround: 1\nAllowUserPorts: {server.server_address[1]}\nExThreshold: 4\n")
    log = open(work / "acng.out", "wb")
    proc = subprocess.Popen([shutil.which("apt-cacher-ng") or "/usr/sbin/apt-cacher-ng", "-c", str(conf)],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"apt-cacher-ng did not start: {(work / 'acng.out').read_text()[-2000:]}")
                time.sleep(0.1)
        yield {"repo": repo, "repo_url": f"http://127.0.0.1:{server.server_address[1]}/",
               "proxy": f"http://127.0.0.1:{port}", "cache": cache}
    finally:
        stop_process(proc)
        server.shutdown()
        server.server_close()


APT_PLAY = """
- hosts: all
  tasks:
    - name: the test repository is the only source
      copy: {dest: /etc/apt/sources.list, content: "deb [trusted=yes] {{ repo }} ./\\n"}
    - name: the probe package, through the proxy
      apt: {name: labkit-probe, state: "{{ probe_state }}", update_cache: true, cache_valid_time: 3600, proxy: "{{ proxy }}"}
"""


def test_apt_through_a_proxy_with_a_stale_cache(systemd_machine, package_proxy, tmp_path):
    m, p = systemd_machine, package_proxy
    publish(p["repo"], "1.0")
    inventory = tmp_path / "inventory.yaml"
    play = tmp_path / "apt.yaml"
    play.write_text(APT_PLAY)

    def run(state: str, **options):
        inventory.write_text(f"hosts:\n  machine-1: {{address: {m['address']}, port: {m['port']}, user: root, key: {m['key']},"
                             f" vars: {{repo: '{p['repo_url']}', proxy: '{p['proxy']}', probe_state: {state}}}}}\n")
        result = run_play_file(inventory, play, **options)
        assert result.failed_hosts == [], [str(f) for f in result.failures]
        return result, {r.task: r for r in result.records}

    def installed() -> str:
        return machine_run(m, "dpkg-query -W -f='${db:Status-Status} ${Version}' labkit-probe 2>/dev/null || true").strip()

    def age_the_cache() -> None:
        machine_run(m, "touch -d '3 hours ago' /var/lib/apt/periodic/update-success-stamp")

    # a cache that looks fresh (no stamp, lists just touched) but does not know the new source:
    # the install finds no package, and the module refreshes once and tries again
    machine_run(m, "rm -f /var/lib/apt/periodic/update-success-stamp; touch /var/lib/apt/lists")
    check, tasks = run("present", check=True, diff=True)
    assert tasks["the probe package, through the proxy"].status == "changed"
    assert "+ labkit-probe" in tasks["the probe package, through the proxy"].diff
    assert installed() == ""                                    # check mode installed nothing

    first, tasks = run("present")
    assert tasks["the probe package, through the proxy"].status == "changed"
    assert installed() == "installed 1.0"
    machine_run(m, "test -e /var/lib/apt/periodic/update-success-stamp")   # written by the one refresh
    assert (p["cache"] / "127.0.0.1" / "labkit-probe_1.0_all.deb").exists()   # it came through the proxy
    again, _ = run("present")
    assert again.changed == 0                                   # the cache is fresh: no update, no change

    publish(p["repo"], "2.0")
    age_the_cache()
    latest, tasks = run("latest", diff=True)                    # stale: refresh, then 2.0 is the candidate
    assert tasks["the probe package, through the proxy"].status == "changed"
    assert "+ labkit-probe (was 1.0)" in tasks["the probe package, through the proxy"].diff
    assert installed() == "installed 2.0"
    assert run("latest")[0].changed == 0

    age_the_cache()
    before = machine_run(m, "stat -c %Y /var/lib/apt/periodic/update-success-stamp")
    refreshed, tasks = run("present")                           # stale, nothing to install: refreshed, no change
    assert refreshed.changed == 0 and tasks["the probe package, through the proxy"].msg == "cache refreshed"
    assert int(machine_run(m, "stat -c %Y /var/lib/apt/periodic/update-success-stamp")) > int(before)

    removed, _ = run("absent")
    assert removed.changed == 1 and installed() in ("", "not-installed 2.0", "config-files 2.0")
    assert run("absent")[0].changed == 0


def test_modprobe_persists_a_loaded_module(systemd_machine, tmp_path):
    """The machine shares this kernel: overlay (loaded here) shows as loaded; the boot-time file is written."""
    if not Path("/sys/module/overlay").exists():
        pytest.fail("the overlay module is not loaded on this machine (containerd needs it)")
    m = systemd_machine
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(f"hosts:\n  machine-1: {{address: {m['address']}, port: {m['port']}, user: root, key: {m['key']}}}\n")
    play = tmp_path / "modules.yaml"
    play.write_text("- hosts: all\n  tasks:\n    - modprobe: {name: overlay}\n")
    first = run_play_file(inventory, play, diff=True)
    assert first.failed_hosts == [], [str(f) for f in first.failures]
    assert [r.diff for r in first.records if r.status == "changed"] == ["/etc/modules-load.d/overlay.conf: loaded at boot"]
    assert machine_run(m, "cat /etc/modules-load.d/overlay.conf") == "overlay\n"
    assert run_play_file(inventory, play).changed == 0


def test_the_cluster_play_converges_on_the_machine(systemd_machine, package_proxy, tmp_path):
    """roles/site.yaml itself, for real, twice: the second run changes nothing.

    What this machine cannot give is overridden in the inventory (host vars beat
    role defaults): packages come from the loopback repository (through the
    proxy the play configures), the kernel module is one that is loaded here,
    and the kernel setting one whose live value is already right (the machine
    shares this kernel and its /proc/sys is read-only).
    """
    m, p = systemd_machine, package_proxy
    publish(p["repo"], "1.0")
    machine_run(m, f"echo 'deb [trusted=yes] {p['repo_url']} ./' > /etc/apt/sources.list; "
                   "dpkg -P labkit-probe >/dev/null 2>&1; rm -f /etc/apt/apt.conf.d/01labkit-proxy /etc/hosts "
                   "/etc/modules-load.d/overlay.conf /etc/sysctl.d/90-labkit.conf; "
                   "mkdir -p /var/lib/apt/periodic && touch -d '3 hours ago' /var/lib/apt/periodic/update-success-stamp")
    pid_max = machine_run(m, "sysctl -n kernel.pid_max").strip()
    inventory = tmp_path / "machine.yaml"
    inventory.write_text(
        f"lab: {{name: machinetest, provider: ssh, apt_proxy: '{p['proxy']}'}}\n"
        f"hosts:\n  machine-1: {{address: {m['address']}, port: {m['port']}, user: root, key: {m['key']},\n"
        f"    vars: {{base_packages: [labkit-probe], kernel_modules: [overlay], kernel_settings: {{kernel.pid_max: {pid_max}}}}}}}\n")
    site = REPO / "roles" / "site.yaml"
    first = run_play_file(inventory, site)
    assert first.failed_hosts == [], [str(f) for f in first.failures]
    assert sorted(first.changed_tasks()) == sorted([
        "apt through the lab's package proxy", "base packages", "every lab host by name",
        "kernel modules for pod networking", "kernel settings for pod networking"])
    assert machine_run(m, "cat /etc/apt/apt.conf.d/01labkit-proxy") == 'Acquire::http::Proxy "%s";\n' % p["proxy"]
    assert machine_run(m, "dpkg-query -W -f='${db:Status-Status}' labkit-probe") == "installed"
    assert f"{m['address']} machine-1" in machine_run(m, "cat /etc/hosts")
    assert machine_run(m, "cat /etc/sysctl.d/90-labkit.conf") == f"kernel.pid_max = {pid_max}\n"
    assert machine_run(m, "cat /etc/modules-load.d/overlay.conf") == "overlay\n"
    again = run_play_file(inventory, site)
    assert again.failed_hosts == [] and again.changed == 0, again.changed_tasks()
