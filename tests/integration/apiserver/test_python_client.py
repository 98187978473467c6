"""The official `kubernetes` Python client, unchanged, against the real labkit-apiserver.

The client is one of the two judges of API compatibility: it deserializes every
answer into its typed models (a missing required field or a wrong type fails
there), builds its own URLs and query parameters, follows watches with its own
``Watch`` helper and discovers resources for its dynamic client. Each test
works in a namespace of its own on the session apiserver (real etcd).
"""

from __future__ import annotations

import ipaddress
import json
import uuid

import kubernetes
import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.watch import Watch

from labkit.localplane import ApiserverProcess

pytestmark = pytest.mark.integration

SERVICE_RANGE = ipaddress.ip_network("10.32.0.0/24")  # labkit-apiserver's default --service-cluster-ip-range
NODE_PORTS = range(30000, 32768)  # its default --service-node-port-range


# -- fixtures -------------------------------------------------------------------------

def client_for(server: ApiserverProcess, path) -> k8s.ApiClient:
    """An ApiClient built the way users build one: from a kubeconfig file."""
    return kubernetes.config.new_client_from_config(config_file=str(server.kubeconfig(path)))


@pytest.fixture(scope="module")
def api_client(apiserver, tmp_path_factory) -> k8s.ApiClient:
    api = client_for(apiserver, tmp_path_factory.mktemp("pyclient") / "kubeconfig")
    yield api
    api.close()


@pytest.fixture(scope="module")
def core(api_client) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(api_client)


def new_namespace(core: k8s.CoreV1Api) -> str:
    name = f"py-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"metadata": {"name": name}})
    return name


@pytest.fixture
def ns(core) -> str:
    return new_namespace(core)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def status_of(exc: ApiException) -> dict:
    """The Status object the server answered a refusal with."""
    return json.loads(exc.body)


def refused(call, *args, **kwargs) -> tuple[int, dict]:
    with pytest.raises(ApiException) as info:
        call(*args, **kwargs)
    return info.value.status, status_of(info.value)


# -- typed CRUD for every kind of issue 2 -----------------------------------------------

