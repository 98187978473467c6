"""``GET /openapi/v2``: the schema definitions as a Swagger 2.0 document, for kubectl's client-side validation.

kubectl validates most objects with the v3 documents (openapi.py), but a
``kind: List`` (``kubectl get secrets -A -o json | kubectl replace -f -``) it
checks item by item against the **v2** document, which it fetches as
protobuf (``application/com.github.proto-openapi.spec.v2@v1.0+protobuf``, the
gnostic ``openapi.v2.Document`` message). Without it kubectl refuses with
"the server could not find the requested resource".

The definitions are the v3 documents' component schemas, rewritten to v2
form (``#/components/schemas/X`` -> ``#/definitions/X``, a one-element
``allOf`` -> ``$ref``): one schema source, two spellings. Paths are left
empty: kubectl only reads the definitions and their
``x-kubernetes-group-version-kind``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import yaml

from labkit.api import registry
from labkit.apiserver import openapi

PROTOBUF_MEDIA_TYPE = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"  # what kubectl accepts
PROTOBUF_CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"  # what upstream answers
V3_REF = "#/components/schemas/"
V2_REF = "#/definitions/"


def _to_v2(schema: Any) -> Any:
    """One v3 schema in v2 spelling (recursively)."""
    if isinstance(schema, list):
        return [_to_v2(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$ref" and isinstance(value, str) and value.startswith(V3_REF):
            out["$ref"] = V2_REF + value[len(V3_REF):]
        elif key == "allOf" and isinstance(value, list) and len(value) == 1 and "$ref" in value[0]:
            out["$ref"] = _to_v2(value[0])["$ref"]  # v2 lets a $ref carry a description next to it
        elif key in ("properties",):
            out[key] = {name: _to_v2(sub) for name, sub in value.items()}
        else:
            out[key] = _to_v2(value)
    return out


@lru_cache(maxsize=None)
def document_bytes_json() -> bytes:
    definitions: dict[str, Any] = {}
    for group, version in registry.group_versions():
        doc = openapi.openapi_v3_document(group, version) or {}
        for name, schema in ((doc.get("components") or {}).get("schemas") or {}).items():
            definitions.setdefault(name, _to_v2(schema))
    doc = {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "unversioned"}, "paths": {},
           "definitions": dict(sorted(definitions.items()))}
    return json.dumps(doc, separators=(",", ":")).encode()


def document() -> dict[str, Any]:
    return json.loads(document_bytes_json())


# -- protobuf (gnostic openapi.v2) -----------------------------------------------------------
# Only the fields kubectl reads are written; field numbers are those of OpenAPIv2.proto.


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (strings, bytes, messages)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _string(number: int, text: str) -> bytes:
    return _field(number, text.encode())


def _bool(number: int, value: bool) -> bytes:
    return _varint(number << 3) + _varint(1 if value else 0)


def _any_yaml(value: Any) -> bytes:
    """openapi.v2.Any with its ``yaml`` field (2): how gnostic carries free-form values."""
    return _string(2, yaml.safe_dump(value, default_flow_style=False, sort_keys=True))


def _schema(s: dict[str, Any]) -> bytes:
    """openapi.v2.Schema."""
    out = b""
    if "$ref" in s:
        out += _string(1, s["$ref"])
    if "format" in s:
        out += _string(2, s["format"])
    if "title" in s:
        out += _string(3, s["title"])
    if "description" in s:
        out += _string(4, s["description"])
    for name in s.get("required") or []:
        out += _string(19, name)
    extra = s.get("additionalProperties")
    if isinstance(extra, dict):
        out += _field(21, _field(1, _schema(extra)))
    elif isinstance(extra, bool):
        out += _field(21, _bool(2, extra))
    if "type" in s:
        types = s["type"] if isinstance(s["type"], list) else [s["type"]]
        out += _field(22, b"".join(_string(1, t) for t in types))
    if isinstance(s.get("items"), dict):
        out += _field(23, _field(1, _schema(s["items"])))
    for sub in s.get("allOf") or []:
        out += _field(24, _schema(sub))
    if isinstance(s.get("properties"), dict):
        named = b"".join(_field(1, _string(1, name) + _field(2, _schema(sub)))
                         for name, sub in s["properties"].items())
        out += _field(25, named)
    for key, value in s.items():
        if key.startswith("x-"):
            out += _field(31, _string(1, key) + _field(2, _any_yaml(value)))
    return out


@lru_cache(maxsize=None)
def document_bytes_protobuf() -> bytes:
    """openapi.v2.Document: swagger (1), info (2), paths (8), definitions (9)."""
    doc = document()
    info = _string(1, doc["info"]["title"]) + _string(2, doc["info"]["version"])
    definitions = b"".join(_field(1, _string(1, name) + _field(2, _schema(schema)))
                           for name, schema in doc["definitions"].items())
    return _string(1, doc["swagger"]) + _field(2, info) + _field(8, b"") + _field(9, definitions)
