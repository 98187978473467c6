"""Service ClusterIPs and NodePorts, handed out from ranges and never twice.

Each range is one etcd key holding which values are taken, upstream's
``RangeAllocation`` object (``/registry/ranges/serviceips`` and
``/registry/ranges/servicenodeports``): ``range`` names the range, ``data``
is a bitmap (base64), bit N set when value N of the range is taken.

A Service write reads the bitmap, marks or clears its bits, and puts the new
bitmap *in the same etcd transaction* as the Service, guarded by the bitmap's
mod_revision. Two apiservers allocating at once: one transaction wins, the
other retries with a fresh bitmap. A crash cannot leak or double-book a
value, and everything survives restarts because it lives in etcd.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import random
from dataclasses import dataclass

from labkit.api import errors
from labkit.api.errors import Cause
from labkit.apiserver.etcd import Etcd
from labkit.apiserver.storage import Extras


class RangeFull(Exception):
    pass


class NotInRange(Exception):
    pass


class AlreadyAllocated(Exception):
    pass


@dataclass
class Bitmap:
    """The taken values of one range as read from etcd (``revision`` 0: key not written yet)."""

    bits: bytearray
    revision: int
    changed: bool = False

    def taken(self, offset: int) -> bool:
        return bool(self.bits[offset // 8] & (1 << (offset % 8)))

    def set(self, offset: int, value: bool) -> None:
        if value:
            self.bits[offset // 8] |= 1 << (offset % 8)
        else:
            self.bits[offset // 8] &= ~(1 << (offset % 8)) & 0xFF
        self.changed = True


class RangeAllocator:
    """Values ``first..last`` of a range, addressed by offsets 0..size-1."""

    def __init__(self, etcd: Etcd, key: str, range_text: str, size: int):
        self.etcd = etcd
        self.key = key.encode()
        self.range_text = range_text
        self.size = size

    # Subclasses turn values (IP strings, port numbers) into offsets and back.
    def offset(self, value) -> int:
        raise NotImplementedError

    def value(self, offset: int):
        raise NotImplementedError

    def allocatable(self, offset: int) -> bool:
        return 0 <= offset < self.size

    async def read(self) -> Bitmap:
        _, kv = await self.etcd.get(self.key)
        bits = bytearray((self.size + 7) // 8)
        if kv is None:
            return Bitmap(bits, 0)
        stored = json.loads(kv.value)
        if stored.get("range") != self.range_text:
            # The range flag changed: keep what is taken that still fits.
            old = base64.b64decode(stored.get("data") or "")
            bits[: min(len(bits), len(old))] = old[: len(bits)]
        else:
            data = base64.b64decode(stored.get("data") or "")
            bits[: len(data)] = data[: len(bits)]
        return Bitmap(bits, kv.mod_revision)

    def allocate(self, bitmap: Bitmap, wanted=None):
        """Take ``wanted`` (or any free value); returns the value taken."""
        if wanted is not None:
            offset = self.offset(wanted)
            if offset is None or not self.allocatable(offset):
                raise NotInRange()
            if bitmap.taken(offset):
                raise AlreadyAllocated()
            bitmap.set(offset, True)
            return self.value(offset)
        free = [o for o in range(self.size) if self.allocatable(o) and not bitmap.taken(o)]
        if not free:
            raise RangeFull()
        offset = random.choice(free)
        bitmap.set(offset, True)
        return self.value(offset)

    def release(self, bitmap: Bitmap, value) -> None:
        offset = self.offset(value)
        if offset is not None and 0 <= offset < self.size and bitmap.taken(offset):
            bitmap.set(offset, False)

    def extras(self, bitmap: Bitmap) -> Extras:
        """The compare and put that commit this bitmap with the object's write."""
        if not bitmap.changed:
            return Extras()
        body = {"apiVersion": "v1", "kind": "RangeAllocation", "metadata": {},
                "range": self.range_text, "data": base64.b64encode(bytes(bitmap.bits)).decode()}
        return Extras([Etcd.mod_revision_is(self.key, bitmap.revision)],
                      [Etcd.put(self.key, json.dumps(body, separators=(",", ":")).encode())])


class ClusterIPAllocator(RangeAllocator):
    """``--service-cluster-ip-range``: every address but the network and broadcast ones."""

    def __init__(self, etcd: Etcd, prefix: str, cidr: str):
        self.network = ipaddress.ip_network(cidr, strict=False)
        super().__init__(etcd, f"{prefix.rstrip('/')}/ranges/serviceips", str(self.network),
                         self.network.num_addresses)

    def offset(self, value):
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return None
        if address not in self.network:
            return None
        return int(address) - int(self.network.network_address)

    def value(self, offset: int) -> str:
        return str(self.network.network_address + offset)

    def allocatable(self, offset: int) -> bool:
        if self.network.version == 4 and self.network.num_addresses > 2:
            return 0 < offset < self.size - 1
        return 0 < offset < self.size

    @property
    def first(self) -> str:
        """The first usable address: upstream gives it to the ``kubernetes`` Service."""
        return self.value(1)


