"""The garbage collector in labkit-controller-manager, driven by the real kubectl's cascading deletes."""


import pytest

from labkit.api.errors import StatusError
from tests.integration.helpers import eventually

pytestmark = pytest.mark.integration


def ref(owner, block=True, controller=True):
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": controller, "blockOwnerDeletion": block}


async def exists(api, resource, name, namespace):
    try:
        return await api.get(resource, name, namespace)
    except StatusError as exc:
        if exc.code == 404:
            return None
        raise


async def family(api, namespace):
    """A ConfigMap owning a ConfigMap, a Secret and a Pod."""
    owner = await api.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                            "metadata": {"name": "owner", "namespace": namespace}})
    meta = lambda name: {"name": name, "namespace": namespace, "ownerReferences": [ref(owner)]}
    await api.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("dep-cm")})
    await api.create("secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": meta("dep-secret")})
    await api.create("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": meta("dep-pod"),
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    return owner


DEPENDENTS = [("configmaps", "dep-cm"), ("secrets", "dep-secret"), ("pods", "dep-pod")]


async def all_gone(api, namespace, names=DEPENDENTS):
    return all([await exists(api, res, name, namespace) is None for res, name in names])


@pytest.mark.parametrize("cascade", ["background", "foreground"])
async def test_kubectl_cascading_delete_removes_dependents(api, namespace, kubectl, controller_manager, cascade):
    controller_manager("--leader-elect=false")
    await family(api, namespace)
    kubectl("delete", "configmap", "owner", "-n", namespace, f"--cascade={cascade}")

    async def dependents_gone():
        """every dependent is deleted"""
        return await all_gone(api, namespace)

    await eventually(dependents_gone)
    assert await exists(api, "configmaps", "owner", namespace) is None


async def test_foreground_owner_waits_for_its_blocking_dependents(api, namespace, controller_manager):
    owner = await family(api, namespace)
    # Without a running collector, a foreground delete only marks the owner.
    await api.delete("configmaps", "owner", namespace, propagation_policy="Foreground")
    marked = await api.get("configmaps", "owner", namespace)
    assert marked["metadata"].get("deletionTimestamp")
    assert "foregroundDeletion" in marked["metadata"]["finalizers"]
    assert not await all_gone(api, namespace)

    controller_manager("--leader-elect=false", "--controllers=garbagecollector")

    async def owner_gone():
        """the owner is deleted once its dependents are"""
        return await exists(api, "configmaps", "owner", namespace) is None

    await eventually(owner_gone)
    assert await all_gone(api, namespace), "the owner may only go after its blocking dependents"
    assert owner["metadata"]["uid"]


async def test_kubectl_orphan_delete_keeps_dependents_without_the_reference(api, namespace, kubectl,
                                                                           controller_manager):
    controller_manager("--leader-elect=false")
    owner = await family(api, namespace)
    kubectl("delete", "configmap", "owner", "-n", namespace, "--cascade=orphan")
    assert await exists(api, "configmaps", "owner", namespace) is None
    for res, name in DEPENDENTS:
        dep = await exists(api, res, name, namespace)
        assert dep is not None, f"{res}/{name} must survive an orphaning delete"
        assert not dep["metadata"].get("ownerReferences"), f"{res}/{name} still names the deleted owner"
    assert owner["metadata"]["uid"]


async def test_a_dependent_with_a_remaining_owner_survives_and_forgets_the_other(api, namespace,
                                                                                 controller_manager):
    controller_manager("--leader-elect=false")
    make = lambda name, refs=(): {"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": {"name": name, "namespace": namespace, "ownerReferences": list(refs)}}
    a = await api.create("configmaps", make("owner-a"))
    b = await api.create("configmaps", make("owner-b"))
    await api.create("configmaps", make("shared", [ref(a, block=False), ref(b, block=False, controller=False)]))
    await api.delete("configmaps", "owner-a", namespace)

    async def forgot_a():
        """the dependent names only owner-b"""
        dep = await exists(api, "configmaps", "shared", namespace)
        return dep and [r["name"] for r in dep["metadata"].get("ownerReferences") or []] == ["owner-b"]

    await eventually(forgot_a)
    await api.delete("configmaps", "owner-b", namespace)

    async def shared_gone():
        """the dependent goes with its last owner"""
        return await exists(api, "configmaps", "shared", namespace) is None

    await eventually(shared_gone)


async def test_foreground_delete_of_a_deployment_removes_the_whole_chain(api, namespace, kubectl,
                                                                        controller_manager):
    controller_manager("--leader-elect=false")
    labels = {"app": "web"}
    template = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "web", "image": "busybox"}]}}
    deploy = await api.create("deployments.apps", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": template}})
    rs = await api.create("replicasets.apps", {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-1", "namespace": namespace, "labels": labels, "ownerReferences": [ref(deploy)]},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": template}})
    for i in range(2):
        await api.create("pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"web-1-{i}", "namespace": namespace, "labels": labels,
                         "ownerReferences": [ref(rs)]},
            "spec": template["spec"]})
    kubectl("delete", "deployment", "web", "-n", namespace, "--cascade=foreground", timeout=120)
    assert await exists(api, "deployments.apps", "web", namespace) is None
    assert await exists(api, "replicasets.apps", "web-1", namespace) is None, \
        "foreground: the deployment is gone only after its replicaset"
    assert (await api.list("pods", namespace))["items"] == []
