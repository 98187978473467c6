"""kubectl's typed commands send protobuf; the result equals the same object sent as JSON.

For each command: run it as kubectl does by default (its body is
``application/vnd.kubernetes.protobuf``, checked in kubectl's ``-v=8`` log) in
one namespace, and run the same command as ``--dry-run=client -o json |
kubectl create -f -`` (JSON) in another. The two stored objects must be equal
once what differs by nature is set aside: uids, timestamps, resourceVersions,
the namespace (and, cluster-scoped, the name), allocated cluster IPs and node
ports, the random name of a pod's token volume. Where the server refuses the JSON form (a resource it does not serve
yet), the protobuf form must get the same refusal.

``kubectl auth can-i``, ``auth whoami`` and ``create token`` store nothing: their
protobuf answer is compared with the answer to the same review/request
posted as JSON (``kubectl create --raw``).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "unit" / "api" / "fixtures" / "protobuf"
PROTOBUF_HEADER = "Content-Type: application/vnd.kubernetes.protobuf"
UID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Env:
    exe: str
    env: dict
    pb_ns: str  # where kubectl sends protobuf
    js_ns: str  # where the same objects go as JSON

    def run(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([self.exe, *args], input=input, capture_output=True, text=True, timeout=60,
                              env=self.env)

    def ok(self, *args: str, input: str | None = None) -> str:
        done = self.run(*args, input=input)
        assert done.returncode == 0, f"kubectl {' '.join(args)} failed:\n{done.stderr[-3000:]}"
        return done.stdout


def json_object(**fields) -> str:
    return json.dumps(fields)


@pytest.fixture(scope="module")
def kube(apiserver, tmp_path_factory) -> Env:
    home = tmp_path_factory.mktemp("kubectl-protobuf")
    exe = shutil.which("kubectl", path=str(REPO / ".venv" / "bin")) or shutil.which("kubectl")
    if exe is None:
        pytest.fail("kubectl is not installed: run `bash scripts/bootstrap.sh setup`")
    config = apiserver.kubeconfig(home / "kubeconfig")
    tag = uuid.uuid4().hex[:8]
    k = Env(exe, {**os.environ, "KUBECONFIG": str(config), "HOME": str(home)}, f"pb-{tag}", f"js-{tag}")
    # A CronJob with most of PodSpec (the template kubectl itself sent in the unit fixture), to copy Jobs from.
    rich = json.loads((FIXTURES / "job_from_cronjob.json").read_text())["spec"]["template"]
    for ns in (k.pb_ns, k.js_ns):
        k.ok("create", "-f", "-", input=json_object(apiVersion="v1", kind="Namespace", metadata={"name": ns}))
        # Pods need their service account (ServiceAccount admission); no controller makes "default" here.
        k.run("create", "serviceaccount", "default", f"--namespace={ns}")
        k.ok("create", "-f", "-", input=json_object(
            apiVersion="batch/v1", kind="CronJob", metadata={"name": "rich", "namespace": ns},
            spec={"schedule": "0 * * * *", "jobTemplate": {"metadata": {"labels": {"job": "rich"}},
                                                           "spec": {"backoffLimit": 0, "template": rich}}}))
        k.ok("create", "-f", "-", input=json_object(
            apiVersion="apps/v1", kind="Deployment", metadata={"name": "exposed", "namespace": ns},
            spec={"selector": {"matchLabels": {"app": "exposed"}},
                  "template": {"metadata": {"labels": {"app": "exposed"}},
                               "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}))
    return k


@dataclass
class Case:
    args: list[str]  # {name} for cluster-scoped names, {ns} for the namespace
    get: str  # what `kubectl get` reads back, e.g. "configmap/cm"
    cluster_scoped: bool = False
    protobuf: bool = True  # False: kubectl sends this one as JSON already
    ignore: list[str] = field(default_factory=list)  # dotted paths allocated by the server


CASES = {
    "namespace": Case(["create", "namespace", "{name}"], "namespace/{name}", cluster_scoped=True),
    "configmap": Case(["create", "configmap", "cm", "--from-literal=a=b", "--from-literal=empty="], "configmap/cm"),
    "secret": Case(["create", "secret", "generic", "s", "--from-literal=user=admin", "--from-literal=pw=s3cr3t"],
                   "secret/s"),
    "secret-docker-registry": Case(["create", "secret", "docker-registry", "reg", "--docker-server=r.example",
                                    "--docker-username=u", "--docker-password=p"], "secret/reg"),
    "deployment": Case(["create", "deployment", "web", "--image=nginx:1.27", "--replicas=3", "--port=80"],
                       "deployment/web"),
    "deployment-zero-replicas": Case(["create", "deployment", "zero", "--image=nginx", "--replicas=0"],
                                     "deployment/zero"),
    "service-clusterip": Case(["create", "service", "clusterip", "svc", "--tcp=80:8080", "--tcp=443"], "service/svc",
                              ignore=["spec.clusterIP", "spec.clusterIPs"]),
    "service-headless": Case(["create", "service", "clusterip", "headless", "--clusterip=None", "--tcp=53"],
                             "service/headless"),
    "service-nodeport": Case(["create", "service", "nodeport", "np", "--tcp=8080:http"], "service/np",
                             ignore=["spec.clusterIP", "spec.clusterIPs", "spec.ports.nodePort"]),
    "service-externalname": Case(["create", "service", "externalname", "ext", "--external-name=db.example.com"],
                                 "service/ext"),
    "serviceaccount": Case(["create", "serviceaccount", "robot"], "serviceaccount/robot"),
    "job": Case(["create", "job", "once", "--image=busybox", "--", "echo", "hi"], "job/once"),
    "job-from-cronjob": Case(["create", "job", "rich-run", "--from=cronjob/rich"], "job/rich-run"),
    "cronjob": Case(["create", "cronjob", "tick", "--image=busybox", "--schedule=*/5 * * * *", "--", "date"],
                    "cronjob/tick"),
    "role": Case(["create", "role", "reader", "--verb=get,list", "--resource=pods,deployments.apps",
                  "--resource-name=a"], "role/reader"),
    "rolebinding": Case(["create", "rolebinding", "rb", "--role=reader", "--user=alice", "--group=devs",
                         "--serviceaccount={ns}:robot"], "rolebinding/rb"),
    "clusterrole": Case(["create", "clusterrole", "{name}", "--verb=get", "--non-resource-url=/healthz"],
                        "clusterrole/{name}", cluster_scoped=True),
    "clusterrole-aggregated": Case(["create", "clusterrole", "{name}", "--aggregation-rule=rbac.example/agg=true"],
                                   "clusterrole/{name}", cluster_scoped=True),
    "clusterrolebinding": Case(["create", "clusterrolebinding", "{name}", "--clusterrole=view", "--user=bob"],
                               "clusterrolebinding/{name}", cluster_scoped=True),
    # counts only: cpu/memory limits would make the other cases' pods name their requests
    "quota": Case(["create", "quota", "q", "--hard=pods=10,services=20,configmaps=50,secrets=50",
                   "--scopes=NotTerminating"], "resourcequota/q", ignore=["status"]),
    "poddisruptionbudget": Case(["create", "poddisruptionbudget", "pdb", "--selector=app=web",
                                 "--min-available=50%"], "poddisruptionbudget/pdb"),
    "run": Case(["run", "p1", "--image=busybox", "--labels=app=p1", "--env=A=1", "--port=8080", "--restart=Never",
                 "--", "sleep", "3600"], "pod/p1", protobuf=False),
    "expose": Case(["expose", "deployment", "exposed", "--port=80", "--target-port=8080"], "service/exposed",
                   protobuf=False, ignore=["spec.clusterIP", "spec.clusterIPs"]),
}


def refusal(stderr: str) -> str:
    """What the server said, without kubectl's framing (which differs between `create -f` and typed commands)."""
    last = stderr.strip().splitlines()[-1]
    last = re.sub(r"^Error from server \([A-Za-z]+\): ", "", last)
    return re.sub(r'^error when creating "STDIN": ', "", last)


