"""Authorization judged by the real kubectl: RBAC, escalation prevention, the Node authorizer, aggregation.

One secure apiserver (TLS, client certificates from labkit.pki, the fixture's
token file) with ``--authorization-mode=Node,RBAC`` and NodeRestriction.
Setup goes through the admin's certificate (system:masters) like a real
cluster's administrator; the users under test are

- ``jane``: a client certificate issued here with labkit.pki (O=web-devs),
- ``alice``/``bob``: bearer tokens of the fixture's --token-auth-file,
- ``system:node:worker-1`` and ``system:node:master-1``: the generated kubelet kubeconfigs.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone

import kubernetes
import pytest
import yaml

from labkit.localplane import ApiserverProcess
from labkit.pki.ca import read_ca
from labkit.pki.identities import CLUSTER_CA, Identity
from labkit.pki.issue import issue
from tests.integration.helpers import eventually
from tests.integration.security.secure_server import SecureApiserver, start_secure_apiserver

pytestmark = pytest.mark.integration

SECRET_OF_WORKER = "worker-secret"
SECRET_OF_MASTER = "master-secret"


@pytest.fixture(scope="module")
def server(security_lab, tmp_path_factory):
    server = start_secure_apiserver(security_lab, tmp_path_factory.mktemp("authz"), audit=False,
                                    authorization_mode="Node,RBAC",
                                    extra_args=("--enable-admission-plugins=NodeRestriction",))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(server):
    return server.kubeconfig("admin")


@pytest.fixture(scope="module")
def jane(server, security_lab, tmp_path_factory):
    """A kubeconfig with a client certificate for user jane (group web-devs), issued by the lab CA."""
    home = tmp_path_factory.mktemp("jane")
    pair = issue(Identity("jane", CLUSTER_CA, "jane", ("web-devs",), ("client",), (), (), None, "test user"),
                 read_ca(security_lab.pki, "ca"), datetime.now(timezone.utc))
    pair.save(home)
    config = home / "config"
    config.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "jane",
        "clusters": [{"name": "lab", "cluster": {"server": server.url,
                                                 "certificate-authority": str(security_lab.pki / "ca.crt")}}],
        "users": [{"name": "jane", "user": {"client-certificate": str(home / "jane.crt"),
                                            "client-key": str(home / "jane.key")}}],
        "contexts": [{"name": "jane", "context": {"cluster": "lab", "user": "jane"}}]}))
    config.chmod(0o600)
    return config


def ok(server, config, *args, input=None) -> str:
    r = server.kubectl(config, *args, input=input)
    assert r.returncode == 0, f"kubectl {' '.join(args)}: {r.stderr}"
    return r.stdout


def refused(server, config, *args, input=None) -> str:
    r = server.kubectl(config, *args, input=input)
    assert r.returncode != 0, f"kubectl {' '.join(args)} was expected to fail: {r.stdout}"
    return r.stderr.strip()


def can_i(server, config, *args) -> str:
    """``kubectl auth can-i``'s answer: yes or no (exit code 0 or 1)."""
    r = server.kubectl(config, "auth", "can-i", *args)
    assert r.returncode in (0, 1), r.stderr
    return r.stdout.strip()


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- bootstrap policy ------------------------------------------------------------------------


