"""RBAC as data: rules × requests -> allowed?, bindings × users -> which grant, and the bootstrap policy;
then on a real etcd: reconciliation at start and the store following etcd.

The data cases fill the authorizer's own in-memory store (labkit.apiserver.auth.rbac.RBACStore)
by hand instead of by its etcd watch; everything else is the code the apiserver runs.
"""

from __future__ import annotations

import asyncio

import pytest

from labkit.api import registry
from labkit.apiserver.admission_plugins import build_chain
from labkit.apiserver.allocators import ClusterIPAllocator, NodePortAllocator, ServiceAllocations
from labkit.apiserver.auth import ALLOW, NO_OPINION, Attributes, UserInfo
from labkit.apiserver.auth import bootstrap_policy as bp
from labkit.apiserver.auth.rbac import CLUSTER_ROLES, ROLE_BINDINGS, RBACAuthorizer, RBACStore, applies_to, \
    rule_allows
from labkit.apiserver.etcd import Etcd
from labkit.apiserver.rest import DeleteOptions, Options, Registry
from labkit.apiserver.storage import Change, Storage

JANE = UserInfo("jane", groups=("dev", "system:authenticated"))


def res(verb, resource, group="", namespace="web", name="", subresource="", user=JANE) -> Attributes:
    return Attributes(user, verb, True, group, "v1", resource, subresource, namespace, name)


def url(verb, path, user=JANE) -> Attributes:
    return Attributes(user, verb, False, path=path)


PODS_READ = {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["pods"]}

# (rule, request, allowed?)
RULE_CASES = [
    (PODS_READ, res("get", "pods"), True),
    (PODS_READ, res("list", "pods"), True),
    (PODS_READ, res("delete", "pods"), False),
    (PODS_READ, res("get", "pods", group="apps"), False),
    (PODS_READ, res("get", "deployments", group="apps"), False),
    # a subresource is its own resource: pods does not grant pods/status or pods/log
    (PODS_READ, res("get", "pods", subresource="status"), False),
    (PODS_READ, res("get", "pods", subresource="log"), False),
    ({"verbs": ["update"], "apiGroups": [""], "resources": ["pods/status"]},
     res("update", "pods", subresource="status"), True),
    ({"verbs": ["update"], "apiGroups": [""], "resources": ["pods/status"]}, res("update", "pods"), False),
    # */scale: that subresource of anything, and nothing else
    ({"verbs": ["get", "update"], "apiGroups": ["apps"], "resources": ["*/scale"]},
     res("update", "deployments", "apps", subresource="scale"), True),
    ({"verbs": ["get", "update"], "apiGroups": ["apps"], "resources": ["*/scale"]},
     res("update", "deployments", "apps"), False),
    ({"verbs": ["get", "update"], "apiGroups": ["apps"], "resources": ["*/scale"]},
     res("update", "deployments", "apps", subresource="status"), False),
    # * everywhere
    ({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}, res("deletecollection", "widgets", "x.io"), True),
    ({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}, res("get", "pods", subresource="exec"), True),
    ({"verbs": ["*"], "apiGroups": [""], "resources": ["secrets"]}, res("escalate", "secrets"), True),
    ({"verbs": ["get"], "apiGroups": ["*"], "resources": ["configmaps"]}, res("get", "configmaps"), True),
    # resourceNames: only those objects; a list has no name and is not granted
    ({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["tls"]},
     res("get", "secrets", name="tls"), True),
    ({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["tls"]},
     res("get", "secrets", name="db"), False),
    ({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["tls"]},
     res("list", "secrets"), False),
    # non-resource URLs: exact, or a prefix ending in *
    ({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}, url("get", "/healthz"), True),
    ({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}, url("get", "/healthz/etcd"), False),
    ({"verbs": ["get"], "nonResourceURLs": ["/healthz/*"]}, url("get", "/healthz/etcd"), True),
    ({"verbs": ["get"], "nonResourceURLs": ["/healthz/*"]}, url("get", "/healthz"), False),
    ({"verbs": ["get"], "nonResourceURLs": ["/apis*"]}, url("get", "/apis/apps/v1"), True),
    ({"verbs": ["get"], "nonResourceURLs": ["*"]}, url("get", "/anything"), True),
    ({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}, url("post", "/healthz"), False),
    # a resource rule never grants a URL, a URL rule never a resource
    ({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}, url("get", "/healthz"), False),
    ({"verbs": ["*"], "nonResourceURLs": ["*"]}, res("get", "pods"), False),
]


