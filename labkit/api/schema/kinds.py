"""Every top-level kind labkit serves, group by group, and the subresource bodies."""

from __future__ import annotations

from . import core as c
from .meta import (CONDITION, DELETE_OPTIONS, LABEL_SELECTOR, OBJECT_META, kind, object_meta_field)
from .types import (BOOL, BYTES, INT32, INT64, INT_OR_STRING, MICRO_TIME, QUANTITY, STRING, TIME, ListOf, MapOf,
                    atomic_list, f, merge_list, string_map, struct)

V1 = "io.k8s.api.core.v1."
APPS = "io.k8s.api.apps.v1."
BATCH = "io.k8s.api.batch.v1."
RBAC = "io.k8s.api.rbac.v1."

# -- core/v1 ---------------------------------------------------------------------

NAMESPACE = kind(V1 + "Namespace", "", "v1", "Namespace", "A scope for names; most objects live in one.", {
    "spec": f(c.NAMESPACE_SPEC, "Desired state."),
    "status": f(c.NAMESPACE_STATUS, "Observed state."),
})

POD = kind(V1 + "Pod", "", "v1", "Pod", "A group of containers that run together on one node, sharing network and volumes.", {
    "spec": f(c.POD_SPEC, "Desired state of the pod."),
    "status": f(c.POD_STATUS, "Observed state of the pod (written by the kubelet)."),
})

NODE = kind(V1 + "Node", "", "v1", "Node", "A machine that runs pods (registered by its kubelet).", {
    "spec": f(c.NODE_SPEC, "How the node is configured."),
    "status": f(c.NODE_STATUS, "Observed state of the node (written by the kubelet)."),
})

SERVICE = kind(V1 + "Service", "", "v1", "Service", "A stable virtual IP and DNS name in front of a set of pods.", {
    "spec": f(c.SERVICE_SPEC, "Desired state of the service."),
    "status": f(c.SERVICE_STATUS, "Observed state of the service."),
})

ENDPOINTS = kind(V1 + "Endpoints", "", "v1", "Endpoints", "The addresses behind a service (maintained by the endpoints controller).", {
    "subsets": atomic_list(c.ENDPOINT_SUBSET, "Sets of addresses with their ports."),
})

CONFIG_MAP = kind(V1 + "ConfigMap", "", "v1", "ConfigMap", "Configuration data for pods, as key/value pairs.", {
    "data": string_map("UTF-8 values, by key."),
    "binaryData": f(MapOf(BYTES), "Binary values (base64 in JSON), by key."),
    "immutable": f(BOOL, "When true, data cannot be changed (only the object deleted)."),
})

SECRET = kind(V1 + "Secret", "", "v1", "Secret", "Sensitive data for pods (base64-encoded values).", {
    "data": f(MapOf(BYTES), "Values (base64 in JSON), by key."),
    "stringData": string_map("Write-only convenience: plain values merged into data on write."),
    "type": f(STRING, "How the data is used, e.g. Opaque or kubernetes.io/service-account-token. Defaults to Opaque."),
    "immutable": f(BOOL, "When true, data cannot be changed."),
})

SERVICE_ACCOUNT = kind(V1 + "ServiceAccount", "", "v1", "ServiceAccount", "An identity for processes running in pods.", {
    "secrets": merge_list(c.OBJECT_REFERENCE, "name", "Secrets of the account (legacy tokens).", list_type=None, map_keys=[]),
    "imagePullSecrets": atomic_list(c.LOCAL_OBJECT_REFERENCE, "Secrets used to pull images of its pods."),
    "automountServiceAccountToken": f(BOOL, "Mount a token into pods by default."),
})

RESOURCE_QUOTA = kind(V1 + "ResourceQuota", "", "v1", "ResourceQuota",
                      "Limits on what a namespace may hold and use (enforced by the ResourceQuota admission plugin).", {
    "spec": f(c.RESOURCE_QUOTA_SPEC, "The limits."),
    "status": f(c.RESOURCE_QUOTA_STATUS, "What is used now, against what is allowed."),
})

LIMIT_RANGE = kind(V1 + "LimitRange", "", "v1", "LimitRange",
                   "Per-container and per-pod resource bounds and defaults of a namespace (LimitRanger admission).", {
    "spec": f(c.LIMIT_RANGE_SPEC, "The limits and defaults."),
})

EVENT = kind(V1 + "Event", "", "v1", "Event", "A report of something that happened to an object.", {
    "involvedObject": f(c.OBJECT_REFERENCE, "The object the event is about.", required=True),
    "reason": f(STRING, "Short CamelCase reason, e.g. Scheduled or Pulled."),
    "message": f(STRING, "Human-readable description."),
    "source": f(c.EVENT_SOURCE, "Who reported it."),
    "firstTimestamp": f(TIME, "First time it was recorded."),
    "lastTimestamp": f(TIME, "Last time it was recorded."),
    "count": f(INT32, "How many times it happened."),
    "type": f(STRING, "Normal or Warning."),
    "eventTime": f(MICRO_TIME, "When it was first observed."),
    "series": f(c.EVENT_SERIES, "Data about a series of such events."),
    "action": f(STRING, "What was done (or failed)."),
    "related": f(c.OBJECT_REFERENCE, "A second object involved."),
    "reportingComponent": f(STRING, "Controller that emitted it, e.g. kubelet."),
    "reportingInstance": f(STRING, "Instance of that controller, e.g. the node name."),
}, metadata_required=True)

BINDING = kind(V1 + "Binding", "", "v1", "Binding", "Binds a pod to a node (the scheduler posts it to pods/binding).", {
    "target": f(c.OBJECT_REFERENCE, "The node to bind to.", required=True),
})

