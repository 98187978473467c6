"""Validation as data: an object in, the upstream causes out (field, reason, message)."""

from __future__ import annotations

import base64
import copy

import pytest

from labkit.api import registry
from labkit.api.validation import default, unknown_fields, validate

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
             "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
               "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
               "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")


def res(group: str, plural: str):
    return registry.lookup(group, "v1", plural)


def pod(**spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}], **spec}}


def deployment(selector=None, labels=None, **spec):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"matchLabels": selector if selector is not None else {"app": "web"}},
                     "template": {"metadata": {"labels": labels if labels is not None else {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx"}]}}, **spec}}


def service(name="web", **spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}], **spec}}


def with_(obj, path, value):
    """A copy of ``obj`` with the field at dotted ``path`` set (None deletes it)."""
    obj = copy.deepcopy(obj)
    parts = path.split(".")
    target = obj
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is None:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value
    return obj


CASES = [
    # (id, resource, object, expected causes as (field, reason, message))
    ("valid pod", res("", "pods"), pod(), []),
    ("pod without containers", res("", "pods"), with_(pod(), "spec.containers", []),
     [("spec.containers", "FieldValueRequired", "Required value")]),
    ("pod with no spec at all", res("", "pods"), {"metadata": {"name": "x", "namespace": "default"}},
     [("spec.containers", "FieldValueRequired", "Required value")]),
    ("container without image", res("", "pods"), with_(pod(), "spec.containers.0.image", None),
     [("spec.containers[0].image", "FieldValueRequired", "Required value")]),
    ("uppercase pod name", res("", "pods"), with_(pod(), "metadata.name", "Web"),
     [("metadata.name", "FieldValueInvalid", 'Invalid value: "Web": ' + SUBDOMAIN_MSG)]),
    ("no name nor generateName", res("", "pods"), with_(pod(), "metadata.name", None),
     [("metadata.name", "FieldValueRequired", "Required value: name or generateName is required")]),
    ("duplicate container names", res("", "pods"),
     pod(containers=[{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]),
     [("spec.containers[1].name", "FieldValueDuplicate", 'Duplicate value: "a"')]),
    ("bad container name", res("", "pods"), pod(containers=[{"name": "A_b", "image": "x"}]),
     [("spec.containers[0].name", "FieldValueInvalid", 'Invalid value: "A_b": ' + LABEL_MSG)]),
    ("container port out of range", res("", "pods"),
     pod(containers=[{"name": "a", "image": "x", "ports": [{"containerPort": 70000}]}]),
     [("spec.containers[0].ports[0].containerPort", "FieldValueInvalid",
       "Invalid value: 70000: must be between 1 and 65535, inclusive")]),
    ("bad port protocol", res("", "pods"),
     pod(containers=[{"name": "a", "image": "x", "ports": [{"containerPort": 80, "protocol": "tcp"}]}]),
     [("spec.containers[0].ports[0].protocol", "FieldValueNotSupported",
       'Unsupported value: "tcp": supported values: "SCTP", "TCP", "UDP"')]),
    ("bad restartPolicy", res("", "pods"), pod(restartPolicy="Sometimes"),
     [("spec.restartPolicy", "FieldValueNotSupported",
       'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"')]),
    ("mount of a missing volume", res("", "pods"),
     pod(containers=[{"name": "a", "image": "x", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}]),
     [("spec.containers[0].volumeMounts[0].name", "FieldValueNotFound", 'Not found: "data"')]),
    ("two volume sources", res("", "pods"),
     pod(volumes=[{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}]),
     [("spec.volumes[0].hostPath", "FieldValueForbidden", "Forbidden: may not specify more than 1 volume type")]),
    ("bad label key", res("", "pods"), with_(pod(), "metadata.labels", {"bad key": "v"}),
     [("metadata.labels", "FieldValueInvalid",
       'Invalid value: "bad key": name part must consist of alphanumeric characters, \'-\', \'_\' or \'.\', and '
       "must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
       "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")]),
    ("label value too long", res("", "pods"), with_(pod(), "metadata.labels", {"k": "v" * 64}),
     [("metadata.labels", "FieldValueInvalid", f'Invalid value: "{"v" * 64}": must be no more than 63 characters')]),
    ("wrong JSON type", res("", "pods"), pod(terminationGracePeriodSeconds="30"),
     [("spec.terminationGracePeriodSeconds", "FieldValueTypeInvalid",
       'Invalid value: "30": must be of type integer')]),
    # a number the Go field cannot hold (found by the HTTP fuzz: stored, no Go client could read the object)
    ("int32 overflow", res("apps", "deployments"), deployment(replicas=2**31),
     [("spec.replicas", "FieldValueTypeInvalid",
       "Invalid value: 2147483648: must be of type int32 (at most 2147483647, at least -2147483648)")]),
    ("int32 at its bound", res("apps", "deployments"), deployment(replicas=2**31 - 1), []),
    ("int64 overflow", res("", "pods"), pod(activeDeadlineSeconds=2**64),
     [("spec.activeDeadlineSeconds", "FieldValueTypeInvalid", "Invalid value: 18446744073709551616: must be of type "
       "int64 (at most 9223372036854775807, at least -9223372036854775808)")]),
    ("resource requests over limits", res("", "pods"),
     pod(containers=[{"name": "a", "image": "x", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "2"}}}]),
     [("spec.containers[0].resources.requests", "FieldValueInvalid",
       'Invalid value: "2": must be less than or equal to cpu limit of 1')]),
    ("toleration Exists with value", res("", "pods"),
     pod(tolerations=[{"key": "k", "operator": "Exists", "value": "v"}]),
     [("spec.tolerations[0].operator", "FieldValueInvalid",
       "Invalid value: \"v\": value must be empty when `operator` is 'Exists'")]),

    ("valid service", res("", "services"), service(), []),
    ("service name must be DNS-1035", res("", "services"), service(name="1web"),
     [("metadata.name", "FieldValueInvalid", 'Invalid value: "1web": ' + DNS1035_MSG)]),
    ("service without ports", res("", "services"), service(ports=[]),
     [("spec.ports", "FieldValueRequired", "Required value")]),
    ("headless service without ports", res("", "services"), service(ports=[], clusterIP="None"), []),
    ("service port zero", res("", "services"), service(ports=[{"port": 0}]),
     [("spec.ports[0].port", "FieldValueInvalid", "Invalid value: 0: must be between 1 and 65535, inclusive"),
      # targetPort defaulted to port, and is checked too (as upstream)
      ("spec.ports[0].targetPort", "FieldValueInvalid", "Invalid value: 0: must be between 1 and 65535, inclusive")]),
    ("unnamed ports among several", res("", "services"),
     service(ports=[{"port": 80}, {"name": "b", "port": 81}]),
     [("spec.ports[0].name", "FieldValueRequired", "Required value")]),
    ("bad service type", res("", "services"), service(type="Foo"),
     [("spec.type", "FieldValueNotSupported",
       'Unsupported value: "Foo": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"')]),
    ("nodePort on ClusterIP", res("", "services"), service(ports=[{"port": 80, "nodePort": 30080}]),
     [("spec.ports[0].nodePort", "FieldValueForbidden", "Forbidden: may not be used when `type` is 'ClusterIP'")]),
    ("ExternalName needs externalName", res("", "services"), service(type="ExternalName", ports=[]),
     [("spec.externalName", "FieldValueRequired", "Required value")]),

    ("valid deployment", registry.lookup("apps", "v1", "deployments"), deployment(), []),
    ("selector does not match labels", registry.lookup("apps", "v1", "deployments"), deployment(labels={"app": "x"}),
     [("spec.template.metadata.labels", "FieldValueInvalid",
       'Invalid value: map[string]string{"app":"x"}: `selector` does not match template `labels`')]),
    ("negative replicas", registry.lookup("apps", "v1", "deployments"), deployment(replicas=-1),
     [("spec.replicas", "FieldValueInvalid", "Invalid value: -1: must be greater than or equal to 0")]),
    ("deployment without selector", registry.lookup("apps", "v1", "deployments"),
     with_(deployment(), "spec.selector", None),
     [("spec.selector", "FieldValueRequired", "Required value")]),
    ("empty selector", registry.lookup("apps", "v1", "deployments"), deployment(selector={}),
     [("spec.selector", "FieldValueInvalid",
       "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
       "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment")]),
    ("deployment template restartPolicy Never", registry.lookup("apps", "v1", "deployments"),
     with_(deployment(), "spec.template.spec.restartPolicy", "Never"),
     [("spec.template.spec.restartPolicy", "FieldValueNotSupported",
       'Unsupported value: "Never": supported values: "Always"')]),
    ("maxSurge and maxUnavailable both 0", registry.lookup("apps", "v1", "deployments"),
     deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}),
     [("spec.strategy.rollingUpdate.maxUnavailable", "FieldValueInvalid",
       "Invalid value: 0: may not be 0 when `maxSurge` is 0")]),

    ("job template restartPolicy defaults to Always, which a job refuses", registry.lookup("batch", "v1", "jobs"),
     {"metadata": {"name": "j", "namespace": "default", "uid": "u-1"},
      "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}},
     [("spec.template.spec.restartPolicy", "FieldValueNotSupported",
       'Unsupported value: "Always": supported values: "OnFailure", "Never"')]),
    ("cronjob with a bad schedule", registry.lookup("batch", "v1", "cronjobs"),
     {"metadata": {"name": "c", "namespace": "default"},
      "spec": {"schedule": "every minute", "jobTemplate": {"spec": {"template": {"spec": {
          "restartPolicy": "Never", "containers": [{"name": "a", "image": "x"}]}}}}}},
     [("spec.schedule", "FieldValueInvalid",
       'Invalid value: "every minute": expected exactly 5 fields, found 2: every minute')]),

    ("namespace name must be a DNS label", res("", "namespaces"), {"metadata": {"name": "a.b"}},
     [("metadata.name", "FieldValueInvalid", 'Invalid value: "a.b": ' + LABEL_MSG)]),
    ("configmap bad key", res("", "configmaps"),
     {"metadata": {"name": "c", "namespace": "default"}, "data": {"bad key": "v"}},
     [("data[bad key]", "FieldValueInvalid",
       "Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
       "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")]),
    ("tls secret without keys", res("", "secrets"),
     {"metadata": {"name": "s", "namespace": "default"}, "type": "kubernetes.io/tls", "data": {}},
     [("data[tls.crt]", "FieldValueRequired", "Required value"),
      ("data[tls.key]", "FieldValueRequired", "Required value")]),
    ("secret data not base64", res("", "secrets"),
     {"metadata": {"name": "s", "namespace": "default"}, "data": {"k": "not base64!"}},
     [("data[k]", "FieldValueInvalid", 'Invalid value: "<secret contents redacted>": illegal base64 data')]),
    # MaxSecretSize counts decoded bytes: 900 KB of data is 1.2 MB of base64, and fits (issue 2's gap)
    ("secret of 900 KB", res("", "secrets"),
     {"metadata": {"name": "s", "namespace": "default"}, "data": {"k": base64.b64encode(b"x" * 900_000).decode()}},
     []),
    ("secret of 1 MiB in two values", res("", "secrets"),
     {"metadata": {"name": "s", "namespace": "default"},
      "data": {"a": base64.b64encode(b"x" * 2**19).decode(), "b": base64.b64encode(b"y" * 2**19).decode()}}, []),
    ("secret one byte over 1 MiB", res("", "secrets"),
     {"metadata": {"name": "s", "namespace": "default"},
      "data": {"a": base64.b64encode(b"x" * 2**19).decode(), "b": base64.b64encode(b"y" * (2**19 + 1)).decode()}},
     [("data", "FieldValueTooLong", "Too long: must have at most 1048576 bytes")]),
    ("configmap binaryData counts decoded bytes", res("", "configmaps"),
     {"metadata": {"name": "c", "namespace": "default"}, "binaryData": {"b": base64.b64encode(b"x" * 900_000).decode()},
      "data": {"a": "y" * 100_000}}, []),
    ("configmap data counts UTF-8 bytes", res("", "configmaps"),
     {"metadata": {"name": "c", "namespace": "default"}, "data": {"a": "\u00e9" * 600_000}},  # 1.2 MB in UTF-8
     # upstream names the whole object: field.NewPath(""), which Go writes "[]" (a Secret names "data")
     [("[]", "FieldValueTooLong", "Too long: must have at most 1048576 bytes")]),
    ("role rule without verbs", registry.lookup("rbac.authorization.k8s.io", "v1", "roles"),
     {"metadata": {"name": "r", "namespace": "default"}, "rules": [{"apiGroups": [""], "resources": ["pods"]}]},
     [("rules[0].verbs", "FieldValueRequired", "Required value: verbs must contain at least one value")]),
    ("clusterrolebinding to a Role", registry.lookup("rbac.authorization.k8s.io", "v1", "clusterrolebindings"),
     {"metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
      "subjects": [{"kind": "ServiceAccount", "name": "sa"}]},
     [("roleRef.kind", "FieldValueNotSupported", 'Unsupported value: "Role": supported values: "ClusterRole"'),
      ("subjects[0].namespace", "FieldValueRequired", "Required value")]),
    ("lease with zero duration", registry.lookup("coordination.k8s.io", "v1", "leases"),
     {"metadata": {"name": "l", "namespace": "default"}, "spec": {"leaseDurationSeconds": 0}},
     [("spec.leaseDurationSeconds", "FieldValueInvalid", "Invalid value: 0: must be greater than 0")]),
    ("pdb with both bounds", registry.lookup("policy", "v1", "poddisruptionbudgets"),
     {"metadata": {"name": "p", "namespace": "default"}, "spec": {"minAvailable": 1, "maxUnavailable": "150%"}},
     [("spec", "FieldValueInvalid",
       "Invalid value: policy.PodDisruptionBudgetSpec{...}: minAvailable and maxUnavailable cannot be both set"),
      ("spec.maxUnavailable", "FieldValueInvalid", 'Invalid value: "150%": must not be greater than 100%')]),
    ("endpointslice address of the wrong family", registry.lookup("discovery.k8s.io", "v1", "endpointslices"),
     {"metadata": {"name": "e", "namespace": "default"}, "addressType": "IPv4",
      "endpoints": [{"addresses": ["fd00::1"]}]},
     [("endpoints[0].addresses[0]", "FieldValueInvalid", 'Invalid value: "fd00::1": must be a valid IPv4 address')]),
]