def test_bootstrap_roles_and_bindings_are_there(server, admin):
    roles = json.loads(ok(server, admin, "get", "clusterroles", "-o", "json"))["items"]
    by_name = {r["metadata"]["name"]: r for r in roles}
    for name in ("cluster-admin", "system:discovery", "system:basic-user", "system:public-info-viewer",
                 "system:monitoring", "system:kube-scheduler", "system:kube-controller-manager",
                 "system:node-proxier", "system:node", "admin", "edit", "view"):
        assert name in by_name, name
        assert by_name[name]["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"] == "true"
    assert by_name["view"]["aggregationRule"]["clusterRoleSelectors"] == [
        {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}]
    bindings = {b["metadata"]["name"]: b for b in
                json.loads(ok(server, admin, "get", "clusterrolebindings", "-o", "json"))["items"]}
    assert bindings["cluster-admin"]["subjects"] == [
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:masters"}]
    viewers = {s["name"] for s in bindings["system:public-info-viewer"]["subjects"]}
    assert viewers == {"system:authenticated", "system:unauthenticated"}
    roles = ok(server, admin, "get", "roles", "-n", "kube-system", "-o", "name")
    assert "role.rbac.authorization.k8s.io/system::leader-locking-kube-scheduler" in roles.splitlines()


def test_everyone_reads_public_info_and_only_the_authenticated_discovery(server, jane):
    context = ssl.create_default_context(cafile=str(server.lab.pki / "ca.crt"))

    def anonymous_get(path: str) -> tuple[int, str]:  # no credentials at all (kubectl would prompt for some)
        try:
            with urllib.request.urlopen(server.url + path, context=context, timeout=30) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    assert anonymous_get("/healthz") == (200, "ok")
    code, body = anonymous_get("/version")
    assert code == 200 and '"gitVersion"' in body
    code, body = anonymous_get("/apis")
    assert code == 403 and json.loads(body)["message"] == 'forbidden: User "system:anonymous" cannot get path "/apis"'
    assert '"groups"' in ok(server, jane, "get", "--raw", "/apis")


def test_service_accounts_read_the_issuer_discovery_documents_and_others_do_not(server, admin, jane):
    """system:service-account-issuer-discovery, bound to system:serviceaccounts as upstream: a pod's token may
    fetch the OIDC documents that verify it; a user without that group may not, nor may anonymous."""
    namespace = fresh("oidc")
    ok(server, admin, "create", "namespace", namespace)
    ok(server, admin, "create", "serviceaccount", "reader", "-n", namespace)
    reader = server.token_kubeconfig(ok(server, admin, "create", "token", "reader", "-n", namespace).strip())
    paths = ("/.well-known/openid-configuration", "/openid/v1/jwks")
    config = json.loads(ok(server, reader, "get", "--raw", paths[0]))
    assert config["jwks_uri"].endswith(paths[1])
    assert json.loads(ok(server, reader, "get", "--raw", paths[1]))["keys"]
    for path in paths:
        assert can_i(server, reader, "get", path) == "yes"
        assert refused(server, jane, "get", "--raw", path) == \
            f'Error from server (Forbidden): forbidden: User "jane" cannot get path "{path}"'
        with pytest.raises(urllib.error.HTTPError) as anonymous:  # no credentials at all
            urllib.request.urlopen(server.url + path, timeout=30,
                                   context=ssl.create_default_context(cafile=str(server.lab.pki / "ca.crt")))
        assert anonymous.value.code == 403
    role = json.loads(ok(server, admin, "get", "clusterrole", "system:service-account-issuer-discovery", "-o", "json"))
    assert role["rules"] == [{"verbs": ["get"], "nonResourceURLs": [
        "/.well-known/openid-configuration", "/.well-known/openid-configuration/", "/openid/v1/jwks",
        "/openid/v1/jwks/"]}]
    binding = json.loads(ok(server, admin, "get", "clusterrolebinding", "system:service-account-issuer-discovery",
                            "-o", "json"))
    assert binding["subjects"] == [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io",
                                    "name": "system:serviceaccounts"}]


# -- a namespaced Role -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def team(server, admin):
    """Namespace ``team`` where jane may read pods; namespace ``other`` where she may nothing."""
    team, other = fresh("team"), fresh("other")
    for ns in (team, other):
        ok(server, admin, "create", "namespace", ns)
    # kubectl's typed create commands send protobuf bodies
    ok(server, admin, "create", "role", "pod-reader", "--verb=get,list,watch", "--resource=pods", "-n", team)
    ok(server, admin, "create", "rolebinding", "jane-reads", "--role=pod-reader", "--user=jane", "-n", team)
    return team, other


