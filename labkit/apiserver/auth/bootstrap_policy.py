"""The ClusterRoles and ClusterRoleBindings every cluster starts with (upstream's bootstrappolicy).

The apiserver writes them at start (:func:`reconcile`), as upstream's does:

- a missing role or binding is created;
- an existing one carrying the annotation
  ``rbac.authorization.kubernetes.io/autoupdate: "true"`` gets back what it
  lacks (rules, aggregation selectors, subjects, labels) and keeps what an
  administrator added; set the annotation to ``"false"`` to keep your edits
  exactly as they are.

The roles learners meet first:

==================================  ========================================  ================================
role                                what it grants                            bound to
==================================  ========================================  ================================
cluster-admin                       everything                                group system:masters
system:discovery                    GET /api, /apis, /openapi, /version ...   group system:authenticated
system:basic-user                   self-subject access/rules reviews         group system:authenticated
system:public-info-viewer           GET /healthz, /livez, /readyz, /version   system:authenticated and
                                                                              system:unauthenticated
system:monitoring                   GET /metrics, /healthz/* ...              group system:monitoring
system:service-account-issuer-      GET /.well-known/openid-configuration     group system:serviceaccounts
discovery                           and /openid/v1/jwks (the OIDC documents   (bind system:unauthenticated
                                    that verify service-account tokens)       for outside verifiers)
system:kube-scheduler               what kube-scheduler needs                 user system:kube-scheduler
system:kube-controller-manager      what kube-controller-manager needs        user system:kube-controller-manager
system:node-proxier                 what kube-proxy needs                     user system:kube-proxy
system:node                         what a kubelet needs                      nobody (the Node authorizer
                                                                              grants it, node by node)
admin, edit, view                   aggregated from roles labelled            (bind them yourself, per
                                    rbac.authorization.k8s.io/aggregate-to-*  namespace)
==================================  ========================================  ================================

Each controller of kube-controller-manager has a role of its own,
``system:controller:<name>``, bound to the service account
``kube-system/<name>`` it acts as with ``--use-service-account-credentials``.
In ``kube-system`` and ``kube-public`` a few Roles and RoleBindings join them
(the scheduler's and controller-manager's leader locks,
extension-apiserver-authentication-reader, the bootstrap signer's).

``admin``, ``edit`` and ``view`` have no rules of their own: an
``aggregationRule`` selects other ClusterRoles by label, and the
clusterrole-aggregation controller (labkit/controllers/clusterroleaggregation.py)
copies their rules in. ``view`` is labelled aggregate-to-edit and ``edit``
aggregate-to-admin, so view ⊂ edit ⊂ admin.
"""

from __future__ import annotations

import copy
import logging

from labkit.api.errors import StatusError
from labkit.apiserver.auth.escalation import covers
from labkit.apiserver.auth.rbac import CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, RBAC_GROUP, ROLE_BINDINGS, ROLES
from labkit.apiserver.storage import Change

log = logging.getLogger("labkit.apiserver.rbac")

AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
BOOTSTRAP_LABEL = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-"

READ = ["get", "list", "watch"]
WRITE = ["create", "update", "patch", "delete", "deletecollection"]
READ_WRITE = READ + WRITE

CORE, APPS, AUTHN, AUTHZ, AUTOSCALING, BATCH = "", "apps", "authentication.k8s.io", "authorization.k8s.io", \
    "autoscaling", "batch"
CERTIFICATES, COORDINATION, DISCOVERY, EVENTS = "certificates.k8s.io", "coordination.k8s.io", "discovery.k8s.io", \
    "events.k8s.io"
NETWORKING, POLICY, STORAGE, NODE = "networking.k8s.io", "policy", "storage.k8s.io", "node.k8s.io"


def rule(verbs: list[str], groups: list[str], resources: list[str], names: list[str] | None = None) -> dict:
    out = {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}
    if names:
        out["resourceNames"] = list(names)
    return out


def url_rule(verbs: list[str], urls: list[str]) -> dict:
    return {"verbs": list(verbs), "nonResourceURLs": list(urls)}


def events_rule() -> dict:
    return rule(["create", "update", "patch"], [CORE, EVENTS], ["events"])


