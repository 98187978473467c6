"""Server-side apply: field ownership, the merge of an applied configuration, conflicts.

``PATCH`` with ``Content-Type: application/apply-patch+yaml`` sends a *partial*
object: the fields one manager (``?fieldManager=``) wants to own, with their
values. The server keeps, in ``metadata.managedFields``, which manager owns
which fields. An apply then takes four steps (``apply()`` below):

1. **the field set of the applied config**: every field the config sets
   (``config_field_set``), in upstream's FieldsV1 notation;
2. **merge**: the config's values are set on the live object (``merge``):
   structs and maps key by key, associative lists item by item by their keys
   (containers by ``name``), atomic lists and atomic structs replaced whole;
3. **what this manager gave up**: the fields it owned by its last apply and no
   longer sets are removed from the object, unless another manager owns them
   too (``remove``);
4. **conflicts**: a field the apply changes (``changed_fields``) that another
   manager owns is a conflict (409, one cause per field), unless ``force``:
   then the other manager loses it. Setting the *same* value is no conflict:
   both managers then own the field.

The list and map semantics come from the schema (``labkit.api.schema``): a
field's ``list_type``/``map_keys`` (upstream's ``x-kubernetes-list-type`` and
``-list-map-keys``), falling back, as upstream's schema conversion does, on the
strategic-merge metadata the patch helper (``labkit.api.patch``) uses
(``patchStrategy: merge`` + ``patchMergeKey``); ``map_type: atomic`` makes a
struct or map one field. Fields the schema does not know (open structs) are
merged as maps, with atomic lists.

Field sets are kept in FieldsV1 form, as nested dicts: ``{"f:spec":
{"f:replicas": {}}}``. A key is a path element (``f:<field or map key>``,
``k:{"name":"c"}`` for an associative list item, ``v:<json>`` for a set item);
an empty dict is a member of the set; ``"."`` marks a member that also has
members below it (a list item and its fields).

Non-apply writes (create, update, patch, also through ``/status``) record an
``Update`` entry for their manager with ``record_update``: the fields they
changed move to it (updates never conflict, as upstream's), fields that are
gone leave every set, and the managedFields a request sends replace the stored
ones (none sent: kept; ``[]``: cleared). The manager is ``?fieldManager=`` or
the User-Agent's product name; a write through ``/status`` or ``/scale`` names
that subresource. At most 10 Update entries are kept, the oldest folded into
"ancient-changes" (``capped``). The cost is one walk of the parts of the object
that changed (equal subtrees are skipped with one ``==``); a create walks the
whole object (about 30 us for a small ConfigMap; bench/apiserver/run.py
measures the whole request). An apply through ``/scale`` applies a Scale's
``spec.replicas`` to the workload and never creates it.

Where labkit differs from upstream:

- Update sets mark maps (labels, data) as members (``.``) like upstream, but
  not optional structs (upstream marks Go pointer structs such as
  ``rollingUpdate``; labkit's schema does not know which fields are pointers).
- Managers are not converted between API versions: a field set recorded with
  another version of the kind is compared as it is.
- An object that has no managedFields yet (stored before labkit recorded
  them) gets no "before-first-apply" entry on its first apply: the applier
  takes what it applies without conflicts, and nobody owns the rest.
- The client-side apply annotation is not rewritten by a server-side apply
  (kubectl itself keeps it, as its "kubectl-last-applied" manager).
- Mutating admission's changes are not recorded for the requester (the entry
  is computed after defaulting, before admission).
- An apply whose result differs from the live object only until defaulting
  runs (an atomic list applied without its defaulted fields, such as a
  RoleBinding's subjects) writes nothing; upstream compares before defaulting
  and writes the entry's new time. Conflicts are found before defaulting, as
  upstream's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator

from labkit.api import errors
from labkit.api.errors import Cause
from labkit.api.schema import Field, ListOf, MapOf, Primitive, Scalar, Struct, schema_for

APPLY_PATCH = "application/apply-patch+yaml"
FIELDS_V1 = "FieldsV1"
MEMBER = "."

Tree = dict  # a field set in FieldsV1 form


# -- what kind of value sits at a position of the schema ------------------------------

@dataclass(frozen=True)
class Shape:
    """How apply treats the value at one position.

    ``kind``: "leaf" (a scalar, or anything atomic: replaced whole), "struct"
    (named fields), "map" (free keys: labels, data, or an unknown object),
    "set" (a list of scalars merged by value) or "assoc" (a list of objects
    merged by ``keys``).
    """

    kind: str
    struct: Struct | None = None
    value: Any = None  # the Shape maker of a map's values or a list's items (a type, or None: unknown)
    keys: tuple[str, ...] = ()


UNKNOWN_MAP = Shape("map")
LEAF = Shape("leaf")


_SHAPES: dict[tuple[int, int], Shape] = {}  # the schema is built once: its parts' shapes are kept


def shape_of(type_: Any, fld: Field | None = None) -> Shape:
    """The Shape of a value of ``type_`` held by the field ``fld`` (list and map semantics live on fields)."""
    key = (id(type_), id(fld))
    shape = _SHAPES.get(key)
    if shape is None:
        shape = _SHAPES[key] = _shape_of(type_, fld)
    return shape


def _shape_of(type_: Any, fld: Field | None) -> Shape:
    if type_ is None:
        return UNKNOWN_MAP
    if isinstance(type_, (Primitive, Scalar)):
        return LEAF
    if isinstance(type_, Struct):
        if type_.map_type == "atomic" or (fld is not None and fld.map_type == "atomic"):
            return LEAF
        if type_.open:
            return UNKNOWN_MAP
        return Shape("struct", struct=type_)
    if isinstance(type_, MapOf):
        if fld is not None and fld.map_type == "atomic":
            return LEAF
        return Shape("map", value=type_.value)
    if isinstance(type_, ListOf):
        list_type = fld.list_type if fld is not None else None
        strategy = (fld.patch_strategy or "") if fld is not None else ""
        keys: tuple[str, ...] = ()
        if list_type == "map":
            keys = fld.map_keys or ((fld.merge_key,) if fld.merge_key else ())
        elif list_type is None and "merge" in strategy.split(","):
            # No list type declared: upstream's schema conversion reads the patch strategy.
            list_type = "map" if fld.merge_key else "set"
            keys = (fld.merge_key,) if fld.merge_key else ()
        if list_type == "map" and keys and isinstance(type_.item, Struct):
            return Shape("assoc", value=type_.item, keys=keys)
        if list_type == "set" and isinstance(type_.item, (Primitive, Scalar)):
            return Shape("set", value=type_.item)
        return LEAF
    return LEAF


def child_shape(shape: Shape, key: str) -> Shape | None:
    """The Shape of ``key`` inside a struct or map; None for a field the struct does not declare."""
    if shape.kind == "struct":
        fld = shape.struct.fields.get(key)
        return shape_of(fld.type, fld) if fld is not None else None
    if shape.kind == "map":
        return UNKNOWN_MAP if shape.value is None else shape_of(shape.value)
    return None


def item_shape(shape: Shape) -> Shape:
    return shape_of(shape.value) if shape.kind == "assoc" else LEAF


def root_shape(api_version: str, kind: str) -> Shape:
    schema = schema_for(api_version, kind)
    return shape_of(schema) if schema is not None else UNKNOWN_MAP


# -- path elements ---------------------------------------------------------------------

def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def item_key(shape: Shape, item: Any) -> str:
    """The path element of a list item: ``k:{"name":"c"}`` (keys sorted, as upstream) or ``v:<json>``.

    A key field the item leaves out counts with its schema default, as upstream's
    (a port without ``protocol`` is ``{"containerPort":80,"protocol":"TCP"}``), so
    an applied item finds the defaulted live one.
    """
    if shape.kind == "assoc":
        keys = {}
        for k in sorted(shape.keys):
            if k in item:
                keys[k] = item[k]
            else:
                fld = shape.value.fields.get(k)
                if fld is not None and fld.default is not None:
                    keys[k] = fld.default
        return "k:" + _compact(keys)
    return "v:" + _compact(item)


def _is_member(node: Tree) -> bool:
    return not node or MEMBER in node


def _attach(tree: Tree, key: str, sub: Tree, member: bool = False) -> None:
    """Put ``sub`` (the field set below ``key``) into ``tree``; ``member``: ``key`` itself is in the set too."""
    if sub:
        if member:
            sub = {MEMBER: {}, **sub}
        tree[key] = sub
    elif member:
        tree[key] = {}


# -- 1. the field set of an applied config ------------------------------------------

def config_field_set(shape: Shape, value: Any, maps_are_members: bool = False) -> Tree:
    """The fields ``value`` sets: leaves, atomic values, list items (with ``.``) and map entries.

    Like upstream's: an empty object or null is a member itself (the manager owns
    "this is empty"); a struct with fields is only the fields it sets.
    ``maps_are_members``: a map (labels, data) is a member too, as in the sets
    upstream records for updates (``f:labels: {.: {}, f:app: {}}``).
    """
    tree: Tree = {}
    if shape.kind == "map" and isinstance(value, dict) and shape.value is not None \
            and isinstance(shape.value, (Primitive, Scalar)):
        return {"f:" + key: {} for key in value}  # labels, annotations, data: one member per key
    if shape.kind in ("struct", "map") and isinstance(value, dict):
        for key, sub in value.items():
            sub_shape = child_shape(shape, key)
            if sub_shape is None:
                continue  # not in the schema: unknown fields were reported (or refused) and dropped
            below = config_field_set(sub_shape, sub, maps_are_members)
            leaf = sub_shape.kind == "leaf" or sub is None or sub == {} or shape.kind == "map" \
                or (maps_are_members and sub_shape.kind == "map")
            _attach(tree, "f:" + key, below, member=leaf)
    elif shape.kind in ("assoc", "set") and isinstance(value, list):
        for item in value:
            if shape.kind == "assoc" and not isinstance(item, dict):
                continue
            below = config_field_set(item_shape(shape), item, maps_are_members) if shape.kind == "assoc" else {}
            _attach(tree, item_key(shape, item), below, member=True)
    return tree


# -- 2. merge ---------------------------------------------------------------------------

def merge(shape: Shape, live: Any, config: Any) -> Any:
    """``config`` set on ``live`` (a new value; neither argument changes)."""
    if shape.kind in ("struct", "map") and isinstance(live, dict) and isinstance(config, dict):
        out = dict(live)
        for key, sub in config.items():
            sub_shape = child_shape(shape, key)
            if sub is None:
                out.pop(key, None)  # null: the manager owns the field and wants it unset
            elif key in out and sub_shape is not None:
                out[key] = merge(sub_shape, out[key], sub)
            else:
                out[key] = _plain(sub)
        return out
    if shape.kind in ("assoc", "set") and isinstance(live, list) and isinstance(config, list):
        return _merge_list(shape, live, config)
    return _plain(config)


def _plain(value: Any) -> Any:
    """A deep copy without nulls inside objects (Go's decoder leaves such fields empty)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _merge_list(shape: Shape, live: list, config: list) -> list:
    """Associative lists and sets, item by item, in upstream's order.

    Walk both lists at once. Items only the live list has stay where they are;
    the config's items come in the config's order; an item both lists have is
    merged and placed when the config reaches it, unless the two walks meet on
    it (then it keeps its live place).
    """
    def keyed(items: list) -> list[tuple[str, Any]]:
        return [(item_key(shape, x), x) for x in items if shape.kind == "set" or isinstance(x, dict)]

    live_items, config_items = keyed(live), keyed(config)
    in_live = dict(live_items)
    in_config = dict(config_items)
    shared = [k for k, _ in config_items if k in in_live]  # the shared items, in the config's order
    next_shared = shared.pop(0) if shared else None
    placed: set[str] = set()
    out: list = []

    def place(key: str) -> None:
        placed.add(key)
        out.append(merge(item_shape(shape), in_live[key], in_config[key]) if key in in_live
                   else _plain(in_config[key]))

    li = ci = 0
    while li < len(live_items) or ci < len(config_items):
        live_key = live_items[li][0] if li < len(live_items) else None
        config_key = config_items[ci][0] if ci < len(config_items) else None
        if live_key is not None and config_key is not None:
            if live_key == config_key:  # the walks meet on a shared item
                place(live_key)
                li += 1
                ci += 1
                next_shared = shared.pop(0) if shared else None
                continue
            if live_key in in_config and next_shared is not None and next_shared != live_key:
                li += 1  # a shared item not due yet: the config's walk places it
                continue
        if live_key is not None:
            if live_key not in in_config:  # the live list's own item
                out.append(live_items[li][1])
                li += 1
                continue
            if live_key in placed:
                li += 1
                continue
        if config_key is not None:
            if config_key not in placed:
                place(config_key)
            ci += 1
            if next_shared == config_key:
                next_shared = shared.pop(0) if shared else None
    return out


# -- 3. removal of what a manager gave up ------------------------------------------------

def remove(shape: Shape, value: Any, gone: Tree, kept: Tree) -> Any:
    """``value`` without the fields in ``gone``; a field ``kept`` has members below stays, minus its others.

    A struct or map that the removal leaves empty goes too (Go's ``omitempty``).
    """
    if not gone:
        return value
    if shape.kind in ("struct", "map") and isinstance(value, dict):
        out = dict(value)
        for key, node in gone.items():
            field = key[2:]
            if not key.startswith("f:") or field not in out:
                continue
            sub_shape = child_shape(shape, field) or UNKNOWN_MAP
            kept_below = kept.get(key) or {}
            if _is_member(node) and not _has_members_below(kept_below):
                if key not in kept:
                    del out[field]
                continue
            before = out[field]
            after = remove(sub_shape, before, {k: v for k, v in node.items() if k != MEMBER}, kept_below)
            if after in ({}, []) and before not in ({}, []):
                del out[field]
            else:
                out[field] = after
        return out
    if shape.kind in ("assoc", "set") and isinstance(value, list):
        out_list = []
        for item in value:
            key = item_key(shape, item) if shape.kind == "set" or isinstance(item, dict) else None
            node = gone.get(key) if key else None
            if node is None:
                out_list.append(item)
                continue
            kept_below = kept.get(key) or {}
            if _is_member(node) and not _has_members_below(kept_below):
                if key in kept:
                    out_list.append(item)
                continue
            below = {k: v for k, v in node.items() if k != MEMBER and k[2:] not in shape.keys}
            out_list.append(remove(item_shape(shape), item, below, kept_below))
        return out_list
    return value


def _has_members_below(node: Tree) -> bool:
    return any(k != MEMBER for k in node)


# -- set algebra on FieldsV1 trees --------------------------------------------------------

def union(a: Tree, b: Tree) -> Tree:
    """Members of ``a`` or of ``b`` (trees are never changed in place: parts are shared)."""
    if not b:
        return a
    if not a:
        return b
    out = dict(a)
    for key, node in b.items():
        mine = out.get(key)
        if mine is None:
            out[key] = node
        elif key == MEMBER or mine is node:
            continue
        elif not mine:  # a member leaf meets members below it
            out[key] = node if MEMBER in node else {MEMBER: {}, **node}
        elif not node:
            out[key] = mine if MEMBER in mine else {MEMBER: {}, **mine}
        else:
            out[key] = union(mine, node)
    return out


def difference(a: Tree, b: Tree) -> Tree:
    """Members of ``a`` that are not members of ``b`` (``a`` itself when ``b`` takes nothing from it)."""
    common = [k for k in b if k != MEMBER and k in a]
    if not common:
        return a
    out = dict(a)
    for key in common:
        node, other = a[key], b[key]
        member_here = _is_member(node) and not _is_member(other)
        below = difference({k: v for k, v in node.items() if k != MEMBER},
                           {k: v for k, v in other.items() if k != MEMBER})
        del out[key]
        _attach(out, key, below, member=member_here)
    return out


def intersection(a: Tree, b: Tree) -> Tree:
    out: Tree = {}
    for key, node in a.items():
        if key == MEMBER or key not in b:
            continue
        other = b[key]
        member_here = _is_member(node) and _is_member(other)
        below = intersection({k: v for k, v in node.items() if k != MEMBER},
                             {k: v for k, v in other.items() if k != MEMBER})
        _attach(out, key, below, member=member_here)
    return out


def paths(tree: Tree, prefix: tuple = ()) -> Iterator[tuple]:
    """Every member of ``tree`` as a tuple of path elements, in the tree's order."""
    for key, node in tree.items():
        if key == MEMBER:
            continue
        here = prefix + (key,)
        if _is_member(node):
            yield here
        yield from paths(node, here)


def path_text(path: tuple) -> str:
    """Upstream's notation of a field path: ``.spec.containers[name="c"].image``, ``.metadata.finalizers[="x"]``."""
    out = []
    for element in path:
        kind, text = element[:2], element[2:]
        if kind == "f:":
            out.append("." + text)
        elif kind == "k:":
            keys = json.loads(text)
            out.append("[" + ",".join(f"{k}={_compact(v)}" for k, v in keys.items()) + "]")
        elif kind == "v:":
            out.append("[=" + text + "]")
        else:
            out.append("[" + text + "]")
    return "".join(out)


def sorted_tree(tree: Tree) -> Tree:
    """The tree with its keys sorted (``.`` first), as kubectl shows it."""
    return {k: sorted_tree(tree[k]) if tree[k] else {} for k in sorted(tree)}


# -- 4. what a write changed, and conflicts ----------------------------------------------

def changed_fields(shape: Shape, old: Any, new: Any) -> tuple[Tree, Tree]:
    """(added or modified, removed) fields between ``old`` and ``new``; equal parts are skipped unwalked."""
    changed: Tree = {}
    removed: Tree = {}
    if not _differs(old, new):
        return changed, removed
    if shape.kind in ("struct", "map") and isinstance(old, dict) and isinstance(new, dict):
        for key, sub in new.items():
            if key in old and not _differs(old[key], sub):
                continue  # the usual case: most fields are as they were
            sub_shape = child_shape(shape, key)
            if sub_shape is None:
                continue
            if key not in old:
                below = config_field_set(sub_shape, sub, maps_are_members=True)
                # a new map (labels, data) is a member itself, as upstream records it
                member = sub_shape.kind in ("leaf", "map") or sub in ({}, None)
                _attach(changed, "f:" + key, below, member=member)
                continue
            c, r = changed_fields(sub_shape, old[key], sub)
            _attach(changed, "f:" + key, c, member=sub_shape.kind == "leaf" and (c or _differs(old[key], sub)))
            _attach(removed, "f:" + key, r)
        for key, sub in old.items():
            sub_shape = child_shape(shape, key) if key not in new else None
            if sub_shape is not None:
                _attach(removed, "f:" + key, config_field_set(sub_shape, sub), member=True)
        return changed, removed
    if shape.kind in ("assoc", "set") and isinstance(old, list) and isinstance(new, list):
        old_items = {item_key(shape, x): x for x in old if shape.kind == "set" or isinstance(x, dict)}
        new_items = {item_key(shape, x): x for x in new if shape.kind == "set" or isinstance(x, dict)}
        for key, item in new_items.items():
            if key not in old_items:
                below = config_field_set(item_shape(shape), item, True) if shape.kind == "assoc" else {}
                _attach(changed, key, below, member=True)
            elif shape.kind == "assoc":
                c, r = changed_fields(item_shape(shape), old_items[key], item)
                _attach(changed, key, c)
                _attach(removed, key, r)
        for key, item in old_items.items():
            if key not in new_items:
                _attach(removed, key, config_field_set(item_shape(shape), item) if shape.kind == "assoc" else {},
                        member=True)
        return changed, removed
    return {}, {}  # a leaf that differs: the caller marks it


def _differs(a: Any, b: Any) -> bool:
    return not (a == b and type(a) is type(b))


# Fields no manager owns (upstream's field manager strips them from every set).
SERVER_FIELDS = ("f:apiVersion", "f:kind")
SERVER_METADATA = (MEMBER, "f:name", "f:namespace", "f:creationTimestamp", "f:selfLink", "f:uid", "f:generation",
                   "f:managedFields", "f:resourceVersion")


def owned_by_writes(tree: Tree, status_is_separate: bool, subresource: str | None) -> Tree:
    """``tree`` without the fields no write through this endpoint can own (server fields; status or all else)."""
    if subresource == "status":
        return {"f:status": tree["f:status"]} if "f:status" in tree else {}
    out = {k: v for k, v in tree.items() if k not in SERVER_FIELDS}
    meta = out.pop("f:metadata", None)
    if meta:
        meta = {k: v for k, v in meta.items() if k not in SERVER_METADATA}
        if meta:
            out["f:metadata"] = meta
    if status_is_separate:
        out.pop("f:status", None)  # the main resource does not write status
    return out


@dataclass
class Manager:
    """One ``managedFields`` entry, its FieldsV1 decoded."""

    name: str
    operation: str  # Apply | Update
    api_version: str
    time: str | None
    fields: Tree
    subresource: str = ""
    source: dict | None = None  # the managedFields entry it was read from (written back as it was if unchanged)

    def identity(self) -> tuple:
        # Appliers are one manager whatever the version they applied with; updaters per version.
        return (self.name, self.operation, self.api_version if self.operation == "Update" else "", self.subresource)

    def describe(self) -> str:
        """How upstream names a manager in a conflict."""
        text = json.dumps(self.name)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text

    def entry(self) -> dict:
        if self.source is not None and self.fields is self.source["fieldsV1"] and self.time == self.source.get("time") \
                and self.api_version == self.source.get("apiVersion"):
            return self.source
        out: dict[str, Any] = {"manager": self.name, "operation": self.operation, "apiVersion": self.api_version}
        if self.time:
            out["time"] = self.time
        out["fieldsType"] = FIELDS_V1
        unchanged = self.source is not None and self.fields is self.source["fieldsV1"]
        out["fieldsV1"] = self.fields if unchanged else sorted_tree(self.fields)
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def managers_of(obj: dict) -> list[Manager]:
    """The object's ``metadata.managedFields`` as Managers (entries that cannot be read are dropped)."""
    out = []
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("fieldsV1"), dict):
            continue
        out.append(Manager(str(entry.get("manager") or ""), str(entry.get("operation") or "Update"),
                           str(entry.get("apiVersion") or ""), entry.get("time"), entry["fieldsV1"],
                           str(entry.get("subresource") or ""), entry))
    return out


