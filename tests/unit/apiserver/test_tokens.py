"""Service-account JWTs (labkit/apiserver/auth/tokens.py) and the static token file, as data.

Signatures are also checked by an independent judge: the openssl command
line verifies what we sign (RS256 with labkit.pki's sa.key, ES256 with an EC key).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.apiserver.auth import tokens
from labkit.apiserver.auth.authn import InvalidCredentials, TokenFile, X509Authenticator
from labkit.pki import serviceaccount

CLAIMS = {"iss": "https://kubernetes.default.svc.cluster.local", "sub": "system:serviceaccount:web:robot",
          "aud": ["https://kubernetes.default.svc.cluster.local"], "exp": 2_000_000_000, "iat": 1_700_000_000}


@pytest.fixture(scope="module")
def sa_key(tmp_path_factory):
    """The service-account key pair exactly as labkit.pki makes it (RSA 2048, sa.key + sa.pub)."""
    pki = tmp_path_factory.mktemp("pki")
    serviceaccount.ensure(pki)
    return pki


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def test_rs256_round_trip_with_the_pki_key(sa_key):
    private = tokens.load_signing_key(sa_key / "sa.key")
    public = tokens.load_public_keys(sa_key / "sa.pub")
    token = tokens.sign(CLAIMS, private)
    header = tokens.parse(token).header
    assert header == {"alg": "RS256", "kid": tokens.key_id(private.public_key())}
    assert tokens.verify(token, public) == CLAIMS


def test_es256_round_trip(ec_key):
    token = tokens.sign(CLAIMS, ec_key)
    jws = tokens.parse(token)
    assert jws.header["alg"] == "ES256"
    assert len(jws.signature) == 64  # JWS r||s, not DER
    assert tokens.verify(token, [ec_key.public_key()]) == CLAIMS


@pytest.mark.parametrize("curve,alg,size", [(ec.SECP384R1(), "ES384", 96), (ec.SECP521R1(), "ES512", 132)])
def test_other_ec_curves(curve, alg, size):
    key = ec.generate_private_key(curve)
    token = tokens.sign(CLAIMS, key)
    assert tokens.parse(token).header["alg"] == alg and len(tokens.parse(token).signature) == size
    assert tokens.verify(token, [key.public_key()]) == CLAIMS


def test_kid_is_upstreams_sha256_of_the_der_public_key(sa_key):
    public = tokens.load_public_keys(sa_key / "sa.pub")[0]
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert tokens.key_id(public) == base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")
def test_openssl_verifies_our_rs256_and_es256_signatures(sa_key, ec_key, tmp_path):
    ec_pub = tmp_path / "ec.pub"
    ec_pub.write_bytes(ec_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo))
    for key, pub in ((tokens.load_signing_key(sa_key / "sa.key"), sa_key / "sa.pub"), (ec_key, ec_pub)):
        token = tokens.sign(CLAIMS, key)
        jws = tokens.parse(token)
        signature = jws.signature
        if isinstance(key, ec.EllipticCurvePrivateKey):  # openssl wants DER for ECDSA
            signature = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                             int.from_bytes(signature[32:], "big"))
        (tmp_path / "input").write_bytes(jws.signing_input)
        (tmp_path / "sig").write_bytes(signature)
        result = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(pub), "-signature",
                                 str(tmp_path / "sig"), str(tmp_path / "input")], capture_output=True, text=True)
        assert result.returncode == 0 and "Verified OK" in result.stdout, result.stderr


def test_public_keys_from_a_certificate_a_private_key_and_several_blocks(sa_key, tmp_path):
    """--service-account-key-file may hold public keys, private keys and certificates (as upstream)."""
    from datetime import datetime, timezone

    from labkit.pki.ca import cert_pem, new_ca

    ca = new_ca("ca", "kubernetes", datetime.now(timezone.utc))
    bundle = tmp_path / "keys.pem"
    bundle.write_bytes((sa_key / "sa.pub").read_bytes() + (sa_key / "sa.key").read_bytes() + cert_pem(ca.cert))
    keys = tokens.load_public_keys(bundle)
    assert len(keys) == 3
    assert [tokens.algorithm_of(k) for k in keys] == ["RS256", "RS256", "ES256"]
    token = tokens.sign(CLAIMS, tokens.load_signing_key(sa_key / "sa.key"))
    assert tokens.verify(token, keys) == CLAIMS
    assert tokens.verify(tokens.sign(CLAIMS, ca.key), keys) == CLAIMS


def test_a_file_without_keys_is_refused_with_its_name(tmp_path):
    empty = tmp_path / "nothing.pem"
    empty.write_text("hello\n")
    with pytest.raises(ValueError, match="nothing.pem: no public key found"):
        tokens.load_public_keys(empty)
    with pytest.raises(ValueError, match="nothing.pem: not a PEM private key"):
        tokens.load_signing_key(empty)


def test_tampering_and_foreign_keys_are_refused(sa_key, ec_key):
    private = tokens.load_signing_key(sa_key / "sa.key")
    public = tokens.load_public_keys(sa_key / "sa.pub")
    token = tokens.sign(CLAIMS, private)
    header, payload, signature = token.split(".")
    forged = tokens.b64url_encode(json.dumps(dict(CLAIMS, sub="system:serviceaccount:kube-system:admin")).encode())
    cases = {
        "claims changed": f"{header}.{forged}.{signature}",
        "signature changed": f"{header}.{payload}.{signature[:-6]}AAAAAA",
        "signed by another RSA key": tokens.sign(CLAIMS, rsa.generate_private_key(public_exponent=65537,
                                                                                  key_size=2048)),
        "signed by an EC key": tokens.sign(CLAIMS, ec_key),
        "alg none": tokens.b64url_encode(b'{"alg":"none"}') + f".{payload}.",
        "alg HS256 with the public key as secret": tokens.b64url_encode(b'{"alg":"HS256"}') + f".{payload}.x",
        "two parts": f"{header}.{payload}",
        "not base64": f"{header}.{payload}.!!!",
        "claims not JSON": f"{header}.{tokens.b64url_encode(b'nope')}.{signature}",
        "claims a list": f"{header}.{tokens.b64url_encode(b'[1]')}.{signature}",
    }
    for what, bad in cases.items():
        with pytest.raises(tokens.TokenError):
            tokens.verify(bad, public)
            pytest.fail(what)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_string_is_a_token_error_never_a_crash(ec_key, text):
    with pytest.raises(tokens.TokenError):
        tokens.verify(text, [ec_key.public_key()])


# -- the static token file -------------------------------------------------------------

def test_token_file_lines(tmp_path):
    path = tmp_path / "tokens.csv"
    path.write_text('# comment\n\nt1,alice,1001,"dev,qa"\nt2,bob,1002\nt3,carol,,ops\n')
    users = TokenFile.load(path).users
    assert {t: (u.name, u.uid, u.groups) for t, u in users.items()} == {
        "t1": ("alice", "1001", ("dev", "qa")), "t2": ("bob", "1002", ()), "t3": ("carol", "", ("ops",))}
    assert TokenFile.load(path).authenticate_token("t2").name == "bob"
    assert TokenFile.load(path).authenticate_token("t4") is None


@pytest.mark.parametrize("text,message", [
    ("t1,alice\n", "line 1: at least 3 columns are needed (token, user name, user uid), found 2"),
    ("t1,alice,1\nt1,bob,2\n", "line 2: this token is already on an earlier line"),
    (",alice,1\n", "line 1: the token and the user name must not be empty"),
])
def test_token_file_errors_name_the_line(tmp_path, text, message):
    path = tmp_path / "tokens.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TokenFile.load(path)


# -- client certificates: verified by the x509 authenticator, not by the TLS handshake (see tls.py) --------

@pytest.fixture(scope="module")
def client_ca(tmp_path_factory):
    """A lab CA as labkit.pki makes it, its ca.crt on disk (--client-ca-file), and an issuer of leaves."""
    from datetime import datetime, timezone

    from labkit.pki.ca import new_ca

    pki = tmp_path_factory.mktemp("client-ca")
    ca = new_ca("ca", "labkit-ca", datetime.now(timezone.utc))
    ca.save(pki)
    return ca, pki / "ca.crt"


def leaf(ca, cn="system:node:worker-1", orgs=("system:nodes", "ops"), usages=("client",), days_ago=0):
    """DER of a certificate labkit.pki issues for an identity, as of ``days_ago`` days back (valid a year)."""
    from datetime import datetime, timedelta, timezone

    from labkit.pki.identities import CLUSTER_CA, Identity
    from labkit.pki.issue import issue

    when = datetime.now(timezone.utc) - timedelta(days=days_ago)
    pair = issue(Identity("x", CLUSTER_CA, cn, tuple(orgs), tuple(usages), (), (), None, "test"), ca, when)
    return pair.cert.public_bytes(serialization.Encoding.DER)


def test_a_client_certificate_of_the_ca_is_its_cn_and_o(client_ca):
    ca, ca_file = client_ca
    user = X509Authenticator(ca_file).verify(leaf(ca))
    assert (user.name, user.groups) == ("system:node:worker-1", ("system:nodes", "ops"))
    assert X509Authenticator(ca_file).verify(leaf(ca, usages=("server", "client"))).name == "system:node:worker-1"


def test_a_certificate_without_extended_key_usage_is_good_for_clients_as_in_go(client_ca):
    """Go's x509 (upstream's verifier) reads no extended key usage as any usage; so does labkit's."""
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    from labkit.pki.ca import new_key

    ca, ca_file = client_ca
    now = datetime.now(timezone.utc)
    key = new_key()
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "plain")]))
            .issuer_name(ca.cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
            .sign(ca.key, hashes.SHA256()))
    assert X509Authenticator(ca_file).verify(cert.public_bytes(serialization.Encoding.DER)).name == "plain"