def test_a_namespaced_role_grants_exactly_its_rules(server, jane, team):
    team, other = team
    assert "No resources found" in server.kubectl(jane, "get", "pods", "-n", team).stderr
    err = refused(server, jane, "get", "pods", "-n", other)
    assert err == (f'Error from server (Forbidden): pods is forbidden: User "jane" cannot list resource "pods" in '
                   f'API group "" in the namespace "{other}"')
    err = refused(server, jane, "create", "configmap", "x", "-n", team)
    assert err == (f'error: failed to create configmap: configmaps is forbidden: User "jane" cannot create resource '
                   f'"configmaps" in API group "" in the namespace "{team}"')
    matrix = {
        ("list", "pods", team): "yes", ("get", "pods", team): "yes", ("watch", "pods", team): "yes",
        ("create", "pods", team): "no", ("delete", "pods", team): "no",
        ("get", "secrets", team): "no", ("list", "pods", other): "no", ("list", "deployments.apps", team): "no",
    }
    answers = {(verb, res, ns): can_i(server, jane, verb, res, "-n", ns) for verb, res, ns in matrix}
    assert answers == matrix
    assert can_i(server, jane, "list", "pods", "--all-namespaces") == "no"
    assert can_i(server, jane, "get", "pods", "--subresource=log", "-n", team) == "no"  # a subresource is apart


def test_can_i_list_shows_the_rules_of_the_namespace(server, jane, team):
    team, other = team
    table = ok(server, jane, "auth", "can-i", "--list", "-n", team)
    pods = [line.split() for line in table.splitlines() if line.startswith("pods ")]
    assert pods == [["pods", "[]", "[]", "[get", "list", "watch]"]]
    assert "selfsubjectaccessreviews.authorization.k8s.io" in table  # system:basic-user
    assert not [line for line in ok(server, jane, "auth", "can-i", "--list", "-n", other).splitlines()
                if line.startswith("pods ")]


def test_a_binding_change_applies_within_a_second(server, admin, team):
    team, _ = team
    bob = server.token_kubeconfig(server.lab.token_of("bob"))
    assert can_i(server, bob, "list", "pods", "-n", team) == "no"
    ok(server, admin, "create", "rolebinding", "bob-reads", "--role=pod-reader", "--user=bob", "-n", team)
    deadline = time.monotonic() + 1.0
    while can_i(server, bob, "list", "pods", "-n", team) != "yes":
        assert time.monotonic() < deadline, "the new RoleBinding did not apply within a second"
    ok(server, admin, "delete", "rolebinding", "bob-reads", "-n", team)
    deadline = time.monotonic() + 1.0
    while can_i(server, bob, "list", "pods", "-n", team) != "no":
        assert time.monotonic() < deadline, "the deleted RoleBinding still applied after a second"


def test_groups_from_the_token_file_and_cluster_roles_in_a_namespace(server, admin, team):
    team, other = team
    alice = server.token_kubeconfig(server.lab.token_of("alice"))  # groups developers, testers
    lister = fresh("pod-lister")
    ok(server, admin, "create", "clusterrole", lister, "--verb=list", "--resource=pods")
    ok(server, admin, "create", "rolebinding", "devs-list", f"--clusterrole={lister}", "--group=developers",
       "-n", other)
    assert can_i(server, alice, "list", "pods", "-n", other) == "yes"
    assert can_i(server, alice, "list", "pods", "-n", team) == "no"  # a RoleBinding grants in its namespace only
    assert can_i(server, alice, "list", "pods", "--all-namespaces") == "no"
    assert can_i(server, alice, "get", "pods", "-n", other) == "no"


# -- escalation prevention --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def delegated(server, admin):
    """Namespace where jane manages Roles and RoleBindings but holds only pod reading."""
    ns = fresh("deleg")
    ok(server, admin, "create", "namespace", ns)
    ok(server, admin, "create", "role", "rbac-manager", "--verb=get,list,create,update,delete",
       "--resource=roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io", "-n", ns)
    ok(server, admin, "create", "role", "pod-reader", "--verb=get,list,watch", "--resource=pods", "-n", ns)
    ok(server, admin, "create", "role", "secret-reader", "--verb=get", "--resource=secrets", "-n", ns)
    ok(server, admin, "create", "rolebinding", "jane-manages", "--role=rbac-manager", "--user=jane", "-n", ns)
    ok(server, admin, "create", "rolebinding", "jane-pods", "--role=pod-reader", "--user=jane", "-n", ns)
    return ns


