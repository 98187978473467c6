"""core/v1: pods and what they are made of, nodes, services, endpoints, config, accounts, events."""

from __future__ import annotations

from .meta import (CONDITION, LABEL_SELECTOR, LIST_META, OBJECT_META, DELETE_OPTIONS, object_meta_field,
                   type_meta_fields)
from .types import (BOOL, BYTES, INT32, INT64, INT_OR_STRING, MICRO_TIME, QUANTITY, STRING, TIME, ListOf, MapOf,
                    atomic_list, f, merge_list, string_map, struct)

V1 = "io.k8s.api.core.v1."


def quantities(description: str):
    return f(MapOf(QUANTITY), description)


# -- references ------------------------------------------------------------------

OBJECT_REFERENCE = struct(V1 + "ObjectReference", "A reference to any object: kind, namespace, name, uid.", {
    "apiVersion": f(STRING, "API version of the referent."),
    "kind": f(STRING, "Kind of the referent."),
    "namespace": f(STRING, "Namespace of the referent."),
    "name": f(STRING, "Name of the referent."),
    "uid": f(STRING, "UID of the referent."),
    "resourceVersion": f(STRING, "Version of the referent this reference was made from."),
    "fieldPath": f(STRING, "A part of the referent, e.g. spec.containers{web}."),
}, map_type="atomic")

LOCAL_OBJECT_REFERENCE = struct(V1 + "LocalObjectReference", "A reference to an object in the same namespace, by name.", {
    "name": f(STRING, "Name of the referent."),
}, map_type="atomic")

# -- containers ------------------------------------------------------------------

CONTAINER_PORT = struct(V1 + "ContainerPort", "A network port a container listens on.", {
    "name": f(STRING, "An IANA_SVC_NAME, unique in the pod; services can target it by name."),
    "hostPort": f(INT32, "Port exposed on the node's address (rarely needed)."),
    "containerPort": f(INT32, "Port number on the pod's IP address (1-65535).", required=True),
    "protocol": f(STRING, "UDP, TCP or SCTP. Defaults to TCP.", enum=["SCTP", "TCP", "UDP"], default="TCP"),
    "hostIP": f(STRING, "Node address to bind the host port to."),
})

OBJECT_FIELD_SELECTOR = struct(V1 + "ObjectFieldSelector", "Selects a field of the pod, e.g. metadata.name or status.podIP.", {
    "apiVersion": f(STRING, "Version of the schema fieldPath is written in; defaults to v1."),
    "fieldPath": f(STRING, "Path of the field to select.", required=True),
}, map_type="atomic")

RESOURCE_FIELD_SELECTOR = struct(V1 + "ResourceFieldSelector", "Selects a container resource (limits.cpu, requests.memory ...).", {
    "containerName": f(STRING, "Container name; required for volumes."),
    "resource": f(STRING, "Resource to select.", required=True),
    "divisor": f(QUANTITY, "Output unit; defaults to 1."),
}, map_type="atomic")

CONFIG_MAP_KEY_SELECTOR = struct(V1 + "ConfigMapKeySelector", "One key of a ConfigMap.", {
    "name": f(STRING, "Name of the ConfigMap."),
    "key": f(STRING, "The key to select.", required=True),
    "optional": f(BOOL, "Whether the ConfigMap or key may be missing."),
}, map_type="atomic")

SECRET_KEY_SELECTOR = struct(V1 + "SecretKeySelector", "One key of a Secret.", {
    "name": f(STRING, "Name of the Secret."),
    "key": f(STRING, "The key to select.", required=True),
    "optional": f(BOOL, "Whether the Secret or key may be missing."),
}, map_type="atomic")

ENV_VAR_SOURCE = struct(V1 + "EnvVarSource", "Where an environment variable's value comes from (exactly one).", {
    "fieldRef": f(OBJECT_FIELD_SELECTOR, "A field of the pod."),
    "resourceFieldRef": f(RESOURCE_FIELD_SELECTOR, "A resource limit or request of a container."),
    "configMapKeyRef": f(CONFIG_MAP_KEY_SELECTOR, "A key of a ConfigMap."),
    "secretKeyRef": f(SECRET_KEY_SELECTOR, "A key of a Secret."),
})

ENV_VAR = struct(V1 + "EnvVar", "An environment variable of a container.", {
    "name": f(STRING, "Name of the variable.", required=True),
    "value": f(STRING, "Value; $(VAR) references to earlier variables are expanded."),
    "valueFrom": f(ENV_VAR_SOURCE, "Source of the value when value is empty."),
})

CONFIG_MAP_ENV_SOURCE = struct(V1 + "ConfigMapEnvSource", "A ConfigMap whose keys become environment variables.", {
    "name": f(STRING, "Name of the ConfigMap."),
    "optional": f(BOOL, "Whether the ConfigMap may be missing."),
})

SECRET_ENV_SOURCE = struct(V1 + "SecretEnvSource", "A Secret whose keys become environment variables.", {
    "name": f(STRING, "Name of the Secret."),
    "optional": f(BOOL, "Whether the Secret may be missing."),
})

ENV_FROM_SOURCE = struct(V1 + "EnvFromSource", "A set of environment variables from a ConfigMap or a Secret.", {
    "prefix": f(STRING, "Prefix added to every key."),
    "configMapRef": f(CONFIG_MAP_ENV_SOURCE, "The ConfigMap."),
    "secretRef": f(SECRET_ENV_SOURCE, "The Secret."),
})

RESOURCE_CLAIM = struct(V1 + "ResourceClaim", "A reference to one of the pod's resource claims.", {
    "name": f(STRING, "Name of the claim in pod.spec.resourceClaims.", required=True),
    "request": f(STRING, "Request within the claim."),
})

RESOURCE_REQUIREMENTS = struct(V1 + "ResourceRequirements", "Compute resources: what the container is guaranteed (requests) and may use at most (limits).", {
    "limits": quantities("Maximum amount of each resource (cpu, memory, ephemeral-storage ...)."),
    "requests": quantities("Minimum amount of each resource; defaults to limits when only those are set."),
    "claims": merge_list(RESOURCE_CLAIM, "name", "Dynamic resource claims used by the container.", list_type="map",
                         patch_strategy=None),
})

CONTAINER_RESIZE_POLICY = struct(V1 + "ContainerResizePolicy", "How a resource of the container is resized.", {
    "resourceName": f(STRING, "cpu or memory.", required=True),
    "restartPolicy": f(STRING, "NotRequired or RestartContainer.", required=True),
})