@pytest.mark.parametrize("case,reason", [
    ("impostor", "signature does not match"),  # another CA of the same name signed it
    ("stranger", "candidates exhausted"),  # another CA signed it
    ("expired", "cert is not valid at validation time"),
    ("server-only", "required EKU not found"),
])
def test_a_bad_client_certificate_is_invalid_credentials(client_ca, case, reason):
    from datetime import datetime, timezone

    from labkit.pki.ca import new_ca

    ca, ca_file = client_ca
    der = {"impostor": lambda: leaf(new_ca("other", "labkit-ca", datetime.now(timezone.utc))),
           "stranger": lambda: leaf(new_ca("other", "someone-else", datetime.now(timezone.utc))),
           "expired": lambda: leaf(ca, days_ago=400),
           "server-only": lambda: leaf(ca, usages=("server",))}[case]()
    with pytest.raises(InvalidCredentials, match=reason):
        X509Authenticator(ca_file).verify(der)


def test_a_verified_certificate_is_remembered_but_its_window_still_counts(client_ca):
    import time

    from cryptography import x509

    ca, ca_file = client_ca
    der = leaf(ca)
    authenticator = X509Authenticator(ca_file)
    assert authenticator.verify(der).name == "system:node:worker-1"
    assert len(authenticator.verified) == 1
    not_after = x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()
    with pytest.raises(InvalidCredentials, match="not valid at validation time"):
        authenticator.verify(der, now=not_after + 1)  # the remembered answer is not used past the window
    with pytest.raises(InvalidCredentials, match="not valid at validation time"):
        authenticator.verify(der, now=time.time() - 3 * 86400)  # not yet valid: before its notBefore
    with pytest.raises(InvalidCredentials, match="unreadable"):
        authenticator.verify(b"not a certificate")


