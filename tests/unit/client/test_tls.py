"""The client's TLS settings from a kubeconfig: server verified by its CA, client cert presented.

The server here is a plain aiohttp TLS endpoint on loopback (labkit's apiserver
serves TLS only once the security work lands); what is tested is the client's
side of a real mutual-TLS handshake.
"""

import base64
import datetime as dt
import ipaddress
import ssl

import pytest
import yaml
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from labkit.client.api import ApiClient
from labkit.client.kubeconfig import load_kubeconfig
from labkit.localplane import free_port


def _cert(subject_cn, issuer_key, issuer_name, key, *, ca=False, server=False, org=None):
    now = dt.datetime.now(dt.timezone.utc)
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    name = x509.Name(attrs)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    if not ca:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(obj):
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture
def pki(tmp_path):
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("labkit-test-ca", ca_key, None, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _cert("kube-apiserver", ca_key, ca.subject, server_key, server=True)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _cert("admin", ca_key, ca.subject, client_key, org="system:masters")
    for name, obj in [("ca.crt", ca), ("server.crt", server), ("server.key", server_key)]:
        (tmp_path / name).write_bytes(_pem(obj))
    return tmp_path, ca, client, client_key


@pytest.fixture
async def tls_server(pki):
    tmp_path, *_ = pki
    seen = {}

    async def handler(request):
        peer = request.transport.get_extra_info("peercert")
        seen["subject"] = dict(x[0] for x in peer["subject"])
        seen["authorization"] = request.headers.get("Authorization")
        return web.json_response({"kind": "ConfigMap", "apiVersion": "v1",
                                  "metadata": {"name": request.match_info["name"], "namespace": "default"}})

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    ctx.load_verify_locations(tmp_path / "ca.crt")
    ctx.verify_mode = ssl.CERT_REQUIRED
    app = web.Application()
    app.router.add_get("/api/v1/namespaces/default/configmaps/{name}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx).start()
    yield f"https://127.0.0.1:{port}", seen
    await runner.cleanup()


def _kubeconfig(path, server, ca, client, client_key):
    b64 = lambda b: base64.b64encode(b).decode()
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "admin@lab",
        "clusters": [{"name": "lab", "cluster": {"server": server, "certificate-authority-data": b64(_pem(ca))}}],
        "users": [{"name": "admin", "user": {"client-certificate-data": b64(_pem(client)),
                                              "client-key-data": b64(_pem(client_key))}}],
        "contexts": [{"name": "admin@lab", "context": {"cluster": "lab", "user": "admin"}}],
    }))
    return path


async def test_mutual_tls_from_embedded_kubeconfig_data(pki, tls_server):
    tmp_path, ca, client, client_key = pki
    server, seen = tls_server
    cfg = load_kubeconfig(_kubeconfig(tmp_path / "admin.kubeconfig", server, ca, client, client_key))
    async with ApiClient(cfg) as api:
        cm = await api.get("configmaps", "x", namespace="default")
    assert cm["metadata"]["name"] == "x"
    assert seen["subject"] == {"organizationName": "system:masters", "commonName": "admin"}
    assert seen["authorization"] is None


async def test_a_server_signed_by_another_ca_is_refused(pki, tls_server):
    tmp_path, ca, client, client_key = pki
    server, _ = tls_server
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_ca = _cert("someone-else", other_key, None, other_key, ca=True)
    cfg = load_kubeconfig(_kubeconfig(tmp_path / "wrong.kubeconfig", server, other_ca, client, client_key))
    async with ApiClient(cfg) as api:
        with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            await api.get("configmaps", "x", namespace="default")
