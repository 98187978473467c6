"""Reading kubeconfigs (and the in-cluster config) into a ConnectionConfig."""

import base64

import pytest
import yaml

from labkit.client.kubeconfig import ConfigError, in_cluster_config, load_config, load_kubeconfig

CA_PEM = b"-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"


def write(path, doc):
    path.write_text(yaml.safe_dump(doc))
    return path


def two_contexts(tmp_path):
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.crt").write_bytes(CA_PEM)
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "local",
        "clusters": [
            {"name": "dev", "cluster": {"server": "http://127.0.0.1:18080"}},
            {"name": "lab", "cluster": {"server": "https://192.168.77.10:6443/",
                                         "certificate-authority": "pki/ca.crt"}},
        ],
        "users": [
            {"name": "admin", "user": {"token": "abc"}},
            {"name": "ctl", "user": {"client-certificate-data": base64.b64encode(b"CERT").decode(),
                                      "client-key-data": base64.b64encode(b"KEY").decode()}},
        ],
        "contexts": [
            {"name": "local", "context": {"cluster": "dev", "user": "admin", "namespace": "kube-system"}},
            {"name": "lab", "context": {"cluster": "lab", "user": "ctl"}},
        ],
    }


def test_current_context_with_plain_http_server(tmp_path):
    cfg = load_kubeconfig(write(tmp_path / "config", two_contexts(tmp_path)))
    assert cfg.server == "http://127.0.0.1:18080"
    assert not cfg.is_https and cfg.ssl_context() is None
    assert cfg.namespace == "kube-system"
    assert cfg.bearer_token() == "abc"


def test_named_context_https_with_relative_ca_file_and_inline_client_cert(tmp_path):
    cfg = load_kubeconfig(write(tmp_path / "config", two_contexts(tmp_path)), context="lab")
    assert cfg.server == "https://192.168.77.10:6443"
    assert cfg.ca_data == CA_PEM
    assert (cfg.client_cert_data, cfg.client_key_data) == (b"CERT", b"KEY")
    assert cfg.namespace == "default"


def test_kubeconfig_env_is_the_default(tmp_path, monkeypatch):
    path = write(tmp_path / "config", two_contexts(tmp_path))
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path}/missing:{path}")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert load_config().server == "http://127.0.0.1:18080"


@pytest.mark.parametrize("context, mutate, message", [
    ("nope", lambda d: None, "no context named 'nope'"),
    ("local", lambda d: d["clusters"][0]["cluster"].update({"server": "127.0.0.1:8080"}), "needs a server URL"),
    ("lab", lambda d: d["users"][1]["user"].pop("client-key-data"), "certificate without a key"),
    ("lab", lambda d: d["clusters"][1]["cluster"].update({"certificate-authority": "pki/none.crt"}), "pki/none.crt"),
])
def test_bad_kubeconfig_names_what_is_wrong(tmp_path, context, mutate, message):
    doc = two_contexts(tmp_path)
    mutate(doc)
    with pytest.raises(ConfigError, match=message):
        load_kubeconfig(write(tmp_path / "config", doc), context=context)


def test_not_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad"
    bad.write_text("clusters: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_kubeconfig(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_kubeconfig(tmp_path / "absent")


def test_in_cluster_config_reads_the_service_account_mount(tmp_path):
    (tmp_path / "token").write_text("tok\n")
    (tmp_path / "ca.crt").write_bytes(CA_PEM)
    (tmp_path / "namespace").write_text("team-a")
    cfg = in_cluster_config(tmp_path, {"KUBERNETES_SERVICE_HOST": "10.32.0.1", "KUBERNETES_SERVICE_PORT": "443"})
    assert cfg.server == "https://10.32.0.1:443"
    assert cfg.bearer_token() == "tok"
    assert cfg.ca_data == CA_PEM and cfg.namespace == "team-a"
    with pytest.raises(ConfigError, match="KUBERNETES_SERVICE_HOST"):
        in_cluster_config(tmp_path, {})
