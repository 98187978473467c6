"""Server-side apply against labkit-apiserver, judged by the real kubectl and the official Python client.

``kubectl apply --server-side`` sends ``PATCH`` with ``application/apply-patch+yaml``
and ``?fieldManager=`` (``kubectl`` unless ``--field-manager``); the server merges,
records ownership in ``metadata.managedFields`` and refuses to change fields
another manager owns (409) unless ``--force-conflicts``.
"""

from __future__ import annotations

import json
import urllib.parse

import kubernetes
import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.dynamic import DynamicClient

from tests.integration.apiserver.test_kubectl import Kubectl, deployment, docs, kubectl  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

APPLY = "application/apply-patch+yaml"


def managers(obj: dict) -> dict[str, dict]:
    """manager name -> its managedFields entry."""
    return {e["manager"]: e for e in obj["metadata"].get("managedFields") or []}


def container(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]["containers"][0]


def test_kubectl_server_side_apply_create_unchanged_changed_removed(kubectl: Kubectl):
    env = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    first = docs(deployment("web", env=env))
    assert "deployment.apps/web serverside-applied" in kubectl("apply", "--server-side", "-f", "-", input=first)
    obj = kubectl.json("get", "deploy", "web")
    assert "managedFields" not in obj["metadata"], "kubectl get hides managedFields"
    shown = yaml.safe_load(kubectl("get", "deploy", "web", "-o", "yaml", "--show-managed-fields"))
    entry = managers(shown)["kubectl"]
    assert (entry["operation"], entry["apiVersion"], entry["fieldsType"]) == ("Apply", "apps/v1", "FieldsV1")
    fields = entry["fieldsV1"]
    assert fields["f:spec"]["f:replicas"] == {}
    web = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert set(web) == {".", "f:env", "f:image", "f:name", "f:ports"}
    assert set(web["f:env"]) == {'k:{"name":"A"}', 'k:{"name":"B"}'}
    assert 'k:{"containerPort":80,"protocol":"TCP"}' in web["f:ports"]  # the defaulted key, as upstream
    assert fields["f:metadata"] == {"f:labels": {"f:app": {}}}

    rv = obj["metadata"]["resourceVersion"]
    kubectl("apply", "--server-side", "-f", "-", input=first)
    again = kubectl.json("get", "deploy", "web")
    assert again["metadata"]["resourceVersion"] == rv, "an unchanged apply writes nothing"
    assert len(container(again)["ports"]) == 1, "the applied port is the defaulted live one"

    # Changed: replicas 3, env B dropped, a label added: B is removed (this manager gave it up).
    changed = deployment("web", replicas=3, env=env[:1])
    changed["metadata"]["labels"]["tier"] = "front"
    kubectl("apply", "--server-side", "-f", "-", input=docs(changed))
    obj = kubectl.json("get", "deploy", "web")
    assert obj["spec"]["replicas"] == 3
    assert container(obj)["env"] == [{"name": "A", "value": "1"}]
    assert obj["metadata"]["labels"] == {"app": "web", "tier": "front"}

    # A field removed from the file: the label goes, and so does the whole env list.
    del changed["metadata"]["labels"]["tier"]
    del changed["spec"]["template"]["spec"]["containers"][0]["env"]
    kubectl("apply", "--server-side", "-f", "-", input=docs(changed))
    obj = kubectl.json("get", "deploy", "web")
    assert obj["metadata"]["labels"] == {"app": "web"}
    assert "env" not in container(obj)
    assert container(obj)["imagePullPolicy"] == "IfNotPresent", "defaulting still runs on the merged object"


