"""Kubernetes protobuf request bodies, decoded into the dicts their JSON form gives.

The real kubectl's typed commands (``kubectl create deployment|configmap|...``,
``kubectl auth can-i``, ``kubectl create token``) send their objects as
``application/vnd.kubernetes.protobuf``. The apiserver works on JSON-shaped
dicts, so this module turns such a body into exactly the dict the same object
sent as JSON would have given.

A body is three layers::

    b"k8s\\x00"                      4 bytes of magic
    runtime.Unknown                  the envelope (a protobuf message)
      1 typeMeta {1 apiVersion, 2 kind}
      2 raw        the object itself (a protobuf message of that kind)
      3 contentEncoding, 4 contentType   (both empty from kubectl)

The wire format is read by hand (``Reader``): each field is a key
``(field number << 3) | wire type`` then a value - a varint (0), 8 bytes (1),
a length and that many bytes (2: strings, bytes, nested messages, packed
numbers) or 4 bytes (5). No generated code: what each field number means is
in ``SCHEMA`` below, a table written from upstream's ``generated.proto``
files (field numbers and types are upstream's facts).

Go's zero values make the one subtlety: the dict must be what Go's JSON
encoder writes for the same object (kubectl's ``--dry-run=client -o json``).
The Go protobuf encoder writes every plain (non-pointer) field, zeros
included, while Go's JSON encoder leaves zeros out when the field is tagged
``omitempty`` - most are. So a decoded ``""``, ``0`` or ``false`` is dropped,
unless the Go field is a pointer (``*`` in the table: ``replicas``,
``automountServiceAccountToken``...: present on the wire means set, zero or
not) or has no ``omitempty`` (``!`` in the table: ``"allowed": false``, and
``"rules": null`` for a list never sent). Nested messages are kept as the
wire has them (``"status": {}``, like Go), an empty Time is ``null`` (Go
cannot omit a struct) except ``creationTimestamp`` (``?``: Go's
``omitzero``), and items of lists and maps keep their zero values
(``apiGroups: [""]``, ``data: {"empty": ""}``).

Field numbers the table does not know are skipped (logged at debug level):
newer clients may send fields this server has no use for.
"""

from __future__ import annotations

import base64
import json
import logging
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

log = logging.getLogger("labkit.api.protobuf")

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"

# Wire types.
VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


class ProtobufError(ValueError):
    """The body is not a well-formed Kubernetes protobuf message (a 400)."""


class UnknownKind(ProtobufError):
    """A well-formed envelope around a kind this server has no table for (a 415)."""


# -- the table ---------------------------------------------------------------------
#
# One block per message: its name, then one line per field:
#     <field number> <json name> <type>
# Types: string int32 int64 bool bytes (base64 in JSON); Time MicroTime (RFC 3339);
# Quantity (its string); IntOrString (number or string); FieldsV1 (raw JSON);
# StringList (a message holding `repeated string items = 1`, JSON
# a plain list); or another message of the table. Prefixes: `*` a Go pointer
# (kept even when zero), `[]` repeated, `map<K,V>` a map, `inline` a Go embedded
# struct whose fields sit in the parent's JSON object. After the JSON name:
# `!` the Go field has no `omitempty` (its zero is written: false, 0, "", null;
# marked on scalars, lists, maps and pointers only - Go always writes plain
# structs), `?` it has `omitzero` (a zero Time is left out instead of null).

