"""The generated credentials work for the real clients: kubectl and the official Python client over mutual TLS.

Each kubeconfig is used as generated, with only its server URL pointed at the
test server on 127.0.0.1 (a SAN of the apiserver certificate). The server
accepts only client certificates of the lab's CA and records the user (CN)
and groups (O) each request came with.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import kubernetes
import pytest
import yaml
from pki_tls import REPO, VERSION

from labkit.pki import contexts

pytestmark = pytest.mark.integration

KUBECTL = str(REPO / ".venv/bin/kubectl")


def pointed_at(server, source: Path, dest: Path, **cluster_fields) -> Path:
    """A copy of a generated kubeconfig whose cluster points at the test server."""
    doc = yaml.safe_load(source.read_text())
    doc["clusters"][0]["cluster"]["server"] = server.url
    doc["clusters"][0]["cluster"].update(cluster_fields)
    dest.write_text(yaml.safe_dump(doc))
    dest.chmod(0o600)
    return dest


def kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "HTTPS_PROXY", "https_proxy")}
    env["HOME"] = str(kubeconfig.parent)  # kubectl's cache goes there, not into the real home
    return subprocess.run([KUBECTL, f"--kubeconfig={kubeconfig}", "--request-timeout=20s", *args],
                          capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("name,user,groups", [
    ("admin", "admin", ["system:masters"]),
    ("kubelet-worker-1", "system:node:worker-1", ["system:nodes"]),
    ("kubelet-master-2", "system:node:master-2", ["system:nodes"]),
    ("kube-proxy", "system:kube-proxy", []),
    ("kube-controller-manager", "system:kube-controller-manager", []),
    ("kube-scheduler", "system:kube-scheduler", []),
])
def test_kubectl_authenticates_with_each_generated_kubeconfig(tls_server, labs, tmp_path, name, user, groups):
    config = pointed_at(tls_server, labs["ha"] / f"kubeconfigs/{name}.kubeconfig", tmp_path / "config")
    before = len(tls_server.seen)
    result = kubectl(config, "get", "--raw", "/version")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["gitVersion"] == VERSION["gitVersion"]
    assert tls_server.seen[before:] and all(
        seen == {"path": "/version", "cn": user, "o": groups} for seen in tls_server.seen[before:])


def test_the_official_python_client_authenticates_as_admin(tls_server, labs, tmp_path):
    config = pointed_at(tls_server, labs["ha"] / "kubeconfigs/admin.kubeconfig", tmp_path / "config")
    api_client = kubernetes.config.new_client_from_config(config_file=str(config))
    try:
        info = kubernetes.client.VersionApi(api_client).get_code()
    finally:
        api_client.close()
    assert info.git_version == VERSION["gitVersion"]
    assert tls_server.seen[-1]["path"].rstrip("/") == "/version"  # the client asks for /version/
    assert (tls_server.seen[-1]["cn"], tls_server.seen[-1]["o"]) == ("admin", ["system:masters"])


@pytest.mark.parametrize("server_name", ["kubernetes", "kubernetes.default.svc.cluster.local", "master-3", "lb-1"])
def test_the_apiserver_certificate_is_valid_for_its_service_and_host_names(tls_server, labs, tmp_path, server_name):
    config = pointed_at(tls_server, labs["ha"] / "kubeconfigs/admin.kubeconfig", tmp_path / "config",
                        **{"tls-server-name": server_name})
    result = kubectl(config, "get", "--raw", "/version")
    assert result.returncode == 0, result.stderr


def test_a_name_not_in_the_certificate_is_refused_by_kubectl(tls_server, labs, tmp_path):
    config = pointed_at(tls_server, labs["ha"] / "kubeconfigs/admin.kubeconfig", tmp_path / "config",
                        **{"tls-server-name": "worker-1"})
    result = kubectl(config, "get", "--raw", "/version")
    assert result.returncode != 0
    assert "certificate is valid for" in result.stderr and "not worker-1" in result.stderr


def test_another_labs_ca_does_not_trust_this_server(tls_server, labs, tmp_path):
    config = pointed_at(tls_server, labs["single"] / "kubeconfigs/admin.kubeconfig", tmp_path / "config")
    result = kubectl(config, "get", "--raw", "/version")
    assert result.returncode != 0 and "certificate signed by unknown authority" in result.stderr


def test_a_client_certificate_of_another_lab_is_refused_by_the_server(tls_server, labs, tmp_path):
    config = pointed_at(tls_server, labs["ha"] / "kubeconfigs/admin.kubeconfig", tmp_path / "config")
    doc = yaml.safe_load(config.read_text())
    stranger = yaml.safe_load((labs["single"] / "kubeconfigs/admin.kubeconfig").read_text())
    doc["users"][0]["user"] = stranger["users"][0]["user"]  # trusts ha's server, but presents single's admin
    config.write_text(yaml.safe_dump(doc))
    before = len(tls_server.seen)
    result = kubectl(config, "get", "--raw", "/version")
    assert result.returncode != 0
    assert "Unable to connect to the server" in result.stderr  # TLS 1.3: the server's alert reads as EOF
    assert len(tls_server.seen) == before  # no request got through


def test_the_merged_user_kubeconfig_reaches_the_lab_by_context(tls_server, labs, tmp_path):
    user_config = tmp_path / ".kube/config"
    user_config.parent.mkdir()
    user_config.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "elsewhere",
        "clusters": [{"name": "elsewhere", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "someone", "user": {"token": "x"}}],
        "contexts": [{"name": "elsewhere", "context": {"cluster": "elsewhere", "user": "someone"}}],
    }))
    contexts.merge("ha", labs["ha"], user_config)
    contexts.merge("single", labs["single"], user_config)
    listed = kubectl(user_config, "config", "get-contexts", "-o", "name")
    assert listed.stdout.split() == ["elsewhere", "labkit-ha", "labkit-single"]
    # the lab's address is not reachable from here: --server points the context at the test server
    result = kubectl(user_config, "--context", "labkit-ha", f"--server={tls_server.url}", "get", "--raw", "/version")
    assert result.returncode == 0, result.stderr
    assert tls_server.seen[-1]["cn"] == "admin"
    wrong = kubectl(user_config, "--context", "labkit-single", f"--server={tls_server.url}", "get", "--raw", "/version")
    assert wrong.returncode != 0


def test_labkits_own_client_config_connects_as_the_kubelet(tls_server, labs, tmp_path):
    """labkit's components read their kubeconfig with labkit.client.kubeconfig: its TLS settings work too."""
    import urllib.request

    from labkit.client.kubeconfig import load_kubeconfig

    config = load_kubeconfig(pointed_at(tls_server, labs["ha"] / "kubeconfigs/kubelet-worker-2.kubeconfig",
                                        tmp_path / "config"))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),  # loopback only, never a proxy
                                         urllib.request.HTTPSHandler(context=config.ssl_context()))
    with opener.open(f"{config.server}/version", timeout=20) as reply:
        assert json.loads(reply.read())["gitVersion"] == VERSION["gitVersion"]
    assert tls_server.seen[-1] == {"path": "/version", "cn": "system:node:worker-2", "o": ["system:nodes"]}
