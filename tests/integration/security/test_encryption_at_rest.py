"""Encryption at rest through the real apiserver, real etcd (read back with etcdctl) and the real kubectl.

The lab's own EncryptionConfiguration (labkit.pki.generate) encrypts Secrets
with aescbc; a key rotation is done the upstream way:

1. put the new key first, keep the old one listed, restart the apiservers;
2. rewrite every Secret: ``kubectl get secrets -A -o json | kubectl replace -f -``
   (values read with an old key are stale: the apiserver writes them again,
   even though nothing in the object changed; kubectl checks the ``v1/List``
   item by item against /openapi/v2 first);
3. drop the old key, restart.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from labkit.localplane import ApiserverProcess, EtcdProcess
from labkit.pki.generate import generate
from labkit.provision.inventory import load_inventory

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
KUBECTL = shutil.which("kubectl", path=str(REPO / ".venv" / "bin")) or shutil.which("kubectl")
PASSWORD = "correct-horse-battery-staple"


class Cluster:
    """One etcd, and an apiserver on it that is restarted with other encryption configs."""

    def __init__(self, base: Path):
        self.base = base
        self.etcd = EtcdProcess(data_dir=base / "etcd").start()
        self.api: ApiserverProcess | None = None
        self.kubeconfig = base / "admin.kubeconfig"
        self.starts = 0

    def start(self, config: dict | None) -> None:
        self.stop_api()
        args = ["--disable-admission-plugins=ServiceAccount"]
        if config is not None:
            path = self.base / f"encryption-{self.starts}.yaml"
            path.write_text(yaml.safe_dump(config))
            path.chmod(0o600)
            args.append(f"--encryption-provider-config={path}")
        self.starts += 1
        self.api = ApiserverProcess(etcd=self.etcd, log_path=self.base / f"apiserver-{self.starts}.log",
                                    extra_args=tuple(args)).start()
        self.api.kubeconfig(self.kubeconfig)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([KUBECTL, f"--kubeconfig={self.kubeconfig}", *args], input=input,
                              capture_output=True, text=True, timeout=60)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done

    def raw(self, key: str) -> bytes:
        """The value etcd holds, as ``etcdctl get`` shows it."""
        done = subprocess.run(["etcdctl", f"--endpoints={self.etcd.endpoint}", "get", key, "--print-value-only"],
                              capture_output=True, timeout=30, env={**os.environ, "ETCDCTL_API": "3"})
        assert done.returncode == 0, done.stderr
        return done.stdout.rstrip(b"\n")

    def put_raw(self, key: str, value: bytes) -> None:
        done = subprocess.run(["etcdctl", f"--endpoints={self.etcd.endpoint}", "put", key], input=value,
                              capture_output=True, timeout=30, env={**os.environ, "ETCDCTL_API": "3"})
        assert done.returncode == 0, done.stderr

    def secret(self, namespace: str, name: str) -> str:
        out = self.kubectl("get", "secret", name, "-n", namespace, "-o", "jsonpath={.data.password}").stdout
        return base64.b64decode(out).decode()

    def stop_api(self) -> None:
        if self.api is not None:
            self.api.stop()
            if "Traceback" in self.api.log():
                print(self.api.log()[-4000:])
            self.api = None

    def stop(self) -> None:
        self.stop_api()
        self.etcd.stop()


@pytest.fixture(scope="module")
def lab_config(tmp_path_factory) -> dict:
    """The EncryptionConfiguration labkit.pki.generate writes for a lab (aescbc key1, then identity)."""
    state = tmp_path_factory.mktemp("lab")
    generate(load_inventory(REPO / "inventory" / "single.yaml"), state)
    return yaml.safe_load((state / "pki" / "encryption-config.yaml").read_text())


@pytest.fixture
def cluster(tmp_path):
    if shutil.which("etcd") is None or shutil.which("etcdctl") is None or KUBECTL is None:
        pytest.fail("etcd, etcdctl and kubectl are needed: run `bash scripts/bootstrap.sh setup`")
    c = Cluster(tmp_path)
    yield c
    c.stop()


def aescbc(*names_and_keys: tuple[str, str], identity_last: bool = True) -> dict:
    providers = [{"aescbc": {"keys": [{"name": n, "secret": k} for n, k in names_and_keys]}}]
    if identity_last:
        providers.append({"identity": {}})
    return {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
            "resources": [{"resources": ["secrets"], "providers": providers}]}


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_secrets_are_stored_encrypted_with_the_lab_config_and_configmaps_are_not(cluster, lab_config):
    cluster.start(lab_config)
    ns = f"enc-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("create", "secret", "generic", "db", "-n", ns, f"--from-literal=password={PASSWORD}")
    cluster.kubectl("create", "configmap", "settings", "-n", ns, "--from-literal=mode=fast")
    raw = cluster.raw(f"/registry/secrets/{ns}/db")
    assert raw.startswith(b"k8s:enc:aescbc:v1:key1:")
    assert PASSWORD.encode() not in raw and base64.b64encode(PASSWORD.encode()) not in raw and b'"kind"' not in raw
    assert json.loads(cluster.raw(f"/registry/configmaps/{ns}/settings"))["data"] == {"mode": "fast"}
    assert cluster.secret(ns, "db") == PASSWORD
    listed = json.loads(cluster.kubectl("get", "secrets", "-n", ns, "-o", "json").stdout)
    assert [s["metadata"]["name"] for s in listed["items"]] == ["db"]


def test_key_rotation_and_rewrite_with_kubectl_get_and_replace(cluster):
    ns = f"rot-{uuid.uuid4().hex[:6]}"
    # 0. before encryption: Secrets are plain JSON in etcd
    cluster.start(None)
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("create", "secret", "generic", "plain", "-n", ns, f"--from-literal=password={PASSWORD}")
    assert json.loads(cluster.raw(f"/registry/secrets/{ns}/plain"))["kind"] == "Secret"

    # 1. encryption on (identity still listed to read the old values)
    key1, key2 = new_key(), new_key()
    cluster.start(aescbc(("key1", key1)))
    cluster.kubectl("create", "secret", "generic", "one", "-n", ns, f"--from-literal=password={PASSWORD}-1")
    assert cluster.raw(f"/registry/secrets/{ns}/one").startswith(b"k8s:enc:aescbc:v1:key1:")
    assert cluster.secret(ns, "plain") == PASSWORD

    # 2. rotation: key2 first, key1 still readable
    cluster.start(aescbc(("key2", key2), ("key1", key1)))
    cluster.kubectl("create", "secret", "generic", "two", "-n", ns, f"--from-literal=password={PASSWORD}-2")
    assert cluster.raw(f"/registry/secrets/{ns}/two").startswith(b"k8s:enc:aescbc:v1:key2:")
    assert cluster.raw(f"/registry/secrets/{ns}/one").startswith(b"k8s:enc:aescbc:v1:key1:")
    assert [cluster.secret(ns, n) for n in ("plain", "one", "two")] == [PASSWORD, PASSWORD + "-1", PASSWORD + "-2"]

    # the documented rewrite: every Secret is written again with the first key, nothing else changes
    before = {n: json.loads(cluster.kubectl("get", "secret", n, "-n", ns, "-o", "json").stdout)
              for n in ("plain", "one", "two")}
    listing = cluster.kubectl("get", "secrets", "-A", "-o", "json").stdout
    replaced = cluster.kubectl("replace", "-f", "-", input=listing)
    assert "secret/one replaced" in replaced.stdout
    for name in ("plain", "one", "two"):
        raw = cluster.raw(f"/registry/secrets/{ns}/{name}")
        assert raw.startswith(b"k8s:enc:aescbc:v1:key2:"), (name, raw[:30])
        after = json.loads(cluster.kubectl("get", "secret", name, "-n", ns, "-o", "json").stdout)
        assert after["data"] == before[name]["data"] and after["metadata"]["uid"] == before[name]["metadata"]["uid"]
    # rewritten once: a second replace of unchanged, current values writes nothing
    rv = {n: json.loads(cluster.kubectl("get", "secret", n, "-n", ns, "-o", "json").stdout)["metadata"]
          ["resourceVersion"] for n in ("one", "two")}
    cluster.kubectl("replace", "-f", "-", input=cluster.kubectl("get", "secrets", "-n", ns, "-o", "json").stdout)
    assert rv == {n: json.loads(cluster.kubectl("get", "secret", n, "-n", ns, "-o", "json").stdout)["metadata"]
                  ["resourceVersion"] for n in ("one", "two")}

    # 3. key1 and identity gone: everything still reads
    cluster.start(aescbc(("key2", key2), identity_last=False))
    assert [cluster.secret(ns, n) for n in ("plain", "one", "two")] == [PASSWORD, PASSWORD + "-1", PASSWORD + "-2"]


def test_a_value_no_listed_key_can_read_is_a_clear_500(cluster):
    ns = f"lost-{uuid.uuid4().hex[:6]}"
    cluster.start(aescbc(("old", new_key())))
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("create", "secret", "generic", "s", "-n", ns, "--from-literal=password=x")
    cluster.start(aescbc(("new", new_key())))
    done = cluster.kubectl("get", "secret", "s", "-n", ns, check=False)
    assert done.returncode != 0
    assert "no matching prefix found" in done.stderr and "k8s:enc:aescbc:v1:old:" in done.stderr
    assert "Internal error occurred" in done.stderr


@pytest.mark.parametrize("provider,size", [("aesgcm", 32), ("secretbox", 32)])
def test_other_providers_and_aesgcm_binds_values_to_their_key(cluster, provider, size):
    ns = f"{provider}-{uuid.uuid4().hex[:6]}"
    config = {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
              "resources": [{"resources": ["secrets", "configmaps"], "providers": [
                  {provider: {"keys": [{"name": "k1", "secret": base64.b64encode(os.urandom(size)).decode()}]}},
                  {"identity": {}}]}]}
    cluster.start(config)
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("create", "secret", "generic", "a", "-n", ns, f"--from-literal=password={PASSWORD}")
    cluster.kubectl("create", "configmap", "c", "-n", ns, "--from-literal=k=v")
    raw = cluster.raw(f"/registry/secrets/{ns}/a")
    assert raw.startswith(f"k8s:enc:{provider}:v1:k1:".encode()) and PASSWORD.encode() not in raw
    assert cluster.raw(f"/registry/configmaps/{ns}/c").startswith(f"k8s:enc:{provider}:v1:k1:".encode())
    assert cluster.secret(ns, "a") == PASSWORD
    # the same bytes under another key: aesgcm refuses (the etcd key is its authenticated data)
    cluster.put_raw(f"/registry/secrets/{ns}/copy", raw)
    done = cluster.kubectl("get", "secret", "copy", "-n", ns, "-o", "json", check=False)
    if provider == "aesgcm":
        assert done.returncode != 0 and "message authentication failed" in done.stderr
    else:  # secretbox binds nothing but the key: the copy reads (as upstream)
        assert done.returncode == 0


def test_a_bad_config_stops_the_apiserver_with_the_file_and_field(tmp_path):
    path = tmp_path / "enc.yaml"
    path.write_text(yaml.safe_dump(aescbc(("key1", base64.b64encode(b"short").decode()))))
    done = subprocess.run([sys.executable, "-m", "labkit.apiserver",
                           "--etcd-servers=http://127.0.0.1:1", "--insecure-port=1", "--secure-port=0",
                           f"--encryption-provider-config={path}"], capture_output=True, text=True, timeout=60,
                          cwd=REPO)
    assert done.returncode == 2
    assert f"{path}: resources[0].providers[0].aescbc.keys[0].secret" in done.stderr
    assert "got 5, expected one of [16, 24, 32]" in done.stderr


def test_kubectl_validates_a_list_against_openapi_v2_before_replacing(cluster):
    """The rewrite's first step: kubectl fetches /openapi/v2 (protobuf) and checks every item of the List."""
    cluster.start(None)
    cluster.kubectl("create", "secret", "generic", "v2", "--from-literal=password=x")
    listing = json.loads(cluster.kubectl("get", "secrets", "-o", "json").stdout)
    listing["items"][0]["passwrod"] = "typo"
    done = cluster.kubectl("replace", "-f", "-", input=json.dumps(listing), check=False)
    assert done.returncode != 0
    assert 'ValidationError(Secret): unknown field "passwrod" in io.k8s.api.core.v1.Secret' in done.stderr
    # lists of other kinds the server returns validate as they are
    cluster.kubectl("create", "deployment", "web", "--image=busybox")
    cluster.kubectl("create", "quota", "q", "--hard=pods=5")
    mixed = cluster.kubectl("get", "deployments,services,quota,namespaces", "-A", "-o", "json").stdout
    assert "deployment.apps/web replaced" in cluster.kubectl("replace", "-f", "-", input=mixed).stdout
