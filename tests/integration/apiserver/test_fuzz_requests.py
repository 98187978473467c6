"""A bounded fuzz run of the apiserver's HTTP door, against the real server on real etcd.

Hypothesis generates whole requests, in five families:

- **paths**: resource URLs with odd segments (dots, percent-encodings, unicode,
  very long names, unknown groups, subresources, extra segments), every verb;
- **query parameters**: label and field selectors, limit/continue,
  resourceVersion(+Match), watch, timeoutSeconds, dryRun, fieldValidation,
  propagationPolicy ... with well-formed, nearly well-formed and garbage values;
- **bodies**: valid objects (kubectl's own, tests/unit/api/fixtures/protobuf/*.json)
  mutated - a wrong type at a field, a field dropped or added, huge numbers,
  deep nesting, invalid UTF-8 - sent as JSON or YAML with assorted content types;
- **patches**: the three PATCH types with generated patches (mutated subtrees,
  JSON patch operations on real and bogus pointers, strategic merge directives);
- **protobuf bodies**: kubectl's recorded protobuf bodies with bytes flipped,
  inserted, cut or lengths made to lie.

Every answer is held to the same invariants:

- never a 5xx (one exception is upstream's own: a list at a resourceVersion
  newer than the store is 504 Timeout "Too large resource version");
- every 4xx is a well-formed ``Status`` (JSON, kind/apiVersion/status/code/reason/
  message, code equal to the HTTP code; an Invalid carries causes);
- a refused request (4xx) and a ``dryRun=All`` request change nothing in etcd: the
  keys under /registry/ and their mod_revisions, and etcd's revision, are the same
  before and after (read with etcd's own gRPC API, beside the apiserver);
- a 2xx JSON answer is strict JSON (no NaN/Infinity: Go clients could not read it);
- the server keeps serving: /healthz answers ok after every request.

The run is bounded and repeatable: a fixed number of examples per family,
``derandomize=True`` (the same examples in every run and in CI), no deadline.
Writes outside the test's own namespaces carry ``dryRun=All`` (the session's
apiserver is shared with other tests: the fuzz must not delete their objects).
"""

from __future__ import annotations

import base64
import copy
import http.client
import json
import os
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlparse

import grpc
import pytest
import yaml
from aetcd import rpc
from hypothesis import HealthCheck, assume, event, given, settings, strategies as st

from labkit.api import nesting, registry
from labkit.api.errors import StatusError
from labkit.api.patch import apply_patch
from labkit.api.validation import wrong_types

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[2] / "unit" / "api" / "fixtures" / "protobuf"
MiB = 1024 * 1024


# -- the wire: raw HTTP/1.1 on one keep-alive connection ----------------------------------

@dataclass
class Answer:
    code: int
    headers: http.client.HTTPMessage
    body: bytes
    streamed: bool = False  # an accepted watch: the stream was not read

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


class Wire:
    """Requests sent byte for byte (no client-side normalising of paths, headers or bodies)."""

    def __init__(self, url: str):
        parsed = urlparse(url)
        self.address = (parsed.hostname, parsed.port)
        self.sock: socket.socket | None = None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def send(self, method: str, target: bytes, headers: dict[str, str] | None = None,
             body: bytes | None = None) -> Answer:
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=60)
        lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: fuzz.local"]
        for name, value in (headers or {}).items():
            lines.append(name.encode() + b": " + value.encode("latin-1"))
        if body is not None:
            lines.append(b"Content-Length: " + str(len(body)).encode())
        self.sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + (body or b""))
        resp = http.client.HTTPResponse(self.sock, method=method)
        try:
            resp.begin()
            if resp.status == 200 and "stream=watch" in resp.getheader("Content-Type", ""):
                self.close()  # an accepted watch streams until its timeout: enough seen
                return Answer(resp.status, resp.headers, b"", streamed=True)
            data = resp.read()
        except (ConnectionError, http.client.HTTPException, socket.timeout):
            self.close()
            raise
        if resp.will_close:
            self.close()
        return Answer(resp.status, resp.headers, data)

    def json(self, method: str, path: str, obj=None, query: str = "") -> Answer:
        body = None if obj is None else json.dumps(obj).encode()
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        return self.send(method, (path + ("?" + query if query else "")).encode(), headers, body)


class Store:
    """etcd, read beside the apiserver: every key under /registry/ with its mod_revision."""

    def __init__(self, endpoint: str):
        self.channel = grpc.insecure_channel(urlparse(endpoint).netloc)
        self.kv = rpc.KVStub(self.channel)

    def snapshot(self) -> tuple[int, dict[bytes, int]]:
        answer = self.kv.Range(rpc.RangeRequest(key=b"/registry/", range_end=b"/registry0", keys_only=True),
                               timeout=30)
        return answer.header.revision, {kv.key: kv.mod_revision for kv in answer.kvs}


def changes(before: tuple[int, dict], after: tuple[int, dict]) -> str:
    (rev_a, keys_a), (rev_b, keys_b) = before, after
    changed = sorted(k.decode(errors="replace") for k in keys_a.keys() | keys_b.keys()
                     if keys_a.get(k) != keys_b.get(k))
    return f"etcd revision {rev_a} -> {rev_b}; keys changed: {changed[:10]}"


# -- the objects every example can reach ----------------------------------------------------

