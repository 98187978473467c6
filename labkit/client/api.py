"""The one async API client every labkit component talks to the apiserver with.

It speaks the apiserver's REST dialect for *any* resource of
``labkit.api.registry`` (objects are plain JSON dicts, as in the apiserver)::

    async with ApiClient(load_config("admin.kubeconfig")) as api:
        pod = await api.get("pods", "web", namespace="default")
        await api.patch("deployments.apps", "web", {"spec": {"replicas": 3}}, namespace="default")
        async for event_type, obj in api.watch("pods", namespace="default", resource_version=rv):
            ...

URLs are built from the registry row: ``/api/v1/namespaces/<ns>/pods/<name>``
for the core group, ``/apis/<group>/<version>/...`` for the others, plus an
optional subresource (``status``, ``binding``, ``eviction``, ``scale``,
``finalize``). Every refusal of the server (a ``Status`` object) is raised as
``labkit.api.errors.StatusError`` so callers branch on ``.reason``/``.code``
exactly as controllers do upstream (``if err.reason == "Conflict": retry``).
A watch that starts from a compacted resourceVersion raises
:class:`WatchExpired` (410): the caller must list again.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp

from labkit.api import registry
from labkit.api.errors import StatusError
from labkit.api.registry import Resource
from labkit.client.kubeconfig import ConnectionConfig

PATCH_CONTENT_TYPES = {
    "strategic": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}


class WatchExpired(StatusError):
    """The resourceVersion a watch (or list) asked for is compacted away: list again (410)."""


def resolve(resource: Resource | str) -> Resource:
    """A registry row from ``Resource``, ``"pods"``, ``"deployments.apps"`` or ``"apps/v1/deployments"``."""
    if isinstance(resource, Resource):
        return resource
    if resource.count("/") >= 1:
        *gv, plural = resource.split("/")
        group, version = ("", gv[0]) if len(gv) == 1 else (gv[0], gv[1])
        found = registry.lookup(group, version, plural)
    else:
        plural, _, group = resource.partition(".")
        found = next((r for r in registry.RESOURCES if r.plural == plural and r.group == group), None)
        if found is None and not group:  # a short name ("po", "deploy") or a kind ("Pod")
            found = next((r for r in registry.RESOURCES
                          if plural in r.short_names or plural.lower() == r.singular), None)
    if found is None:
        raise ValueError(f"unknown resource {resource!r}: not in labkit.api.registry")
    return found


def resource_of(obj: dict[str, Any]) -> Resource:
    """The registry row of an object, from its apiVersion and kind."""
    found = registry.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
    if found is None:
        raise ValueError(f"no resource serves apiVersion={obj.get('apiVersion')!r} kind={obj.get('kind')!r}")
    return found


def object_key(obj: dict[str, Any]) -> str:
    """``namespace/name`` (or ``name`` for cluster-scoped objects): how caches and queues name objects."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else meta["name"]


def split_key(key: str) -> tuple[str | None, str]:
    """The inverse of :func:`object_key`: (namespace or None, name)."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else (None, ns)


def status_error_from(code: int, body: bytes | str, fallback_reason: str = "") -> StatusError:
    """A StatusError from a server reply (a Status object, or whatever the server said)."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    try:
        status = json.loads(text)
    except ValueError:
        status = None
    if isinstance(status, dict) and status.get("kind") == "Status":
        details = status.get("details") or {}
        cls = WatchExpired if status.get("code", code) == 410 else StatusError
        err = cls(
            int(status.get("code") or code), status.get("reason") or fallback_reason or "Unknown",
            status.get("message") or text.strip(),
            name=details.get("name"), group=details.get("group"), kind=details.get("kind"),
            retry_after_seconds=details.get("retryAfterSeconds"),
        )
        err.status = status  # the whole reply, for callers that want the causes as sent
        return err
    cls = WatchExpired if code == 410 else StatusError
    return cls(code, fallback_reason or "Unknown", f"the server answered {code}: {text.strip()[:500]}")


def _selector(value: str | dict[str, str] | None) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    return ",".join(f"{k}={v}" for k, v in value.items())


