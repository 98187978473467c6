"""OpenAPI v3 documents, generated from labkit/api/schema.

``GET /openapi/v3`` answers ``openapi_v3_index()``: one entry per group-version,
``{"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=<HEX>"}, ...}}``.
``GET /openapi/v3/api/v1`` (or ``/openapi/v3/apis/<group>/<version>``) answers
``openapi_v3_document(group, version)``: an OpenAPI 3.0 document whose
``components.schemas`` are named like upstream's (``io.k8s.api.core.v1.Pod``)
and whose ``paths`` list the group-version's operations with upstream's
operation ids, actions, GVK extensions and parameters.

What kubectl reads from them:
- ``--validate=strict`` (the default): kubectl looks for a PATCH operation of
  the object's GVK that lists the ``fieldValidation`` parameter; finding it, it
  sends ``fieldValidation=Strict`` and the server reports unknown fields.
- ``apply``: the component schema carrying the GVK, walked through ``$ref`` /
  ``allOf``, gives the ``x-kubernetes-patch-merge-key`` / ``-patch-strategy``
  of each list for the three-way strategic merge patch.
- ``explain``: descriptions, types and required fields.

Documents are built once, serialized once, and hashed (SHA-512 of the served
bytes, upper-case hex as upstream) so clients can cache them by URL.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

from labkit.api import registry
from labkit.api.registry import Resource
from labkit.api.schema import RESOURCE_KINDS, SUBRESOURCE_KINDS, list_schema_for, schema_for, structs_reachable
from labkit.api.schema import meta as m
from labkit.api.schema.types import Field, ListOf, MapOf, Primitive, Scalar, Struct

REF_PREFIX = "#/components/schemas/"

# Content types of ordinary answers, and of watch streams.
JSON_YAML_PROTOBUF = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
WATCH_TYPES = ("application/json", "application/json;stream=watch", "application/vnd.kubernetes.protobuf",
               "application/vnd.kubernetes.protobuf;stream=watch", "application/yaml")
PATCH_TYPES = ("application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json")


# -- schemas ---------------------------------------------------------------------

def _ref(name: str) -> dict[str, Any]:
    return {"$ref": REF_PREFIX + name}


def _type_schema(t: Any, in_list: bool = False) -> dict[str, Any]:
    """The schema of a value of type ``t`` (without description), as upstream writes it in v3.

    Named types are referenced through a one-element ``allOf`` (so a field can
    carry its own description next to the reference); list items carry the
    zero value as their default, as upstream's items do.
    """
    if isinstance(t, Struct):
        return {"allOf": [_ref(t.name)], "default": {}} if in_list else {"allOf": [_ref(t.name)]}
    if isinstance(t, Scalar):
        return {"allOf": [_ref(t.name)]}
    if isinstance(t, ListOf):
        return {"type": "array", "items": _type_schema(t.item, in_list=True)}
    if isinstance(t, MapOf):
        return {"type": "object", "additionalProperties": _type_schema(t.value, in_list=True)}
    if isinstance(t, Primitive):
        schema = t.as_openapi()
        if in_list:
            schema["default"] = {"string": "", "boolean": False, "integer": 0, "number": 0}[t.json_type]
        return schema
    raise TypeError(f"not a schema type: {t!r}")


def _field_schema(fld: Field) -> dict[str, Any]:
    schema = _type_schema(fld.type)
    if fld.description:
        schema["description"] = fld.description
    if fld.enum:
        schema["enum"] = list(fld.enum)
    if fld.list_type:
        schema["x-kubernetes-list-type"] = fld.list_type
    if fld.map_keys and fld.list_type == "map":
        schema["x-kubernetes-list-map-keys"] = list(fld.map_keys)
    if fld.map_type:
        schema["x-kubernetes-map-type"] = fld.map_type
    if fld.merge_key:
        schema["x-kubernetes-patch-merge-key"] = fld.merge_key
    if fld.patch_strategy:
        schema["x-kubernetes-patch-strategy"] = fld.patch_strategy
    return schema


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "kind": kind, "version": version}


def _all_served_gvks(kind: str) -> list[dict[str, str]]:
    """Meta types every group-version shares (DeleteOptions, WatchEvent), tagged with each of them."""
    gvs = list(registry.group_versions())
    for extra in (("autoscaling", "v1"),):
        if extra not in gvs:
            gvs.append(extra)
    return [_gvk(g, v, kind) for g, v in sorted(gvs)]


def struct_schema(s: Struct | Scalar) -> dict[str, Any]:
    """The component schema of one named type."""
    if isinstance(s, Scalar):
        return s.as_openapi()
    schema: dict[str, Any] = {"description": s.description, "type": "object"}
    if s.fields:
        schema["properties"] = {name: _field_schema(fld) for name, fld in s.fields.items()}
    required = s.required
    if required:
        schema["required"] = required
    if s.gvks:
        schema["x-kubernetes-group-version-kind"] = [_gvk(*gvk) for gvk in s.gvks]
    elif s in (m.DELETE_OPTIONS, m.WATCH_EVENT):
        schema["x-kubernetes-group-version-kind"] = _all_served_gvks(s.name.rsplit(".", 1)[1])
    if s.map_type:
        schema["x-kubernetes-map-type"] = s.map_type
    return schema


# -- operations ------------------------------------------------------------------

def _param(name: str, where: str, description: str, type_: str = "string", required: bool = False,
           unique: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": type_}
    if unique:
        schema["uniqueItems"] = True
    p: dict[str, Any] = {"name": name, "in": where, "description": description, "schema": schema}
    if required:
        p["required"] = True
    return p


PRETTY = _param("pretty", "query", "If 'true', the output is pretty printed.")
LIST_PARAMS = [
    _param("allowWatchBookmarks", "query", "Ask for BOOKMARK events in watches.", "boolean"),
    _param("continue", "query", "The continue token of the previous page of a limited list."),
    _param("fieldSelector", "query", "Restrict the objects by their fields, e.g. spec.nodeName=worker-1."),
    _param("labelSelector", "query", "Restrict the objects by their labels, e.g. app=web,tier!=db."),
    _param("limit", "query", "Maximum number of objects in a page (a continue token gives the rest).", "integer"),
    _param("resourceVersion", "query", "Where a list or watch starts from (unset: most recent; 0: any)."),
    _param("resourceVersionMatch", "query", "How resourceVersion applies to a list: Exact or NotOlderThan."),
    _param("sendInitialEvents", "query", "With watch: start with ADDED events for the current objects.", "boolean"),
    _param("timeoutSeconds", "query", "End the list or watch after this many seconds.", "integer"),
    _param("watch", "query", "Watch for changes and stream them as WatchEvents.", "boolean"),
]
DRY_RUN = _param("dryRun", "query", "All: process the request fully but persist nothing.")
FIELD_MANAGER = _param("fieldManager", "query", "Name of the actor making the change (managedFields).")
FIELD_VALIDATION = _param(
    "fieldValidation", "query",
    "What to do with unknown or duplicate fields: Ignore drops them, Warn drops them with a warning, "
    "Strict fails the request naming them.")
FORCE = _param("force", "query", "Apply patches: take ownership of conflicting fields.", "boolean")
WRITE_PARAMS = [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION]
DELETE_PARAMS = [
    DRY_RUN,
    _param("gracePeriodSeconds", "query", "Seconds before the object is deleted; 0 deletes now.", "integer"),
    _param("ignoreStoreReadErrorWithClusterBreakingPotential", "query",
           "Delete even an object that cannot be decoded.", "boolean"),
    _param("orphanDependents", "query", "Deprecated: use propagationPolicy.", "boolean"),
    _param("propagationPolicy", "query", "Orphan, Background or Foreground: what happens to dependents."),
]
LOG_PARAMS = [
    _param("container", "query", "The container to read the log of."),
    _param("follow", "query", "Stream the log as it grows.", "boolean"),
    _param("insecureSkipTLSVerifyBackend", "query", "Skip verifying the kubelet's certificate.", "boolean"),
    _param("limitBytes", "query", "Maximum bytes to return.", "integer"),
    _param("previous", "query", "The log of the previous run of the container.", "boolean"),
    _param("sinceSeconds", "query", "Only lines newer than this many seconds.", "integer"),
    _param("sinceTime", "query", "Only lines newer than this RFC 3339 time."),
    _param("tailLines", "query", "Only the last lines.", "integer"),
    _param("timestamps", "query", "Prefix every line with its RFC 3339 timestamp.", "boolean"),
]
EXEC_PARAMS = [
    _param("command", "query", "The command to run (one parameter per argument)."),
    _param("container", "query", "The container to run it in."),
    _param("stderr", "query", "Stream standard error.", "boolean"),
    _param("stdin", "query", "Stream standard input.", "boolean"),
    _param("stdout", "query", "Stream standard output.", "boolean"),
    _param("tty", "query", "Allocate a terminal.", "boolean"),
]


def _group_camel(group: str) -> str:
    """core, apps, rbacAuthorization, events: how upstream's operation ids and tags name a group."""
    if not group:
        return "core"
    words = group.removesuffix(".k8s.io").split(".")
    return words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:])


