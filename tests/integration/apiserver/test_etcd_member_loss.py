"""The HA exercise "lose an etcd member", seen from labkit-apiserver on a real 3-member etcd cluster.

The apiserver is given all three members (``--etcd-servers``), as on the lab's
masters, and talks to the first. When that member stops, the apiserver moves
to another and serves on: reads, writes and watches, with nothing lost. When
a second member stops, the cluster has no quorum: etcd cannot commit, and the
apiserver answers with a Status (5xx) rather than hanging, and /readyz fails.
When the members are back, it serves again without a restart. A member that
freezes (SIGSTOP: its host paused, a partition) is left as soon as a call
misses its deadline and a ping gets no answer.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time

import aiohttp
import pytest

from labkit.localplane import ApiserverProcess, etcd_cluster

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster(tmp_path):
    if shutil.which("etcd") is None:
        pytest.fail("etcd is not installed: run `bash scripts/bootstrap.sh setup`")
    members = etcd_cluster(tmp_path / "etcd")
    server = ApiserverProcess(etcd=members[0], log_path=tmp_path / "apiserver.log",
                              extra_args=(f"--etcd-servers={','.join(m.endpoint for m in members)}",))
    server.start()
    yield members, server
    server.stop()
    for member in members:
        member.stop()


def configmap(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": name}}


CMS = "/api/v1/namespaces/default/configmaps"


async def create_until_accepted(http: aiohttp.ClientSession, name: str, seconds: float = 30) -> tuple[dict, list]:
    """POST until 201; the answers before it (each must be a Status, never a hang)."""
    refused = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        async with http.post(CMS, json=configmap(name)) as resp:
            body = await resp.json()
            if resp.status == 201:
                return body, refused
            if resp.status == 409:  # the earlier attempt was written after all: etcd committed it
                async with http.get(f"{CMS}/{name}") as again:
                    return await again.json(), refused
            assert body["kind"] == "Status" and resp.status >= 500, body
            refused.append(resp.status)
        await asyncio.sleep(0.2)
    pytest.fail(f"{name} was not accepted in {seconds:.0f} s: {refused}")


async def test_losing_the_member_in_use_moves_reads_writes_and_watches_to_another(cluster):
    members, server = cluster
    async with aiohttp.ClientSession(server.url, timeout=aiohttp.ClientTimeout(total=60)) as http:
        async with http.post(CMS, json=configmap("before")) as resp:
            assert resp.status == 201
            rv = (await resp.json())["metadata"]["resourceVersion"]

        seen: list[tuple[str, str]] = []

        async def watch_from(version: str) -> str:
            """One watch until it ends; returns the last resourceVersion it delivered."""
            async with http.get(CMS, params={"watch": "1", "resourceVersion": version,
                                             "timeoutSeconds": "60"}) as resp:
                assert resp.status == 200
                async for line in resp.content:
                    event = json.loads(line)
                    assert event["type"] != "ERROR", event
                    seen.append((event["type"], event["object"]["metadata"]["name"]))
                    version = event["object"]["metadata"]["resourceVersion"]
                    if event["object"]["metadata"]["name"] == "after":
                        return version
            return version

        async def watch_as_a_client_does() -> None:
            """client-go's rule: when a watch ends, watch again from the last version seen."""
            version = rv
            while ("ADDED", "after") not in seen:
                version = await watch_from(version)

        watcher = asyncio.create_task(watch_as_a_client_does())
        await asyncio.sleep(0.5)
        members[0].stop()  # the member the apiserver talks to
        made, refused = await create_until_accepted(http, "after")
        await asyncio.wait_for(watcher, 30)

        async with http.get(f"{CMS}/before") as resp:
            assert resp.status == 200
        async with http.get(CMS) as resp:
            names = {item["metadata"]["name"] for item in (await resp.json())["items"]}
        assert {"before", "after"} <= names
        async with http.get("/readyz") as resp:
            assert resp.status == 200
    assert seen.count(("ADDED", "after")) == 1  # delivered once, not lost and not twice
    assert made["data"] == {"k": "after"}


