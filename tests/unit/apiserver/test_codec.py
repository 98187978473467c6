"""labkit/apiserver/codec.py: the one JSON codec of the apiserver, and what it notes about request bodies."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.apiserver import codec

OBJECT = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "labels": {"é": "ü"}},
          "data": {"a": "1\n\"quoted\"", "n": None}, "list": [1, 2.5, True, {"x": []}]}


def test_dumps_writes_what_the_standard_library_writes_compactly():
    assert codec.dumps(OBJECT) == json.dumps(OBJECT, separators=(",", ":"), ensure_ascii=False).encode()
    assert codec.loads(codec.dumps(OBJECT)) == OBJECT


def test_what_orjson_refuses_is_still_written():
    assert codec.dumps({"big": 10 ** 30}) == b'{"big":1000000000000000000000000000000}'
    assert codec.dumps({"s": "a\ud800b"}) == '{"s":"a\ufffdb"}'.encode()  # an unpaired surrogate: U+FFFD, as Go


def test_copy_is_deep_and_equal():
    copied = codec.copy(OBJECT)
    assert copied == OBJECT
    copied["list"][3]["x"].append(1)
    assert OBJECT["list"][3]["x"] == []


def test_repeated_keys_of_a_json_body_in_document_order():
    data, repeated = codec.decode_request(
        '{"metadata": {"name": "a", "labels": {"k": "1", "k": "2"}, "name": "b"}, "spec": {"c": [{"i": 1, "i": 2}]}}')
    assert data == {"metadata": {"name": "b", "labels": {"k": "2"}}, "spec": {"c": [{"i": 2}]}}
    assert repeated == ["metadata.name", "metadata.labels.k", "spec.c[0].i"]
    assert codec.decode_request('{"a": 1, "a": 2}', keys_only=True)[1] == [("a", "a")]
    assert codec.decode_request('{"a": 1}') == ({"a": 1}, [])


def test_repeated_keys_of_a_yaml_body_in_go_yaml_words_and_line_order():
    data, repeated = codec.decode_request("a: 1\nb:\n  c: 2\n  c: 3\na: 4\n", yaml_body=True)
    assert data == {"a": 4, "b": {"c": 3}}
    assert repeated == ['line 4: key "c" already set in map', 'line 5: key "a" already set in map']


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(constant):
    with pytest.raises(ValueError, match="is not JSON"):
        codec.decode_request('{"a": %s}' % constant)


def test_escaped_unpaired_surrogates_become_replacement_characters():
    data, _ = codec.decode_request(r'{"a": "x\ud800y", "b": "\ud83d\ude00"}')
    assert data == {"a": "x\ufffdy", "b": "\U0001F600"}


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1.7976931348623159e308"])
def test_a_number_past_float64_is_refused_as_gos_decoder_does(number):
    with pytest.raises(ValueError, match=f"cannot unmarshal number {number} into Go value of type float64"):
        codec.decode_request(f'{{"spec": {{"x": {number}}}}}')
    assert codec.decode_request('{"x": 1.5e308}')[0] == {"x": 1.5e308}


def test_yaml_bodies_give_only_json_types_as_upstreams_conversion():
    """Timestamps stay text, !!binary is its decoded text, keys become strings, .inf has no JSON form."""
    data, _ = codec.decode_request("a: 2001-12-14t21:59:43.10-05:00\nb: !!binary aGVsbG8=\n1: one\ntrue: two\n",
                                   yaml_body=True)
    assert data == {"a": "2001-12-14t21:59:43.10-05:00", "b": "hello", "1": "one", "true": "two"}
    with pytest.raises(Exception, match=r"json: unsupported value: \+Inf"):
        codec.decode_request("a: .inf\n", yaml_body=True)


def test_yaml_aliases_that_expand_past_the_limit_are_refused():
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 8)]
    with pytest.raises(Exception, match="excessive aliasing"):
        codec.decode_request("\n".join(lines), yaml_body=True)
    data, _ = codec.decode_request("base: &b {x: 1}\nuse: *b\nmerged: {<<: *b, y: 2}\n", yaml_body=True)
    assert data == {"base": {"x": 1}, "use": {"x": 1}, "merged": {"x": 1, "y": 2}}
    with pytest.raises(Exception, match="contains it"):
        codec.decode_request("a: &a [*a]\n", yaml_body=True)


# -- the quick way: orjson, when it provably reads a body as the slow parse does -----------------

@pytest.mark.parametrize("body, quick", [
    ('{"a": 1, "b": "x"}', True),
    ('{"a":1,"b":"x"}', True),  # compact (kubectl, client-go)
    ('{\n  "a": {"b": [1, 2, {"c": null}]},\n  "d": true\n}', True),  # indented
    ('{"a" : "x" , "b" :"y"}', True),  # any spacing
    ('{"k": "a \\"quoted\\" value", "n": "line\\nbreak"}', True),  # escaped quotes do not count as strings
    ('{"k": "ends in a backslash\\\\", "m": "\\\\\\"x"}', True),  # \\ then a closing quote; \\ then \"
    ('{"k": "\\u00e9\\ud83d\\ude00", "é": "ü"}', True),  # escapes, a surrogate pair, UTF-8
    ('{"": ""}', True),
    ('[{"a": 1}, {"a": 1}]', True),  # the same key in two objects is no repeat
    ('"just a string"', True),
    ('{"a": 1, "a": 2}', False),  # a repeated key
    ('{"a": 1, "b": {"c": "x", "c": "x"}}', False),  # repeated deeper, with the same value
    ('{"a": {"x": "1", "y": ["2"]}, "a": 5}', False),  # the replaced value held strings
    ('{"a": [1], "a": [2]}', False),
    ('{"a": "\\"", "a": "\\\\"}', False),  # repeated, with escapes about
    ('{"a" :1,\n "a":2}', False),  # repeated, odd spacing
    ('{"n": 1.5}', False),  # floats go the slow way (an integer past 64 bits is a float for orjson)
    ('{"n": 18446744073709551616}', False),
    ('{"n": -9223372036854775809}', False),
    ('{"n": 1e400}', False),  # past float64: orjson refuses, the slow parse words the error
    ('{"n": NaN}', False),
    ('{"s": "\\ud800"}', False),  # a lone surrogate: orjson refuses, the slow parse makes it U+FFFD
    ('{"a": 1,}', False),  # not JSON
])
def test_quick_decode_is_taken_only_when_it_provably_agrees(body, quick):
    assert codec._quick_decode(body)[0] is quick
    try:
        expected = codec._json_noting_duplicates(body)
    except ValueError as exc:
        with pytest.raises(type(exc), match="^" + re.escape(str(exc)) + "$"):
            codec.decode_request(body)
        return
    data, repeated = codec.decode_request(body)
    assert (data, repeated) == expected
    assert json.dumps(data) == json.dumps(expected[0])  # the same key order too
    if quick:
        assert repeated == []


_KEYS = st.sampled_from(["a", "b", "", 'q"uote', "back\\slash", "é", "\n", "c"])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.floats(allow_nan=False),
                     st.text(alphabet='ab"\\\n\u00e9\U0001F600', max_size=4))


def _as_json(value, separators) -> str:
    """JSON text of a value whose objects are lists of (key, value) pairs: keys may repeat."""
    comma, colon = separators
    if isinstance(value, tuple):  # an object
        return "{" + comma.join(json.dumps(k) + colon + _as_json(v, separators) for k, v in value[0]) + "}"
    if isinstance(value, list):
        return "[" + comma.join(_as_json(v, separators) for v in value) + "]"
    return json.dumps(value)


_TREES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.tuples(st.lists(st.tuples(_KEYS, inner), max_size=4))), max_leaves=12)


def _outcome(decode, *args):
    try:
        data, repeated = decode(*args)
    except ValueError as exc:
        return "error", str(exc)
    return json.dumps(data), repeated  # json.dumps: the key order counts too


@given(tree=_TREES, separators=st.sampled_from([(",", ":"), (", ", ": "), (" ,\n ", " : ")]))
@settings(max_examples=400, deadline=None)
def test_decode_request_answers_as_the_slow_parse_for_any_body(tree, separators):
    body = _as_json(tree, separators)
    for keys_only in (False, True):
        assert _outcome(codec.decode_request, body, False, keys_only) == \
            _outcome(codec._json_noting_duplicates, body, keys_only)