@pytest.mark.parametrize("rule,attrs,allowed", RULE_CASES)
def test_rule_matching(rule, attrs, allowed):
    assert rule_allows(attrs, rule) is allowed


SUBJECT_CASES = [
    ({"kind": "User", "name": "jane"}, JANE, "", True),
    ({"kind": "User", "name": "bob"}, JANE, "", False),
    ({"kind": "Group", "name": "dev"}, JANE, "", True),
    ({"kind": "Group", "name": "ops"}, JANE, "", False),
    ({"kind": "Group", "name": "jane"}, JANE, "", False),  # a user is not a group of that name
    ({"kind": "ServiceAccount", "name": "ci", "namespace": "build"},
     UserInfo("system:serviceaccount:build:ci"), "", True),
    ({"kind": "ServiceAccount", "name": "ci", "namespace": "build"},
     UserInfo("system:serviceaccount:web:ci"), "", False),
    # a ServiceAccount without namespace in a RoleBinding is the binding's namespace's
    ({"kind": "ServiceAccount", "name": "ci"}, UserInfo("system:serviceaccount:web:ci"), "web", True),
    ({"kind": "ServiceAccount", "name": "ci"}, UserInfo("system:serviceaccount:web:ci"), "", False),
]


@pytest.mark.parametrize("subject,user,namespace,applies", SUBJECT_CASES)
def test_subjects(subject, user, namespace, applies):
    assert applies_to(subject, user, namespace) is applies


def role(kind, name, rules, namespace=None):
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta, "rules": rules}


def binding(kind, name, role_kind, role_name, subjects, namespace=None):
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
            "subjects": subjects}


@pytest.fixture
def authorizer() -> RBACAuthorizer:
    store = RBACStore()
    for obj in [
        role("Role", "pod-reader", [PODS_READ], "web"),
        role("ClusterRole", "secret-reader", [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}]),
        role("ClusterRole", "healthz", [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]),
        binding("RoleBinding", "jane-reads-pods", "Role", "pod-reader", [{"kind": "User", "name": "jane"}], "web"),
        # a ClusterRole granted in one namespace only
        binding("RoleBinding", "dev-secrets", "ClusterRole", "secret-reader", [{"kind": "Group", "name": "dev"}],
                "web"),
        # a RoleBinding cannot grant non-resource URLs
        binding("RoleBinding", "healthz-in-ns", "ClusterRole", "healthz", [{"kind": "User", "name": "bob"}],
                "web"),
        binding("ClusterRoleBinding", "healthz-everyone", "ClusterRole", "healthz",
                [{"kind": "Group", "name": "system:authenticated"}]),
        binding("ClusterRoleBinding", "dangling", "ClusterRole", "nosuch", [{"kind": "User", "name": "carl"}]),
    ]:
        store.put(obj)
    return RBACAuthorizer(store)


BOB = UserInfo("bob", groups=("system:authenticated",))
CARL = UserInfo("carl", groups=("system:authenticated",))

