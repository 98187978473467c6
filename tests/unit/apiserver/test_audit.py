"""The audit log (labkit/apiserver/audit.py): events of real HTTP requests, and rotation as data."""

from __future__ import annotations

import json
import os
import re
import time

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from labkit.api import errors
from labkit.apiserver.audit import AuditLog, RotatingFile, timestamp
from labkit.apiserver.auth import Gate
from labkit.apiserver.auth.always import AlwaysAllow, AlwaysDeny
from labkit.apiserver.auth.authn import RequestAuthenticator, TokenFile
from labkit.apiserver.auth import UserInfo


# -- rotation ----------------------------------------------------------------------

def lines_in(paths) -> list[bytes]:
    return [line for p in paths for line in p.read_bytes().splitlines()]


def test_rotates_before_a_line_would_pass_max_bytes(tmp_path):
    log = RotatingFile(tmp_path / "audit.log", max_bytes=1000)
    written = [f'{{"n":{i},"pad":"{"x" * 280}"}}\n'.encode() for i in range(10)]
    for line in written:
        log.write(line)
    log.close()
    backups = log.backups()
    assert len(backups) == 3  # 3 lines of ~300 bytes fit in 1000: 10 lines make 3 full files and a fourth
    for path in [*backups, log.path]:
        assert path.stat().st_size <= 1000
        assert re.fullmatch(r"audit-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}\.log", path.name) or path == log.path
    assert lines_in([*backups, log.path]) == [line.rstrip(b"\n") for line in written]  # nothing lost, in order


def test_keeps_only_max_backups_newest(tmp_path):
    log = RotatingFile(tmp_path / "audit.log", max_bytes=100, max_backups=2)
    for i in range(12):
        log.write(f'{{"n":{i},"pad":"{"y" * (70 if i >= 10 else 71)}"}}\n'.encode())  # one line per file
    log.close()
    backups = log.backups()
    assert len(backups) == 2
    kept = [json.loads(line)["n"] for line in lines_in([*backups, log.path])]
    assert kept == [9, 10, 11]


def test_prunes_backups_older_than_max_age(tmp_path):
    old = tmp_path / "audit-2020-01-01T00-00-00.000.log"
    old.write_text('{"old":true}\n')
    os.utime(old, (time.time() - 3 * 86400, time.time() - 3 * 86400))
    unrelated = tmp_path / "other.log"
    unrelated.write_text("keep me\n")
    log = RotatingFile(tmp_path / "audit.log", max_bytes=50, max_age_days=2)
    log.write(b'{"a":"' + b"z" * 40 + b'"}\n')
    log.write(b'{"b":"' + b"z" * 40 + b'"}\n')  # rotates: the 3-day-old backup goes
    log.close()
    assert not old.exists() and unrelated.exists()
    assert len(log.backups()) == 1


def test_no_limit_never_rotates(tmp_path):
    log = RotatingFile(tmp_path / "audit.log")
    for _ in range(100):
        log.write(b"x" * 1000 + b"\n")
    log.close()
    assert log.backups() == [] and log.path.stat().st_size == 100 * 1001


def test_two_writers_of_one_path_follow_each_others_rotations(tmp_path):
    """Two --workers write one audit log: when one rotates, the other writes into the new file."""
    first, second = (RotatingFile(tmp_path / "audit.log", max_bytes=400) for _ in range(2))
    written = []
    for i in range(40):
        line = f'{{"n":{i},"pad":"{"w" * 80}"}}\n'.encode()  # ~100 bytes: 4 lines a file
        (first if i % 3 else second).write(line)
        written.append(line.rstrip(b"\n"))
    first.close()
    second.close()
    files = [*first.backups(), first.path]
    assert lines_in(files) == written  # nothing lost or doubled, in order
    assert all(path.stat().st_size <= 400 for path in files)  # each rotation happened once
    assert len(files) == 10


def test_processes_writing_one_log_at_once_lose_and_mix_no_line(tmp_path):
    """Four processes (forked, as --workers are) write 300 lines each as fast as they can, rotating at 8 KB."""
    def write_lines(worker: int) -> None:
        log = RotatingFile(tmp_path / "audit.log", max_bytes=8192)
        for n in range(300):
            log.write(json.dumps({"worker": worker, "n": n, "pad": "p" * (n % 97)}).encode() + b"\n")
        log.close()

    pids = []
    for worker in range(4):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                write_lines(worker)
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    assert all(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0 for pid in pids)
    log = RotatingFile(tmp_path / "audit.log")
    seen = [json.loads(line) for line in lines_in([*log.backups(), log.path])]  # a mixed line would not parse
    log.close()
    assert sorted((e["worker"], e["n"]) for e in seen) == [(w, n) for w in range(4) for n in range(300)]
    for worker in range(4):  # each writer's lines keep their order across the files
        assert [e["n"] for e in seen if e["worker"] == worker] == list(range(300))
    assert len(log.backups()) >= 10


def test_bad_flags_are_named():
    with pytest.raises(ValueError, match="must not be negative"):
        AuditLog.from_flags("/tmp/x.log", max_size_mb=-1)