VOLUME_MOUNT = struct(V1 + "VolumeMount", "Where a volume is mounted in a container.", {
    "name": f(STRING, "Name of a volume of the pod.", required=True),
    "readOnly": f(BOOL, "Mount read-only."),
    "recursiveReadOnly": f(STRING, "Disabled, IfPossible or Enabled."),
    "mountPath": f(STRING, "Path in the container; must not contain ':'.", required=True),
    "subPath": f(STRING, "Path inside the volume to mount instead of its root."),
    "mountPropagation": f(STRING, "None, HostToContainer or Bidirectional."),
    "subPathExpr": f(STRING, "Like subPath, with $(VAR) expansion."),
})

VOLUME_DEVICE = struct(V1 + "VolumeDevice", "A raw block device of a volume, mapped into a container.", {
    "name": f(STRING, "Name of a PVC volume of the pod.", required=True),
    "devicePath": f(STRING, "Path of the device in the container.", required=True),
})

EXEC_ACTION = struct(V1 + "ExecAction", "A command run inside the container; exit status 0 is success.", {
    "command": atomic_list(STRING, "The command line, not run in a shell."),
})

HTTP_HEADER = struct(V1 + "HTTPHeader", "A custom HTTP header.", {
    "name": f(STRING, "Header name.", required=True),
    "value": f(STRING, "Header value.", required=True),
})

HTTP_GET_ACTION = struct(V1 + "HTTPGetAction", "An HTTP GET; a 2xx or 3xx answer is success.", {
    "path": f(STRING, "Path to request."),
    "port": f(INT_OR_STRING, "Port number or name.", required=True),
    "host": f(STRING, "Host to connect to; defaults to the pod IP."),
    "scheme": f(STRING, "HTTP or HTTPS. Defaults to HTTP.", enum=["HTTP", "HTTPS"]),
    "httpHeaders": atomic_list(HTTP_HEADER, "Extra request headers."),
})

TCP_SOCKET_ACTION = struct(V1 + "TCPSocketAction", "A TCP connection attempt; connecting is success.", {
    "port": f(INT_OR_STRING, "Port number or name.", required=True),
    "host": f(STRING, "Host to connect to; defaults to the pod IP."),
})

GRPC_ACTION = struct(V1 + "GRPCAction", "A gRPC health check.", {
    "port": f(INT32, "Port number.", required=True),
    "service": f(STRING, "Service name sent in the health check request."),
})

SLEEP_ACTION = struct(V1 + "SleepAction", "Sleep for a while.", {
    "seconds": f(INT64, "Seconds to sleep.", required=True),
})

PROBE = struct(V1 + "Probe", "A periodic check of a container (liveness, readiness or startup).", {
    "exec": f(EXEC_ACTION, "Run a command."),
    "httpGet": f(HTTP_GET_ACTION, "Send an HTTP GET."),
    "tcpSocket": f(TCP_SOCKET_ACTION, "Open a TCP connection."),
    "grpc": f(GRPC_ACTION, "Call the gRPC health service."),
    "initialDelaySeconds": f(INT32, "Seconds after start before the first probe."),
    "timeoutSeconds": f(INT32, "Seconds before a probe times out. Defaults to 1.", default=1),
    "periodSeconds": f(INT32, "Seconds between probes. Defaults to 10.", default=10),
    "successThreshold": f(INT32, "Consecutive successes to be considered successful. Defaults to 1.", default=1),
    "failureThreshold": f(INT32, "Consecutive failures to be considered failed. Defaults to 3.", default=3),
    "terminationGracePeriodSeconds": f(INT64, "Grace period when the probe kills the container."),
})

LIFECYCLE_HANDLER = struct(V1 + "LifecycleHandler", "An action run at a lifecycle hook (exactly one).", {
    "exec": f(EXEC_ACTION, "Run a command."),
    "httpGet": f(HTTP_GET_ACTION, "Send an HTTP GET."),
    "tcpSocket": f(TCP_SOCKET_ACTION, "Deprecated: open a TCP connection."),
    "sleep": f(SLEEP_ACTION, "Sleep."),
})

LIFECYCLE = struct(V1 + "Lifecycle", "Actions run right after a container starts and right before it stops.", {
    "postStart": f(LIFECYCLE_HANDLER, "Run right after the container is created."),
    "preStop": f(LIFECYCLE_HANDLER, "Run before the container is terminated."),
    "stopSignal": f(STRING, "Signal sent to stop the container."),
})

CAPABILITIES = struct(V1 + "Capabilities", "Linux capabilities added to and dropped from the container.", {
    "add": atomic_list(STRING, "Capabilities to add, e.g. NET_ADMIN."),
    "drop": atomic_list(STRING, "Capabilities to drop, e.g. ALL."),
})

SE_LINUX_OPTIONS = struct(V1 + "SELinuxOptions", "SELinux labels.", {
    "user": f(STRING, "SELinux user."), "role": f(STRING, "SELinux role."),
    "type": f(STRING, "SELinux type."), "level": f(STRING, "SELinux level."),
})

SECCOMP_PROFILE = struct(V1 + "SeccompProfile", "The seccomp profile to apply.", {
    "type": f(STRING, "Localhost, RuntimeDefault or Unconfined.", required=True,
              enum=["Localhost", "RuntimeDefault", "Unconfined"]),
    "localhostProfile": f(STRING, "Profile file on the node, for Localhost."),
})

APP_ARMOR_PROFILE = struct(V1 + "AppArmorProfile", "The AppArmor profile to apply.", {
    "type": f(STRING, "Localhost, RuntimeDefault or Unconfined.", required=True,
              enum=["Localhost", "RuntimeDefault", "Unconfined"]),
    "localhostProfile": f(STRING, "Profile loaded on the node, for Localhost."),
})

SECURITY_CONTEXT = struct(V1 + "SecurityContext", "Security options of one container; they override the pod's.", {
    "capabilities": f(CAPABILITIES, "Capabilities to add and drop."),
    "privileged": f(BOOL, "Run as privileged (like root on the host)."),
    "seLinuxOptions": f(SE_LINUX_OPTIONS, "SELinux context."),
    "runAsUser": f(INT64, "UID the entrypoint runs as."),
    "runAsGroup": f(INT64, "GID the entrypoint runs as."),
    "runAsNonRoot": f(BOOL, "Refuse to start if the image would run as UID 0."),
    "readOnlyRootFilesystem": f(BOOL, "Mount the root filesystem read-only."),
    "allowPrivilegeEscalation": f(BOOL, "Whether a process may gain more privileges than its parent (no_new_privs)."),
    "procMount": f(STRING, "Default or Unmasked."),
    "seccompProfile": f(SECCOMP_PROFILE, "Seccomp profile."),
    "appArmorProfile": f(APP_ARMOR_PROFILE, "AppArmor profile."),
})