def test_kubectl_two_managers_conflict_force_and_shared_fields(kubectl: Kubectl):
    kubectl("apply", "--server-side", "--field-manager=team-a", "-f", "-", input=docs(deployment("api")))
    # team-b owns only the replicas it applies ...
    scale = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"}, "spec": {"replicas": 5}}
    refused = kubectl.run("apply", "--server-side", "--field-manager=team-b", "-f", "-", input=docs(scale),
                          check=False)
    assert refused.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "team-a": .spec.replicas' in refused.stderr
    assert kubectl.json("get", "deploy", "api")["spec"]["replicas"] == 2, "a conflict writes nothing"

    # ... the same value is shared ownership, no conflict
    same = {**scale, "spec": {"replicas": 2}}
    kubectl("apply", "--server-side", "--field-manager=team-b", "-f", "-", input=docs(same))
    shown = yaml.safe_load(kubectl("get", "deploy", "api", "-o", "yaml", "--show-managed-fields"))
    assert "f:replicas" in managers(shown)["team-a"]["fieldsV1"]["f:spec"]
    assert "f:replicas" in managers(shown)["team-b"]["fieldsV1"]["f:spec"]

    # --force-conflicts takes the field from team-a
    kubectl("apply", "--server-side", "--field-manager=team-b", "--force-conflicts", "-f", "-", input=docs(scale))
    shown = yaml.safe_load(kubectl("get", "deploy", "api", "-o", "yaml", "--show-managed-fields"))
    assert shown["spec"]["replicas"] == 5
    assert "f:replicas" not in managers(shown)["team-a"]["fieldsV1"]["f:spec"]
    assert managers(shown)["team-b"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}

    # team-a drops replicas from its file: team-b still owns the field, so it stays
    mine = deployment("api")
    del mine["spec"]["replicas"]
    kubectl("apply", "--server-side", "--field-manager=team-a", "-f", "-", input=docs(mine))
    assert kubectl.json("get", "deploy", "api")["spec"]["replicas"] == 5