def handshake(server: "ssl.SSLObject", client: "ssl.SSLObject", wires) -> None:
    """Drive a TLS handshake between two in-memory ends; a refusal raises ssl.SSLError."""
    import ssl

    server_in, server_out, client_in, client_out = wires
    done = {server: False, client: False}
    for _ in range(20):
        for end in (client, server):
            if not done[end]:
                try:
                    end.do_handshake()
                    done[end] = True
                except ssl.SSLWantReadError:
                    pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
        if all(done.values()):
            return
    raise AssertionError("the handshake did not finish")


@pytest.mark.parametrize("stranger", [False, True])
def test_the_secure_port_asks_for_a_certificate_and_leaves_judging_it_to_the_authenticator(
        client_ca, tmp_path, stranger):
    """labkit.apiserver.tls.server_context: any client certificate completes the handshake (its key is still
    proven by TLS), the server sees it as sent, and only the x509 authenticator decides: a stranger is refused."""
    import ssl
    from datetime import datetime, timezone

    from labkit.apiserver import tls
    from labkit.pki.ca import new_ca
    from labkit.pki.identities import CLUSTER_CA, Identity
    from labkit.pki.issue import issue

    ca, ca_file = client_ca
    now = datetime.now(timezone.utc)
    issue(Identity("serving", CLUSTER_CA, "kube-apiserver", (), ("server",), ("localhost",), (), None, "t"),
          ca, now).save(tmp_path)
    signer = new_ca("other", "labkit-ca", now) if stranger else ca
    issue(Identity("client", CLUSTER_CA, "admin", ("system:masters",), ("client",), (), (), None, "t"),
          signer, now).save(tmp_path)

    server_ctx = tls.server_context(tmp_path / "serving.crt", tmp_path / "serving.key", ca_file)
    assert server_ctx.verify_mode == ssl.CERT_OPTIONAL
    client_ctx = ssl.create_default_context(cafile=str(ca_file))
    client_ctx.load_cert_chain(str(tmp_path / "client.crt"), str(tmp_path / "client.key"))
    wires = [ssl.MemoryBIO() for _ in range(4)]
    server = server_ctx.wrap_bio(wires[0], wires[1], server_side=True)
    client = client_ctx.wrap_bio(wires[2], wires[3], server_hostname="localhost")
    handshake(server, client, wires)

    der = server.getpeercert(binary_form=True)
    assert der == ssl.PEM_cert_to_DER_cert((tmp_path / "client.crt").read_text())
    if stranger:
        with pytest.raises(InvalidCredentials, match="signature does not match"):
            X509Authenticator(ca_file).verify(der)
    else:
        assert X509Authenticator(ca_file).verify(der).name == "admin"


