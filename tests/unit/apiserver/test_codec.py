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