@pytest.mark.parametrize("resource,obj,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_create_validation(resource, obj, expected):
    obj = copy.deepcopy(obj)
    default(resource, obj)
    causes = validate(resource, obj)
    assert [(c.field, c.reason, c.message) for c in causes] == expected


UPDATE_CASES = [
    ("pod image may change", res("", "pods"), pod(), with_(pod(), "spec.containers.0.image", "busybox:1.37"), []),
    ("pod command may not change", res("", "pods"), pod(),
     with_(pod(), "spec.containers.0.command", ["sh"]), [("spec", "FieldValueForbidden")]),
    ("pod tolerations may be added", res("", "pods"), pod(),
     pod(tolerations=[{"key": "k", "operator": "Exists", "effect": "NoSchedule"}]), []),
    ("service clusterIP is immutable once set", res("", "services"), service(clusterIP="10.32.0.5"),
     service(clusterIP="10.32.0.6"), [("spec.clusterIP", "FieldValueInvalid")]),
    ("deployment selector is immutable", registry.lookup("apps", "v1", "deployments"), deployment(),
     deployment(selector={"app": "web2"}, labels={"app": "web2"}), [("spec.selector", "FieldValueInvalid")]),
    ("deployment replicas may change", registry.lookup("apps", "v1", "deployments"), deployment(),
     deployment(replicas=5), []),
    ("immutable configmap data", res("", "configmaps"),
     {"metadata": {"name": "c", "namespace": "d"}, "data": {"a": "1"}, "immutable": True},
     {"metadata": {"name": "c", "namespace": "d"}, "data": {"a": "2"}, "immutable": True},
     [("data", "FieldValueForbidden")]),
    ("rolebinding roleRef cannot change", registry.lookup("rbac.authorization.k8s.io", "v1", "rolebindings"),
     {"metadata": {"name": "b", "namespace": "d"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "a"}},
     {"metadata": {"name": "b", "namespace": "d"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "b"}},
     [("roleRef", "FieldValueInvalid")]),
]


@pytest.mark.parametrize("resource,old,new,expected", [c[1:] for c in UPDATE_CASES], ids=[c[0] for c in UPDATE_CASES])
def test_update_validation(resource, old, new, expected):
    old, new = copy.deepcopy(old), copy.deepcopy(new)
    default(resource, old)
    default(resource, new)
    causes = validate(resource, new, old)
    assert [(c.field, c.reason) for c in causes] == expected


def test_pod_update_message_is_upstreams():
    resource = res("", "pods")
    old, new = pod(), with_(pod(), "spec.containers.0.command", ["sh"])
    default(resource, old)
    default(resource, new)
    [cause] = validate(resource, new, old)
    assert cause.message.startswith(
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,")
    assert "spec.containers[0].command" in cause.message


def test_job_update_template_immutable():
    resource = registry.lookup("batch", "v1", "jobs")
    job = {"metadata": {"name": "j", "namespace": "d", "uid": "u1"}, "spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "a", "image": "x"}]}}}}
    default(resource, job)
    assert validate(resource, job) == []
    changed = with_(job, "spec.template.spec.containers.0.image", "y")
    assert [c.field for c in validate(resource, changed, job)] == ["spec.template"]


UNKNOWN_CASES = [
    ("typo in a container", res("", "pods"),
     {"spec": {"containers": [{"name": "a", "imagee": "x"}]}}, ["spec.containers[0].imagee"]),
    ("unknown top-level field", res("", "pods"), {"apiVersion": "v1", "kind": "Pod", "specs": {}}, ["specs"]),
    ("labels are free-form", res("", "pods"), {"metadata": {"labels": {"any": "thing"}}}, []),
    ("resources are a map of quantities", res("", "pods"),
     {"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "1", "example.com/gpu": "1"}}}]}}, []),
    ("in a deployment's template", registry.lookup("apps", "v1", "deployments"),
     {"spec": {"template": {"spec": {"containers": [{"name": "a", "env": [{"name": "X", "vaule": "1"}]}]}}}},
     ["spec.template.spec.containers[0].env[0].vaule"]),
    ("several at once, in document order", res("", "services"),
     {"spec": {"prots": [], "ports": [{"port": 80, "target": 8080}]}, "extra": 1},
     ["spec.prots", "spec.ports[0].target", "extra"]),
    ("configmap data keys are free-form", res("", "configmaps"), {"data": {"a.b": "1"}, "binaryData": {}}, []),
    ("managedFields content is free-form", res("", "configmaps"),
     {"metadata": {"managedFields": [{"manager": "kubectl", "fieldsV1": {"f:data": {"f:a": {}}}}]}}, []),
]


@pytest.mark.parametrize("resource,obj,expected", [c[1:] for c in UNKNOWN_CASES], ids=[c[0] for c in UNKNOWN_CASES])
def test_unknown_fields(resource, obj, expected):
    assert unknown_fields(resource, obj) == expected


def test_wrong_types_are_only_the_decoding_errors():
    """What the apiserver refuses before admission: types, quantities, base64 - not missing fields."""
    from labkit.api.validation import wrong_types
    causes = wrong_types(res("", "pods"), {"metadata": {"generateName": 5}, "spec": True})
    assert [(c.field, c.reason) for c in causes] == [("metadata.generateName", "FieldValueTypeInvalid"),
                                                     ("spec", "FieldValueTypeInvalid")]
    quota = {"metadata": {"name": "q"}, "spec": {"hard": {"pods": "lots"}}}
    assert [c.field for c in wrong_types(res("", "resourcequotas"), quota)] == ["spec.hard[pods]"]
    assert wrong_types(res("", "pods"), {"metadata": {}, "spec": {}}) == []  # missing containers: validation's


def test_unknown_field_names_are_quoted_like_go():
    """Go's %q: a control character in a field name never reaches a Warning header raw."""
    from labkit.api.validation import unknown_field_warnings
    assert unknown_field_warnings(["spec.x", "G\x11", 'a"b', "\u00e9\n"]) == [
        'unknown field "spec.x"', 'unknown field "G\\x11"', 'unknown field "a\\"b"', 'unknown field "\u00e9\\n"']