def test_granting_what_one_holds_works_and_more_is_refused(server, admin, jane, delegated):
    ns = delegated
    ok(server, jane, "create", "role", "pods-get", "--verb=get", "--resource=pods", "-n", ns)
    ok(server, jane, "create", "rolebinding", "bob-pods", "--role=pod-reader", "--user=bob", "-n", ns)
    err = refused(server, jane, "create", "role", "secrets-get", "--verb=get,list", "--resource=secrets", "-n", ns)
    assert err == ('Error from server (Forbidden): roles.rbac.authorization.k8s.io "secrets-get" is forbidden: '
                   'user "jane" (groups=["web-devs" "system:authenticated"]) is attempting to grant RBAC '
                   'permissions not currently held:\n'
                   '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}')
    err = refused(server, jane, "create", "rolebinding", "me-secrets", "--role=secret-reader", "--user=jane",
                  "-n", ns)
    assert "is attempting to grant RBAC permissions not currently held" in err
    assert 'rolebindings.rbac.authorization.k8s.io "me-secrets" is forbidden' in err
    # editing a role she may update, to grant more, is refused too
    role = json.loads(ok(server, jane, "get", "role", "pods-get", "-n", ns, "-o", "json"))
    role["rules"].append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]})
    err = refused(server, jane, "replace", "-f", "-", input=json.dumps(role))
    assert "is attempting to grant RBAC permissions not currently held" in err
    assert refused(server, jane, "get", "secrets", "-n", ns).startswith("Error from server (Forbidden)")
    # the bind verb on one role lets her bind it without holding it
    ok(server, admin, "create", "role", "bind-secret-reader", "--verb=bind",
       "--resource=roles.rbac.authorization.k8s.io", "--resource-name=secret-reader", "-n", ns)
    ok(server, admin, "create", "rolebinding", "jane-binds", "--role=bind-secret-reader", "--user=jane", "-n", ns)
    ok(server, jane, "create", "rolebinding", "bob-secrets", "--role=secret-reader", "--user=bob", "-n", ns)


# -- the Node authorizer and NodeRestriction -------------------------------------------------------------