POD_TEMPLATE = {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def bodies(ns: str, name: str) -> dict[str, dict]:
    """A minimal valid body per kind (what a learner would write)."""
    selector = {"matchLabels": {"app": "web"}}
    return {
        "Namespace": {},
        "Node": {"spec": {"podCIDR": "10.200.9.0/24"}},
        "Pod": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}},
        "Service": {"spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}},
        "Endpoints": {"subsets": [{"addresses": [{"ip": "10.200.0.5"}], "ports": [{"port": 8080}]}]},
        "ConfigMap": {"data": {"key": "value"}},
        "Secret": {"type": "Opaque", "data": {"password": "c2VjcmV0"}},
        "ServiceAccount": {},
        "CoreV1Event": {"involvedObject": {"kind": "Pod", "name": "p", "namespace": ns, "apiVersion": "v1"},
                        "reason": "Tested", "message": "by the python client", "type": "Normal",
                        "source": {"component": "pytest"}},
        "EventsV1Event": {"eventTime": "2026-12-01T00:00:00.000000Z", "reportingController": "labkit.dev/pytest",
                          "reportingInstance": "pytest-1", "action": "Testing", "reason": "Tested",
                          "type": "Normal", "note": "by the python client",
                          "regarding": {"kind": "Pod", "name": "p", "namespace": ns, "apiVersion": "v1"}},
        "Lease": {"spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}},
        "Deployment": {"spec": {"replicas": 2, "selector": selector, "template": POD_TEMPLATE}},
        "ReplicaSet": {"spec": {"replicas": 1, "selector": selector, "template": POD_TEMPLATE}},
        "DaemonSet": {"spec": {"selector": selector, "template": POD_TEMPLATE}},
        "StatefulSet": {"spec": {"serviceName": "web", "selector": selector, "template": POD_TEMPLATE}},
        "Job": {"spec": {"template": {"spec": {"restartPolicy": "Never",
                                               "containers": [{"name": "c", "image": "busybox"}]}}}},
        "CronJob": {"spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}}},
        "Role": {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]},
        "RoleBinding": {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
                        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]},
        "ClusterRole": {"rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]},
        "ClusterRoleBinding": {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                           "name": "r"},
                               "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]},
        "EndpointSlice": {"addressType": "IPv4", "endpoints": [{"addresses": ["10.200.0.5"]}],
                          "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]},
        "PodDisruptionBudget": {"spec": {"minAvailable": 1, "selector": selector}},
    }


# (client API class, model class, kind in the method names, apiVersion, kind, namespaced)
KINDS = [
    ("CoreV1Api", "V1Namespace", "namespace", "v1", "Namespace", False),
    ("CoreV1Api", "V1Node", "node", "v1", "Node", False),
    ("CoreV1Api", "V1Pod", "pod", "v1", "Pod", True),
    ("CoreV1Api", "V1Service", "service", "v1", "Service", True),
    ("CoreV1Api", "V1Endpoints", "endpoints", "v1", "Endpoints", True),
    ("CoreV1Api", "V1ConfigMap", "config_map", "v1", "ConfigMap", True),
    ("CoreV1Api", "V1Secret", "secret", "v1", "Secret", True),
    ("CoreV1Api", "V1ServiceAccount", "service_account", "v1", "ServiceAccount", True),
    ("CoreV1Api", "CoreV1Event", "event", "v1", "CoreV1Event", True),
    ("EventsV1Api", "EventsV1Event", "event", "events.k8s.io/v1", "EventsV1Event", True),
    ("CoordinationV1Api", "V1Lease", "lease", "coordination.k8s.io/v1", "Lease", True),
    ("AppsV1Api", "V1Deployment", "deployment", "apps/v1", "Deployment", True),
    ("AppsV1Api", "V1ReplicaSet", "replica_set", "apps/v1", "ReplicaSet", True),
    ("AppsV1Api", "V1DaemonSet", "daemon_set", "apps/v1", "DaemonSet", True),
    ("AppsV1Api", "V1StatefulSet", "stateful_set", "apps/v1", "StatefulSet", True),
    ("BatchV1Api", "V1Job", "job", "batch/v1", "Job", True),
    ("BatchV1Api", "V1CronJob", "cron_job", "batch/v1", "CronJob", True),
    ("RbacAuthorizationV1Api", "V1Role", "role", "rbac.authorization.k8s.io/v1", "Role", True),
    ("RbacAuthorizationV1Api", "V1RoleBinding", "role_binding", "rbac.authorization.k8s.io/v1", "RoleBinding",
     True),
    ("RbacAuthorizationV1Api", "V1ClusterRole", "cluster_role", "rbac.authorization.k8s.io/v1", "ClusterRole",
     False),
    ("RbacAuthorizationV1Api", "V1ClusterRoleBinding", "cluster_role_binding", "rbac.authorization.k8s.io/v1",
     "ClusterRoleBinding", False),
    ("DiscoveryV1Api", "V1EndpointSlice", "endpoint_slice", "discovery.k8s.io/v1", "EndpointSlice", True),
    ("PolicyV1Api", "V1PodDisruptionBudget", "pod_disruption_budget", "policy/v1", "PodDisruptionBudget", True),
]


def wire_kind(kind: str) -> str:
    return {"CoreV1Event": "Event", "EventsV1Event": "Event"}.get(kind, kind)


class Typed:
    """The generated methods of one kind: ``create_namespaced_config_map(namespace, body)`` and friends."""

    def __init__(self, api, method_kind: str, namespaced: bool, ns: str):
        self.api, self.namespaced, self.ns = api, namespaced, ns
        self.infix = f"namespaced_{method_kind}" if namespaced else method_kind

    def __call__(self, verb: str, *args, **kwargs):
        method = getattr(self.api, f"{verb}_{self.infix}")
        if self.namespaced:
            if verb in ("create", "list"):
                return method(self.ns, *args, **kwargs)
            name, *rest = args
            return method(name, self.ns, *rest, **kwargs)
        return method(*args, **kwargs)


@pytest.mark.parametrize("api_class, model, method_kind, api_version, kind, namespaced", KINDS,
                         ids=[k[4] for k in KINDS])
def test_typed_crud(api_client, ns, api_class, model, method_kind, api_version, kind, namespaced):
    typed = Typed(getattr(k8s, api_class)(api_client), method_kind, namespaced, ns)
    name = unique(method_kind.replace("_", ""))
    body = {"apiVersion": api_version, "kind": wire_kind(kind),
            "metadata": {"name": name, "labels": {"suite": "crud", "run": name}}, **bodies(ns, name)[kind]}

    created = typed("create", body)
    assert isinstance(created, getattr(k8s, model))
    assert created.metadata.name == name
    assert created.metadata.uid and created.metadata.creation_timestamp is not None
    assert int(created.metadata.resource_version) > 0
    if namespaced:
        assert created.metadata.namespace == ns

    got = typed("read", name)
    assert isinstance(got, getattr(k8s, model))
    assert got.metadata.resource_version == created.metadata.resource_version
    assert got.metadata.uid == created.metadata.uid

    # Replace with the read copy: a new resourceVersion, the change kept.
    got.metadata.labels["replaced"] = "yes"
    replaced = typed("replace", name, got)
    assert replaced.metadata.labels["replaced"] == "yes"
    assert int(replaced.metadata.resource_version) > int(got.metadata.resource_version)

    # Replace with the stale copy again: 409 Conflict.
    code, status = refused(typed, "replace", name, got)
    assert (code, status["reason"]) == (409, "Conflict")

    # A strategic merge patch (dict body) and a JSON patch (list body).
    patched = typed("patch", name, {"metadata": {"labels": {"patched": "merge"}}})
    expected = {"suite": "crud", "run": name, "replaced": "yes", "patched": "merge"}
    if kind == "Namespace":
        expected["kubernetes.io/metadata.name"] = name  # set by the server, as upstream
    assert patched.metadata.labels == expected
    patched = typed("patch", name, [{"op": "replace", "path": "/metadata/labels/patched", "value": "json"}])
    assert patched.metadata.labels["patched"] == "json"

    listed = typed("list", label_selector=f"run={name}")
    assert [item.metadata.name for item in listed.items] == [name]
    assert all(isinstance(item, getattr(k8s, model)) for item in listed.items)
    assert int(listed.metadata.resource_version) >= int(patched.metadata.resource_version)
    assert typed("list", label_selector=f"run={name},patched!=json").items == []

    typed("delete", name)
    if kind == "Namespace":
        # A namespace terminates first (its spec.finalizers wait for the namespace controller).
        terminating = typed("read", name)
        assert terminating.status.phase == "Terminating"
        assert terminating.metadata.deletion_timestamp is not None
        return
    code, status = refused(typed, "read", name)
    assert (code, status["reason"], status["details"]["name"]) == (404, "NotFound", name)
    if not namespaced:
        assert typed("list", label_selector=f"run={name}").items == []


def test_typed_models_as_bodies(core, ns):
    """Bodies built from the client's own model classes go in and come back equal."""
    pod = k8s.V1Pod(metadata=k8s.V1ObjectMeta(name="typed", labels={"app": "typed"}),
                    spec=k8s.V1PodSpec(containers=[k8s.V1Container(
                        name="main", image="busybox", command=["sleep", "3600"],
                        env=[k8s.V1EnvVar(name="A", value="1")],
                        ports=[k8s.V1ContainerPort(container_port=8080, name="http")])]))
    created = core.create_namespaced_pod(ns, pod)
    assert created.spec.containers[0].env[0].value == "1"
    assert created.spec.containers[0].ports[0].container_port == 8080
    assert created.spec.containers[0].ports[0].protocol == "TCP"  # defaulted as upstream
    assert created.spec.restart_policy == "Always"
    assert created.status.phase == "Pending"
    # The status subresource: what a kubelet writes.
    created.status.phase = "Running"
    created.status.pod_ip = "10.200.1.7"
    updated = core.replace_namespaced_pod_status("typed", ns, created)
    assert updated.status.phase == "Running" and updated.status.pod_ip == "10.200.1.7"
    running = core.list_namespaced_pod(ns, field_selector="status.phase=Running")
    assert [p.metadata.name for p in running.items] == ["typed"]


def test_list_paging_with_limit_and_continue(core, ns):
    for i in range(7):
        core.create_namespaced_config_map(ns, {"metadata": {"name": f"cm-{i}"}, "data": {"i": str(i)}})
    first = core.list_namespaced_config_map(ns, limit=3)
    names = [c.metadata.name for c in first.items]
    assert len(names) == 3 and first.metadata._continue
    assert first.metadata.remaining_item_count == 4
    token, rv = first.metadata._continue, first.metadata.resource_version
    # A change after the first page is not seen by the later pages (they read at the first page's revision).
    core.create_namespaced_config_map(ns, {"metadata": {"name": "cm-late"}})
    while token:
        page = core.list_namespaced_config_map(ns, limit=3, _continue=token)
        assert page.metadata.resource_version == rv
        names += [c.metadata.name for c in page.items]
        token = page.metadata._continue
    assert names == [f"cm-{i}" for i in range(7)]


# -- list + watch ----------------------------------------------------------------------

def collect(func, *args, count: int, **kwargs) -> list[tuple[str, object]]:
    """The first ``count`` events of a watch (the Watch helper of the client)."""
    events = []
    watch = Watch()
    for event in watch.stream(func, *args, timeout_seconds=20, **kwargs):
        events.append((event["type"], event["object"]))
        if len(events) == count:
            watch.stop()
    return events


def test_list_then_watch_from_resource_version(core, ns):
    core.create_namespaced_config_map(ns, {"metadata": {"name": "before"}})
    listed = core.list_namespaced_config_map(ns)
    assert [c.metadata.name for c in listed.items] == ["before"]
    rv = listed.metadata.resource_version

    core.create_namespaced_config_map(ns, {"metadata": {"name": "a", "labels": {"x": "1"}}})
    core.patch_namespaced_config_map("a", ns, {"data": {"k": "v"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "b"}})
    core.delete_namespaced_config_map("before", ns)

    events = collect(core.list_namespaced_config_map, ns, count=4, resource_version=rv)
    assert [(t, o.metadata.name) for t, o in events] == [
        ("ADDED", "a"), ("MODIFIED", "a"), ("ADDED", "b"), ("DELETED", "before")]
    assert all(isinstance(o, k8s.V1ConfigMap) for _, o in events)
    assert events[1][1].data == {"k": "v"}
    revisions = [int(o.metadata.resource_version) for _, o in events]
    assert revisions == sorted(revisions) and revisions[0] > int(rv)

    # A label selector: only "a" is seen, and "a" leaving the selector is a DELETED event.
    core.patch_namespaced_config_map("a", ns, {"metadata": {"labels": {"x": "2"}}})
    selected = collect(core.list_namespaced_config_map, ns, count=3, resource_version=rv, label_selector="x=1")
    assert [(t, o.metadata.name) for t, o in selected] == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]


def test_watch_without_resource_version_starts_with_the_current_state(core, ns):
    core.create_namespaced_config_map(ns, {"metadata": {"name": "one"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "two"}})
    events = collect(core.list_namespaced_config_map, ns, count=2)
    assert sorted((t, o.metadata.name) for t, o in events) == [("ADDED", "one"), ("ADDED", "two")]


def test_watch_from_a_compacted_resource_version_is_410_and_the_client_relists(apiserver, core, ns):
    core.create_namespaced_config_map(ns, {"metadata": {"name": "old"}})
    old_rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.patch_namespaced_config_map("old", ns, {"data": {"v": "2"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "new"}})
    apiserver.etcd.compact()

    # The Watch helper retries a 410 once by itself, then raises it (no timeout given: it would retry).
    with pytest.raises(ApiException) as info:
        for _ in Watch().stream(core.list_namespaced_config_map, ns, resource_version=old_rv):
            pass
    assert info.value.status == 410
    assert info.value.reason.startswith("Expired: too old resource version")

    # A list at the compacted revision is refused the same way.
    code, status = refused(core.list_namespaced_config_map, ns, resource_version=old_rv,
                           resource_version_match="Exact")
    assert (code, status["reason"]) == (410, "Expired")

    # What every informer does: list again, watch from the fresh list.
    relisted = core.list_namespaced_config_map(ns)
    assert sorted(c.metadata.name for c in relisted.items) == ["new", "old"]
    assert relisted.items[[c.metadata.name for c in relisted.items].index("old")].data == {"v": "2"}
    core.delete_namespaced_config_map("new", ns)
    events = collect(core.list_namespaced_config_map, ns, count=1,
                     resource_version=relisted.metadata.resource_version)
    assert [(t, o.metadata.name) for t, o in events] == [("DELETED", "new")]


def test_watch_bookmarks(core, ns):
    """allowWatchBookmarks: the Watch helper remembers a BOOKMARK's resourceVersion."""
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, {"metadata": {"name": "x"}})
    watch = Watch()
    seen = []
    for event in watch.stream(core.list_namespaced_config_map, ns, resource_version=rv,
                              allow_watch_bookmarks=True, timeout_seconds=15):
        seen.append(event["type"])
        if event["type"] == "BOOKMARK":
            watch.stop()
    assert seen[0] == "ADDED" and seen[-1] == "BOOKMARK"
    assert int(watch.resource_version) >= int(rv)


