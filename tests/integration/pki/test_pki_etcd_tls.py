"""The etcd certificates work for real etcd: a three-member cluster over peer TLS, clients checked by the etcd CA.

Three etcd processes (Debian's etcd-server) on 127.0.0.1, free ports, each
with its master's server and peer certificates from the generated ha lab,
--client-cert-auth and --peer-client-cert-auth on. The cluster forming at all
proves the peer certificates; etcdctl proves which client certificates etcd
accepts: the apiserver's and the health check's, none of the cluster CA's.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time

import pytest

from labkit.localplane import free_port, stop_process

pytestmark = pytest.mark.integration
MASTERS = ("master-1", "master-2", "master-3")


@pytest.fixture(scope="module")
def etcd_cluster(labs, tmp_path_factory):
    if shutil.which("etcd") is None or shutil.which("etcdctl") is None:
        pytest.fail("etcd is not installed: run `bash scripts/bootstrap.sh setup`")
    pki = labs["ha"] / "pki"
    base = tmp_path_factory.mktemp("etcd-tls")
    ports = {m: (free_port(), free_port()) for m in MASTERS}  # client, peer
    cluster = ",".join(f"{m}=https://127.0.0.1:{peer}" for m, (_, peer) in ports.items())
    procs = []
    try:
        for member, (client, peer) in ports.items():
            log = (base / f"{member}.log").open("wb")
            procs.append(subprocess.Popen([
                "etcd", "--name", member, "--data-dir", str(base / member),
                "--listen-client-urls", f"https://127.0.0.1:{client}",
                "--advertise-client-urls", f"https://127.0.0.1:{client}",
                "--listen-peer-urls", f"https://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls", f"https://127.0.0.1:{peer}",
                "--initial-cluster", cluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", f"labkit-pki-{base.name}",
                "--cert-file", str(pki / f"etcd/{member}-server.crt"),
                "--key-file", str(pki / f"etcd/{member}-server.key"),
                "--trusted-ca-file", str(pki / "etcd/ca.crt"), "--client-cert-auth",
                "--peer-cert-file", str(pki / f"etcd/{member}-peer.crt"),
                "--peer-key-file", str(pki / f"etcd/{member}-peer.key"),
                "--peer-trusted-ca-file", str(pki / "etcd/ca.crt"), "--peer-client-cert-auth",
            ], stdout=log, stderr=subprocess.STDOUT))
        endpoints = ",".join(f"https://127.0.0.1:{client}" for client, _ in ports.values())
        deadline = time.monotonic() + 60
        while True:
            health = etcdctl(pki, endpoints, "etcd/healthcheck-client", "endpoint", "health")
            if health.returncode == 0:
                break
            dead = [p for p in procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                logs = "\n".join((base / f"{m}.log").read_text()[-2000:] for m in MASTERS)
                pytest.fail(f"the etcd cluster did not become healthy: {health.stderr}\n{logs}")
            time.sleep(0.5)
        yield pki, endpoints
    finally:
        for proc in procs:
            stop_process(proc)


def etcdctl(pki, endpoints: str, identity: str, *args: str, ca: str = "etcd/ca") -> subprocess.CompletedProcess:
    return subprocess.run(
        ["etcdctl", f"--endpoints={endpoints}", "--dial-timeout=3s", "--command-timeout=10s",
         f"--cacert={pki / f'{ca}.crt'}", f"--cert={pki / f'{identity}.crt'}", f"--key={pki / f'{identity}.key'}",
         *args], capture_output=True, text=True, timeout=60, env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"})


def test_the_members_joined_over_peer_tls(etcd_cluster):
    pki, endpoints = etcd_cluster
    result = etcdctl(pki, endpoints, "apiserver-etcd-client", "member", "list")
    assert result.returncode == 0, result.stderr
    for member in MASTERS:
        assert f", started, {member}, https://127.0.0.1:" in result.stdout


def test_the_apiserver_client_certificate_reads_and_writes(etcd_cluster):
    pki, endpoints = etcd_cluster
    assert etcdctl(pki, endpoints, "apiserver-etcd-client", "put", "/registry/pki-test", "hello").returncode == 0
    got = etcdctl(pki, endpoints, "apiserver-etcd-client", "get", "/registry/pki-test", "--print-value-only")
    assert got.returncode == 0 and got.stdout.strip() == "hello", got.stderr


def tls_connect(endpoint: str, pki, ca: str, identity: str = "apiserver-etcd-client"):
    """A TLS connection to etcd as ``identity``, verifying its certificate against pki/<ca>.crt and 127.0.0.1."""
    host, port = endpoint.removeprefix("https://").split(":")
    ctx = ssl.create_default_context(cafile=str(pki / f"{ca}.crt"))
    ctx.load_cert_chain(str(pki / f"{identity}.crt"), str(pki / f"{identity}.key"))
    return ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=10), server_hostname=host)


def health(endpoint: str, pki, identity: str) -> bytes:
    """etcd's /health over HTTP/1.1 as ``identity`` (an ssl.SSLError when etcd refuses the certificate)."""
    with tls_connect(endpoint, pki, "etcd/ca", identity) as tls:
        tls.sendall(b"GET /health HTTP/1.1\r\nHost: etcd\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
        return data


@pytest.mark.parametrize("identity,accepted", [
    ("apiserver-etcd-client", True), ("etcd/healthcheck-client", True),
    ("admin", False), ("apiserver-kubelet-client", False), ("kubelet-master-1", False),
])
def test_etcd_accepts_only_clients_of_the_etcd_ca(etcd_cluster, identity, accepted):
    pki, endpoints = etcd_cluster
    endpoint = endpoints.split(",")[0]
    if accepted:
        reply = health(endpoint, pki, identity)
        assert reply.startswith(b"HTTP/1.1 200") and b'"health":"true"' in reply
    else:  # TLS 1.3: etcd checks the client certificate after the handshake, then drops the connection
        with pytest.raises(ssl.SSLError, match="certificate|EOF occurred in violation of protocol"):
            health(endpoint, pki, identity)


def test_etcd_serves_its_masters_certificate_of_the_etcd_ca_only(etcd_cluster):
    pki, endpoints = etcd_cluster
    for member, endpoint in zip(MASTERS, endpoints.split(",")):
        with tls_connect(endpoint, pki, "etcd/ca") as tls:
            cert = tls.getpeercert()
        assert ("commonName", member) in [attr for rdn in cert["subject"] for attr in rdn]
        with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer certificate"):
            tls_connect(endpoint, pki, "ca")
