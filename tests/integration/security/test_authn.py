"""Authentication on the secure port, judged by the real kubectl and the official Python client.

One secure apiserver per module (tests/integration/security/conftest.py):
TLS with labkit.pki's apiserver certificate, client certificates of the lab
CA, service-account tokens signed with the lab's sa.key, a static token file,
the audit log on. Authorization is AlwaysAllow here: these tests are about
*who* a request is; what each user may do is RBAC's (test_rbac*).
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import kubernetes
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from kubernetes.client.rest import ApiException

from labkit.apiserver.auth import tokens
from labkit.apiserver.auth.tokenrequest import bound_claims
from tests.integration.security.secure_server import ISSUER, start_secure_apiserver

pytestmark = pytest.mark.integration


# -- helpers ------------------------------------------------------------------------

def https(server, path: str, *, token: str | None = None, cert: str | None = None, method: str = "GET",
          body: dict | None = None) -> tuple[int, dict | str, dict]:
    """(status, body, headers) of one request to the secure port, trusting only the lab CA."""
    ctx = ssl.create_default_context(cafile=str(server.lab.pki / "ca.crt"))
    if cert:
        ctx.load_cert_chain(str(server.lab.pki / f"{cert}.crt"), str(server.lab.pki / f"{cert}.key"))
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(server.url + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, context=ctx, timeout=30) as resp:
            status, raw, head = resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        status, raw, head = err.code, err.read(), dict(err.headers)
    text = raw.decode()
    try:
        return status, json.loads(text), head
    except ValueError:
        return status, text, head


def claims_of(token: str) -> dict:
    return tokens.parse(token).claims


def whoami(server, kubeconfig) -> dict:
    result = server.kubectl(kubeconfig, "auth", "whoami", "-o", "json")
    assert result.returncode == 0, result.stderr
    review = json.loads(result.stdout)
    assert review["kind"] == "SelfSubjectReview" and review["apiVersion"] == "authentication.k8s.io/v1"
    return review["status"]["userInfo"]


UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


def assert_unauthorized(server, token: str) -> None:
    status, body, _ = https(server, "/api/v1/namespaces", token=token)
    assert (status, body) == (401, UNAUTHORIZED)


def revoked(server, token: str, within: float = 30.0) -> None:
    """The token stops working: at once, or once the apiserver's 10-second success cache forgets it (as upstream)."""
    deadline = time.monotonic() + within
    while True:
        status, body, _ = https(server, "/api/v1/namespaces", token=token)
        if status == 401:
            assert body == UNAUTHORIZED
            return
        assert status == 200, body
        assert time.monotonic() < deadline, f"the token still works after {within:.0f}s"
        time.sleep(0.5)


@pytest.fixture
def namespace(secure_apiserver) -> str:
    """A namespace of this test's own, made through the insecure port (no credentials needed there)."""
    name = f"authn-{uuid.uuid4().hex[:8]}"
    core = kubernetes.client.CoreV1Api(secure_apiserver.insecure_client())
    core.create_namespace({"metadata": {"name": name}})
    return name


def make_service_account(server, namespace: str, name: str = "robot") -> dict:
    core = kubernetes.client.CoreV1Api(server.insecure_client())
    return core.create_namespaced_service_account(namespace, {"metadata": {"name": name}}).to_dict()


def lab_signing_key(server):
    return tokens.load_signing_key(server.lab.pki / "sa.key")


# -- client certificates -------------------------------------------------------------

def test_kubectl_as_admin_over_mutual_tls(secure_apiserver):
    config = secure_apiserver.kubeconfig("admin")
    result = secure_apiserver.kubectl(config, "get", "ns", "-o", "name")
    assert result.returncode == 0, result.stderr
    assert {"namespace/default", "namespace/kube-system", "namespace/kube-public",
            "namespace/kube-node-lease"} <= set(result.stdout.split())
    assert whoami(secure_apiserver, config) == {"username": "admin",
                                                "groups": ["system:masters", "system:authenticated"]}


@pytest.mark.parametrize("identity,user,groups", [
    ("kubelet-worker-1", "system:node:worker-1", ["system:nodes", "system:authenticated"]),
    ("kube-scheduler", "system:kube-scheduler", ["system:authenticated"]),
    ("kube-proxy", "system:kube-proxy", ["system:authenticated"]),
])
def test_each_generated_identity_is_its_certificates_cn_and_o(secure_apiserver, identity, user, groups):
    assert whoami(secure_apiserver, secure_apiserver.kubeconfig(identity)) == {"username": user, "groups": groups}


def test_python_client_with_the_admin_certificate(secure_apiserver):
    api = secure_apiserver.client("admin")
    names = {ns.metadata.name for ns in kubernetes.client.CoreV1Api(api).list_namespace().items}
    assert "kube-system" in names
    review = kubernetes.client.AuthenticationV1Api(api).create_self_subject_review(
        kubernetes.client.V1SelfSubjectReview())
    assert review.status.user_info.username == "admin"
    assert review.status.user_info.groups == ["system:masters", "system:authenticated"]


# A bad client certificate: the handshake only asks for it (tls.py), the x509 authenticator refuses it with
# upstream's 401, for the real kubectl, the Python client and a plain HTTPS client alike; nothing is written.

def stranger_pair(tmp_path: Path, common_name: str = "admin") -> tuple[Path, Path]:
    """admin/system:masters signed by a CA of another lab (labkit.pki's own CA code, a new key)."""
    from labkit.pki.ca import new_ca
    from labkit.pki.identities import CLUSTER_CA, Identity
    from labkit.pki.issue import issue

    other_ca = new_ca("ca", "labkit-ca", datetime.now(timezone.utc))  # same name as the lab's: only the key differs
    pair = issue(Identity("stranger", CLUSTER_CA, common_name, ("system:masters",), ("client",), (), (), None, "t"),
                 other_ca, datetime.now(timezone.utc))
    pair.save(tmp_path)
    return tmp_path / "stranger.crt", tmp_path / "stranger.key"