def fixture_objects() -> dict[str, dict]:
    """kubectl's own JSON of valid objects (recorded with the protobuf fixtures), by file stem."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))}


VALID = fixture_objects()
PROTOBUF_BODIES = {p.stem: p.read_bytes() for p in sorted(FIXTURES.glob("*.pb"))
                   if (FIXTURES / f"{p.stem}.json").exists()}
NAMESPACED = {stem: obj for stem, obj in VALID.items()
              if registry.by_kind(obj["apiVersion"], obj["kind"]).namespaced}

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "keep", "labels": {"app": "web"}},
       "spec": {"containers": [{"name": "c", "image": "busybox", "env": [{"name": "A", "value": "1"}],
                                "ports": [{"containerPort": 80}]}],
                "tolerations": [{"key": "k", "operator": "Exists"}]}}
LEASE = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "keep"},
         "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}}


def seed(stem_or_obj) -> dict:
    obj = json.loads(json.dumps(VALID[stem_or_obj] if isinstance(stem_or_obj, str) else stem_or_obj))
    obj["metadata"] = {**obj.get("metadata", {}), "name": "keep"}
    obj["metadata"].pop("namespace", None)
    obj["metadata"].pop("creationTimestamp", None)
    return obj


# Objects named "keep" in each playground namespace: what PUT, PATCH, DELETE and GET of a name reach.
SEEDS = {registry.by_kind(o["apiVersion"], o["kind"]).plural: o for o in (
    seed("configmap"), seed("secret"), seed("deployment"), seed("service_clusterip"), seed("role"),
    seed("job"), seed("serviceaccount"), seed("pdb"), seed(POD), seed(LEASE))}


def collection_path(resource, namespace: str | None) -> str:
    base = f"/api/{resource.version}" if not resource.group else f"/apis/{resource.group}/{resource.version}"
    return base + (f"/namespaces/{namespace}" if resource.namespaced and namespace else "") + f"/{resource.plural}"


RESOURCES_BY_PLURAL = {r.plural: r for r in registry.RESOURCES if r.group != "events.k8s.io"}


class Playground:
    """A namespace of the fuzz's own with the seed objects; remade after a request that changed it."""

    def __init__(self, wire: Wire):
        self.wire = wire
        self.namespace = ""
        self.dirty = True

    def ready(self) -> str:
        if self.dirty:
            self.release()
            self.namespace = f"fuzz-{uuid.uuid4().hex[:8]}"
            made = self.wire.json("POST", "/api/v1/namespaces",
                                  {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}})
            assert made.code == 201, made.body[:300]
            for plural, obj in SEEDS.items():
                made = self.wire.json("POST", collection_path(RESOURCES_BY_PLURAL[plural], self.namespace), obj)
                assert made.code == 201, (plural, made.body[:500])
            self.dirty = False
        return self.namespace

    def release(self) -> None:
        """Delete the old playground's Services: their cluster IPs come from a /24 the session shares."""
        if self.namespace:
            gone = self.wire.json("DELETE", f"/api/v1/namespaces/{self.namespace}/services")
            assert gone.code == 200, gone.body[:300]


# -- the invariants -------------------------------------------------------------------------

@dataclass
class Request:
    method: str
    target: str | bytes  # path and query, sent as is
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def raw_target(self) -> bytes:
        return self.target if isinstance(self.target, bytes) else self.target.encode()

    def query_values(self, name: str) -> list[str]:
        _, _, query = self.raw_target().partition(b"?")
        values = []
        for pair in query.split(b"&"):
            key, _, value = pair.partition(b"=")
            if key == name.encode():
                values.append(value.decode("latin-1"))
        return values


def is_write_in(request: Request, namespace: str) -> bool:
    """Whether a write stays inside the playground namespace (else it is sent as a dry run)."""
    path = request.raw_target().split(b"?", 1)[0]
    parts = [p for p in path.split(b"/") if p]
    inside = b"namespaces" in parts and parts.index(b"namespaces") + 1 < len(parts) \
        and parts[parts.index(b"namespaces") + 1] == namespace.encode()
    # /api/v1/namespaces/NS itself (and its status/finalize) is the namespace object: not inside it
    return inside and len(parts) > parts.index(b"namespaces") + 2 and \
        parts[parts.index(b"namespaces") + 2] not in (b"status", b"finalize")


def check_status(answer: Answer, where: str) -> dict:
    assert answer.content_type.startswith("application/json"), f"{where}: a {answer.code} that is not a JSON " \
        f"Status ({answer.content_type}): {answer.body[:300]!r}"
    status = json.loads(answer.body)
    assert isinstance(status, dict) and status.get("kind") == "Status" and status.get("apiVersion") == "v1", \
        f"{where}: not a Status: {answer.body[:300]!r}"
    assert status.get("status") == "Failure" and status.get("code") == answer.code, f"{where}: {status}"
    assert isinstance(status.get("reason"), str) and status["reason"], f"{where}: no reason: {status}"
    assert isinstance(status.get("message"), str) and status["message"].strip(), f"{where}: no message: {status}"
    if status["reason"] == "Invalid":
        causes = (status.get("details") or {}).get("causes")
        assert causes and all(isinstance(c, dict) and c.get("message") for c in causes), f"{where}: {status}"
    return status


def reason_of(answer: Answer) -> str:
    try:
        return json.loads(answer.body).get("reason") or ""
    except (ValueError, AttributeError):
        return ""


def strict_json(data: bytes):
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(data, parse_constant=refuse)


class Fuzz:
    """Sends one request and holds the answer to the invariants."""

    def __init__(self, wire: Wire, store: Store, playground: Playground):
        self.wire, self.store, self.playground = wire, store, playground

    def send(self, request: Request) -> Answer:
        namespace = self.playground.namespace
        if request.method != "GET" and not is_write_in(request, namespace):
            target = request.raw_target()
            request.target = target + (b"&" if b"?" in target else b"?") + b"dryRun=All"
        where = f"{request.method} {request.raw_target()[:300]!r} ({request.headers}, body " \
                f"{(request.body or b'')[:300]!r}{'...' if request.body and len(request.body) > 300 else ''})"
        before = self.store.snapshot()
        try:
            answer = self.wire.send(request.method, request.raw_target(), request.headers, request.body)
        except (ConnectionError, http.client.HTTPException, socket.timeout) as exc:
            raise AssertionError(f"{where}: no answer ({type(exc).__name__}: {exc})") from None
        event(f"{request.method} -> {answer.code} {reason_of(answer)}")  # pytest --hypothesis-show-statistics
        assert answer.code < 500 or self.upstreams_too_large_resource_version(answer), \
            f"{where}: {answer.code} {answer.body[:1000]!r}"
        dry_run = request.query_values("dryRun")
        unchanged = 400 <= answer.code or (dry_run and set(dry_run) == {"All"})
        if 400 <= answer.code:
            if request.method != "HEAD":  # an answer to HEAD has no body
                check_status(answer, where)
        elif request.method != "HEAD" and answer.content_type.startswith("application/json") and not answer.streamed:
            try:
                strict_json(answer.body)
            except ValueError as exc:
                raise AssertionError(f"{where}: a {answer.code} that is not strict JSON ({exc}): "
                                     f"{answer.body[:500]!r}") from None
        if unchanged:
            after = self.store.snapshot()
            assert after == before, f"{where}: answered {answer.code} but the store changed: {changes(before, after)}"
        elif request.method != "GET":
            self.playground.dirty = True  # an accepted write: the next example gets a fresh playground
        health = self.wire.send("GET", b"/healthz")
        assert (health.code, health.body) == (200, b"ok"), f"after {where}: /healthz {health.code} {health.body!r}"
        return answer

    @staticmethod
    def upstreams_too_large_resource_version(answer: Answer) -> bool:
        if answer.code != 504:
            return False
        status = check_status(answer, "a 504")
        return status["reason"] == "Timeout" and "Too large resource version" in status["message"]


@pytest.fixture(scope="module")
def fuzz(apiserver):
    wire = Wire(apiserver.url)
    store = Store(apiserver.etcd.endpoint)
    playground = Playground(wire)
    yield Fuzz(wire, store, playground)
    playground.release()
    wire.close()
    store.channel.close()


