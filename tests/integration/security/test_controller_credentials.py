"""``labkit-controller-manager --use-service-account-credentials`` against a secure apiserver with Node,RBAC.

The controller-manager logs in with its own certificate (system:kube-controller-manager), gets each
controller a TokenRequest token for ``kube-system/<controller>``, and every controller then does its job
as that service account, allowed only by upstream's ``system:controller:<controller>`` role. The audit
log is the witness of who wrote what.
"""

from __future__ import annotations

import time
import uuid

import kubernetes
import pytest
from kubernetes.client.rest import ApiException

from tests.integration.controllers.conftest import ControllerManagerProcess
from tests.integration.security.secure_server import start_secure_apiserver
from tests.integration.security.test_authn import audit_events

pytestmark = pytest.mark.integration

SA = "system:serviceaccount:kube-system:"
CONTROLLER_ACCOUNTS = ("generic-garbage-collector", "namespace-controller", "service-account-controller",
                       "root-ca-cert-publisher", "resourcequota-controller", "clusterrole-aggregation-controller")


@pytest.fixture(scope="module")
def cluster(security_lab, tmp_path_factory):
    """A Node,RBAC apiserver (audit on) and a controller-manager using service-account credentials."""
    base = tmp_path_factory.mktemp("sa-credentials")
    server = start_secure_apiserver(security_lab, base, authorization_mode="Node,RBAC")
    manager = ControllerManagerProcess(server.kubeconfig("kube-controller-manager"), base / "controller-manager.log",
                                       "--use-service-account-credentials", "--leader-elect=false")
    try:
        manager.start()
        yield server, manager
    finally:
        manager.stop()
        print(f"--- controller-manager log\n{manager.log()[-6000:]}")
        server.stop()