CONTAINER_FIELDS = {
    "name": f(STRING, "Name of the container, a DNS label unique in the pod. Cannot be updated.", required=True),
    "image": f(STRING, "Container image name, e.g. busybox:1.36."),
    "command": atomic_list(STRING, "Entrypoint; replaces the image's ENTRYPOINT. Not run in a shell."),
    "args": atomic_list(STRING, "Arguments; replace the image's CMD."),
    "workingDir": f(STRING, "Working directory; defaults to the image's."),
    "ports": merge_list(CONTAINER_PORT, "containerPort", "Ports the container exposes (informational).",
                        map_keys=["containerPort", "protocol"]),
    "envFrom": atomic_list(ENV_FROM_SOURCE, "ConfigMaps and Secrets whose keys become environment variables."),
    "env": merge_list(ENV_VAR, "name", "Environment variables."),
    "resources": f(RESOURCE_REQUIREMENTS, "Compute resources requested and allowed."),
    "resizePolicy": atomic_list(CONTAINER_RESIZE_POLICY, "How resources are resized."),
    "restartPolicy": f(STRING, "For init containers: Always makes it a sidecar."),
    "volumeMounts": merge_list(VOLUME_MOUNT, "mountPath", "Volumes mounted into the container's filesystem."),
    "volumeDevices": merge_list(VOLUME_DEVICE, "devicePath", "Block devices used by the container."),
    "livenessProbe": f(PROBE, "The container is restarted when this probe fails."),
    "readinessProbe": f(PROBE, "The pod leaves service endpoints while this probe fails."),
    "startupProbe": f(PROBE, "Other probes wait until this one succeeds."),
    "lifecycle": f(LIFECYCLE, "Actions on start and stop."),
    "terminationMessagePath": f(STRING, "File the termination message is read from. Defaults to /dev/termination-log."),
    "terminationMessagePolicy": f(STRING, "File, or FallbackToLogsOnError. Defaults to File.",
                                  enum=["FallbackToLogsOnError", "File"]),
    "imagePullPolicy": f(STRING, "Always, Never or IfNotPresent. Defaults to Always for :latest, else IfNotPresent.",
                         enum=["Always", "IfNotPresent", "Never"]),
    "securityContext": f(SECURITY_CONTEXT, "Security options."),
    "stdin": f(BOOL, "Allocate a stdin buffer."),
    "stdinOnce": f(BOOL, "Close stdin after the first attach."),
    "tty": f(BOOL, "Allocate a TTY."),
}

CONTAINER = struct(V1 + "Container", "A single application container that runs in a pod.", CONTAINER_FIELDS)

EPHEMERAL_CONTAINER = struct(V1 + "EphemeralContainer", "A temporary container added to a running pod for debugging.", {
    **CONTAINER_FIELDS,
    "targetContainerName": f(STRING, "Container whose process namespace to share."),
})

# -- volumes ---------------------------------------------------------------------

KEY_TO_PATH = struct(V1 + "KeyToPath", "Maps a key to a file path inside the volume.", {
    "key": f(STRING, "The key.", required=True),
    "path": f(STRING, "Relative path of the file.", required=True),
    "mode": f(INT32, "File mode bits (0-0777)."),
})

HOST_PATH = struct(V1 + "HostPathVolumeSource", "A file or directory of the node.", {
    "path": f(STRING, "Path on the node.", required=True),
    "type": f(STRING, "What must exist there: \"\", DirectoryOrCreate, Directory, FileOrCreate, File, Socket, CharDevice, BlockDevice.",
              enum=["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"]),
})

EMPTY_DIR = struct(V1 + "EmptyDirVolumeSource", "An empty directory that lives as long as the pod.", {
    "medium": f(STRING, "\"\" for the node's disk, Memory for tmpfs."),
    "sizeLimit": f(QUANTITY, "Maximum size."),
})

SECRET_VOLUME = struct(V1 + "SecretVolumeSource", "A Secret's keys as files.", {
    "secretName": f(STRING, "Name of the Secret."),
    "items": atomic_list(KEY_TO_PATH, "Which keys to project where; all keys when empty."),
    "defaultMode": f(INT32, "Mode bits of the files. Defaults to 0644."),
    "optional": f(BOOL, "Whether the Secret may be missing."),
})

CONFIG_MAP_VOLUME = struct(V1 + "ConfigMapVolumeSource", "A ConfigMap's keys as files.", {
    "name": f(STRING, "Name of the ConfigMap."),
    "items": atomic_list(KEY_TO_PATH, "Which keys to project where; all keys when empty."),
    "defaultMode": f(INT32, "Mode bits of the files. Defaults to 0644."),
    "optional": f(BOOL, "Whether the ConfigMap may be missing."),
})

PVC_VOLUME = struct(V1 + "PersistentVolumeClaimVolumeSource", "A PersistentVolumeClaim in the pod's namespace.", {
    "claimName": f(STRING, "Name of the claim.", required=True),
    "readOnly": f(BOOL, "Mount read-only."),
})

DOWNWARD_API_FILE = struct(V1 + "DownwardAPIVolumeFile", "A file holding a field of the pod.", {
    "path": f(STRING, "Relative path of the file.", required=True),
    "fieldRef": f(OBJECT_FIELD_SELECTOR, "A field of the pod."),
    "resourceFieldRef": f(RESOURCE_FIELD_SELECTOR, "A resource of a container."),
    "mode": f(INT32, "File mode bits."),
})

DOWNWARD_API_VOLUME = struct(V1 + "DownwardAPIVolumeSource", "Fields of the pod as files.", {
    "items": atomic_list(DOWNWARD_API_FILE, "The files."),
    "defaultMode": f(INT32, "Mode bits of the files. Defaults to 0644."),
})

DOWNWARD_API_PROJECTION = struct(V1 + "DownwardAPIProjection", "Fields of the pod in a projected volume.", {
    "items": atomic_list(DOWNWARD_API_FILE, "The files."),
})

SECRET_PROJECTION = struct(V1 + "SecretProjection", "A Secret in a projected volume.", {
    "name": f(STRING, "Name of the Secret."),
    "items": atomic_list(KEY_TO_PATH, "Which keys to project where."),
    "optional": f(BOOL, "Whether the Secret may be missing."),
})

CONFIG_MAP_PROJECTION = struct(V1 + "ConfigMapProjection", "A ConfigMap in a projected volume.", {
    "name": f(STRING, "Name of the ConfigMap."),
    "items": atomic_list(KEY_TO_PATH, "Which keys to project where."),
    "optional": f(BOOL, "Whether the ConfigMap may be missing."),
})

SERVICE_ACCOUNT_TOKEN_PROJECTION = struct(V1 + "ServiceAccountTokenProjection", "A bound service account token as a file.", {
    "audience": f(STRING, "Intended audience of the token."),
    "expirationSeconds": f(INT64, "Requested lifetime. Defaults to 3600."),
    "path": f(STRING, "Relative path of the file.", required=True),
})