# CI: 200 examples a family, the same ones every run. To explore further (new examples each run):
# LABKIT_FUZZ_EXAMPLES=2000 pytest tests/integration/apiserver/test_fuzz_requests.py
EXPLORE = int(os.environ.get("LABKIT_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=EXPLORE or 200, deadline=None, derandomize=not EXPLORE, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])


# -- generators: path segments --------------------------------------------------------------

ODD_SEGMENTS = [
    ".", "..", "...", "%2E", "%2E%2E", "%2e%2E", "%2F", "a%2Fb", "%2F..%2F", "%5C", "a%5Cb", "%00", "a%00b", "%25",
    "%", "a%", "%G1", "%ZZ", "%C0%AE%C0%AE", "%FF%FE", "%E2%80%AE", "%EF%BB%BF", "~", "-", "-a", "a-", "a.b",
    "a..b", "A", "a_b", "a%20b", "a+b", ";", "a;b", "@", ":", "system:node", "%3F", "%23", "*", "a*", "$", "%7B%7D",
    "%F0%9F%92%A9", "%D7%90", "keep%20", "keep.", "KEEP", "0", "-1", "1e3", "null", "true", "[]", "%5B%5D",
]


def percent_encoded(text: str) -> str:
    return quote(text, safe="")


segment_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
raw_unicode = st.text(alphabet=st.characters(min_codepoint=0xA0, max_codepoint=0x2FFFF,
                                             blacklist_categories=("Cs", "Zl", "Zp")), min_size=1, max_size=8)
odd_segment = st.one_of(
    st.sampled_from(ODD_SEGMENTS),
    segment_text.map(percent_encoded),
    raw_unicode.map(percent_encoded),  # raw UTF-8 in a URL is refused by aiohttp's HTTP parser (not an API matter)
    st.builds(lambda n, c: c * n, st.sampled_from([63, 64, 253, 254, 1000, 3000]), st.sampled_from("a9-.")),
    st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,20}[a-z0-9])?", fullmatch=True),
)

PREFIXES = ["/api/v1", "/apis/apps/v1", "/apis/batch/v1", "/apis/rbac.authorization.k8s.io/v1",
            "/apis/coordination.k8s.io/v1", "/apis/policy/v1", "/apis/discovery.k8s.io/v1",
            "/apis/authorization.k8s.io/v1", "/apis/authentication.k8s.io/v1", "/apis/events.k8s.io/v1",
            "/api", "/apis", "/apis/apps", "/api/v2", "/apis/example.com/v1", "/apis/apps/v1beta1", "",
            "/healthz", "/version", "/openapi/v3", "/openapi/v3/apis", "/readyz", "/livez", "/openapi/v2"]
PLURALS = sorted({r.plural for r in registry.RESOURCES}) + ["widgets", "pod", "Pods", "configmap", "po", "cm"]
SUBRESOURCES = sorted({s for r in registry.RESOURCES for s in r.subresources}) + ["", "bogus", "status/extra"]
# Methods aiohttp's HTTP parser knows (a lowercase "get" is refused there, as a protocol error, before the API).
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "PROPFIND"]


SERVED = [r for r in registry.RESOURCES if r.group != "events.k8s.io"]


def api_prefix(resource) -> str:
    return f"/api/{resource.version}" if not resource.group else f"/apis/{resource.group}/{resource.version}"


@st.composite
def paths(draw, namespace: str) -> str:
    """Mostly a served resource's URL made odd in a place or two; sometimes anything under any prefix."""
    served = draw(st.integers(0, 3)) > 0
    resource = draw(st.sampled_from(SERVED))
    prefix = api_prefix(resource) if served else draw(st.sampled_from(PREFIXES))
    usual = st.integers(0, 3).map(bool)  # the usual segment three times in four
    parts = []
    if (resource.namespaced and served and draw(usual)) or (not served and draw(st.booleans())):
        parts += ["namespaces", namespace if draw(usual) else draw(st.one_of(st.sampled_from(
            ["default", "kube-system", "kube-public"]), odd_segment))]
    parts.append(resource.plural if served and draw(usual) else draw(st.one_of(st.sampled_from(PLURALS), odd_segment)))
    if draw(st.integers(0, 3)):
        name = "keep" if resource.namespaced else namespace if resource.plural == "namespaces" else "keep"
        parts.append(name if draw(st.booleans()) else draw(odd_segment))
        if draw(st.integers(0, 2)) == 0:
            subresource = draw(st.sampled_from(resource.subresources)) if resource.subresources and draw(usual) \
                else draw(st.one_of(st.sampled_from(SUBRESOURCES), odd_segment))
            parts.append(subresource)
            if draw(st.integers(0, 4)) == 0:
                parts.append(draw(odd_segment))
    path = prefix + "/" + "/".join(parts)
    assume(len(path.encode()) < 8000)  # a longer request line: test_a_url_over_8_kib_is_served
    return draw(st.sampled_from([path, path, path, path + "/", path.replace("/", "//", 1), path + "?",
                                 path.replace("namespaces", "namespaces/.", 1), path.replace("/", "/./", 2)]))


# -- generators: bodies ---------------------------------------------------------------------

NUMBERS = [0, -1, 1, 2**31, -(2**31) - 1, 2**53 + 1, 2**63, 2**64, -(2**64), 10**30, 1.5, -0.0, 1e308, 5e-324]
WRONG_VALUES = st.one_of(
    st.sampled_from([None, True, False, "", "x", "\u0000", "\ud800".encode("utf-8", "surrogatepass").decode(
        "utf-8", "replace"), "é" * 3, [], [1], [None], {}, {"a": 1}, {"": ""}, {"$patch": "delete"}]),
    st.sampled_from(NUMBERS),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.builds(lambda n: "x" * n, st.sampled_from([64, 254, 64 * 1024, 1100 * 1024])),
    # nested around labkit.api.nesting.MAX_DEPTH (100); deeper bodies: PATHOLOGICAL_JSON
    st.builds(lambda depth: json.loads("[" * depth + "]" * depth), st.sampled_from([30, 99, 150])),
    st.builds(lambda depth: json.loads('{"a":' * depth + "1" + "}" * depth), st.sampled_from([30, 99, 150])),
).map(copy.deepcopy)  # a fresh value each draw: mutations change what they are put into


