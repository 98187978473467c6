"""RBAC: who may do what, from Roles and ClusterRoles granted by bindings.

The objects (rbac.authorization.k8s.io/v1)::

    Role / ClusterRole         rules: [{verbs, apiGroups, resources, resourceNames, nonResourceURLs}]
    RoleBinding                grants a Role or a ClusterRole inside one namespace
    ClusterRoleBinding         grants a ClusterRole everywhere (and on non-resource URLs)
    subjects                   User "jane", Group "dev", ServiceAccount "web/builder"

A request is allowed when one rule reachable from a binding that names the
user (or one of their groups, or their service account) matches it:

- ``verbs``: the request's verb or ``*``;
- ``apiGroups``: the request's group (``""`` is the core group) or ``*``;
- ``resources``: ``pods``, ``pods/status`` for a subresource, ``*`` for
  everything, ``*/scale`` for that subresource of anything;
- ``resourceNames``: empty for any object, else the object's name;
- ``nonResourceURLs`` (ClusterRoles through ClusterRoleBindings only): the
  path, or a prefix ending in ``*`` (``/healthz/*``).

Nothing is ever denied explicitly: RBAC allows or has no opinion, and the
next authorizer (or the 403) decides.

The four collections live in memory (:class:`RBACStore`), filled by one list
and kept current by one etcd watch each (labkit/apiserver/cache.py), so a check costs no etcd read and a
new binding applies as soon as its watch event arrives (milliseconds).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Iterator

from labkit.api import registry
from labkit.apiserver.auth import ALLOW, NO_OPINION, Attributes, UserInfo
from labkit.apiserver.cache import WatchCache

RBAC_GROUP = "rbac.authorization.k8s.io"
ROLES = registry.lookup(RBAC_GROUP, "v1", "roles")
CLUSTER_ROLES = registry.lookup(RBAC_GROUP, "v1", "clusterroles")
ROLE_BINDINGS = registry.lookup(RBAC_GROUP, "v1", "rolebindings")
CLUSTER_ROLE_BINDINGS = registry.lookup(RBAC_GROUP, "v1", "clusterrolebindings")

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


# -- one rule against one request ----------------------------------------------------


def verb_matches(rule: dict, verb: str) -> bool:
    verbs = rule.get("verbs") or []
    return "*" in verbs or verb in verbs


def api_group_matches(rule: dict, group: str) -> bool:
    groups = rule.get("apiGroups") or []
    return "*" in groups or group in groups


def resource_matches(rule: dict, resource: str, subresource: str = "") -> bool:
    """``pods``, ``pods/status``, ``*`` or (for a subresource) ``*/status``."""
    combined = f"{resource}/{subresource}" if subresource else resource
    for wanted in rule.get("resources") or []:
        if wanted == "*" or wanted == combined:
            return True
        if subresource and wanted == f"*/{subresource}":
            return True
    return False


def resource_name_matches(rule: dict, name: str) -> bool:
    names = rule.get("resourceNames") or []
    return not names or name in names


def non_resource_url_matches(rule: dict, path: str) -> bool:
    for url in rule.get("nonResourceURLs") or []:
        if url == "*" or url == path:
            return True
        if url.endswith("*") and path.startswith(url.rstrip("*")):
            return True
    return False


def rule_allows(attrs: Attributes, rule: dict) -> bool:
    """Does this one PolicyRule allow this request? (upstream's RuleAllows)"""
    if attrs.resource_request:
        return (verb_matches(rule, attrs.verb) and api_group_matches(rule, attrs.api_group)
                and resource_matches(rule, attrs.resource, attrs.subresource)
                and resource_name_matches(rule, attrs.name))
    return verb_matches(rule, attrs.verb) and non_resource_url_matches(rule, attrs.path)


def rules_allow(attrs: Attributes, rules: list[dict]) -> bool:
    return any(rule_allows(attrs, rule) for rule in rules)


# -- who a binding names ----------------------------------------------------------------


def service_account_username(namespace: str, name: str) -> str:
    return f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"


def applies_to(subject: dict, user: UserInfo, binding_namespace: str = "") -> bool:
    """Does this binding subject name ``user``? A ServiceAccount without a namespace is the binding's."""
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return user.name == name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return bool(namespace) and user.name == service_account_username(namespace, name or "")
    return False


def describe_subject(subject: dict, binding_namespace: str = "") -> str:
    """``User "jane"`` or ``ServiceAccount "web/builder"`` as upstream's reasons say it."""
    name = subject.get("name", "")
    if subject.get("kind") == "ServiceAccount":
        name = f'{subject.get("namespace") or binding_namespace}/{name}'
    return f'{subject.get("kind")} "{name}"'


# -- the four collections in memory -----------------------------------------------------


class RBACStore:
    """Roles, ClusterRoles and their bindings: one :class:`~labkit.apiserver.cache.WatchCache` each.

    Without storage (``RBACStore()``) it is a plain in-memory store filled
    with :meth:`put`: the unit tests use it so, and the watches use the same
    :meth:`put`/:meth:`remove`.
    """

    RESOURCES = (ROLES, CLUSTER_ROLES, ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS)

    def __init__(self, storage=None):
        self.storage = storage
        self.caches = {r.kind: WatchCache(storage, r, on_change=self._forget_index) for r in self.RESOURCES}
        self._bindings_in: dict[str, list[dict]] | None = None  # namespace -> its bindings by name; "" cluster-wide
        self.synced = asyncio.Event() if storage is not None else None

    # -- contents --------------------------------------------------------------------

    def put(self, obj: dict) -> None:
        self.caches[obj["kind"]].put(obj)

    def remove(self, kind: str, namespace: str, name: str) -> None:
        self.caches[kind].remove(namespace, name)

    def _forget_index(self) -> None:
        self._bindings_in = None

    def role(self, namespace: str, name: str) -> dict | None:
        return self.caches["Role"].get(namespace, name)

    def cluster_role(self, name: str) -> dict | None:
        return self.caches["ClusterRole"].get("", name)

    def _index_bindings(self) -> dict[str, list[dict]]:
        """Bindings grouped by namespace and sorted by name, rebuilt after a change (checks far outnumber changes)."""
        if self._bindings_in is None:
            index: dict[str, list[dict]] = {"": []}
            for kind in ("ClusterRoleBinding", "RoleBinding"):
                objects = self.caches[kind].objects
                for key in sorted(objects):
                    index.setdefault(key[0], []).append(objects[key])
            self._bindings_in = index
        return self._bindings_in

    def cluster_role_bindings(self) -> list[dict]:
        return self._index_bindings()[""]

    def role_bindings(self, namespace: str) -> list[dict]:
        return self._index_bindings().get(namespace, []) if namespace else []

    # -- following etcd ------------------------------------------------------------------

    async def start(self) -> None:
        """List the four collections, then follow them; returns once all four are listed."""
        await asyncio.gather(*(cache.start() for cache in self.caches.values()))
        self.synced.set()

    async def stop(self) -> None:
        await asyncio.gather(*(cache.stop() for cache in self.caches.values()))


# -- rules reachable by a user ------------------------------------------------------------


@dataclass
class Grant:
    """Rules of one role as granted by one binding to one subject (for reasons and rule listings)."""

    binding_kind: str
    binding: dict
    subject: dict
    rules: list[dict]

    def describe(self) -> str:
        meta = self.binding["metadata"]
        ref = self.binding.get("roleRef") or {}
        name = meta["name"] if self.binding_kind == "ClusterRoleBinding" else f'{meta["name"]}/{meta["namespace"]}'
        return (f'{self.binding_kind} "{name}" of {ref.get("kind")} "{ref.get("name")}" to '
                f'{describe_subject(self.subject, meta.get("namespace") or "")}')


class RoleNotFound(Exception):
    """A binding names a role that does not exist (upstream's lister wording)."""

    def __init__(self, kind: str, name: str):
        super().__init__(f'{kind.lower()}.{RBAC_GROUP} "{name}" not found')


class RuleResolver:
    """Everything RBAC grants a user, binding by binding (upstream's DefaultRuleResolver)."""

    def __init__(self, store: RBACStore):
        self.store = store

    def role_reference_rules(self, role_ref: dict, namespace: str) -> list[dict]:
        kind, name = role_ref.get("kind"), role_ref.get("name", "")
        if kind == "Role":
            role = self.store.role(namespace, name)
        elif kind == "ClusterRole":
            role = self.store.cluster_role(name)
        else:
            raise RoleNotFound(str(kind), name)
        if role is None:
            raise RoleNotFound(kind, name)
        return list(role.get("rules") or [])

    def grants(self, user: UserInfo, namespace: str, errors: list[str]) -> Iterator[Grant]:
        """Cluster-wide grants first, then (for a namespace) that namespace's; role lookups fail into ``errors``."""
        for binding in self.store.cluster_role_bindings():
            yield from self._grants_of("ClusterRoleBinding", binding, user, "", errors)
        if namespace:
            for binding in self.store.role_bindings(namespace):
                yield from self._grants_of("RoleBinding", binding, user, namespace, errors)

    def _grants_of(self, binding_kind: str, binding: dict, user: UserInfo, namespace: str,
                   errors: list[str]) -> Iterator[Grant]:
        for subject in binding.get("subjects") or []:
            if applies_to(subject, user, namespace):
                try:
                    rules = self.role_reference_rules(binding.get("roleRef") or {}, namespace)
                except RoleNotFound as exc:
                    errors.append(str(exc))
                    return
                yield Grant(binding_kind, binding, subject, rules)
                return  # one matching subject is enough per binding

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[dict], list[str]]:
        """Every rule the user holds in ``namespace`` (cluster-wide ones included), and lookup errors."""
        errors: list[str] = []
        rules = [rule for grant in self.grants(user, namespace, errors) for rule in grant.rules]
        return rules, errors


class RBACAuthorizer:
    """``--authorization-mode=RBAC``."""

    name = "RBAC"

    def __init__(self, store: RBACStore):
        self.store = store
        self.resolver = RuleResolver(store)

    async def authorize(self, attrs: Attributes) -> tuple[str, str]:
        if self.store.synced is not None and not self.store.synced.is_set():
            await self.store.synced.wait()
        errors: list[str] = []
        namespace = attrs.namespace if attrs.resource_request else ""
        for grant in self.resolver.grants(attrs.user, namespace, errors):
            if rules_allow(attrs, grant.rules):
                return ALLOW, f"RBAC: allowed by {grant.describe()}"
        return NO_OPINION, (f"RBAC: [{', '.join(errors)}]" if len(errors) > 1 else
                            f"RBAC: {errors[0]}" if errors else "")

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[dict], list[dict], bool, str]:
        """(resource rules, non-resource rules, incomplete, error) for SelfSubjectRulesReview."""
        rules, errors = self.resolver.rules_for(user, namespace)
        non_resource_rules = [r for r in rules if r.get("nonResourceURLs")]
        resource_rules = [r for r in rules if not r.get("nonResourceURLs")]
        return resource_rules, non_resource_rules, bool(errors), "; ".join(errors)
