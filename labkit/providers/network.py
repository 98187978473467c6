"""The lab bridge: one Linux bridge on the host, the host's address on it, nothing else.

Every nspawn machine gets a veth pair whose host end joins this bridge
(``systemd-nspawn --network-bridge``), so machines reach each other and the
host's bridge address (where the package proxy listens), and nothing more:
no NAT, no forwarding rule, no default route in the machines. This module
never touches iptables/nftables or ip_forward.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from labkit.providers.base import ProviderError

IFNAMSIZ = 15  # longest Linux interface name


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise ProviderError(f"`ip {' '.join(args)}` failed: {proc.stderr.strip()}")
    return proc


def interface_addresses() -> dict[str, list[ipaddress.IPv4Interface]]:
    """Every host interface and its IPv4 addresses (``ip -j addr``)."""
    out = json.loads(ip("-j", "-4", "addr", "show").stdout or "[]")
    return {link["ifname"]: [ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}") for a in link.get("addr_info", [])]
            for link in out}


def interface_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


@dataclass
class Bridge:
    name: str
    network: ipaddress.IPv4Network

    @property
    def address(self) -> ipaddress.IPv4Interface:
        """The host's address on the bridge: the network's first address (.1)."""
        return ipaddress.IPv4Interface(f"{self.network.network_address + 1}/{self.network.prefixlen}")

    def exists(self) -> bool:
        return interface_exists(self.name)

    def ports(self) -> list[str]:
        """Interfaces attached to the bridge (the machines' veth host ends)."""
        brif = Path(f"/sys/class/net/{self.name}/brif")
        return sorted(p.name for p in brif.iterdir()) if brif.exists() else []

    def check(self) -> None:
        """Refuse a bridge that would collide with the host's other networks (changes nothing)."""
        if len(self.name) > IFNAMSIZ:
            raise ProviderError(f"bridge name {self.name!r} is longer than {IFNAMSIZ} characters (set lab.bridge)")
        if self.exists() and not Path(f"/sys/class/net/{self.name}/bridge").exists():
            raise ProviderError(f"interface {self.name} exists and is not a bridge; choose another lab.bridge")
        for ifname, addresses in interface_addresses().items():
            for addr in addresses:
                if ifname == self.name:
                    if addr.network == self.network and addr != self.address:
                        raise ProviderError(f"bridge {self.name} already has {addr}, not {self.address}: "
                                            "another lab uses it (choose another lab.bridge)")
                    continue
                if addr.network.overlaps(self.network):
                    raise ProviderError(f"lab.network {self.network} overlaps {addr} on interface {ifname}: "
                                        "choose a network no interface of this host uses")

    def ensure(self) -> bool:
        """Create the bridge with the host's address and bring it up; True if anything changed."""
        changed = False
        if not self.exists():
            ip("link", "add", self.name, "type", "bridge")
            changed = True
        if self.address not in interface_addresses().get(self.name, []):
            ip("addr", "add", str(self.address), "dev", self.name)
            changed = True
        if "UP" not in json.loads(ip("-j", "link", "show", self.name).stdout)[0]["flags"]:  # admin state
            ip("link", "set", self.name, "up")
            changed = True
        return changed

    def remove(self) -> bool:
        if not self.exists():
            return False
        ip("link", "delete", self.name, "type", "bridge")
        return True