def fill(args: list[str], name: str, ns: str) -> list[str]:
    return [a.replace("{name}", name).replace("{ns}", ns) for a in args]


def with_dry_run(args: list[str]) -> list[str]:
    cut = args.index("--") if "--" in args else len(args)  # flags go before a command's own `--`
    return [*args[:cut], "--dry-run=client", "-o", "json", *args[cut:]]


def comparable(obj: dict, ns: str, name: str, ignore: list[str]) -> dict:
    """The stored object without what differs by nature between the two namespaces."""
    text = UID.sub("<uid>", json.dumps(obj)).replace(f'"{ns}"', '"<ns>"').replace(f'"{name}"', '"<name>"')
    text = text.replace(f"{ns}:", "<ns>:")  # e.g. system:serviceaccount:<ns>:robot
    text = re.sub(r"kube-api-access-[a-z0-9]{5}", "kube-api-access-<random>", text)  # ServiceAccount admission
    obj = json.loads(text)
    meta = obj.get("metadata", {})
    for key in ("creationTimestamp", "resourceVersion", "generation"):
        meta.pop(key, None)
    for entry in meta.get("managedFields", []):
        entry.pop("time", None)
    for path in ignore:
        drop(obj, path.split("."))
    return obj


def drop(node, keys: list[str]) -> None:
    if isinstance(node, list):
        for item in node:
            drop(item, keys)
    elif isinstance(node, dict) and keys:
        if len(keys) == 1:
            node.pop(keys[0], None)
        elif keys[0] in node:
            drop(node[keys[0]], keys[1:])


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_typed_command_stores_what_json_stores(kube, case_id):
    case = CASES[case_id]
    tag = uuid.uuid4().hex[:6]
    pb_name, js_name = f"pb-{case_id}-{tag}", f"js-{case_id}-{tag}"

    pb_args = fill(case.args, pb_name, kube.pb_ns)
    sent = kube.run(f"--namespace={kube.pb_ns}", "-v=8", *pb_args)  # flags first: some commands end in `-- cmd`
    assert (PROTOBUF_HEADER in sent.stderr) == case.protobuf, "kubectl did not send what this test expects"

    js_args = fill(case.args, js_name, kube.js_ns)
    dry = kube.ok(f"--namespace={kube.js_ns}", *with_dry_run(js_args))
    as_json = kube.run("create", "-f", "-", f"--namespace={kube.js_ns}", input=dry)

    if as_json.returncode != 0:
        # The server refuses this object (e.g. a resource it does not serve yet): protobuf must get the same answer.
        assert sent.returncode != 0, f"JSON refused ({as_json.stderr.strip()}) but protobuf was accepted"
        reason = refusal(as_json.stderr).replace(kube.js_ns, kube.pb_ns).replace(js_name, pb_name)
        assert reason in sent.stderr, f"JSON: {as_json.stderr}\nprotobuf: {sent.stderr[-2000:]}"
        pytest.xfail(f"the server refuses this object either way: {reason}")
    assert sent.returncode == 0, f"kubectl {' '.join(pb_args)} failed:\n{sent.stderr[-3000:]}"

    stored_pb = json.loads(kube.ok("get", fill([case.get], pb_name, kube.pb_ns)[0], "-o", "json",
                                   f"--namespace={kube.pb_ns}"))
    stored_js = json.loads(kube.ok("get", fill([case.get], js_name, kube.js_ns)[0], "-o", "json",
                                   f"--namespace={kube.js_ns}"))
    assert comparable(stored_pb, kube.pb_ns, pb_name, case.ignore) == \
        comparable(stored_js, kube.js_ns, js_name, case.ignore)


