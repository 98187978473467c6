"""The lab's inventory: hosts, groups, variables and lab settings from one YAML file.

Format (see inventory/ha.yaml)::

    lab:     lab-wide settings (provider, networks, CIDRs, versions); optional
    vars:    variables for every host (the "all" group)
    hosts:   name -> {address, port, user, key, connection, vars}
    groups:  name -> {hosts: [...], children: [...], vars: {...}}

Variables merge with Ansible's precedence, lowest first: ``vars`` (all) <
parent group < child group < host. Groups of the same depth merge in name
order. Everything is checked on load (unknown keys, duplicate names or
addresses, unknown references, cycles in ``children``, bad addresses) and each
problem is an InventoryError naming the file and line.

Host patterns (``hosts_in``) follow Ansible: names or globs of hosts and
groups, ``all``, ``a:b`` (union, ``,`` works too), ``a:&b`` (intersection),
``a:!b`` (exclusion).
"""

from __future__ import annotations

import fnmatch
import getpass
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.provision.errors import InventoryError, YamlError
from labkit.provision.yamlfile import YamlList, YamlMap, load_yaml

TOP_KEYS = ("lab", "vars", "hosts", "groups")
HOST_KEYS = ("address", "port", "user", "key", "connection", "vars")
GROUP_KEYS = ("hosts", "children", "vars")
CONNECTIONS = ("ssh", "local")

# Lab settings and their defaults (None: optional, no default). A key not in
# this table is an error, so a typo like `pod_cdir` cannot pass unnoticed;
# new settings are added here, with a comment saying what reads them.
LAB_SETTINGS: dict[str, Any] = {
    "name": None,                       # defaults to the file's stem
    "provider": "auto",                 # auto | nspawn | vagrant | ssh (existing hosts)
    "network": "192.168.77.0/24",       # nspawn bridge (the host is .1), never NATed
    "bridge": None,                     # the nspawn bridge's name (labkit.providers; default lk-<lab name>)
    "vagrant_network": "192.168.56.0/24",
    "pod_cidr": "10.200.0.0/16",
    "service_cidr": "10.32.0.0/24",
    "cluster_dns": "10.32.0.10",
    "cluster_domain": "cluster.local",
    "apiserver_port": 6443,
    "debian": "bookworm",
    "versions": None,                   # component -> version pins
    "apt_proxy": None,                  # e.g. http://192.168.77.1:3142 (apt-cacher-ng)
    "wheelhouse": None,                 # directory of wheels for pip installs on nodes
}
PROVIDERS = ("auto", "nspawn", "vagrant", "ssh")

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclass
class Host:
    """One machine of the lab, as the engine reaches it."""

    name: str
    address: str
    port: int = 22
    user: str = "root"
    key: str | None = None          # private key file (absolute); None: agent/default keys
    connection: str = "ssh"         # "ssh" or "local" (run on the control machine)
    groups: list[str] = field(default_factory=list)   # every group it is in, transitively, incl. "all"
    vars: dict[str, Any] = field(default_factory=dict)  # merged, with Ansible precedence
    file: str = ""
    line: int = 0

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Group:
    name: str
    hosts: list[str] = field(default_factory=list)      # hosts listed directly
    children: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)  # the group's own vars
    file: str = ""
    line: int = 0
    depth: int = 0                                      # 0 for "all", 1 for its children, ...


