"""The Node authorizer and the NodeRestriction admission plugin: a kubelet reaches only its own things.

Every kubelet authenticates as ``system:node:<name>`` in group
``system:nodes`` (its client certificate says so). Giving all kubelets the
``system:node`` role would let one node read every Secret of the cluster;
instead two pieces narrow it to what that node runs:

**Node authorizer** (``--authorization-mode=Node``), decides first:

- its Node object: get/list/watch only its own name (a list needs
  ``fieldSelector=metadata.name=<node>``); create/update/patch (NodeRestriction
  then pins the name) and ``nodes/status``;
- pods: get a pod bound to it, list/watch with ``fieldSelector=spec.nodeName=<node>``,
  update ``pods/status``, create/delete mirror pods, create ``pods/eviction``
  (NodeRestriction checks each is its own);
- secrets, configmaps: get (or list/watch one name) only when a pod bound to
  the node uses it (volume, env, envFrom, imagePullSecrets, projected);
  persistentvolumeclaims the same (get, and update/patch of ``/status``);
  ``serviceaccounts/token`` only for a service account one of its pods runs as;
- its Lease ``kube-node-lease/<node>``;
- anything else: the static ``system:node`` rules (events, services, ...).

"Bound to the node" is looked up directly in storage (the pods of that
namespace whose ``spec.nodeName`` is the node): one read per check, always
current. Upstream keeps a graph fed by informers instead.

**NodeRestriction** (admission) checks the writes the authorizer could not
see into: a node creates or changes only its own Node (and not the labels
reserved for administrators: ``node-restriction.kubernetes.io/`` and unknown
``kubernetes.io``/``k8s.io`` ones, nor its taints), creates only mirror pods
bound to and owned by itself that use no secrets, configmaps, claims or service account,
updates status and evicts only pods bound to itself, and writes only its own
Lease.
"""

from __future__ import annotations

from labkit.api import errors, registry
from labkit.api.errors import StatusError
from labkit.api.selectors import FieldSelector
from labkit.apiserver.admission import CREATE, DELETE, UPDATE, Attributes as AdmissionAttributes, BasePlugin
from labkit.apiserver.auth import ALLOW, NO_OPINION, Attributes, UserInfo
from labkit.apiserver.auth.bootstrap_policy import node_rules
from labkit.apiserver.auth.rbac import rules_allow

NODE_USER_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
NODE_LEASE_NAMESPACE = "kube-node-lease"
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"

PODS = registry.lookup("", "v1", "pods")
NODES = registry.lookup("", "v1", "nodes")


def node_identity(user: UserInfo | None) -> tuple[str, bool]:
    """(node name, is a node): ``system:node:<name>`` in group ``system:nodes``."""
    if user is None or not user.name.startswith(NODE_USER_PREFIX) or NODES_GROUP not in user.groups:
        return "", False
    return user.name[len(NODE_USER_PREFIX):], True


# -- what a pod uses ---------------------------------------------------------------------


def _containers(spec: dict) -> list[dict]:
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or []),
            *(spec.get("ephemeralContainers") or [])]


def pod_secret_names(pod: dict) -> set[str]:
    spec = pod.get("spec") or {}
    names = {ref.get("name") for ref in spec.get("imagePullSecrets") or []}
    for c in _containers(spec):
        for env in c.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                names.add(ref.get("name"))
        for source in c.get("envFrom") or []:
            if source.get("secretRef"):
                names.add(source["secretRef"].get("name"))
    for volume in spec.get("volumes") or []:
        if volume.get("secret"):
            names.add(volume["secret"].get("secretName"))
        for source in (volume.get("projected") or {}).get("sources") or []:
            if source.get("secret"):
                names.add(source["secret"].get("name"))
        for plugin, field in (("azureFile", "secretName"),):
            if volume.get(plugin):
                names.add(volume[plugin].get(field))
        for plugin in ("cephfs", "cinder", "flexVolume", "iscsi", "rbd", "scaleIO", "storageos"):
            ref = (volume.get(plugin) or {}).get("secretRef")
            if ref:
                names.add(ref.get("name"))
        ref = (volume.get("csi") or {}).get("nodePublishSecretRef")
        if ref:
            names.add(ref.get("name"))
    names.discard(None)
    names.discard("")
    return names


