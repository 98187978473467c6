"""cluster.kubeconfig: a lab's admin context merged into the user's kubeconfig, next to other clusters."""

from __future__ import annotations

import os
import stat
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from pki_lab import NOW, REPO, Lab

from labkit.pki import contexts
from labkit.pki.generate import generate
from labkit.pki.state import PkiError

KUBECTL = str(REPO / ".venv/bin/kubectl")

OTHER = {
    "apiVersion": "v1",
    "kind": "Config",
    "preferences": {"colors": True},
    "clusters": [{"name": "prod", "cluster": {"server": "https://prod.example:6443", "insecure-skip-tls-verify": True}}],
    "users": [{"name": "prod-admin", "user": {"token": "not-a-real-token"}}],
    "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod-admin", "namespace": "apps"}}],
    "current-context": "prod",
}


@pytest.fixture
def user_kubeconfig(tmp_path) -> Path:
    path = tmp_path / "home" / ".kube" / "config"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(OTHER, sort_keys=False))
    return path


def kubectl(kubeconfig: Path, *args: str) -> str:
    result = subprocess.run([KUBECTL, *args], capture_output=True, text=True,
                            env={**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(kubeconfig.parent)})
    assert result.returncode == 0, result.stderr
    return result.stdout


def entry(doc: dict, section: str, name: str) -> dict | None:
    return next((e for e in doc[section] if e["name"] == name), None)


def test_merge_keeps_other_clusters_and_the_current_context(generated, user_kubeconfig):
    original = user_kubeconfig.read_bytes()
    result = contexts.merge("ha", generated["ha"].state, user_kubeconfig)
    assert result.changed and result.current_context == "prod"
    assert result.backup == user_kubeconfig.with_name("config.labkit-backup")
    assert result.backup.read_bytes() == original
    doc = yaml.safe_load(user_kubeconfig.read_text())
    for section in ("clusters", "users", "contexts"):
        assert entry(doc, section, "prod" if section != "users" else "prod-admin") == entry(
            OTHER, section, "prod" if section != "users" else "prod-admin")
    admin = yaml.safe_load((generated["ha"].state / "kubeconfigs/admin.kubeconfig").read_text())
    for section in ("clusters", "users", "contexts"):
        assert entry(doc, section, "labkit-ha") == entry(admin, section, "labkit-ha")
    assert doc["current-context"] == "prod" and doc["preferences"] == {"colors": True}
    assert stat.S_IMODE(user_kubeconfig.stat().st_mode) == 0o600
    assert stat.S_IMODE(result.backup.stat().st_mode) == 0o600


def test_kubectl_lists_every_lab_and_switches_between_them(generated, user_kubeconfig):
    contexts.merge("ha", generated["ha"].state, user_kubeconfig)
    contexts.merge("single", generated["single"].state, user_kubeconfig)
    assert kubectl(user_kubeconfig, "config", "get-contexts", "-o", "name").split() == ["labkit-ha", "labkit-single", "prod"]
    assert kubectl(user_kubeconfig, "config", "current-context").strip() == "prod"
    kubectl(user_kubeconfig, "config", "use-context", "labkit-single")
    view = yaml.safe_load(kubectl(user_kubeconfig, "config", "view", "--minify"))
    assert view["clusters"][0]["cluster"]["server"] == "https://192.168.77.11:6443"
    assert view["users"][0]["name"] == "labkit-single"
    # kubectl's own rewrite did not lose ours, and a merge after it keeps kubectl's choice
    assert not contexts.merge("single", generated["single"].state, user_kubeconfig).changed
    assert yaml.safe_load(user_kubeconfig.read_text())["current-context"] == "labkit-single"


def test_a_second_merge_changes_nothing_and_makes_no_backup(generated, user_kubeconfig):
    contexts.merge("ha", generated["ha"].state, user_kubeconfig)
    backup = user_kubeconfig.with_name("config.labkit-backup")
    backup.unlink()
    merged = user_kubeconfig.read_bytes()
    result = contexts.merge("ha", generated["ha"].state, user_kubeconfig)
    assert not result.changed and not backup.exists()
    assert user_kubeconfig.read_bytes() == merged


def test_renewed_credentials_replace_the_entries_in_place(ha: Lab, user_kubeconfig):
    contexts.merge("ha", ha.state, user_kubeconfig)
    generate(ha.inventory, ha.state, now=NOW + timedelta(days=340))  # reissues admin.crt
    assert contexts.merge("ha", ha.state, user_kubeconfig).changed
    doc = yaml.safe_load(user_kubeconfig.read_text())
    assert [c["name"] for c in doc["contexts"]] == ["prod", "labkit-ha"]
    assert [u["name"] for u in doc["users"]] == ["prod-admin", "labkit-ha"]
    admin = yaml.safe_load((ha.state / "kubeconfigs/admin.kubeconfig").read_text())
    assert entry(doc, "users", "labkit-ha") == entry(admin, "users", "labkit-ha")