# -- the dynamic client ----------------------------------------------------------------

@pytest.fixture(scope="module")
def dynamic(api_client, tmp_path_factory) -> DynamicClient:
    cache = tmp_path_factory.mktemp("discovery") / "cache.json"
    return DynamicClient(api_client, cache_file=str(cache))


@pytest.mark.parametrize("api_version, kind", [(k[3], wire_kind(k[4])) for k in KINDS],
                         ids=[f"{k[3]}/{wire_kind(k[4])}" for k in KINDS])
def test_dynamic_client_discovers_and_serves_every_kind(dynamic, core, api_version, kind):
    resource = dynamic.resources.get(api_version=api_version, kind=kind)
    row = next(k for k in KINDS if k[3] == api_version and wire_kind(k[4]) == kind)
    assert resource.namespaced == row[5]
    assert resource.kind == kind and resource.group_version == api_version
    assert {"create", "get", "list", "delete", "watch"} <= set(resource.verbs)
    if kind == "Namespace":
        return  # its CRUD is in test_typed_crud; deleting one leaves it Terminating
    ns = new_namespace(core) if row[5] else None
    name = unique(kind.lower())
    body = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name},
            **bodies(ns or "default", name)[row[4]]}
    created = resource.create(body=body, namespace=ns)
    assert created.metadata.name == name and created.kind == kind
    got = resource.get(name=name, namespace=ns)
    assert got.metadata.uid == created.metadata.uid
    listed = resource.get(namespace=ns, field_selector=f"metadata.name={name}")
    assert [i.metadata.name for i in listed.items] == [name]
    resource.delete(name=name, namespace=ns)
    with pytest.raises(kubernetes.dynamic.exceptions.NotFoundError):
        resource.get(name=name, namespace=ns)


