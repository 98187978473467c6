"""The controllers' work queue: de-duplication, one worker per key, backoff."""

import asyncio

import pytest

from labkit.client.workqueue import (
    BucketRateLimiter, ItemExponentialFailureRateLimiter, QueueShutDown, RateLimitingQueue, WorkQueue,
    run_worker,
)


async def test_a_key_added_many_times_is_processed_once():
    q = WorkQueue()
    for _ in range(5):
        q.add("default/web")
    q.add("default/db")
    assert len(q) == 2
    assert await q.get() == "default/web"
    assert await q.get() == "default/db"
    assert len(q) == 0


async def test_re_add_while_processing_is_deferred_until_done():
    q = WorkQueue()
    q.add("k")
    key = await q.get()
    q.add("k")  # a new event arrives while a worker holds the key
    q.add("k")
    assert len(q) == 0, "the key must not be handed to a second worker"
    q.done(key)
    assert len(q) == 1
    assert await q.get() == "k"


async def test_no_key_is_processed_by_two_workers_at_once():
    q = RateLimitingQueue("test")
    running: set[str] = set()
    overlaps: list[str] = []
    processed: list[str] = []

    async def sync(key):
        if key in running:
            overlaps.append(key)
        running.add(key)
        await asyncio.sleep(0.001)
        processed.append(key)
        running.discard(key)

    workers = [asyncio.create_task(run_worker(q, sync)) for _ in range(8)]
    for round_ in range(50):
        for i in range(10):
            q.add(f"ns/obj-{i}")
        await asyncio.sleep(0)
    while len(q) or q._processing:
        await asyncio.sleep(0.01)
    q.shut_down()
    await asyncio.gather(*workers)
    assert overlaps == []
    assert set(processed) == {f"ns/obj-{i}" for i in range(10)}
    # de-duplication: far fewer syncs than the 500 adds
    assert len(processed) < 500


async def test_get_waits_for_an_add_and_shutdown_releases_waiters():
    q = WorkQueue()
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    assert not getter.done()
    q.add("x")
    assert await getter == "x"
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    q.shut_down()
    with pytest.raises(QueueShutDown):
        await waiter


def test_exponential_backoff_per_item_and_forget():
    limiter = ItemExponentialFailureRateLimiter(base_delay=0.005, max_delay=1.0)
    delays = [limiter.when("a") for _ in range(10)]
    assert delays[:4] == [0.005, 0.01, 0.02, 0.04]
    assert delays[-1] == 1.0  # capped
    assert limiter.when("b") == 0.005  # per item
    assert limiter.num_requeues("a") == 10
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == 0.005


def test_bucket_allows_a_burst_then_spaces_retries_at_qps():
    now = [100.0]
    bucket = BucketRateLimiter(qps=10, burst=3, clock=lambda: now[0])
    assert [bucket.when(i) for i in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.when(3) == pytest.approx(0.1)
    assert bucket.when(4) == pytest.approx(0.2)
    now[0] += 10  # the bucket refills
    assert bucket.when(5) == 0.0


async def test_failed_key_is_retried_with_growing_backoff_and_forgotten_on_success():
    q = RateLimitingQueue("retry", ItemExponentialFailureRateLimiter(base_delay=0.01, max_delay=1.0))
    attempts = []

    async def sync(key):
        attempts.append(asyncio.get_running_loop().time())
        if len(attempts) < 4:
            raise RuntimeError("not yet")

    q.add("k")
    worker = asyncio.create_task(run_worker(q, sync))
    while len(attempts) < 4:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    q.shut_down()
    await worker
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    # the waits are at least 10, 20 and 40 ms: each retry waited longer than the previous minimum
    assert gaps[0] >= 0.01 and gaps[1] >= 0.02 and gaps[2] >= 0.04
    assert q.num_requeues("k") == 0, "success forgets the key's failures"
    assert len(attempts) == 4


async def test_add_after_keeps_the_earliest_time_and_dedups():
    q = RateLimitingQueue()
    q.add_after("k", 5.0)
    q.add_after("k", 0.01)
    q.add_after("k", 0.02)
    assert len(q) == 0
    assert await asyncio.wait_for(q.get(), 1.0) == "k"
    q.done("k")
    await asyncio.sleep(0.05)
    assert len(q) == 0, "the later timers were merged into the earliest one"
