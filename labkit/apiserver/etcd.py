"""A small async etcd v3 client: exactly the calls the apiserver's storage makes.

etcd is a key-value store with a global revision: every write (put, delete,
transaction) bumps it by one, and every key remembers the revision of its last
change (``mod_revision``). Kubernetes builds on three of its features:

- **Range reads** pinned to a revision, with a limit: a consistent paged list
  (``?limit=500&continue=...`` reads every page at the first page's revision).
- **Transactions** ``if mod_revision(key) == N then put else get``: optimistic
  concurrency, which is how a stale ``resourceVersion`` becomes 409 Conflict.
- **Watches** from a revision: every change after it, in order, with the
  previous value (``prev_kv``); a revision older than the last compaction is
  refused, which the apiserver turns into 410 Expired.

The messages are etcd's own protobufs (shipped with ``aetcd``); the calls go
over labkit's own gRPC wire (:mod:`labkit.apiserver.grpc_wire`: HTTP/2 on the
event loop, a quarter of grpcio's CPU per call), so nothing here hides how
etcd is used.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import AsyncIterator
from urllib.parse import urlparse

from aetcd import rpc

from labkit.apiserver.grpc_wire import NOT_FOUND, OUT_OF_RANGE, RESOURCE_EXHAUSTED, Channel, GrpcError


class EtcdUnavailable(Exception):
    """No endpoint answered: the apiserver reports 503/500 and /readyz fails."""


class RequestTooLarge(Exception):
    """etcd refused a write bigger than its --max-request-bytes (1.5 MiB by default): the client's 413."""


class LeaseNotFound(Exception):
    """A write named a lease etcd no longer has (it expired, or was revoked): grant a new one and retry."""


class Compacted(Exception):
    """The revision asked for was compacted away."""

    def __init__(self, requested: int, compact_revision: int):
        super().__init__(f"revision {requested} is compacted (oldest available: {compact_revision})")
        self.requested = requested
        self.compact_revision = compact_revision


@dataclass
class KeyValue:
    key: bytes
    value: bytes
    mod_revision: int
    create_revision: int


@dataclass
class RangeResult:
    revision: int  # the store's revision the read was made at
    kvs: list[KeyValue]
    more: bool
    count: int


@dataclass
class WatchEvent:
    """One change: ``kv`` is the new value (empty value for a delete), ``prev`` the old one if any."""

    type: str  # "PUT" or "DELETE"
    kv: KeyValue
    prev: KeyValue | None


@dataclass
class WatchBatch:
    """What one watch response carries: events, or only progress (``revision``) when events is empty."""

    revision: int
    events: list[WatchEvent]


def prefix_end(prefix: bytes) -> bytes:
    """The first key after every key starting with ``prefix`` (etcd's range_end for a prefix)."""
    end = bytearray(prefix)
    for i in reversed(range(len(end))):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\x00"


def _kv(kv) -> KeyValue:
    return KeyValue(kv.key, kv.value, kv.mod_revision, kv.create_revision)