def test_dynamic_client_sees_subresources_and_scale(dynamic, core):
    ns = new_namespace(core)
    deployments = dynamic.resources.get(api_version="apps/v1", kind="Deployment")
    assert {"status", "scale"} <= set(deployments.subresources)
    pods = dynamic.resources.get(api_version="v1", kind="Pod")
    assert {"status", "binding", "eviction", "log", "exec"} <= set(pods.subresources)
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            **bodies(ns, "web")["Deployment"]}
    deployments.create(body=body, namespace=ns)
    scale = deployments.subresources["scale"].get(name="web", namespace=ns)
    assert scale.kind == "Scale" and scale.spec.replicas == 2
    deployments.subresources["scale"].patch(name="web", namespace=ns, body={"spec": {"replicas": 5}},
                                            content_type="application/merge-patch+json")
    assert deployments.get(name="web", namespace=ns).spec.replicas == 5
    # A resource the server does not serve is a clear lookup error, not a guess.
    with pytest.raises(kubernetes.dynamic.exceptions.ResourceNotFoundError):
        dynamic.resources.get(api_version="example.com/v1", kind="Widget")


# -- Service ClusterIPs and NodePorts ---------------------------------------------------------

def service(name: str, **spec) -> dict:
    return {"metadata": {"name": name}, "spec": {"ports": [{"port": 80, "targetPort": 8080}], **spec}}


def all_cluster_ips(core) -> list[str]:
    return [s.spec.cluster_ip for s in core.list_service_for_all_namespaces().items
            if s.spec.cluster_ip not in (None, "None")]