def _paths_of(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths_of(child, prefix + (key,))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _paths_of(child, prefix + (i,))


def _get(value, path):
    for step in path:
        value = value[step]
    return value


@st.composite
def mutated(draw, obj: dict, min_mutations: int = 1):
    """``obj`` with 1..4 mutations: a wrong value at a field, a field dropped, an extra field."""
    obj = json.loads(json.dumps(obj))
    for _ in range(draw(st.integers(min_mutations, 4))):
        spots = list(_paths_of(obj))
        path = draw(st.sampled_from(spots))
        what = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
        if not path:
            if what == "replace" and draw(st.integers(0, 9)) == 0:
                return draw(WRONG_VALUES)
            what = "add"
        parent = _get(obj, path[:-1]) if path else None
        if what == "replace":
            parent[path[-1]] = draw(WRONG_VALUES)
        elif what == "drop":
            del parent[path[-1]]
        else:
            target = _get(obj, path)
            if isinstance(target, dict):
                key = draw(st.one_of(st.sampled_from(["bogus", "", "$patch", "metadata", "spec", "kind", "a.b",
                                                      "\u00e9", "status"]), st.text(max_size=10)))
                target[key] = draw(WRONG_VALUES)
            elif isinstance(target, list):
                target.insert(draw(st.integers(0, len(target))), draw(WRONG_VALUES))
            elif path:
                parent[path[-1]] = draw(WRONG_VALUES)
    return obj


def encode_json(draw, value) -> bytes:
    text = json.dumps(value, ensure_ascii=draw(st.booleans()))
    data = text.encode("utf-8", "surrogatepass")
    how = draw(st.integers(0, 11))
    if how == 0 and len(data) > 2:  # invalid UTF-8 somewhere
        at = draw(st.integers(1, len(data) - 1))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\xc0\xae"])) + data[at:]
    elif how == 1:  # cut short
        data = data[:draw(st.integers(0, max(0, len(data) - 1)))]
    elif how == 2:  # a UTF-8 byte order mark, or trailing garbage
        data = draw(st.sampled_from([b"\xef\xbb\xbf" + data, data + b"}", data + b" x", data + b"\n\n"]))
    elif how == 3:  # numbers JSON cannot carry, duplicate keys
        data = data.replace(b'"x"', b'NaN', 1).replace(b": 0", b": 1e400", 1).replace(b"{", b'{"k": 1, "k": 2, ', 1)
    return data


def encode_yaml(draw, value) -> bytes:
    try:
        text = yaml.safe_dump(value, allow_unicode=draw(st.booleans()))
    except (yaml.YAMLError, RecursionError):
        text = "{}"
    data = text.encode("utf-8", "surrogatepass")
    how = draw(st.integers(0, 9))
    if how == 0:
        data = draw(st.sampled_from(PATHOLOGICAL_YAML))
    elif how == 1 and len(data) > 2:
        at = draw(st.integers(1, len(data) - 1))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\t", b": :", b"\n- ", b"&a", b"*a", b"!!binary ", b"%"])) \
            + data[at:]
    elif how == 2:
        data = b"---\n" + data + b"---\n" + data  # two documents
    return data


PATHOLOGICAL_YAML = [
    # billion laughs: aliases of aliases
    b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    b"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
    b"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: laughs}\n",
    b"apiVersion: v1\nkind: ConfigMap\nmetadata: &m {name: loop, labels: *m}\n",
    b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: tagged}\ndata: !!python/object:object {}\n",
    b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: n}\ndata: {a: !!binary aGVsbG8=}\n",
    b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: n}\ndata: {? [a, b] : c}\n",
    b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: n, name: m}\n",
    b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: n}\ndata: {a: 2001-12-14t21:59:43.10-05:00}\n",
    b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: n}\ndata: {a: .inf, b: .nan, c: 0x1F, d: 1_000}\n",
    b"[" * 5000 + b"]" * 5000,
    b"{a: " * 3000 + b"1" + b"}" * 3000,
    b"- " * 2000 + b"x\n",
]
PATHOLOGICAL_JSON = [
    b"[" * 100000 + b"]" * 100000,
    b'{"a":' * 100000 + b"1" + b"}" * 100000,
    b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"data":' + b'{"a":' * 2000 + b'"x"'
    + b"}" * 2001,
    b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"inf","labels":{"a":"b"}},"data":{"a":"b"},'
    b'"immutable":1e400}',
    b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"nan"},"data":{"a":"b"},"immutable":NaN}',
    b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"num","generation":1e400}}',
    b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"big"},"spec":{"containers":[{"name":"c","image":"i"}],'
    b'"activeDeadlineSeconds":1e400}}',
    b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"big2"},"spec":{"containers":[{"name":"c","image":"i"}],'
    b'"activeDeadlineSeconds":123456789012345678901234567890}}',
    b'{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":1e400,'
    b'"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},'
    b'"spec":{"containers":[{"name":"c","image":"i"}]}}}}',
    b'"\\ud800"',
    b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"sur"},"data":{"a":"\\udc00"}}',
    b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"sur2","labels":{"\\ud800":"x"}}}',
    b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"nul\\u0000"}}',
    b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"},"data":{"a\\u0000":"b"}}',
]

CONTENT_TYPES = [
    "application/json", "application/json", "application/yaml", "application/json; charset=utf-8",
    "application/JSON", "Application/Json ; charset=UTF-8", "application/json;charset=latin1", "text/yaml",
    "application/x-yaml", "", None, "*/*", "application/vnd.kubernetes.protobuf", "application/merge-patch+json",
    "application/json-patch+json", "application/strategic-merge-patch+json", "application/apply-patch+yaml",
    "multipart/form-data; boundary=x", "a/b/c", ";;;", "application/json; charset=utf-16", "text/plain",
    "application/cbor", "application/json, application/yaml", "application/vnd.kubernetes.protobuf;stream=watch",
]
ACCEPTS = [None, "application/json", "application/yaml", "*/*", "application/xml",
           "application/json;as=Table;v=v1;g=meta.k8s.io", "application/json;as=Table;v=v9;g=meta.k8s.io",
           "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
           "application/vnd.kubernetes.protobuf",
           "application/json;as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io",
           "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8", ";;", "application/json;q=abc", "*"]


def headers_of(draw, content_type: str | None) -> dict[str, str]:
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    accept = draw(st.sampled_from(ACCEPTS)) if draw(st.integers(0, 4)) == 0 else None
    if accept is not None:
        headers["Accept"] = accept
    return headers


# -- the families -----------------------------------------------------------------------------

@FUZZ
@given(data=st.data())
def test_fuzz_paths_and_verbs(fuzz, data):
    namespace = fuzz.playground.ready()
    path = data.draw(paths(namespace), label="path")
    method = data.draw(st.sampled_from(["GET"] * 3 + ["POST", "PUT", "PATCH", "DELETE"] * 2 + METHODS), label="method")
    body = None
    headers = {}
    if method in ("POST", "PUT", "PATCH"):
        plural = next((p for p in path.split("/") if p in SEEDS), None)
        obj = plural or data.draw(st.sampled_from(sorted(SEEDS)), label="body of")
        body = json.dumps(SEEDS[obj]).encode()
        headers["Content-Type"] = "application/merge-patch+json" if method == "PATCH" else "application/json"
    request = Request(method, path.encode("utf-8"), body, headers)
    assume(not known_bug(request))
    fuzz.send(request)


# query parameters

