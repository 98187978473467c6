"""Admission from watch-fed copies (labkit/apiserver/cache.py), on a real Registry and etcd.

NamespaceLifecycle and ResourceQuota answer "does this namespace exist?" and
"which quotas apply here?" from memory once their copies are listed; the
numbers of etcd calls are read from etcd's own counters.
"""

from __future__ import annotations

import asyncio
import re
import urllib.request

import pytest

from labkit.api import registry
from labkit.api.errors import StatusError
from labkit.apiserver.admission_plugins import build_chain
from labkit.apiserver.allocators import ClusterIPAllocator, NodePortAllocator, ServiceAllocations
from labkit.apiserver.cache import WatchCache
from labkit.apiserver.etcd import Etcd
from labkit.apiserver.rest import DeleteOptions, Options, Registry
from labkit.apiserver.storage import Change, Storage

NAMESPACES = registry.lookup("", "v1", "namespaces")
CONFIGMAPS = registry.lookup("", "v1", "configmaps")
QUOTAS = registry.lookup("", "v1", "resourcequotas")


@pytest.fixture
async def reg(etcd):
    client = Etcd([etcd.endpoint])
    storage = Storage(client, "/registry")
    services = ServiceAllocations(ClusterIPAllocator(client, "/registry", "10.32.0.0/24"),
                                  NodePortAllocator(client, "/registry", "30000-32767"))
    reg = Registry(storage, services, build_chain(storage))
    await reg.admission.start()
    yield reg
    await reg.admission.stop()
    await client.close()


def plugin(reg, name):
    return next(p for p in reg.admission.plugins if p.name == name)


