"""The real kubectl, unchanged, against labkit-apiserver on a real etcd.

kubectl is the judge of compatibility: discovery, OpenAPI-driven validation
and three-way apply patches, server-side tables, watches, evictions. Each
test works in a namespace of its own on the session's apiserver.

The deployment controller arrives with a later issue: where ``rollout status``
needs a controller's progress, the test writes the Deployment's status through
the /status subresource exactly as that controller will, and checks that
kubectl reads it right.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


class Kubectl:
    def __init__(self, kubeconfig: Path, namespace: str, home: Path):
        self.exe = shutil.which("kubectl", path=str(REPO / ".venv" / "bin")) or shutil.which("kubectl")
        if self.exe is None:
            pytest.fail("kubectl is not installed: run `bash scripts/bootstrap.sh setup`")
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        # A private HOME: kubectl's discovery cache of one run never leaks into another.
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(home)}

    def run(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60,
            namespaced: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
        cmd = [self.exe, *args] + ([f"--namespace={self.namespace}"] if namespaced else [])
        done = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                              env={**self.env, **(env or {})})
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        return done

    def __call__(self, *args: str, **kw) -> str:
        return self.run(*args, **kw).stdout

    def json(self, *args: str, **kw) -> dict:
        return json.loads(self(*args, "-o", "json", **kw))


@pytest.fixture
def kubectl(apiserver, tmp_path) -> Kubectl:
    ns = f"k-{uuid.uuid4().hex[:8]}"
    config = apiserver.kubeconfig(tmp_path / "kubeconfig")
    k = Kubectl(config, ns, tmp_path / "home")
    k("create", "-f", "-", input=yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": ns}}), namespaced=False)
    return k


def deployment(name: str, replicas: int = 2, image: str = "nginx:1.25", env=None) -> dict:
    container = {"name": "web", "image": image, "ports": [{"containerPort": 80}]}
    if env:
        container["env"] = env
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}}}


def pod(name: str, node: str | None = None, labels=None, owner=None) -> dict:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    if node:
        obj["spec"]["nodeName"] = node
    if owner:
        obj["metadata"]["ownerReferences"] = [owner]
    return obj


def docs(*objs) -> str:
    return yaml.safe_dump_all(objs)


def test_discovery_and_api_resources(kubectl):
    out = kubectl("api-resources", namespaced=False)
    for line in ("pods", "deployments", "leases", "clusterrolebindings", "endpointslices", "poddisruptionbudgets",
                 "cronjobs"):
        assert line in out
    assert kubectl("api-resources", "--api-group=apps", "-o", "name", namespaced=False).split() == \
        ["daemonsets.apps", "deployments.apps", "replicasets.apps", "statefulsets.apps"]
    short = kubectl("api-resources", "--namespaced=false", "-o", "wide", namespaced=False)
    assert "namespaces" in short and "nodes" in short and "pods " not in short
    assert "v1.37" in kubectl("version", namespaced=False)


def test_create_get_tables_and_output_formats(kubectl):
    kubectl("create", "-f", "-", input=docs(deployment("web"), pod("p1", labels={"tier": "a"}),
                                            pod("p2", labels={"tier": "b"})))
    table = kubectl("get", "pods")
    header, *rows = table.strip().splitlines()
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [r.split()[:3] for r in rows] == [["p1", "0/1", "Pending"], ["p2", "0/1", "Pending"]]
    wide = kubectl("get", "pods", "-o", "wide").splitlines()[0].split()
    assert wide[:9] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED", "NODE"]
    assert kubectl("get", "deploy", "web").splitlines()[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE",
                                                                       "AGE"]
    as_json = kubectl.json("get", "deploy", "web")
    assert as_json["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert as_json["spec"]["strategy"]["type"] == "RollingUpdate"  # defaulted by the server
    as_yaml = yaml.safe_load(kubectl("get", "pod", "p1", "-o", "yaml"))
    assert as_yaml["status"]["phase"] == "Pending" and as_yaml["metadata"]["uid"]
    assert kubectl("get", "pods", "-l", "tier=b", "-o", "name").split() == ["pod/p2"]
    assert kubectl("get", "pods", "--field-selector", "metadata.name=p1", "-o", "name").split() == ["pod/p1"]
    everywhere = kubectl("get", "pods", "-A", namespaced=False)
    assert everywhere.splitlines()[0].split()[0] == "NAMESPACE" and kubectl.namespace in everywhere
    everything = kubectl("get", "all")
    assert "pod/p1" in everything and "deployment.apps/web" in everything
    assert "Namespace:" in kubectl("describe", "pod", "p1") and "busybox" in kubectl("describe", "pod", "p1")


def test_apply_first_unchanged_changed_and_field_removed(kubectl):
    env = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    first = docs(deployment("web", env=env))
    assert "deployment.apps/web created" in kubectl("apply", "-f", "-", input=first)
    rv = kubectl.json("get", "deploy", "web")["metadata"]["resourceVersion"]
    assert "deployment.apps/web unchanged" in kubectl("apply", "-f", "-", input=first)
    assert kubectl.json("get", "deploy", "web")["metadata"]["resourceVersion"] == rv, "a no-op apply writes nothing"
    # Someone scales by hand; then the file changes replicas and drops env B.
    kubectl("scale", "deploy", "web", "--replicas=7")
    changed = docs(deployment("web", replicas=3, env=env[:1]))
    assert "deployment.apps/web configured" in kubectl("apply", "-f", "-", input=changed)
    obj = kubectl.json("get", "deploy", "web")
    assert obj["spec"]["replicas"] == 3
    assert obj["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]
    assert obj["metadata"]["generation"] >= 3


def test_patch_label_annotate_scale_and_edit(kubectl, tmp_path):
    kubectl("apply", "-f", "-", input=docs(deployment("web")))
    kubectl("patch", "deploy", "web", "--type=merge", "-p", '{"spec":{"paused":true}}')
    kubectl("patch", "deploy", "web", "--type=json", "-p", '[{"op":"replace","path":"/spec/paused","value":false}]')
    kubectl("patch", "deploy", "web", "-p",
            '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.26"}]}}}}')
    kubectl("label", "deploy", "web", "tier=front")
    kubectl("annotate", "deploy", "web", "note=hi")
    kubectl("scale", "deploy", "web", "--replicas=4")
    obj = kubectl.json("get", "deploy", "web")
    assert obj["spec"]["paused"] is False
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert obj["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert obj["metadata"]["labels"]["tier"] == "front" and obj["metadata"]["annotations"]["note"] == "hi"
    assert obj["spec"]["replicas"] == 4
    kubectl("label", "deploy", "web", "tier-")
    assert "tier" not in kubectl.json("get", "deploy", "web")["metadata"]["labels"]

    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/note: hi/note: edited/' \"$1\"\n")
    editor.chmod(0o755)
    out = kubectl("edit", "deploy", "web", env={"EDITOR": str(editor), "KUBE_EDITOR": str(editor)})
    assert "edited" in out
    assert kubectl.json("get", "deploy", "web")["metadata"]["annotations"]["note"] == "edited"


def test_invalid_objects_are_refused_with_the_field_named(kubectl):
    bad = pod("bad")
    del bad["spec"]["containers"][0]["image"]
    done = kubectl.run("create", "-f", "-", input=docs(bad), check=False)
    assert done.returncode != 0
    assert 'Pod "bad" is invalid: spec.containers[0].image: Required value' in done.stderr
    typo = pod("typo")
    typo["spec"]["containers"][0]["imagee"] = "x"
    done = kubectl.run("apply", "-f", "-", input=docs(typo), check=False)
    assert done.returncode != 0 and 'unknown field "spec.containers[0].imagee"' in done.stderr
    assert kubectl("get", "pods", "-o", "name") == ""


def test_rollout_status_reads_the_deployment_status(kubectl, apiserver):
    kubectl("apply", "-f", "-", input=docs(deployment("web", replicas=2)))
    obj = kubectl.json("get", "deploy", "web")
    waiting = kubectl.run("rollout", "status", "deploy/web", "--timeout=2s", check=False)
    assert waiting.returncode != 0 and "Waiting for deployment" in waiting.stdout + waiting.stderr
    # What the deployment controller reports once both replicas are up, through /status.
    obj["status"] = {"observedGeneration": obj["metadata"]["generation"], "replicas": 2, "updatedReplicas": 2,
                     "readyReplicas": 2, "availableReplicas": 2,
                     "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                                    {"type": "Progressing", "status": "True",
                                     "reason": "NewReplicaSetAvailable"}]}
    kubectl("replace", "--subresource=status", "-f", "-", input=json.dumps(obj))
    done = kubectl("rollout", "status", "deploy/web", "--timeout=20s")
    assert 'deployment "web" successfully rolled out' in done


def test_watch_prints_changes(kubectl):
    proc = subprocess.Popen([kubectl.exe, "get", "configmaps", "-w", f"--namespace={kubectl.namespace}",
                             "--request-timeout=0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=kubectl.env)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        time.sleep(1.5)
        kubectl("apply", "-f", "-", input=docs({"apiVersion": "v1", "kind": "ConfigMap",
                                                 "metadata": {"name": "seen"}, "data": {"a": "1"}}))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(line.startswith("seen") for line in lines):
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert any(line.split()[:2] == ["seen", "1"] for line in lines), lines


def test_delete_waits_until_gone_and_cascades(kubectl):
    kubectl("apply", "-f", "-", input=docs({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gone"}}))
    assert 'configmap "gone" deleted' in kubectl("delete", "configmap", "gone", "--timeout=20s")
    assert kubectl("get", "configmaps", "-o", "name") == ""
    # Orphan: the owner goes, its dependent stays (no GC runs in this test).
    owner = kubectl.json("apply", "-f", "-", input=docs({"apiVersion": "v1", "kind": "ConfigMap",
                                                          "metadata": {"name": "owner"}}))
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    kubectl("apply", "-f", "-", input=docs({"apiVersion": "v1", "kind": "ConfigMap",
                                             "metadata": {"name": "dep", "ownerReferences": [ref]}}))
    # Foreground: the owner waits, marked for deletion, until the GC removes its finalizer.
    kubectl("delete", "configmap", "owner", "--cascade=foreground", "--wait=false")
    held = kubectl.json("get", "configmap", "owner")
    assert held["metadata"]["deletionTimestamp"] and held["metadata"]["finalizers"] == ["foregroundDeletion"]
    kubectl("patch", "configmap", "owner", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    assert kubectl.run("get", "configmap", "owner", check=False).returncode != 0


def test_cordon_drain_evicts_and_uncordon(kubectl):
    node = f"node-{uuid.uuid4().hex[:6]}"
    kubectl("create", "-f", "-", namespaced=False, input=docs({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": node},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}}))
    try:
        kubectl("create", "-f", "-", input=docs(pod("a", node=node), pod("b", node=node)))
        kubectl("cordon", node, namespaced=False)
        assert kubectl.json("get", "node", node, namespaced=False)["spec"]["unschedulable"] is True
        assert "SchedulingDisabled" in kubectl("get", "node", node, namespaced=False)
        out = kubectl("drain", node, "--force", "--grace-period=0", "--timeout=30s", namespaced=False)
        assert "pod/a evicted" in out and f"node/{node} drained" in out
        assert kubectl("get", "pods", "-o", "name") == ""
        kubectl("uncordon", node, namespaced=False)
        assert not kubectl.json("get", "node", node, namespaced=False)["spec"].get("unschedulable")
    finally:
        kubectl.run("delete", "node", node, namespaced=False, check=False)


def test_eviction_respects_a_disruption_budget(kubectl):
    node = f"node-{uuid.uuid4().hex[:6]}"
    kubectl("create", "-f", "-", namespaced=False, input=docs({"apiVersion": "v1", "kind": "Node",
                                                               "metadata": {"name": node}}))
    kubectl("create", "-f", "-", input=docs(pod("guarded", node=node, labels={"app": "db"})))
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "db"},
           "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}}}
    kubectl("create", "-f", "-", input=docs(pdb))
    # What the disruption controller reports: one healthy pod, one needed, nothing may go.
    current = kubectl.json("get", "pdb", "db")
    current["status"] = {"observedGeneration": current["metadata"]["generation"], "disruptionsAllowed": 0,
                         "currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 1}
    kubectl("replace", "--subresource=status", "-f", "-", input=json.dumps(current))
    done = kubectl.run("drain", node, "--force", "--pod-selector=app=db", "--timeout=3s", "--grace-period=0",
                       namespaced=False, check=False)
    assert done.returncode != 0 and "disruption budget" in done.stderr, done.stderr
    assert kubectl.json("get", "pod", "guarded")["metadata"].get("deletionTimestamp") is None
    # Once the budget allows one disruption, the same drain evicts the pod.
    current = kubectl.json("get", "pdb", "db")
    current["status"]["disruptionsAllowed"] = 1
    kubectl("replace", "--subresource=status", "-f", "-", input=json.dumps(current))
    out = kubectl("drain", node, "--force", "--pod-selector=app=db", "--timeout=20s", "--grace-period=0",
                  namespaced=False)
    assert "pod/guarded evicted" in out
    assert kubectl.json("get", "pdb", "db")["status"]["disruptionsAllowed"] == 0
    kubectl.run("delete", "node", node, namespaced=False, check=False)


def test_contexts_across_two_kubeconfigs(kubectl, apiserver, tmp_path):
    other = tmp_path / "other.kubeconfig"
    other.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "lab-b",
        "clusters": [{"name": "lab-b", "cluster": {"server": apiserver.url}}],
        "users": [{"name": "lab-b-admin", "user": {}}],
        "contexts": [{"name": "lab-b", "context": {"cluster": "lab-b", "user": "lab-b-admin",
                                                   "namespace": kubectl.namespace}}]}))
    merged_env = {"KUBECONFIG": f"{kubectl.kubeconfig}:{other}"}
    contexts = kubectl("config", "get-contexts", "-o", "name", namespaced=False, env=merged_env).split()
    assert contexts == ["lab-b", "local"]
    kubectl("config", "use-context", "lab-b", namespaced=False, env=merged_env)
    assert kubectl("config", "current-context", namespaced=False, env=merged_env).strip() == "lab-b"
    kubectl("apply", "-f", "-", namespaced=False, env=merged_env,
            input=docs({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "via-b"}}))
    assert "via-b" in kubectl("get", "configmaps", namespaced=False, env=merged_env)