label_key = st.sampled_from(["app", "a", "app.kubernetes.io/name", "x/y/z", "-a", "a" * 64, "", "é", "a b", "a=b",
                             "tier", "!", "a,b", "a/", "/a", "example.com/"])
selector_value = st.sampled_from(["web", "", "a b", "(", ")", "(a,b)", "(a,", "(web)", "a" * 64, "é", "!", "=",
                                  "x\\,y", "*", "1", "-", "a.b"])
label_operator = st.sampled_from(["=", "==", "!=", " in ", " notin ", "", ">", "<", " ", "=!", "in", "!"])


@st.composite
def label_selectors(draw) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        op = draw(label_operator)
        prefix = "!" if op == "" and draw(st.booleans()) else ""
        parts.append(prefix + draw(label_key) + op + (draw(selector_value) if op else ""))
    text = draw(st.sampled_from([",", ", ", " ,", ";"])).join(parts)
    return draw(st.one_of(st.just(text), st.just(text), st.text(max_size=20)))


field_name = st.sampled_from(["metadata.name", "metadata.namespace", "spec.nodeName", "status.phase", "spec.foo",
                              "type", "spec.schedulerName", "", "metadata", "metadata.name.x", "involvedObject.name",
                              "spec.unschedulable", "reason", "metadata.labels"])


@st.composite
def field_selectors(draw) -> str:
    parts = [draw(field_name) + draw(st.sampled_from(["=", "==", "!=", "", " = ", "in", "=="]))
             + draw(selector_value) for _ in range(draw(st.integers(0, 3)))]
    return draw(st.one_of(st.just(",".join(parts)), st.text(max_size=20)))


def continue_tokens():
    def token(payload) -> str:
        return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip(
            "=") if not isinstance(payload, str) else payload
    return st.one_of(
        st.sampled_from(["", "%%%", "abc", "e30", "bnVsbA", "W10", "ZXlK"]),
        st.builds(token, st.fixed_dictionaries({"v": st.sampled_from(["meta.k8s.io/v1", "v2", ""]),
                                                "rv": st.one_of(st.integers(-5, 10**20), st.text(max_size=5)),
                                                "start": st.one_of(st.text(max_size=20), st.just("../../secrets/"),
                                                                   st.integers())})),
        st.builds(token, st.one_of(st.lists(st.integers(), max_size=3), st.integers(), st.none(),
                                   st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3))),
    )


numbers_as_text = st.one_of(st.sampled_from(["0", "1", "-1", "10", "abc", "", "1.5", "1e3", "0x10",
                                             "99999999999999999999",
                                             "9223372036854775808", " 1", "+1", "١", "Infinity", "NaN"]),
                            st.integers().map(str))
QUERY_VALUES = {
    "labelSelector": label_selectors(),
    "fieldSelector": field_selectors(),
    "limit": numbers_as_text,
    "continue": continue_tokens(),
    "resourceVersion": numbers_as_text,
    "resourceVersionMatch": st.sampled_from(["NotOlderThan", "Exact", "", "exact", "Any"]),
    "watch": st.sampled_from(["true", "1", "false", "0", "", "yes", "TRUE", "t"]),
    "timeoutSeconds": numbers_as_text,
    "allowWatchBookmarks": st.sampled_from(["true", "false", "", "maybe"]),
    "sendInitialEvents": st.sampled_from(["true", "false", "", "x"]),
    "dryRun": st.sampled_from(["All", "All", "all", "", "None", "Maybe", "All,All"]),
    "fieldValidation": st.sampled_from(["Strict", "Warn", "Ignore", "", "strict", "Lenient"]),
    "propagationPolicy": st.sampled_from(["Background", "Foreground", "Orphan", "", "orphan", "Never"]),
    "gracePeriodSeconds": numbers_as_text,
    "orphanDependents": st.sampled_from(["true", "false", "", "x"]),
    "includeObject": st.sampled_from(["None", "Metadata", "Object", "", "All"]),
    "fieldManager": st.one_of(st.just("kubectl"), st.text(max_size=200)),
    "force": st.sampled_from(["true", "false", "x"]),
    "pretty": st.sampled_from(["true", "1", "x"]),
    "bogus": st.text(max_size=10),
}


@st.composite
def query_strings(draw) -> str:
    pairs = []
    for name in draw(st.lists(st.sampled_from(sorted(QUERY_VALUES)), max_size=6)):
        value = draw(QUERY_VALUES[name])
        encoding = draw(st.integers(0, 7))
        if encoding == 0:  # raw, as some clients send it (but ASCII: aiohttp's HTTP parser refuses raw UTF-8)
            encoded = value.replace(" ", "+").replace("&", "%26").replace("#", "%23")
            encoded = "".join(c if c.isprintable() and c.isascii() else quote(c) for c in encoded)
        elif encoding == 1:
            encoded = quote(value, safe="") + draw(st.sampled_from(["%", "%Z", "%FF", ""]))
        else:
            encoded = quote(value, safe="")
        pairs.append(f"{name}={encoded}" if draw(st.integers(0, 9)) else name)
    return "&".join(pairs)


@FUZZ
@given(data=st.data())
def test_fuzz_query_parameters(fuzz, data):
    namespace = fuzz.playground.ready()
    plural = data.draw(st.sampled_from(sorted(SEEDS) + ["nodes", "namespaces", "clusterroles"]), label="resource")
    resource = RESOURCES_BY_PLURAL[plural]
    where = data.draw(st.sampled_from(["collection", "object", "all namespaces"]), label="target")
    path = collection_path(resource, namespace if where != "all namespaces" else None)
    if where == "object":
        path += "/keep" if resource.namespaced else "/" + namespace
    method = data.draw(st.sampled_from(["GET", "GET", "GET", "DELETE", "POST", "PUT", "PATCH"]), label="method")
    body, headers = None, {}
    if method in ("POST", "PUT") and plural in SEEDS:
        body, headers = json.dumps(SEEDS[plural]).encode(), {"Content-Type": "application/json"}
    elif method == "PATCH":
        body, headers = b'{"metadata":{"labels":{"fuzz":"1"}}}', {"Content-Type": "application/merge-patch+json"}
    elif method == "DELETE" and data.draw(st.booleans()):
        body = json.dumps(data.draw(st.fixed_dictionaries({}, optional={
            "kind": st.sampled_from(["DeleteOptions", "Status", ""]), "apiVersion": st.sampled_from(["v1", "x"]),
            "propagationPolicy": st.one_of(st.sampled_from(["Orphan", "Bogus"]), st.integers()),
            "gracePeriodSeconds": WRONG_VALUES, "orphanDependents": WRONG_VALUES, "dryRun": WRONG_VALUES,
            "preconditions": st.one_of(WRONG_VALUES, st.fixed_dictionaries({}, optional={
                "uid": WRONG_VALUES, "resourceVersion": WRONG_VALUES}))}), label="delete options")).encode()
        headers = {"Content-Type": "application/json"}
    query = data.draw(query_strings(), label="query")
    request = Request(method, (path + ("?" + query if query else "")).encode("utf-8"), body, headers)
    assume(not known_bug(request))
    fuzz.send(request)


