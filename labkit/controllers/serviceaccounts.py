"""The service-account controller: every namespace has a ServiceAccount named ``default``.

Pods that name no account run as ``default`` (the ServiceAccount admission
plugin fills it in and refuses the pod if the account is missing), so a new
namespace needs one at once. Upstream's kube-controller-manager runs this as
``serviceaccount-controller``:

- a namespace appears (or becomes active again)        -> make sure ``default`` exists;
- someone deletes ``default``                           -> make it again;
- a namespace is being deleted                          -> leave it alone.

The queue holds namespace names; ``sync`` reads the cache and creates what is
missing (AlreadyExists means another copy was faster: fine).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from labkit.api.errors import StatusError
from labkit.client.api import ApiClient
from labkit.client.informer import SharedInformerFactory
from labkit.client.workqueue import RateLimitingQueue, run_worker
from labkit.controllers.controller import ControllerContext, run_until_cancelled

log = logging.getLogger(__name__)

ACCOUNTS = ("default",)  # upstream's --service-account-names ... is the same single name


def namespace_active(ns: dict[str, Any] | None) -> bool:
    """A namespace that exists and is not being deleted: the only kind controllers fill."""
    return ns is not None and (ns.get("status") or {}).get("phase") == "Active" and \
        not ns["metadata"].get("deletionTimestamp")


class ServiceAccountsController:
    name = "serviceaccount"

    def __init__(self, client: ApiClient, informers: SharedInformerFactory, workers: int = 1):
        self.client = client
        self.workers = workers
        self.queue = RateLimitingQueue("serviceaccount")
        self.namespaces = informers.informer("namespaces")
        self.accounts = informers.informer("serviceaccounts")
        self.namespaces.add_event_handler(on_add=self._namespace_changed,
                                          on_update=lambda old, new: self._namespace_changed(new))
        self.accounts.add_event_handler(on_delete=self._account_deleted)

    @classmethod
    def from_context(cls, ctx: ControllerContext) -> "ServiceAccountsController":
        return cls(ctx.client, ctx.informers, workers=1)

    def _namespace_changed(self, ns: dict[str, Any]) -> None:
        self.queue.add(ns["metadata"]["name"])

    def _account_deleted(self, sa: dict[str, Any]) -> None:
        meta = sa.get("metadata") or {}
        if meta.get("name") in ACCOUNTS and meta.get("namespace"):
            self.queue.add(meta["namespace"])

    async def sync(self, namespace: str) -> None:
        ns = self.namespaces.get(namespace)
        if not namespace_active(ns):
            return
        for name in ACCOUNTS:
            if self.accounts.get(f"{namespace}/{name}") is not None:
                continue
            try:
                await self.client.create("serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
                                                             "metadata": {"name": name}}, namespace)
                log.info("created service account %s/%s", namespace, name)
            except StatusError as exc:
                # AlreadyExists: the cache lagged behind; Forbidden/NotFound: the namespace is going away
                if exc.reason not in ("AlreadyExists", "Forbidden", "NotFound"):
                    raise

    async def run(self) -> None:
        await self.namespaces.synced.wait()
        await self.accounts.synced.wait()
        tasks = [asyncio.create_task(run_worker(self.queue, self.sync, "serviceaccount"))
                 for _ in range(self.workers)]
        try:
            await run_until_cancelled(tasks)
        finally:
            self.queue.shut_down()
