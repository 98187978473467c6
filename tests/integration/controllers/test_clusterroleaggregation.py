"""The clusterrole-aggregation controller, run by a real labkit-controller-manager process.

Each test makes an aggregating ClusterRole that selects a label of its own
(the session apiserver is shared), then adds, changes, relabels and deletes
the roles it selects and watches the aggregate follow.
"""

from __future__ import annotations

import uuid

import pytest

from labkit.api import registry
from labkit.api.errors import StatusError
from tests.integration.helpers import eventually

pytestmark = pytest.mark.integration

CLUSTER_ROLES = registry.lookup("rbac.authorization.k8s.io", "v1", "clusterroles")


def cluster_role(name: str, labels: dict | None = None, rules: list | None = None, selects: str | None = None):
    obj = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
           "metadata": {"name": name, "labels": labels or {}}, "rules": rules or []}
    if selects:
        obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {selects: "true"}}]}
    return obj


async def test_an_aggregated_role_follows_the_roles_it_selects(api, controller_manager):
    controller_manager("--controllers=clusterrole-aggregation", "--leader-elect=false")
    tag = uuid.uuid4().hex[:8]
    label = f"example.com/aggregate-to-{tag}"
    pods = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}
    secrets = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
    jobs = {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["list"]}
    names = [f"agg-{tag}", f"a-{tag}", f"b-{tag}", f"unlabelled-{tag}"]
    try:
        await api.create(CLUSTER_ROLES, cluster_role(names[0], selects=label))
        # a and b selected (in name order, a rule held by both appears once), the unlabelled one not
        await api.create(CLUSTER_ROLES, cluster_role(names[1], {label: "true"}, [pods, secrets]))
        await api.create(CLUSTER_ROLES, cluster_role(names[2], {label: "true"}, [secrets, jobs]))
        await api.create(CLUSTER_ROLES, cluster_role(names[3], {}, [{**jobs, "verbs": ["delete"]}]))

        async def rules_of_aggregate():
            return (await api.get(CLUSTER_ROLES, names[0])).get("rules") or []

        async def aggregated():
            """the aggregate holds a's and b's rules, each once"""
            return await rules_of_aggregate() == [pods, secrets, jobs]
        await eventually(aggregated, 30)

        # a change of a selected role's rules follows
        delete_jobs = {**jobs, "verbs": ["delete"]}
        b = await api.get(CLUSTER_ROLES, names[2])
        b["rules"] = [delete_jobs]
        await api.update(CLUSTER_ROLES, b)

        async def changed():
            """b's changed rules reached the aggregate"""
            return await rules_of_aggregate() == [pods, secrets, delete_jobs]
        await eventually(changed, 30)

        # unlabelling a role takes its rules away; deleting one too
        b = await api.get(CLUSTER_ROLES, names[2])
        b["metadata"]["labels"] = {}
        await api.update(CLUSTER_ROLES, b)

        async def unlabelled():
            """b's rules left the aggregate"""
            return await rules_of_aggregate() == [pods, secrets]
        await eventually(unlabelled, 30)
        await api.delete(CLUSTER_ROLES, names[1])

        async def emptied():
            """nothing selected, no rules"""
            return await rules_of_aggregate() == []
        await eventually(emptied, 30)
    finally:
        for name in names:
            try:
                await api.delete(CLUSTER_ROLES, name)
            except StatusError as exc:
                if exc.code != 404:
                    raise