def test_cluster_ips_are_allocated_once_and_released_on_delete(core, ns):
    made = [core.create_namespaced_service(ns, service(f"s{i}")) for i in range(6)]
    ips = [s.spec.cluster_ip for s in made]
    assert len(set(ips)) == 6
    for s in made:
        address = ipaddress.ip_address(s.spec.cluster_ip)
        assert address in SERVICE_RANGE
        assert address not in (SERVICE_RANGE.network_address, SERVICE_RANGE.broadcast_address)
        assert s.spec.cluster_ips == [s.spec.cluster_ip]
    everywhere = all_cluster_ips(core)
    assert len(everywhere) == len(set(everywhere)), "two Services share a ClusterIP"

    # Asking for a taken IP: 422 Invalid naming spec.clusterIPs.
    code, status = refused(core.create_namespaced_service, ns, service("dup", clusterIP=ips[0]))
    assert (code, status["reason"]) == (422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "spec.clusterIPs"
    assert "provided IP is already allocated" in status["message"]
    # Outside the range: 422 too.
    code, status = refused(core.create_namespaced_service, ns, service("far", clusterIP="10.99.0.5"))
    assert code == 422 and "not in the valid range" in status["message"]
    # Headless and ExternalName Services take no IP.
    headless = core.create_namespaced_service(ns, service("headless", clusterIP="None"))
    assert headless.spec.cluster_ip == "None"
    external = core.create_namespaced_service(ns, {"metadata": {"name": "ext"},
                                                   "spec": {"type": "ExternalName", "externalName": "example.org"}})
    assert external.spec.cluster_ip in (None, "")

    # Deleting the Service releases its IP: it can be asked for again.
    core.delete_namespaced_service("s0", ns)
    again = core.create_namespaced_service(ns, service("again", clusterIP=ips[0]))
    assert again.spec.cluster_ip == ips[0]
    # An update keeps the IP; the IP cannot be changed.
    kept = core.patch_namespaced_service("again", ns, {"metadata": {"labels": {"l": "1"}}})
    assert kept.spec.cluster_ip == ips[0]


def test_node_ports_are_allocated_once_and_released(core, ns):
    first = core.create_namespaced_service(ns, service("np1", type="NodePort"))
    port = first.spec.ports[0].node_port
    assert port in NODE_PORTS
    second = core.create_namespaced_service(ns, service("np2", type="NodePort"))
    assert second.spec.ports[0].node_port != port

    taken = service("np3", type="NodePort")
    taken["spec"]["ports"][0]["nodePort"] = port
    code, status = refused(core.create_namespaced_service, ns, taken)
    assert (code, status["reason"]) == (422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "spec.ports[0].nodePort"
    assert "provided port is already allocated" in status["message"]

    # Turning np1 into a ClusterIP Service gives its port back.
    np1 = core.read_namespaced_service("np1", ns)
    np1.spec.type = "ClusterIP"
    np1.spec.ports[0].node_port = None
    assert core.replace_namespaced_service("np1", ns, np1).spec.ports[0].node_port is None
    reused = core.create_namespaced_service(ns, taken)
    assert reused.spec.ports[0].node_port == port
    # Deleting gives it back too.
    core.delete_namespaced_service("np3", ns)
    assert core.create_namespaced_service(ns, {**taken, "metadata": {"name": "np4"}}).spec.ports[0].node_port == port


def test_allocations_survive_an_apiserver_restart(apiserver, core, ns, tmp_path):
    """A second apiserver process on the same etcd (a restart, or an HA peer) sees every allocation."""
    held = core.create_namespaced_service(ns, service("held", type="NodePort"))
    ip, port = held.spec.cluster_ip, held.spec.ports[0].node_port
    other = ApiserverProcess(etcd=apiserver.etcd, log_path=tmp_path / "second-apiserver.log").start()
    try:
        api = client_for(other, tmp_path / "kubeconfig")
        core2 = k8s.CoreV1Api(api)
        code, _ = refused(core2.create_namespaced_service, ns, service("ip-clash", clusterIP=ip))
        assert code == 422
        clash = service("port-clash", type="NodePort")
        clash["spec"]["ports"][0]["nodePort"] = port
        code, _ = refused(core2.create_namespaced_service, ns, clash)
        assert code == 422
        fresh = [core2.create_namespaced_service(ns, service(f"fresh{i}", type="NodePort")) for i in range(3)]
        assert ip not in {s.spec.cluster_ip for s in fresh}
        assert port not in {s.spec.ports[0].node_port for s in fresh}
        # Released through the second server, available through the first.
        core2.delete_namespaced_service("held", ns)
        api.close()
    finally:
        other.stop()
    assert core.create_namespaced_service(ns, service("back", clusterIP=ip)).spec.cluster_ip == ip
    everywhere = all_cluster_ips(core)
    assert len(everywhere) == len(set(everywhere))


# -- namespace lifecycle -----------------------------------------------------------------

def test_create_in_a_missing_namespace_is_404(core):
    missing = unique("missing")
    code, status = refused(core.create_namespaced_config_map, missing, {"metadata": {"name": "x"}})
    assert (code, status["reason"]) == (404, "NotFound")
    assert status["message"] == f'namespaces "{missing}" not found'
    assert status["details"] == {"name": missing, "kind": "namespaces"}


def test_create_in_a_terminating_namespace_is_403_until_it_is_finalized(core):
    ns = new_namespace(core)
    core.create_namespaced_config_map(ns, {"metadata": {"name": "existing"}})
    core.delete_namespace(ns)
    terminating = core.read_namespace(ns)
    assert terminating.status.phase == "Terminating"
    assert terminating.spec.finalizers == ["kubernetes"]

    code, status = refused(core.create_namespaced_config_map, ns, {"metadata": {"name": "late"}})
    assert (code, status["reason"]) == (403, "Forbidden")
    assert status["message"] == (f'configmaps "late" is forbidden: unable to create new content in namespace {ns} '
                                 "because it is being terminated")
    assert status["details"]["causes"][0]["reason"] == "NamespaceTerminating"
    # What is already inside can still change (the namespace controller deletes it).
    core.patch_namespaced_config_map("existing", ns, {"data": {"a": "b"}})
    core.delete_namespaced_config_map("existing", ns)

    # The namespace controller's last step: empty spec.finalizers through /finalize, and it is gone.
    terminating.spec.finalizers = []
    core.replace_namespace_finalize(ns, terminating)
    code, _ = refused(core.read_namespace, ns)
    assert code == 404


def test_system_namespaces_cannot_be_deleted(core):
    code, status = refused(core.delete_namespace, "kube-system")
    assert (code, status["reason"]) == (403, "Forbidden")
    assert core.read_namespace("kube-system").status.phase == "Active"


# -- finalizers and deletionTimestamp ---------------------------------------------------------

def test_finalizers_hold_an_object_until_removed(core, ns):
    held = core.create_namespaced_config_map(ns, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]},
                                                  "data": {"a": "1"}})
    rv = held.metadata.resource_version
    core.delete_namespaced_config_map("held", ns)
    deleting = core.read_namespaced_config_map("held", ns)
    assert deleting.metadata.deletion_timestamp is not None
    assert deleting.metadata.finalizers == ["example.com/hold"]
    # A second delete changes nothing; the object can still be updated.
    core.delete_namespaced_config_map("held", ns)
    core.patch_namespaced_config_map("held", ns, {"data": {"a": "2"}})
    assert core.read_namespaced_config_map("held", ns).metadata.deletion_timestamp == \
        deleting.metadata.deletion_timestamp

    # The controller that owns the finalizer removes it: the object goes at once (upstream deletes
    # instead of writing the emptied list), so watchers see the delete's MODIFIED, the edit's, then DELETED.
    core.patch_namespaced_config_map("held", ns, [{"op": "remove", "path": "/metadata/finalizers"}])
    code, _ = refused(core.read_namespaced_config_map, "held", ns)
    assert code == 404
    events = collect(core.list_namespaced_config_map, ns, count=3, resource_version=rv)
    assert [t for t, _ in events] == ["MODIFIED", "MODIFIED", "DELETED"]
    assert events[0][1].metadata.deletion_timestamp is not None
    assert events[-1][1].data == {"a": "2"}


