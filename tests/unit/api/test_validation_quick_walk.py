"""validation._conforms, the quick yes/no walk, never says yes where the reporting walks find something.

It lets the apiserver skip the walks that build paths and Causes (unknown fields, wrong types,
required fields) for the usual well-formed object, so a "yes" must be exact: objects are
generated from every kind's schema, mostly well formed, with wrong types, bad quantities and
base64, out-of-range integers, unknown keys, missing required fields and nulls mixed in.
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.api import schema as schema_mod
from labkit.api import validation as v
from labkit.api.schema.types import ListOf, MapOf, Primitive, Scalar, Struct

ODD = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False, allow_infinity=False),
                st.just("x"), st.just({}), st.just([]), st.just({"k": "v"}))
KEYS = st.text(alphabet="abkx-./", min_size=1, max_size=4)


def values_of(t, depth: int = 0) -> st.SearchStrategy:
    """Values for type ``t``: mostly of the right shape, one in eight not (ODD)."""
    if isinstance(t, Primitive):
        kind, fmt = t.json_type, t.format
        if kind == "string" and fmt == "byte":
            good = st.one_of(st.binary(max_size=6).map(lambda b: base64.b64encode(b).decode()), st.just("not base64!"))
        elif kind == "string":
            good = st.text(max_size=4)
        elif kind == "integer":
            good = st.one_of(st.integers(-5, 5), st.sampled_from([2 ** 31 - 1, 2 ** 31, -2 ** 31, -2 ** 31 - 1,
                                                                  2 ** 63 - 1, 2 ** 63, -2 ** 63 - 1]))
        elif kind == "number":
            good = st.one_of(st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False))
        else:
            good = st.booleans()
    elif isinstance(t, Scalar):
        good = st.one_of(st.sampled_from(["1", "100m", "1Gi", "2e3", "abc", "", "1e99999999999"]), st.integers(-3, 3),
                         st.text(max_size=3))
    elif isinstance(t, ListOf):
        good = st.lists(values_of(t.item, depth + 1), max_size=2) if depth < 6 else st.just([])
    elif isinstance(t, MapOf):
        good = st.dictionaries(KEYS, values_of(t.value, depth + 1), max_size=2) if depth < 6 else st.just({})
    elif isinstance(t, Struct):
        if t.open or depth >= 6 or not t.fields:
            good = st.dictionaries(KEYS, ODD, max_size=2)
        else:
            names = sorted(t.fields)
            good = st.fixed_dictionaries({}, optional={name: st.deferred(lambda f=t.fields[name]: values_of(
                f.type, depth + 1)) for name in names[:12]} | ({names[12]: st.none()} if len(names) > 12 else {}))
            good = st.one_of(good, st.tuples(good, KEYS, ODD).map(lambda g: {**g[0], g[1]: g[2]}))  # unknown keys
    else:
        good = ODD
    return st.one_of(*[good] * 7, ODD)


KINDS = sorted(schema_mod.RESOURCE_KINDS.items(), key=lambda item: item[0])


def shape_report(schema, obj) -> list:
    """What the reporting walk (``_check_shape``) finds in ``obj``: its causes."""
    errs = v.Errors()
    v._check_shape(schema, obj, "", errs, in_status=False)
    return errs.causes


@st.composite
def kind_and_object(draw):
    (api_version, kind), schema = draw(st.sampled_from(KINDS))
    return schema, draw(values_of(schema))


@given(kind_and_object())
@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
def test_a_yes_from_the_quick_walk_means_the_reporting_walks_find_nothing(case):
    schema, obj = case
    if not isinstance(obj, dict):
        return
    shape = shape_report(schema, obj)
    wrong = [c for c in shape if c.reason != v.REQUIRED]
    unknown = schema_mod.unknown_fields_of(schema, obj)
    if v._conforms(schema, obj, known_only=True, required=False):
        assert unknown == [] and wrong == []
    if v._conforms(schema, obj, known_only=False, required=False):
        assert wrong == []
    if v._conforms(schema, obj, known_only=False, required=True):
        assert shape == []


def _schema(api_version: str, kind: str):
    return schema_mod.schema_for(api_version, kind)


POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
       "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {"limits": {"cpu": "100m"}}}]}}


def pod(**spec) -> dict:
    return {**POD, "spec": {**POD["spec"], **spec}}


# (what, (apiVersion, kind), object, what the reporting walks say: "" nothing, or a word of it)
SINGLE_DEFECTS = [
    ("a well-formed pod", ("v1", "Pod"), POD, ""),
    ("a null label value (decoding makes it \"\")", ("v1", "ConfigMap"),
     {"metadata": {"name": "c", "labels": {"a": None}}, "data": {"k": "v"}}, ""),
    ("an int32 past its range", ("coordination.k8s.io/v1", "Lease"),
     {"metadata": {"name": "l"}, "spec": {"leaseDurationSeconds": 2 ** 31}}, "int32"),
    ("an int64 past its range", ("v1", "Pod"), pod(activeDeadlineSeconds=2 ** 63), "int64"),
    ("a boolean for an integer", ("v1", "Pod"), pod(activeDeadlineSeconds=True), "integer"),
    ("bad base64", ("v1", "Secret"), {"metadata": {"name": "s"}, "data": {"k": "not base64!"}}, "base64"),
    ("a bad quantity", ("v1", "Pod"),
     pod(containers=[{"name": "c", "image": "i", "resources": {"limits": {"cpu": "lots"}}}]), "quantities"),
    ("a string for an object", ("v1", "ConfigMap"), {"metadata": "m"}, "object"),
    ("a number in a string map", ("v1", "ConfigMap"), {"metadata": {"name": "c"}, "data": {"k": 5}}, "string"),
    ("an unknown field", ("v1", "ConfigMap"), {"metadata": {"name": "c"}, "dta": {}}, "unknown"),
    ("an unknown field deep down", ("v1", "Pod"), pod(containers=[{"name": "c", "imagee": "i"}]), "unknown"),
    ("a required field missing", ("v1", "Pod"), pod(containers=[{"image": "i"}]), "Required"),
]


@pytest.mark.parametrize("api_version_kind, obj, says", [c[1:] for c in SINGLE_DEFECTS],
                         ids=[c[0] for c in SINGLE_DEFECTS])
def test_one_defect_anywhere_makes_the_quick_walk_say_no(api_version_kind, obj, says):
    schema = _schema(*api_version_kind)
    shape = shape_report(schema, obj)
    found = [c.message for c in shape] + [f"unknown {p}" for p in schema_mod.unknown_fields_of(schema, obj)]
    quick = v._conforms(schema, obj, known_only=True, required=True)
    if not says:
        assert found == [] and quick
    else:
        assert any(says in text for text in found), found
        assert not quick


def test_a_required_field_missing_under_status_is_a_no_the_reporting_walk_exempts():
    """The quick walk may say no where nothing is reported (its callers then run the reporting walks)."""
    schema = _schema("v1", "Pod")
    obj = {**POD, "status": {"conditions": [{"status": "True"}]}}  # a condition's type is required
    shape = shape_report(schema, obj)
    assert shape == [] and not v._conforms(schema, obj, known_only=False, required=True)


@given(kind_and_object())
@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_required_fields_walk_reports_what_the_shape_walk_does_when_the_types_are_right(case):
    """validate(types_checked=True) (a create, after check_fields) looks for required fields alone."""
    schema, obj = case
    if not isinstance(obj, dict):
        return
    shape = shape_report(schema, obj)
    if any(c.reason != v.REQUIRED for c in shape):
        return  # a create never gets this far with wrong types
    missing = v.Errors()
    v._report_missing(schema, obj, "", missing, in_status=False)
    assert missing.causes == shape
