"""Server-side printing: objects as a meta.k8s.io/v1 Table.

``kubectl get`` asks for ``Accept: application/json;as=Table;g=meta.k8s.io;v=v1``
and prints whatever columns the server sends: the server decides what
``kubectl get pods`` shows. Columns with priority 0 are the default view,
priority 1 the extra ``-o wide`` ones. Each kind's columns and cells follow
upstream's printers (pkg/printers/internalversion), so a learner sees the
same STATUS, READY or PORT(S) as on any cluster; a kind without a printer of
its own gets NAME and AGE.

``to_table(resource, objects, include_object=..., wide=..., now=...)``:
``include_object`` is the request's ``?includeObject=``: "Metadata" puts a
PartialObjectMetadata in each row (kubectl needs it for names and
namespaces), "Object" the whole object, "None" nothing. ``now`` is injectable
so AGE cells are testable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from labkit.api import errors
from labkit.api.registry import Resource
from labkit.api.selectors import labels_to_string, selector_from_label_selector_dict

INCLUDE_OBJECT = ("None", "Metadata", "Object")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    priority: int = 0
    format: str = ""

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


NAME = Column("Name", "string", "Name must be unique within a namespace. Cannot be updated.", format="name")
AGE = Column("Age", "string", "CreationTimestamp is a timestamp representing the server time when this object "
                              "was created. It is represented in RFC3339 form and is in UTC.")
CONTAINERS = Column("Containers", "string", "Names of each container in the template.", 1)
IMAGES = Column("Images", "string", "Images referenced by each container in the template.", 1)


def _selector_column(description: str) -> Column:
    return Column("Selector", "string", description, 1)


# -- helpers shared by the printers ---------------------------------------------------------

def _get(obj: Any, *path: str, default: Any = None) -> Any:
    for name in path:
        if not isinstance(obj, dict):
            return default
        obj = obj.get(name)
    return default if obj is None else obj


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (Time or MicroTime) as an aware datetime; None if absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def human_duration(seconds: float) -> str:
    """Upstream's HumanDuration: ~2-3 significant figures (5s, 3m2s, 15m, 4h10m, 2d3h, 400d, 2y30d)."""
    secs = math.trunc(seconds)
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 60 * 2:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        s = secs % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def _since(timestamp: Any, now: datetime) -> str:
    """Time since ``timestamp`` as a human duration; "<unknown>" when there is none."""
    when = parse_time(timestamp)
    if when is None:
        return "<unknown>"
    return human_duration((now - when).total_seconds())


def _age(obj: dict, now: datetime) -> str:
    return _since(_get(obj, "metadata", "creationTimestamp"), now)


def _name(obj: dict) -> str:
    return _get(obj, "metadata", "name", default="")


def _containers(template_spec: dict | None) -> tuple[str, str]:
    """The CONTAINERS and IMAGES cells: names and images joined by commas."""
    containers = _get(template_spec or {}, "containers", default=[])
    return (",".join(str(c.get("name", "")) for c in containers if isinstance(c, dict)),
            ",".join(str(c.get("image", "")) for c in containers if isinstance(c, dict)))


def format_label_selector(selector: Any) -> str:
    """Upstream's FormatLabelSelector: the selector's string, "<none>" when it selects everything or nothing."""
    try:
        text = str(selector_from_label_selector_dict(selector))
    except errors.StatusError:
        return "<error>"
    return text or "<none>"


def _selector_string(selector: Any) -> str:
    """A selector as the deployment printer shows it: "" when empty, "<invalid>" when it cannot be read."""
    try:
        return str(selector_from_label_selector_dict(selector))
    except errors.StatusError:
        return "<invalid>"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _int_or_string(value: Any) -> str:
    return str(value)


def _bool_cell(value: Any) -> str:
    if value is None:
        return "<unset>"
    return "True" if value is True else "False"


# -- pods -----------------------------------------------------------------------------------

