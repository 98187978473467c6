"""The audit log: one JSON line per request, upstream's audit.k8s.io/v1 Event at the Metadata level.

``--audit-log-path=/var/log/kubernetes/audit.log`` records who did what and
how it ended, for every request that reaches the apiserver, refused ones
included (a 401 has an empty user, a 403 the user who was refused)::

    {"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"...",
     "stage":"ResponseComplete","requestURI":"/api/v1/namespaces/web/pods?limit=500","verb":"list",
     "user":{"username":"admin","groups":["system:masters","system:authenticated"]},
     "sourceIPs":["127.0.0.1"],"userAgent":"kubectl/v1.34.1 ...",
     "objectRef":{"resource":"pods","namespace":"web","apiVersion":"v1"},
     "responseStatus":{"metadata":{},"code":200},
     "requestReceivedTimestamp":"2026-12-01T07:00:00.123456Z","stageTimestamp":"2026-12-01T07:00:00.125012Z",
     "annotations":{"authorization.k8s.io/decision":"allow",
                    "authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding \"cluster-admin\" ..."}}

Metadata level means no request or response bodies: secrets never reach the
log. The latency of a request is stageTimestamp - requestReceivedTimestamp; a
``kubectl --as`` request names the real user in ``user`` and the one it acts
as in ``impersonatedUser``.
Each answer carries the event's id in its ``Audit-Id`` header, so a client's
error can be found in the log.

Which requests are recorded: all of them, unless ``--audit-policy-file``
names an upstream audit.k8s.io/v1 Policy (rules matched in order by users,
userGroups, verbs, resources, namespaces, nonResourceURLs; the first match
gives the level, ``None`` records nothing). Upstream records nothing without
a policy; labkit's default is the Metadata level for every request, so the
log is useful as soon as a path is given. Levels Request and RequestResponse
are recorded at Metadata (labkit never logs bodies), with a warning at start.

Rotation follows upstream (which uses the lumberjack library): when the next
line would make the file larger than ``--audit-log-maxsize`` megabytes, it is
renamed to ``<name>-<UTC time>.<ext>`` (``audit-2026-12-01T07-00-00.000.log``)
and a new file started; only the newest ``--audit-log-maxbackup`` of those
are kept, none older than ``--audit-log-maxage`` days.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from aiohttp import web

from labkit.api.errors import StatusError
from labkit.apiserver.auth import Attributes, UserInfo, request_attributes
from labkit.apiserver.auth.authn import INSECURE_USER

log = logging.getLogger("labkit.apiserver.audit")

MEGABYTE = 1024 * 1024


def timestamp(seconds: float) -> str:
    """RFC 3339 with microseconds, UTC (upstream's metav1.MicroTime)."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class RotatingFile:
    """An append-only file that rotates at ``max_bytes`` (0: never) and prunes old backups.

    Several processes may write the same path (``--workers``). Each line is one ``write()``
    to a file opened for appending, so lines never mix. Before a line, a writer checks that
    the path is still the file it holds: when another process rotated, it reopens the new
    file. The size that decides rotation is the file's own, and rotating happens under an
    exclusive ``flock`` of the file, so that two writers never rotate it twice.
    """

    def __init__(self, path: Path, max_bytes: int = 0, max_backups: int = 0, max_age_days: int = 0):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_backups = max_backups
        self.max_age_days = max_age_days
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "ab")
        self.last_rotation = 0.0

    def write(self, line: bytes) -> None:
        if self.file.closed:  # the apiserver is stopping: a watch that ends after the log closed is not recorded
            return
        held = self._held_if_current()
        if held is None:  # another process rotated: follow it into the new file
            self._reopen()
            held = os.fstat(self.file.fileno())
        if self.max_bytes and held.st_size and held.st_size + len(line) > self.max_bytes:
            self.rotate()
        self.file.write(line)
        self.file.flush()

    def _held_if_current(self) -> os.stat_result | None:
        """The stat of the file this writer holds; None when ``path`` names another file now (renamed away)."""
        held, current = os.fstat(self.file.fileno()), _stat_or_none(self.path)
        if current is None or (current.st_ino, current.st_dev) != (held.st_ino, held.st_dev):
            return None
        return held

    def _reopen(self) -> None:
        self.file.close()
        self.file = open(self.path, "ab")

    def backup_name(self, now: float) -> Path:
        """``<stem>-<UTC time to the millisecond><ext>``: names sort by time, so pruning keeps the newest."""
        now = max(now, self.last_rotation + 0.001)  # rotations within a millisecond: each one later
        while True:
            stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H-%M-%S.%f")[:-3]
            candidate = self.path.with_name(f"{self.path.stem}-{stamp}{self.path.suffix}")
            if not candidate.exists():
                self.last_rotation = now
                return candidate
            now += 0.001

    def backups(self) -> list[Path]:
        """Rotated files, oldest first (their names sort by time)."""
        stem, ext = self.path.stem, self.path.suffix
        return sorted(p for p in self.path.parent.glob(f"{stem}-*{ext}") if p != self.path)

    def rotate(self) -> None:
        now = time.time()
        fcntl.flock(self.file.fileno(), fcntl.LOCK_EX)  # released by closing the file
        if self._held_if_current() is None:
            # Another writer rotated while this one waited for the lock: write into the new file.
            self._reopen()
            return
        os.replace(self.path, self.backup_name(now))
        self._reopen()
        old = self.backups()
        doomed = set(old[:-self.max_backups]) if self.max_backups and len(old) > self.max_backups else set()
        if self.max_age_days:
            doomed |= {p for p in old if p.stat().st_mtime < now - self.max_age_days * 86400}
        for path in doomed:
            path.unlink(missing_ok=True)

    def close(self) -> None:
        self.file.close()


