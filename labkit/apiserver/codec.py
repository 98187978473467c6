"""JSON (and YAML) in and out of the apiserver: one place, one codec.

Objects are JSON dicts end to end, so every request and every etcd value goes
through here:

- :func:`dumps` / :func:`loads`: compact UTF-8 JSON with ``orjson`` (the
  answers, the watch events, the values stored in etcd). It writes the same
  bytes as ``json.dumps(obj, separators=(",", ":"), ensure_ascii=False)``,
  several times faster, which shows on lists and watches.
- :func:`copy`: a deep copy of an object (the registry copies before it
  changes what it was given).
- :func:`decode_request`: a request body, JSON or YAML, and the keys it
  repeats. A repeated key is legal JSON (the last one wins) but upstream's
  strict decoding reports it: ``duplicate field "metadata.name"`` for JSON,
  ``line 5: key "name" already set in map`` for YAML; with
  ``fieldValidation=Strict`` that is a 400, with ``Warn`` a warning. Neither
  ``orjson`` nor ``yaml.safe_load`` tells, so bodies are parsed with the
  standard library's ``json`` (one hook call per JSON object) and a PyYAML
  loader that notes the keys it sees twice. Most JSON bodies repeat nothing,
  and that can be proved after a quick ``orjson`` parse (``_quick_decode``):
  the slow parse is then only needed for the few that might.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import yaml


def dumps(data: Any) -> bytes:
    """Compact JSON, UTF-8, keys in insertion order."""
    try:
        return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        # What orjson refuses: integers beyond 64 bits (JSON has no such limit) and unpaired
        # surrogates (no UTF-8 form). The standard library writes the same compact JSON.
        return json.dumps(without_lone_surrogates(data), separators=(",", ":"), ensure_ascii=False).encode()


def without_lone_surrogates(value: Any) -> Any:
    """Strings with each unpaired UTF-16 surrogate (JSON's ``"\\ud800"``) made U+FFFD, as Go's decoder does.

    Python's json keeps them as they are, and they have no UTF-8 form.
    """
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace") \
            if any("\ud800" <= ch <= "\udfff" for ch in value) else value
    if isinstance(value, dict):
        return {without_lone_surrogates(k): without_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_lone_surrogates(v) for v in value]
    return value


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)


def copy(value: Any) -> Any:
    """A deep copy of JSON data (dicts, lists, scalars): what copy.deepcopy does for it, 3x faster.

    Strings, numbers, booleans and None are immutable and shared; nothing else
    is in an object (they all come from JSON).
    """
    if isinstance(value, dict):
        return {key: copy(sub) for key, sub in value.items()}
    if isinstance(value, list):
        return [copy(item) for item in value]
    return value


def decode_request(text: str, yaml_body: bool = False, keys_only: bool = False) -> tuple[Any, list]:
    """(the body's data, its repeated keys): JSON paths (``spec.paused``), or YAML's line messages.

    With ``keys_only`` (JSON) the repeated keys come as (path, key) pairs.
    """
    if yaml_body:
        return _yaml_noting_duplicates(text)
    proved, data = _quick_decode(text)
    if proved:
        return data, []
    return _json_noting_duplicates(text, keys_only)


def _json_noting_duplicates(text: str, keys_only: bool = False) -> tuple[Any, list]:
    """The standard library's parse of a JSON body, noting each object's repeated keys."""
    repeated: dict[int, list[str]] = {}  # id() of a decoded object -> the keys it had twice

    def to_dict(pairs: list[tuple[str, Any]]) -> dict:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            twice = repeated[id(obj)] = []
            for key, _ in pairs:
                if key in seen and key not in twice:
                    twice.append(key)
                seen.add(key)
        return obj

    data = json.loads(text, object_pairs_hook=to_dict, parse_constant=_not_json, parse_float=_finite_float)
    found = list(_repeated_paths(data, "", repeated)) if repeated else []
    paths = found if keys_only else [path for path, _ in found]
    if "\\u" in text or "\\U" in text:  # an escape may have been a lone surrogate
        data = without_lone_surrogates(data)
    return data, paths


def _quick_decode(text: str) -> tuple[bool, Any]:
    """(True, data) when ``orjson`` reads ``text`` as the standard library does below and no key repeats;
    (False, None) when that is not certain (then the slow parse decides, and words any error).

    A repeated key leaves a string out of the data (orjson keeps the last value, as Python's json does):
    the key, and any string in the value it replaced. So if the data holds as many strings (keys and
    string values) as the text writes, nothing repeats. The text's strings are counted from its quotes.
    Numbers: orjson reads an integer beyond 64 bits, which Python keeps exact, as a float; so any float
    sends the body the slow way (Kubernetes objects have next to none). What else the parsers could
    disagree on (NaN, 1e400, lone surrogates, BOMs) orjson refuses.
    """
    try:
        data = orjson.loads(text)
        held = _strings_held(data)
    except (ValueError, RecursionError):  # not JSON for orjson, or deeper than a walk goes
        return False, None
    if held is None or held != _strings_written(text):
        return False, None
    return True, data


def _strings_written(text: str) -> int:
    """How many strings a valid JSON text writes: its quotes, less the escaped ones (``\\"``), halved.

    Outside strings JSON has no backslash, and inside one each backslash starts an escape; escaped
    backslashes (``\\\\``) go first, so that ``\\\\"`` counts as a backslash, then a closing quote.
    """
    quotes = text.count('"')
    if "\\" in text:
        quotes -= text.replace("\\\\", "").count('\\"')
    return quotes // 2


def _strings_held(value: Any) -> int | None:
    """How many strings decoded JSON holds, keys included; None if it holds a float (see _quick_decode)."""
    if isinstance(value, dict):
        count, children = len(value), value.values()
    elif isinstance(value, list):
        count, children = 0, value
    else:
        return 1 if isinstance(value, str) else None if isinstance(value, float) else 0
    for child in children:
        if type(child) is str:  # most values: counted without a call
            count += 1
            continue
        held = _strings_held(child)
        if held is None:
            return None
        count += held
    return count


def _not_json(name: str) -> Any:
    """NaN, Infinity and -Infinity: Python's json reads them, JSON (and upstream) does not."""
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value ({name} is not JSON)")


def _finite_float(text: str) -> float:
    """A JSON number with a fraction or exponent; 1e400 is past float64, which Go's decoder refuses (Python's
    would read it as inf, and orjson would store null)."""
    value = float(text)
    if value in (math.inf, -math.inf):
        raise ValueError(f"json: cannot unmarshal number {text} into Go value of type float64")
    return value


def _repeated_paths(value: Any, path: str, repeated: dict[int, list[str]]):
    """(path, key) of each repeated key, in document order; paths in upstream's notation (``a.b[0].c``)."""
    if isinstance(value, dict):
        twice = repeated.get(id(value), ())
        for key, sub in value.items():
            child = f"{path}.{key}" if path else key
            if key in twice:
                yield child, key
            yield from _repeated_paths(sub, child, repeated)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _repeated_paths(item, f"{path}[{i}]", repeated)


class _DuplicateNotingLoader(yaml.SafeLoader):
    """yaml.safe_load as upstream's YAML-to-JSON reads a body, remembering (in go-yaml's words) every mapping
    key it met twice. Only JSON's types come out, as from sigs.k8s.io/yaml: a timestamp stays the text it was,
    ``!!binary`` gives its decoded bytes as text, and keys become strings (``1: a`` is ``{"1": "a"}``)."""

    # no implicit timestamps: "2001-12-14" is a string, as for go-yaml decoding into interface{}
    yaml_implicit_resolvers = {first: [(tag, regexp) for tag, regexp in resolvers
                                       if tag != "tag:yaml.org,2002:timestamp"]
                               for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}

    def __init__(self, stream):
        super().__init__(stream)
        self.duplicates: list[tuple[int, str]] = []  # (line, message)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    line = key_node.start_mark.line + 1
                    self.duplicates.append((line, f"line {line}: key {json.dumps(key_node.value)} already set in map"))
                seen.add(key_node.value)
        self.flatten_mapping(node)  # merge keys (<<), as SafeConstructor.construct_mapping
        mapping = {}
        for key_node, value_node in node.value:  # keys made strings first: 1 and true stay two keys
            key = _json_key(self.construct_object(key_node, deep=deep), key_node)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_yaml_binary(self, node):
        return super().construct_yaml_binary(node).decode("utf-8", "replace")

    def construct_yaml_timestamp(self, node):  # an explicit !!timestamp tag
        return self.construct_scalar(node)

    def construct_yaml_float(self, node):  # .inf and .nan have no JSON form: upstream's conversion refuses them
        value = super().construct_yaml_float(node)
        if value != value or value in (float("inf"), float("-inf")):
            word = "NaN" if value != value else ("+Inf" if value > 0 else "-Inf")
            raise yaml.constructor.ConstructorError(None, None, f"json: unsupported value: {word}", node.start_mark)
        return value


_DuplicateNotingLoader.add_constructor("tag:yaml.org,2002:binary", _DuplicateNotingLoader.construct_yaml_binary)
_DuplicateNotingLoader.add_constructor("tag:yaml.org,2002:timestamp",
                                       _DuplicateNotingLoader.construct_yaml_timestamp)
_DuplicateNotingLoader.add_constructor("tag:yaml.org,2002:float", _DuplicateNotingLoader.construct_yaml_float)


def _json_key(key, node) -> str:
    """A YAML key as the JSON key upstream's conversion makes of it (true -> "true", 1 -> "1", null -> "null")."""
    if isinstance(key, str):
        return key
    if isinstance(key, (bool, int, float)) or key is None:
        return json.dumps(key)
    raise yaml.constructor.ConstructorError(None, None, f"a mapping key must be a scalar, not a {type(key).__name__}",
                                            node.start_mark)


# A YAML alias (*a) repeats a node without copying it; every later walk (copies, validation, JSON encoding)
# expands it. A few lines of nested aliases ("billion laughs") expand to billions of values, so upstream's
# go-yaml refuses "excessive aliasing"; labkit refuses a document whose expanded form exceeds this many nodes.
MAX_EXPANDED_YAML_NODES = 1_000_000


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes ``root`` stands for once its aliases are expanded; a cycle (``&a [*a]``) is refused."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    todo: list[tuple[yaml.Node, bool]] = [(root, False)]
    while todo:
        node, children_done = todo.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            children = _children(node)
            size[key] = min(1 + sum(size[id(child)] for child in children), MAX_EXPANDED_YAML_NODES + 1)
            continue
        if key in size:
            continue
        if key in on_path:
            raise yaml.constructor.ConstructorError(None, None, "an alias refers to a node that contains it",
                                                    node.start_mark)
        on_path.add(key)
        todo.append((node, True))
        todo.extend((child, False) for child in _children(node) if id(child) not in size)
    return size[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _yaml_noting_duplicates(text: str) -> tuple[Any, list[str]]:
    loader = _DuplicateNotingLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:  # an empty document
            return None, []
        if "*" in text and _expanded_size(node) > MAX_EXPANDED_YAML_NODES:
            raise yaml.constructor.ConstructorError(None, None, "yaml: document contains excessive aliasing",
                                                    node.start_mark)
        data = loader.construct_document(node)
        if "\\u" in text or "\\U" in text:
            data = without_lone_surrogates(data)
        return data, [message for _, message in sorted(loader.duplicates)]  # in line order, as go-yaml
    finally:
        loader.dispose()
