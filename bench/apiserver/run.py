"""bench/apiserver: labkit-apiserver against raw etcd, on this machine, in one run.

    .venv/bin/python bench/apiserver/run.py [--clients 50] [--watchers 100] [--scale 1.0] [--workers N]

Starts a private etcd (Debian's) and labkit-apiserver on free loopback ports,
with ``--workers`` processes (default 1, the apiserver's own default; on
this 2-CPU machine, where etcd and this client share the CPUs, 2 workers
added 4-8% creates/s, see README.md), then measures, each phase with
``--clients`` concurrent clients (one HTTP connection each, as 50
independent controllers would have):

- raw etcd: puts and gets of ConfigMap-sized values with the apiserver's own
  etcd client (``labkit.apiserver.etcd.Etcd``: one HTTP/2 connection, like the server);
- apiserver: creates, gets, updates (PUT with resourceVersion), lists (a
  namespace of 100 ConfigMaps) and deletes of ConfigMaps over HTTP/JSON,
  through ``Http``, a lean HTTP/1.1 client (so that the client's own CPU
  weighs little, as the etcd client's does in the raw phases);
- watch fan-out: ``--watchers`` watches of one namespace, then single
  writes, one at a time: the time from starting the write to each watcher
  holding the event.

Prints throughput, p50/p99 latency and CPU per operation (of each process,
of everything else on the machine, stolen by the hypervisor, and idle) per phase, the ratio apiserver creates
/ raw etcd puts, and each of issue 2's targets with PASS/MISS. It is not a
test: the numbers depend on the machine (the targets are for 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import grpc
import orjson
from aetcd import rpc

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from labkit.apiserver.etcd import Etcd  # noqa: E402
from labkit.localplane import ApiserverProcess, EtcdProcess  # noqa: E402

# What one object looks like in both paths: a small ConfigMap (~300 bytes of JSON).
DATA = {"app.properties": "colour=blue\nsize=3\n" * 4, "mode": "bench"}


def configmap(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"app": "bench", "tier": "load"}}, "data": DATA}


RAW_VALUE = json.dumps({**configmap("x"), "metadata": {"name": "x", "namespace": "bench", "uid": str(uuid.uuid4()),
                                                       "creationTimestamp": "2026-12-01T00:00:00Z",
                                                       "labels": {"app": "bench", "tier": "load"}}}).encode()


def cpu_seconds(pid: int) -> float:
    """user+system CPU a process and its children not watched themselves (the apiserver's
    ``--workers``) have used, from /proc: a cost per operation that other load cannot inflate."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                for c in (task / "children").read_text().split()]
    return own + sum(cpu_seconds(child) for child in children if child not in WATCHED.values())


def machine_cpu_seconds() -> dict[str, float]:
    """CPU time of the whole machine, all CPUs together (from /proc/stat): busy, stolen, idle."""
    user, nice, system, idle, iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    tick = os.sysconf("SC_CLK_TCK")
    return {"busy": (user + nice + system + irq + softirq) / tick, "steal": steal / tick,
            "idle": (idle + iowait) / tick}


# The processes whose CPU each phase charges: filled in by measure().
WATCHED: dict[str, int] = {}
# Besides them, each phase shows, per operation, the CPU that everything else on the machine used
# ("others": other sessions), the time the hypervisor gave our virtual CPUs to other machines
# ("steal"), and the CPU left idle. Much idle CPU means the phase waited on something else than a
# CPU (etcd's disk syncs, say).
MACHINE = ("others", "steal", "idle")


def cpu_snapshot() -> dict[str, float]:
    return {**{p: cpu_seconds(pid) for p, pid in WATCHED.items()}, **machine_cpu_seconds()}


def cpu_since(before: dict[str, float]) -> dict[str, float]:
    """CPU seconds each watched process, the rest of the machine, the hypervisor and nobody used since ``before``."""
    now = cpu_snapshot()
    used = {p: now[p] - before[p] for p in WATCHED}
    return {**used, "others": max(0.0, now["busy"] - before["busy"] - sum(used.values())),
            "steal": now["steal"] - before["steal"], "idle": now["idle"] - before["idle"]}


