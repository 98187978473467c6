"""Table output: per kind, object in -> header and cells out (upstream's printers), with a fixed clock."""

from datetime import datetime, timedelta, timezone

import pytest

from labkit.api import registry
from labkit.api.errors import StatusError
from labkit.apiserver.tables import human_duration, pod_status, to_table

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


def ago(**delta) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name, age=timedelta(minutes=5), **extra):
    return {"name": name, "namespace": "default", "creationTimestamp": ago(seconds=age.total_seconds()), **extra}


def res(group, plural):
    version = "v1"
    return registry.lookup(group, version, plural)


def header(table):
    return [c["name"].upper() for c in table["columnDefinitions"]]


def wide_header(table):
    return [c["name"].upper() for c in table["columnDefinitions"] if c["priority"] == 1]


# -- AGE: upstream's human durations ------------------------------------------------------

DURATIONS = [
    (-5, "<invalid>"), (-1.5, "0s"), (0, "0s"), (5, "5s"), (119, "119s"), (120, "2m"), (182, "3m2s"),
    (599, "9m59s"), (600, "10m"), (3 * 3600 - 1, "179m"), (3 * 3600, "3h"), (4 * 3600 + 600, "4h10m"),
    (8 * 3600, "8h"), (47 * 3600, "47h"), (51 * 3600, "2d3h"), (72 * 3600, "3d"), (8 * 86400, "8d"),
    (400 * 86400, "400d"), (2 * 365 * 86400 + 30 * 86400, "2y30d"), (3 * 365 * 86400, "3y"),
    (9 * 365 * 86400, "9y"),
]


@pytest.mark.parametrize("seconds, text", DURATIONS)
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


# -- pods ---------------------------------------------------------------------------------

POD_HEADER = ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"]


def pod(status=None, spec=None, **metadata):
    return {"metadata": meta("web", **metadata),
            "spec": spec or {"containers": [{"name": "app", "image": "busybox"}]}, "status": status or {}}


def running(name="app", restarts=0, ready=True, **extra):
    return {"name": name, "ready": ready, "restartCount": restarts, "state": {"running": {"startedAt": ago(minutes=1)}},
            **extra}


def waiting(reason, name="app", restarts=0, **extra):
    return {"name": name, "ready": False, "restartCount": restarts, "state": {"waiting": {"reason": reason}}, **extra}


def terminated(name="app", exit_code=0, reason=None, signal=None):
    state = {"exitCode": exit_code}
    if reason:
        state["reason"] = reason
    if signal:
        state["signal"] = signal
    return {"name": name, "ready": False, "restartCount": 0, "state": {"terminated": state}}


TWO = {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}
WITH_INIT = {"initContainers": [{"name": "init", "image": "x"}], "containers": [{"name": "app", "image": "y"}]}
WITH_SIDECAR = {"initContainers": [{"name": "proxy", "image": "x", "restartPolicy": "Always"}],
                "containers": [{"name": "app", "image": "y"}]}