SCHEMA = """
meta.ObjectMeta
  1 name string
  2 generateName string
  3 namespace string
  4 selfLink string
  5 uid string
  6 resourceVersion string
  7 generation int64
  8 creationTimestamp? Time
  9 deletionTimestamp *Time
  10 deletionGracePeriodSeconds *int64
  11 labels map<string,string>
  12 annotations map<string,string>
  13 ownerReferences []meta.OwnerReference
  14 finalizers []string
  17 managedFields []meta.ManagedFieldsEntry
meta.OwnerReference
  5 apiVersion! string
  1 kind! string
  3 name! string
  4 uid! string
  6 controller *bool
  7 blockOwnerDeletion *bool
meta.ManagedFieldsEntry
  1 manager string
  2 operation string
  3 apiVersion string
  4 time *Time
  6 fieldsType string
  7 fieldsV1 *FieldsV1
  8 subresource string
meta.LabelSelector
  1 matchLabels map<string,string>
  2 matchExpressions []meta.LabelSelectorRequirement
meta.LabelSelectorRequirement
  1 key! string
  2 operator! string
  3 values []string
meta.Condition
  1 type! string
  2 status! string
  3 observedGeneration int64
  4 lastTransitionTime Time
  5 reason! string
  6 message! string
meta.DeleteOptions
  1 gracePeriodSeconds *int64
  2 preconditions *meta.Preconditions
  3 orphanDependents *bool
  4 propagationPolicy *string
  5 dryRun []string
  6 ignoreStoreReadErrorWithClusterBreakingPotential *bool
meta.Preconditions
  1 uid *string
  2 resourceVersion *string

core.Namespace
  1 metadata meta.ObjectMeta
  2 spec core.NamespaceSpec
  3 status core.NamespaceStatus
core.NamespaceSpec
  1 finalizers []string
core.NamespaceStatus
  1 phase string
  2 conditions []core.NamespaceCondition
core.NamespaceCondition
  1 type! string
  2 status! string
  4 lastTransitionTime Time
  5 reason string
  6 message string

core.Pod
  1 metadata meta.ObjectMeta
  2 spec core.PodSpec
  3 status core.PodStatus
core.PodTemplateSpec
  1 metadata meta.ObjectMeta
  2 spec core.PodSpec
core.PodSpec
  1 volumes []core.Volume
  20 initContainers []core.Container
  2 containers []core.Container
  34 ephemeralContainers []core.EphemeralContainer
  3 restartPolicy string
  4 terminationGracePeriodSeconds *int64
  5 activeDeadlineSeconds *int64
  6 dnsPolicy string
  7 nodeSelector map<string,string>
  8 serviceAccountName string
  9 serviceAccount string
  21 automountServiceAccountToken *bool
  10 nodeName string
  11 hostNetwork bool
  12 hostPID bool
  13 hostIPC bool
  27 shareProcessNamespace *bool
  14 securityContext *core.PodSecurityContext
  15 imagePullSecrets []core.LocalObjectReference
  16 hostname string
  17 subdomain string
  18 affinity *core.Affinity
  19 schedulerName string
  22 tolerations []core.Toleration
  23 hostAliases []core.HostAlias
  24 priorityClassName string
  25 priority *int32
  26 dnsConfig *core.PodDNSConfig
  28 readinessGates []core.PodReadinessGate
  29 runtimeClassName *string
  30 enableServiceLinks *bool
  31 preemptionPolicy *string
  32 overhead map<string,Quantity>
  33 topologySpreadConstraints []core.TopologySpreadConstraint
  35 setHostnameAsFQDN *bool
  36 os *core.PodOS
  37 hostUsers *bool
  38 schedulingGates []core.PodSchedulingGate
  39 resourceClaims []core.PodResourceClaim
  40 resources *core.ResourceRequirements
  41 hostnameOverride *string
core.Container
  1 name! string
  2 image string
  3 command []string
  4 args []string
  5 workingDir string
  6 ports []core.ContainerPort
  19 envFrom []core.EnvFromSource
  7 env []core.EnvVar
  8 resources core.ResourceRequirements
  23 resizePolicy []core.ContainerResizePolicy
  24 restartPolicy *string
  9 volumeMounts []core.VolumeMount
  21 volumeDevices []core.VolumeDevice
  10 livenessProbe *core.Probe
  11 readinessProbe *core.Probe
  22 startupProbe *core.Probe
  12 lifecycle *core.Lifecycle
  13 terminationMessagePath string
  20 terminationMessagePolicy string
  14 imagePullPolicy string
  15 securityContext *core.SecurityContext
  16 stdin bool
  17 stdinOnce bool
  18 tty bool
core.EphemeralContainer
  1 - inline core.Container
  2 targetContainerName string
core.ContainerPort
  1 name string
  2 hostPort int32
  3 containerPort! int32
  4 protocol string
  5 hostIP string
core.ContainerResizePolicy
  1 resourceName string
  2 restartPolicy string
core.EnvFromSource
  1 prefix string
  2 configMapRef *core.ConfigMapEnvSource
  3 secretRef *core.SecretEnvSource
core.ConfigMapEnvSource
  1 - inline core.LocalObjectReference
  2 optional *bool
core.SecretEnvSource
  1 - inline core.LocalObjectReference
  2 optional *bool
core.EnvVar
  1 name! string
  2 value string
  3 valueFrom *core.EnvVarSource
core.EnvVarSource
  1 fieldRef *core.ObjectFieldSelector
  2 resourceFieldRef *core.ResourceFieldSelector
  3 configMapKeyRef *core.ConfigMapKeySelector
  4 secretKeyRef *core.SecretKeySelector
  5 fileKeyRef *core.FileKeySelector
core.ObjectFieldSelector
  1 apiVersion string
  2 fieldPath! string
core.ResourceFieldSelector
  1 containerName string
  2 resource! string
  3 divisor Quantity
core.ConfigMapKeySelector
  1 - inline core.LocalObjectReference
  2 key! string
  3 optional *bool
core.SecretKeySelector
  1 - inline core.LocalObjectReference
  2 key! string
  3 optional *bool
core.FileKeySelector
  1 volumeName string
  2 path string
  3 key string
  4 optional *bool
core.LocalObjectReference
  1 name string
core.ObjectReference
  1 kind string
  2 namespace string
  3 name string
  4 uid string
  5 apiVersion string
  6 resourceVersion string
  7 fieldPath string
core.TypedLocalObjectReference
  1 apiGroup *string
  2 kind! string
  3 name! string
core.TypedObjectReference
  1 apiGroup *string
  2 kind! string
  3 name! string
  4 namespace *string
core.ResourceRequirements
  1 limits map<string,Quantity>
  2 requests map<string,Quantity>
  3 claims []core.ResourceClaim
core.ResourceClaim
  1 name! string
  2 request string
core.VolumeMount
  1 name! string
  2 readOnly bool
  7 recursiveReadOnly *string
  3 mountPath! string
  4 subPath string
  5 mountPropagation *string
  6 subPathExpr string
core.VolumeDevice
  1 name! string
  2 devicePath! string
core.Probe
  1 - inline core.ProbeHandler
  2 initialDelaySeconds int32
  3 timeoutSeconds int32
  4 periodSeconds int32
  5 successThreshold int32
  6 failureThreshold int32
  7 terminationGracePeriodSeconds *int64
core.ProbeHandler
  1 exec *core.ExecAction
  2 httpGet *core.HTTPGetAction
  3 tcpSocket *core.TCPSocketAction
  4 grpc *core.GRPCAction
core.ExecAction
  1 command []string
core.HTTPGetAction
  1 path string
  2 port IntOrString
  3 host string
  4 scheme string
  5 httpHeaders []core.HTTPHeader
core.HTTPHeader
  1 name! string
  2 value! string
core.TCPSocketAction
  1 port IntOrString
  2 host string
core.GRPCAction
  1 port! int32
  2 service *string
core.Lifecycle
  1 postStart *core.LifecycleHandler
  2 preStop *core.LifecycleHandler
  3 stopSignal *string
core.LifecycleHandler
  1 exec *core.ExecAction
  2 httpGet *core.HTTPGetAction
  3 tcpSocket *core.TCPSocketAction
  4 sleep *core.SleepAction
core.SleepAction
  1 seconds! int64
core.SecurityContext
  1 capabilities *core.Capabilities
  2 privileged *bool
  3 seLinuxOptions *core.SELinuxOptions
  10 windowsOptions *core.WindowsSecurityContextOptions
  4 runAsUser *int64
  8 runAsGroup *int64
  5 runAsNonRoot *bool
  6 readOnlyRootFilesystem *bool
  7 allowPrivilegeEscalation *bool
  9 procMount *string
  11 seccompProfile *core.SeccompProfile
  12 appArmorProfile *core.AppArmorProfile
core.PodSecurityContext
  1 seLinuxOptions *core.SELinuxOptions
  8 windowsOptions *core.WindowsSecurityContextOptions
  2 runAsUser *int64
  6 runAsGroup *int64
  3 runAsNonRoot *bool
  4 supplementalGroups []int64
  12 supplementalGroupsPolicy *string
  5 fsGroup *int64
  7 sysctls []core.Sysctl
  9 fsGroupChangePolicy *string
  10 seccompProfile *core.SeccompProfile
  11 appArmorProfile *core.AppArmorProfile
  13 seLinuxChangePolicy *string
core.Capabilities
  1 add []string
  2 drop []string
core.SELinuxOptions
  1 user string
  2 role string
  3 type string
  4 level string
core.WindowsSecurityContextOptions
  1 gmsaCredentialSpecName *string
  2 gmsaCredentialSpec *string
  3 runAsUserName *string
  4 hostProcess *bool
core.SeccompProfile
  1 type string
  2 localhostProfile *string
core.AppArmorProfile
  1 type string
  2 localhostProfile *string
core.Sysctl
  1 name! string
  2 value! string
core.Toleration
  1 key string
  2 operator string
  3 value string
  4 effect string
  5 tolerationSeconds *int64
core.Affinity
  1 nodeAffinity *core.NodeAffinity
  2 podAffinity *core.PodAffinity
  3 podAntiAffinity *core.PodAntiAffinity
core.NodeAffinity
  1 requiredDuringSchedulingIgnoredDuringExecution *core.NodeSelector
  2 preferredDuringSchedulingIgnoredDuringExecution []core.PreferredSchedulingTerm
core.NodeSelector
  1 nodeSelectorTerms! []core.NodeSelectorTerm
core.NodeSelectorTerm
  1 matchExpressions []core.NodeSelectorRequirement
  2 matchFields []core.NodeSelectorRequirement
core.NodeSelectorRequirement
  1 key! string
  2 operator! string
  3 values []string
core.PreferredSchedulingTerm
  1 weight! int32
  2 preference core.NodeSelectorTerm
core.PodAffinity
  1 requiredDuringSchedulingIgnoredDuringExecution []core.PodAffinityTerm
  2 preferredDuringSchedulingIgnoredDuringExecution []core.WeightedPodAffinityTerm
core.PodAntiAffinity
  1 requiredDuringSchedulingIgnoredDuringExecution []core.PodAffinityTerm
  2 preferredDuringSchedulingIgnoredDuringExecution []core.WeightedPodAffinityTerm
core.PodAffinityTerm
  1 labelSelector *meta.LabelSelector
  2 namespaces []string
  3 topologyKey! string
  4 namespaceSelector *meta.LabelSelector
  5 matchLabelKeys []string
  6 mismatchLabelKeys []string
core.WeightedPodAffinityTerm
  1 weight! int32
  2 podAffinityTerm core.PodAffinityTerm
core.TopologySpreadConstraint
  1 maxSkew! int32
  2 topologyKey! string
  3 whenUnsatisfiable! string
  4 labelSelector *meta.LabelSelector
  5 minDomains *int32
  6 nodeAffinityPolicy *string
  7 nodeTaintsPolicy *string
  8 matchLabelKeys []string
core.HostAlias
  1 ip string
  2 hostnames []string
core.PodDNSConfig
  1 nameservers []string
  2 searches []string
  3 options []core.PodDNSConfigOption
core.PodDNSConfigOption
  1 name string
  2 value *string
core.PodReadinessGate
  1 conditionType! string
core.PodOS
  1 name! string
core.PodSchedulingGate
  1 name! string
core.PodResourceClaim
  1 name! string
  3 resourceClaimName *string
  4 resourceClaimTemplateName *string
core.Volume
  1 name! string
  2 - inline core.VolumeSource
core.VolumeSource
  1 hostPath *core.HostPathVolumeSource
  2 emptyDir *core.EmptyDirVolumeSource
  6 secret *core.SecretVolumeSource
  7 nfs *core.NFSVolumeSource
  10 persistentVolumeClaim *core.PersistentVolumeClaimVolumeSource
  16 downwardAPI *core.DownwardAPIVolumeSource
  19 configMap *core.ConfigMapVolumeSource
  26 projected *core.ProjectedVolumeSource
  28 csi *core.CSIVolumeSource
  29 ephemeral *core.EphemeralVolumeSource
  30 image *core.ImageVolumeSource
core.HostPathVolumeSource
  1 path! string
  2 type *string
core.EmptyDirVolumeSource
  1 medium string
  2 sizeLimit *Quantity
core.SecretVolumeSource
  1 secretName string
  2 items []core.KeyToPath
  3 defaultMode *int32
  4 optional *bool
core.ConfigMapVolumeSource
  1 - inline core.LocalObjectReference
  2 items []core.KeyToPath
  3 defaultMode *int32
  4 optional *bool
core.KeyToPath
  1 key! string
  2 path! string
  3 mode *int32
core.NFSVolumeSource
  1 server! string
  2 path! string
  3 readOnly bool
core.PersistentVolumeClaimVolumeSource
  1 claimName! string
  2 readOnly bool
core.DownwardAPIVolumeSource
  1 items []core.DownwardAPIVolumeFile
  2 defaultMode *int32
core.DownwardAPIVolumeFile
  1 path! string
  2 fieldRef *core.ObjectFieldSelector
  3 resourceFieldRef *core.ResourceFieldSelector
  4 mode *int32
core.ProjectedVolumeSource
  1 sources []core.VolumeProjection
  2 defaultMode *int32
core.VolumeProjection
  1 secret *core.SecretProjection
  2 downwardAPI *core.DownwardAPIProjection
  3 configMap *core.ConfigMapProjection
  4 serviceAccountToken *core.ServiceAccountTokenProjection
core.SecretProjection
  1 - inline core.LocalObjectReference
  2 items []core.KeyToPath
  4 optional *bool
core.ConfigMapProjection
  1 - inline core.LocalObjectReference
  2 items []core.KeyToPath
  4 optional *bool
core.DownwardAPIProjection
  1 items []core.DownwardAPIVolumeFile
core.ServiceAccountTokenProjection
  1 audience string
  2 expirationSeconds *int64
  3 path! string
core.CSIVolumeSource
  1 driver! string
  2 readOnly *bool
  3 fsType *string
  4 volumeAttributes map<string,string>
  5 nodePublishSecretRef *core.LocalObjectReference
core.EphemeralVolumeSource
  1 volumeClaimTemplate *core.PersistentVolumeClaimTemplate
core.ImageVolumeSource
  1 reference string
  2 pullPolicy string
core.PersistentVolumeClaimTemplate
  1 metadata meta.ObjectMeta
  2 spec core.PersistentVolumeClaimSpec
core.PersistentVolumeClaim
  1 metadata meta.ObjectMeta
  2 spec core.PersistentVolumeClaimSpec
  3 status core.PersistentVolumeClaimStatus
core.PersistentVolumeClaimSpec
  1 accessModes []string
  4 selector *meta.LabelSelector
  2 resources core.VolumeResourceRequirements
  3 volumeName string
  5 storageClassName *string
  6 volumeMode *string
  7 dataSource *core.TypedLocalObjectReference
  8 dataSourceRef *core.TypedObjectReference
  9 volumeAttributesClassName *string
core.VolumeResourceRequirements
  1 limits map<string,Quantity>
  2 requests map<string,Quantity>
core.PersistentVolumeClaimStatus
  1 phase string
  2 accessModes []string
  3 capacity map<string,Quantity>
core.PodStatus
  17 observedGeneration int64
  1 phase string
  2 conditions []core.PodCondition
  3 message string
  4 reason string
  11 nominatedNodeName string
  5 hostIP string
  16 hostIPs []core.HostIP
  6 podIP string
  12 podIPs []core.PodIP
  7 startTime *Time
  10 initContainerStatuses []core.ContainerStatus
  8 containerStatuses []core.ContainerStatus
  9 qosClass string
  13 ephemeralContainerStatuses []core.ContainerStatus
  14 resize string
core.PodCondition
  1 type! string
  7 observedGeneration int64
  2 status! string
  3 lastProbeTime Time
  4 lastTransitionTime Time
  5 reason string
  6 message string
core.HostIP
  1 ip string
core.PodIP
  1 ip string
core.ContainerStatus
  1 name! string
  2 state core.ContainerState
  3 lastState core.ContainerState
  4 ready! bool
  5 restartCount! int32
  6 image! string
  7 imageID! string
  8 containerID string
  9 started *bool
  10 allocatedResources map<string,Quantity>
  11 resources *core.ResourceRequirements
core.ContainerState
  1 waiting *core.ContainerStateWaiting
  2 running *core.ContainerStateRunning
  3 terminated *core.ContainerStateTerminated
core.ContainerStateWaiting
  1 reason string
  2 message string
core.ContainerStateRunning
  1 startedAt Time
core.ContainerStateTerminated
  1 exitCode! int32
  2 signal int32
  3 reason string
  4 message string
  5 startedAt Time
  6 finishedAt Time
  7 containerID string
core.Binding
  1 metadata meta.ObjectMeta
  2 target core.ObjectReference

core.Node
  1 metadata meta.ObjectMeta
  2 spec core.NodeSpec
  3 status core.NodeStatus
core.NodeSpec
  1 podCIDR string
  7 podCIDRs []string
  3 providerID string
  4 unschedulable bool
  5 taints []core.Taint
  2 externalID string
core.Taint
  1 key! string
  2 value string
  3 effect! string
  4 timeAdded *Time
core.NodeStatus
  1 capacity map<string,Quantity>
  2 allocatable map<string,Quantity>
  3 phase string
  4 conditions []core.NodeCondition
  5 addresses []core.NodeAddress
  6 daemonEndpoints core.NodeDaemonEndpoints
  7 nodeInfo core.NodeSystemInfo
  8 images []core.ContainerImage
  9 volumesInUse []string
  10 volumesAttached []core.AttachedVolume
core.NodeCondition
  1 type! string
  2 status! string
  3 lastHeartbeatTime Time
  4 lastTransitionTime Time
  5 reason string
  6 message string
core.NodeAddress
  1 type! string
  2 address! string
core.NodeDaemonEndpoints
  1 kubeletEndpoint core.DaemonEndpoint
core.DaemonEndpoint
  1 Port! int32
core.NodeSystemInfo
  1 machineID! string
  2 systemUUID! string
  3 bootID! string
  4 kernelVersion! string
  5 osImage! string
  6 containerRuntimeVersion! string
  7 kubeletVersion! string
  8 kubeProxyVersion! string
  9 operatingSystem! string
  10 architecture! string
  11 swap *core.NodeSwapStatus
core.NodeSwapStatus
  1 capacity *int64
core.ContainerImage
  1 names []string
  2 sizeBytes int64
core.AttachedVolume
  1 name! string
  2 devicePath! string

core.Service
  1 metadata meta.ObjectMeta
  2 spec core.ServiceSpec
  3 status core.ServiceStatus
core.ServiceSpec
  1 ports []core.ServicePort
  2 selector map<string,string>
  3 clusterIP string
  18 clusterIPs []string
  4 type string
  5 externalIPs []string
  7 sessionAffinity string
  8 loadBalancerIP string
  9 loadBalancerSourceRanges []string
  10 externalName string
  11 externalTrafficPolicy string
  12 healthCheckNodePort int32
  13 publishNotReadyAddresses bool
  14 sessionAffinityConfig *core.SessionAffinityConfig
  19 ipFamilies []string
  17 ipFamilyPolicy *string
  20 allocateLoadBalancerNodePorts *bool
  21 loadBalancerClass *string
  22 internalTrafficPolicy *string
  23 trafficDistribution *string
core.ServicePort
  1 name string
  2 protocol string
  6 appProtocol *string
  3 port! int32
  4 targetPort IntOrString
  5 nodePort int32
core.SessionAffinityConfig
  1 clientIP *core.ClientIPConfig
core.ClientIPConfig
  1 timeoutSeconds *int32
core.ServiceStatus
  1 loadBalancer core.LoadBalancerStatus
  2 conditions []meta.Condition
core.LoadBalancerStatus
  1 ingress []core.LoadBalancerIngress
core.LoadBalancerIngress
  1 ip string
  2 hostname string
  3 ipMode *string
  4 ports []core.PortStatus
core.PortStatus
  1 port! int32
  2 protocol! string
  3 error *string
core.Endpoints
  1 metadata meta.ObjectMeta
  2 subsets []core.EndpointSubset
core.EndpointSubset
  1 addresses []core.EndpointAddress
  2 notReadyAddresses []core.EndpointAddress
  3 ports []core.EndpointPort
core.EndpointAddress
  1 ip! string
  3 hostname string
  4 nodeName *string
  2 targetRef *core.ObjectReference
core.EndpointPort
  1 name string
  2 port! int32
  3 protocol string
  4 appProtocol *string

core.LimitRange
  1 metadata meta.ObjectMeta
  2 spec core.LimitRangeSpec
core.LimitRangeSpec
  1 limits! []core.LimitRangeItem
core.LimitRangeItem
  1 type! string
  2 max map<string,Quantity>
  3 min map<string,Quantity>
  4 default map<string,Quantity>
  5 defaultRequest map<string,Quantity>
  6 maxLimitRequestRatio map<string,Quantity>

core.ConfigMap
  1 metadata meta.ObjectMeta
  4 immutable *bool
  2 data map<string,string>
  3 binaryData map<string,bytes>
core.Secret
  1 metadata meta.ObjectMeta
  5 immutable *bool
  2 data map<string,bytes>
  4 stringData map<string,string>
  3 type string
core.ServiceAccount
  1 metadata meta.ObjectMeta
  2 secrets []core.ObjectReference
  3 imagePullSecrets []core.LocalObjectReference
  4 automountServiceAccountToken *bool
core.ResourceQuota
  1 metadata meta.ObjectMeta
  2 spec core.ResourceQuotaSpec
  3 status core.ResourceQuotaStatus
core.ResourceQuotaSpec
  1 hard map<string,Quantity>
  2 scopes []string
  3 scopeSelector *core.ScopeSelector
core.ScopeSelector
  1 matchExpressions []core.ScopedResourceSelectorRequirement
core.ScopedResourceSelectorRequirement
  1 scopeName! string
  2 operator! string
  3 values []string
core.ResourceQuotaStatus
  1 hard map<string,Quantity>
  2 used map<string,Quantity>
core.Event
  1 metadata meta.ObjectMeta
  2 involvedObject core.ObjectReference
  3 reason string
  4 message string
  5 source core.EventSource
  6 firstTimestamp Time
  7 lastTimestamp Time
  8 count int32
  9 type string
  10 eventTime MicroTime
  11 series *core.EventSeries
  12 action string
  13 related *core.ObjectReference
  14 reportingComponent! string
  15 reportingInstance! string
core.EventSeries
  1 count int32
  2 lastObservedTime MicroTime
core.EventSource
  1 component string
  2 host string

apps.Deployment
  1 metadata meta.ObjectMeta
  2 spec apps.DeploymentSpec
  3 status apps.DeploymentStatus
apps.DeploymentSpec
  1 replicas *int32
  2 selector! *meta.LabelSelector
  3 template core.PodTemplateSpec
  4 strategy apps.DeploymentStrategy
  5 minReadySeconds int32
  6 revisionHistoryLimit *int32
  7 paused bool
  9 progressDeadlineSeconds *int32
  10 podReplacementPolicy *string
apps.DeploymentStrategy
  1 type string
  2 rollingUpdate *apps.RollingUpdateDeployment
apps.RollingUpdateDeployment
  1 maxUnavailable *IntOrString
  2 maxSurge *IntOrString
apps.DeploymentStatus
  1 observedGeneration int64
  2 replicas int32
  3 updatedReplicas int32
  7 readyReplicas int32
  4 availableReplicas int32
  5 unavailableReplicas int32
  9 terminatingReplicas *int32
  6 conditions []apps.DeploymentCondition
  8 collisionCount *int32
apps.DeploymentCondition
  1 type! string
  2 status! string
  6 lastUpdateTime Time
  7 lastTransitionTime Time
  4 reason string
  5 message string
apps.ReplicaSet
  1 metadata meta.ObjectMeta
  2 spec apps.ReplicaSetSpec
  3 status apps.ReplicaSetStatus
apps.ReplicaSetSpec
  1 replicas *int32
  4 minReadySeconds int32
  2 selector! *meta.LabelSelector
  3 template core.PodTemplateSpec
apps.ReplicaSetStatus
  1 replicas! int32
  2 fullyLabeledReplicas int32
  4 readyReplicas int32
  5 availableReplicas int32
  7 terminatingReplicas *int32
  3 observedGeneration int64
  6 conditions []apps.WorkloadCondition
apps.WorkloadCondition
  1 type! string
  2 status! string
  3 lastTransitionTime Time
  4 reason string
  5 message string
apps.DaemonSet
  1 metadata meta.ObjectMeta
  2 spec apps.DaemonSetSpec
  3 status apps.DaemonSetStatus
apps.DaemonSetSpec
  1 selector! *meta.LabelSelector
  2 template core.PodTemplateSpec
  3 updateStrategy apps.DaemonSetUpdateStrategy
  4 minReadySeconds int32
  6 revisionHistoryLimit *int32
apps.DaemonSetUpdateStrategy
  1 type string
  2 rollingUpdate *apps.RollingUpdateDaemonSet
apps.RollingUpdateDaemonSet
  1 maxUnavailable *IntOrString
  2 maxSurge *IntOrString
apps.DaemonSetStatus
  1 currentNumberScheduled! int32
  2 numberMisscheduled! int32
  3 desiredNumberScheduled! int32
  4 numberReady! int32
  5 observedGeneration int64
  6 updatedNumberScheduled int32
  7 numberAvailable int32
  8 numberUnavailable int32
  9 collisionCount *int32
  10 conditions []apps.WorkloadCondition
apps.StatefulSet
  1 metadata meta.ObjectMeta
  2 spec apps.StatefulSetSpec
  3 status apps.StatefulSetStatus
apps.StatefulSetSpec
  1 replicas *int32
  2 selector! *meta.LabelSelector
  3 template core.PodTemplateSpec
  4 volumeClaimTemplates []core.PersistentVolumeClaim
  5 serviceName string
  6 podManagementPolicy string
  7 updateStrategy apps.StatefulSetUpdateStrategy
  8 revisionHistoryLimit *int32
  9 minReadySeconds int32
  10 persistentVolumeClaimRetentionPolicy *apps.StatefulSetPersistentVolumeClaimRetentionPolicy
  11 ordinals *apps.StatefulSetOrdinals
apps.StatefulSetUpdateStrategy
  1 type string
  2 rollingUpdate *apps.RollingUpdateStatefulSetStrategy
apps.RollingUpdateStatefulSetStrategy
  1 partition *int32
  2 maxUnavailable *IntOrString
apps.StatefulSetPersistentVolumeClaimRetentionPolicy
  1 whenDeleted string
  2 whenScaled string
apps.StatefulSetOrdinals
  1 start int32
apps.StatefulSetStatus
  1 observedGeneration int64
  2 replicas! int32
  3 readyReplicas int32
  4 currentReplicas int32
  5 updatedReplicas int32
  6 currentRevision string
  7 updateRevision string
  9 collisionCount *int32
  10 conditions []apps.WorkloadCondition
  11 availableReplicas int32

batch.Job
  1 metadata meta.ObjectMeta
  2 spec batch.JobSpec
  3 status batch.JobStatus
batch.JobTemplateSpec
  1 metadata meta.ObjectMeta
  2 spec batch.JobSpec
batch.JobSpec
  1 parallelism *int32
  2 completions *int32
  3 activeDeadlineSeconds *int64
  11 podFailurePolicy *batch.PodFailurePolicy
  16 successPolicy *batch.SuccessPolicy
  7 backoffLimit *int32
  12 backoffLimitPerIndex *int32
  13 maxFailedIndexes *int32
  4 selector *meta.LabelSelector
  5 manualSelector *bool
  6 template core.PodTemplateSpec
  8 ttlSecondsAfterFinished *int32
  9 completionMode *string
  10 suspend *bool
  14 podReplacementPolicy *string
  15 managedBy *string
batch.PodFailurePolicy
  1 rules! []batch.PodFailurePolicyRule
batch.PodFailurePolicyRule
  1 action! string
  2 onExitCodes *batch.PodFailurePolicyOnExitCodesRequirement
  3 onPodConditions []batch.PodFailurePolicyOnPodConditionsPattern
batch.PodFailurePolicyOnExitCodesRequirement
  1 containerName *string
  2 operator! string
  3 values! []int32
batch.PodFailurePolicyOnPodConditionsPattern
  1 type! string
  2 status string
batch.SuccessPolicy
  1 rules! []batch.SuccessPolicyRule
batch.SuccessPolicyRule
  1 succeededIndexes *string
  2 succeededCount *int32
batch.JobStatus
  1 conditions []batch.JobCondition
  2 startTime *Time
  3 completionTime *Time
  4 active int32
  5 succeeded int32
  6 failed int32
  11 terminating *int32
  7 completedIndexes string
  10 failedIndexes *string
  8 uncountedTerminatedPods *batch.UncountedTerminatedPods
  9 ready *int32
batch.JobCondition
  1 type! string
  2 status! string
  3 lastProbeTime Time
  4 lastTransitionTime Time
  5 reason string
  6 message string
batch.UncountedTerminatedPods
  1 succeeded []string
  2 failed []string
batch.CronJob
  1 metadata meta.ObjectMeta
  2 spec batch.CronJobSpec
  3 status batch.CronJobStatus
batch.CronJobSpec
  1 schedule! string
  8 timeZone *string
  2 startingDeadlineSeconds *int64
  3 concurrencyPolicy string
  4 suspend *bool
  5 jobTemplate batch.JobTemplateSpec
  6 successfulJobsHistoryLimit *int32
  7 failedJobsHistoryLimit *int32
batch.CronJobStatus
  1 active []core.ObjectReference
  4 lastScheduleTime *Time
  5 lastSuccessfulTime *Time

rbac.Role
  1 metadata meta.ObjectMeta
  2 rules! []rbac.PolicyRule
rbac.ClusterRole
  1 metadata meta.ObjectMeta
  2 rules! []rbac.PolicyRule
  3 aggregationRule *rbac.AggregationRule
rbac.AggregationRule
  1 clusterRoleSelectors []meta.LabelSelector
rbac.PolicyRule
  1 verbs! []string
  2 apiGroups []string
  3 resources []string
  4 resourceNames []string
  5 nonResourceURLs []string
rbac.RoleBinding
  1 metadata meta.ObjectMeta
  2 subjects []rbac.Subject
  3 roleRef rbac.RoleRef
rbac.ClusterRoleBinding
  1 metadata meta.ObjectMeta
  2 subjects []rbac.Subject
  3 roleRef rbac.RoleRef
rbac.Subject
  1 kind! string
  2 apiGroup string
  3 name! string
  4 namespace string
rbac.RoleRef
  1 apiGroup! string
  2 kind! string
  3 name! string

coordination.Lease
  1 metadata meta.ObjectMeta
  2 spec coordination.LeaseSpec
coordination.LeaseSpec
  1 holderIdentity *string
  2 leaseDurationSeconds *int32
  3 acquireTime *MicroTime
  4 renewTime *MicroTime
  5 leaseTransitions *int32
  6 strategy *string
  7 preferredHolder *string

discovery.EndpointSlice
  1 metadata meta.ObjectMeta
  4 addressType! string
  2 endpoints! []discovery.Endpoint
  3 ports! []discovery.EndpointPort
discovery.Endpoint
  1 addresses! []string
  2 conditions discovery.EndpointConditions
  3 hostname *string
  4 targetRef *core.ObjectReference
  5 deprecatedTopology map<string,string>
  6 nodeName *string
  7 zone *string
  8 hints *discovery.EndpointHints
discovery.EndpointConditions
  1 ready *bool
  2 serving *bool
  3 terminating *bool
discovery.EndpointHints
  1 forZones []discovery.ForZone
  2 forNodes []discovery.ForNode
discovery.ForZone
  1 name! string
discovery.ForNode
  1 name! string
discovery.EndpointPort
  1 name *string
  2 protocol *string
  3 port *int32
  4 appProtocol *string

policy.PodDisruptionBudget
  1 metadata meta.ObjectMeta
  2 spec policy.PodDisruptionBudgetSpec
  3 status policy.PodDisruptionBudgetStatus
policy.PodDisruptionBudgetSpec
  1 minAvailable *IntOrString
  2 selector *meta.LabelSelector
  3 maxUnavailable *IntOrString
  4 unhealthyPodEvictionPolicy *string
policy.PodDisruptionBudgetStatus
  1 observedGeneration int64
  2 disruptedPods map<string,Time>
  3 disruptionsAllowed! int32
  4 currentHealthy! int32
  5 desiredHealthy! int32
  6 expectedPods! int32
  7 conditions []meta.Condition
policy.Eviction
  1 metadata meta.ObjectMeta
  2 deleteOptions *meta.DeleteOptions

events.Event
  1 metadata meta.ObjectMeta
  2 eventTime MicroTime
  3 series *events.EventSeries
  4 reportingController string
  5 reportingInstance string
  6 action string
  7 reason string
  8 regarding core.ObjectReference
  9 related *core.ObjectReference
  10 note string
  11 type string
  12 deprecatedSource core.EventSource
  13 deprecatedFirstTimestamp Time
  14 deprecatedLastTimestamp Time
  15 deprecatedCount int32
events.EventSeries
  1 count int32
  2 lastObservedTime MicroTime

autoscaling.Scale
  1 metadata meta.ObjectMeta
  2 spec autoscaling.ScaleSpec
  3 status autoscaling.ScaleStatus
autoscaling.ScaleSpec
  1 replicas int32
autoscaling.ScaleStatus
  1 replicas! int32
  2 selector string

authorization.SelfSubjectAccessReview
  1 metadata meta.ObjectMeta
  2 spec authorization.SelfSubjectAccessReviewSpec
  3 status authorization.SubjectAccessReviewStatus
authorization.SelfSubjectAccessReviewSpec
  1 resourceAttributes *authorization.ResourceAttributes
  2 nonResourceAttributes *authorization.NonResourceAttributes
authorization.SubjectAccessReview
  1 metadata meta.ObjectMeta
  2 spec authorization.SubjectAccessReviewSpec
  3 status authorization.SubjectAccessReviewStatus
authorization.LocalSubjectAccessReview
  1 metadata meta.ObjectMeta
  2 spec authorization.SubjectAccessReviewSpec
  3 status authorization.SubjectAccessReviewStatus
authorization.SubjectAccessReviewSpec
  1 resourceAttributes *authorization.ResourceAttributes
  2 nonResourceAttributes *authorization.NonResourceAttributes
  3 user string
  4 groups []string
  5 extra map<string,StringList>
  6 uid string
authorization.ResourceAttributes
  1 namespace string
  2 verb string
  3 group string
  4 version string
  5 resource string
  6 subresource string
  7 name string
  8 fieldSelector *authorization.FieldSelectorAttributes
  9 labelSelector *authorization.LabelSelectorAttributes
authorization.FieldSelectorAttributes
  1 rawSelector string
  2 requirements []authorization.FieldSelectorRequirement
authorization.FieldSelectorRequirement
  1 key string
  2 operator string
  3 values []string
authorization.LabelSelectorAttributes
  1 rawSelector string
  2 requirements []meta.LabelSelectorRequirement
authorization.NonResourceAttributes
  1 path string
  2 verb string
authorization.SubjectAccessReviewStatus
  1 allowed! bool
  4 denied bool
  2 reason string
  3 evaluationError string
authorization.SelfSubjectRulesReview
  1 metadata meta.ObjectMeta
  2 spec authorization.SelfSubjectRulesReviewSpec
  3 status authorization.SubjectRulesReviewStatus
authorization.SelfSubjectRulesReviewSpec
  1 namespace string
authorization.SubjectRulesReviewStatus
  1 resourceRules! []authorization.ResourceRule
  2 nonResourceRules! []authorization.NonResourceRule
  3 incomplete! bool
  4 evaluationError string
authorization.ResourceRule
  1 verbs! []string
  2 apiGroups []string
  3 resources []string
  4 resourceNames []string
authorization.NonResourceRule
  1 verbs! []string
  2 nonResourceURLs []string

authentication.TokenRequest
  1 metadata meta.ObjectMeta
  2 spec authentication.TokenRequestSpec
  3 status authentication.TokenRequestStatus
authentication.TokenRequestSpec
  1 audiences! []string
  4 expirationSeconds *int64
  3 boundObjectRef *authentication.BoundObjectReference
authentication.BoundObjectReference
  1 kind string
  2 apiVersion string
  3 name string
  4 uid string
authentication.TokenRequestStatus
  1 token! string
  2 expirationTimestamp Time
authentication.TokenReview
  1 metadata meta.ObjectMeta
  2 spec authentication.TokenReviewSpec
  3 status authentication.TokenReviewStatus
authentication.TokenReviewSpec
  1 token string
  2 audiences []string
authentication.TokenReviewStatus
  1 authenticated bool
  2 user authentication.UserInfo
  4 audiences []string
  3 error string
authentication.UserInfo
  1 username string
  2 uid string
  3 groups []string
  4 extra map<string,StringList>
authentication.SelfSubjectReview
  1 metadata meta.ObjectMeta
  2 status authentication.SelfSubjectReviewStatus
authentication.SelfSubjectReviewStatus
  1 userInfo authentication.UserInfo
"""