VOLUME_PROJECTION = struct(V1 + "VolumeProjection", "One source of a projected volume (exactly one field).", {
    "secret": f(SECRET_PROJECTION, "A Secret."),
    "configMap": f(CONFIG_MAP_PROJECTION, "A ConfigMap."),
    "downwardAPI": f(DOWNWARD_API_PROJECTION, "Fields of the pod."),
    "serviceAccountToken": f(SERVICE_ACCOUNT_TOKEN_PROJECTION, "A service account token."),
})

PROJECTED_VOLUME = struct(V1 + "ProjectedVolumeSource", "Several sources merged into one directory.", {
    "sources": atomic_list(VOLUME_PROJECTION, "The sources."),
    "defaultMode": f(INT32, "Mode bits of the files. Defaults to 0644."),
})

NFS_VOLUME = struct(V1 + "NFSVolumeSource", "An NFS export.", {
    "server": f(STRING, "Server hostname or address.", required=True),
    "path": f(STRING, "Exported path.", required=True),
    "readOnly": f(BOOL, "Mount read-only."),
})

VOLUME = struct(V1 + "Volume", "A named volume of the pod, of exactly one source type.", {
    "name": f(STRING, "Name of the volume, a DNS label unique in the pod.", required=True),
    "hostPath": f(HOST_PATH, "A path of the node."),
    "emptyDir": f(EMPTY_DIR, "A scratch directory that lives as long as the pod."),
    "secret": f(SECRET_VOLUME, "A Secret."),
    "configMap": f(CONFIG_MAP_VOLUME, "A ConfigMap."),
    "persistentVolumeClaim": f(PVC_VOLUME, "A PersistentVolumeClaim."),
    "projected": f(PROJECTED_VOLUME, "Several sources in one directory."),
    "downwardAPI": f(DOWNWARD_API_VOLUME, "Fields of the pod."),
    "nfs": f(NFS_VOLUME, "An NFS export."),
})

# -- scheduling ------------------------------------------------------------------

NODE_SELECTOR_REQUIREMENT = struct(V1 + "NodeSelectorRequirement", "A requirement on a node label or field.", {
    "key": f(STRING, "Label key.", required=True),
    "operator": f(STRING, "In, NotIn, Exists, DoesNotExist, Gt or Lt.", required=True,
                  enum=["DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn"]),
    "values": atomic_list(STRING, "Values (one integer for Gt and Lt)."),
})

NODE_SELECTOR_TERM = struct(V1 + "NodeSelectorTerm", "Requirements that must all hold.", {
    "matchExpressions": atomic_list(NODE_SELECTOR_REQUIREMENT, "On node labels."),
    "matchFields": atomic_list(NODE_SELECTOR_REQUIREMENT, "On node fields (metadata.name)."),
}, map_type="atomic")

NODE_SELECTOR = struct(V1 + "NodeSelector", "Terms of which at least one must hold.", {
    "nodeSelectorTerms": atomic_list(NODE_SELECTOR_TERM, "The terms (ORed).", required=True),
}, map_type="atomic")

PREFERRED_SCHEDULING_TERM = struct(V1 + "PreferredSchedulingTerm", "A weighted node preference.", {
    "weight": f(INT32, "Weight, 1-100.", required=True),
    "preference": f(NODE_SELECTOR_TERM, "The term.", required=True),
})

NODE_AFFINITY = struct(V1 + "NodeAffinity", "Rules about the nodes the pod may or prefers to run on.", {
    "requiredDuringSchedulingIgnoredDuringExecution": f(NODE_SELECTOR, "Must hold for the pod to be scheduled."),
    "preferredDuringSchedulingIgnoredDuringExecution": atomic_list(PREFERRED_SCHEDULING_TERM, "Preferences."),
})

POD_AFFINITY_TERM = struct(V1 + "PodAffinityTerm", "Pods matching labelSelector in these namespaces, in the same topology domain.", {
    "labelSelector": f(LABEL_SELECTOR, "Which pods."),
    "namespaces": atomic_list(STRING, "Namespaces to look in; the pod's own when empty."),
    "topologyKey": f(STRING, "Node label defining the domain, e.g. kubernetes.io/hostname.", required=True),
    "namespaceSelector": f(LABEL_SELECTOR, "Namespaces to look in, by label."),
    "matchLabelKeys": atomic_list(STRING, "Label keys of this pod added to labelSelector."),
    "mismatchLabelKeys": atomic_list(STRING, "Label keys of this pod added negated to labelSelector."),
})

WEIGHTED_POD_AFFINITY_TERM = struct(V1 + "WeightedPodAffinityTerm", "A weighted pod (anti-)affinity preference.", {
    "weight": f(INT32, "Weight, 1-100.", required=True),
    "podAffinityTerm": f(POD_AFFINITY_TERM, "The term.", required=True),
})

POD_AFFINITY = struct(V1 + "PodAffinity", "Run near pods matching the terms.", {
    "requiredDuringSchedulingIgnoredDuringExecution": atomic_list(POD_AFFINITY_TERM, "Must hold."),
    "preferredDuringSchedulingIgnoredDuringExecution": atomic_list(WEIGHTED_POD_AFFINITY_TERM, "Preferences."),
})

POD_ANTI_AFFINITY = struct(V1 + "PodAntiAffinity", "Run away from pods matching the terms.", {
    "requiredDuringSchedulingIgnoredDuringExecution": atomic_list(POD_AFFINITY_TERM, "Must hold."),
    "preferredDuringSchedulingIgnoredDuringExecution": atomic_list(WEIGHTED_POD_AFFINITY_TERM, "Preferences."),
})

AFFINITY = struct(V1 + "Affinity", "Scheduling constraints relative to nodes and other pods.", {
    "nodeAffinity": f(NODE_AFFINITY, "Node affinity."),
    "podAffinity": f(POD_AFFINITY, "Pod affinity."),
    "podAntiAffinity": f(POD_ANTI_AFFINITY, "Pod anti-affinity."),
})

TOLERATION = struct(V1 + "Toleration", "Lets the pod be scheduled on (or stay on) nodes with a matching taint.", {
    "key": f(STRING, "Taint key; empty with operator Exists matches every taint."),
    "operator": f(STRING, "Exists or Equal. Defaults to Equal.", enum=["Equal", "Exists"]),
    "value": f(STRING, "Taint value for Equal."),
    "effect": f(STRING, "NoSchedule, PreferNoSchedule or NoExecute; empty matches all.",
                enum=["NoExecute", "NoSchedule", "PreferNoSchedule"]),
    "tolerationSeconds": f(INT64, "For NoExecute: how long the pod stays after the taint appears."),
})

