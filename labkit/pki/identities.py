"""Who gets a certificate in a lab: one table, expanded against the inventory.

Each row of CERTIFICATES is one certificate (or one per host of a group):
its file name under ``pki/``, the CA that signs it, the subject (CN and O,
which the apiserver reads as user name and groups), whether it serves TLS,
authenticates a client, or both, its subject alternative names, and the
kubeconfig that embeds it. Placeholders in braces are filled from the
inventory:

    {host} {host_ip}        the host the row is expanded for (per-host rows)
    {masters} {masters_ip}  every master's name / address
    {lb} {lb_ip}            the load balancers' names / addresses (none in `single`)
    {service_ip}            first address of lab.service_cidr (10.32.0.1)
    {cluster_domain}        lab.cluster_domain (cluster.local)

An address placeholder gives every address a host has on the lab network:
the inventory's, and, when the lab may run on Vagrant (provider auto or
vagrant), the same host number in lab.vagrant_network, so one PKI serves
either provider.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from labkit.pki.state import PkiError
from labkit.providers.base import ProviderError
from labkit.providers.vagrant import vagrant_address
from labkit.provision.inventory import Host, Inventory

SERVER = ("server",)
CLIENT = ("client",)
SERVER_AND_CLIENT = ("server", "client")

# The two certificate authorities: file stem under pki/ -> subject CN (kubeadm's names).
CLUSTER_CA = "ca"
ETCD_CA = "etcd/ca"
CAS = {CLUSTER_CA: "kubernetes", ETCD_CA: "etcd-ca"}

# kubeconfig endpoints: the load balancer (or the only master) for everything that
# may run anywhere; the apiserver on the same machine for control-plane components.
LB = "lb"
LOCAL = "local"

ETCD_SANS = ("{host}", "localhost", "{host_ip}", "127.0.0.1")
APISERVER_SANS = (
    "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.{cluster_domain}",
    "{masters}", "{lb}", "{service_ip}", "127.0.0.1", "{masters_ip}", "{lb_ip}",
)

# name, one per host of group (None: once), CA, CN, O, usages, SANs, kubeconfig endpoint, purpose
CERTIFICATES: list[tuple[Any, ...]] = [
    ("apiserver", None, CLUSTER_CA, "kube-apiserver", (), SERVER, APISERVER_SANS, None,
     "kube-apiserver serving certificate"),
    ("apiserver-kubelet-client", None, CLUSTER_CA, "kube-apiserver-kubelet-client", ("system:masters",), CLIENT, (),
     None, "kube-apiserver -> kubelets (logs, exec)"),
    ("apiserver-etcd-client", None, ETCD_CA, "kube-apiserver-etcd-client", (), CLIENT, (), None,
     "kube-apiserver -> etcd"),
    ("etcd/healthcheck-client", None, ETCD_CA, "kube-etcd-healthcheck-client", (), CLIENT, (), None,
     "etcdctl on the masters (health checks, backups)"),
    ("etcd/{host}-server", "etcd", ETCD_CA, "{host}", (), SERVER_AND_CLIENT, ETCD_SANS, None,
     "etcd serving certificate"),
    ("etcd/{host}-peer", "etcd", ETCD_CA, "{host}", (), SERVER_AND_CLIENT, ETCD_SANS, None,
     "etcd member <-> member"),
    ("admin", None, CLUSTER_CA, "admin", ("system:masters",), CLIENT, (), LB,
     "the lab's administrator (kubectl)"),
    ("kube-controller-manager", None, CLUSTER_CA, "system:kube-controller-manager", (), CLIENT, (), LOCAL,
     "kube-controller-manager -> kube-apiserver"),
    ("kube-scheduler", None, CLUSTER_CA, "system:kube-scheduler", (), CLIENT, (), LOCAL,
     "kube-scheduler -> kube-apiserver"),
    ("kube-proxy", None, CLUSTER_CA, "system:kube-proxy", (), CLIENT, (), LB,
     "kube-proxy -> kube-apiserver"),
    ("kubelet-{host}", "nodes", CLUSTER_CA, "system:node:{host}", ("system:nodes",), SERVER_AND_CLIENT,
     ("{host}", "{host_ip}"), LB, "kubelet: client of the apiserver and its own serving certificate"),
]


@dataclass(frozen=True)
class Identity:
    """One certificate of a lab, fully expanded: what pki.generate issues and pki.check expects."""

    name: str  # file stem under pki/: pki/<name>.crt and pki/<name>.key
    ca: str  # CLUSTER_CA or ETCD_CA
    common_name: str
    organizations: tuple[str, ...]
    usages: tuple[str, ...]  # "server" (serverAuth), "client" (clientAuth)
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    kubeconfig: str | None  # LB, LOCAL or None (no kubeconfig)
    purpose: str
    host: str | None = None


def service_ip(inventory: Inventory) -> str:
    """The apiserver's ClusterIP: the first usable address of the service range."""
    network = ipaddress.ip_network(str(inventory.lab["service_cidr"]), strict=False)
    return str(next(network.hosts()))


