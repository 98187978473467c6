"""The resource-quota controller: each quota's ``status.used`` recounted from what the namespace holds.

The ResourceQuota admission plugin keeps ``status.used`` exact at every
create and delete (in the same etcd transaction). Some usage changes without
either: a pod that finishes (Succeeded or Failed) stops counting in ``pods``
and in compute resources, a quota made while objects already existed, usage
written by hand. Upstream's kube-controller-manager runs this controller to
recount; so do we:

- a quota appears or its spec changes         -> recount it;
- a pod finishes or goes away                  -> recount the quotas of its namespace;
- every ``--resource-quota-sync-period`` (5m)  -> recount every quota.

A recount takes the quota from the informer's cache, lists the objects, and
writes ``status`` with the quota's resourceVersion: if admission charged the
quota meanwhile (or the cache was behind), the write is refused (409) and the
recount is done again.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Any

from labkit.api.errors import StatusError
from labkit.api.registry import Resource
from labkit.apiserver.admission_plugins import TERMINAL_PHASES, count_usage, quota_status
from labkit.client.api import ApiClient
from labkit.client.informer import SharedInformerFactory
from labkit.client.workqueue import RateLimitingQueue, run_worker
from labkit.controllers.controller import ControllerContext, run_until_cancelled

log = logging.getLogger(__name__)


class ResourceQuotaController:
    name = "resourcequota"

    def __init__(self, client: ApiClient, informers: SharedInformerFactory, workers: int = 5,
                 sync_period: float = 300.0):
        self.client = client
        self.workers = workers
        self.sync_period = sync_period
        self.queue = RateLimitingQueue("resourcequota")
        self.quotas = informers.informer("resourcequotas")
        self.pods = informers.informer("pods")
        self.quotas.add_event_handler(on_add=self._enqueue, on_update=self._quota_changed)
        self.pods.add_event_handler(on_update=self._pod_changed, on_delete=self._pod_gone)

    @classmethod
    def from_context(cls, ctx: ControllerContext) -> "ResourceQuotaController":
        return cls(ctx.client, ctx.informers, workers=getattr(ctx.options, "concurrent_resource_quota_syncs", 5),
                   sync_period=getattr(ctx.options, "resource_quota_sync_period", 300.0))

    def _enqueue(self, quota: dict[str, Any]) -> None:
        meta = quota["metadata"]
        self.queue.add(f"{meta['namespace']}/{meta['name']}")

    def _quota_changed(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        if old.get("spec") != new.get("spec") or (new.get("status") or {}).get("hard") != \
                (new.get("spec") or {}).get("hard"):
            self._enqueue(new)

    def _namespace_quotas(self, namespace: str | None) -> None:
        for quota in self.quotas.list():
            if quota["metadata"].get("namespace") == namespace:
                self._enqueue(quota)

    def _pod_changed(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        finished = (new.get("status") or {}).get("phase") in TERMINAL_PHASES
        was_finished = (old.get("status") or {}).get("phase") in TERMINAL_PHASES
        if finished != was_finished:
            self._namespace_quotas(new["metadata"].get("namespace"))

    def _pod_gone(self, pod: dict[str, Any]) -> None:
        self._namespace_quotas(pod["metadata"].get("namespace"))

    async def sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        cached = self.quotas.get(key)  # the informer's copy, as upstream's lister (its role may not GET quotas)
        if cached is None:
            return
        quota = copy.deepcopy(cached)
        hard = (quota.get("spec") or {}).get("hard") or {}

        async def listed(resource: Resource) -> list[dict]:
            try:
                return (await self.client.list_all(resource, namespace)).get("items") or []
            except StatusError as exc:
                if exc.code in (403, 404, 405):  # not served, or not ours to read: nothing counted
                    return []
                raise

        status = quota_status(hard, await count_usage(quota, hard, listed))
        if quota.get("status") == status:
            return
        quota["status"] = status
        try:
            await self.client.update("resourcequotas", quota, namespace, subresource="status")
            log.info("resourcequota %s: used %s", key, status["used"])
        except StatusError as exc:
            if exc.code == 409:  # charged by admission meanwhile: count again
                self.queue.add_rate_limited(key)
                return
            if exc.code != 404:
                raise

    async def resync(self) -> None:
        while True:
            await asyncio.sleep(self.sync_period)
            for quota in self.quotas.list():
                self._enqueue(quota)

    async def run(self) -> None:
        await self.quotas.synced.wait()
        await self.pods.synced.wait()
        tasks = [asyncio.create_task(run_worker(self.queue, self.sync, "resourcequota"))
                 for _ in range(self.workers)]
        if self.sync_period > 0:
            tasks.append(asyncio.create_task(self.resync()))
        try:
            await run_until_cancelled(tasks)
        finally:
            self.queue.shut_down()
