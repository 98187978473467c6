"""Every certificate of the ha and single labs is what upstream expects, and verifies against its CA.

The expected tables are written out here, independently of labkit.pki.identities:
subject (CN, O), the signing CA, key usages and SANs per certificate, and the
server each kubeconfig points at.
"""

from __future__ import annotations

import base64
import subprocess

import pytest
import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SVC = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"]


def ips(*last: int) -> list[str]:
    """A host's address on the nspawn network and the same host number on the Vagrant network."""
    return [f"{net}.{n}" for n in last for net in ("192.168.77", "192.168.56")]


def row(ca, cn, orgs, usages, dns=(), ip=(), server=None):
    return {"ca": ca, "cn": cn, "o": sorted(orgs), "usages": set(usages), "dns": set(dns), "ips": set(ip),
            "server": server}


def expected(masters: dict[str, int], workers: dict[str, int], lb: dict[str, int]) -> dict[str, dict]:
    front = f"https://192.168.77.{next(iter((lb or masters).values()))}:6443"
    local = "https://127.0.0.1:6443"
    table = {
        "apiserver": row("ca", "kube-apiserver", [], ["server"], SVC + list(masters) + list(lb),
                         ["10.32.0.1", "127.0.0.1"] + ips(*masters.values(), *lb.values())),
        "apiserver-kubelet-client": row("ca", "kube-apiserver-kubelet-client", ["system:masters"], ["client"]),
        "apiserver-etcd-client": row("etcd/ca", "kube-apiserver-etcd-client", [], ["client"]),
        "etcd/healthcheck-client": row("etcd/ca", "kube-etcd-healthcheck-client", [], ["client"]),
        "admin": row("ca", "admin", ["system:masters"], ["client"], server=front),
        "kube-controller-manager": row("ca", "system:kube-controller-manager", [], ["client"], server=local),
        "kube-scheduler": row("ca", "system:kube-scheduler", [], ["client"], server=local),
        "kube-proxy": row("ca", "system:kube-proxy", [], ["client"], server=front),
    }
    for name, n in masters.items():
        for kind in ("server", "peer"):
            table[f"etcd/{name}-{kind}"] = row("etcd/ca", name, [], ["server", "client"], [name, "localhost"],
                                               ips(n) + ["127.0.0.1"])
    for name, n in {**masters, **workers}.items():
        table[f"kubelet-{name}"] = row("ca", f"system:node:{name}", ["system:nodes"], ["server", "client"],
                                       [name], ips(n), server=front)
    return table


EXPECTED = {
    "ha": expected({"master-1": 11, "master-2": 12, "master-3": 13}, {"worker-1": 21, "worker-2": 22},
                   {"lb-1": 10}),
    "single": expected({"master-1": 11}, {"worker-1": 21}, {}),
}
CASES = [(lab, name) for lab, table in EXPECTED.items() for name in table]
USAGE = {"server": ExtendedKeyUsageOID.SERVER_AUTH, "client": ExtendedKeyUsageOID.CLIENT_AUTH}
OPENSSL_PURPOSE = {"server": "sslserver", "client": "sslclient"}