def test_kubectl_conflict_with_an_update_manager(kubectl: Kubectl):
    """``kubectl scale`` (no --field-manager: the User-Agent's "kubectl") is an Update through /scale;
    a later apply of replicas conflicts with it."""
    kubectl("apply", "--server-side", "--field-manager=ci", "-f", "-", input=docs(deployment("w")))
    kubectl("scale", "deploy", "w", "--replicas=4")
    shown = yaml.safe_load(kubectl("get", "deploy", "w", "-o", "yaml", "--show-managed-fields"))
    update = managers(shown)["kubectl"]
    assert (update["operation"], update["subresource"], update["apiVersion"]) == ("Update", "scale", "apps/v1")
    assert update["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in managers(shown)["ci"]["fieldsV1"]["f:spec"], "the update took the field"
    refused = kubectl.run("apply", "--server-side", "--field-manager=ci", "-f", "-", input=docs(deployment("w")),
                          check=False)
    assert refused.returncode != 0
    assert ('Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" using apps/v1: '
            '.spec.replicas') in refused.stderr


def test_kubectl_server_side_dry_run_and_ordinary_update_keeps_managed_fields(kubectl: Kubectl):
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1"}}
    out = kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", input=docs(cm))
    assert "configmap/cfg serverside-applied (server dry run)" in out
    assert kubectl.run("get", "configmap", "cfg", check=False).returncode != 0, "dry run persisted nothing"

    kubectl("apply", "--server-side", "-f", "-", input=docs(cm))
    kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", input=docs({**cm, "data": {"b": "2"}}))
    assert kubectl.json("get", "configmap", "cfg")["data"] == {"a": "1"}

    # A PUT that sends no managedFields (kubectl replace strips nothing but get hides them): they survive.
    live = kubectl.json("get", "configmap", "cfg")
    live["data"]["c"] = "3"
    kubectl("replace", "-f", "-", input=json.dumps(live))
    shown = yaml.safe_load(kubectl("get", "configmap", "cfg", "-o", "yaml", "--show-managed-fields"))
    assert managers(shown)["kubectl"]["fieldsV1"] == {"f:data": {"f:a": {}}}
    assert managers(shown)["kubectl-replace"]["fieldsV1"] == {"f:data": {"f:c": {}}}
    # The applier drops "a": it goes; "c" is the replacer's and stays.
    kubectl("apply", "--server-side", "-f", "-", input=docs({**cm, "data": {"b": "2"}}))
    assert kubectl.json("get", "configmap", "cfg")["data"] == {"b": "2", "c": "3"}


def test_kubectl_server_side_apply_every_kind_of_list(kubectl: Kubectl):
    """Sets (finalizers), associative lists (service ports by port+protocol), atomic lists (args)."""
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "finalizers": ["a.example/x"]},
           "spec": {"selector": {"app": "s"}, "ports": [{"name": "http", "port": 80}]}}
    kubectl("apply", "--server-side", "--field-manager=one", "-f", "-", input=docs(svc))
    other = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "finalizers": ["b.example/y"]},
             "spec": {"ports": [{"name": "https", "port": 443}]}}
    kubectl("apply", "--server-side", "--field-manager=two", "-f", "-", input=docs(other))
    obj = kubectl.json("get", "service", "s")
    assert obj["metadata"]["finalizers"] == ["a.example/x", "b.example/y"]
    assert [p["port"] for p in obj["spec"]["ports"]] == [80, 443]
    shown = yaml.safe_load(kubectl("get", "service", "s", "-o", "yaml", "--show-managed-fields"))
    assert managers(shown)["two"]["fieldsV1"]["f:metadata"] == {"f:finalizers": {'v:"b.example/y"': {}}}
    # "one" gives up its port and finalizer: only those go
    kubectl("apply", "--server-side", "--field-manager=one", "-f", "-",
            input=docs({**svc, "metadata": {"name": "s"}, "spec": {"selector": {"app": "s"}}}))
    obj = kubectl.json("get", "service", "s")
    assert obj["metadata"]["finalizers"] == ["b.example/y"]
    assert [p["port"] for p in obj["spec"]["ports"]] == [443]
    kubectl("patch", "service", "s", "--type=json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')

    dep = deployment("d")
    container(dep)["args"] = ["a", "b"]
    kubectl("apply", "--server-side", "-f", "-", input=docs(dep))
    container(dep)["args"] = ["c"]
    kubectl("apply", "--server-side", "-f", "-", input=docs(dep))
    assert container(kubectl.json("get", "deploy", "d"))["args"] == ["c"], "atomic: replaced whole"
    shown = yaml.safe_load(kubectl("get", "deploy", "d", "-o", "yaml", "--show-managed-fields"))
    web = managers(shown)["kubectl"]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert web["f:args"] == {}, "an atomic list is one field"


def test_kubectl_client_side_apply_then_server_side_takes_over(kubectl: Kubectl):
    """kubectl moves the fields of its client-side apply to the server-side applier, then removal works."""
    env = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    kubectl("apply", "-f", "-", input=docs(deployment("old", env=env)))
    shown = yaml.safe_load(kubectl("get", "deploy", "old", "-o", "yaml", "--show-managed-fields"))
    assert managers(shown)["kubectl-client-side-apply"]["operation"] == "Update"
    kubectl("apply", "--server-side", "-f", "-", input=docs(deployment("old", env=env[:1])))
    obj = kubectl.json("get", "deploy", "old")
    assert container(obj)["env"] == [{"name": "A", "value": "1"}]
    shown = yaml.safe_load(kubectl("get", "deploy", "old", "-o", "yaml", "--show-managed-fields"))
    assert managers(shown)["kubectl"]["operation"] == "Apply"


def test_kubectl_apply_to_the_status_subresource(kubectl: Kubectl):
    kubectl("apply", "--server-side", "-f", "-", input=docs(deployment("st")))
    status = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "st"},
              "spec": {"replicas": 9}, "status": {"replicas": 2, "readyReplicas": 1}}
    kubectl("apply", "--server-side", "--subresource=status", "--field-manager=ctrl", "-f", "-",
            input=docs(status))
    obj = kubectl.json("get", "deploy", "st")
    assert obj["status"]["readyReplicas"] == 1
    assert obj["spec"]["replicas"] == 2, "the status subresource writes status only"
    shown = yaml.safe_load(kubectl("get", "deploy", "st", "-o", "yaml", "--show-managed-fields"))
    entry = managers(shown)["ctrl"]
    assert (entry["operation"], entry["subresource"]) == ("Apply", "status")
    assert entry["fieldsV1"] == {"f:status": {"f:readyReplicas": {}, "f:replicas": {}}}


