"""The Node authorizer's and NodeRestriction's decisions that need no storage, as data.

(What needs stored pods, secrets bound through them, is judged by kubectl in
tests/integration/security/test_authz.py.)
"""

from __future__ import annotations

import pytest

from labkit.api import registry
from labkit.api.errors import StatusError
from labkit.apiserver.admission import CREATE, UPDATE, Attributes as AdmissionAttributes
from labkit.apiserver.auth import ALLOW, NO_OPINION, Attributes, UserInfo
from labkit.apiserver.auth.node import (NodeAuthorizer, NodeRestriction, forbidden_node_labels, node_identity,
                                        pod_claim_names, pod_config_map_names, pod_secret_names)

W1 = UserInfo("system:node:w1", groups=("system:nodes", "system:authenticated"))

IDENTITIES = [
    (W1, ("w1", True)),
    (UserInfo("system:node:w1", groups=("system:authenticated",)), ("", False)),  # not in system:nodes
    (UserInfo("jane", groups=("system:nodes",)), ("", False)),
    (UserInfo("system:node:", groups=("system:nodes",)), ("", True)),  # a node, but which?
]


@pytest.mark.parametrize("user,identity", IDENTITIES)
def test_node_identity(user, identity):
    assert node_identity(user) == identity


POD = {"metadata": {"name": "web"}, "spec": {
    "imagePullSecrets": [{"name": "pull"}],
    "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "init-env"}}]}],
    "containers": [{"name": "c", "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "env", "key": "k"}}},
                                         {"name": "B",
                                          "valueFrom": {"configMapKeyRef": {"name": "cm-env", "key": "k"}}}],
                    "envFrom": [{"configMapRef": {"name": "cm-from"}}]}],
    "volumes": [{"name": "s", "secret": {"secretName": "vol"}},
                {"name": "p", "projected": {"sources": [{"secret": {"name": "proj"}},
                                                        {"configMap": {"name": "cm-proj"}},
                                                        {"serviceAccountToken": {"path": "t"}}]}},
                {"name": "c", "configMap": {"name": "cm-vol"}},
                {"name": "d", "csi": {"driver": "x", "nodePublishSecretRef": {"name": "csi"}}},
                {"name": "claim", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}]}}


def test_what_a_pod_uses():
    assert pod_secret_names(POD) == {"pull", "init-env", "env", "vol", "proj", "csi"}
    assert pod_config_map_names(POD) == {"cm-env", "cm-from", "cm-proj", "cm-vol"}
    assert pod_claim_names(POD) == {"data", "web-scratch"}


LABELS = [
    ({"kubernetes.io/hostname"}, []),
    ({"topology.kubernetes.io/zone", "node.kubernetes.io/instance-type", "kubelet.kubernetes.io/x"}, []),
    ({"example.com/team", "team"}, []),
    ({"node-restriction.kubernetes.io/secure"}, ["node-restriction.kubernetes.io/secure"]),
    ({"pci.node-restriction.kubernetes.io/ok"}, ["pci.node-restriction.kubernetes.io/ok"]),
    ({"node-role.kubernetes.io/control-plane"}, ["node-role.kubernetes.io/control-plane"]),
    ({"foo.k8s.io/bar", "kubernetes.io/os"}, ["foo.k8s.io/bar"]),
]


@pytest.mark.parametrize("changed,forbidden", LABELS)
def test_labels_a_kubelet_may_not_set(changed, forbidden):
    assert forbidden_node_labels(changed) == forbidden


def res(verb, resource, group="", namespace="", name="", subresource="", field_selector="", user=W1):
    return Attributes(user, verb, True, group, "v1", resource, subresource, namespace, name,
                      field_selector=field_selector)


