"""What every controller gets from the controller-manager, and the shape it has.

A controller is built from a :class:`ControllerContext` (the API client, the
process's shared informers, the command-line options) and then ``run()``:
it waits until the informers it asked for have listed everything, then
starts ``workers`` tasks that take keys from its work queue and reconcile
them (see labkit.client.workqueue.run_worker). Event handlers only enqueue keys.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field

from labkit.api import registry
from labkit.api.registry import Resource
from labkit.client.api import ApiClient
from labkit.client.informer import SharedInformerFactory


@dataclass
class ControllerContext:
    client: ApiClient
    informers: SharedInformerFactory
    options: argparse.Namespace = field(default_factory=argparse.Namespace)


def watchable_resources(namespaced: bool | None = None) -> list[Resource]:
    """Every resource of the registry that can be listed, watched and deleted, once per storage.

    (core/v1 and events.k8s.io/v1 events are the same objects: we take the first.)
    """
    seen_storage: set[str] = set()
    found = []
    for res in registry.RESOURCES:
        if res.storage in seen_storage or not {"list", "watch", "delete"} <= set(res.verbs):
            continue
        if namespaced is not None and res.namespaced != namespaced:
            continue
        seen_storage.add(res.storage)
        found.append(res)
    return found


async def run_until_cancelled(tasks: list[asyncio.Task]) -> None:
    """Wait for a controller's workers; cancelling the controller cancels them all."""
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