def node_rules() -> list[dict]:
    """What any kubelet may do (the ``system:node`` role); the Node authorizer narrows it to the node's own objects."""
    return [
        rule(["create"], [AUTHN], ["tokenreviews"]),
        rule(["create"], [AUTHZ], ["subjectaccessreviews", "localsubjectaccessreviews"]),
        rule(READ, [CORE], ["services"]),
        rule(["create", "get", "list", "watch"], [CORE], ["nodes"]),
        rule(["update", "patch"], [CORE], ["nodes/status"]),
        rule(["update", "patch"], [CORE], ["nodes"]),
        rule(["create", "update", "patch"], [CORE], ["events"]),
        rule(READ, [CORE], ["pods"]),
        rule(["create", "delete"], [CORE], ["pods"]),
        rule(["update", "patch"], [CORE], ["pods/status"]),
        rule(["create"], [CORE], ["pods/eviction"]),
        rule(["get", "list", "watch"], [CORE], ["secrets", "configmaps"]),
        rule(["get"], [CORE], ["persistentvolumeclaims", "persistentvolumes"]),
        rule(["get"], [CORE], ["endpoints"]),
        rule(["create", "get", "list", "watch"], [CERTIFICATES], ["certificatesigningrequests"]),
        rule(["get", "create", "update", "patch", "delete"], [COORDINATION], ["leases"]),
        rule(["get"], [STORAGE], ["volumeattachments"]),
        rule(["get", "update", "patch"], [CORE], ["persistentvolumeclaims/status"]),
        rule(["create"], [CORE], ["serviceaccounts/token"]),
        rule(["get", "watch", "list"], [STORAGE], ["csidrivers"]),
        rule(["get", "create", "update", "patch", "delete"], [STORAGE], ["csinodes"]),
        rule(READ, [NODE], ["runtimeclasses"]),
    ]


def _role(name: str, rules: list[dict] | None = None, labels: dict | None = None,
          aggregate_from: str | None = None) -> dict:
    obj = {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRole",
           "metadata": {"name": name, "labels": {**BOOTSTRAP_LABEL, **(labels or {})},
                        "annotations": {AUTOUPDATE: "true"}}}
    if aggregate_from:
        obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {AGGREGATE_TO + aggregate_from: "true"}}]}
        obj["rules"] = []
    else:
        obj["rules"] = rules or []
    return obj


def _binding(name: str, subjects: list[dict], role: str | None = None) -> dict:
    return {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": dict(BOOTSTRAP_LABEL), "annotations": {AUTOUPDATE: "true"}},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role or name},
            "subjects": subjects}


def _group(name: str) -> dict:
    return {"kind": "Group", "apiGroup": RBAC_GROUP, "name": name}


def _user(name: str) -> dict:
    return {"kind": "User", "apiGroup": RBAC_GROUP, "name": name}


def _service_account(namespace: str, name: str) -> dict:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def cluster_roles() -> list[dict]:
    return [*_cluster_roles(), *(_role(f"system:controller:{name}", rules)
                                for name, rules in controller_roles().items())]


