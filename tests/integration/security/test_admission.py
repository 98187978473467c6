"""Admission with the real apiserver (default plugin chain), labkit-controller-manager and the real kubectl.

The controllers make what ServiceAccount admission needs in every namespace
(the ``default`` account, the ``kube-root-ca.crt`` ConfigMap with the lab's
CA); pods then get their token volume; LimitRanger, DefaultTolerationSeconds
and ResourceQuota act on what kubectl sends, and refusals read like upstream's.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from labkit.localplane import ApiserverProcess, EtcdProcess, free_port, stop_process, wait_http_ok
from labkit.pki.generate import generate
from labkit.provision.inventory import load_inventory

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
KUBECTL = shutil.which("kubectl", path=str(REPO / ".venv" / "bin")) or shutil.which("kubectl")
MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


class Plane:
    def __init__(self, base: Path):
        state = base / "lab"
        generate(load_inventory(REPO / "inventory" / "single.yaml"), state)
        self.ca_file = state / "pki" / "ca.crt"
        self.etcd = EtcdProcess(data_dir=base / "etcd").start()
        self.api = ApiserverProcess(etcd=self.etcd, log_path=base / "apiserver.log").start()
        self.kubeconfig = self.api.kubeconfig(base / "admin.kubeconfig")
        port = free_port()
        self.cm_log = base / "controller-manager.log"
        with open(self.cm_log, "ab") as log:
            self.cm = subprocess.Popen(
                [sys.executable, "-m", "labkit.controllers.manager", f"--kubeconfig={self.kubeconfig}",
                 f"--port={port}", "--leader-elect=false", f"--root-ca-file={self.ca_file}",
                 "--controllers=serviceaccount,root-ca-cert-publisher,resourcequota,namespace",
                 "--resource-quota-sync-period=2s"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO)
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", 30, self.cm, what=f"controller-manager ({self.cm_log})")

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([KUBECTL, f"--kubeconfig={self.kubeconfig}", *args], input=input,
                              capture_output=True, text=True, timeout=60, env={**os.environ})
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done

    def json(self, *args: str) -> dict:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def eventually(self, what: str, probe, timeout: float = 30.0):
        """Poll ``probe`` until it returns something truthy (controllers act asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            found = probe()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not seen in {timeout:.0f} s; controller-manager log:\n"
                                     f"{self.cm_log.read_text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        stop_process(self.cm)
        self.api.stop()
        self.etcd.stop()
        for log in (self.api.log(), self.cm_log.read_text()):
            if "Traceback" in log:
                print(log[-6000:])


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    if shutil.which("etcd") is None or KUBECTL is None:
        pytest.fail("etcd and kubectl are needed: run `bash scripts/bootstrap.sh setup`")
    p = Plane(tmp_path_factory.mktemp("admission"))
    yield p
    p.stop()


@pytest.fixture
def ns(plane) -> str:
    """A new namespace, once the controllers have given it its default account and root CA."""
    name = f"adm-{uuid.uuid4().hex[:6]}"
    plane.kubectl("create", "namespace", name)
    plane.eventually("default service account", lambda: plane.kubectl(
        "get", "serviceaccount", "default", "-n", name, check=False).returncode == 0)
    return name


def test_controllers_give_every_namespace_its_account_and_root_ca(plane, ns):
    cm = plane.eventually("kube-root-ca.crt", lambda: plane.kubectl(
        "get", "configmap", "kube-root-ca.crt", "-n", ns, "-o", "json", check=False).stdout)
    cm = json.loads(cm)
    assert cm["data"] == {"ca.crt": plane.ca_file.read_text()}
    assert "kubernetes.io/description" in cm["metadata"]["annotations"]
    # the system namespaces have them too
    assert plane.json("get", "serviceaccount", "default", "-n", "kube-system")["metadata"]["name"] == "default"
    # deleted or edited: put back
    plane.kubectl("delete", "serviceaccount", "default", "-n", ns)
    plane.kubectl("patch", "configmap", "kube-root-ca.crt", "-n", ns, "--type=merge", "-p",
                  '{"data":{"ca.crt":"tampered"}}')
    plane.eventually("default account made again", lambda: plane.kubectl(
        "get", "serviceaccount", "default", "-n", ns, check=False).returncode == 0)
    plane.eventually("root CA corrected", lambda: plane.json("get", "configmap", "kube-root-ca.crt", "-n", ns)
                     ["data"]["ca.crt"] == plane.ca_file.read_text())


def test_a_pod_gets_its_token_volume_and_default_tolerations(plane, ns):
    plane.kubectl("run", "web", "-n", ns, "--image=busybox", "--restart=Never")
    pod = plane.json("get", "pod", "web", "-n", ns)
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "default"
    (volume,) = [v for v in spec["volumes"] if v["name"].startswith("kube-api-access-")]
    sources = volume["projected"]["sources"]
    assert sources[0]["serviceAccountToken"] == {"expirationSeconds": 3607, "path": "token"}
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
    assert sources[2]["downwardAPI"]["items"][0]["path"] == "namespace"
    assert {"name": volume["name"], "readOnly": True, "mountPath": MOUNT} in spec["containers"][0]["volumeMounts"]
    assert {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
            "tolerationSeconds": 300} in spec["tolerations"]
    assert {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
            "tolerationSeconds": 300} in spec["tolerations"]
    # opting out, and a missing account
    plane.kubectl("run", "quiet", "-n", ns, "--image=busybox", "--restart=Never",
                  "--overrides", '{"spec":{"automountServiceAccountToken":false}}')
    assert not plane.json("get", "pod", "quiet", "-n", ns)["spec"].get("volumes")
    done = plane.kubectl("run", "lost", "-n", ns, "--image=busybox", "--restart=Never",
                         "--overrides", '{"spec":{"serviceAccountName":"builder"}}', check=False)
    assert done.returncode != 0
    assert (f'Error from server (Forbidden): pods "lost" is forbidden: error looking up service account '
            f'{ns}/builder: serviceaccount "builder" not found') in done.stderr


def test_quota_refusal_through_kubectl_with_upstream_message_and_columns(plane, ns):
    plane.kubectl("create", "quota", "small", "-n", ns, "--hard=pods=1,count/configmaps=3,requests.cpu=1,limits.cpu=2")
    plane.kubectl("create", "-f", "-", "-n", ns, input=json.dumps({
        "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults"},
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "250m"}}]}}))
    plane.kubectl("run", "one", "-n", ns, "--image=busybox", "--restart=Never")
    one = plane.json("get", "pod", "one", "-n", ns)
    # LimitRanger gave the container what it left out, so the quota could count it
    assert one["spec"]["containers"][0]["resources"] == {"requests": {"cpu": "250m"}, "limits": {"cpu": "500m"}}
    assert one["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == \
        "LimitRanger plugin set: cpu request for container one; cpu limit for container one"
    done = plane.kubectl("run", "two", "-n", ns, "--image=busybox", "--restart=Never", check=False)
    assert done.returncode != 0
    assert done.stderr.strip() == ('Error from server (Forbidden): pods "two" is forbidden: exceeded quota: small, '
                                   'requested: pods=1, used: pods=1, limited: pods=1')
    table = plane.kubectl("get", "quota", "small", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "AGE", "REQUEST", "LIMIT"]
    assert "count/configmaps: 1/3, pods: 1/1, requests.cpu: 250m/1" in table[1]  # kube-root-ca.crt counts
    assert table[1].rstrip().endswith("limits.cpu: 500m/2")
    # the usage goes when the pod goes
    plane.kubectl("delete", "pod", "one", "-n", ns, "--grace-period=0", "--force")
    used = plane.json("get", "quota", "small", "-n", ns)["status"]["used"]
    assert used == {"count/configmaps": "1", "limits.cpu": "0", "pods": "0", "requests.cpu": "0"}
    plane.kubectl("run", "two", "-n", ns, "--image=busybox", "--restart=Never")


def test_limit_range_bounds_refused_with_upstream_message(plane, ns):
    plane.kubectl("create", "-f", "-", "-n", ns, input=json.dumps({
        "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "bounds"},
        "spec": {"limits": [{"type": "Container", "max": {"memory": "256Mi"}, "min": {"memory": "16Mi"}}]}}))
    lr = plane.json("get", "limitrange", "bounds", "-n", ns)
    assert lr["spec"]["limits"][0]["default"] == {"memory": "256Mi"}  # upstream's defaulting from max
    done = plane.kubectl("run", "hog", "-n", ns, "--image=busybox", "--restart=Never",
                         "--overrides", '{"spec":{"containers":[{"name":"hog","image":"busybox",'
                                        '"resources":{"limits":{"memory":"1Gi"}}}]}}', check=False)
    assert done.returncode != 0
    assert 'pods "hog" is forbidden: maximum memory usage per Container is 256Mi, but limit is 1Gi' in done.stderr
    assert "NAME" in plane.kubectl("get", "limits", "-n", ns).stdout.splitlines()[0]


async def test_parallel_creates_through_the_apiserver_never_exceed_the_quota(plane, ns):
    from labkit.api.errors import StatusError
    from labkit.client.api import ApiClient
    from labkit.client.kubeconfig import load_kubeconfig

    plane.kubectl("create", "quota", "secrets", "-n", ns, "--hard=secrets=4")
    async with ApiClient(load_kubeconfig(plane.kubeconfig), user_agent="labkit-tests") as client:
        results = await asyncio.gather(*(client.create("secrets", {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"s{i}"}, "stringData": {"k": "v"}}, ns)
            for i in range(16)), return_exceptions=True)
    created = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, StatusError)]
    assert len(created) == 4 and len(refused) == 12, results
    assert all(r.code == 403 and "exceeded quota: secrets, requested: secrets=1, used: secrets=4, limited: secrets=4"
               in r.message for r in refused)
    assert len(plane.json("get", "secrets", "-n", ns)["items"]) == 4
    assert plane.json("get", "quota", "secrets", "-n", ns)["status"]["used"] == {"secrets": "4"}