async def eventually(condition, what: str) -> None:
    """The watch delivers a change in milliseconds; give it five seconds at most."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not seen in 5 s: {what}")


def etcd_calls(etcd) -> dict[str, int]:
    """etcd's count of the KV calls it answered, by method (Range, Txn ...)."""
    with urllib.request.urlopen(f"{etcd.endpoint}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    calls: dict[str, int] = {}
    for m in re.finditer(r'grpc_server_handled_total\{grpc_code="\w+",grpc_method="(\w+)",'
                         r'grpc_service="etcdserverpb.KV",grpc_type="unary"\} (\d+)', text):
        calls[m.group(1)] = calls.get(m.group(1), 0) + int(m.group(2))
    return calls


async def make_namespace(reg, name):
    return await reg.create(NAMESPACES, None, {"metadata": {"name": name}}, Options())


def configmap(name):
    return {"metadata": {"name": name}, "data": {"a": "1"}}


async def test_the_cache_lists_then_follows_puts_and_deletes(reg, etcd):
    await make_namespace(reg, "before")
    cache = WatchCache(reg.storage, CONFIGMAPS)
    await reg.create(CONFIGMAPS, "before", configmap("listed"), Options())
    await cache.start()
    try:
        assert [c["metadata"]["name"] for c in cache.in_namespace("before")] == ["listed"]
        await reg.create(CONFIGMAPS, "before", configmap("watched"), Options())
        await eventually(lambda: cache.get("before", "watched") is not None, "the new configmap")

        async def change(current):
            return Change(obj={**current, "data": {"a": "2"}})
        await reg.storage.update(CONFIGMAPS, "before", "watched", change)
        await eventually(lambda: cache.get("before", "watched")["data"] == {"a": "2"}, "the update")
        await reg.delete(CONFIGMAPS, "before", "listed", DeleteOptions())
        await eventually(lambda: cache.get("before", "listed") is None, "the delete")
        assert [c["metadata"]["name"] for c in cache.in_namespace("before")] == ["watched"]
        assert cache.in_namespace("elsewhere") == []
    finally:
        await cache.stop()


async def test_a_create_in_a_namespace_without_quota_is_one_etcd_call(reg, etcd):
    await make_namespace(reg, "quiet")
    lifecycle = plugin(reg, "NamespaceLifecycle")
    await eventually(lambda: lifecycle.namespaces.get(None, "quiet") is not None, "the namespace in the copy")
    before = etcd_calls(etcd)
    for i in range(5):
        await reg.create(CONFIGMAPS, "quiet", configmap(f"c{i}"), Options())
    after = etcd_calls(etcd)
    assert {m: after.get(m, 0) - before.get(m, 0) for m in ("Range", "Txn")} == {"Range": 0, "Txn": 5}


async def test_a_namespace_created_a_moment_ago_is_found_in_etcd(reg):
    lifecycle = plugin(reg, "NamespaceLifecycle")
    await lifecycle.namespaces.stop()  # the copy stands still: the namespace can only be found in etcd
    await make_namespace(reg, "fresh")
    assert lifecycle.namespaces.get(None, "fresh") is None
    created = await reg.create(CONFIGMAPS, "fresh", configmap("first"), Options())
    assert created["metadata"]["namespace"] == "fresh"
    with pytest.raises(StatusError) as exc:
        await reg.create(CONFIGMAPS, "never-made", configmap("lost"), Options())
    assert (exc.value.code, exc.value.message) == (404, 'namespaces "never-made" not found')


async def test_a_namespace_being_deleted_refuses_creates_at_once(reg):
    await make_namespace(reg, "leaving")
    lifecycle = plugin(reg, "NamespaceLifecycle")
    await eventually(lambda: lifecycle.namespaces.get(None, "leaving") is not None, "the namespace in the copy")
    await lifecycle.namespaces.stop()  # the copy still shows it active, as it would for one watch latency
    await reg.delete(NAMESPACES, None, "leaving", DeleteOptions())
    assert not lifecycle.namespaces.get(None, "leaving")["metadata"].get("deletionTimestamp")
    with pytest.raises(StatusError) as exc:
        await reg.create(CONFIGMAPS, "leaving", configmap("late"), Options())
    assert exc.value.code == 403
    assert exc.value.message == ('configmaps "late" is forbidden: unable to create new content in namespace leaving '
                                 "because it is being terminated")


async def test_a_namespace_deleted_elsewhere_is_refused_once_the_copy_sees_it(reg):
    await make_namespace(reg, "gone")
    lifecycle = plugin(reg, "NamespaceLifecycle")

    async def terminate(current):  # another apiserver's delete: this one's admission never sees it
        current["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        return Change(obj=current)
    await reg.storage.update(NAMESPACES, None, "gone", terminate)
    await eventually(lambda: (lifecycle.namespaces.get(None, "gone") or {}).get("metadata", {})
                     .get("deletionTimestamp"), "the deletionTimestamp in the copy")
    with pytest.raises(StatusError) as exc:
        await reg.create(CONFIGMAPS, "gone", configmap("late"), Options())
    assert exc.value.code == 403


async def test_a_namespace_made_again_after_its_deletion_is_found_in_etcd(reg):
    await make_namespace(reg, "reborn")
    lifecycle = plugin(reg, "NamespaceLifecycle")
    await reg.delete(NAMESPACES, None, "reborn", DeleteOptions())
    await eventually(lambda: (lifecycle.namespaces.get(None, "reborn") or {}).get("metadata", {})
                     .get("deletionTimestamp"), "the deletionTimestamp in the copy")
    await lifecycle.namespaces.stop()  # the copy still shows the old, terminating namespace
    terminating = await reg.get(NAMESPACES, None, "reborn")
    terminating["spec"]["finalizers"] = []
    await reg.update(NAMESPACES, None, "reborn", terminating, Options(), subresource="finalize")
    await make_namespace(reg, "reborn")
    created = await reg.create(CONFIGMAPS, "reborn", configmap("first"), Options())
    assert created["metadata"]["namespace"] == "reborn"


async def test_a_quota_made_here_applies_to_the_very_next_create(reg):
    await make_namespace(reg, "capped")
    quota = plugin(reg, "ResourceQuota")
    await quota.quotas.stop()  # the copy never sees the quota: only the live lookup can
    await reg.create(QUOTAS, "capped", {"metadata": {"name": "q"}, "spec": {"hard": {"configmaps": "1"}}}, Options())
    await reg.create(CONFIGMAPS, "capped", configmap("one"), Options())
    with pytest.raises(StatusError) as exc:
        await reg.create(CONFIGMAPS, "capped", configmap("two"), Options())
    assert exc.value.code == 403 and "exceeded quota: q" in exc.value.message


async def test_a_quota_known_from_the_copy_is_charged_fresh_from_etcd(reg, etcd):
    await make_namespace(reg, "metered")
    quota = plugin(reg, "ResourceQuota")
    quota.quota_written_here.seconds = 0  # only the copy tells which quotas exist
    await reg.create(QUOTAS, "metered", {"metadata": {"name": "q"}, "spec": {"hard": {"configmaps": "2"}}},
                     Options())
    await eventually(lambda: quota.quotas.in_namespace("metered"), "the quota in the copy")
    await eventually(lambda: plugin(reg, "NamespaceLifecycle").namespaces.get(None, "metered"), "the namespace")
    before = etcd_calls(etcd)
    await reg.create(CONFIGMAPS, "metered", configmap("one"), Options())
    after = etcd_calls(etcd)
    # one read of the quota, one transaction writing the configmap and the quota's usage together
    assert {m: after.get(m, 0) - before.get(m, 0) for m in ("Range", "Txn")} == {"Range": 1, "Txn": 1}
    stored = await reg.storage.get(QUOTAS, "metered", "q")
    assert stored["status"]["used"] == {"configmaps": "1"}

    # The copy may lag behind the quota's usage: the usage charged is etcd's, never the copy's.
    await quota.quotas.stop()
    await reg.create(CONFIGMAPS, "metered", configmap("two"), Options())
    with pytest.raises(StatusError) as exc:
        await reg.create(CONFIGMAPS, "metered", configmap("three"), Options())
    assert exc.value.code == 403 and "used: configmaps=2" in exc.value.message
    await reg.delete(CONFIGMAPS, "metered", "two", DeleteOptions())
    assert (await reg.storage.get(QUOTAS, "metered", "q"))["status"]["used"] == {"configmaps": "1"}


# -- pods: LimitRanger and ServiceAccount from their copies ---------------------------------

PODS = registry.lookup("", "v1", "pods")
LIMIT_RANGES = registry.lookup("", "v1", "limitranges")
SERVICE_ACCOUNTS = registry.lookup("", "v1", "serviceaccounts")


def pod(name, account=None):
    spec = {"containers": [{"name": "c", "image": "busybox"}]}
    if account:
        spec["serviceAccountName"] = account
    return {"metadata": {"name": name}, "spec": spec}


def limit_range(name, cpu):
    return {"metadata": {"name": name},
            "spec": {"limits": [{"type": "Container", "defaultRequest": {"cpu": cpu}, "default": {"cpu": cpu}}]}}


async def test_a_pod_create_reads_no_limit_range_nor_account_from_etcd(reg, etcd):
    await make_namespace(reg, "pods")
    await reg.create(SERVICE_ACCOUNTS, "pods", {"metadata": {"name": "default"}}, Options())
    await reg.create(LIMIT_RANGES, "pods", limit_range("cpu", "100m"), Options())
    limit_ranger, accounts = plugin(reg, "LimitRanger"), plugin(reg, "ServiceAccount")
    await eventually(lambda: limit_ranger.limit_ranges.in_namespace("pods") and
                     accounts.accounts.get("pods", "default") is not None, "the LimitRange and the account")
    limit_ranger.written_here = type(limit_ranger.written_here)()  # as if it were written by another apiserver
    before = etcd_calls(etcd)
    for i in range(5):
        created = await reg.create(PODS, "pods", pod(f"p{i}"), Options())
        assert created["spec"]["containers"][0]["resources"] == {"requests": {"cpu": "100m"},
                                                                 "limits": {"cpu": "100m"}}
        assert created["spec"]["serviceAccountName"] == "default"
    after = etcd_calls(etcd)
    assert {m: after.get(m, 0) - before.get(m, 0) for m in ("Range", "Txn")} == {"Range": 0, "Txn": 5}


async def test_a_limit_range_made_here_applies_to_the_very_next_pod(reg):
    await make_namespace(reg, "fresh-limits")
    await reg.create(SERVICE_ACCOUNTS, "fresh-limits", {"metadata": {"name": "default"}}, Options())
    first = await reg.create(PODS, "fresh-limits", pod("before"), Options())  # the namespace has no LimitRange yet
    assert "resources" not in first["spec"]["containers"][0] or not first["spec"]["containers"][0]["resources"]
    await reg.create(LIMIT_RANGES, "fresh-limits", limit_range("cpu", "250m"), Options())
    second = await reg.create(PODS, "fresh-limits", pod("after"), Options())  # no wait for the copy
    assert second["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "250m"}


async def test_an_account_made_a_moment_ago_is_found_in_etcd(reg):
    await make_namespace(reg, "fresh-account")
    await reg.create(SERVICE_ACCOUNTS, "fresh-account", {"metadata": {"name": "builder"}}, Options())
    created = await reg.create(PODS, "fresh-account", pod("p", account="builder"), Options())  # no wait for the copy
    assert created["spec"]["serviceAccountName"] == "builder"
    with pytest.raises(StatusError) as exc:
        await reg.create(PODS, "fresh-account", pod("q", account="nobody"), Options())
    assert exc.value.code == 403 and 'serviceaccount "nobody" not found' in exc.value.message
