"""The clusterrole-aggregation controller: ``admin``, ``edit`` and ``view`` collect rules by label.

A ClusterRole with an ``aggregationRule`` has no rules of its own to edit:

    kind: ClusterRole
    metadata: {name: view}
    aggregationRule:
      clusterRoleSelectors:
      - matchLabels: {rbac.authorization.k8s.io/aggregate-to-view: "true"}

This controller keeps its ``rules`` equal to the rules of every other
ClusterRole its selectors match (in name order, each rule once). So
installing an add-on's ClusterRole labelled ``aggregate-to-view`` extends
``view`` everywhere it is bound, and deleting it takes the rules away again.

Any ClusterRole change may change what some aggregated role selects, so
every change enqueues every aggregating ClusterRole (there are few); the
sync reads the informer's cache and writes only when the rules differ.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from labkit.api import registry
from labkit.api.errors import StatusError
from labkit.api.selectors import selector_from_label_selector_dict
from labkit.client.api import ApiClient
from labkit.client.informer import SharedInformerFactory
from labkit.client.workqueue import RateLimitingQueue, run_worker
from labkit.controllers.controller import ControllerContext, run_until_cancelled

log = logging.getLogger(__name__)

CLUSTER_ROLES = registry.lookup("rbac.authorization.k8s.io", "v1", "clusterroles")


def selectors_of(role: dict[str, Any]) -> list[dict]:
    return list(((role.get("aggregationRule") or {}).get("clusterRoleSelectors")) or [])


def aggregated_rules(role: dict[str, Any], all_roles: list[dict[str, Any]]) -> list[dict]:
    """The rules of the roles ``role``'s selectors match: by role name, each distinct rule once."""
    selectors = [selector_from_label_selector_dict(s) for s in selectors_of(role)]
    name = role["metadata"]["name"]
    rules: list[dict] = []
    for other in sorted(all_roles, key=lambda r: r["metadata"]["name"]):
        if other["metadata"]["name"] == name:
            continue
        labels = other["metadata"].get("labels") or {}
        if not any(sel.matches(labels) for sel in selectors):
            continue
        for rule in other.get("rules") or []:
            if rule not in rules:
                rules.append(rule)
    return rules


class ClusterRoleAggregationController:
    name = "clusterrole-aggregation"

    def __init__(self, client: ApiClient, informers: SharedInformerFactory, workers: int = 1):
        self.client = client
        self.workers = workers
        self.queue = RateLimitingQueue("clusterrole-aggregation")
        self.informer = informers.informer(CLUSTER_ROLES)
        self.informer.add_event_handler(
            on_add=lambda role: self.enqueue_aggregators(),
            on_update=lambda old, new: self.enqueue_aggregators(),
            on_delete=lambda role: self.enqueue_aggregators(),
        )

    @classmethod
    def from_context(cls, ctx: ControllerContext) -> "ClusterRoleAggregationController":
        return cls(ctx.client, ctx.informers)

    def enqueue_aggregators(self) -> None:
        for role in self.informer.indexer.list():
            if selectors_of(role):
                self.queue.add(role["metadata"]["name"])

    async def sync(self, name: str) -> None:
        role = self.informer.indexer.get(name)
        if role is None or not selectors_of(role):
            return
        wanted = aggregated_rules(role, self.informer.indexer.list())
        if (role.get("rules") or []) == wanted:
            return
        # A merge patch of rules alone: labels and annotations others changed meanwhile stay as they are.
        try:
            await self.client.patch(CLUSTER_ROLES, name, {"rules": wanted})
        except StatusError as exc:
            if exc.code == 404:
                return
            raise
        log.info("clusterrole %s: %d rules aggregated", name, len(wanted))

    async def run(self) -> None:
        await self.informer.synced.wait()
        self.enqueue_aggregators()
        tasks = [asyncio.create_task(run_worker(self.queue, self.sync, self.name)) for _ in range(self.workers)]
        try:
            await run_until_cancelled(tasks)
        finally:
            self.queue.shut_down()