def one_of_every_kind(suffix: str) -> list[dict]:
    """A small valid object of every kind labkit serves that takes patches."""
    labels = {"app": "all"}
    template = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    job_template = {"metadata": {"labels": labels},
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}
    selector = {"matchLabels": labels}

    def obj(api_version, kind, name="all", **fields):
        return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "labels": labels}, **fields}

    rbac = "rbac.authorization.k8s.io/v1"
    role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"all-{suffix}"}
    return [
        obj("v1", "ConfigMap", data={"a": "1"}),
        obj("v1", "Secret", stringData={"a": "1"}, type="Opaque"),
        obj("v1", "ServiceAccount"),
        obj("v1", "Pod", spec=template["spec"]),
        obj("v1", "Service", spec={"selector": labels, "ports": [{"port": 80}]}),
        obj("v1", "Endpoints", subsets=[{"addresses": [{"ip": "10.1.2.3"}], "ports": [{"port": 80}]}]),
        obj("v1", "LimitRange", spec={"limits": [{"type": "Container", "default": {"cpu": "100m"}}]}),
        obj("v1", "ResourceQuota", spec={"hard": {"pods": "10"}}),
        obj("v1", "Event", involvedObject={"kind": "Pod", "name": "all", "namespace": ""}, reason="Test",
            message="m", type="Normal"),
        obj("v1", "Namespace", name=f"all-{suffix}"),
        obj("v1", "Node", name=f"all-{suffix}", spec={"podCIDR": "10.200.9.0/24"}),
        obj("apps/v1", "Deployment", spec={"selector": selector, "template": template}),
        obj("apps/v1", "ReplicaSet", spec={"selector": selector, "template": template}),
        obj("apps/v1", "DaemonSet", spec={"selector": selector, "template": template}),
        obj("apps/v1", "StatefulSet", spec={"selector": selector, "template": template, "serviceName": "all"}),
        obj("batch/v1", "Job", spec={"template": job_template}),
        obj("batch/v1", "CronJob", spec={"schedule": "*/5 * * * *",
                                         "jobTemplate": {"spec": {"template": job_template}}}),
        obj("policy/v1", "PodDisruptionBudget", spec={"selector": selector, "minAvailable": 1}),
        obj("coordination.k8s.io/v1", "Lease", spec={"holderIdentity": "me"}),
        obj("discovery.k8s.io/v1", "EndpointSlice", addressType="IPv4",
            endpoints=[{"addresses": ["10.1.2.3"]}], ports=[{"port": 80, "protocol": "TCP"}]),
        obj(rbac, "Role", rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]),
        obj(rbac, "RoleBinding", roleRef=role_ref, subjects=[{"kind": "User", "name": "u"}]),
        obj(rbac, "ClusterRole", name=f"all-{suffix}", rules=[{"apiGroups": [""], "resources": ["pods"],
                                                                "verbs": ["get"]}]),
        obj(rbac, "ClusterRoleBinding", name=f"all-{suffix}", roleRef=role_ref,
            subjects=[{"kind": "User", "name": "u"}]),
    ]


def test_kubectl_server_side_apply_of_every_kind(kubectl: Kubectl):
    objects = one_of_every_kind(kubectl.namespace)
    out = kubectl("apply", "--server-side", "-f", "-", input=docs(*objects))
    assert out.count("serverside-applied") == len(objects), out
    listing = "configmaps,secrets,serviceaccounts,pods,services,endpoints,limitranges,resourcequotas,events," \
              "deployments,replicasets,daemonsets,statefulsets,jobs,cronjobs,poddisruptionbudgets,leases," \
              "endpointslices,roles,rolebindings"
    cluster = [f"namespace/all-{kubectl.namespace}", f"node/all-{kubectl.namespace}",
               f"clusterrole/all-{kubectl.namespace}", f"clusterrolebinding/all-{kubectl.namespace}"]

    def applied_objects() -> list[dict]:
        items = kubectl.json("get", listing, "-l", "app=all", "--show-managed-fields")["items"]
        return items + [kubectl.json("get", name, "--show-managed-fields") for name in cluster]

    first = applied_objects()
    assert len(first) == len(objects)
    for item in first:
        entry = managers(item)["kubectl"]
        assert entry["operation"] == "Apply", item["kind"]
        assert entry["fieldsV1"]["f:metadata"]["f:labels"] == {"f:app": {}}, item["kind"]
    kubectl("apply", "--server-side", "-f", "-", input=docs(*objects))
    again = applied_objects()
    assert {(o["kind"], o["metadata"]["resourceVersion"]) for o in again} == \
        {(o["kind"], o["metadata"]["resourceVersion"]) for o in first}, "an unchanged apply writes nothing"
    kubectl("delete", "--wait=false", *cluster, namespaced=False)


