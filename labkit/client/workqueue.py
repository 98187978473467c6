"""The controllers' work queue, as client-go's ``workqueue`` package, on asyncio.

A controller does not act on watch events directly: its event handlers only
put the *key* of the object (``namespace/name``) into this queue, and workers
take keys out and reconcile the object's current state (level-triggered).
The queue gives the guarantees that make that safe and cheap:

- **de-duplication**: a key added ten times before a worker takes it is
  processed once (the "dirty" set);
- **one worker per key**: a key being processed is never handed to a second
  worker; if it is added meanwhile, it is queued again when the first worker
  calls :meth:`WorkQueue.done` (the "processing" set);
- **retries with backoff**: a failed key goes back with
  :meth:`RateLimitingQueue.add_rate_limited`, after an exponential per-key
  delay (5 ms, 10 ms, 20 ms ... up to 1000 s) bounded further by an overall
  token bucket (10 qps, burst 100); :meth:`forget` resets the key's backoff
  after a success.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable

log = logging.getLogger(__name__)


class QueueShutDown(Exception):
    """The queue was shut down: workers should return."""


class WorkQueue:
    """FIFO of keys with de-duplication and at most one worker per key."""

    def __init__(self, name: str = ""):
        self.name = name
        self._queue: deque[Hashable] = deque()
        self._dirty: set[Hashable] = set()  # waiting to be processed (queued or deferred)
        self._processing: set[Hashable] = set()  # handed to a worker, done() not called yet
        self._changed = asyncio.Condition()
        self._shutting_down = False

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def add(self, item: Hashable) -> None:
        if self._shutting_down or item in self._dirty:
            return
        self._dirty.add(item)
        if item in self._processing:
            return  # a worker has it now: done() queues it again
        self._queue.append(item)
        self._wake()

    def _wake(self) -> None:
        async def notify():
            async with self._changed:
                self._changed.notify_all()
        try:
            asyncio.get_running_loop().create_task(notify())
        except RuntimeError:  # no loop yet: nobody can be waiting
            pass

    async def get(self) -> Hashable:
        """The next key (waits for one); raises QueueShutDown once shut down and drained."""
        async with self._changed:
            while not self._queue and not self._shutting_down:
                await self._changed.wait()
            if not self._queue:
                raise QueueShutDown(self.name)
            item = self._queue.popleft()
            self._processing.add(item)
            self._dirty.discard(item)
            return item

    def done(self, item: Hashable) -> None:
        """The worker finished with ``item``; if it was re-added meanwhile, queue it now."""
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.append(item)
            self._wake()

    def shut_down(self) -> None:
        self._shutting_down = True
        self._wake()


# -- rate limiters: how long a key waits before its retry --------------------------


class ItemExponentialFailureRateLimiter:
    """base * 2^failures per key, capped at max_delay (client-go: 5 ms .. 1000 s)."""

    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0):
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        failures = self._failures.get(item, 0)
        self._failures[item] = failures + 1
        if failures > 60:  # 2**60 overflows any sensible delay
            return self.max_delay
        return min(self.base_delay * (2 ** failures), self.max_delay)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)


class BucketRateLimiter:
    """An overall token bucket: ``qps`` retries a second, ``burst`` at once (client-go: 10, 100)."""

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Callable[[], float] = time.monotonic):
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def when(self, item: Hashable) -> float:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1  # reserve a token, maybe one not yet earned
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def num_requeues(self, item: Hashable) -> int:
        return 0

    def forget(self, item: Hashable) -> None:
        pass


class MaxOfRateLimiter:
    """The longest delay any of the limiters asks for."""

    def __init__(self, *limiters):
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        return max(limiter.when(item) for limiter in self.limiters)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)


def default_controller_rate_limiter() -> MaxOfRateLimiter:
    """client-go's DefaultControllerRateLimiter: per-key exponential and an overall bucket."""
    return MaxOfRateLimiter(ItemExponentialFailureRateLimiter(0.005, 1000.0), BucketRateLimiter(10.0, 100))


class RateLimitingQueue(WorkQueue):
    """A WorkQueue with delayed adds and per-key retry backoff."""

    def __init__(self, name: str = "", rate_limiter=None):
        super().__init__(name)
        self.rate_limiter = rate_limiter or default_controller_rate_limiter()
        self._waiting: dict[Hashable, tuple[float, asyncio.TimerHandle]] = {}

    def add_after(self, item: Hashable, delay: float) -> None:
        """Add ``item`` in ``delay`` seconds (the earliest of several pending delays wins)."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(item)
            return
        loop = asyncio.get_running_loop()
        ready_at = loop.time() + delay
        pending = self._waiting.get(item)
        if pending is not None:
            if pending[0] <= ready_at:
                return
            pending[1].cancel()
        self._waiting[item] = (ready_at, loop.call_at(ready_at, self._ready, item))

    def _ready(self, item: Hashable) -> None:
        self._waiting.pop(item, None)
        self.add(item)

    def add_rate_limited(self, item: Hashable) -> None:
        """Retry ``item`` after its backoff."""
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: Hashable) -> None:
        """``item`` succeeded: its next failure starts the backoff from the beginning."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return self.rate_limiter.num_requeues(item)

    def shut_down(self) -> None:
        for _, handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
        super().shut_down()


async def run_worker(queue: RateLimitingQueue, sync: Callable[[Hashable], Awaitable[None]],
                     name: str = "") -> None:
    """The controller worker loop: take a key, sync it, forget it or retry it with backoff."""
    while True:
        try:
            key = await queue.get()
        except QueueShutDown:
            return
        try:
            await sync(key)
        except asyncio.CancelledError:
            queue.done(key)
            raise
        except Exception as exc:  # any failure: retry later, never lose the key
            log.warning("%s: syncing %r failed (retry %d): %s", name or queue.name, key,
                        queue.num_requeues(key) + 1, exc)
            queue.add_rate_limited(key)
        else:
            queue.forget(key)
        queue.done(key)