# bodies

@FUZZ
@given(data=st.data())
def test_fuzz_bodies(fuzz, data):
    namespace = fuzz.playground.ready()
    stem = data.draw(st.sampled_from(sorted(NAMESPACED)), label="object")
    resource = registry.by_kind(VALID[stem]["apiVersion"], VALID[stem]["kind"])
    valid = seed(stem) if resource.plural in SEEDS and data.draw(st.booleans()) else VALID[stem]
    obj = data.draw(mutated(valid), label="mutated")
    content_type = data.draw(st.sampled_from(CONTENT_TYPES), label="content type")
    kind_of_body = data.draw(st.integers(0, 19), label="body shape")
    if kind_of_body == 0:
        raw = data.draw(st.sampled_from(PATHOLOGICAL_JSON + PATHOLOGICAL_YAML), label="pathological")
    elif "yaml" in (content_type or ""):
        raw = encode_yaml(data.draw, obj)
    else:
        raw = encode_json(data.draw, obj)
    method = data.draw(st.sampled_from(["POST", "POST", "PUT"]), label="method")
    path = collection_path(resource, namespace)
    if method == "PUT":
        path += "/keep" if resource.plural in SEEDS else "/" + str((VALID[stem].get("metadata") or {}).get("name"))
    query = data.draw(st.sampled_from(["", "", "fieldValidation=Strict", "fieldValidation=Ignore", "dryRun=All"]),
                      label="query")
    request = Request(method, (path + ("?" + query if query else "")).encode(), raw,
                      headers_of(data.draw, content_type))
    assume(not known_bug(request))
    fuzz.send(request)


# patches

POINTER_TOKENS = ["metadata", "labels", "name", "spec", "containers", "0", "1", "-", "image", "data", "a", "~0", "~1",
                  "~2", "", "01", "99999999999999999999", "-1", "status", "replicas", "template", "env", "finalizers"]


@st.composite
def json_pointers(draw, obj) -> str:
    if draw(st.booleans()):
        path = draw(st.sampled_from(list(_paths_of(obj))))
        return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path) + \
            draw(st.sampled_from(["", "", "/-", "/0", "/new", "/~2"]))
    return draw(st.sampled_from(["", "/", "//", "a", "#/a"])) + "".join(
        "/" + t for t in draw(st.lists(st.sampled_from(POINTER_TOKENS), max_size=5)))


@st.composite
def json_patches(draw, obj):
    ops = []
    for _ in range(draw(st.integers(0, 5))):
        op = {"op": draw(st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "", "ADD", "nope"])),
              "path": draw(st.one_of(json_pointers(obj), json_pointers(obj), WRONG_VALUES))}
        if draw(st.integers(0, 3)):
            op["value"] = draw(st.one_of(WRONG_VALUES, st.sampled_from(list(_paths_of(obj))).map(
                lambda p, o=obj: _get(o, p))))
        if op["op"] in ("move", "copy") or draw(st.integers(0, 5)) == 0:
            op["from"] = draw(st.one_of(json_pointers(obj), WRONG_VALUES))
        if draw(st.integers(0, 6)) == 0:
            del op[draw(st.sampled_from(sorted(op)))]
        ops.append(op)
    return draw(st.one_of(st.just(ops), st.just(ops), WRONG_VALUES))


DIRECTIVES = ["$patch", "$retainKeys", "$setElementOrder/containers", "$setElementOrder/env",
              "$deleteFromPrimitiveList/finalizers", "$setElementOrder/", "$deleteFromPrimitiveList/", "$bogus",
              "$setElementOrder/finalizers", "$setElementOrder/tolerations"]
DIRECTIVE_VALUES = st.one_of(st.sampled_from(["delete", "replace", "merge", "bogus", None]), WRONG_VALUES,
                             st.lists(st.one_of(st.fixed_dictionaries({"name": st.sampled_from(["c", "x", "A", 1])}),
                                                st.sampled_from(["a", "name", "image", 1])), max_size=3))


@st.composite
def strategic_patches(draw, obj):
    patch = draw(mutated(obj, min_mutations=0))
    if not isinstance(patch, dict):
        return patch
    for _ in range(draw(st.integers(0, 4))):
        spots = [p for p in _paths_of(patch) if isinstance(_get(patch, p), (dict, list))]
        target = _get(patch, draw(st.sampled_from(spots)))
        if isinstance(target, dict):
            target[draw(st.sampled_from(DIRECTIVES))] = draw(DIRECTIVE_VALUES)
        else:
            target.insert(0, {"$patch": draw(st.sampled_from(["delete", "replace", "merge", "x"])),
                              draw(st.sampled_from(["name", "key", "containerPort", "uid"])): draw(st.sampled_from(
                                  ["c", "A", "k", 80, None]))})
    return patch


@FUZZ
@given(data=st.data())
def test_fuzz_patches(fuzz, data):
    namespace = fuzz.playground.ready()
    plural = data.draw(st.sampled_from(sorted(SEEDS)), label="resource")
    resource, live = RESOURCES_BY_PLURAL[plural], SEEDS[plural]
    content_type = data.draw(st.sampled_from(
        ["application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json"] * 3
        + ["application/apply-patch+yaml", "application/json", "application/merge-patch+json; charset=utf-8", ""]),
        label="content type")
    if content_type.startswith("application/json-patch"):
        patch = data.draw(json_patches(live), label="json patch")
    elif content_type.startswith("application/strategic"):
        patch = data.draw(strategic_patches(live), label="strategic patch")
    else:
        patch = data.draw(st.one_of(mutated(live, min_mutations=0), WRONG_VALUES), label="merge patch")
    raw = encode_json(data.draw, patch) if data.draw(st.integers(0, 4)) else json.dumps(patch).encode()
    subresource = data.draw(st.sampled_from(["", "", "", "/status", "/scale"]), label="subresource")
    query = data.draw(st.sampled_from(["", "", "fieldValidation=Strict", "dryRun=All", "fieldValidation=Ignore"]),
                      label="query")
    path = collection_path(resource, namespace) + "/keep" + subresource
    request = Request("PATCH", (path + ("?" + query if query else "")).encode(), raw, {"Content-Type": content_type})
    assume(not known_bug(request))
    fuzz.send(request)


# protobuf bodies

def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