def test_foreground_and_orphan_deletion_set_their_finalizers(api_client, ns):
    apps = k8s.AppsV1Api(api_client)
    for name in ("fg", "orphan"):
        apps.create_namespaced_deployment(ns, {"metadata": {"name": name}, **bodies(ns, name)["Deployment"]})
    apps.delete_namespaced_deployment("fg", ns, propagation_policy="Foreground")
    fg = apps.read_namespaced_deployment("fg", ns)
    assert fg.metadata.finalizers == ["foregroundDeletion"] and fg.metadata.deletion_timestamp
    apps.delete_namespaced_deployment("orphan", ns, body=k8s.V1DeleteOptions(propagation_policy="Orphan"))
    assert apps.read_namespaced_deployment("orphan", ns).metadata.finalizers == ["orphan"]
    # Preconditions: a stale resourceVersion is 409 and nothing happens.
    apps.create_namespaced_deployment(ns, {"metadata": {"name": "pre"}, **bodies(ns, "pre")["Deployment"]})
    code, status = refused(apps.delete_namespaced_deployment, "pre", ns,
                           body=k8s.V1DeleteOptions(preconditions=k8s.V1Preconditions(resource_version="1")))
    assert (code, status["reason"]) == (409, "Conflict")
    assert "Precondition failed" in status["message"]
    assert apps.read_namespaced_deployment("pre", ns).metadata.deletion_timestamp is None


# -- dryRun=All -----------------------------------------------------------------------------

def test_dry_run_persists_nothing(core, ns):
    before = {c.metadata.name: c.metadata.resource_version for c in core.list_namespaced_config_map(ns).items}

    answer = core.create_namespaced_config_map(ns, {"metadata": {"name": "dry"}, "data": {"a": "1"}},
                                               dry_run="All")
    assert answer.metadata.name == "dry" and answer.data == {"a": "1"}
    assert refused(core.read_namespaced_config_map, "dry", ns)[0] == 404

    real = core.create_namespaced_config_map(ns, {"metadata": {"name": "real"}, "data": {"a": "1"}})
    real.data = {"a": "changed"}
    assert core.replace_namespaced_config_map("real", ns, real, dry_run="All").data == {"a": "changed"}
    assert core.patch_namespaced_config_map("real", ns, {"data": {"b": "2"}}, dry_run="All").data == \
        {"a": "1", "b": "2"}
    core.delete_namespaced_config_map("real", ns, dry_run="All")
    after = core.read_namespaced_config_map("real", ns)
    assert after.data == {"a": "1"} and after.metadata.resource_version == real.metadata.resource_version

    # A dry-run Service shows the IP it would get, and keeps none.
    ip = core.create_namespaced_service(ns, service("dry-svc"), dry_run="All").spec.cluster_ip
    assert ipaddress.ip_address(ip) in SERVICE_RANGE
    assert core.create_namespaced_service(ns, service("real-svc", clusterIP=ip)).spec.cluster_ip == ip

    after_all = {c.metadata.name: c.metadata.resource_version for c in core.list_namespaced_config_map(ns).items}
    assert after_all == {**before, "real": real.metadata.resource_version}


# -- fieldValidation ---------------------------------------------------------------------

