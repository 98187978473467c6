"""Lease-based leader election, as client-go's ``leaderelection`` package.

Several copies of a component run (one per master) but only one may act: two
controller-managers creating ReplicaSet pods at once would create twice as
many. They agree through one ``coordination.k8s.io/v1`` Lease object
(``kube-system/kube-controller-manager``)::

    spec:
      holderIdentity: master-1_6f1c...     # who leads
      leaseDurationSeconds: 15             # how long a renewal counts
      acquireTime: ...                     # when the holder took it
      renewTime: ...                       # when the holder last renewed it
      leaseTransitions: 3                  # how often it changed hands

- A candidate *acquires* the lease when nobody holds it, or when the holder
  has not renewed it for ``lease_duration`` (measured on the candidate's own
  clock from the moment it last saw the record change, so clocks of different
  machines never have to agree).
- The leader *renews* it every ``retry_period``; if it cannot renew for
  ``renew_deadline`` it stops leading (``on_stopped_leading``): another
  candidate is about to take over.
- Every write carries the resourceVersion that was read: if two candidates
  try at once, the apiserver accepts one and answers 409 Conflict to the
  other (optimistic concurrency), so there is never more than one holder.

Upstream's defaults (kube-controller-manager ``--leader-elect-lease-duration``
15s, ``--leader-elect-renew-deadline`` 10s, ``--leader-elect-retry-period``
2s) are the defaults here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from labkit.api.errors import StatusError
from labkit.client.api import ApiClient

log = logging.getLogger(__name__)

LEASES = "leases.coordination.k8s.io"


def micro_time(when: dt.datetime | None = None) -> str:
    """metav1.MicroTime as the API writes it: 2026-11-22T23:59:01.123456Z."""
    when = when or dt.datetime.now(dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        client: ApiClient,
        lease_namespace: str,
        lease_name: str,
        identity: str,
        *,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        on_started_leading: Callable[[], Awaitable[None]] | None = None,
        on_stopped_leading: Callable[[], Any] | None = None,
        on_new_leader: Callable[[str], Any] | None = None,
        release_on_cancel: bool = True,
    ):
        if lease_duration <= renew_deadline:
            raise ValueError("lease duration must be greater than the renew deadline")
        if renew_deadline <= retry_period * 1.2:
            raise ValueError("renew deadline must be greater than retry period * 1.2")
        if not identity:
            raise ValueError("leader election needs a non-empty identity")
        self.client = client
        self.lease_namespace = lease_namespace
        self.lease_name = lease_name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self.release_on_cancel = release_on_cancel
        # What we last saw of the lease, and when (on our monotonic clock).
        self.observed_lease: dict[str, Any] | None = None
        self.observed_time: float = 0.0
        self.leader: str | None = None  # the holder we last saw
        self.is_leader = False

    # -- one attempt ---------------------------------------------------------------

    def _observe(self, lease: dict[str, Any]) -> None:
        old_spec = (self.observed_lease or {}).get("spec")
        if lease.get("spec") != old_spec:
            self.observed_time = time.monotonic()
        self.observed_lease = lease
        holder = (lease.get("spec") or {}).get("holderIdentity") or None
        if holder != self.leader:
            self.leader = holder
            if holder and self.on_new_leader is not None:
                self.on_new_leader(holder)

    async def try_acquire_or_renew(self) -> bool:
        """One attempt to become or stay the holder; True if we hold the lease now."""
        now = micro_time()
        try:
            lease = await self.client.get(LEASES, self.lease_name, self.lease_namespace)
        except StatusError as exc:
            if exc.code != 404:
                raise
            lease = None
        if lease is None:
            fresh = {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.lease_name, "namespace": self.lease_namespace},
                "spec": {
                    "holderIdentity": self.identity,
                    "leaseDurationSeconds": int(self.lease_duration),
                    "acquireTime": now, "renewTime": now, "leaseTransitions": 0,
                },
            }
            try:
                created = await self.client.create(LEASES, fresh, self.lease_namespace)
            except StatusError as exc:
                if exc.reason == "AlreadyExists":  # another candidate was faster
                    return False
                raise
            self._observe(created)
            return True

        self._observe(lease)
        spec = dict(lease.get("spec") or {})
        holder = spec.get("holderIdentity") or ""
        held_by_other = holder and holder != self.identity
        duration = spec.get("leaseDurationSeconds") or self.lease_duration
        if held_by_other and time.monotonic() < self.observed_time + duration:
            return False  # someone else holds an unexpired lease
        if holder != self.identity:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if holder else 0)
        spec["holderIdentity"] = self.identity
        spec["leaseDurationSeconds"] = int(self.lease_duration)
        spec["renewTime"] = now
        # The read resourceVersion travels with the write: a concurrent writer makes this a 409.
        updated = await self.client.update(LEASES, {**lease, "spec": spec}, self.lease_namespace)
        self._observe(updated)
        return True

    async def _attempt(self) -> bool:
        try:
            return await self.try_acquire_or_renew()
        except StatusError as exc:
            if exc.reason != "Conflict":
                log.warning("leader election %s/%s: %s", self.lease_namespace, self.lease_name, exc)
            return False
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.warning("leader election %s/%s: apiserver unreachable: %s",
                        self.lease_namespace, self.lease_name, exc or type(exc).__name__)
            return False

    def _jittered(self) -> float:
        return self.retry_period * (1 + 0.2 * random.random())

    # -- the loops -----------------------------------------------------------------

    async def acquire(self) -> None:
        """Return once we hold the lease."""
        log.info("attempting to acquire leader lease %s/%s...", self.lease_namespace, self.lease_name)
        while not await self._attempt():
            await asyncio.sleep(self._jittered())
        log.info("successfully acquired lease %s/%s as %s", self.lease_namespace, self.lease_name, self.identity)

    async def renew_until_lost(self) -> None:
        """Renew every retry_period; return when a renewal has failed for renew_deadline."""
        while True:
            deadline = time.monotonic() + self.renew_deadline
            while not await self._attempt():
                if time.monotonic() >= deadline:
                    log.warning("failed to renew lease %s/%s within %.0fs: leadership lost",
                                self.lease_namespace, self.lease_name, self.renew_deadline)
                    return
                await asyncio.sleep(self.retry_period)
            await asyncio.sleep(self.retry_period)

    async def release(self) -> None:
        """Give the lease up at once (shutdown), so the next candidate need not wait it out.

        A renewal cancelled in flight may still have landed, leaving our copy
        stale: on 409 read the lease again and retry while it is still ours.
        """
        lease = self.observed_lease
        for _ in range(3):
            if not lease or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            spec = {**lease["spec"], "holderIdentity": None, "leaseDurationSeconds": 1, "renewTime": micro_time()}
            try:
                await self.client.update(LEASES, {**lease, "spec": spec}, self.lease_namespace)
                return
            except StatusError as exc:
                if exc.reason != "Conflict":
                    log.warning("could not release lease %s/%s: %s", self.lease_namespace, self.lease_name, exc)
                    return
                try:
                    lease = await self.client.get(LEASES, self.lease_name, self.lease_namespace)
                except (StatusError, aiohttp.ClientError, OSError) as exc:
                    log.warning("could not release lease %s/%s: %s", self.lease_namespace, self.lease_name, exc)
                    return
            except (aiohttp.ClientError, OSError) as exc:
                log.warning("could not release lease %s/%s: %s", self.lease_namespace, self.lease_name, exc)
                return
        log.warning("could not release lease %s/%s: it kept changing", self.lease_namespace, self.lease_name)

    async def run(self) -> None:
        """Acquire, lead (run on_started_leading) while renewing, and stop leading when renewal fails.

        Returns when leadership is lost; cancel it to step down (the lease is
        released if ``release_on_cancel``).
        """
        await self.acquire()
        self.is_leader = True
        work: asyncio.Task | None = None
        if self.on_started_leading is not None:
            work = asyncio.create_task(self.on_started_leading(), name="leading")
        renewing = asyncio.create_task(self.renew_until_lost(), name="renew lease")
        cancelled = False
        try:
            await asyncio.wait({renewing} | ({work} if work else set()), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            # Stop the work first, then (on shutdown) give the lease up: never two leaders at work.
            renewing.cancel()
            self.is_leader = False
            if work is not None and not work.done():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
            if self.on_stopped_leading is not None:
                result = self.on_stopped_leading()
                if inspect.isawaitable(result):
                    await result
            if cancelled and self.release_on_cancel:
                await self.release()
        if work is not None and work.done() and not work.cancelled() and work.exception() is not None:
            raise work.exception()
