"""Objects in etcd: upstream's key layout, resourceVersion = etcd revision.

Every object lives under one key, ``/registry/<resource>/<namespace>/<name>``
(cluster-scoped: ``/registry/<resource>/<name>``), as JSON without its
``resourceVersion``: the resourceVersion *is* the key's etcd ``mod_revision``,
filled in on every read. So:

- a **get** reads one key;
- a **list** reads a key range at one revision, in pages (``limit`` and an
  opaque ``continue`` token that pins the revision and the next key);
- a **create** is a transaction "if the key does not exist, put";
- an **update** is a transaction "if the key's mod_revision is still the one
  I read, put": a concurrent writer makes it fail, and we either answer 409
  Conflict (the client sent a resourceVersion) or read again and retry. The
  read is skipped when this apiserver knows the key's last value already
  (:class:`RecentValues`: it wrote it), as upstream starts from its cache;
- a **delete** is "if unchanged, delete";
- a **watch** is an etcd watch on the collection's key range from a revision.
  When the etcd member under it goes away (an HA exercise stops it), the
  watch is opened again on another member from the revision it had reached:
  the client sees no gap and no repeat.

Writes may carry extra compares and operations for other keys (a Service and
the IP it takes from the allocator are written in one transaction), so what
belongs together is committed together or not at all.

Some objects expire: Events live ``--event-ttl`` (1h) after their last write.
Their keys are attached to an etcd **lease**, and etcd deletes them (a DELETE
in every watch) when the lease runs out. One lease serves many writes
(:class:`LeaseManager`, as upstream's): a lease per event would cost etcd a
grant and a timer for each.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable

from labkit.api import errors
from labkit.api.conversion import convert
from labkit.api.registry import Resource
from labkit.apiserver import codec
from labkit.apiserver.etcd import Compacted, Etcd, EtcdUnavailable, KeyValue, LeaseNotFound, prefix_end

log = logging.getLogger("labkit.apiserver.storage")

# A write that lost a race (etcd's compare failed) reads again and retries, as
# upstream's GuaranteedUpdate does, until the request's time is up: 20 writers on
# one object all land, none gets a 409 it did not earn with a stale resourceVersion.
RETRY_SECONDS = 30.0

# A watch that lost etcd is opened again (on the next member) this many times in a row before it
# ends; a watch that ran this many seconds before it failed counts as a new start.
WATCH_REOPENS = 8
WATCH_STEADY_SECONDS = 5.0


def retries(seconds: float = RETRY_SECONDS):
    """Attempt numbers 0, 1, 2 ... for as long as ``seconds`` allow (at least one)."""
    deadline = time.monotonic() + seconds
    attempt = 0
    while attempt == 0 or time.monotonic() < deadline:
        yield attempt
        attempt += 1


def encode(obj: dict) -> bytes:
    """The stored form: the object without its resourceVersion (etcd keeps that)."""
    meta = obj.get("metadata") or {}
    if "resourceVersion" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}
    return codec.dumps(obj)


def decode(resource: Resource, value: bytes, revision: int) -> dict:
    obj = codec.loads(value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return convert(obj, resource.api_version, resource.kind)


@dataclass
class Extras:
    """Other keys a write must check and change in the same transaction."""

    compares: list = field(default_factory=list)
    ops: list = field(default_factory=list)

    def __add__(self, other: "Extras") -> "Extras":
        return Extras(self.compares + other.compares, self.ops + other.ops)


NO_EXTRAS = Extras()


@dataclass
class Change:
    """What an update function decided: write ``obj``, delete the object, or nothing."""

    obj: dict | None = None
    delete: bool = False
    extras: Extras = field(default_factory=Extras)

    @classmethod
    def none(cls) -> "Change":
        return cls()


class RetryWrite(Exception):
    """An extra compare failed (another write took the same IP, say): read again and retry."""


@dataclass
class ListResult:
    items: list[dict]
    resource_version: str
    continue_token: str | None = None
    remaining: int | None = None


@dataclass
class StoredEvent:
    """One change of the collection as read from etcd (before selectors)."""

    type: str  # "PUT" or "DELETE"
    obj: dict | None  # the new object (for a delete: the last state, with the delete's resourceVersion)
    prev: dict | None  # the object before this change, if it existed
    revision: int


def encode_continue(revision: int, next_key: str) -> str:
    token = {"v": "meta.k8s.io/v1", "rv": revision, "start": next_key}
    return base64.urlsafe_b64encode(codec.dumps(token)).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = codec.loads(base64.urlsafe_b64decode(padded))
        if not isinstance(data, dict) or data.get("v") != "meta.k8s.io/v1" or not isinstance(data.get("rv"), int) or \
                not isinstance(data.get("start"), str):
            raise ValueError
        if "/" in data["start"].rstrip("\x00") and ".." in data["start"]:
            raise ValueError
        return data["rv"], data["start"]
    except (ValueError, TypeError):  # a JSON syntax error is a ValueError too
        raise errors.bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                                 "(version meta.k8s.io/v1)") from None


CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new list "
    "without the continue parameter, or use the continue token in this response to retrieve the remainder of the "
    "results. Continuing with the provided token results in an inconsistent list - objects that were created, "
    "modified, or deleted between the time the first chunk was returned and now may show up in the list.")


class Transformer:
    """What happens to a value between JSON and etcd: nothing here; encryption at rest overrides it.

    ``key`` is the etcd key (upstream binds ciphertexts to their key as
    authenticated data, so a value copied to another key does not decrypt).
    """

    def to_storage(self, key: bytes, data: bytes) -> bytes:
        return data

    def from_storage(self, key: bytes, data: bytes) -> bytes:
        return data

    def stale(self, key: bytes, data: bytes) -> bool:
        """True when the stored value was written with an old key: rewrite it even if unchanged."""
        return False


class LeaseManager:
    """Hands out etcd leases for expiring objects, one lease for a window of writes (upstream's leaseManager).

    A write asking for ``ttl`` seconds gets the current lease while that lease
    still outlives ``ttl`` and expires at most ``reuse`` seconds later than a
    lease of its own would, where ``reuse`` is 5% of the ttl and at most 60 s;
    else a new lease of ``ttl + reuse`` seconds is granted. So an object lives
    between ttl and ttl + reuse seconds after its last write, and with the
    default --event-ttl of 1h a busy cluster needs one lease a minute. A lease
    also serves at most 1000 writes.
    """

    REUSE_PERCENT = 0.05
    MAX_REUSE_SECONDS = 60
    MAX_OBJECTS = 1000

    def __init__(self, etcd: Etcd):
        self.etcd = etcd
        self._lease_id = 0
        self._expires_at = 0.0  # time.monotonic() of the current lease's end
        self._attached = 0
        self._lock = asyncio.Lock()  # one grant at a time: concurrent writes wait for it and share it

    def forget(self) -> None:
        """The current lease is gone from etcd (revoked, or etcd's data restored): the next write grants one."""
        self._lease_id, self._expires_at, self._attached = 0, 0.0, 0

    def reuse_seconds(self, ttl: int) -> int:
        return min(int(self.REUSE_PERCENT * ttl), self.MAX_REUSE_SECONDS)

    async def lease_for(self, ttl: int) -> int:
        async with self._lock:
            now = time.monotonic()
            reuse = self.reuse_seconds(ttl)
            self._attached += 1
            outlives = now + ttl < self._expires_at
            not_too_long = now + ttl + reuse > self._expires_at
            if outlives and not_too_long and self._attached <= self.MAX_OBJECTS:
                return self._lease_id
            self._lease_id = await self.etcd.grant_lease(ttl + reuse)
            self._expires_at = now + ttl + reuse
            self._attached = 1
            return self._lease_id


class RecentValues:
    """The last value this apiserver wrote (or saw) of each key: where an update starts, instead of a read.

    A key's value at a given mod_revision never changes, so the value this
    apiserver wrote at revision N *is* etcd's value at N; the update's
    transaction compares mod_revision == N as it would after a read. If someone
    else wrote the key meanwhile (another apiserver, a lease expiring), the
    compare fails, the transaction's failure branch returns the current value,
    and the update is tried again from that. An update that the known value
    refuses (a precondition, admission) or leaves unchanged is decided again
    on etcd's value before it is answered, as upstream's GuaranteedUpdate does
    when it starts from its cache. So no answer changes, and a single
    apiserver saves one etcd read per update and delete. Gets stay
    linearizable reads from etcd. At most ``max_bytes`` of values are kept,
    the least recently written go first.
    """

    def __init__(self, max_bytes: int = 64 * 1024 * 1024):
        self.max_bytes = max_bytes
        self._values: OrderedDict[bytes, KeyValue] = OrderedDict()
        self._bytes = 0

    def get(self, key: bytes) -> KeyValue | None:
        return self._values.get(key)

    def remember(self, kv: KeyValue) -> None:
        self.forget(kv.key)
        self._values[kv.key] = kv
        self._bytes += len(kv.value)
        while self._bytes > self.max_bytes:
            _, oldest = self._values.popitem(last=False)
            self._bytes -= len(oldest.value)

    def forget(self, key: bytes) -> None:
        old = self._values.pop(key, None)
        if old is not None:
            self._bytes -= len(old.value)

    def forget_written(self, ops: list) -> None:
        """Keys other ops of a transaction changed (a quota's usage): their known values are stale."""
        for op in ops:
            if op.HasField("request_put"):
                self.forget(op.request_put.key)
            elif op.HasField("request_delete_range"):
                self.forget(op.request_delete_range.key)


class Storage:
    def __init__(self, etcd: Etcd, prefix: str = "/registry", transformer: Transformer | None = None,
                 ttls: dict[str, int] | None = None):
        self.etcd = etcd
        self.prefix = "/" + prefix.strip("/")
        self.transformer = transformer or Transformer()
        # Seconds an object lives after its last write, by storage segment ({"events": --event-ttl}).
        self.ttls = {segment: seconds for segment, seconds in (ttls or {}).items() if seconds > 0}
        self.leases = LeaseManager(etcd)
        self.recent = RecentValues()

    async def lease_for(self, resource: Resource) -> int:
        """The etcd lease a write of this resource attaches its key to (0: none, the object stays)."""
        ttl = self.ttls.get(resource.storage)
        return await self.leases.lease_for(ttl) if ttl else 0

    async def _txn(self, resource: Resource, compare: list, success: list, failure: list) -> tuple[bool, int, list]:
        """etcd.txn of a write of ``resource``; once more with a new lease if the one it names is gone."""
        try:
            return await self.etcd.txn(compare, success, failure)
        except LeaseNotFound:
            self.leases.forget()
            lease = await self.lease_for(resource)
            for op in success:
                if op.HasField("request_put") and op.request_put.lease:
                    op.request_put.lease = lease
            return await self.etcd.txn(compare, success, failure)

    def _decode(self, resource: Resource, kv: KeyValue) -> dict:
        return decode(resource, self.transformer.from_storage(kv.key, kv.value), kv.mod_revision)

    def _encode(self, key: bytes, obj: dict) -> bytes:
        return self.transformer.to_storage(key, encode(obj))

    def key(self, resource: Resource, namespace: str | None, name: str) -> bytes:
        return resource.key(self.prefix, namespace, name).encode()

    def collection(self, resource: Resource, namespace: str | None) -> bytes:
        return resource.key(self.prefix, namespace, None).encode()

    # -- reads -----------------------------------------------------------------

    async def get(self, resource: Resource, namespace: str | None, name: str) -> dict:
        _, kv = await self.etcd.get(self.key(resource, namespace, name))
        if kv is None:
            raise errors.not_found(resource.plural, name, resource.group)
        return self._decode(resource, kv)

    async def get_or_none(self, resource: Resource, namespace: str | None, name: str) -> dict | None:
        _, kv = await self.etcd.get(self.key(resource, namespace, name))
        return self._decode(resource, kv) if kv else None

    async def list(self, resource: Resource, namespace: str | None, *,
                   match: Callable[[dict], bool] | None = None, limit: int = 0, continue_token: str | None = None,
                   resource_version: str | None = None, exact: bool = False) -> ListResult:
        """A consistent list: every item read at one etcd revision, filtered by ``match``, paged by ``limit``."""
        prefix = self.collection(resource, namespace)
        end = prefix_end(prefix)
        start, revision = prefix, 0
        if continue_token:
            revision, start_rel = decode_continue(continue_token)
            start = prefix + start_rel.encode()
        elif exact and resource_version:
            revision = int(resource_version)
        items: list[dict] = []
        # With a selector, a page of N keys may hold fewer than N matches:
        # read on in growing chunks until the page is full (as upstream does).
        chunk = limit
        while True:
            try:
                res = await self.etcd.range(start, end, revision=revision, limit=chunk)
            except Compacted:
                if continue_token:
                    raise errors.expired(CONTINUE_EXPIRED) from None
                raise errors.expired(f"too old resource version: {revision} ({await self.etcd.revision()})") from None
            if revision == 0:
                revision = res.revision
            for i, kv in enumerate(res.kvs):
                obj = self._decode(resource, kv)
                if match is None or match(obj):
                    items.append(obj)
                if limit and len(items) >= limit:
                    more = res.more or i < len(res.kvs) - 1
                    if not more:
                        return ListResult(items, str(revision))
                    next_key = kv.key[len(prefix):].decode() + "\x00"
                    remaining = res.count - (i + 1) if match is None else None
                    return ListResult(items, str(revision), encode_continue(revision, next_key), remaining)
            if not res.more or not res.kvs:
                return ListResult(items, str(revision))
            start = res.kvs[-1].key + b"\x00"
            chunk = min(chunk * 2, 10000)

    async def current_revision(self) -> int:
        return await self.etcd.revision()

    # -- writes ----------------------------------------------------------------

    async def create(self, resource: Resource, obj: dict, extras: Extras = NO_EXTRAS) -> dict:
        meta = obj["metadata"]
        key = self.key(resource, meta.get("namespace"), meta["name"])
        value = self._encode(key, obj)
        ok, revision, responses = await self._txn(
            resource, [Etcd.mod_revision_is(key, 0), *extras.compares],
            [Etcd.put(key, value, await self.lease_for(resource)), *extras.ops],
            [Etcd.read(key)])
        if not ok:
            if Etcd.read_result(responses[0]) is not None:
                raise errors.already_exists(resource.plural, meta["name"], resource.group)
            raise RetryWrite()
        self.recent.remember(KeyValue(key, value, revision, revision))
        self.recent.forget_written(extras.ops)
        return _with_rv(obj, revision)

    async def update(self, resource: Resource, namespace: str | None, name: str,
                     try_update: Callable[[dict], Awaitable[Change]], *,
                     precondition_rv: str | None = None, dry_run: bool = False) -> tuple[dict, str]:
        """Read, let ``try_update`` decide, write if unchanged meanwhile; retry on races.

        The read is skipped when :class:`RecentValues` knows the key's value.
        Returns (object, what happened: "updated", "unchanged" or "deleted").
        With ``precondition_rv`` (the client's resourceVersion) a race is the
        client's 409, never a retry: their copy is stale.
        """
        key = self.key(resource, namespace, name)
        known = None if dry_run else self.recent.get(key)  # the value this apiserver wrote last: no read
        if known is not None and precondition_rv is not None and precondition_rv != str(known.mod_revision):
            known = None  # the client speaks of another revision: etcd tells which is current
        for _ in retries():
            confirmed = known is None  # True when the value was read from etcd just now
            if known is not None:
                kv, known = known, None
            else:
                _, kv = await self.etcd.get(key)
            if kv is None:
                self.recent.forget(key)
                raise errors.not_found(resource.plural, name, resource.group)
            current = self._decode(resource, kv)
            if precondition_rv is not None and precondition_rv != str(kv.mod_revision):
                raise errors.conflict(resource.plural, name, resource.group)
            try:
                change = await try_update(current)
            except RetryWrite:
                continue
            except errors.StatusError:
                if not confirmed:
                    continue  # refused on a value etcd may no longer hold (as upstream: decide again on etcd's)
                raise
            if change.obj is None and not change.delete:
                if not confirmed:
                    continue  # "nothing to change" is only an answer about etcd's current value
                if not self.transformer.stale(kv.key, kv.value):
                    return current, "unchanged"
                change = Change(obj=current)  # same object, written again with the current first key
            if dry_run:
                return (change.obj or current), ("deleted" if change.delete else "updated")
            value = None if change.delete else self._encode(key, change.obj)
            op = Etcd.delete(key) if change.delete else Etcd.put(key, value, await self.lease_for(resource))
            ok, revision, responses = await self._txn(
                resource, [Etcd.mod_revision_is(key, kv.mod_revision), *change.extras.compares],
                [op, *change.extras.ops],
                [Etcd.read(key)])
            if ok:
                self.recent.forget_written(change.extras.ops)
                if change.delete:
                    self.recent.forget(key)
                    return _with_rv(change.obj or current, revision), "deleted"
                self.recent.remember(KeyValue(key, value, revision, kv.create_revision))
                return _with_rv(change.obj, revision), "updated"
            # Lost a race (or started from a value someone else has replaced since): the failure
            # branch read the current value; try again from it.
            fresh = Etcd.read_result(responses[0])
            if fresh is not None:
                self.recent.remember(fresh)
            else:
                self.recent.forget(key)
            if precondition_rv is not None:
                raise errors.conflict(resource.plural, name, resource.group)
            known = fresh
            if fresh is None:
                raise errors.not_found(resource.plural, name, resource.group)
        raise errors.conflict(resource.plural, name, resource.group,
                              detail="too many concurrent writers; please try again")

    # -- watch -----------------------------------------------------------------

    async def watch(self, resource: Resource, namespace: str | None, after_revision: int,
                    progress_every: float | None = None) -> AsyncIterator[StoredEvent | int]:
        """Every change after ``after_revision``; an int is progress (nothing changed up to that revision).

        Raises EtcdUnavailable when no etcd member has taken the watch back after ``WATCH_REOPENS`` tries.
        """
        prefix = self.collection(resource, namespace)
        delivered = after_revision  # every change up to this revision has been yielded
        reopens = 0
        loop = asyncio.get_running_loop()
        while True:
            opened = loop.time()
            try:
                async for batch in self.etcd.watch(prefix, prefix_end(prefix), delivered + 1, progress_every):
                    if not batch.events:
                        delivered = max(delivered, batch.revision)
                        yield batch.revision
                        continue
                    for ev in batch.events:
                        prev = self._decode(resource, ev.prev) if ev.prev else None
                        if ev.type == "DELETE":
                            if prev is None:
                                continue  # deleted before we could know what it was: nothing to tell
                            obj = _with_rv(dict(prev), ev.kv.mod_revision)
                            yield StoredEvent("DELETE", obj, prev, ev.kv.mod_revision)
                        else:
                            yield StoredEvent("PUT", self._decode(resource, ev.kv), prev, ev.kv.mod_revision)
                    # A batch holds whole revisions (etcd splits none unless asked to): done up to here.
                    delivered = batch.events[-1].kv.mod_revision
            except Compacted as exc:
                raise errors.expired(f"too old resource version: {delivered} ({exc.compact_revision})") from None
            except EtcdUnavailable as exc:
                reopens = 1 if loop.time() - opened > WATCH_STEADY_SECONDS else reopens + 1
                if reopens > WATCH_REOPENS or self.etcd.closed:
                    raise
                log.info("watch of %s lost etcd (%s): opening it again from revision %d",
                         prefix.decode(errors="replace"), exc, delivered + 1)
                await asyncio.sleep(min(0.1 * 2 ** reopens, 2.0))


def _with_rv(obj: dict, revision: int) -> dict:
    obj = dict(obj)
    obj["metadata"] = {**(obj.get("metadata") or {}), "resourceVersion": str(revision)}
    return obj