def _content(schema: dict[str, Any], types: tuple[str, ...]) -> dict[str, Any]:
    return {t: {"schema": schema} for t in types}


def _ok(schema: dict[str, Any], types: tuple[str, ...] = JSON_YAML_PROTOBUF, code: str = "200",
        description: str = "OK") -> dict[str, Any]:
    return {code: {"description": description, "content": _content(schema, types)}}


class _Operations:
    """Builds the operations of one group-version, upstream's way."""

    def __init__(self, group: str, version: str):
        self.group, self.version = group, version
        self.gv_camel = _group_camel(group)
        self.op_prefix = self.gv_camel[:1].upper() + self.gv_camel[1:] + version[:1].upper() + version[1:]
        self.tag = f"{self.gv_camel}_{version}"
        self.root = f"/api/{version}" if not group else f"/apis/{group}/{version}"
        self.paths: dict[str, dict[str, Any]] = {}

    def op(self, path: str, method: str, op_id: str, action: str, gvk: tuple[str, str, str] | None,
           description: str, responses: dict[str, Any], params: list[dict] | None = None,
           body: dict[str, Any] | None = None) -> None:
        operation: dict[str, Any] = {"tags": [self.tag], "description": description, "operationId": op_id}
        if params:
            operation["parameters"] = params
        if body is not None:
            operation["requestBody"] = body
        operation["responses"] = {**responses, "401": {"description": "Unauthorized"}}
        operation["x-kubernetes-action"] = action
        if gvk is not None:
            operation["x-kubernetes-group-version-kind"] = _gvk(*gvk)
        self.paths.setdefault(path, {})[method] = operation

    def path_params(self, path: str, params: list[dict]) -> None:
        self.paths.setdefault(path, {})["parameters"] = params

    def resource(self, r: Resource) -> None:
        kind_ref = _ref(schema_for(r.api_version, r.kind).name)
        list_struct = list_schema_for(r.api_version, r.kind)
        list_ref = _ref(list_struct.name)
        gvk = (r.group, r.version, r.kind)
        ns = "Namespaced" if r.namespaced else ""
        op = self.op_prefix
        base = f"{self.root}/namespaces/{{namespace}}/{r.plural}" if r.namespaced else f"{self.root}/{r.plural}"
        name_param = _param("name", "path", f"name of the {r.kind}", required=True)
        ns_param = _param("namespace", "path", "object name and auth scope, such as for teams and projects",
                          required=True)
        scope_params = [ns_param] if r.namespaced else []
        write_body = {"content": {"*/*": {"schema": kind_ref}}, "required": True}
        patch_body = {"content": {t: {"schema": _ref(m.PATCH.name)} for t in PATCH_TYPES}, "required": True}
        delete_body = {"content": {"*/*": {"schema": _ref(m.DELETE_OPTIONS.name)}}}
        status_ref = _ref(m.STATUS.name)
        verbs = set(r.verbs)

        # the collection
        if "list" in verbs:
            self.op(base, "get", f"list{op}{ns}{r.kind}", "list", gvk, f"list or watch objects of kind {r.kind}",
                    _ok(list_ref, WATCH_TYPES), LIST_PARAMS)
        if "create" in verbs:
            self.op(base, "post", f"create{op}{ns}{r.kind}", "post", gvk, f"create a {r.kind}",
                    {**_ok(kind_ref), **_ok(kind_ref, code="201", description="Created"),
                     **_ok(kind_ref, code="202", description="Accepted")}, WRITE_PARAMS, write_body)
        if "deletecollection" in verbs:
            self.op(base, "delete", f"delete{op}Collection{ns}{r.kind}", "deletecollection", gvk,
                    f"delete collection of {r.kind}", _ok(status_ref),
                    [p for p in DELETE_PARAMS + LIST_PARAMS if p["name"] not in ("allowWatchBookmarks", "watch")],
                    delete_body)
        self.path_params(base, scope_params + [PRETTY])

        # one object
        item = f"{base}/{{name}}"
        self.op(item, "get", f"read{op}{ns}{r.kind}", "get", gvk, f"read the specified {r.kind}", _ok(kind_ref))
        if "update" in verbs:
            self.op(item, "put", f"replace{op}{ns}{r.kind}", "put", gvk, f"replace the specified {r.kind}",
                    {**_ok(kind_ref), **_ok(kind_ref, code="201", description="Created")}, WRITE_PARAMS, write_body)
        if "patch" in verbs:
            self.op(item, "patch", f"patch{op}{ns}{r.kind}", "patch", gvk,
                    f"partially update the specified {r.kind}",
                    {**_ok(kind_ref), **_ok(kind_ref, code="201", description="Created")},
                    WRITE_PARAMS + [FORCE], patch_body)
        if "delete" in verbs:
            self.op(item, "delete", f"delete{op}{ns}{r.kind}", "delete", gvk, f"delete a {r.kind}",
                    {**_ok(status_ref), **_ok(status_ref, code="202", description="Accepted")},
                    DELETE_PARAMS, delete_body)
        self.path_params(item, [name_param] + scope_params + [PRETTY])

        # across namespaces, and the old watch paths
        if r.namespaced and "list" in verbs:
            every = f"{self.root}/{r.plural}"
            self.op(every, "get", f"list{op}{r.kind}ForAllNamespaces", "list", gvk,
                    f"list or watch objects of kind {r.kind}", _ok(list_ref, WATCH_TYPES))
            self.path_params(every, LIST_PARAMS + [PRETTY])
        if "watch" in verbs:
            event_ref = _ref(m.WATCH_EVENT.name)
            watch_base = (f"{self.root}/watch/namespaces/{{namespace}}/{r.plural}" if r.namespaced
                          else f"{self.root}/watch/{r.plural}")
            self.op(watch_base, "get", f"watch{op}{ns}{r.kind}List", "watchlist", gvk,
                    f"watch individual changes to a list of {r.kind}. deprecated: use the 'watch' parameter "
                    "with a list operation instead.", _ok(event_ref, WATCH_TYPES))
            self.path_params(watch_base, LIST_PARAMS + scope_params + [PRETTY])
            self.op(f"{watch_base}/{{name}}", "get", f"watch{op}{ns}{r.kind}", "watch", gvk,
                    f"watch changes to an object of kind {r.kind}. deprecated: use the 'watch' parameter with "
                    "a list operation instead, filtered to a single item with the 'fieldSelector' parameter.",
                    _ok(event_ref, WATCH_TYPES))
            self.path_params(f"{watch_base}/{{name}}", LIST_PARAMS + [name_param] + scope_params + [PRETTY])
            if r.namespaced:
                watch_all = f"{self.root}/watch/{r.plural}"
                self.op(watch_all, "get", f"watch{op}{r.kind}ListForAllNamespaces", "watchlist", gvk,
                        f"watch individual changes to a list of {r.kind}. deprecated: use the 'watch' parameter "
                        "with a list operation instead.", _ok(event_ref, WATCH_TYPES))
                self.path_params(watch_all, LIST_PARAMS + [PRETTY])

        for sub in r.subresources:
            self.subresource(r, sub, item, name_param, scope_params, gvk, kind_ref, write_body, patch_body)

    def subresource(self, r: Resource, sub: str, item: str, name_param: dict, scope_params: list[dict],
                    gvk: tuple[str, str, str], kind_ref: dict, write_body: dict, patch_body: dict) -> None:
        op, ns = self.op_prefix, ("Namespaced" if r.namespaced else "")
        path = f"{item}/{sub}"
        title = sub[:1].upper() + sub[1:]
        params = [name_param] + scope_params + [PRETTY]
        if sub in ("status", "scale"):
            if sub == "scale":
                body_ref = _ref(SUBRESOURCE_KINDS[("autoscaling/v1", "Scale")].name)
                body_gvk = ("autoscaling", "v1", "Scale")
                body = {"content": {"*/*": {"schema": body_ref}}, "required": True}
            else:
                body_ref, body_gvk, body = kind_ref, gvk, write_body
            self.op(path, "get", f"read{op}{ns}{r.kind}{title}", "get", body_gvk,
                    f"read {sub} of the specified {r.kind}", _ok(body_ref))
            self.op(path, "put", f"replace{op}{ns}{r.kind}{title}", "put", body_gvk,
                    f"replace {sub} of the specified {r.kind}",
                    {**_ok(body_ref), **_ok(body_ref, code="201", description="Created")}, WRITE_PARAMS, body)
            self.op(path, "patch", f"patch{op}{ns}{r.kind}{title}", "patch", body_gvk,
                    f"partially update {sub} of the specified {r.kind}",
                    {**_ok(body_ref), **_ok(body_ref, code="201", description="Created")},
                    WRITE_PARAMS + [FORCE], patch_body)
        elif sub in ("binding", "eviction"):
            key = ("v1", "Binding") if sub == "binding" else ("policy/v1", "Eviction")
            body_struct = SUBRESOURCE_KINDS[key]
            g, v, k = body_struct.gvks[0]
            body_ref = _ref(body_struct.name)
            self.op(path, "post", f"create{op}{ns}{r.kind}{title}", "post", (g, v, k), f"create {sub} of a {r.kind}",
                    {**_ok(body_ref), **_ok(body_ref, code="201", description="Created"),
                     **_ok(body_ref, code="202", description="Accepted")},
                    WRITE_PARAMS, {"content": {"*/*": {"schema": body_ref}}, "required": True})
        elif sub == "log":
            self.op(path, "get", f"read{op}{ns}{r.kind}Log", "get", gvk, f"read log of the specified {r.kind}",
                    _ok({"type": "string"}, ("text/plain", "application/json", "application/yaml",
                                             "application/vnd.kubernetes.protobuf")), LOG_PARAMS)
        elif sub in ("exec", "attach"):
            options = ("", "v1", f"Pod{title}Options")
            for method in ("get", "post"):
                self.op(path, method, f"connect{op}{method.capitalize()}{ns}{r.kind}{title}", "connect", options,
                        f"connect {method.upper()} requests to {sub} of {r.kind}",
                        _ok({"type": "string"}, ("*/*",)), EXEC_PARAMS)
        else:
            return  # proxy, portforward, finalize, token: not described
        self.paths[path]["parameters"] = params