def pod_config_map_names(pod: dict) -> set[str]:
    spec = pod.get("spec") or {}
    names: set = set()
    for c in _containers(spec):
        for env in c.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("configMapKeyRef")
            if ref:
                names.add(ref.get("name"))
        for source in c.get("envFrom") or []:
            if source.get("configMapRef"):
                names.add(source["configMapRef"].get("name"))
    for volume in spec.get("volumes") or []:
        if volume.get("configMap"):
            names.add(volume["configMap"].get("name"))
        for source in (volume.get("projected") or {}).get("sources") or []:
            if source.get("configMap"):
                names.add(source["configMap"].get("name"))
    names.discard(None)
    names.discard("")
    return names


def pod_claim_names(pod: dict) -> set[str]:
    """PersistentVolumeClaims: named ones, and the ``<pod>-<volume>`` claim of a generic ephemeral volume."""
    names = set()
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        if volume.get("persistentVolumeClaim"):
            names.add(volume["persistentVolumeClaim"].get("claimName"))
        if volume.get("ephemeral"):
            names.add(f'{pod["metadata"]["name"]}-{volume.get("name")}')
    names.discard(None)
    return names


def pod_service_account(pod: dict) -> str:
    spec = pod.get("spec") or {}
    return spec.get("serviceAccountName") or spec.get("serviceAccount") or ""


USES = {
    "secrets": pod_secret_names,
    "configmaps": pod_config_map_names,
    "persistentvolumeclaims": pod_claim_names,
    "serviceaccounts": lambda pod: {pod_service_account(pod)} - {""},
}


def _selected_value(selector: str, field: str) -> str | None:
    """The value ``field`` must equal in a fieldSelector, if it pins one (bad selectors pin nothing)."""
    if not selector:
        return None
    try:
        return FieldSelector.parse(selector, PODS).exact_value(field)
    except StatusError:
        return None


# -- the authorizer --------------------------------------------------------------------------


