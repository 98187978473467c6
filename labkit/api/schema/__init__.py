"""The schema of every kind labkit serves: one source of truth.

Declared in a compact Python form (``types.py`` is the little language,
``meta.py`` the shared metadata types, ``core.py`` the pod and its parts,
``kinds.py`` every top-level kind). From it come:

- ``unknown_fields``: fields an object has that the schema does not know
  (``fieldValidation=Strict|Warn``),
- ``patch_meta``: the strategic-merge-patch strategy and merge key of a list
  (used by the patch helper, as upstream's struct tags are),
- the OpenAPI v3 documents (labkit/apiserver/openapi.py) that kubectl reads for
  ``--validate=strict``, ``apply`` patches and ``explain``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from .kinds import RESOURCE_KINDS, SUBRESOURCE_KINDS
from .meta import list_kind
from .types import Field, ListOf, MapOf, Primitive, Scalar, Struct, Type

__all__ = [
    "PatchMeta", "schema_for", "list_schema_for", "patch_meta", "field_type", "field_at", "unknown_fields",
    "structs_reachable", "RESOURCE_KINDS", "SUBRESOURCE_KINDS", "Field", "ListOf", "MapOf", "Primitive",
    "Scalar", "Struct",
]

_LIST_KINDS: dict[tuple[str, str], Struct] = {
    (api_version, kind + "List"): list_kind(s) for (api_version, kind), s in RESOURCE_KINDS.items()
}


@dataclass(frozen=True)
class PatchMeta:
    """How strategic merge patch treats a field: ``strategy`` and, for lists of objects, ``merge_key``."""

    strategy: str | None
    merge_key: str | None


def schema_for(api_version: str, kind: str) -> Struct | None:
    """The Struct of a kind (a resource, its List, or a subresource body such as Scale)."""
    return RESOURCE_KINDS.get((api_version, kind)) or SUBRESOURCE_KINDS.get((api_version, kind)) \
        or _LIST_KINDS.get((api_version, kind))


def list_schema_for(api_version: str, kind: str) -> Struct | None:
    return _LIST_KINDS.get((api_version, kind + "List"))


def field_at(api_version: str, kind: str, path: tuple[str, ...]) -> Field | None:
    """The Field at ``path`` from the object root; list items are transparent, map keys are path elements."""
    current: Type | None = schema_for(api_version, kind)
    found: Field | None = None
    for name in path:
        current = _through_lists(current)
        if isinstance(current, MapOf):
            current = current.value
            found = None
            continue
        if not isinstance(current, Struct) or current.open:
            return None
        found = current.fields.get(name)
        if found is None:
            return None
        current = found.type
    return found


def field_type(api_version: str, kind: str, path: tuple[str, ...]) -> Type | None:
    """The type at ``path`` (a Struct, ListOf, MapOf, Primitive or Scalar), or None if unknown."""
    if not path:
        return schema_for(api_version, kind)
    current: Type | None = schema_for(api_version, kind)
    for name in path:
        current = _through_lists(current)
        if isinstance(current, MapOf):
            current = current.value
            continue
        if not isinstance(current, Struct) or current.open:
            return None
        fld = current.fields.get(name)
        if fld is None:
            return None
        current = fld.type
    return current


def patch_meta(api_version: str, kind: str, path: tuple[str, ...]) -> PatchMeta | None:
    """Strategic-merge-patch metadata of the field at ``path``; None when the field is unknown.

    ``patch_meta("v1", "Pod", ("spec", "containers"))`` is ``PatchMeta("merge", "name")``;
    a field without patch metadata answers ``PatchMeta(None, None)``.
    """
    fld = field_at(api_version, kind, path)
    if fld is None:
        return None
    return PatchMeta(fld.patch_strategy, fld.merge_key)


def _through_lists(t: Type | None) -> Type | None:
    while isinstance(t, ListOf):
        t = t.item
    return t


# -- unknown fields --------------------------------------------------------------

def unknown_fields_of(schema: Struct, obj: Any) -> list[str]:
    """Paths of the fields of ``obj`` that ``schema`` does not declare, in upstream's notation."""
    return list(_walk_unknown(schema, obj, ""))


def _walk_unknown(t: Type, value: Any, path: str) -> Iterator[str]:
    if isinstance(t, Struct):
        if t.open or not isinstance(value, dict):
            return
        for key, sub in value.items():
            child = f"{path}.{key}" if path else key
            fld = t.fields.get(key)
            if fld is None:
                yield child
            elif sub is not None:
                yield from _walk_unknown(fld.type, sub, child)
    elif isinstance(t, ListOf):
        if isinstance(value, list):
            for i, item in enumerate(value):
                if item is not None:
                    yield from _walk_unknown(t.item, item, f"{path}[{i}]")
    elif isinstance(t, MapOf):
        if isinstance(value, dict):
            for key, sub in value.items():
                if sub is not None:
                    yield from _walk_unknown(t.value, sub, f"{path}.{key}")


def unknown_fields(api_version: str, kind: str, obj: dict) -> list[str]:
    schema = schema_for(api_version, kind)
    return unknown_fields_of(schema, obj) if schema is not None else []


# -- reachability (for the OpenAPI documents) ------------------------------------

def structs_reachable(roots: list[Struct]) -> dict[str, Struct | Scalar]:
    """Every named type reachable from ``roots``, by definition name, in discovery order."""
    seen: dict[str, Struct | Scalar] = {}

    def visit(t: Type) -> None:
        if isinstance(t, ListOf):
            visit(t.item)
        elif isinstance(t, MapOf):
            visit(t.value)
        elif isinstance(t, Scalar):
            seen.setdefault(t.name, t)
        elif isinstance(t, Struct):
            if t.name in seen:
                return
            seen[t.name] = t
            for fld in t.fields.values():
                visit(fld.type)

    for root in roots:
        visit(root)
    return seen


def drop_unknown_fields(api_version: str, kind: str, obj: Any) -> None:
    """Remove, in place, every field the schema does not declare (what decoding into upstream's Go types does)."""
    schema = schema_for(api_version, kind)
    if schema is not None:
        _drop(schema, obj)


def _drop(t: Type, value: Any) -> None:
    if isinstance(t, Struct):
        if t.open or not isinstance(value, dict):
            return
        for key in [k for k in value if k not in t.fields]:
            del value[key]
        for key, sub in value.items():
            if sub is not None:
                _drop(t.fields[key].type, sub)
    elif isinstance(t, ListOf) and isinstance(value, list):
        for item in value:
            if item is not None:
                _drop(t.item, item)
    elif isinstance(t, MapOf) and isinstance(value, dict):
        for sub in value.values():
            if sub is not None:
                _drop(t.value, sub)
