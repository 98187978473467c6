"""Defaulting and validation of objects, per kind, worded like upstream.

Three entry points, called by the apiserver on every write:

- ``default(resource, obj)`` fills in what upstream fills in (restartPolicy
  Always, imagePullPolicy, service targetPort = port, deployment strategy 25%
  ...), in place, before validation.
- ``validate(resource, obj, old=None)`` answers a list of ``Cause``s, empty when
  the object is valid. Field paths (``spec.containers[0].image``), reasons
  (FieldValueRequired, FieldValueInvalid ...) and messages (``Required value``,
  ``Invalid value: "Foo": a lowercase RFC 1123 subdomain must consist of ...``)
  are upstream's, so kubectl shows what a real cluster would show. With
  ``old`` it also checks what may not change on update.
- ``unknown_fields(resource, obj)`` lists the fields the schema does not know
  (``spec.containers[0].imagee``), for ``fieldValidation=Strict|Warn``.

The shapes of objects come from labkit/api/schema: a first generic pass checks
JSON types and required fields there, then each kind's own rules run. The
generic pass reports in upstream's words and order; as nearly every object is
well formed, a quick yes/no walk (``_conforms``) runs first and the reporting
walk only when it says no.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterable

from labkit.api import schema as schema_mod
from labkit.api.errors import Cause, StatusError
from labkit.api.registry import Resource
from labkit.api.selectors import selector_from_label_selector_dict
from labkit.api.schema.types import STRING, ListOf, MapOf, Primitive, Scalar, Struct

# -- how upstream words field errors (k8s.io/apimachinery/pkg/util/validation/field) --

REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
DUPLICATE = "FieldValueDuplicate"
NOT_SUPPORTED = "FieldValueNotSupported"
FORBIDDEN = "FieldValueForbidden"
NOT_FOUND = "FieldValueNotFound"
TOO_LONG = "FieldValueTooLong"
TYPE_INVALID = "FieldValueTypeInvalid"


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
               '"': '\\"', "\\": "\\\\"}


def go_quote(text: str) -> str:
    """``text`` as Go's %q prints it: control and unprintable characters escaped, the rest as is."""
    out = []
    for ch in text:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def go_repr(value: Any) -> str:
    """A value as Go's %v/%q/%#v would print it in an upstream error message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        inner = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(value.items()))
        return "map[string]string{" + inner + "}"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(json.dumps(v) for v in value) + "}"
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def label_selector_repr(selector: Any) -> str:
    """A LabelSelector as upstream prints it (``v1.LabelSelector{MatchLabels:map[string]string{...}, ...}``)."""
    selector = selector if isinstance(selector, dict) else {}
    labels = selector.get("matchLabels")
    labels_s = go_repr(labels) if labels else "map[string]string(nil)"
    exprs = selector.get("matchExpressions")
    if exprs:
        parts = []
        for e in exprs:
            e = e if isinstance(e, dict) else {}
            values = e.get("values")
            parts.append('v1.LabelSelectorRequirement{Key:%s, Operator:%s, Values:%s}' % (
                json.dumps(e.get("key", "")), json.dumps(e.get("operator", "")),
                go_repr(values) if values else "[]string(nil)"))
        exprs_s = "[]v1.LabelSelectorRequirement{" + ", ".join(parts) + "}"
    else:
        exprs_s = "[]v1.LabelSelectorRequirement(nil)"
    return f"v1.LabelSelector{{MatchLabels:{labels_s}, MatchExpressions:{exprs_s}}}"


class _Raw(str):
    """A value already formatted for a message (not quoted again)."""


class Errors:
    """Collects causes in order; one cause per (field, reason), the more specific message wins."""

    def __init__(self) -> None:
        self.causes: list[Cause] = []

    def add(self, field: str, reason: str, message: str) -> None:
        for i, c in enumerate(self.causes):
            if c.field == field and c.reason == reason:
                if len(message) > len(c.message) and c.message in message:
                    self.causes[i] = Cause(field=field, message=message, reason=reason)
                return
        self.causes.append(Cause(field=field, message=message, reason=reason))

    def required(self, field: str, detail: str = "") -> None:
        self.add(field, REQUIRED, "Required value" + (f": {detail}" if detail else ""))

    def invalid(self, field: str, value: Any, detail: str) -> None:
        shown = value if isinstance(value, _Raw) else go_repr(value)
        self.add(field, INVALID, f"Invalid value: {shown}" + (f": {detail}" if detail else ""))

    def not_supported(self, field: str, value: Any, supported: Iterable[str]) -> None:
        quoted = ", ".join(json.dumps(s) for s in supported)
        self.add(field, NOT_SUPPORTED, f"Unsupported value: {go_repr(value)}: supported values: {quoted}")

    def duplicate(self, field: str, value: Any) -> None:
        shown = value if isinstance(value, _Raw) else go_repr(value)
        self.add(field, DUPLICATE, f"Duplicate value: {shown}")

    def forbidden(self, field: str, detail: str) -> None:
        self.add(field, FORBIDDEN, f"Forbidden: {detail}")

    def not_found(self, field: str, value: Any) -> None:
        self.add(field, NOT_FOUND, f"Not found: {go_repr(value)}")

    def too_long(self, field: str, limit: int) -> None:
        self.add(field, TOO_LONG, f"Too long: must have at most {limit} bytes")

    def immutable(self, field: str, value: Any) -> None:
        self.invalid(field, value, "field is immutable")


# -- names and labels (k8s.io/apimachinery/pkg/util/validation) -------------------

def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + r"(\." + DNS1123_LABEL_FMT + ")*"
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE_FMT = "(" + QUALIFIED_NAME_FMT + ")?"
CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
PERCENT_FMT = "[0-9]+%"

_DNS1123_LABEL = re.compile(f"^{DNS1123_LABEL_FMT}$")
_DNS1123_SUBDOMAIN = re.compile(f"^{DNS1123_SUBDOMAIN_FMT}$")
_DNS1035_LABEL = re.compile(f"^{DNS1035_LABEL_FMT}$")
_QUALIFIED_NAME = re.compile(f"^{QUALIFIED_NAME_FMT}$")
_LABEL_VALUE = re.compile(f"^{LABEL_VALUE_FMT}$")
_CONFIG_KEY = re.compile(f"^{CONFIG_KEY_FMT}$")
_PERCENT = re.compile(f"^{PERCENT_FMT}$")
_PORT_NAME_CHARS = re.compile("^[-a-z0-9]+$")
_HAS_LETTER = re.compile("[a-z]")

DNS1123_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                     "and must start and end with an alphanumeric character")
DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                         "'-' or '.', and must start and end with an alphanumeric character")
DNS1035_LABEL_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                     "start with an alphabetic character, and end with an alphanumeric character")
QUALIFIED_NAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
                      "an alphanumeric character")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
                   "'.', and must start and end with an alphanumeric character")
CONFIG_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"


def is_dns1123_label(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append(_max_len(63))
    if not _DNS1123_LABEL.match(value):
        errs.append(_regex_error(DNS1123_LABEL_MSG, DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append(_max_len(253))
    if not _DNS1123_SUBDOMAIN.match(value):
        errs.append(_regex_error(DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append(_max_len(63))
    if not _DNS1035_LABEL.match(value):
        errs.append(_regex_error(DNS1035_LABEL_MSG, DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_qualified_name(value: str) -> list[str]:
    if len(value) <= 63 and _QUALIFIED_NAME.match(value):
        return []  # the usual label key: a name without prefix, fine (the pattern has no "/")
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return [_regex_error("a qualified name " + QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT,
                             "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + _max_len(63))
    if not _QUALIFIED_NAME.match(name):
        errs.append("name part " + _regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def is_label_value(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append(_max_len(63))
    if not _LABEL_VALUE.match(value):
        errs.append(_regex_error(LABEL_VALUE_MSG, LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def is_config_key(value: str) -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append(_max_len(253))
    if not _CONFIG_KEY.match(value):
        errs.append(_regex_error(CONFIG_KEY_MSG, CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    if value == ".":
        errs.append("must not be '.'")
    elif value == "..":
        errs.append("must not be '..'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def is_port_name(value: str) -> list[str]:
    errs = []
    if len(value) > 15:
        errs.append(_max_len(15))
    if not _PORT_NAME_CHARS.match(value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _HAS_LETTER.search(value):
        errs.append("must contain at least one letter (a-z)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if value.startswith("-") or value.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_port_num(value: Any) -> list[str]:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return []
    return ["must be between 1 and 65535, inclusive"]


def path_segment_name(value: str) -> list[str]:
    """Names that are one URL path segment (RBAC roles and bindings)."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    errs = []
    for bad in ("/", "%"):
        if bad in value:
            errs.append(f"may not contain '{bad}'")
    return errs


NameCheck = Callable[[str], list[str]]


def _as_prefix(check: NameCheck) -> NameCheck:
    """generateName may end with '-' (the server appends a random suffix)."""
    def prefixed(value: str) -> list[str]:
        return check(value + "a" if value.endswith("-") else value)
    return prefixed


# -- quantities -------------------------------------------------------------------

_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_SUFFIX = {
    "": Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}