def _cluster_roles() -> list[dict]:
    return [
        _role("cluster-admin", [rule(["*"], ["*"], ["*"]), url_rule(["*"], ["*"])]),
        _role("system:discovery", [url_rule(["get"], ["/livez", "/readyz", "/healthz", "/version", "/version/",
                                                       "/openapi", "/openapi/*", "/api", "/api/*", "/apis",
                                                       "/apis/*"])]),
        _role("system:monitoring", [url_rule(["get"], ["/healthz", "/healthz/*", "/livez", "/livez/*", "/readyz",
                                                        "/readyz/*", "/metrics", "/metrics/slis"])]),
        _role("system:basic-user", [rule(["create"], [AUTHZ], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
                                    rule(["create"], [AUTHN], ["selfsubjectreviews"])]),
        _role("system:public-info-viewer", [url_rule(["get"], ["/livez", "/readyz", "/healthz", "/version",
                                                                "/version/"])]),
        _role("system:service-account-issuer-discovery", [url_rule(["get"], [
            "/.well-known/openid-configuration", "/.well-known/openid-configuration/",
            "/openid/v1/jwks", "/openid/v1/jwks/"])]),
        _role("admin", aggregate_from="admin"),
        _role("edit", labels={AGGREGATE_TO + "admin": "true"}, aggregate_from="edit"),
        _role("view", labels={AGGREGATE_TO + "edit": "true"}, aggregate_from="view"),
        _role("system:aggregate-to-admin", labels={AGGREGATE_TO + "admin": "true"}, rules=[
            rule(["create"], [AUTHZ], ["localsubjectaccessreviews"]),
            rule(READ_WRITE, [RBAC_GROUP], ["roles", "rolebindings"]),
        ]),
        _role("system:aggregate-to-edit", labels={AGGREGATE_TO + "edit": "true"}, rules=[
            rule(READ, [CORE], ["pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets",
                                "services/proxy"]),
            rule(["impersonate"], [CORE], ["serviceaccounts"]),
            rule(WRITE, [CORE], ["pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward"]),
            rule(["create"], [CORE], ["pods/eviction"]),
            rule(WRITE, [CORE], ["replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
                                 "services", "services/proxy", "persistentvolumeclaims", "configmaps", "secrets"]),
            rule(["create"], [CORE], ["serviceaccounts/token"]),
            rule(WRITE, [APPS], ["statefulsets", "statefulsets/scale", "daemonsets", "deployments",
                                 "deployments/scale", "deployments/rollback", "replicasets", "replicasets/scale"]),
            rule(WRITE, [AUTOSCALING], ["horizontalpodautoscalers"]),
            rule(WRITE, [BATCH], ["jobs", "cronjobs"]),
            rule(WRITE, [POLICY], ["poddisruptionbudgets"]),
            rule(WRITE, [NETWORKING], ["networkpolicies", "ingresses"]),
        ]),
        _role("system:aggregate-to-view", labels={AGGREGATE_TO + "view": "true"}, rules=[
            rule(READ, [CORE], ["pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
                                "services", "services/status", "endpoints", "persistentvolumeclaims",
                                "persistentvolumeclaims/status", "configmaps"]),
            rule(READ, [CORE], ["limitranges", "resourcequotas", "bindings", "events", "pods/status",
                                "resourcequotas/status", "namespaces/status", "replicationcontrollers/status",
                                "pods/log"]),
            rule(READ, [CORE], ["namespaces"]),
            rule(READ, [DISCOVERY], ["endpointslices"]),
            rule(READ, [APPS], ["controllerrevisions", "statefulsets", "statefulsets/status", "statefulsets/scale",
                                "daemonsets", "daemonsets/status", "deployments", "deployments/status",
                                "deployments/scale", "replicasets", "replicasets/status", "replicasets/scale"]),
            rule(READ, [AUTOSCALING], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
            rule(READ, [BATCH], ["jobs", "cronjobs", "cronjobs/status", "jobs/status"]),
            rule(READ, [POLICY], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
            rule(READ, [NETWORKING], ["networkpolicies", "ingresses", "ingresses/status"]),
        ]),
        _role("system:node", node_rules()),
        _role("system:node-proxier", [
            rule(["list", "watch"], [CORE], ["services", "endpoints"]),
            rule(["get", "list", "watch"], [CORE], ["nodes"]),
            events_rule(),
            rule(["list", "watch"], [DISCOVERY], ["endpointslices"]),
        ]),
        _role("system:kube-scheduler", [
            events_rule(),
            rule(["create"], [COORDINATION], ["leases"]),
            rule(["get", "update"], [COORDINATION], ["leases"], ["kube-scheduler"]),
            rule(READ, [CORE], ["nodes"]),
            rule(["get", "list", "watch", "delete"], [CORE], ["pods"]),
            rule(["create"], [CORE], ["pods/binding", "bindings"]),
            rule(["patch", "update"], [CORE], ["pods/status"]),
            rule(READ, [CORE], ["services", "replicationcontrollers"]),
            rule(READ, [APPS], ["replicasets"]),
            rule(READ, [APPS], ["statefulsets"]),
            rule(READ, [POLICY], ["poddisruptionbudgets"]),
            rule(READ, [CORE], ["persistentvolumeclaims", "persistentvolumes"]),
            rule(["create"], [AUTHN], ["tokenreviews"]),
            rule(["create"], [AUTHZ], ["subjectaccessreviews"]),
            rule(READ, [STORAGE], ["csinodes"]),
            rule(READ, [CORE], ["namespaces"]),
            rule(READ, [STORAGE], ["csidrivers"]),
            rule(READ, [STORAGE], ["csistoragecapacities"]),
        ]),
        _role("system:kube-controller-manager", [
            events_rule(),
            rule(["create"], [COORDINATION], ["leases"]),
            rule(["get", "update"], [COORDINATION], ["leases"], ["kube-controller-manager"]),
            rule(["create"], [CORE], ["secrets", "serviceaccounts"]),
            rule(["delete"], [CORE], ["secrets"]),
            rule(["get"], [CORE], ["namespaces", "secrets", "serviceaccounts", "configmaps"]),
            rule(["update"], [CORE], ["secrets", "serviceaccounts"]),
            rule(["create"], [AUTHN], ["tokenreviews"]),
            rule(["create"], [AUTHZ], ["subjectaccessreviews"]),
            rule(["list", "watch"], ["*"], ["*"]),
            rule(["create"], [CORE], ["serviceaccounts/token"]),
        ]),
        _role("system:auth-delegator", [
            rule(["create"], [AUTHN], ["tokenreviews"]),
            rule(["create"], [AUTHZ], ["subjectaccessreviews"]),
        ]),
    ]


EXTENSIONS = "extensions"


def controller_roles() -> dict[str, list[dict]]:
    """The rules of each controller's ``system:controller:<name>`` role (upstream's controller_policy)."""
    return {
        "clusterrole-aggregation-controller": [
            # it must be able to write any rule into an aggregated role
            rule(["escalate", "get", "list", "watch", "update", "patch"], [RBAC_GROUP], ["clusterroles"])],
        "cronjob-controller": [
            rule(["get", "list", "watch", "update"], [BATCH], ["cronjobs"]),
            rule(["get", "list", "watch", "create", "update", "delete", "patch"], [BATCH], ["jobs"]),
            rule(["update"], [BATCH], ["cronjobs/status"]),
            rule(["update"], [BATCH], ["cronjobs/finalizers"]),
            rule(["list", "watch", "delete"], [CORE], ["pods"]),
            events_rule()],
        "daemon-set-controller": [
            rule(READ, [EXTENSIONS, APPS], ["daemonsets"]),
            rule(["update"], [EXTENSIONS, APPS], ["daemonsets/status"]),
            rule(["update"], [EXTENSIONS, APPS], ["daemonsets/finalizers"]),
            rule(["list", "watch"], [CORE], ["nodes"]),
            rule(["list", "watch", "create", "delete", "patch"], [CORE], ["pods"]),
            rule(["create"], [CORE], ["pods/binding"]),
            rule(["get", "list", "watch", "create", "delete", "update", "patch"], [APPS], ["controllerrevisions"]),
            events_rule()],
        "deployment-controller": [
            rule(["get", "list", "watch", "update"], [EXTENSIONS, APPS], ["deployments"]),
            rule(["update"], [EXTENSIONS, APPS], ["deployments/status"]),
            rule(["update"], [EXTENSIONS, APPS], ["deployments/finalizers"]),
            rule(["get", "list", "watch", "create", "update", "patch", "delete"], [APPS, EXTENSIONS], ["replicasets"]),
            rule(["get", "list", "watch", "update"], [CORE], ["pods"]),
            events_rule()],
        "disruption-controller": [
            rule(READ, [EXTENSIONS, APPS], ["deployments"]),
            rule(READ, [APPS, EXTENSIONS], ["replicasets"]),
            rule(READ, [CORE], ["replicationcontrollers"]),
            rule(READ, [POLICY], ["poddisruptionbudgets"]),
            rule(READ, [APPS], ["statefulsets"]),
            rule(["update"], [POLICY], ["poddisruptionbudgets/status"]),
            rule(["patch", "update"], [CORE], ["pods/status"]),
            rule(["get"], ["*"], ["*/scale"]),
            events_rule()],
        "endpoint-controller": [
            rule(READ, [CORE], ["services", "pods"]),
            rule(["get", "list", "watch", "create", "update", "delete"], [CORE], ["endpoints"]),
            rule(["create"], [CORE], ["endpoints/restricted"]),
            events_rule()],
        "endpointslice-controller": [
            rule(READ, [CORE], ["services", "pods", "nodes"]),
            rule(["update"], [CORE], ["services/finalizers"]),
            rule(["get", "list", "watch", "create", "update", "delete"], [DISCOVERY], ["endpointslices"]),
            events_rule()],
        "generic-garbage-collector": [
            rule(["get", "list", "watch", "patch", "update", "delete"], ["*"], ["*"]),
            events_rule()],
        "job-controller": [
            rule(["get", "list", "watch", "update", "patch"], [BATCH], ["jobs"]),
            rule(["update"], [BATCH], ["jobs/status"]),
            rule(["update"], [BATCH], ["jobs/finalizers"]),
            rule(["list", "watch", "create", "delete", "patch"], [CORE], ["pods"]),
            events_rule()],
        "namespace-controller": [
            rule(["get", "list", "watch", "delete"], [CORE], ["namespaces"]),
            rule(["update"], [CORE], ["namespaces/finalize", "namespaces/status"]),
            rule(["get", "list", "delete", "deletecollection"], ["*"], ["*"])],
        "node-controller": [
            rule(["get", "list", "watch", "update", "delete", "patch"], [CORE], ["nodes"]),
            rule(["patch", "update"], [CORE], ["nodes/status"]),
            rule(["patch", "update"], [CORE], ["pods/status"]),
            rule(["list", "watch", "get", "delete"], [CORE], ["pods"]),
            events_rule()],
        "pod-garbage-collector": [
            rule(["list", "watch", "delete"], [CORE], ["pods"]),
            rule(READ, [CORE], ["nodes"]),
            rule(["patch"], [CORE], ["pods/status"])],
        "replicaset-controller": [
            rule(["get", "list", "watch", "update"], [APPS, EXTENSIONS], ["replicasets"]),
            rule(["update"], [APPS, EXTENSIONS], ["replicasets/status"]),
            rule(["update"], [APPS, EXTENSIONS], ["replicasets/finalizers"]),
            rule(["list", "watch", "patch", "create", "delete"], [CORE], ["pods"]),
            events_rule()],
        "resourcequota-controller": [
            rule(["list", "watch"], ["*"], ["*"]),
            rule(["update"], [CORE], ["resourcequotas/status"]),
            events_rule()],
        "root-ca-cert-publisher": [
            rule(["create", "update"], [CORE], ["configmaps"]),
            events_rule()],
        "service-account-controller": [
            rule(["create"], [CORE], ["serviceaccounts"]),
            events_rule()],
        "statefulset-controller": [
            rule(["list", "watch"], [CORE], ["pods"]),
            rule(READ, [APPS], ["statefulsets"]),
            rule(["update"], [APPS], ["statefulsets/status"]),
            rule(["update"], [APPS], ["statefulsets/finalizers"]),
            rule(["get", "create", "delete", "update", "patch"], [CORE], ["pods"]),
            rule(["get", "create", "delete", "update", "patch", "list", "watch"], [APPS], ["controllerrevisions"]),
            rule(["get", "create", "list", "watch"], [CORE], ["persistentvolumeclaims"]),
            rule(["update", "delete"], [CORE], ["persistentvolumeclaims"]),
            rule(["update"], [CORE], ["pods/finalizers"]),
            events_rule()],
        "ttl-after-finished-controller": [
            rule(["get", "list", "watch", "delete"], [BATCH], ["jobs"]),
            events_rule()],
    }


def cluster_role_bindings() -> list[dict]:
    bindings = [
        _binding("cluster-admin", [_group("system:masters")]),
        _binding("system:discovery", [_group("system:authenticated")]),
        _binding("system:basic-user", [_group("system:authenticated")]),
        _binding("system:public-info-viewer", [_group("system:authenticated"), _group("system:unauthenticated")]),
        _binding("system:monitoring", [_group("system:monitoring")]),
        _binding("system:service-account-issuer-discovery", [_group("system:serviceaccounts")]),
        _binding("system:node-proxier", [_user("system:kube-proxy")]),
        _binding("system:kube-controller-manager", [_user("system:kube-controller-manager")]),
        _binding("system:kube-scheduler", [_user("system:kube-scheduler")]),
        # Deprecated since the Node authorizer: kept without subjects, as upstream does.
        _binding("system:node", []),
    ]
    for name in controller_roles():
        bindings.append(_binding(f"system:controller:{name}", [_service_account("kube-system", name)]))
    return bindings


# -- Roles and RoleBindings in the system namespaces (upstream's namespace_policy) -----------------


def _namespaced(obj: dict, kind: str, namespace: str) -> dict:
    """A ClusterRole/ClusterRoleBinding built above, as a Role/RoleBinding in ``namespace``."""
    out = copy.deepcopy(obj)
    out["kind"] = kind
    out["metadata"]["namespace"] = namespace
    return out


def namespace_roles() -> list[dict]:
    system, public = "kube-system", "kube-public"
    roles = [
        (system, _role("extension-apiserver-authentication-reader", [
            rule(READ, [CORE], ["configmaps"], ["extension-apiserver-authentication"])])),
        (system, _role("system:controller:bootstrap-signer", [rule(READ, [CORE], ["secrets"])])),
        (system, _role("system:controller:cloud-provider", [
            rule(["create", "get", "list", "watch"], [CORE], ["configmaps"])])),
        (system, _role("system:controller:token-cleaner", [
            rule(["get", "list", "watch", "delete"], [CORE], ["secrets"]), events_rule()])),
        (system, _role("system::leader-locking-kube-controller-manager", [
            rule(["watch"], [CORE], ["configmaps"]),
            rule(["get", "update"], [CORE], ["configmaps"], ["kube-controller-manager"]),
            rule(["get", "watch", "list", "create", "update"], [COORDINATION], ["leases"])])),
        (system, _role("system::leader-locking-kube-scheduler", [
            rule(["watch"], [CORE], ["configmaps"]),
            rule(["get", "update"], [CORE], ["configmaps"], ["kube-scheduler"])])),
        (public, _role("system:controller:bootstrap-signer", [
            rule(READ, [CORE], ["configmaps"]),
            rule(["update"], [CORE], ["configmaps"], ["cluster-info"]),
            events_rule()])),
    ]
    return [_namespaced(role, "Role", namespace) for namespace, role in roles]


def namespace_role_bindings() -> list[dict]:
    system, public = "kube-system", "kube-public"
    bindings = [
        (system, _binding("system::extension-apiserver-authentication-reader",
                          [_user("system:kube-controller-manager"), _user("system:kube-scheduler")],
                          "extension-apiserver-authentication-reader")),
        (system, _binding("system::leader-locking-kube-controller-manager",
                          [_user("system:kube-controller-manager"),
                           _service_account(system, "kube-controller-manager")])),
        (system, _binding("system::leader-locking-kube-scheduler",
                          [_user("system:kube-scheduler"), _service_account(system, "kube-scheduler")])),
        (system, _binding("system:controller:bootstrap-signer", [_service_account(system, "bootstrap-signer")])),
        (system, _binding("system:controller:cloud-provider", [_service_account(system, "cloud-provider")])),
        (system, _binding("system:controller:token-cleaner", [_service_account(system, "token-cleaner")])),
        (public, _binding("system:controller:bootstrap-signer", [_service_account(system, "bootstrap-signer")])),
    ]
    out = []
    for namespace, binding in bindings:
        binding = _namespaced(binding, "RoleBinding", namespace)
        binding["roleRef"]["kind"] = "Role"
        out.append(binding)
    return out


# -- reconciliation at start --------------------------------------------------------------


def _autoupdate(obj: dict) -> bool:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(AUTOUPDATE, "true") == "true"


def _merge_meta(current: dict, wanted: dict) -> bool:
    """Add missing labels and annotations; True if something was added."""
    changed = False
    meta = current.setdefault("metadata", {})
    for field in ("labels", "annotations"):
        want = (wanted.get("metadata") or {}).get(field) or {}
        have = meta.get(field) or {}
        missing = {k: v for k, v in want.items() if k not in have}
        if missing:
            meta[field] = {**have, **missing}
            changed = True
    return changed


def reconciled_role(current: dict, wanted: dict) -> dict | None:
    """``current`` with what ``wanted`` adds, or None when nothing is missing (or autoupdate is off)."""
    if not _autoupdate(current):
        return None
    out = copy.deepcopy(current)
    changed = _merge_meta(out, wanted)
    if wanted.get("aggregationRule"):
        have = (out.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
        missing = [s for s in wanted["aggregationRule"]["clusterRoleSelectors"] if s not in have]
        if missing or not out.get("aggregationRule"):
            out["aggregationRule"] = {"clusterRoleSelectors": have + missing}
            changed = True
        # rules of an aggregated role belong to the aggregation controller
    else:
        rules = list(out.get("rules") or [])
        _, missing_rules = covers(rules, wanted.get("rules") or [])
        if missing_rules:
            # add the wanted rules that are not wholly held already
            for r in wanted.get("rules") or []:
                held, _ = covers(rules, [r])
                if not held:
                    rules.append(copy.deepcopy(r))
            out["rules"] = rules
            changed = True
    return out if changed else None


def reconciled_binding(current: dict, wanted: dict) -> dict | None:
    if not _autoupdate(current):
        return None
    out = copy.deepcopy(current)
    changed = _merge_meta(out, wanted)
    have = list(out.get("subjects") or [])
    for subject in wanted.get("subjects") or []:
        if not any(_same_subject(subject, h) for h in have):
            have.append(copy.deepcopy(subject))
            changed = True
    if changed:
        out["subjects"] = have
    return out if changed else None


def _same_subject(a: dict, b: dict) -> bool:
    return all((a.get(k) or "") == (b.get(k) or "") for k in ("kind", "name", "namespace"))


async def reconcile(reg) -> list[str]:
    """Create missing bootstrap roles and bindings, top up auto-updated ones; returns what was written."""
    from labkit.apiserver.rest import Options  # rest imports auth lazily; avoid the cycle

    written: list[str] = []
    for resource, objects, merge in ((CLUSTER_ROLES, cluster_roles(), reconciled_role),
                                     (CLUSTER_ROLE_BINDINGS, cluster_role_bindings(), reconciled_binding),
                                     (ROLES, namespace_roles(), reconciled_role),
                                     (ROLE_BINDINGS, namespace_role_bindings(), reconciled_binding)):
        for wanted in objects:
            name, namespace = wanted["metadata"]["name"], wanted["metadata"].get("namespace")
            what_name = f"{namespace}/{name}" if namespace else name
            current = await reg.storage.get_or_none(resource, namespace, name)
            if current is None:
                try:
                    await reg.create(resource, namespace, wanted, Options())
                    written.append(f"created {resource.kind} {what_name}")
                except StatusError as exc:
                    if exc.reason != "AlreadyExists":  # another apiserver was faster
                        raise
                continue
            if "roleRef" in wanted and current.get("roleRef") != wanted["roleRef"]:
                if _autoupdate(current):  # roleRef is immutable: replace the binding
                    log.warning("%s %s points at %s: recreating it", resource.kind, what_name, current.get("roleRef"))
                    await reg.storage.update(resource, namespace, name, _delete)
                    await reg.create(resource, namespace, wanted, Options())
                    written.append(f"recreated {resource.kind} {what_name}")
                continue

            async def top_up(stored: dict, wanted=wanted, merge=merge) -> Change:
                merged = merge(stored, wanted)
                return Change(obj=merged) if merged is not None else Change.none()

            _, what = await reg.storage.update(resource, namespace, name, top_up)
            if what == "updated":
                written.append(f"updated {resource.kind} {what_name}")
    for line in written:
        log.info("bootstrap RBAC: %s", line)
    return written


async def _delete(stored: dict) -> Change:
    return Change(obj=stored, delete=True)
