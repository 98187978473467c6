"""The three patch types of ``PATCH /api/...``: JSON merge, JSON patch, strategic merge.

``apply_patch(resource, current, body, content_type)`` returns the patched
object as a new dict (``current`` is never changed); the apiserver then
validates and stores it like an update.

- ``application/merge-patch+json`` (RFC 7386): objects merge key by key,
  ``null`` deletes, anything else (lists too) replaces.
- ``application/json-patch+json`` (RFC 6902): a list of operations
  (add/remove/replace/move/copy/test) on JSON pointers. An operation that does
  not apply (a failed ``test``, a missing path) is upstream's 422: ``Invalid``,
  "the server rejected our request due to an error in our request", with the
  reason in ``details.causes``.
- ``application/strategic-merge-patch+json``: upstream's strategic merge, what
  ``kubectl apply``, ``kubectl patch`` and ``kubectl edit`` send. Like a merge
  patch, but lists declared ``patchStrategy: merge`` in the schema merge item by
  item: lists of objects by their merge key (containers by ``name``,
  ownerReferences by ``uid``), lists of scalars as sets (finalizers). The patch
  may carry directives:

  ``{"$patch": "delete", "name": "x"}`` in a list   remove the item named x
  ``{"$patch": "replace"}`` in a list or object       replace it with the rest
  ``{"$patch": "delete"}`` in an object              empty it
  ``"$retainKeys": [...]``                            drop the keys not listed
  ``"$deleteFromPrimitiveList/finalizers": [...]``     remove these scalars
  ``"$setElementOrder/containers": [...]``             final order of the list

  Merge keys and strategies come from the schema
  (``labkit.api.schema.patch_meta``), never from a table of our own.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Callable

from labkit.api import errors, nesting
from labkit.api.registry import Resource

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)

# Upstream refuses JSON patches with more operations than this (413).
MAX_JSON_PATCH_OPERATIONS = 10000

PatchMetaLookup = Callable[[str, str, tuple], Any]  # (apiVersion, kind, path) -> PatchMeta | None


def apply_patch(resource: Resource, current: dict, body: bytes, content_type: str, *,
                patch_meta: PatchMetaLookup | None = None) -> dict:
    """Apply a PATCH body of ``content_type`` to ``current``; return the new object."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in PATCH_TYPES:
        raise errors.unsupported_media_type(content_type)
    patch = _parse_json(body)
    target = copy.deepcopy(current)
    if media_type == MERGE_PATCH:
        result = merge_patch(target, patch)
    elif media_type == JSON_PATCH:
        result = json_patch(target, patch)
    else:
        if not isinstance(patch, dict):
            raise errors.bad_request(
                f"json: cannot unmarshal {errors.go_json_type(patch)} into Go value of type map[string]interface {{}}")
        lookup = patch_meta if patch_meta is not None else _schema_patch_meta
        result = StrategicMerge(resource.api_version, resource.kind, lookup).merge_map(target, patch, ())
    if not isinstance(result, dict):
        name = (current.get("metadata") or {}).get("name", "")
        raise errors.invalid(resource.kind, name, [errors.Cause(
            field="patch", message=f"the patched object must be a JSON object, got {errors.go_json_type(result)}")],
            group=resource.group)
    return result


def _schema_patch_meta(api_version: str, kind: str, path: tuple) -> Any:
    from labkit.api.schema import patch_meta  # the schema is large: load it on first use
    return patch_meta(api_version, kind, path)


