"""The async API client against the real apiserver: every verb, selectors, paging, watch, 410."""

import asyncio

import pytest

from labkit.api.errors import StatusError
from labkit.client.api import WatchExpired

pytestmark = pytest.mark.integration


def configmap(name, namespace, labels=None, data=None):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {}}, "data": data or {}}


def pod(name, namespace):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [{"name": "main", "image": "busybox"}]}}


async def test_create_get_update_patch_delete(api, namespace):
    created = await api.create("configmaps", configmap("web", namespace, {"app": "web"}, {"a": "1"}))
    assert created["metadata"]["resourceVersion"]
    got = await api.get("configmaps", "web", namespace)
    assert got["data"] == {"a": "1"}

    got["data"]["b"] = "2"
    updated = await api.update("configmaps", got)
    assert updated["data"] == {"a": "1", "b": "2"}

    # The stale copy (old resourceVersion) is refused: optimistic concurrency.
    stale = {**created, "data": {"lost": "update"}}
    with pytest.raises(StatusError) as err:
        await api.update("configmaps", stale)
    assert (err.value.code, err.value.reason) == (409, "Conflict")

    merged = await api.patch("configmaps", "web", {"data": {"c": "3"}}, namespace)
    assert merged["data"] == {"a": "1", "b": "2", "c": "3"}
    strategic = await api.patch("configmaps", "web", {"metadata": {"labels": {"tier": "front"}}}, namespace,
                                patch_type="strategic")
    assert strategic["metadata"]["labels"] == {"app": "web", "tier": "front"}
    jsonpatch = await api.patch("configmaps", "web", [{"op": "remove", "path": "/data/a"}], namespace,
                                patch_type="json")
    assert jsonpatch["data"] == {"b": "2", "c": "3"}

    await api.delete("configmaps", "web", namespace)
    with pytest.raises(StatusError) as err:
        await api.get("configmaps", "web", namespace)
    assert (err.value.code, err.value.reason) == (404, "NotFound")


async def test_create_twice_is_already_exists(api, namespace):
    await api.create("configmaps", configmap("dup", namespace))
    with pytest.raises(StatusError) as err:
        await api.create("configmaps", configmap("dup", namespace))
    assert err.value.reason == "AlreadyExists"


async def test_invalid_object_reason_is_invalid(api, namespace):
    bad = pod("nocontainers", namespace)
    bad["spec"]["containers"] = []
    with pytest.raises(StatusError) as err:
        await api.create("pods", bad)
    assert (err.value.code, err.value.reason) == (422, "Invalid")


async def test_label_and_field_selectors(api, namespace):
    for i in range(6):
        await api.create("configmaps", configmap(f"cm-{i}", namespace, {"parity": "even" if i % 2 == 0 else "odd"}))
    even = await api.list("configmaps", namespace, label_selector={"parity": "even"})
    assert sorted(o["metadata"]["name"] for o in even["items"]) == ["cm-0", "cm-2", "cm-4"]
    one = await api.list("configmaps", namespace, field_selector="metadata.name=cm-3")
    assert [o["metadata"]["name"] for o in one["items"]] == ["cm-3"]


async def test_paging_with_limit_and_continue(api, namespace):
    await asyncio.gather(*(api.create("configmaps", configmap(f"page-{i:02d}", namespace)) for i in range(23)))
    first = await api.list("configmaps", namespace, limit=10)
    assert len(first["items"]) == 10 and first["metadata"].get("continue")
    everything = await api.list_all("configmaps", namespace, page_size=7)
    names = [o["metadata"]["name"] for o in everything["items"]]
    assert sorted(names) == [f"page-{i:02d}" for i in range(23)]
    assert len(set(names)) == 23


async def test_status_and_binding_subresources(api, namespace):
    await api.create("pods", pod("p", namespace))
    current = await api.get("pods", "p", namespace)
    current["status"] = {**(current.get("status") or {}), "phase": "Running"}
    current["spec"]["containers"][0]["image"] = "not-changed-through-status"
    after = await api.update("pods", current, subresource="status")
    assert after["status"]["phase"] == "Running"
    assert after["spec"]["containers"][0]["image"] == "busybox", "status writes must not change spec"

    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p", "namespace": namespace},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "worker-1"}}
    await api.create("pods", binding, namespace, subresource="binding", name="p")
    assert (await api.get("pods", "p", namespace))["spec"]["nodeName"] == "worker-1"
    running = await api.list("pods", namespace, field_selector="status.phase=Running,spec.nodeName=worker-1")
    assert [o["metadata"]["name"] for o in running["items"]] == ["p"]


async def test_watch_yields_every_change_in_order(api, namespace):
    listing = await api.list("configmaps", namespace)
    rv = listing["metadata"]["resourceVersion"]
    events = []

    async def watch():
        async for event_type, obj in api.watch("configmaps", namespace, resource_version=rv, timeout_seconds=30):
            events.append((event_type, obj["metadata"]["name"], obj.get("data")))
            if event_type == "DELETED":
                return

    watcher = asyncio.create_task(watch())
    await api.create("configmaps", configmap("w", namespace, data={"v": "1"}))
    await api.patch("configmaps", "w", {"data": {"v": "2"}}, namespace)
    await api.delete("configmaps", "w", namespace)
    await asyncio.wait_for(watcher, 30)
    assert [(t, n) for t, n, _ in events] == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]
    assert events[1][2] == {"v": "2"}


async def test_watch_from_a_compacted_resource_version_raises_watch_expired(api, namespace, compact_etcd):
    first = await api.create("configmaps", configmap("old", namespace))
    old_rv = first["metadata"]["resourceVersion"]
    for i in range(3):
        await api.patch("configmaps", "old", {"data": {"i": str(i)}}, namespace)
    compact_etcd()
    with pytest.raises(WatchExpired) as err:
        async for _ in api.watch("configmaps", namespace, resource_version=old_rv, timeout_seconds=10):
            pass
    assert err.value.code == 410 and err.value.reason in ("Expired", "Gone")

    # Recovery as a reflector does it: list again, watch from the fresh resourceVersion.
    fresh = await api.list("configmaps", namespace)
    seen = []

    async def watch():
        async for event_type, obj in api.watch("configmaps", namespace,
                                               resource_version=fresh["metadata"]["resourceVersion"],
                                               timeout_seconds=30):
            seen.append((event_type, obj["metadata"]["name"]))
            return

    watcher = asyncio.create_task(watch())
    await api.create("configmaps", configmap("new", namespace))
    await asyncio.wait_for(watcher, 30)
    assert seen == [("ADDED", "new")]


async def test_resources_of_every_group_round_trip(api, namespace):
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "l", "namespace": namespace}, "spec": {"holderIdentity": "me"}}
    assert (await api.create("leases.coordination.k8s.io", lease))["spec"]["holderIdentity"] == "me"
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": f"{namespace}-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
    await api.create("clusterroles.rbac.authorization.k8s.io", role)
    got = await api.get("rbac.authorization.k8s.io/v1/clusterroles", f"{namespace}-reader")
    assert got["rules"][0]["verbs"] == ["get"]
    await api.delete("clusterroles.rbac.authorization.k8s.io", f"{namespace}-reader")
