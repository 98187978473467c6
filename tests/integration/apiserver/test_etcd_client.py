"""labkit's etcd client (labkit.apiserver.etcd over grpc_wire) against real etcd processes.

What an HA exercise does to the apiserver's etcd connection, done to a real etcd: big values
that take many frames and flow-control windows, a write etcd refuses as too large, many calls
at once, an endpoint that is down, a member that is stopped and comes back, a member that
freezes (SIGSTOP), and mutual TLS with labkit.pki's kind of certificates.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import signal
import subprocess
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from aetcd import rpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from labkit.apiserver import grpc_wire
from labkit.apiserver.etcd import Etcd, EtcdUnavailable, RequestTooLarge, TLSFiles
from labkit.localplane import EtcdProcess, free_port, stop_process, wait_http_ok
from labkit.pki.ca import cert_pem, key_pem, new_ca, new_key

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(etcd):
    c = Etcd([etcd.endpoint])
    yield c
    await c.close()


@pytest.fixture
def private_etcd(tmp_path):
    """An etcd of this test's own (it gets stopped, frozen, restarted)."""
    server = EtcdProcess(data_dir=tmp_path / "etcd").start()
    yield server
    if server.proc is not None:
        os.kill(server.proc.pid, signal.SIGCONT)  # in case the test froze it
    server.stop()


def freeze(pid: int) -> None:
    """SIGSTOP, and wait until every thread has stopped (a running thread may finish a call first)."""
    os.kill(pid, signal.SIGSTOP)
    for _ in range(500):
        states = [Path(f"/proc/{pid}/task/{task}/stat").read_text().rsplit(")", 1)[1].split()[0]
                  for task in os.listdir(f"/proc/{pid}/task")]
        if all(state in "Tt" for state in states):
            return
        time.sleep(0.01)
    raise AssertionError(f"etcd (pid {pid}) did not stop: thread states {states}")


async def put(client: Etcd, key: bytes, value: bytes) -> None:
    ok, _, _ = await client.txn([], [Etcd.put(key, value)])
    assert ok


async def test_values_bigger_than_a_frame_and_a_window_go_both_ways(client):
    value = os.urandom(1_400_000)  # etcd's default limit is 1.5 MiB; the windows start at 64 KiB
    await put(client, b"/t/big", value)
    _, kv = await client.get(b"/t/big")
    assert kv.value == value
    for i in range(20):
        await put(client, f"/t/many/{i:02d}".encode(), value[:1_000_000])
    listed = await client.range(b"/t/many/", b"/t/many0")  # one 20 MB answer
    assert [kv.value for kv in listed.kvs] == [value[:1_000_000]] * 20


async def test_a_write_etcd_refuses_as_too_large_is_named_and_the_connection_goes_on(client):
    for size in (1_700_000, 3_000_000):  # etcd's own limit, then past its gRPC server's message limit
        with pytest.raises(RequestTooLarge) as caught:
            await asyncio.wait_for(put(client, b"/t/huge", b"x" * size), 20)
        assert "etcd refused to store it" in str(caught.value)
    await put(client, b"/t/after", b"fine")
    assert (await client.get(b"/t/after"))[1].value == b"fine"


async def test_a_thousand_calls_at_once(client):
    await asyncio.gather(*(put(client, f"/t/c/{i:04d}".encode(), str(i).encode()) for i in range(1000)))
    got = await asyncio.gather(*(client.get(f"/t/c/{i:04d}".encode()) for i in range(1000)))
    assert [int(kv.value) for _, kv in got] == list(range(1000))


async def test_a_cancelled_call_leaves_the_connection_usable(client):
    calls = [asyncio.ensure_future(client.get(b"/t/x")) for _ in range(50)]
    await asyncio.sleep(0)
    for call in calls[::2]:
        call.cancel()
    await asyncio.gather(*calls, return_exceptions=True)
    assert client.channel._connection.streams == {}
    await put(client, b"/t/x", b"1")
    assert (await client.get(b"/t/x"))[1].value == b"1"


async def test_an_endpoint_that_is_down_is_skipped(etcd):
    down = f"http://127.0.0.1:{free_port()}"
    c = Etcd([down, etcd.endpoint])
    try:
        await put(c, b"/t/failover", b"yes")
        assert (await c.get(b"/t/failover"))[1].value == b"yes"
    finally:
        await c.close()
    nobody = Etcd([down, f"http://127.0.0.1:{free_port()}"])
    with pytest.raises(EtcdUnavailable) as caught:
        await nobody.get(b"/t/x")
    assert "UNAVAILABLE" in str(caught.value) and down.removeprefix("http://") in str(caught.value)
    await nobody.close()


async def test_a_member_that_stops_and_comes_back(private_etcd):
    c = Etcd([private_etcd.endpoint])
    try:
        await put(c, b"/t/k", b"before")
        watch = c.watch(b"/t/", b"/t0", 1)
        assert (await watch.__anext__()).events[0].kv.value == b"before"
        private_etcd.proc.terminate()  # the member stops (its GOAWAY, then the connection closes)
        private_etcd.proc.wait(10)
        with pytest.raises(EtcdUnavailable):
            await asyncio.wait_for(watch.__anext__(), 10)  # the watch ends: the watch cache lists again
        with pytest.raises(EtcdUnavailable):
            await c.get(b"/t/k")
        private_etcd.start()  # again: same data directory, same ports
        assert (await c.get(b"/t/k"))[1].value == b"before"  # a new connection, no new client
    finally:
        await c.close()


