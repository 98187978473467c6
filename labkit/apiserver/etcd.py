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
through grpc.aio directly, so nothing here hides how etcd is used.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator
from urllib.parse import urlparse

import grpc
from aetcd import rpc


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

    def credentials(self) -> grpc.ChannelCredentials:
        def read(path):
            return Path(path).read_bytes() if path else None
        return grpc.ssl_channel_credentials(read(self.ca), read(self.key), read(self.cert))


class Etcd:
    """One gRPC channel to an etcd cluster (``--etcd-servers``, comma separated)."""

    def __init__(self, servers: list[str], tls: TLSFiles | None = None, timeout: float = 10.0):
        if not servers:
            raise ValueError("--etcd-servers must name at least one etcd endpoint")
        targets = []
        secure = False
        for server in servers:
            url = urlparse(server if "://" in server else f"http://{server}")
            secure = secure or url.scheme == "https"
            targets.append(f"{url.hostname}:{url.port or 2379}")
        self.servers = servers
        self.timeout = timeout
        # gRPC balances over every endpoint and moves on when one dies (an HA
        # exercise stops an etcd member: the apiserver keeps working).
        target = targets[0] if len(targets) == 1 else "ipv4:" + ",".join(targets)
        options = [("grpc.lb_policy_name", "round_robin"), ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                   ("grpc.keepalive_time_ms", 30000)]
        self._target, self._options = target, options
        self._credentials = (tls or TLSFiles()).credentials() if secure else None
        self._channel = None

    # The channel is opened on first use: grpc.aio binds it to the event loop running then,
    # so an Etcd made outside the loop (at import, in a fixture) still works inside it.
    @property
    def channel(self):
        if self._channel is None:
            if self._credentials is not None:
                self._channel = grpc.aio.secure_channel(self._target, self._credentials, options=self._options)
            else:
                self._channel = grpc.aio.insecure_channel(self._target, options=self._options)
            self._stubs = (rpc.KVStub(self._channel), rpc.WatchStub(self._channel),
                           rpc.MaintenanceStub(self._channel), rpc.LeaseStub(self._channel))
        return self._channel

    def _stub(self, index: int):
        _ = self.channel  # opens it (and the stubs) if needed
        return self._stubs[index]

    @property
    def kv(self):
        return self._stub(0)

    @property
    def watch_stub(self):
        return self._stub(1)

    @property
    def maintenance(self):
        return self._stub(2)

    @property
    def leases(self):
        return self._stub(3)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def _call(self, method, request, timeout: float | None = None):
        try:
            return await method(request, timeout=timeout or self.timeout)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.OUT_OF_RANGE or "compacted" in (exc.details() or ""):
                raise Compacted(getattr(request, "revision", 0), 0) from None
            if exc.code() == grpc.StatusCode.NOT_FOUND and "lease not found" in (exc.details() or ""):
                raise LeaseNotFound(exc.details()) from None
            # A write over etcd's limit: "etcdserver: request is too large", or past 2 MiB refused
            # by etcd's gRPC server itself. Nothing is wrong with etcd: the object is too big.
            if isinstance(request, rpc.TxnRequest) and (exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED or
                                                         "request is too large" in (exc.details() or "")):
                raise RequestTooLarge(f"etcd refused to store it: {exc.details()}") from None
            raise EtcdUnavailable(f"etcd ({', '.join(self.servers)}): {exc.code().name}: {exc.details()}") from None

    # -- reads -----------------------------------------------------------------

    async def get(self, key: bytes) -> tuple[int, KeyValue | None]:
        """(store revision, the key's value or None)."""
        resp = await self._call(self.kv.Range, rpc.RangeRequest(key=key))
        return resp.header.revision, (_kv(resp.kvs[0]) if resp.kvs else None)

    async def range(self, start: bytes, end: bytes, *, revision: int = 0, limit: int = 0,
                    count_only: bool = False) -> RangeResult:
        """Keys in [start, end) sorted by key, at ``revision`` (0: the latest)."""
        request = rpc.RangeRequest(key=start, range_end=end, revision=revision, limit=limit, count_only=count_only)
        resp = await self._call(self.kv.Range, request)
        return RangeResult(resp.header.revision, [_kv(kv) for kv in resp.kvs], resp.more, resp.count)

    async def revision(self) -> int:
        """The store's current revision (a one-key read: cheap, linearizable)."""
        resp = await self._call(self.kv.Range, rpc.RangeRequest(key=b"\x00", count_only=True))
        return resp.header.revision

    async def status(self) -> dict:
        resp = await self._call(self.maintenance.Status, rpc.StatusRequest(), timeout=3)
        return {"version": resp.version, "revision": resp.header.revision, "leader": resp.leader}

    # -- writes (transactions) -------------------------------------------------

    async def txn(self, compare: list, success: list, failure: list | None = None) -> tuple[bool, int, list]:
        """Run one transaction; (succeeded, revision after it, responses of the branch taken)."""
        resp = await self._call(self.kv.Txn, rpc.TxnRequest(compare=compare, success=success, failure=failure or []))
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
        resp = await self._call(self.leases.LeaseGrant, rpc.LeaseGrantRequest(TTL=ttl_seconds))
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
        requests: asyncio.Queue = asyncio.Queue()
        create = rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
            key=start, range_end=end, start_revision=start_revision, prev_kv=True))
        await requests.put(create)

        async def request_stream():
            while True:
                item = await requests.get()
                if item is None:
                    return
                yield item

        call = self.watch_stub.Watch(request_stream())
        progress_task = None
        if progress_every:
            async def ask_progress():
                while True:
                    await asyncio.sleep(progress_every)
                    await requests.put(rpc.WatchRequest(progress_request=rpc.WatchProgressRequest()))
            progress_task = asyncio.create_task(ask_progress())
        try:
            async for resp in call:
                if resp.compact_revision:
                    raise Compacted(start_revision, resp.compact_revision)
                if resp.canceled:
                    raise EtcdUnavailable(f"etcd canceled the watch: {resp.cancel_reason or 'no reason given'}")
                if resp.created and not resp.events:
                    continue
                events = [WatchEvent("DELETE" if ev.type == rpc.Event.DELETE else "PUT", _kv(ev.kv),
                                     _kv(ev.prev_kv) if ev.HasField("prev_kv") else None) for ev in resp.events]
                yield WatchBatch(resp.header.revision, events)
        except grpc.aio.AioRpcError as exc:
            raise EtcdUnavailable(f"etcd watch: {exc.code().name}: {exc.details()}") from None
        finally:
            if progress_task is not None:
                progress_task.cancel()
            await requests.put(None)
            call.cancel()