@dataclass
class Inventory:
    path: Path
    name: str
    lab: dict[str, Any]
    vars: dict[str, Any]
    hosts: dict[str, Host]
    groups: dict[str, Group]

    def group_hosts(self, group: str) -> list[str]:
        """Names of all hosts in a group and its children, in inventory order."""
        if group == "all":
            return list(self.hosts)
        members: set[str] = set()
        stack = [group]
        while stack:
            g = self.groups[stack.pop()]
            members.update(g.hosts)
            stack.extend(g.children)
        return [h for h in self.hosts if h in members]

    def hosts_in(self, pattern: str | list[str]) -> list[Host]:
        """Hosts matching an Ansible-style pattern, in inventory order."""
        terms = pattern if isinstance(pattern, list) else re.split(r"[:,]", str(pattern))
        terms = [t.strip() for t in terms if t and t.strip()]
        if not terms:
            raise InventoryError(f"empty host pattern {pattern!r}", self.path)
        union: list[str] = []
        intersect: list[set[str]] = []
        exclude: set[str] = set()
        for term in terms:
            if term.startswith("!"):
                exclude.update(self._match_term(term[1:], pattern))
            elif term.startswith("&"):
                intersect.append(set(self._match_term(term[1:], pattern)))
            else:
                union.extend(self._match_term(term, pattern))
        if not union and intersect:  # "&a" alone: intersect with all
            union = list(self.hosts)
        chosen = set(union)
        for other in intersect:
            chosen &= other
        chosen -= exclude
        return [self.hosts[h] for h in self.hosts if h in chosen]

    def _match_term(self, term: str, pattern: Any) -> list[str]:
        if term in ("all", "*"):
            return list(self.hosts)
        if term in self.hosts:
            return [term]
        if term in self.groups:
            return self.group_hosts(term)
        if any(c in term for c in "*?["):
            found: list[str] = [h for h in self.hosts if fnmatch.fnmatchcase(h, term)]
            for g in self.groups:
                if fnmatch.fnmatchcase(g, term):
                    found.extend(self.group_hosts(g))
            return found
        raise InventoryError(
            f"host pattern {str(pattern)!r}: {term!r} is neither a host nor a group of this inventory "
            f"(groups: {', '.join(sorted(self.groups)) or 'none'})",
            self.path,
        )


def _fail(message: str, node: Any, key: Any = None) -> InventoryError:
    if isinstance(node, (YamlMap, YamlList)):
        return InventoryError(message, node.file, node.line_of(key) if key is not None else node.line)
    return InventoryError(message)


def _check_keys(node: YamlMap, allowed: tuple[str, ...] | dict, what: str) -> None:
    for key in node:
        if key not in allowed:
            raise _fail(f"unknown key {key!r} in {what} (allowed: {', '.join(allowed)})", node, key)


def _mapping(node: Any, parent: Any, key: Any, what: str) -> YamlMap:
    if node is None:
        empty = YamlMap()
        empty.file, empty.line = _where(parent, key)
        return empty
    if not isinstance(node, dict):
        raise _fail(f"{what} must be a mapping, not {type(node).__name__}", parent, key)
    return node


def _names(node: Any, parent: YamlMap, key: str, what: str) -> list[tuple[str, int]]:
    """A list of names with their lines; rejects repeats within the list."""
    if node is None:
        return []
    if not isinstance(node, list):
        raise _fail(f"{what} must be a list of names", parent, key)
    seen: dict[str, int] = {}
    out = []
    for i, item in enumerate(node):
        line = node.line_of(i) if isinstance(node, YamlList) else parent.line_of(key)
        if not isinstance(item, str):
            raise InventoryError(f"{what}: {item!r} is not a name", parent.file, line)
        if item in seen:
            raise InventoryError(f"{what}: {item!r} listed twice (first at line {seen[item]})", parent.file, line)
        seen[item] = line
        out.append((item, line))
    return out


def _where(node: Any, key: Any) -> tuple[str, int]:
    if isinstance(node, (YamlMap, YamlList)):
        return node.file, node.line_of(key)
    return "<inventory>", 0