@dataclass
class Phase:
    name: str
    ops: int
    seconds: float
    latencies: list[float] = field(default_factory=list)  # seconds, one per operation
    errors: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # process name -> CPU seconds used during the phase

    @property
    def throughput(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """p-th percentile in milliseconds (nearest rank)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
        return ordered[rank] * 1000

    def cpu_ms_per_op(self, process: str) -> float:
        return self.cpu.get(process, 0.0) * 1000 / self.ops if self.ops else 0.0

    @staticmethod
    def header() -> str:
        columns = (*WATCHED, *MACHINE)
        return (f"{'':<27} {'':>6} {'':>8} {'':>8} {'':>8} {'':>8} {'':>6} {'CPU ms per op':^{10 * len(columns)}}\n"
                f"{'phase':<27} {'ops':>6} {'ops/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>6} "
                + " ".join(f"{p:>9}" for p in columns))

    def line(self) -> str:
        costs = " ".join(f"{self.cpu_ms_per_op(p):>9.3f}" for p in (*WATCHED, *MACHINE))
        return (f"{self.name:<27} {self.ops:>6} {self.throughput:>8.0f} {self.percentile(50):>8.1f} "
                f"{self.percentile(99):>8.1f} {self.percentile(100):>8.1f} {self.errors:>6} {costs}")


async def run_concurrently(name: str, clients: int, ops: int, op) -> Phase:
    """``ops`` calls of ``op(client_index, op_index)`` spread over ``clients`` tasks; each call timed."""
    next_op = 0
    latencies: list[float] = []
    errors = 0

    async def client(c: int) -> None:
        nonlocal next_op, errors
        while next_op < ops:
            i = next_op
            next_op += 1
            started = time.perf_counter()
            try:
                await op(c, i)
            except Exception as exc:  # counted and shown: a benchmark reports, it does not stop
                errors += 1
                if errors <= 3:
                    print(f"  {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            latencies.append(time.perf_counter() - started)

    cpu_before = cpu_snapshot()
    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    seconds = time.perf_counter() - started
    cpu = cpu_since(cpu_before)
    return Phase(name, ops, seconds, latencies, errors, cpu)


# -- raw etcd ---------------------------------------------------------------------------------

async def bench_etcd(endpoint: str, clients: int, ops: int, suffix: str = "", raw_client: str = "labkit") -> list[Phase]:
    """Raw puts and gets; ``raw_client`` "labkit" is the apiserver's own client, "grpcio" grpc.aio's stubs
    (the reference of the runs recorded before 2026-12-01, when the apiserver used that client too)."""
    if raw_client == "grpcio":
        channel = grpc.aio.insecure_channel(urlsplit(endpoint).netloc)
        kv, close = rpc.KVStub(channel), channel.close
    else:
        etcd = Etcd([endpoint])
        kv, close = etcd.kv, etcd.close
    try:
        async def put(c: int, i: int) -> None:
            await kv.Put(rpc.PutRequest(key=f"/bench/raw/{i:08d}".encode(), value=RAW_VALUE), timeout=10)

        async def get(c: int, i: int) -> None:
            answer = await kv.Range(rpc.RangeRequest(key=f"/bench/raw/{i % ops:08d}".encode()), timeout=10)
            assert answer.kvs

        await run_concurrently("warm-up", clients, 200, put)
        return [await run_concurrently("etcd put" + suffix, clients, ops, put),
                await run_concurrently("etcd get" + suffix, clients, ops, get)]
    finally:
        await close()


# -- the apiserver ---------------------------------------------------------------------------

class Http:
    """A lean HTTP/1.1 client: one keep-alive connection per benchmark client; over TLS with ``ssl``.

    The benchmark measures the server, so its client should spend as little CPU as a correct
    client can (aiohttp's ClientSession cost 0.15-0.32 ms per request, 3 to 8 times what the etcd
    client costs per raw etcd put; this one 0.04-0.11). A request is written as one bytes object;
    a response is read in full (status line, headers, a body framed by Content-Length, or
    chunked, or by the server closing) and its status checked. JSON is decoded by the callers,
    only where a phase needs it (with orjson, as the apiserver does).
    ``headers`` (e.g. Authorization) go into every request. A client's connection is opened on
    its first call and kept; a response that ends it (``Connection: close``, a body framed by
    closing, an error mid-response) closes it, and the next call opens a new one.
    """

    def __init__(self, base: str, clients: int, ssl=None, headers: dict | None = None):
        url = urlsplit(base)
        if (url.scheme == "https") != (ssl is not None):
            raise ValueError(f"{base}: an https URL needs an ssl context, an http URL none")
        self.host, self.port, self.ssl = url.hostname, url.port or (443 if ssl else 80), ssl
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self.fixed_headers = f"Host: {url.netloc}\r\nAccept: application/json\r\n{extra}".encode()
        self.connections: list[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = [None] * clients

    async def call(self, c: int, method: str, path: str, body: dict | None = None, expect: int = 200) -> bytes:
        """One request on client ``c``'s connection: the response body, or an error naming what came back."""
        if self.connections[c] is None:
            self.connections[c] = await asyncio.open_connection(self.host, self.port, ssl=self.ssl)
        reader, writer = self.connections[c]
        request = f"{method} {path} HTTP/1.1\r\n".encode() + self.fixed_headers
        if body is None:
            writer.write(request + b"\r\n")
        else:
            data = json.dumps(body).encode()
            writer.write(request + b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data))
        try:
            status, raw, keep_alive = await read_response(reader, method)
        except BaseException:
            self.drop(c)  # a half-read response leaves the connection unusable
            raise
        if not keep_alive:
            self.drop(c)
        if status != expect:
            raise RuntimeError(f"{method} {path}: HTTP {status} (expected {expect}): {raw[:300]!r}")
        return raw

    def drop(self, c: int) -> None:
        connection, self.connections[c] = self.connections[c], None
        if connection is not None:
            connection[1].close()

    async def close(self) -> None:
        writers = [connection[1] for connection in self.connections if connection is not None]
        for c in range(len(self.connections)):
            self.drop(c)
        for writer in writers:
            try:
                await writer.wait_closed()
            except OSError:
                pass  # already reset by the server: closed all the same