def test_timestamps_are_rfc3339_micro_utc():
    assert timestamp(1_700_000_000.123456) == "2023-11-14T22:13:20.123456Z"


# -- events of real requests ---------------------------------------------------------

async def pods(request: web.Request) -> web.Response:
    return web.json_response({"kind": "PodList", "apiVersion": "v1", "items": []})


async def stream(request: web.Request) -> web.StreamResponse:
    """Like a watch: the headers go out before the handler ends."""
    resp = web.StreamResponse(headers={"Content-Type": "application/json;stream=watch"})
    await resp.prepare(request)
    await resp.write(b'{"type":"ADDED"}\n')
    await resp.write_eof()
    return resp


async def missing(request: web.Request) -> web.Response:
    raise errors.not_found("pods", request.match_info["name"])


async def events_for(tmp_path, authorizer, requests) -> tuple[list[dict], list]:
    """Send ``requests`` (method, path, headers) through audit + auth gate; the events and responses."""
    audit = AuditLog.from_flags(str(tmp_path / "audit.log"))
    token_file = TokenFile({"alice-token": UserInfo("alice", "1001", ("dev",))})
    gate = Gate(RequestAuthenticator(token_file=token_file), [authorizer])
    app = web.Application(middlewares=[audit.middleware, gate.middleware])
    audit.install(app)
    app.router.add_get("/api/v1/namespaces/{namespace}/pods", pods)
    app.router.add_get("/api/v1/namespaces/{namespace}/pods/{name}", missing)
    app.router.add_get("/api/v1/watch-like", stream)
    app.router.add_get("/version", pods)
    answers = []
    async with TestClient(TestServer(app)) as client:
        for method, path, headers in requests:
            resp = await client.request(method, path, headers=headers)
            answers.append((resp.status, dict(resp.headers), await resp.text()))
    audit.close()
    return [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()], answers


async def test_events_carry_user_verb_object_and_code(tmp_path):
    alice = {"Authorization": "Bearer alice-token", "User-Agent": "kubectl/v1.34.0 test"}
    events, answers = await events_for(tmp_path, AlwaysAllow(), [
        ("GET", "/api/v1/namespaces/web/pods?limit=500", alice),
        ("GET", "/api/v1/namespaces/web/pods/db", alice),
        ("GET", "/version", {"X-Forwarded-For": "10.0.0.7, 10.0.0.8", "Audit-Id": "given-by-the-client"}),
        ("GET", "/api/v1/namespaces/web/pods", {"Authorization": "Bearer who-knows"}),
        ("GET", "/api/v1/watch-like", {}),
    ])
    assert [a[0] for a in answers] == [200, 404, 200, 401, 200]
    assert [e["auditID"] for e in events] == [a[1]["Audit-Id"] for a in answers]
    assert events[2]["auditID"] == "given-by-the-client"

    listing, missing_pod, version, refused, streamed = events
    assert streamed["responseStatus"]["code"] == 200  # and its Audit-Id matched above, sent before it ended
    assert listing["verb"] == "list" and listing["requestURI"] == "/api/v1/namespaces/web/pods?limit=500"
    assert listing["user"] == {"username": "alice", "uid": "1001", "groups": ["dev", "system:authenticated"]}
    assert listing["objectRef"] == {"resource": "pods", "namespace": "web", "apiVersion": "v1"}
    assert listing["responseStatus"] == {"metadata": {}, "code": 200}
    assert listing["userAgent"] == "kubectl/v1.34.0 test"
    assert listing["level"] == "Metadata" and listing["stage"] == "ResponseComplete"
    assert listing["requestReceivedTimestamp"] <= listing["stageTimestamp"]

    assert missing_pod["verb"] == "get" and missing_pod["objectRef"]["name"] == "db"
    assert missing_pod["responseStatus"] == {"metadata": {}, "status": "Failure", "message": 'pods "db" not found',
                                             "reason": "NotFound", "code": 404}

    assert version["verb"] == "get" and "objectRef" not in version
    assert version["user"] == {"username": "system:anonymous", "groups": ["system:unauthenticated"]}
    assert version["sourceIPs"][:2] == ["10.0.0.7", "10.0.0.8"] and len(version["sourceIPs"]) == 3

    assert refused["user"] == {} and refused["responseStatus"]["code"] == 401


async def test_forbidden_requests_are_recorded_with_who_was_refused(tmp_path):
    events, answers = await events_for(tmp_path, AlwaysDeny(), [
        ("GET", "/api/v1/namespaces/web/pods", {"Authorization": "Bearer alice-token"})])
    assert answers[0][0] == 403
    assert events[0]["user"]["username"] == "alice"
    assert events[0]["responseStatus"]["reason"] == "Forbidden"
    assert events[0]["responseStatus"]["message"].startswith('pods is forbidden: User "alice" cannot list resource')


# -- the policy --------------------------------------------------------------------------