def eventually(check, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"not within {timeout:.0f}s: {what}"
        time.sleep(0.3)


def gone(read) -> bool:
    try:
        read()
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def exists(read) -> bool:
    return not gone(read)


def test_each_controller_does_its_job_as_its_own_service_account(cluster):
    server, manager = cluster
    admin = server.client("admin")
    core = kubernetes.client.CoreV1Api(admin)
    rbac = kubernetes.client.RbacAuthorizationV1Api(admin)
    ns = f"creds-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": ns}})

    # service-account-controller and root-ca-cert-publisher fill the new namespace
    eventually(lambda: exists(lambda: core.read_namespaced_service_account("default", ns)), "default account")
    eventually(lambda: exists(lambda: core.read_namespaced_config_map("kube-root-ca.crt", ns)), "kube-root-ca.crt")

    # generic-garbage-collector: a dependent goes with its owner
    owner = core.create_namespaced_config_map(ns, {"metadata": {"name": "owner"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "dependent", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}]}})
    core.delete_namespaced_config_map("owner", ns)
    eventually(lambda: gone(lambda: core.read_namespaced_config_map("dependent", ns)), "the dependent collected")

    # resourcequota-controller: a pod that finished stops counting (admission counts creates and deletes only)
    core.create_namespaced_resource_quota(ns, {"metadata": {"name": "quota"}, "spec": {"hard": {"pods": "5"}}})
    core.create_namespaced_pod(ns, {"metadata": {"name": "job"},
                                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    assert core.read_namespaced_resource_quota("quota", ns).status.used == {"pods": "1"}
    pod = core.read_namespaced_pod("job", ns)
    pod.status.phase = "Succeeded"
    core.replace_namespaced_pod_status("job", ns, pod)
    eventually(lambda: core.read_namespaced_resource_quota("quota", ns).status.used == {"pods": "0"},
               "the finished pod no longer counted")

    # clusterrole-aggregation-controller: a labelled role's rules reach view
    extra = f"creds-aggregated-{uuid.uuid4().hex[:6]}"
    rbac.create_cluster_role({"metadata": {"name": extra,
                                           "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
                              "rules": [{"apiGroups": ["example.com"], "resources": [extra], "verbs": ["get"]}]})
    eventually(lambda: any(extra in (r.resources or []) for r in rbac.read_cluster_role("view").rules),
               "rules aggregated into view")

    # namespace-controller: the namespace empties and goes
    core.delete_namespace(ns)
    eventually(lambda: gone(lambda: core.read_namespace(ns)), "namespace deletion finished", timeout=90)

    def by_controllers() -> list[dict]:
        return [e for e in audit_events(server) if e["user"].get("username", "").startswith(SA)]

    def did(account: str, verb: str, resource: str, subresource: str = "", name: str = "") -> bool:
        return any(e["user"]["username"] == SA + account and e["verb"] == verb
                   and e["objectRef"]["resource"] == resource and e["objectRef"].get("subresource", "") == subresource
                   and e["objectRef"].get("name") == name and e["responseStatus"]["code"] < 300
                   for e in by_controllers())

    expected = [("service-account-controller", "create", "serviceaccounts", "", "default"),
                ("root-ca-cert-publisher", "create", "configmaps", "", "kube-root-ca.crt"),
                ("generic-garbage-collector", "delete", "configmaps", "", "dependent"),
                ("resourcequota-controller", "update", "resourcequotas", "status", "quota"),
                ("clusterrole-aggregation-controller", "patch", "clusterroles", "", "view"),
                ("namespace-controller", "delete", "configmaps", "", "kube-root-ca.crt"),
                ("namespace-controller", "update", "namespaces", "finalize", ns)]
    # (a request's event is written as its answer leaves: the last one may come just after its effect is seen)
    eventually(lambda: all(did(*line) for line in expected), "each controller's writes in the audit log, as itself")
    controller_events = by_controllers()
    refused = [(e["user"]["username"], e["verb"], e["requestURI"]) for e in controller_events
               if e["responseStatus"]["code"] in (401, 403)]
    assert refused == []  # upstream's controller roles are enough for labkit's controllers
    groups = {tuple(e["user"]["groups"]) for e in controller_events}
    assert groups == {("system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated")}

    # the controller-manager's own identity only lists, watches and gets the controllers their tokens
    events = audit_events(server)
    own_writes = {(e["verb"], e.get("objectRef", {}).get("resource"), e.get("objectRef", {}).get("subresource", ""))
                  for e in events if e["user"].get("username") == "system:kube-controller-manager"
                  and e["verb"] not in ("get", "list", "watch")}
    assert own_writes <= {("create", "serviceaccounts", ""), ("create", "serviceaccounts", "token")}
    token_requests = {e["objectRef"]["name"] for e in events
                      if e["user"].get("username") == "system:kube-controller-manager"
                      and e.get("objectRef", {}).get("subresource") == "token" and e["responseStatus"]["code"] == 201}
    assert token_requests == set(CONTROLLER_ACCOUNTS)


def test_a_controller_token_is_its_service_account_and_nothing_more(cluster):
    """What a controller's token proves (SelfSubjectReview) and what its role allows (SelfSubjectAccessReview)."""
    server, _ = cluster
    core = kubernetes.client.CoreV1Api(server.client("admin"))
    token = core.create_namespaced_service_account_token(
        "namespace-controller", "kube-system", {"spec": {"expirationSeconds": 600}}).status.token
    config = server.token_kubeconfig(token)
    result = server.kubectl(config, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert result.returncode == 0, result.stderr
    assert result.stdout == SA + "namespace-controller"
    for question, answer in ((("delete", "pods", "-A"), "yes"),
                             (("update", "namespaces", "--subresource=finalize"), "yes"),
                             (("create", "pods", "-A"), "no"), (("create", "clusterrolebindings"), "no"),
                             (("get", "secrets", "-n", "kube-system"), "yes"),  # to delete a namespace's content
                             (("create", "secrets", "-n", "kube-system"), "no")):
        result = server.kubectl(config, "auth", "can-i", *question)
        assert result.stdout.strip() == answer, (question, result.stdout, result.stderr)


async def test_credentials_are_a_token_only_and_renew(cluster):
    """ServiceAccountCredentials as the controller-manager uses them: the client carries the token and not the
    manager's certificate (which would win), and a renewal swaps in a new token that works at once."""
    from labkit.client.api import ApiClient
    from labkit.client.kubeconfig import load_config
    from labkit.controllers.credentials import ServiceAccountCredentials

    server, _ = cluster
    root = ApiClient(load_config(str(server.kubeconfig("kube-controller-manager"))))
    credentials = ServiceAccountCredentials(root)
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    try:
        client = await credentials.client_for("renewal-check")  # the account is made on the way
        assert client.config.client_cert_data is None and client.config.token
        me = await client.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", body=review)
        assert me["status"]["userInfo"]["username"] == SA + "renewal-check"
        credential = credentials.credentials[0]
        first, first_expiry = client.config.token, credential.expires
        assert 3500 < first_expiry - time.time() <= 3600
        await credentials.renew(credential)
        assert client.config.token != first and credential.expires >= first_expiry
        me = await client.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", body=review)
        assert me["status"]["userInfo"]["username"] == SA + "renewal-check"
    finally:
        await credentials.close()
        await root.close()