# -- events.k8s.io/v1 ------------------------------------------------------------

EVENTS_SERIES = struct("io.k8s.api.events.v1.EventSeries", "A series of repeated events.", {
    "count": f(INT32, "Occurrences so far.", required=True),
    "lastObservedTime": f(MICRO_TIME, "Time of the last one.", required=True),
})

EVENTS_EVENT = kind("io.k8s.api.events.v1.Event", "events.k8s.io", "v1", "Event",
                    "A report of something that happened to an object (the newer schema of core events).", {
    "eventTime": f(MICRO_TIME, "When it was first observed.", required=True),
    "series": f(EVENTS_SERIES, "Data about a series of such events."),
    "reportingController": f(STRING, "Controller that emitted it."),
    "reportingInstance": f(STRING, "Instance of that controller."),
    "action": f(STRING, "What was done (or failed)."),
    "reason": f(STRING, "Why the action was taken."),
    "regarding": f(c.OBJECT_REFERENCE, "The object the event is about."),
    "related": f(c.OBJECT_REFERENCE, "A second object involved."),
    "note": f(STRING, "Human-readable description."),
    "type": f(STRING, "Normal or Warning."),
    "deprecatedSource": f(c.EVENT_SOURCE, "core/v1 source."),
    "deprecatedFirstTimestamp": f(TIME, "core/v1 firstTimestamp."),
    "deprecatedLastTimestamp": f(TIME, "core/v1 lastTimestamp."),
    "deprecatedCount": f(INT32, "core/v1 count."),
})

# -- coordination.k8s.io/v1 ------------------------------------------------------

LEASE_SPEC = struct("io.k8s.api.coordination.v1.LeaseSpec", "Who holds the lease and until when.", {
    "holderIdentity": f(STRING, "Identity of the holder."),
    "leaseDurationSeconds": f(INT32, "Seconds candidates wait after the last renewal before taking over."),
    "acquireTime": f(MICRO_TIME, "When the current holder acquired it."),
    "renewTime": f(MICRO_TIME, "When the holder last renewed it."),
    "leaseTransitions": f(INT32, "How many times the holder changed."),
    "strategy": f(STRING, "Coordinated leader election strategy."),
    "preferredHolder": f(STRING, "Holder the strategy prefers."),
})

LEASE = kind("io.k8s.api.coordination.v1.Lease", "coordination.k8s.io", "v1", "Lease",
             "A lease: leader election and node heartbeats.", {
    "spec": f(LEASE_SPEC, "The lease's state."),
})

# -- apps/v1 ---------------------------------------------------------------------

def _conditions(name: str, what: str, with_update_time: bool = False):
    fields = {
        "type": f(STRING, "Type of the condition.", required=True),
        "status": f(STRING, "True, False or Unknown.", required=True),
    }
    if with_update_time:
        fields["lastUpdateTime"] = f(TIME, "Last time it was updated.")
    fields.update({
        "lastTransitionTime": f(TIME, "Last time status changed."),
        "reason": f(STRING, "CamelCase reason."),
        "message": f(STRING, "Details."),
    })
    return merge_list(struct(name, f"One condition of a {what}.", fields), "type", "Current conditions.")


ROLLING_UPDATE_DEPLOYMENT = struct(APPS + "RollingUpdateDeployment", "Pace of a rolling update.", {
    "maxUnavailable": f(INT_OR_STRING, "Pods that may be unavailable during the update (number or %). Defaults to 25%."),
    "maxSurge": f(INT_OR_STRING, "Pods that may exist above the desired count (number or %). Defaults to 25%."),
})

DEPLOYMENT_STRATEGY = struct(APPS + "DeploymentStrategy", "How old pods are replaced by new ones.", {
    "type": f(STRING, "Recreate or RollingUpdate. Defaults to RollingUpdate.", enum=["Recreate", "RollingUpdate"]),
    "rollingUpdate": f(ROLLING_UPDATE_DEPLOYMENT, "Rolling update parameters."),
})

DEPLOYMENT_SPEC = struct(APPS + "DeploymentSpec", "The desired state of a deployment.", {
    "replicas": f(INT32, "Desired number of pods. Defaults to 1."),
    "selector": f(LABEL_SELECTOR, "Pods it manages; must match the template's labels. Immutable.", required=True),
    "template": f(c.POD_TEMPLATE_SPEC, "The pods to create.", required=True),
    "strategy": f(DEPLOYMENT_STRATEGY, "How pods are replaced.", patch_strategy="retainKeys"),
    "minReadySeconds": f(INT32, "Seconds a new pod must be ready to count as available."),
    "revisionHistoryLimit": f(INT32, "Old ReplicaSets kept for rollback. Defaults to 10."),
    "paused": f(BOOL, "Pause rollouts."),
    "progressDeadlineSeconds": f(INT32, "Seconds before a stalled rollout is reported failed. Defaults to 600."),
})

DEPLOYMENT_STATUS = struct(APPS + "DeploymentStatus", "The observed state of a deployment.", {
    "observedGeneration": f(INT64, "Generation observed by the controller."),
    "replicas": f(INT32, "Pods targeted by the deployment."),
    "updatedReplicas": f(INT32, "Pods with the current template."),
    "readyReplicas": f(INT32, "Ready pods."),
    "availableReplicas": f(INT32, "Available pods (ready for minReadySeconds)."),
    "unavailableReplicas": f(INT32, "Pods still needed for 100% availability."),
    "terminatingReplicas": f(INT32, "Pods being terminated."),
    "conditions": _conditions(APPS + "DeploymentCondition", "deployment", with_update_time=True),
    "collisionCount": f(INT32, "Hash collisions seen when naming ReplicaSets."),
})