def _stored_entry_of(me: Manager, managers: list[Manager]) -> Manager | None:
    """The stored entry of the manager ``me`` writes for (None: its first write); ``me`` takes over its
    source, so that an entry nobody changed is written back as it was."""
    mine = next((m for m in managers if m.identity() == me.identity()), None)
    me.source = mine.source if mine is not None else None
    return mine


def conflict_error(conflicts: list[tuple[Manager, tuple]]) -> errors.StatusError:
    """409 Conflict in upstream's words: one cause per field, the message listing them."""
    causes = [Cause(field=path_text(p), message=f"conflict with {m.describe()}", reason="FieldManagerConflict")
              for m, p in conflicts]
    if len(conflicts) == 1:
        m, p = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {m.describe()}: {path_text(p)}"
    else:
        lines = []
        for described in sorted({m.describe() for m, _ in conflicts}):
            lines.append(f"conflicts with {described}:")
            lines.extend(f"- {path_text(p)}" for m, p in conflicts if m.describe() == described)
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return errors.StatusError(409, "Conflict", message, causes=causes)


# -- the two operations ----------------------------------------------------------------------

def apply(api_version: str, kind: str, live: dict, config: dict, manager: str, *, force: bool, now: str,
          status_is_separate: bool = True, subresource: str | None = None) -> dict:
    """The object after ``manager`` applied ``config`` to ``live`` (``{}`` when it does not exist yet).

    Its ``metadata.managedFields`` say who owns what afterwards. Raises the
    409 conflict error when the apply changes fields other managers own and
    ``force`` is not set.
    """
    shape = root_shape(api_version, kind)
    managers = managers_of(live)
    me = Manager(manager, "Apply", api_version, now, {}, subresource or "")
    mine = _stored_entry_of(me, managers)
    others = [m for m in managers if m is not mine]

    # 1. the field set of the applied config (of the part this endpoint writes: status, or all but status)
    config = _written_through(config, status_is_separate, subresource)
    applied = owned_by_writes(config_field_set(shape, config), status_is_separate, subresource)
    # 2. merge
    merged = merge(shape, _without_meta_fields(live), _without_meta_fields(config))
    # 3. what this manager gave up, and no one else owns
    owned_by_others: Tree = {}
    for m in others:
        owned_by_others = union(owned_by_others, m.fields)
    if mine is not None:
        given_up = difference(mine.fields, applied)
        # what stays owned (by others, or by this apply below a field it gave up) keeps its place
        merged = remove(shape, merged, difference(given_up, owned_by_others), union(owned_by_others, applied))
    # 4. conflicts: fields this apply changes that others own
    changed, removed = changed_fields(shape, _without_meta_fields(live), merged)
    conflicts = [(m, p) for m in others for p in paths(intersection(m.fields, changed))]
    if conflicts and not force:
        raise conflict_error(conflicts)
    for m in others:  # forced: the others lose the fields; and nobody owns a field that is gone
        m.fields = difference(difference(m.fields, changed), removed)
    me.fields = applied
    if mine is not None and _same_tree(mine.fields, applied):
        me.fields = mine.fields
        if not changed and not removed:
            me.time = mine.time  # nothing changed: a repeated apply writes nothing
    result_managers = [me if m is mine else m for m in managers if m is mine or m.fields]
    if mine is None:
        result_managers.append(me)
    _set_managed_fields(merged, result_managers)
    return merged


