"""The cluster play in check mode on this machine: it reads real state and changes nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from labkit.provision.runner import run_play_file

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.integration


def test_site_play_check_mode_on_the_control_machine(tmp_path):
    inventory = tmp_path / "here.yaml"
    inventory.write_text("hosts:\n  control: {connection: local}\n")
    watched = [Path("/etc/hosts"), Path("/etc/sysctl.d/90-labkit.conf"), Path("/etc/apt/apt.conf.d/01labkit-proxy")]
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None for p in watched}
    result = run_play_file(inventory, REPO / "roles" / "site.yaml", check=True, diff=True)
    assert result.failed_hosts == [], [str(f) for f in result.failures]
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None for p in watched}
    assert after == before
    hosts_diff = [r.diff for r in result.records if r.task == "every lab host by name"][0]
    # either the block is there already, or the diff shows what would be added
    assert hosts_diff == "" or "+127.0.0.1 control" in hosts_diff