DEPLOYMENT = kind(APPS + "Deployment", "apps", "v1", "Deployment",
                  "Declarative updates of pods through ReplicaSets.", {
    "spec": f(DEPLOYMENT_SPEC, "Desired state."),
    "status": f(DEPLOYMENT_STATUS, "Observed state."),
})

REPLICA_SET_SPEC = struct(APPS + "ReplicaSetSpec", "The desired state of a ReplicaSet.", {
    "replicas": f(INT32, "Desired number of pods. Defaults to 1."),
    "minReadySeconds": f(INT32, "Seconds a new pod must be ready to count as available."),
    "selector": f(LABEL_SELECTOR, "Pods it manages; must match the template's labels.", required=True),
    "template": f(c.POD_TEMPLATE_SPEC, "The pods to create."),
})

REPLICA_SET_STATUS = struct(APPS + "ReplicaSetStatus", "The observed state of a ReplicaSet.", {
    "replicas": f(INT32, "Current number of pods.", required=True),
    "fullyLabeledReplicas": f(INT32, "Pods whose labels match the template's."),
    "readyReplicas": f(INT32, "Ready pods."),
    "availableReplicas": f(INT32, "Available pods."),
    "terminatingReplicas": f(INT32, "Pods being terminated."),
    "observedGeneration": f(INT64, "Generation observed by the controller."),
    "conditions": _conditions(APPS + "ReplicaSetCondition", "ReplicaSet"),
})

REPLICA_SET = kind(APPS + "ReplicaSet", "apps", "v1", "ReplicaSet", "Keeps a number of identical pods running.", {
    "spec": f(REPLICA_SET_SPEC, "Desired state."),
    "status": f(REPLICA_SET_STATUS, "Observed state."),
})

ROLLING_UPDATE_DAEMON_SET = struct(APPS + "RollingUpdateDaemonSet", "Pace of a daemon set rolling update.", {
    "maxUnavailable": f(INT_OR_STRING, "Nodes whose pod may be unavailable (number or %). Defaults to 1."),
    "maxSurge": f(INT_OR_STRING, "Nodes that may run an extra new pod (number or %). Defaults to 0."),
})

DAEMON_SET_UPDATE_STRATEGY = struct(APPS + "DaemonSetUpdateStrategy", "How a daemon set's pods are replaced.", {
    "type": f(STRING, "OnDelete or RollingUpdate. Defaults to RollingUpdate.", enum=["OnDelete", "RollingUpdate"]),
    "rollingUpdate": f(ROLLING_UPDATE_DAEMON_SET, "Rolling update parameters."),
})

DAEMON_SET_SPEC = struct(APPS + "DaemonSetSpec", "The desired state of a daemon set.", {
    "selector": f(LABEL_SELECTOR, "Pods it manages; must match the template's labels.", required=True),
    "template": f(c.POD_TEMPLATE_SPEC, "The pod to run on every eligible node.", required=True),
    "updateStrategy": f(DAEMON_SET_UPDATE_STRATEGY, "How pods are replaced."),
    "minReadySeconds": f(INT32, "Seconds a new pod must be ready to count as available."),
    "revisionHistoryLimit": f(INT32, "Old revisions kept. Defaults to 10."),
})

DAEMON_SET_STATUS = struct(APPS + "DaemonSetStatus", "The observed state of a daemon set.", {
    "currentNumberScheduled": f(INT32, "Nodes running the pod that should.", required=True),
    "numberMisscheduled": f(INT32, "Nodes running the pod that should not.", required=True),
    "desiredNumberScheduled": f(INT32, "Nodes that should run the pod.", required=True),
    "numberReady": f(INT32, "Nodes with a ready pod.", required=True),
    "observedGeneration": f(INT64, "Generation observed by the controller."),
    "updatedNumberScheduled": f(INT32, "Nodes running the current template."),
    "numberAvailable": f(INT32, "Nodes with an available pod."),
    "numberUnavailable": f(INT32, "Nodes without an available pod."),
    "collisionCount": f(INT32, "Hash collisions seen."),
    "conditions": _conditions(APPS + "DaemonSetCondition", "daemon set"),
})

DAEMON_SET = kind(APPS + "DaemonSet", "apps", "v1", "DaemonSet", "Runs one pod on every eligible node.", {
    "spec": f(DAEMON_SET_SPEC, "Desired state."),
    "status": f(DAEMON_SET_STATUS, "Observed state."),
})

PVC_SPEC = struct(V1 + "PersistentVolumeClaimSpec", "What storage a claim asks for.", {
    "accessModes": atomic_list(STRING, "ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod."),
    "selector": f(LABEL_SELECTOR, "Volumes to consider."),
    "resources": f(struct(V1 + "VolumeResourceRequirements", "Storage requested.", {
        "limits": f(MapOf(QUANTITY), "Maximum amounts."),
        "requests": f(MapOf(QUANTITY), "Minimum amounts, e.g. storage: 1Gi."),
    }), "Storage requested."),
    "volumeName": f(STRING, "A specific volume to bind to."),
    "storageClassName": f(STRING, "StorageClass to provision from."),
    "volumeMode": f(STRING, "Filesystem or Block."),
    "dataSource": f(struct(V1 + "TypedLocalObjectReference", "A typed reference in the same namespace.", {
        "apiGroup": f(STRING, "API group."), "kind": f(STRING, "Kind.", required=True),
        "name": f(STRING, "Name.", required=True),
    }, map_type="atomic"), "Populate from this object."),
    "volumeAttributesClassName": f(STRING, "VolumeAttributesClass."),
})

