"""Informers: a local, always-current copy of one resource, built by list+watch.

Controllers never poll the apiserver. An informer:

1. **lists** the resource once (page by page) and fills its cache; the list's
   resourceVersion says "the cache is exact as of this point";
2. **watches** from that resourceVersion, applying each ADDED / MODIFIED /
   DELETED event to the cache and telling the event handlers
   (``on_add(obj)``, ``on_update(old, new)``, ``on_delete(obj)``);
3. when the watch ends (the server's timeout) it watches again from the last
   resourceVersion it saw; when the server answers **410 Expired** (that
   version was compacted away in etcd) it lists again and tells the handlers
   the difference, so nothing is missed;
4. every ``resync_period`` it replays every cached object as an update, so
   level-triggered controllers re-check everything now and then.

The cache is an :class:`Indexer`: objects by ``namespace/name`` key plus
secondary indexes (by namespace, by owner uid, by ``spec.nodeName``...), so a
controller asks "the pods of node n1" without a request.

A :class:`SharedInformerFactory` hands every controller of a process the same
informer per resource: one list and one watch per resource, however many
controllers look at it. Everything runs on the one asyncio loop; no threads.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from labkit.api.errors import StatusError
from labkit.api.registry import Resource
from labkit.client.api import ApiClient, WatchExpired, object_key, resolve

log = logging.getLogger(__name__)

IndexFunc = Callable[[dict[str, Any]], list[str]]


# -- index functions ------------------------------------------------------------


def index_by_namespace(obj: dict[str, Any]) -> list[str]:
    ns = (obj.get("metadata") or {}).get("namespace")
    return [ns] if ns else []


def index_by_owner_uid(obj: dict[str, Any]) -> list[str]:
    return [ref["uid"] for ref in (obj.get("metadata") or {}).get("ownerReferences") or [] if ref.get("uid")]


def index_by_node_name(obj: dict[str, Any]) -> list[str]:
    node = (obj.get("spec") or {}).get("nodeName")
    return [node] if node else []


NAMESPACE_INDEX = "namespace"
OWNER_UID_INDEX = "owner-uid"
NODE_NAME_INDEX = "spec.nodeName"


class Indexer:
    """Objects by key, with named secondary indexes kept in step on every change."""

    def __init__(self, indexers: dict[str, IndexFunc] | None = None):
        self._items: dict[str, dict[str, Any]] = {}
        self._index_funcs: dict[str, IndexFunc] = {NAMESPACE_INDEX: index_by_namespace}
        self._index_funcs.update(indexers or {})
        self._indices: dict[str, dict[str, set[str]]] = {name: {} for name in self._index_funcs}

    def add_indexers(self, indexers: dict[str, IndexFunc]) -> None:
        for name, func in indexers.items():
            if name in self._index_funcs:
                continue
            self._index_funcs[name] = func
            self._indices[name] = {}
            for key, obj in self._items.items():
                for value in func(obj):
                    self._indices[name].setdefault(value, set()).add(key)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def get(self, key: str) -> dict[str, Any] | None:
        return self._items.get(key)

    def list(self) -> list[dict[str, Any]]:
        return list(self._items.values())

    def keys(self) -> list[str]:
        return list(self._items)

    def by_index(self, index_name: str, value: str) -> list[dict[str, Any]]:
        """Every object whose ``index_name`` function returns ``value``."""
        if index_name not in self._indices:
            raise KeyError(f"no index named {index_name!r} (have: {sorted(self._indices)})")
        return [self._items[k] for k in sorted(self._indices[index_name].get(value, ()))]

    def put(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Store ``obj``; returns the object it replaced, if any."""
        key = object_key(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        for name, func in self._index_funcs.items():
            for value in func(obj):
                self._indices[name].setdefault(value, set()).add(key)
        return old

    def remove(self, key: str) -> dict[str, Any] | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def _unindex(self, key: str, obj: dict[str, Any]) -> None:
        for name, func in self._index_funcs.items():
            for value in func(obj):
                keys = self._indices[name].get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._indices[name][value]


@dataclass
class EventHandlers:
    on_add: Callable[[dict[str, Any]], None] | None = None
    on_update: Callable[[dict[str, Any], dict[str, Any]], None] | None = None
    on_delete: Callable[[dict[str, Any]], None] | None = None


def _rv(obj: dict[str, Any]) -> str | None:
    return (obj.get("metadata") or {}).get("resourceVersion")


class Informer:
    """list+watch of one resource into an :class:`Indexer`, telling handlers what changed."""

    # How long one watch request may stay open; the server closes it and we
    # watch again (upstream's reflector picks 5-10 minutes at random).
    watch_timeout_seconds = 300
    max_backoff = 30.0

    def __init__(self, client: ApiClient, resource: Resource | str, namespace: str | None = None, *,
                 label_selector: str | None = None, field_selector: str | None = None,
                 resync_period: float = 0.0, indexers: dict[str, IndexFunc] | None = None):
        self.client = client
        self.resource = resolve(resource)
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.resync_period = resync_period
        self.indexer = Indexer(indexers)
        self.handlers: list[EventHandlers] = []
        self.synced = asyncio.Event()
        self.last_resource_version: str | None = None
        self.relists = 0  # how many times we listed (1 + one per 410 or lost watch)
        self.served = True  # False while the apiserver answers 404 for this resource
        self._tasks: list[asyncio.Task] = []

    def __repr__(self) -> str:
        return f"Informer({self.resource.qualified_name}, namespace={self.namespace!r})"

    # -- handlers ----------------------------------------------------------------

    def add_event_handler(self, on_add=None, on_update=None, on_delete=None) -> None:
        """Register handlers; objects already cached are replayed to ``on_add`` (as client-go does)."""
        handlers = EventHandlers(on_add, on_update, on_delete)
        self.handlers.append(handlers)
        if on_add is not None:
            for obj in self.indexer.list():
                self._call(on_add, obj)

    def add_indexers(self, indexers: dict[str, IndexFunc]) -> None:
        self.indexer.add_indexers(indexers)

    def _call(self, func, *args) -> None:
        try:
            func(*args)
        except Exception:  # one faulty handler must not stop the informer
            log.exception("%r: event handler %r failed", self, func)

    def _added(self, obj):
        for h in self.handlers:
            if h.on_add:
                self._call(h.on_add, obj)

    def _updated(self, old, new):
        for h in self.handlers:
            if h.on_update:
                self._call(h.on_update, old, new)

    def _deleted(self, obj):
        for h in self.handlers:
            if h.on_delete:
                self._call(h.on_delete, obj)

    # -- the cache ---------------------------------------------------------------

    def get(self, key: str) -> dict[str, Any] | None:
        return self.indexer.get(key)

    def list(self) -> list[dict[str, Any]]:
        return self.indexer.list()

    def _apply(self, event_type: str, obj: dict[str, Any]) -> None:
        if event_type in ("ADDED", "MODIFIED"):
            old = self.indexer.put(obj)
            if old is None:
                self._added(obj)
            else:
                self._updated(old, obj)
        elif event_type == "DELETED":
            old = self.indexer.remove(object_key(obj))
            self._deleted(obj if obj.get("metadata") else old)

    def _replace(self, items: list[dict[str, Any]]) -> None:
        """A fresh list replaces the cache; handlers hear about every difference."""
        fresh = {object_key(o): o for o in items}
        for key in self.indexer.keys():
            if key not in fresh:
                gone = self.indexer.remove(key)
                self._deleted(gone)
        for key, obj in fresh.items():
            old = self.indexer.put(obj)
            if old is None:
                self._added(obj)
            elif _rv(old) != _rv(obj):
                self._updated(old, obj)

    # -- running -----------------------------------------------------------------

    def start(self) -> None:
        if not self._tasks:
            self._tasks.append(asyncio.create_task(self.run(), name=f"informer {self.resource.qualified_name}"))
            if self.resync_period > 0:
                self._tasks.append(asyncio.create_task(self._resync_loop()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()

    async def wait_synced(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self.synced.wait(), timeout)

    async def run(self) -> None:
        """list, then watch for as long as we run; re-list when the watch cannot resume."""
        backoff = 0.5
        # A restarted informer resumes its watch where it stopped (a 410 then makes it list).
        need_list = self.last_resource_version is None
        while True:
            try:
                if need_list:
                    await self._list()
                    need_list = False
                await self._watch()  # returns when the server ends the stream
                backoff = 0.5
            except WatchExpired:
                log.info("%r: resourceVersion %s expired, listing again", self, self.last_resource_version)
                need_list = True
            except asyncio.CancelledError:
                raise
            except StatusError as exc:
                if exc.code == 404 and need_list:
                    self._not_served(exc)
                else:
                    log.warning("%r: %s", self, exc)
                    need_list = need_list or exc.code >= 500
                await asyncio.sleep(backoff * (1 + random.random()))
                backoff = min(backoff * 2, self.max_backoff)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                log.warning("%r: connection to the apiserver failed: %s", self, exc or type(exc).__name__)
                await asyncio.sleep(backoff * (1 + random.random()))
                backoff = min(backoff * 2, self.max_backoff)

    def _not_served(self, exc: StatusError) -> None:
        # The apiserver does not serve this resource (yet): nothing to cache.
        # Count as synced so controllers watching many resources are not blocked.
        if self.served:
            log.warning("%r: the apiserver does not serve %s: %s", self, self.resource.qualified_name, exc)
        self.served = False
        self.synced.set()

    async def _list(self) -> None:
        listing = await self.client.list_all(self.resource, self.namespace, label_selector=self.label_selector,
                                             field_selector=self.field_selector)
        self.relists += 1
        self.served = True
        self._replace(listing.get("items") or [])
        self.last_resource_version = (listing.get("metadata") or {}).get("resourceVersion")
        self.synced.set()

    async def _watch(self) -> None:
        timeout = int(self.watch_timeout_seconds * (1 + random.random()))
        async for event_type, obj in self.client.watch(
            self.resource, self.namespace, resource_version=self.last_resource_version,
            label_selector=self.label_selector, field_selector=self.field_selector,
            timeout_seconds=timeout, allow_bookmarks=True,
        ):
            if event_type != "BOOKMARK":
                self._apply(event_type, obj)
            rv = _rv(obj)
            if rv:
                self.last_resource_version = rv

    async def _resync_loop(self) -> None:
        await self.synced.wait()
        while True:
            await asyncio.sleep(self.resync_period)
            for obj in self.indexer.list():
                self._updated(obj, obj)


class SharedInformerFactory:
    """One informer per (resource, namespace) for every controller of a process."""

    def __init__(self, client: ApiClient, default_resync: float = 0.0):
        self.client = client
        self.default_resync = default_resync
        self._informers: dict[tuple[str, str, str | None], Informer] = {}

    def informer(self, resource: Resource | str, namespace: str | None = None,
                 indexers: dict[str, IndexFunc] | None = None) -> Informer:
        res = resolve(resource)
        key = (res.group, res.plural, namespace)
        informer = self._informers.get(key)
        if informer is None:
            informer = Informer(self.client, res, namespace, resync_period=self.default_resync)
            self._informers[key] = informer
        if indexers:
            informer.add_indexers(indexers)
        return informer

    @property
    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    def start(self) -> None:
        """Start every informer asked for so far (safe to call again after asking for more)."""
        for informer in self._informers.values():
            informer.start()

    async def wait_for_cache_sync(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(asyncio.gather(*(i.synced.wait() for i in self._informers.values())), timeout)

    async def stop(self) -> None:
        await asyncio.gather(*(i.stop() for i in self._informers.values()))