# Top-level kinds: (apiVersion, kind) -> message. DeleteOptions is accepted in any group.
KINDS: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "core.Namespace",
    ("v1", "Pod"): "core.Pod",
    ("v1", "Node"): "core.Node",
    ("v1", "Service"): "core.Service",
    ("v1", "Endpoints"): "core.Endpoints",
    ("v1", "ConfigMap"): "core.ConfigMap",
    ("v1", "Secret"): "core.Secret",
    ("v1", "ServiceAccount"): "core.ServiceAccount",
    ("v1", "ResourceQuota"): "core.ResourceQuota",
    ("v1", "LimitRange"): "core.LimitRange",
    ("v1", "Event"): "core.Event",
    ("v1", "Binding"): "core.Binding",
    ("events.k8s.io/v1", "Event"): "events.Event",
    ("coordination.k8s.io/v1", "Lease"): "coordination.Lease",
    ("apps/v1", "Deployment"): "apps.Deployment",
    ("apps/v1", "ReplicaSet"): "apps.ReplicaSet",
    ("apps/v1", "DaemonSet"): "apps.DaemonSet",
    ("apps/v1", "StatefulSet"): "apps.StatefulSet",
    ("batch/v1", "Job"): "batch.Job",
    ("batch/v1", "CronJob"): "batch.CronJob",
    ("rbac.authorization.k8s.io/v1", "Role"): "rbac.Role",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "rbac.RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "rbac.ClusterRole",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "rbac.ClusterRoleBinding",
    ("discovery.k8s.io/v1", "EndpointSlice"): "discovery.EndpointSlice",
    ("policy/v1", "PodDisruptionBudget"): "policy.PodDisruptionBudget",
    ("policy/v1", "Eviction"): "policy.Eviction",
    ("autoscaling/v1", "Scale"): "autoscaling.Scale",
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "authorization.SelfSubjectAccessReview",
    ("authorization.k8s.io/v1", "SubjectAccessReview"): "authorization.SubjectAccessReview",
    ("authorization.k8s.io/v1", "LocalSubjectAccessReview"): "authorization.LocalSubjectAccessReview",
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): "authorization.SelfSubjectRulesReview",
    ("authentication.k8s.io/v1", "TokenRequest"): "authentication.TokenRequest",
    ("authentication.k8s.io/v1", "TokenReview"): "authentication.TokenReview",
    ("authentication.k8s.io/v1", "SelfSubjectReview"): "authentication.SelfSubjectReview",
}
ANY_GROUP_KINDS = {"DeleteOptions": "meta.DeleteOptions"}