PVC = kind(V1 + "PersistentVolumeClaim", "", "v1", "PersistentVolumeClaim", "A request for storage.", {
    "spec": f(PVC_SPEC, "Desired storage."),
    "status": f(struct(V1 + "PersistentVolumeClaimStatus", "Observed state of a claim.", {
        "phase": f(STRING, "Pending, Bound or Lost."),
        "accessModes": atomic_list(STRING, "Access modes of the bound volume."),
        "capacity": f(MapOf(QUANTITY), "Capacity of the bound volume."),
    }), "Observed state."),
})

STATEFUL_SET_SPEC = struct(APPS + "StatefulSetSpec", "The desired state of a stateful set.", {
    "replicas": f(INT32, "Desired number of pods. Defaults to 1."),
    "selector": f(LABEL_SELECTOR, "Pods it manages; must match the template's labels.", required=True),
    "template": f(c.POD_TEMPLATE_SPEC, "The pods to create, named <set>-<ordinal>.", required=True),
    "volumeClaimTemplates": atomic_list(PVC, "Claims every pod gets, named <claim>-<pod>."),
    "serviceName": f(STRING, "Headless service giving the pods their DNS names."),
    "podManagementPolicy": f(STRING, "OrderedReady or Parallel. Defaults to OrderedReady.",
                             enum=["OrderedReady", "Parallel"]),
    "updateStrategy": f(struct(APPS + "StatefulSetUpdateStrategy", "How a stateful set's pods are replaced.", {
        "type": f(STRING, "OnDelete or RollingUpdate. Defaults to RollingUpdate.", enum=["OnDelete", "RollingUpdate"]),
        "rollingUpdate": f(struct(APPS + "RollingUpdateStatefulSetStrategy", "Rolling update parameters.", {
            "partition": f(INT32, "Only ordinals >= partition are updated. Defaults to 0."),
            "maxUnavailable": f(INT_OR_STRING, "Pods that may be unavailable during the update."),
        }), "Rolling update parameters."),
    }), "How pods are replaced."),
    "revisionHistoryLimit": f(INT32, "Old revisions kept. Defaults to 10."),
    "minReadySeconds": f(INT32, "Seconds a new pod must be ready to count as available."),
    "persistentVolumeClaimRetentionPolicy": f(struct(
        APPS + "StatefulSetPersistentVolumeClaimRetentionPolicy", "What happens to claims on delete and scale down.", {
            "whenDeleted": f(STRING, "Retain or Delete. Defaults to Retain."),
            "whenScaled": f(STRING, "Retain or Delete. Defaults to Retain."),
        }), "What happens to the claims."),
    "ordinals": f(struct(APPS + "StatefulSetOrdinals", "Ordinal numbering.", {
        "start": f(INT32, "First ordinal. Defaults to 0."),
    }), "Ordinal numbering."),
})

STATEFUL_SET_STATUS = struct(APPS + "StatefulSetStatus", "The observed state of a stateful set.", {
    "observedGeneration": f(INT64, "Generation observed by the controller."),
    "replicas": f(INT32, "Pods created.", required=True),
    "readyReplicas": f(INT32, "Ready pods."),
    "currentReplicas": f(INT32, "Pods at currentRevision."),
    "updatedReplicas": f(INT32, "Pods at updateRevision."),
    "currentRevision": f(STRING, "Revision of the current pods."),
    "updateRevision": f(STRING, "Revision being rolled out."),
    "collisionCount": f(INT32, "Hash collisions seen."),
    "conditions": _conditions(APPS + "StatefulSetCondition", "stateful set"),
    "availableReplicas": f(INT32, "Available pods."),
})

STATEFUL_SET = kind(APPS + "StatefulSet", "apps", "v1", "StatefulSet",
                    "Pods with stable names and storage, created and updated in order.", {
    "spec": f(STATEFUL_SET_SPEC, "Desired state."),
    "status": f(STATEFUL_SET_STATUS, "Observed state."),
})

# -- batch/v1 --------------------------------------------------------------------

POD_FAILURE_POLICY = struct(BATCH + "PodFailurePolicy", "How pod failures count against the job.", {
    "rules": atomic_list(struct(BATCH + "PodFailurePolicyRule", "One rule; the first matching rule wins.", {
        "action": f(STRING, "FailJob, FailIndex, Ignore or Count.", required=True),
        "onExitCodes": f(struct(BATCH + "PodFailurePolicyOnExitCodesRequirement", "Match on exit codes.", {
            "containerName": f(STRING, "Only this container."),
            "operator": f(STRING, "In or NotIn.", required=True),
            "values": merge_list(INT32, None, "Exit codes.", patch_strategy=None),
        }), "Match on exit codes."),
        "onPodConditions": atomic_list(struct(BATCH + "PodFailurePolicyOnPodConditionsPattern", "Match on a pod condition.", {
            "type": f(STRING, "Condition type.", required=True),
            "status": f(STRING, "Condition status."),
        }), "Match on pod conditions."),
    }), "The rules.", required=True),
})