def host_ips(inventory: Inventory, host: Host) -> list[str]:
    """The host's IP addresses on the lab network (none when its address is a DNS name)."""
    try:
        address = ipaddress.ip_address(host.address)
    except ValueError:
        return []
    ips = [str(address)]
    if inventory.lab["provider"] in ("auto", "vagrant"):
        try:
            moved = vagrant_address(str(address), str(inventory.lab["network"]), str(inventory.lab["vagrant_network"]))
        except ProviderError:
            return ips  # not on lab.network: the inventory's address is the only one
        if moved not in ips:
            ips.append(moved)
    return ips


def host_names(host: Host) -> list[str]:
    """The host's DNS names: its inventory name, and its address when that is a name."""
    names = [host.name]
    try:
        ipaddress.ip_address(host.address)
    except ValueError:
        names.append(host.address)
    return names


def group(inventory: Inventory, name: str) -> list[Host]:
    """Hosts of a lab role. `etcd` falls back to the masters (stacked), `nodes` to masters + workers."""
    if name in inventory.groups:
        return [inventory.hosts[h] for h in inventory.group_hosts(name)]
    if name == "etcd":
        return group(inventory, "masters")
    if name == "nodes":
        members = set(inventory.group_hosts("masters")) | set(
            inventory.group_hosts("workers") if "workers" in inventory.groups else [])
        return [h for h in inventory.hosts.values() if h.name in members]
    return []


def check_inventory(inventory: Inventory) -> None:
    """What the PKI needs beyond what the loader checks: masters, and one address per host."""
    if not group(inventory, "masters"):
        raise PkiError(f"{inventory.path}: the inventory has no hosts in a 'masters' group; "
                       "the PKI needs at least one master")
    seen: dict[str, Host] = {}
    for host in inventory.hosts.values():
        if host.connection == "local":
            continue  # the control machine itself, never a lab member with certificates
        for ip in host_ips(inventory, host)[:1]:
            if ip in seen:
                other = seen[ip]
                raise PkiError(f"{host.where}: host {host.name} has address {ip}, already used by host "
                               f"{other.name} ({other.where}); each lab host needs its own address")
            seen[ip] = host


def _expand(template: str, values: dict[str, list[str]]) -> list[str]:
    """A SAN template into values: "{masters_ip}" -> every master IP, "kubernetes.default.svc.{x}" -> one name."""
    if template.startswith("{") and template.endswith("}") and template.count("{") == 1:
        return list(values[template[1:-1]])
    return [template.format(**{k: v[0] if v else "" for k, v in values.items()})]


def lab_identities(inventory: Inventory) -> list[Identity]:
    """Every certificate the lab needs, in table order, with its SANs computed from the inventory."""
    check_inventory(inventory)
    masters = group(inventory, "masters")
    balancers = group(inventory, "loadbalancers")
    lab_values = {
        "masters": [n for h in masters for n in host_names(h)],
        "masters_ip": [ip for h in masters for ip in host_ips(inventory, h)],
        "lb": [n for h in balancers for n in host_names(h)],
        "lb_ip": [ip for h in balancers for ip in host_ips(inventory, h)],
        "service_ip": [service_ip(inventory)],
        "cluster_domain": [str(inventory.lab["cluster_domain"])],
    }
    out = []
    for name, per_group, ca, cn, orgs, usages, sans, kubeconfig, purpose in CERTIFICATES:
        hosts: list[Host | None] = list(group(inventory, per_group)) if per_group else [None]
        for host in hosts:
            values = dict(lab_values)
            if host is not None:
                values["host"] = host_names(host)
                values["host_ip"] = host_ips(inventory, host)
            fill = {k: v[0] for k, v in values.items() if v}
            dns: list[str] = []
            ips: list[str] = []
            for template in sans:
                for value in _expand(template, values):
                    try:
                        ipaddress.ip_address(value)
                        target = ips
                    except ValueError:
                        target = dns
                    if value and value not in target:
                        target.append(value)
            out.append(Identity(
                name=name.format(**fill), ca=ca, common_name=cn.format(**fill),
                organizations=tuple(orgs), usages=tuple(usages), dns_names=tuple(dns), ip_addresses=tuple(ips),
                kubeconfig=kubeconfig, purpose=purpose, host=host.name if host else None,
            ))
    return out


def endpoint(inventory: Inventory, where: str) -> str:
    """The apiserver URL for a kubeconfig: LOCAL (127.0.0.1) or LB (the load balancer, else the first master)."""
    port = int(inventory.lab["apiserver_port"])
    if where == LOCAL:
        return f"https://127.0.0.1:{port}"
    front = (group(inventory, "loadbalancers") or group(inventory, "masters"))[0]
    ips = host_ips(inventory, front)
    if not ips:
        address = front.address
    else:
        address = ips[-1] if inventory.lab["provider"] == "vagrant" else ips[0]
    if ":" in address:
        address = f"[{address}]"
    return f"https://{address}:{port}"