POD_COLUMNS = (
    NAME,
    Column("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    Column("Status", "string", "The aggregate status of the containers in this pod."),
    Column("Restarts", "string", "The number of times the containers in this pod have been restarted and when "
                                 "the last container in this pod has restarted."),
    AGE,
    Column("IP", "string", "IP address allocated to the pod. Routable at least within the cluster.", 1),
    Column("Node", "string", "NodeName is a request to schedule this pod onto a specific node.", 1),
    Column("Nominated Node", "string", "nominatedNodeName is set only when this pod preempts other pods on "
                                       "the node.", 1),
    Column("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod readiness.", 1),
)


def _condition_true(conditions: Any, kind: str) -> bool:
    return any(isinstance(c, dict) and c.get("type") == kind and c.get("status") == "True"
               for c in conditions or [])


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def pod_status(pod: dict) -> tuple[str, int, int, int, datetime | None]:
    """Upstream's derived pod STATUS, and READY (ready/total), RESTARTS and the last restart time."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    phase = status.get("phase") or "Pending"  # the apiserver sets Pending at creation
    reason = status.get("reason") or phase
    conditions = status.get("conditions") or []
    for cond in conditions:
        if isinstance(cond, dict) and cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    init_specs = {c.get("name"): c for c in spec.get("initContainers") or [] if isinstance(c, dict)}

    def restartable(name: Any) -> bool:  # a sidecar: an init container that keeps running
        return (init_specs.get(name) or {}).get("restartPolicy") == "Always"

    total = len(spec.get("containers") or []) + sum(1 for n in init_specs if restartable(n))
    ready = restarts = sidecar_restarts = 0
    last_restart = last_sidecar_restart = None

    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        state, last_state = cs.get("state") or {}, cs.get("lastState") or {}
        restarts += _int(cs.get("restartCount"))
        finished = parse_time(_get(last_state, "terminated", "finishedAt"))
        last_restart = _later(last_restart, finished)
        if restartable(cs.get("name")):
            sidecar_restarts += _int(cs.get("restartCount"))
            last_sidecar_restart = _later(last_sidecar_restart, finished)
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and _int(terminated.get("exitCode")) == 0:
            continue
        if restartable(cs.get("name")) and cs.get("started") is True:
            if cs.get("ready"):
                ready += 1
            continue
        if terminated is not None:
            if terminated.get("reason"):
                reason = "Init:" + terminated["reason"]
            elif _int(terminated.get("signal")):
                reason = f"Init:Signal:{_int(terminated.get('signal'))}"
            else:
                reason = f"Init:ExitCode:{_int(terminated.get('exitCode'))}"
        elif waiting is not None and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(conditions, "Initialized"):
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            state, last_state = cs.get("state") or {}, cs.get("lastState") or {}
            restarts += _int(cs.get("restartCount"))
            last_restart = _later(last_restart, parse_time(_get(last_state, "terminated", "finishedAt")))
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated is not None:
                signal = _int(terminated.get("signal"))
                reason = f"Signal:{signal}" if signal else f"ExitCode:{_int(terminated.get('exitCode'))}"
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(conditions, "Ready") else "NotReady"

    deleting = _get(pod, "metadata", "deletionTimestamp") is not None
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return reason, ready, total, restarts, last_restart


def _pod_row(pod: dict, now: datetime) -> list[Any]:
    reason, ready, total, restarts, last_restart = pod_status(pod)
    restarts_cell = str(restarts)
    if restarts and last_restart is not None:
        restarts_cell = f"{restarts} ({human_duration((now - last_restart).total_seconds())} ago)"
    status = pod.get("status") or {}
    ip = ""
    if status.get("podIPs"):
        ip = (status["podIPs"][0] or {}).get("ip", "")
    ip = ip or status.get("podIP") or "<none>"
    gates = _get(pod, "spec", "readinessGates", default=[])
    gates_cell = "<none>"
    if gates:
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or [] if isinstance(c, dict)}
        passed = sum(1 for g in gates if conditions.get(g.get("conditionType")) == "True")
        gates_cell = f"{passed}/{len(gates)}"
    return [_name(pod), f"{ready}/{total}", reason, restarts_cell, _age(pod, now),
            ip, _get(pod, "spec", "nodeName") or "<none>", status.get("nominatedNodeName") or "<none>", gates_cell]


def _pod_conditions(pod: dict) -> list[dict] | None:
    phase = _get(pod, "status", "phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
    return None


# -- nodes ----------------------------------------------------------------------------------

NODE_COLUMNS = (
    NAME,
    Column("Status", "string", "The status of the node"),
    Column("Roles", "string", "The roles of the node"),
    AGE,
    Column("Version", "string", "Kubelet Version reported by the node."),
    Column("Internal-IP", "string", "List of addresses reachable to the node.", 1),
    Column("External-IP", "string", "List of addresses reachable to the node.", 1),
    Column("OS-Image", "string", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 12 "
                                 "(bookworm)).", 1),
    Column("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r'.", 1),
    Column("Container-Runtime", "string", "ContainerRuntime Version reported by the node through runtime remote "
                                          "API (e.g. containerd://1.6.20).", 1),
)

NODE_ROLE_PREFIX = "node-role.kubernetes.io/"


def node_roles(node: dict) -> list[str]:
    """Roles from ``node-role.kubernetes.io/<role>`` labels and a ``kubernetes.io/role=<role>`` label."""
    roles = set()
    for key, value in (_get(node, "metadata", "labels") or {}).items():
        if key.startswith(NODE_ROLE_PREFIX) and key[len(NODE_ROLE_PREFIX):]:
            roles.add(key[len(NODE_ROLE_PREFIX):])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return sorted(roles)


def _node_address(node: dict, kind: str) -> str:
    for address in _get(node, "status", "addresses", default=[]):
        if isinstance(address, dict) and address.get("type") == kind:
            return address.get("address", "")
    return "<none>"


def _node_row(node: dict, now: datetime) -> list[Any]:
    status = []
    ready = [c for c in _get(node, "status", "conditions", default=[]) if isinstance(c, dict) and c.get("type") == "Ready"]
    if ready:
        status.append("Ready" if ready[-1].get("status") == "True" else "NotReady")
    else:
        status.append("Unknown")
    if _get(node, "spec", "unschedulable") is True:
        status.append("SchedulingDisabled")
    info = _get(node, "status", "nodeInfo", default={})
    return [_name(node), ",".join(status), ",".join(node_roles(node)) or "<none>", _age(node, now),
            info.get("kubeletVersion", ""),
            _node_address(node, "InternalIP"), _node_address(node, "ExternalIP"),
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


# -- workloads ------------------------------------------------------------------------------

DEPLOYMENT_COLUMNS = (
    NAME,
    Column("Ready", "string", "Number of the pod with ready state"),
    Column("Up-to-date", "string", "Total number of non-terminated pods targeted by this deployment that have "
                                   "the desired template spec."),
    Column("Available", "string", "Total number of available pods (ready for at least minReadySeconds) targeted "
                                  "by this deployment."),
    AGE, CONTAINERS, IMAGES,
    _selector_column("Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the "
                     "ones affected by this deployment."),
)


def _deployment_row(obj: dict, now: datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(_get(spec, "template", "spec"))
    return [_name(obj), f"{_int(status.get('readyReplicas'))}/{_int(spec.get('replicas'))}",
            _int(status.get("updatedReplicas")), _int(status.get("availableReplicas")), _age(obj, now),
            names, images, _selector_string(spec.get("selector"))]


REPLICASET_COLUMNS = (
    NAME,
    Column("Desired", "integer", "Replicas is the number of desired replicas."),
    Column("Current", "integer", "Replicas is the most recently observed number of replicas."),
    Column("Ready", "integer", "readyReplicas is the number of pods targeted by this ReplicaSet with a Ready "
                               "Condition."),
    AGE, CONTAINERS, IMAGES,
    _selector_column("Selector is a label query over pods that should match the replica count."),
)


def _replicaset_row(obj: dict, now: datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(_get(spec, "template", "spec"))
    return [_name(obj), _int(spec.get("replicas")), _int(status.get("replicas")), _int(status.get("readyReplicas")),
            _age(obj, now), names, images, format_label_selector(spec.get("selector"))]


DAEMONSET_COLUMNS = (
    NAME,
    Column("Desired", "integer", "The total number of nodes that should be running the daemon pod."),
    Column("Current", "integer", "The number of nodes that are running at least 1 daemon pod and are supposed "
                                 "to run the daemon pod."),
    Column("Ready", "integer", "numberReady is the number of nodes that should be running the daemon pod and "
                               "have one or more of the daemon pod running with a Ready Condition."),
    Column("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"),
    Column("Available", "integer", "The number of nodes that should be running the daemon pod and have one or "
                                   "more of the daemon pod running and available."),
    Column("Node Selector", "string", "NodeSelector is a selector which must be true for the pod to fit on a node."),
    AGE, CONTAINERS, IMAGES,
    _selector_column("A label query over pods that are managed by the daemon set."),
)


def _daemonset_row(obj: dict, now: datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(_get(spec, "template", "spec"))
    return [_name(obj), _int(status.get("desiredNumberScheduled")), _int(status.get("currentNumberScheduled")),
            _int(status.get("numberReady")), _int(status.get("updatedNumberScheduled")),
            _int(status.get("numberAvailable")), labels_to_string(_get(spec, "template", "spec", "nodeSelector")),
            _age(obj, now), names, images, format_label_selector(spec.get("selector"))]


STATEFULSET_COLUMNS = (
    NAME,
    Column("Ready", "string", "Number of the pod with ready state"),
    AGE, CONTAINERS, IMAGES,
)


def _statefulset_row(obj: dict, now: datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(_get(spec, "template", "spec"))
    return [_name(obj), f"{_int(status.get('readyReplicas'))}/{_int(spec.get('replicas'))}", _age(obj, now),
            names, images]


JOB_COLUMNS = (
    NAME,
    Column("Status", "string", "Status of the job."),
    Column("Completions", "string", "The number of pods which reached phase Succeeded."),
    Column("Duration", "string", "Time required to complete the job."),
    AGE, CONTAINERS, IMAGES,
    _selector_column("A label query over pods that should match the pod count."),
)


def job_status(job: dict) -> str:
    conditions = _get(job, "status", "conditions", default=[])
    if _condition_true(conditions, "Complete"):
        return "Complete"
    if _condition_true(conditions, "Failed"):
        return "Failed"
    if _get(job, "metadata", "deletionTimestamp") is not None:
        return "Terminating"
    if _condition_true(conditions, "Suspended"):
        return "Suspended"
    if _condition_true(conditions, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _job_row(obj: dict, now: datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    succeeded = _int(status.get("succeeded"))
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{_int(spec.get('completions'))}"
    elif _int(spec.get("parallelism")) > 1:
        completions = f"{succeeded}/1 of {_int(spec.get('parallelism'))}"
    else:
        completions = f"{succeeded}/1"
    started, finished = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    duration = ""
    if started is not None:
        duration = human_duration(((finished or now) - started).total_seconds())
    names, images = _containers(_get(spec, "template", "spec"))
    return [_name(obj), job_status(obj), completions, duration, _age(obj, now), names, images,
            format_label_selector(spec.get("selector"))]


CRONJOB_COLUMNS = (
    NAME,
    Column("Schedule", "string", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
    Column("Timezone", "string", "The time zone name for the given schedule."),
    Column("Suspend", "boolean", "This flag tells the controller to suspend subsequent executions."),
    Column("Active", "integer", "A list of pointers to currently running jobs."),
    Column("Last Schedule", "string", "Information when was the last time the job was successfully scheduled."),
    AGE, CONTAINERS, IMAGES,
    _selector_column("A label query over pods that should match the pod count."),
)


def _cronjob_row(obj: dict, now: datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    last = status.get("lastScheduleTime")
    job_spec = _get(spec, "jobTemplate", "spec", default={})
    names, images = _containers(_get(job_spec, "template", "spec"))
    return [_name(obj), spec.get("schedule", ""), spec.get("timeZone") or "<none>", _bool_cell(spec.get("suspend")),
            len(status.get("active") or []), _since(last, now) if last else "<none>", _age(obj, now),
            names, images, format_label_selector(job_spec.get("selector"))]


# -- services and endpoints -----------------------------------------------------------------

SERVICE_COLUMNS = (
    NAME,
    Column("Type", "string", "type determines how the Service is exposed: ClusterIP, NodePort, LoadBalancer or "
                             "ExternalName."),
    Column("Cluster-IP", "string", "clusterIP is the IP address of the service, usually assigned randomly."),
    Column("External-IP", "string", "externalIPs is a list of IP addresses for which nodes in the cluster will "
                                    "also accept traffic for this service."),
    Column("Port(s)", "string", "The list of ports that are exposed by this service."),
    AGE,
    _selector_column("Route service traffic to pods with label keys and values matching this selector."),
)


def service_ports(ports: Any) -> str:
    """``80/TCP``, ``80:30080/TCP`` with a node port, comma separated; "<none>" when there are none."""
    pieces = []
    for port in ports or []:
        protocol = port.get("protocol") or "TCP"
        if _int(port.get("nodePort")) > 0:
            pieces.append(f"{port.get('port')}:{port['nodePort']}/{protocol}")
        else:
            pieces.append(f"{port.get('port')}/{protocol}")
    return ",".join(pieces) or "<none>"


def _external_ip(svc: dict) -> str:
    spec = svc.get("spec") or {}
    kind = spec.get("type") or "ClusterIP"
    external = spec.get("externalIPs") or []
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        ingress = _get(svc, "status", "loadBalancer", "ingress", default=[])
        found = []
        for entry in ingress:
            value = entry.get("ip") or entry.get("hostname")
            if value and value not in found:
                found.append(value)
        return ",".join(found + external) or "<pending>"
    if kind == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"


def _service_row(svc: dict, now: datetime) -> list[Any]:
    spec = svc.get("spec") or {}
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [_name(svc), spec.get("type") or "ClusterIP", cluster_ips[0] if cluster_ips else "<none>",
            _external_ip(svc), service_ports(spec.get("ports")), _age(svc, now), labels_to_string(spec.get("selector"))]


ENDPOINTS_COLUMNS = (
    NAME,
    Column("Endpoints", "string", "The set of all endpoints is the union of all subsets."),
    AGE,
)


def format_endpoints(endpoints: dict) -> str:
    """Up to three ``ip:port`` endpoints, then "+ N more..."; "<none>" when there are none."""
    subsets = endpoints.get("subsets") or []
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count, limit = 0, 3
    for subset in subsets:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        ports = subset.get("ports") or []
        if not ports:  # a headless service without ports
            count += len(addresses)
            shown.extend(addresses[:max(0, limit - len(shown))])
            continue
        for port in ports:
            count += len(addresses)
            for ip in addresses:
                if len(shown) < limit:
                    host = f"[{ip}]" if ":" in ip else ip
                    shown.append(f"{host}:{port.get('port')}")
    text = ",".join(shown)
    return f"{text} + {count - limit} more..." if count > limit else text


def _endpoints_row(obj: dict, now: datetime) -> list[Any]:
    return [_name(obj), format_endpoints(obj), _age(obj, now)]


ENDPOINTSLICE_COLUMNS = (
    NAME,
    Column("AddressType", "string", "addressType specifies the type of address carried by this EndpointSlice."),
    Column("Ports", "string", "ports specifies the list of network ports exposed by each endpoint in this slice."),
    Column("Endpoints", "string", "endpoints is a list of unique endpoints in this slice."),
    AGE,
)


def _with_more(items: list[str], count: int, limit: int = 3) -> str:
    text = ",".join(items[:limit])
    if count > limit:
        return f"{text} + {count - limit} more..."
    return text or "<unset>"


def _endpointslice_row(obj: dict, now: datetime) -> list[Any]:
    ports = []
    for port in obj.get("ports") or []:
        if port.get("port") is not None:
            ports.append(str(port["port"]))
        elif port.get("name") is not None:
            ports.append(port["name"])
        else:
            ports.append("*")
    addresses = [a for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
    return [_name(obj), obj.get("addressType", ""), _with_more(ports, len(ports)),
            _with_more(addresses, len(addresses)), _age(obj, now)]


# -- events ---------------------------------------------------------------------------------

EVENT_COLUMNS = (
    Column("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded."),
    Column("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
    Column("Reason", "string", "This should be a short, machine understandable string that gives the reason for "
                               "the transition into the object's current status."),
    Column("Object", "string", "The object that this event is about."),
    Column("Subobject", "string", "If referring to a piece of an object instead of an entire object, this "
                                  "string should contain a valid JSON/Go field access statement.", 1),
    Column("Source", "string", "The component reporting this event.", 1),
    Column("Message", "string", "A human-readable description of the status of this operation."),
    Column("First Seen", "string", "The time at which the event was first recorded.", 1),
    Column("Count", "string", "The number of times this event has occurred.", 1),
    Column("Name", "string", NAME.description, 1, "name"),
)


def _event_row(event: dict, now: datetime) -> list[Any]:
    # core/v1 and events.k8s.io/v1 events are the same objects under two shapes
    involved = event.get("involvedObject") or event.get("regarding") or {}
    source = event.get("source") or event.get("deprecatedSource") or {}
    first = event.get("firstTimestamp") or event.get("deprecatedFirstTimestamp")
    last = event.get("lastTimestamp") or event.get("deprecatedLastTimestamp")
    first_seen = _since(first, now) if first else _since(event.get("eventTime"), now)
    last_seen = _since(last, now) if last else first_seen
    count = _int(event.get("count") if "count" in event else event.get("deprecatedCount"))
    series = event.get("series")
    if isinstance(series, dict):
        last_seen = _since(series.get("lastObservedTime"), now)
        count = _int(series.get("count"))
    elif count == 0:
        count = 1  # singleton events do not set a count
    kind = str(involved.get("kind", "")).lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    component = source.get("component") or event.get("reportingComponent") or event.get("reportingController") or ""
    instance = source.get("host") or event.get("reportingInstance") or ""
    message = event.get("message") if "message" in event else event.get("note", "")
    return [last_seen, event.get("type", ""), event.get("reason", ""), target, involved.get("fieldPath", ""),
            f"{component}, {instance}" if instance else component, str(message or "").strip(), first_seen, count,
            _name(event)]


# -- small kinds ----------------------------------------------------------------------------

NAMESPACE_COLUMNS = (NAME, Column("Status", "string", "The status of the namespace"), AGE)
CONFIGMAP_COLUMNS = (NAME, Column("Data", "string", "Data contains the configuration data."), AGE)
SECRET_COLUMNS = (
    NAME,
    Column("Type", "string", "Used to facilitate programmatic handling of secret data."),
    Column("Data", "string", "Data contains the secret data."),
    AGE,
)
SERVICEACCOUNT_COLUMNS = (
    NAME, Column("Secrets", "string", "Secrets is a list of the secrets in the same namespace that pods running "
                                      "using this ServiceAccount are allowed to use."), AGE)
LEASE_COLUMNS = (NAME, Column("Holder", "string", "holderIdentity contains the identity of the holder of a "
                                                  "current lease."), AGE)
ROLE_COLUMNS = (NAME, Column("Created At", "date", AGE.description))
BINDING_COLUMNS = (
    NAME,
    Column("Role", "string", "RoleRef can reference a Role in the current namespace or a ClusterRole in the "
                             "global namespace."),
    AGE,
    Column("Users", "string", "Users in the roleBinding", 1),
    Column("Groups", "string", "Groups in the roleBinding", 1),
    Column("ServiceAccounts", "string", "ServiceAccounts in the roleBinding", 1),
)
PDB_COLUMNS = (
    NAME,
    Column("Min Available", "string", "The minimum number of pods that must be available."),
    Column("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
    Column("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
    AGE,
)
DEFAULT_COLUMNS = (NAME, AGE)


def _namespace_row(obj: dict, now: datetime) -> list[Any]:
    return [_name(obj), _get(obj, "status", "phase", default=""), _age(obj, now)]


def _configmap_row(obj: dict, now: datetime) -> list[Any]:
    return [_name(obj), len(obj.get("data") or {}) + len(obj.get("binaryData") or {}), _age(obj, now)]


def _secret_row(obj: dict, now: datetime) -> list[Any]:
    return [_name(obj), obj.get("type", ""), len(obj.get("data") or {}), _age(obj, now)]


def _serviceaccount_row(obj: dict, now: datetime) -> list[Any]:
    return [_name(obj), len(obj.get("secrets") or []), _age(obj, now)]


def _lease_row(obj: dict, now: datetime) -> list[Any]:
    return [_name(obj), _get(obj, "spec", "holderIdentity", default=""), _age(obj, now)]


def _role_row(obj: dict, now: datetime) -> list[Any]:
    created = parse_time(_get(obj, "metadata", "creationTimestamp"))
    return [_name(obj), created.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if created else ""]


def _binding_row(obj: dict, now: datetime) -> list[Any]:
    ref = obj.get("roleRef") or {}
    users, groups, accounts = [], [], []
    for subject in obj.get("subjects") or []:
        kind = subject.get("kind")
        if kind == "User":
            users.append(subject.get("name", ""))
        elif kind == "Group":
            groups.append(subject.get("name", ""))
        elif kind == "ServiceAccount":
            accounts.append(f"{subject.get('namespace', '')}/{subject.get('name', '')}")
    return [_name(obj), f"{ref.get('kind', '')}/{ref.get('name', '')}", _age(obj, now),
            ", ".join(users), ", ".join(groups), ", ".join(accounts)]


def _pdb_row(obj: dict, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    min_available = spec.get("minAvailable")
    max_unavailable = spec.get("maxUnavailable")
    return [_name(obj), "N/A" if min_available is None else _int_or_string(min_available),
            "N/A" if max_unavailable is None else _int_or_string(max_unavailable),
            _int(_get(obj, "status", "disruptionsAllowed")), _age(obj, now)]


QUOTA_COLUMNS = (
    NAME, AGE,
    Column("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume."),
    Column("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use "
                              "independent of contention on the node."),
)
LIMITRANGE_COLUMNS = (
    NAME,
    Column("Created At", "date", "CreationTimestamp is a timestamp representing the server time when this object "
                                 "was created. It is represented in RFC3339 form and is in UTC."),
)


def _quota_row(obj: dict, now: datetime) -> list[Any]:
    """``pods: 1/10, requests.cpu: 500m/2`` in REQUEST, the ``limits.*`` resources in LIMIT (sorted by name)."""
    hard = _get(obj, "status", "hard", default=None) or {}
    used = _get(obj, "status", "used", default=None) or {}
    request, limit = [], []
    for name in sorted(hard):
        column = limit if name.split(".")[0] == "limits" and "." in name else request
        column.append(f"{name}: {used.get(name, '0')}/{hard[name]}")
    return [_name(obj), _age(obj, now), ", ".join(request), ", ".join(limit)]


def _default_row(obj: dict, now: datetime) -> list[Any]:
    return [_name(obj), _age(obj, now)]


@dataclass(frozen=True)
class Printer:
    columns: tuple[Column, ...]
    row: Callable[[dict, datetime], list[Any]]
    conditions: Callable[[dict], list[dict] | None] | None = None


# (group, plural) -> how its objects are printed
PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "pods"): Printer(POD_COLUMNS, _pod_row, _pod_conditions),
    ("", "nodes"): Printer(NODE_COLUMNS, _node_row),
    ("", "namespaces"): Printer(NAMESPACE_COLUMNS, _namespace_row),
    ("", "resourcequotas"): Printer(QUOTA_COLUMNS, _quota_row),
    ("", "limitranges"): Printer(LIMITRANGE_COLUMNS, _role_row),
    ("", "services"): Printer(SERVICE_COLUMNS, _service_row),
    ("", "endpoints"): Printer(ENDPOINTS_COLUMNS, _endpoints_row),
    ("", "configmaps"): Printer(CONFIGMAP_COLUMNS, _configmap_row),
    ("", "secrets"): Printer(SECRET_COLUMNS, _secret_row),
    ("", "serviceaccounts"): Printer(SERVICEACCOUNT_COLUMNS, _serviceaccount_row),
    ("", "events"): Printer(EVENT_COLUMNS, _event_row),
    ("events.k8s.io", "events"): Printer(EVENT_COLUMNS, _event_row),
    ("coordination.k8s.io", "leases"): Printer(LEASE_COLUMNS, _lease_row),
    ("apps", "deployments"): Printer(DEPLOYMENT_COLUMNS, _deployment_row),
    ("apps", "replicasets"): Printer(REPLICASET_COLUMNS, _replicaset_row),
    ("apps", "daemonsets"): Printer(DAEMONSET_COLUMNS, _daemonset_row),
    ("apps", "statefulsets"): Printer(STATEFULSET_COLUMNS, _statefulset_row),
    ("batch", "jobs"): Printer(JOB_COLUMNS, _job_row),
    ("batch", "cronjobs"): Printer(CRONJOB_COLUMNS, _cronjob_row),
    ("rbac.authorization.k8s.io", "roles"): Printer(ROLE_COLUMNS, _role_row),
    ("rbac.authorization.k8s.io", "clusterroles"): Printer(ROLE_COLUMNS, _role_row),
    ("rbac.authorization.k8s.io", "rolebindings"): Printer(BINDING_COLUMNS, _binding_row),
    ("rbac.authorization.k8s.io", "clusterrolebindings"): Printer(BINDING_COLUMNS, _binding_row),
    ("discovery.k8s.io", "endpointslices"): Printer(ENDPOINTSLICE_COLUMNS, _endpointslice_row),
    ("policy", "poddisruptionbudgets"): Printer(PDB_COLUMNS, _pdb_row),
}
DEFAULT_PRINTER = Printer(DEFAULT_COLUMNS, _default_row)


def printer_for(resource: Resource) -> Printer:
    return PRINTERS.get((resource.group, resource.plural), DEFAULT_PRINTER)


def to_table(resource: Resource, objects: list[dict], *, include_object: str = "Metadata", wide: bool = True,
             now: datetime | None = None) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table of ``objects`` (the caller fills ``metadata``: resourceVersion, continue)."""
    if include_object not in INCLUDE_OBJECT:
        raise errors.bad_request(
            f'includeObject must be one of "None", "Metadata" or "Object", got "{include_object}"')
    now = now or datetime.now(timezone.utc)
    printer = printer_for(resource)
    keep = [i for i, col in enumerate(printer.columns) if wide or col.priority == 0]
    rows = []
    for obj in objects:
        cells = printer.row(obj, now)
        row: dict[str, Any] = {"cells": [cells[i] for i in keep]}
        conditions = printer.conditions(obj) if printer.conditions else None
        if conditions:
            row["conditions"] = conditions
        if include_object == "Metadata":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj.get("metadata") or {}}
        elif include_object == "Object":
            row["object"] = obj
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": [printer.columns[i].definition() for i in keep],
        "rows": rows,
    }