JOB_SPEC = struct(BATCH + "JobSpec", "The desired state of a job.", {
    "parallelism": f(INT32, "Pods running at once. Defaults to 1."),
    "completions": f(INT32, "Successful pods needed. Defaults to 1 when parallelism is unset."),
    "activeDeadlineSeconds": f(INT64, "Seconds the job may run."),
    "podFailurePolicy": f(POD_FAILURE_POLICY, "How failures are counted."),
    "backoffLimit": f(INT32, "Retries before the job fails. Defaults to 6."),
    "backoffLimitPerIndex": f(INT32, "Retries per index, for Indexed jobs."),
    "maxFailedIndexes": f(INT32, "Failed indexes before the job fails."),
    "selector": f(LABEL_SELECTOR, "Pods of the job; generated unless manualSelector."),
    "manualSelector": f(BOOL, "Use the given selector instead of a generated one."),
    "template": f(c.POD_TEMPLATE_SPEC, "The pods to run; restartPolicy must be OnFailure or Never.", required=True),
    "ttlSecondsAfterFinished": f(INT32, "Delete the job this long after it finished."),
    "completionMode": f(STRING, "NonIndexed or Indexed. Defaults to NonIndexed.", enum=["Indexed", "NonIndexed"]),
    "suspend": f(BOOL, "Suspend the job (delete its running pods)."),
    "podReplacementPolicy": f(STRING, "TerminatingOrFailed or Failed.", enum=["Failed", "TerminatingOrFailed"]),
    "managedBy": f(STRING, "Controller that manages the job."),
})

JOB_STATUS = struct(BATCH + "JobStatus", "The observed state of a job.", {
    "conditions": merge_list(struct(BATCH + "JobCondition", "One condition of a job (Complete, Failed, Suspended ...).", {
        "type": f(STRING, "Type of the condition.", required=True),
        "status": f(STRING, "True, False or Unknown.", required=True),
        "lastProbeTime": f(TIME, "Last time it was checked."),
        "lastTransitionTime": f(TIME, "Last time status changed."),
        "reason": f(STRING, "CamelCase reason."),
        "message": f(STRING, "Details."),
    }), "type", "Current conditions.", list_type="atomic", map_keys=[]),
    "startTime": f(TIME, "When the job started."),
    "completionTime": f(TIME, "When it completed."),
    "active": f(INT32, "Pending and running pods."),
    "succeeded": f(INT32, "Succeeded pods."),
    "failed": f(INT32, "Failed pods."),
    "terminating": f(INT32, "Terminating pods."),
    "completedIndexes": f(STRING, "Completed indexes, e.g. 1,3-5."),
    "failedIndexes": f(STRING, "Failed indexes."),
    "uncountedTerminatedPods": f(struct(BATCH + "UncountedTerminatedPods", "Finished pods not counted yet.", {
        "succeeded": merge_list(STRING, None, "UIDs of succeeded pods.", patch_strategy=None),
        "failed": merge_list(STRING, None, "UIDs of failed pods.", patch_strategy=None),
    }), "Finished pods not counted yet."),
    "ready": f(INT32, "Ready pods."),
})

JOB = kind(BATCH + "Job", "batch", "v1", "Job", "Runs pods until a number of them succeed.", {
    "spec": f(JOB_SPEC, "Desired state."),
    "status": f(JOB_STATUS, "Observed state."),
})

JOB_TEMPLATE_SPEC = struct(BATCH + "JobTemplateSpec", "The jobs a CronJob creates.", {
    "metadata": object_meta_field(),
    "spec": f(JOB_SPEC, "The jobs' spec."),
})

CRON_JOB = kind(BATCH + "CronJob", "batch", "v1", "CronJob", "Creates jobs on a schedule.", {
    "spec": f(struct(BATCH + "CronJobSpec", "The desired state of a cron job.", {
        "schedule": f(STRING, "Cron schedule, e.g. */5 * * * *.", required=True),
        "timeZone": f(STRING, "Time zone of the schedule, e.g. Etc/UTC."),
        "startingDeadlineSeconds": f(INT64, "Seconds after a missed time a job may still start."),
        "concurrencyPolicy": f(STRING, "Allow, Forbid or Replace. Defaults to Allow.",
                               enum=["Allow", "Forbid", "Replace"]),
        "suspend": f(BOOL, "Suspend new runs. Defaults to false."),
        "jobTemplate": f(JOB_TEMPLATE_SPEC, "The job to create.", required=True),
        "successfulJobsHistoryLimit": f(INT32, "Successful jobs kept. Defaults to 3."),
        "failedJobsHistoryLimit": f(INT32, "Failed jobs kept. Defaults to 1."),
    }), "Desired state."),
    "status": f(struct(BATCH + "CronJobStatus", "The observed state of a cron job.", {
        "active": atomic_list(c.OBJECT_REFERENCE, "Running jobs."),
        "lastScheduleTime": f(TIME, "Last time a job was scheduled."),
        "lastSuccessfulTime": f(TIME, "Last time a job succeeded."),
    }), "Observed state."),
})

# -- rbac.authorization.k8s.io/v1 ------------------------------------------------

POLICY_RULE = struct(RBAC + "PolicyRule", "Verbs allowed on resources (or non-resource URLs).", {
    "verbs": atomic_list(STRING, "Verbs, e.g. get, list, watch; * for all.", required=True),
    "apiGroups": atomic_list(STRING, "API groups; \"\" is the core group, * all."),
    "resources": atomic_list(STRING, "Resources, e.g. pods or pods/log; * for all."),
    "resourceNames": atomic_list(STRING, "Only these object names."),
    "nonResourceURLs": atomic_list(STRING, "URLs like /healthz (ClusterRoles only)."),
})

ROLE_REF = struct(RBAC + "RoleRef", "The role a binding grants.", {
    "apiGroup": f(STRING, "rbac.authorization.k8s.io.", required=True),
    "kind": f(STRING, "Role or ClusterRole.", required=True),
    "name": f(STRING, "Name of the role.", required=True),
}, map_type="atomic")