def lab_admin_pair(server, tmp_path: Path, issued: datetime, usages=("client",)) -> tuple[Path, Path]:
    """An admin/system:masters certificate of the lab's own CA, as if issued at ``issued`` (valid a year)."""
    from labkit.pki.ca import read_ca
    from labkit.pki.identities import CLUSTER_CA, Identity
    from labkit.pki.issue import issue

    pair = issue(Identity("lab-admin", CLUSTER_CA, "admin", ("system:masters",), tuple(usages), (), (), None, "t"),
                 read_ca(server.lab.pki, "ca"), issued)
    pair.save(tmp_path)
    return tmp_path / "lab-admin.crt", tmp_path / "lab-admin.key"


def cert_kubeconfig(server, cert: Path, key: Path) -> Path:
    config = server.kubeconfig("admin")
    doc = yaml.safe_load(config.read_text())
    doc["users"][0]["user"] = {"client-certificate": str(cert), "client-key": str(key)}
    config.write_text(yaml.safe_dump(doc))
    return config


def refused_with_401(server, cert: Path, key: Path, token: str | None = None) -> None:
    """Each client gets upstream's 401 for this certificate, and the create it tried wrote nothing."""
    name = f"written-{uuid.uuid4().hex[:6]}"
    result = server.kubectl(cert_kubeconfig(server, cert, key), "create", "namespace", name)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: You must be logged in to the server (Unauthorized)"
    result = server.kubectl(cert_kubeconfig(server, cert, key), "get", "pods", "-A")
    # a get starts with discovery: client-go words that 401 as it does against upstream
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == ("error: You must be logged in to the server "
                                                      "(the server has asked for the client to provide credentials)")

    config = kubernetes.client.Configuration()
    config.host, config.ssl_ca_cert = server.url, str(server.lab.pki / "ca.crt")
    config.cert_file, config.key_file = str(cert), str(key)
    with pytest.raises(ApiException) as refused:
        kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(config)).create_namespace({"metadata": {"name": name}})
    assert refused.value.status == 401 and json.loads(refused.value.body) == UNAUTHORIZED

    ctx = ssl.create_default_context(cafile=str(server.lab.pki / "ca.crt"))
    ctx.load_cert_chain(str(cert), str(key))
    request = urllib.request.Request(server.url + "/api/v1/namespaces", method="POST",
                                     data=json.dumps({"metadata": {"name": name}}).encode(),
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as plain:
        urllib.request.urlopen(request, context=ctx, timeout=30)
    assert plain.value.code == 401 and json.loads(plain.value.read()) == UNAUTHORIZED

    with pytest.raises(ApiException) as missing:
        kubernetes.client.CoreV1Api(server.insecure_client()).read_namespace(name)
    assert missing.value.status == 404


def test_a_certificate_from_another_ca_is_401(secure_apiserver, tmp_path):
    """admin/system:masters, but signed by a stranger: upstream's 401, never anonymous, nothing written."""
    before = len(audit_events(secure_apiserver))
    refused_with_401(secure_apiserver, *stranger_pair(tmp_path))
    refused = [e for e in audit_events(secure_apiserver)[before:] if e["responseStatus"]["code"] == 401]
    assert refused and all(e["user"] == {} or e["user"].get("username") != "admin" for e in refused)


def test_an_expired_certificate_of_the_lab_ca_is_401(secure_apiserver, tmp_path):
    long_ago = datetime.now(timezone.utc) - timedelta(days=800)  # valid a year from then: expired now
    cert, key = lab_admin_pair(secure_apiserver, tmp_path, long_ago)
    from labkit.pki.ca import load_certificate
    assert load_certificate(cert).not_valid_after_utc < datetime.now(timezone.utc)
    refused_with_401(secure_apiserver, cert, key)


def test_a_not_yet_valid_certificate_of_the_lab_ca_is_401(secure_apiserver, tmp_path):
    refused_with_401(secure_apiserver, *lab_admin_pair(secure_apiserver, tmp_path,
                                                       datetime.now(timezone.utc) + timedelta(days=2)))


def test_a_server_only_certificate_is_no_client_certificate(secure_apiserver):
    """apiserver.crt is signed by the lab CA but allows only serverAuth: it cannot log in (as upstream)."""
    pki = secure_apiserver.lab.pki
    refused_with_401(secure_apiserver, pki / "apiserver.crt", pki / "apiserver.key")


def test_a_good_token_still_authenticates_beside_a_bad_certificate(secure_apiserver, security_lab, tmp_path):
    """Upstream's authenticator union: a certificate that fails does not stop a valid bearer token."""
    cert, key = stranger_pair(tmp_path)
    config = cert_kubeconfig(secure_apiserver, cert, key)
    doc = yaml.safe_load(config.read_text())
    doc["users"][0]["user"]["token"] = security_lab.token_of("alice")
    config.write_text(yaml.safe_dump(doc))
    assert whoami(secure_apiserver, config)["username"] == "alice"


@pytest.mark.parametrize("flags,message", [
    (["--secure-port=1"], "--secure-port needs --tls-cert-file and --tls-private-key-file"),
    (["--tls-cert-file={pki}/apiserver.crt", "--tls-private-key-file={pki}/admin.key"],
     "--tls-cert-file {pki}/apiserver.crt / --tls-private-key-file {pki}/admin.key"),
    (["--client-ca-file={pki}/nope.crt"], "--client-ca-file {pki}/nope.crt"),
    (["--service-account-key-file={pki}/sa.pub"], "--service-account-issuer is required"),
    (["--service-account-signing-key-file={pki}/missing.key", "--service-account-issuer=x"],
     "{pki}/missing.key: No such file or directory"),
    (["--service-account-key-file={pki}/ca.key", "--service-account-key-file={pki}/../kubeconfigs",
      "--service-account-issuer=x"], "{pki}/../kubeconfigs: Is a directory"),
    (["--token-auth-file={pki}/ca.crt"], "--token-auth-file {pki}/ca.crt, line 1: at least 3 columns"),
    (["--authorization-mode=Magic"], "--authorization-mode: unknown mode 'Magic'"),
    (["--audit-log-path={pki}/audit.log", "--audit-policy-file={pki}/ca.crt"], "--audit-policy-file {pki}/ca.crt"),
    (["--kubelet-client-certificate={pki}/apiserver-kubelet-client.crt"],
     "--kubelet-client-certificate {pki}/apiserver-kubelet-client.crt / --kubelet-client-key"),
    (["--anonymous-auth=maybe"], "argument --anonymous-auth: expected true or false, got 'maybe'"),
])
def test_bad_security_flags_stop_the_start_with_a_message(security_lab, flags, message):
    """Each bad flag ends the start before etcd is asked (none listens here), naming the flag and the file."""
    import subprocess
    import sys

    pki = security_lab.pki
    args = [a.format(pki=pki) for a in flags]
    secure = [] if any(a.startswith("--secure-port") or a.startswith("--tls-") for a in args) else ["--secure-port=0"]
    result = subprocess.run([sys.executable, "-m", "labkit.apiserver", "--etcd-servers=http://127.0.0.1:9",
                             "--insecure-port=0", *secure, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert message.format(pki=pki) in result.stderr
    assert "Traceback" not in result.stderr


def test_https_only_server(security_lab, tmp_path_factory):
    """No insecure port at all (as a lab's apiserver runs): readiness, kubectl and the Python client over TLS."""
    server = start_secure_apiserver(security_lab, tmp_path_factory.mktemp("https-only"), insecure=False,
                                    audit=False)
    try:
        assert server.process.insecure_port == 0
        config = server.kubeconfig("admin")
        assert server.kubectl(config, "create", "namespace", "only-tls").returncode == 0
        listed = kubernetes.client.CoreV1Api(server.client("admin")).list_namespace()
        assert "only-tls" in {ns.metadata.name for ns in listed.items}
        assert "--insecure-port=" not in " ".join(server.process.proc.args)
    finally:
        server.stop()


# -- anonymous -------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz", "/version"])
def test_anonymous_may_read_the_public_endpoints(secure_apiserver, path):
    status, body, _ = https(secure_apiserver, path)
    assert status == 200, body
    if path == "/version":
        assert body["major"] == "1"


def test_anonymous_is_system_anonymous(secure_apiserver):
    status, body, _ = https(secure_apiserver, "/apis/authentication.k8s.io/v1/selfsubjectreviews", method="POST",
                            body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert status == 201, body
    assert body["status"]["userInfo"] == {"username": "system:anonymous", "groups": ["system:unauthenticated"]}


@pytest.fixture(scope="module")
def rbac_apiserver(security_lab, tmp_path_factory):
    server = start_secure_apiserver(security_lab, tmp_path_factory.mktemp("authn-rbac"), audit=False,
                                    authorization_mode="Node,RBAC")
    yield server
    server.stop()


def test_under_rbac_anonymous_gets_the_public_endpoints_only(rbac_apiserver):
    for path in ("/healthz", "/livez", "/readyz", "/version"):
        assert https(rbac_apiserver, path)[0] == 200, path
    status, body, _ = https(rbac_apiserver, "/api/v1/namespaces")
    assert status == 403
    assert body["message"] == ('namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" '
                               'in API group "" at the cluster scope')
    status, body, _ = https(rbac_apiserver, "/api/v1/namespaces", method="POST",
                            body={"metadata": {"name": "by-anonymous"}})
    assert status == 403 and body["reason"] == "Forbidden"
    assert https(rbac_apiserver, "/api/v1/namespaces/by-anonymous", cert="admin")[0] == 404  # nothing written


@pytest.fixture(scope="module")
def no_anonymous_apiserver(security_lab, tmp_path_factory):
    server = start_secure_apiserver(security_lab, tmp_path_factory.mktemp("no-anonymous"), anonymous=False,
                                    audit=False)
    yield server
    server.stop()


@pytest.mark.parametrize("path", ["/api/v1/namespaces", "/version", "/apis"])
def test_without_anonymous_auth_no_credentials_is_401(no_anonymous_apiserver, path):
    status, body, _ = https(no_anonymous_apiserver, path)
    assert (status, body) == (401, UNAUTHORIZED)
    status, _, _ = https(no_anonymous_apiserver, path, cert="admin")
    assert status == 200


# -- bad tokens: 401, and nothing written -------------------------------------------------

def test_unknown_bearer_token_is_401_even_with_anonymous_on(secure_apiserver):
    assert_unauthorized(secure_apiserver, "not-a-token-anyone-knows")
    status, body, _ = https(secure_apiserver, "/api/v1/namespaces", token="nope", method="POST",
                            body={"metadata": {"name": "written-by-nobody"}})
    assert (status, body) == (401, UNAUTHORIZED)
    status, _, _ = https(secure_apiserver, "/api/v1/namespaces/written-by-nobody", cert="admin")
    assert status == 404


def test_tampered_and_foreign_jwts_are_401(secure_apiserver, namespace):
    account = make_service_account(secure_apiserver, namespace)
    now = int(time.time())
    claims = bound_claims(issuer=ISSUER, audiences=[ISSUER], namespace=namespace, account=account,
                          expires=now + 3600, now=now)
    good = tokens.sign(claims, lab_signing_key(secure_apiserver))
    status, body, _ = https(secure_apiserver, "/api/v1/namespaces", token=good)
    assert status == 200, body  # the control: the lab key's token is good

    header, payload, signature = good.split(".")
    forged = dict(claims, sub=f"system:serviceaccount:{namespace}:admin-robot")
    tampered = ".".join([header, tokens.b64url_encode(json.dumps(forged).encode()), signature])
    assert_unauthorized(secure_apiserver, tampered)
    assert_unauthorized(secure_apiserver, ".".join([header, payload, signature[:-4] + "AAAA"]))
    for other_key in (rsa.generate_private_key(public_exponent=65537, key_size=2048),
                      ec.generate_private_key(ec.SECP256R1())):
        assert_unauthorized(secure_apiserver, tokens.sign(claims, other_key))


def test_expired_token_is_401(secure_apiserver, namespace):
    account = make_service_account(secure_apiserver, namespace)
    issued = int(time.time()) - 7200
    expired = tokens.sign(bound_claims(issuer=ISSUER, audiences=[ISSUER], namespace=namespace, account=account,
                                       expires=issued + 3600, now=issued), lab_signing_key(secure_apiserver))
    assert_unauthorized(secure_apiserver, expired)
    api = kubernetes.client.CoreV1Api(secure_apiserver.client(token=expired))
    with pytest.raises(ApiException) as refused:
        api.list_namespaced_pod(namespace)
    assert refused.value.status == 401


def test_token_of_another_issuer_is_401(secure_apiserver, namespace):
    account = make_service_account(secure_apiserver, namespace)
    now = int(time.time())
    claims = bound_claims(issuer="https://elsewhere.example", audiences=[ISSUER], namespace=namespace,
                          account=account, expires=now + 3600, now=now)
    assert_unauthorized(secure_apiserver, tokens.sign(claims, lab_signing_key(secure_apiserver)))


# -- TokenRequest --------------------------------------------------------------------------

def test_kubectl_create_token_authenticates_as_the_service_account(secure_apiserver, namespace):
    admin = secure_apiserver.kubeconfig("admin")
    assert secure_apiserver.kubectl(admin, "create", "serviceaccount", "robot", "-n", namespace).returncode == 0
    result = secure_apiserver.kubectl(admin, "create", "token", "robot", "-n", namespace, "--duration=20m")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    claims = claims_of(token)
    assert claims["iss"] == ISSUER and claims["aud"] == [ISSUER]
    assert claims["exp"] - claims["iat"] == 20 * 60
    assert claims["sub"] == f"system:serviceaccount:{namespace}:robot"
    assert tokens.parse(token).header["alg"] == "RS256"  # labkit.pki's sa.key is RSA

    user = whoami(secure_apiserver, secure_apiserver.token_kubeconfig(token))
    assert user["username"] == f"system:serviceaccount:{namespace}:robot"
    assert user["groups"] == ["system:serviceaccounts", f"system:serviceaccounts:{namespace}",
                              "system:authenticated"]
    account = kubernetes.client.CoreV1Api(secure_apiserver.insecure_client()).read_namespaced_service_account(
        "robot", namespace)
    assert user["uid"] == account.metadata.uid

    # the official Python client with that token
    api = kubernetes.client.CoreV1Api(secure_apiserver.client(token=token))
    assert [sa.metadata.name for sa in api.list_namespaced_service_account(namespace).items] == ["robot"]

    # the service account deleted: its tokens die with it
    assert secure_apiserver.kubectl(admin, "delete", "serviceaccount", "robot", "-n", namespace).returncode == 0
    revoked(secure_apiserver, token)


def test_python_client_token_request_and_secret_binding(secure_apiserver, namespace):
    """The official client's create_namespaced_service_account_token, bound to a Secret: dies with the Secret."""
    make_service_account(secure_apiserver, namespace)
    setup = kubernetes.client.CoreV1Api(secure_apiserver.insecure_client())
    secret = setup.create_namespaced_secret(namespace, {"metadata": {"name": "robot-binding"},
                                                        "stringData": {"k": "v"}})
    admin = kubernetes.client.CoreV1Api(secure_apiserver.client("admin"))
    request = kubernetes.client.AuthenticationV1TokenRequest(spec=kubernetes.client.V1TokenRequestSpec(
        audiences=[ISSUER], expiration_seconds=900,
        bound_object_ref=kubernetes.client.V1BoundObjectReference(
            kind="Secret", api_version="v1", name="robot-binding", uid=secret.metadata.uid)))
    answer = admin.create_namespaced_service_account_token("robot", namespace, request)
    assert answer.spec.expiration_seconds == 900
    token = answer.status.token
    claims = claims_of(token)
    assert claims["kubernetes.io"]["secret"] == {"name": "robot-binding", "uid": secret.metadata.uid}
    assert answer.status.expiration_timestamp.timestamp() == claims["exp"]
    as_robot = kubernetes.client.CoreV1Api(secure_apiserver.client(token=token))
    assert as_robot.read_namespaced_service_account("robot", namespace).metadata.name == "robot"
    setup.delete_namespaced_secret("robot-binding", namespace)
    revoked(secure_apiserver, token)
    with pytest.raises(ApiException) as refused:
        as_robot.read_namespaced_service_account("robot", namespace)
    assert refused.value.status == 401


@pytest.fixture(scope="module")
def ec_signing_apiserver(security_lab, tmp_path_factory):
    """A server whose service-account key is EC P-256 (tokens ES256), two issuers, own audiences, a max expiry."""
    base = tmp_path_factory.mktemp("ec-signing")
    key = base / "sa-ec.key"
    key.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    server = start_secure_apiserver(security_lab, base, audit=False, extra_args=(
        f"--service-account-signing-key-file={key}", f"--service-account-key-file={key}",
        f"--service-account-key-file={security_lab.pki / 'sa.pub'}",  # the old RSA key still verifies
        "--service-account-issuer=https://old-issuer.example",  # after the fixture's ISSUER: accepted, not used
        "--api-audiences=https://labkit.example,api", "--service-account-max-token-expiration=2h"))
    yield server
    server.stop()


def test_ec_key_signs_es256_and_old_rsa_tokens_still_verify(ec_signing_apiserver):
    server = ec_signing_apiserver
    admin = server.kubeconfig("admin")
    assert server.kubectl(admin, "create", "serviceaccount", "robot").returncode == 0
    result = server.kubectl(admin, "create", "token", "robot", "--duration=24h")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert tokens.parse(token).header["alg"] == "ES256"
    claims = claims_of(token)
    assert claims["iss"] == ISSUER  # the first issuer signs
    assert claims["aud"] == ["https://labkit.example", "api"]  # default audiences: --api-audiences
    assert claims["exp"] - claims["iat"] == 2 * 3600  # shortened to --service-account-max-token-expiration
    assert whoami(server, server.token_kubeconfig(token))["username"] == "system:serviceaccount:default:robot"

    # a token signed before the key and issuer changed (RSA key, the older issuer): still good
    account = kubernetes.client.CoreV1Api(server.insecure_client()).read_namespaced_service_account(
        "robot", "default").to_dict()
    now = int(time.time())
    old = tokens.sign(bound_claims(issuer="https://old-issuer.example", audiences=["api"], namespace="default",
                                   account=account, expires=now + 600, now=now), lab_signing_key(server))
    assert whoami(server, server.token_kubeconfig(old))["username"] == "system:serviceaccount:default:robot"


def test_token_for_another_audience_is_refused_here_but_reviewable(secure_apiserver, namespace):
    admin = secure_apiserver.kubeconfig("admin")
    make_service_account(secure_apiserver, namespace)
    result = secure_apiserver.kubectl(admin, "create", "token", "robot", "-n", namespace,
                                      "--audience=https://vault.example", "--duration=1h")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert claims_of(token)["aud"] == ["https://vault.example"]
    assert_unauthorized(secure_apiserver, token)

    # the audience's own server asks the apiserver: TokenReview with its audience
    review = kubernetes.client.AuthenticationV1Api(secure_apiserver.client("admin")).create_token_review(
        kubernetes.client.V1TokenReview(spec=kubernetes.client.V1TokenReviewSpec(
            token=token, audiences=["https://vault.example"])))
    assert review.status.authenticated is True
    assert review.status.user.username == f"system:serviceaccount:{namespace}:robot"
    assert review.status.audiences == ["https://vault.example"]
    # ... and for the apiserver's own audience it is no good
    status, body, _ = https(secure_apiserver, "/apis/authentication.k8s.io/v1/tokenreviews", cert="admin",
                            method="POST", body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                                                 "spec": {"token": token}})
    assert status == 201 and body["status"]["authenticated"] is False and body["status"]["error"]


def test_token_bound_to_a_pod_dies_with_the_pod(secure_apiserver, namespace):
    admin = secure_apiserver.kubeconfig("admin")
    make_service_account(secure_apiserver, namespace)
    core = kubernetes.client.CoreV1Api(secure_apiserver.insecure_client())
    pod = core.create_namespaced_pod(namespace, {
        "metadata": {"name": "web"},
        "spec": {"serviceAccountName": "robot", "containers": [{"name": "c", "image": "busybox"}]}})
    result = secure_apiserver.kubectl(admin, "create", "token", "robot", "-n", namespace,
                                      "--bound-object-kind=Pod", "--bound-object-name=web",
                                      f"--bound-object-uid={pod.metadata.uid}")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert claims_of(token)["kubernetes.io"]["pod"] == {"name": "web", "uid": pod.metadata.uid}
    user = whoami(secure_apiserver, secure_apiserver.token_kubeconfig(token))
    assert user["extra"]["authentication.kubernetes.io/pod-name"] == ["web"]
    assert user["extra"]["authentication.kubernetes.io/pod-uid"] == [pod.metadata.uid]

    core.delete_namespaced_pod("web", namespace, grace_period_seconds=0)
    revoked(secure_apiserver, token)
    # a new pod of the same name is another object: the token stays dead
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": "web"},
        "spec": {"serviceAccountName": "robot", "containers": [{"name": "c", "image": "busybox"}]}})
    assert_unauthorized(secure_apiserver, token)


def test_a_pod_bound_token_names_the_pods_node(secure_apiserver, namespace):
    make_service_account(secure_apiserver, namespace)
    core = kubernetes.client.CoreV1Api(secure_apiserver.insecure_client())
    node_name = f"node-{uuid.uuid4().hex[:6]}"
    node = core.create_node({"metadata": {"name": node_name}})
    pod = core.create_namespaced_pod(namespace, {"metadata": {"name": "web"}, "spec": {
        "serviceAccountName": "robot", "nodeName": node_name, "containers": [{"name": "c", "image": "busybox"}]}})
    result = secure_apiserver.kubectl(secure_apiserver.kubeconfig("admin"), "create", "token", "robot", "-n",
                                      namespace, "--bound-object-kind=Pod", "--bound-object-name=web")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert claims_of(token)["kubernetes.io"]["node"] == {"name": node_name, "uid": node.metadata.uid}
    assert claims_of(token)["kubernetes.io"]["pod"] == {"name": "web", "uid": pod.metadata.uid}
    extra = whoami(secure_apiserver, secure_apiserver.token_kubeconfig(token))["extra"]
    assert extra["authentication.kubernetes.io/node-name"] == [node_name]
    assert extra["authentication.kubernetes.io/node-uid"] == [node.metadata.uid]
    core.delete_node(node_name)


def test_the_kubelets_3607_seconds_are_extended_to_a_year_with_warnafter(secure_apiserver, namespace):
    """--service-account-extend-token-expiration (default on), as upstream: only pod-bound, only 3607 s, only ours."""
    make_service_account(secure_apiserver, namespace)
    core = kubernetes.client.CoreV1Api(secure_apiserver.insecure_client())
    pod = core.create_namespaced_pod(namespace, {"metadata": {"name": "web"}, "spec": {
        "serviceAccountName": "robot", "containers": [{"name": "c", "image": "busybox"}]}})
    ref = {"kind": "Pod", "apiVersion": "v1", "name": "web", "uid": pod.metadata.uid}

    def request(seconds: int, **spec) -> tuple[dict, dict]:
        status, body, _ = https(secure_apiserver, f"/api/v1/namespaces/{namespace}/serviceaccounts/robot/token",
                                cert="admin", method="POST",
                                body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                      "spec": {"expirationSeconds": seconds, **spec}})
        assert status == 201, body
        return body, claims_of(body["status"]["token"])

    body, claims = request(3607, boundObjectRef=ref)
    assert claims["exp"] - claims["iat"] == 365 * 24 * 3600
    assert claims["kubernetes.io"]["warnafter"] == claims["iat"] + 3607
    issued = datetime.fromisoformat(body["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(body["status"]["expirationTimestamp"].replace("Z", "+00:00"))
    assert expires - issued == timedelta(seconds=3607)  # what was asked is what the answer says
    for seconds, spec in ((3600, {"boundObjectRef": ref}), (3607, {}),
                          (3607, {"boundObjectRef": ref, "audiences": ["https://vault.example"]})):
        _, claims = request(seconds, **spec)
        assert claims["exp"] - claims["iat"] == seconds and "warnafter" not in claims["kubernetes.io"]


def test_token_bound_to_a_terminating_pod_lives_through_its_grace_period(secure_apiserver, namespace):
    """A pod on a node deleted gracefully still runs (and needs its token) until deletionTimestamp."""
    make_service_account(secure_apiserver, namespace)
    core = kubernetes.client.CoreV1Api(secure_apiserver.insecure_client())
    pod = core.create_namespaced_pod(namespace, {"metadata": {"name": "web"}, "spec": {
        "serviceAccountName": "robot", "nodeName": "worker-1", "containers": [{"name": "c", "image": "busybox"}]}})
    status, body, _ = https(secure_apiserver, f"/api/v1/namespaces/{namespace}/serviceaccounts/robot/token",
                            cert="admin", method="POST",
                            body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                  "spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web",
                                                              "uid": pod.metadata.uid}}})
    assert status == 201, body
    token = body["status"]["token"]
    core.delete_namespaced_pod("web", namespace, grace_period_seconds=300)
    terminating = core.read_namespaced_pod("web", namespace)
    assert terminating.metadata.deletion_timestamp is not None  # still there, terminating
    status, _, _ = https(secure_apiserver, "/api/v1/namespaces", token=token)
    assert status == 200
    core.delete_namespaced_pod("web", namespace, grace_period_seconds=0)
    revoked(secure_apiserver, token)