def load(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.mark.parametrize("lab", EXPECTED)
def test_the_lab_has_exactly_the_expected_certificates(generated, lab):
    pki = generated[lab].pki
    found = {str(p.relative_to(pki))[:-4] for p in pki.rglob("*.crt")}
    assert found == set(EXPECTED[lab]) | {"ca", "etcd/ca"}
    assert {p.stem for p in pki.rglob("*.key")} >= {p.stem for p in pki.rglob("*.crt")}


@pytest.mark.parametrize("lab,name", CASES)
def test_certificate_matches_the_expected_identity(generated, lab, name):
    want = EXPECTED[lab][name]
    cert = load(generated[lab].pki / f"{name}.crt")
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == want["cn"]
    assert sorted(a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)) == want["o"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {USAGE[u] for u in want["usages"]}
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns, addresses = set(san.get_values_for_type(x509.DNSName)), {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    except x509.ExtensionNotFound:
        dns, addresses = set(), set()
    assert dns == want["dns"]
    assert addresses == want["ips"]


@pytest.mark.parametrize("lab,name", CASES)
def test_certificate_is_signed_by_its_ca_and_not_the_other(generated, lab, name):
    pki = generated[lab].pki
    cert = load(pki / f"{name}.crt")
    ca_name = EXPECTED[lab][name]["ca"]
    other = "etcd/ca" if ca_name == "ca" else "ca"
    cert.verify_directly_issued_by(load(pki / f"{ca_name}.crt"))
    with pytest.raises((ValueError, InvalidSignature)):
        cert.verify_directly_issued_by(load(pki / f"{other}.crt"))


@pytest.mark.parametrize("lab", EXPECTED)
def test_openssl_verifies_every_certificate_for_its_purpose(generated, lab):
    pki = generated[lab].pki
    for name, want in EXPECTED[lab].items():
        for usage in ("server", "client"):
            result = subprocess.run(
                ["openssl", "verify", "-x509_strict", "-purpose", OPENSSL_PURPOSE[usage],
                 "-CAfile", str(pki / f"{want['ca']}.crt"), str(pki / f"{name}.crt")],
                capture_output=True, text=True)
            if usage in want["usages"]:
                assert result.returncode == 0, f"{name} as {usage}: {result.stdout}{result.stderr}"
            else:  # a client certificate must not serve TLS and the other way round
                assert result.returncode != 0, f"{name} verified as {usage}"
        wrong_ca = "etcd/ca" if want["ca"] == "ca" else "ca"
        result = subprocess.run(["openssl", "verify", "-CAfile", str(pki / f"{wrong_ca}.crt"), str(pki / f"{name}.crt")],
                                capture_output=True, text=True)
        assert result.returncode != 0, f"{name} verified against {wrong_ca}"


@pytest.mark.parametrize("lab", EXPECTED)
def test_cas_are_self_signed_ca_certificates(generated, lab):
    for name, cn in (("ca", "kubernetes"), ("etcd/ca", "etcd-ca")):
        cert = load(generated[lab].pki / f"{name}.crt")
        assert cert.subject == cert.issuer
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == cn
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
        cert.verify_directly_issued_by(cert)
        result = subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile", str(generated[lab].pki / f"{name}.crt"),
                                 str(generated[lab].pki / f"{name}.crt")], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("lab,name", [(lab, name) for lab, t in EXPECTED.items() for name, r in t.items() if r["server"]])
def test_kubeconfig_embeds_the_certificate_and_points_at_the_right_endpoint(generated, lab, name):
    state = generated[lab].state
    doc = yaml.safe_load((state / "kubeconfigs" / f"{name}.kubeconfig").read_text())
    want = EXPECTED[lab][name]
    context = next(c for c in doc["contexts"] if c["name"] == doc["current-context"])["context"]
    cluster = next(c for c in doc["clusters"] if c["name"] == context["cluster"])["cluster"]
    user = next(u for u in doc["users"] if u["name"] == context["user"])["user"]
    assert doc["current-context"] == f"labkit-{lab}" == context["cluster"]
    assert context["user"] == (f"labkit-{lab}" if name == "admin" else want["cn"])
    assert cluster["server"] == want["server"]
    assert base64.b64decode(cluster["certificate-authority-data"]) == (state / "pki/ca.crt").read_bytes()
    assert base64.b64decode(user["client-certificate-data"]) == (state / f"pki/{name}.crt").read_bytes()
    assert base64.b64decode(user["client-key-data"]) == (state / f"pki/{name}.key").read_bytes()


@pytest.mark.parametrize("lab", EXPECTED)
def test_kubeconfigs_exist_only_for_the_admin_and_components(generated, lab):
    found = {p.name for p in (generated[lab].state / "kubeconfigs").iterdir()}
    assert found == {f"{name}.kubeconfig" for name, r in EXPECTED[lab].items() if r["server"]}
