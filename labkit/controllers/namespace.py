"""The namespace controller: a deleted namespace takes its content with it.

``kubectl delete namespace team-a`` does not remove the namespace at once:
the apiserver sets its ``deletionTimestamp`` (phase Terminating) and keeps it
while ``spec.finalizers`` still lists ``kubernetes``. This controller then

1. deletes every object in the namespace, resource by resource (every
   namespaced resource of the registry), and looks again until nothing is
   left (some objects take time: finalizers, graceful pod deletion);
2. removes ``kubernetes`` from ``spec.finalizers`` through the
   ``namespaces/<name>/finalize`` subresource (PUT);
3. deletes the namespace once more: with no finalizers left, the apiserver
   now removes it for good.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from labkit.api.errors import StatusError
from labkit.client.api import ApiClient
from labkit.client.informer import SharedInformerFactory
from labkit.client.workqueue import RateLimitingQueue, run_worker
from labkit.controllers.controller import ControllerContext, run_until_cancelled, watchable_resources

log = logging.getLogger(__name__)

FINALIZER = "kubernetes"
# How soon to look again at a namespace whose content is still going away.
RECHECK_SECONDS = 1.0


class NamespaceController:
    name = "namespace"

    def __init__(self, client: ApiClient, informers: SharedInformerFactory, workers: int = 10):
        self.client = client
        self.workers = workers
        self.content_resources = watchable_resources(namespaced=True)
        self.queue = RateLimitingQueue("namespace")
        self.informer = informers.informer("namespaces")
        self.informer.add_event_handler(
            on_add=self._enqueue_if_terminating,
            on_update=lambda old, new: self._enqueue_if_terminating(new),
        )

    @classmethod
    def from_context(cls, ctx: ControllerContext) -> "NamespaceController":
        return cls(ctx.client, ctx.informers, workers=getattr(ctx.options, "concurrent_namespace_syncs", 10))

    def _enqueue_if_terminating(self, ns: dict[str, Any]) -> None:
        if (ns.get("metadata") or {}).get("deletionTimestamp"):
            self.queue.add(ns["metadata"]["name"])

    async def sync(self, name: str) -> None:
        try:
            ns = await self.client.get("namespaces", name)
        except StatusError as exc:
            if exc.code == 404:
                return
            raise
        if not ns["metadata"].get("deletionTimestamp"):
            return
        finalizers = (ns.get("spec") or {}).get("finalizers") or []
        if FINALIZER in finalizers:
            remaining = await self.delete_content(name)
            if remaining:
                log.info("namespace %s: %d objects still going away", name, remaining)
                self.queue.add_after(name, RECHECK_SECONDS)
                return
            ns["spec"]["finalizers"] = [f for f in finalizers if f != FINALIZER]
            ns = await self.client.update("namespaces", ns, subresource="finalize")
            log.info("namespace %s: content deleted, finalized", name)
        if not (ns.get("spec") or {}).get("finalizers") and not ns["metadata"].get("finalizers"):
            try:
                await self.client.delete("namespaces", name)
            except StatusError as exc:
                if exc.code != 404:
                    raise

    async def delete_content(self, namespace: str) -> int:
        """Delete everything in ``namespace``; return how many objects were still there."""
        remaining = 0
        for res in self.content_resources:
            try:
                listing = await self.client.list_all(res, namespace)
            except StatusError as exc:
                if exc.code in (404, 405):  # not served by this apiserver
                    continue
                raise
            for obj in listing.get("items") or []:
                remaining += 1
                if obj["metadata"].get("deletionTimestamp"):
                    continue  # already going
                try:
                    await self.client.delete(res, obj["metadata"]["name"], namespace,
                                             propagation_policy="Background")
                except StatusError as exc:
                    if exc.code != 404:
                        raise
        return remaining

    async def run(self) -> None:
        await self.informer.synced.wait()
        tasks = [asyncio.create_task(run_worker(self.queue, self.sync, "namespace"))
                 for _ in range(self.workers)]
        try:
            await run_until_cancelled(tasks)
        finally:
            self.queue.shut_down()
