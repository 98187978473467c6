"""sysctl for real, live and persisted: a host that is an sshd in a network namespace of our own.

``net.*`` settings belong to a network namespace, so changing them there is
real (the kernel's value changes) and leaves this machine's own untouched.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.provision.runner import run_play_file
from labkit.provision.sshd import NetnsLink, SshdProcess

pytestmark = pytest.mark.integration

PLAY = """
- hosts: netns-1
  tasks:
    - file: {path: "{{ root_prefix }}/sysctl.d", state: directory}
    - name: forwarding
      sysctl: {name: net.ipv4.ip_forward, value: 1, sysctl_file: "{{ root_prefix }}/sysctl.d/90-labkit.conf"}
    - name: loose reverse path filter
      sysctl: {name: net.ipv4.conf.all.rp_filter, value: "2", sysctl_file: "{{ root_prefix }}/sysctl.d/90-labkit.conf"}
"""


@pytest.fixture(scope="module")
def netns_host(tmp_path_factory, sshd_hosts):
    link = NetnsLink().create()
    try:
        sshd = SshdProcess(tmp_path_factory.mktemp("netns-sshd"), client_key=sshd_hosts[0].client_key, netns=link).start()
        try:
            yield link, sshd
        finally:
            sshd.stop()
    finally:
        link.delete()


def test_sysctl_live_and_persisted_in_a_namespace(make_lab, netns_host, tmp_path):
    link, sshd = netns_host
    root = tmp_path / "netns-1"
    lab = make_lab(extra_hosts={"netns-1": {"address": sshd.address, "port": sshd.port, "user": "root",
                                            "key": str(sshd.client_key), "vars": {"root_prefix": str(root)}}})
    play = tmp_path / "sysctl.yaml"
    play.write_text(PLAY)
    ours = Path("/proc/sys/net/ipv4/ip_forward").read_text()

    def live(key: str) -> str:
        return link.run("sysctl", "-n", key).strip()

    assert live("net.ipv4.ip_forward") == "0"   # a new namespace starts with forwarding off
    check = run_play_file(lab.path, play, check=True, diff=True)
    assert check.failed_hosts == [], [str(f) for f in check.failures]
    diffs = {r.task: r.diff for r in check.records}
    assert "live: net.ipv4.ip_forward 0 -> 1" in diffs["forwarding"]
    assert live("net.ipv4.ip_forward") == "0" and not root.exists()   # check mode: nothing done

    first = run_play_file(lab.path, play)
    assert first.failed_hosts == [], [str(f) for f in first.failures]
    assert live("net.ipv4.ip_forward") == "1" and live("net.ipv4.conf.all.rp_filter") == "2"
    assert (root / "sysctl.d/90-labkit.conf").read_text() == "net.ipv4.ip_forward = 1\nnet.ipv4.conf.all.rp_filter = 2\n"
    assert run_play_file(lab.path, play).changed == 0

    link.run("sysctl", "-q", "-w", "net.ipv4.ip_forward=0")   # the live value drifts (a reboot, a person)
    healed = run_play_file(lab.path, play, diff=True)
    assert healed.changed_tasks() == ["forwarding"]
    assert [r.diff for r in healed.records if r.task == "forwarding"] == ["live: net.ipv4.ip_forward 0 -> 1"]
    assert live("net.ipv4.ip_forward") == "1"
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == ours   # this machine's own: untouched
