"""Two labkit-controller-manager processes: exactly one leads; killing it moves the lease."""

import asyncio
import os
import signal

import pytest

from labkit.api.errors import StatusError
from labkit.client.leaderelection import LEASES
from tests.integration.helpers import eventually

pytestmark = pytest.mark.integration

LEASE_DURATION = 4  # seconds; short for the test, same logic as upstream's 15s
TIMINGS = [f"--leader-elect-lease-duration={LEASE_DURATION}s", "--leader-elect-renew-deadline=3s",
           "--leader-elect-retry-period=500ms"]


async def ensure_kube_system(api):
    try:
        await api.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                        "metadata": {"name": "kube-system"}})
    except StatusError as exc:
        if exc.reason != "AlreadyExists":
            raise


async def lease_holder(api):
    try:
        lease = await api.get(LEASES, "kube-controller-manager", "kube-system")
    except StatusError as exc:
        if exc.code == 404:
            return None, None
        raise
    return lease["spec"].get("holderIdentity"), lease


async def test_one_leader_and_failover_when_the_leader_is_killed(api, controller_manager):
    await ensure_kube_system(api)
    a = controller_manager(*TIMINGS)
    b = controller_manager(*TIMINGS)

    async def someone_leads():
        holder, _ = await lease_holder(api)
        infos = [a.leader_info(), b.leader_info()]
        if holder and sum(i["leading"] for i in infos) == 1:
            return holder
        return None

    holder = await eventually(someone_leads, timeout=30)
    leader, follower = (a, b) if a.leader_info()["identity"] == holder else (b, a)
    assert leader.leader_info() == {"identity": holder, "leading": True}
    assert follower.leader_info()["leading"] is False
    # Still exactly one after a few renewals.
    await asyncio.sleep(2)
    assert [a.leader_info()["leading"], b.leader_info()["leading"]].count(True) == 1
    _, lease = await lease_holder(api)
    transitions = lease["spec"]["leaseTransitions"]

    os.kill(leader.pid, signal.SIGKILL)  # no release: the lease has to run out
    leader.proc.wait(timeout=10)

    async def follower_leads():
        holder_now, _ = await lease_holder(api)
        return holder_now == follower.leader_info()["identity"] and follower.leader_info()["leading"]

    # Within the lease duration plus the follower's retry period (and slack for a busy machine).
    await eventually(follower_leads, timeout=LEASE_DURATION * 5)
    _, lease = await lease_holder(api)
    assert lease["spec"]["leaseTransitions"] == transitions + 1


async def test_graceful_stop_releases_the_lease(api, controller_manager):
    await ensure_kube_system(api)
    a = controller_manager("--leader-elect-lease-duration=60s", "--leader-elect-renew-deadline=10s",
                           "--leader-elect-retry-period=500ms")

    async def a_leads():
        return a.leader_info()["leading"]

    await eventually(a_leads, timeout=30)
    a.stop()  # SIGTERM: the manager releases the lease on its way out
    holder, _ = await lease_holder(api)
    assert not holder
    b = controller_manager("--leader-elect-lease-duration=60s", "--leader-elect-renew-deadline=10s",
                           "--leader-elect-retry-period=500ms")

    async def b_leads():
        return b.leader_info()["leading"]

    await eventually(b_leads, timeout=30)  # far less than the 60s lease: it was released
