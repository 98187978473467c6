"""The garbage collector: dependents go when their owners go.

Objects name their owners in ``metadata.ownerReferences`` (a ReplicaSet owns
its Pods, a Deployment its ReplicaSets). The garbage collector watches every
resource of the registry and keeps the **graph** owner -> dependents, keyed
by uid. It then acts in three cases, as upstream does:

- **Background** (the default of ``kubectl delete``): the apiserver deletes
  the owner at once; the collector sees its DELETED event, and deletes every
  dependent whose owners are now all gone.
- **Foreground** (``kubectl delete --cascade=foreground``): the apiserver
  only marks the owner (deletionTimestamp + finalizer ``foregroundDeletion``).
  The collector deletes its dependents first (those with
  ``blockOwnerDeletion: true`` block the owner), and when none of those is
  left it removes the finalizer; the apiserver then deletes the owner.
- **Orphan** (``kubectl delete --cascade=orphan``): the owner is marked with
  finalizer ``orphan``; the collector strips the owner's reference from every
  dependent (they live on, ownerless) and then removes the finalizer.

Two work queues carry uids: ``attempt_to_delete`` (is this object garbage?
or: is this foreground-deleted owner done with its dependents?) and
``attempt_to_orphan``. Decisions are always made on objects fetched live
from the apiserver, never on the cache alone: deleting is not undoable.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from labkit.api import registry
from labkit.api.errors import StatusError
from labkit.api.registry import Resource
from labkit.client.api import ApiClient
from labkit.client.informer import SharedInformerFactory
from labkit.client.workqueue import RateLimitingQueue, run_worker
from labkit.controllers.controller import ControllerContext, run_until_cancelled, watchable_resources

log = logging.getLogger(__name__)

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


@dataclass
class Node:
    """One object in the graph: who it is, whom it names as owners, who names it."""

    uid: str
    resource: Resource
    namespace: str | None
    name: str
    owners: list[dict[str, Any]] = field(default_factory=list)  # its ownerReferences
    being_deleted: bool = False
    finalizers: tuple[str, ...] = ()

    @property
    def deleting_dependents(self) -> bool:
        """Foreground deletion in progress: it waits for its dependents."""
        return self.being_deleted and FOREGROUND in self.finalizers

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.resource.qualified_name} {where}{self.name} (uid {self.uid})"


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


class GarbageCollector:
    name = "garbagecollector"

    def __init__(self, client: ApiClient, informers: SharedInformerFactory, workers: int = 20,
                 resources: list[Resource] | None = None):
        self.client = client
        self.workers = workers
        self.resources = resources if resources is not None else watchable_resources()
        self.graph: dict[str, Node] = {}
        # owner uid -> uids of the objects naming it as owner (the owner may not be seen yet)
        self.dependents: dict[str, set[str]] = {}
        self.attempt_to_delete = RateLimitingQueue("garbage_collector_attempt_to_delete")
        self.attempt_to_orphan = RateLimitingQueue("garbage_collector_attempt_to_orphan")
        self.informers = [informers.informer(res) for res in self.resources]
        for informer in self.informers:
            res = informer.resource
            informer.add_event_handler(
                on_add=lambda obj, res=res: self._observed(res, obj),
                on_update=lambda old, new, res=res: self._observed(res, new),
                on_delete=lambda obj, res=res: self._removed(obj),
            )

    @classmethod
    def from_context(cls, ctx: ControllerContext) -> "GarbageCollector":
        return cls(ctx.client, ctx.informers, workers=getattr(ctx.options, "concurrent_gc_syncs", 20))

    # -- keeping the graph (informer handlers: quick, no requests) -------------------

    def _observed(self, resource: Resource, obj: dict[str, Any]) -> None:
        meta = _meta(obj)
        uid = meta.get("uid")
        if not uid:
            return
        node = self.graph.get(uid)
        if node is None:
            node = self.graph[uid] = Node(uid, resource, meta.get("namespace"), meta["name"])
        was_deleting_dependents = node.deleting_dependents
        was_being_deleted = node.being_deleted
        old_owner_uids = {ref.get("uid") for ref in node.owners}
        node.owners = [ref for ref in meta.get("ownerReferences") or [] if ref.get("uid")]
        node.being_deleted = bool(meta.get("deletionTimestamp"))
        node.finalizers = tuple(meta.get("finalizers") or ())
        new_owner_uids = {ref["uid"] for ref in node.owners}

        for gone in old_owner_uids - new_owner_uids:
            self._unlink(gone, uid)
        for owner_uid in new_owner_uids:
            self.dependents.setdefault(owner_uid, set()).add(uid)
        # A dependent whose owner we have not seen (or is going) may be garbage: check it.
        if any(o not in self.graph or self.graph[o].being_deleted for o in new_owner_uids):
            self.attempt_to_delete.add(uid)

        if node.being_deleted and ORPHAN in node.finalizers:
            self.attempt_to_orphan.add(uid)
        if node.deleting_dependents and not was_deleting_dependents:
            self.attempt_to_delete.add(uid)
            for dep in self.dependents_of(uid):
                self.attempt_to_delete.add(dep)
        if node.being_deleted and not was_being_deleted:
            self._tell_waiting_owners(node)

    def _removed(self, obj: dict[str, Any]) -> None:
        uid = _meta(obj).get("uid")
        node = self.graph.pop(uid, None) if uid else None
        if node is None:
            return
        for ref in node.owners:
            self._unlink(ref["uid"], uid)
        self._tell_waiting_owners(node)
        # Its dependents may have lost their last owner.
        for dep in self.dependents_of(uid):
            self.attempt_to_delete.add(dep)

    def dependents_of(self, owner_uid: str) -> set[str]:
        return set(self.dependents.get(owner_uid, ()))

    def _unlink(self, owner_uid: str, dependent_uid: str) -> None:
        deps = self.dependents.get(owner_uid)
        if deps is not None:
            deps.discard(dependent_uid)
            if not deps:
                del self.dependents[owner_uid]

    def _tell_waiting_owners(self, node: Node) -> None:
        for ref in node.owners:
            owner = self.graph.get(ref["uid"])
            if owner is not None and owner.deleting_dependents:
                self.attempt_to_delete.add(owner.uid)

    # -- reading and writing live objects ------------------------------------------------

    async def _get_live(self, node: Node) -> dict[str, Any] | None:
        """The object as the apiserver has it now, or None if it (that uid) is gone."""
        try:
            obj = await self.client.get(node.resource, node.name, node.namespace)
        except StatusError as exc:
            if exc.code == 404:
                return None
            raise
        return obj if _meta(obj).get("uid") == node.uid else None

    async def _owner_state(self, ref: dict[str, Any], namespace: str | None) -> str:
        """'solid', 'dangling' (gone) or 'waiting' (foreground-deleting, waits for its dependents)."""
        res = registry.by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
        if res is None:
            log.warning("owner %s %s %s: kind not served by labkit; treating it as present",
                        ref.get("apiVersion"), ref.get("kind"), ref.get("name"))
            return "solid"
        try:
            owner = await self.client.get(res, ref["name"], namespace if res.namespaced else None)
        except StatusError as exc:
            if exc.code == 404:
                return "dangling"
            raise
        meta = _meta(owner)
        if meta.get("uid") != ref["uid"]:
            return "dangling"  # same name, a different (newer) object
        if meta.get("deletionTimestamp") and FOREGROUND in (meta.get("finalizers") or []):
            return "waiting"
        return "solid"

    async def _remove_finalizer(self, node: Node, finalizer: str) -> None:
        """Drop ``finalizer`` from the live object (a Conflict makes the worker retry)."""
        obj = await self._get_live(node)
        if obj is None or finalizer not in (_meta(obj).get("finalizers") or []):
            return
        obj["metadata"]["finalizers"] = [f for f in obj["metadata"]["finalizers"] if f != finalizer]
        try:
            await self.client.update(node.resource, obj, node.namespace)
        except StatusError as exc:
            if exc.code != 404:
                raise
        log.info("removed finalizer %s from %s", finalizer, node)

    async def _rewrite_owner_refs(self, node: Node, drop: set[str], unblock: set[str]) -> None:
        """Remove the references to ``drop`` uids, and set blockOwnerDeletion=false on ``unblock``."""
        obj = await self._get_live(node)
        if obj is None:
            return
        refs = []
        for ref in _meta(obj).get("ownerReferences") or []:
            if ref.get("uid") in drop:
                continue
            if ref.get("uid") in unblock and ref.get("blockOwnerDeletion"):
                ref = {**ref, "blockOwnerDeletion": False}
            refs.append(ref)
        if refs == (_meta(obj).get("ownerReferences") or []):
            return
        if refs:
            obj["metadata"]["ownerReferences"] = refs
        else:
            obj["metadata"].pop("ownerReferences", None)
        try:
            await self.client.update(node.resource, obj, node.namespace)
        except StatusError as exc:
            if exc.code != 404:
                raise

    # -- the two queues' work ------------------------------------------------------------

    async def attempt_to_delete_item(self, uid: str) -> None:
        node = self.graph.get(uid)
        if node is None:
            return
        obj = await self._get_live(node)
        if obj is None:
            return  # already gone; its DELETED event updates the graph
        meta = _meta(obj)
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp"):
            if FOREGROUND in finalizers:
                await self._process_deleting_dependents(node)
            return
        refs = [ref for ref in meta.get("ownerReferences") or [] if ref.get("uid")]
        if not refs:
            return
        states = {ref["uid"]: await self._owner_state(ref, node.namespace) for ref in refs}
        solid = [u for u, s in states.items() if s == "solid"]
        dangling = {u for u, s in states.items() if s == "dangling"}
        waiting = {u for u, s in states.items() if s == "waiting"}
        if solid:
            # It still has a live owner: it stays; forget the owners that are gone,
            # and stop blocking the ones deleting in the foreground.
            if dangling or waiting:
                await self._rewrite_owner_refs(node, drop=dangling, unblock=waiting)
            return
        # Every owner is gone or going: this object is garbage.
        if waiting and self.dependents_of(uid):
            policy = "Foreground"  # its owner waits; its own dependents must go first
        elif ORPHAN in finalizers:
            policy = "Orphan"
        elif FOREGROUND in finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        log.info("deleting %s (owners gone or going), propagationPolicy=%s", node, policy)
        try:
            await self.client.delete(node.resource, node.name, node.namespace, propagation_policy=policy,
                                     preconditions={"uid": uid})
        except StatusError as exc:
            if exc.code not in (404, 409):  # gone already, or a newer object of that name
                raise

    async def _process_deleting_dependents(self, node: Node) -> None:
        """A foreground-deleted owner: delete the dependents that block it; when none is left, let it go."""
        blocking = [
            dep for dep_uid in self.dependents_of(node.uid) if (dep := self.graph.get(dep_uid)) is not None
            and any(ref["uid"] == node.uid and ref.get("blockOwnerDeletion") for ref in dep.owners)
        ]
        if not blocking:
            await self._remove_finalizer(node, FOREGROUND)
            return
        for dep in blocking:
            if not dep.deleting_dependents:
                self.attempt_to_delete.add(dep.uid)

    async def attempt_to_orphan_item(self, uid: str) -> None:
        node = self.graph.get(uid)
        if node is None:
            return
        owner = await self._get_live(node)
        if owner is None or ORPHAN not in (_meta(owner).get("finalizers") or []):
            return
        for dep_uid in self.dependents_of(uid):
            dep = self.graph.get(dep_uid)
            if dep is not None:
                await self._rewrite_owner_refs(dep, drop={uid}, unblock=set())
        log.info("orphaned the dependents of %s", node)
        await self._remove_finalizer(node, ORPHAN)

    # -- running -------------------------------------------------------------------------

    async def run(self) -> None:
        await asyncio.gather(*(i.synced.wait() for i in self.informers))
        log.info("garbage collector: graph built from %d resources, %d objects",
                 len(self.informers), len(self.graph))
        tasks = [asyncio.create_task(run_worker(self.attempt_to_delete, self.attempt_to_delete_item))
                 for _ in range(self.workers)]
        tasks += [asyncio.create_task(run_worker(self.attempt_to_orphan, self.attempt_to_orphan_item))
                  for _ in range(max(1, self.workers // 4))]
        try:
            await run_until_cancelled(tasks)
        finally:
            self.attempt_to_delete.shut_down()
            self.attempt_to_orphan.shut_down()