SUBJECT = struct(RBAC + "Subject", "Who a binding grants to: a User, Group or ServiceAccount.", {
    "kind": f(STRING, "User, Group or ServiceAccount.", required=True),
    "apiGroup": f(STRING, "rbac.authorization.k8s.io for User and Group, \"\" for ServiceAccount."),
    "name": f(STRING, "Name of the subject.", required=True),
    "namespace": f(STRING, "Namespace of a ServiceAccount."),
}, map_type="atomic")

ROLE = kind(RBAC + "Role", "rbac.authorization.k8s.io", "v1", "Role", "Permissions within a namespace.", {
    "rules": atomic_list(POLICY_RULE, "The permissions."),
})

CLUSTER_ROLE = kind(RBAC + "ClusterRole", "rbac.authorization.k8s.io", "v1", "ClusterRole",
                    "Permissions cluster-wide or in any namespace.", {
    "rules": atomic_list(POLICY_RULE, "The permissions."),
    "aggregationRule": f(struct(RBAC + "AggregationRule", "Roles whose rules are merged into this one.", {
        "clusterRoleSelectors": atomic_list(LABEL_SELECTOR, "ClusterRoles to aggregate."),
    }), "Aggregate rules from other ClusterRoles."),
})

ROLE_BINDING = kind(RBAC + "RoleBinding", "rbac.authorization.k8s.io", "v1", "RoleBinding",
                    "Grants a role to subjects within a namespace.", {
    "subjects": atomic_list(SUBJECT, "Who gets the role."),
    "roleRef": f(ROLE_REF, "The role granted. Immutable.", required=True),
})

CLUSTER_ROLE_BINDING = kind(RBAC + "ClusterRoleBinding", "rbac.authorization.k8s.io", "v1", "ClusterRoleBinding",
                            "Grants a ClusterRole to subjects cluster-wide.", {
    "subjects": atomic_list(SUBJECT, "Who gets the role."),
    "roleRef": f(ROLE_REF, "The ClusterRole granted. Immutable.", required=True),
})

# -- discovery.k8s.io/v1 ---------------------------------------------------------

DISCOVERY = "io.k8s.api.discovery.v1."

ENDPOINT_SLICE = kind(DISCOVERY + "EndpointSlice", "discovery.k8s.io", "v1", "EndpointSlice",
                      "A slice of the endpoints of a service.", {
    "addressType": f(STRING, "IPv4, IPv6 or FQDN. Immutable.", required=True, enum=["FQDN", "IPv4", "IPv6"]),
    "endpoints": atomic_list(struct(DISCOVERY + "Endpoint", "One endpoint (usually a pod).", {
        "addresses": merge_list(STRING, None, "Addresses of the endpoint.", required=True, patch_strategy=None),
        "conditions": f(struct(DISCOVERY + "EndpointConditions", "State of the endpoint.", {
            "ready": f(BOOL, "Ready to receive traffic."),
            "serving": f(BOOL, "Serving (even while terminating)."),
            "terminating": f(BOOL, "Terminating."),
        }), "State of the endpoint."),
        "hostname": f(STRING, "Hostname."),
        "targetRef": f(c.OBJECT_REFERENCE, "The pod."),
        "deprecatedTopology": string_map("Deprecated topology labels."),
        "nodeName": f(STRING, "Node hosting the endpoint."),
        "zone": f(STRING, "Zone of the endpoint."),
        "hints": f(struct(DISCOVERY + "EndpointHints", "Topology hints.", {
            "forZones": atomic_list(struct(DISCOVERY + "ForZone", "A zone.", {
                "name": f(STRING, "Zone name.", required=True)}), "Zones that should use this endpoint."),
            "forNodes": atomic_list(struct(DISCOVERY + "ForNode", "A node.", {
                "name": f(STRING, "Node name.", required=True)}), "Nodes that should use this endpoint."),
        }), "Topology hints."),
    }), "The endpoints.", required=True),
    "ports": atomic_list(struct(DISCOVERY + "EndpointPort", "A port of the slice.", {
        "name": f(STRING, "Name (the service port's)."),
        "protocol": f(STRING, "TCP, UDP or SCTP. Defaults to TCP."),
        "port": f(INT32, "Port number."),
        "appProtocol": f(STRING, "Application protocol."),
    }, map_type="atomic"), "Ports of every endpoint."),
})

# -- policy/v1 -------------------------------------------------------------------

PDB = kind("io.k8s.api.policy.v1.PodDisruptionBudget", "policy", "v1", "PodDisruptionBudget",
           "Limits how many pods of a set may be disrupted (evicted) at once.", {
    "spec": f(struct("io.k8s.api.policy.v1.PodDisruptionBudgetSpec", "The desired budget.", {
        "minAvailable": f(INT_OR_STRING, "Pods that must stay available (number or %)."),
        "selector": f(LABEL_SELECTOR, "Pods the budget covers.", patch_strategy="replace"),
        "maxUnavailable": f(INT_OR_STRING, "Pods that may be unavailable (number or %)."),
        "unhealthyPodEvictionPolicy": f(STRING, "IfHealthyBudget or AlwaysAllow.",
                                        enum=["AlwaysAllow", "IfHealthyBudget"]),
    }), "Desired budget."),
    "status": f(struct("io.k8s.api.policy.v1.PodDisruptionBudgetStatus", "The observed state of a budget.", {
        "observedGeneration": f(INT64, "Generation observed."),
        "disruptedPods": f(MapOf(TIME), "Pods being evicted, with the time of the eviction."),
        "disruptionsAllowed": f(INT32, "Evictions allowed now.", required=True),
        "currentHealthy": f(INT32, "Healthy pods now.", required=True),
        "desiredHealthy": f(INT32, "Healthy pods wanted.", required=True),
        "expectedPods": f(INT32, "Pods counted by the budget.", required=True),
        "conditions": merge_list(CONDITION, "type", "Current conditions."),
    }), "Observed state."),
})

