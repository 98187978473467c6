"""Admission: the plugins every write passes through after authorization, before storage.

Upstream runs admission in two phases, each plugin in a fixed order:

1. **mutating** (``admit``): plugins may change the object (ServiceAccount
   fills in the pod's service account and token volume, DefaultTolerationSeconds
   adds tolerations, LimitRanger fills in default resources);
2. **validating** (``validate``): plugins may only refuse (NamespaceLifecycle:
   no new objects in a namespace that is missing or being deleted;
   ResourceQuota: not beyond the namespace's quota; NodeRestriction: a kubelet
   changes only its own node and pods).

The registry (rest.py) calls ``Chain.admit`` after defaulting and
``Chain.validate`` after the object's own validation, on create, update and
delete (and on subresources such as pods/binding and pods/eviction, named in
``Attributes.subresource``). A plugin refuses by raising a StatusError.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

from labkit.api import errors, registry
from labkit.api.registry import Resource
from labkit.apiserver.cache import LiveLookups, WatchCache

CREATE, UPDATE, DELETE, CONNECT = "CREATE", "UPDATE", "DELETE", "CONNECT"


@dataclass
class Attributes:
    """One write as admission sees it."""

    operation: str  # CREATE | UPDATE | DELETE | CONNECT
    resource: Resource
    namespace: str | None
    name: str
    obj: dict | None  # the object as it will be stored (None for DELETE); plugins may change it in admit
    old: dict | None = None  # the stored object (UPDATE, DELETE)
    subresource: str | None = None
    user: Any = None  # labkit.apiserver.auth.UserInfo, None on the insecure port
    dry_run: bool = False
    extra: dict = field(default_factory=dict)  # plugins may leave notes for later phases


class Plugin(Protocol):
    name: str

    async def admit(self, a: Attributes) -> None: ...

    async def validate(self, a: Attributes) -> None: ...


class BasePlugin:
    """A plugin that does nothing in the phase it does not override."""

    name = "Base"

    async def admit(self, a: Attributes) -> None:
        return None

    async def validate(self, a: Attributes) -> None:
        return None


class Chain:
    """The plugins in upstream's order (``--enable-admission-plugins`` picks them)."""

    def __init__(self, plugins: list[Plugin] | None = None):
        self.plugins = list(plugins or [])

    async def admit(self, a: Attributes) -> None:
        for plugin in self.plugins:
            if type(plugin).admit is not BasePlugin.admit:  # awaiting a no-op costs, at every write
                await plugin.admit(a)

    async def validate(self, a: Attributes) -> None:
        for plugin in self.plugins:
            if type(plugin).validate is not BasePlugin.validate:
                await plugin.validate(a)

    async def start(self) -> None:
        """Fill the plugins' watch-fed copies (NamespaceLifecycle, ResourceQuota); returns once they are listed."""
        await asyncio.gather(*(plugin.start() for plugin in self.plugins if hasattr(plugin, "start")))

    async def stop(self) -> None:
        await asyncio.gather(*(plugin.stop() for plugin in self.plugins if hasattr(plugin, "stop")))

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.plugins]


NAMESPACES = registry.lookup("", "v1", "namespaces")


class NamespaceLifecycle(BasePlugin):
    """New content only in a namespace that exists and is not being deleted (upstream's first plugin).

    As upstream, the namespace is looked up in a watch-fed copy of the
    namespaces (:class:`~labkit.apiserver.cache.WatchCache`), not in etcd:
    a create costs no read. etcd is read only when the copy may be behind:

    - the namespace is not in it (created a moment ago, or the copy is not
      listed yet): one read, found or 404;
    - the copy shows it terminating: the refusal is confirmed by one read
      (it may have been deleted and made again meanwhile);
    - this apiserver admitted the namespace's deletion less than 30 s ago
      and the copy still shows it active (upstream's forceLiveLookupCache):
      creates right after a delete are refused at once, not one watch
      latency later.
    """

    name = "NamespaceLifecycle"

    def __init__(self, storage):
        self.storage = storage
        self.namespaces = WatchCache(storage, NAMESPACES)
        self.deleted_here = LiveLookups()  # namespaces whose deletion this apiserver admitted lately

    async def start(self) -> None:
        await self.namespaces.start()

    async def stop(self) -> None:
        await self.namespaces.stop()

    async def validate(self, a: Attributes) -> None:
        if a.operation == DELETE and a.resource is NAMESPACES and not a.dry_run:
            self.deleted_here.mark(a.name)
            return
        if a.operation != CREATE or not a.resource.namespaced or not a.namespace:
            return
        ns = await self.lookup(a.namespace)
        if ns is None:
            raise errors.not_found("namespaces", a.namespace)
        # Upstream still lets the namespace's own cleanup (events about it) through; objects are refused.
        if terminating(ns) and a.subresource is None:
            raise errors.namespace_terminating(a.resource.plural, a.name, a.namespace, a.resource.group)

    async def lookup(self, name: str) -> dict | None:
        """The namespace: from the copy when it shows it active, else from etcd (the copy may be behind)."""
        ns = self.namespaces.get(None, name) if self.namespaces.synced.is_set() else None
        if ns is not None and not terminating(ns) and name not in self.deleted_here:
            return ns
        return await self.storage.get_or_none(NAMESPACES, None, name)


def terminating(ns: dict) -> bool:
    return bool((ns.get("metadata") or {}).get("deletionTimestamp") or
                (ns.get("status") or {}).get("phase") == "Terminating")