@pytest.fixture(scope="module")
def nodes(server, admin):
    """Nodes worker-1 and master-1, each with a pod that mounts a secret of its own."""
    ns = fresh("kubelets")
    ok(server, admin, "create", "namespace", ns)
    ok(server, admin, "create", "serviceaccount", "default", "-n", ns)  # no serviceaccount controller here
    for node in ("worker-1", "master-1"):
        ok(server, admin, "apply", "-f", "-", input=json.dumps({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": node, "labels": {"kubernetes.io/hostname": node}}}))
    for node, secret in (("worker-1", SECRET_OF_WORKER), ("master-1", SECRET_OF_MASTER)):
        ok(server, admin, "create", "secret", "generic", secret, "--from-literal=k=v", "-n", ns)
        ok(server, admin, "create", "configmap", f"{secret}-cm", "--from-literal=k=v", "-n", ns)
        ok(server, admin, "create", "serviceaccount", f"{node}-sa", "-n", ns)
        ok(server, admin, "apply", "-n", ns, "-f", "-", input=json.dumps({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"pod-on-{node}"},
            "spec": {"nodeName": node, "automountServiceAccountToken": False, "serviceAccountName": f"{node}-sa",
                     "containers": [{"name": "c", "image": "busybox",
                                     "envFrom": [{"configMapRef": {"name": f"{secret}-cm"}}]}],
                     "volumes": [{"name": "s", "secret": {"secretName": secret}}]}}))
    return ns


def test_a_node_reads_only_its_own_pods_secrets(server, nodes):
    ns = nodes
    worker = server.kubeconfig("kubelet-worker-1")
    assert "worker-secret" in ok(server, worker, "get", "secret", SECRET_OF_WORKER, "-n", ns, "-o", "name")
    assert ok(server, worker, "get", "configmap", f"{SECRET_OF_WORKER}-cm", "-n", ns, "-o", "name")
    err = refused(server, worker, "get", "secret", SECRET_OF_MASTER, "-n", ns)
    assert err == (f'Error from server (Forbidden): secrets "{SECRET_OF_MASTER}" is forbidden: User '
                   f'"system:node:worker-1" cannot get resource "secrets" in API group "" in the namespace '
                   f'"{ns}": no relationship found between node \'worker-1\' and this object')
    assert refused(server, worker, "get", "configmap", f"{SECRET_OF_MASTER}-cm", "-n", ns)
    assert refused(server, worker, "get", "secrets", "-n", ns)  # no listing all secrets
    master = server.kubeconfig("kubelet-master-1")
    assert ok(server, master, "get", "secret", SECRET_OF_MASTER, "-n", ns, "-o", "name")
    # tokens only for the service accounts its pods run as
    assert ok(server, worker, "create", "token", "worker-1-sa", "-n", ns).count(".") == 2  # a JWT
    err = refused(server, worker, "create", "token", "master-1-sa", "-n", ns)
    assert "no relationship found between node 'worker-1' and this object" in err


def test_a_node_sees_its_pods_and_its_node_only(server, nodes):
    ns = nodes
    worker = server.kubeconfig("kubelet-worker-1")
    names = ok(server, worker, "get", "pods", "-A", "--field-selector=spec.nodeName=worker-1", "-o", "name")
    assert "pod/pod-on-worker-1" in names and "master" not in names
    err = refused(server, worker, "get", "pods", "-n", ns)
    assert "can only list/watch pods with spec.nodeName field selector" in err
    assert ok(server, worker, "get", "pod", "pod-on-worker-1", "-n", ns, "-o", "name")
    assert "no relationship found" in refused(server, worker, "get", "pod", "pod-on-master-1", "-n", ns)
    assert ok(server, worker, "get", "node", "worker-1", "-o", "name") == "node/worker-1\n"
    assert "node 'worker-1' cannot read 'master-1', only its own Node object" in \
        refused(server, worker, "get", "node", "master-1")
    assert can_i(server, worker, "update", "pods", "--subresource=status", "-n", ns) == "yes"


def test_node_restriction_keeps_a_node_to_its_own_objects(server, nodes):
    ns = nodes
    worker = server.kubeconfig("kubelet-worker-1")
    ok(server, worker, "label", "node", "worker-1", "lab.example/ready=true")
    # the Node authorizer lets any node patch nodes (it cannot see the body); NodeRestriction pins the name
    # (kubectl reads before it patches: the Python client sends the PATCH alone)
    core = kubernetes.client.CoreV1Api(server.client("kubelet-worker-1"))
    with pytest.raises(kubernetes.client.ApiException) as exc:
        core.patch_node("master-1", {"metadata": {"labels": {"lab.example/ready": "true"}}})
    assert exc.value.status == 403
    assert json.loads(exc.value.body)["message"] == ('nodes "master-1" is forbidden: node "worker-1" is not allowed '
                                                     'to modify node "master-1"')
    err = refused(server, worker, "label", "node", "worker-1", "node-restriction.kubernetes.io/team=a")
    assert "is not allowed to modify labels: node-restriction.kubernetes.io/team" in err
    status = {"status": {"phase": "Running"}}
    assert core.patch_namespaced_pod_status("pod-on-worker-1", ns, status).status.phase == "Running"
    with pytest.raises(kubernetes.client.ApiException) as exc:
        core.patch_namespaced_pod_status("pod-on-master-1", ns, status)
    assert exc.value.status == 403 and 'node "worker-1" can only update pod status for pods with spec.nodeName ' \
        'set to itself' in json.loads(exc.value.body)["message"]
    with pytest.raises(kubernetes.client.ApiException) as exc:
        core.delete_namespaced_pod("pod-on-master-1", ns)
    assert exc.value.status == 403 and 'node "worker-1" can only delete pods with spec.nodeName set to itself' in \
        json.loads(exc.value.body)["message"]
    err = refused(server, worker, "run", "sneaky", "--image=busybox", "-n", ns)
    assert 'node "worker-1" can only create mirror pods' in err
    # a mirror pod (a static pod's API copy): bound to and owned by its own Node, using no secrets
    node_uid = core.read_node("worker-1").metadata.uid
    mirror = {"apiVersion": "v1", "kind": "Pod",
              "metadata": {"name": "static-web-worker-1", "annotations": {"kubernetes.io/config.mirror": "x"},
                           "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "worker-1",
                                                "uid": node_uid, "controller": True}]},
              "spec": {"nodeName": "worker-1", "containers": [{"name": "web", "image": "busybox"}]}}
    assert core.create_namespaced_pod(ns, mirror).spec.node_name == "worker-1"
    for change, refusal in (
            (lambda p: p["spec"].update(volumes=[{"name": "s", "secret": {"secretName": SECRET_OF_WORKER}}]),
             "reference secrets"),  # (the ServiceAccount plugin may say it first: "a mirror pod may not ...")
            (lambda p: p["metadata"]["ownerReferences"][0].update(uid="not-the-node"),
             "node worker-1 UID mismatch"),
            (lambda p: p["spec"].update(nodeName="master-1"),
             'node "worker-1" can only create pods with spec.nodeName set to itself')):
        pod = json.loads(json.dumps(mirror))
        pod["metadata"]["name"] = fresh("static")
        change(pod)
        with pytest.raises(kubernetes.client.ApiException) as exc:
            core.create_namespaced_pod(ns, pod)
        assert exc.value.status == 403 and refusal in json.loads(exc.value.body)["message"]
    # its own lease only
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"namespace": "kube-node-lease"},
             "spec": {"holderIdentity": "worker-1", "leaseDurationSeconds": 40}}
    ok(server, worker, "create", "-f", "-", input=json.dumps({**lease, "metadata": {**lease["metadata"],
                                                                                      "name": "worker-1"}}))
    err = refused(server, worker, "create", "-f", "-", input=json.dumps({**lease, "metadata": {
        **lease["metadata"], "name": "master-1"}}))
    assert "can only access node lease with the same name as the requesting node" in err