class NodeAuthorizer:
    """``--authorization-mode=Node``."""

    name = "Node"

    def __init__(self, storage):
        self.storage = storage
        self.rules = node_rules()

    async def authorize(self, attrs: Attributes) -> tuple[str, str]:
        node, is_node = node_identity(attrs.user)
        if not is_node:
            return NO_OPINION, ""
        if not node:
            return NO_OPINION, f'unknown node for user "{attrs.user.name}"'
        if attrs.resource_request:
            resource = (attrs.api_group, attrs.resource)
            if resource in (("", "secrets"), ("", "configmaps")):
                return await self._read_namespaced_object(node, attrs)
            if resource == ("", "persistentvolumeclaims"):
                if attrs.subresource == "status":
                    if attrs.verb not in ("update", "patch"):
                        return NO_OPINION, "can only get/update/patch this type"
                    return await self._related(node, attrs)
                return await self._get(node, attrs)
            if resource == ("", "persistentvolumes"):
                return NO_OPINION, f"no relationship found between node '{node}' and this object"
            if resource == ("", "serviceaccounts"):
                return await self._create_token(node, attrs)
            if resource == ("coordination.k8s.io", "leases"):
                return self._lease(node, attrs)
            if resource == ("", "nodes"):
                return self._node(node, attrs)
            if resource == ("", "pods"):
                return await self._pod(node, attrs)
        if rules_allow(attrs, self.rules):
            return ALLOW, ""
        return NO_OPINION, ""

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[dict], list[dict], bool, str]:
        if node_identity(user)[1]:
            return [], [], True, "node authorizer does not support user rule resolution"
        return [], [], False, ""

    # -- by resource ---------------------------------------------------------------------

    async def _read_namespaced_object(self, node: str, attrs: Attributes) -> tuple[str, str]:
        if attrs.verb not in ("get", "list", "watch"):
            return NO_OPINION, "can only read resources of this type"
        if attrs.subresource:
            return NO_OPINION, "cannot read subresource"
        if not attrs.namespace:
            return NO_OPINION, "can only read namespaced object of this type"
        return await self._related(node, attrs)

    async def _get(self, node: str, attrs: Attributes) -> tuple[str, str]:
        if attrs.verb != "get":
            return NO_OPINION, "can only get individual resources of this type"
        if attrs.subresource:
            return NO_OPINION, "cannot get subresource"
        return await self._related(node, attrs)

    async def _create_token(self, node: str, attrs: Attributes) -> tuple[str, str]:
        if attrs.verb != "create" or not attrs.name:
            return NO_OPINION, "can only create tokens for individual service accounts"
        if attrs.subresource != "token":
            return NO_OPINION, "can only create token subresource of serviceaccount"
        return await self._related(node, attrs)

    async def _related(self, node: str, attrs: Attributes) -> tuple[str, str]:
        """Allowed when a pod bound to ``node`` in the object's namespace uses the object."""
        name = _name_of(attrs)
        if not name:
            return NO_OPINION, "No Object name found"
        uses = USES[attrs.resource]
        for pod in await self._pods_on(node, attrs.namespace):
            if name in uses(pod):
                return ALLOW, ""
        return NO_OPINION, f"no relationship found between node '{node}' and this object"

    async def _pods_on(self, node: str, namespace: str) -> list[dict]:
        listed = await self.storage.list(PODS, namespace or None,
                                         match=lambda pod: (pod.get("spec") or {}).get("nodeName") == node)
        return listed.items

    @staticmethod
    def _lease(node: str, attrs: Attributes) -> tuple[str, str]:
        if attrs.verb not in ("get", "create", "update", "patch", "delete"):
            return NO_OPINION, "can only get, create, update, patch, or delete a node lease"
        if attrs.namespace != NODE_LEASE_NAMESPACE:
            return NO_OPINION, f'can only access leases in the "{NODE_LEASE_NAMESPACE}" system namespace'
        if attrs.verb != "create" and attrs.name != node:  # create: NodeRestriction checks the name
            return NO_OPINION, "can only access node lease with the same name as the requesting node"
        return ALLOW, ""

    @staticmethod
    def _node(node: str, attrs: Attributes) -> tuple[str, str]:
        if not attrs.subresource:
            if attrs.verb in ("create", "update", "patch"):
                return ALLOW, ""  # NodeRestriction pins the name
            if attrs.verb in ("get", "list", "watch"):
                name = _name_of(attrs)
                if name == node:
                    return ALLOW, ""
                if not name:
                    return NO_OPINION, f"node '{node}' cannot read all nodes, only its own Node object"
                return NO_OPINION, f"node '{node}' cannot read '{name}', only its own Node object"
        elif attrs.subresource == "status" and attrs.verb in ("update", "patch"):
            return ALLOW, ""
        return NO_OPINION, ""

    async def _pod(self, node: str, attrs: Attributes) -> tuple[str, str]:
        if not attrs.subresource:
            if attrs.verb == "get":
                return await self._pod_bound(node, attrs)
            if attrs.verb in ("list", "watch"):
                if _selected_value(attrs.field_selector, "spec.nodeName") == node:
                    return ALLOW, ""
                if attrs.name:
                    return await self._pod_bound(node, attrs)
                return NO_OPINION, "can only list/watch pods with spec.nodeName field selector"
            if attrs.verb in ("create", "delete"):
                return ALLOW, ""  # mirror pods: NodeRestriction checks they are its own
        elif attrs.subresource == "status" and attrs.verb in ("update", "patch"):
            return ALLOW, ""  # NodeRestriction: only pods bound to it
        elif attrs.subresource == "eviction" and attrs.verb == "create":
            return ALLOW, ""  # NodeRestriction: only pods bound to it
        return NO_OPINION, ""

    async def _pod_bound(self, node: str, attrs: Attributes) -> tuple[str, str]:
        pod = await self.storage.get_or_none(PODS, attrs.namespace or None, attrs.name) if attrs.name else None
        if pod is not None and (pod.get("spec") or {}).get("nodeName") == node:
            return ALLOW, ""
        return NO_OPINION, f"no relationship found between node '{node}' and this object"