EVICTION = kind("io.k8s.api.policy.v1.Eviction", "policy", "v1", "Eviction",
                "A request to evict a pod, honouring disruption budgets (posted to pods/eviction).", {
    "deleteOptions": f(DELETE_OPTIONS, "Options of the deletion."),
})

# -- autoscaling/v1 --------------------------------------------------------------

SCALE = kind("io.k8s.api.autoscaling.v1.Scale", "autoscaling", "v1", "Scale",
             "The scale subresource of a workload (kubectl scale).", {
    "spec": f(struct("io.k8s.api.autoscaling.v1.ScaleSpec", "Desired scale.", {
        "replicas": f(INT32, "Desired number of pods."),
    }), "Desired scale."),
    "status": f(struct("io.k8s.api.autoscaling.v1.ScaleStatus", "Observed scale.", {
        "replicas": f(INT32, "Actual number of pods.", required=True),
        "selector": f(STRING, "Label selector of the pods, in string form."),
    }), "Observed scale."),
})

# -- authentication.k8s.io/v1 (computed per request, never stored) ---------------

AUTHN = "io.k8s.api.authentication.v1."

USER_INFO = struct(AUTHN + "UserInfo", "Who a user is: name, uid, groups and extra attributes.", {
    "username": f(STRING, "The user's name, unique among all active users."),
    "uid": f(STRING, "A unique value that identifies this user across time."),
    "groups": atomic_list(STRING, "The groups this user is a part of."),
    "extra": f(MapOf(ListOf(STRING)), "Any additional information provided by the authenticator."),
})

TOKEN_REVIEW = kind(AUTHN + "TokenReview", "authentication.k8s.io", "v1", "TokenReview",
                    "Asks the apiserver who a bearer token belongs to.", {
    "spec": f(struct(AUTHN + "TokenReviewSpec", "The token to check.", {
        "token": f(STRING, "The opaque bearer token."),
        "audiences": atomic_list(STRING, "Audiences the asking server identifies as."),
    }), "The token to check.", required=True),
    "status": f(struct(AUTHN + "TokenReviewStatus", "Whether the token is valid, and whose.", {
        "authenticated": f(BOOL, "True when the token is valid."),
        "user": f(USER_INFO, "The user the token belongs to."),
        "audiences": atomic_list(STRING, "The audiences of the review the token is valid for."),
        "error": f(STRING, "Why the token could not be checked."),
    }), "The answer."),
})

SELF_SUBJECT_REVIEW = kind(AUTHN + "SelfSubjectReview", "authentication.k8s.io", "v1", "SelfSubjectReview",
                           "Asks the apiserver who the request itself authenticated as (kubectl auth whoami).", {
    "status": f(struct(AUTHN + "SelfSubjectReviewStatus", "The user the request authenticated as.", {
        "userInfo": f(USER_INFO, "The user."),
    }), "The answer."),
})

TOKEN_REQUEST = kind(AUTHN + "TokenRequest", "authentication.k8s.io", "v1", "TokenRequest",
                     "Requests a token for a service account (serviceaccounts/token).", {
    "spec": f(struct(AUTHN + "TokenRequestSpec", "What token is wanted.", {
        "audiences": atomic_list(STRING, "The audiences of the token.", required=True),
        "expirationSeconds": f(INT64, "The requested validity (at least 600 seconds)."),
        "boundObjectRef": f(struct(AUTHN + "BoundObjectReference", "The object the token is bound to.", {
            "kind": f(STRING, "Pod, Secret or Node."),
            "apiVersion": f(STRING, "API version of the referent."),
            "name": f(STRING, "Name of the referent."),
            "uid": f(STRING, "UID of the referent."),
        }), "The object the token dies with."),
    }), "What token is wanted.", required=True),
    "status": f(struct(AUTHN + "TokenRequestStatus", "The token.", {
        "token": f(STRING, "The opaque bearer token.", required=True),
        "expirationTimestamp": f(TIME, "When the token expires.", required=True),
    }), "The token."),
})

# -- authorization.k8s.io/v1 (computed per request, never stored) ----------------

AUTHZ = "io.k8s.api.authorization.v1."

RESOURCE_ATTRIBUTES = struct(AUTHZ + "ResourceAttributes", "A resource request to decide on.", {
    "namespace": f(STRING, "Namespace of the action; empty for cluster-scoped resources or all namespaces."),
    "verb": f(STRING, "get, list, watch, create, update, patch, delete, deletecollection, or a custom verb."),
    "group": f(STRING, "API group of the resource; * for all."),
    "version": f(STRING, "API version of the resource; * for all."),
    "resource": f(STRING, "The resource, e.g. pods; * for all."),
    "subresource": f(STRING, "The subresource, e.g. status or log."),
    "name": f(STRING, "Name of the object; empty for all (list, create)."),
    "fieldSelector": f(struct(AUTHZ + "FieldSelectorAttributes", "The request's field selector.", {
        "rawSelector": f(STRING, "The selector as a query parameter spells it."),
    }), "Field selector of a list or watch."),
    "labelSelector": f(struct(AUTHZ + "LabelSelectorAttributes", "The request's label selector.", {
        "rawSelector": f(STRING, "The selector as a query parameter spells it."),
    }), "Label selector of a list or watch."),
})

NON_RESOURCE_ATTRIBUTES = struct(AUTHZ + "NonResourceAttributes", "A request for a URL that is no resource.", {
    "path": f(STRING, "The URL path, e.g. /healthz."),
    "verb": f(STRING, "The lower-case HTTP method, e.g. get."),
})

