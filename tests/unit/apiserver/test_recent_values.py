"""Updates and deletes start from the value this apiserver wrote last (storage.RecentValues), on real etcd.

The read before the write is skipped; the transaction's compare on the key's
mod_revision keeps every answer as it was: a write made elsewhere (here: a
second Storage on the same etcd, as a second apiserver would be) makes the
compare fail, and the update is tried again from etcd's current value, or is
the client's 409 when it named a resourceVersion.
"""

from __future__ import annotations

import pytest

from labkit.api import registry
from labkit.api.errors import StatusError
from labkit.apiserver.allocators import ClusterIPAllocator, NodePortAllocator, ServiceAllocations
from labkit.apiserver.admission_plugins import build_chain
from labkit.apiserver.etcd import Etcd
from labkit.apiserver.rest import DeleteOptions, Options, Registry
from labkit.apiserver.storage import RecentValues, Storage
from labkit.apiserver.etcd import KeyValue

from tests.unit.apiserver.test_admission_caches import etcd_calls

NAMESPACES = registry.lookup("", "v1", "namespaces")
CONFIGMAPS = registry.lookup("", "v1", "configmaps")


def make_registry(client: Etcd) -> Registry:
    storage = Storage(client, "/registry")
    services = ServiceAllocations(ClusterIPAllocator(client, "/registry", "10.32.0.0/24"),
                                  NodePortAllocator(client, "/registry", "30000-32767"))
    return Registry(storage, services, build_chain(storage, disabled="ServiceAccount"))


@pytest.fixture
async def two(etcd):
    """Two registries on one etcd, each with its own RecentValues: two apiservers."""
    clients = [Etcd([etcd.endpoint]), Etcd([etcd.endpoint])]
    regs = [make_registry(c) for c in clients]
    for reg in regs:
        await reg.admission.start()
    await regs[0].create(NAMESPACES, None, {"metadata": {"name": "ns"}}, Options())
    yield regs
    for reg in regs:
        await reg.admission.stop()
    for client in clients:
        await client.close()


def configmap(name, value, rv=None):
    meta = {"name": name, **({"resourceVersion": rv} if rv else {})}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"v": value}}


async def test_an_update_after_our_own_write_reads_nothing_from_etcd(two, etcd):
    here, _ = two
    made = await here.create(CONFIGMAPS, "ns", configmap("cm", "1"), Options())
    before = etcd_calls(etcd)
    updated = await here.update(CONFIGMAPS, "ns", "cm", configmap("cm", "2", made["metadata"]["resourceVersion"]),
                                Options())
    gone, deleted_now = await here.delete(CONFIGMAPS, "ns", "cm", DeleteOptions())
    after = etcd_calls(etcd)
    assert {m: after.get(m, 0) - before.get(m, 0) for m in ("Range", "Txn")} == {"Range": 0, "Txn": 2}
    assert updated["data"] == {"v": "2"} and updated["metadata"]["uid"] == made["metadata"]["uid"]
    assert deleted_now and gone["data"] == {"v": "2"}


async def test_a_write_made_elsewhere_is_not_lost(two):
    here, elsewhere = two
    await here.create(CONFIGMAPS, "ns", configmap("cm", "1"), Options())
    theirs = await elsewhere.update(CONFIGMAPS, "ns", "cm", configmap("cm", "theirs"), Options())
    # No resourceVersion: the update starts from our stale value, loses the compare, and is
    # applied to etcd's current value (theirs), as a read would have done.
    patched = await here.patch(CONFIGMAPS, "ns", "cm", b'{"data":{"w":"ours"}}', "application/merge-patch+json",
                               Options())
    assert patched["data"] == {"v": "theirs", "w": "ours"}
    assert int(patched["metadata"]["resourceVersion"]) > int(theirs["metadata"]["resourceVersion"])
    assert (await here.get(CONFIGMAPS, "ns", "cm"))["data"] == {"v": "theirs", "w": "ours"}


async def test_a_stale_resource_version_is_still_a_409(two):
    here, elsewhere = two
    made = await here.create(CONFIGMAPS, "ns", configmap("cm", "1"), Options())
    await elsewhere.update(CONFIGMAPS, "ns", "cm", configmap("cm", "theirs"), Options())
    with pytest.raises(StatusError) as exc:  # our known value has the client's resourceVersion, etcd has a newer one
        await here.update(CONFIGMAPS, "ns", "cm", configmap("cm", "2", made["metadata"]["resourceVersion"]), Options())
    assert exc.value.code == 409
    assert (await here.get(CONFIGMAPS, "ns", "cm"))["data"] == {"v": "theirs"}


async def test_an_object_deleted_elsewhere_is_a_404(two):
    here, elsewhere = two
    await here.create(CONFIGMAPS, "ns", configmap("cm", "1"), Options())
    await elsewhere.delete(CONFIGMAPS, "ns", "cm", DeleteOptions())
    with pytest.raises(StatusError) as exc:
        await here.update(CONFIGMAPS, "ns", "cm", configmap("cm", "2"), Options())
    assert exc.value.code == 404
    with pytest.raises(StatusError) as exc:
        await here.delete(CONFIGMAPS, "ns", "cm", DeleteOptions())
    assert exc.value.code == 404


def test_recent_values_keep_at_most_max_bytes_dropping_the_oldest():
    recent = RecentValues(max_bytes=100)
    for i in range(5):
        recent.remember(KeyValue(f"/k{i}".encode(), b"x" * 30, i + 1, i + 1))
    assert [recent.get(f"/k{i}".encode()) is not None for i in range(5)] == [False, False, True, True, True]
    recent.remember(KeyValue(b"/k2", b"y" * 10, 9, 3))  # rewritten: now the newest, and smaller
    recent.remember(KeyValue(b"/k5", b"z" * 40, 10, 10))
    assert recent.get(b"/k2").value == b"y" * 10 and recent.get(b"/k3") is None


async def test_a_refusal_is_decided_on_etcds_value(two):
    """Deleted and made again elsewhere: a delete with the new uid as precondition is not refused on the old one."""
    here, elsewhere = two
    await here.create(CONFIGMAPS, "ns", configmap("cm", "1"), Options())
    await elsewhere.delete(CONFIGMAPS, "ns", "cm", DeleteOptions())
    again = await elsewhere.create(CONFIGMAPS, "ns", configmap("cm", "2"), Options())
    options = DeleteOptions(preconditions={"uid": again["metadata"]["uid"]})
    gone, deleted_now = await here.delete(CONFIGMAPS, "ns", "cm", options)
    assert deleted_now and gone["data"] == {"v": "2"}


async def test_nothing_to_change_is_decided_on_etcds_value(two):
    here, elsewhere = two
    await here.create(CONFIGMAPS, "ns", configmap("cm", "1"), Options())
    theirs = await elsewhere.update(CONFIGMAPS, "ns", "cm", configmap("cm", "2"), Options())
    # The same as our known value, but not as etcd's: a real write, not "unchanged" with a stale object.
    ours = await here.update(CONFIGMAPS, "ns", "cm", configmap("cm", "1"), Options())
    assert ours["data"] == {"v": "1"}
    assert int(ours["metadata"]["resourceVersion"]) > int(theirs["metadata"]["resourceVersion"])
    assert (await elsewhere.get(CONFIGMAPS, "ns", "cm"))["data"] == {"v": "1"}