def record_update(api_version: str, kind: str, live: dict | None, new: dict, manager: str, *, now: str,
                  status_is_separate: bool = True, subresource: str | None = None) -> None:
    """Record, in ``new``'s managedFields, that ``manager`` wrote the fields that differ from ``live``.

    ``live`` is None for a create. The fields move to the manager's ``Update``
    entry; other managers lose them (an update never conflicts); fields that are
    gone leave every set. Managed fields the request itself carries replace the
    stored ones (upstream's rule); an empty list clears them.
    """
    shape = root_shape(api_version, kind)
    old = _without_meta_fields(live or {})
    sent = (new.get("metadata") or {}).get("managedFields")
    base = new if sent is not None else (live or {})
    changed, removed = changed_fields(shape, old, _without_meta_fields(new))
    changed = owned_by_writes(changed, status_is_separate, subresource)
    managers = managers_of(base)
    me = Manager(manager, "Update", api_version, now, {}, subresource or "")
    mine = _stored_entry_of(me, managers)
    if not changed and not removed and mine is None:
        _set_managed_fields(new, managers)
        return
    for m in managers:  # the others lose what this update changed; everybody loses what is gone
        m.fields = difference(m.fields if m is mine else difference(m.fields, changed), removed)
    if mine is not None:
        # the usual update: fields this manager already owns (the set stays, only its time moves)
        me.fields = mine.fields if not difference(changed, mine.fields) else union(mine.fields, changed)
        if not changed:
            me.time = mine.time
    else:
        me.fields = changed
    result = [me if m is mine else m for m in managers if m is mine or m.fields]
    if mine is None and me.fields:
        result.append(me)
    _set_managed_fields(new, capped(result))