# (request, decision, reason)
BINDING_CASES = [
    (res("list", "pods"), ALLOW, 'RBAC: allowed by RoleBinding "jane-reads-pods/web" of Role "pod-reader" to User '
                                 '"jane"'),
    (res("list", "pods", namespace="other"), NO_OPINION, ""),
    (res("list", "pods", namespace=""), NO_OPINION, ""),  # all namespaces: only ClusterRoleBindings count
    (res("get", "secrets", name="db"), ALLOW, 'RBAC: allowed by RoleBinding "dev-secrets/web" of ClusterRole '
                                             '"secret-reader" to Group "dev"'),
    (res("get", "secrets", name="db", namespace="other"), NO_OPINION, ""),
    (url("get", "/healthz"), ALLOW, 'RBAC: allowed by ClusterRoleBinding "healthz-everyone" of ClusterRole '
                                    '"healthz" to Group "system:authenticated"'),
    (url("get", "/healthz", user=UserInfo("bob")), NO_OPINION, ""),
    (res("get", "pods", user=CARL), NO_OPINION, 'RBAC: clusterrole.rbac.authorization.k8s.io "nosuch" not found'),
]


@pytest.mark.parametrize("attrs,decision,reason", BINDING_CASES)
async def test_bindings(authorizer, attrs, decision, reason):
    assert await authorizer.authorize(attrs) == (decision, reason)


async def test_binding_change_applies_at_once(authorizer):
    store = authorizer.store
    assert (await authorizer.authorize(res("list", "pods", user=BOB)))[0] == NO_OPINION
    store.put(binding("RoleBinding", "bob-reads", "Role", "pod-reader", [{"kind": "User", "name": "bob"}], "web"))
    assert (await authorizer.authorize(res("list", "pods", user=BOB)))[0] == ALLOW
    store.remove("RoleBinding", "web", "bob-reads")
    assert (await authorizer.authorize(res("list", "pods", user=BOB)))[0] == NO_OPINION


