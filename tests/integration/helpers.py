"""Small helpers the integration tests share."""

from __future__ import annotations

import asyncio

from labkit.api.errors import StatusError
from labkit.client.api import ApiClient


async def ensure_namespace(api: ApiClient, name: str) -> None:
    try:
        await api.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    except StatusError as exc:
        if exc.reason != "AlreadyExists":
            raise


async def eventually(check, timeout: float = 60.0):
    """Poll the async ``check`` until it returns something true; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert loop.time() < deadline, f"not reached within {timeout:.0f}s: {check.__doc__ or check}"
        await asyncio.sleep(0.2)