MAX_UPDATE_MANAGERS = 10  # upstream's cap on Update entries
OLD_UPDATES_MANAGER = "ancient-changes"


def capped(managers: list[Manager]) -> list[Manager]:
    """At most MAX_UPDATE_MANAGERS Update entries: the oldest are folded into "ancient-changes" (one per version).

    As upstream's: an object many writers touched keeps a bounded managedFields.
    """
    updaters = [m for m in managers if m.operation == "Update"]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return managers
    folded: dict[str, Manager] = {}  # apiVersion -> its ancient-changes entry
    for m in managers:
        if m.operation == "Update" and m.name == OLD_UPDATES_MANAGER and not m.subresource:
            folded[m.api_version] = m
    gone: set[int] = set()
    count = len(updaters)
    for m in sorted(updaters, key=lambda m: m.time or ""):  # oldest first
        if count <= MAX_UPDATE_MANAGERS:
            break
        bucket = folded.get(m.api_version)
        if bucket is m:
            continue
        if bucket is None:
            folded[m.api_version] = Manager(OLD_UPDATES_MANAGER, "Update", m.api_version, m.time, m.fields)
            managers = [folded[m.api_version] if x is m else x for x in managers]
            continue  # the first of its version becomes the bucket: no entry fewer yet
        bucket.fields = union(bucket.fields, m.fields)
        bucket.time = m.time  # the newer of the two
        gone.add(id(m))
        count -= 1
    return [m for m in managers if id(m) not in gone]


