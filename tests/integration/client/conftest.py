"""Fixtures for the client tests (api, namespace and kubeconfig_path come from tests/integration/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def compact_etcd(apiserver):
    """Compact etcd's history up to now: every older resourceVersion becomes 410 Expired."""
    return apiserver.etcd.compact