def _name_of(attrs: Attributes) -> str:
    """The object's name, or the one a list/watch pins with ``metadata.name=`` (as upstream's RequestInfo)."""
    if attrs.name:
        return attrs.name
    if attrs.verb in ("list", "watch"):
        return _selected_value(attrs.field_selector, "metadata.name") or ""
    return ""


# -- NodeRestriction ---------------------------------------------------------------------------

# Labels a kubelet may set on its own Node (upstream's kubelet label allow-list).
KUBELET_LABELS = {
    "kubernetes.io/hostname", "kubernetes.io/os", "kubernetes.io/arch", "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch", "beta.kubernetes.io/instance-type", "node.kubernetes.io/instance-type",
    "topology.kubernetes.io/zone", "topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
}
KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")
NODE_RESTRICTION_NAMESPACE = "node-restriction.kubernetes.io"


def _label_namespace(label: str) -> str:
    return label.split("/", 1)[0] if "/" in label else ""


def _in_namespace(namespace: str, parent: str) -> bool:
    return namespace == parent or namespace.endswith("." + parent)


def forbidden_node_labels(changed: set[str]) -> list[str]:
    """The changed labels a kubelet may not set on its own Node."""
    out = set()
    for label in changed:
        namespace = _label_namespace(label)
        if _in_namespace(namespace, NODE_RESTRICTION_NAMESPACE):
            out.add(label)
        kubernetes_label = _in_namespace(namespace, "kubernetes.io") or _in_namespace(namespace, "k8s.io")
        kubelet_label = label in KUBELET_LABELS or any(_in_namespace(namespace, ns)
                                                       for ns in KUBELET_LABEL_NAMESPACES)
        if kubernetes_label and not kubelet_label:
            out.add(label)
    return sorted(out)


def changed_labels(new: dict | None, old: dict | None) -> set[str]:
    new, old = new or {}, old or {}
    return {k for k in set(new) | set(old) if new.get(k) != old.get(k)}


