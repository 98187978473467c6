"""The namespace controller: `kubectl delete ns` returns once the content and the namespace are gone."""

import pytest

from labkit.api.errors import StatusError

pytestmark = pytest.mark.integration


async def test_kubectl_delete_namespace_removes_content_then_namespace(api, namespace, kubectl,
                                                                      controller_manager):
    controller_manager("--leader-elect=false")
    await api.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": "settings", "namespace": namespace}})
    await api.create("secrets", {"apiVersion": "v1", "kind": "Secret",
                                 "metadata": {"name": "token", "namespace": namespace}})
    await api.create("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": namespace},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    await api.create("services", {"apiVersion": "v1", "kind": "Service",
                                  "metadata": {"name": "web", "namespace": namespace},
                                  "spec": {"ports": [{"port": 80}], "selector": {"app": "web"}}})
    await api.create("leases.coordination.k8s.io", {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                                    "metadata": {"name": "l", "namespace": namespace}})

    kubectl("delete", "namespace", namespace, timeout=120)  # kubectl waits until it is gone

    with pytest.raises(StatusError) as err:
        await api.get("namespaces", namespace)
    assert err.value.reason == "NotFound"
    for resource in ["configmaps", "secrets", "pods", "services", "leases.coordination.k8s.io"]:
        listing = await api.list(resource, namespace)
        assert listing["items"] == [], f"{resource} left behind in the deleted namespace"


async def test_other_namespaces_are_untouched(api, namespace, kubectl, controller_manager):
    controller_manager("--leader-elect=false")
    other = namespace + "-keep"
    await api.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}})
    await api.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": "stays", "namespace": other}})
    await api.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": "goes", "namespace": namespace}})
    kubectl("delete", "namespace", namespace, timeout=120)
    assert (await api.get("configmaps", "stays", other))["metadata"]["name"] == "stays"
    assert (await api.get("namespaces", other))["metadata"]["name"] == other
