"""Fixtures for the client tests: an API client on the real apiserver, a fresh namespace."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from labkit.api.errors import StatusError
from labkit.client.api import ApiClient
from labkit.client.kubeconfig import load_kubeconfig


def server_url(apiserver) -> str:
    return getattr(apiserver, "url", None) or f"http://127.0.0.1:{apiserver.insecure_port}"


@pytest.fixture
def kubeconfig_path(apiserver, tmp_path) -> Path:
    """A kubeconfig for the apiserver's plain-http loopback port, as the components get one."""
    path = tmp_path / "client.kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "local",
        "clusters": [{"name": "local", "cluster": {"server": server_url(apiserver)}}],
        "users": [{"name": "admin", "user": {}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "admin"}}],
    }))
    return path


@pytest.fixture
async def api(kubeconfig_path):
    client = ApiClient(load_kubeconfig(kubeconfig_path), user_agent="labkit-tests")
    yield client
    await client.close()


async def ensure_namespace(api: ApiClient, name: str) -> None:
    try:
        await api.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    except StatusError as exc:
        if exc.reason != "AlreadyExists":
            raise


@pytest.fixture
async def namespace(api) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    await ensure_namespace(api, name)
    return name


@pytest.fixture
def compact_etcd(apiserver):
    """Compact etcd's history up to now: every older resourceVersion becomes 410 Expired."""
    def compact() -> int:
        env = {**os.environ, "ETCDCTL_API": "3"}
        status = subprocess.run(["etcdctl", f"--endpoints={apiserver.etcd.endpoint}", "endpoint", "status", "-w", "json"],
                                check=True, capture_output=True, text=True, env=env).stdout
        revision = int(json.loads(status)[0]["Status"]["header"]["revision"])
        subprocess.run(["etcdctl", f"--endpoints={apiserver.etcd.endpoint}", "compact", str(revision)],
                       check=True, capture_output=True, env=env)
        return revision
    return compact