# -- aggregation --------------------------------------------------------------------------------------------


async def test_aggregation_puts_a_new_aggregate_to_view_roles_rules_into_view(server, admin):
    from labkit.client.api import ApiClient
    from labkit.client.informer import SharedInformerFactory
    from labkit.client.kubeconfig import load_config
    from labkit.controllers.clusterroleaggregation import CLUSTER_ROLES, ClusterRoleAggregationController

    client = ApiClient(load_config(str(admin)), user_agent="test-clusterrole-aggregation")
    informers = SharedInformerFactory(client)
    controller = ClusterRoleAggregationController(client, informers)
    informers.start()
    task = asyncio.create_task(controller.run())
    name = fresh("widgets-viewer")
    try:
        async def view_rules():
            return (await client.get(CLUSTER_ROLES, "view")).get("rules") or []

        async def view_reads_pods():
            """view holds system:aggregate-to-view's rules"""
            return any("pods" in (r.get("resources") or []) for r in await view_rules())
        await eventually(view_reads_pods, 30)
        widgets = {"apiGroups": ["widgets.example.com"], "resources": ["widgets"], "verbs": ["get", "list"]}
        ok(server, admin, "apply", "-f", "-", input=json.dumps({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name, "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
            "rules": [widgets]}))

        async def view_has_widgets():
            """view holds the new role's rule"""
            return widgets in await view_rules()
        await eventually(view_has_widgets, 30)

        async def edit_and_admin_have_widgets():
            """edit and admin hold it too (view is aggregated into edit, edit into admin)"""
            edit = (await client.get(CLUSTER_ROLES, "edit")).get("rules") or []
            admin_rules = (await client.get(CLUSTER_ROLES, "admin")).get("rules") or []
            return widgets in edit and widgets in admin_rules
        await eventually(edit_and_admin_have_widgets, 30)
        ok(server, admin, "delete", "clusterrole", name)

        async def view_lost_widgets():
            """view no longer holds the deleted role's rule"""
            return widgets not in await view_rules()
        await eventually(view_lost_widgets, 30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await informers.stop()
        await client.close()


# -- impersonation and the other reviews --------------------------------------------------------------------


def test_can_i_as_another_user_through_impersonation(server, admin, team):
    team, other = team
    assert can_i(server, admin, "list", "pods", "-n", team, "--as=jane") == "yes"
    assert can_i(server, admin, "list", "pods", "-n", other, "--as=jane") == "no"
    assert can_i(server, admin, "list", "pods", "-n", other) == "yes"  # admin itself
    listing = ok(server, admin, "auth", "can-i", "--list", "-n", team, "--as=jane")
    assert [line.split()[0] for line in listing.splitlines() if line.startswith("pods ")] == ["pods"]
    err = refused(server, admin, "get", "pods", "-n", other, "--as=jane", "--as-group=web-devs")
    assert err == (f'Error from server (Forbidden): pods is forbidden: User "jane" cannot list resource "pods" in '
                   f'API group "" in the namespace "{other}"')
    # impersonating is a permission of its own
    bob = server.token_kubeconfig(server.lab.token_of("bob"))
    # kubectl's discovery fails first and says only "Forbidden: unknown", as against upstream: the Status is below
    assert refused(server, bob, "get", "pods", "-n", team, "--as=jane").endswith("Error from server (Forbidden): "
                                                                                  "unknown")
    api = server.client(token=server.lab.token_of("bob"))
    api.set_default_header("Impersonate-User", "jane")
    with pytest.raises(kubernetes.client.ApiException) as exc:
        kubernetes.client.CoreV1Api(api).list_namespaced_pod(team)
    assert exc.value.status == 403
    assert json.loads(exc.value.body)["message"] == ('users "jane" is forbidden: User "bob" cannot impersonate '
                                                     'resource "users" in API group "" at the cluster scope')


def test_subject_access_reviews_for_other_users(server, admin, team):
    team, other = team
    authz = kubernetes.client.AuthorizationV1Api(server.client("admin"))
    spec = {"user": "jane", "resourceAttributes": {"namespace": team, "verb": "list", "resource": "pods"}}
    review = authz.create_subject_access_review({"apiVersion": "authorization.k8s.io/v1",
                                                 "kind": "SubjectAccessReview", "spec": spec})
    assert review.status.allowed is True
    assert review.status.reason == ('RBAC: allowed by RoleBinding "jane-reads/' + team + '" of Role "pod-reader" '
                                    'to User "jane"')
    spec["resourceAttributes"]["namespace"] = other
    assert authz.create_subject_access_review({"spec": spec}).status.allowed is False
    local = authz.create_namespaced_local_subject_access_review(team, {
        "metadata": {"namespace": team},
        "spec": {"user": "jane", "resourceAttributes": {"namespace": team, "verb": "get", "resource": "pods"}}})
    assert local.status.allowed is True
    with pytest.raises(kubernetes.client.ApiException) as exc:  # the namespace must be the URL's
        authz.create_namespaced_local_subject_access_review(team, {
            "metadata": {"namespace": team},
            "spec": {"user": "jane", "resourceAttributes": {"namespace": other, "verb": "get", "resource": "pods"}}})
    assert exc.value.status == 400
    with pytest.raises(kubernetes.client.ApiException) as exc:  # somebody must be asked about
        authz.create_subject_access_review({"spec": {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}}})
    assert exc.value.status == 422 and "at least one of user or group must be specified" in exc.value.body
    # bob may ask about himself (system:basic-user), not about others
    bob = kubernetes.client.AuthorizationV1Api(server.client(token=server.lab.token_of("bob")))
    assert bob.create_self_subject_access_review(
        {"spec": {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}}}).status.allowed is True
    assert bob.create_self_subject_access_review(
        {"spec": {"nonResourceAttributes": {"path": "/healthz/etcd", "verb": "get"}}}).status.allowed is False
    with pytest.raises(kubernetes.client.ApiException) as exc:
        bob.create_subject_access_review({"spec": spec})
    assert exc.value.status == 403
    assert json.loads(exc.value.body)["message"] == (
        'subjectaccessreviews.authorization.k8s.io is forbidden: User "bob" cannot create resource '
        '"subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope')