SCALARS = ("string", "int32", "int64", "bool", "bytes")
# Types with their own JSON form (see _special).
SPECIAL = ("Time", "MicroTime", "Quantity", "IntOrString", "FieldsV1", "StringList")


@dataclass(frozen=True)
class Field:
    json: str  # "-" for an inline (embedded) struct
    type: str  # a scalar, a SPECIAL name or a message name; for maps the value type
    pointer: bool = False
    repeated: bool = False
    map_key: str | None = None  # set for map<K,V>
    inline: bool = False
    always: bool = False  # `!`: no omitempty in Go, the zero value is written
    omitzero: bool = False  # `?`: a zero struct (Time) is left out


def _parse_type(text: str) -> dict[str, Any]:
    if text.startswith("inline "):
        return {"type": text[len("inline "):], "inline": True}
    if text.startswith("map<") and text.endswith(">"):
        key, value = text[4:-1].split(",")
        return {"type": value, "map_key": key}
    if text.startswith("[]"):
        return {"type": text[2:], "repeated": True}
    if text.startswith("*"):
        return {"type": text[1:], "pointer": True}
    return {"type": text}


def parse_schema(text: str) -> dict[str, dict[int, Field]]:
    """The SCHEMA text as {message name: {field number: Field}}."""
    messages: dict[str, dict[int, Field]] = {}
    current: dict[int, Field] | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if not line.startswith(" "):
            current = messages.setdefault(line.strip(), {})
            continue
        number, name, type_text = line.split(maxsplit=2)
        assert current is not None, f"schema line {lineno}: a field before any message"
        marks = {"always": name.endswith("!"), "omitzero": name.endswith("?")}
        current[int(number)] = Field(json=name.rstrip("!?"), **marks, **_parse_type(type_text.strip()))
    for message, fields in messages.items():
        for field in fields.values():
            known = field.type in SCALARS or field.type in SPECIAL or field.type in messages
            assert known, f"schema: {message}.{field.json} has unknown type {field.type}"
    return messages


