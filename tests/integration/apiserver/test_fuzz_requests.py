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
from hypothesis import HealthCheck, assume, currently_in_test_context, event, given, settings, strategies as st

from labkit.api import registry
from tests.unit.api.test_protobuf import varint

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
        if currently_in_test_context():  # the regression tests below send outside hypothesis
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
    fuzz.send(request)


# protobuf bodies

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
                [varint(2**64 - 1), varint(2**31), b"\x0a\xff\xff\xff\xff\x0f",
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
    fuzz.send(request)


# -- what the fuzz found in labkit/apiserver, fixed: one regression test each ------------------------------
# fuzz.send checks the invariants (no 5xx, a Status for a 4xx, nothing written by a refusal); these also pin the code.

def codes(fuzz, *requests: Request) -> list[int]:
    return [fuzz.send(request).code for request in requests]


def test_a_continue_token_that_is_not_an_object(fuzz):
    """base64 of null, [] or 1 was a 500 AttributeError."""
    namespace = fuzz.playground.ready()
    assert codes(fuzz, *(Request("GET", f"/api/v1/namespaces/{namespace}/configmaps?limit=1&continue={token}")
                         for token in ("bnVsbA", "W10", "MQ"))) == [400, 400, 400]


def test_an_unacceptable_accept_header_on_a_write_writes_nothing(fuzz):
    """The Accept header was negotiated after the write: a 406 with the object stored."""
    namespace = fuzz.playground.ready()
    assert codes(fuzz, Request("POST", f"/api/v1/namespaces/{namespace}/configmaps",
                               b'{"metadata":{"name":"accept-star"}}',
                               {"Content-Type": "application/json", "Accept": "application/xml"})) == [406]


def test_a_deeply_nested_body_is_a_400(fuzz):
    """Past Python's recursion limit (parsing, copies) this was a 500 RecursionError."""
    namespace = fuzz.playground.ready()
    deep_field = (b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"bogus":'
                  + b"[" * 600 + b"]" * 600 + b"}")
    assert codes(fuzz, *(Request("POST", f"/api/v1/namespaces/{namespace}/configmaps", body,
                                 {"Content-Type": content_type})
                         for body, content_type in ((b"[" * 5000 + b"]" * 5000, "application/json"),
                                                    (deep_field, "application/json"),
                                                    (b"[" * 5000 + b"]" * 5000, "application/yaml")))) == [400] * 3


def test_yaml_aliases_that_expand_without_end_are_a_400(fuzz):
    """A billion laughs (nested aliases) or an alias inside itself: the server hung expanding them."""
    namespace = fuzz.playground.ready()
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: laughs}", 'a0: &a0 ["lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    laughs = "\n".join(lines + ["bogus: *a9"]).encode()
    inside = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: inside}\nbogus: &x [*x]\n"
    assert codes(fuzz, *(Request("POST", f"/api/v1/namespaces/{namespace}/configmaps", body,
                                 {"Content-Type": "application/yaml"}) for body in (laughs, inside))) == [400, 400]


def test_a_kind_or_api_version_that_is_not_a_string(fuzz):
    """Was a 500 AttributeError; upstream's TypeMeta decoding answers 400."""
    namespace = fuzz.playground.ready()
    assert codes(fuzz, Request("POST", f"/api/v1/namespaces/{namespace}/configmaps",
                               b'{"kind": true, "apiVersion": true, "metadata": {"name": "cm"}}',
                               {"Content-Type": "application/json"})) == [400]


def test_a_limit_beyond_int64_is_a_400(fuzz):
    """Was a 500 'Value out of range' from etcd's gRPC."""
    namespace = fuzz.playground.ready()
    assert codes(fuzz, Request("GET", f"/api/v1/namespaces/{namespace}/configmaps?limit=99999999999999999999")) \
        == [400]


def test_a_path_with_an_encoded_newline_is_a_status(fuzz):
    """The catch-all route did not match a newline: aiohttp's own text/plain 404."""
    fuzz.playground.ready()
    assert codes(fuzz, Request("GET", "/api/v1/%0A")) == [404]


def test_a_url_over_8_kib_is_served(fuzz):
    """aiohttp's 8 KiB request line closed the connection; upstream reads up to 1 MiB."""
    namespace = fuzz.playground.ready()
    assert codes(fuzz, Request("GET", f"/api/v1/namespaces/{namespace}/configmaps/" + "a" * 9000)) == [404]


def test_proxy_subresources_are_not_served_yet(fuzz):
    """nodes|services/proxy and pods/portforward answered 503 even for a missing node: not routed until served."""
    namespace = fuzz.playground.ready()
    assert codes(fuzz, *(Request("GET", path) for path in (
        "/api/v1/nodes/missing/proxy", f"/api/v1/namespaces/{namespace}/services/keep/proxy",
        f"/api/v1/namespaces/{namespace}/pods/keep/portforward"))) == [404] * 3


def test_yaml_binary_and_timestamps_are_json_strings(fuzz):
    """yaml.safe_load gave bytes and datetimes: a 500 under fieldValidation=Strict. Upstream's conversion makes
    strings of them."""
    namespace = fuzz.playground.ready()
    assert codes(fuzz, *(Request("POST", f"/api/v1/namespaces/{namespace}/configmaps?fieldValidation=Strict", body,
                                 {"Content-Type": "application/yaml"}) for body in (
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {a: !!binary aGVsbG8=}\n",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: t}\ndata: {a: 2001-12-14t21:59:43.10-05:00}\n"))) \
        == [201, 201]


def test_wrong_types_never_reach_admission(fuzz):
    """Admission (ResourceQuota, LimitRanger) and generateName ran before the type check: 500s."""
    namespace = fuzz.playground.ready()
    assert codes(fuzz, *(Request("POST", f"/api/v1/namespaces/{namespace}/{plural}", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"}) for plural, body in (
        ("pods", {"metadata": {"name": "p"}, "spec": True}),
        ("resourcequotas", {"metadata": {"name": "q"}, "spec": {"hard": 5}}),
        ("configmaps", {"metadata": {"generateName": 5}})))) == [422] * 3


def test_the_all_namespaces_url_serves_only_reads(fuzz):
    """/api/v1/configmaps took DELETE (every ConfigMap of every namespace) and POST; upstream: 405."""
    fuzz.playground.ready()
    for method, body in (("DELETE", None), ("POST", b'{"metadata":{"name":"x","namespace":"default"}}')):
        answer = fuzz.send(Request(method, "/api/v1/configmaps?dryRun=All", body, {"Content-Type": "application/json"}))
        assert answer.code == 405, (method, answer.code)
