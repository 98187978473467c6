"""The schema against upstream's own published models, and the patch metadata the patch helper reads.

The official ``kubernetes`` Python client is generated from upstream's OpenAPI
spec: every model class lists upstream's field names (``attribute_map``) and
types (``openapi_types``). Every field labkit declares must exist there with the
same type, so a misspelt or mistyped field cannot hide in the schema.
"""

from __future__ import annotations

import kubernetes.client as k8s
import pytest

from labkit.api import registry
from labkit.api.schema import (RESOURCE_KINDS, SUBRESOURCE_KINDS, PatchMeta, field_type, list_schema_for,
                               patch_meta, schema_for, structs_reachable)
from labkit.api.schema.types import BYTES, INT_OR_STRING, QUANTITY, ListOf, MapOf, Primitive, Scalar, Struct

ALL_STRUCTS = structs_reachable(list(RESOURCE_KINDS.values()) + list(SUBRESOURCE_KINDS.values()))

_NOT_IN_CLIENT = {  # free-form or meta types the client models as plain objects
    "io.k8s.apimachinery.pkg.runtime.RawExtension", "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch", "io.k8s.apimachinery.pkg.apis.meta.v1.Table",
    "io.k8s.apimachinery.pkg.apis.meta.v1.TableRow", "io.k8s.apimachinery.pkg.apis.meta.v1.TableColumnDefinition",
}


def client_model(name: str):
    """The client's model of a definition: ``V1Container``, or ``CoreV1Event`` where groups share a name."""
    group, short = name.split(".")[-3], name.rsplit(".", 1)[1]
    prefixed = group.capitalize() + "V1" + short  # CoreV1Event, EventsV1Event, RbacV1Subject ...
    return getattr(k8s, prefixed, None) or getattr(k8s, "V1" + short)


def client_type(t) -> str:
    """How the client's ``openapi_types`` spells our type."""
    if isinstance(t, Struct):
        return "object" if t.name in _NOT_IN_CLIENT else client_model(t.name).__name__
    if t is INT_OR_STRING:
        return "object"
    if t is QUANTITY:
        return "str"
    if isinstance(t, Scalar):
        return "datetime"
    if isinstance(t, ListOf):
        return f"List[{client_type(t.item)}]"
    if isinstance(t, MapOf):
        return f"Dict[str, {client_type(t.value)}]"
    assert isinstance(t, Primitive)
    if t is BYTES:
        return "bytes"
    return {"string": "str", "integer": "int", "boolean": "bool", "number": "float"}[t.json_type]


STRUCTS = sorted((n, s) for n, s in ALL_STRUCTS.items() if isinstance(s, Struct) and n not in _NOT_IN_CLIENT)


@pytest.mark.parametrize("name,struct", STRUCTS, ids=[n for n, _ in STRUCTS])
def test_fields_are_upstreams(name, struct):
    model = client_model(name)
    upstream_fields = {json_name: model.openapi_types[attr] for attr, json_name in model.attribute_map.items()}
    ours = {field_name: client_type(fld.type) for field_name, fld in struct.fields.items()}
    unknown = sorted(set(ours) - set(upstream_fields))
    assert not unknown, f"{name}: fields upstream does not have: {unknown}"
    mistyped = {f: (t, upstream_fields[f]) for f, t in ours.items() if t != upstream_fields[f]}
    assert not mistyped, f"{name}: (ours, upstream's) types differ: {mistyped}"


def test_every_served_resource_has_a_schema_and_a_list_schema():
    for r in registry.RESOURCES:
        s = schema_for(r.api_version, r.kind)
        assert s is not None, r
        assert (r.group, r.version, r.kind) in s.gvks
        assert {"apiVersion", "kind", "metadata"} <= set(s.fields)
        lst = list_schema_for(r.api_version, r.kind)
        assert lst is not None and lst.gvks == ((r.group, r.version, r.kind + "List"),)


# Patch metadata as upstream publishes it (x-kubernetes-patch-strategy / -merge-key).
PATCH_META = [
    ("v1", "Pod", ("spec", "containers"), PatchMeta("merge", "name")),
    ("v1", "Pod", ("spec", "initContainers"), PatchMeta("merge", "name")),
    ("v1", "Pod", ("spec", "volumes"), PatchMeta("merge,retainKeys", "name")),
    ("v1", "Pod", ("spec", "containers", "env"), PatchMeta("merge", "name")),
    ("v1", "Pod", ("spec", "containers", "volumeMounts"), PatchMeta("merge", "mountPath")),
    ("v1", "Pod", ("spec", "containers", "ports"), PatchMeta("merge", "containerPort")),
    ("v1", "Pod", ("spec", "imagePullSecrets"), PatchMeta("merge", "name")),
    ("v1", "Pod", ("spec", "tolerations"), PatchMeta(None, None)),
    ("v1", "Pod", ("spec", "containers", "command"), PatchMeta(None, None)),
    ("v1", "Pod", ("status", "conditions"), PatchMeta("merge", "type")),
    ("v1", "Pod", ("metadata", "ownerReferences"), PatchMeta("merge", "uid")),
    ("v1", "Pod", ("metadata", "finalizers"), PatchMeta("merge", None)),
    ("v1", "Node", ("status", "addresses"), PatchMeta("merge", "type")),
    ("v1", "Node", ("status", "conditions"), PatchMeta("merge", "type")),
    ("v1", "Service", ("spec", "ports"), PatchMeta("merge", "port")),
    ("apps/v1", "Deployment", ("spec", "template", "spec", "containers"), PatchMeta("merge", "name")),
    ("apps/v1", "Deployment", ("spec", "template", "spec", "containers", "env"), PatchMeta("merge", "name")),
    ("apps/v1", "Deployment", ("spec", "strategy"), PatchMeta("retainKeys", None)),
    ("apps/v1", "Deployment", ("status", "conditions"), PatchMeta("merge", "type")),
    ("apps/v1", "StatefulSet", ("spec", "template", "spec", "volumes"), PatchMeta("merge,retainKeys", "name")),
    ("batch/v1", "CronJob", ("spec", "jobTemplate", "spec", "template", "spec", "containers"),
     PatchMeta("merge", "name")),
    ("policy/v1", "PodDisruptionBudget", ("spec", "selector"), PatchMeta("replace", None)),
    ("v1", "Pod", ("spec", "nosuchfield"), None),
]


@pytest.mark.parametrize("api_version,kind,path,expected", PATCH_META,
                         ids=[f"{k}:{'.'.join(p)}" for _, k, p, _ in PATCH_META])
def test_patch_meta(api_version, kind, path, expected):
    assert patch_meta(api_version, kind, path) == expected


def test_field_type_walks_lists_and_maps():
    container = field_type("v1", "Pod", ("spec", "containers"))
    assert isinstance(container, ListOf) and container.item.name == "io.k8s.api.core.v1.Container"
    assert field_type("v1", "Pod", ("spec", "containers", "resources", "limits", "cpu")) is QUANTITY
    assert field_type("v1", "Pod", ("spec", "containers", "imagee")) is None