TOPOLOGY_SPREAD_CONSTRAINT = struct(V1 + "TopologySpreadConstraint", "How to spread matching pods across topology domains.", {
    "maxSkew": f(INT32, "Largest allowed difference in pod count between domains.", required=True),
    "topologyKey": f(STRING, "Node label defining the domains.", required=True),
    "whenUnsatisfiable": f(STRING, "DoNotSchedule or ScheduleAnyway.", required=True,
                           enum=["DoNotSchedule", "ScheduleAnyway"]),
    "labelSelector": f(LABEL_SELECTOR, "Which pods are counted."),
    "minDomains": f(INT32, "Minimum number of eligible domains."),
    "nodeAffinityPolicy": f(STRING, "Honor or Ignore."),
    "nodeTaintsPolicy": f(STRING, "Honor or Ignore."),
    "matchLabelKeys": atomic_list(STRING, "Label keys of this pod added to labelSelector."),
})

HOST_ALIAS = struct(V1 + "HostAlias", "An /etc/hosts entry of the pod.", {
    "ip": f(STRING, "IP address.", required=True),
    "hostnames": atomic_list(STRING, "Hostnames for the address."),
})

POD_DNS_CONFIG_OPTION = struct(V1 + "PodDNSConfigOption", "A resolver option.", {
    "name": f(STRING, "Option name."), "value": f(STRING, "Option value."),
})

POD_DNS_CONFIG = struct(V1 + "PodDNSConfig", "DNS settings merged into the pod's resolv.conf.", {
    "nameservers": atomic_list(STRING, "Name server addresses."),
    "searches": atomic_list(STRING, "Search domains."),
    "options": atomic_list(POD_DNS_CONFIG_OPTION, "Resolver options."),
})

POD_READINESS_GATE = struct(V1 + "PodReadinessGate", "An extra condition the pod needs to be ready.", {
    "conditionType": f(STRING, "A condition type in the pod's status.conditions.", required=True),
})

SYSCTL = struct(V1 + "Sysctl", "A namespaced kernel parameter.", {
    "name": f(STRING, "Parameter name.", required=True), "value": f(STRING, "Value.", required=True),
})

POD_SECURITY_CONTEXT = struct(V1 + "PodSecurityContext", "Security options of every container of the pod.", {
    "seLinuxOptions": f(SE_LINUX_OPTIONS, "SELinux context."),
    "runAsUser": f(INT64, "UID the containers run as."),
    "runAsGroup": f(INT64, "GID the containers run as."),
    "runAsNonRoot": f(BOOL, "Refuse to start containers that would run as UID 0."),
    "supplementalGroups": atomic_list(INT64, "Extra groups of the first process."),
    "supplementalGroupsPolicy": f(STRING, "Merge or Strict."),
    "fsGroup": f(INT64, "Group owning the volumes."),
    "fsGroupChangePolicy": f(STRING, "OnRootMismatch or Always."),
    "sysctls": atomic_list(SYSCTL, "Namespaced sysctls."),
    "seccompProfile": f(SECCOMP_PROFILE, "Seccomp profile."),
    "appArmorProfile": f(APP_ARMOR_PROFILE, "AppArmor profile."),
})

POD_OS = struct(V1 + "PodOS", "The operating system of the pod.", {
    "name": f(STRING, "linux or windows.", required=True),
})

POD_SCHEDULING_GATE = struct(V1 + "PodSchedulingGate", "A gate that holds the pod back from scheduling.", {
    "name": f(STRING, "Name of the gate.", required=True),
})

POD_RESOURCE_CLAIM = struct(V1 + "PodResourceClaim", "A resource claim the pod uses.", {
    "name": f(STRING, "Name of the claim, unique in the pod.", required=True),
    "resourceClaimName": f(STRING, "An existing ResourceClaim."),
    "resourceClaimTemplateName": f(STRING, "A ResourceClaimTemplate to create the claim from."),
})

POD_SPEC = struct(V1 + "PodSpec", "The desired state of a pod: its containers, volumes and scheduling.", {
    "volumes": merge_list(VOLUME, "name", "Volumes the containers can mount.", patch_strategy="merge,retainKeys"),
    "initContainers": merge_list(CONTAINER, "name", "Containers run one by one to completion before the others start."),
    "containers": merge_list(CONTAINER, "name", "The containers of the pod; at least one. Cannot be added or removed.",
                             required=True),
    "ephemeralContainers": merge_list(EPHEMERAL_CONTAINER, "name", "Debug containers added to the running pod."),
    "restartPolicy": f(STRING, "Always, OnFailure or Never. Defaults to Always.",
                       enum=["Always", "Never", "OnFailure"], default="Always"),
    "terminationGracePeriodSeconds": f(INT64, "Seconds between SIGTERM and SIGKILL on deletion. Defaults to 30.", default=30),
    "activeDeadlineSeconds": f(INT64, "Seconds the pod may be active before it is failed."),
    "dnsPolicy": f(STRING, "ClusterFirst, ClusterFirstWithHostNet, Default or None. Defaults to ClusterFirst.",
                   enum=["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"], default="ClusterFirst"),
    "nodeSelector": string_map("Labels a node must have for the pod to run there.", map_type="atomic"),
    "serviceAccountName": f(STRING, "The ServiceAccount the pod runs as."),
    "serviceAccount": f(STRING, "Deprecated alias of serviceAccountName."),
    "automountServiceAccountToken": f(BOOL, "Mount the service account token."),
    "nodeName": f(STRING, "The node the pod is bound to (set by the scheduler's binding)."),
    "hostNetwork": f(BOOL, "Use the node's network namespace."),
    "hostPID": f(BOOL, "Use the node's PID namespace."),
    "hostIPC": f(BOOL, "Use the node's IPC namespace."),
    "shareProcessNamespace": f(BOOL, "One PID namespace for all containers of the pod."),
    "securityContext": f(POD_SECURITY_CONTEXT, "Pod-level security options."),
    "imagePullSecrets": merge_list(LOCAL_OBJECT_REFERENCE, "name", "Secrets used to pull images."),
    "hostname": f(STRING, "Hostname of the pod; defaults to its name."),
    "subdomain": f(STRING, "Subdomain: the pod gets <hostname>.<subdomain>.<ns>.svc.<domain>."),
    "affinity": f(AFFINITY, "Scheduling constraints."),
    "schedulerName": f(STRING, "Scheduler that places the pod. Defaults to default-scheduler."),
    "tolerations": atomic_list(TOLERATION, "Taints the pod tolerates."),
    "hostAliases": merge_list(HOST_ALIAS, "ip", "Extra /etc/hosts entries."),
    "priorityClassName": f(STRING, "Name of a PriorityClass."),
    "priority": f(INT32, "Priority value (from the PriorityClass)."),
    "dnsConfig": f(POD_DNS_CONFIG, "DNS settings."),
    "readinessGates": atomic_list(POD_READINESS_GATE, "Extra conditions for readiness."),
    "runtimeClassName": f(STRING, "RuntimeClass to run the pod with."),
    "enableServiceLinks": f(BOOL, "Inject service environment variables. Defaults to true."),
    "preemptionPolicy": f(STRING, "Never or PreemptLowerPriority."),
    "overhead": quantities("Resources the pod's sandbox uses on top of its containers."),
    "topologySpreadConstraints": merge_list(TOPOLOGY_SPREAD_CONSTRAINT, "topologyKey", "How to spread pods.",
                                            map_keys=["topologyKey", "whenUnsatisfiable"]),
    "setHostnameAsFQDN": f(BOOL, "Use the FQDN as hostname."),
    "os": f(POD_OS, "Operating system of the pod."),
    "hostUsers": f(BOOL, "Use the host's user namespace. Defaults to true."),
    "schedulingGates": merge_list(POD_SCHEDULING_GATE, "name", "Gates holding back scheduling."),
    "resourceClaims": merge_list(POD_RESOURCE_CLAIM, "name", "Resource claims.", patch_strategy="merge,retainKeys"),
    "resources": f(RESOURCE_REQUIREMENTS, "Pod-level resources."),
})

