"""labkit/apiserver/codec.py: the one JSON codec of the apiserver, and what it notes about request bodies."""

from __future__ import annotations

import json

import pytest

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
