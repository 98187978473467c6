"""--event-ttl: Events expire from etcd through leases, and many events share one lease.

Two apiservers on one private etcd (so every lease in it is theirs):
``--event-ttl=2s`` shows an event going away by itself, from etcd and from
GET; ``--event-ttl=1m`` shows the lease reuse of upstream's LeaseManager
(a lease serves every write of a 3 s window: 5% of the ttl).
"""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid

import aiohttp
import pytest
from aetcd import rpc

from labkit.apiserver.etcd import Etcd
from labkit.localplane import ApiserverProcess, EtcdProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    if shutil.which("etcd") is None:
        pytest.fail("etcd is not installed: run `bash scripts/bootstrap.sh setup`")
    base = tmp_path_factory.mktemp("event-ttl")
    etcd = EtcdProcess(data_dir=base / "etcd").start()
    started = []
    try:
        for ttl in ("2s", "1m"):
            server = ApiserverProcess(etcd=etcd, log_path=base / f"apiserver-{ttl}.log",
                                      extra_args=(f"--event-ttl={ttl}", "--disable-admission-plugins=ServiceAccount"))
            started.append(server.start())
        yield etcd, started[0], started[1]
    finally:
        for server in started:
            server.stop()
        etcd.stop()


def core_event(name: str, ns: str) -> dict:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": ns},
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": ns}, "reason": "Tested",
            "message": "an event", "type": "Normal", "count": 1}


def new_event(name: str, ns: str) -> dict:
    return {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": name, "namespace": ns},
            "eventTime": "2026-12-01T10:00:00.000000Z", "reportingController": "labkit.dev/test",
            "reportingInstance": "test-1", "action": "Testing", "reason": "Tested", "type": "Normal",
            "regarding": {"kind": "Pod", "name": "web", "namespace": ns}}


async def create(session: aiohttp.ClientSession, path: str, body: dict) -> None:
    """POST ``body``; it must be created (201)."""
    async with session.post(path, json=body) as resp:
        assert resp.status == 201, await resp.text()


async def make_namespace(session: aiohttp.ClientSession) -> str:
    ns = f"ttl-{uuid.uuid4().hex[:8]}"
    await create(session, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    return ns


@pytest.fixture
async def etcd(servers):
    """A client of the servers' etcd, to see keys and leases as etcd holds them."""
    client = Etcd([servers[0].endpoint])
    yield client
    await client.close()


async def lease_of(etcd: Etcd, key: str) -> int:
    """The lease etcd holds the key with (0: none)."""
    resp = await etcd.kv.Range(rpc.RangeRequest(key=key.encode()), timeout=10)
    assert resp.kvs, f"{key} is not in etcd"
    return resp.kvs[0].lease


async def test_an_event_expires_from_etcd_and_from_get(servers, etcd):
    _, short, _ = servers
    async with aiohttp.ClientSession(short.url) as session:
        ns = await make_namespace(session)
        await create(session, f"/api/v1/namespaces/{ns}/events", core_event("soon-gone", ns))
        await create(session, f"/apis/events.k8s.io/v1/namespaces/{ns}/events", new_event("also-gone", ns))
        keys = [f"/registry/events/{ns}/soon-gone", f"/registry/events/{ns}/also-gone"]
        for key in keys:
            lease = await lease_of(etcd, key)
            assert lease != 0
            ttl = await etcd.leases.LeaseTimeToLive(rpc.LeaseTimeToLiveRequest(ID=lease), timeout=10)
            assert 0 < ttl.grantedTTL <= 2  # 2s, and 5% of it is no reuse window
        # Objects of other kinds stay: only events are attached to a lease.
        assert await lease_of(etcd, f"/registry/namespaces/{ns}") == 0

        deadline = time.monotonic() + 30  # etcd checks leases twice a second; a loaded machine is slower
        while time.monotonic() < deadline:
            remaining = [key for key in keys if (await etcd.get(key.encode()))[1] is not None]
            if not remaining:
                break
            await asyncio.sleep(0.2)
        assert remaining == [], "the events outlived their ttl"
        async with session.get(f"/api/v1/namespaces/{ns}/events/soon-gone") as resp:
            assert resp.status == 404
        async with session.get(f"/apis/events.k8s.io/v1/namespaces/{ns}/events/also-gone") as resp:
            assert resp.status == 404
        async with session.get(f"/api/v1/namespaces/{ns}") as resp:
            assert resp.status == 200  # the namespace stays


async def test_many_events_share_few_leases_and_updates_renew_them(servers, etcd):
    _, _, long = servers
    before = await etcd.leases.LeaseLeases(rpc.LeaseLeasesRequest(), timeout=10)
    async with aiohttp.ClientSession(long.url) as session:
        ns = await make_namespace(session)

        async def write(i: int) -> None:
            body = core_event(f"e-{i}", ns) if i % 2 else new_event(f"e-{i}", ns)
            path = f"/api/v1/namespaces/{ns}/events" if i % 2 else \
                f"/apis/events.k8s.io/v1/namespaces/{ns}/events"
            await create(session, path, body)

        await asyncio.gather(*(write(i) for i in range(40)))
        leases = {await lease_of(etcd, f"/registry/events/{ns}/e-{i}") for i in range(40)}
        assert 0 not in leases
        # 40 writes in well under the 3 s window: one lease, two if the window closed meanwhile.
        assert len(leases) <= 2, leases
        after = await etcd.leases.LeaseLeases(rpc.LeaseLeasesRequest(), timeout=10)
        granted = {lease.ID for lease in after.leases} - {lease.ID for lease in before.leases}
        assert granted == leases  # no lease granted in vain
        for lease in leases:
            ttl = await etcd.leases.LeaseTimeToLive(rpc.LeaseTimeToLiveRequest(ID=lease, keys=True), timeout=10)
            assert ttl.grantedTTL == 63  # 1m + 3 s of reuse window
            assert all(key.startswith(f"/registry/events/{ns}/".encode()) for key in ttl.keys)

        # An update (the recorder bumps count) attaches the event to a lease again: its life restarts.
        async with session.get(f"/api/v1/namespaces/{ns}/events/e-1") as resp:
            event = await resp.json()
        event["count"] = 2
        async with session.put(f"/api/v1/namespaces/{ns}/events/e-1", json=event) as resp:
            assert resp.status == 200, await resp.text()
        assert await lease_of(etcd, f"/registry/events/{ns}/e-1") != 0


async def test_a_revoked_lease_is_replaced_on_the_next_write(servers, etcd):
    _, _, long = servers
    async with aiohttp.ClientSession(long.url) as session:
        ns = await make_namespace(session)
        await create(session, f"/api/v1/namespaces/{ns}/events", core_event("first", ns))
        lease = await lease_of(etcd, f"/registry/events/{ns}/first")
        await etcd.leases.LeaseRevoke(rpc.LeaseRevokeRequest(ID=lease), timeout=10)  # its keys go with it
        assert (await etcd.get(f"/registry/events/{ns}/first".encode()))[1] is None
        # created, not a 503 naming the lost lease
        await create(session, f"/api/v1/namespaces/{ns}/events", core_event("second", ns))
        assert await lease_of(etcd, f"/registry/events/{ns}/second") not in (0, lease)