class NodeRestriction(BasePlugin):
    """Admission: a kubelet writes only its own Node, Lease and mirror pods, and only its pods' status."""

    name = "NodeRestriction"

    def __init__(self, storage):
        self.storage = storage

    async def admit(self, a: AdmissionAttributes) -> None:
        node, is_node = node_identity(a.user)
        if not is_node:
            return
        group, plural = a.resource.group, a.resource.plural
        if not node:
            raise self._refuse(a, f'could not determine node from user "{a.user.name}"')
        if (group, plural) == ("", "pods"):
            await self._pod(node, a)
        elif (group, plural) == ("", "nodes"):
            self._node(node, a)
        elif (group, plural) == ("coordination.k8s.io", "leases"):
            self._lease(node, a)

    @staticmethod
    def _refuse(a: AdmissionAttributes, message: str) -> StatusError:
        resource = a.resource.plural + (f"/{a.subresource}" if a.subresource else "")
        return errors.forbidden(resource, a.name, message, a.resource.group)

    async def _pod(self, node: str, a: AdmissionAttributes) -> None:
        if a.subresource is None:
            if a.operation == CREATE:
                await self._mirror_pod(node, a)
            elif a.operation == DELETE:
                if ((a.old or {}).get("spec") or {}).get("nodeName") != node:
                    raise self._refuse(a, f'node "{node}" can only delete pods with spec.nodeName set to itself')
            else:
                raise self._refuse(a, f'unexpected operation "{a.operation}", node "{node}" can only create and '
                                      "delete mirror pods")
        elif a.subresource == "status":
            if a.operation != UPDATE:
                raise self._refuse(a, f'unexpected operation "{a.operation}"')
            if ((a.old or {}).get("spec") or {}).get("nodeName") != node:
                raise self._refuse(a, f'node "{node}" can only update pod status for pods with spec.nodeName set '
                                      "to itself")
            if ((a.obj or {}).get("metadata") or {}).get("labels") != ((a.old or {}).get("metadata") or {}).get(
                    "labels"):
                raise self._refuse(a, f'node "{node}" cannot update labels through pod status')
        elif a.subresource == "eviction":
            pod = a.old if a.old is not None else await self.storage.get(PODS, a.namespace, a.name)
            if ((pod or {}).get("spec") or {}).get("nodeName") != node:
                raise self._refuse(a, f"node {node} can only evict pods with spec.nodeName set to itself")
        else:
            raise self._refuse(a, f'unexpected pod subresource "{a.subresource}", only \'status\' and \'eviction\' '
                                  "are allowed")

    async def _mirror_pod(self, node: str, a: AdmissionAttributes) -> None:
        pod = a.obj or {}
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        if MIRROR_POD_ANNOTATION not in (meta.get("annotations") or {}):
            raise self._refuse(a, f'pod does not have "{MIRROR_POD_ANNOTATION}" annotation, node "{node}" can only '
                                  "create mirror pods")
        if spec.get("nodeName") != node:
            raise self._refuse(a, f'node "{node}" can only create pods with spec.nodeName set to itself')
        # a mirror pod is owned by its Node object (so it goes when the node goes)
        owners = meta.get("ownerReferences") or []
        if len(owners) > 1:
            raise self._refuse(a, f'node "{node}" can only create pods with a single owner reference set to itself')
        if not owners:
            raise self._refuse(a, f'node "{node}" can only create pods with an owner reference set to itself')
        owner = owners[0]
        if owner.get("apiVersion") != "v1" or owner.get("kind") != "Node" or owner.get("name") != node:
            raise self._refuse(a, f'node "{node}" can only create pods with an owner reference set to itself')
        if not owner.get("controller"):
            raise self._refuse(a, f'node "{node}" can only create pods with a controller owner reference set '
                                  "to itself")
        if owner.get("blockOwnerDeletion"):
            raise self._refuse(a, f'node "{node}" must not set blockOwnerDeletion on an owner reference')
        stored = await self.storage.get(NODES, None, node)  # 404 when the node is not registered
        if owner.get("uid") != stored["metadata"].get("uid"):
            raise self._refuse(a, f'node {node} UID mismatch: expected {owner.get("uid")} got '
                                  f'{stored["metadata"].get("uid")}')
        if pod_service_account(pod):
            raise self._refuse(a, f'node "{node}" can not create pods that reference a service account')
        if pod_secret_names(pod):
            raise self._refuse(a, f'node "{node}" can not create pods that reference secrets')
        if pod_config_map_names(pod):
            raise self._refuse(a, f'node "{node}" can not create pods that reference configmaps')
        if any(v.get("persistentVolumeClaim") for v in spec.get("volumes") or []):
            raise self._refuse(a, f'node "{node}" can not create pods that reference persistentvolumeclaims')

    def _node(self, node: str, a: AdmissionAttributes) -> None:
        if a.name != node:
            raise self._refuse(a, f'node "{node}" is not allowed to modify node "{a.name}"')
        new_meta = (a.obj or {}).get("metadata") or {}
        if a.operation == CREATE:
            forbidden = forbidden_node_labels(changed_labels(new_meta.get("labels"), None))
            if forbidden:
                raise self._refuse(a, f'node "{node}" is not allowed to set the following labels: '
                                      f'{", ".join(forbidden)}')
        elif a.operation == UPDATE:
            old = a.old or {}
            if ((a.obj or {}).get("spec") or {}).get("taints") != (old.get("spec") or {}).get("taints"):
                raise self._refuse(a, f'node "{node}" is not allowed to modify taints')
            forbidden = forbidden_node_labels(changed_labels(new_meta.get("labels"),
                                                             (old.get("metadata") or {}).get("labels")))
            if forbidden:
                raise self._refuse(a, f'is not allowed to modify labels: {", ".join(forbidden)}')

    def _lease(self, node: str, a: AdmissionAttributes) -> None:
        if a.namespace != NODE_LEASE_NAMESPACE:
            raise self._refuse(a, f'can only access leases in the "{NODE_LEASE_NAMESPACE}" system namespace')
        if a.name != node:
            raise self._refuse(a, "can only access node lease with the same name as the requesting node")
