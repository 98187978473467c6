"""Lease-based leader election against the real apiserver (short timings, same logic)."""

import asyncio

import pytest

from labkit.client.api import ApiClient
from labkit.client.leaderelection import LEASES, LeaderElector

pytestmark = pytest.mark.integration

FAST = {"lease_duration": 3.0, "renew_deadline": 2.0, "retry_period": 0.3}


def elector(api, namespace, identity, **kw):
    return LeaderElector(api, namespace, "test-lock", identity, **{**FAST, **kw})


async def wait_for(predicate, timeout=30.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def test_only_one_of_many_racing_candidates_acquires(api, namespace):
    candidates = [elector(api, namespace, f"c{i}") for i in range(8)]
    results = await asyncio.gather(*(c.try_acquire_or_renew() for c in candidates), return_exceptions=True)
    winners = [c.identity for c, won in zip(candidates, results) if won is True]
    assert len(winners) == 1, results
    lease = await api.get(LEASES, "test-lock", namespace)
    assert lease["spec"]["holderIdentity"] == winners[0]
    assert lease["spec"]["leaseDurationSeconds"] == 3
    assert lease["spec"]["leaseTransitions"] == 0


async def test_a_held_lease_is_not_taken_before_it_expires(api, namespace):
    leader, other = elector(api, namespace, "leader"), elector(api, namespace, "other")
    assert await leader.try_acquire_or_renew()
    assert not await other.try_acquire_or_renew()
    assert await leader.try_acquire_or_renew(), "the holder renews"
    assert other.leader == "leader"


async def test_leadership_moves_when_the_leader_stops_renewing(api, namespace):
    started, stopped = [], []

    def candidate(identity):
        async def lead():
            started.append(identity)
            await asyncio.Event().wait()  # work until cancelled
        return elector(api, namespace, identity, on_started_leading=lead,
                       on_stopped_leading=lambda: stopped.append(identity), release_on_cancel=False)

    first, second = candidate("first"), candidate("second")
    first_task = asyncio.create_task(first.run())
    await wait_for(lambda: started == ["first"])
    second_task = asyncio.create_task(second.run())
    await asyncio.sleep(1.0)
    assert started == ["first"] and not second.is_leader
    renew_time = (await api.get(LEASES, "test-lock", namespace))["spec"]["renewTime"]

    first_task.cancel()  # the leader dies without releasing: the lease must run out
    await asyncio.gather(first_task, return_exceptions=True)
    assert stopped == ["first"]
    await wait_for(lambda: started == ["first", "second"])
    lease = await api.get(LEASES, "test-lock", namespace)
    assert lease["spec"]["holderIdentity"] == "second"
    assert lease["spec"]["leaseTransitions"] == 1
    assert lease["spec"]["renewTime"] != renew_time
    second_task.cancel()
    await asyncio.gather(second_task, return_exceptions=True)


async def test_release_on_shutdown_hands_over_at_once(api, namespace):
    first = elector(api, namespace, "first", lease_duration=3600.0, renew_deadline=10.0)
    second = elector(api, namespace, "second", lease_duration=3600.0, renew_deadline=10.0)
    task = asyncio.create_task(first.run())
    await wait_for(lambda: first.is_leader)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    lease = await api.get(LEASES, "test-lock", namespace)
    assert not lease["spec"].get("holderIdentity")
    # Without the release the second would wait an hour.
    assert await second.try_acquire_or_renew()


async def test_a_leader_that_cannot_renew_steps_down(api, namespace, kubeconfig_path):
    stopped = asyncio.Event()

    async def lead():
        await asyncio.Event().wait()

    # A client whose every request fails: the leader can no longer renew.
    from labkit.client.kubeconfig import load_kubeconfig
    from labkit.localplane import free_port
    cfg = load_kubeconfig(kubeconfig_path)
    leader = elector(api, namespace, "leader", on_started_leading=lead, on_stopped_leading=stopped.set)
    task = asyncio.create_task(leader.run())
    await wait_for(lambda: leader.is_leader)
    cfg.server = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    leader.client = ApiClient(cfg)
    await asyncio.wait_for(task, 30)  # run() returns: leadership lost
    assert stopped.is_set() and not leader.is_leader
    await leader.client.close()