# -- documents -------------------------------------------------------------------

def _document(group: str, version: str) -> dict[str, Any] | None:
    resources = registry.resources_in(group, version)
    if not resources:
        return None
    ops = _Operations(group, version)
    roots: list[Struct] = []
    for r in resources:
        ops.resource(r)
        roots.append(schema_for(r.api_version, r.kind))
        roots.append(list_schema_for(r.api_version, r.kind))
        for sub, key in (("scale", ("autoscaling/v1", "Scale")), ("binding", ("v1", "Binding")),
                         ("eviction", ("policy/v1", "Eviction"))):
            if sub in r.subresources:
                roots.append(SUBRESOURCE_KINDS[key])
    roots += [m.DELETE_OPTIONS, m.STATUS, m.WATCH_EVENT, m.PATCH]
    named = structs_reachable(roots)
    schemas = {name: struct_schema(named[name]) for name in sorted(named)}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": dict(sorted(ops.paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication",
                                                "name": "authorization", "in": "header"}},
        },
    }


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


@lru_cache(maxsize=None)
def openapi_v3_document_bytes(group: str, version: str) -> bytes | None:
    """The served bytes of one group-version's document (computed once)."""
    doc = _document(group, version)
    return None if doc is None else json.dumps(doc, separators=(",", ":")).encode()


