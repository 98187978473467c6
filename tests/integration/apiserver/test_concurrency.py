"""Many clients writing at once: optimistic concurrency on etcd, nothing lost, nothing applied twice.

Every writer is a client of its own (its own connection pool), as independent
controllers are. A write that carries a resourceVersion is either applied or
answered 409 Conflict; the final object, and the watch of it, show exactly
the applied writes. Services created at once, through two apiservers over
the same etcd, never share a ClusterIP or a NodePort.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from labkit.api.errors import StatusError
from labkit.client.api import ApiClient
from labkit.client.kubeconfig import load_kubeconfig
from labkit.localplane import ApiserverProcess

pytestmark = pytest.mark.integration

CLIENTS = 20


@pytest.fixture
async def clients(apiserver, tmp_path):
    config = load_kubeconfig(apiserver.kubeconfig(tmp_path / "kubeconfig"))
    made = [ApiClient(config, user_agent=f"writer-{i}") for i in range(CLIENTS)]
    yield made
    for c in made:
        await c.close()


@pytest.fixture
async def namespace(clients) -> str:
    name = f"race-{uuid.uuid4().hex[:8]}"
    await clients[0].create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


async def watch_modifications(api: ApiClient, ns: str, name: str, rv: str, count: int) -> list[dict]:
    """The first ``count`` MODIFIED objects of ``name`` after ``rv``."""
    seen = []
    async for event_type, obj in api.watch("configmaps", ns, resource_version=rv, timeout_seconds=30,
                                           field_selector=f"metadata.name={name}"):
        assert event_type == "MODIFIED", (event_type, obj["metadata"])
        seen.append(obj)
        if len(seen) == count:
            break
    return seen


async def test_lockstep_read_modify_write_applies_exactly_one_writer_per_round(clients, namespace):
    """All writers read the same version, then all write: one is applied, every other is 409."""
    ns, rounds = namespace, 5
    created = await clients[0].create("configmaps", {"metadata": {"name": "counter"}, "data": {"count": "0"}}, ns)
    applied: list[tuple[int, int, str]] = []  # (round, writer, resourceVersion it produced)
    conflicts = 0
    read_all = asyncio.Barrier(CLIENTS)

    async def writer(i: int, api: ApiClient) -> None:
        nonlocal conflicts
        for r in range(rounds):
            current = await api.get("configmaps", "counter", ns)
            await read_all.wait()  # nobody writes before everyone has read this round's version
            current["data"][f"r{r}-w{i}"] = "1"
            current["data"]["count"] = str(int(current["data"]["count"]) + 1)
            try:
                stored = await api.update("configmaps", current, ns)
                applied.append((r, i, stored["metadata"]["resourceVersion"]))
            except StatusError as exc:
                assert (exc.code, exc.reason) == (409, "Conflict"), exc
                assert "the object has been modified" in exc.message
                conflicts += 1
            await read_all.wait()  # the round is over for everyone before the next read

    watching = asyncio.create_task(watch_modifications(
        clients[0], ns, "counter", created["metadata"]["resourceVersion"], rounds))
    await asyncio.gather(*(writer(i, c) for i, c in enumerate(clients)))

    assert sorted(r for r, _, _ in applied) == list(range(rounds)), applied
    assert conflicts == rounds * (CLIENTS - 1)
    final = await clients[0].get("configmaps", "counter", ns)
    assert final["data"]["count"] == str(rounds)
    assert set(final["data"]) - {"count"} == {f"r{r}-w{i}" for r, i, _ in applied}
    assert final["metadata"]["resourceVersion"] == max(applied, key=lambda a: int(a[2]))[2]
    # The watch saw each applied write once, in order.
    events = await asyncio.wait_for(watching, 30)
    assert [e["data"]["count"] for e in events] == [str(n) for n in range(1, rounds + 1)]
    assert [e["metadata"]["resourceVersion"] for e in events] == [rv for _, _, rv in sorted(applied)]


async def test_free_running_read_modify_write_loses_nothing(clients, namespace):
    """Writers retry on 409 as controllers do: every intended change lands exactly once."""
    ns, per_writer = namespace, 5
    created = await clients[0].create("configmaps", {"metadata": {"name": "tally"}, "data": {"count": "0"}}, ns)
    applied_rvs: list[str] = []
    attempts = conflicts = 0

    async def writer(i: int, api: ApiClient) -> None:
        nonlocal attempts, conflicts
        for n in range(per_writer):
            while True:
                current = await api.get("configmaps", "tally", ns)
                assert f"w{i}-{n}" not in current["data"], "a change was applied twice"
                current["data"][f"w{i}-{n}"] = "1"
                current["data"]["count"] = str(int(current["data"]["count"]) + 1)
                attempts += 1
                try:
                    stored = await api.update("configmaps", current, ns)
                except StatusError as exc:
                    assert (exc.code, exc.reason) == (409, "Conflict"), exc
                    conflicts += 1
                    continue
                applied_rvs.append(stored["metadata"]["resourceVersion"])
                break

    total = CLIENTS * per_writer
    watching = asyncio.create_task(watch_modifications(
        clients[0], ns, "tally", created["metadata"]["resourceVersion"], total))
    await asyncio.gather(*(writer(i, c) for i, c in enumerate(clients)))

    assert attempts == total + conflicts
    final = await clients[0].get("configmaps", "tally", ns)
    assert final["data"]["count"] == str(total)
    assert set(final["data"]) - {"count"} == {f"w{i}-{n}" for i in range(CLIENTS) for n in range(per_writer)}
    assert len(set(applied_rvs)) == total
    events = await asyncio.wait_for(watching, 30)
    assert [e["data"]["count"] for e in events] == [str(n) for n in range(1, total + 1)]
    assert sorted(int(rv) for rv in applied_rvs) == [int(e["metadata"]["resourceVersion"]) for e in events]


async def test_concurrent_patches_without_resource_version_all_land(clients, namespace):
    """A patch carries no resourceVersion: the server retries its own races, every patch lands."""
    ns, per_writer = namespace, 4
    await clients[0].create("configmaps", {"metadata": {"name": "patched"}, "data": {}}, ns)
    outcomes: list[str] = []

    async def writer(i: int, api: ApiClient) -> None:
        for n in range(per_writer):
            kind = ("merge", "strategic", "json")[(i + n) % 3]
            body = [{"op": "add", "path": f"/data/w{i}-{n}", "value": kind}] if kind == "json" \
                else {"data": {f"w{i}-{n}": kind}}
            await api.patch("configmaps", "patched", body, ns, patch_type=kind)
            outcomes.append(f"w{i}-{n}")

    await asyncio.gather(*(writer(i, c) for i, c in enumerate(clients)))
    final = await clients[0].get("configmaps", "patched", ns)
    assert sorted(final["data"]) == sorted(outcomes)
    assert len(outcomes) == CLIENTS * per_writer


async def test_concurrent_service_creates_through_two_apiservers_never_share_an_ip_or_port(
        apiserver, clients, namespace, tmp_path):
    other = ApiserverProcess(etcd=apiserver.etcd, log_path=tmp_path / "second-apiserver.log").start()
    try:
        config = load_kubeconfig(other.kubeconfig(tmp_path / "other.kubeconfig"))
        others = [ApiClient(config, user_agent=f"peer-writer-{i}") for i in range(CLIENTS // 2)]
        writers = clients[: CLIENTS // 2] + others  # half through each apiserver

        async def make(i: int, api: ApiClient) -> list[dict]:
            made = []
            for n in range(2):
                svc = {"metadata": {"name": f"svc-{i}-{n}"},
                       "spec": {"type": "NodePort" if n else "ClusterIP", "selector": {"app": "x"},
                                "ports": [{"port": 80}]}}
                made.append(await api.create("services", svc, namespace))
            return made

        results = await asyncio.gather(*(make(i, c) for i, c in enumerate(writers)))
        for c in others:
            await c.close()
    finally:
        other.stop()
    made = [svc for batch in results for svc in batch]
    assert len(made) == 2 * CLIENTS
    ips = [s["spec"]["clusterIP"] for s in made]
    assert len(set(ips)) == len(ips)
    ports = [s["spec"]["ports"][0]["nodePort"] for s in made if s["spec"]["type"] == "NodePort"]
    assert len(ports) == CLIENTS and len(set(ports)) == len(ports)
    # And across the whole cluster (other tests' Services included) no IP is held twice.
    everything = await clients[0].list("services")
    all_ips = [s["spec"].get("clusterIP") for s in everything["items"] if s["spec"].get("clusterIP") not in
               (None, "", "None")]
    assert len(all_ips) == len(set(all_ips))
    assert set(ips) <= set(all_ips)
    # Give the addresses back: the session's Service range (a /24) is shared by every test.
    await clients[0].delete_collection("services", namespace)
    assert (await clients[0].list("services", namespace))["items"] == []
