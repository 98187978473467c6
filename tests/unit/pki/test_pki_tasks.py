"""The invoke tasks as a user runs them: pki.generate, pki.check, cluster.kubeconfig.

The main flow runs as real `invoke` processes from the repository root; the
error paths call the same task functions in this process (invoke's argument
parsing is the part already shown). LABKIT_HOME and HOME point into
tmp_path. No output ever holds a private key.
"""

from __future__ import annotations

import base64
import os
import subprocess

import pytest
import yaml
from invoke import Context, Exit
from pki_lab import REPO

from labkit.tasks import cluster as cluster_tasks
from labkit.tasks import pki as pki_tasks

INVOKE = str(REPO / ".venv/bin/invoke")


class Cli:
    def __init__(self, tmp_path, monkeypatch, capsys):
        self.home = tmp_path / "home"
        self.labkit_home = tmp_path / "labkit"
        self.home.mkdir()
        self.outputs: list[str] = []
        self.monkeypatch, self.capsys = monkeypatch, capsys

    def __call__(self, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env.update(HOME=str(self.home), LABKIT_HOME=str(self.labkit_home), COLUMNS="250")
        result = subprocess.run([INVOKE, *args], cwd=REPO, capture_output=True, text=True, env=env)
        self.outputs.append(result.stdout + result.stderr)
        return result

    def direct(self, task, **options) -> subprocess.CompletedProcess:
        """The task's function called here, as invoke would after parsing ``--option value``."""
        self.monkeypatch.setenv("HOME", str(self.home))
        self.monkeypatch.setenv("LABKIT_HOME", str(self.labkit_home))
        self.monkeypatch.delenv("KUBECONFIG", raising=False)
        self.capsys.readouterr()
        code, message = 0, ""
        try:
            task(Context(), **options)
        except Exit as exc:
            code, message = exc.code, str(exc.message)
        out = self.capsys.readouterr()
        self.outputs.append(out.out + out.err + message)
        return subprocess.CompletedProcess([task.name], code, out.out, out.err + message)

    def secrets(self) -> list[str]:
        """Every secret the lab holds, as it could appear in output: PEM body lines, base64 data, the aescbc key."""
        found = []
        for key in self.labkit_home.rglob("*.key"):
            found += [line for line in key.read_text().splitlines() if line and not line.startswith("-----")]
        for kubeconfig in self.labkit_home.rglob("*.kubeconfig"):
            found += [u["user"]["client-key-data"] for u in yaml.safe_load(kubeconfig.read_text())["users"]]
        for config in self.labkit_home.rglob("encryption-config.yaml"):
            found += [k["secret"] for k in yaml.safe_load(config.read_text())["resources"][0]["providers"][0]["aescbc"]["keys"]]
        return found


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    cli = Cli(tmp_path, monkeypatch, capsys)
    yield cli
    secrets = cli.secrets()
    assert secrets or not any(cli.labkit_home.rglob("*.key"))
    for output in cli.outputs:
        assert "PRIVATE KEY" not in output
        for secret in secrets:
            assert secret[:40] not in output
            assert base64.b64encode(secret.encode())[:40].decode() not in output


def test_invoke_lists_the_tasks():
    result = subprocess.run([INVOKE, "--list"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for name in ("pki.generate", "pki.check", "cluster.kubeconfig"):
        assert name in result.stdout


def test_generate_check_and_merge_from_the_command_line(cli):
    first = cli("pki.generate", "--lab", "single")
    assert first.returncode == 0, first.stderr
    assert "pki/apiserver.crt" in first.stdout and "kubeconfigs/admin.kubeconfig" in first.stdout
    assert (cli.labkit_home / "single/pki/ca.crt").exists()

    second = cli("pki.generate", "--lab", "single")
    assert second.returncode == 0 and "nothing changed" in second.stdout

    check = cli("pki.check", "--lab", "single")
    assert check.returncode == 0, check.stdout + check.stderr
    for text in ("PKI of lab single", "kubelet-worker-1", "CN=system:node:worker-1", "kubernetes.default.svc"):
        assert text in check.stdout

    merged = cli("cluster.kubeconfig", "--lab", "single")
    assert merged.returncode == 0, merged.stderr
    config = cli.home / ".kube/config"
    assert "context labkit-single merged" in merged.stdout and str(config) in merged.stdout
    assert yaml.safe_load(config.read_text())["current-context"] == "labkit-single"

    removed = cli("cluster.kubeconfig", "--lab", "single", "--remove")
    assert removed.returncode == 0 and "removed" in removed.stdout
    assert f"{config}.labkit-backup" in removed.stdout
    assert yaml.safe_load(config.read_text())["contexts"] == []

    (cli.labkit_home / "single/pki/kube-proxy.key").chmod(0o644)
    failed = cli("pki.check", "--lab", "single")
    assert failed.returncode == 1
    assert "kube-proxy.key has mode" in failed.stdout  # in the table
    assert "1 problem(s):\n  kube-proxy: kube-proxy.key has mode 0644, expected 0600" in failed.stderr


def test_check_of_a_lab_never_generated_fails(cli):
    check = cli.direct(pki_tasks.check, lab="single")
    assert check.returncode == 1 and "missing: run `invoke pki.generate`" in check.stdout
    assert "problem(s):\n  state directories:" in check.stderr


def test_bad_input_is_an_error_naming_it(cli, tmp_path):
    assert cli.direct(pki_tasks.generate, lab="single").returncode == 0
    key = cli.labkit_home / "single/pki/admin.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    broken = cli.direct(pki_tasks.generate, lab="single")
    assert broken.returncode == 1
    assert f"error: {key} is not an unencrypted PEM private key" in broken.stderr
    assert "nothing was written" in broken.stderr
    assert "not a key" not in broken.stderr  # the file's content is never quoted
    key.unlink()

    nolab = cli.direct(pki_tasks.generate, lab="nosuchlab")
    assert nolab.returncode == 1 and "error: no inventory" in nolab.stderr and "nosuchlab.yaml" in nolab.stderr
    assert "(labs: " in nolab.stderr and "single" in nolab.stderr

    bad = tmp_path / "bad.yaml"
    bad.write_text("lab: {name: bad, service_cidr: 10.32.0.0/33}\nhosts: {m: {address: 192.168.77.11}}\n"
                   "groups: {masters: {hosts: [m]}}\n")
    invalid = cli.direct(pki_tasks.check, inventory=str(bad))
    assert invalid.returncode == 1 and f"error: {bad}:1: lab.service_cidr" in invalid.stderr

    nopki = cli.direct(cluster_tasks.kubeconfig, lab="ha")
    assert nopki.returncode == 1 and "run `invoke pki.generate --lab ha` first" in nopki.stderr
    assert not (cli.home / ".kube").exists()

    gone = cli.direct(cluster_tasks.kubeconfig, lab="gone", remove=True)  # no inventory needed to take it out
    assert gone.returncode == 0 and "already without context labkit-gone" in gone.stdout