def typed_and_raw(kube: Env, typed: list[str], raw_path: str, body: dict, what: str) -> tuple[str, dict]:
    """Run a typed command (protobuf) and post the same request as JSON; both answers, or the same refusal."""
    sent = kube.run(*typed, "-v=8")
    assert PROTOBUF_HEADER in sent.stderr
    as_json = kube.run("create", "--raw", raw_path, "-f", "-", input=json.dumps(body))
    if as_json.returncode != 0:
        reason = refusal(as_json.stderr)
        assert sent.returncode != 0 and reason.split(" (")[0] in sent.stderr, \
            f"JSON: {as_json.stderr}\nprotobuf: {sent.stderr[-2000:]}"
        pytest.xfail(f"the server refuses the {what} either way: {reason}")
    assert sent.returncode == 0, sent.stderr[-2000:]
    return sent.stdout, json.loads(as_json.stdout)


def test_auth_can_i_answers_what_the_json_review_answers(kube):
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": {"namespace": kube.pb_ns, "verb": "list", "resource": "pods"}}}
    printed, answer = typed_and_raw(kube, ["auth", "can-i", "list", "pods", f"--namespace={kube.pb_ns}"],
                                    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review, "review")
    assert printed.strip() == ("yes" if answer["status"]["allowed"] else "no")