def openapi_v3_hash(group: str, version: str) -> str | None:
    """SHA-512 of the served document, upper-case hex (the ``?hash=`` clients cache by)."""
    body = openapi_v3_document_bytes(group, version)
    return None if body is None else hashlib.sha512(body).hexdigest().upper()


def openapi_v3_document(group: str, version: str) -> dict[str, Any] | None:
    """The OpenAPI v3 document of ``group``/``version`` ("" for core), or None if not served."""
    body = openapi_v3_document_bytes(group, version)
    return None if body is None else json.loads(body)


@lru_cache(maxsize=None)
def _index() -> str:
    paths = {}
    for group, version in registry.group_versions():
        key = _gv_path(group, version)
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={openapi_v3_hash(group, version)}"}
    return json.dumps({"paths": paths}, separators=(",", ":"))


def openapi_v3_index() -> dict[str, Any]:
    """The body of ``GET /openapi/v3``."""
    return json.loads(_index())


def group_version_of_path(path: str) -> tuple[str, str] | None:
    """``api/v1`` -> ("", "v1"); ``apis/apps/v1`` -> ("apps", "v1"); anything else None."""
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "api":
        return "", parts[1]
    if len(parts) == 3 and parts[0] == "apis":
        return parts[1], parts[2]
    return None