async def read_response(reader: asyncio.StreamReader, method: str) -> tuple[int, bytes, bool]:
    """The next HTTP/1.1 response in full: status code, body, and whether the connection stays open."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise ConnectionError(f"the server closed the connection after {len(exc.partial)} bytes of a "
                              "response head") from None
    status_line, *lines = head[:-4].split(b"\r\n")
    version, _, rest = status_line.partition(b" ")
    if version not in (b"HTTP/1.1", b"HTTP/1.0") or not rest[:3].isdigit() or rest[3:4] not in (b"", b" "):
        raise ConnectionError(f"not an HTTP/1.x status line: {status_line[:100]!r}")
    status = int(rest[:3])
    headers: dict[bytes, bytes] = {}
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise ConnectionError(f"malformed response header line: {line[:100]!r}")
        name = name.lower()
        headers[name] = headers[name] + b"," + value.strip() if name in headers else value.strip()
    if 100 <= status < 200:
        raise ConnectionError(f"an interim response {status}: this client sends no Expect nor Upgrade")
    tokens = {t.strip() for t in headers.get(b"connection", b"").lower().split(b",")}
    keep_alive = b"close" not in tokens if version == b"HTTP/1.1" else b"keep-alive" in tokens
    if method == "HEAD" or status in (204, 304):
        return status, b"", keep_alive
    if b"transfer-encoding" in headers:
        if headers[b"transfer-encoding"].lower() != b"chunked":
            raise ConnectionError(f"unsupported Transfer-Encoding: {headers[b'transfer-encoding']!r}")
        return status, await read_chunked(reader), keep_alive
    length = headers.get(b"content-length")
    if length is None:
        return status, await reader.read(), False  # framed by the server closing (RFC 9112 6.3)
    if not length.isdigit():
        raise ConnectionError(f"bad Content-Length: {length!r}")
    try:
        return status, await reader.readexactly(int(length)), keep_alive
    except asyncio.IncompleteReadError as exc:
        raise ConnectionError(f"the server closed the connection after {len(exc.partial)} of {int(length)} "
                              "body bytes") from None


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A chunked body (RFC 9112 7.1): hex size lines, each chunk followed by CRLF, trailer fields skipped."""
    body = bytearray()
    try:
        while True:
            size = (await reader.readuntil(b"\r\n"))[:-2].split(b";", 1)[0].strip()
            if not size or size.strip(b"0123456789abcdefABCDEF"):
                raise ConnectionError(f"bad chunk size line: {size[:100]!r}")
            if int(size, 16) == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass  # a trailer field
                return bytes(body)
            body += await reader.readexactly(int(size, 16))
            if await reader.readexactly(2) != b"\r\n":
                raise ConnectionError("a chunk not followed by CRLF")
    except asyncio.IncompleteReadError as exc:
        raise ConnectionError(f"the server closed the connection inside a chunked body "
                              f"({len(body) + len(exc.partial)} bytes read)") from None