@st.composite
def mutated_protobuf(draw, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 3, 4]))):
        what = draw(st.integers(0, 7)) if data else 2
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if what == 0:
            data[at] = draw(st.integers(0, 255))
        elif what == 1:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif what == 2:
            data[at:at] = draw(st.one_of(st.binary(max_size=8), st.sampled_from(
                [_varint(2**64 - 1), _varint(2**31), b"\x0a\xff\xff\xff\xff\x0f",
                 b"\x12\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",  # a length of 2**63
                 b"\x08\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",  # an 11-byte varint
                 b"\x0f", b"\x0b", b"\x0c", b"\xff\xff\xff\xff\xff"])))
        elif what == 3:
            del data[at:at + draw(st.integers(1, 16))]
        elif what == 4:
            data = data[:at]
        elif what == 5:  # a chunk repeated (fields given twice)
            size = draw(st.integers(1, 32))
            data[at:at] = data[at:at + size]
        elif what == 6:  # a different kind in the envelope
            data = bytearray(bytes(data).replace(b"ConfigMap", b"Secret\x00\x00\x00", 1).replace(
                b"Deployment", draw(st.sampled_from([b"ReplicaSe\xff", b"DaemonSet\x00", b"Namespace\x01"])), 1))
        else:
            data = bytearray(draw(st.sampled_from([b"", b"k8s", b"k8s\x00", b"k8s\x01", b"\x00k8s"]))) + data[4:]
    return bytes(data)


@FUZZ
@given(data=st.data())
def test_fuzz_protobuf_bodies(fuzz, data):
    namespace = fuzz.playground.ready()
    stem = data.draw(st.sampled_from(sorted(PROTOBUF_BODIES)), label="kubectl body")
    obj = VALID[stem]
    resource = registry.by_kind(obj["apiVersion"], obj["kind"])
    if data.draw(st.integers(0, 4)) == 0:  # sent to another resource's URL
        resource = RESOURCES_BY_PLURAL[data.draw(st.sampled_from(sorted(SEEDS)), label="other resource")]
    raw = data.draw(mutated_protobuf(PROTOBUF_BODIES[stem]), label="body")
    method = data.draw(st.sampled_from(["POST", "POST", "PUT"]), label="method")
    path = collection_path(resource, namespace) + ("/keep" if method == "PUT" else "")
    content_type = data.draw(st.sampled_from(["application/vnd.kubernetes.protobuf"] * 4 + [
        "application/vnd.kubernetes.protobuf; charset=utf-8", "application/json", "application/yaml"]),
        label="content type")
    request = Request(method, path.encode(), raw, {"Content-Type": content_type, "Accept": "application/json, */*"})
    assume(not known_bug(request))
    fuzz.send(request)


# -- what the fuzz found outside labkit/api: one strict xfail each (the families stay clear of them) ------

def _continue_payload(value: str):
    try:
        return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except ValueError:
        return {}


def nesting_depth(raw: bytes) -> int:
    """How deeply JSON (or flow-style YAML) brackets nest in ``raw`` (strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
    return deepest


def acceptable(accept: str | None) -> bool:
    if not accept:
        return True
    for item in accept.split(","):
        media = item.split(";")[0].strip().lower()
        if media in ("application/json", "application/yaml", "application/*", "*/*") and "as=" not in item:
            return True
    return False


def known_bug(request: Request) -> bool:
    """A request that hits a bug reported to labkit/apiserver's owners (each has its strict xfail below)."""
    _, _, query = request.raw_target().decode("latin-1").partition("?")
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if name == "continue" and not isinstance(_continue_payload(value), dict):
            return True
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and not acceptable(request.headers.get("Accept")):
        return True
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if name == "limit" and value.lstrip("-").isdigit() and abs(int(value)) >= 2**63:
            return True
    path = request.raw_target().split(b"?", 1)[0]
    if b"%0a" in path.lower():
        return True
    segments = [p for p in path.split(b"/") if p]
    if b"proxy" in segments[4:] or b"portforward" in segments[4:]:
        return True
    if request.method != "PATCH" and request.body:
        if nesting_depth(request.body) > nesting.MAX_DEPTH:
            return True
        try:
            obj = decoded(request)
        except RecursionError:
            return True
        if nesting.nesting_depth(obj) > nesting.MAX_DEPTH or not plain_json(obj):
            return True
        if kind_not_a_string(obj) or admission_sees_wrong_types(segments, obj):
            return True
    plural = next((p.decode() for p in segments if p.decode() in SEEDS), None)
    if request.method == "PATCH" and request.body and plural and segments[-1] == b"keep":
        try:  # the patch applied to the seed, as the server applies it to the stored object
            patched = apply_patch(RESOURCES_BY_PLURAL[plural], SEEDS[plural], request.body,
                                  request.headers.get("Content-Type", ""))
        except StatusError:
            return False
        if kind_not_a_string(patched) or admission_sees_wrong_types(segments, patched):
            return True
    return False


def kind_not_a_string(obj) -> bool:
    return isinstance(obj, dict) and any(k in obj and not isinstance(obj[k], str) for k in ("kind", "apiVersion"))


def plain_json(value) -> bool:
    """Whether ``value`` holds only what JSON has (YAML also gives bytes for !!binary, datetimes for timestamps)."""
    todo, seen = [value], set()
    while todo:
        item = todo.pop()
        if isinstance(item, (dict, list)):
            if id(item) in seen:  # a YAML alias: walked once
                continue
            seen.add(id(item))
        if isinstance(item, dict):
            if not all(isinstance(k, str) for k in item):
                return False
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
        elif not (item is None or isinstance(item, (str, int, float, bool))):
            return False
    return True


def admission_sees_wrong_types(segments: list[bytes], obj) -> bool:
    """A Pod or ResourceQuota body of the wrong JSON types (or a non-string generateName anywhere): admission
    (ResourceQuota, LimitRanger, ...) and generate_name run before validation and fail on them."""
    if not isinstance(obj, dict):
        return False
    meta = obj.get("metadata")
    if isinstance(meta, dict) and not isinstance(meta.get("generateName"), (str, type(None))):
        return True
    plural = next((p.decode() for p in segments if p in (b"pods", b"resourcequotas")), None)
    return plural is not None and bool(wrong_types(RESOURCES_BY_PLURAL[plural], obj))