POLICY = """
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    users: ["system:kube-proxy"]
    verbs: ["watch"]
    resources:
      - group: ""
        resources: ["endpoints", "services"]
  - level: None
    nonResourceURLs: ["/healthz*", "/version"]
  - level: None
    resources:
      - group: ""
        resources: ["events"]
  - level: Metadata
    resources:
      - group: ""
        resources: ["secrets", "configmaps"]
    namespaces: ["kube-system"]
  - level: None
    namespaces: ["kube-system"]
  - level: None
    userGroups: ["system:nodes"]
    resources:
      - group: ""
        resources: ["*/status"]
  - level: None
    resources:
      - group: "apps"
        resources: ["deployments/*"]
      - group: ""
        resources: ["pods"]
        resourceNames: ["noisy"]
  - level: RequestResponse
"""


def attrs(user="jane", groups=(), verb="get", group="", resource="", sub="", namespace="", name="", path=""):
    from labkit.apiserver.auth import Attributes
    return Attributes(UserInfo(user, groups=tuple(groups)), verb, bool(resource), group, "v1", resource, sub,
                      namespace, name, path)


@pytest.mark.parametrize("request_attrs,level", [
    (attrs("system:kube-proxy", verb="watch", resource="services"), "None"),
    (attrs("system:kube-proxy", verb="list", resource="services"), "RequestResponse"),
    (attrs(verb="get", path="/healthz/etcd"), "None"),
    (attrs(verb="get", path="/version"), "None"),
    (attrs(verb="get", path="/versions"), "RequestResponse"),
    (attrs(resource="events", namespace="web"), "None"),
    (attrs(resource="secrets", namespace="kube-system", name="x"), "Metadata"),
    (attrs(resource="pods", namespace="kube-system"), "None"),
    (attrs("system:node:w1", ["system:nodes"], verb="patch", resource="pods", sub="status", namespace="web"),
     "None"),
    (attrs("jane", verb="patch", resource="pods", sub="status", namespace="web"), "RequestResponse"),
    (attrs(verb="update", group="apps", resource="deployments", sub="scale", namespace="web"), "None"),
    (attrs(verb="update", group="apps", resource="deployments", namespace="web"), "None"),  # as upstream's checker
    (attrs(verb="update", group="apps", resource="replicasets", namespace="web"), "RequestResponse"),
    (attrs(resource="pods", namespace="web", name="noisy"), "None"),
    (attrs(resource="pods", namespace="web", name="quiet"), "RequestResponse"),
])
def test_policy_first_matching_rule_gives_the_level(tmp_path, request_attrs, level):
    from labkit.apiserver.audit import Policy
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    assert Policy.load(path).level_for(request_attrs) == level


@pytest.mark.parametrize("text,message", [
    ("kind: Nope\n", "expected kind Policy of apiVersion audit.k8s.io/v1"),
    ("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Loud}]\n",
     "rules\\[0\\].level 'Loud' must be one of None, Metadata, Request, RequestResponse"),
    ("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n", "the policy has no rules"),
    ("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, nonResourceURLs: [/x], namespaces: [a]}]\n",
     "not both"),
    ("{{{", "not YAML"),
])
def test_bad_policies_are_named(tmp_path, text, message):
    from labkit.apiserver.audit import Policy
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"--audit-policy-file {path}: .*{message}"):
        Policy.load(path)


async def test_a_policy_leaves_out_what_it_says(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    audit = AuditLog.from_flags(str(tmp_path / "audit.log"), policy_file=str(policy))
    gate = Gate(RequestAuthenticator(), [AlwaysAllow()])
    app = web.Application(middlewares=[audit.middleware, gate.middleware])
    app.router.add_get("/version", pods)
    app.router.add_get("/api/v1/namespaces/{namespace}/pods", pods)
    async with TestClient(TestServer(app)) as client:
        for path in ("/version", "/api/v1/namespaces/web/pods", "/version"):
            assert (await client.get(path)).status == 200
    audit.close()
    events = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    assert [e["requestURI"] for e in events] == ["/api/v1/namespaces/web/pods"]
    assert events[0]["level"] == "Metadata"  # RequestResponse asked: recorded without bodies


async def test_authorization_decision_and_impersonation_are_recorded(tmp_path):
    alice = {"Authorization": "Bearer alice-token"}
    events, answers = await events_for(tmp_path, AlwaysAllow(), [
        ("GET", "/api/v1/namespaces/web/pods", alice),
        ("GET", "/api/v1/namespaces/web/pods", {**alice, "Impersonate-User": "bob", "Impersonate-Group": "ops"}),
    ])
    assert [a[0] for a in answers] == [200, 200]
    plain, impersonating = events
    assert plain["annotations"] == {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""}
    assert "impersonatedUser" not in plain
    assert impersonating["user"]["username"] == "alice"  # who really asked
    assert impersonating["impersonatedUser"]["username"] == "bob"
    assert "ops" in impersonating["impersonatedUser"]["groups"]

    events, _ = await events_for(tmp_path / "deny", AlwaysDeny(), [("GET", "/api/v1/namespaces/web/pods", alice)])
    assert events[0]["annotations"] == {"authorization.k8s.io/decision": "forbid",
                                        "authorization.k8s.io/reason": "Everything is forbidden."}
