"""JSON merge patch and JSON patch: RFC examples and upstream's error codes, as tables."""

import json

import pytest
from hypothesis import given, strategies as st

from labkit.api import registry
from labkit.api.errors import StatusError
from labkit.api.patch import apply_patch, json_equal, merge_patch

CONFIGMAPS = registry.lookup("", "v1", "configmaps")
PODS = registry.lookup("", "v1", "pods")


def _patch(current, patch, content_type):
    body = patch if isinstance(patch, (bytes, str)) else json.dumps(patch)
    return apply_patch(CONFIGMAPS, current, body.encode() if isinstance(body, str) else body, content_type)


# RFC 7386 appendix A, then object-shaped cases an apiserver sees. (target, patch, result)
MERGE_CASES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ({"metadata": {"name": "c", "labels": {"a": "1", "b": "2"}}},
     {"metadata": {"labels": {"a": None, "c": "3"}}},
     {"metadata": {"name": "c", "labels": {"b": "2", "c": "3"}}}),
    ({"data": {"k": "v"}, "metadata": {"finalizers": ["x", "y"]}},
     {"metadata": {"finalizers": ["z"]}},  # lists are replaced, never merged
     {"data": {"k": "v"}, "metadata": {"finalizers": ["z"]}}),
]


@pytest.mark.parametrize("target, patch, expected", MERGE_CASES)
def test_merge_patch(target, patch, expected):
    assert _patch(target, patch, "application/merge-patch+json") == expected


def test_merge_patch_never_mutates_current():
    current = {"metadata": {"labels": {"a": "1"}}, "data": {"x": "1"}}
    snapshot = json.loads(json.dumps(current))
    result = _patch(current, {"metadata": {"labels": {"a": None}}, "data": {"y": "2"}},
                    "application/merge-patch+json")
    assert current == snapshot
    assert result == {"metadata": {"labels": {}}, "data": {"x": "1", "y": "2"}}


@pytest.mark.parametrize("content_type", [
    "application/merge-patch+json; charset=utf-8", "Application/Merge-Patch+JSON"])
def test_media_type_parameters_and_case_are_ignored(content_type):
    assert _patch({"a": 1}, {"a": 2}, content_type) == {"a": 2}