class NodePortAllocator(RangeAllocator):
    """``--service-node-port-range`` (default 30000-32767)."""

    def __init__(self, etcd: Etcd, prefix: str, port_range: str):
        try:
            low, high = (int(p) for p in port_range.split("-", 1))
            if not 0 < low <= high < 65536:
                raise ValueError
        except ValueError:
            raise ValueError(f"--service-node-port-range: {port_range!r} is not a range like 30000-32767") from None
        self.low, self.high = low, high
        super().__init__(etcd, f"{prefix.rstrip('/')}/ranges/servicenodeports", f"{low}-{high}", high - low + 1)

    def offset(self, value):
        try:
            return int(value) - self.low
        except (TypeError, ValueError):
            return None

    def value(self, offset: int) -> int:
        return self.low + offset


# -- what a Service write takes and gives back ------------------------------------

def _needs_cluster_ip(svc: dict) -> bool:
    spec = svc.get("spec") or {}
    return spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None"


def _needs_node_ports(svc: dict) -> bool:
    return (svc.get("spec") or {}).get("type") in ("NodePort", "LoadBalancer")


class ServiceAllocations:
    """Allocates and releases a Service's ClusterIP and NodePorts around its writes."""

    def __init__(self, ips: ClusterIPAllocator, ports: NodePortAllocator):
        self.ips = ips
        self.ports = ports

    async def on_write(self, new: dict | None, old: dict | None) -> Extras:
        """Fill ``new``'s clusterIP/nodePorts (in place), release what ``old`` held and ``new`` drops."""
        ip_map = await self.ips.read()
        port_map = await self.ports.read()
        name = ((new or old or {}).get("metadata") or {}).get("name", "")
        causes: list[Cause] = []
        old_spec = (old or {}).get("spec") or {}
        old_ip = old_spec.get("clusterIP") if old and _needs_cluster_ip(old) else None
        old_ports = {p.get("nodePort") for p in old_spec.get("ports") or [] if p.get("nodePort")} \
            if old and _needs_node_ports(old) else set()
        new_ports: set[int] = set()
        if new is not None:
            spec = new.setdefault("spec", {})
            if _needs_cluster_ip(new):
                wanted = spec.get("clusterIP") or None
                if wanted is not None and wanted == old_ip:
                    pass  # kept
                else:
                    try:
                        spec["clusterIP"] = self.ips.allocate(ip_map, wanted)
                    except AlreadyAllocated:
                        causes.append(Cause("spec.clusterIPs", f'Invalid value: []string{{"{wanted}"}}: failed to '
                                            f'allocate IP {wanted}: provided IP is already allocated'))
                    except NotInRange:
                        causes.append(Cause("spec.clusterIPs", f'Invalid value: []string{{"{wanted}"}}: failed to '
                                            f'allocate IP {wanted}: the provided IP ({wanted}) is not in the valid '
                                            f'range. The range of valid IPs is {self.ips.range_text}'))
                    except RangeFull:
                        raise errors.internal_error("failed to allocate a serviceIP: range is full") from None
                if spec.get("clusterIP"):
                    spec["clusterIPs"] = [spec["clusterIP"]]
            if _needs_node_ports(new):
                for i, port in enumerate(spec.get("ports") or []):
                    wanted = port.get("nodePort") or None
                    if wanted is not None and (wanted in old_ports or wanted in new_ports):
                        if wanted in new_ports:
                            causes.append(Cause(f"spec.ports[{i}].nodePort", f"Duplicate value: {wanted}",
                                                "FieldValueDuplicate"))
                        new_ports.add(wanted)
                        continue
                    try:
                        port["nodePort"] = self.ports.allocate(port_map, wanted)
                        new_ports.add(port["nodePort"])
                    except AlreadyAllocated:
                        causes.append(Cause(f"spec.ports[{i}].nodePort",
                                            f"Invalid value: {wanted}: provided port is already allocated"))
                    except NotInRange:
                        causes.append(Cause(f"spec.ports[{i}].nodePort",
                                            f"Invalid value: {wanted}: provided port is not in the valid range. "
                                            f"The range of valid ports is {self.ports.range_text}"))
                    except RangeFull:
                        raise errors.internal_error("failed to allocate a nodePort: range is full") from None
            else:
                for port in spec.get("ports") or []:
                    port.pop("nodePort", None)
        if causes:
            raise errors.invalid("Service", name, causes)
        new_ip = ((new or {}).get("spec") or {}).get("clusterIP") if new and _needs_cluster_ip(new) else None
        if old_ip and old_ip != new_ip:
            self.ips.release(ip_map, old_ip)
        for port in old_ports - new_ports:
            self.ports.release(port_map, port)
        return self.ips.extras(ip_map) + self.ports.extras(port_map)
