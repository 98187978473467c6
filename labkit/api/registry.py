"""The table of API resources labkit serves.

One row per resource: where it lives in the URL space (group, version,
plural), what kind of object it holds, whether it is namespaced, the short
names and categories kubectl uses (``kubectl get po``, ``kubectl get all``),
its subresources, and where it is stored in etcd.

The etcd layout is upstream's: ``<prefix>/<storage>/<namespace>/<name>`` for
namespaced objects and ``<prefix>/<storage>/<name>`` for cluster-scoped ones,
with upstream's historical names (nodes are ``minions``, services are
``services/specs`` and endpoints ``services/endpoints``). Two resources may
share storage (core/v1 and events.k8s.io/v1 events are the same objects).

Discovery, routing, storage, validation and the OpenAPI documents all read
this one table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The verbs upstream advertises for an ordinary resource.
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    storage: str  # etcd key segment under the prefix, e.g. "minions"
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def qualified_name(self) -> str:
        """``pods`` or ``deployments.apps``, as upstream messages spell it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def key(self, prefix: str, namespace: str | None, name: str | None) -> str:
        """The etcd key of one object, or (name None) the prefix of a collection."""
        parts = [prefix.rstrip("/"), self.storage]
        if self.namespaced and namespace:
            parts.append(namespace)
        if name is not None:
            parts.append(name)
            return "/".join(parts)
        return "/".join(parts) + "/"


def _r(group, version, kind, plural, namespaced, storage=None, short=(), cats=(), sub=(), verbs=ALL_VERBS):
    return Resource(
        group=group, version=version, kind=kind, plural=plural, namespaced=namespaced,
        storage=storage or plural, short_names=tuple(short), categories=tuple(cats),
        subresources=tuple(sub), verbs=tuple(verbs),
    )


RESOURCES: tuple[Resource, ...] = (
    # core/v1
    _r("", "v1", "Namespace", "namespaces", False, short=["ns"], sub=["status", "finalize"],
       verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    _r("", "v1", "Pod", "pods", True, short=["po"], cats=["all"],
       sub=["status", "binding", "eviction", "log", "exec", "attach"]),  # no portforward or proxy yet: 404s
    _r("", "v1", "Node", "nodes", False, storage="minions", short=["no"], sub=["status"]),
    _r("", "v1", "Service", "services", True, storage="services/specs", short=["svc"], cats=["all"],
       sub=["status"]),
    _r("", "v1", "Endpoints", "endpoints", True, storage="services/endpoints", short=["ep"]),
    _r("", "v1", "ConfigMap", "configmaps", True, short=["cm"]),
    _r("", "v1", "Secret", "secrets", True),
    _r("", "v1", "ServiceAccount", "serviceaccounts", True, short=["sa"], sub=["token"]),
    _r("", "v1", "ResourceQuota", "resourcequotas", True, short=["quota"], sub=["status"]),
    _r("", "v1", "LimitRange", "limitranges", True, short=["limits"]),
    _r("", "v1", "Event", "events", True, short=["ev"]),
    # events.k8s.io/v1 events are the core events, stored once
    _r("events.k8s.io", "v1", "Event", "events", True, storage="events", short=["ev"]),
    _r("coordination.k8s.io", "v1", "Lease", "leases", True),
    # apps/v1
    _r("apps", "v1", "Deployment", "deployments", True, short=["deploy"], cats=["all"], sub=["status", "scale"]),
    _r("apps", "v1", "ReplicaSet", "replicasets", True, short=["rs"], cats=["all"], sub=["status", "scale"]),
    _r("apps", "v1", "DaemonSet", "daemonsets", True, short=["ds"], cats=["all"], sub=["status"]),
    _r("apps", "v1", "StatefulSet", "statefulsets", True, short=["sts"], cats=["all"], sub=["status", "scale"]),
    # batch/v1
    _r("batch", "v1", "Job", "jobs", True, cats=["all"], sub=["status"]),
    _r("batch", "v1", "CronJob", "cronjobs", True, short=["cj"], cats=["all"], sub=["status"]),
    # rbac.authorization.k8s.io/v1
    _r("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    _r("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    # authentication.k8s.io/v1: computed per request (labkit/apiserver/auth/tokenrequest.py), never stored
    _r("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", False, verbs=("create",)),
    _r("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", False, verbs=("create",)),
    # authorization.k8s.io/v1: "may this user do that?", computed per request (labkit/apiserver/auth/reviews.py)
    _r("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False, verbs=("create",)),
    _r("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", False, verbs=("create",)),
    _r("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", True,
       verbs=("create",)),
    _r("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", False, verbs=("create",)),
    # discovery.k8s.io/v1
    _r("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    # policy/v1
    _r("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, short=["pdb"], sub=["status"]),
)

# Groups in the order discovery lists them (core first, as upstream).
GROUP_ORDER: tuple[str, ...] = (
    "", "apps", "events.k8s.io", "authentication.k8s.io", "authorization.k8s.io", "batch", "policy", "rbac.authorization.k8s.io",
    "coordination.k8s.io", "discovery.k8s.io",
)

_BY_PATH: dict[tuple[str, str, str], Resource] = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_KIND: dict[tuple[str, str], Resource] = {}
for _res in RESOURCES:
    _BY_KIND.setdefault((_res.api_version, _res.kind), _res)


def lookup(group: str, version: str, plural: str) -> Resource | None:
    """The resource served at /api(s)/<group>/<version>/<plural>, if any."""
    return _BY_PATH.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> Resource | None:
    """The resource holding objects of ``apiVersion``/``kind``."""
    return _BY_KIND.get((api_version, kind))


def group_versions() -> list[tuple[str, str]]:
    """Every (group, version) served, core first."""
    seen: list[tuple[str, str]] = []
    for group in GROUP_ORDER:
        for r in RESOURCES:
            if r.group == group and (r.group, r.version) not in seen:
                seen.append((r.group, r.version))
    return seen


def resources_in(group: str, version: str) -> list[Resource]:
    return [r for r in RESOURCES if r.group == group and r.version == version]


def sharing_storage(resource: Resource) -> list[Resource]:
    """Every resource stored under the same etcd segment (watchers of one see the others' writes)."""
    return [r for r in RESOURCES if r.storage == resource.storage]
