"""Bad input, as data: each request is refused with a clear 4xx Status and the store is unchanged.

Every row is one raw HTTP request (exact bytes, exact headers: nothing a client
library would tidy up) against the real apiserver, with the answer upstream
gives: status code, reason, and words of the message that tell the user what
was wrong. Around each request the test lists what is stored in the namespace
and reads etcd's revision: a refused request changes neither.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field

import aiohttp
import pytest
import yarl

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


@dataclass
class Case:
    id: str
    method: str
    path: str  # {ns} is the test's namespace; sent as is (no client-side normalising)
    code: int
    reason: str
    says: tuple[str, ...] = ()  # words the message must contain
    body: bytes | None = None
    content_type: str | None = "application/json"
    query: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)


def obj(**fields) -> bytes:
    return json.dumps(fields).encode()


def configmap(name="cm", **extra) -> bytes:
    return obj(apiVersion="v1", kind="ConfigMap", metadata={"name": name}, data={"a": "1"}, **extra)


def role(name: str, rules: int = 0) -> bytes:
    """A Role; with ``rules``, that many rules of ~250 bytes each (no kind caps their number)."""
    return obj(apiVersion="rbac.authorization.k8s.io/v1", kind="Role", metadata={"name": name},
               rules=[{"apiGroups": [""], "resources": [f"r{i}-" + "x" * 200], "verbs": ["get"]}
                      for i in range(rules)])


def token(payload: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


CM = "/api/v1/namespaces/{ns}/configmaps"
ROLES = "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles"
KEEP = CM + "/keep"  # exists in every test's namespace
POD = "/api/v1/namespaces/{ns}/pods"
BIG = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"a":"' + b"x" * (3 * MiB) + b'"}}'

CASES = [
    # -- malformed bodies
    Case("json-truncated", "POST", CM, 400, "BadRequest", ("ConfigMap",),
         body=b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"'),
    Case("json-garbage", "POST", CM, 400, "BadRequest", body=b"this is not json"),
    Case("json-array", "POST", CM, 400, "BadRequest", body=b'[{"kind":"ConfigMap"}]'),
    Case("json-string", "POST", CM, 400, "BadRequest", body=b'"ConfigMap"'),
    Case("json-null", "POST", CM, 400, "BadRequest", body=b"null"),
    Case("empty-body", "POST", CM, 400, "BadRequest", body=b""),
    Case("not-utf8", "POST", CM, 400, "BadRequest", body=b'{"metadata":{"name":"\xff\xfe"}}'),
    Case("yaml-broken", "POST", CM, 400, "BadRequest", content_type="application/yaml",
         body=b"apiVersion: v1\nkind: ConfigMap\nmetadata: [name: x\n"),
    Case("yaml-tabs", "POST", CM, 400, "BadRequest", content_type="application/yaml",
         body=b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n"),
    Case("update-json-truncated", "PUT", KEEP, 400, "BadRequest", body=b'{"apiVersion":"v1","kind":"Conf'),
    Case("patch-merge-garbage", "PATCH", KEEP, 400, "BadRequest", content_type="application/merge-patch+json",
         body=b"{not json"),
    Case("patch-json-not-a-list", "PATCH", KEEP, 400, "BadRequest", content_type="application/json-patch+json",
         body=b'{"op":"add"}'),
    Case("delete-options-garbage", "DELETE", KEEP, 400, "BadRequest", body=b"{oops"),
    # -- wrong kind or apiVersion
    Case("kind-secret-to-configmaps", "POST", CM, 400, "BadRequest", ("Secret", "ConfigMap"),
         body=obj(apiVersion="v1", kind="Secret", metadata={"name": "s"})),
    Case("apiversion-apps-for-configmap", "POST", CM, 400, "BadRequest", ("apps/v1",),
         body=obj(apiVersion="apps/v1", kind="ConfigMap", metadata={"name": "x"})),
    Case("apiversion-unknown", "POST", CM, 400, "BadRequest", ("v2",),
         body=obj(apiVersion="v2", kind="ConfigMap", metadata={"name": "x"})),
    Case("kind-missing", "POST", CM, 400, "BadRequest", ("Kind",),
         body=obj(apiVersion="v1", metadata={"name": "x"})),
    Case("deployment-to-replicasets", "POST", "/apis/apps/v1/namespaces/{ns}/replicasets", 400, "BadRequest",
         ("Deployment", "ReplicaSet"), body=obj(apiVersion="apps/v1", kind="Deployment", metadata={"name": "d"})),
    Case("update-with-other-kind", "PUT", KEEP, 400, "BadRequest", ("Secret",),
         body=obj(apiVersion="v1", kind="Secret", metadata={"name": "keep"})),
    Case("unknown-resource", "POST", "/api/v1/namespaces/{ns}/widgets", 404, "NotFound",
         ("could not find the requested resource",), body=configmap()),
    Case("unknown-group", "GET", "/apis/example.com/v1/widgets", 404, "NotFound"),
    # -- bodies over 3 MiB
    Case("body-over-3MiB", "POST", CM, 413, "RequestEntityTooLarge", ("too large",), body=BIG),
    Case("update-over-3MiB", "PUT", KEEP, 413, "RequestEntityTooLarge", ("too large",), body=BIG),
    Case("patch-over-3MiB", "PATCH", KEEP, 413, "RequestEntityTooLarge", ("too large",),
         content_type="application/merge-patch+json", body=b'{"data":{"a":"' + b"y" * (3 * MiB) + b'"}}'),
    # Under 3 MiB but over etcd's --max-request-bytes (1.5 MiB): still the client's 413, not a 5xx.
    Case("object-over-etcd-limit", "POST", ROLES, 413, "RequestEntityTooLarge", ("too large",),
         body=role("huge", rules=7000)),
    Case("object-over-etcd-grpc-limit", "POST", ROLES, 413, "RequestEntityTooLarge", ("too large",),
         body=role("huger", rules=10000)),
    # -- invalid names
    Case("name-uppercase-underscore", "POST", CM, 422, "Invalid", ("metadata.name", "RFC 1123"),
         body=configmap("Bad_Name")),
    Case("name-dotdot", "POST", CM, 422, "Invalid", ("metadata.name", "RFC 1123"), body=configmap("..")),
    Case("name-slash", "POST", CM, 422, "Invalid", ("metadata.name", "RFC 1123"), body=configmap("a/b")),
    Case("name-percent", "POST", CM, 422, "Invalid", ("metadata.name", "RFC 1123"), body=configmap("%2F")),
    # RBAC names are path segments ("system:node" is fine): only the path tricks are refused.
    Case("role-name-dotdot", "POST", ROLES, 422, "Invalid", ("metadata.name", "may not be '..'"), body=role("..")),
    # -- wrong JSON types: refused before admission looks at them (a ResourceQuota's plugin reads spec.hard)
    Case("quota-spec-not-an-object", "POST", "/api/v1/namespaces/{ns}/resourcequotas", 422, "Invalid", ("spec",),
         body=obj(apiVersion="v1", kind="ResourceQuota", metadata={"name": "q"}, spec=True)),
    Case("name-not-a-string", "POST", CM, 422, "Invalid", ("metadata.name",),
         body=obj(apiVersion="v1", kind="ConfigMap", metadata={"name": True})),
    Case("update-data-not-an-object", "PUT", KEEP, 422, "Invalid", ("data",),
         body=obj(apiVersion="v1", kind="ConfigMap", metadata={"name": "keep"}, data=[1])),
    Case("role-name-dot", "POST", ROLES, 422, "Invalid", ("metadata.name", "may not be '.'"), body=role(".")),
    Case("role-name-slash", "POST", ROLES, 422, "Invalid", ("metadata.name", "may not contain '/'"),
         body=role("a/b")),
    Case("role-name-percent", "POST", ROLES, 422, "Invalid", ("metadata.name", "may not contain '%'"),
         body=role("%2F")),
    Case("name-too-long", "POST", CM, 422, "Invalid", ("metadata.name", "253"), body=configmap("a" * 254)),
    Case("name-missing", "POST", CM, 422, "Invalid", ("metadata.name", "Required value"),
         body=obj(apiVersion="v1", kind="ConfigMap", metadata={})),
    Case("namespace-name-dns-label", "POST", "/api/v1/namespaces", 422, "Invalid", ("metadata.name", "RFC 1123"),
         body=obj(apiVersion="v1", kind="Namespace", metadata={"name": "a.b"})),
    Case("url-name-dotdot", "GET", CM + "/%2E%2E", 400, "BadRequest", ("'..'",)),
    Case("url-name-percent", "PUT", CM + "/a%25b", 400, "BadRequest", ("'%'",), body=configmap("a%b")),
    Case("url-name-encoded-slash", "GET", CM + "/a%2Fb", 404, "NotFound"),
    Case("url-body-name-mismatch", "PUT", KEEP, 400, "BadRequest", ("does not match",), body=configmap("other")),
    Case("url-body-namespace-mismatch", "POST", CM, 400, "BadRequest", ("namespace",),
         body=obj(apiVersion="v1", kind="ConfigMap", metadata={"name": "x", "namespace": "elsewhere"})),
    # -- unknown and duplicate fields with fieldValidation=Strict
    Case("strict-unknown-top-level", "POST", CM, 400, "BadRequest", ('strict decoding error', 'unknown field "bogus"'),
         body=configmap(bogus=1), query={"fieldValidation": "Strict"}),
    Case("strict-unknown-nested", "POST", POD, 400, "BadRequest",
         ('unknown field "spec.containers[0].imagee"',), query={"fieldValidation": "Strict"},
         body=obj(apiVersion="v1", kind="Pod", metadata={"name": "p"},
                  spec={"containers": [{"name": "c", "imagee": "busybox"}]})),
    Case("strict-unknown-on-update", "PUT", KEEP, 400, "BadRequest", ('unknown field "extra"',),
         body=configmap("keep", extra=True), query={"fieldValidation": "Strict"}),
    Case("strict-unknown-in-patch", "PATCH", KEEP, 400, "BadRequest", ('unknown field "extra"',),
         content_type="application/merge-patch+json", body=b'{"extra":true}', query={"fieldValidation": "Strict"}),
    Case("strict-unknown-in-yaml", "POST", CM, 400, "BadRequest", ('unknown field "dataa"',),
         content_type="application/yaml", query={"fieldValidation": "Strict"},
         body=b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndataa:\n  a: b\n"),
    Case("yaml-wrong-kind", "POST", CM, 400, "BadRequest", ("Secret",), content_type="application/yaml",
         body=b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: y\n"),
    Case("field-validation-bogus-mode", "POST", CM, 400, "BadRequest", ("fieldValidation",),
         body=configmap(), query={"fieldValidation": "Lenient"}),
    # -- invalid objects
    Case("pod-without-containers", "POST", POD, 422, "Invalid", ("spec.containers", "Required value"),
         body=obj(apiVersion="v1", kind="Pod", metadata={"name": "p"}, spec={})),
    Case("container-without-image", "POST", POD, 422, "Invalid", ("spec.containers[0].image",),
         body=obj(apiVersion="v1", kind="Pod", metadata={"name": "p"}, spec={"containers": [{"name": "c"}]})),
    Case("configmap-bad-key", "POST", CM, 422, "Invalid", ("data[a b]",),
         body=obj(apiVersion="v1", kind="ConfigMap", metadata={"name": "x"}, data={"a b": "1"})),
    Case("resource-version-on-create", "POST", CM, 400, "BadRequest", ("resourceVersion",),
         body=obj(apiVersion="v1", kind="ConfigMap", metadata={"name": "x", "resourceVersion": "5"})),
    Case("dry-run-bogus", "POST", CM, 400, "BadRequest", ("dryRun",), body=configmap(), query={"dryRun": "Maybe"}),
    # -- unsupported media types
    Case("text-plain", "POST", CM, 415, "UnsupportedMediaType", ("application/json",),
         content_type="text/plain", body=configmap()),
    Case("xml", "POST", CM, 415, "UnsupportedMediaType", body=b"<ConfigMap/>", content_type="application/xml"),
    Case("form", "POST", CM, 415, "UnsupportedMediaType", body=b"a=b",
         content_type="application/x-www-form-urlencoded"),
    Case("cbor", "POST", CM, 415, "UnsupportedMediaType", body=b"\xa1", content_type="application/cbor"),
    Case("protobuf-garbage", "POST", CM, 400, "BadRequest", ("protobuf",), body=b"k8s\x00",
         content_type="application/vnd.kubernetes.protobuf"),
    Case("patch-as-plain-json", "PATCH", KEEP, 415, "UnsupportedMediaType", ("merge-patch",),
         body=b'{"data":{"a":"2"}}'),
    Case("patch-without-content-type", "PATCH", KEEP, 415, "UnsupportedMediaType", body=b'{"data":{"a":"2"}}',
         content_type=None),
    Case("accept-xml", "GET", KEEP, 406, "NotAcceptable", headers={"Accept": "application/xml"}),
    # -- bad selectors and list options
    Case("label-selector-syntax", "GET", CM, 400, "BadRequest", ("unable to parse requirement",),
         query={"labelSelector": "a in (b"}),
    Case("label-selector-bad-value", "GET", CM, 400, "BadRequest", ("found 'c'",),
         query={"labelSelector": "a=b c"}),
    Case("field-selector-unknown-field", "GET", CM, 400, "BadRequest", ("not supported: spec.foo",),
         query={"fieldSelector": "spec.foo=bar"}),
    Case("field-selector-syntax", "GET", CM, 400, "BadRequest", query={"fieldSelector": "metadata.name"}),
    Case("watch-bad-selector", "GET", CM, 400, "BadRequest", query={"watch": "true", "labelSelector": "!!"}),
    Case("delete-collection-bad-selector", "DELETE", CM, 400, "BadRequest", query={"labelSelector": "a in (b"}),
    Case("continue-garbage", "GET", CM, 400, "BadRequest", ("continue",), query={"limit": "1", "continue": "%%%"}),
    Case("continue-not-a-token", "GET", CM, 400, "BadRequest", ("continue",),
         query={"limit": "1", "continue": token({"hello": "world"})}),
    Case("continue-path-escape", "GET", CM, 400, "BadRequest", ("continue",),
         query={"limit": "1", "continue": token({"v": "meta.k8s.io/v1", "rv": 2, "start": "../../secrets/"})}),
    Case("continue-with-resource-version", "GET", CM, 400, "BadRequest", ("continue",),
         query={"limit": "1", "resourceVersion": "5",
                "continue": token({"v": "meta.k8s.io/v1", "rv": 2, "start": "keep\x00"})}),
    Case("limit-not-a-number", "GET", CM, 400, "BadRequest", ("limit",), query={"limit": "ten"}),
    Case("resource-version-not-a-number", "GET", CM, 400, "BadRequest", ("resource version",),
         query={"resourceVersion": "abc"}),
    Case("resource-version-match-without-rv", "GET", CM, 422, "Invalid", ("resourceVersionMatch",),
         query={"resourceVersionMatch": "NotOlderThan"}),
    Case("watch-resource-version-not-a-number", "GET", CM, 400, "BadRequest", ("resource version",),
         query={"watch": "1", "resourceVersion": "abc"}),
    # -- verbs a resource does not have
    Case("post-to-an-object", "POST", KEEP, 405, "MethodNotAllowed", body=configmap("keep")),
    Case("put-to-a-collection", "PUT", CM, 405, "MethodNotAllowed", body=configmap()),
]


@pytest.fixture
async def ns(http) -> str:
    name = f"bad-{uuid.uuid4().hex[:8]}"
    for path, body in (("/api/v1/namespaces", obj(apiVersion="v1", kind="Namespace", metadata={"name": name})),
                       (CM.format(ns=name), configmap("keep"))):
        async with http.post(path, data=body, headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 201, await resp.text()
    return name


async def stored(http: aiohttp.ClientSession, ns: str) -> tuple[str, dict]:
    """etcd's revision (a list's resourceVersion) and every object of the namespace with its resourceVersion."""
    seen = {}
    for path in (CM, POD, ROLES, "/apis/apps/v1/namespaces/{ns}/replicasets"):
        async with http.get(path.format(ns=ns)) as resp:
            listed = await resp.json()
        seen.update({(listed["kind"], i["metadata"]["name"]): i["metadata"]["resourceVersion"]
                     for i in listed["items"]})
    async with http.get("/api/v1/namespaces") as resp:
        listed = await resp.json()
    seen.update({("Namespace", i["metadata"]["name"]): i["metadata"]["resourceVersion"] for i in listed["items"]})
    return listed["metadata"]["resourceVersion"], seen


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_bad_input_is_a_clear_4xx_status_and_changes_nothing(apiserver, http, ns, case: Case):
    before = await stored(http, ns)
    headers = {"Accept": "application/json", **case.headers}
    if case.content_type:
        headers["Content-Type"] = case.content_type
    url = yarl.URL(apiserver.url + case.path.format(ns=ns), encoded=True)  # no normalising of "..", "%2F"
    if case.query:
        url = url.update_query(case.query)
    async with http.request(case.method, url, data=case.body, headers=headers,
                               skip_auto_headers={"Content-Type"}) as resp:
        raw = await resp.read()
        code, ctype = resp.status, resp.headers.get("Content-Type", "")
    assert code == case.code, raw[:500]
    assert ctype.startswith("application/json"), ctype
    status = json.loads(raw)
    assert status["kind"] == "Status" and status["apiVersion"] == "v1" and status["status"] == "Failure"
    assert (status["code"], status["reason"]) == (case.code, case.reason), status
    assert status["message"].strip(), status
    for words in case.says:
        assert words in status["message"], status["message"]
    if case.reason == "Invalid":
        causes = status["details"]["causes"]
        assert causes and all(c.get("field") for c in causes), status
    # Nothing was written: same objects, same resourceVersions, same etcd revision.
    assert await stored(http, ns) == before


async def test_the_store_still_works_after_the_bad_input(http, ns):
    """The last word: a good request right after the table is served normally."""
    async with http.post(CM.format(ns=ns), data=configmap("good"),
                            headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 201
    async with http.get(CM.format(ns=ns) + "/good") as resp:
        assert (await resp.json())["data"] == {"a": "1"}


async def test_a_namespace_named_dotdot_reaches_no_other_keys(http, ns):
    """etcd keys are not paths: ``/namespaces/../configmaps`` lists a namespace that has nothing (as upstream)."""
    for path in ("/api/v1/namespaces/%2E%2E/configmaps", "/api/v1/namespaces/%2E%2E/configmaps/keep"):
        async with http.get(yarl.URL(str(http._base_url) + path, encoded=True)) as resp:
            answer = await resp.json()
        if path.endswith("keep"):
            assert resp.status in (400, 404) and answer["kind"] == "Status"
        else:
            assert resp.status == 200 and answer["items"] == []
