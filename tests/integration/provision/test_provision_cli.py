"""`labkit play` and `labkit inventory` as a user runs them: flags, output, errors, live progress."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from labkit.provision.inventory import load_inventory
from labkit.provision.playbook import load_play_file
from labkit.provision.report import Reporter
from labkit.provision.runner import Runner, run_play_file

pytestmark = pytest.mark.integration
SITE = Path(__file__).resolve().parent / "lab" / "roles" / "site.yaml"
PACKAGE_TASK = "the package check (openssh-client is on every host)"


def test_check_diff_limit_skip_tags_verbose_and_json_report(lab):
    assert run_play_file(lab.path, SITE).failed_hosts == []
    lab.set_var("ssh-1", "greeting", "bonjour")
    result = lab.labkit("play", "-i", str(lab.path), str(SITE), "--check", "--diff", "--limit", "remote",
                        "--skip-tags", "packages", "-v", "--report", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "greeting = hello" in (lab.roots["ssh-1"] / "etc/app.conf").read_text()  # --check: unchanged
    assert "+greeting = bonjour" in out                                              # --diff
    assert PACKAGE_TASK not in out                                                   # --skip-tags
    assert re.search(r"ok\s+ssh-2: motd \(\d+\.\d\ds\)", out)                        # -v: every task, timed
    assert "PLAY all [ssh-1, ssh-2, ssh-3]" in out                                   # the play and its hosts
    assert "PLAY RECAP" in out and "TASK TIMING (slowest first)" in out
    recap = json.loads(out.strip().splitlines()[-1])                                 # --report json, last line
    assert sorted(recap) == ["ssh-1", "ssh-2", "ssh-3"]                              # --limit
    assert set(recap["ssh-1"]) == {"ok", "changed", "failed", "skipped", "unreachable"}
    assert recap["ssh-1"]["changed"] >= 1 and recap["ssh-2"]["changed"] == 0

    only = lab.labkit("play", "-i", str(lab.path), str(SITE), "--tags", "packages", "--limit", "ssh-2", "-v",
                      "--report", "json")
    assert only.returncode == 0, only.stdout + only.stderr
    assert PACKAGE_TASK in only.stdout and ": motd" not in only.stdout
    assert json.loads(only.stdout.strip().splitlines()[-1]) == {
        "ssh-2": {"ok": 1, "changed": 0, "failed": 0, "skipped": 0, "unreachable": 0}}


def test_a_failed_command_names_host_task_file_line_command_and_stderr(lab, tmp_path):
    play = tmp_path / "broken.yaml"
    play.write_text("- hosts: ssh-3\n  tasks:\n    - name: list a missing directory\n"
                    "      command: ls /nonexistent-labkit-dir\n")
    result = lab.labkit("play", "-i", str(lab.path), str(play), "--report", "json")
    assert result.returncode == 2
    out = " ".join(result.stdout.split())
    assert f"ssh-3: task 'list a missing directory' ({play}:3) failed: non-zero return code 2" in out, out
    assert "command: exec ls /nonexistent-labkit-dir" in out
    assert "stderr: ls: cannot access '/nonexistent-labkit-dir'" in out
    assert json.loads(result.stdout.strip().splitlines()[-1])["ssh-3"]["failed"] == 1


def test_inventory_command_lists_hosts_and_names_bad_lines(lab, tmp_path):
    listed = lab.labkit("inventory", "-i", str(lab.path), "remote")
    assert listed.returncode == 0, listed.stderr
    hosts = json.loads(listed.stdout)
    assert sorted(hosts) == ["ssh-1", "ssh-2", "ssh-3"] and hosts["ssh-1"]["groups"] == ["all", "remote"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("hosts:\n  a: {address: 10.0.0.1}\ngroups:\n  x: {children: [y]}\n  y: {children: [x]}\n")
    refused = lab.labkit("inventory", "-i", str(bad))
    assert refused.returncode == 1
    assert f"{bad}:" in refused.stderr and "cycle in group children" in refused.stderr


def test_live_progress_on_a_terminal(lab):
    """On a terminal, a live table shows each host's current task; then the PLAY RECAP."""
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=160, color_system=None)
    reporter = Reporter(console=console)
    runner = Runner(load_inventory(lab.path), load_play_file(SITE), reporter=reporter)
    result = runner.run()
    reporter.recap(result)
    assert result.failed_hosts == []
    text = screen.getvalue()
    # the live table (header and a row per host with its current task) was drawn while running
    assert re.search(r"host\s+task\s+ok\s+changed\s+failed\s+skipped", text)
    for host in ("ssh-1", "ssh-2", "ssh-3", "local-1"):
        assert re.search(rf"{host}\s+(app config|motd|scratch root|limits|hosts block)\s+\d+", text), host
    assert "PLAY RECAP" in text