def test_rules_for_lists_cluster_and_namespace_rules(authorizer):
    resource_rules, url_rules, incomplete, error = authorizer.rules_for(JANE, "web")
    assert PODS_READ in resource_rules
    assert {"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]} in resource_rules
    assert url_rules == [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]
    assert (incomplete, error) == (False, "")
    assert authorizer.rules_for(CARL, "web")[2:] == (True, 'clusterrole.rbac.authorization.k8s.io "nosuch" not found')


# -- the bootstrap policy ------------------------------------------------------------------------


@pytest.fixture
def bootstrap() -> RBACAuthorizer:
    store = RBACStore()
    for obj in bp.cluster_roles() + bp.cluster_role_bindings() + bp.namespace_roles() + bp.namespace_role_bindings():
        store.put(obj)
    return RBACAuthorizer(store)


ADMIN = UserInfo("admin", groups=("system:masters", "system:authenticated"))
ANON = UserInfo("system:anonymous", groups=("system:unauthenticated",))
SCHEDULER = UserInfo("system:kube-scheduler", groups=("system:authenticated",))
PROXY = UserInfo("system:kube-proxy", groups=("system:authenticated",))
NODE = UserInfo("system:node:w1", groups=("system:nodes", "system:authenticated"))
ROBOT = UserInfo("system:serviceaccount:web:robot",
                 groups=("system:serviceaccounts", "system:serviceaccounts:web", "system:authenticated"))

BOOTSTRAP_CASES = [
    (res("delete", "nodes", namespace="", user=ADMIN), ALLOW),
    (url("post", "/anything", user=ADMIN), ALLOW),
    (url("get", "/version", user=ANON), ALLOW),  # public-info-viewer
    (url("get", "/healthz", user=ANON), ALLOW),
    (url("get", "/api", user=ANON), NO_OPINION),  # discovery is for the authenticated only
    (url("get", "/apis/apps/v1", user=JANE), ALLOW),
    (url("get", "/openapi/v3", user=JANE), ALLOW),
    (res("create", "selfsubjectaccessreviews", "authorization.k8s.io", namespace="", user=JANE), ALLOW),
    (res("create", "selfsubjectrulesreviews", "authorization.k8s.io", namespace="", user=JANE), ALLOW),
    (res("create", "selfsubjectaccessreviews", "authorization.k8s.io", namespace="", user=ANON), NO_OPINION),
    (res("list", "pods", user=JANE), NO_OPINION),
    (res("create", "bindings", namespace="web", subresource="", user=SCHEDULER), ALLOW),
    (res("create", "pods", namespace="web", subresource="binding", user=SCHEDULER), ALLOW),
    (res("update", "leases", "coordination.k8s.io", "kube-system", "kube-scheduler", user=SCHEDULER), ALLOW),
    (res("update", "leases", "coordination.k8s.io", "kube-system", "kube-controller-manager", user=SCHEDULER),
     NO_OPINION),
    (res("list", "endpointslices", "discovery.k8s.io", namespace="", user=PROXY), ALLOW),
    (res("create", "services", namespace="web", user=PROXY), NO_OPINION),
    # system:node is bound to nobody: nodes get their rights from the Node authorizer
    (res("get", "pods", name="p", user=NODE), NO_OPINION),
    (url("get", "/metrics", user=UserInfo("prom", groups=("system:monitoring",))), ALLOW),
    # the OIDC documents: for service accounts (upstream's system:service-account-issuer-discovery)
    (url("get", "/openid/v1/jwks", user=ROBOT), ALLOW),
    (url("get", "/.well-known/openid-configuration", user=ROBOT), ALLOW),
    (url("post", "/openid/v1/jwks", user=ROBOT), NO_OPINION),
    (url("get", "/openid/v1/jwks", user=JANE), NO_OPINION),
    (url("get", "/.well-known/openid-configuration", user=ANON), NO_OPINION),
    # the leader locks in kube-system (RoleBindings of the namespace policy)
    (res("update", "configmaps", namespace="kube-system", name="kube-scheduler", user=SCHEDULER), ALLOW),
    (res("update", "configmaps", namespace="kube-system", name="kube-controller-manager", user=SCHEDULER),
     NO_OPINION),
    (res("get", "configmaps", namespace="kube-system", name="extension-apiserver-authentication", user=SCHEDULER),
     ALLOW),
]


@pytest.mark.parametrize("attrs,decision", BOOTSTRAP_CASES)
async def test_bootstrap_policy(bootstrap, attrs, decision):
    assert (await bootstrap.authorize(attrs))[0] == decision


def test_bootstrap_objects_carry_upstreams_label_and_autoupdate():
    for obj in bp.cluster_roles() + bp.cluster_role_bindings() + bp.namespace_roles() + bp.namespace_role_bindings():
        meta = obj["metadata"]
        assert meta["labels"]["kubernetes.io/bootstrapping"] == "rbac-defaults"
        assert meta["annotations"]["rbac.authorization.kubernetes.io/autoupdate"] == "true"


def test_aggregated_roles_select_by_label_and_chain_view_edit_admin():
    roles = {r["metadata"]["name"]: r for r in bp.cluster_roles()}
    for name in ("admin", "edit", "view"):
        selector = roles[name]["aggregationRule"]["clusterRoleSelectors"][0]["matchLabels"]
        assert selector == {f"rbac.authorization.k8s.io/aggregate-to-{name}": "true"}
        assert roles[name]["rules"] == []
    assert roles["view"]["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert roles["edit"]["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-admin"] == "true"


def test_reconcile_adds_what_is_missing_and_keeps_additions():
    wanted = role("ClusterRole", "r", [PODS_READ, {"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}])
    wanted["metadata"]["labels"] = {"kubernetes.io/bootstrapping": "rbac-defaults"}
    extra = {"verbs": ["get"], "apiGroups": ["apps"], "resources": ["deployments"]}
    current = role("ClusterRole", "r", [PODS_READ, extra])
    merged = bp.reconciled_role(current, wanted)
    assert merged["rules"] == [PODS_READ, extra, {"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}]
    assert merged["metadata"]["labels"] == {"kubernetes.io/bootstrapping": "rbac-defaults"}
    assert bp.reconciled_role(merged, wanted) is None  # converged: nothing to write
    current["metadata"]["annotations"] = {bp.AUTOUPDATE: "false"}
    assert bp.reconciled_role(current, wanted) is None  # autoupdate off: left alone


def test_reconcile_binding_adds_missing_subjects():
    wanted = binding("ClusterRoleBinding", "b", "ClusterRole", "r", [{"kind": "Group", "name": "g"}])
    current = binding("ClusterRoleBinding", "b", "ClusterRole", "r", [{"kind": "User", "name": "u"}])
    merged = bp.reconciled_binding(current, wanted)
    assert merged["subjects"] == [{"kind": "User", "name": "u"}, {"kind": "Group", "name": "g"}]
    assert bp.reconciled_binding(merged, wanted) is None


# -- on a real etcd: reconciliation at start, and the store following etcd --------------------------


@pytest.fixture
async def reg(etcd):
    client = Etcd([etcd.endpoint])
    storage = Storage(client, "/registry")
    services = ServiceAllocations(ClusterIPAllocator(client, "/registry", "10.32.0.0/24"),
                                  NodePortAllocator(client, "/registry", "30000-32767"))
    yield Registry(storage, services, build_chain(storage))
    await client.close()


async def test_reconcile_creates_once_then_tops_up_and_respects_autoupdate_false(reg):
    for name in ("kube-system", "kube-public"):  # the apiserver makes them just before
        await reg.create(registry.lookup("", "v1", "namespaces"), None, {"metadata": {"name": name}}, Options())
    written = await bp.reconcile(reg)
    assert len(written) == len(bp.cluster_roles()) + len(bp.cluster_role_bindings()) + \
        len(bp.namespace_roles()) + len(bp.namespace_role_bindings())
    assert "created RoleBinding kube-system/system::leader-locking-kube-scheduler" in written
    assert await bp.reconcile(reg) == []  # converged: a restart writes nothing

    async def edit(name, change):
        async def apply(stored):
            change(stored)
            return Change(obj=stored)
        await reg.storage.update(CLUSTER_ROLES, None, name, apply)

    extra = {"verbs": ["get"], "apiGroups": ["example.com"], "resources": ["widgets"]}
    # an administrator drops a rule of system:basic-user and adds one: the restart puts back only what is missing
    await edit("system:basic-user", lambda r: r.update(rules=r["rules"][1:] + [extra]))
    # and empties system:discovery, marked autoupdate=false: left as it is
    await edit("system:discovery", lambda r: (r.update(rules=[]),
                                              r["metadata"]["annotations"].update({bp.AUTOUPDATE: "false"})))
    assert await bp.reconcile(reg) == ["updated ClusterRole system:basic-user"]
    basic = await reg.storage.get(CLUSTER_ROLES, None, "system:basic-user")
    wanted = next(r for r in bp.cluster_roles() if r["metadata"]["name"] == "system:basic-user")["rules"]
    assert extra in basic["rules"] and all(rule in basic["rules"] for rule in wanted)
    assert (await reg.storage.get(CLUSTER_ROLES, None, "system:discovery"))["rules"] == []


async def test_the_store_follows_etcd(reg):
    await reg.create(registry.lookup("", "v1", "namespaces"), None, {"metadata": {"name": "web"}}, Options())
    store = RBACStore(reg.storage)
    await store.start()
    try:
        await reg.create(ROLE_BINDINGS, "web", binding("RoleBinding", "b", "Role", "r",
                                                       [{"kind": "User", "name": "jane"}], "web"), Options())
        for _ in range(100):  # the watch delivers it in milliseconds; give it a second at most
            if store.role_bindings("web"):
                break
            await asyncio.sleep(0.01)
        assert [b["metadata"]["name"] for b in store.role_bindings("web")] == ["b"]
        await reg.delete(ROLE_BINDINGS, "web", "b", DeleteOptions())
        for _ in range(100):
            if not store.role_bindings("web"):
                break
            await asyncio.sleep(0.01)
        assert store.role_bindings("web") == []
    finally:
        await store.stop()
