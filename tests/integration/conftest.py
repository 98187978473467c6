"""Fixtures of the integration tests: an API client on the session's real apiserver, a fresh namespace."""

from __future__ import annotations

import uuid
from pathlib import Path

import aiohttp
import pytest

from labkit.client.api import ApiClient
from labkit.client.kubeconfig import load_kubeconfig
from tests.integration.helpers import ensure_namespace


@pytest.fixture
def kubeconfig_path(apiserver, tmp_path) -> Path:
    """A kubeconfig for the apiserver's plain-http loopback port, as the components get one."""
    return apiserver.kubeconfig(tmp_path / "client.kubeconfig")


@pytest.fixture
async def http(apiserver):
    """Plain HTTP (aiohttp) to the apiserver's loopback port: for what the wire itself must show."""
    async with aiohttp.ClientSession(base_url=apiserver.url) as session:
        yield session


@pytest.fixture
async def api(kubeconfig_path):
    client = ApiClient(load_kubeconfig(kubeconfig_path), user_agent="labkit-tests")
    yield client
    await client.close()


@pytest.fixture
async def namespace(api) -> str:
    """A namespace of this test's own: tests share the apiserver, never their objects."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    await ensure_namespace(api, name)
    return name
