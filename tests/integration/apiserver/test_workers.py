"""``labkit-apiserver --workers=2``: two whole apiservers on one port and one etcd, under one parent.

The kernel spreads connections over the workers (SO_REUSEPORT), so each test
below talks to both through several connections. What must hold is what holds
for two masters: no update is lost, no Service IP or NodePort is handed out
twice, a write through one worker reaches watches on the other, and every
request is audited once in the one log. The parent starts a worker again when
it dies, ends the apiserver when a worker cannot start, and stops every worker
on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import pytest
import yaml

from labkit.localplane import ApiserverProcess, EtcdProcess, free_port
from tests.integration.apiserver.test_kubectl import Kubectl

pytestmark = pytest.mark.integration

CONNECTIONS = 16  # both workers get some: all on one has odds 2 / 2**16


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    base = tmp_path_factory.mktemp("workers")
    etcd = EtcdProcess(data_dir=base / "etcd").start()
    server = ApiserverProcess(etcd=etcd, log_path=base / "apiserver.log",
                              extra_args=("--workers=2", f"--audit-log-path={base / 'audit.log'}",
                                          "--audit-log-maxsize=1")).start()
    yield server, base
    server.stop()
    etcd.stop()


def children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]


def established_ports(pid: int, server_port: int) -> int:
    """How many of the apiserver's connections on ``server_port`` process ``pid`` holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
            if local_port == server_port and state == "01" and inode in inodes:  # 01: ESTABLISHED
                count += 1
    return count


class Connections:
    """``CONNECTIONS`` HTTP connections of their own (one session each): the kernel places each on a worker."""

    def __init__(self, url: str):
        self.sessions = [aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=1),
                                               timeout=aiohttp.ClientTimeout(total=60))
                         for _ in range(CONNECTIONS)]

    async def __aenter__(self) -> list[aiohttp.ClientSession]:
        return self.sessions

    async def __aexit__(self, *exc) -> None:
        for session in self.sessions:
            await session.close()


def configmap(name: str, data: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data or {}}


async def namespace(http: aiohttp.ClientSession) -> str:
    name = f"w-{uuid.uuid4().hex[:8]}"
    async with http.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": name}}) as resp:
        assert resp.status == 201, await resp.text()
    return name


async def test_both_workers_serve_connections_on_the_one_port(plane):
    server, _ = plane
    workers = children(server.proc.pid)
    assert len(workers) == 2
    async with Connections(server.url) as sessions:
        for http in sessions:
            async with http.get("/api/v1/namespaces/default") as resp:
                assert resp.status == 200
        held = {pid: established_ports(pid, server.insecure_port) for pid in workers}
    assert sum(held.values()) == CONNECTIONS and all(held.values()), held
    assert established_ports(server.proc.pid, server.insecure_port) == 0  # the parent only supervises


async def test_a_write_through_one_worker_reaches_watches_on_both(plane):
    server, _ = plane
    async with Connections(server.url) as sessions:
        ns = await namespace(sessions[0])
        async with sessions[0].get(f"/api/v1/namespaces/{ns}/configmaps") as resp:
            rv = (await resp.json())["metadata"]["resourceVersion"]

        async def first_event(http: aiohttp.ClientSession) -> dict:
            async with http.get(f"/api/v1/namespaces/{ns}/configmaps",
                                params={"watch": "1", "resourceVersion": rv, "timeoutSeconds": "30"}) as resp:
                return json.loads(await resp.content.readline())

        watchers = [asyncio.create_task(first_event(http)) for http in sessions[1:]]
        await asyncio.sleep(0.5)  # the watches are open on both workers
        async with sessions[0].post(f"/api/v1/namespaces/{ns}/configmaps", json=configmap("news")) as resp:
            assert resp.status == 201
        events = await asyncio.wait_for(asyncio.gather(*watchers), 30)
    assert {(e["type"], e["object"]["metadata"]["name"]) for e in events} == {("ADDED", "news")}


async def test_concurrent_updates_through_both_workers_are_each_applied_once_or_refused(plane):
    server, _ = plane
    async with Connections(server.url) as sessions:
        ns = await namespace(sessions[0])
        path = f"/api/v1/namespaces/{ns}/configmaps/counter"
        async with sessions[0].post(f"/api/v1/namespaces/{ns}/configmaps",
                                    json=configmap("counter", {"n": "0"})) as resp:
            assert resp.status == 201
        applied = conflicts = 0

        async def increment(http: aiohttp.ClientSession) -> None:
            nonlocal applied, conflicts
            for _ in range(10):
                async with http.get(path) as resp:
                    current = await resp.json()
                current["data"]["n"] = str(int(current["data"]["n"]) + 1)
                async with http.put(path, json=current) as resp:
                    if resp.status == 200:
                        applied += 1
                    else:
                        assert resp.status == 409, await resp.text()
                        conflicts += 1

        await asyncio.gather(*(increment(http) for http in sessions))
        async with sessions[0].get(path) as resp:
            final = await resp.json()
    assert applied + conflicts == 10 * CONNECTIONS
    assert int(final["data"]["n"]) == applied  # no update lost, none applied twice
    assert conflicts > 0  # the workers did race