# pod, expected (READY, STATUS, RESTARTS)
POD_STATUSES = [
    (pod(), ("0/1", "Pending", "0")),
    (pod({"phase": "Pending"}), ("0/1", "Pending", "0")),
    (pod({"phase": "Pending", "containerStatuses": [waiting("ContainerCreating")]}), ("0/1", "ContainerCreating", "0")),
    (pod({"phase": "Pending", "containerStatuses": [waiting("ErrImagePull")]}), ("0/1", "ErrImagePull", "0")),
    (pod({"phase": "Running", "containerStatuses": [running()]}), ("1/1", "Running", "0")),
    (pod({"phase": "Running", "containerStatuses": [running(ready=False)]}), ("0/1", "Running", "0")),
    (pod({"phase": "Running", "containerStatuses": [running("a"), waiting("CrashLoopBackOff", "b", restarts=4)]},
         spec=TWO), ("1/2", "CrashLoopBackOff", "4")),
    (pod({"phase": "Succeeded", "containerStatuses": [terminated(reason="Completed")]}), ("0/1", "Completed", "0")),
    (pod({"phase": "Failed", "containerStatuses": [terminated(exit_code=1, reason="Error")]}), ("0/1", "Error", "0")),
    (pod({"phase": "Failed", "containerStatuses": [terminated(exit_code=137)]}), ("0/1", "ExitCode:137", "0")),
    (pod({"phase": "Failed", "containerStatuses": [terminated(exit_code=0, signal=9)]}), ("0/1", "Signal:9", "0")),
    # one container completed, one still running: Running when the pod is Ready, else NotReady
    (pod({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
          "containerStatuses": [terminated("a", reason="Completed"), running("b")]}, spec=TWO), ("1/2", "Running", "0")),
    (pod({"phase": "Running", "containerStatuses": [running("b"), terminated("a", reason="Completed")]}, spec=TWO),
     ("1/2", "NotReady", "0")),
    (pod({"phase": "Running", "containerStatuses": [running()]}, deletionTimestamp=ago(seconds=3)),
     ("1/1", "Terminating", "0")),
    (pod({"phase": "Succeeded", "containerStatuses": [terminated(reason="Completed")]},
         deletionTimestamp=ago(seconds=3)), ("0/1", "Completed", "0")),
    (pod({"phase": "Running", "reason": "NodeLost"}, deletionTimestamp=ago(seconds=3)), ("0/1", "Unknown", "0")),
    (pod({"phase": "Failed", "reason": "Evicted"}), ("0/1", "Evicted", "0")),
    (pod({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
     ("0/1", "SchedulingGated", "0")),
    # init containers
    (pod({"phase": "Pending", "initContainerStatuses": [waiting("PodInitializing", "init")],
          "containerStatuses": [waiting("PodInitializing")]}, spec=WITH_INIT), ("0/1", "Init:0/1", "0")),
    (pod({"phase": "Pending", "initContainerStatuses": [waiting("CrashLoopBackOff", "init", restarts=2)]},
         spec=WITH_INIT), ("0/1", "Init:CrashLoopBackOff", "2")),
    (pod({"phase": "Pending", "initContainerStatuses": [terminated("init", exit_code=3)]}, spec=WITH_INIT),
     ("0/1", "Init:ExitCode:3", "0")),
    (pod({"phase": "Pending", "initContainerStatuses": [terminated("init", exit_code=1, reason="Error")]},
         spec=WITH_INIT), ("0/1", "Init:Error", "0")),
    (pod({"phase": "Running", "initContainerStatuses": [terminated("init")],
          "containerStatuses": [running()]}, spec=WITH_INIT), ("1/1", "Running", "0")),
    # a sidecar (restartable init container) counts in READY
    (pod({"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
          "initContainerStatuses": [running("proxy", started=True)], "containerStatuses": [running()]},
         spec=WITH_SIDECAR), ("2/2", "Running", "0")),
]


@pytest.mark.parametrize("obj, expected", POD_STATUSES)
def test_pod_ready_status_restarts(obj, expected):
    table = to_table(res("", "pods"), [obj], now=NOW)
    assert header(table) == POD_HEADER
    assert tuple(table["rows"][0]["cells"][1:4]) == expected


def test_pod_restarts_show_when_the_last_one_was():
    status = {"phase": "Running", "containerStatuses": [running(restarts=3, lastState={
        "terminated": {"exitCode": 1, "finishedAt": ago(minutes=3, seconds=2)}})]}
    cells = to_table(res("", "pods"), [pod(status)], now=NOW)["rows"][0]["cells"]
    assert cells[3] == "3 (3m2s ago)"


def test_pod_row_wide_cells_and_object():
    obj = pod({"phase": "Running", "podIP": "10.200.1.4", "podIPs": [{"ip": "10.200.1.4"}],
               "conditions": [{"type": "www.example.com/gate", "status": "True"}], "containerStatuses": [running()]},
              spec={"nodeName": "worker-1", "containers": [{"name": "app", "image": "x"}],
                    "readinessGates": [{"conditionType": "www.example.com/gate"}, {"conditionType": "other"}]},
              age=timedelta(hours=4, minutes=10))
    table = to_table(res("", "pods"), [obj], now=NOW)
    row = table["rows"][0]
    assert row["cells"] == ["web", "1/1", "Running", "0", "4h10m", "10.200.1.4", "worker-1", "<none>", "1/2"]
    assert row["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj["metadata"]}
    assert "conditions" not in row


def test_pod_without_ip_or_node():
    cells = to_table(res("", "pods"), [pod()], now=NOW)["rows"][0]["cells"]
    assert cells[5:] == ["<none>", "<none>", "<none>", "<none>"]


def test_completed_pods_carry_the_completed_row_condition():
    obj = pod({"phase": "Succeeded", "containerStatuses": [terminated(reason="Completed")]})
    row = to_table(res("", "pods"), [obj], now=NOW)["rows"][0]
    assert row["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                  "message": "The pod has completed successfully."}]


def test_pod_status_helper_counts_restarts():
    reason, ready, total, restarts, _ = pod_status(
        pod({"phase": "Running", "containerStatuses": [running("a", restarts=2), running("b", restarts=1)]}, spec=TWO))
    assert (reason, ready, total, restarts) == ("Running", 2, 2, 3)


# -- every other kind: (resource, object, header, wide header, cells) ----------------------------

def node(conditions, labels=None, **spec):
    return {"metadata": {"name": "worker-1", "creationTimestamp": ago(days=2, hours=3), "labels": labels or {}},
            "spec": spec,
            "status": {"conditions": conditions,
                       "addresses": [{"type": "InternalIP", "address": "192.168.77.11"},
                                     {"type": "Hostname", "address": "worker-1"}],
                       "nodeInfo": {"kubeletVersion": "v1.31.0-labkit", "osImage": "Debian GNU/Linux 12 (bookworm)",
                                    "kernelVersion": "6.1.0-18-amd64", "containerRuntimeVersion": "containerd://1.6.20"}}}


READY = [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}]
NOT_READY = [{"type": "Ready", "status": "Unknown"}]
TEMPLATE = {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}, {"name": "log", "image": "busybox"}]}}
SELECTOR = {"matchLabels": {"app": "web"}}

