"""RBAC escalation prevention as data: who may write which Role, ClusterRole and binding.

The check is the apiserver's admission plugin (labkit.apiserver.auth.escalation.RBACEscalationCheck)
over the RBAC authorizer's in-memory store filled by hand.
"""

from __future__ import annotations

import pytest

from labkit.api import registry
from labkit.api.errors import StatusError
from labkit.apiserver.admission import CREATE, UPDATE, Attributes
from labkit.apiserver.auth import ALLOW, UserInfo
from labkit.apiserver.auth.escalation import (RBACEscalationCheck, breakdown_rule, compact_rules, compact_string,
                                              covers, rule_covers)
from labkit.apiserver.auth.rbac import RBACAuthorizer, RBACStore

G = "rbac.authorization.k8s.io"
ROLES, CLUSTER_ROLES = registry.lookup(G, "v1", "roles"), registry.lookup(G, "v1", "clusterroles")
ROLE_BINDINGS = registry.lookup(G, "v1", "rolebindings")
CLUSTER_ROLE_BINDINGS = registry.lookup(G, "v1", "clusterrolebindings")

PODS_RW = {"verbs": ["get", "list", "create", "delete"], "apiGroups": [""], "resources": ["pods"]}
SECRETS_GET = {"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}

# (owner rules, requested rules, covered?)
COVER_CASES = [
    ([PODS_RW], [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}], True),
    ([PODS_RW], [{"verbs": ["get", "watch"], "apiGroups": [""], "resources": ["pods"]}], False),
    ([PODS_RW], [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}], False),
    ([{"verbs": ["get"], "apiGroups": [""], "resources": ["*/log"]}],
     [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}], True),
    ([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}], [SECRETS_GET, PODS_RW], True),
    # a named grant does not cover the whole resource; the whole resource covers any name
    ([{**SECRETS_GET, "resourceNames": ["tls"]}], [SECRETS_GET], False),
    ([{**SECRETS_GET, "resourceNames": ["tls"]}], [{**SECRETS_GET, "resourceNames": ["tls"]}], True),
    ([SECRETS_GET], [{**SECRETS_GET, "resourceNames": ["tls", "db"]}], True),
    # held across two rules: each piece needs one rule that covers it
    ([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]},
      {"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]}],
     [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}], True),
    ([{"verbs": ["get"], "nonResourceURLs": ["/logs/*"]}], [{"verbs": ["get"], "nonResourceURLs": ["/logs/kube"]}],
     True),
    ([{"verbs": ["get"], "nonResourceURLs": ["/logs"]}], [{"verbs": ["get"], "nonResourceURLs": ["/logs/kube"]}],
     False),
]


@pytest.mark.parametrize("owner,requested,held", COVER_CASES)
def test_covers(owner, requested, held):
    assert covers(owner, requested)[0] is held


def test_breakdown_and_compact_string_as_upstream_prints_them():
    pieces = breakdown_rule({"verbs": ["get", "list"], "apiGroups": ["", "apps"], "resources": ["pods"]})
    assert len(pieces) == 4 and all(rule_covers(PODS_RW, p) for p in pieces if p["apiGroups"] == [""]
                                    and p["verbs"] == ["get"])
    compacted = compact_rules([{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]},
                               {"verbs": ["list"], "apiGroups": [""], "resources": ["secrets"]}])
    assert [compact_string(r) for r in compacted] == ['{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}']
    assert compact_string({"verbs": ["get"], "nonResourceURLs": ["/x"]}) == '{NonResourceURLs:["/x"], Verbs:["get"]}'


JANE = UserInfo("jane", groups=("system:authenticated",))
ADMIN = UserInfo("root", groups=("system:masters", "system:authenticated"))
BINDER = UserInfo("binder", groups=("system:authenticated",))
ESCALATOR = UserInfo("escalator", groups=("system:authenticated",))


def obj(kind, name, namespace=None, **body):
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": f"{G}/v1", "kind": kind, "metadata": meta, **body}


def ref(kind, name):
    return {"apiGroup": G, "kind": kind, "name": name}


