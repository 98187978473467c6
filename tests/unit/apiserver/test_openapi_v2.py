"""/openapi/v2: the v3 component schemas in Swagger 2.0 spelling, and their gnostic protobuf encoding."""

from __future__ import annotations

import json

from labkit.apiserver import openapi_v2


def _refs(node, found):
    if isinstance(node, dict):
        if "$ref" in node:
            found.append(node["$ref"])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)
    return found


def test_every_reference_is_a_v2_definition_that_exists():
    doc = openapi_v2.document()
    assert doc["swagger"] == "2.0"
    refs = _refs(doc["definitions"], [])
    assert refs and all(r.startswith("#/definitions/") for r in refs)
    assert {r[len("#/definitions/"):] for r in refs} <= set(doc["definitions"])
    assert "allOf" not in json.dumps(doc)  # one-element allOf became $ref


def test_kinds_carry_their_group_version_kind():
    defs = openapi_v2.document()["definitions"]
    assert defs["io.k8s.api.core.v1.Secret"]["x-kubernetes-group-version-kind"] == \
        [{"group": "", "kind": "Secret", "version": "v1"}]
    assert defs["io.k8s.api.apps.v1.Deployment"]["properties"]["spec"]["$ref"] == \
        "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
    assert "io.k8s.api.core.v1.ResourceQuota" in defs and "io.k8s.api.core.v1.LimitRange" in defs


def test_protobuf_document_fields():
    body = openapi_v2.document_bytes_protobuf()
    # field 1 (swagger, length-delimited): tag 0x0a, length 3, "2.0"
    assert body[:5] == b"\x0a\x032.0"
    assert b"io.k8s.api.core.v1.Secret" in body
    assert b"#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in body
    assert b"x-kubernetes-group-version-kind" in body
    assert openapi_v2._varint(300) == b"\xac\x02"