# Decisions made without looking at stored objects (storage None: any lookup would fail the test).
STATIC = [
    (res("get", "nodes", name="w1"), ALLOW),
    (res("get", "nodes", name="w2"), NO_OPINION),
    (res("list", "nodes"), NO_OPINION),
    (res("watch", "nodes", field_selector="metadata.name=w1"), ALLOW),
    (res("patch", "nodes", name="w2"), ALLOW),  # NodeRestriction pins the name
    (res("update", "nodes", name="w1", subresource="status"), ALLOW),
    (res("delete", "nodes", name="w1"), NO_OPINION),
    (res("list", "pods", field_selector="spec.nodeName=w1"), ALLOW),
    (res("watch", "pods", field_selector="spec.nodeName=w2"), NO_OPINION),
    (res("list", "pods"), NO_OPINION),
    (res("patch", "pods", "", "web", "p", "status"), ALLOW),
    (res("create", "pods", "", "web", "p", "eviction"), ALLOW),
    (res("get", "leases", "coordination.k8s.io", "kube-node-lease", "w1"), ALLOW),
    (res("update", "leases", "coordination.k8s.io", "kube-node-lease", "w2"), NO_OPINION),
    (res("get", "leases", "coordination.k8s.io", "kube-system", "w1"), NO_OPINION),
    (res("create", "events", namespace="web"), ALLOW),  # the system:node rules
    (res("list", "services"), ALLOW),
    (res("list", "secrets", namespace="web"), NO_OPINION),  # no name: never a list of all
    (res("delete", "secrets", namespace="web", name="s"), NO_OPINION),
    (res("create", "deployments", "apps", "web"), NO_OPINION),
    (res("list", "pods", user=UserInfo("jane")), NO_OPINION),
]


@pytest.mark.parametrize("attrs,decision", STATIC)
async def test_static_decisions(attrs, decision):
    assert (await NodeAuthorizer(storage=None).authorize(attrs))[0] == decision


NODES = registry.lookup("", "v1", "nodes")
PODS = registry.lookup("", "v1", "pods")


def node(name, labels=None, taints=None):
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"taints": taints} if taints else {}}


RESTRICTION = [
    (AdmissionAttributes(CREATE, NODES, None, "w1", node("w1", {"kubernetes.io/hostname": "w1"}), user=W1), None),
    (AdmissionAttributes(CREATE, NODES, None, "w2", node("w2"), user=W1),
     'nodes "w2" is forbidden: node "w1" is not allowed to modify node "w2"'),
    (AdmissionAttributes(CREATE, NODES, None, "w1", node("w1", {"node-restriction.kubernetes.io/a": "b"}), user=W1),
     'node "w1" is not allowed to set the following labels: node-restriction.kubernetes.io/a'),
    (AdmissionAttributes(UPDATE, NODES, None, "w1", node("w1", taints=[{"key": "k", "effect": "NoSchedule"}]),
                         node("w1"), user=W1), 'node "w1" is not allowed to modify taints'),
    (AdmissionAttributes(CREATE, PODS, "web", "p", {"metadata": {"name": "p"}, "spec": {"nodeName": "w1"}},
                         user=W1), 'node "w1" can only create mirror pods'),
    (AdmissionAttributes(CREATE, PODS, "web", "p", {
        "metadata": {"name": "p", "annotations": {"kubernetes.io/config.mirror": "x"}},
        "spec": {"nodeName": "w1", "containers": [{"name": "c"}]}}, user=W1),
     'node "w1" can only create pods with an owner reference set to itself'),
    (AdmissionAttributes(CREATE, PODS, "web", "p", {
        "metadata": {"name": "p", "annotations": {"kubernetes.io/config.mirror": "x"},
                     "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "w2", "uid": "u"}]},
        "spec": {"nodeName": "w1", "containers": [{"name": "c"}]}}, user=W1),
     'node "w1" can only create pods with an owner reference set to itself'),
    (AdmissionAttributes(UPDATE, PODS, "web", "p", {"metadata": {"name": "p"}}, {"metadata": {"name": "p"}},
                         user=W1), 'unexpected operation "UPDATE", node "w1" can only create and delete mirror pods'),
    # not a node: not its business
    (AdmissionAttributes(CREATE, NODES, None, "w2", node("w2", {"node-restriction.kubernetes.io/a": "b"}),
                         user=UserInfo("admin", groups=("system:masters",))), None),
]


@pytest.mark.parametrize("attrs,refusal", RESTRICTION)
async def test_node_restriction(attrs, refusal):
    plugin = NodeRestriction(storage=None)
    if refusal is None:
        await plugin.admit(attrs)
        return
    with pytest.raises(StatusError) as exc:
        await plugin.admit(attrs)
    assert exc.value.code == 403 and refusal in exc.value.message
