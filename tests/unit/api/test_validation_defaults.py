"""Defaulting as data: an object in, the object upstream would store out."""

from __future__ import annotations

import base64
import copy

import pytest

from labkit.api import registry
from labkit.api.validation import default, qos_class, validate, wrong_types
from labkit.apiserver import strategy

CONTAINER_DEFAULTS = {"terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                      "resources": {}}
POD_SPEC_DEFAULTS = {"restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
                     "terminationGracePeriodSeconds": 30, "securityContext": {}}


def template(image="nginx:1.27"):
    return {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": image}]}}


def defaulted_template(pull="IfNotPresent", image="nginx:1.27"):
    return {"metadata": {"labels": {"app": "web"}}, "spec": {
        "containers": [{"name": "app", "image": image, **CONTAINER_DEFAULTS, "imagePullPolicy": pull}],
        **POD_SPEC_DEFAULTS}}


CASES = [
    ("pod", ("", "pods"),
     {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "busybox",
                                                           "ports": [{"containerPort": 80}]}]}},
     {"metadata": {"name": "p"}, "spec": {
         "containers": [{"name": "a", "image": "busybox", "ports": [{"containerPort": 80, "protocol": "TCP"}],
                         **CONTAINER_DEFAULTS, "imagePullPolicy": "Always"}],
         **POD_SPEC_DEFAULTS, "enableServiceLinks": True},
      "status": {"phase": "Pending", "qosClass": "BestEffort"}}),
    ("probes, volumes and env sources", ("", "pods"),
     {"metadata": {"name": "p"}, "spec": {
         "volumes": [{"name": "scratch"}, {"name": "cfg", "configMap": {"name": "c"}}, {"name": "h", "hostPath": {"path": "/x"}}],
         "containers": [{"name": "a", "image": "r.local/app@sha256:00", "livenessProbe": {"httpGet": {"port": 8080}},
                         "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                         "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}},
     {"metadata": {"name": "p"}, "spec": {
         "volumes": [{"name": "scratch", "emptyDir": {}},
                     {"name": "cfg", "configMap": {"name": "c", "defaultMode": 420}},
                     {"name": "h", "hostPath": {"path": "/x", "type": ""}}],
         "containers": [{"name": "a", "image": "r.local/app@sha256:00",
                         "livenessProbe": {"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"},
                                           "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                                           "failureThreshold": 3},
                         "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName",
                                                                             "apiVersion": "v1"}}}],
                         "resources": {"limits": {"cpu": "1", "memory": "1Gi"},
                                       "requests": {"cpu": "1", "memory": "1Gi"}},
                         "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                         "imagePullPolicy": "IfNotPresent"}],
         **POD_SPEC_DEFAULTS, "enableServiceLinks": True},
      "status": {"phase": "Pending", "qosClass": "Guaranteed"}}),
    ("service", ("", "services"),
     {"metadata": {"name": "s"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
     {"metadata": {"name": "s"}, "spec": {
         "selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
         "type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
         "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"]},
      "status": {"loadBalancer": {}}}),
    ("nodeport service", ("", "services"),
     {"metadata": {"name": "s"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "targetPort": "http"}]}},
     {"metadata": {"name": "s"}, "spec": {
         "type": "NodePort", "ports": [{"port": 80, "targetPort": "http", "protocol": "TCP"}],
         "sessionAffinity": "None", "internalTrafficPolicy": "Cluster", "ipFamilyPolicy": "SingleStack",
         "ipFamilies": ["IPv4"], "externalTrafficPolicy": "Cluster"},
      "status": {"loadBalancer": {}}}),
    ("deployment", ("apps", "deployments"),
     {"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template()}},
     {"metadata": {"name": "d"}, "spec": {
         "selector": {"matchLabels": {"app": "web"}}, "template": defaulted_template(), "replicas": 1,
         "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
         "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600}}),
    ("recreate deployment gets no rollingUpdate", ("apps", "deployments"),
     {"metadata": {"name": "d"}, "spec": {"strategy": {"type": "Recreate"}, "replicas": 3,
                                          "selector": {"matchLabels": {"app": "web"}}, "template": template()}},
     {"metadata": {"name": "d"}, "spec": {
         "strategy": {"type": "Recreate"}, "replicas": 3, "selector": {"matchLabels": {"app": "web"}},
         "template": defaulted_template(), "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600}}),
    ("daemonset", ("apps", "daemonsets"),
     {"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template()}},
     {"metadata": {"name": "d"}, "spec": {
         "selector": {"matchLabels": {"app": "web"}}, "template": defaulted_template(),
         "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
         "revisionHistoryLimit": 10}}),
    ("statefulset", ("apps", "statefulsets"),
     {"metadata": {"name": "s"}, "spec": {"serviceName": "s", "selector": {"matchLabels": {"app": "web"}},
                                          "template": template()}},
     {"metadata": {"name": "s"}, "spec": {
         "serviceName": "s", "selector": {"matchLabels": {"app": "web"}}, "template": defaulted_template(),
         "replicas": 1, "podManagementPolicy": "OrderedReady",
         "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
         "revisionHistoryLimit": 10,
         "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}}}),
    ("job gets a generated selector from its uid", ("batch", "jobs"),
     {"metadata": {"name": "j", "uid": "u-1"}, "spec": {"template": {"spec": {
         "restartPolicy": "Never", "containers": [{"name": "a", "image": "busybox:1.36"}]}}}},
     {"metadata": {"name": "j", "uid": "u-1"}, "spec": {
         "completions": 1, "parallelism": 1, "backoffLimit": 6, "completionMode": "NonIndexed", "suspend": False,
         "podReplacementPolicy": "TerminatingOrFailed",
         "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}},
         "template": {"metadata": {"labels": {"batch.kubernetes.io/controller-uid": "u-1", "controller-uid": "u-1",
                                              "batch.kubernetes.io/job-name": "j", "job-name": "j"}},
                      "spec": {"containers": [{"name": "a", "image": "busybox:1.36", **CONTAINER_DEFAULTS,
                                               "imagePullPolicy": "IfNotPresent"}],
                               **POD_SPEC_DEFAULTS, "restartPolicy": "Never"}}}}),
    ("cronjob", ("batch", "cronjobs"),
     {"metadata": {"name": "c"}, "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
         "restartPolicy": "OnFailure", "containers": [{"name": "a", "image": "busybox:1.36"}]}}}}}},
     {"metadata": {"name": "c"}, "spec": {
         "schedule": "*/5 * * * *", "concurrencyPolicy": "Allow", "suspend": False,
         "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
         "jobTemplate": {"spec": {
             "completions": 1, "parallelism": 1, "backoffLimit": 6, "completionMode": "NonIndexed",
             "suspend": False, "podReplacementPolicy": "TerminatingOrFailed",
             "template": {"spec": {"containers": [{"name": "a", "image": "busybox:1.36", **CONTAINER_DEFAULTS,
                                                   "imagePullPolicy": "IfNotPresent"}],
                                   **POD_SPEC_DEFAULTS, "restartPolicy": "OnFailure"}}}}}}),
    ("namespace", ("", "namespaces"), {"metadata": {"name": "n"}},
     {"metadata": {"name": "n"}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
    ("secret: type Opaque and stringData into data", ("", "secrets"),
     {"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}},
     {"metadata": {"name": "s"}, "type": "Opaque", "data": {"password": base64.b64encode(b"hunter2").decode()}}),
    ("rolebinding subjects get their apiGroup", ("rbac.authorization.k8s.io", "rolebindings"),
     {"metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
      "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "sa", "namespace": "n"}]},
     {"metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
      "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"},
                   {"kind": "ServiceAccount", "name": "sa", "namespace": "n", "apiGroup": ""}]}),
    ("configmap: nothing to default", ("", "configmaps"), {"metadata": {"name": "c"}, "data": {"a": "1"}},
     {"metadata": {"name": "c"}, "data": {"a": "1"}}),
]


@pytest.mark.parametrize("where,obj,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_defaults(where, obj, expected):
    group, plural = where
    resource = registry.lookup(group, "v1", plural)
    obj = copy.deepcopy(obj)
    default(resource, obj)
    assert obj == expected
    again = copy.deepcopy(obj)
    default(resource, again)
    assert again == obj, "defaulting twice changes nothing"


@pytest.mark.parametrize("where,obj,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_defaulted_objects_are_valid(where, obj, expected):
    group, plural = where
    resource = registry.lookup(group, "v1", plural)
    obj = copy.deepcopy(expected)
    obj["metadata"].setdefault("namespace", "default") if resource.namespaced else None
    assert validate(resource, obj) == []


@pytest.mark.parametrize("where,obj,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_what_a_create_adds_has_the_right_types(where, obj, expected):
    """A create checks the client's JSON types, then runs the strategy and the defaults, then looks for
    required fields alone (validate(types_checked=True)): what the server adds must be well typed."""
    group, plural = where
    resource = registry.lookup(group, "v1", plural)
    obj = copy.deepcopy(obj)
    obj["metadata"].setdefault("namespace", "default") if resource.namespaced else None
    assert wrong_types(resource, obj) == []
    strategy.prepare_for_create(resource, obj)
    default(resource, obj)
    assert wrong_types(resource, obj) == []


@pytest.mark.parametrize("image,policy", [("busybox", "Always"), ("busybox:latest", "Always"),
                                          ("busybox:1.36", "IfNotPresent"), ("registry.local:5000/app", "Always"),
                                          ("registry.local:5000/app:v1", "IfNotPresent"),
                                          ("app@sha256:abcd", "IfNotPresent")])
def test_image_pull_policy(image, policy):
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": image}]}}
    default(registry.lookup("", "v1", "pods"), pod)
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == policy


@pytest.mark.parametrize("resources,qos", [
    ([{}], "BestEffort"),
    ([{"requests": {"cpu": "100m"}}], "Burstable"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1Gi"}}], "Guaranteed"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}}, {}], "Burstable"),
])
def test_qos_class(resources, qos):
    spec = {"containers": [{"name": f"c{i}", "resources": r} for i, r in enumerate(resources)]}
    assert qos_class(spec) == qos