def _parse_json(body: bytes | str) -> Any:
    """The patch document; malformed JSON is a 400 with the parser's message."""
    try:
        text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body
    except UnicodeDecodeError as exc:
        raise errors.bad_request(f"the patch is not valid UTF-8: {exc}") from None
    try:
        patch = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise nesting.too_deep("the patch") from None
    except ValueError as exc:
        raise errors.bad_request(f"the patch is not valid JSON: {exc}") from None
    return nesting.check_depth(patch, "the patch")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    """A JSON number as a float; one too big for a float (1e400) is refused, as Go's decoder does."""
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text} is out of range (float64)")
    return value


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values (``true`` is not ``1``; ``1`` is ``1.0``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


# -- JSON merge patch (RFC 7386) --------------------------------------------------------

def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: merge ``patch`` into ``target`` (a fresh value is returned)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- JSON patch (RFC 6902) --------------------------------------------------------------

class _OperationFailed(Exception):
    """An operation that does not apply to the document (upstream answers 422)."""


def json_patch(document: Any, operations: Any) -> Any:
    """RFC 6902: apply ``operations`` in order to (a copy of) ``document``."""
    if not isinstance(operations, list):
        raise errors.bad_request(
            f"json: cannot unmarshal {errors.go_json_type(operations)} into Go value of type jsonpatch.Patch")
    if len(operations) > MAX_JSON_PATCH_OPERATIONS:
        raise errors.too_large(f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, "
                               f"got {len(operations)}")
    checked = [_checked_operation(i, op) for i, op in enumerate(operations)]
    doc = copy.deepcopy(document)
    for op in checked:
        try:
            doc = _apply_operation(doc, op)
        except _OperationFailed as exc:
            raise errors.StatusError(
                422, "Invalid", "the server rejected our request due to an error in our request",
                causes=[errors.Cause(field="", reason="UnexpectedServerResponse", message=str(exc))]) from None
    return doc


def _checked_operation(index: int, op: Any) -> dict:
    """Decode one operation; a malformed one is a 400 (the patch itself is wrong)."""
    if not isinstance(op, dict):
        raise errors.bad_request(f"json patch operation {index} must be an object, got {errors.go_json_type(op)}")
    kind = op.get("op")
    if kind not in ("add", "remove", "replace", "move", "copy", "test"):
        raise errors.bad_request(f"json patch operation {index}: Unexpected kind: {kind}")
    if not isinstance(op.get("path"), str):
        raise errors.bad_request(f"json patch operation {index} ({kind}): missing or non-string \"path\"")
    if kind in ("move", "copy") and not isinstance(op.get("from"), str):
        raise errors.bad_request(f"json patch operation {index} ({kind}): missing or non-string \"from\"")
    if kind in ("add", "replace", "test") and "value" not in op:
        raise errors.bad_request(f"json patch operation {index} ({kind}): missing \"value\"")
    for key in ("path", "from"):
        if key in op and isinstance(op[key], str):
            _pointer(op[key], index)
    return op


def _pointer(text: str, index: int | None = None) -> list[str]:
    """RFC 6901 pointer tokens: "" is the whole document, "/a~1b/0" is ["a/b", "0"]."""
    if text == "":
        return []
    if not text.startswith("/"):
        where = f"json patch operation {index}: " if index is not None else ""
        raise errors.bad_request(f'{where}JSON pointer must be empty or start with "/": "{text}"')
    tokens = []
    for raw in text[1:].split("/"):
        if "~" in raw.replace("~0", "").replace("~1", ""):
            raise errors.bad_request(f'invalid escape in JSON pointer "{text}": only ~0 and ~1 are allowed')
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tokens


def _array_index(token: str, length: int, path: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return length
    if not token.isdigit() or (len(token) > 1 and token[0] == "0"):
        raise _OperationFailed(f'invalid array index "{token}" in path "{path}"')
    i = int(token)
    if i > length or (i == length and not allow_end):
        raise _OperationFailed(f"index {i} is out of bounds (array length {length}) in path \"{path}\"")
    return i


def _resolve(doc: Any, tokens: list[str], path: str) -> Any:
    """The value at ``tokens``; missing is an operation failure."""
    current = doc
    for depth, token in enumerate(tokens):
        where = "/" + "/".join(t.replace("~", "~0").replace("/", "~1") for t in tokens[:depth + 1])
        if isinstance(current, dict):
            if token not in current:
                raise _OperationFailed(f'doc is missing path: "{path}": missing value (no "{where}")')
            current = current[token]
        elif isinstance(current, list):
            current = current[_array_index(token, len(current), path, allow_end=False)]
        else:
            raise _OperationFailed(f'doc is missing path: "{path}": {where} is inside a {errors.go_json_type(current)}')
    return current


def _apply_operation(doc: Any, op: dict) -> Any:
    kind, path = op["op"], op["path"]
    tokens = _pointer(path)
    if kind == "test":
        try:
            actual = _resolve(doc, tokens, path)
        except _OperationFailed:
            raise _OperationFailed(f"testing value {path} failed: test failed (no value at that path)") from None
        if not json_equal(actual, op["value"]):
            raise _OperationFailed(f"testing value {path} failed: test failed")
        return doc
    if kind == "add":
        return _add(doc, tokens, path, copy.deepcopy(op["value"]))
    if kind == "remove":
        doc, _ = _remove(doc, tokens, path)
        return doc
    if kind == "replace":
        _resolve(doc, tokens, path)  # the target must exist
        doc, _ = _remove(doc, tokens, path)
        return _add(doc, tokens, path, copy.deepcopy(op["value"]))
    source_path = op["from"]
    source = _pointer(source_path)
    if kind == "move":
        if tokens[:len(source)] == source and len(tokens) > len(source):
            raise _OperationFailed(f'cannot move "{source_path}" into its own child "{path}"')
        doc, value = _remove(doc, source, source_path)
        return _add(doc, tokens, path, value)
    # copy
    value = copy.deepcopy(_resolve(doc, source, source_path))
    return _add(doc, tokens, path, value)


def _add(doc: Any, tokens: list[str], path: str, value: Any) -> Any:
    if not tokens:
        return value
    parent = _resolve(doc, tokens[:-1], path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_array_index(last, len(parent), path, allow_end=True), value)
    else:
        raise _OperationFailed(f'add operation does not apply: doc is missing path: "{path}": missing value')
    return doc


def _remove(doc: Any, tokens: list[str], path: str) -> tuple[Any, Any]:
    if not tokens:
        return None, doc
    parent = _resolve(doc, tokens[:-1], path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _OperationFailed(f'doc is missing path: "{path}": missing value')
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_array_index(last, len(parent), path, allow_end=False))
    raise _OperationFailed(f'doc is missing path: "{path}": missing value')


# -- strategic merge patch ----------------------------------------------------------------

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"
SET_ELEMENT_ORDER = "$setElementOrder/"


def _smp_error(message: str) -> errors.StatusError:
    return errors.bad_request(message)


class StrategicMerge:
    """Upstream's strategic merge of one patch into one object of ``kind``.

    ``lookup(api_version, kind, path)`` answers the patch metadata of the field
    at ``path`` (field names from the root; list items are transparent), an
    object with ``.strategy`` ("merge", "replace", "retainKeys",
    "merge,retainKeys" or None) and ``.merge_key``; None for unknown fields.
    Lists without a merge strategy are replaced, objects are merged.
    """

    def __init__(self, api_version: str, kind: str, lookup: PatchMetaLookup):
        self.api_version = api_version
        self.kind = kind
        self.lookup = lookup

    def _meta(self, path: tuple) -> tuple[set[str], str | None]:
        meta = self.lookup(self.api_version, self.kind, path)
        if meta is None:
            return set(), None
        strategies = set(filter(None, (meta.strategy or "").split(",")))
        return strategies, meta.merge_key

    # objects

    def merge_map(self, original: dict, patch: dict, path: tuple) -> dict:
        """Merge ``patch`` into ``original`` (which this call may change) and return the result."""
        if DIRECTIVE in patch:
            directive = patch[DIRECTIVE]
            if directive == "replace":
                return self.merge_map({}, {k: v for k, v in patch.items() if k != DIRECTIVE}, path)
            if directive == "delete":
                return {}
            raise _smp_error(f"unknown patch type: {directive} in map: {_show(patch)}")
        result = dict(original)
        patch = dict(patch)
        if RETAIN_KEYS in patch:
            self._retain_keys(result, patch, path)
        self._ordered_lists(result, patch, path)
        for key, value in patch.items():
            if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
                self._delete_from_primitive_list(result, key[len(DELETE_FROM_PRIMITIVE_LIST):], value, path)
                continue
            if key.startswith("$"):
                raise _smp_error(f'unknown strategic merge patch directive "{key}" at {_where(path)}')
            child = path + (key,)
            if value is None:  # null deletes the field (a null for a missing field does nothing)
                result.pop(key, None)
                continue
            if key not in result:
                result[key] = self.fresh(value, child)
                continue
            before = result[key]
            if isinstance(before, dict) and isinstance(value, dict):
                strategies, _ = self._meta(child)
                result[key] = self.fresh(value, child) if "replace" in strategies else self.merge_map(before, value, child)
            elif isinstance(before, list) and isinstance(value, list):
                result[key] = self._merge_list_field(before, value, child)
            else:
                result[key] = self.fresh(value, child)
        return result

    def _retain_keys(self, result: dict, patch: dict, path: tuple) -> None:
        keep = patch.pop(RETAIN_KEYS)
        if not isinstance(keep, list):
            raise _smp_error("invalid patch format of retainKeys")
        for key, value in patch.items():
            if value is None or key.startswith(DELETE_FROM_PRIMITIVE_LIST) or key.startswith(SET_ELEMENT_ORDER):
                continue
            if key not in keep:
                raise _smp_error(f'invalid patch format of retainKeys: "{key}" at {_where(path)} is not in $retainKeys')
        for key in list(result):
            if key not in keep:
                del result[key]

    def _delete_from_primitive_list(self, result: dict, field: str, values: Any, path: tuple) -> None:
        if not field or not isinstance(values, list):
            raise _smp_error("invalid patch format of primitive list")
        existing = result.get(field)
        if isinstance(existing, list):
            result[field] = [x for x in existing if not any(json_equal(x, v) for v in values)]

    def _ordered_lists(self, result: dict, patch: dict, path: tuple) -> None:
        """Handle every ``$setElementOrder/<field>`` with its list, and take both out of ``patch``."""
        for directive in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
            order = patch.pop(directive)
            field = directive[len(SET_ELEMENT_ORDER):]
            if not field or not isinstance(order, list):
                raise _smp_error("invalid patch format of setElementOrder list")
            child = path + (field,)
            strategies, merge_key = self._meta(child)
            has_before, has_patch = field in result, field in patch
            before = result.get(field)
            patch_list = patch.pop(field, None)
            if has_before and not isinstance(before, list):
                raise _smp_error(f"{_where(child)}: $setElementOrder applies to a list, the object has {errors.go_json_type(before)}")
            if has_patch and not isinstance(patch_list, list):
                raise _smp_error("invalid patch format of setElementOrder list")
            _check_order(patch_list or [], order, merge_key)
            if has_before and has_patch:
                merged = self._merge_list_field(before, patch_list, child)
            elif has_patch:
                merged = self.fresh(patch_list, child)
            elif has_before:
                merged = before
            else:
                continue
            live_order = before or []
            if has_before and has_patch and merge_key and "merge" in strategies:
                live_order = _live_list_after_in_place_edits(before, patch_list, merge_key)
            in_order, server_only = _partition(merged, order, merge_key)
            result[field] = _normalize_order(in_order, server_only, order, live_order, merge_key)

    # lists

    def _merge_list_field(self, before: list, patch: list, path: tuple) -> list:
        strategies, merge_key = self._meta(path)
        if "merge" not in strategies:
            return self.fresh(patch, path)
        return self.merge_list(before, patch, path, merge_key)

    def merge_list(self, original: list, patch: list, path: tuple, merge_key: str | None) -> list:
        """Merge a ``patchStrategy: merge`` list: objects by ``merge_key``, scalars as a set."""
        if not original and not patch:
            return list(original)
        kinds = {_item_kind(x) for x in original + patch}
        if "array" in kinds:
            raise _smp_error("lists of lists are not supported")
        if len(kinds) > 1:
            raise _smp_error(f"list element types are not identical at {_where(path)}")
        if kinds != {"object"}:
            merged: list = []
            for item in original + patch:
                if not any(json_equal(item, seen) for seen in merged):
                    merged.append(item)
            in_patch, server_only = _partition(merged, patch, None)
            return _normalize_order(in_patch, server_only, patch, original, None)
        if not merge_key:
            raise _smp_error(f"cannot merge lists without merge key for {_where(path)}")
        original, patch = self._special_elements(original, patch, merge_key, path)
        merged = list(original)
        for item in patch:
            if merge_key not in item:
                raise _smp_error(f"map: {_show(item)} does not contain declared merge key: {merge_key}")
            at = _index_of(merged, item, merge_key)
            if at >= 0:
                merged[at] = self.merge_map(merged[at], item, path)
            else:
                merged.append(self.fresh(item, path))
        in_patch, server_only = _partition(merged, patch, merge_key)
        return _normalize_order(in_patch, server_only, patch, original, merge_key)

    def _special_elements(self, original: list, patch: list, merge_key: str, path: tuple) -> tuple[list, list]:
        """Apply ``$patch: delete|replace`` items; return the original left and the plain patch items."""
        plain: list = []
        replace = False
        for item in patch:
            if DIRECTIVE not in item:
                plain.append(item)
                continue
            directive = item[DIRECTIVE]
            if directive == "delete":
                if merge_key not in item:
                    raise _smp_error(f"map: {_show(item)} does not contain declared merge key: {merge_key}")
                original = [x for x in original
                            if not (isinstance(x, dict) and merge_key in x and json_equal(x[merge_key], item[merge_key]))]
            elif directive == "replace":
                replace = True
            elif directive == "merge":
                raise _smp_error("merging lists cannot yet be specified in the patch")
            else:
                raise _smp_error(f"unknown patch type: {directive} in map: {_show(item)}")
        if replace:
            return [self.fresh(x, path) for x in plain], []
        return original, plain

    # values with nothing to merge into

    def fresh(self, value: Any, path: tuple) -> Any:
        """A patch value placed where the object had none: nulls dropped, directives applied."""
        if isinstance(value, dict):
            return self.merge_map({}, value, path)
        if isinstance(value, list):
            strategies, merge_key = self._meta(path)
            if "merge" in strategies and all(isinstance(x, dict) for x in value) and merge_key:
                return self.merge_list([], value, path, merge_key)
            return [self.fresh(x, path) if isinstance(x, (dict, list)) else x for x in value]
        return value


def _item_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "scalar:" + errors.go_json_type(value)


def _index_of(items: list, item: Any, merge_key: str | None) -> int:
    """Where ``item`` is in ``items``: by merge key value for objects, by value for scalars; -1 if absent."""
    for i, candidate in enumerate(items):
        if merge_key:
            if (isinstance(candidate, dict) and isinstance(item, dict) and merge_key in candidate
                    and merge_key in item and json_equal(candidate[merge_key], item[merge_key])):
                return i
        elif json_equal(candidate, item):
            return i
    return -1


def _partition(merged: list, present_in: list, merge_key: str | None) -> tuple[list, list]:
    """Split ``merged`` into the items named in ``present_in`` and the server-only rest."""
    named, server_only = [], []
    for item in merged:
        (named if _index_of(present_in, item, merge_key) >= 0 else server_only).append(item)
    return named, server_only


def _sorted_by(items: list, order: list, merge_key: str | None) -> list:
    """``items`` in the order they appear in ``order`` (those not in it keep their place at the end)."""
    positions = [(_index_of(order, item, merge_key), i) for i, item in enumerate(items)]
    found = sorted((p, i) for p, i in positions if p >= 0)
    missing = [i for p, i in positions if p < 0]
    return [items[i] for _, i in found] + [items[i] for i in missing]


def _normalize_order(patch_items: list, server_only: list, patch_order: list, server_order: list,
                     merge_key: str | None) -> list:
    """Upstream's ordering rule: patch items in patch order, server-only items in server order,
    interleaved by their positions in the live list; when that cannot decide, patch items first."""
    right = _sorted_by(patch_items, patch_order, merge_key)
    left = _sorted_by(server_only, server_order, merge_key)
    out: list = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j]); j += 1
        elif j >= len(right):
            out.append(left[i]); i += 1
        else:
            li = _index_of(server_order, left[i], merge_key)
            ri = _index_of(server_order, right[j], merge_key)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i]); i += 1
            else:
                out.append(right[j]); j += 1
    return out