def test_auth_whoami_answers_what_the_json_review_answers(kube):
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    printed, answer = typed_and_raw(kube, ["auth", "whoami", "-o", "json"],
                                    "/apis/authentication.k8s.io/v1/selfsubjectreviews", review, "review")
    assert json.loads(printed)["status"] == answer["status"]


def test_create_token_answers_what_the_json_token_request_answers(kube):
    kube.ok("create", "serviceaccount", "tokens", f"--namespace={kube.pb_ns}")
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
               "spec": {"audiences": ["api"], "expirationSeconds": 600}}
    printed, answer = typed_and_raw(
        kube, ["create", "token", "tokens", "--audience=api", "--duration=10m", f"--namespace={kube.pb_ns}"],
        f"/api/v1/namespaces/{kube.pb_ns}/serviceaccounts/tokens/token", request, "token request")
    assert printed.strip().count(".") == 2 and answer["status"]["token"].count(".") == 2  # JWTs


def post_protobuf(url: str, body: bytes) -> tuple[int, dict | None]:
    """POST a raw protobuf body: the HTTP code, and the Status of a refusal."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/vnd.kubernetes.protobuf"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, None
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_malformed_protobuf_is_a_400_naming_the_problem_and_stores_nothing(kube, apiserver):
    url = f"{apiserver.url}/api/v1/namespaces/{kube.pb_ns}/configmaps"
    before = kube.ok("get", "configmaps", "-o", "name", f"--namespace={kube.pb_ns}")
    for body, problem in ((b"k8s\x00\x0a\x05ab", "runs past the end"), (b"k8s\x00\x0b", "unsupported wire type 3"),
                          (b'{"kind":"ConfigMap"}', "Kubernetes protobuf prefix")):
        code, status = post_protobuf(url, body)
        assert code == 400 and status["reason"] == "BadRequest" and problem in status["message"], status
    assert kube.ok("get", "configmaps", "-o", "name", f"--namespace={kube.pb_ns}") == before


def test_kind_without_a_table_is_a_415(kube, apiserver):
    def ld(number: int, data: bytes) -> bytes:
        return bytes([number << 3 | 2, len(data)]) + data

    body = b"k8s\x00" + ld(1, ld(1, b"example.com/v1") + ld(2, b"Widget")) + ld(2, b"")
    code, status = post_protobuf(f"{apiserver.url}/api/v1/namespaces/{kube.pb_ns}/configmaps", body)
    assert code == 415 and status["reason"] == "UnsupportedMediaType" and "Widget" in status["message"]


def test_mutated_kubectl_bodies_never_get_a_5xx_and_refusals_store_nothing(kube, apiserver):
    """A bounded, seeded fuzz run: kubectl's own ConfigMap and Deployment bodies with bytes flipped, cut or added."""
    ns = f"fuzz-{uuid.uuid4().hex[:8]}"
    kube.ok("create", "-f", "-", input=json_object(apiVersion="v1", kind="Namespace", metadata={"name": ns}))
    targets = [(FIXTURES / "configmap.pb", f"/api/v1/namespaces/{ns}/configmaps", "configmaps"),
               (FIXTURES / "deployment.pb", f"/apis/apps/v1/namespaces/{ns}/deployments", "deployments")]
    rng = random.Random(4)
    created = {"configmaps": 0, "deployments": 0}
    for round_ in range(120):
        path, url, plural = targets[round_ % 2]
        data = bytearray(path.read_bytes())
        for _ in range(rng.randint(1, 3)):
            where = rng.randrange(4, len(data))
            action = rng.choice(("flip", "cut", "insert"))
            if action == "flip":
                data[where] = rng.randrange(256)
            elif action == "cut":
                del data[where:]
            else:
                data.insert(where, rng.randrange(256))
            if len(data) <= 4:
                break
        code, status = post_protobuf(apiserver.url + url, bytes(data))
        assert code < 500, f"round {round_}: {code} for {bytes(data)!r}: {status}"
        if status is not None:
            assert status["kind"] == "Status" and status["message"], status
        if code == 201:
            created[plural] += 1
    for plural, count in created.items():
        names = kube.ok("get", plural, "-o", "name", f"--namespace={ns}").split()
        assert len(names) == count, f"{plural}: {count} created answers, {len(names)} stored"