def test_field_validation_strict_warn_ignore(dynamic, core, ns):
    """Unknown fields can only be sent untyped (the typed models refuse them): the client's ApiClient.call_api."""
    path = f"/api/v1/namespaces/{ns}/configmaps"

    def create(name, mode):
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "colour": "red"},
                "data": {"a": "1"}, "bogus": True}
        api = dynamic.client  # the ApiClient underneath: the answer with its headers
        request = api.param_serialize("POST", path, query_params=[("fieldValidation", mode)],
                                      header_params={"Content-Type": "application/json",
                                                     "Accept": "application/json"}, body=body)
        answer = api.call_api(*request)
        answer.read()
        if answer.status >= 400:
            api.response_deserialize(answer, {})  # raises the client's ApiException
        return answer

    with pytest.raises(ApiException) as info:
        create("strict", "Strict")
    status = json.loads(info.value.body)
    assert (status["code"], status["reason"]) == (400, "BadRequest")
    assert 'unknown field "bogus"' in status["message"]
    assert 'unknown field "metadata.colour"' in status["message"]
    assert refused(core.read_namespaced_config_map, "strict", ns)[0] == 404

    answer = create("warn", "Warn")
    assert answer.status == 201
    warnings = ", ".join(answer.headers.getlist("Warning"))
    assert '299 - "unknown field \\"bogus\\""' in warnings, warnings
    assert '299 - "unknown field \\"metadata.colour\\""' in warnings, warnings

    answer = create("ignore", "Ignore")
    assert answer.status == 201 and not answer.headers.get("Warning")

    # Unknown fields are never stored, whatever the mode.
    for name in ("warn", "ignore"):
        raw = core.read_namespaced_config_map(name, ns, _preload_content=False).data
        assert b"bogus" not in raw and b"colour" not in raw
        assert core.read_namespaced_config_map(name, ns).data == {"a": "1"}

    with pytest.raises(ApiException) as info:
        create("x", "Sometimes")
    assert "fieldValidation" in json.loads(info.value.body)["message"]


# -- subresources through the typed client ---------------------------------------------------

def test_subresources_scale_status_binding_eviction_log(api_client, core, ns):
    apps = k8s.AppsV1Api(api_client)
    apps.create_namespaced_deployment(ns, {"metadata": {"name": "web"}, **bodies(ns, "web")["Deployment"]})
    scale = apps.read_namespaced_deployment_scale("web", ns)
    assert isinstance(scale, k8s.V1Scale) and scale.spec.replicas == 2
    assert scale.status.selector == "app=web"
    scale.spec.replicas = 4
    assert apps.replace_namespaced_deployment_scale("web", ns, scale).spec.replicas == 4
    assert apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 1}}).spec.replicas == 1
    deployment = apps.read_namespaced_deployment("web", ns)
    assert deployment.spec.replicas == 1 and deployment.metadata.generation == 3

    # status: only through /status, and the main resource keeps it.
    deployment.status = k8s.V1DeploymentStatus(replicas=1, ready_replicas=1, observed_generation=3)
    written = apps.replace_namespaced_deployment_status("web", ns, deployment)
    assert written.status.ready_replicas == 1 and written.metadata.generation == 3
    written.status.ready_replicas = 0
    written.spec.paused = True
    kept = apps.replace_namespaced_deployment("web", ns, written)
    assert kept.status.ready_replicas == 1 and kept.spec.paused is True

    # binding: what the scheduler sends; a second binding is 409.
    core.create_namespaced_pod(ns, {"metadata": {"name": "p", "labels": {"app": "web"}},
                                    **bodies(ns, "p")["Pod"]})
    binding = k8s.V1Binding(metadata=k8s.V1ObjectMeta(name="p"),
                            target=k8s.V1ObjectReference(kind="Node", name="worker-1"))
    # The answer is a Status (upstream too), which the client cannot read as a V1Binding: raw answer.
    answer = core.create_namespaced_pod_binding("p", ns, binding, _preload_content=False)
    assert answer.status == 201 and json.loads(answer.data)["status"] == "Success"
    pod = core.read_namespaced_pod("p", ns)
    assert pod.spec.node_name == "worker-1"
    assert any(c.type == "PodScheduled" and c.status == "True" for c in pod.status.conditions)
    code, status = refused(core.create_namespaced_pod_binding, "p", ns, binding)
    assert (code, status["reason"]) == (409, "Conflict")

    # log: the pod's Node is where its kubelet is found; none here: upstream's 404 for the Node.
    code, status = refused(core.read_namespaced_pod_log, "p", ns)
    assert code == 404 and status["message"] == 'nodes "worker-1" not found'

    # eviction: a PodDisruptionBudget that allows nothing refuses with 429, then one that allows it.
    policy = k8s.PolicyV1Api(api_client)
    policy.create_namespaced_pod_disruption_budget(ns, {"metadata": {"name": "pdb"},
                                                        **bodies(ns, "pdb")["PodDisruptionBudget"]})
    eviction = k8s.V1Eviction(metadata=k8s.V1ObjectMeta(name="p", namespace=ns))
    code, status = refused(core.create_namespaced_pod_eviction, "p", ns, eviction)
    assert (code, status["reason"]) == (429, "TooManyRequests")
    assert core.read_namespaced_pod("p", ns).metadata.deletion_timestamp is None
    pdb = policy.read_namespaced_pod_disruption_budget("pdb", ns)
    pdb.status = k8s.V1PodDisruptionBudgetStatus(current_healthy=2, desired_healthy=1, disruptions_allowed=1,
                                                 expected_pods=2, observed_generation=1)
    policy.replace_namespaced_pod_disruption_budget_status("pdb", ns, pdb)
    core.create_namespaced_pod_eviction("p", ns, eviction, _preload_content=False)
    assert core.read_namespaced_pod("p", ns).metadata.deletion_timestamp is not None