POD_TEMPLATE_SPEC = struct(V1 + "PodTemplateSpec", "The pods a workload creates: their metadata and spec.", {
    "metadata": object_meta_field(),
    "spec": f(POD_SPEC, "The pods' spec."),
})

# -- pod status ------------------------------------------------------------------

POD_CONDITION = struct(V1 + "PodCondition", "One condition of a pod (PodScheduled, Initialized, ContainersReady, Ready ...).", {
    "type": f(STRING, "Type of the condition.", required=True),
    "observedGeneration": f(INT64, "The generation the condition was set for."),
    "status": f(STRING, "True, False or Unknown.", required=True),
    "lastProbeTime": f(TIME, "Last time the condition was probed."),
    "lastTransitionTime": f(TIME, "Last time status changed."),
    "reason": f(STRING, "CamelCase reason of the last transition."),
    "message": f(STRING, "Human-readable details."),
})

CONTAINER_STATE_WAITING = struct(V1 + "ContainerStateWaiting", "The container is not running yet.", {
    "reason": f(STRING, "Why, e.g. ContainerCreating or CrashLoopBackOff."), "message": f(STRING, "Details."),
})
CONTAINER_STATE_RUNNING = struct(V1 + "ContainerStateRunning", "The container is running.", {
    "startedAt": f(TIME, "When it started."),
})
CONTAINER_STATE_TERMINATED = struct(V1 + "ContainerStateTerminated", "The container has exited.", {
    "exitCode": f(INT32, "Exit status.", required=True),
    "signal": f(INT32, "Signal that ended it."),
    "reason": f(STRING, "Why, e.g. Completed, Error or OOMKilled."),
    "message": f(STRING, "Details."),
    "startedAt": f(TIME, "When it started."),
    "finishedAt": f(TIME, "When it exited."),
    "containerID": f(STRING, "Runtime id, <type>://<id>."),
})
CONTAINER_STATE = struct(V1 + "ContainerState", "The state of a container (exactly one field).", {
    "waiting": f(CONTAINER_STATE_WAITING, "Waiting."),
    "running": f(CONTAINER_STATE_RUNNING, "Running."),
    "terminated": f(CONTAINER_STATE_TERMINATED, "Terminated."),
})

VOLUME_MOUNT_STATUS = struct(V1 + "VolumeMountStatus", "The status of a volume mount.", {
    "name": f(STRING, "Volume name.", required=True), "mountPath": f(STRING, "Mount path.", required=True),
    "readOnly": f(BOOL, "Read-only."), "recursiveReadOnly": f(STRING, "Recursive read-only mode."),
})

CONTAINER_USER = struct(V1 + "ContainerUser", "The identity of the container's first process.", {
    "linux": f(struct(V1 + "LinuxContainerUser", "Linux identity.", {
        "uid": f(INT64, "UID.", required=True), "gid": f(INT64, "GID.", required=True),
        "supplementalGroups": atomic_list(INT64, "Extra groups."),
    }), "Linux identity."),
})

CONTAINER_STATUS = struct(V1 + "ContainerStatus", "The current state of one container of the pod.", {
    "name": f(STRING, "Container name.", required=True),
    "state": f(CONTAINER_STATE, "Current state."),
    "lastState": f(CONTAINER_STATE, "State of the previous run (its last termination)."),
    "ready": f(BOOL, "Whether the readiness probe passes.", required=True),
    "restartCount": f(INT32, "Number of restarts.", required=True),
    "image": f(STRING, "Image it runs.", required=True),
    "imageID": f(STRING, "Image id (digest).", required=True),
    "containerID": f(STRING, "Runtime id, <type>://<id>."),
    "started": f(BOOL, "Whether the startup probe passed."),
    "allocatedResources": quantities("Resources allocated to the container."),
    "resources": f(RESOURCE_REQUIREMENTS, "Resources actually configured."),
    "volumeMounts": merge_list(VOLUME_MOUNT_STATUS, "mountPath", "Mount status."),
    "user": f(CONTAINER_USER, "Identity of the first process."),
    "stopSignal": f(STRING, "Signal used to stop the container."),
})

HOST_IP = struct(V1 + "HostIP", "An address of the node.", {"ip": f(STRING, "The address.", required=True)})
POD_IP = struct(V1 + "PodIP", "An address of the pod.", {"ip": f(STRING, "The address.", required=True)})

POD_STATUS = struct(V1 + "PodStatus", "The observed state of a pod.", {
    "observedGeneration": f(INT64, "The generation the status was computed for."),
    "phase": f(STRING, "Pending, Running, Succeeded, Failed or Unknown.",
               enum=["Failed", "Pending", "Running", "Succeeded", "Unknown"]),
    "conditions": merge_list(POD_CONDITION, "type", "Current conditions."),
    "message": f(STRING, "Why the pod is in this state."),
    "reason": f(STRING, "CamelCase reason, e.g. Evicted."),
    "nominatedNodeName": f(STRING, "Node nominated by preemption."),
    "hostIP": f(STRING, "Primary address of the node."),
    "hostIPs": merge_list(HOST_IP, "ip", "Addresses of the node.", list_type="atomic", map_keys=[]),
    "podIP": f(STRING, "Primary address of the pod."),
    "podIPs": merge_list(POD_IP, "ip", "Addresses of the pod."),
    "startTime": f(TIME, "When the kubelet accepted the pod."),
    "initContainerStatuses": atomic_list(CONTAINER_STATUS, "Status of the init containers."),
    "containerStatuses": atomic_list(CONTAINER_STATUS, "Status of the containers."),
    "ephemeralContainerStatuses": atomic_list(CONTAINER_STATUS, "Status of the ephemeral containers."),
    "qosClass": f(STRING, "Guaranteed, Burstable or BestEffort.", enum=["BestEffort", "Burstable", "Guaranteed"]),
    "resize": f(STRING, "Status of a requested resize."),
})