def test_resourcequota_controller_gives_back_what_finished_pods_held_and_fixes_drift(plane, ns):
    plane.kubectl("create", "quota", "life", "-n", ns, "--hard=pods=1,count/pods=5")
    plane.kubectl("run", "job1", "-n", ns, "--image=busybox", "--restart=Never")
    refused = plane.kubectl("run", "job2", "-n", ns, "--image=busybox", "--restart=Never", check=False)
    assert "exceeded quota: life, requested: pods=1, used: pods=1, limited: pods=1" in refused.stderr
    # the pod finishes (its kubelet reports it): it no longer counts in pods, still in count/pods
    plane.kubectl("patch", "pod", "job1", "-n", ns, "--subresource=status", "--type=merge",
                  "-p", '{"status":{"phase":"Succeeded"}}')
    plane.eventually("pods usage given back", lambda: plane.json("get", "quota", "life", "-n", ns)
                     ["status"]["used"] == {"count/pods": "1", "pods": "0"})
    plane.kubectl("run", "job2", "-n", ns, "--image=busybox", "--restart=Never")
    # usage written by hand is counted again (periodic resync)
    plane.kubectl("patch", "quota", "life", "-n", ns, "--subresource=status", "--type=merge",
                  "-p", '{"status":{"used":{"pods":"0","count/pods":"0"}}}')
    plane.eventually("usage recounted", lambda: plane.json("get", "quota", "life", "-n", ns)
                     ["status"]["used"] == {"count/pods": "2", "pods": "1"})