def test_use_makes_it_current(generated, user_kubeconfig):
    assert contexts.merge("ha", generated["ha"].state, user_kubeconfig, use=True).current_context == "labkit-ha"
    assert kubectl(user_kubeconfig, "config", "current-context").strip() == "labkit-ha"


def test_no_kubeconfig_yet_creates_a_private_one_with_the_lab_current(generated, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    result = contexts.merge("ha", generated["ha"].state)
    assert result.path == tmp_path / ".kube/config" and result.backup is None
    assert result.current_context == "labkit-ha"
    assert stat.S_IMODE((tmp_path / ".kube").stat().st_mode) == 0o700
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    assert kubectl(result.path, "config", "get-contexts", "-o", "name").split() == ["labkit-ha"]


def test_kubeconfig_env_first_existing_file_is_the_one_edited(generated, tmp_path, user_kubeconfig, monkeypatch):
    missing = tmp_path / "nope"
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(missing), str(user_kubeconfig)]))
    assert contexts.merge("ha", generated["ha"].state).path == user_kubeconfig
    assert not missing.exists()


def test_remove_takes_out_only_that_lab(generated, user_kubeconfig):
    contexts.merge("ha", generated["ha"].state, user_kubeconfig)
    contexts.merge("single", generated["single"].state, user_kubeconfig, use=True)
    result = contexts.remove("single", user_kubeconfig)
    assert result.changed and result.current_context is None
    doc = yaml.safe_load(user_kubeconfig.read_text())
    assert doc["current-context"] == ""
    assert kubectl(user_kubeconfig, "config", "get-contexts", "-o", "name").split() == ["labkit-ha", "prod"]
    assert [c["name"] for c in doc["clusters"]] == ["prod", "labkit-ha"]
    assert [u["name"] for u in doc["users"]] == ["prod-admin", "labkit-ha"]
    assert not contexts.remove("single", user_kubeconfig).changed
    contexts.remove("ha", user_kubeconfig)
    assert yaml.safe_load(user_kubeconfig.read_text()) == {**OTHER, "current-context": ""}


def test_remove_keeps_another_current_context(generated, user_kubeconfig):
    contexts.merge("ha", generated["ha"].state, user_kubeconfig)
    assert contexts.remove("ha", user_kubeconfig).current_context == "prod"
    assert yaml.safe_load(user_kubeconfig.read_text()) == OTHER


@pytest.mark.parametrize("text,message", [
    ("clusters: [\n", "is not valid YAML"),
    ("- a list\n", "is not a mapping"),
    ("clusters: {prod: 1}\n", "clusters is not a list"),
])
def test_a_broken_kubeconfig_is_an_error_and_left_alone(generated, tmp_path, text, message):
    path = tmp_path / "config"
    path.write_text(text)
    with pytest.raises(PkiError, match=message):
        contexts.merge("ha", generated["ha"].state, path)
    assert path.read_text() == text
    assert not path.with_name("config.labkit-backup").exists()


def test_a_lab_without_a_pki_is_an_error(tmp_path, user_kubeconfig):
    with pytest.raises(PkiError, match=r"admin.kubeconfig does not exist: run `invoke pki.generate --lab ha` first"):
        contexts.merge("ha", tmp_path / "ha", user_kubeconfig)
    assert yaml.safe_load(user_kubeconfig.read_text()) == OTHER


def test_an_empty_kubeconfig_file_becomes_a_valid_one(generated, tmp_path):
    path = tmp_path / "config"
    path.write_text("")
    contexts.merge("ha", generated["ha"].state, path)
    doc = yaml.safe_load(path.read_text())
    assert doc["apiVersion"] == "v1" and doc["kind"] == "Config" and doc["current-context"] == "labkit-ha"
    assert kubectl(path, "config", "get-contexts", "-o", "name").split() == ["labkit-ha"]


def test_a_broken_admin_kubeconfig_is_named_without_quoting_it(ha: Lab, user_kubeconfig):
    admin = ha.state / "kubeconfigs/admin.kubeconfig"
    text = admin.read_text()
    key_line = next(line for line in text.splitlines() if "client-key-data" in line)
    admin.write_text(text[:text.index(key_line)] + key_line[:70] + ": [\n")
    with pytest.raises(PkiError) as err:
        contexts.merge("ha", ha.state, user_kubeconfig)
    assert str(err.value) == (f"{admin} is not the admin kubeconfig of lab ha: "
                              "run `invoke pki.generate --lab ha` to rewrite it")
    assert yaml.safe_load(user_kubeconfig.read_text()) == OTHER
    generate(ha.inventory, ha.state, now=NOW)  # and the advice works
    assert contexts.merge("ha", ha.state, user_kubeconfig).changed