# -- the official Python client ------------------------------------------------------------

@pytest.fixture(scope="module")
def api_client(apiserver, tmp_path_factory) -> k8s.ApiClient:
    path = apiserver.kubeconfig(tmp_path_factory.mktemp("ssa") / "kubeconfig")
    api = kubernetes.config.new_client_from_config(config_file=str(path))
    yield api
    api.close()


@pytest.fixture
def ns(api_client) -> str:
    import uuid
    name = f"ssa-{uuid.uuid4().hex[:8]}"
    k8s.CoreV1Api(api_client).create_namespace({"metadata": {"name": name}})
    return name


def raw_apply(api_client, namespace: str, name: str, body: str, content_type: str = APPLY,
              resource: str = "api/v1/namespaces/{namespace}/configmaps/{name}", **query):
    """A PATCH with the apply content type and a text body, sent by the client's own REST layer; (status, body)."""
    url = f"{api_client.configuration.host}/{resource.format(namespace=namespace, name=name)}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    answer = api_client.call_api("PATCH", url, header_params={"Content-Type": content_type,
                                                              "Accept": "application/json"}, body=body)
    answer.read()
    return answer.status, json.loads(answer.data)


def test_python_dynamic_client_server_side_apply(api_client, ns):
    dyn = DynamicClient(api_client)
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "py", "namespace": ns},
            "data": {"k": "v"}}
    created = cms.server_side_apply(body=body, namespace=ns, field_manager="py-ssa")
    assert created.data.k == "v"
    assert created.metadata.managedFields[0].manager == "py-ssa"
    assert created.metadata.managedFields[0].operation == "Apply"
    updated = cms.server_side_apply(body={**body, "data": {"k": "w"}}, namespace=ns, field_manager="py-ssa")
    assert updated.data.k == "w"
    typed = k8s.CoreV1Api(api_client).read_namespaced_config_map("py", ns)
    assert typed.metadata.managed_fields[0].fields_v1 == {"f:data": {"f:k": {}}}