class ApiClient:
    """An aiohttp session to one apiserver, with a verb per REST call."""

    def __init__(self, config: ConnectionConfig, user_agent: str = "labkit", request_timeout: float = 60.0):
        self.config = config
        self.user_agent = user_agent
        self.request_timeout = request_timeout
        self._session: aiohttp.ClientSession | None = None

    # -- session ---------------------------------------------------------------

    async def __aenter__(self) -> "ApiClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self.config.ssl_context() if self.config.is_https else False,
                                             limit=100)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": self.user_agent})
        return self._session

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        token = self.config.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    # -- URLs --------------------------------------------------------------------

    def path(self, resource: Resource | str, name: str | None = None, namespace: str | None = None,
             subresource: str | None = None) -> str:
        """The URL path of a collection, an object or an object's subresource."""
        res = resolve(resource)
        base = "/api/v1" if not res.group else f"/apis/{res.group}/{res.version}"
        parts = [base]
        if res.namespaced and namespace:
            parts += ["namespaces", quote(namespace, safe="")]
        parts.append(res.plural)
        if name is not None:
            parts.append(quote(name, safe=""))
            if subresource:
                parts.append(subresource)
        elif subresource:
            raise ValueError("a subresource needs an object name")
        return "/".join(parts)

    # -- the raw request ---------------------------------------------------------

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                      body: Any = None, content_type: str = "application/json") -> Any:
        """One call; the decoded JSON reply, or StatusError for any non-2xx reply."""
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        query = {k: ("true" if v is True else "false" if v is False else str(v))
                 for k, v in (params or {}).items() if v is not None}
        timeout = aiohttp.ClientTimeout(total=self.request_timeout)
        async with self._session_now().request(
            method, self.config.server + path, params=query, data=data,
            headers=self._headers(content_type if data is not None else None), timeout=timeout,
            server_hostname=self.config.tls_server_name,
        ) as resp:
            raw = await resp.read()
            if resp.status >= 400:
                raise status_error_from(resp.status, raw)
            if not raw:
                return None
            try:
                return json.loads(raw)
            except ValueError:
                return raw.decode(errors="replace")

    # -- verbs -------------------------------------------------------------------

    async def get(self, resource: Resource | str, name: str, namespace: str | None = None,
                  subresource: str | None = None) -> dict[str, Any]:
        return await self.request("GET", self.path(resource, name, namespace, subresource))

    async def list(self, resource: Resource | str, namespace: str | None = None, *,
                   label_selector: str | dict[str, str] | None = None, field_selector: str | None = None,
                   limit: int | None = None, continue_: str | None = None,
                   resource_version: str | None = None) -> dict[str, Any]:
        """One page of a list (``metadata.continue`` names the next page)."""
        params = {
            "labelSelector": _selector(label_selector), "fieldSelector": field_selector,
            "limit": limit, "continue": continue_, "resourceVersion": resource_version,
        }
        return await self.request("GET", self.path(resource, None, namespace), params=params)

    async def list_all(self, resource: Resource | str, namespace: str | None = None, *,
                       label_selector: str | dict[str, str] | None = None, field_selector: str | None = None,
                       page_size: int = 500) -> dict[str, Any]:
        """Every item, fetched page by page; the list's resourceVersion is the first page's."""
        first = await self.list(resource, namespace, label_selector=label_selector,
                                field_selector=field_selector, limit=page_size)
        items = list(first.get("items") or [])
        token = (first.get("metadata") or {}).get("continue")
        while token:
            page = await self.list(resource, namespace, label_selector=label_selector,
                                   field_selector=field_selector, limit=page_size, continue_=token)
            items += page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
        first["items"] = items
        first.setdefault("metadata", {}).pop("continue", None)
        return first

    async def create(self, resource: Resource | str, obj: dict[str, Any], namespace: str | None = None,
                     subresource: str | None = None, name: str | None = None,
                     dry_run: bool = False) -> dict[str, Any]:
        """POST to the collection (or, with ``subresource``, to an object's subresource: binding, eviction)."""
        res = resolve(resource)
        namespace = namespace or (obj.get("metadata") or {}).get("namespace")
        if subresource:
            name = name or (obj.get("metadata") or {}).get("name")
        path = self.path(res, name if subresource else None, namespace, subresource)
        return await self.request("POST", path, body=obj, params={"dryRun": "All" if dry_run else None})

    async def update(self, resource: Resource | str, obj: dict[str, Any], namespace: str | None = None,
                     subresource: str | None = None) -> dict[str, Any]:
        """PUT the whole object; a stale ``metadata.resourceVersion`` answers 409 Conflict."""
        meta = obj.get("metadata") or {}
        namespace = namespace or meta.get("namespace")
        return await self.request("PUT", self.path(resource, meta["name"], namespace, subresource), body=obj)

    async def patch(self, resource: Resource | str, name: str, patch: Any, namespace: str | None = None,
                    subresource: str | None = None, patch_type: str = "merge",
                    field_manager: str | None = None, force: bool | None = None) -> dict[str, Any]:
        """PATCH with ``patch_type`` merge (RFC 7386), strategic, json (RFC 6902) or apply."""
        if patch_type not in PATCH_CONTENT_TYPES:
            raise ValueError(f"patch_type must be one of {sorted(PATCH_CONTENT_TYPES)}, got {patch_type!r}")
        return await self.request(
            "PATCH", self.path(resource, name, namespace, subresource), body=patch,
            content_type=PATCH_CONTENT_TYPES[patch_type],
            params={"fieldManager": field_manager, "force": force},
        )

    async def delete(self, resource: Resource | str, name: str, namespace: str | None = None, *,
                     propagation_policy: str | None = None, grace_period_seconds: int | None = None,
                     preconditions: dict[str, str] | None = None) -> dict[str, Any]:
        """DELETE with DeleteOptions: propagationPolicy Background|Foreground|Orphan, preconditions {uid, resourceVersion}."""
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if preconditions:
            options["preconditions"] = preconditions
        return await self.request("DELETE", self.path(resource, name, namespace), body=options)

    async def delete_collection(self, resource: Resource | str, namespace: str | None = None, *,
                                label_selector: str | dict[str, str] | None = None,
                                field_selector: str | None = None,
                                propagation_policy: str | None = None) -> dict[str, Any]:
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        params = {"labelSelector": _selector(label_selector), "fieldSelector": field_selector}
        return await self.request("DELETE", self.path(resource, None, namespace), params=params, body=options)

    async def watch(self, resource: Resource | str, namespace: str | None = None, *,
                    resource_version: str | None = None, label_selector: str | dict[str, str] | None = None,
                    field_selector: str | None = None, timeout_seconds: int | None = None,
                    allow_bookmarks: bool = False) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Yield (type, object) per WatchEvent: ADDED, MODIFIED, DELETED, BOOKMARK.

        The server ends the stream after ``timeout_seconds``; an ERROR event
        is raised as StatusError (WatchExpired for 410: the caller lists again).
        """
        params = {
            "watch": "true", "resourceVersion": resource_version,
            "labelSelector": _selector(label_selector), "fieldSelector": field_selector,
            "timeoutSeconds": timeout_seconds, "allowWatchBookmarks": True if allow_bookmarks else None,
        }
        query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items() if v is not None}
        # No total timeout: a watch lives as long as the server keeps it open.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.request_timeout)
        async with self._session_now().get(
            self.config.server + self.path(resource, None, namespace), params=query,
            headers=self._headers(), timeout=timeout, server_hostname=self.config.tls_server_name,
        ) as resp:
            if resp.status >= 400:
                raise status_error_from(resp.status, await resp.read())
            buffer = b""
            # Events are newline-delimited JSON; one event may span many chunks.
            async for chunk in resp.content.iter_any():
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield _watch_event(line)
            if buffer.strip():
                yield _watch_event(buffer)


def _watch_event(line: bytes) -> tuple[str, dict[str, Any]]:
    try:
        event = json.loads(line)
    except ValueError:
        raise StatusError(500, "InternalError", f"watch stream sent a line that is not JSON: {line[:200]!r}") from None
    event_type, obj = event.get("type"), event.get("object") or {}
    if event_type == "ERROR":
        raise status_error_from(int(obj.get("code") or 500), json.dumps(obj))
    return event_type, obj