async def bench_apiserver(url: str, clients: int, ops: int, list_ops: int, http: Http | None = None,
                          ns: str = "bench", label: str = "apiserver") -> list[Phase]:
    """The ConfigMap workload in namespaces ``ns`` and ``ns``-list; phases named "<label> create" ..."""
    http = http or Http(url, clients)
    cms = f"/api/v1/namespaces/{ns}/configmaps"
    try:
        await http.call(0, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                           "metadata": {"name": ns}}, 201)
        await http.call(0, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                           "metadata": {"name": f"{ns}-list"}}, 201)
        for i in range(100):
            await http.call(0, "POST", f"/api/v1/namespaces/{ns}-list/configmaps", configmap(f"item-{i:03d}"), 201)
        versions: dict[int, str] = {}

        async def warm(c: int, i: int) -> None:
            await http.call(c, "POST", cms, configmap(f"warm-{i}"), 201)

        async def create(c: int, i: int) -> None:
            made = await http.call(c, "POST", cms, configmap(f"cm-{i:06d}"), 201)
            versions[i] = orjson.loads(made)["metadata"]["resourceVersion"]  # the update phase sends it back

        async def get(c: int, i: int) -> None:
            await http.call(c, "GET", f"{cms}/cm-{i % ops:06d}")

        async def update(c: int, i: int) -> None:
            body = configmap(f"cm-{i:06d}")
            body["metadata"]["resourceVersion"] = versions[i]
            body["data"] = {**DATA, "mode": "updated"}
            await http.call(c, "PUT", f"{cms}/cm-{i:06d}", body)

        async def list_100(c: int, i: int) -> None:
            listed = orjson.loads(await http.call(c, "GET", f"/api/v1/namespaces/{ns}-list/configmaps"))
            if len(listed["items"]) != 100:
                raise RuntimeError(f"a list of {len(listed['items'])} items, not 100")

        async def delete(c: int, i: int) -> None:
            await http.call(c, "DELETE", f"{cms}/cm-{i:06d}")

        await run_concurrently("warm-up", clients, 200, warm)
        phases = [await run_concurrently(f"{label} create", clients, ops, create),
                  await run_concurrently(f"{label} get", clients, ops, get),
                  await run_concurrently(f"{label} update", clients, ops, update),
                  await run_concurrently(f"{label} list (100 items)", clients, list_ops, list_100),
                  await run_concurrently(f"{label} delete", clients, ops, delete)]
        # One client alone: the latency of a call with nobody queued before it.
        solo = 200

        async def solo_create(c: int, i: int) -> None:
            await http.call(c, "POST", cms, configmap(f"solo-{i:06d}"), 201)

        async def solo_get(c: int, i: int) -> None:
            await http.call(c, "GET", f"{cms}/solo-{i:06d}")

        phases += [await run_concurrently(f"{label} create, 1 client", 1, solo, solo_create),
                   await run_concurrently(f"{label} get, 1 client", 1, solo, solo_get)]
        return phases
    finally:
        await http.close()