def test_all_namespaces_list_watch_and_delete_collection(core):
    first, second = new_namespace(core), new_namespace(core)
    mark = unique("mark")
    for ns in (first, second):
        for i in range(3):
            core.create_namespaced_config_map(ns, {"metadata": {"name": f"c{i}", "labels": {"mark": mark,
                                                                                          "i": str(i)}}})
    everywhere = core.list_config_map_for_all_namespaces(label_selector=f"mark={mark}")
    assert sorted((c.metadata.namespace, c.metadata.name) for c in everywhere.items) == sorted(
        (ns, f"c{i}") for ns in (first, second) for i in range(3))
    page = core.list_config_map_for_all_namespaces(label_selector=f"mark={mark}", limit=4)
    assert len(page.items) == 4 and page.metadata._continue
    rest = core.list_config_map_for_all_namespaces(label_selector=f"mark={mark}", limit=4,
                                                   _continue=page.metadata._continue)
    assert len(rest.items) == 2 and not rest.metadata._continue

    core.delete_collection_namespaced_config_map(first, label_selector=f"mark={mark},i!=0")
    assert [c.metadata.name for c in core.list_namespaced_config_map(first).items] == ["c0"]
    events = collect(core.list_config_map_for_all_namespaces, count=2, label_selector=f"mark={mark}",
                     resource_version=everywhere.metadata.resource_version)
    assert sorted((t, o.metadata.namespace, o.metadata.name) for t, o in events) == [
        ("DELETED", first, "c1"), ("DELETED", first, "c2")]


def test_strategic_merge_patch_merges_containers_by_name(api_client, ns):
    apps = k8s.AppsV1Api(api_client)
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
        {"name": "app", "image": "busybox", "env": [{"name": "A", "value": "1"}]},
        {"name": "side", "image": "busybox"}]}}
    apps.create_namespaced_deployment(ns, {"metadata": {"name": "d"}, "spec": {
        "selector": {"matchLabels": {"app": "web"}}, "template": template}})
    patched = apps.patch_namespaced_deployment("d", ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "busybox:1.36", "env": [{"name": "B", "value": "2"}]}]}}}})
    app, side = patched.spec.template.spec.containers
    assert (app.name, app.image, side.name) == ("app", "busybox:1.36", "side")
    assert [(e.name, e.value) for e in app.env] == [("B", "2"), ("A", "1")]
    # $patch: delete removes one element by its merge key.
    patched = apps.patch_namespaced_deployment("d", ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "env": [{"name": "A", "$patch": "delete"}]}]}}}})
    assert [e.name for e in patched.spec.template.spec.containers[0].env] == ["B"]
    assert patched.metadata.generation == 3


def test_typed_discovery_and_version(api_client):
    """The typed discovery calls ask for "/version/", "/api/", "/apis/": each answer fits its model."""
    version = k8s.VersionApi(api_client).get_code()
    assert (version.major, version.git_version.startswith("v1.")) == ("1", True)
    assert k8s.CoreApi(api_client).get_api_versions().versions == ["v1"]
    groups = {g.name: g for g in k8s.ApisApi(api_client).get_api_versions().groups}
    for group in ("apps", "batch", "policy", "rbac.authorization.k8s.io", "coordination.k8s.io",
                  "discovery.k8s.io", "events.k8s.io"):
        assert groups[group].preferred_version.group_version == f"{group}/v1"
    served = {}
    for cls in ("CoreV1Api", "AppsV1Api", "BatchV1Api", "RbacAuthorizationV1Api", "CoordinationV1Api",
                "DiscoveryV1Api", "PolicyV1Api", "EventsV1Api"):
        listing = getattr(k8s, cls)(api_client).get_api_resources()
        served.update({(listing.group_version, r.kind): r for r in listing.resources if "/" not in r.name})
    for _, _, _, api_version, kind, namespaced in KINDS:
        resource = served[(api_version, wire_kind(kind))]
        assert resource.namespaced == namespaced and "create" in resource.verbs
    assert k8s.AppsApi(api_client).get_api_group().preferred_version.version == "v1"


def test_create_from_yaml_helper(api_client, core, ns, tmp_path):
    """kubernetes.utils.create_from_yaml: multi-document YAML through the typed APIs, as tutorials use it."""
    from kubernetes import utils
    manifest = tmp_path / "app.yaml"
    manifest.write_text(f"""
apiVersion: v1
kind: ConfigMap
metadata: {{name: app-config, namespace: {ns}}}
data: {{mode: demo}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app, namespace: {ns}, labels: {{app: demo}}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: demo}}}}
  template:
    metadata: {{labels: {{app: demo}}}}
    spec:
      containers:
      - name: app
        image: busybox
        envFrom: [{{configMapRef: {{name: app-config}}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: app, namespace: {ns}}}
spec:
  selector: {{app: demo}}
  ports: [{{port: 80, targetPort: 8080}}]
""")
    created = utils.create_from_yaml(api_client, str(manifest))
    kinds = sorted(type(obj).__name__ for group in created for obj in group)
    assert kinds == ["V1ConfigMap", "V1Deployment", "V1Service"]
    assert core.read_namespaced_service("app", ns).spec.cluster_ip
    # The same manifest again: the helper reports every AlreadyExists as one FailToCreateError.
    with pytest.raises(utils.FailToCreateError) as info:
        utils.create_from_yaml(api_client, str(manifest))
    assert sorted(json.loads(e.body)["reason"] for e in info.value.api_exceptions) == ["AlreadyExists"] * 3
