"""Real runs of the engine: three SSH hosts (real sshd) and one local host.

Converge, converge again with zero changes, check mode changes nothing,
--diff shows a template change, handlers fire only on change, one failing
host leaves the others finished, an unreachable host fails fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labkit.provision.runner import run_play_file


pytestmark = pytest.mark.integration
SITE = Path(__file__).resolve().parent / "lab" / "roles" / "site.yaml"  # the test play (conftest: `lab`)

ALL = ["ssh-1", "ssh-2", "ssh-3", "local-1"]


def files_of(lab, host: str) -> dict[str, bytes]:
    root = lab.roots[host]
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else b"") for p in sorted(root.rglob("*"))}


def written_of(lab, host: str) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of every path: a file sent again would get a new inode (atomic rename)."""
    root = lab.roots[host]
    return {str(p.relative_to(root)): (p.lstat().st_ino, p.lstat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def test_converge_then_zero_changes(lab):
    first = run_play_file(lab.path, SITE)
    assert first.failed_hosts == [], [str(f) for f in first.failures]
    assert sorted(first.stats) == sorted(ALL)
    for host in ALL:
        root = lab.roots[host]
        assert (root / "etc/motd").read_text() == f"lab enginetest: {host}\n"
        conf = (root / "etc/app.conf").read_text()
        assert f"# {host} (debian x86_64)" in conf and "greeting = hello" in conf and "port = 8080" in conf
        assert oct((root / "etc/app.conf").stat().st_mode)[-3:] == "640"
        assert (root / "etc/motd.link").resolve() == root / "etc/motd"
        assert (root / "etc/limits.conf").read_text() == "nofile=65536\n"
        assert f"127.0.0.1 {host}" in (root / "etc/hosts").read_text()
        assert "net.ipv4.ip_forward = " in (root / "etc/sysctl.d/99-labkit.conf").read_text()
        assert sorted(p.name for p in (root / "srv/app").iterdir()) == ["conf.d", "data", "logs"]
        # two tasks notified "restart app" and changed: the handler ran once
        assert (root / "handler.log").read_text() == "restarted\n"
        assert (lab.control_dir / f"{host}.seen").exists()  # delegate_to: localhost
        assert first.stats[host].changed > 0
    assert len((lab.control_dir / "run_once.log").read_text().splitlines()) == 1

    snapshot = {h: files_of(lab, h) for h in ALL}
    written = {h: written_of(lab, h) for h in ALL}
    second = run_play_file(lab.path, SITE)
    assert second.failed_hosts == []
    assert {h: s.changed for h, s in second.stats.items()} == {h: 0 for h in ALL}, second.changed_tasks()
    assert {h: files_of(lab, h) for h in ALL} == snapshot  # nothing touched, handler not fired
    assert {h: written_of(lab, h) for h in ALL} == written  # unchanged files were not sent again
    # one connection per host, and one command per module run (and loop item) to read the state:
    # facts 1 + common role 11 + app role 6 = 18; the run_once task adds one on the host that ran it,
    # the delegated copy one per host on the control machine
    assert sorted(second.commands[h] for h in ALL) == [18, 18, 18, 19]
    assert second.commands["localhost"] == 4


def test_check_mode_changes_nothing_and_diff_shows_template_change(lab):
    assert run_play_file(lab.path, SITE).failed_hosts == []
    (lab.roots["ssh-2"] / "etc/motd").unlink()
    lab.set_var("ssh-1", "greeting", "good morning")
    before = {h: files_of(lab, h) for h in ALL}

    check = run_play_file(lab.path, SITE, check=True, diff=True)
    assert check.failed_hosts == [], [str(f) for f in check.failures]
    assert {h: files_of(lab, h) for h in ALL} == before  # check mode: nothing changed anywhere
    assert "app config" in check.changed_tasks("ssh-1") and "motd" in check.changed_tasks("ssh-2")
    diffs = {(r.host, r.task): r.diff for r in check.records}
    assert "-greeting = hello" in diffs[("ssh-1", "app config")]
    assert "+greeting = good morning" in diffs[("ssh-1", "app config")]
    assert check.stats["ssh-3"].changed == 0 and check.stats["local-1"].changed == 0

    real = lab.labkit("play", "-i", str(lab.path), str(SITE), "--diff", "--report", "json")
    assert real.returncode == 0, real.stdout + real.stderr
    assert "+greeting = good morning" in real.stdout
    recap = json.loads(real.stdout.strip().splitlines()[-1])
    assert recap["ssh-1"]["changed"] >= 2 and recap["ssh-3"]["changed"] == 0 and recap["ssh-3"]["failed"] == 0
    assert "greeting = good morning" in (lab.roots["ssh-1"] / "etc/app.conf").read_text()
    # the handler fired again on ssh-1 only (its config changed)
    assert (lab.roots["ssh-1"] / "handler.log").read_text() == "restarted\nrestarted\n"
    assert (lab.roots["ssh-3"] / "handler.log").read_text() == "restarted\n"


def test_one_failing_host_leaves_the_others_finished(lab):
    lab.set_var("ssh-2", "break_me", True)
    result = lab.labkit("play", "-i", str(lab.path), str(SITE), "--report", "json")
    assert result.returncode == 2, result.stdout + result.stderr
    recap = json.loads(result.stdout.strip().splitlines()[-1])
    assert recap["ssh-2"]["failed"] == 1
    for host in ("ssh-1", "ssh-3", "local-1"):
        assert recap[host]["failed"] == 0
        assert (lab.roots[host] / "initialised").exists() and (lab.control_dir / f"{host}.seen").exists()
    assert not (lab.control_dir / "ssh-2.seen").exists()  # ssh-2 stopped at its failing task
    # the error names host, task, file and line, the command and what it said
    assert "ssh-2: task 'a step that breaks on purpose when a host asks for it'" in result.stdout
    assert "roles/app/tasks.yaml:22" in result.stdout and "command: exec false" in result.stdout


def test_any_errors_fatal_stops_every_host(lab, tmp_path):
    play = tmp_path / "fatal.yaml"
    play.write_text(
        "- hosts: all\n  any_errors_fatal: true\n  serial: 2\n  tasks:\n"
        "    - name: break on ssh-1\n      command: 'false'\n      when: inventory_hostname == 'ssh-1'\n"
        "    - name: mark\n      shell: 'mkdir -p {{ root_prefix }} && touch {{ root_prefix }}/marked'\n"
    )
    result = run_play_file(lab.path, play)
    assert "ssh-1" in result.failed_hosts
    # the batch with ssh-1 may have finished its other host; later batches never ran
    assert not (lab.roots["ssh-3"] / "marked").exists() and not (lab.roots["local-1"] / "marked").exists()


def test_unreachable_host_fails_fast_and_others_converge(tmp_path, sshd_hosts, make_lab):
    from labkit.localplane import free_port
    lab = make_lab(extra_hosts={
        "ghost": {"address": "127.0.0.1", "port": free_port(), "user": "root", "key": str(sshd_hosts[0].client_key),
                  "vars": {"root_prefix": str(tmp_path / "ghost")}},
    })
    result = run_play_file(lab.path, SITE)
    assert result.failed_hosts == ["ghost"]
    assert result.stats["ghost"].unreachable == 1
    assert "cannot reach root@127.0.0.1" in str(result.failures[0]) and "refused" in str(result.failures[0]).lower()
    assert all(result.stats[h].failed == 0 for h in ALL)


def test_tags_limit_and_serial(lab, tmp_path):
    result = run_play_file(lab.path, SITE, tags=["packages"], limit="remote")
    assert sorted(result.stats) == ["ssh-1", "ssh-2", "ssh-3"]
    assert {r.task for r in result.records} - {"gather facts"} == {"the package check (openssh-client is on every host)"}
    assert not lab.roots["ssh-1"].exists()  # only the package check ran
    skipped = run_play_file(lab.path, SITE, skip_tags=["packages"], limit="ssh-1")
    assert "the package check (openssh-client is on every host)" not in {r.task for r in skipped.records}
    assert skipped.failed_hosts == []


def test_serial_runs_hosts_in_batches(lab, tmp_path):
    play = tmp_path / "rolling.yaml"
    play.write_text(
        "- hosts: all\n  serial: 1\n  tasks:\n"
        "    - name: log my turn\n      shell: 'echo {{ inventory_hostname }} >> {{ control_dir }}/turns'\n"
        "    - name: log my turn again\n      shell: 'echo {{ inventory_hostname }} >> {{ control_dir }}/turns'\n"
        "      delegate_to: localhost\n"
    )
    assert run_play_file(lab.path, play).failed_hosts == []
    turns = (lab.control_dir / "turns").read_text().split()
    # one host at a time: each host's two lines are next to each other, in inventory order
    assert turns == [h for h in ALL for _ in range(2)]
