"""Label and field selectors, as the apiserver and every controller read them.

Label selectors (``?labelSelector=app=web,tier notin (db),!canary``) use
upstream's grammar::

    selector    := requirement ("," requirement)*
    requirement := ["!"] KEY [ ("=" | "==" | "!=" | ">" | "<") VALUE
                              | ("in" | "notin") "(" VALUE ("," VALUE)* ")" ]

A bare ``KEY`` means "the label exists", ``!KEY`` "it does not"; ``,`` is AND.
Whitespace between tokens is ignored. Keys and values are checked like
upstream's (a DNS-subdomain prefix, a 63-character name; values may be
empty), and a bad selector is a 400 worded like upstream's parser.

Controllers hold selectors as metav1.LabelSelector dicts (``matchLabels``
plus ``matchExpressions``); ``selector_from_label_selector_dict`` turns one
into the same ``LabelSelector``.

Field selectors (``?fieldSelector=spec.nodeName=worker-1,status.phase!=Failed``)
are a flat AND of ``=``/``==``/``!=`` terms over the few fields each resource
makes selectable (upstream's lists, see ``SELECTABLE_FIELDS``); any other field
is ``field label not supported: <field>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from labkit.api import errors
from labkit.api.registry import Resource

# -- label keys and values, validated as upstream does --------------------------------

_LABEL_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS1123_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

_LABEL_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    f"alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    f"'{_LABEL_NAME_FMT}')"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
    "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def label_key_errors(key: str) -> list[str]:
    """Why ``key`` is not a valid label key (``[prefix/]name``), in upstream's words; [] if it is."""
    parts = key.split("/")
    if len(parts) > 2:
        return ["a valid label key " + _LABEL_NAME_MSG
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    errs: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                errs.append("prefix part must be no more than 253 bytes")
            if not _DNS1123_SUBDOMAIN_RE.match(prefix):
                errs.append("prefix part " + _SUBDOMAIN_MSG)
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 bytes")
    if not _LABEL_NAME_RE.match(name):
        errs.append("name part " + _LABEL_NAME_MSG)
    return errs


def label_value_errors(value: str) -> list[str]:
    """Why ``value`` is not a valid label value, in upstream's words; [] if it is."""
    errs: list[str] = []
    if len(value) > 63:
        errs.append("must be no more than 63 bytes")
    if not _LABEL_VALUE_RE.match(value):
        errs.append(_LABEL_VALUE_MSG)
    return errs


# -- label selectors ------------------------------------------------------------------

# Operators, spelled as upstream's selection package spells them (used in messages).
EXISTS, DOES_NOT_EXIST = "exists", "!"
IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER, LESS = "in", "notin", "=", "==", "!=", "gt", "lt"
_BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER, LESS)