def same_but_times(a: dict, b: dict) -> bool:
    """Objects equal but for resourceVersion and the times of their managedFields entries.

    An apply whose config leaves out what defaulting fills in (an atomic list's
    items) changes the object before defaulting, not after: nothing to write.
    """
    def untimed(obj: dict) -> dict:
        meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "resourceVersion"}
        if "managedFields" in meta:
            meta["managedFields"] = [{k: v for k, v in e.items() if k != "time"} if isinstance(e, dict) else e
                                     for e in meta["managedFields"]]
        return {**obj, "metadata": meta}
    return untimed(a) == untimed(b)


def _written_through(config: dict, status_is_separate: bool, subresource: str | None) -> dict:
    """The part of ``config`` a write through this endpoint can change (the rest is ignored, as upstream's)."""
    if subresource == "status":
        return {k: v for k, v in config.items() if k in ("apiVersion", "kind", "metadata", "status")}
    if status_is_separate and "status" in config:
        return {k: v for k, v in config.items() if k != "status"}
    return config


def _set_managed_fields(obj: dict, managers: list[Manager]) -> None:
    meta = obj.setdefault("metadata", {})
    entries = [m.entry() for m in managers if m.fields]
    if entries:
        meta["managedFields"] = entries
    else:
        meta.pop("managedFields", None)


def _same_tree(a: Tree, b: Tree) -> bool:
    return not difference(a, b) and not difference(b, a)


def _without_meta_fields(obj: dict) -> dict:
    """``obj`` without its managedFields (they are not fields anyone owns)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    return obj