async def test_a_frozen_member_times_calls_out_and_is_used_again_when_it_thaws(private_etcd):
    c = Etcd([private_etcd.endpoint], timeout=1.0)
    try:
        await put(c, b"/t/k", b"v")
        freeze(private_etcd.proc.pid)
        try:
            with pytest.raises(EtcdUnavailable) as caught:
                await c.get(b"/t/k")
            assert "DEADLINE_EXCEEDED" in str(caught.value)
        finally:
            os.kill(private_etcd.proc.pid, signal.SIGCONT)
        assert (await c.get(b"/t/k"))[1].value == b"v"
    finally:
        await c.close()


async def test_a_watch_on_a_frozen_member_ends_after_the_keepalive(private_etcd, monkeypatch):
    monkeypatch.setattr(grpc_wire, "KEEPALIVE_SECONDS", 0.3)
    monkeypatch.setattr(grpc_wire, "KEEPALIVE_TIMEOUT", 0.5)
    c = Etcd([private_etcd.endpoint])
    try:
        await put(c, b"/t/k", b"v")
        watch = c.watch(b"/t/", b"/t0", 1)
        await watch.__anext__()
        freeze(private_etcd.proc.pid)
        try:
            with pytest.raises(EtcdUnavailable) as caught:
                await asyncio.wait_for(watch.__anext__(), 10)
            assert "keepalive" in str(caught.value)
        finally:
            os.kill(private_etcd.proc.pid, signal.SIGCONT)
    finally:
        await c.close()


# -- mutual TLS --------------------------------------------------------------------------------

def leaf(ca, common_name: str, usage, now: datetime, ip: str | None = None):
    key = new_key()
    builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
               .issuer_name(ca.cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if ip:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                                        critical=False)
    return builder.sign(ca.key, hashes.SHA256()), key


@pytest.fixture(scope="module")
def tls_etcd():
    """etcd serving TLS on loopback and asking for client certificates from its CA (as the lab's etcd)."""
    base = Path(tempfile.mkdtemp(prefix="labkit-etcd-tls-"))
    now = datetime.now(timezone.utc)
    files = {}
    for name, ca in (("ca", new_ca("etcd-ca", "etcd-ca", now)), ("other-ca", new_ca("other", "other-ca", now))):
        files[name] = base / f"{name}.crt"
        files[name].write_bytes(cert_pem(ca.cert))
        if name == "ca":
            etcd_ca = ca
    for name, usage, ip in (("server", ExtendedKeyUsageOID.SERVER_AUTH, "127.0.0.1"),
                            ("client", ExtendedKeyUsageOID.CLIENT_AUTH, None)):
        cert, key = leaf(etcd_ca, f"etcd-{name}", usage, now, ip)
        files[name] = base / f"{name}.crt"
        files[name].write_bytes(cert_pem(cert))
        files[f"{name}-key"] = base / f"{name}.key"
        files[f"{name}-key"].write_bytes(key_pem(key))
    client_port, peer_port = free_port(), free_port()
    endpoint = f"https://127.0.0.1:{client_port}"
    log = open(base / "etcd.log", "wb")
    proc = subprocess.Popen(
        [shutil.which("etcd"), "--name", "tls", "--data-dir", str(base / "data"),
         "--listen-client-urls", endpoint, "--advertise-client-urls", endpoint,
         "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
         "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
         "--initial-cluster", f"tls=http://127.0.0.1:{peer_port}",
         "--cert-file", str(files["server"]), "--key-file", str(files["server-key"]),
         "--client-cert-auth", "--trusted-ca-file", str(files["ca"])],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    try:
        wait_http_ok(f"http://127.0.0.1:{peer_port}/version", 30, proc, what="etcd with TLS")
        yield endpoint, files
    finally:
        stop_process(proc)
        shutil.rmtree(base, ignore_errors=True)


async def test_mutual_tls_with_the_right_certificates(tls_etcd):
    endpoint, files = tls_etcd
    c = Etcd([endpoint], TLSFiles(str(files["ca"]), str(files["client"]), str(files["client-key"])))
    try:
        await put(c, b"/t/tls", b"secret")
        assert (await c.get(b"/t/tls"))[1].value == b"secret"
        assert (await c.status())["revision"] >= 2
    finally:
        await c.close()


@pytest.mark.parametrize("ca,cert,expected", [
    ("other-ca", "client", "CERTIFICATE_VERIFY_FAILED"),  # etcd's certificate is not from the CA we trust
    ("ca", None, "UNAVAILABLE"),  # no client certificate: etcd ends the handshake
], ids=["wrong CA", "no client certificate"])
async def test_tls_refusals_are_named(tls_etcd, ca, cert, expected):
    endpoint, files = tls_etcd
    tls = TLSFiles(str(files[ca]), str(files[cert]) if cert else None, str(files[f"{cert}-key"]) if cert else None)
    c = Etcd([endpoint], tls, timeout=5)
    try:
        with pytest.raises(EtcdUnavailable) as caught:
            await c.get(b"/t/tls")
        assert expected in str(caught.value) and endpoint.removeprefix("https://") in str(caught.value)
    finally:
        await c.close()


def test_a_client_certificate_needs_its_key():
    with pytest.raises(ValueError, match="--etcd-certfile and --etcd-keyfile go together"):
        TLSFiles(None, "/some/cert.pem", None).context()


async def test_the_bench_and_tests_call_etcd_methods_by_name(client):
    """``etcd.kv.Put`` and friends, as grpc stubs were called: paths and answer types from etcd's descriptors."""
    answer = await client.kv.Put(rpc.PutRequest(key=b"/t/stub", value=b"1"))
    assert isinstance(answer, rpc.PutResponse) and answer.header.revision > 0
    with pytest.raises(AttributeError, match="has no method Nope"):
        client.kv.Nope