SUBJECT_ACCESS_REVIEW_STATUS = struct(AUTHZ + "SubjectAccessReviewStatus", "The decision.", {
    "allowed": f(BOOL, "True when the action is allowed.", required=True),
    "denied": f(BOOL, "True when an authorizer denied it explicitly."),
    "reason": f(STRING, "Why (which binding allowed it)."),
    "evaluationError": f(STRING, "An error met while deciding."),
})

SUBJECT_ACCESS_REVIEW_SPEC = struct(AUTHZ + "SubjectAccessReviewSpec", "Who wants to do what.", {
    "resourceAttributes": f(RESOURCE_ATTRIBUTES, "A resource request."),
    "nonResourceAttributes": f(NON_RESOURCE_ATTRIBUTES, "A non-resource request."),
    "user": f(STRING, "The user to check."),
    "groups": atomic_list(STRING, "The user's groups."),
    "extra": f(MapOf(ListOf(STRING)), "Extra attributes of the user."),
    "uid": f(STRING, "The user's uid."),
})

SELF_SUBJECT_ACCESS_REVIEW = kind(AUTHZ + "SelfSubjectAccessReview", "authorization.k8s.io", "v1",
                                  "SelfSubjectAccessReview", "May I do this? (kubectl auth can-i)", {
    "spec": f(struct(AUTHZ + "SelfSubjectAccessReviewSpec", "What the requesting user wants to do.", {
        "resourceAttributes": f(RESOURCE_ATTRIBUTES, "A resource request."),
        "nonResourceAttributes": f(NON_RESOURCE_ATTRIBUTES, "A non-resource request."),
    }), "The action.", required=True),
    "status": f(SUBJECT_ACCESS_REVIEW_STATUS, "The decision."),
})

SUBJECT_ACCESS_REVIEW = kind(AUTHZ + "SubjectAccessReview", "authorization.k8s.io", "v1", "SubjectAccessReview",
                             "May this user do this?", {
    "spec": f(SUBJECT_ACCESS_REVIEW_SPEC, "The user and the action.", required=True),
    "status": f(SUBJECT_ACCESS_REVIEW_STATUS, "The decision."),
})

LOCAL_SUBJECT_ACCESS_REVIEW = kind(AUTHZ + "LocalSubjectAccessReview", "authorization.k8s.io", "v1",
                                   "LocalSubjectAccessReview", "May this user do this in this namespace?", {
    "spec": f(SUBJECT_ACCESS_REVIEW_SPEC, "The user and the action (in the review's namespace).", required=True),
    "status": f(SUBJECT_ACCESS_REVIEW_STATUS, "The decision."),
})

SELF_SUBJECT_RULES_REVIEW = kind(AUTHZ + "SelfSubjectRulesReview", "authorization.k8s.io", "v1",
                                 "SelfSubjectRulesReview", "What may I do in this namespace? (kubectl auth can-i --list)", {
    "spec": f(struct(AUTHZ + "SelfSubjectRulesReviewSpec", "The namespace asked about.", {
        "namespace": f(STRING, "The namespace."),
    }), "The namespace.", required=True),
    "status": f(struct(AUTHZ + "SubjectRulesReviewStatus", "The rules.", {
        "resourceRules": atomic_list(struct(AUTHZ + "ResourceRule", "Verbs on resources.", {
            "verbs": atomic_list(STRING, "Verbs.", required=True),
            "apiGroups": atomic_list(STRING, "API groups."),
            "resources": atomic_list(STRING, "Resources."),
            "resourceNames": atomic_list(STRING, "Object names."),
        }), "Rules on resources.", required=True),
        "nonResourceRules": atomic_list(struct(AUTHZ + "NonResourceRule", "Verbs on URLs.", {
            "verbs": atomic_list(STRING, "Verbs.", required=True),
            "nonResourceURLs": atomic_list(STRING, "URLs, or prefixes ending in *."),
        }), "Rules on non-resource URLs.", required=True),
        "incomplete": f(BOOL, "True when some authorizer cannot list its rules.", required=True),
        "evaluationError": f(STRING, "Why the list may be incomplete."),
    }), "The rules."),
})

# The kinds stored as resources, by (apiVersion, kind).
RESOURCE_KINDS = {
    (s.gvks[0][0] + "/" + s.gvks[0][1] if s.gvks[0][0] else s.gvks[0][1], s.gvks[0][2]): s
    for s in (NAMESPACE, POD, NODE, SERVICE, ENDPOINTS, CONFIG_MAP, SECRET, SERVICE_ACCOUNT, RESOURCE_QUOTA,
              LIMIT_RANGE, EVENT, EVENTS_EVENT,
              LEASE, DEPLOYMENT, REPLICA_SET, DAEMON_SET, STATEFUL_SET, JOB, CRON_JOB, ROLE, ROLE_BINDING,
              CLUSTER_ROLE, CLUSTER_ROLE_BINDING, ENDPOINT_SLICE, PDB, TOKEN_REVIEW, SELF_SUBJECT_REVIEW,
              SELF_SUBJECT_ACCESS_REVIEW, SUBJECT_ACCESS_REVIEW, LOCAL_SUBJECT_ACCESS_REVIEW, SELF_SUBJECT_RULES_REVIEW)
}

# Bodies of subresources, by (apiVersion, kind).
SUBRESOURCE_KINDS = {
    ("v1", "Binding"): BINDING,
    ("policy/v1", "Eviction"): EVICTION,
    ("autoscaling/v1", "Scale"): SCALE,
    ("authentication.k8s.io/v1", "TokenRequest"): TOKEN_REQUEST,
}