MESSAGES = parse_schema(SCHEMA)


# -- the wire format ---------------------------------------------------------------

class Reader:
    """Fields of one protobuf message: ``for number, wire_type, value in Reader(data)``.

    ``value`` is an int for varints and fixed-size numbers, bytes for
    length-delimited fields.
    """

    def __init__(self, data: bytes, path: str = ""):
        self.data = memoryview(data)
        self.pos = 0
        self.path = path or "the body"

    def fail(self, problem: str) -> ProtobufError:
        return ProtobufError(f"{self.path}: {problem} (at byte {self.pos})")

    def varint(self) -> int:
        result, shift = 0, 0
        while True:
            if self.pos >= len(self.data):
                raise self.fail("truncated varint")
            byte = self.data[self.pos]
            self.pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
            if shift >= 70:
                raise self.fail("varint longer than 10 bytes")

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise self.fail(f"field of {size} bytes runs past the end of the message")
        chunk = bytes(self.data[self.pos:self.pos + size])
        self.pos += size
        return chunk

    def __iter__(self):
        while self.pos < len(self.data):
            key = self.varint()
            number, wire_type = key >> 3, key & 7
            if number == 0:
                raise self.fail("field number 0")
            if wire_type == VARINT:
                value: int | bytes = self.varint()
            elif wire_type == FIXED64:
                value = struct.unpack("<Q", self.take(8))[0]
            elif wire_type == LENGTH:
                value = self.take(self.varint())
            elif wire_type == FIXED32:
                value = struct.unpack("<I", self.take(4))[0]
            else:
                raise self.fail(f"field {number} has unsupported wire type {wire_type}")
            yield number, wire_type, value


