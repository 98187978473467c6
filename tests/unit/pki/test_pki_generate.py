"""pki.generate: idempotent, reissues only what no longer fits (clock, inventory), refuses bad input whole."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from pki_lab import NOW, REPO, Lab
from labkit.pki.generate import generate
from labkit.pki.state import PkiError
from labkit.provision.errors import InventoryError
from labkit.provision.inventory import load_inventory

LEAVES_WITH_A_YEAR = 19  # every certificate of ha but the two CAs


def changed(before: dict[str, bytes], after: dict[str, bytes]) -> set[str]:
    return {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}


def write_inventory(tmp_path: Path, edit) -> Path:
    """A copy of inventory/ha.yaml with ``edit(doc)`` applied."""
    doc = yaml.safe_load((REPO / "inventory/ha.yaml").read_text())
    edit(doc)
    path = tmp_path / "ha.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_a_second_run_changes_nothing(ha: Lab):
    before = ha.snapshot()
    assert generate(ha.inventory, ha.state, now=NOW + timedelta(days=1)) == []
    assert ha.snapshot() == before


def test_modes_keys_and_kubeconfigs_private_directories_0700(generated):
    state = generated["ha"].state
    for path in [state, *state.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.is_dir():
            assert mode == 0o700, path
        elif path.suffix in (".key", ".kubeconfig") or path.name == "encryption-config.yaml":
            assert mode == 0o600, path
        else:
            assert path.suffix in (".crt", ".pub") and mode == 0o644, path


def test_renewal_with_an_injected_clock_reissues_only_expiring_certificates(ha: Lab):
    before = ha.snapshot()
    assert generate(ha.inventory, ha.state, now=NOW + timedelta(days=330)) == []  # 35 days left: kept

    later = NOW + timedelta(days=340)  # 25 days left: within the 30-day threshold
    changes = generate(ha.inventory, ha.state, now=later)
    reissued = {c.path for c in changes if c.action == "reissued"}
    assert len(reissued) == LEAVES_WITH_A_YEAR
    assert all("expires in 25 days" in c.reason for c in changes if c.action == "reissued")
    assert "pki/ca.crt" not in reissued and "pki/etcd/ca.crt" not in reissued
    files = changed(before, ha.snapshot())
    assert "pki/ca.crt" not in files and "pki/ca.key" not in files and "pki/sa.key" not in files
    assert "pki/encryption-config.yaml" not in files
    cert = x509.load_pem_x509_certificate((ha.pki / "admin.crt").read_bytes())
    assert cert.not_valid_after_utc == later + timedelta(days=365)
    # the kubeconfigs embed the new certificates
    assert {c.path for c in changes if c.path.startswith("kubeconfigs/")} == {
        f"kubeconfigs/{p.name}" for p in (ha.state / "kubeconfigs").iterdir()}
    assert generate(ha.inventory, ha.state, now=later) == []


def test_an_expired_certificate_is_reissued(ha: Lab):
    changes = generate(ha.inventory, ha.state, now=NOW + timedelta(days=400))
    assert any(c.path == "pki/apiserver.crt" and "expired" in c.reason for c in changes)


def test_adding_a_master_reissues_the_apiserver_cert_and_adds_its_own(ha: Lab, tmp_path):
    def add_master(doc):
        doc["hosts"]["master-4"] = {"address": "192.168.77.14"}
        doc["groups"]["masters"]["hosts"].append("master-4")

    inventory = load_inventory(write_inventory(tmp_path, add_master))
    before = ha.snapshot()
    changes = {c.path: c for c in generate(inventory, ha.state, now=NOW)}
    assert set(changes) == {
        "pki/apiserver.crt",
        "pki/etcd/master-4-server.crt", "pki/etcd/master-4-peer.crt", "pki/kubelet-master-4.crt",
        "kubeconfigs/kubelet-master-4.kubeconfig",
    }
    assert changes["pki/apiserver.crt"].action == "reissued"
    assert changes["pki/apiserver.crt"].reason == (
        "DNS SANs differ from the inventory: missing master-4; "
        "IP SANs differ from the inventory: missing 192.168.77.14, 192.168.56.14")
    san = x509.load_pem_x509_certificate((ha.pki / "apiserver.crt").read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert "192.168.77.14" in {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    # everything else is byte for byte what it was
    assert changed(before, ha.snapshot()) == {
        "pki/apiserver.crt", "pki/apiserver.key",
        "pki/etcd/master-4-server.crt", "pki/etcd/master-4-server.key",
        "pki/etcd/master-4-peer.crt", "pki/etcd/master-4-peer.key",
        "pki/kubelet-master-4.crt", "pki/kubelet-master-4.key", "kubeconfigs/kubelet-master-4.kubeconfig",
    }
    assert generate(inventory, ha.state, now=NOW) == []


def test_moving_a_worker_reissues_its_kubelet_cert_only(ha: Lab, tmp_path):
    inventory = load_inventory(write_inventory(tmp_path, lambda d: d["hosts"]["worker-2"].update(address="192.168.77.23")))
    changes = generate(inventory, ha.state, now=NOW)
    assert [(c.path, c.action) for c in changes] == [
        ("pki/kubelet-worker-2.crt", "reissued"), ("kubeconfigs/kubelet-worker-2.kubeconfig", "written")]
    assert "missing 192.168.77.23" in changes[0].reason and "extra 192.168.77.22" in changes[0].reason


def test_moving_the_load_balancer_changes_endpoints_and_apiserver_sans(ha: Lab, tmp_path):
    inventory = load_inventory(write_inventory(tmp_path, lambda d: d["hosts"]["lb-1"].update(address="192.168.77.9")))
    changes = {c.path for c in generate(inventory, ha.state, now=NOW)}
    assert "pki/apiserver.crt" in changes and "kubeconfigs/admin.kubeconfig" in changes
    assert "kubeconfigs/kube-scheduler.kubeconfig" not in changes  # on the masters: 127.0.0.1
    assert "pki/admin.crt" not in changes
    admin = yaml.safe_load((ha.state / "kubeconfigs/admin.kubeconfig").read_text())
    assert admin["clusters"][0]["cluster"]["server"] == "https://192.168.77.9:6443"


def test_a_key_that_does_not_match_its_certificate_is_reissued(ha: Lab):
    shutil.copy(ha.pki / "kube-proxy.key", ha.pki / "admin.key")
    changes = generate(ha.inventory, ha.state, now=NOW)
    assert [c.path for c in changes][:1] == ["pki/admin.crt"]
    assert "private key does not match" in changes[0].reason


def test_a_missing_certificate_is_issued_again(ha: Lab):
    (ha.pki / "kube-scheduler.crt").unlink()
    changes = generate(ha.inventory, ha.state, now=NOW)
    assert [(c.path, c.action) for c in changes] == [
        ("pki/kube-scheduler.crt", "created"), ("kubeconfigs/kube-scheduler.kubeconfig", "written")]


def test_a_new_ca_reissues_everything_it_signed(ha: Lab):
    for name in ("ca.crt", "ca.key"):
        (ha.pki / "etcd" / name).unlink()
    changes = {c.path: c.reason for c in generate(ha.inventory, ha.state, now=NOW)}
    etcd_signed = {"pki/apiserver-etcd-client.crt", "pki/etcd/healthcheck-client.crt"} | {
        f"pki/etcd/master-{i}-{k}.crt" for i in (1, 2, 3) for k in ("server", "peer")}
    assert set(changes) == {"pki/etcd/ca.crt"} | etcd_signed
    assert all("not signed by the current etcd/ca" in changes[p] for p in etcd_signed)


def test_service_account_pair_and_encryption_config(generated):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    import base64

    pki = generated["ha"].pki
    key = serialization.load_pem_private_key((pki / "sa.key").read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    pub = serialization.load_pem_public_key((pki / "sa.pub").read_bytes())
    assert pub.public_numbers() == key.public_key().public_numbers()
    config = yaml.safe_load((pki / "encryption-config.yaml").read_text())
    assert config["kind"] == "EncryptionConfiguration" and config["apiVersion"] == "apiserver.config.k8s.io/v1"
    assert config["resources"][0]["resources"] == ["secrets"]
    aescbc, identity = config["resources"][0]["providers"]
    assert identity == {"identity": {}}
    assert len(base64.b64decode(aescbc["aescbc"]["keys"][0]["secret"])) == 32
    other = yaml.safe_load((generated["single"].pki / "encryption-config.yaml").read_text())
    assert other["resources"][0]["providers"][0] != aescbc  # a fresh random key per lab


def test_a_missing_sa_pub_is_rewritten_from_the_key(ha: Lab):
    before = (ha.pki / "sa.pub").read_bytes()
    (ha.pki / "sa.pub").unlink()
    changes = generate(ha.inventory, ha.state, now=NOW)
    assert [(c.path, c.action) for c in changes] == [("pki/sa.key", "rewritten")]
    assert (ha.pki / "sa.pub").read_bytes() == before


# --- bad input: a clear error, and nothing written -------------------------------------------

@pytest.mark.parametrize("victim,content,expect", [
    ("apiserver.crt", b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", "is not a PEM certificate"),
    ("kubelet-worker-1.key", b"garbage", "is not an unencrypted PEM private key"),
    ("etcd/ca.key", b"", "is not an unencrypted PEM private key"),
    ("sa.key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "is not an unencrypted PEM private key"),
])
def test_a_corrupt_file_is_an_error_naming_it_and_nothing_is_written(ha: Lab, victim, content, expect):
    (ha.pki / victim).write_bytes(content)
    (ha.pki / "admin.crt").unlink()  # something that would be issued, were the run to go ahead
    before = ha.snapshot()
    with pytest.raises(PkiError) as err:
        generate(ha.inventory, ha.state, now=NOW)
    assert str(ha.pki / victim) in str(err.value) and expect in str(err.value)
    assert ha.snapshot() == before


def test_a_corrupt_encryption_config_is_kept_and_named(ha: Lab):
    (ha.pki / "encryption-config.yaml").write_text("kind: EncryptionConfiguration\n")
    before = ha.snapshot()
    with pytest.raises(PkiError, match="encryption-config.yaml: .*not an EncryptionConfiguration"):
        generate(ha.inventory, ha.state, now=NOW)
    assert ha.snapshot() == before


def test_half_a_ca_is_an_error(ha: Lab):
    (ha.pki / "ca.key").unlink()
    before = ha.snapshot()
    with pytest.raises(PkiError, match=r"ca\.key is missing but .*ca\.crt exists"):
        generate(ha.inventory, ha.state, now=NOW)
    assert ha.snapshot() == before


def test_a_ca_key_of_another_ca_is_an_error(ha: Lab):
    shutil.copy(ha.pki / "etcd/ca.key", ha.pki / "ca.key")
    with pytest.raises(PkiError, match=r"ca\.key does not belong to .*ca\.crt"):
        generate(ha.inventory, ha.state, now=NOW)


def test_an_unwritable_state_directory_is_an_error_and_nothing_is_written(tmp_path, generated):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the state directory should go\n")
    with pytest.raises(PkiError, match=r"cannot write to the state directory .*not-a-directory/ha"):
        generate(generated["ha"].inventory, blocker / "ha", now=NOW)
    assert blocker.read_text() == "a file where the state directory should go\n"


def test_a_directory_the_user_may_not_write_is_an_error(tmp_path):
    """A real permission error: the run is made as `nobody` when the tests run as root (root writes anywhere)."""
    import tempfile

    as_user: list[str] = []
    base = tmp_path
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.fail("setpriv (util-linux) is needed to run as nobody")
        as_user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        base = Path(tempfile.mkdtemp(prefix="labkit-pki-ro-"))  # tmp_path's parents are closed to nobody
        base.chmod(0o755)
    try:
        (base / "labkit").mkdir(mode=0o755)  # owned by us, read-only for the user running generate
        result = subprocess.run(
            [*as_user, str(REPO / ".venv/bin/invoke"), "pki.generate", "--lab", "single"],
            cwd=REPO, capture_output=True, text=True, timeout=120,
            env={"PATH": os.environ["PATH"], "LABKIT_HOME": str(base / "labkit"), "HOME": str(base),
                 "PYTHONDONTWRITEBYTECODE": "1"})
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"cannot write to the state directory {base / 'labkit' / 'single'}: Permission denied" in result.stderr
        assert "nothing was written" in result.stderr
        assert list((base / "labkit").iterdir()) == []
    finally:
        if base != tmp_path:
            shutil.rmtree(base)


def test_an_inventory_with_two_hosts_on_one_address_is_refused(tmp_path):
    path = write_inventory(tmp_path, lambda d: d["hosts"].update({"worker-3": {"address": "192.168.77.22", "port": 2222}}))
    inventory = load_inventory(path)  # the loader allows it (another SSH port) ...
    with pytest.raises(PkiError, match=r"ha.yaml:\d+: host worker-3 has address 192.168.77.22, already used by host worker-2"):
        generate(inventory, tmp_path / "state", now=NOW)  # ... certificates cannot
    assert not (tmp_path / "state").exists()


def test_an_inventory_with_a_duplicate_host_name_is_refused_by_the_loader(tmp_path):
    text = (REPO / "inventory/ha.yaml").read_text().replace(
        "  worker-2: {address: 192.168.77.22", "  worker-1: {address: 192.168.77.23, vars: {}}\n  worker-2: {address: 192.168.77.22")
    path = tmp_path / "ha.yaml"
    path.write_text(text)
    with pytest.raises(InventoryError, match="worker-1"):
        load_inventory(path)


def test_an_inventory_without_masters_is_refused(tmp_path):
    def no_masters(doc):
        doc["groups"]["masters"]["hosts"] = []
    with pytest.raises(PkiError, match="no hosts in a 'masters' group"):
        generate(load_inventory(write_inventory(tmp_path, no_masters)), tmp_path / "state", now=NOW)
    assert not (tmp_path / "state").exists()


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    from labkit.pki.state import write_atomic

    target = tmp_path / "admin.kubeconfig"
    target.mkdir()  # something that cannot be replaced by a file
    (target / "keep").write_text("kept")
    with pytest.raises(PkiError, match=f"cannot write {target}"):
        write_atomic(target, b"new", 0o600)
    assert (target / "keep").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["admin.kubeconfig"]


def test_removing_a_master_removes_its_files_and_its_sans(ha: Lab, tmp_path):
    from labkit.pki.check import check

    def drop_master_3(doc):
        del doc["hosts"]["master-3"]
        doc["groups"]["masters"]["hosts"].remove("master-3")

    inventory = load_inventory(write_inventory(tmp_path, drop_master_3))
    leftovers = {row.name for row in check(inventory, ha.state, now=NOW) if row.kind == "leftover"}
    assert leftovers == {"pki/etcd/master-3-server.crt", "pki/etcd/master-3-server.key", "pki/etcd/master-3-peer.crt",
                         "pki/etcd/master-3-peer.key", "pki/kubelet-master-3.crt", "pki/kubelet-master-3.key",
                         "kubeconfigs/kubelet-master-3.kubeconfig"}
    before = ha.snapshot()
    changes = generate(inventory, ha.state, now=NOW)
    assert {c.path for c in changes if c.action == "removed"} == leftovers
    assert [(c.path, c.action) for c in changes if c.action != "removed"] == [("pki/apiserver.crt", "reissued")]
    assert "extra master-3" in changes[0].reason
    assert changed(before, ha.snapshot()) == leftovers | {"pki/apiserver.crt", "pki/apiserver.key"}
    assert not [row for row in check(inventory, ha.state, now=NOW) if row.problems]
    assert generate(inventory, ha.state, now=NOW) == []