# RFC 6902 appendix A (in object form), plus pointer escaping and "-". (document, operations, result)
JSON_PATCH_CASES = [
    ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"foo": "bar", "baz": "qux"}),
    ({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}], {"foo": ["bar", "qux", "baz"]}),
    ({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": "end"}], {"foo": ["bar", "end"]}),
    ({"foo": ["bar"]}, [{"op": "add", "path": "/foo/1", "value": "end"}], {"foo": ["bar", "end"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    ({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}], {"foo": ["bar", "baz"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "replace", "path": "/baz", "value": "boo"}], {"baz": "boo", "foo": "bar"}),
    ({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
     [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
     {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
    ({"foo": ["all", "grass", "cows", "eat"]}, [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
     {"foo": ["all", "cows", "eat", "grass"]}),
    ({"foo": {"a": 1}}, [{"op": "copy", "from": "/foo", "path": "/bar"}], {"foo": {"a": 1}, "bar": {"a": 1}}),
    ({"baz": "qux", "foo": ["a", 2, "c"]},
     [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
     {"baz": "qux", "foo": ["a", 2, "c"]}),
    ({"foo": "bar"}, [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
     {"foo": "bar", "child": {"grandchild": {}}}),
    ({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}], {"foo": ["bar", ["abc", "def"]]}),
    ({"foo": None}, [{"op": "test", "path": "/foo", "value": None}], {"foo": None}),
    ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}, {"op": "remove", "path": "/~1"}], {"~1": 10}),
    # what kubectl and controllers send
    ({"metadata": {"labels": {"app.kubernetes.io/name": "web"}}},
     [{"op": "replace", "path": "/metadata/labels/app.kubernetes.io~1name", "value": "api"}],
     {"metadata": {"labels": {"app.kubernetes.io/name": "api"}}}),
    ({"metadata": {"resourceVersion": "5", "finalizers": ["a", "b"]}},
     [{"op": "test", "path": "/metadata/resourceVersion", "value": "5"},
      {"op": "remove", "path": "/metadata/finalizers/0"}],
     {"metadata": {"resourceVersion": "5", "finalizers": ["b"]}}),
    ({"a": 1}, [{"op": "add", "path": "", "value": {"b": 2}}], {"b": 2}),
    ({"a": 1}, [], {"a": 1}),
]


@pytest.mark.parametrize("document, operations, expected", JSON_PATCH_CASES)
def test_json_patch(document, operations, expected):
    assert _patch(document, operations, "application/json-patch+json") == expected


# operations that do not apply: upstream answers 422 Invalid with its generic message
JSON_PATCH_FAILURES = [
    ({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}], "testing value /baz failed"),
    ({"foo": 1}, [{"op": "test", "path": "/foo", "value": True}], "testing value /foo failed"),  # 1 is not true
    ({"foo": 1}, [{"op": "test", "path": "/missing", "value": 1}], "testing value /missing failed"),
    ({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}], 'doc is missing path: "/baz/bat"'),
    ({"foo": "bar"}, [{"op": "remove", "path": "/nope"}], 'doc is missing path: "/nope"'),
    ({"foo": "bar"}, [{"op": "replace", "path": "/nope", "value": 1}], 'doc is missing path: "/nope"'),
    ({"foo": ["a"]}, [{"op": "add", "path": "/foo/5", "value": 1}], "out of bounds"),
    ({"foo": ["a"]}, [{"op": "remove", "path": "/foo/1"}], "out of bounds"),
    ({"foo": ["a"]}, [{"op": "remove", "path": "/foo/-"}], 'invalid array index "-"'),
    ({"foo": ["a"]}, [{"op": "add", "path": "/foo/01", "value": 1}], 'invalid array index "01"'),
    ({"foo": {"a": 1}}, [{"op": "move", "from": "/foo", "path": "/foo/b"}], "into its own child"),
    ({"foo": "x"}, [{"op": "copy", "from": "/nope", "path": "/bar"}], 'doc is missing path: "/nope"'),
]


@pytest.mark.parametrize("document, operations, detail", JSON_PATCH_FAILURES)
def test_json_patch_that_does_not_apply_is_422(document, operations, detail):
    with pytest.raises(StatusError) as exc:
        _patch(document, operations, "application/json-patch+json")
    err = exc.value
    assert (err.code, err.reason) == (422, "Invalid")
    assert err.message == "the server rejected our request due to an error in our request"
    assert detail in err.causes[0].message


def test_failed_json_patch_leaves_current_alone():
    current = {"metadata": {"finalizers": ["a"]}}
    with pytest.raises(StatusError):
        _patch(current, [{"op": "remove", "path": "/metadata/finalizers/0"},
                         {"op": "test", "path": "/x", "value": 1}], "application/json-patch+json")
    assert current == {"metadata": {"finalizers": ["a"]}}


# malformed patches: 400 BadRequest. (content type, body, message fragment)
MALFORMED = [
    ("application/merge-patch+json", b"{", "the patch is not valid JSON"),
    ("application/json-patch+json", b"[{]", "the patch is not valid JSON"),
    ("application/strategic-merge-patch+json", b"{'a': 1}", "the patch is not valid JSON"),
    ("application/merge-patch+json", b"NaN", "NaN is not valid JSON"),
    ("application/merge-patch+json", b"\xff\xfe", "not valid UTF-8"),
    ("application/json-patch+json", b'{"op": "add"}', "cannot unmarshal object into Go value of type jsonpatch.Patch"),
    ("application/json-patch+json", b'[{"op": "frob", "path": "/a"}]', "Unexpected kind: frob"),
    ("application/json-patch+json", b'[{"op": "add", "value": 1}]', 'missing or non-string "path"'),
    ("application/json-patch+json", b'[{"op": "add", "path": "/a"}]', 'missing "value"'),
    ("application/json-patch+json", b'[{"op": "move", "path": "/a"}]', 'missing or non-string "from"'),
    ("application/json-patch+json", b'[{"op": "add", "path": "a", "value": 1}]', "must be empty or start with"),
    ("application/json-patch+json", b'[{"op": "add", "path": "/a~2", "value": 1}]', "only ~0 and ~1"),
    ("application/json-patch+json", b"[1]", "must be an object"),
    ("application/strategic-merge-patch+json", b"[1]", "cannot unmarshal array into Go value of type map"),
    # a number no float64 holds (Python would read it as inf, and store "Infinity": not JSON)
    ("application/merge-patch+json", b'{"a": 1e400}', "out of range"),
    ("application/json-patch+json", b'[{"op": "add", "path": "/a", "value": -1e999}]', "out of range"),
    # nested deeper than Python's recursion allows (Go's decoder takes it; no object is that deep)
    ("application/merge-patch+json", b'{"a":' * 5000 + b"1" + b"}" * 5000, "nested too deeply"),
    ("application/strategic-merge-patch+json", b'{"a":' * 101 + b"1" + b"}" * 101, "nested too deeply"),
    ("application/json-patch+json", b"[" * 100000 + b"]" * 100000, "nested too deeply"),
]


@pytest.mark.parametrize("content_type, body, message", MALFORMED)
def test_malformed_patch_is_400(content_type, body, message):
    with pytest.raises(StatusError) as exc:
        apply_patch(CONFIGMAPS, {"a": 1}, body, content_type)
    assert (exc.value.code, exc.value.reason) == (400, "BadRequest")
    assert message in exc.value.message


def test_too_many_json_patch_operations_is_413():
    ops = [{"op": "test", "path": "/a", "value": 1}] * 10001
    with pytest.raises(StatusError) as exc:
        _patch({"a": 1}, ops, "application/json-patch+json")
    assert (exc.value.code, exc.value.reason) == (413, "RequestEntityTooLarge")


@pytest.mark.parametrize("content_type", ["application/json", "application/apply-patch+yaml", "text/plain", ""])
def test_other_media_types_are_415(content_type):
    with pytest.raises(StatusError) as exc:
        apply_patch(CONFIGMAPS, {"a": 1}, b"{}", content_type)
    assert (exc.value.code, exc.value.reason) == (415, "UnsupportedMediaType")


# the result must still be an object: 422 naming the patch
NOT_AN_OBJECT = [
    ("application/merge-patch+json", [1, 2]),
    ("application/merge-patch+json", "text"),
    ("application/merge-patch+json", None),
    ("application/json-patch+json", [{"op": "replace", "path": "", "value": [1]}]),
    ("application/json-patch+json", [{"op": "remove", "path": ""}]),
]


@pytest.mark.parametrize("content_type, patch", NOT_AN_OBJECT)
def test_result_must_be_an_object(content_type, patch):
    with pytest.raises(StatusError) as exc:
        apply_patch(CONFIGMAPS, {"metadata": {"name": "cm"}}, json.dumps(patch).encode(), content_type)
    assert (exc.value.code, exc.value.reason) == (422, "Invalid")
    assert exc.value.message.startswith('ConfigMap "cm" is invalid: patch: the patched object must be a JSON object')


# -- properties ----------------------------------------------------------------------

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)), max_leaves=10)
json_objects = st.dictionaries(st.text(max_size=3), json_values, max_size=4)


def _without_nulls(value):
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


@given(json_objects, json_objects)
def test_merge_patch_is_idempotent(target, patch):
    once = merge_patch(target, patch)
    assert json_equal(merge_patch(once, patch), once)


@given(json_objects)
def test_merge_patch_with_a_document_without_nulls_yields_it(doc):
    # RFC 7386: patching anything with a null-free object gives the object's keys their values
    clean = _without_nulls(doc)
    result = merge_patch({}, clean)
    assert json_equal(result, clean)


@given(json_objects, st.text(max_size=4), json_values)
def test_json_patch_add_then_remove_restores_the_document(doc, key, value):
    pointer = "/" + key.replace("~", "~0").replace("/", "~1")
    if key in doc:
        return
    added = _patch(doc, [{"op": "add", "path": pointer, "value": value}], "application/json-patch+json")
    assert json_equal(added[key], value)
    removed = _patch(added, [{"op": "remove", "path": pointer}], "application/json-patch+json")
    assert json_equal(removed, doc)


def test_a_patch_at_the_depth_limit_applies():
    patch = json.loads('{"a":' * 99 + "1" + "}" * 99)  # 99 objects, the patch itself is the 100th level
    assert merge_patch({}, patch) == _patch({}, json.dumps(patch), "application/merge-patch+json")


def test_depth_of_shared_values_is_walked_once():
    """YAML aliases share one list in many places (billion laughs): the depth walk stays fast."""
    from labkit.api.nesting import nesting_depth
    level = ["x"] * 9
    for _ in range(12):  # 9**12 leaves if expanded
        level = [level] * 9
    assert nesting_depth({"a": level}) == 14


def test_a_cycle_is_too_deep():
    from labkit.api.nesting import MAX_DEPTH, nesting_depth
    loop: dict = {"name": "loop"}
    loop["labels"] = loop  # what YAML's "metadata: &m {labels: *m}" gives
    assert nesting_depth(loop) > MAX_DEPTH