def test_apply_answers_like_upstream(api_client, ns):
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "raw"}, "data": {"a": "1"}}
    status, answer = raw_apply(api_client, ns, "raw", yaml.safe_dump(cm), fieldManager="m1")
    assert status == 201, "an apply that creates answers 201 Created"
    status, answer = raw_apply(api_client, ns, "raw", json.dumps({**cm, "data": {"a": "2"}}), fieldManager="m1")
    assert status == 200 and answer["data"] == {"a": "2"}, "a JSON body is YAML too"

    status, answer = raw_apply(api_client, ns, "raw", yaml.safe_dump(cm))
    assert (status, answer["reason"]) == (422, "Invalid")
    assert answer["message"] == ('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                                 'is required for apply patch')

    status, answer = raw_apply(api_client, ns, "raw", yaml.safe_dump({**cm, "data": {"a": "3"}}), fieldManager="m2")
    assert (status, answer["reason"]) == (409, "Conflict")
    assert answer["message"] == 'Apply failed with 1 conflict: conflict with "m1": .data.a'
    assert answer["details"]["causes"] == [{"reason": "FieldManagerConflict", "message": 'conflict with "m1"',
                                            "field": ".data.a"}]
    status, answer = raw_apply(api_client, ns, "raw", yaml.safe_dump({**cm, "data": {"a": "3"}}), fieldManager="m2",
                               force="true")
    assert status == 200 and answer["data"] == {"a": "3"}

    status, answer = raw_apply(api_client, ns, "raw", yaml.safe_dump({**cm, "data": {"a": "4"}}), fieldManager="m1",
                               dryRun="All")
    assert status == 409, "dry run answers as the write would"
    status, answer = raw_apply(api_client, ns, "raw", yaml.safe_dump({**cm, "data": {"b": "4"}}), fieldManager="m3",
                               dryRun="All")
    assert status == 200 and answer["data"] == {"a": "3", "b": "4"}
    assert k8s.CoreV1Api(api_client).read_namespaced_config_map("raw", ns).data == {"a": "3"}

    for bad in ({**cm, "kind": "Secret"}, {**cm, "apiVersion": "v2"}, {**cm, "metadata": {"name": "other"}}):
        status, answer = raw_apply(api_client, ns, "raw", yaml.safe_dump(bad), fieldManager="m1")
        assert (status, answer["reason"]) == (400, "BadRequest"), bad
    status, answer = raw_apply(api_client, ns, "raw", "data: [unclosed", fieldManager="m1")
    assert (status, answer["reason"]) == (400, "BadRequest")
    status, answer = raw_apply(api_client, ns, "raw", '{"data": {"a": "5"}}', "application/merge-patch+json",
                               force="true")
    assert (status, answer["message"]) == (422, 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not '
                                                'be specified for non-apply patch')
    status, answer = raw_apply(api_client, ns, "raw", yaml.safe_dump(cm), fieldManager="m" * 129)
    assert (status, answer["reason"]) == (422, "Invalid")
    assert answer["details"]["causes"][0]["field"] == "fieldManager"
    with_owners = {**cm, "metadata": {"name": "raw", "managedFields": [{"manager": "x", "operation": "Apply"}]}}
    status, answer = raw_apply(api_client, ns, "raw", yaml.safe_dump(with_owners), fieldManager="m1")
    assert (status, answer["message"]) == (400, "metadata.managedFields must be nil")
    status, answer = raw_apply(api_client, ns, "raw", yaml.safe_dump({"data": {"a": "1"}}), fieldManager="m1")
    assert (status, answer["reason"]) == (400, "BadRequest")
    assert k8s.CoreV1Api(api_client).read_namespaced_config_map("raw", ns).data == {"a": "3"}, "bad input lost nothing"


def test_apply_to_the_scale_subresource(api_client, ns):
    """A Scale applied to /scale: its spec.replicas is the Deployment's, owned through the subresource."""
    dyn = DynamicClient(api_client)
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    deployments.server_side_apply(body={**deployment("sc"), "metadata": {"name": "sc", "namespace": ns}},
                                  namespace=ns, field_manager="ci")
    scale_path = "apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"
    scale = {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "sc"}, "spec": {"replicas": 6}}
    status, answer = raw_apply(api_client, ns, "sc", yaml.safe_dump(scale), resource=scale_path, fieldManager="hpa")
    assert (status, answer["message"]) == (409, 'Apply failed with 1 conflict: conflict with "ci": .spec.replicas')
    status, answer = raw_apply(api_client, ns, "sc", yaml.safe_dump(scale), resource=scale_path, fieldManager="hpa",
                               force="true")
    assert (status, answer["kind"], answer["spec"]) == (200, "Scale", {"replicas": 6})
    live = deployments.get(name="sc", namespace=ns).to_dict()
    assert live["spec"]["replicas"] == 6
    entry = managers(live)["hpa"]
    assert (entry["operation"], entry["subresource"], entry["apiVersion"]) == ("Apply", "scale", "apps/v1")
    assert entry["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in managers(live)["ci"]["fieldsV1"]["f:spec"]

    status, answer = raw_apply(api_client, ns, "sc", yaml.safe_dump(deployment("sc")), resource=scale_path,
                               fieldManager="hpa")
    assert (status, answer["reason"]) == (400, "BadRequest"), "a Deployment is no Scale"
    status, answer = raw_apply(api_client, ns, "missing", yaml.safe_dump({**scale, "metadata": {"name": "missing"}}),
                               resource=scale_path, fieldManager="hpa")
    assert status == 404, "an apply through /scale creates nothing"