def parse_quantity(value: Any) -> Decimal | None:
    """A resource quantity (``100m``, ``128Mi``, ``1e3``, ``2``) as a Decimal; None if malformed."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    m = _QUANTITY.match(value.strip())
    if not m:
        return None
    number, suffix = m.groups()
    try:
        n = Decimal(number)
    except InvalidOperation:
        return None
    if suffix in _SUFFIX:
        return n * _SUFFIX[suffix]
    if suffix[:1] in ("e", "E"):
        try:
            return n * (Decimal(10) ** int(suffix[1:]))
        except ValueError:
            return None
    return None


# -- little accessors that tolerate wrong shapes ------------------------------------

def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _schema_of(resource: Resource) -> Struct | None:
    return schema_mod.schema_for(resource.api_version, resource.kind)


# -- the generic pass: JSON types and required fields from the schema ------------

def _type_name(t: Any) -> str:
    if isinstance(t, (Struct, MapOf)):
        return "object"
    if isinstance(t, ListOf):
        return "array"
    if isinstance(t, Scalar):
        return {"io.k8s.apimachinery.pkg.util.intstr.IntOrString": "integer or string",
                "io.k8s.apimachinery.pkg.api.resource.Quantity": "string"}.get(t.name, "string")
    return t.json_type


def _null_is_empty_string(t: Any) -> bool:
    """A string item of a list or map: upstream decodes a JSON null there as "" (Go's decoder leaves the
    zero value), so ``labels: {a: null}`` is stored as ``a: ""`` and ``args: [x, null]`` as ``[x, ""]``."""
    return isinstance(t, Primitive) and t.json_type == "string" and t.format != "byte"


def _check_shape(t: Any, value: Any, path: str, errs: Errors, in_status: bool) -> None:
    """Type-check ``value`` against ``t``; recurse; report missing required fields (outside status).

    Also decodes as upstream does, in place: a null item of a list or map of strings becomes "", and
    a field set to null is dropped (Go's decoder leaves such a field empty, and empty fields are omitted)."""
    if value is None:
        return
    bad = False
    if isinstance(t, Struct):
        if not isinstance(value, dict):
            bad = True
        elif not t.open:
            for name, fld in t.fields.items():
                sub = value.get(name)
                child = f"{path}.{name}" if path else name
                if sub is None:
                    value.pop(name, None)
                    if fld.required and not in_status:
                        errs.required(child)
                    continue
                _check_shape(fld.type, sub, child, errs, in_status or child == "status")
    elif isinstance(t, ListOf):
        if not isinstance(value, list):
            bad = True
        else:
            if _null_is_empty_string(t.item) and None in value:
                value[:] = ["" if item is None else item for item in value]
            for i, item in enumerate(value):
                _check_shape(t.item, item, f"{path}[{i}]", errs, in_status)
    elif isinstance(t, MapOf):
        if not isinstance(value, dict):
            bad = True
        else:
            if _null_is_empty_string(t.value) and None in value.values():
                value.update({key: "" for key, item in value.items() if item is None})
            for key, item in value.items():
                _check_shape(t.value, item, f"{path}[{key}]", errs, in_status)
    elif isinstance(t, Scalar):
        if t.name.endswith("IntOrString"):
            bad = not isinstance(value, (int, str)) or isinstance(value, bool)
        elif t.name.endswith("Quantity"):
            if parse_quantity(value) is None:
                errs.invalid(path, value, "quantities must match the regular expression "
                             "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
        else:
            bad = not isinstance(value, str)
    elif isinstance(t, Primitive):
        kind = t.json_type
        if kind == "string":
            bad = not isinstance(value, str)
            if not bad and t.format == "byte" and not _is_base64(value):
                errs.invalid(path, _Raw("\"<secret contents redacted>\"") if "data" in path else value,
                             "illegal base64 data")
        elif kind == "integer":
            bad = not isinstance(value, int) or isinstance(value, bool)
            width = _int_width(t)
            if not bad and not _fits_int(value, width):
                # Go's decoder refuses a number its int32/int64 field cannot hold; stored, no Go client could read it
                errs.add(path, TYPE_INVALID, f"Invalid value: {value}: must be of type int{width} "
                         f"(at most {2 ** (width - 1) - 1}, at least {-(2 ** (width - 1))})")
        elif kind == "boolean":
            bad = not isinstance(value, bool)
        elif kind == "number":
            bad = not isinstance(value, (int, float)) or isinstance(value, bool)
    if bad:
        shown = go_repr(value) if not isinstance(value, (dict, list)) else type(value).__name__.replace("dict", "object").replace("list", "array")
        errs.add(path, TYPE_INVALID, f"Invalid value: {shown}: must be of type {_type_name(t)}")


def _conforms(t: Any, value: Any, known_only: bool, required: bool) -> bool:
    """Whether ``_check_shape`` would find nothing to report below ``value``: no wrong JSON type, quantity,
    base64 or integer range; with ``required`` no required field missing; with ``known_only`` also no
    field the schema does not declare (``unknown_fields`` would find none).

    Nearly every object is well formed, and this walk only answers yes or no: it follows the object's
    own keys and builds no paths, which costs a fraction of the reporting walks. It may say no where
    they find nothing (a required field missing under ``status``, which they exempt, and any
    exception): its callers then run them, and they say what is wrong, in upstream's order.
    """
    if value is None:
        return True
    if isinstance(t, Primitive):
        kind = t.json_type
        if kind == "string":
            return isinstance(value, str) and (t.format != "byte" or _is_base64(value))
        if kind == "integer":
            return isinstance(value, int) and not isinstance(value, bool) and _fits_int(value, _int_width(t))
        if kind == "boolean":
            return isinstance(value, bool)
        if kind == "number":
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        return True
    if isinstance(t, Struct):
        if not isinstance(value, dict):
            return False
        if t.open:
            return True
        if required and t.required_fields and any(value.get(name) is None for name in t.required_fields):
            return False
        fields = t.fields
        for key, sub in value.items():
            fld = fields.get(key)
            if fld is None:
                if known_only:
                    return False
            elif sub is None:
                return False  # the reporting walk drops it (see _check_shape)
            elif not _plainly_fine(fld.type, sub) and not _conforms(fld.type, sub, known_only, required):
                return False
        return True
    if isinstance(t, (ListOf, MapOf)):
        if isinstance(t, ListOf) and isinstance(value, list):
            item_type, items = t.item, value
        elif isinstance(t, MapOf) and isinstance(value, dict):
            item_type, items = t.value, value.values()
        else:
            return False
        if _null_is_empty_string(item_type) and None in items:
            return False  # the reporting walk turns it into "" (see _check_shape)
        for item in items:
            if not _plainly_fine(item_type, item) and not _conforms(item_type, item, known_only, required):
                return False
        return True
    if isinstance(t, Scalar):
        if t.name.endswith("IntOrString"):
            return isinstance(value, (int, str)) and not isinstance(value, bool)
        if t.name.endswith("Quantity"):
            try:
                return parse_quantity(value) is not None
            except Exception:  # e.g. an exponent past Decimal's range: the reporting walk meets it too
                return False
        return isinstance(value, str)
    return True


def _plainly_fine(t: Any, value: Any) -> bool:
    """Null, or a string where a plain string goes: most values, answered without a call of ``_conforms``."""
    return value is None or t is STRING and type(value) is str


def _report_missing(t: Any, value: Any, path: str, errs: Errors, in_status: bool) -> None:
    """``_check_shape``'s required-field reports alone, in its order, for an object whose JSON types are
    known to be right: it descends only where a required field can be (``_required_below``)."""
    if value is None or in_status:  # nothing under status is required
        return
    if isinstance(t, Struct):
        if not isinstance(value, dict) or t.open:
            return
        for name, fld in _fields_with_required(t):
            sub = value.get(name)
            child = f"{path}.{name}" if path else name
            if sub is None:
                if fld.required:
                    errs.required(child)
            else:
                _report_missing(fld.type, sub, child, errs, in_status=child == "status")
    elif isinstance(t, ListOf) and isinstance(value, list):
        for i, item in enumerate(value):
            _report_missing(t.item, item, f"{path}[{i}]", errs, in_status)
    elif isinstance(t, MapOf) and isinstance(value, dict):
        for key, item in value.items():
            _report_missing(t.value, item, f"{path}[{key}]", errs, in_status)


_REQUIRED_BELOW: dict[Struct, bool] = {}
_FIELDS_WITH_REQUIRED: dict[Struct, tuple] = {}


def _fields_with_required(t: Struct) -> tuple:
    """(name, Field) of ``t``'s fields that are required or can hold one, in schema order (computed once)."""
    if t not in _FIELDS_WITH_REQUIRED:
        _FIELDS_WITH_REQUIRED[t] = tuple((name, fld) for name, fld in t.fields.items()
                                         if fld.required or _required_below(fld.type))
    return _FIELDS_WITH_REQUIRED[t]


def _required_below(t: Any) -> bool:
    """Whether a value of type ``t`` can hold a required field (computed once per type)."""
    while isinstance(t, (ListOf, MapOf)):
        t = t.item if isinstance(t, ListOf) else t.value
    if not isinstance(t, Struct):
        return False
    if t not in _REQUIRED_BELOW:
        reachable = schema_mod.structs_reachable([t]).values()
        _REQUIRED_BELOW[t] = any(isinstance(s, Struct) and s.required_fields for s in reachable)
    return _REQUIRED_BELOW[t]


def _int_width(t: Primitive) -> int:
    """Bits of the Go integer an integer field decodes into: int32, or int64."""
    return 32 if t.format == "int32" else 64


def _fits_int(value: int, width: int) -> bool:
    return -(2 ** (width - 1)) <= value < 2 ** (width - 1)


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except ValueError:
        return False
    return True


# -- metadata (ValidateObjectMeta) -----------------------------------------------

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024


def validate_labels(labels: Any, path: str, errs: Errors) -> None:
    for key, value in _dict(labels).items():
        for msg in is_qualified_name(key):
            errs.invalid(path, key, msg)
        if isinstance(value, str):
            for msg in is_label_value(value):
                errs.invalid(path, value, msg)


def validate_annotations(annotations: Any, path: str, errs: Errors) -> None:
    total = 0
    for key, value in _dict(annotations).items():
        for msg in is_qualified_name(key.lower()):
            errs.invalid(path, key, msg)
        total += len(key) + len(value if isinstance(value, str) else "")
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT)


def validate_object_meta(meta: Any, namespaced: bool, name_check: NameCheck, errs: Errors, path: str = "metadata") -> None:
    meta = _dict(meta)
    name = meta.get("name") or ""
    generate_name = meta.get("generateName") or ""
    if generate_name:
        for msg in _as_prefix(name_check)(generate_name):
            errs.invalid(f"{path}.generateName", generate_name, msg)
    if not name:
        if not generate_name:
            errs.required(f"{path}.name", "name or generateName is required")
    else:
        for msg in name_check(name):
            errs.invalid(f"{path}.name", name, msg)
    namespace = meta.get("namespace") or ""
    if namespaced:
        if not namespace:
            errs.required(f"{path}.namespace")
        else:
            for msg in is_dns1123_label(namespace):
                errs.invalid(f"{path}.namespace", namespace, msg)
    elif namespace:
        errs.forbidden(f"{path}.namespace", "not allowed on this type")
    if meta.get("labels"):
        validate_labels(meta["labels"], f"{path}.labels", errs)
    if meta.get("annotations"):
        validate_annotations(meta["annotations"], f"{path}.annotations", errs)
    generation = _int(meta.get("generation"))
    if generation is not None and generation < 0:
        errs.invalid(f"{path}.generation", generation, "must be greater than or equal to 0")
    owners = _list(meta.get("ownerReferences"))
    for i, ref in enumerate(owners):
        ref = _dict(ref)
        rpath = f"{path}.ownerReferences[{i}]"
        if not ref.get("apiVersion"):
            errs.invalid(f"{rpath}.apiVersion", ref.get("apiVersion", ""), "version must not be empty")
        if not ref.get("kind"):
            errs.invalid(f"{rpath}.kind", ref.get("kind", ""), "kind must not be empty")
        if not ref.get("name"):
            errs.invalid(f"{rpath}.name", ref.get("name", ""), "name must not be empty")
        if not ref.get("uid"):
            errs.invalid(f"{rpath}.uid", ref.get("uid", ""), "uid must not be empty")
    controllers = [r for r in owners if _dict(r).get("controller") is True]
    if len(controllers) > 1:
        names = ", ".join(f"{_dict(r).get('kind')}/{_dict(r).get('name')}" for r in controllers)
        errs.invalid(f"{path}.ownerReferences", _Raw("[]v1.OwnerReference{...}"),
                     f"Only one reference can have Controller set to true. Found \"true\" in references for {names}")
    for i, fin in enumerate(_list(meta.get("finalizers"))):
        if isinstance(fin, str):
            for msg in is_qualified_name(fin):
                errs.invalid(f"{path}.finalizers[{i}]", fin, msg)


def validate_object_meta_update(meta: Any, old_meta: Any, errs: Errors, path: str = "metadata") -> None:
    meta, old_meta = _dict(meta), _dict(old_meta)
    for key in ("name", "namespace", "uid", "creationTimestamp"):
        if old_meta.get(key) and meta.get(key) and meta.get(key) != old_meta.get(key):
            errs.immutable(f"{path}.{key}", meta.get(key))


def validate_label_selector(selector: Any, path: str, errs: Errors) -> None:
    selector = _dict(selector)
    validate_labels(selector.get("matchLabels"), f"{path}.matchLabels", errs)
    for i, req in enumerate(_list(selector.get("matchExpressions"))):
        req = _dict(req)
        rpath = f"{path}.matchExpressions[{i}]"
        op = req.get("operator")
        values = _list(req.get("values"))
        if op in ("In", "NotIn"):
            if not values:
                errs.required(f"{rpath}.values", "must be specified when `operator` is 'In' or 'NotIn'")
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.forbidden(f"{rpath}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
        else:
            errs.invalid(f"{rpath}.operator", op, "not a valid selector operator")
        key = req.get("key")
        if isinstance(key, str):
            for msg in is_qualified_name(key):
                errs.invalid(f"{rpath}.key", key, msg)
        for value in values:
            if isinstance(value, str):
                for msg in is_label_value(value):
                    errs.invalid(f"{rpath}.values", value, msg)


def selector_matches(selector: Any, labels: Any) -> bool:
    """Whether a LabelSelector dict selects an object with ``labels`` (a malformed selector selects nothing)."""
    try:
        return selector_from_label_selector_dict(_dict(selector)).matches(_dict(labels))
    except StatusError:
        return False


def _nonnegative(value: Any, path: str, errs: Errors) -> None:
    v = _int(value)
    if v is not None and v < 0:
        errs.invalid(path, v, "must be greater than or equal to 0")


def _positive(value: Any, path: str, errs: Errors) -> None:
    v = _int(value)
    if v is not None and v <= 0:
        errs.invalid(path, v, "must be greater than 0")


def _immutable(new: Any, old: Any, path: str, errs: Errors, shown: Any = None) -> None:
    if new != old:
        errs.immutable(path, shown if shown is not None else new)


# -- pods (ValidatePodSpec and friends) ------------------------------------------

PROTOCOLS = ["SCTP", "TCP", "UDP"]
RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
TERMINATION_MESSAGE_POLICIES = ["FallbackToLogsOnError", "File"]
TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
# in the order upstream checks them (the second one found is reported)
VOLUME_SOURCES = ("emptyDir", "hostPath", "secret", "nfs", "persistentVolumeClaim", "downwardAPI", "configMap",
                  "projected")
STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")


def _validate_volumes(volumes: Any, path: str, errs: Errors) -> set[str]:
    names: set[str] = set()
    for i, vol in enumerate(_list(volumes)):
        vol = _dict(vol)
        vpath = f"{path}[{i}]"
        name = vol.get("name")
        if isinstance(name, str) and name:
            for msg in is_dns1123_label(name):
                errs.invalid(f"{vpath}.name", name, msg)
            if name in names:
                errs.duplicate(f"{vpath}.name", name)
            names.add(name)
        elif not name:
            errs.required(f"{vpath}.name")
        sources = [s for s in VOLUME_SOURCES if vol.get(s) is not None]
        if not sources:
            errs.required(vpath, "must specify a volume type")
        for extra in sources[1:]:
            errs.forbidden(f"{vpath}.{extra}", "may not specify more than 1 volume type")
        host_path = _dict(vol.get("hostPath"))
        if vol.get("hostPath") is not None and not host_path.get("path"):
            errs.required(f"{vpath}.hostPath.path")
        if vol.get("configMap") is not None and not _dict(vol.get("configMap")).get("name"):
            errs.required(f"{vpath}.configMap.name")
        if vol.get("secret") is not None and not _dict(vol.get("secret")).get("secretName"):
            errs.required(f"{vpath}.secret.secretName")
        if vol.get("persistentVolumeClaim") is not None and not _dict(vol.get("persistentVolumeClaim")).get("claimName"):
            errs.required(f"{vpath}.persistentVolumeClaim.claimName")
        for source in ("configMap", "secret", "projected", "downwardAPI"):
            mode = _int(_dict(vol.get(source)).get("defaultMode"))
            if mode is not None and not 0 <= mode <= 0o777:
                errs.invalid(f"{vpath}.{source}.defaultMode", mode,
                             "must be a number between 0 and 0777 (octal), both inclusive")
        medium = _dict(vol.get("emptyDir")).get("medium")
        if medium not in (None, "", "Memory") and not str(medium).startswith("HugePages"):
            errs.not_supported(f"{vpath}.emptyDir.medium", medium, ["", "Memory", "HugePages"])
    return names


def _validate_probe(probe: Any, path: str, errs: Errors, liveness_or_startup: bool) -> None:
    if probe is None:
        return
    probe = _dict(probe)
    handlers = [h for h in ("exec", "httpGet", "tcpSocket", "grpc") if probe.get(h) is not None]
    if not handlers:
        errs.required(path, "must specify a handler type")
    for extra in handlers[1:]:
        errs.forbidden(f"{path}.{extra}", "may not specify more than 1 handler type")
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        _nonnegative(probe.get(key), f"{path}.{key}", errs)
    success = _int(probe.get("successThreshold"))
    if liveness_or_startup and success is not None and success != 1:
        errs.invalid(f"{path}.successThreshold", success, "must be 1")
    _validate_handler_ports(probe, path, errs)


def _validate_handler_ports(handler: dict, path: str, errs: Errors) -> None:
    for h in ("httpGet", "tcpSocket"):
        if handler.get(h) is None:
            continue
        port = _dict(handler.get(h)).get("port")
        if isinstance(port, int) and not isinstance(port, bool):
            for msg in is_port_num(port):
                errs.invalid(f"{path}.{h}.port", port, msg)
        elif isinstance(port, str):
            for msg in is_port_name(port):
                errs.invalid(f"{path}.{h}.port", port, msg)
    http = _dict(handler.get("httpGet"))
    if handler.get("httpGet") is not None and http.get("scheme") not in (None, "HTTP", "HTTPS"):
        errs.not_supported(f"{path}.httpGet.scheme", http.get("scheme"), ["HTTP", "HTTPS"])


def _validate_resources(resources: Any, path: str, errs: Errors) -> None:
    resources = _dict(resources)
    limits = _dict(resources.get("limits"))
    requests = _dict(resources.get("requests"))
    for section, values in (("limits", limits), ("requests", requests)):
        for name, qty in values.items():
            rpath = f"{path}.{section}[{name}]"
            if name not in STANDARD_CONTAINER_RESOURCES and not name.startswith("hugepages-") and "/" not in name:
                errs.invalid(rpath, name, "must be a standard resource for containers")
            elif "/" in name:
                for msg in is_qualified_name(name):
                    errs.invalid(rpath, name, msg)
            q = parse_quantity(qty)
            if q is not None and q < 0:
                errs.invalid(rpath, qty, "must be greater than or equal to 0")
    for name, qty in requests.items():
        req, lim = parse_quantity(qty), parse_quantity(limits.get(name)) if name in limits else None
        if req is not None and lim is not None and req > lim:
            errs.invalid(f"{path}.requests", qty, f"must be less than or equal to {name} limit of {limits[name]}")


def _validate_env(env: Any, path: str, errs: Errors) -> None:
    for i, var in enumerate(_list(env)):
        var = _dict(var)
        epath = f"{path}[{i}]"
        name = var.get("name")
        if not name:
            errs.required(f"{epath}.name")
        elif isinstance(name, str) and ("=" in name or not name.isprintable()):
            errs.invalid(f"{epath}.name", name,
                         "a valid environment variable name must consist only of printable ASCII characters other than '='")
        source = var.get("valueFrom")
        if source is not None:
            kinds = [k for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")
                     if _dict(source).get(k) is not None]
            if var.get("value"):
                errs.invalid(f"{epath}.valueFrom", "", "may not be specified when `value` is not empty")
            if not kinds:
                errs.invalid(f"{epath}.valueFrom", "", "must specify one of: `fieldRef`, `resourceFieldRef`, "
                             "`configMapKeyRef` or `secretKeyRef`")
            elif len(kinds) > 1:
                errs.invalid(f"{epath}.valueFrom", "", "may not have more than one field specified at a time")
    return None


def _validate_containers(containers: Any, path: str, volumes: set[str], names_seen: set[str],
                         errs: Errors, init: bool = False) -> None:
    for i, ctr in enumerate(_list(containers)):
        ctr = _dict(ctr)
        cpath = f"{path}[{i}]"
        name = ctr.get("name")
        if not name:
            errs.required(f"{cpath}.name")
        elif isinstance(name, str):
            for msg in is_dns1123_label(name):
                errs.invalid(f"{cpath}.name", name, msg)
            if name in names_seen:
                errs.duplicate(f"{cpath}.name", name)
            names_seen.add(name)
        image = ctr.get("image")
        if not image:
            errs.required(f"{cpath}.image")
        elif isinstance(image, str) and image != image.strip():
            errs.invalid(f"{cpath}.image", image, "must not have leading or trailing whitespace")
        port_names: set[str] = set()
        for j, port in enumerate(_list(ctr.get("ports"))):
            port = _dict(port)
            ppath = f"{cpath}.ports[{j}]"
            pname = port.get("name")
            if isinstance(pname, str) and pname:
                for msg in is_port_name(pname):
                    errs.invalid(f"{ppath}.name", pname, msg)
                if pname in port_names:
                    errs.duplicate(f"{ppath}.name", pname)
                port_names.add(pname)
            cport = port.get("containerPort")
            if not cport:
                errs.required(f"{ppath}.containerPort")
            else:
                for msg in is_port_num(cport):
                    errs.invalid(f"{ppath}.containerPort", cport, msg)
            if port.get("hostPort"):
                for msg in is_port_num(port.get("hostPort")):
                    errs.invalid(f"{ppath}.hostPort", port.get("hostPort"), msg)
            protocol = port.get("protocol")
            if not protocol:
                errs.required(f"{ppath}.protocol")
            elif protocol not in PROTOCOLS:
                errs.not_supported(f"{ppath}.protocol", protocol, PROTOCOLS)
        _validate_env(ctr.get("env"), f"{cpath}.env", errs)
        for j, source in enumerate(_list(ctr.get("envFrom"))):
            source = _dict(source)
            refs = [r for r in ("configMapRef", "secretRef") if source.get(r) is not None]
            if len(refs) != 1:
                errs.invalid(f"{cpath}.envFrom[{j}]", "", "must specify one of: `configMapRef` or `secretRef`")
        mount_paths: set[str] = set()
        for j, mount in enumerate(_list(ctr.get("volumeMounts"))):
            mount = _dict(mount)
            mpath = f"{cpath}.volumeMounts[{j}]"
            mname = mount.get("name")
            if not mname:
                errs.required(f"{mpath}.name")
            elif mname not in volumes:
                errs.not_found(f"{mpath}.name", mname)
            mount_path = mount.get("mountPath")
            if not mount_path:
                errs.required(f"{mpath}.mountPath")
            elif mount_path in mount_paths:
                errs.invalid(f"{mpath}.mountPath", mount_path, "must be unique")
            else:
                mount_paths.add(mount_path)
            sub = mount.get("subPath")
            if isinstance(sub, str) and (sub.startswith("/") or ".." in sub.split("/")):
                errs.invalid(f"{mpath}.subPath", sub, "must be a relative path without '..'")
        policy = ctr.get("imagePullPolicy")
        if not policy:
            errs.required(f"{cpath}.imagePullPolicy")
        elif policy not in PULL_POLICIES:
            errs.not_supported(f"{cpath}.imagePullPolicy", policy, PULL_POLICIES)
        tmp = ctr.get("terminationMessagePolicy")
        if not tmp:
            errs.required(f"{cpath}.terminationMessagePolicy")
        elif tmp not in TERMINATION_MESSAGE_POLICIES:
            errs.not_supported(f"{cpath}.terminationMessagePolicy", tmp, TERMINATION_MESSAGE_POLICIES)
        _validate_resources(ctr.get("resources"), f"{cpath}.resources", errs)
        if init and ctr.get("restartPolicy") not in (None, "Always"):
            errs.not_supported(f"{cpath}.restartPolicy", ctr.get("restartPolicy"), ["Always"])
        if not init and ctr.get("restartPolicy") is not None:
            errs.forbidden(f"{cpath}.restartPolicy", "may not be set for non-init containers")
        if init and ctr.get("restartPolicy") != "Always":
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                if ctr.get(probe) is not None:
                    errs.forbidden(f"{cpath}.{probe}", "may not be set for init containers without restartPolicy=Always")
        else:
            _validate_probe(ctr.get("livenessProbe"), f"{cpath}.livenessProbe", errs, True)
            _validate_probe(ctr.get("readinessProbe"), f"{cpath}.readinessProbe", errs, False)
            _validate_probe(ctr.get("startupProbe"), f"{cpath}.startupProbe", errs, True)
        lifecycle = _dict(ctr.get("lifecycle"))
        for hook in ("postStart", "preStop"):
            if lifecycle.get(hook) is not None:
                handler = _dict(lifecycle.get(hook))
                kinds = [h for h in ("exec", "httpGet", "tcpSocket", "sleep") if handler.get(h) is not None]
                if not kinds:
                    errs.required(f"{cpath}.lifecycle.{hook}", "must specify a handler type")
                _validate_handler_ports(handler, f"{cpath}.lifecycle.{hook}", errs)


def _validate_tolerations(tolerations: Any, path: str, errs: Errors) -> None:
    for i, tol in enumerate(_list(tolerations)):
        tol = _dict(tol)
        tpath = f"{path}[{i}]"
        key = tol.get("key")
        if key:
            for msg in is_qualified_name(key):
                errs.invalid(f"{tpath}.key", key, msg)
        op = tol.get("operator") or "Equal"
        if not key and op != "Exists":
            errs.invalid(f"{tpath}.operator", op, "operator must be Exists when `key` is empty, "
                         "which means \"match all values and all keys\"")
        if op == "Exists" and tol.get("value"):
            errs.invalid(f"{tpath}.operator", tol.get("value"), "value must be empty when `operator` is 'Exists'")
        elif op not in ("Equal", "Exists"):
            errs.not_supported(f"{tpath}.operator", op, ["Equal", "Exists"])
        effect = tol.get("effect")
        if effect and effect not in TAINT_EFFECTS:
            errs.not_supported(f"{tpath}.effect", effect, TAINT_EFFECTS)
        if tol.get("tolerationSeconds") is not None and effect != "NoExecute":
            errs.invalid(f"{tpath}.effect", effect or "", "effect must be 'NoExecute' when `tolerationSeconds` is set")


def _validate_node_selector_term(term: Any, path: str, errs: Errors) -> None:
    term = _dict(term)
    for kind_ in ("matchExpressions", "matchFields"):
        for j, req in enumerate(_list(term.get(kind_))):
            req = _dict(req)
            rpath = f"{path}.{kind_}[{j}]"
            op = req.get("operator")
            values = _list(req.get("values"))
            if op in ("In", "NotIn"):
                if not values:
                    errs.required(f"{rpath}.values", "must be specified when `operator` is 'In' or 'NotIn'")
            elif op in ("Exists", "DoesNotExist"):
                if values:
                    errs.forbidden(f"{rpath}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
            elif op in ("Gt", "Lt"):
                if len(values) != 1:
                    errs.required(f"{rpath}.values", "must be specified single value when `operator` is 'Lt' or 'Gt'")
            else:
                errs.invalid(f"{rpath}.operator", op, "not a valid selector operator")
            if kind_ == "matchExpressions" and isinstance(req.get("key"), str):
                for msg in is_qualified_name(req["key"]):
                    errs.invalid(f"{rpath}.key", req["key"], msg)


def _validate_affinity(affinity: Any, path: str, errs: Errors) -> None:
    affinity = _dict(affinity)
    node = _dict(affinity.get("nodeAffinity"))
    required = node.get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is not None:
        terms = _list(_dict(required).get("nodeSelectorTerms"))
        rpath = f"{path}.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
        if not terms:
            errs.required(rpath, "must have at least one node selector term")
        for i, term in enumerate(terms):
            _validate_node_selector_term(term, f"{rpath}[{i}]", errs)
    for i, pref in enumerate(_list(node.get("preferredDuringSchedulingIgnoredDuringExecution"))):
        ppath = f"{path}.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[{i}]"
        weight = _int(_dict(pref).get("weight"))
        if weight is not None and not 1 <= weight <= 100:
            errs.invalid(f"{ppath}.weight", weight, "must be in the range 1-100")
        _validate_node_selector_term(_dict(pref).get("preference"), f"{ppath}.preference", errs)
    for which in ("podAffinity", "podAntiAffinity"):
        section = _dict(affinity.get(which))
        for i, term in enumerate(_list(section.get("requiredDuringSchedulingIgnoredDuringExecution"))):
            tpath = f"{path}.{which}.requiredDuringSchedulingIgnoredDuringExecution[{i}]"
            _validate_pod_affinity_term(term, tpath, errs)
        for i, wterm in enumerate(_list(section.get("preferredDuringSchedulingIgnoredDuringExecution"))):
            tpath = f"{path}.{which}.preferredDuringSchedulingIgnoredDuringExecution[{i}]"
            weight = _int(_dict(wterm).get("weight"))
            if weight is not None and not 1 <= weight <= 100:
                errs.invalid(f"{tpath}.weight", weight, "must be in the range 1-100")
            _validate_pod_affinity_term(_dict(wterm).get("podAffinityTerm"), f"{tpath}.podAffinityTerm", errs)


def _validate_pod_affinity_term(term: Any, path: str, errs: Errors) -> None:
    term = _dict(term)
    if not term.get("topologyKey"):
        errs.required(f"{path}.topologyKey", "can not be empty")
    elif isinstance(term["topologyKey"], str):
        for msg in is_qualified_name(term["topologyKey"]):
            errs.invalid(f"{path}.topologyKey", term["topologyKey"], msg)
    if term.get("labelSelector") is not None:
        validate_label_selector(term.get("labelSelector"), f"{path}.labelSelector", errs)


def validate_pod_spec(spec: Any, path: str, errs: Errors) -> None:
    spec = _dict(spec)
    volumes = _validate_volumes(spec.get("volumes"), f"{path}.volumes", errs)
    names: set[str] = set()
    containers = _list(spec.get("containers"))
    if not containers:
        errs.required(f"{path}.containers")
    _validate_containers(spec.get("initContainers"), f"{path}.initContainers", volumes, names, errs, init=True)
    _validate_containers(containers, f"{path}.containers", volumes, names, errs)
    restart = spec.get("restartPolicy")
    if not restart:
        errs.required(f"{path}.restartPolicy")
    elif restart not in RESTART_POLICIES:
        errs.not_supported(f"{path}.restartPolicy", restart, RESTART_POLICIES)
    dns = spec.get("dnsPolicy")
    if not dns:
        errs.required(f"{path}.dnsPolicy")
    elif dns not in DNS_POLICIES:
        errs.not_supported(f"{path}.dnsPolicy", dns, DNS_POLICIES)
    if dns == "None" and not _dict(spec.get("dnsConfig")).get("nameservers"):
        errs.required(f"{path}.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None")
    validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector", errs)
    for key in ("serviceAccountName", "nodeName"):
        value = spec.get(key)
        if isinstance(value, str) and value:
            for msg in is_dns1123_subdomain(value):
                errs.invalid(f"{path}.{key}", value, msg)
    for key in ("hostname", "subdomain"):
        value = spec.get(key)
        if isinstance(value, str) and value:
            for msg in is_dns1123_label(value):
                errs.invalid(f"{path}.{key}", value, msg)
    _nonnegative(spec.get("terminationGracePeriodSeconds"), f"{path}.terminationGracePeriodSeconds", errs)
    deadline = _int(spec.get("activeDeadlineSeconds"))
    if deadline is not None and not 1 <= deadline <= 2147483647:
        errs.invalid(f"{path}.activeDeadlineSeconds", deadline, "must be between 1 and 2147483647, inclusive")
    _validate_tolerations(spec.get("tolerations"), f"{path}.tolerations", errs)
    _validate_affinity(spec.get("affinity"), f"{path}.affinity", errs)
    if spec.get("hostNetwork"):
        for ci, ctr in enumerate(containers):
            for pi, port in enumerate(_list(_dict(ctr).get("ports"))):
                port = _dict(port)
                if port.get("hostPort") and port.get("hostPort") != port.get("containerPort"):
                    errs.invalid(f"{path}.containers[{ci}].ports[{pi}].hostPort", port.get("hostPort"),
                                 "must match `containerPort` when `hostNetwork` is true")
    for i, tsc in enumerate(_list(spec.get("topologySpreadConstraints"))):
        tsc = _dict(tsc)
        tpath = f"{path}.topologySpreadConstraints[{i}]"
        skew = _int(tsc.get("maxSkew"))
        if skew is not None and skew <= 0:
            errs.invalid(f"{tpath}.maxSkew", skew, "must be greater than zero")
        when = tsc.get("whenUnsatisfiable")
        if when and when not in ("DoNotSchedule", "ScheduleAnyway"):
            errs.not_supported(f"{tpath}.whenUnsatisfiable", when, ["DoNotSchedule", "ScheduleAnyway"])
    for i, gate in enumerate(_list(spec.get("readinessGates"))):
        ctype = _dict(gate).get("conditionType")
        if isinstance(ctype, str):
            for msg in is_qualified_name(ctype):
                errs.invalid(f"{path}.readinessGates[{i}].conditionType", ctype, msg)


def validate_pod_template(template: Any, path: str, errs: Errors) -> None:
    template = _dict(template)
    meta = _dict(template.get("metadata"))
    validate_labels(meta.get("labels"), f"{path}.metadata.labels", errs)
    validate_annotations(meta.get("annotations"), f"{path}.metadata.annotations", errs)
    validate_pod_spec(template.get("spec"), f"{path}.spec", errs)


POD_UPDATE_MESSAGE = (
    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


def _diff_paths(a: Any, b: Any, path: str = "spec") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            out.extend(_diff_paths(a.get(key), b.get(key), f"{path}.{key}"))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out.extend(_diff_paths(x, y, f"{path}[{i}]"))
        return out
    return [] if a == b else [path]


def validate_pod_update(new: dict, old: dict, errs: Errors) -> None:
    spec, old_spec = _dict(new.get("spec")), _dict(old.get("spec"))
    # Make a copy of the new spec with every mutable field taken from the old one.
    mutable = json.loads(json.dumps(spec))
    for key in ("containers", "initContainers"):
        olds = _list(old_spec.get(key))
        for i, ctr in enumerate(_list(mutable.get(key))):
            if i < len(olds) and isinstance(ctr, dict):
                ctr["image"] = _dict(olds[i]).get("image")
    deadline, old_deadline = _int(spec.get("activeDeadlineSeconds")), _int(old_spec.get("activeDeadlineSeconds"))
    if deadline is not None and (old_deadline is None or deadline <= old_deadline):
        mutable["activeDeadlineSeconds"] = old_spec.get("activeDeadlineSeconds")
    elif deadline is None and old_deadline is not None:
        errs.invalid(f"spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value")
    old_tolerations = _list(old_spec.get("tolerations"))
    if all(t in _list(spec.get("tolerations")) for t in old_tolerations):
        mutable["tolerations"] = old_spec.get("tolerations")
    grace, old_grace = _int(spec.get("terminationGracePeriodSeconds")), _int(old_spec.get("terminationGracePeriodSeconds"))
    if old_grace is not None and old_grace < 0 and grace == 1:
        mutable["terminationGracePeriodSeconds"] = old_spec.get("terminationGracePeriodSeconds")
    # the scheduler binds through pods/binding, which sets nodeName once
    if not old_spec.get("nodeName") and spec.get("nodeName"):
        mutable.pop("nodeName", None)
        mutable.update({k: v for k, v in old_spec.items() if k == "nodeName"})
    drop_none = lambda d: {k: v for k, v in d.items() if v is not None}  # noqa: E731
    if drop_none(mutable) != drop_none(old_spec):
        changed = _diff_paths(drop_none(old_spec), drop_none(mutable))
        errs.forbidden("spec", POD_UPDATE_MESSAGE + "\n  changed: " + ", ".join(changed[:10]))
    for i, ctr in enumerate(_list(spec.get("containers"))):
        if isinstance(ctr, dict) and not ctr.get("image"):
            errs.required(f"spec.containers[{i}].image")


# -- services --------------------------------------------------------------------

SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]


def _service_port_repr(port: dict) -> _Raw:
    return _Raw('core.ServicePort{Name:"", Protocol:%s, AppProtocol:(*string)(nil), Port:%s, '
                'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}'
                % (json.dumps(port.get("protocol", "")), port.get("port")))


def _valid_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def validate_service(svc: dict, errs: Errors) -> None:
    spec = _dict(svc.get("spec"))
    stype = spec.get("type") or "ClusterIP"
    if stype not in SERVICE_TYPES:
        errs.not_supported("spec.type", stype, SERVICE_TYPES)
    cluster_ip = spec.get("clusterIP") or ""
    headless = cluster_ip == "None"
    ports = _list(spec.get("ports"))
    if stype == "ExternalName":
        name = spec.get("externalName")
        if not name:
            errs.required("spec.externalName")
        elif isinstance(name, str):
            for msg in is_dns1123_subdomain(name.rstrip(".")):
                errs.invalid("spec.externalName", name, msg)
        if cluster_ip:
            errs.forbidden("spec.clusterIP", "may not be set for ExternalName services")
    elif not ports and not headless:
        errs.required("spec.ports")
    if stype in ("NodePort", "LoadBalancer") and headless:
        errs.invalid("spec.clusterIPs[0]", "None", f"may not be set to 'None' for {stype} services")
    if cluster_ip and not headless and stype != "ExternalName" and not _valid_ip(cluster_ip):
        errs.invalid("spec.clusterIPs[0]", cluster_ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")
    for i, ip in enumerate(_list(spec.get("clusterIPs"))):
        if ip != "None" and not _valid_ip(ip):
            errs.invalid(f"spec.clusterIPs[{i}]", ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")
    port_names: set[str] = set()
    keys: set[tuple] = set()
    for i, port in enumerate(ports):
        port = _dict(port)
        ppath = f"spec.ports[{i}]"
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            errs.required(f"{ppath}.name")
        elif name:
            for msg in is_dns1123_label(name):
                errs.invalid(f"{ppath}.name", name, msg)
            if name in port_names:
                errs.duplicate(f"{ppath}.name", name)
            port_names.add(name)
        for msg in is_port_num(port.get("port")):
            errs.invalid(f"{ppath}.port", port.get("port"), msg)
        protocol = port.get("protocol")
        if not protocol:
            errs.required(f"{ppath}.protocol")
        elif protocol not in PROTOCOLS:
            errs.not_supported(f"{ppath}.protocol", protocol, PROTOCOLS)
        target = port.get("targetPort")
        if isinstance(target, int) and not isinstance(target, bool):
            for msg in is_port_num(target):
                errs.invalid(f"{ppath}.targetPort", target, msg)
        elif isinstance(target, str):
            for msg in is_port_name(target):
                errs.invalid(f"{ppath}.targetPort", target, msg)
        node_port = port.get("nodePort")
        if node_port:
            if stype == "ClusterIP":
                errs.forbidden(f"{ppath}.nodePort", "may not be used when `type` is 'ClusterIP'")
            else:
                for msg in is_port_num(node_port):
                    errs.invalid(f"{ppath}.nodePort", node_port, msg)
        key = (port.get("port"), protocol)
        if key in keys:
            errs.duplicate(ppath, _service_port_repr(port))
        keys.add(key)
    if spec.get("selector") is not None:
        validate_labels(spec.get("selector"), "spec.selector", errs)
    affinity = spec.get("sessionAffinity")
    if affinity and affinity not in ("ClientIP", "None"):
        errs.not_supported("spec.sessionAffinity", affinity, ["ClientIP", "None"])
    etp = spec.get("externalTrafficPolicy")
    if etp:
        if stype not in ("NodePort", "LoadBalancer"):
            errs.invalid("spec.externalTrafficPolicy", etp, "may only be set when `type` is 'NodePort' or 'LoadBalancer'")
        elif etp not in ("Cluster", "Local"):
            errs.not_supported("spec.externalTrafficPolicy", etp, ["Cluster", "Local"])
    itp = spec.get("internalTrafficPolicy")
    if itp and itp not in ("Cluster", "Local"):
        errs.not_supported("spec.internalTrafficPolicy", itp, ["Cluster", "Local"])
    policy = spec.get("ipFamilyPolicy")
    if policy and policy not in ("SingleStack", "PreferDualStack", "RequireDualStack"):
        errs.not_supported("spec.ipFamilyPolicy", policy, ["SingleStack", "PreferDualStack", "RequireDualStack"])
    for i, family in enumerate(_list(spec.get("ipFamilies"))):
        if family not in ("IPv4", "IPv6"):
            errs.not_supported(f"spec.ipFamilies[{i}]", family, ["IPv4", "IPv6"])
    for i, ip in enumerate(_list(spec.get("externalIPs"))):
        if not _valid_ip(ip):
            errs.invalid(f"spec.externalIPs[{i}]", ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")


def validate_service_update(new: dict, old: dict, errs: Errors) -> None:
    spec, old_spec = _dict(new.get("spec")), _dict(old.get("spec"))
    if spec.get("type") != "ExternalName" and old_spec.get("type") != "ExternalName":
        old_ip = old_spec.get("clusterIP") or ""
        if old_ip and spec.get("clusterIP", "") != old_ip:
            errs.immutable("spec.clusterIP", spec.get("clusterIP", ""))
    old_families = _list(old_spec.get("ipFamilies"))
    families = _list(spec.get("ipFamilies"))
    if old_families and families and families[0] != old_families[0]:
        errs.invalid("spec.ipFamilies[0]", families[0], "may not change once set")


# -- endpoints -------------------------------------------------------------------

def validate_endpoints(ep: dict, errs: Errors) -> None:
    for i, subset in enumerate(_list(ep.get("subsets"))):
        subset = _dict(subset)
        spath = f"subsets[{i}]"
        for which in ("addresses", "notReadyAddresses"):
            for j, addr in enumerate(_list(subset.get(which))):
                ip = _dict(addr).get("ip")
                if not ip:
                    errs.required(f"{spath}.{which}[{j}].ip")
                elif not _valid_ip(ip):
                    errs.invalid(f"{spath}.{which}[{j}].ip", ip, "must be a valid IP address")
        ports = _list(subset.get("ports"))
        for j, port in enumerate(ports):
            port = _dict(port)
            ppath = f"{spath}.ports[{j}]"
            if len(ports) > 1 and not port.get("name"):
                errs.required(f"{ppath}.name")
            for msg in is_port_num(port.get("port")):
                errs.invalid(f"{ppath}.port", port.get("port"), msg)
            protocol = port.get("protocol")
            if protocol and protocol not in PROTOCOLS:
                errs.not_supported(f"{ppath}.protocol", protocol, PROTOCOLS)


def validate_endpoint_slice(es: dict, errs: Errors) -> None:
    address_type = es.get("addressType")
    if not address_type:
        errs.required("addressType")
    elif address_type not in ("IPv4", "IPv6", "FQDN"):
        errs.not_supported("addressType", address_type, ["IPv4", "IPv6", "FQDN"])
    for i, endpoint in enumerate(_list(es.get("endpoints"))):
        addresses = _list(_dict(endpoint).get("addresses"))
        epath = f"endpoints[{i}].addresses"
        if not addresses:
            errs.required(epath, "must contain at least 1 address")
        for j, addr in enumerate(addresses):
            if address_type == "IPv4" and not (_valid_ip(addr) and ":" not in str(addr)):
                errs.invalid(f"{epath}[{j}]", addr, "must be a valid IPv4 address")
            elif address_type == "IPv6" and not (_valid_ip(addr) and ":" in str(addr)):
                errs.invalid(f"{epath}[{j}]", addr, "must be a valid IPv6 address")
            elif address_type == "FQDN" and isinstance(addr, str):
                for msg in is_dns1123_subdomain(addr):
                    errs.invalid(f"{epath}[{j}]", addr, msg)
    for i, port in enumerate(_list(es.get("ports"))):
        port = _dict(port)
        if port.get("port") is not None:
            for msg in is_port_num(port.get("port")):
                errs.invalid(f"ports[{i}].port", port.get("port"), msg)
        if port.get("protocol") and port["protocol"] not in PROTOCOLS:
            errs.not_supported(f"ports[{i}].protocol", port["protocol"], PROTOCOLS)


# -- nodes -----------------------------------------------------------------------

def validate_node(node: dict, errs: Errors) -> None:
    spec = _dict(node.get("spec"))
    for i, cidr in enumerate(_list(spec.get("podCIDRs"))):
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            errs.invalid(f"spec.podCIDRs[{i}]", cidr, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")
    seen: set[tuple] = set()
    for i, taint in enumerate(_list(spec.get("taints"))):
        taint = _dict(taint)
        tpath = f"spec.taints[{i}]"
        key = taint.get("key")
        if not key:
            errs.required(f"{tpath}.key")
        elif isinstance(key, str):
            for msg in is_qualified_name(key):
                errs.invalid(f"{tpath}.key", key, msg)
        value = taint.get("value")
        if isinstance(value, str) and value:
            for msg in is_label_value(value):
                errs.invalid(f"{tpath}.value", value, msg)
        effect = taint.get("effect")
        if not effect:
            errs.required(f"{tpath}.effect")
        elif effect not in TAINT_EFFECTS:
            errs.not_supported(f"{tpath}.effect", effect, TAINT_EFFECTS)
        if (key, effect) in seen:
            errs.duplicate(tpath, _Raw('core.Taint{Key:%s, Value:%s, Effect:%s, TimeAdded:<nil>}' % (
                json.dumps(key), json.dumps(value or ""), json.dumps(effect))))
        seen.add((key, effect))


# -- workloads (apps/v1, batch/v1) ------------------------------------------------

def _validate_int_or_percent(value: Any, path: str, errs: Errors) -> None:
    if isinstance(value, bool):
        errs.invalid(path, value, "must be an integer or percentage (e.g '5%')")
    elif isinstance(value, int):
        if value < 0:
            errs.invalid(path, value, "must be greater than or equal to 0")
    elif isinstance(value, str):
        if not _PERCENT.match(value):
            errs.invalid(path, value, _regex_error(
                "a valid percent string must be a numeric string followed by an ending '%'", PERCENT_FMT, "1%", "93%"))
        elif int(value[:-1]) > 100:
            errs.invalid(path, value, "must not be greater than 100%")


def _int_or_percent_is_zero(value: Any) -> bool:
    return value in (0, "0%") or value is None


def _validate_selector_and_template(spec: dict, errs: Errors, what: str, path: str = "spec",
                                    selector_required: bool = True) -> None:
    selector = spec.get("selector")
    if selector is None:
        if selector_required:
            errs.required(f"{path}.selector")
    else:
        validate_label_selector(selector, f"{path}.selector", errs)
        if not _dict(selector).get("matchLabels") and not _dict(selector).get("matchExpressions"):
            errs.invalid(f"{path}.selector", _Raw(label_selector_repr(selector)), f"empty selector is invalid for {what}")
    template = spec.get("template")
    labels = _dict(_dict(_dict(template).get("metadata")).get("labels"))
    if selector is not None and (_dict(selector).get("matchLabels") or _dict(selector).get("matchExpressions")):
        if not selector_matches(selector, labels):
            errs.invalid(f"{path}.template.metadata.labels",
                         _Raw(go_repr(labels) if labels else "map[string]string(nil)"),
                         "`selector` does not match template `labels`")
    validate_pod_template(template, f"{path}.template", errs)


def _validate_replicated(spec: dict, errs: Errors, what: str, restart_policies: list[str] | None = None) -> None:
    _nonnegative(spec.get("replicas"), "spec.replicas", errs)
    _nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds", errs)
    _nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit", errs)
    _validate_selector_and_template(spec, errs, what)
    tspec = _dict(_dict(spec.get("template")).get("spec"))
    policy = tspec.get("restartPolicy")
    if policy and policy != "Always":
        errs.not_supported("spec.template.spec.restartPolicy", policy, ["Always"])
    if tspec.get("activeDeadlineSeconds") is not None:
        errs.forbidden("spec.template.spec.activeDeadlineSeconds", "activeDeadlineSeconds in ReplicaSet is not Supported")


def validate_deployment(d: dict, errs: Errors) -> None:
    spec = _dict(d.get("spec"))
    _validate_replicated(spec, errs, "deployment")
    strategy = _dict(spec.get("strategy"))
    stype = strategy.get("type")
    if stype not in (None, "Recreate", "RollingUpdate"):
        errs.not_supported("spec.strategy.type", stype, ["Recreate", "RollingUpdate"])
    rolling = strategy.get("rollingUpdate")
    if stype == "Recreate" and rolling is not None:
        errs.forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")
    elif rolling is not None:
        rolling = _dict(rolling)
        _validate_int_or_percent(rolling.get("maxUnavailable"), "spec.strategy.rollingUpdate.maxUnavailable", errs)
        _validate_int_or_percent(rolling.get("maxSurge"), "spec.strategy.rollingUpdate.maxSurge", errs)
        if _int_or_percent_is_zero(rolling.get("maxUnavailable")) and _int_or_percent_is_zero(rolling.get("maxSurge")):
            errs.invalid("spec.strategy.rollingUpdate.maxUnavailable", rolling.get("maxUnavailable", 0),
                         "may not be 0 when `maxSurge` is 0")
    deadline = _int(spec.get("progressDeadlineSeconds"))
    if deadline is not None:
        _nonnegative(deadline, "spec.progressDeadlineSeconds", errs)
        min_ready = _int(spec.get("minReadySeconds")) or 0
        if deadline <= min_ready:
            errs.invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds")


def validate_daemon_set(ds: dict, errs: Errors) -> None:
    spec = _dict(ds.get("spec"))
    _nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds", errs)
    _nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit", errs)
    _validate_selector_and_template(spec, errs, "daemonset")
    policy = _dict(_dict(spec.get("template")).get("spec")).get("restartPolicy")
    if policy and policy != "Always":
        errs.not_supported("spec.template.spec.restartPolicy", policy, ["Always"])
    strategy = _dict(spec.get("updateStrategy"))
    stype = strategy.get("type")
    if stype not in (None, "OnDelete", "RollingUpdate"):
        errs.not_supported("spec.updateStrategy.type", stype, ["OnDelete", "RollingUpdate"])
    rolling = strategy.get("rollingUpdate")
    if rolling is not None:
        rolling = _dict(rolling)
        _validate_int_or_percent(rolling.get("maxUnavailable"), "spec.updateStrategy.rollingUpdate.maxUnavailable", errs)
        _validate_int_or_percent(rolling.get("maxSurge"), "spec.updateStrategy.rollingUpdate.maxSurge", errs)
        if _int_or_percent_is_zero(rolling.get("maxUnavailable")) and _int_or_percent_is_zero(rolling.get("maxSurge")):
            errs.invalid("spec.updateStrategy.rollingUpdate.maxUnavailable", rolling.get("maxUnavailable", 0),
                         "may not be 0 when `maxSurge` is 0")


def validate_stateful_set(sts: dict, errs: Errors) -> None:
    spec = _dict(sts.get("spec"))
    _validate_replicated(spec, errs, "statefulset")
    policy = spec.get("podManagementPolicy")
    if policy and policy not in ("OrderedReady", "Parallel"):
        errs.not_supported("spec.podManagementPolicy", policy, ["OrderedReady", "Parallel"])
    strategy = _dict(spec.get("updateStrategy"))
    stype = strategy.get("type")
    if stype not in (None, "OnDelete", "RollingUpdate"):
        errs.not_supported("spec.updateStrategy.type", stype, ["OnDelete", "RollingUpdate"])
    if stype == "OnDelete" and strategy.get("rollingUpdate") is not None:
        errs.invalid("spec.updateStrategy.rollingUpdate", _Raw("apps.RollingUpdateStatefulSetStrategy{...}"),
                     "only allowed for updateStrategy 'RollingUpdate'")
    _nonnegative(_dict(strategy.get("rollingUpdate")).get("partition"), "spec.updateStrategy.rollingUpdate.partition", errs)
    for key in ("whenDeleted", "whenScaled"):
        value = _dict(spec.get("persistentVolumeClaimRetentionPolicy")).get(key)
        if value and value not in ("Retain", "Delete"):
            errs.not_supported(f"spec.persistentVolumeClaimRetentionPolicy.{key}", value, ["Retain", "Delete"])
    for i, claim in enumerate(_list(spec.get("volumeClaimTemplates"))):
        name = _dict(_dict(claim).get("metadata")).get("name")
        if not name:
            errs.required(f"spec.volumeClaimTemplates[{i}].metadata.name")


STATEFUL_SET_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
                        "persistentVolumeClaimRetentionPolicy", "minReadySeconds")


def validate_stateful_set_update(new: dict, old: dict, errs: Errors) -> None:
    spec, old_spec = _dict(new.get("spec")), _dict(old.get("spec"))
    strip = lambda s: {k: v for k, v in s.items() if k not in STATEFUL_SET_MUTABLE and v is not None}  # noqa: E731
    if strip(spec) != strip(old_spec):
        errs.forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                       "'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' "
                       "and 'minReadySeconds' are forbidden")


def validate_job_spec(spec: Any, path: str, errs: Errors, generated_selector: bool) -> None:
    spec = _dict(spec)
    for key in ("parallelism", "completions", "backoffLimit", "ttlSecondsAfterFinished"):
        _nonnegative(spec.get(key), f"{path}.{key}", errs)
    deadline = _int(spec.get("activeDeadlineSeconds"))
    if deadline is not None and deadline <= 0:
        errs.invalid(f"{path}.activeDeadlineSeconds", deadline, "must be greater than or equal to 1")
    mode = spec.get("completionMode")
    if mode and mode not in ("NonIndexed", "Indexed"):
        errs.not_supported(f"{path}.completionMode", mode, ["NonIndexed", "Indexed"])
    if mode == "Indexed" and spec.get("completions") is None:
        errs.required(f"{path}.completions", "when completion mode is Indexed")
    if generated_selector:
        _validate_selector_and_template(spec, errs, "job", path=path)
    else:
        validate_pod_template(spec.get("template"), f"{path}.template", errs)
    policy = _dict(_dict(spec.get("template")).get("spec")).get("restartPolicy")
    if policy not in ("OnFailure", "Never"):
        errs.not_supported(f"{path}.template.spec.restartPolicy", policy or "", ["OnFailure", "Never"])
    replacement = spec.get("podReplacementPolicy")
    if replacement and replacement not in ("TerminatingOrFailed", "Failed"):
        errs.not_supported(f"{path}.podReplacementPolicy", replacement, ["Failed", "TerminatingOrFailed"])


def validate_job_update(new: dict, old: dict, errs: Errors) -> None:
    spec, old_spec = _dict(new.get("spec")), _dict(old.get("spec"))
    _immutable(spec.get("selector"), old_spec.get("selector"), "spec.selector", errs,
               _Raw(label_selector_repr(spec.get("selector"))))
    if spec.get("template") != old_spec.get("template") and not spec.get("suspend"):
        errs.immutable("spec.template", _Raw("core.PodTemplateSpec{...}"))
    if spec.get("completions") != old_spec.get("completions"):
        errs.immutable("spec.completions", spec.get("completions"))
    _immutable(spec.get("completionMode"), old_spec.get("completionMode"), "spec.completionMode", errs)


_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_CRON_FIELD = re.compile(r"^(\*|\?|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?)*$")


def cron_schedule_error(schedule: str) -> str | None:
    text = schedule.strip()
    if text.startswith("TZ=") or text.startswith("CRON_TZ="):
        return "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
    if text in _CRON_MACROS or text.startswith("@every "):
        return None
    fields = text.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: {schedule}"
    for field_ in fields:
        if not _CRON_FIELD.match(field_):
            return f"failed to parse int from {field_}: strconv.Atoi: parsing {json.dumps(field_)}: invalid syntax"
    return None


def validate_cron_job(cj: dict, errs: Errors) -> None:
    name = _dict(cj.get("metadata")).get("name")
    if isinstance(name, str) and len(name) > 52:
        errs.invalid("metadata.name", name, _max_len(52))
    spec = _dict(cj.get("spec"))
    schedule = spec.get("schedule")
    if not schedule:
        errs.required("spec.schedule")
    elif isinstance(schedule, str):
        problem = cron_schedule_error(schedule)
        if problem:
            errs.invalid("spec.schedule", schedule, problem)
    policy = spec.get("concurrencyPolicy")
    if not policy:
        errs.required("spec.concurrencyPolicy")
    elif policy not in ("Allow", "Forbid", "Replace"):
        errs.not_supported("spec.concurrencyPolicy", policy, ["Allow", "Forbid", "Replace"])
    _nonnegative(spec.get("startingDeadlineSeconds"), "spec.startingDeadlineSeconds", errs)
    _nonnegative(spec.get("successfulJobsHistoryLimit"), "spec.successfulJobsHistoryLimit", errs)
    _nonnegative(spec.get("failedJobsHistoryLimit"), "spec.failedJobsHistoryLimit", errs)
    job_template = _dict(spec.get("jobTemplate"))
    validate_labels(_dict(job_template.get("metadata")).get("labels"), "spec.jobTemplate.metadata.labels", errs)
    validate_job_spec(job_template.get("spec"), "spec.jobTemplate.spec", errs, generated_selector=False)


def validate_pdb(pdb: dict, errs: Errors) -> None:
    spec = _dict(pdb.get("spec"))
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        errs.invalid("spec", _Raw("policy.PodDisruptionBudgetSpec{...}"),
                     "minAvailable and maxUnavailable cannot be both set")
    for key in ("minAvailable", "maxUnavailable"):
        if spec.get(key) is not None:
            _validate_int_or_percent(spec.get(key), f"spec.{key}", errs)
    if spec.get("selector") is not None:
        validate_label_selector(spec.get("selector"), "spec.selector", errs)
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy and policy not in ("IfHealthyBudget", "AlwaysAllow"):
        errs.not_supported("spec.unhealthyPodEvictionPolicy", policy, ["AlwaysAllow", "IfHealthyBudget"])


# -- quotas and limit ranges -------------------------------------------------------

QUOTA_SCOPES = ["BestEffort", "CrossNamespacePodAffinity", "NotBestEffort", "NotTerminating", "PriorityClass",
                "Terminating", "VolumeAttributesClass"]
LIMIT_TYPES = ["Container", "PersistentVolumeClaim", "Pod"]


def _validate_quantities(values: Any, path: str, errs: Errors) -> dict[str, Decimal]:
    """Each value a quantity >= 0; returns the parsed ones, by resource name."""
    parsed = {}
    for name, qty in _dict(values).items():
        for msg in is_qualified_name(name):
            errs.invalid(f"{path}[{name}]", name, msg)
        q = parse_quantity(qty)
        if q is None:
            errs.invalid(f"{path}[{name}]", qty, "quantities must match the regular expression "
                         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
        elif q < 0:
            errs.invalid(f"{path}[{name}]", qty, "must be greater than or equal to 0")
        else:
            parsed[name] = q
    return parsed


def validate_resource_quota(quota: dict, errs: Errors) -> None:
    spec = _dict(quota.get("spec"))
    _validate_quantities(spec.get("hard"), "spec.hard", errs)
    for i, scope in enumerate(_list(spec.get("scopes"))):
        if scope not in QUOTA_SCOPES:
            errs.not_supported(f"spec.scopes[{i}]", scope, QUOTA_SCOPES)
    status = _dict(quota.get("status"))
    _validate_quantities(status.get("hard"), "status.hard", errs)
    _validate_quantities(status.get("used"), "status.used", errs)


def validate_limit_range(lr: dict, errs: Errors) -> None:
    """Upstream's checks: min <= defaultRequest <= default <= max for every resource named in several."""
    for i, item in enumerate(_list(_dict(lr.get("spec")).get("limits"))):
        path = f"spec.limits[{i}]"
        item = _dict(item)
        kind = item.get("type")
        if not kind:
            errs.required(f"{path}.type")
        elif kind not in LIMIT_TYPES:
            errs.not_supported(f"{path}.type", kind, LIMIT_TYPES)
        q = {key: _validate_quantities(item.get(key), f"{path}.{key}", errs)
             for key in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio")}
        raw = {key: _dict(item.get(key)) for key in q}
        if kind == "Pod":
            for key in ("default", "defaultRequest"):
                if raw[key]:
                    errs.forbidden(f"{path}.{key}", f"may not be specified when `type` is 'Pod'")
        for name in set().union(*q.values()):
            lo, hi = q["min"].get(name), q["max"].get(name)
            dflt, dreq = q["default"].get(name), q["defaultRequest"].get(name)
            ratio = q["maxLimitRequestRatio"].get(name)
            if lo is not None and hi is not None and lo > hi:
                errs.invalid(f"{path}.min[{name}]", raw["min"][name],
                             f"min value {raw['min'][name]} is greater than max value {raw['max'][name]}")
            if dreq is not None and hi is not None and dreq > hi:
                errs.invalid(f"{path}.defaultRequest[{name}]", raw["defaultRequest"][name],
                             f"default request value {raw['defaultRequest'][name]} is greater than max value "
                             f"{raw['max'][name]}")
            if dreq is not None and lo is not None and lo > dreq:
                errs.invalid(f"{path}.defaultRequest[{name}]", raw["defaultRequest"][name],
                             f"min value {raw['min'][name]} is greater than default request value "
                             f"{raw['defaultRequest'][name]}")
            if dflt is not None and hi is not None and dflt > hi:
                errs.invalid(f"{path}.default[{name}]", raw["default"][name],
                             f"default value {raw['default'][name]} is greater than max value {raw['max'][name]}")
            if dflt is not None and lo is not None and lo > dflt:
                errs.invalid(f"{path}.default[{name}]", raw["default"][name],
                             f"min value {raw['min'][name]} is greater than default value {raw['default'][name]}")
            if dreq is not None and dflt is not None and dreq > dflt:
                errs.invalid(f"{path}.defaultRequest[{name}]", raw["defaultRequest"][name],
                             f"default request value {raw['defaultRequest'][name]} is greater than default limit "
                             f"value {raw['default'][name]}")
            if ratio is not None and ratio < 1:
                errs.invalid(f"{path}.maxLimitRequestRatio[{name}]", raw["maxLimitRequestRatio"][name],
                             "ratio must be greater than or equal to 1")


def _default_limit_range(lr: dict) -> None:
    """Upstream's SetDefaults_LimitRangeItem: default limit <- max, default request <- default limit, then min."""
    for item in _list(_dict(lr.get("spec")).get("limits")):
        if not isinstance(item, dict) or item.get("type") != "Container":
            continue
        dflt, dreq = _sub(item, "default"), _sub(item, "defaultRequest")
        for name, value in _dict(item.get("max")).items():
            dflt.setdefault(name, value)
        for name, value in dflt.items():
            dreq.setdefault(name, value)
        for name, value in _dict(item.get("min")).items():
            dreq.setdefault(name, value)
        if not dflt:
            item.pop("default")
        if not dreq:
            item.pop("defaultRequest")


# -- config and identity ---------------------------------------------------------

MAX_CONFIG_SIZE = 1024 * 1024  # upstream's MaxSecretSize: for Secrets and ConfigMaps alike


def _validate_config_data(obj: dict, errs: Errors, data_fields: tuple[str, ...],
                          base64_fields: tuple[str, ...] = (), too_long_field: str = "data") -> None:
    """Keys, and the total size of the values - counted as upstream's Go code counts them: the bytes
    of the values, so a ``[]byte`` field (Secret ``data``, ConfigMap ``binaryData``, base64 in JSON)
    counts its decoded bytes, a string field its UTF-8 bytes. Too much is reported on
    ``too_long_field``."""
    total = 0
    seen: dict[str, str] = {}
    for field_ in data_fields:
        for key, value in _dict(obj.get(field_)).items():
            for msg in is_config_key(key):
                errs.invalid(f"{field_}[{key}]", key, msg)
            if key in seen and seen[key] != field_:
                errs.invalid(f"{field_}[{key}]", key, f"duplicate of key present in {seen[key]}")
            seen.setdefault(key, field_)
            if isinstance(value, str):
                total += _decoded_size(value) if field_ in base64_fields else _utf8_size(value)
    if total > MAX_CONFIG_SIZE:
        errs.too_long(too_long_field, MAX_CONFIG_SIZE)


def _utf8_size(text: str) -> int:
    """How many bytes ``text`` is in UTF-8 (without encoding a copy when it is ASCII, as most values are)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))


def _decoded_size(text: str) -> int:
    """How many bytes base64 ``text`` decodes to (bad base64 is reported by the type pass; counted as is)."""
    try:
        return len(base64.b64decode(text, validate=True))
    except ValueError:
        return len(text)


def _validate_immutable_data(new: dict, old: dict, errs: Errors, data_fields: tuple[str, ...]) -> None:
    if old.get("immutable") is True:
        if new.get("immutable") is not True:
            errs.forbidden("immutable", "field is immutable when `immutable` is set")
        for field_ in data_fields:
            if (new.get(field_) or {}) != (old.get(field_) or {}):
                errs.forbidden(field_, "field is immutable when `immutable` is set")


SECRET_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def validate_secret(secret: dict, errs: Errors) -> None:
    _validate_config_data(secret, errs, ("data",), base64_fields=("data",))
    stype = secret.get("type") or "Opaque"
    data = _dict(secret.get("data"))
    if stype == "kubernetes.io/service-account-token":
        if not _dict(_dict(secret.get("metadata")).get("annotations")).get("kubernetes.io/service-account.name"):
            errs.required("metadata.annotations[kubernetes.io/service-account.name]")
    for key in SECRET_REQUIRED_KEYS.get(stype, ()):
        if key not in data:
            errs.required(f"data[{key}]")
    if stype == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
        errs.required("data[username]")
    if stype == "kubernetes.io/ssh-auth" and "ssh-privatekey" not in data:
        errs.required("data[ssh-privatekey]")


def validate_namespace(ns: dict, errs: Errors) -> None:
    for i, fin in enumerate(_list(_dict(ns.get("spec")).get("finalizers"))):
        if isinstance(fin, str):
            for msg in is_qualified_name(fin):
                errs.invalid(f"spec.finalizers[{i}]", fin, msg)
    phase = _dict(ns.get("status")).get("phase")
    if phase and phase not in ("Active", "Terminating"):
        errs.not_supported("status.phase", phase, ["Active", "Terminating"])


def validate_lease(lease: dict, errs: Errors) -> None:
    spec = _dict(lease.get("spec"))
    _positive(spec.get("leaseDurationSeconds"), "spec.leaseDurationSeconds", errs)
    _nonnegative(spec.get("leaseTransitions"), "spec.leaseTransitions", errs)


def validate_core_event(ev: dict, errs: Errors) -> None:
    involved = _dict(ev.get("involvedObject"))
    namespace = _dict(ev.get("metadata")).get("namespace")
    if involved.get("namespace") and namespace and involved["namespace"] != namespace \
            and namespace != "default":
        errs.invalid("involvedObject.namespace", involved["namespace"], "does not match event.namespace")
    etype = ev.get("type")
    if etype and etype not in ("Normal", "Warning"):
        errs.not_supported("type", etype, ["Normal", "Warning"])


def validate_events_event(ev: dict, errs: Errors) -> None:
    for key in ("eventTime", "reportingController", "reportingInstance", "action", "reason"):
        if not ev.get(key):
            errs.required(key)
    etype = ev.get("type")
    if not etype:
        errs.required("type")
    elif etype not in ("Normal", "Warning"):
        errs.not_supported("type", etype, ["Normal", "Warning"])
    note = ev.get("note")
    if isinstance(note, str) and len(note) > 1024:
        errs.too_long("note", 1024)


# -- rbac.authorization.k8s.io ---------------------------------------------------

RBAC_GROUP = "rbac.authorization.k8s.io"


def validate_policy_rules(rules: Any, errs: Errors, namespaced: bool, path: str = "rules") -> None:
    for i, rule in enumerate(_list(rules)):
        rule = _dict(rule)
        rpath = f"{path}[{i}]"
        if not _list(rule.get("verbs")):
            errs.required(f"{rpath}.verbs", "verbs must contain at least one value")
        urls = _list(rule.get("nonResourceURLs"))
        if urls:
            if namespaced:
                errs.invalid(f"{rpath}.nonResourceURLs", urls, "namespaced rules cannot apply to non-resource URLs")
            if rule.get("apiGroups") or rule.get("resources"):
                errs.invalid(f"{rpath}.nonResourceURLs", urls,
                             "rules cannot apply to both regular resources and non-resource URLs")
            continue
        if not _list(rule.get("apiGroups")):
            errs.required(f"{rpath}.apiGroups", "resource rules must supply at least one api group")
        if not _list(rule.get("resources")):
            errs.required(f"{rpath}.resources", "resource rules must supply at least one resource")


def validate_role_binding(rb: dict, errs: Errors, cluster: bool) -> None:
    ref = _dict(rb.get("roleRef"))
    if ref.get("apiGroup") != RBAC_GROUP:
        errs.not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), [RBAC_GROUP])
    kinds = ["ClusterRole"] if cluster else ["Role", "ClusterRole"]
    if ref.get("kind") not in kinds:
        errs.not_supported("roleRef.kind", ref.get("kind", ""), kinds)
    if not ref.get("name"):
        errs.required("roleRef.name")
    elif isinstance(ref.get("name"), str):
        for msg in path_segment_name(ref["name"]):
            errs.invalid("roleRef.name", ref["name"], msg)
    for i, subject in enumerate(_list(rb.get("subjects"))):
        subject = _dict(subject)
        spath = f"subjects[{i}]"
        if not subject.get("name"):
            errs.required(f"{spath}.name")
        skind = subject.get("kind")
        if skind == "ServiceAccount":
            if subject.get("apiGroup"):
                errs.not_supported(f"{spath}.apiGroup", subject["apiGroup"], [""])
            if cluster and not subject.get("namespace"):
                errs.required(f"{spath}.namespace")
            if isinstance(subject.get("name"), str) and subject.get("name"):
                for msg in is_dns1123_subdomain(subject["name"]):
                    errs.invalid(f"{spath}.name", subject["name"], msg)
        elif skind in ("User", "Group"):
            if subject.get("apiGroup") != RBAC_GROUP:
                errs.not_supported(f"{spath}.apiGroup", subject.get("apiGroup", ""), [RBAC_GROUP])
        else:
            errs.not_supported(f"{spath}.kind", skind or "", ["ServiceAccount", "User", "Group"])


def _role_ref_repr(ref: Any) -> _Raw:
    ref = _dict(ref)
    return _Raw("rbac.RoleRef{APIGroup:%s, Kind:%s, Name:%s}" % (
        json.dumps(ref.get("apiGroup", "")), json.dumps(ref.get("kind", "")), json.dumps(ref.get("name", ""))))


# -- which rules apply to which kind ---------------------------------------------

def _name_check(resource: Resource) -> NameCheck:
    if resource.kind == "Namespace":
        return is_dns1123_label
    if resource.kind == "Service":
        return is_dns1035_label
    if resource.group == RBAC_GROUP:
        return path_segment_name
    return is_dns1123_subdomain


def _job_has_generated_selector(job: dict) -> bool:
    return _dict(job.get("spec")).get("manualSelector") is not True


_CREATE_RULES: dict[tuple[str, str], Callable[[dict, Errors], None]] = {
    ("v1", "Pod"): lambda o, e: validate_pod_spec(o.get("spec"), "spec", e),
    ("v1", "Service"): validate_service,
    ("v1", "Endpoints"): validate_endpoints,
    ("v1", "Node"): validate_node,
    ("v1", "Namespace"): validate_namespace,
    # a ConfigMap too large is reported on the whole object: upstream's field.NewPath(""), written "[]"
    ("v1", "ConfigMap"): lambda o, e: _validate_config_data(o, e, ("data", "binaryData"),
                                                           base64_fields=("binaryData",), too_long_field="[]"),
    ("v1", "Secret"): validate_secret,
    ("v1", "Event"): validate_core_event,
    ("events.k8s.io/v1", "Event"): validate_events_event,
    ("coordination.k8s.io/v1", "Lease"): validate_lease,
    ("apps/v1", "Deployment"): validate_deployment,
    ("apps/v1", "ReplicaSet"): lambda o, e: _validate_replicated(_dict(o.get("spec")), e, "replicaset"),
    ("apps/v1", "DaemonSet"): validate_daemon_set,
    ("apps/v1", "StatefulSet"): validate_stateful_set,
    ("batch/v1", "Job"): lambda o, e: validate_job_spec(o.get("spec"), "spec", e, _job_has_generated_selector(o)),
    ("batch/v1", "CronJob"): validate_cron_job,
    ("rbac.authorization.k8s.io/v1", "Role"): lambda o, e: validate_policy_rules(o.get("rules"), e, namespaced=True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): lambda o, e: validate_policy_rules(o.get("rules"), e, namespaced=False),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): lambda o, e: validate_role_binding(o, e, cluster=False),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): lambda o, e: validate_role_binding(o, e, cluster=True),
    ("discovery.k8s.io/v1", "EndpointSlice"): validate_endpoint_slice,
    ("policy/v1", "PodDisruptionBudget"): validate_pdb,
    ("v1", "ResourceQuota"): validate_resource_quota,
    ("v1", "LimitRange"): validate_limit_range,
}


def _apps_selector_immutable(new: dict, old: dict, errs: Errors) -> None:
    selector, old_selector = _dict(new.get("spec")).get("selector"), _dict(old.get("spec")).get("selector")
    if old_selector is not None and selector != old_selector:
        errs.immutable("spec.selector", _Raw(label_selector_repr(selector)))


def _configmap_update(new: dict, old: dict, errs: Errors) -> None:
    _validate_immutable_data(new, old, errs, ("data", "binaryData"))


def _secret_update(new: dict, old: dict, errs: Errors) -> None:
    _validate_immutable_data(new, old, errs, ("data",))
    if (new.get("type") or "Opaque") != (old.get("type") or "Opaque"):
        errs.immutable("type", new.get("type") or "")


def _role_binding_update(new: dict, old: dict, errs: Errors) -> None:
    if new.get("roleRef") != old.get("roleRef"):
        errs.invalid("roleRef", _role_ref_repr(new.get("roleRef")), "cannot change roleRef")


def _endpoint_slice_update(new: dict, old: dict, errs: Errors) -> None:
    if old.get("addressType") and new.get("addressType") != old.get("addressType"):
        errs.immutable("addressType", new.get("addressType"))


_UPDATE_RULES: dict[tuple[str, str], Callable[[dict, dict, Errors], None]] = {
    ("v1", "Pod"): validate_pod_update,
    ("v1", "Service"): validate_service_update,
    ("v1", "ConfigMap"): _configmap_update,
    ("v1", "Secret"): _secret_update,
    ("apps/v1", "Deployment"): _apps_selector_immutable,
    ("apps/v1", "ReplicaSet"): _apps_selector_immutable,
    ("apps/v1", "DaemonSet"): _apps_selector_immutable,
    ("apps/v1", "StatefulSet"): validate_stateful_set_update,
    ("batch/v1", "Job"): validate_job_update,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): _role_binding_update,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): _role_binding_update,
    ("discovery.k8s.io/v1", "EndpointSlice"): _endpoint_slice_update,
}


def _shape_errors(resource: Resource, obj: Any) -> Errors:
    """The schema's pass over ``obj``: JSON types, quantities, base64 and required fields."""
    errs = Errors()
    if not isinstance(obj, dict):
        errs.invalid("", _Raw(type(obj).__name__), "must be an object")
        return errs
    schema = _schema_of(resource)
    if schema is not None:
        _check_shape(schema, obj, "", errs, in_status=False)
    return errs


def validate(resource: Resource, obj: dict, old: dict | None = None, *, types_checked: bool = False) -> list[Cause]:
    """Every reason ``obj`` (after defaulting) is invalid; with ``old``, also what may not change.

    ``types_checked``: ``wrong_types`` found nothing in what the client sent, and the server has added
    only values of the right types since (a create: the strategy, defaults, admission), so only
    required fields are looked for, where the schema has some - as upstream, whose Go types are
    checked once, when the body is decoded.
    """
    schema = _schema_of(resource)
    if types_checked and isinstance(obj, dict) and schema is not None:
        errs = Errors()
        _report_missing(schema, obj, "", errs, in_status=False)
    elif isinstance(obj, dict) and (schema is None or _conforms(schema, obj, known_only=False, required=True)):
        errs = Errors()  # the schema's pass would report nothing: spare its walk
    else:
        errs = _shape_errors(resource, obj)
    if not isinstance(obj, dict) or any(c.reason == TYPE_INVALID for c in errs.causes):
        return errs.causes  # the shape is wrong: the rules below would only add noise
    validate_object_meta(obj.get("metadata"), resource.namespaced, _name_check(resource), errs)
    key = (resource.api_version, resource.kind)
    rule = _CREATE_RULES.get(key)
    if rule is not None:
        rule(obj, errs)
    if old is not None:
        validate_object_meta_update(obj.get("metadata"), _dict(old).get("metadata"), errs)
        update_rule = _UPDATE_RULES.get(key)
        if update_rule is not None:
            update_rule(obj, _dict(old), errs)
    return errs.causes


def _quickly_fine(resource: Resource, obj: Any, *, known_only: bool, required: bool) -> bool:
    """The quick walk (``_conforms``) over a whole object of ``resource``: True when the reporting walks
    would find nothing (a kind without a schema has nothing to find)."""
    schema = _schema_of(resource)
    return isinstance(obj, dict) and (schema is None or _conforms(schema, obj, known_only, required))


def wrong_types(resource: Resource, obj: Any) -> list[Cause]:
    """Only the JSON type errors of ``obj`` (``spec: true``, ``generateName: 5``): what upstream's decoder
    refuses before any other step runs. The apiserver checks these before admission and defaulting, so
    that no later step has to expect a ``spec`` that is not an object."""
    if _quickly_fine(resource, obj, known_only=False, required=False):
        return []
    errs = _shape_errors(resource, obj)
    # the shape pass also reports bad quantities and base64 (decoding errors upstream too), and required
    # fields, which are validation's business
    return [c for c in errs.causes if c.reason != "FieldValueRequired"]


def unknown_fields(resource: Resource, obj: dict) -> list[str]:
    """Fields of ``obj`` the schema of its kind does not declare (``spec.containers[0].imagee``)."""
    schema = _schema_of(resource)
    if schema is None or not isinstance(obj, dict) or _conforms(schema, obj, known_only=True, required=False):
        return []
    return schema_mod.unknown_fields_of(schema, obj)


def well_formed(resource: Resource, obj: Any) -> bool:
    """True when ``unknown_fields`` and ``wrong_types`` would both find nothing (one quick walk for both)."""
    return _quickly_fine(resource, obj, known_only=True, required=False)


# -- defaulting (upstream's SetDefaults_* and create-time preparation) -----------

def _set(d: dict, key: str, value: Any) -> None:
    if d.get(key) is None:
        d[key] = value


def _sub(d: dict, key: str) -> dict:
    """``d[key]`` as a dict, created when missing (only when ``d[key]`` is absent or null)."""
    if d.get(key) is None:
        d[key] = {}
    value = d[key]
    return value if isinstance(value, dict) else {}


def _image_pull_policy(image: Any) -> str:
    """Always for ``:latest`` or no tag, else IfNotPresent (a digest counts as a tag)."""
    if not isinstance(image, str) or "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "Always"
    return "Always" if last.rsplit(":", 1)[1] == "latest" else "IfNotPresent"


def _default_handler(handler: dict) -> None:
    http = handler.get("httpGet")
    if isinstance(http, dict):
        _set(http, "path", "/")
        _set(http, "scheme", "HTTP")


def _default_container(ctr: dict) -> None:
    _set(ctr, "terminationMessagePath", "/dev/termination-log")
    _set(ctr, "terminationMessagePolicy", "File")
    _set(ctr, "imagePullPolicy", _image_pull_policy(ctr.get("image")))
    _set(ctr, "resources", {})
    for port in _list(ctr.get("ports")):
        if isinstance(port, dict):
            _set(port, "protocol", "TCP")
    for var in _list(ctr.get("env")):
        field_ref = _dict(_dict(_dict(var).get("valueFrom")).get("fieldRef"))
        if field_ref:
            _set(field_ref, "apiVersion", "v1")
    for name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = ctr.get(name)
        if isinstance(probe, dict):
            _set(probe, "timeoutSeconds", 1)
            _set(probe, "periodSeconds", 10)
            _set(probe, "successThreshold", 1)
            _set(probe, "failureThreshold", 3)
            _default_handler(probe)
    lifecycle = _dict(ctr.get("lifecycle"))
    for hook in ("postStart", "preStop"):
        if isinstance(lifecycle.get(hook), dict):
            _default_handler(lifecycle[hook])


def _default_volume(vol: dict) -> None:
    if not any(vol.get(s) is not None for s in VOLUME_SOURCES) and len(set(vol) - {"name"}) == 0:
        vol["emptyDir"] = {}
    for source in ("secret", "configMap", "downwardAPI", "projected"):
        if isinstance(vol.get(source), dict):
            _set(vol[source], "defaultMode", 0o644)
    if isinstance(vol.get("hostPath"), dict):
        _set(vol["hostPath"], "type", "")
    for item in _list(_dict(vol.get("downwardAPI")).get("items")):
        if isinstance(_dict(item).get("fieldRef"), dict):
            _set(item["fieldRef"], "apiVersion", "v1")
    for source in _list(_dict(vol.get("projected")).get("sources")):
        token = _dict(source).get("serviceAccountToken")
        if isinstance(token, dict):
            _set(token, "expirationSeconds", 3600)
        for item in _list(_dict(_dict(source).get("downwardAPI")).get("items")):
            if isinstance(_dict(item).get("fieldRef"), dict):
                _set(item["fieldRef"], "apiVersion", "v1")


def default_pod_spec(spec: dict) -> None:
    """SetDefaults_PodSpec: applies to pods and to the pod templates of workloads."""
    _set(spec, "restartPolicy", "Always")
    _set(spec, "dnsPolicy", "ClusterFirst")
    _set(spec, "schedulerName", "default-scheduler")
    _set(spec, "terminationGracePeriodSeconds", 30)
    _set(spec, "securityContext", {})
    if spec.get("serviceAccountName") is None and spec.get("serviceAccount"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for ctr in _list(spec.get(key)):
            if isinstance(ctr, dict):
                _default_container(ctr)
    for vol in _list(spec.get("volumes")):
        if isinstance(vol, dict):
            _default_volume(vol)


def _default_template(owner_spec: dict) -> None:
    template = owner_spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        default_pod_spec(template["spec"])


def qos_class(spec: dict) -> str:
    """Guaranteed, Burstable or BestEffort, from the containers' requests and limits."""
    containers = [_dict(c) for c in _list(spec.get("containers")) + _list(spec.get("initContainers"))]
    any_set = False
    guaranteed = True
    for ctr in containers:
        res = _dict(ctr.get("resources"))
        requests, limits = _dict(res.get("requests")), _dict(res.get("limits"))
        if any(k in ("cpu", "memory") for k in list(requests) + list(limits)):
            any_set = True
        for name in ("cpu", "memory"):
            if name not in limits or parse_quantity(requests.get(name, limits[name])) != parse_quantity(limits[name]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _default_pod(pod: dict) -> None:
    spec = _sub(pod, "spec")
    default_pod_spec(spec)
    _set(spec, "enableServiceLinks", True)
    for ctr in _list(spec.get("containers")) + _list(spec.get("initContainers")):
        res = _dict(_dict(ctr).get("resources"))
        limits = _dict(res.get("limits"))
        if limits:  # requests default to limits
            requests = _sub(res, "requests")
            for name, qty in limits.items():
                requests.setdefault(name, qty)
        if spec.get("hostNetwork"):
            for port in _list(_dict(ctr).get("ports")):
                if isinstance(port, dict) and port.get("containerPort"):
                    _set(port, "hostPort", port["containerPort"])
    status = _sub(pod, "status")
    if not status.get("phase"):
        status["phase"] = "Pending"
        status.setdefault("qosClass", qos_class(spec))


def _default_service(svc: dict) -> None:
    spec = _sub(svc, "spec")
    _set(spec, "type", "ClusterIP")
    _set(spec, "sessionAffinity", "None")
    for port in _list(spec.get("ports")):
        if isinstance(port, dict):
            _set(port, "protocol", "TCP")
            if port.get("targetPort") is None and port.get("port") is not None:
                port["targetPort"] = port["port"]
    if spec.get("type") != "ExternalName":
        _set(spec, "internalTrafficPolicy", "Cluster")
        _set(spec, "ipFamilyPolicy", "SingleStack")
        _set(spec, "ipFamilies", ["IPv4"])
        if spec.get("clusterIP") and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]
    if spec.get("type") in ("NodePort", "LoadBalancer"):
        _set(spec, "externalTrafficPolicy", "Cluster")
    if spec.get("type") == "LoadBalancer":
        _set(spec, "allocateLoadBalancerNodePorts", True)
    status = _sub(svc, "status")
    _set(status, "loadBalancer", {})


def _default_deployment(d: dict) -> None:
    spec = _sub(d, "spec")
    _set(spec, "replicas", 1)
    strategy = _sub(spec, "strategy")
    _set(strategy, "type", "RollingUpdate")
    if strategy.get("type") == "RollingUpdate":
        rolling = _sub(strategy, "rollingUpdate")
        _set(rolling, "maxUnavailable", "25%")
        _set(rolling, "maxSurge", "25%")
    _set(spec, "revisionHistoryLimit", 10)
    _set(spec, "progressDeadlineSeconds", 600)
    _default_template(spec)


def _default_replica_set(rs: dict) -> None:
    spec = _sub(rs, "spec")
    _set(spec, "replicas", 1)
    _default_template(spec)


def _default_daemon_set(ds: dict) -> None:
    spec = _sub(ds, "spec")
    strategy = _sub(spec, "updateStrategy")
    _set(strategy, "type", "RollingUpdate")
    if strategy.get("type") == "RollingUpdate":
        rolling = _sub(strategy, "rollingUpdate")
        _set(rolling, "maxUnavailable", 1)
        _set(rolling, "maxSurge", 0)
    _set(spec, "revisionHistoryLimit", 10)
    _default_template(spec)


def _default_stateful_set(sts: dict) -> None:
    spec = _sub(sts, "spec")
    _set(spec, "replicas", 1)
    _set(spec, "podManagementPolicy", "OrderedReady")
    strategy = _sub(spec, "updateStrategy")
    _set(strategy, "type", "RollingUpdate")
    if strategy.get("type") == "RollingUpdate":
        _set(_sub(strategy, "rollingUpdate"), "partition", 0)
    _set(spec, "revisionHistoryLimit", 10)
    retention = _sub(spec, "persistentVolumeClaimRetentionPolicy")
    _set(retention, "whenDeleted", "Retain")
    _set(retention, "whenScaled", "Retain")
    for claim in _list(spec.get("volumeClaimTemplates")):
        if isinstance(claim, dict):
            _set(_sub(claim, "spec"), "volumeMode", "Filesystem")
    _default_template(spec)


JOB_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


def default_job_spec(spec: dict) -> None:
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    _set(spec, "parallelism", 1)
    _set(spec, "backoffLimit", 6)
    _set(spec, "completionMode", "NonIndexed")
    _set(spec, "suspend", False)
    if spec.get("podFailurePolicy") is None:
        _set(spec, "podReplacementPolicy", "TerminatingOrFailed")
    _default_template(spec)


def _default_job(job: dict) -> None:
    spec = _sub(job, "spec")
    default_job_spec(spec)
    # Upstream generates the selector when the job is created (it needs the uid):
    # controller-uid labels on the selector and the pod template.
    meta = _dict(job.get("metadata"))
    uid = meta.get("uid")
    if uid and spec.get("manualSelector") is not True and spec.get("selector") is None:
        spec["selector"] = {"matchLabels": {JOB_UID_LABELS[0]: uid}}
        labels = _sub(_sub(_sub(spec, "template"), "metadata"), "labels")
        for key in JOB_UID_LABELS:
            labels.setdefault(key, uid)
        if meta.get("name"):
            for key in JOB_NAME_LABELS:
                labels.setdefault(key, meta["name"])


def _default_cron_job(cj: dict) -> None:
    spec = _sub(cj, "spec")
    _set(spec, "concurrencyPolicy", "Allow")
    _set(spec, "suspend", False)
    _set(spec, "successfulJobsHistoryLimit", 3)
    _set(spec, "failedJobsHistoryLimit", 1)
    job_template = spec.get("jobTemplate")
    if isinstance(job_template, dict):
        default_job_spec(_sub(job_template, "spec"))


def _default_namespace(ns: dict) -> None:
    _set(_sub(ns, "spec"), "finalizers", ["kubernetes"])
    _set(_sub(ns, "status"), "phase", "Active")


def _default_secret(secret: dict) -> None:
    _set(secret, "type", "Opaque")
    # stringData is write-only: its values land base64-encoded in data
    string_data = secret.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = _sub(secret, "data")
        for key, value in string_data.items():
            if isinstance(value, str):
                data[key] = base64.b64encode(value.encode()).decode()


def _default_ports_protocol(ports: Any, name_too: bool = False) -> None:
    for port in _list(ports):
        if isinstance(port, dict):
            _set(port, "protocol", "TCP")
            if name_too:
                _set(port, "name", "")


def _default_endpoints(ep: dict) -> None:
    for subset in _list(ep.get("subsets")):
        _default_ports_protocol(_dict(subset).get("ports"))


def _default_endpoint_slice(es: dict) -> None:
    _default_ports_protocol(es.get("ports"), name_too=True)


def _default_binding_subjects(rb: dict) -> None:
    for subject in _list(rb.get("subjects")):
        if isinstance(subject, dict) and subject.get("apiGroup") is None:
            if subject.get("kind") in ("User", "Group"):
                subject["apiGroup"] = RBAC_GROUP
            elif subject.get("kind") == "ServiceAccount":
                subject["apiGroup"] = ""


def _default_node(node: dict) -> None:
    status = node.get("status")
    if isinstance(status, dict) and status.get("capacity") and not status.get("allocatable"):
        status["allocatable"] = dict(status["capacity"])


_DEFAULTERS: dict[tuple[str, str], Callable[[dict], None]] = {
    ("v1", "Pod"): _default_pod,
    ("v1", "Service"): _default_service,
    ("v1", "Namespace"): _default_namespace,
    ("v1", "Secret"): _default_secret,
    ("v1", "Endpoints"): _default_endpoints,
    ("v1", "Node"): _default_node,
    ("v1", "LimitRange"): _default_limit_range,
    ("apps/v1", "Deployment"): _default_deployment,
    ("apps/v1", "ReplicaSet"): _default_replica_set,
    ("apps/v1", "DaemonSet"): _default_daemon_set,
    ("apps/v1", "StatefulSet"): _default_stateful_set,
    ("batch/v1", "Job"): _default_job,
    ("batch/v1", "CronJob"): _default_cron_job,
    ("discovery.k8s.io/v1", "EndpointSlice"): _default_endpoint_slice,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): _default_binding_subjects,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): _default_binding_subjects,
}


def default(resource: Resource, obj: dict) -> None:
    """Fill in upstream's defaults, in place. Safe to call on updates (only missing fields are set).

    For Jobs, call it after metadata.uid is set: the generated selector uses it.
    """
    if not isinstance(obj, dict):
        return
    defaulter = _DEFAULTERS.get((resource.api_version, resource.kind))
    if defaulter is not None:
        defaulter(obj)


# -- what the apiserver answers about unknown fields -------------------------------

def unknown_field_warnings(paths: list[str]) -> list[str]:
    """fieldValidation=Warn: one ``Warning: 299 - "<text>"`` header text per unknown field."""
    return [f"unknown field {go_quote(p)}" for p in paths]  # quoted: no control character reaches a header