def _signed(value: int, bits: int) -> int:
    """A varint as Go's int32/int64 (negative numbers travel as 64-bit two's complement)."""
    value &= (1 << 64) - 1
    if value >= 1 << 63:
        value -= 1 << 64
    if bits == 32 and not -(1 << 31) <= value < (1 << 31):
        raise ValueError(f"{value} does not fit an int32")
    return value


# -- envelope and objects ----------------------------------------------------------

def decode(body: bytes) -> dict[str, Any]:
    """A protobuf request body (magic + runtime.Unknown) as the JSON-shaped dict of its object."""
    if not body.startswith(MAGIC):
        raise ProtobufError(f"the body does not start with the Kubernetes protobuf prefix {MAGIC!r} "
                            f"(got {bytes(body[:4])!r})")
    api_version = kind = content_encoding = content_type = ""
    raw = b""
    for number, wire_type, value in Reader(body[len(MAGIC):], "runtime.Unknown"):
        if wire_type != LENGTH:
            raise ProtobufError(f"runtime.Unknown: field {number} should be length-delimited")
        if number == 1:
            for sub, sub_wire, sub_value in Reader(value, "runtime.Unknown.typeMeta"):
                if sub_wire == LENGTH and sub == 1:
                    api_version = _text(sub_value, "typeMeta.apiVersion")
                elif sub_wire == LENGTH and sub == 2:
                    kind = _text(sub_value, "typeMeta.kind")
        elif number == 2:
            raw = value
        elif number == 3:
            content_encoding = _text(value, "runtime.Unknown.contentEncoding")
        elif number == 4:
            content_type = _text(value, "runtime.Unknown.contentType")
    if content_encoding:
        raise ProtobufError(f'contentEncoding "{content_encoding}" is not supported (only none)')
    if content_type and content_type != MEDIA_TYPE:
        raise ProtobufError(f'the envelope holds "{content_type}", not {MEDIA_TYPE}')
    if not kind:
        raise ProtobufError("the envelope has no typeMeta.kind")
    message = KINDS.get((api_version, kind)) or ANY_GROUP_KINDS.get(kind)
    if message is None:
        raise UnknownKind(f'protobuf bodies of kind "{kind}" in "{api_version}" are not supported by this '
                          f"server: send it as application/json")
    obj: dict[str, Any] = {"kind": kind, "apiVersion": api_version}
    obj.update(decode_message(raw, message))
    return obj


