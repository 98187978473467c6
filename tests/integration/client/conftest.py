"""Fixtures for the client tests (api, namespace and kubeconfig_path come from tests/integration/conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest



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