def test_system_masters_needs_no_binding(server, admin):
    """As upstream, system:masters is allowed before any mode is asked: deleting cluster-admin's binding locks
    nobody out."""
    saved = json.loads(ok(server, admin, "get", "clusterrolebinding", "cluster-admin", "-o", "json"))
    ok(server, admin, "delete", "clusterrolebinding", "cluster-admin")
    try:
        assert can_i(server, admin, "delete", "nodes") == "yes"
        assert ok(server, admin, "get", "namespaces", "-o", "name")
    finally:
        for key in ("uid", "resourceVersion", "creationTimestamp", "managedFields"):
            saved["metadata"].pop(key, None)
        ok(server, admin, "create", "-f", "-", input=json.dumps(saved))


def test_resource_names_grant_single_objects_and_lists_of_one_name(server, admin, jane, team):
    team, _ = team
    ok(server, admin, "create", "configmap", "one", "--from-literal=k=v", "-n", team)
    ok(server, admin, "create", "configmap", "two", "--from-literal=k=v", "-n", team)
    ok(server, admin, "create", "role", "cm-one", "--verb=get,list,watch", "--resource=configmaps",
       "--resource-name=one", "-n", team)
    ok(server, admin, "create", "rolebinding", "jane-cm-one", "--role=cm-one", "--user=jane", "-n", team)
    assert ok(server, jane, "get", "configmap", "one", "-n", team, "-o", "name") == "configmap/one\n"
    assert "forbidden" in refused(server, jane, "get", "configmap", "two", "-n", team)
    # a list pinned to that name by fieldSelector is that name, as upstream authorizes it
    assert ok(server, jane, "get", "configmaps", "-n", team, "--field-selector=metadata.name=one",
              "-o", "name") == "configmap/one\n"
    assert "forbidden" in refused(server, jane, "get", "configmaps", "-n", team)


