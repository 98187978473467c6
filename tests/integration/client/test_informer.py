"""Informers on the real apiserver: the cache converges, survives compaction, indexes, is shared."""

import asyncio
import random

import pytest

from labkit.client.informer import NODE_NAME_INDEX, OWNER_UID_INDEX, Informer, SharedInformerFactory, \
    index_by_node_name, index_by_owner_uid

pytestmark = pytest.mark.integration


def configmap(name, namespace, data=None):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
            "data": data or {}}


async def server_state(api, namespace):
    listing = await api.list_all("configmaps", namespace)
    return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in listing["items"]}


def cache_state(informer):
    return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in informer.list()}


async def converge(informer, api, namespace, timeout=30.0):
    """Wait until the cache equals the server's list; return it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        expected = await server_state(api, namespace)
        if cache_state(informer) == expected:
            return expected
        if loop.time() > deadline:
            assert cache_state(informer) == expected
        await asyncio.sleep(0.1)


class Recorder:
    """Event handlers that keep their own copy, built only from the events."""

    def __init__(self):
        self.objects = {}
        self.adds = self.updates = self.deletes = 0

    def on_add(self, obj):
        self.adds += 1
        self.objects[obj["metadata"]["name"]] = obj["metadata"]["resourceVersion"]

    def on_update(self, old, new):
        self.updates += 1
        self.objects[new["metadata"]["name"]] = new["metadata"]["resourceVersion"]

    def on_delete(self, obj):
        self.deletes += 1
        self.objects.pop(obj["metadata"]["name"], None)


async def burst(api, namespace, prefix, creates=60, updates=30, deletes=20):
    names = [f"{prefix}-{i}" for i in range(creates)]
    await asyncio.gather(*(api.create("configmaps", configmap(n, namespace)) for n in names))
    await asyncio.gather(*(api.patch("configmaps", n, {"data": {"x": "1"}}, namespace)
                           for n in random.sample(names, updates)))
    await asyncio.gather(*(api.delete("configmaps", n, namespace) for n in random.sample(names, deletes)))


async def test_cache_converges_after_a_burst_of_writes(api, namespace):
    await burst(api, namespace, "before", creates=10, updates=0, deletes=0)
    informer = Informer(api, "configmaps", namespace)
    recorder = Recorder()
    informer.add_event_handler(recorder.on_add, recorder.on_update, recorder.on_delete)
    informer.start()
    try:
        await informer.wait_synced(30)
        assert len(informer.list()) == 10
        await burst(api, namespace, "during")
        final = await converge(informer, api, namespace)
        assert len(final) == 10 + 60 - 20
        assert recorder.objects == final, "the handlers saw every change"
        assert recorder.adds - recorder.deletes == len(final)
        assert informer.relists == 1, "no re-list was needed: the watch carried everything"
    finally:
        await informer.stop()


async def test_relists_after_compaction_and_reports_what_it_missed(api, namespace, compact_etcd):
    informer = Informer(api, "configmaps", namespace)
    recorder = Recorder()
    informer.add_event_handler(recorder.on_add, recorder.on_update, recorder.on_delete)
    await burst(api, namespace, "a", creates=20, updates=0, deletes=0)
    informer.start()
    await informer.wait_synced(30)
    await converge(informer, api, namespace)
    # The informer loses its watch (as in a network cut); meanwhile the world changes
    # and etcd compacts its history past the informer's resourceVersion.
    await informer.stop()
    await burst(api, namespace, "b", creates=20, updates=10, deletes=10)
    await api.delete("configmaps", "a-0", namespace)
    compact_etcd()
    informer.start()  # resumes the watch from its old resourceVersion: 410, then a fresh list
    try:
        final = await converge(informer, api, namespace)
        assert informer.relists == 2
        assert recorder.objects == final, "the re-list told the handlers about adds, updates and deletes"
        assert "a-0" not in final
    finally:
        await informer.stop()


async def test_indexes_by_node_name_and_owner_uid(api, namespace):
    owner = await api.create("configmaps", configmap("owner", namespace))
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    n1, n2 = f"{namespace}-n1", f"{namespace}-n2"  # node names no other test uses (the apiserver is shared)
    for i, node in enumerate([n1, n1, n2]):
        await api.create("pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"p{i}", "namespace": namespace, "ownerReferences": [ref] if i < 2 else []},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]},
        })
    factory = SharedInformerFactory(api)
    pods = factory.informer("pods", indexers={NODE_NAME_INDEX: index_by_node_name})
    same = factory.informer("pods", indexers={OWNER_UID_INDEX: index_by_owner_uid})
    assert same is pods, "one informer per resource, shared"
    factory.start()
    try:
        await factory.wait_for_cache_sync(30)
        names = lambda objs: sorted(o["metadata"]["name"] for o in objs)
        assert names(pods.indexer.by_index(NODE_NAME_INDEX, n1)) == ["p0", "p1"]
        assert names(pods.indexer.by_index(OWNER_UID_INDEX, owner["metadata"]["uid"])) == ["p0", "p1"]
        assert names(pods.indexer.by_index("namespace", namespace)) == ["p0", "p1", "p2"]
        await api.delete("pods", "p0", namespace, grace_period_seconds=0)
        for _ in range(300):
            if names(pods.indexer.by_index(NODE_NAME_INDEX, n1)) == ["p1"]:
                break
            await asyncio.sleep(0.1)
        assert names(pods.indexer.by_index(NODE_NAME_INDEX, n1)) == ["p1"]
    finally:
        await factory.stop()
