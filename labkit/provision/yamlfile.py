"""YAML that remembers where things are.

Every mapping and list loaded here knows its file and line, and the line of
each key or item, so errors can point at the exact spot (``roles/x/tasks.yaml:12``).
A mapping that repeats a key is an error, not a silent override.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from labkit.provision.errors import YamlError


class YamlMap(dict):
    """A dict loaded from YAML: ``.file``, ``.line`` and ``.key_lines[key]``."""

    file: str = "<string>"
    line: int = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.key_lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class YamlList(list):
    """A list loaded from YAML: ``.file``, ``.line`` and ``.item_lines[i]``."""

    file: str = "<string>"
    line: int = 0

    def __init__(self, *args):
        super().__init__(*args)
        self.item_lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings and sequences carry their marks."""

    file_name = "<string>"


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> YamlMap:
    own_pairs = len(node.value)
    loader.flatten_mapping(node)  # resolves YAML merge keys (<<) into leading pairs
    merged = len(node.value) - own_pairs
    result = YamlMap()
    result.file, result.line = loader.file_name, _line(node)
    own_lines: dict = {}
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise YamlError(f"a mapping key must be a plain value, not {type(key).__name__}", loader.file_name, _line(key_node)) from None
        own = index >= merged  # keys merged in with << may be overridden; own keys may not repeat
        if own and key in own_lines:
            raise YamlError(f"duplicate key {key!r} (first at line {own_lines[key]})", loader.file_name, _line(key_node))
        if own:
            own_lines[key] = _line(key_node)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = _line(key_node)
    return result


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> YamlList:
    result = YamlList(loader.construct_object(child, deep=True) for child in node.value)
    result.file, result.line = loader.file_name, _line(node)
    result.item_lines = [_line(child) for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


def load_yaml_text(text: str, file_name: str = "<string>") -> Any:
    """Parse one YAML document; syntax errors become YamlError with file:line."""
    loader = _LineLoader(text)
    loader.file_name = file_name
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise YamlError(f"YAML syntax error: {problem}", file_name, mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"YAML error: {exc}", file_name) from None
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> Any:
    """Load a YAML file with line marks (see YamlMap, YamlList)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise YamlError(f"cannot read: {exc.strerror}", str(path)) from None
    return load_yaml_text(text, str(path))


def where(obj: Any, key: Any = None) -> tuple[str | None, int | None]:
    """(file, line) of a loaded mapping/list, or of one of its keys/items."""
    if isinstance(obj, (YamlMap, YamlList)):
        return obj.file, (obj.line_of(key) if key is not None else obj.line)
    return None, None