def _live_list_after_in_place_edits(live: list, patch: list, merge_key: str) -> list:
    """The live list as upstream's ``$setElementOrder`` step reads it, after merging ``patch`` into it.

    Upstream (Go) merges the patch into the live list *in place*: a ``$patch: delete``
    item is removed by shifting the later items left in the same array, and new items
    are appended into its spare capacity. The ordering step then reads the live list
    through its old, unchanged length, so it sees the shifted items (the last one twice)
    and the appended ones. Server-only items are placed by their positions in *that*
    list, so without a delete (no shift) this is just the live list. The capacity is the
    one Go's JSON decoder gives a list of n items (it appends: 1, 2, 4, 8 ... slots).
    """
    length = len(live)
    capacity = 1
    while capacity < length:
        capacity *= 2
    slots: list = list(live) + [None] * (capacity - length)
    keys = [x.get(merge_key) if isinstance(x, dict) else None for x in slots]
    plain = [x for x in patch if isinstance(x, dict) and DIRECTIVE not in x]
    for item in patch:
        if isinstance(item, dict) and item.get(DIRECTIVE) == "delete" and merge_key in item:
            while True:  # every live item with that key, each shifting the rest left by one
                at = next((i for i in range(length)
                           if keys[i] is not None and json_equal(keys[i], item[merge_key])), -1)
                if at < 0:
                    break
                slots[at:length - 1], keys[at:length - 1] = slots[at + 1:length], keys[at + 1:length]
                length -= 1
    if any(isinstance(x, dict) and x.get(DIRECTIVE) == "replace" for x in patch):
        plain = []  # the live list is set aside whole: nothing more is written into it
    for item in plain:
        if any(keys[i] is not None and json_equal(keys[i], item.get(merge_key)) for i in range(length)):
            continue  # merged in place: same key at the same position
        if length == capacity:
            break  # Go moves the list to a bigger array: later writes are not seen through the old one
        slots[length], keys[length] = item, item.get(merge_key)
        length += 1
    return slots[:len(live)]


def _check_order(patch_list: list, order: list, merge_key: str | None) -> None:
    """Every (non-deleting) patch item must appear in ``$setElementOrder``, in the same relative order."""
    if not patch_list or not order:
        return
    items = [x for x in patch_list if not (isinstance(x, dict) and DIRECTIVE in x)]
    if merge_key:
        for x in items + order:
            if not isinstance(x, dict) or merge_key not in x:
                raise _smp_error(f"map: {_show(x)} does not contain declared merge key: {merge_key}")
    pi = oi = 0
    while pi < len(items) and oi < len(order):
        a, b = items[pi], order[oi]
        same = json_equal(a[merge_key], b[merge_key]) if merge_key else json_equal(a, b)
        if same:
            pi += 1
        oi += 1
    if pi < len(items):
        raise _smp_error(f"The order in patch list: {_show(patch_list)} doesn't match $setElementOrder list: {_show(order)}")


def _where(path: tuple) -> str:
    return ".".join(path) if path else "the object root"


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