async def test_without_quorum_writes_get_a_status_and_come_back_with_the_members(cluster):
    members, server = cluster
    async with aiohttp.ClientSession(server.url, timeout=aiohttp.ClientTimeout(total=60)) as http:
        members[1].stop()
        members[2].stop()  # one member of three: no quorum
        started = time.monotonic()
        async with http.post(CMS, json=configmap("lost")) as resp:
            status = await resp.json()
        assert resp.status >= 500 and status["kind"] == "Status" and "etcd" in status["message"], status
        assert time.monotonic() - started < 30  # an answer, not a hang
        async with http.get("/readyz") as resp:
            assert resp.status == 500

        members[1].start(wait=False)
        members[2].start()
        await create_until_accepted(http, "back")
        async with http.get("/readyz") as resp:
            assert resp.status == 200


async def test_a_frozen_member_in_use_is_left_for_another_within_seconds(cluster):
    """A member that stops answering without closing anything (its host paused, a partition):
    the calls that hit their deadline make the apiserver ping it, and no answer moves it on."""
    members, server = cluster
    async with aiohttp.ClientSession(server.url, timeout=aiohttp.ClientTimeout(total=60)) as http:
        async with http.post(CMS, json=configmap("before")) as resp:
            assert resp.status == 201
        members[0].proc.send_signal(signal.SIGSTOP)  # the member the apiserver talks to
        try:
            started = time.monotonic()
            made, refused = await create_until_accepted(http, "after", seconds=60)
            took = time.monotonic() - started
        finally:
            members[0].proc.send_signal(signal.SIGCONT)
    assert made["metadata"]["name"] == "after", (took, refused)
    # left because of the ping a call's deadline sent (10 + 3 s), not the periodic keepalive's (30 + 10 s)
    assert "no answer to a ping within 3 s, after a call got none in 10 s" in server.log()


def leader_of(members) -> int:
    """Index of the member etcd says leads (etcdctl endpoint status)."""
    out = subprocess.run(["etcdctl", f"--endpoints={','.join(m.endpoint for m in members)}", "endpoint", "status",
                          "-w", "json"], check=True, capture_output=True, text=True,
                         env={**os.environ, "ETCDCTL_API": "3"}).stdout
    statuses = json.loads(out)
    leader = statuses[0]["Status"]["leader"]
    return next(i for i, s in enumerate(statuses) if s["Status"]["header"]["member_id"] == leader)


async def test_writes_acknowledged_while_the_leader_is_lost_are_all_kept(cluster):
    """Ten writers go on while the leader stops: each create is answered 201, or a 5xx Status; none
    hangs; every 201 is in the store after the election, and the writers go on after it."""
    members, server = cluster
    leader = leader_of(members)
    acknowledged: list[str] = []
    refused: list[int] = []
    stop_writing = asyncio.Event()

    async def writer(http: aiohttp.ClientSession, w: int) -> None:
        n = 0
        while not stop_writing.is_set():
            name = f"w{w}-{n}"
            n += 1
            async with http.post(CMS, json=configmap(name)) as resp:
                if resp.status == 201:
                    acknowledged.append(name)
                else:
                    status = await resp.json()
                    assert resp.status >= 500 and status["kind"] == "Status", status
                    refused.append(resp.status)

    async with aiohttp.ClientSession(server.url, timeout=aiohttp.ClientTimeout(total=60)) as http:
        writers = [asyncio.create_task(writer(http, w)) for w in range(10)]
        await asyncio.sleep(1)
        before_loss = len(acknowledged)
        members[leader].stop()
        await asyncio.sleep(5)  # an election takes a second or two (etcd's default timings)
        after_loss = len(acknowledged)
        await asyncio.sleep(2)
        stop_writing.set()
        await asyncio.wait_for(asyncio.gather(*writers), 60)
        async with http.get(CMS) as resp:
            stored = {item["metadata"]["name"] for item in (await resp.json())["items"]}
    assert before_loss > 0 and len(acknowledged) > after_loss  # writing went on after the election
    assert set(acknowledged) <= stored, sorted(set(acknowledged) - stored)[:5]