def decode_message(data: bytes, message: str, path: str = "") -> dict[str, Any]:
    """One message of the table as its JSON object."""
    fields = MESSAGES[message]
    out: dict[str, Any] = {}
    for number, wire_type, value in Reader(data, path or message):
        field = fields.get(number)
        if field is None:
            log.debug("skipping unknown field %d (wire type %d) of %s at %s", number, wire_type, message,
                      path or "the object")
            continue
        where = f"{path}.{field.json}" if path else field.json
        if field.inline:
            _merge(out, decode_message(_bytes(value, wire_type, where), field.type, path))
        elif field.map_key is not None:
            key, item = _map_entry(_bytes(value, wire_type, where), field, where)
            out.setdefault(field.json, {})[key] = item
        elif field.repeated:
            items = out.setdefault(field.json, [])
            if wire_type == LENGTH and field.type in ("int32", "int64", "bool"):
                packed = Reader(value, where)  # packed numbers: one length, many varints
                while packed.pos < len(packed.data):
                    items.append(_value(field.type, VARINT, packed.varint(), f"{where}[{len(items)}]"))
            else:
                items.append(_value(field.type, wire_type, value, f"{where}[{len(items)}]"))
        else:
            decoded = _value(field.type, wire_type, value, where)
            if isinstance(decoded, dict) and isinstance(out.get(field.json), dict):
                _merge(out[field.json], decoded)  # a message sent twice is merged, as protobuf says
            elif field.pointer or field.always or not _omitted_when_zero(field, decoded):
                out[field.json] = decoded
            else:
                out.pop(field.json, None)  # a later zero replaces an earlier value, as in Go
    for field in fields.values():
        if field.always and field.json not in out:
            # not on the wire: a nil list, map or pointer (Go writes null), or a plain scalar (its zero)
            plain_scalar = field.type in SCALARS and not (field.pointer or field.repeated or field.map_key)
            out[field.json] = _zero(field.type) if plain_scalar else None
    return out


