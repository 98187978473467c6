"""The little language the schema is written in.

A kind is a ``Struct``: a named set of ``Field``s. A field has a type (a
primitive, a named scalar such as Quantity, another Struct, a ``ListOf`` or a
``MapOf``), a short description, and the facts clients rely on: required,
enum values, and for lists the strategic-merge-patch metadata upstream
publishes (``x-kubernetes-patch-strategy`` / ``-patch-merge-key``) and the
server-side-apply list metadata (``x-kubernetes-list-type`` / ``-map-keys``).

Everything else (unknown-field detection, patch metadata lookups, the
OpenAPI v3 documents, ``kubectl explain``) is computed from these values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Union


@dataclass(frozen=True)
class Primitive:
    """A JSON scalar, inlined into the OpenAPI schema (``{"type": "string"}``)."""

    openapi: tuple[tuple[str, str], ...]  # e.g. (("type", "integer"), ("format", "int32"))

    def as_openapi(self) -> dict[str, Any]:
        return dict(self.openapi)

    @cached_property  # asked at every value the validation walks: computed once
    def json_type(self) -> str:
        return dict(self.openapi)["type"]

    @cached_property
    def format(self) -> str | None:
        return dict(self.openapi).get("format")


@dataclass(frozen=True)
class Scalar:
    """A scalar with a name of its own in upstream's OpenAPI (Time, Quantity, IntOrString)."""

    name: str
    description: str
    openapi: tuple[tuple[str, str], ...]

    def as_openapi(self) -> dict[str, Any]:
        return {"description": self.description, **dict(self.openapi)}


@dataclass(frozen=True)
class ListOf:
    item: "Type"


@dataclass(frozen=True)
class MapOf:
    value: "Type"


@dataclass
class Field:
    type: "Type"
    description: str = ""
    required: bool = False
    enum: tuple[str, ...] = ()
    default: Any = None  # documented default (defaulting itself lives in validation.py)
    patch_strategy: str | None = None  # "merge", "retainKeys", "merge,retainKeys", "replace"
    merge_key: str | None = None
    list_type: str | None = None  # "atomic", "set", "map"
    map_keys: tuple[str, ...] = ()
    map_type: str | None = None  # "atomic" for maps replaced as a whole


@dataclass(eq=False)
class Struct:
    """A named object type, e.g. ``io.k8s.api.core.v1.Container``."""

    name: str
    description: str
    fields: dict[str, Field]
    # (group, version, kind) for top-level kinds; several for shared meta types
    gvks: tuple[tuple[str, str, str], ...] = ()
    # free-form objects (RawExtension, FieldsV1): any keys are allowed
    open: bool = False
    map_type: str | None = None  # x-kubernetes-map-type: "atomic" for e.g. LabelSelector

    @property
    def required(self) -> list[str]:
        return [n for n, f in self.fields.items() if f.required]

    @cached_property  # the same, kept: the validation asks at every object it walks
    def required_fields(self) -> tuple[str, ...]:
        return tuple(self.required)


Type = Union[Primitive, Scalar, ListOf, MapOf, Struct]

# -- primitives -----------------------------------------------------------------

STRING = Primitive((("type", "string"),))
BOOL = Primitive((("type", "boolean"),))
INT32 = Primitive((("type", "integer"), ("format", "int32")))
INT64 = Primitive((("type", "integer"), ("format", "int64")))
NUMBER = Primitive((("type", "number"), ("format", "double")))
BYTES = Primitive((("type", "string"), ("format", "byte")))

# -- named scalars (upstream gives them their own schema) ------------------------

TIME = Scalar(
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
    "Time is a timestamp in RFC 3339 form with second precision, e.g. 2024-01-02T15:04:05Z.",
    (("type", "string"), ("format", "date-time")),
)
MICRO_TIME = Scalar(
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime",
    "MicroTime is a timestamp in RFC 3339 form with microsecond precision.",
    (("type", "string"), ("format", "date-time")),
)
QUANTITY = Scalar(
    "io.k8s.apimachinery.pkg.api.resource.Quantity",
    "A fixed-point number with an optional suffix: 100m (milli), 128Mi (binary), 1G (decimal), 1e3.",
    (("type", "string"),),
)
INT_OR_STRING = Scalar(
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
    "Either an integer or a string (a port number or a port name, a count or a percentage).",
    (("type", "string"), ("format", "int-or-string")),
)


def f(type_: Type, description: str = "", **facts: Any) -> Field:
    """A field: ``f(STRING, "Name of the container.", required=True)``."""
    if "enum" in facts:
        facts["enum"] = tuple(facts["enum"])
    if "map_keys" in facts:
        facts["map_keys"] = tuple(facts["map_keys"])
    return Field(type_, description, **facts)


def merge_list(item: Type, key: str | None, description: str = "", **facts: Any) -> Field:
    """A list patched by strategic merge: items matched by ``key`` (or, for scalars, by value)."""
    map_keys = facts.pop("map_keys", (key,) if key else ())
    list_type = facts.pop("list_type", "map" if key else "set")
    return Field(ListOf(item), description, patch_strategy=facts.pop("patch_strategy", "merge"),
                 merge_key=key, list_type=list_type, map_keys=tuple(map_keys), **facts)


def atomic_list(item: Type, description: str = "", **facts: Any) -> Field:
    """A list replaced as a whole by patches (upstream's default)."""
    return Field(ListOf(item), description, list_type="atomic", **facts)


def string_map(description: str = "", **facts: Any) -> Field:
    return Field(MapOf(STRING), description, **facts)


def struct(name: str, description: str, fields: dict[str, Field], **kw: Any) -> Struct:
    return Struct(name=name, description=description, fields=fields, **kw)