def test_token_request_refusals(secure_apiserver, namespace):
    admin = secure_apiserver.kubeconfig("admin")
    make_service_account(secure_apiserver, namespace)
    short = secure_apiserver.kubectl(admin, "create", "token", "robot", "-n", namespace, "--duration=5m")
    assert short.returncode != 0
    assert "may not specify a duration less than 10 minutes" in short.stderr
    missing = secure_apiserver.kubectl(admin, "create", "token", "ghost", "-n", namespace)
    assert missing.returncode != 0 and 'serviceaccounts "ghost" not found' in missing.stderr
    status, body, _ = https(secure_apiserver, f"/api/v1/namespaces/{namespace}/serviceaccounts/robot/token",
                            cert="admin", method="POST",
                            body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                  "spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web",
                                                              "uid": "not-its-uid"}}})
    assert status == 404 and body["message"] == 'pods "web" not found'
    status, body, _ = https(secure_apiserver, f"/api/v1/namespaces/{namespace}/serviceaccounts/robot/token",
                            cert="admin", method="POST",
                            body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                  "spec": {"boundObjectRef": {"kind": "ConfigMap", "apiVersion": "v1",
                                                              "name": "x"}}})
    assert status == 400 and "cannot bind token" in body["message"]
    # a pod of another service account
    make_service_account(secure_apiserver, namespace, "builder")
    kubernetes.client.CoreV1Api(secure_apiserver.insecure_client()).create_namespaced_pod(namespace, {
        "metadata": {"name": "other"},
        "spec": {"serviceAccountName": "builder", "containers": [{"name": "c", "image": "busybox"}]}})
    status, body, _ = https(secure_apiserver, f"/api/v1/namespaces/{namespace}/serviceaccounts/robot/token",
                            cert="admin", method="POST",
                            body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                  "spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "other"}}})
    assert (status, body["message"]) == (400, 'cannot bind token for serviceaccount "robot" to pod running with '
                                              'different serviceaccount name.')


def test_token_request_bound_to_a_replaced_pod_is_a_conflict(secure_apiserver, namespace):
    make_service_account(secure_apiserver, namespace)
    core = kubernetes.client.CoreV1Api(secure_apiserver.insecure_client())
    core.create_namespaced_pod(namespace, {"metadata": {"name": "web"}, "spec": {
        "serviceAccountName": "robot", "containers": [{"name": "c", "image": "busybox"}]}})
    status, body, _ = https(secure_apiserver, f"/api/v1/namespaces/{namespace}/serviceaccounts/robot/token",
                            cert="admin", method="POST",
                            body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                  "spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web",
                                                              "uid": "an-older-uid"}}})
    assert status == 409, body
    assert "the UID in the bound object reference (an-older-uid) does not match the UID in record" in body["message"]