def _valid_address(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
        return True
    except ValueError:
        return bool(_HOSTNAME.match(address)) and not re.fullmatch(r"[0-9.]+", address)


def load_inventory(path: str | Path) -> Inventory:
    """Read and check an inventory file; raise InventoryError naming file:line."""
    path = Path(path)
    try:
        doc = load_yaml(path)
    except YamlError as exc:
        raise InventoryError(exc.message, exc.file, exc.line) from None
    if doc is None:
        raise InventoryError("the inventory is empty", path)
    if not isinstance(doc, YamlMap):
        raise InventoryError("an inventory must be a mapping with lab, vars, hosts and groups", path, 1)
    _check_keys(doc, TOP_KEYS, "the inventory")

    # lab settings, with defaults filled in
    lab_node = _mapping(doc.get("lab"), doc, "lab", "lab")
    _check_keys(lab_node, LAB_SETTINGS, "lab")
    lab = {k: v for k, v in LAB_SETTINGS.items()}
    lab.update(lab_node)
    lab["name"] = str(lab.get("name") or path.stem)
    if "lab" not in doc:
        lab["provider"] = "ssh"  # plain SSH hosts that exist already
    if lab["provider"] not in PROVIDERS:
        raise _fail(f"lab.provider {lab['provider']!r} is not one of {', '.join(PROVIDERS)}", lab_node, "provider")
    for cidr_key in ("network", "vagrant_network", "pod_cidr", "service_cidr"):
        try:
            ipaddress.ip_network(str(lab[cidr_key]), strict=False)
        except ValueError:
            raise _fail(f"lab.{cidr_key} {lab[cidr_key]!r} is not a network (CIDR)", lab_node, cidr_key) from None

    all_vars = _mapping(doc.get("vars"), doc, "vars", "vars")

    # groups first (names and structure), hosts after, then check references
    groups_node = _mapping(doc.get("groups"), doc, "groups", "groups")
    hosts_node = _mapping(doc.get("hosts"), doc, "hosts", "hosts")
    if not hosts_node:
        raise _fail("the inventory has no hosts", doc, "hosts" if "hosts" in doc else None)

    groups: dict[str, Group] = {}
    for gname, gnode in groups_node.items():
        gfile, gline = groups_node.file, groups_node.line_of(gname)
        if not isinstance(gname, str) or not _NAME.match(gname):
            raise InventoryError(f"group name {gname!r} is not a valid name", gfile, gline)
        if gname in ("all", "ungrouped"):
            raise InventoryError(f"group {gname!r} is implicit; put variables for every host under the top-level vars:", gfile, gline)
        gnode = _mapping(gnode, groups_node, gname, f"group {gname}")
        _check_keys(gnode, GROUP_KEYS, f"group {gname}")
        group = Group(
            name=gname,
            hosts=[h for h, _ in _names(gnode.get("hosts"), gnode, "hosts", f"group {gname} hosts")],
            children=[c for c, _ in _names(gnode.get("children"), gnode, "children", f"group {gname} children")],
            vars=dict(_mapping(gnode.get("vars"), gnode, "vars", f"group {gname} vars")),
            file=gfile,
            line=gline,
        )
        group._node = gnode  # type: ignore[attr-defined]  # for error lines below
        groups[gname] = group

    hosts: dict[str, Host] = {}
    seen_endpoints: dict[tuple[str, int], str] = {}
    for hname, hnode in hosts_node.items():
        hfile, hline = hosts_node.file, hosts_node.line_of(hname)
        if not isinstance(hname, str) or not _NAME.match(hname):
            raise InventoryError(f"host name {hname!r} is not a valid name", hfile, hline)
        if hname in groups:
            raise InventoryError(f"{hname!r} is both a host and a group (line {groups[hname].line}); names must be unambiguous", hfile, hline)
        hnode = _mapping(hnode, hosts_node, hname, f"host {hname}")
        _check_keys(hnode, HOST_KEYS, f"host {hname}")
        connection = hnode.get("connection", "ssh")
        if connection not in CONNECTIONS:
            raise _fail(f"host {hname}: connection {connection!r} is not one of {', '.join(CONNECTIONS)}", hnode, "connection")
        address = hnode.get("address", "127.0.0.1" if connection == "local" else hname)
        if not isinstance(address, str) or not _valid_address(address):
            raise _fail(f"host {hname}: address {address!r} is neither an IP address nor a host name", hnode, "address" if "address" in hnode else None)
        port = hnode.get("port", 22)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise _fail(f"host {hname}: port {port!r} is not a TCP port (1-65535)", hnode, "port")
        if connection == "ssh":
            endpoint = (address, port)
            if endpoint in seen_endpoints:
                other = seen_endpoints[endpoint]
                raise _fail(
                    f"host {hname}: address {address}:{port} is already used by host {other} (line {hosts_node.line_of(other)})",
                    hnode, "address" if "address" in hnode else None,
                )
            seen_endpoints[endpoint] = hname
        host_vars = _mapping(hnode.get("vars"), hnode, "vars", f"host {hname} vars")
        key = hnode.get("key")
        if key is not None:
            if not isinstance(key, str):
                raise _fail(f"host {hname}: key must be a file path", hnode, "key")
            key_path = Path(key).expanduser()
            key = str(key_path if key_path.is_absolute() else (path.parent / key_path).resolve())
        hosts[hname] = Host(
            name=hname, address=address, port=port, key=key, connection=connection,
            user=hnode.get("user"), vars=dict(host_vars), file=hfile, line=hline,
        )

    # references and cycles
    for group in groups.values():
        gnode = group._node  # type: ignore[attr-defined]
        for hname, line in _names(gnode.get("hosts"), gnode, "hosts", "hosts"):
            if hname not in hosts:
                raise InventoryError(f"group {group.name}: unknown host {hname!r} (hosts: {', '.join(hosts)})", gnode.file, line)
        for cname, line in _names(gnode.get("children"), gnode, "children", "children"):
            if cname not in groups:
                raise InventoryError(f"group {group.name}: unknown child group {cname!r} (groups: {', '.join(groups) or 'none'})", gnode.file, line)
    _check_cycles(groups)

    # depth: the longest path from "all" (a child is deeper than every parent)
    parents: dict[str, list[str]] = {g: [] for g in groups}
    for group in groups.values():
        for child in group.children:
            parents[child].append(group.name)

    def depth(name: str) -> int:
        return 1 + max((depth(p) for p in parents[name]), default=0)

    for group in groups.values():
        group.depth = depth(group.name)

    # each host's groups (transitively) and merged vars
    for host in hosts.values():
        direct = [g.name for g in groups.values() if host.name in g.hosts]
        member: set[str] = set()
        stack = list(direct)
        while stack:
            g = stack.pop()
            if g not in member:
                member.add(g)
                stack.extend(parents[g])
        ordered = sorted(member, key=lambda g: (groups[g].depth, g))
        merged: dict[str, Any] = dict(all_vars)
        for g in ordered:
            merged.update(groups[g].vars)
        merged.update(host.vars)
        host.groups = ["all"] + ordered
        host.vars = merged
        if host.user is None:
            host.user = str(merged.get("ssh_user") or merged.get("ansible_user") or getpass.getuser())

    for group in groups.values():
        del group._node  # type: ignore[attr-defined]
    return Inventory(path=path, name=lab["name"], lab=lab, vars=dict(all_vars), hosts=hosts, groups=groups)


def _check_cycles(groups: dict[str, Group]) -> None:
    state: dict[str, str] = {}  # "visiting" | "done"

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = trail[trail.index(name):] + [name]
            group = groups[trail[-1]]
            node = group._node  # type: ignore[attr-defined]
            children = node.get("children")
            line = children.line_of(list(children).index(name)) if isinstance(children, YamlList) else group.line
            raise InventoryError(f"cycle in group children: {' -> '.join(cycle)}", group.file, line)
        state[name] = "visiting"
        for child in groups[name].children:
            visit(child, trail + [name])
        state[name] = "done"

    for name in groups:
        visit(name, [])
