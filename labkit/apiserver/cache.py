"""In-memory copies of one resource, listed once and kept current by one etcd watch.

Upstream's apiserver answers its own questions (may jane do this? does this
namespace exist? which quotas apply here?) from shared informers instead of
reading etcd on every request. :class:`WatchCache` is that mechanism for one
resource:

1. **list** the collection at one etcd revision;
2. **watch** from that revision on: every PUT replaces the object, every
   DELETE removes it, in etcd's order;
3. if the watch ends (410: the revision was compacted away, or etcd went
   away), list again and follow from the new revision.

A copy is *eventually* current: a change made through this apiserver (or
another one) shows here a few milliseconds later, once its watch event
arrives. Readers that cannot wait that long fall back to one etcd read
(NamespaceLifecycle for a namespace it has not seen yet), and
:class:`LiveLookups` names what this apiserver has just written.

Without storage (``WatchCache(None, resource)``) it is a plain in-memory
store filled with :meth:`put`: unit tests use it so, and the watch uses the
same :meth:`put` and :meth:`remove`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from labkit.api.errors import StatusError
from labkit.api.registry import Resource

log = logging.getLogger("labkit.apiserver.cache")


class WatchCache:
    """One resource's objects by (namespace, name); ``on_change`` is called after every change."""

    def __init__(self, storage, resource: Resource, on_change: Callable[[], None] | None = None):
        self.storage = storage
        self.resource = resource
        self.on_change = on_change
        self.objects: dict[tuple[str, str], dict] = {}  # (namespace or "", name) -> object
        self._by_namespace: dict[str, dict[str, dict]] = {}  # namespace -> name -> object
        self.synced = asyncio.Event()  # set once the first list is in
        self._task: asyncio.Task | None = None

    # -- contents --------------------------------------------------------------------

    def get(self, namespace: str | None, name: str) -> dict | None:
        return self.objects.get((namespace or "", name))

    def in_namespace(self, namespace: str) -> list[dict]:
        return list(self._by_namespace.get(namespace, {}).values())

    def put(self, obj: dict) -> None:
        meta = obj.get("metadata") or {}
        namespace, name = meta.get("namespace") or "", meta["name"]
        self.objects[(namespace, name)] = obj
        self._by_namespace.setdefault(namespace, {})[name] = obj
        self._changed()

    def remove(self, namespace: str | None, name: str) -> None:
        namespace = namespace or ""
        self.objects.pop((namespace, name), None)
        names = self._by_namespace.get(namespace)
        if names is not None:
            names.pop(name, None)
            if not names:
                del self._by_namespace[namespace]
        self._changed()

    def replace(self, objs: list[dict]) -> None:
        """Everything at once (after a list): what is not in ``objs`` is gone."""
        self.objects, self._by_namespace = {}, {}
        for obj in objs:
            self.put(obj)
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # -- following etcd ------------------------------------------------------------------

    async def start(self) -> None:
        """Start following etcd; returns once the first list is in."""
        if self._task is None:
            self._task = asyncio.create_task(self._follow(), name=f"cache-{self.resource.plural}")
        await self.synced.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _follow(self) -> None:
        plural = self.resource.plural
        while True:
            try:
                listed = await self.storage.list(self.resource, None)
                self.replace(listed.items)
                self.synced.set()
                async for event in self.storage.watch(self.resource, None, int(listed.resource_version)):
                    if isinstance(event, int):
                        continue  # progress: nothing changed
                    if event.type == "DELETE":
                        meta = event.obj["metadata"]
                        self.remove(meta.get("namespace"), meta["name"])
                    else:
                        self.put(event.obj)
            except asyncio.CancelledError:
                raise
            except StatusError as exc:  # 410: the revision was compacted away: list again
                log.info("%s watch ended (%s): listing again", plural, exc.message)
                await asyncio.sleep(0.05)  # never a busy loop, whatever keeps failing
            except Exception as exc:  # noqa: BLE001 - etcd away: retry, keep the last known state
                log.warning("%s watch failed: %s: listing again in 1s", plural, exc)
                await asyncio.sleep(1)


class LiveLookups:
    """Names whose copy may still be behind a write this apiserver admitted: ask etcd for them a while.

    Upstream's forceLiveLookupCache: a copy learns of a write one watch
    latency after it, and a client may send its next request sooner (delete a
    namespace, then create in it). For ``seconds`` after :meth:`mark`, ``name
    in lookups`` is true and the plugin reads etcd instead of its copy.
    """

    def __init__(self, seconds: float = 30.0):  # upstream's forceLiveLookupTTL
        self.seconds = seconds
        self._marked_at: dict[str, float] = {}

    def mark(self, name: str) -> None:
        now = time.monotonic()
        self._marked_at = {n: t for n, t in self._marked_at.items() if now - t < self.seconds}
        self._marked_at[name] = now

    def __contains__(self, name: str) -> bool:
        marked = self._marked_at.get(name)
        return marked is not None and time.monotonic() - marked < self.seconds
