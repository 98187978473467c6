"""The apiserver's HTTP side: URLs to registry calls, bodies in, JSON out.

A request travels::

    URL  /apis/apps/v1/namespaces/web/deployments/api/scale?dryRun=All
         -> RequestInfo(group=apps, version=v1, namespace=web, resource=deployments, name=api, sub=scale)
    verb  GET -> get | list | watch (?watch=1);  POST -> create;  PUT -> update;
          PATCH -> patch;  DELETE -> delete | deletecollection
    body  JSON or YAML, at most 3 MiB
    answer  JSON; or a meta.k8s.io Table when kubectl asks for one (``kubectl get``);
            a stream of newline-delimited WatchEvents for a watch;
            a Status object for every refusal.

Everything about objects themselves happens in rest.py (the registry).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import re
import time
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from labkit.api import errors, nesting, registry
from labkit.api.apply import APPLY_PATCH
from labkit.api.errors import Cause, StatusError
from labkit.api.patch import JSON_PATCH, PATCH_TYPES
from labkit.api.registry import Resource
from labkit.apiserver import codec, discovery, kubelet_proxy, openapi, openapi_v2, tables
from labkit.apiserver.etcd import EtcdUnavailable, RequestTooLarge
from labkit.apiserver.rest import DeleteOptions, Options, Registry
from labkit.apiserver.storage import ListResult

log = logging.getLogger("labkit.apiserver")

MAX_BODY_BYTES = 3 * 1024 * 1024  # upstream's limit on a request body
VERSION = {"major": "1", "minor": "37", "gitVersion": "v1.37.0-labkit", "gitCommit": "labkit",
           "gitTreeState": "clean", "buildDate": "2026-11-22T00:00:00Z", "goVersion": "python",
           "compiler": "cpython", "platform": "linux/amd64", "emulationMajor": "1", "emulationMinor": "37",
           "minCompatibilityMajor": "1", "minCompatibilityMinor": "36"}

JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"
# Namespace subresources (``/api/v1/namespaces/NAME/status``), not namespaced resources.
NAMESPACE_SUBRESOURCES = ("status", "finalize")
# Subresources a kubelet serves: the apiserver forwards them (kubelet_proxy.py).
KUBELET_SUBRESOURCES = ("log", "exec", "attach")


@dataclass(frozen=True)
class RequestInfo:
    resource: Resource
    namespace: str | None
    name: str | None
    subresource: str | None


@functools.lru_cache(maxsize=4096)  # the same URLs come again and again (and the auth gate parses them too)
def parse_path(path: str) -> RequestInfo:
    """``/api/v1/namespaces/ns/pods/name/status`` -> RequestInfo, or 404 when nothing is served there."""
    parts = [p for p in path.split("/") if p != ""]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise errors.path_not_found()
    namespace = None
    if len(rest) >= 2 and rest[0] == "namespaces" and not (len(rest) == 3 and rest[2] in NAMESPACE_SUBRESOURCES):
        if len(rest) > 2:
            namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise errors.path_not_found()
    resource = registry.lookup(group, version, rest[0])
    if resource is None:
        raise errors.path_not_found()
    if namespace is not None and not resource.namespaced:
        raise errors.path_not_found()
    name = rest[1] if len(rest) >= 2 else None
    sub = rest[2] if len(rest) == 3 else None
    if sub is not None and sub not in resource.subresources:
        raise errors.path_not_found()
    return RequestInfo(resource, namespace, name, sub)


# -- content negotiation ------------------------------------------------------------

@dataclass(frozen=True)
class Accept:
    media: str  # application/json | application/yaml
    as_kind: str | None = None  # Table | PartialObjectMetadata | PartialObjectMetadataList | APIGroupDiscoveryList


@functools.lru_cache(maxsize=256)  # clients send the same few Accept headers on every request
def negotiate(header: str | None) -> Accept:
    """The first acceptable answer format in the Accept header, or 406."""
    if not header:
        return Accept(JSON)
    offered = []
    for item in header.split(","):
        fields = [f.strip() for f in item.split(";")]
        media = fields[0].lower()
        params = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
        offered.append(media)
        as_kind = params.get("as")
        if media in (JSON, "application/*", "*/*", YAML):
            if as_kind in ("Table", "PartialObjectMetadata", "PartialObjectMetadataList"):
                if params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
                    return Accept(JSON if media != YAML else YAML, as_kind)
                continue
            if as_kind == "APIGroupDiscoveryList":
                if params.get("g") == "apidiscovery.k8s.io" and params.get("v") == "v2":
                    return Accept(JSON, as_kind)
                continue
            if as_kind:
                continue
            return Accept(YAML if media == YAML else JSON)
    raise errors.not_acceptable(f"only the following media types are accepted: application/json, application/yaml "
                                f"(asked for: {', '.join(offered)})")


def render(data: Any, accept: Accept, status: int = 200, warnings: list[str] | None = None,
           content_type: str | None = None) -> web.Response:
    if accept.media == YAML:
        body = yaml.safe_dump(data, sort_keys=False).encode()
        ctype = YAML
    else:
        body = codec.dumps(data)
        ctype = content_type or JSON
    headers = {"Content-Type": ctype}
    resp = web.Response(body=body, status=status, headers=headers)
    for text in warnings or []:
        if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in text):
            continue  # a control character cannot be in a header: upstream's NewWarningHeader refuses it too
        # RFC 7234 warn-text is a quoted-string: escape \ and " (as upstream's NewWarningHeader).
        quoted = text.replace("\\", "\\\\").replace('"', '\\"')
        resp.headers.add("Warning", f'299 - "{quoted}"')
    return resp


def status_response(err: StatusError) -> web.Response:
    resp = web.Response(body=codec.dumps(err.to_status()), status=err.code,
                        headers={"Content-Type": JSON})
    if err.retry_after_seconds:
        resp.headers["Retry-After"] = str(err.retry_after_seconds)
    return resp


async def read_body(request: web.Request) -> bytes:
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise errors.too_large()
    if length is not None:
        return await request.read()  # the length is known and allowed: one read
    body = bytearray()  # chunked: count as it comes
    async for chunk in request.content.iter_chunked(65536):
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise errors.too_large()
    return bytes(body)


def decode_body(raw: bytes, content_type: str | None, resource: Resource | None = None,
                options: Options | None = None) -> Any:
    """A JSON or YAML request body as Python data; anything else is 415, a syntax error 400.

    With ``options`` (a create or update) the keys the body repeats are noted in
    ``options.duplicate_fields``: fieldValidation reports them with the unknown fields.
    """
    media = (content_type or JSON).split(";", 1)[0].strip().lower()
    if media in ("", "*/*"):
        media = JSON
    if media == PROTOBUF:  # kubectl's typed commands: decoded into the dict the same object as JSON gives
        from labkit.api import protobuf
        try:
            return protobuf.decode(raw)
        except protobuf.UnknownKind as exc:
            raise StatusError(415, "UnsupportedMediaType", str(exc)) from None
        except protobuf.ProtobufError as exc:
            raise errors.bad_request(f"the protobuf request body could not be decoded: {exc}") from None
    if media not in (JSON, YAML, "application/x-yaml", "text/yaml"):
        raise errors.unsupported_media_type(content_type or "")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.bad_request(f"the request body is not valid UTF-8: {exc}") from None
    what = resource.kind if resource else "the request body"
    if not text or text.isspace():  # (what not text.strip() says, without copying the body)
        raise errors.bad_request(f"the request body is empty: expected a {what}")
    try:
        data, repeated = codec.decode_request(text, yaml_body=media != JSON)
    except RecursionError:  # deeper than the parser goes: the client's mistake, not a 500
        raise nesting.too_deep() from None
    except (ValueError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if resource is not None:
            raise errors.bad_request(f'{resource.kind} in version "{resource.version}" cannot be handled as a '
                                     f"{resource.kind}: {reason}") from None
        raise errors.bad_request(f"the request body could not be decoded: {reason}") from None
    # Deeper than nesting.MAX_DEPTH would run out of frames later (copies, validation, encoding). A JSON body
    # with fewer brackets than that cannot be so deep, which spares the walk for nearly every request.
    if media != JSON or raw.count(b"{") + raw.count(b"[") > nesting.MAX_DEPTH:
        nesting.check_depth(data)
    if options is not None and repeated:
        options.duplicate_fields = repeated
        options.duplicates_kind = "json" if media == JSON else "yaml"
    return data


def repeated_patch_keys(raw: bytes, content_type: str) -> list[str]:
    """A patch body's repeated keys in upstream's words (a patch that does not parse is apply_patch's 400).

    Merge patches name the key (``duplicate field "paused"``); a JSON patch only
    the keys of its operations (``json patch duplicate field "path"``): what its
    values repeat is dropped unreported, as by upstream's json-patch library.
    """
    try:
        _, repeated = codec.decode_request(raw.decode("utf-8"), keys_only=True)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, too deep: apply_patch says which
        return []
    if content_type.split(";", 1)[0].strip().lower() == JSON_PATCH:
        return [f'json patch duplicate field "{key}"' for path, key in repeated
                if re.fullmatch(r"\[\d+\]\." + re.escape(key), path)]  # a key of an operation itself
    return [f'duplicate field "{key}"' for _, key in repeated]


def write_options(request: web.Request) -> Options:
    """The query parameters every write takes, and who writes (set by the auth gate)."""
    q = request.query
    dry = q.getall("dryRun", [])
    for value in dry:
        if value != "All":
            raise errors.bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
    fv = q.get("fieldValidation") or "Warn"
    if fv not in ("Strict", "Warn", "Ignore"):
        raise errors.bad_request(f'fieldValidation: Unsupported value: "{fv}": supported values: "Ignore", '
                                 '"Strict", "Warn"')
    manager = q.get("fieldManager")
    if manager is None:  # upstream: the product name of the User-Agent ("kubectl", "OpenAPI-Generator")
        manager = "".join(ch for ch in request.headers.get("User-Agent", "").split("/", 1)[0] if ch.isprintable())
        manager = manager[:128]
    else:
        causes = [Cause("fieldManager", "Too long: may not be more than 128 bytes", "FieldValueTooLong")] \
            if len(manager.encode()) > 128 else []
        causes += [Cause("fieldManager", f'Invalid value: "{manager}": invalid character U+{ord(ch):04X} '
                         f"(at position {i})") for i, ch in enumerate(manager) if not ch.isprintable()]
        if causes:
            options_kind = {"POST": "CreateOptions", "PUT": "UpdateOptions"}.get(request.method, "PatchOptions")
            raise errors.invalid(options_kind, "", causes, "meta.k8s.io")
    return Options(dry_run="All" in dry, field_validation=fv, user=request.get("user"), field_manager=manager)


def _int_param(request: web.Request, name: str, default: int = 0) -> int:
    value = request.query.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise errors.bad_request(f'{name}: Invalid value: "{value}": must be an integer') from None
    if not -2**63 <= number < 2**63:  # upstream parses these as int64 (etcd's gRPC would refuse it later)
        raise errors.bad_request(f'{name}: Invalid value: "{value}": value out of range (int64)')
    return number


def _bool_param(request: web.Request, name: str) -> bool | None:
    value = request.query.get(name)
    if value is None:
        return None
    return value.lower() in ("true", "1", "")


class ApiServer:
    """The aiohttp application around one Registry."""

    def __init__(self, reg: Registry, *, server_address: str = "127.0.0.1:6443", ready=None, gate=None,
                 extra_middlewares: tuple = ()):
        self.registry = reg
        self.server_address = server_address
        self.ready = ready  # async () -> list of (check name, error or None)
        # errors outermost (every refusal becomes a Status), then extras (audit), then the auth gate.
        middlewares = [self.errors_middleware, *extra_middlewares] + ([gate.middleware] if gate else [])
        self.app = web.Application(client_max_size=MAX_BODY_BYTES + 1024, middlewares=middlewares)
        # With and without the trailing slash: the official Python client asks for "/version/", "/api/"
        # and "/apis/", and upstream answers both spellings.
        for path in ("/version", "/version/"):
            self.app.router.add_get(path, self.version)
        for path in ("/healthz", "/livez", "/readyz"):
            self.app.router.add_get(path, self.health)
            self.app.router.add_get(path + "/{check}", self.health)
        for path in ("/api", "/api/"):
            self.app.router.add_get(path, self.core_discovery)
        for path in ("/apis", "/apis/"):
            self.app.router.add_get(path, self.groups_discovery)
        self.app.router.add_get("/openapi/v2", self.openapi_v2)
        self.app.router.add_get("/openapi/v3", self.openapi_index)
        self.app.router.add_get("/openapi/v3/{path:.*}", self.openapi_document)
        self.app.router.add_route("*", r"/{path:[\s\S]*}", self.api)  # any path, even with an encoded newline

    @web.middleware
    async def errors_middleware(self, request: web.Request, handler):
        started = time.monotonic()
        try:
            resp = await handler(request)
        except StatusError as err:
            resp = status_response(err)
        except RequestTooLarge as exc:
            resp = status_response(errors.too_large(f"the object is too large: {exc}"))
        except EtcdUnavailable as exc:
            log.warning("%s %s: %s", request.method, request.path_qs, exc)
            resp = status_response(errors.service_unavailable(f"the storage is unavailable: {exc}"))
        except web.HTTPException:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug: say so in a Status, log the traceback
            log.exception("%s %s failed", request.method, request.path_qs)
            resp = status_response(errors.internal_error(f"{type(exc).__name__}: {exc}"))
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s -> %s in %.1f ms", request.method, request.path_qs, getattr(resp, "status", "?"),
                      (time.monotonic() - started) * 1000)
        return resp

    # -- fixed endpoints ---------------------------------------------------------

    async def version(self, request: web.Request) -> web.Response:
        return render(VERSION, Accept(JSON))

    async def health(self, request: web.Request) -> web.Response:
        checks = [("ping", None)]
        if request.path.startswith("/readyz") or request.path.startswith("/healthz"):
            checks += await self.ready() if self.ready else []
        wanted = request.match_info.get("check")
        if wanted:
            checks = [c for c in checks if c[0] == wanted]
            if not checks:
                raise errors.path_not_found()
        failed = [c for c in checks if c[1]]
        if "verbose" in request.query or failed:
            lines = [f"[{'-' if err else '+'}]{name} {'failed: ' + err if err else 'ok'}" for name, err in checks]
            what = request.path.strip("/").split("/")[0]
            lines.append(f"{what} check {'failed' if failed else 'passed'}")
            return web.Response(text="\n".join(lines) + "\n", status=500 if failed else 200)
        return web.Response(text="ok")

    async def core_discovery(self, request: web.Request) -> web.Response:
        accept = negotiate(request.headers.get("Accept"))
        if accept.as_kind == "APIGroupDiscoveryList":
            return render(discovery.aggregated(core=True), accept, content_type=discovery.AGGREGATED_MEDIA_TYPE)
        return render(discovery.api_versions(self.server_address), accept)

    async def groups_discovery(self, request: web.Request) -> web.Response:
        accept = negotiate(request.headers.get("Accept"))
        if accept.as_kind == "APIGroupDiscoveryList":
            return render(discovery.aggregated(core=False), accept, content_type=discovery.AGGREGATED_MEDIA_TYPE)
        return render(discovery.api_group_list(), accept)

    async def openapi_v2(self, request: web.Request) -> web.Response:
        """Swagger 2.0 definitions (kubectl validates ``kind: List`` input with them), JSON or protobuf."""
        if openapi_v2.PROTOBUF_MEDIA_TYPE in request.headers.get("Accept", ""):
            return web.Response(body=openapi_v2.document_bytes_protobuf(),
                                headers={"Content-Type": openapi_v2.PROTOBUF_CONTENT_TYPE})
        return web.Response(body=openapi_v2.document_bytes_json(), headers={"Content-Type": JSON})

    async def openapi_index(self, request: web.Request) -> web.Response:
        return render(openapi.openapi_v3_index(), Accept(JSON))

    async def openapi_document(self, request: web.Request) -> web.Response:
        gv = openapi.group_version_of_path(request.match_info["path"])
        body = openapi.openapi_v3_document_bytes(*gv) if gv else None
        if body is None:
            raise errors.path_not_found()
        headers = {"Content-Type": JSON}
        if request.query.get("hash"):
            headers["Cache-Control"] = "public, immutable"
            headers["Expires"] = "Thu, 01 Jan 2099 00:00:00 GMT"
        return web.Response(body=body, headers=headers)

    # -- the resource URLs ---------------------------------------------------------

    async def api(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        parts = [p for p in path.split("/") if p]
        # Group and version documents: /api/v1, /apis/apps, /apis/apps/v1
        if parts[:1] == ["api"] and len(parts) == 2 or parts[:1] == ["apis"] and len(parts) in (2, 3):
            if request.method != "GET":
                raise errors.method_not_allowed()
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2] if len(parts) == 3 else None)
            doc = discovery.api_resource_list(group, version) if version else discovery.api_group(group)
            if doc is None:
                raise errors.path_not_found()
            return render(doc, negotiate(request.headers.get("Accept")))
        info = parse_path(path)
        method = request.method
        if info.subresource in KUBELET_SUBRESOURCES:
            return await self.kubelet_subresource(request, info)
        if method == "GET":
            accept = negotiate(request.headers.get("Accept"))
            if info.name is None:
                if _bool_param(request, "watch"):
                    return await self.watch(request, info, accept)
                return await self.list(request, info, accept)
            return await self.get(request, info, accept)
        if info.resource.namespaced and info.namespace is None:  # /api/v1/pods, all namespaces: list and watch only
            raise errors.method_not_allowed()
        if method == "POST":
            return await self.create(request, info)
        if method == "PUT":
            return await self.update(request, info)
        if method == "PATCH":
            return await self.patch(request, info)
        if method == "DELETE":
            return await self.delete(request, info)
        raise errors.method_not_allowed()

    def verb_allowed(self, info: RequestInfo, verb: str) -> None:
        if info.subresource is None and verb not in info.resource.verbs:
            raise errors.method_not_allowed()

    async def get(self, request: web.Request, info: RequestInfo, accept: Accept) -> web.Response:
        reg, r = self.registry, info.resource
        if info.subresource == "scale":
            return render(await reg.get_scale(r, info.namespace, info.name), accept)
        if info.subresource not in (None, "status"):
            raise errors.method_not_allowed()
        obj = await reg.get(r, info.namespace, info.name)
        if accept.as_kind == "Table":
            table = tables.to_table(r, [obj], include_object=request.query.get("includeObject", "Metadata"))
            table["metadata"] = {"resourceVersion": obj["metadata"].get("resourceVersion")}
            return render(table, accept)
        if accept.as_kind == "PartialObjectMetadata":
            return render(partial(obj), accept)
        return render(obj, accept)

    async def list(self, request: web.Request, info: RequestInfo, accept: Accept) -> web.Response:
        self.verb_allowed(info, "list")
        q = request.query
        result = await self.registry.list(
            info.resource, info.namespace, label_selector=q.get("labelSelector"),
            field_selector=q.get("fieldSelector"), limit=_int_param(request, "limit"),
            continue_token=q.get("continue") or None, resource_version=q.get("resourceVersion"),
            resource_version_match=q.get("resourceVersionMatch"))
        return render(self.list_body(info.resource, result, accept, request), accept)

    def list_body(self, r: Resource, result: ListResult, accept: Accept, request: web.Request) -> dict:
        meta: dict[str, Any] = {"resourceVersion": result.resource_version}
        if result.continue_token:
            meta["continue"] = result.continue_token
        if result.remaining is not None and result.continue_token:
            meta["remainingItemCount"] = result.remaining
        if accept.as_kind == "Table":
            table = tables.to_table(r, result.items, include_object=request.query.get("includeObject", "Metadata"))
            table["metadata"] = meta
            return table
        if accept.as_kind in ("PartialObjectMetadataList", "PartialObjectMetadata"):
            return {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
                    "items": [partial(o) for o in result.items]}
        return {"kind": r.list_kind, "apiVersion": r.api_version, "metadata": meta, "items": result.items}

    async def watch(self, request: web.Request, info: RequestInfo, accept: Accept) -> web.StreamResponse:
        self.verb_allowed(info, "watch")
        q = request.query
        send_initial = _bool_param(request, "sendInitialEvents")
        bookmarks = bool(_bool_param(request, "allowWatchBookmarks"))
        if send_initial is not None:
            if q.get("resourceVersionMatch") != "NotOlderThan" or not bookmarks:
                causes = []
                if q.get("resourceVersionMatch") != "NotOlderThan":
                    causes.append(Cause("resourceVersionMatch", "Forbidden: sendInitialEvents requires setting "
                                        "resourceVersionMatch to NotOlderThan", "FieldValueForbidden"))
                if not bookmarks:
                    causes.append(Cause("allowWatchBookmarks", "Forbidden: sendInitialEvents requires setting "
                                        "allowWatchBookmarks to true", "FieldValueForbidden"))
                raise errors.invalid("ListOptions", "", causes)
        elif q.get("resourceVersionMatch"):
            raise errors.bad_request("resourceVersionMatch is forbidden for watch unless sendInitialEvents is set")
        timeout = _int_param(request, "timeoutSeconds", 0) or random.randint(1800, 3600)
        events = self.registry.watch(info.resource, info.namespace, label_selector=q.get("labelSelector"),
                                     field_selector=q.get("fieldSelector"),
                                     resource_version=q.get("resourceVersion"),
                                     send_initial_events=send_initial, bookmarks=bookmarks)
        resp = web.StreamResponse(status=200, headers={"Content-Type": JSON + ";stream=watch",
                                                       "Cache-Control": "no-cache, private"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        table = accept.as_kind == "Table"
        include = request.query.get("includeObject", "Metadata")

        async def send(event_type: str, obj: dict) -> None:
            if table and event_type != "BOOKMARK" and event_type != "ERROR":
                obj = tables.to_table(info.resource, [obj], include_object=include)
            elif accept.as_kind in ("PartialObjectMetadata", "PartialObjectMetadataList") and event_type != "ERROR":
                obj = partial(obj)
            await resp.write(codec.dumps({"type": event_type, "object": obj}) + b"\n")

        try:
            async with asyncio.timeout(timeout):  # the server ends the watch after timeoutSeconds
                async for event_type, obj in events:
                    if event_type != "BOOKMARK" or bookmarks:
                        await send(event_type, obj)
        except TimeoutError:
            pass
        except StatusError as err:  # e.g. 410: the resourceVersion was compacted away
            await send("ERROR", err.to_status())
        except EtcdUnavailable as exc:
            # No etcd member took the watch back: end it, as upstream ends the watches of a cache
            # that lost etcd. The client watches again; while etcd stays away it is told 503.
            log.warning("%s %s: watch ended: %s", request.method, request.path_qs, exc)
        except (ConnectionResetError, asyncio.CancelledError):
            pass  # the client went away
        finally:
            await events.aclose()
        try:
            await resp.write_eof()
        except ConnectionResetError:
            pass
        return resp

    async def create(self, request: web.Request, info: RequestInfo) -> web.Response:
        reg, r = self.registry, info.resource
        accept = negotiate(request.headers.get("Accept"))  # before the write: a 406 must write nothing
        options = write_options(request)
        body = decode_body(await read_body(request), request.headers.get("Content-Type"), r, options)
        computed = reg.subresource_handlers.get((r.group, r.plural, info.subresource or "")) \
            if info.subresource else reg.virtual.get((r.group, r.plural))
        if computed is not None:  # reviews, token requests: answered, not stored
            answer = await (computed(info.namespace, info.name, body, options) if info.subresource
                            else computed(info.namespace, body, options))
            return render(answer, Accept(JSON), 201, options.warnings)
        if info.subresource == "binding":
            return render(await reg.bind(info.namespace, info.name, body, options), Accept(JSON), 201)
        if info.subresource == "eviction":
            return render(await reg.evict(info.namespace, info.name, body, options), Accept(JSON), 201)
        if info.name is not None or info.subresource is not None:
            raise errors.method_not_allowed()
        self.verb_allowed(info, "create")
        obj = await reg.create(r, info.namespace, body, options)
        return render(obj, accept, 201, options.warnings)

    async def update(self, request: web.Request, info: RequestInfo) -> web.Response:
        reg, r = self.registry, info.resource
        if info.name is None:
            raise errors.method_not_allowed()
        accept = negotiate(request.headers.get("Accept"))
        options = write_options(request)
        raw = await read_body(request)
        if info.subresource == "scale":
            body = decode_body(raw, request.headers.get("Content-Type"))
            obj = await reg.update_scale(r, info.namespace, info.name, None, body, None, options)
            return render(obj, Accept(JSON))
        body = decode_body(raw, request.headers.get("Content-Type"), r, options)
        self.verb_allowed(info, "update")
        obj = await reg.update(r, info.namespace, info.name, body, options, info.subresource)
        return render(obj, accept, 200, options.warnings)

    async def patch(self, request: web.Request, info: RequestInfo) -> web.Response:
        reg, r = self.registry, info.resource
        if info.name is None:
            raise errors.method_not_allowed()
        accept = negotiate(request.headers.get("Accept"))
        options = write_options(request)
        raw = await read_body(request)
        content_type = request.headers.get("Content-Type") or ""
        media = content_type.split(";", 1)[0].strip().lower()
        if media not in PATCH_TYPES + (APPLY_PATCH,):
            # Name the patch types (a plain application/json body is not one of them).
            raise StatusError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                              f"accepted media types include: {', '.join(PATCH_TYPES + (APPLY_PATCH,))}")
        if media == APPLY_PATCH:
            return await self.apply(request, info, raw, accept, options)
        if "force" in request.query:
            raise errors.invalid("PatchOptions", "", [Cause(
                "force", "Forbidden: may not be specified for non-apply patch", "FieldValueForbidden")], "meta.k8s.io")
        if info.subresource == "scale":
            obj = await reg.update_scale(r, info.namespace, info.name, raw, None, content_type, options)
            return render(obj, Accept(JSON))
        if info.subresource not in (None, "status"):
            raise errors.method_not_allowed()
        self.verb_allowed(info, "patch")
        if options.field_validation != "Ignore":
            options.duplicate_fields = repeated_patch_keys(raw, content_type)
            options.duplicates_kind = "patch"
        obj = await reg.patch(r, info.namespace, info.name, raw, content_type, options, info.subresource)
        return render(obj, accept, 200, options.warnings)

    async def apply(self, request: web.Request, info: RequestInfo, raw: bytes, accept: Accept,
                    options: Options) -> web.Response:
        """Server-side apply (PATCH with application/apply-patch+yaml): 201 when it created the object."""
        if info.subresource not in (None, "status", "scale"):
            raise errors.method_not_allowed()
        self.verb_allowed(info, "patch")
        if not request.query.get("fieldManager"):
            raise errors.invalid("PatchOptions", "", [Cause(
                "fieldManager", "Required value: is required for apply patch", "FieldValueRequired")], "meta.k8s.io")
        options.force = bool(_bool_param(request, "force"))
        body = decode_body(raw, YAML, info.resource, options)  # YAML, or JSON (YAML reads it too)
        obj, created = await self.registry.apply(info.resource, info.namespace, info.name, body, options,
                                                 info.subresource)
        return render(obj, accept, 201 if created else 200, options.warnings)

    async def delete(self, request: web.Request, info: RequestInfo) -> web.Response:
        reg, r = self.registry, info.resource
        if info.subresource is not None:
            raise errors.method_not_allowed()
        accept = negotiate(request.headers.get("Accept"))
        raw = await read_body(request)
        body = decode_body(raw, request.headers.get("Content-Type")) if raw.strip() else None
        options = DeleteOptions.from_body(body, dict(request.query))
        options.dry_run = options.dry_run or write_options(request).dry_run
        options.user = request.get("user")
        if info.name is None:
            self.verb_allowed(info, "deletecollection")
            q = request.query
            result = await reg.delete_collection(r, info.namespace, options, label_selector=q.get("labelSelector"),
                                                 field_selector=q.get("fieldSelector"))
            return render({"kind": r.list_kind, "apiVersion": r.api_version,
                           "metadata": {"resourceVersion": result.resource_version}, "items": result.items},
                          Accept(JSON))
        self.verb_allowed(info, "delete")
        obj, deleted_now = await reg.delete(r, info.namespace, info.name, options)
        if deleted_now and r.kind not in ("Pod", "Namespace", "Service"):
            meta = obj.get("metadata") or {}
            return render(errors.success_status({"name": info.name, "group": r.group, "kind": r.plural,
                                                 "uid": meta.get("uid")}), Accept(JSON))
        return render(obj, accept)

    async def kubelet_subresource(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        """pods/log, pods/exec, pods/attach ...: answered by the pod's kubelet, through labkit/apiserver/kubelet_proxy.py."""
        return await kubelet_proxy.serve(request, info, self.registry)


def partial(obj: dict) -> dict:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata") or {}}
