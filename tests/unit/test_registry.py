"""The resource table: keys follow upstream's etcd layout."""

import pytest

from labkit.api import registry


@pytest.mark.parametrize(
    "group, plural, namespace, name, key",
    [
        ("", "pods", "default", "web", "/registry/pods/default/web"),
        ("", "nodes", None, "worker-1", "/registry/minions/worker-1"),
        ("", "services", "kube-system", "dns", "/registry/services/specs/kube-system/dns"),
        ("", "endpoints", "default", "kubernetes", "/registry/services/endpoints/default/kubernetes"),
        ("", "namespaces", None, "default", "/registry/namespaces/default"),
        ("apps", "deployments", "default", "web", "/registry/deployments/default/web"),
        ("coordination.k8s.io", "leases", "kube-node-lease", "n1", "/registry/leases/kube-node-lease/n1"),
    ],
)
def test_keys_follow_upstream_layout(group, plural, namespace, name, key):
    res = registry.lookup(group, "v1", plural)
    assert res is not None
    assert res.key("/registry", namespace, name) == key


def test_collection_prefix_ends_with_slash():
    pods = registry.lookup("", "v1", "pods")
    assert pods.key("/registry", "default", None) == "/registry/pods/default/"
    assert pods.key("/registry", None, None) == "/registry/pods/"


def test_core_and_events_group_share_storage():
    core = registry.lookup("", "v1", "events")
    new = registry.lookup("events.k8s.io", "v1", "events")
    assert core.storage == new.storage
    assert set(registry.sharing_storage(core)) == {core, new}


def test_every_group_version_is_listed_once_core_first():
    gvs = registry.group_versions()
    assert gvs[0] == ("", "v1")
    assert len(gvs) == len(set(gvs))
    assert {g for g, _ in gvs} == {r.group for r in registry.RESOURCES}