CASES = [
    ("node ready with roles", res("", "nodes"),
     node(READY, {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": "",
                  "kubernetes.io/role": "etcd"}),
     ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
     ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"],
     ["worker-1", "Ready", "control-plane,etcd,master", "2d3h", "v1.31.0-labkit", "192.168.77.11", "<none>",
      "Debian GNU/Linux 12 (bookworm)", "6.1.0-18-amd64", "containerd://1.6.20"]),
    ("node cordoned and not ready", res("", "nodes"), node(NOT_READY, unschedulable=True),
     None, None,
     ["worker-1", "NotReady,SchedulingDisabled", "<none>", "2d3h", "v1.31.0-labkit", "192.168.77.11", "<none>",
      "Debian GNU/Linux 12 (bookworm)", "6.1.0-18-amd64", "containerd://1.6.20"]),
    ("node without status", res("", "nodes"), {"metadata": {"name": "n", "creationTimestamp": ago(seconds=5)}},
     None, None, ["n", "Unknown", "<none>", "5s", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"]),
    ("deployment", res("apps", "deployments"),
     {"metadata": meta("web", age=timedelta(minutes=3, seconds=2)),
      "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"},
                                           "matchExpressions": [{"key": "tier", "operator": "In",
                                                                 "values": ["fe", "be"]}]}, "template": TEMPLATE},
      "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}},
     ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], ["CONTAINERS", "IMAGES", "SELECTOR"],
     ["web", "2/3", 3, 2, "3m2s", "nginx,log", "nginx:1.25,busybox", "app=web,tier in (be,fe)"]),
    ("deployment without status", res("apps", "deployments"),
     {"metadata": meta("web"), "spec": {"replicas": 1, "selector": SELECTOR, "template": TEMPLATE}},
     None, None, ["web", "0/1", 0, 0, "5m", "nginx,log", "nginx:1.25,busybox", "app=web"]),
    ("replicaset", res("apps", "replicasets"),
     {"metadata": meta("web-5d8f", age=timedelta(hours=30)),
      "spec": {"replicas": 2, "selector": SELECTOR, "template": TEMPLATE}, "status": {"replicas": 2, "readyReplicas": 1}},
     ["NAME", "DESIRED", "CURRENT", "READY", "AGE"], ["CONTAINERS", "IMAGES", "SELECTOR"],
     ["web-5d8f", 2, 2, 1, "30h", "nginx,log", "nginx:1.25,busybox", "app=web"]),
    ("daemonset", res("apps", "daemonsets"),
     {"metadata": meta("kube-proxy"),
      "spec": {"selector": SELECTOR, "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                                                           "containers": [{"name": "p", "image": "proxy"}]}}},
      "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                 "updatedNumberScheduled": 3, "numberAvailable": 2}},
     ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"],
     ["CONTAINERS", "IMAGES", "SELECTOR"],
     ["kube-proxy", 3, 3, 2, 3, 2, "kubernetes.io/os=linux", "5m", "p", "proxy", "app=web"]),
    ("statefulset", res("apps", "statefulsets"),
     {"metadata": meta("db"), "spec": {"replicas": 3, "selector": SELECTOR, "template": TEMPLATE},
      "status": {"readyReplicas": 1}},
     ["NAME", "READY", "AGE"], ["CONTAINERS", "IMAGES"], ["db", "1/3", "5m", "nginx,log", "nginx:1.25,busybox"]),
    ("job complete", res("batch", "jobs"),
     {"metadata": meta("pi", age=timedelta(minutes=10)),
      "spec": {"completions": 1, "selector": {"matchLabels": {"job-name": "pi"}}, "template": TEMPLATE},
      "status": {"succeeded": 1, "startTime": ago(minutes=9), "completionTime": ago(minutes=8, seconds=30),
                 "conditions": [{"type": "Complete", "status": "True"}]}},
     ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"], ["CONTAINERS", "IMAGES", "SELECTOR"],
     ["pi", "Complete", "1/1", "30s", "10m", "nginx,log", "nginx:1.25,busybox", "job-name=pi"]),
    ("job running in parallel", res("batch", "jobs"),
     {"metadata": meta("work"), "spec": {"parallelism": 3, "template": TEMPLATE},
      "status": {"succeeded": 0, "startTime": ago(seconds=40)}},
     None, None, ["work", "Running", "0/1 of 3", "40s", "5m", "nginx,log", "nginx:1.25,busybox", "<none>"]),
    ("job failed", res("batch", "jobs"),
     {"metadata": meta("bad"), "spec": {"completions": 2, "template": TEMPLATE},
      "status": {"failed": 2, "conditions": [{"type": "Failed", "status": "True"}]}},
     None, None, ["bad", "Failed", "0/2", "", "5m", "nginx,log", "nginx:1.25,busybox", "<none>"]),
    ("cronjob", res("batch", "cronjobs"),
     {"metadata": meta("nightly", age=timedelta(days=3)),
      "spec": {"schedule": "0 3 * * *", "suspend": False, "jobTemplate": {"spec": {"template": TEMPLATE}}},
      "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": ago(hours=9)}},
     ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"], ["CONTAINERS", "IMAGES", "SELECTOR"],
     ["nightly", "0 3 * * *", "<none>", "False", 1, "9h", "3d", "nginx,log", "nginx:1.25,busybox", "<none>"]),
    ("cronjob never run", res("batch", "cronjobs"),
     {"metadata": meta("c"), "spec": {"schedule": "@hourly", "timeZone": "Etc/UTC",
                                      "jobTemplate": {"spec": {"template": TEMPLATE}}}},
     None, None, ["c", "@hourly", "Etc/UTC", "<unset>", 0, "<none>", "5m", "nginx,log", "nginx:1.25,busybox", "<none>"]),
    ("service clusterIP", res("", "services"),
     {"metadata": meta("web"), "spec": {"type": "ClusterIP", "clusterIP": "10.32.0.15", "clusterIPs": ["10.32.0.15"],
                                        "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
                                        "selector": {"tier": "fe", "app": "web"}}},
     ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"], ["SELECTOR"],
     ["web", "ClusterIP", "10.32.0.15", "<none>", "80/TCP,53/UDP", "5m", "app=web,tier=fe"]),
    ("service nodePort", res("", "services"),
     {"metadata": meta("web"), "spec": {"type": "NodePort", "clusterIP": "10.32.0.16",
                                        "ports": [{"port": 80, "nodePort": 30080}], "externalIPs": ["192.168.77.10"]}},
     None, None, ["web", "NodePort", "10.32.0.16", "192.168.77.10", "80:30080/TCP", "5m", "<none>"]),
    ("service headless", res("", "services"),
     {"metadata": meta("db"), "spec": {"clusterIP": "None", "selector": {"app": "db"}}},
     None, None, ["db", "ClusterIP", "None", "<none>", "<none>", "5m", "app=db"]),
    ("service loadBalancer pending", res("", "services"),
     {"metadata": meta("lb"), "spec": {"type": "LoadBalancer", "clusterIP": "10.32.0.9", "ports": [{"port": 443}]}},
     None, None, ["lb", "LoadBalancer", "10.32.0.9", "<pending>", "443/TCP", "5m", "<none>"]),
    ("service externalName", res("", "services"),
     {"metadata": meta("ext"), "spec": {"type": "ExternalName", "externalName": "db.example.com"}},
     None, None, ["ext", "ExternalName", "<none>", "db.example.com", "<none>", "5m", "<none>"]),
    ("endpoints", res("", "endpoints"),
     {"metadata": meta("web"), "subsets": [{"addresses": [{"ip": "10.200.1.4"}, {"ip": "10.200.2.7"}],
                                            "ports": [{"port": 8080}, {"port": 9090}]}]},
     ["NAME", "ENDPOINTS", "AGE"], [], ["web", "10.200.1.4:8080,10.200.2.7:8080,10.200.1.4:9090 + 1 more...", "5m"]),
    ("endpoints empty", res("", "endpoints"), {"metadata": meta("none")}, None, None, ["none", "<none>", "5m"]),
    ("endpointslice", res("discovery.k8s.io", "endpointslices"),
     {"metadata": meta("web-abc"), "addressType": "IPv4", "ports": [{"port": 8080, "name": "http"}],
      "endpoints": [{"addresses": ["10.200.1.4"]}, {"addresses": ["10.200.2.7"]}]},
     ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"], [], ["web-abc", "IPv4", "8080", "10.200.1.4,10.200.2.7", "5m"]),
    ("endpointslice empty", res("discovery.k8s.io", "endpointslices"),
     {"metadata": meta("e"), "addressType": "IPv4"}, None, None, ["e", "IPv4", "<unset>", "<unset>", "5m"]),
    ("event", res("", "events"),
     {"metadata": meta("web.17a"), "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
      "reason": "Pulled", "message": "Successfully pulled image \"busybox\"\n", "type": "Normal", "count": 3,
      "firstTimestamp": ago(minutes=20), "lastTimestamp": ago(seconds=45),
      "source": {"component": "kubelet", "host": "worker-1"}},
     ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], ["SUBOBJECT", "SOURCE", "FIRST SEEN", "COUNT", "NAME"],
     ["45s", "Normal", "Pulled", "pod/web", "spec.containers{app}", "kubelet, worker-1",
      "Successfully pulled image \"busybox\"", "20m", 3, "web.17a"]),
    ("event from the new API", res("events.k8s.io", "events"),
     {"metadata": meta("n.1"), "regarding": {"kind": "Node", "name": "worker-1"}, "reason": "Ready",
      "note": "Node is ready", "type": "Normal", "eventTime": "2026-01-01T11:59:50.000000Z",
      "reportingController": "kubelet", "reportingInstance": "worker-1"},
     None, None, ["10s", "Normal", "Ready", "node/worker-1", "", "kubelet, worker-1", "Node is ready", "10s", 1, "n.1"]),
    ("event series", res("", "events"),
     {"metadata": meta("s.1"), "involvedObject": {"kind": "Deployment"}, "reason": "R", "message": "m",
      "type": "Warning", "eventTime": ago(hours=1),
      "series": {"count": 7, "lastObservedTime": "2026-01-01T11:58:00.000000Z"}},
     None, None, ["2m", "Warning", "R", "deployment", "", "", "m", "60m", 7, "s.1"]),
    ("namespace", res("", "namespaces"),
     {"metadata": {"name": "kube-system", "creationTimestamp": ago(days=400)}, "status": {"phase": "Active"}},
     ["NAME", "STATUS", "AGE"], [], ["kube-system", "Active", "400d"]),
    ("namespace terminating", res("", "namespaces"),
     {"metadata": {"name": "old", "creationTimestamp": ago(seconds=90)}, "status": {"phase": "Terminating"}},
     None, None, ["old", "Terminating", "90s"]),
    ("configmap", res("", "configmaps"),
     {"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}},
     ["NAME", "DATA", "AGE"], [], ["cfg", 3, "5m"]),
    ("secret", res("", "secrets"),
     {"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}},
     ["NAME", "TYPE", "DATA", "AGE"], [], ["tls", "kubernetes.io/tls", 2, "5m"]),
    ("serviceaccount", res("", "serviceaccounts"), {"metadata": meta("default")},
     ["NAME", "SECRETS", "AGE"], [], ["default", 0, "5m"]),
    ("lease", res("coordination.k8s.io", "leases"),
     {"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "master-1_4f2c"}},
     ["NAME", "HOLDER", "AGE"], [], ["kube-scheduler", "master-1_4f2c", "5m"]),
    ("role", res("rbac.authorization.k8s.io", "roles"),
     {"metadata": {"name": "reader", "creationTimestamp": "2025-12-31T10:00:00Z"}, "rules": []},
     ["NAME", "CREATED AT"], [], ["reader", "2025-12-31T10:00:00Z"]),
    ("clusterrole", res("rbac.authorization.k8s.io", "clusterroles"),
     {"metadata": {"name": "admin", "creationTimestamp": "2025-12-31T10:00:00Z"}},
     ["NAME", "CREATED AT"], [], ["admin", "2025-12-31T10:00:00Z"]),
    ("rolebinding", res("rbac.authorization.k8s.io", "rolebindings"),
     {"metadata": meta("read-pods"), "roleRef": {"kind": "Role", "name": "reader"},
      "subjects": [{"kind": "User", "name": "jane"}, {"kind": "Group", "name": "devs"},
                   {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"},
                   {"kind": "User", "name": "joe"}]},
     ["NAME", "ROLE", "AGE"], ["USERS", "GROUPS", "SERVICEACCOUNTS"],
     ["read-pods", "Role/reader", "5m", "jane, joe", "devs", "tools/ci"]),
    ("clusterrolebinding", res("rbac.authorization.k8s.io", "clusterrolebindings"),
     {"metadata": {"name": "system:kube-proxy", "creationTimestamp": ago(hours=2)},
      "roleRef": {"kind": "ClusterRole", "name": "system:node-proxier"},
      "subjects": [{"kind": "User", "name": "system:kube-proxy"}]},
     None, None, ["system:kube-proxy", "ClusterRole/system:node-proxier", "120m", "system:kube-proxy", "", ""]),
    ("pdb", res("policy", "poddisruptionbudgets"),
     {"metadata": meta("web"), "spec": {"minAvailable": 2, "selector": SELECTOR}, "status": {"disruptionsAllowed": 1}},
     ["NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"], [], ["web", "2", "N/A", 1, "5m"]),
    ("pdb percent", res("policy", "poddisruptionbudgets"),
     {"metadata": meta("web"), "spec": {"maxUnavailable": "25%"}}, None, None, ["web", "N/A", "25%", 0, "5m"]),
]


@pytest.mark.parametrize("what, resource, obj, columns, wide_columns, cells", CASES, ids=[c[0] for c in CASES])
def test_kind_columns_and_cells(what, resource, obj, columns, wide_columns, cells):
    table = to_table(resource, [obj], now=NOW)
    if columns is not None:
        assert [h for h, c in zip(header(table), table["columnDefinitions"]) if c["priority"] == 0] == columns
        assert wide_header(table) == wide_columns
    assert table["rows"][0]["cells"] == cells
    assert len(table["rows"][0]["cells"]) == len(table["columnDefinitions"])


def test_kinds_without_a_printer_get_name_and_age():
    fake = registry.Resource(group="example.com", version="v1", kind="Widget", plural="widgets", namespaced=True,
                             storage="widgets")
    table = to_table(fake, [{"metadata": meta("w", age=timedelta(seconds=7))}], now=NOW)
    assert header(table) == ["NAME", "AGE"]
    assert table["rows"][0]["cells"] == ["w", "7s"]


def test_every_served_resource_prints():
    for resource in registry.RESOURCES:
        table = to_table(resource, [{"metadata": meta("x")}], now=NOW)
        assert len(table["rows"][0]["cells"]) == len(table["columnDefinitions"]), resource.plural


# -- the Table envelope -----------------------------------------------------------------------

def test_table_envelope_and_column_definitions():
    table = to_table(res("", "namespaces"), [], now=NOW)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["rows"] == [] and table["metadata"] == {}
    name, status, age = table["columnDefinitions"]
    assert name == {"name": "Name", "type": "string", "format": "name", "priority": 0,
                    "description": name["description"]}
    assert age["name"] == "Age" and age["format"] == "" and age["type"] == "string" and age["priority"] == 0
    assert all(col["description"] for col in table["columnDefinitions"])


@pytest.mark.parametrize("include, expected", [
    ("Metadata", {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "ns"}}),
    ("Object", {"metadata": {"name": "ns"}, "status": {"phase": "Active"}}),
    ("None", None),
])
def test_include_object(include, expected):
    obj = {"metadata": {"name": "ns"}, "status": {"phase": "Active"}}
    row = to_table(res("", "namespaces"), [obj], include_object=include, now=NOW)["rows"][0]
    assert row.get("object") == expected


def test_bad_include_object_is_400():
    with pytest.raises(StatusError) as exc:
        to_table(res("", "namespaces"), [], include_object="All", now=NOW)
    assert exc.value.code == 400


def test_narrow_table_drops_wide_columns_and_their_cells():
    obj = pod({"phase": "Running", "containerStatuses": [running()]}, spec={"nodeName": "w", "containers": [{}]})
    table = to_table(res("", "pods"), [obj], wide=False, now=NOW)
    assert header(table) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert table["rows"][0]["cells"] == ["web", "1/1", "Running", "0", "5m"]


def test_rows_keep_the_order_of_the_objects():
    objs = [{"metadata": {"name": n, "creationTimestamp": ago(seconds=1)}, "data": {}} for n in "cab"]
    table = to_table(res("", "configmaps"), objs, now=NOW)
    assert [r["cells"][0] for r in table["rows"]] == ["c", "a", "b"]


def test_missing_or_future_creation_time():
    table = to_table(res("", "configmaps"), [{"metadata": {"name": "a"}},
                                             {"metadata": {"name": "b", "creationTimestamp": "2026-01-01T12:00:30Z"}}],
                     now=NOW)
    assert [r["cells"][2] for r in table["rows"]] == ["<unknown>", "<invalid>"]