def _stat_or_none(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


class StdoutSink:
    def write(self, line: bytes) -> None:
        sys.stdout.buffer.write(line)
        sys.stdout.buffer.flush()

    def close(self) -> None:
        pass


# -- the policy: which requests are recorded ---------------------------------------------

LEVELS = ("None", "Metadata", "Request", "RequestResponse")


@dataclass
class Rule:
    level: str
    users: list[str]
    user_groups: list[str]
    verbs: list[str]
    resources: list[dict]  # [{group, resources, resourceNames}]
    namespaces: list[str]
    non_resource_urls: list[str]
    omit_stages: list[str]

    def matches(self, attrs: Attributes) -> bool:
        user = attrs.user
        if self.users and user.name not in self.users:
            return False
        if self.user_groups and not set(self.user_groups) & set(user.groups):
            return False
        if self.verbs and attrs.verb not in self.verbs:
            return False
        if attrs.resource_request:
            if self.non_resource_urls:
                return False
            if self.namespaces and attrs.namespace not in self.namespaces:
                return False
            return not self.resources or any(_resource_matches(gr, attrs) for gr in self.resources)
        if self.resources or self.namespaces:
            return False
        return not self.non_resource_urls or any(
            attrs.path == url or (url.endswith("*") and attrs.path.startswith(url[:-1]))
            for url in self.non_resource_urls)


def _resource_matches(group_resources: dict, attrs: Attributes) -> bool:
    """Upstream's GroupResources: "pods", "pods/log", "*", "*/status", "pods/*", with resourceNames."""
    if (group_resources.get("group") or "") != attrs.api_group:
        return False
    resources = group_resources.get("resources") or []
    if not resources:
        return True
    names = group_resources.get("resourceNames") or []
    if names and attrs.name not in names:
        return False
    combined = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    for res in resources:
        if res in (combined, "*"):
            return True
        if attrs.subresource and res.startswith("*/") and res[2:] == attrs.subresource:
            return True
        if res.endswith("/*") and res[:-2] == attrs.resource:
            return True
    return False


@dataclass
class Policy:
    """``--audit-policy-file``: upstream's audit.k8s.io/v1 Policy; the first matching rule gives the level."""

    rules: list[Rule]
    omit_stages: list[str]

    @classmethod
    def load(cls, path: str | Path) -> "Policy":
        import yaml

        where = f"--audit-policy-file {path}"
        try:
            doc = yaml.safe_load(Path(path).read_text())
        except OSError as exc:
            raise ValueError(f"{where}: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"{where}: not YAML: {exc}") from None
        if not isinstance(doc, dict) or doc.get("kind") != "Policy" or \
                doc.get("apiVersion") not in ("audit.k8s.io/v1", "audit.k8s.io/v1beta1"):
            raise ValueError(f"{where}: expected kind Policy of apiVersion audit.k8s.io/v1")
        rules = []
        for number, raw in enumerate(doc.get("rules") or []):
            if not isinstance(raw, dict) or raw.get("level") not in LEVELS:
                level = raw.get("level") if isinstance(raw, dict) else None
                raise ValueError(f"{where}: rules[{number}].level {level!r} must be one of {', '.join(LEVELS)}")
            if raw.get("nonResourceURLs") and (raw.get("resources") or raw.get("namespaces")):
                raise ValueError(f"{where}: rules[{number}]: rules can apply to API resources or non-resource "
                                 "URLs, but not both")
            rules.append(Rule(raw["level"], raw.get("users") or [], raw.get("userGroups") or [],
                              raw.get("verbs") or [], raw.get("resources") or [], raw.get("namespaces") or [],
                              raw.get("nonResourceURLs") or [], raw.get("omitStages") or []))
        if not rules:
            raise ValueError(f"{where}: the policy has no rules (nothing would be recorded)")
        deeper = [i for i, r in enumerate(rules) if r.level in ("Request", "RequestResponse")]
        if deeper:
            log.warning("%s: rules %s ask for bodies (Request/RequestResponse): labkit records them at the "
                        "Metadata level (no request or response bodies)", where, deeper)
        return cls(rules, doc.get("omitStages") or [])

    def level_for(self, attrs: Attributes) -> str:
        for rule in self.rules:
            if rule.matches(attrs):
                if "ResponseComplete" in self.omit_stages or "ResponseComplete" in rule.omit_stages:
                    return "None"  # the one stage labkit records is omitted
                return rule.level
        return "None"


def object_ref(attrs: Attributes, created_name: str = "") -> dict | None:
    """What the request is about; a create names the object it made (the URL has no name then)."""
    if not attrs.resource_request:
        return None
    name = attrs.name or (created_name if attrs.verb == "create" else "")
    ref = {"resource": attrs.resource, "namespace": attrs.namespace, "name": name,
           "apiGroup": attrs.api_group, "apiVersion": attrs.api_version, "subresource": attrs.subresource}
    return {k: v for k, v in ref.items() if v}  # upstream omits empty fields


def created_name(resp: web.StreamResponse) -> str:
    """The name of the object a create answered with, as upstream's audit takes it from the request's object:
    so not a name the server generated (``generateName``), which the request did not have."""
    body = getattr(resp, "body", None)
    if not isinstance(body, bytes) or not 200 <= resp.status < 300 or not body.startswith(b"{"):
        return ""
    try:
        meta = json.loads(body).get("metadata") or {}
    except (ValueError, AttributeError):
        return ""
    name, generate = meta.get("name") or "", meta.get("generateName") or ""
    if not isinstance(name, str) or (generate and name.startswith(generate)):
        return ""
    return name


def source_ips(request: web.Request) -> list[str]:
    """X-Forwarded-For, X-Real-Ip, then the peer: upstream's utilnet.SourceIPs."""
    ips = [ip.strip() for ip in request.headers.get("X-Forwarded-For", "").split(",") if ip.strip()]
    real = request.headers.get("X-Real-Ip", "").strip()
    if real and real not in ips:
        ips.append(real)
    if request.remote and request.remote not in ips:
        ips.append(request.remote)
    return ips


class AuditLog:
    """An aiohttp middleware writing one Event per request (inside the errors middleware, outside the auth gate)."""

    def __init__(self, sink, insecure_ports: tuple[int, ...] = (), policy: Policy | None = None):
        self.sink = sink
        self.insecure_ports = insecure_ports
        self.policy = policy  # None: every request at the Metadata level

    @classmethod
    def from_flags(cls, path: str, max_size_mb: int = 0, max_backups: int = 0, max_age_days: int = 0,
                   insecure_ports: tuple[int, ...] = (), policy_file: str = "") -> "AuditLog":
        if max_size_mb < 0 or max_backups < 0 or max_age_days < 0:
            raise ValueError("--audit-log-maxsize, --audit-log-maxbackup and --audit-log-maxage must not be negative")
        policy = Policy.load(policy_file) if policy_file else None
        if path == "-":
            return cls(StdoutSink(), insecure_ports, policy)
        try:
            sink = RotatingFile(Path(path), max_size_mb * MEGABYTE, max_backups, max_age_days)
        except OSError as exc:
            raise ValueError(f"--audit-log-path {path}: {exc.strerror or exc}") from None
        return cls(sink, insecure_ports, policy)

    def user_of(self, request: web.Request) -> UserInfo | None:
        user = request.get("user")
        if user is None:
            sockname = request.transport.get_extra_info("sockname") if request.transport else None
            if sockname and sockname[1] in self.insecure_ports:
                return INSECURE_USER
        return user

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        from labkit.apiserver.server import status_response  # the one Status renderer

        received = time.time()
        audit_id = request.headers.get("Audit-Id") or str(uuid.uuid4())
        request["audit_id"] = audit_id  # the Audit-Id header of the answer (add_audit_id_header)
        status: dict = {"metadata": {}}
        name = ""  # of the object a create made, or tried to make
        try:
            resp = await handler(request)
            status["code"] = resp.status
            if request.method == "POST":
                name = created_name(resp)
        except StatusError as err:
            resp = status_response(err)
            status.update({"status": "Failure", "message": err.message, "reason": err.reason, "code": err.code})
            name = err.name or ""  # AlreadyExists, Invalid, quota exceeded ... name the object
        except web.HTTPException as exc:
            status["code"] = exc.status
            self.record(request, audit_id, status, received)
            raise
        except BaseException:
            status["code"] = 500
            self.record(request, audit_id, status, received)
            raise
        self.record(request, audit_id, status, received, name)
        return resp

    def install(self, app: web.Application) -> None:
        """Every answer, a watch stream too, carries its event's ``Audit-Id`` (the middleware goes in separately)."""
        app.on_response_prepare.append(self.add_audit_id_header)

    @staticmethod
    async def add_audit_id_header(request: web.Request, response: web.StreamResponse) -> None:
        if "audit_id" in request:
            response.headers["Audit-Id"] = request["audit_id"]

    def record(self, request: web.Request, audit_id: str, status: dict, received: float,
               created: str = "") -> None:
        user = self.user_of(request)
        attrs = request_attributes(request, user or UserInfo(""))
        if self.policy is not None and self.policy.level_for(attrs) == "None":
            return
        event = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": audit_id,
                 "stage": "ResponseComplete", "requestURI": request.path_qs, "verb": attrs.verb,
                 "user": user.to_dict() if user else {}, "sourceIPs": source_ips(request)}
        impersonator = request.get("impersonator")
        if impersonator is not None and user is not None:  # kubectl --as: who asked, and as whom
            event["user"], event["impersonatedUser"] = impersonator.to_dict(), user.to_dict()
        agent = request.headers.get("User-Agent")
        if agent:
            event["userAgent"] = agent
        ref = object_ref(attrs, created)
        if ref:
            event["objectRef"] = ref
        event["responseStatus"] = status
        event["requestReceivedTimestamp"] = timestamp(received)
        event["stageTimestamp"] = timestamp(time.time())
        decision = request.get("authorization")
        if decision is not None:  # upstream's annotations: what authorization said, and why
            event["annotations"] = {"authorization.k8s.io/decision": decision[0],
                                    "authorization.k8s.io/reason": decision[1]}
        self.sink.write(json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")

    def close(self) -> None:
        self.sink.close()