@dataclass(frozen=True)
class Requirement:
    """One condition on one label: ``key <operator> values``."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator in (IN, EQUALS, DOUBLE_EQUALS):
            return present and value in self.values
        if self.operator in (NOT_IN, NOT_EQUALS):
            return not present or value not in self.values
        if self.operator == EXISTS:
            return present
        if self.operator == DOES_NOT_EXIST:
            return not present
        if self.operator in (GREATER, LESS):
            if not present:
                return False
            try:
                have, want = int(value), int(self.values[0])
            except (TypeError, ValueError):
                return False
            return have > want if self.operator == GREATER else have < want
        return False

    def __str__(self) -> str:
        if self.operator == EXISTS:
            return self.key
        if self.operator == DOES_NOT_EXIST:
            return "!" + self.key
        values = ",".join(sorted(self.values))
        if self.operator in (IN, NOT_IN):
            return f"{self.key} {self.operator} ({values})"
        symbol = {GREATER: ">", LESS: "<"}.get(self.operator, self.operator)
        return f"{self.key}{symbol}{values}"


@dataclass(frozen=True)
class LabelSelector:
    """An AND of requirements. ``matches_nothing`` is upstream's Nothing() (a nil metav1 selector)."""

    requirements: tuple[Requirement, ...] = ()
    matches_nothing: bool = False

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (it selects every object)."""
        return not self.requirements and not self.matches_nothing

    def matches(self, labels: dict[str, str] | None) -> bool:
        if self.matches_nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    @classmethod
    def parse(cls, text: str | None) -> "LabelSelector":
        """Parse ``?labelSelector=``; a bad selector raises a 400 BadRequest worded like upstream."""
        if text is None:
            return cls()
        try:
            requirements = _LabelParser(text).parse()
        except _SelectorSyntaxError as exc:
            raise errors.bad_request(str(exc)) from None
        return cls(tuple(sorted(requirements, key=lambda r: r.key)))

    @classmethod
    def from_labels(cls, labels: dict[str, str] | None) -> "LabelSelector":
        """Exactly these labels (``k=v`` for each); an empty dict selects everything."""
        reqs = [Requirement(k, EQUALS, (v,)) for k, v in (labels or {}).items()]
        return cls(tuple(sorted(reqs, key=lambda r: r.key)))


def selector_from_label_selector_dict(selector: dict[str, Any] | None) -> LabelSelector:
    """A metav1.LabelSelector dict as a LabelSelector, as upstream's LabelSelectorAsSelector.

    ``None`` selects nothing (a controller without a selector owns no pods);
    ``{}`` selects everything. A bad operator or key raises a 400 BadRequest.
    """
    if selector is None:
        return LabelSelector(matches_nothing=True)
    if not isinstance(selector, dict):
        raise errors.bad_request(f"a label selector must be an object, got {_json_type(selector)}")
    requirements: list[Requirement] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        requirements.append(_checked_requirement(key, EQUALS, [value]))
    for expression in selector.get("matchExpressions") or []:
        if not isinstance(expression, dict):
            raise errors.bad_request(f"a label selector requirement must be an object, got {_json_type(expression)}")
        key = expression.get("key", "")
        op = expression.get("operator")
        values = list(expression.get("values") or [])
        operator = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}.get(op)
        if operator is None:
            raise errors.bad_request(f'"{op}" is not a valid label selector operator')
        requirements.append(_checked_requirement(key, operator, values))
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


def _checked_requirement(key: str, operator: str, values: list[Any]) -> Requirement:
    try:
        return _new_requirement(key, operator, [v if isinstance(v, str) else str(v) for v in values])
    except _SelectorSyntaxError as exc:
        raise errors.bad_request(str(exc)) from None


class _SelectorSyntaxError(ValueError):
    pass


def _new_requirement(key: str, operator: str, values: list[str]) -> Requirement:
    """Validate one requirement as upstream's NewRequirement does (all problems, aggregated)."""
    problems: list[str] = []
    key_errs = label_key_errors(key)
    if key_errs:
        problems.append(f'key: Invalid value: "{key}": ' + "; ".join(key_errs))
    if operator in (IN, NOT_IN) and not values:
        problems.append("values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty")
    elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS) and len(values) != 1:
        problems.append("values: Invalid value: " + _go_list(values) + ": exact-match compatibility requires one single value")
    elif operator in (EXISTS, DOES_NOT_EXIST) and values:
        problems.append("values: Invalid value: " + _go_list(values) + ": values set must be empty for exists and does not exist")
    elif operator in (GREATER, LESS):
        if len(values) != 1:
            problems.append("values: Invalid value: " + _go_list(values) + ": for 'Gt', 'Lt' operators, exactly one value is required")
        for i, v in enumerate(values):
            if not re.fullmatch(r"[+-]?\d+", v):
                problems.append(f'values[{i}]: Invalid value: "{v}": for \'Gt\', \'Lt\' operators, the value must be an integer')
    for i, v in enumerate(values):
        value_errs = label_value_errors(v)
        if value_errs:
            problems.append(f'values[{i}][{key}]: Invalid value: "{v}": ' + "; ".join(value_errs))
    if problems:
        raise _SelectorSyntaxError(problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]")
    return Requirement(key, operator, tuple(values))


def _go_list(values: list[str]) -> str:
    return "[]string{" + ", ".join(f'"{v}"' for v in values) + "}"