# -- nodes -----------------------------------------------------------------------

TAINT = struct(V1 + "Taint", "Repels pods that do not tolerate it.", {
    "key": f(STRING, "Taint key.", required=True),
    "value": f(STRING, "Taint value."),
    "effect": f(STRING, "NoSchedule, PreferNoSchedule or NoExecute.", required=True,
                enum=["NoExecute", "NoSchedule", "PreferNoSchedule"]),
    "timeAdded": f(TIME, "When a NoExecute taint was added."),
})

NODE_SPEC = struct(V1 + "NodeSpec", "How a node is configured.", {
    "podCIDR": f(STRING, "Pod address range of the node."),
    "podCIDRs": merge_list(STRING, None, "Pod address ranges (one per IP family)."),
    "providerID": f(STRING, "<provider>://<id> of the machine."),
    "unschedulable": f(BOOL, "No new pods are scheduled here (kubectl cordon)."),
    "taints": atomic_list(TAINT, "Taints of the node."),
    "externalID": f(STRING, "Deprecated."),
})

NODE_CONDITION = struct(V1 + "NodeCondition", "One condition of a node (Ready, MemoryPressure, DiskPressure ...).", {
    "type": f(STRING, "Type of the condition.", required=True),
    "status": f(STRING, "True, False or Unknown.", required=True),
    "lastHeartbeatTime": f(TIME, "Last time it was reported."),
    "lastTransitionTime": f(TIME, "Last time status changed."),
    "reason": f(STRING, "CamelCase reason."),
    "message": f(STRING, "Details."),
})

NODE_ADDRESS = struct(V1 + "NodeAddress", "An address of the node.", {
    "type": f(STRING, "Hostname, InternalIP, ExternalIP, InternalDNS or ExternalDNS.", required=True),
    "address": f(STRING, "The address.", required=True),
})

NODE_SYSTEM_INFO = struct(V1 + "NodeSystemInfo", "Facts about the node's system.", {
    name: f(STRING, desc, required=True) for name, desc in [
        ("machineID", "Machine id."), ("systemUUID", "System UUID."), ("bootID", "Boot id."),
        ("kernelVersion", "Kernel version."), ("osImage", "OS image."),
        ("containerRuntimeVersion", "Runtime name and version."), ("kubeletVersion", "Kubelet version."),
        ("kubeProxyVersion", "Deprecated."), ("operatingSystem", "linux or windows."),
        ("architecture", "CPU architecture."),
    ]
})

CONTAINER_IMAGE = struct(V1 + "ContainerImage", "An image present on the node.", {
    "names": atomic_list(STRING, "Names (tags and digests)."),
    "sizeBytes": f(INT64, "Size."),
})

DAEMON_ENDPOINT = struct(V1 + "DaemonEndpoint", "A port of a node daemon.", {
    "Port": f(INT32, "Port number.", required=True),
})

NODE_DAEMON_ENDPOINTS = struct(V1 + "NodeDaemonEndpoints", "Ports of the node's daemons.", {
    "kubeletEndpoint": f(DAEMON_ENDPOINT, "The kubelet's port."),
})

ATTACHED_VOLUME = struct(V1 + "AttachedVolume", "A volume attached to the node.", {
    "name": f(STRING, "Volume name.", required=True), "devicePath": f(STRING, "Device path.", required=True),
})

NODE_STATUS = struct(V1 + "NodeStatus", "The observed state of a node.", {
    "capacity": quantities("Total resources of the node."),
    "allocatable": quantities("Resources available to pods."),
    "phase": f(STRING, "Deprecated."),
    "conditions": merge_list(NODE_CONDITION, "type", "Current conditions."),
    "addresses": merge_list(NODE_ADDRESS, "type", "Addresses of the node."),
    "daemonEndpoints": f(NODE_DAEMON_ENDPOINTS, "Ports of its daemons."),
    "nodeInfo": f(NODE_SYSTEM_INFO, "System facts."),
    "images": atomic_list(CONTAINER_IMAGE, "Images on the node."),
    "volumesInUse": atomic_list(STRING, "Volumes in use."),
    "volumesAttached": atomic_list(ATTACHED_VOLUME, "Volumes attached."),
})

# -- services and endpoints ------------------------------------------------------

SERVICE_PORT = struct(V1 + "ServicePort", "A port of a service and where it forwards to.", {
    "name": f(STRING, "Name, a DNS label; required when the service has several ports."),
    "protocol": f(STRING, "TCP, UDP or SCTP. Defaults to TCP.", enum=["SCTP", "TCP", "UDP"], default="TCP"),
    "appProtocol": f(STRING, "Application protocol, e.g. http."),
    "port": f(INT32, "Port the service listens on.", required=True),
    "targetPort": f(INT_OR_STRING, "Port (number or container port name) on the pods. Defaults to port."),
    "nodePort": f(INT32, "Port on every node, for NodePort and LoadBalancer services."),
})

SESSION_AFFINITY_CONFIG = struct(V1 + "SessionAffinityConfig", "Session affinity settings.", {
    "clientIP": f(struct(V1 + "ClientIPConfig", "ClientIP affinity settings.", {
        "timeoutSeconds": f(INT32, "Sticky time. Defaults to 10800."),
    }), "ClientIP affinity settings."),
})

SERVICE_SPEC = struct(V1 + "ServiceSpec", "The desired state of a service.", {
    "ports": merge_list(SERVICE_PORT, "port", "Ports of the service.", map_keys=["port", "protocol"]),
    "selector": string_map("Pods with these labels receive the traffic.", map_type="atomic"),
    "clusterIP": f(STRING, "Virtual IP; allocated when empty, None for a headless service. Cannot change once set."),
    "clusterIPs": atomic_list(STRING, "Virtual IPs, one per IP family; the first equals clusterIP."),
    "type": f(STRING, "ClusterIP, NodePort, LoadBalancer or ExternalName. Defaults to ClusterIP.",
              enum=["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"], default="ClusterIP"),
    "externalIPs": atomic_list(STRING, "Addresses outside the cluster that also reach the service."),
    "sessionAffinity": f(STRING, "ClientIP or None. Defaults to None.", enum=["ClientIP", "None"]),
    "loadBalancerIP": f(STRING, "Deprecated."),
    "loadBalancerSourceRanges": atomic_list(STRING, "Client ranges allowed through the load balancer."),
    "externalName": f(STRING, "DNS name an ExternalName service is an alias of."),
    "externalTrafficPolicy": f(STRING, "Cluster or Local.", enum=["Cluster", "Local"]),
    "healthCheckNodePort": f(INT32, "Health check port for Local traffic policy."),
    "publishNotReadyAddresses": f(BOOL, "Publish addresses of pods that are not ready."),
    "sessionAffinityConfig": f(SESSION_AFFINITY_CONFIG, "Session affinity settings."),
    "ipFamilies": atomic_list(STRING, "IPv4 and/or IPv6."),
    "ipFamilyPolicy": f(STRING, "SingleStack, PreferDualStack or RequireDualStack.",
                        enum=["PreferDualStack", "RequireDualStack", "SingleStack"]),
    "allocateLoadBalancerNodePorts": f(BOOL, "Allocate node ports for LoadBalancer services."),
    "loadBalancerClass": f(STRING, "Load balancer implementation."),
    "internalTrafficPolicy": f(STRING, "Cluster or Local.", enum=["Cluster", "Local"]),
    "trafficDistribution": f(STRING, "Preference for how traffic is distributed."),
})

