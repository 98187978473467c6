"""The inventory loader: the repository's labs load, bad inventories name file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from labkit.provision.errors import InventoryError
from labkit.provision.inventory import load_inventory

REPO = Path(__file__).resolve().parents[3]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_ha_lab_loads_with_groups_and_precedence():
    inv = load_inventory(REPO / "inventory" / "ha.yaml")
    assert inv.name == "ha"
    assert inv.lab["service_cidr"] == "10.32.0.0/24"
    assert list(inv.hosts) == ["lb-1", "master-1", "master-2", "master-3", "worker-1", "worker-2"]
    m1 = inv.hosts["master-1"]
    assert (m1.address, m1.port, m1.user, m1.connection) == ("192.168.77.11", 22, "root", "ssh")
    assert set(m1.groups) == {"all", "masters", "etcd", "nodes"}
    assert m1.vars["memory"] == 2048 and m1.vars["pod_cidr"] == "10.200.1.0/24"
    assert m1.line == 28 and m1.file.endswith("ha.yaml")
    assert [h.name for h in inv.hosts_in("etcd")] == ["master-1", "master-2", "master-3"]


def test_single_lab_loads():
    inv = load_inventory(REPO / "inventory" / "single.yaml")
    assert [h.name for h in inv.hosts_in("nodes")] == ["master-1", "worker-1"]


def test_lab_defaults_filled_and_plain_ssh_inventory(tmp_path):
    inv = load_inventory(write(tmp_path, """
        hosts:
          web: {address: 10.0.0.5, port: 2222, user: deploy, key: keys/id_ed25519}
          me: {connection: local}
    """))
    assert inv.name == "lab" and inv.lab["provider"] == "ssh" and inv.lab["apiserver_port"] == 6443
    web = inv.hosts["web"]
    assert (web.port, web.user, web.key) == (2222, "deploy", str((tmp_path / "keys/id_ed25519").resolve()))
    assert inv.hosts["me"].connection == "local" and inv.hosts["me"].groups == ["all"]


def test_precedence_all_parent_child_host(tmp_path):
    inv = load_inventory(write(tmp_path, """
        vars: {a: all, b: all, c: all, d: all}
        hosts:
          h1: {address: 10.0.0.1, vars: {d: host}}
        groups:
          parent: {children: [child], vars: {b: parent, c: parent, d: parent}}
          child: {hosts: [h1], vars: {c: child, d: child}}
    """))
    assert inv.hosts["h1"].vars == {"a": "all", "b": "parent", "c": "child", "d": "host"}
    assert inv.hosts["h1"].groups == ["all", "parent", "child"]


@pytest.mark.parametrize("pattern, expected", [
    ("all", ["a1", "a2", "b1", "c1"]),
    ("ga:gb", ["a1", "a2", "b1"]),
    ("ga,c1", ["a1", "a2", "c1"]),
    ("all:!ga", ["b1", "c1"]),
    ("top:&ga", ["a1", "a2"]),
    ("a*", ["a1", "a2"]),
    ("top:!a2", ["a1", "b1"]),
])
def test_host_patterns(tmp_path, pattern, expected):
    inv = load_inventory(write(tmp_path, """
        hosts:
          a1: {address: 10.0.0.1}
          a2: {address: 10.0.0.2}
          b1: {address: 10.0.0.3}
          c1: {address: 10.0.0.4}
        groups:
          ga: {hosts: [a1, a2]}
          gb: {hosts: [b1]}
          top: {children: [ga, gb]}
    """))
    assert [h.name for h in inv.hosts_in(pattern)] == expected


def test_unknown_pattern_term_is_an_error(tmp_path):
    inv = load_inventory(write(tmp_path, "hosts: {a: {address: 10.0.0.1}}\n"))
    with pytest.raises(InventoryError, match="'nope' is neither a host nor a group"):
        inv.hosts_in("a:nope")


@pytest.mark.parametrize("text, line, message", [
    ("hosts:\n  a: {address: 10.0.0.1}\nhostz: {}\n", 3, "unknown key 'hostz' in the inventory"),
    ("hosts:\n  a: {address: 10.0.0.1, prot: 22}\n", 2, "unknown key 'prot' in host a"),
    ("hosts:\n  a: {address: 10.0.0.1}\n  a: {address: 10.0.0.2}\n", 3, "duplicate key 'a' (first at line 2)"),
    ("hosts:\n  a: {address: 10.0.0.1}\n  b: {address: 10.0.0.1}\n", 3, "already used by host a"),
    ("hosts:\n  a: {address: 10.0.0.1}\ngroups:\n  g: {hosts: [a]}\n  g: {hosts: []}\n", 5, "duplicate key 'g' (first at line 4)"),
    ("hosts:\n  a: {address: 10.0.0.1}\ngroups:\n  g:\n    hosts:\n      - a\n      - a\n", 7, "'a' listed twice"),
    ("hosts:\n  a: {address: 10.0.0.1}\ngroups:\n  g: {children: [g]}\n", 4, "cycle in group children: g -> g"),
    ("hosts:\n  a: {address: 10.0.0.1}\ngroups:\n  g: {hosts: [a, zed]}\n", 4, "unknown host 'zed'"),
    ("hosts:\n  a: {address: 10.0.0.1}\ngroups:\n  g:\n    children:\n      - nope\n", 6, "unknown child group 'nope'"),
    ("hosts:\n  a: {address: 10.0.0.1}\ngroups:\n  x: {children: [y]}\n  y:\n    children:\n      - x\n", 7, "cycle in group children"),
    ("hosts:\n  a: {address: '300.1.2.3'}\n", 2, "is neither an IP address nor a host name"),
    ("hosts:\n  a: {address: 'bad host'}\n", 2, "is neither an IP address nor a host name"),
    ("hosts:\n  a: {address: 10.0.0.1, port: 70000}\n", 2, "is not a TCP port"),
    ("hosts:\n  a: {address: 10.0.0.1, connection: winrm}\n", 2, "connection 'winrm'"),
    ("lab:\n  name: x\n  pod_cdir: 10.0.0.0/8\nhosts:\n  a: {address: 10.0.0.1}\n", 3, "unknown key 'pod_cdir' in lab"),
    ("lab:\n  service_cidr: nonsense\nhosts:\n  a: {address: 10.0.0.1}\n", 2, "is not a network"),
    ("hosts:\n  a: {address: 10.0.0.1\n", 3, "YAML syntax error"),
    ("hosts:\n  a: {address: 10.0.0.1}\ngroups:\n  a: {hosts: [a]}\n", 2, "is both a host and a group"),
])
def test_bad_inventories_name_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "lab.yaml"
    path.write_text(text)
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert message in str(err.value)
    assert str(err.value).startswith(f"{path}:{line}: "), str(err.value)