# Tokens of the label selector language.
_IDENT, _END, _OPEN, _CLOSE, _COMMA, _BANG = "identifier", "end", "(", ")", ",", "!"
_SYMBOL_TOKENS = {"(": _OPEN, ")": _CLOSE, ",": _COMMA, "!": _BANG,
                  "=": EQUALS, "==": DOUBLE_EQUALS, "!=": NOT_EQUALS, ">": GREATER, "<": LESS}
_KEYWORDS = {"in": IN, "notin": NOT_IN}
_SPECIAL = set("=!(),<>")
_WHITESPACE = set(" \t\r\n")


def _tokenize(text: str) -> list[tuple[str, str]]:
    """Split a selector into (token kind, literal) pairs, ending with (_END, "")."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _WHITESPACE:
            i += 1
        if i >= n:
            tokens.append((_END, ""))
            return tokens
        if text[i] in _SPECIAL:
            # the longest run of special characters that is still one symbol ("!=", "==")
            j, best = i, None
            while j < n and text[j] in _SPECIAL:
                candidate = text[i:j + 1]
                if candidate in _SYMBOL_TOKENS:
                    best = candidate
                elif best is not None:
                    break
                j += 1
            if best is None:  # cannot happen: every single special character is a symbol
                raise _SelectorSyntaxError(f"error expected: keyword found '{text[i:j]}'")
            tokens.append((_SYMBOL_TOKENS[best], best))
            i += len(best)
            continue
        j = i
        while j < n and text[j] not in _SPECIAL and text[j] not in _WHITESPACE:
            j += 1
        word = text[i:j]
        tokens.append((_KEYWORDS.get(word, _IDENT), word))
        i = j


class _LabelParser:
    """Recursive descent over the tokens; messages are upstream's, word for word where we know them."""

    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.pos = 0

    def _peek(self, as_values: bool = True) -> tuple[str, str]:
        kind, lit = self.tokens[self.pos]
        # "in" and "notin" are ordinary words where a key or value is expected
        if as_values and kind in (IN, NOT_IN):
            kind = _IDENT
        return kind, lit

    def _take(self, as_values: bool = True) -> tuple[str, str]:
        token = self._peek(as_values)
        self.pos += 1
        return token

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            kind, lit = self._peek()
            if kind == _END:
                return requirements
            if kind not in (_IDENT, _BANG):
                raise _SelectorSyntaxError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self._requirement())
            except _SelectorSyntaxError as exc:
                raise _SelectorSyntaxError(f"unable to parse requirement: {exc}") from None
            kind, lit = self._take()
            if kind == _END:
                return requirements
            if kind != _COMMA:
                raise _SelectorSyntaxError(f"found '{lit}', expected: ',' or 'end of string'")
            kind, lit = self._peek()
            if kind not in (_IDENT, _BANG):
                raise _SelectorSyntaxError(f"found '{lit}', expected: identifier after ','")

    def _requirement(self) -> Requirement:
        operator = None
        kind, lit = self._take()
        if kind == _BANG:
            operator = DOES_NOT_EXIST
            kind, lit = self._take()
        if kind != _IDENT:
            raise _SelectorSyntaxError(f"found '{lit}', expected: identifier")
        key = lit
        key_errs = label_key_errors(key)
        if key_errs:
            raise _SelectorSyntaxError(f'invalid label key "{key}": ' + "; ".join(key_errs))
        if operator is None and self._peek()[0] in (_END, _COMMA):
            operator = EXISTS
        if operator is not None:
            return _new_requirement(key, operator, [])
        kind, lit = self._take(as_values=False)
        if kind not in _BINARY_OPERATORS:
            raise _SelectorSyntaxError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        operator = kind
        values = self._value_set() if operator in (IN, NOT_IN) else self._exact_value()
        return _new_requirement(key, operator, values)

    def _value_set(self) -> list[str]:
        kind, lit = self._take()
        if kind != _OPEN:
            raise _SelectorSyntaxError(f"found '{lit}' expected: '('")
        kind, lit = self._peek()
        if kind == _CLOSE:  # "()" is the set holding the empty value
            self._take()
            return [""]
        if kind not in (_IDENT, _COMMA):
            raise _SelectorSyntaxError(f"found '{lit}', expected: ',', ')' or identifier")
        values: set[str] = set()
        while True:
            kind, lit = self._take()
            if kind == _IDENT:
                values.add(lit)
                after, after_lit = self._peek()
                if after == _COMMA:
                    continue
                if after == _CLOSE:
                    break
                raise _SelectorSyntaxError(f"found '{after_lit}', expected: ',' or ')'")
            if kind == _COMMA:  # empty values around commas: "(,a)", "(a,,b)", "(a,)"
                if not values:
                    values.add("")
                after = self._peek()[0]
                if after == _CLOSE:
                    values.add("")
                    break
                if after == _COMMA:
                    values.add("")
                continue
            raise _SelectorSyntaxError(f"found '{lit}', expected: ',', or identifier")
        self._take()  # the closing parenthesis
        return sorted(values)

    def _exact_value(self) -> list[str]:
        kind, _ = self._peek()
        if kind in (_END, _COMMA):  # "a=" means "a is the empty string"
            return [""]
        kind, lit = self._take()
        if kind != _IDENT:
            raise _SelectorSyntaxError(f"found '{lit}', expected: identifier")
        return [lit]