PORT_STATUS = struct(V1 + "PortStatus", "The status of a load balancer port.", {
    "port": f(INT32, "Port.", required=True), "protocol": f(STRING, "Protocol.", required=True),
    "error": f(STRING, "Error, in CamelCase."),
})

LOAD_BALANCER_INGRESS = struct(V1 + "LoadBalancerIngress", "An ingress point of a load balancer.", {
    "ip": f(STRING, "IP address."), "hostname": f(STRING, "Hostname."), "ipMode": f(STRING, "VIP or Proxy."),
    "ports": atomic_list(PORT_STATUS, "Ports."),
})

LOAD_BALANCER_STATUS = struct(V1 + "LoadBalancerStatus", "The status of a load balancer.", {
    "ingress": atomic_list(LOAD_BALANCER_INGRESS, "Ingress points."),
})

SERVICE_STATUS = struct(V1 + "ServiceStatus", "The observed state of a service.", {
    "loadBalancer": f(LOAD_BALANCER_STATUS, "Load balancer status."),
    "conditions": merge_list(CONDITION, "type", "Current conditions."),
})

ENDPOINT_ADDRESS = struct(V1 + "EndpointAddress", "An address of a pod behind a service.", {
    "ip": f(STRING, "The address.", required=True),
    "hostname": f(STRING, "Hostname of the endpoint."),
    "nodeName": f(STRING, "Node hosting the endpoint."),
    "targetRef": f(OBJECT_REFERENCE, "The pod."),
}, map_type="atomic")

ENDPOINT_PORT = struct(V1 + "EndpointPort", "A port of the endpoints.", {
    "name": f(STRING, "Name (the service port's)."),
    "port": f(INT32, "Port number.", required=True),
    "protocol": f(STRING, "TCP, UDP or SCTP. Defaults to TCP.", enum=["SCTP", "TCP", "UDP"]),
    "appProtocol": f(STRING, "Application protocol."),
}, map_type="atomic")

ENDPOINT_SUBSET = struct(V1 + "EndpointSubset", "Addresses that share the same ports.", {
    "addresses": atomic_list(ENDPOINT_ADDRESS, "Ready addresses."),
    "notReadyAddresses": atomic_list(ENDPOINT_ADDRESS, "Addresses not ready yet."),
    "ports": atomic_list(ENDPOINT_PORT, "Ports."),
})

# -- namespaces ------------------------------------------------------------------

NAMESPACE_CONDITION = struct(V1 + "NamespaceCondition", "One condition of a namespace.", {
    "type": f(STRING, "Type of the condition.", required=True),
    "status": f(STRING, "True, False or Unknown.", required=True),
    "lastTransitionTime": f(TIME, "Last time status changed."),
    "reason": f(STRING, "CamelCase reason."),
    "message": f(STRING, "Details."),
})

NAMESPACE_SPEC = struct(V1 + "NamespaceSpec", "The desired state of a namespace.", {
    "finalizers": atomic_list(STRING, "Must be empty before the namespace is removed."),
})

NAMESPACE_STATUS = struct(V1 + "NamespaceStatus", "The observed state of a namespace.", {
    "phase": f(STRING, "Active or Terminating.", enum=["Active", "Terminating"]),
    "conditions": merge_list(NAMESPACE_CONDITION, "type", "Current conditions."),
})

# -- quotas and limit ranges -----------------------------------------------------

SCOPED_RESOURCE_SELECTOR_REQUIREMENT = struct(V1 + "ScopedResourceSelectorRequirement", "A requirement on a quota scope.", {
    "scopeName": f(STRING, "The scope: Terminating, NotTerminating, BestEffort, NotBestEffort, PriorityClass ...", required=True),
    "operator": f(STRING, "In, NotIn, Exists or DoesNotExist.", required=True),
    "values": atomic_list(STRING, "Values for In and NotIn."),
})

RESOURCE_QUOTA_SPEC = struct(V1 + "ResourceQuotaSpec", "What a quota allows.", {
    "hard": quantities("The most of each named resource the namespace may hold or use (pods, requests.cpu, count/secrets ...)."),
    "scopes": atomic_list(STRING, "Only objects in every listed scope are counted."),
    "scopeSelector": f(struct(V1 + "ScopeSelector", "Scopes as selector requirements.", {
        "matchExpressions": atomic_list(SCOPED_RESOURCE_SELECTOR_REQUIREMENT, "Requirements that must all hold."),
    }, map_type="atomic"), "Scopes as selector requirements."),
})

RESOURCE_QUOTA_STATUS = struct(V1 + "ResourceQuotaStatus", "What is used against what is allowed.", {
    "hard": quantities("What is allowed (a copy of spec.hard)."),
    "used": quantities("What the namespace uses now."),
})

LIMIT_RANGE_ITEM = struct(V1 + "LimitRangeItem", "Bounds and defaults for one kind of object.", {
    "type": f(STRING, "Container, Pod or PersistentVolumeClaim.", required=True),
    "max": quantities("Largest limit allowed, per resource."),
    "min": quantities("Smallest request allowed, per resource."),
    "default": quantities("Limit given to containers that set none."),
    "defaultRequest": quantities("Request given to containers that set none."),
    "maxLimitRequestRatio": quantities("Largest limit/request ratio allowed, per resource."),
})

LIMIT_RANGE_SPEC = struct(V1 + "LimitRangeSpec", "The limits of a LimitRange.", {
    "limits": atomic_list(LIMIT_RANGE_ITEM, "One item per object type.", required=True),
})

# -- events ----------------------------------------------------------------------

EVENT_SOURCE = struct(V1 + "EventSource", "Who reported an event.", {
    "component": f(STRING, "Component that reported it."), "host": f(STRING, "Node it was reported on."),
})

EVENT_SERIES = struct(V1 + "EventSeries", "A series of repeated events.", {
    "count": f(INT32, "Occurrences so far."), "lastObservedTime": f(MICRO_TIME, "Time of the last one."),
})

# -- subresource bodies ----------------------------------------------------------

__all__ = [n for n in dir() if n.isupper()]