@pytest.fixture
def check() -> RBACEscalationCheck:
    store = RBACStore()
    for o in [
        # jane administers namespace web: pods and RBAC objects there (not "*": that includes escalate and bind)
        obj("Role", "web-admin", "web", rules=[PODS_RW, {"verbs": ["get", "list", "create", "update", "delete"],
                                                          "apiGroups": [G], "resources": ["roles", "rolebindings"]}]),
        obj("RoleBinding", "jane", "web", roleRef=ref("Role", "web-admin"),
            subjects=[{"kind": "User", "name": "jane"}]),
        obj("ClusterRole", "secret-reader", rules=[SECRETS_GET]),
        obj("ClusterRole", "pod-reader", rules=[{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]),
        # binder may bind secret-reader without holding it
        obj("ClusterRole", "bind-secret-reader", rules=[{"verbs": ["bind"], "apiGroups": [G],
                                                         "resources": ["clusterroles"],
                                                         "resourceNames": ["secret-reader"]},
                                                        {"verbs": ["create"], "apiGroups": [G],
                                                         "resources": ["rolebindings"]}]),
        obj("ClusterRoleBinding", "binder", roleRef=ref("ClusterRole", "bind-secret-reader"),
            subjects=[{"kind": "User", "name": "binder"}]),
        # escalator may write roles granting anything
        obj("ClusterRole", "escalate-roles", rules=[{"verbs": ["escalate", "create", "update"], "apiGroups": [G],
                                                     "resources": ["roles", "clusterroles"]}]),
        obj("ClusterRoleBinding", "escalator", roleRef=ref("ClusterRole", "escalate-roles"),
            subjects=[{"kind": "User", "name": "escalator"}]),
    ]:
        store.put(o)
    authorizer = RBACAuthorizer(store)

    async def authorize(attrs):
        decision, reason = await authorizer.authorize(attrs)
        return decision == ALLOW, reason

    return RBACEscalationCheck(authorize, authorizer.resolver)


def write(resource, o, user, operation=CREATE, old=None):
    meta = o["metadata"]
    return Attributes(operation, resource, meta.get("namespace"), meta["name"], o, old, user=user)


ESCALATION = "is attempting to grant RBAC permissions not currently held"

# (resource, object, user, refusal or None)
WRITE_CASES = [
    # a Role within what jane holds in web
    (ROLES, obj("Role", "r", "web", rules=[{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]), JANE,
     None),
    # ... but not secrets, and not in another namespace
    (ROLES, obj("Role", "r", "web", rules=[SECRETS_GET]), JANE,
     'roles.rbac.authorization.k8s.io "r" is forbidden: user "jane" (groups=["system:authenticated"]) is '
     'attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["secrets"], '
     'Verbs:["get"]}'),
    (ROLES, obj("Role", "r", "other", rules=[{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]), JANE,
     ESCALATION),
    (CLUSTER_ROLES, obj("ClusterRole", "c", rules=[{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]),
     JANE, ESCALATION),
    # bindings: to roles whose rules jane holds in web
    (ROLE_BINDINGS, obj("RoleBinding", "b", "web", roleRef=ref("ClusterRole", "pod-reader"),
                        subjects=[{"kind": "User", "name": "bob"}]), JANE, None),
    (ROLE_BINDINGS, obj("RoleBinding", "b", "web", roleRef=ref("ClusterRole", "secret-reader"),
                        subjects=[{"kind": "User", "name": "bob"}]), JANE, ESCALATION),
    (ROLE_BINDINGS, obj("RoleBinding", "b", "web", roleRef=ref("Role", "nosuch"),
                        subjects=[{"kind": "User", "name": "bob"}]), JANE,
     'rolebindings.rbac.authorization.k8s.io "b" is forbidden: role.rbac.authorization.k8s.io "nosuch" not found'),
    # the bind verb on that one role is enough, and only for that role
    (ROLE_BINDINGS, obj("RoleBinding", "b", "web", roleRef=ref("ClusterRole", "secret-reader"),
                        subjects=[{"kind": "User", "name": "bob"}]), BINDER, None),
    (ROLE_BINDINGS, obj("RoleBinding", "b", "web", roleRef=ref("ClusterRole", "pod-reader"),
                        subjects=[{"kind": "User", "name": "bob"}]), BINDER, ESCALATION),
    (CLUSTER_ROLE_BINDINGS, obj("ClusterRoleBinding", "b", roleRef=ref("ClusterRole", "secret-reader"),
                                subjects=[{"kind": "User", "name": "bob"}]), BINDER, None),
    # the escalate verb lets a role grant anything; aggregation needs everything held
    (CLUSTER_ROLES, obj("ClusterRole", "c", rules=[{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]),
     ESCALATOR, None),
    (CLUSTER_ROLES, obj("ClusterRole", "agg", rules=[],
                        aggregationRule={"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]}), JANE,
     "must have cluster-admin privileges to use the aggregationRule"),
    # system:masters and the insecure port (no user) are never checked
    (CLUSTER_ROLES, obj("ClusterRole", "c", rules=[{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]),
     ADMIN, None),
    (CLUSTER_ROLES, obj("ClusterRole", "c", rules=[{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]),
     None, None),
]


@pytest.mark.parametrize("resource,o,user,refusal", WRITE_CASES)
async def test_writes(check, resource, o, user, refusal):
    if refusal is None:
        await check.validate(write(resource, o, user))
        return
    with pytest.raises(StatusError) as exc:
        await check.validate(write(resource, o, user))
    assert exc.value.code == 403 and exc.value.reason == "Forbidden"
    assert refusal in exc.value.message


async def test_update_checks_the_new_rules_and_lets_gc_only_changes_through(check):
    old = obj("Role", "r", "web", rules=[SECRETS_GET])  # written earlier by an admin
    new = {**old, "rules": [SECRETS_GET, {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]}
    with pytest.raises(StatusError):
        await check.validate(write(ROLES, new, JANE, UPDATE, old))
    gc_only = {**old, "metadata": {**old["metadata"], "finalizers": ["x"]}}
    await check.validate(write(ROLES, gc_only, JANE, UPDATE, old))
