"""pki.check: a row per CA, certificate, key pair, config and kubeconfig; every problem named."""

from __future__ import annotations

import shutil
from datetime import timedelta

import yaml
from pki_lab import NOW, REPO, Lab
from rich.console import Console

from labkit.pki.check import check, table
from labkit.provision.inventory import load_inventory


def problems(rows) -> dict[str, list[str]]:
    return {row.name: row.problems for row in rows if row.problems}


def test_a_fresh_lab_has_no_problems_and_every_row_is_there(generated):
    lab = generated["ha"]
    rows = check(lab.inventory, lab.state, now=NOW)
    assert problems(rows) == {}
    names = [row.name for row in rows]
    assert names[:3] == ["state directories", "ca", "etcd/ca"]
    assert "etcd/master-3-peer" in names and "kubelet-worker-2" in names
    assert "sa.key / sa.pub" in names and "encryption-config.yaml" in names
    assert "kubeconfigs/kubelet-worker-2.kubeconfig" in names
    apiserver = next(row for row in rows if row.name == "apiserver")
    assert apiserver.subject == "CN=kube-apiserver" and apiserver.issuer == "CN=kubernetes"
    assert "kubernetes.default.svc.cluster.local" in apiserver.sans and "10.32.0.1" in apiserver.sans
    assert apiserver.days_left == 365 and apiserver.key_match and apiserver.chain_ok
    assert next(row for row in rows if row.name == "ca").days_left == 3650


def test_expiry_is_reported_ahead_of_time_and_after(generated):
    lab = generated["ha"]
    soon = problems(check(lab.inventory, lab.state, now=NOW + timedelta(days=340)))
    assert len(soon) == 19 and all("expires in 25 days" in p[0] for p in soon.values())
    late = problems(check(lab.inventory, lab.state, now=NOW + timedelta(days=400)))
    assert all("expired 35 days ago" in p[0] for p in late.values())
    assert "ca" not in late
    before = problems(check(lab.inventory, lab.state, now=NOW - timedelta(days=1)))
    assert "not valid before" in before["admin"][0] and "not valid before" in before["ca"][0]


def test_a_key_of_another_certificate(ha: Lab):
    shutil.copy(ha.pki / "kube-proxy.key", ha.pki / "kube-scheduler.key")
    rows = {row.name: row for row in check(ha.inventory, ha.state, now=NOW)}
    assert rows["kube-scheduler"].key_match is False
    assert rows["kube-scheduler"].problems == ["private key does not match the certificate"]
    assert rows["kubeconfigs/kube-scheduler.kubeconfig"].problems == [
        "embeds another certificate or key than pki/kube-scheduler.crt"]


def test_a_certificate_of_another_ca(ha: Lab, generated):
    for suffix in (".crt", ".key"):
        shutil.copy(generated["single"].pki / f"admin{suffix}", ha.pki / f"admin{suffix}")
    row = next(row for row in check(ha.inventory, ha.state, now=NOW) if row.name == "admin")
    assert row.chain_ok is False and row.key_match is True
    assert row.problems == ["not signed by the current ca (kubernetes)"]


def test_loose_modes_are_problems(ha: Lab):
    (ha.pki / "admin.key").chmod(0o644)
    (ha.pki / "etcd").chmod(0o755)
    (ha.state / "kubeconfigs/admin.kubeconfig").chmod(0o640)
    found = problems(check(ha.inventory, ha.state, now=NOW))
    assert found["admin"] == ["admin.key has mode 0644, expected 0600"]
    assert found["state directories"] == [f"{ha.pki / 'etcd'} has mode 0755, expected 0700"]
    assert found["kubeconfigs/admin.kubeconfig"] == ["admin.kubeconfig has mode 0640, expected 0600"]


def test_an_inventory_edit_shows_before_generate(ha: Lab, tmp_path):
    doc = yaml.safe_load((REPO / "inventory/ha.yaml").read_text())
    doc["hosts"]["master-4"] = {"address": "192.168.77.14"}
    doc["groups"]["masters"]["hosts"].append("master-4")
    (tmp_path / "ha.yaml").write_text(yaml.safe_dump(doc))
    found = problems(check(load_inventory(tmp_path / "ha.yaml"), ha.state, now=NOW))
    assert set(found) == {"apiserver", "etcd/master-4-server", "etcd/master-4-peer", "kubelet-master-4",
                          "kubeconfigs/kubelet-master-4.kubeconfig"}
    assert found["apiserver"] == ["DNS SANs differ from the inventory: missing master-4",
                                  "IP SANs differ from the inventory: missing 192.168.77.14, 192.168.56.14"]
    assert found["etcd/master-4-peer"] == ["missing: run `invoke pki.generate`"]


def test_corrupt_and_missing_files_are_rows_not_crashes(ha: Lab):
    (ha.pki / "apiserver.crt").write_text("junk")
    (ha.pki / "sa.key").write_text("junk")
    (ha.pki / "encryption-config.yaml").write_text("{}")
    (ha.pki / "ca.key").unlink()
    kube_proxy = ha.state / "kubeconfigs/kube-proxy.kubeconfig"
    text = kube_proxy.read_text()
    key_line = next(line for line in text.splitlines() if "client-key-data" in line)
    kube_proxy.write_text(text[:text.index(key_line)] + key_line[:60] + ": [\n")  # truncated in the key
    found = problems(check(ha.inventory, ha.state, now=NOW))
    assert "is not a PEM certificate" in found["apiserver"][0]
    assert "is not an unencrypted PEM private key" in found["sa.key / sa.pub"][0]
    assert found["encryption-config.yaml"][0] == (
        "encryption-config.yaml is not an EncryptionConfiguration with an aescbc key for secrets")
    assert "ca.key is missing but" in found["ca"][0]
    assert found["admin"] == ["its CA ca is unavailable"]
    assert found["kubeconfigs/kube-proxy.kubeconfig"] == ["not a valid kubeconfig: `invoke pki.generate` rewrites it"]
    key_text = key_line.split(":", 1)[1].strip()
    assert not [key_text[i:i + 12] for i in range(len(key_text) - 12) if key_text[i:i + 12] in str(found)]


def test_the_table_shows_every_row_and_its_problem(ha: Lab):
    (ha.pki / "admin.key").chmod(0o644)
    console = Console(record=True, width=250)
    console.print(table(check(ha.inventory, ha.state, now=NOW), "ha"))
    text = console.export_text()
    assert "PKI of lab ha" in text
    for name in ("etcd/master-2-server", "kubelet-worker-1", "CN=system:node:worker-1,O=system:nodes",
                 "admin.key has mode 0644, expected 0600", "https://192.168.77.10:6443"):
        assert name in text
    assert "PRIVATE KEY" not in text