async def test_services_made_through_both_workers_never_share_an_ip_or_a_node_port(plane):
    server, _ = plane
    async with Connections(server.url) as sessions:
        ns = await namespace(sessions[0])

        async def make(http: aiohttp.ClientSession, i: int) -> dict:
            service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"s{i}"},
                       "spec": {"type": "NodePort", "ports": [{"port": 80}], "selector": {"app": "x"}}}
            async with http.post(f"/api/v1/namespaces/{ns}/services", json=service) as resp:
                assert resp.status == 201, await resp.text()
                return await resp.json()

        made = await asyncio.gather(*(make(sessions[i % CONNECTIONS], i) for i in range(3 * CONNECTIONS)))
    ips = [s["spec"]["clusterIP"] for s in made]
    ports = [s["spec"]["ports"][0]["nodePort"] for s in made]
    assert len(set(ips)) == len(ips) and len(set(ports)) == len(ports)


async def test_every_request_is_audited_once_in_the_shared_log(plane):
    server, base = plane
    marker = uuid.uuid4().hex
    async with Connections(server.url) as sessions:
        await asyncio.gather(*(http.get(f"/api/v1/namespaces/default/configmaps/{marker}-{i}")
                               for i, http in enumerate(sessions * 4)))
    await asyncio.sleep(0.2)
    logged = []
    for path in base.glob("audit*.log"):
        for line in path.read_text().splitlines():
            event = json.loads(line)  # two workers' lines never mix
            if marker in event["requestURI"]:
                logged.append(event)
    names = sorted(e["requestURI"].rsplit("/", 1)[1] for e in logged if e["stage"] == "ResponseComplete")
    assert names == sorted(f"{marker}-{i}" for i in range(4 * CONNECTIONS))
    assert len({e["auditID"] for e in logged if e["stage"] == "ResponseComplete"}) == 4 * CONNECTIONS


def test_kubectl_applies_and_reads_through_the_workers(plane, tmp_path):
    server, _ = plane
    ns = f"k-{uuid.uuid4().hex[:8]}"
    kubectl = Kubectl(server.kubeconfig(tmp_path / "kubeconfig"), ns, tmp_path / "home")
    kubectl("create", "namespace", ns, namespaced=False)
    manifest = yaml.safe_dump({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                               "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                                        "template": {"metadata": {"labels": {"app": "web"}},
                                                     "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
    kubectl("apply", "-f", "-", input=manifest)
    assert "unchanged" in kubectl("apply", "-f", "-", input=manifest)
    kubectl("scale", "deployment/web", "--replicas=3")
    assert kubectl.json("get", "deployment", "web")["spec"]["replicas"] == 3


async def test_a_worker_killed_while_serving_is_started_again(plane):
    server, _ = plane
    before = children(server.proc.pid)
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = children(server.proc.pid)
        if len(now) == 2 and victim not in now:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail(f"workers after killing {victim}: {children(server.proc.pid)}")
    assert before[1] in now  # the other one served on meanwhile
    async with Connections(server.url) as sessions:
        for http in sessions:  # every connection is served, on the new worker too
            for attempt in range(100):
                async with http.get("/readyz") as resp:
                    if resp.status == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("a connection was not served after the restart")
    assert "was killed by SIGKILL while serving: starting it again" in server.log()


def test_sigterm_stops_every_worker(tmp_path):
    etcd = EtcdProcess(data_dir=tmp_path / "etcd").start()
    server = ApiserverProcess(etcd=etcd, log_path=tmp_path / "apiserver.log", extra_args=("--workers=3",)).start()
    try:
        workers = children(server.proc.pid)
        assert len(workers) == 3
        proc = server.proc
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        for pid in workers:
            assert not Path(f"/proc/{pid}").exists(), f"worker {pid} outlived its parent"
    finally:
        server.stop()
        etcd.stop()


def test_a_worker_that_cannot_start_ends_the_apiserver_with_its_message(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Loud}]\n")
    done = subprocess.run(
        [sys.executable, "-m", "labkit.apiserver", "--workers=2", "--etcd-servers=http://127.0.0.1:9",
         f"--insecure-port={free_port()}", "--secure-port=0", f"--audit-log-path={tmp_path / 'audit.log'}",
         f"--audit-policy-file={policy}"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Loud" in done.stderr and "before serving: stopping the apiserver" in done.stderr


def test_workers_must_be_a_whole_number_of_at_least_one():
    done = subprocess.run([sys.executable, "-m", "labkit.apiserver", "--workers=0", "--etcd-servers=http://x"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--workers: '0' is not a whole number of at least 1" in done.stderr