def test_legacy_secret_token_valid_while_the_secret_holds_it(secure_apiserver, namespace):
    """A token of the old kind (what a tokens controller writes into a service-account-token Secret)."""
    import base64

    from labkit.apiserver.auth.tokenrequest import legacy_claims

    account = make_service_account(secure_apiserver, namespace)
    token = tokens.sign(legacy_claims(namespace, account, "robot-token"), lab_signing_key(secure_apiserver))
    core = kubernetes.client.CoreV1Api(secure_apiserver.insecure_client())
    core.create_namespaced_secret(namespace, {
        "metadata": {"name": "robot-token", "annotations": {"kubernetes.io/service-account.name": "robot"}},
        "type": "kubernetes.io/service-account-token", "data": {"token": base64.b64encode(token.encode()).decode()}})
    user = whoami(secure_apiserver, secure_apiserver.token_kubeconfig(token))
    assert user["username"] == f"system:serviceaccount:{namespace}:robot"
    core.delete_namespaced_secret("robot-token", namespace)
    revoked(secure_apiserver, token)


# -- service-account issuer discovery -------------------------------------------------------

def test_an_outsider_checks_a_token_with_the_published_keys_alone(secure_apiserver, namespace):
    """/.well-known/openid-configuration and /openid/v1/jwks, as an OIDC consumer (Vault ...) reads them."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    status, config, headers = https(secure_apiserver, "/.well-known/openid-configuration", cert="admin")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert config == {"issuer": ISSUER, "jwks_uri": f"{secure_apiserver.url}/openid/v1/jwks",
                      "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
                      "id_token_signing_alg_values_supported": ["RS256"]}
    status, jwks, headers = https(secure_apiserver, config["jwks_uri"].removeprefix(secure_apiserver.url),
                                  cert="admin")
    assert status == 200 and headers["Content-Type"].startswith("application/jwk-set+json")

    make_service_account(secure_apiserver, namespace)
    result = secure_apiserver.kubectl(secure_apiserver.kubeconfig("admin"), "create", "token", "robot",
                                      "-n", namespace)
    assert result.returncode == 0, result.stderr
    jws = tokens.parse(result.stdout.strip())
    [key] = [k for k in jwks["keys"] if k["kid"] == jws.header["kid"]]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"

    def number(field: str) -> int:
        return int.from_bytes(tokens.b64url_decode(key[field]), "big")

    public = rsa.RSAPublicNumbers(number("e"), number("n")).public_key()
    public.verify(jws.signature, jws.signing_input, padding.PKCS1v15(), hashes.SHA256())  # raises if not ours
    assert jws.claims["iss"] == config["issuer"]


# -- the token file -----------------------------------------------------------------------

def test_token_auth_file_users(secure_apiserver, security_lab):
    alice = whoami(secure_apiserver, secure_apiserver.token_kubeconfig(security_lab.token_of("alice")))
    assert alice == {"username": "alice", "uid": "1001",
                     "groups": ["developers", "testers", "system:authenticated"]}
    bob = whoami(secure_apiserver, secure_apiserver.token_kubeconfig(security_lab.token_of("bob")))
    assert bob == {"username": "bob", "uid": "1002", "groups": ["system:authenticated"]}


# -- the audit log ------------------------------------------------------------------------

def audit_events(server) -> list[dict]:
    return [json.loads(line) for line in server.audit_log.read_text().splitlines()]


def event_with_id(server, audit_id: str) -> dict:
    found = [e for e in audit_events(server) if e["auditID"] == audit_id]
    assert len(found) == 1, audit_id
    return found[0]


def test_audit_log_records_each_request_at_metadata_level(secure_apiserver, namespace, security_lab):
    status, _, headers = https(secure_apiserver, f"/api/v1/namespaces/{namespace}/configmaps", cert="admin",
                               method="POST", body={"metadata": {"name": "settings"}, "data": {"secret": "s3cr3t"}})
    assert status == 201
    event = event_with_id(secure_apiserver, headers["Audit-Id"])
    assert event["kind"] == "Event" and event["apiVersion"] == "audit.k8s.io/v1"
    assert event["level"] == "Metadata" and event["stage"] == "ResponseComplete"
    assert event["verb"] == "create"
    assert event["requestURI"] == f"/api/v1/namespaces/{namespace}/configmaps"
    assert event["user"] == {"username": "admin", "groups": ["system:masters", "system:authenticated"]}
    assert event["sourceIPs"] == ["127.0.0.1"]
    assert event["userAgent"].startswith("Python-urllib")
    assert event["objectRef"] == {"resource": "configmaps", "namespace": namespace, "name": "settings",
                                  "apiVersion": "v1"}
    assert event["responseStatus"] == {"metadata": {}, "code": 201}
    assert event["requestReceivedTimestamp"] <= event["stageTimestamp"]
    assert "s3cr3t" not in secure_apiserver.audit_log.read_text()  # Metadata level: no bodies

    # the namespace fixture made its namespace through the insecure port: no gate there, upstream's name for it
    made = [e for e in audit_events(secure_apiserver) if e["verb"] == "create"
            and e.get("objectRef", {}).get("resource") == "namespaces"][-1]
    assert made["user"] == {"username": "system:unsecured", "groups": ["system:masters", "system:authenticated"]}
    assert "annotations" not in made  # nothing was authorized

    # a refused token: 401 with no user
    status, _, headers = https(secure_apiserver, f"/api/v1/namespaces/{namespace}/pods/web", token="bogus")
    event = event_with_id(secure_apiserver, headers["Audit-Id"])
    assert event["user"] == {} and event["verb"] == "get"
    assert event["objectRef"] == {"resource": "pods", "namespace": namespace, "name": "web", "apiVersion": "v1"}
    assert event["responseStatus"]["code"] == 401 and event["responseStatus"]["reason"] == "Unauthorized"

    # kubectl's requests, with its user agent and the token file user
    before = len(audit_events(secure_apiserver))
    config = secure_apiserver.token_kubeconfig(security_lab.token_of("alice"))
    assert secure_apiserver.kubectl(config, "get", "configmap", "settings", "-n", namespace).returncode == 0
    new = audit_events(secure_apiserver)[before:]
    get = [e for e in new if e.get("objectRef", {}).get("name") == "settings"]
    assert len(get) == 1 and get[0]["verb"] == "get" and get[0]["user"]["username"] == "alice"
    assert get[0]["userAgent"].startswith("kubectl/")
    assert get[0]["responseStatus"]["code"] == 200
    # a watch: its Audit-Id goes out with the headers, its event when it ends
    status, _, headers = https(secure_apiserver, f"/api/v1/namespaces/{namespace}/configmaps?watch=1&timeoutSeconds=1",
                               cert="admin")
    deadline = time.monotonic() + 30  # a stream's event is written as it ends: just after its last byte left
    while not [e for e in audit_events(secure_apiserver) if e["auditID"] == headers["Audit-Id"]]:
        assert time.monotonic() < deadline, "the watch's event was never written"
        time.sleep(0.1)
    event = event_with_id(secure_apiserver, headers["Audit-Id"])
    assert status == 200 and event["verb"] == "watch" and event["responseStatus"]["code"] == 200
    # subresource, namespaced name, group
    status, _, headers = https(secure_apiserver, f"/api/v1/namespaces/{namespace}/serviceaccounts/nobody/token",
                               cert="admin", method="POST",
                               body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
    event = event_with_id(secure_apiserver, headers["Audit-Id"])
    assert event["objectRef"] == {"resource": "serviceaccounts", "namespace": namespace, "name": "nobody",
                                  "apiVersion": "v1", "subresource": "token"}
    assert event["responseStatus"]["code"] == 404


def test_audit_log_names_the_object_a_create_made(secure_apiserver, namespace):
    """Upstream's objectRef.name on a create comes from the request's object: a named create has it (whatever
    the outcome after decoding), a generateName create does not (the request had no name), nor a create that
    authorization refused (the body was never read)."""
    config = secure_apiserver.kubeconfig("admin")
    before = len(audit_events(secure_apiserver))
    # kubectl's typed create sends protobuf
    assert secure_apiserver.kubectl(config, "create", "configmap", "named", "-n", namespace).returncode == 0
    assert secure_apiserver.kubectl(config, "create", "configmap", "named", "-n", namespace).returncode == 1
    generated = {"metadata": {"generateName": "gen-"}}
    status, body, _ = https(secure_apiserver, f"/api/v1/namespaces/{namespace}/configmaps", cert="admin",
                            method="POST", body=generated)
    assert status == 201 and body["metadata"]["name"].startswith("gen-")
    creates = [(e["objectRef"], e["responseStatus"]["code"]) for e in audit_events(secure_apiserver)[before:]
               if e["verb"] == "create" and e["objectRef"]["resource"] == "configmaps"]
    ref = {"resource": "configmaps", "namespace": namespace, "apiVersion": "v1"}
    assert creates == [({**ref, "name": "named"}, 201), ({**ref, "name": "named"}, 409), (ref, 201)]


def test_audit_log_rotates_at_maxsize_and_keeps_maxbackup(security_lab, tmp_path_factory):
    """--audit-log-maxsize=1 (MB), --audit-log-maxbackup=2: ~3.5 MB of events leave 2 backups and the current file."""
    import asyncio

    import aiohttp

    base = tmp_path_factory.mktemp("audit-rotation")
    policy = base / "audit-policy.yaml"  # upstream's format: health checks left out, the rest at Metadata
    policy.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"
                      "- level: None\n  nonResourceURLs: ['/healthz*', '/livez*', '/readyz*']\n"
                      "- level: Metadata\n")
    server = start_secure_apiserver(security_lab, base, extra_args=(
        "--audit-log-maxsize=1", "--audit-log-maxbackup=2", f"--audit-policy-file={policy}"))
    try:
        padding = "x" * 8000  # long request URIs make big events: fewer requests for megabytes
        count = 450

        async def send_all() -> list[str]:
            ctx = ssl.create_default_context(cafile=str(security_lab.pki / "ca.crt"))
            ids = []
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=8)) as session:
                async def one(i: int) -> None:
                    async with session.get(f"{server.url}/version?n={i}&pad={padding}") as resp:
                        assert resp.status == 200
                        ids.append(resp.headers["Audit-Id"])
                await asyncio.gather(*(one(i) for i in range(count)))
                async with session.get(f"{server.url}/healthz?pad={padding}") as resp:
                    assert resp.status == 200
            return ids

        ids = asyncio.run(send_all())
        directory = server.audit_log.parent
        backups = sorted(p for p in directory.iterdir() if p.name != "audit.log")
        assert len(backups) == 2, [p.name for p in directory.iterdir()]
        assert all(p.name.startswith("audit-") and p.name.endswith(".log") for p in backups)
        for path in [*backups, server.audit_log]:
            assert path.stat().st_size <= 1024 * 1024
            for line in path.read_text().splitlines():
                assert json.loads(line)["kind"] == "Event"
        kept = [json.loads(line)["auditID"]
                for path in [*backups, server.audit_log] for line in path.read_text().splitlines()]
        assert not [line for p in [*backups, server.audit_log] for line in p.read_text().splitlines()
                    if "/healthz" in line]  # the policy left the health checks out
        assert ids[-1] in kept  # the newest events are kept ...
        assert len(kept) < count  # ... and the oldest went with the pruned backups
    finally:
        server.stop()
