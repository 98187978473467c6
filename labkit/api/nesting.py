"""How deeply a request body may nest: the limit Python needs that Go's decoder gives for free.

Go decodes JSON without recursion limits of its own (it stops at 10000 levels).
Python's parser, ``copy.deepcopy`` and every recursive walk over an object
(validation, merging, encoding) spend interpreter frames per level, and the
interpreter stops at about 1000 frames with a RecursionError - a 500 for what
is the client's mistake. No Kubernetes object comes anywhere near: the deepest
built-in fields (a pod template's projected volume items, managedFields'
fieldsV1) nest under 30 levels. So a body nested deeper than ``MAX_DEPTH`` is
refused up front as a 400 that says why.
"""

from __future__ import annotations

from typing import Any

from labkit.api import errors

MAX_DEPTH = 100


def nesting_depth(value: Any, stop_at: int = MAX_DEPTH + 1) -> int:
    """How many objects/lists deep ``value`` goes (a scalar is 0), up to ``stop_at``; walked without recursion.

    YAML aliases make one list or object appear in many places ("billion laughs"): each is
    walked again only when reached deeper than before, so the walk stays linear; an alias of
    its own parent (a cycle) is as deep as ``stop_at``.
    """
    deepest = 0
    reached: dict[int, int] = {}  # id of a list/object -> the deepest level it was walked at
    todo = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if reached.get(id(item), 0) >= depth:
            continue
        if depth >= stop_at:
            return stop_at
        reached[id(item)] = depth
        deepest = max(deepest, depth)
        todo.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def check_depth(value: Any, what: str = "the request body") -> Any:
    """``value`` itself, or a 400 when it nests deeper than ``MAX_DEPTH``."""
    if nesting_depth(value) > MAX_DEPTH:
        raise too_deep(what)
    return value


def too_deep(what: str = "the request body") -> errors.StatusError:
    return errors.bad_request(f"{what} is nested too deeply: at most {MAX_DEPTH} levels of objects and lists "
                              "are accepted")