def test_a_second_apiserver_on_the_same_etcd_follows_binding_changes(server, admin, team, tmp_path):
    """HA: every apiserver keeps its own RBAC store from etcd's watch; a binding made through one applies on all."""
    team, _ = team
    second = ApiserverProcess(etcd=server.etcd, log_path=tmp_path / "second.log", secure=True,
                              ca_file=server.lab.pki / "ca.crt", extra_args=server.process.extra_args)
    second.start()
    try:
        other = SecureApiserver(server.lab, tmp_path, server.etcd, second)
        alice = other.token_kubeconfig(other.lab.token_of("alice"))
        assert can_i(other, alice, "get", "pods", "-n", team) == "no"
        ok(server, admin, "create", "rolebinding", "alice-reads", "--role=pod-reader", "--user=alice", "-n", team)
        deadline = time.monotonic() + 1.0
        while can_i(other, alice, "get", "pods", "-n", team) != "yes":
            assert time.monotonic() < deadline, "the second apiserver did not apply the binding within a second"
        assert "Traceback" not in second.log()
    finally:
        second.stop()


def test_a_service_account_gets_what_its_binding_grants(server, admin, team):
    team, other = team
    ok(server, admin, "create", "serviceaccount", "ci", "-n", team)
    # a ServiceAccount subject without a namespace would be the binding's: kubectl writes it out
    ok(server, admin, "create", "rolebinding", "ci-reads", "--role=pod-reader", f"--serviceaccount={team}:ci",
       "-n", team)
    token = ok(server, admin, "create", "token", "ci", "-n", team).strip()
    ci = server.token_kubeconfig(token)
    assert ok(server, ci, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}") == \
        f"system:serviceaccount:{team}:ci"
    assert can_i(server, ci, "list", "pods", "-n", team) == "yes"
    assert can_i(server, ci, "list", "pods", "-n", other) == "no"
    assert can_i(server, admin, "list", "pods", "-n", team, f"--as=system:serviceaccount:{team}:ci") == "yes"