async def bench_watch_fanout(url: str, watchers: int, events: int) -> Phase:
    """``watchers`` watches of one namespace; ``events`` writes one at a time; write-to-delivery per watcher."""
    ns = "bench-watch"
    path = f"/api/v1/namespaces/{ns}/configmaps"
    writer = aiohttp.ClientSession(url)
    sessions = [aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=1)) for _ in range(watchers)]
    sent: dict[str, float] = {}
    latencies: list[float] = []
    pending: dict[str, int] = {}
    all_in = {}
    try:
        async with writer.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                             "metadata": {"name": ns}}) as resp:
            assert resp.status == 201, await resp.text()
        async with writer.get(path) as resp:
            rv = (await resp.json())["metadata"]["resourceVersion"]
        ready = asyncio.Event()
        opened = 0

        async def watch(s: aiohttp.ClientSession) -> None:
            nonlocal opened
            params = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "600"}
            async with s.get(path, params=params) as resp:
                assert resp.status == 200
                opened += 1
                if opened == watchers:
                    ready.set()
                async for line in resp.content:
                    arrived = time.perf_counter()
                    name = json.loads(line)["object"]["metadata"]["name"]
                    latencies.append(arrived - sent[name])
                    pending[name] -= 1
                    if pending[name] == 0:
                        all_in[name].set()
                    if name == f"ev-{events - 1}":
                        return

        tasks = [asyncio.create_task(watch(s)) for s in sessions]
        await asyncio.wait_for(ready.wait(), 30)
        await asyncio.sleep(0.5)  # every watch is registered with etcd, not just answered 200
        cpu_before = cpu_snapshot()
        started = time.perf_counter()
        for k in range(events):
            name = f"ev-{k}"
            pending[name] = watchers
            all_in[name] = asyncio.Event()
            sent[name] = time.perf_counter()
            async with writer.post(path, json=configmap(name)) as resp:
                assert resp.status == 201, await resp.text()
            await asyncio.wait_for(all_in[name].wait(), 30)
            await asyncio.sleep(0.02)
        seconds = time.perf_counter() - started
        cpu = cpu_since(cpu_before)
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        return Phase(f"watch fan-out x{watchers}", events * watchers, seconds, latencies, cpu=cpu)
    finally:
        await writer.close()
        for s in sessions:
            await s.close()


# -- main -----------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