@dataclass
class TLSFiles:
    """``--etcd-cafile``/``--etcd-certfile``/``--etcd-keyfile``: mutual TLS to etcd."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None

    def context(self) -> ssl.SSLContext:
        """Verify etcd's serving certificate against ``ca`` (the system's CAs without one); present ``cert``."""
        if bool(self.cert) != bool(self.key):
            raise ValueError("--etcd-certfile and --etcd-keyfile go together")
        context = ssl.create_default_context(cafile=self.ca or None)
        if self.cert:
            context.load_cert_chain(self.cert, self.key)
        context.set_alpn_protocols(["h2"])  # gRPC is HTTP/2, chosen in the TLS handshake
        return context


class Service:
    """One of etcd's gRPC services, called like a generated stub: ``await etcd.kv.Put(PutRequest(...))``.

    Each method's path and answer type come from etcd's own service descriptors (rpc.proto).
    """

    def __init__(self, etcd: "Etcd", name: str):
        self._etcd = etcd
        self._descriptor = rpc.rpc_pb2.DESCRIPTOR.services_by_name[name]

    def __getattr__(self, method_name: str):
        method = self._descriptor.methods_by_name.get(method_name)
        if method is None:
            raise AttributeError(f"etcd's {self._descriptor.name} service has no method {method_name}")
        path = f"/{self._descriptor.full_name}/{method_name}"
        answer = getattr(rpc, method.output_type.name)

        async def call(request, timeout: float | None = None):
            return await self._etcd._call(path, request, answer, timeout)
        setattr(self, method_name, call)  # looked up once
        return call


class Etcd:
    """A connection to an etcd cluster (``--etcd-servers``, comma separated), opened on first use."""

    def __init__(self, servers: list[str], tls: TLSFiles | None = None, timeout: float = 10.0):
        if not servers:
            raise ValueError("--etcd-servers must name at least one etcd endpoint")
        endpoints = []
        secure = False
        for server in servers:
            url = urlparse(server if "://" in server else f"http://{server}")
            secure = secure or url.scheme == "https"
            endpoints.append((url.hostname, url.port or 2379))
        self.servers = servers
        self.timeout = timeout
        # Every member serves every call: when the one in use stops answering (an HA exercise
        # stops an etcd member), the channel moves on to the next.
        self.channel = Channel(endpoints, (tls or TLSFiles()).context() if secure else None)
        self.kv, self.maintenance, self.leases = Service(self, "KV"), Service(self, "Maintenance"), Service(self, "Lease")
        self.closed = False

    async def close(self) -> None:
        self.closed = True  # what is cut short by closing is not to be tried again (Storage.watch)
        self.channel.close()

    async def _call(self, path: str, request, answer_type, timeout: float | None = None):
        try:
            data = await self.channel.unary(path, request.SerializeToString(), timeout or self.timeout)
        except GrpcError as exc:
            if exc.code == OUT_OF_RANGE or "compacted" in exc.message:
                raise Compacted(getattr(request, "revision", 0), 0) from None
            if exc.code == NOT_FOUND and "lease not found" in exc.message:
                raise LeaseNotFound(exc.message) from None
            # A write over etcd's limit: "etcdserver: request is too large", or past 2 MiB refused
            # by etcd's gRPC server itself. Nothing is wrong with etcd: the object is too big.
            if isinstance(request, rpc.TxnRequest) and (exc.code == RESOURCE_EXHAUSTED or
                                                         "request is too large" in exc.message):
                raise RequestTooLarge(f"etcd refused to store it: {exc.message}") from None
            raise EtcdUnavailable(f"etcd ({', '.join(self.servers)}): {exc.code_name}: {exc.message}") from None
        return answer_type.FromString(data)

    # -- reads -----------------------------------------------------------------

    async def get(self, key: bytes) -> tuple[int, KeyValue | None]:
        """(store revision, the key's value or None)."""
        resp = await self.kv.Range(rpc.RangeRequest(key=key))
        return resp.header.revision, (_kv(resp.kvs[0]) if resp.kvs else None)

    async def range(self, start: bytes, end: bytes, *, revision: int = 0, limit: int = 0,
                    count_only: bool = False) -> RangeResult:
        """Keys in [start, end) sorted by key, at ``revision`` (0: the latest)."""
        request = rpc.RangeRequest(key=start, range_end=end, revision=revision, limit=limit, count_only=count_only)
        resp = await self.kv.Range(request)
        return RangeResult(resp.header.revision, [_kv(kv) for kv in resp.kvs], resp.more, resp.count)

    async def revision(self, timeout: float | None = None) -> int:
        """The store's current revision (a one-key read: cheap, linearizable, so it needs a quorum)."""
        resp = await self.kv.Range(rpc.RangeRequest(key=b"\x00", count_only=True), timeout=timeout)
        return resp.header.revision

    async def status(self) -> dict:
        resp = await self.maintenance.Status(rpc.StatusRequest(), timeout=3)
        return {"version": resp.version, "revision": resp.header.revision, "leader": resp.leader}

    # -- writes (transactions) -------------------------------------------------

    async def txn(self, compare: list, success: list, failure: list | None = None) -> tuple[bool, int, list]:
        """Run one transaction; (succeeded, revision after it, responses of the branch taken)."""
        resp = await self.kv.Txn(rpc.TxnRequest(compare=compare, success=success, failure=failure or []))
        return resp.succeeded, resp.header.revision, list(resp.responses)

    @staticmethod
    def mod_revision_is(key: bytes, revision: int):
        """Compare: the key's last change is ``revision`` (0: the key does not exist)."""
        return rpc.Compare(key=key, result=rpc.Compare.EQUAL, target=rpc.Compare.MOD, mod_revision=revision)

    @staticmethod
    def put(key: bytes, value: bytes, lease: int = 0):
        return rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=value, lease=lease))

    @staticmethod
    def delete(key: bytes):
        return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=key))

    @staticmethod
    def read(key: bytes):
        return rpc.RequestOp(request_range=rpc.RangeRequest(key=key))

    @staticmethod
    def read_result(response) -> KeyValue | None:
        """The value a ``read`` op in a transaction saw (None when the key is missing)."""
        kvs = response.response_range.kvs
        return _kv(kvs[0]) if kvs else None

    async def grant_lease(self, ttl_seconds: int) -> int:
        resp = await self.leases.LeaseGrant(rpc.LeaseGrantRequest(TTL=ttl_seconds))
        return resp.ID

    # -- watch -----------------------------------------------------------------

    async def watch(self, start: bytes, end: bytes, start_revision: int,
                    progress_every: float | None = None) -> AsyncIterator[WatchBatch]:
        """Every change in [start, end) from ``start_revision`` on (inclusive), in order.

        With ``progress_every``, asks etcd for a progress notification after
        that many idle seconds: an empty batch whose revision tells that
        nothing in range changed up to there (the apiserver's BOOKMARKs).
        Raises ``Compacted`` when ``start_revision`` is older than etcd keeps.
        """
        create = rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
            key=start, range_end=end, start_revision=start_revision, prev_kv=True))
        try:
            stream = await self.channel.stream("/etcdserverpb.Watch/Watch")
        except GrpcError as exc:
            raise EtcdUnavailable(f"etcd watch ({', '.join(self.servers)}): {exc.code_name}: {exc.message}") from None
        progress_task = None
        if progress_every:
            async def ask_progress():
                progress = rpc.WatchRequest(progress_request=rpc.WatchProgressRequest()).SerializeToString()
                try:
                    while True:
                        await asyncio.sleep(progress_every)
                        await stream.send(progress)
                except GrpcError:
                    return  # the stream ended: the loop below reports why
            progress_task = asyncio.create_task(ask_progress())
        try:
            await stream.send(create.SerializeToString())
            while True:
                data = await stream.receive()
                if data is None:
                    raise EtcdUnavailable("etcd ended the watch")
                resp = rpc.WatchResponse.FromString(data)
                if resp.compact_revision:
                    raise Compacted(start_revision, resp.compact_revision)
                if resp.canceled:
                    raise EtcdUnavailable(f"etcd canceled the watch: {resp.cancel_reason or 'no reason given'}")
                if resp.created and not resp.events:
                    continue
                events = [WatchEvent("DELETE" if ev.type == rpc.Event.DELETE else "PUT", _kv(ev.kv),
                                     _kv(ev.prev_kv) if ev.HasField("prev_kv") else None) for ev in resp.events]
                yield WatchBatch(resp.header.revision, events)
        except GrpcError as exc:
            raise EtcdUnavailable(f"etcd watch: {exc.code_name}: {exc.message}") from None
        finally:
            if progress_task is not None:
                progress_task.cancel()
            stream.cancel()
