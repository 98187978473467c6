"""The HA exercise "lose etcd" seen from a running labkit-apiserver (its own etcd, stopped and started).

While etcd is down, requests are answered at once with a 503 Status and /readyz
fails; nothing hangs. When etcd is back on the same address, the apiserver
serves again without a restart, and its watch-fed admission copies follow etcd
again: a ResourceQuota created after the outage is enforced.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time

import aiohttp
import pytest

from labkit.apiserver.etcd import Etcd
from labkit.localplane import ApiserverProcess, EtcdProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def plane(tmp_path):
    if shutil.which("etcd") is None:
        pytest.fail("etcd is not installed: run `bash scripts/bootstrap.sh setup`")
    etcd = EtcdProcess(data_dir=tmp_path / "etcd").start()
    server = ApiserverProcess(etcd=etcd, log_path=tmp_path / "apiserver.log").start()
    yield etcd, server
    server.stop()
    etcd.stop()


def configmap(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}


async def test_the_apiserver_answers_503_while_etcd_is_down_and_serves_again_after(plane):
    etcd, server = plane
    async with aiohttp.ClientSession(server.url, timeout=aiohttp.ClientTimeout(total=30)) as http:
        async with http.post("/api/v1/namespaces/default/configmaps", json=configmap("before")) as resp:
            assert resp.status == 201

        etcd.proc.terminate()
        etcd.proc.wait(10)
        started = time.monotonic()
        async with http.get("/api/v1/namespaces/default/configmaps/before") as resp:
            status = await resp.json()
            assert resp.status == 503 and status["kind"] == "Status" and status["reason"] == "ServiceUnavailable"
            assert "the storage is unavailable" in status["message"]
        async with http.post("/api/v1/namespaces/default/configmaps", json=configmap("during")) as resp:
            assert resp.status == 503
        async with http.get("/readyz") as resp:
            assert resp.status == 500 and "etcd" in await resp.text()
        assert time.monotonic() - started < 10  # answered, not hung until a timeout

        etcd.start()  # again: same data directory, same ports (the fixture stops it)
        for _ in range(100):
            async with http.get("/api/v1/namespaces/default/configmaps/before") as resp:
                if resp.status == 200:
                    break
            await asyncio.sleep(0.2)
        else:
            pytest.fail(f"the apiserver did not serve again after etcd came back: {resp.status}")
        async with http.get("/api/v1/namespaces/default/configmaps/during") as resp:
            assert resp.status == 404  # refused during the outage, so never written

        # The watch-fed copies follow etcd again: a quota written now, by someone else (straight into
        # etcd, as another apiserver would), reaches this apiserver only through its watch.
        quota = {"apiVersion": "v1", "kind": "ResourceQuota",
                 "metadata": {"name": "two", "namespace": "default", "uid": "5b7f0a4e-0000-4000-8000-000000000002",
                              "creationTimestamp": "2026-12-01T00:00:00Z"},
                 "spec": {"hard": {"configmaps": "2"}}}
        other = Etcd([etcd.endpoint])
        try:
            ok, _, _ = await other.txn([], [Etcd.put(b"/registry/resourcequotas/default/two", json.dumps(quota).encode())])
            assert ok
        finally:
            await other.close()
        refused = None
        for i in range(50):  # 'before' is one; the quota allows one more
            async with http.post("/api/v1/namespaces/default/configmaps", json=configmap(f"after-{i}")) as resp:
                if resp.status == 403:
                    refused = await resp.json()
                    break
                assert resp.status == 201
            await asyncio.sleep(0.1)
        assert refused is not None and "exceeded quota: two" in refused["message"], refused
