"""The systemd module on a real systemd: a booted systemd-nspawn machine, reached over SSH.

This machine has no systemd as PID 1, so the module's real test needs a
machine that has one: a Debian bookworm root (debootstrap, cached under
~/.cache/labkit-test) booted with systemd-nspawn as an ephemeral copy. The
machine shares the host's network namespace; its sshd listens only on a
127.0.x.y address and a free port (a drop-in config bound into it), with an
authorized key made here. Stopped by the PID we started.
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
        ["systemd-nspawn", "-D", str(rootfs), "--ephemeral", "-M", name, "--register=no", "--keep-unit",
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
