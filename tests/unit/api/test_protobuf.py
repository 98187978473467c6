"""Decoding Kubernetes protobuf request bodies (labkit.api.protobuf).

Three kinds of evidence:

- bodies the real kubectl sent (fixtures/protobuf/*.pb, recorded by
  fixtures/protobuf/capture.py) decode to exactly kubectl's own JSON of the
  same object (``--dry-run=client -o json``, recorded beside them);
- hand-built wire bytes for every scalar kind, Go's zero-value rules, nested
  and repeated messages, maps, Time/MicroTime, IntOrString, Quantity, bytes;
- malformed bodies are refused with a ProtobufError naming the problem and
  the field, never another exception (also under hypothesis).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.api import protobuf, registry
from labkit.api.errors import StatusError
from labkit.api.protobuf import MAGIC, ProtobufError, UnknownKind, decode

FIXTURES = Path(__file__).parent / "fixtures" / "protobuf"


# -- a tiny encoder for hand-built bodies (the test's own, independent of the decoder) --

def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative numbers travel as 64-bit two's complement (10 bytes)
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def vi(number: int, value: int) -> bytes:
    """A varint field."""
    return varint(number << 3 | 0) + varint(value)


def ld(number: int, payload: bytes | str) -> bytes:
    """A length-delimited field (string, bytes or message)."""
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(number << 3 | 2) + varint(len(data)) + data


def entry(number: int, key: str, value: bytes | str | None) -> bytes:
    """One map entry (a message: key = 1, value = 2)."""
    return ld(number, ld(1, key) + (ld(2, value) if value is not None else b""))


def body(api_version: str, kind: str, raw: bytes, extra: bytes = b"") -> bytes:
    """MAGIC + runtime.Unknown{typeMeta{apiVersion, kind}, raw}."""
    return MAGIC + ld(1, ld(1, api_version) + ld(2, kind)) + ld(2, raw) + extra


def meta(*fields: bytes) -> bytes:
    return ld(1, b"".join(fields))


# -- kubectl's own bodies ------------------------------------------------------------

DRY_RUN_FIXTURES = sorted(p.stem for p in FIXTURES.glob("*.json"))


def test_fixtures_were_recorded():
    assert len(DRY_RUN_FIXTURES) >= 20 and (FIXTURES / "job_from_cronjob.pb").exists()


@pytest.mark.parametrize("name", DRY_RUN_FIXTURES)
def test_kubectl_body_decodes_to_kubectls_json(name):
    raw = (FIXTURES / f"{name}.pb").read_bytes()
    assert raw.startswith(MAGIC)
    assert decode(raw) == json.loads((FIXTURES / f"{name}.json").read_text())


# Commands without a client-side dry run: their JSON written out here from upstream's types.
NO_DRY_RUN = {
    "token": {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": {},
              "spec": {"audiences": ["api"], "expirationSeconds": 600},
              "status": {"token": "", "expirationTimestamp": None}},
    "can_i": {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "metadata": {},
              "spec": {"resourceAttributes": {"namespace": "capture", "verb": "list", "resource": "pods"}},
              "status": {"allowed": False}},
    "can_i_subresource": {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                          "metadata": {}, "spec": {"resourceAttributes": {
                              "namespace": "capture", "verb": "get", "resource": "pods", "subresource": "log"}},
                          "status": {"allowed": False}},
    "whoami": {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1", "metadata": {},
               "status": {"userInfo": {}}},
    "can_i_nonresource": {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                          "metadata": {}, "spec": {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}},
                          "status": {"allowed": False}},
}


@pytest.mark.parametrize("name", sorted(NO_DRY_RUN))
def test_kubectl_body_without_dry_run(name):
    assert decode((FIXTURES / f"{name}.pb").read_bytes()) == NO_DRY_RUN[name]


# -- hand-built bodies ---------------------------------------------------------------

T_2023 = 1_700_000_000  # 2023-11-14T22:13:20Z

CASES = [
    # (id, apiVersion, kind, raw object bytes, expected dict without kind/apiVersion)
    ("string, plain zero string dropped", "v1", "ConfigMap",
     meta(ld(1, "cm"), ld(2, ""), ld(3, "ns")),
     {"metadata": {"name": "cm", "namespace": "ns"}}),
    ("int64 and a negative pointer int64 (10-byte varint)", "v1", "ConfigMap",
     meta(ld(1, "cm"), vi(7, 9_000_000_000), vi(10, -1)),
     {"metadata": {"name": "cm", "generation": 9_000_000_000, "deletionGracePeriodSeconds": -1}}),
    ("plain int64 zero dropped", "v1", "ConfigMap", meta(vi(7, 0)), {"metadata": {}}),
    ("pointer int32 zero kept, plain int32 zero dropped, plain message kept", "apps/v1", "Deployment",
     ld(2, vi(1, 0) + vi(5, 0) + ld(4, b"")),
     {"spec": {"replicas": 0, "strategy": {}, "selector": None}}),  # selector has no omitempty
    ("pointer bool false kept", "v1", "ConfigMap", vi(4, 0), {"immutable": False}),
    ("plain bools: true kept, false dropped", "v1", "Pod",
     ld(2, ld(2, ld(1, "c") + vi(16, 1) + vi(18, 0)) + vi(11, 1)),
     {"spec": {"containers": [{"name": "c", "stdin": True}], "hostNetwork": True}}),
    ("bytes map values as base64, zero values kept", "v1", "Secret",
     entry(2, "bin", b"\x00\xff") + entry(2, "empty", None) + entry(4, "plain", "text") + ld(3, "Opaque"),
     {"data": {"bin": "AP8=", "empty": ""}, "stringData": {"plain": "text"}, "type": "Opaque"}),
    ("string and binary maps of a ConfigMap", "v1", "ConfigMap",
     entry(2, "a", "b") + entry(2, "blank", "") + entry(3, "raw", b"\x01\x02"),
     {"data": {"a": "b", "blank": ""}, "binaryData": {"raw": "AQI="}}),
    ("repeated messages and repeated strings keep empty items", "rbac.authorization.k8s.io/v1", "Role",
     ld(2, ld(1, "get") + ld(1, "list") + ld(2, "") + ld(3, "pods"))
     + ld(2, ld(1, "*") + ld(2, "apps") + ld(3, "deployments") + ld(3, "deployments/scale")),
     {"rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]},
                {"verbs": ["*"], "apiGroups": ["apps"], "resources": ["deployments", "deployments/scale"]}]}),
    ("no omitempty: a list never sent is null", "rbac.authorization.k8s.io/v1", "ClusterRole",
     meta(ld(1, "agg")),
     {"metadata": {"name": "agg"}, "rules": None}),
    ("no omitempty: zero scalars are written", "policy/v1", "PodDisruptionBudget",
     ld(3, vi(3, 0) + vi(6, 2)),
     {"status": {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 2}}),
    ("repeated int64, unpacked and packed (spec sent twice: merged)", "v1", "Pod",
     ld(2, ld(14, vi(4, 1000) + vi(4, 2000)))
     + ld(2, ld(14, ld(4, varint(3000) + varint(4000)) + vi(2, 0))),
     {"spec": {"securityContext": {"supplementalGroups": [1000, 2000, 3000, 4000], "runAsUser": 0}}}),
    ("nested maps: labels, selector, Quantity values", "v1", "ResourceQuota",
     meta(entry(11, "team", "a"), entry(12, "note", "")) + ld(2, entry(1, "cpu", ld(1, "500m"))
                                                             + entry(1, "pods", ld(1, "10"))
                                                             + entry(1, "zero", b"")),
     {"metadata": {"labels": {"team": "a"}, "annotations": {"note": ""}},
      "spec": {"hard": {"cpu": "500m", "pods": "10", "zero": "0"}}}),
    ("Time: whole seconds, nanos not shown; empty creationTimestamp omitted", "v1", "ConfigMap",
     meta(ld(8, b""), ld(9, vi(1, T_2023) + vi(2, 999))),
     {"metadata": {"deletionTimestamp": "2023-11-14T22:13:20Z"}}),
    ("Time: the first and last seconds Go allows", "v1", "ConfigMap",
     meta(ld(9, vi(1, -62_135_596_800))) + ld(1, ld(17, ld(4, vi(1, 253_402_300_799)))),
     {"metadata": {"deletionTimestamp": "0001-01-01T00:00:00Z",
                   "managedFields": [{"time": "9999-12-31T23:59:59Z"}]}}),
    ("Time: an empty plain Time is null (Go cannot omit a struct)", "v1", "Namespace",
     ld(3, ld(2, ld(1, "Ready") + ld(2, "True") + ld(4, b""))),
     {"status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": None}]}}),
    ("MicroTime: six fraction digits", "coordination.k8s.io/v1", "Lease",
     ld(2, ld(1, "me") + ld(4, vi(1, T_2023) + vi(2, 123_456_789)) + vi(2, 15) + vi(5, 0)),
     {"spec": {"holderIdentity": "me", "renewTime": "2023-11-14T22:13:20.123456Z", "leaseDurationSeconds": 15,
               "leaseTransitions": 0}}),
    ("IntOrString: number, name and zero", "v1", "Service",
     ld(2, ld(1, ld(1, "a") + vi(3, 80) + ld(4, vi(1, 0) + vi(2, 8080)))
        + ld(1, ld(1, "b") + vi(3, 81) + ld(4, vi(1, 1) + ld(3, "http")))
        + ld(1, ld(1, "c") + vi(3, 82) + ld(4, b""))),
     {"spec": {"ports": [{"name": "a", "port": 80, "targetPort": 8080},
                         {"name": "b", "port": 81, "targetPort": "http"},
                         {"name": "c", "port": 82, "targetPort": 0}]}}),
    ("pointer IntOrString: percent", "apps/v1", "Deployment",
     ld(2, ld(4, ld(1, "RollingUpdate") + ld(2, ld(1, vi(1, 1) + ld(3, "25%")) + ld(2, vi(2, 1))))),
     {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}},
               "selector": None}}),
    ("inline structs: Volume source, Probe handler, key selector name", "v1", "Pod",
     ld(2, ld(1, ld(1, "cfg") + ld(2, ld(19, ld(1, ld(1, "cm1")) + vi(3, 420))))
        + ld(2, ld(1, "c") + ld(10, ld(1, ld(2, ld(1, "/healthz") + ld(2, vi(1, 0) + vi(2, 8080)))) + vi(2, 5))
             + ld(7, ld(1, "K") + ld(3, ld(4, ld(1, ld(1, "s1")) + ld(2, "pw")))))),
     {"spec": {"volumes": [{"name": "cfg", "configMap": {"name": "cm1", "defaultMode": 420}}],
               "containers": [{"name": "c",
                               "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
                                                 "initialDelaySeconds": 5},
                               "env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "s1", "key": "pw"}}}]}]}}),
    ("managedFields: fieldsV1 is raw JSON", "v1", "ConfigMap",
     meta(ld(17, ld(1, "kubectl") + ld(2, "Update") + ld(3, "v1") + ld(4, vi(1, T_2023))
                 + ld(6, "FieldsV1") + ld(7, ld(1, b'{"f:data":{"f:a":{}}}')))),
     {"metadata": {"managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                                      "time": "2023-11-14T22:13:20Z", "fieldsType": "FieldsV1",
                                      "fieldsV1": {"f:data": {"f:a": {}}}}]}}),
    ("owner references: pointer bools", "v1", "ConfigMap",
     meta(ld(13, ld(5, "apps/v1") + ld(1, "ReplicaSet") + ld(3, "rs") + ld(4, "u-1") + vi(6, 1) + vi(7, 0))),
     {"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u-1",
                                        "controller": True, "blockOwnerDeletion": False}]}}),
    ("map of string lists (SubjectAccessReview extra)", "authorization.k8s.io/v1", "SubjectAccessReview",
     ld(2, ld(3, "alice") + ld(4, "devs") + entry(5, "scopes", ld(1, "a") + ld(1, "b"))
        + ld(2, ld(1, "/metrics") + ld(2, "get"))),
     {"spec": {"user": "alice", "groups": ["devs"], "extra": {"scopes": ["a", "b"]},
               "nonResourceAttributes": {"path": "/metrics", "verb": "get"}}}),
    ("a later value of a field replaces an earlier one, as in Go", "v1", "ConfigMap",
     meta(ld(1, "first"), ld(1, "second")), {"metadata": {"name": "second"}}),
    ("a message sent twice is merged: scalars replaced, lists extended", "v1", "ConfigMap",
     meta(ld(1, "a"), ld(14, "f1"), entry(11, "x", "1")) + meta(ld(1, "b"), ld(14, "f2"), entry(11, "y", "2")),
     {"metadata": {"name": "b", "finalizers": ["f1", "f2"], "labels": {"x": "1", "y": "2"}}}),
    ("events.k8s.io Event: an empty eventTime is null", "events.k8s.io/v1", "Event",
     meta(ld(1, "e")) + ld(2, b"") + ld(7, "Started") + ld(8, ld(1, "Pod") + ld(3, "p")) + ld(11, "Normal"),
     {"metadata": {"name": "e"}, "reason": "Started", "regarding": {"kind": "Pod", "name": "p"}, "type": "Normal",
      "eventTime": None}),
    ("DeleteOptions in any group", "meta.k8s.io/v1", "DeleteOptions",
     vi(1, 0) + ld(2, ld(1, "u-1")) + ld(4, "Foreground") + ld(5, "All"),
     {"gracePeriodSeconds": 0, "preconditions": {"uid": "u-1"}, "propagationPolicy": "Foreground",
      "dryRun": ["All"]}),
]


@pytest.mark.parametrize("api_version,kind,raw,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hand_built_body(api_version, kind, raw, expected):
    assert decode(body(api_version, kind, raw)) == {"kind": kind, "apiVersion": api_version, **expected}


def test_unknown_fields_are_skipped_and_logged_at_debug(caplog):
    raw = meta(ld(1, "cm"), vi(99, 7)) + ld(55, b"\x08\x01") + entry(2, "a", "b") + vi(2000, 1)
    with caplog.at_level(logging.DEBUG, logger="labkit.api.protobuf"):
        assert decode(body("v1", "ConfigMap", raw)) == {"kind": "ConfigMap", "apiVersion": "v1",
                                                         "metadata": {"name": "cm"}, "data": {"a": "b"}}
    skipped = [r.getMessage() for r in caplog.records]
    assert any("99" in m and "meta.ObjectMeta" in m for m in skipped)
    assert any("55" in m for m in skipped) and any("2000" in m for m in skipped)


def test_fixed_width_fields_are_skipped_when_unknown():
    raw = varint(90 << 3 | 1) + b"\x00" * 8 + varint(91 << 3 | 5) + b"\x00" * 4 + meta(ld(1, "cm"))
    assert decode(body("v1", "ConfigMap", raw))["metadata"] == {"name": "cm"}


def test_envelope_content_type_protobuf_is_accepted():
    raw = body("v1", "ConfigMap", meta(ld(1, "cm")), extra=ld(4, "application/vnd.kubernetes.protobuf"))
    assert decode(raw)["metadata"] == {"name": "cm"}


# -- refusals --------------------------------------------------------------------------

BAD = [
    ("JSON instead of protobuf", b'{"kind": "ConfigMap"}', "Kubernetes protobuf prefix"),
    ("empty body", b"", "Kubernetes protobuf prefix"),
    ("truncated varint", MAGIC + b"\x0a\x80", "truncated varint"),
    ("length past the end", MAGIC + b"\x0a\x05ab", "runs past the end"),
    ("group wire type", MAGIC + b"\x0b", "unsupported wire type 3"),
    ("field number 0", MAGIC + b"\x02\x00", "field number 0"),
    ("overlong varint", MAGIC + b"\x08" + b"\xff" * 11, "longer than 10 bytes"),
    ("no kind", MAGIC + ld(1, ld(1, "v1")) + ld(2, b""), "no typeMeta.kind"),
    ("gzip content encoding", body("v1", "ConfigMap", b"", extra=ld(3, "gzip")), 'contentEncoding "gzip"'),
    ("JSON inside the envelope", body("v1", "ConfigMap", b"", extra=ld(4, "application/json")),
     'holds "application/json"'),
    ("varint where a message is", body("apps/v1", "Deployment", vi(2, 1)),
     "spec: expected a length-delimited value"),
    ("message where a varint is", body("apps/v1", "Deployment", ld(2, ld(1, "3"))),
     "spec.replicas: expected a varint (int32)"),
    ("invalid UTF-8 in a string", body("v1", "ConfigMap", meta(ld(1, b"\xff\xfe"))),
     "metadata.name: string is not valid UTF-8"),
    ("int32 out of range", body("apps/v1", "Deployment", ld(2, vi(1, 1 << 40))),
     "spec.replicas: 1099511627776 does not fit an int32"),
    ("nanos out of range", body("coordination.k8s.io/v1", "Lease", ld(2, ld(4, vi(1, 1) + vi(2, -5)))),
     "spec.renewTime: nanos -5 out of range"),
    ("time past year 9999", body("v1", "ConfigMap", meta(ld(9, vi(1, 1 << 60)))),
     "metadata.deletionTimestamp: seconds 1152921504606846976 out of range"),
    ("IntOrString of type 2", body("v1", "Service", ld(2, ld(1, ld(4, vi(1, 2))))),
     "spec.ports[0].targetPort: IntOrString type 2"),
    ("fieldsV1 not JSON", body("v1", "ConfigMap", meta(ld(17, ld(7, ld(1, b"{nope"))))),
     "metadata.managedFields[0].fieldsV1: raw value is not JSON"),
    ("truncated nested message", body("v1", "ConfigMap", b"\x0a\x05\x0a\x09ab"), "runs past the end"),
]


@pytest.mark.parametrize("raw,problem", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_malformed_body_is_refused_naming_the_problem(raw, problem):
    with pytest.raises(ProtobufError) as caught:
        decode(raw)
    assert problem in str(caught.value)
    assert not isinstance(caught.value, UnknownKind)


@pytest.mark.parametrize("api_version,kind", [("example.com/v1", "Widget"), ("v1", "PersistentVolume"),
                                              ("apps/v1beta1", "Deployment")])
def test_kind_without_a_table_is_unknown_kind(api_version, kind):
    with pytest.raises(UnknownKind) as caught:
        decode(body(api_version, kind, b""))
    assert f'"{kind}" in "{api_version}"' in str(caught.value) and "application/json" in str(caught.value)


# -- the server's use of it -------------------------------------------------------------

def test_apiserver_decode_body_answers_dict_400_and_415():
    from labkit.apiserver.server import decode_body

    ctype = "application/vnd.kubernetes.protobuf"
    assert decode_body((FIXTURES / "configmap.pb").read_bytes(), ctype) == \
        json.loads((FIXTURES / "configmap.json").read_text())
    with pytest.raises(StatusError) as bad:
        decode_body(MAGIC + b"\x0a\x05ab", ctype)
    assert bad.value.code == 400 and bad.value.reason == "BadRequest"
    assert "protobuf request body could not be decoded" in bad.value.message
    assert "runs past the end" in bad.value.message
    with pytest.raises(StatusError) as unknown:
        decode_body(body("example.com/v1", "Widget", b""), ctype)
    assert unknown.value.code == 415 and unknown.value.reason == "UnsupportedMediaType"
    assert "Widget" in unknown.value.message


# -- the table ---------------------------------------------------------------------------

@pytest.mark.parametrize("resource", registry.RESOURCES, ids=lambda r: f"{r.api_version}/{r.kind}")
def test_every_served_kind_has_a_table(resource):
    message = protobuf.KINDS[(resource.api_version, resource.kind)]
    assert "metadata" in {f.json for f in protobuf.MESSAGES[message].values()}


def test_schema_field_numbers_and_names_are_unique_per_message():
    for name, fields in protobuf.MESSAGES.items():
        names = [f.json for f in fields.values() if not f.inline]
        assert len(names) == len(set(names)), name
    for message in [*protobuf.KINDS.values(), *protobuf.ANY_GROUP_KINDS.values()]:
        assert message in protobuf.MESSAGES


# -- no crash on anything ------------------------------------------------------------------

SEEDS = [(FIXTURES / f"{name}.pb").read_bytes() for name in ("deployment", "job_from_cronjob", "rolebinding")]


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_after_the_magic_never_crash(data):
    try:
        result = decode(MAGIC + data)
    except ProtobufError:
        return
    assert isinstance(result, dict)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(SEEDS), st.integers(min_value=4), st.integers(min_value=0, max_value=255),
       st.integers(min_value=0))
def test_mutated_kubectl_bodies_never_crash(seed, position, byte, cut):
    data = bytearray(seed)
    data[position % len(data)] = byte
    data = bytes(data[: max(4, len(data) - cut % 8)])
    try:
        result = decode(data)
    except ProtobufError:
        return
    json.dumps(result)  # whatever decodes is plain JSON data