# -- field selectors ------------------------------------------------------------------

def _get(obj: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(name)
    return obj


def _text(*path: str) -> Callable[[dict], str]:
    """A field read as text; absent is ""."""
    def read(obj: dict) -> str:
        value = _get(obj, *path)
        return "" if value is None else str(value)
    return read


def _flag(*path: str) -> Callable[[dict], str]:
    """A boolean field as upstream formats it: "true" / "false" (absent is false)."""
    return lambda obj: "true" if _get(obj, *path) is True else "false"


def _count(*path: str) -> Callable[[dict], str]:
    """An integer field as text (absent is 0)."""
    def read(obj: dict) -> str:
        value = _get(obj, *path)
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else "0"
    return read


def _pod_ip(pod: dict) -> str:
    ip = _get(pod, "status", "podIP")
    if not ip:
        ips = _get(pod, "status", "podIPs") or []
        ip = ips[0].get("ip") if ips and isinstance(ips[0], dict) else ""
    return ip or ""


def _regarding(obj: dict, name: str) -> str:
    """involvedObject.<name> of a core event, or regarding.<name> of an events.k8s.io one."""
    ref = obj.get("involvedObject") if isinstance(obj.get("involvedObject"), dict) else obj.get("regarding")
    value = ref.get(name) if isinstance(ref, dict) else None
    return "" if value is None else str(value)


def _core_event_fields() -> dict[str, Callable[[dict], str]]:
    fields = {f"involvedObject.{n}": (lambda obj, n=n: _regarding(obj, n))
              for n in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")}
    fields.update({
        "reason": _text("reason"),
        "reportingComponent": lambda e: str(e.get("reportingComponent") or e.get("reportingController") or ""),
        "source": lambda e: str(_get(e, "source", "component") or _get(e, "deprecatedSource", "component") or ""),
        "type": _text("type"),
    })
    return fields


def _events_k8s_io_fields() -> dict[str, Callable[[dict], str]]:
    # events.k8s.io/v1 names the same selectable fields after its own shape
    fields = {f"regarding.{n}": (lambda obj, n=n: _regarding(obj, n))
              for n in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")}
    fields.update({
        "reason": _text("reason"),
        "reportingController": lambda e: str(e.get("reportingController") or e.get("reportingComponent") or ""),
        "type": _text("type"),
    })
    return fields


# (group, plural) -> selectable field -> how to read it. metadata.name and
# metadata.namespace are selectable on every resource.
SELECTABLE_FIELDS: dict[tuple[str, str], dict[str, Callable[[dict], str]]] = {
    ("", "pods"): {
        "spec.nodeName": _text("spec", "nodeName"),
        "spec.restartPolicy": _text("spec", "restartPolicy"),
        "spec.schedulerName": _text("spec", "schedulerName"),
        "spec.serviceAccountName": _text("spec", "serviceAccountName"),
        "spec.hostNetwork": _flag("spec", "hostNetwork"),
        "status.phase": _text("status", "phase"),
        "status.podIP": _pod_ip,
        "status.nominatedNodeName": _text("status", "nominatedNodeName"),
    },
    ("", "nodes"): {"spec.unschedulable": _flag("spec", "unschedulable")},
    ("", "namespaces"): {"status.phase": _text("status", "phase")},
    ("", "secrets"): {"type": _text("type")},
    ("", "events"): _core_event_fields(),
    ("events.k8s.io", "events"): _events_k8s_io_fields(),
    ("apps", "replicasets"): {"status.replicas": _count("status", "replicas")},
    ("batch", "jobs"): {"status.successful": _count("status", "succeeded")},
    ("", "services"): {"spec.clusterIP": _text("spec", "clusterIP"), "spec.type": _text("spec", "type")},
}
_METADATA_FIELDS: dict[str, Callable[[dict], str]] = {
    "metadata.name": _text("metadata", "name"),
    "metadata.namespace": _text("metadata", "namespace"),
}


def selectable_fields(resource: Resource) -> dict[str, Callable[[dict], str]]:
    """Every field a field selector may name for ``resource``, with its reader."""
    return {**_METADATA_FIELDS, **SELECTABLE_FIELDS.get((resource.group, resource.plural), {})}


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    operator: str  # "=" or "!="
    value: str

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
        return f"{self.field}{self.operator}{escaped}"


@dataclass(frozen=True)
class FieldSelector:
    """An AND of ``field = value`` / ``field != value`` terms over one resource's selectable fields."""

    requirements: tuple[FieldRequirement, ...] = ()
    readers: dict[str, Callable[[dict], str]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: dict) -> bool:
        for req in self.requirements:
            equal = self.readers[req.field](obj) == req.value
            if equal != (req.operator == "="):
                return False
        return True

    def exact_value(self, field_name: str) -> str | None:
        """The value ``field_name`` must equal, if the selector pins it (lets storage narrow a read)."""
        for req in self.requirements:
            if req.field == field_name and req.operator == "=":
                return req.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    @classmethod
    def parse(cls, text: str | None, resource: Resource) -> "FieldSelector":
        """Parse ``?fieldSelector=`` for ``resource``; bad syntax or an unknown field is a 400."""
        readers = selectable_fields(resource)
        if not text:
            return cls((), readers)
        # syntax first, for every term; then whether this resource can select on each field
        requirements: list[FieldRequirement] = []
        for term in _split_unescaped(text, ","):
            if term == "":
                continue
            found = _split_term(term)
            if found is None:
                raise errors.bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
            name, operator, raw_value = found
            value = _unescape_field_value(raw_value)
            requirements.append(FieldRequirement(name, "!=" if operator == "!=" else "=", value))
        for req in requirements:
            if req.field not in readers:
                raise errors.bad_request(f"field label not supported: {req.field}")
        requirements.sort(key=lambda r: (r.field, r.operator, r.value))
        return cls(tuple(requirements), readers)


def _split_unescaped(text: str, separator: str) -> list[str]:
    """Split on ``separator`` where it is not escaped by a backslash."""
    parts, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _split_term(term: str) -> tuple[str, str, str] | None:
    """``field<op>value`` at the first operator (``!=`` before ``==`` before ``=``)."""
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
    return None


def _unescape_field_value(value: str) -> str:
    """Undo ``\\\\``, ``\\,`` and ``\\=``; a bare ``,`` or ``=`` or any other escape is a 400."""
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            if i + 1 >= len(value) or value[i + 1] not in "\\,=":
                raise errors.bad_request(f"invalid field selector: invalid escape sequence: {value[i:i + 2]}")
            out.append(value[i + 1])
            i += 2
            continue
        if ch in ",=":
            raise errors.bad_request(f"invalid field selector: unescaped character in value: {ord(ch)}")
        out.append(ch)
        i += 1
    return "".join(out)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object"


def labels_to_string(labels: dict[str, str] | None) -> str:
    """``a=1,b=2`` sorted by key, or ``<none>`` (upstream's labels.FormatLabels)."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))