async def measure(args) -> int:
    base = Path(tempfile.mkdtemp(prefix="labkit-bench-apiserver-"))
    etcd = EtcdProcess(data_dir=base / "etcd").start()
    server = ApiserverProcess(etcd=etcd, log_path=base / "apiserver.log",
                              extra_args=(f"--workers={args.workers}", *args.apiserver_arg)).start()
    WATCHED.update({"apiserver": server.proc.pid, "etcd": etcd.proc.pid, "bench": os.getpid()})
    ops = max(100, int(2000 * args.scale))
    list_ops = max(50, int(500 * args.scale))
    try:
        print(f"labkit-apiserver --workers={args.workers} {server.url} on etcd {etcd.endpoint}; "
              f"{args.clients} clients, "
              f"{ops} ops per phase (lists: {list_ops}), {args.watchers} watchers x {args.events} events; "
              f"raw etcd through the {args.raw_client} client; "
              f"load average before: {os.getloadavg()[0]:.1f}")
        raw = await bench_etcd(etcd.endpoint, args.clients, ops, raw_client=args.raw_client)
        api = await bench_apiserver(server.url, args.clients, ops, list_ops)
        # etcd again after the apiserver: the ratio uses both, so a change of the machine's
        # background load during the run weighs on both sides alike.
        raw += await bench_etcd(etcd.endpoint, args.clients, ops, suffix=" (again)", raw_client=args.raw_client)
        fanout = await bench_watch_fanout(server.url, args.watchers, args.events)
    finally:
        server.stop()
        etcd.stop()
        log = server.log()
        if "Traceback" in log:
            print(log[-4000:], file=sys.stderr)
        shutil.rmtree(base, ignore_errors=True)

    print(f"load average after: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} CPUs: above that, other work "
          "shared the machine and the latencies are inflated; the CPU ms/op columns much less)")
    print()
    print(Phase.header())
    for phase in raw + api + [fanout]:
        print(phase.line())
    by = {p.name: p for p in raw + api}
    put_throughput = (by["etcd put"].throughput + by["etcd put (again)"].throughput) / 2
    ratio = by["apiserver create"].throughput / put_throughput
    mutating_p99 = max(by[n].percentile(99) for n in ("apiserver create", "apiserver update", "apiserver delete"))
    checks = [
        (f"p99 of mutating calls (create/update/delete) {mutating_p99:.1f} ms < 100 ms", mutating_p99 < 100),
        (f"p99 of gets {by['apiserver get'].percentile(99):.1f} ms < 50 ms", by["apiserver get"].percentile(99) < 50),
        (f"creates / raw etcd puts = {by['apiserver create'].throughput:.0f} / {put_throughput:.0f} "
         f"= {ratio:.0%} >= 30%", ratio >= 0.30),
        (f"watch fan-out p99 {fanout.percentile(99):.1f} ms < 100 ms", fanout.percentile(99) < 100),
    ]
    print()
    for text, ok in checks:
        print(f"{verdict(ok)}  {text}")
    # The same ratio from CPU costs, as on an idle machine: a phase's rate is bounded by the CPU
    # all processes spend per operation over the cores, and by its busiest event loop (each
    # apiserver worker, and the Python bench client, run one event loop each; etcd uses threads).
    loops = {"apiserver": args.workers, "bench": 1}

    def idle_rate(phase: Phase, single_threaded: tuple[str, ...]) -> float | None:
        total = sum(phase.cpu_ms_per_op(p) for p in WATCHED) / 1000
        busiest = max(phase.cpu_ms_per_op(p) / loops[p] for p in single_threaded) / 1000
        if busiest == 0:
            return None  # a phase shorter than the CPU clock's tick (10 ms) for some process
        return min((os.cpu_count() or 1) / total, 1 / busiest)
    idle_creates = idle_rate(by["apiserver create"], ("apiserver", "bench"))
    idle_puts = idle_rate(by["etcd put"], ("bench",))
    if idle_creates is None or idle_puts is None:
        print("\nfrom CPU per op: the phases were too short to charge each process a CPU tick (raise --scale)")
    else:
        print(f"\nfrom CPU per op, on an idle machine of {os.cpu_count()} CPUs: about {idle_creates:.0f} creates/s "
              f"and {idle_puts:.0f} raw puts/s, ratio {idle_creates / idle_puts:.0%}")
    errors = sum(p.errors for p in raw + api + [fanout])
    if errors:
        print(f"\n{errors} operations failed (see stderr)")
    return 0 if errors == 0 else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=50, help="concurrent clients per phase (default 50)")
    p.add_argument("--watchers", type=int, default=100, help="concurrent watchers for the fan-out (default 100)")
    p.add_argument("--events", type=int, default=30, help="events written during the fan-out (default 30)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply the operations per phase (default 1.0)")
    p.add_argument("--workers", type=int, default=1, help="labkit-apiserver --workers (default 1)")
    p.add_argument("--apiserver-arg", action="append", default=[], help="extra flag for labkit-apiserver")
    p.add_argument("--raw-client", choices=("labkit", "grpcio"), default="labkit",
                   help="etcd client of the raw phases: the apiserver's own (default), or grpcio's, the reference "
                        "of the runs recorded before 2026-12-01")
    args = p.parse_args()
    return asyncio.run(measure(args))


if __name__ == "__main__":
    sys.exit(main())