def decoded(request: Request):
    """The body as the server's JSON/YAML decoding reads it, or None."""
    try:
        if "yaml" in request.headers.get("Content-Type", ""):
            return yaml.load(request.body, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        return json.loads(request.body)
    except (ValueError, yaml.YAMLError, TypeError):
        return None


@pytest.mark.xfail(strict=True, reason="labkit/apiserver/storage.py decode_continue: a continue token whose JSON "
                   "is not an object (base64 of null, [] or 1) is a 500 AttributeError, not upstream's 400")
def test_a_continue_token_that_is_not_an_object(fuzz):
    namespace = fuzz.playground.ready()
    for token in ("bnVsbA", "W10", "MQ"):  # null, [], 1
        fuzz.send(Request("GET", f"/api/v1/namespaces/{namespace}/configmaps?limit=1&continue={token}"))


@pytest.mark.xfail(strict=True, reason="labkit/apiserver/server.py create/update/patch/delete negotiate the Accept "
                   "header after the write: an unacceptable Accept is a 406 but the object was written (upstream "
                   "negotiates first: 406 and nothing written)")
def test_an_unacceptable_accept_header_on_a_write_writes_nothing(fuzz):
    namespace = fuzz.playground.ready()
    fuzz.send(Request("POST", f"/api/v1/namespaces/{namespace}/configmaps", b'{"metadata":{"name":"accept-star"}}',
                      {"Content-Type": "application/json", "Accept": "application/xml"}))


@pytest.mark.xfail(strict=True, reason="labkit/apiserver/server.py decode_body and rest.py: a body nested deeper "
                   "than Python's recursion limit (~1000 frames: json.loads, yaml.safe_load, then copy.deepcopy in "
                   "rest.py at ~450 levels) is a 500 RecursionError, not a 400 (labkit.api.nesting.check_depth is "
                   "the 400; patches use it)")
def test_a_deeply_nested_body_is_a_400(fuzz):
    namespace = fuzz.playground.ready()
    deep_field = (b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"bogus":'
                  + b"[" * 600 + b"]" * 600 + b"}")
    for body, content_type in ((b"[" * 5000 + b"]" * 5000, "application/json"), (deep_field, "application/json"),
                               (b"[" * 5000 + b"]" * 5000, "application/yaml")):
        fuzz.send(Request("POST", f"/api/v1/namespaces/{namespace}/configmaps", body, {"Content-Type": content_type}))


@pytest.mark.xfail(strict=True, reason="labkit/apiserver/rest.py check_body: a kind or apiVersion that is not a "
                   "string (true, 1, {}) is a 500 AttributeError, not upstream's 400")
def test_a_kind_or_api_version_that_is_not_a_string(fuzz):
    namespace = fuzz.playground.ready()
    fuzz.send(Request("POST", f"/api/v1/namespaces/{namespace}/configmaps",
                      b'{"kind": true, "apiVersion": true, "metadata": {"name": "cm"}}',
                      {"Content-Type": "application/json"}))


@pytest.mark.xfail(strict=True, reason="labkit/apiserver/server.py (or storage.py): limit beyond int64 is a 500 "
                   "'Value out of range' from etcd's gRPC, not a 400")
def test_a_limit_beyond_int64_is_a_400(fuzz):
    namespace = fuzz.playground.ready()
    fuzz.send(Request("GET", f"/api/v1/namespaces/{namespace}/configmaps?limit=99999999999999999999"))


@pytest.mark.xfail(strict=True, reason="labkit/apiserver/server.py routes: the catch-all route '/{path:.*}' does not "
                   "match a path with an encoded newline (%0A), so aiohttp answers its own text/plain 404, not a "
                   "Status")
def test_a_path_with_an_encoded_newline_is_a_status(fuzz):
    fuzz.playground.ready()
    fuzz.send(Request("GET", "/api/v1/%0A"))


@pytest.mark.xfail(strict=True, reason="aiohttp's request-line limit (8190 bytes, labkit/apiserver/__main__.py or "
                   "server.py would raise it): a longer URL gets a text/plain 400 and a closed connection; upstream "
                   "reads up to 1 MiB of request line and headers and answers a Status")
def test_a_url_over_8_kib_is_served(fuzz):
    namespace = fuzz.playground.ready()
    fuzz.send(Request("GET", f"/api/v1/namespaces/{namespace}/configmaps/" + "a" * 9000))


@pytest.mark.xfail(strict=True, reason="labkit/apiserver/kubelet_proxy.py: nodes/NAME/proxy, services/NAME/proxy and "
                   "pods/NAME/portforward answer 503 'not served by this apiserver yet' (a 5xx for a missing object "
                   "too; upstream: 404 for a missing node, else the proxied answer)")
def test_proxy_subresources_are_not_a_5xx(fuzz):
    namespace = fuzz.playground.ready()
    for path in ("/api/v1/nodes/missing/proxy", f"/api/v1/namespaces/{namespace}/services/keep/proxy",
                 f"/api/v1/namespaces/{namespace}/pods/keep/portforward"):
        fuzz.send(Request("GET", path))


@pytest.mark.xfail(strict=True, reason="labkit/apiserver/server.py decode_body: yaml.safe_load gives bytes for "
                   "!!binary and datetime for timestamps; with fieldValidation=Strict that is a 500 'bytes is not JSON "
                   "serializable' (upstream's YAML-to-JSON conversion makes them strings)")
def test_yaml_binary_and_timestamps_are_not_a_5xx(fuzz):
    namespace = fuzz.playground.ready()
    for body in (b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {a: !!binary aGVsbG8=}\n",
                 b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: t}\ndata: {a: 2001-12-14t21:59:43.10-05:00}\n"):
        fuzz.send(Request("POST", f"/api/v1/namespaces/{namespace}/configmaps?fieldValidation=Strict", body,
                          {"Content-Type": "application/yaml"}))


@pytest.mark.xfail(strict=True, reason="labkit/apiserver/rest.py runs admission (admission_plugins.py ResourceQuota, "
                   "LimitRanger) and strategy.generate_name before the type check: a Pod with spec: true, a "
                   "ResourceQuota with spec.hard: 5, a generateName: 5 are 500s; calling "
                   "labkit.api.validation.wrong_types first (upstream's decode step) makes them 422s")
def test_wrong_types_never_reach_admission(fuzz):
    namespace = fuzz.playground.ready()
    for plural, body in (("pods", {"metadata": {"name": "p"}, "spec": True}),
                         ("resourcequotas", {"metadata": {"name": "q"}, "spec": {"hard": 5}}),
                         ("configmaps", {"metadata": {"generateName": 5}})):
        fuzz.send(Request("POST", f"/api/v1/namespaces/{namespace}/{plural}", json.dumps(body).encode(),
                          {"Content-Type": "application/json"}))


@pytest.mark.xfail(strict=True, reason="labkit/apiserver/server.py: a namespaced resource's all-namespaces URL "
                   "(/api/v1/configmaps) takes DELETE (deletes that kind in every namespace) and POST (creates in the "
                   "body's namespace); upstream serves only list and watch there: 405 MethodNotAllowed (sent as "
                   "dry runs, as the fuzz sends every write outside its own namespaces)")
def test_the_all_namespaces_url_serves_only_reads(fuzz):
    fuzz.playground.ready()
    for method, body in (("DELETE", None), ("POST", b'{"metadata":{"name":"x","namespace":"default"}}')):
        answer = fuzz.send(Request(method, "/api/v1/configmaps?dryRun=All", body, {"Content-Type": "application/json"}))
        assert answer.code == 405, (method, answer.code)