def _merge(into: dict[str, Any], later: dict[str, Any]) -> None:
    """Protobuf's rule for a repeated occurrence of a message: later scalars win, lists grow, messages merge."""
    for key, value in later.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif isinstance(value, list) and isinstance(into.get(key), list):
            into[key].extend(value)
        elif value is None and into.get(key) is not None:
            continue  # absent from the later occurrence (a `!` field's null): the earlier value stays
        else:
            into[key] = value


def _omitted_when_zero(field: Field, value: Any) -> bool:
    """A plain Go field at its zero value that Go's JSON leaves out (omitempty, omitzero)."""
    if field.type in SCALARS:
        return value in ("", 0, False)  # bytes are base64 text by now
    return field.omitzero and value is None


def _map_entry(data: bytes, field: Field, where: str) -> tuple[str, Any]:
    """A map entry is a small message: key = 1, value = 2 (each may be absent: zero value)."""
    key: Any = _zero(field.map_key)
    item: Any = _zero(field.type)
    for number, wire_type, value in Reader(data, where):
        if number == 1:
            key = _value(field.map_key, wire_type, value, f"{where} key")
        elif number == 2:
            item = _value(field.type, wire_type, value, f"{where}[{key}]")
    return str(key), item


def _zero(type_: str) -> Any:
    if type_ in MESSAGES:
        return {}
    return {"string": "", "int32": 0, "int64": 0, "bool": False, "bytes": "", "Quantity": "0",
            "IntOrString": 0, "StringList": [], "Time": None, "MicroTime": None}.get(type_)


def _value(type_: str, wire_type: int, value: int | bytes, where: str) -> Any:
    """One field value of ``type_`` as JSON data."""
    if type_ in ("int32", "int64", "bool"):
        if wire_type != VARINT:
            raise ProtobufError(f"{where}: expected a varint ({type_}), got wire type {wire_type}")
        if type_ == "bool":
            return value != 0
        try:
            return _signed(value, 32 if type_ == "int32" else 64)
        except ValueError as exc:
            raise ProtobufError(f"{where}: {exc}") from None
    data = _bytes(value, wire_type, where)
    if type_ == "string":
        return _text(data, where)
    if type_ == "bytes":
        return base64.b64encode(data).decode("ascii")
    if type_ in SPECIAL:
        return _special(type_, data, where)
    return decode_message(data, type_, where)


def _bytes(value: int | bytes, wire_type: int, where: str) -> bytes:
    if wire_type != LENGTH:
        raise ProtobufError(f"{where}: expected a length-delimited value, got wire type {wire_type}")
    return value  # type: ignore[return-value]


def _text(data: bytes, where: str) -> str:
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtobufError(f"{where}: string is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None


def _special(type_: str, data: bytes, where: str) -> Any:
    """Types whose JSON form is not an object of their protobuf fields."""
    if type_ in ("Time", "MicroTime"):
        if not data:
            return None  # Go's zero time travels as an empty message; its JSON is null
        seconds = nanos = 0
        for number, wire_type, value in Reader(data, where):
            if number == 1:
                seconds = _value("int64", wire_type, value, f"{where}.seconds")
            elif number == 2:
                nanos = _value("int32", wire_type, value, f"{where}.nanos")
        return _rfc3339(seconds, nanos, micro=type_ == "MicroTime", where=where)
    if type_ == "Quantity":
        text = ""
        for number, wire_type, value in Reader(data, where):
            if number == 1:
                text = _value("string", wire_type, value, where)
        return text or "0"
    if type_ == "IntOrString":
        kind, int_val, str_val = 0, 0, ""
        for number, wire_type, value in Reader(data, where):
            if number == 1:
                kind = _value("int64", wire_type, value, f"{where}.type")
            elif number == 2:
                int_val = _value("int32", wire_type, value, f"{where}.intVal")
            elif number == 3:
                str_val = _value("string", wire_type, value, f"{where}.strVal")
        if kind not in (0, 1):
            raise ProtobufError(f"{where}: IntOrString type {kind} is neither 0 (int) nor 1 (string)")
        return str_val if kind == 1 else int_val
    if type_ == "FieldsV1":
        raw = b""
        for number, wire_type, value in Reader(data, where):
            if number == 1:
                raw = _bytes(value, wire_type, where)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ProtobufError(f"{where}: raw value is not JSON ({exc})") from None
    if type_ == "StringList":
        return [_value("string", wire_type, value, f"{where}[{i}]")
                for i, (number, wire_type, value) in enumerate(Reader(data, where)) if number == 1]
    raise AssertionError(type_)


def _rfc3339(seconds: int, nanos: int, micro: bool, where: str) -> str:
    """metav1.Time is whole seconds in JSON; metav1.MicroTime has six fraction digits."""
    if not 0 <= nanos < 1_000_000_000:
        raise ProtobufError(f"{where}: nanos {nanos} out of range 0..999999999")
    try:
        moment = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds)
    except OverflowError:
        raise ProtobufError(f"{where}: seconds {seconds} out of range") from None
    text = f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}"  # %Y does not pad years before 1000
    if micro:
        text += f".{nanos // 1000:06d}"
    return text + "Z"