def test_only_a_context_that_asks_for_certificates_is_hooked():
    import ssl

    from labkit.apiserver import tls

    assert tls.accept_any_client_certificate(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)) is False  # CERT_NONE


def test_a_bad_client_ca_file_names_the_flag(tmp_path):
    (tmp_path / "ca.crt").write_text("nope")
    with pytest.raises(ValueError, match="--client-ca-file .*ca.crt"):
        X509Authenticator(tmp_path / "ca.crt")


# -- the token success cache (upstream's TokenSuccessCacheTTL: 10 s, failures never cached) -------

def test_token_cache_remembers_for_its_ttl_never_past_the_token():
    from labkit.apiserver.auth import UserInfo
    from labkit.apiserver.auth.authn import TokenCache

    cache = TokenCache(ttl=10, size=2)
    alice = UserInfo("alice")
    cache.put("t1", None, alice, ["api"], now=100.0)
    assert cache.get("t1", None, now=109.9) == (alice, ["api"])
    assert cache.get("t1", ["other"], now=101) is None  # another audience is another question
    assert cache.get("t1", None, now=110.0) is None  # forgotten after the TTL
    cache.put("t2", None, alice, ["api"], now=100.0, expires=103.0)
    assert cache.get("t2", None, now=102.9) is not None and cache.get("t2", None, now=103.0) is None
    for i, token in enumerate(("a", "b", "c")):
        cache.put(token, None, alice, [], now=200.0 + i)
    assert cache.get("a", None, now=203) is None and cache.get("c", None, now=203) is not None  # oldest out
    assert all(len(k[0]) == 32 for k in cache.entries)  # tokens are kept only as their SHA-256


# -- JSON Web Keys for issuer discovery -------------------------------------------------------

def test_jwks_rebuild_the_keys_that_verify_our_tokens(sa_key, ec_key):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from labkit.apiserver.auth.oidc import jwk, is_discoverable

    def number(key: dict, field: str) -> int:
        return int.from_bytes(tokens.b64url_decode(key[field]), "big")

    rsa_private = tokens.load_signing_key(sa_key / "sa.key")
    rsa_jwk = jwk(rsa_private.public_key())
    assert rsa_jwk["e"] == "AQAB" and rsa_jwk["kid"] == tokens.key_id(rsa_private.public_key())
    rebuilt = rsa.RSAPublicNumbers(number(rsa_jwk, "e"), number(rsa_jwk, "n")).public_key()
    jws = tokens.parse(tokens.sign(CLAIMS, rsa_private))
    rebuilt.verify(jws.signature, jws.signing_input, padding.PKCS1v15(), hashes.SHA256())

    ec_jwk = jwk(ec_key.public_key())
    assert (ec_jwk["kty"], ec_jwk["crv"], ec_jwk["alg"]) == ("EC", "P-256", "ES256")
    assert len(tokens.b64url_decode(ec_jwk["x"])) == len(tokens.b64url_decode(ec_jwk["y"])) == 32
    rebuilt_ec = ec.EllipticCurvePublicNumbers(number(ec_jwk, "x"), number(ec_jwk, "y"), ec.SECP256R1()).public_key()
    assert tokens.verify(tokens.sign(CLAIMS, ec_key), [rebuilt_ec]) == CLAIMS

    assert is_discoverable("https://kubernetes.default.svc.cluster.local")
    assert not is_discoverable("kubernetes/serviceaccount") and not is_discoverable("http://insecure.example")
