"""Label and field selectors: tables of input -> expected output, plus properties."""

import pytest
from hypothesis import given, strategies as st

from labkit.api import registry
from labkit.api.errors import StatusError
from labkit.api.selectors import (FieldSelector, LabelSelector, label_key_errors, label_value_errors,
                                  selector_from_label_selector_dict)

PODS = registry.lookup("", "v1", "pods")

WEB = {"app": "web", "tier": "frontend", "env": "prod"}
DB = {"app": "db", "tier": "backend"}
BARE: dict = {}

# selector text, labels, matches?
LABEL_MATCHES = [
    ("", WEB, True),
    ("", BARE, True),
    ("app=web", WEB, True),
    ("app==web", WEB, True),
    ("app=web", DB, False),
    ("app=web", BARE, False),
    ("app!=web", WEB, False),
    ("app!=web", DB, True),
    ("app!=web", BARE, True),  # a missing label is "not equal"
    ("app in (web,db)", DB, True),
    ("app in (web, db)", WEB, True),  # whitespace inside the set
    ("app in (api)", WEB, False),
    ("app notin (web)", WEB, False),
    ("app notin (web)", DB, True),
    ("app notin (web)", BARE, True),
    ("env", WEB, True),
    ("env", DB, False),
    ("!env", DB, True),
    ("!env", WEB, False),
    ("app=web,tier=frontend", WEB, True),  # comma is AND
    ("app=web,tier=backend", WEB, False),
    ("  app = web ,  tier  ", WEB, True),  # whitespace between tokens is ignored
    ("app in (web),!canary,env notin (dev)", WEB, True),
    ("app=", {"app": ""}, True),  # empty value
    ("app=", WEB, False),
    ("app in ()", {"app": ""}, True),  # "()" is the set of the empty value
    ("x in (in)", {"x": "in"}, True),  # keywords are plain words where values go
    ("in=notin", {"in": "notin"}, True),
    ("example.com/role=edge", {"example.com/role": "edge"}, True),
    ("replicas>2", {"replicas": "3"}, True),
    ("replicas>2", {"replicas": "2"}, False),
    ("replicas<2", {"replicas": "1"}, True),
    ("replicas<2", {"replicas": "x"}, False),
    ("replicas<2", BARE, False),
]


@pytest.mark.parametrize("text, labels, expected", LABEL_MATCHES)
def test_label_selector_matches(text, labels, expected):
    assert LabelSelector.parse(text).matches(labels) is expected


# selector text -> canonical string (upstream's String(): sorted by key, values sorted)
LABEL_STRINGS = [
    ("b=1,a=2", "a=2,b=1"),
    ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
    ("!a", "!a"),
    ("a == b", "a==b"),
    ("a != b", "a!=b"),
    ("a in (c,b,c)", "a in (b,c)"),
]


@pytest.mark.parametrize("text, expected", LABEL_STRINGS)
def test_label_selector_string(text, expected):
    assert str(LabelSelector.parse(text)) == expected


def test_empty_selector_is_empty():
    assert LabelSelector.parse("").empty
    assert LabelSelector.parse(None).empty
    assert not LabelSelector.parse("a").empty


# bad selector text -> the start of upstream's message
LABEL_ERRORS = [
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a in b", "unable to parse requirement: found 'b' expected: '('"),
    ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
    ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
    ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("a,", "found '', expected: identifier after ','"),
    (",a", "found ',', expected: !, identifier, or 'end of string'"),
    ("=a", "found '=', expected: !, identifier, or 'end of string'"),
    ("!a=b", "found '=', expected: ',' or 'end of string'"),
    ("!", "unable to parse requirement: found '', expected: identifier"),
    ("a==(", "unable to parse requirement: found '(', expected: identifier"),
    ("-a=b", 'unable to parse requirement: invalid label key "-a": name part must consist of alphanumeric'),
    ("a/b/c", 'unable to parse requirement: invalid label key "a/b/c": a valid label key must consist'),
    ("/a", 'unable to parse requirement: invalid label key "/a": prefix part must be non-empty'),
    ("Ex.com/a", 'unable to parse requirement: invalid label key "Ex.com/a": prefix part a lowercase RFC 1123'),
    ("a" * 64, 'unable to parse requirement: invalid label key "' + "a" * 64 + '": name part must be no more than 63'),
    ("a=-b", 'unable to parse requirement: values[0][a]: Invalid value: "-b": a valid label must be an empty'),
    ("a in (ok,b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
    ("a=" + "v" * 64, 'unable to parse requirement: values[0][a]: Invalid value: "' + "v" * 64 + '": must be no more than 63'),
    ("a>b", "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer"),
]


@pytest.mark.parametrize("text, message", LABEL_ERRORS)
def test_bad_label_selector_is_bad_request(text, message):
    with pytest.raises(StatusError) as exc:
        LabelSelector.parse(text)
    assert exc.value.code == 400
    assert exc.value.reason == "BadRequest"
    assert exc.value.message.startswith(message), exc.value.message


# metav1.LabelSelector dict, labels, matches?
DICT_MATCHES = [
    ({}, WEB, True),  # empty selector: everything
    (None, WEB, False),  # no selector: nothing
    (None, BARE, False),
    ({"matchLabels": {"app": "web"}}, WEB, True),
    ({"matchLabels": {"app": "web"}}, DB, False),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["frontend", "edge"]}]}, WEB, True),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["frontend"]}]}, WEB, False),
    ({"matchExpressions": [{"key": "env", "operator": "Exists"}]}, WEB, True),
    ({"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}, DB, True),
    ({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}]},
     WEB, False),
]


@pytest.mark.parametrize("selector, labels, expected", DICT_MATCHES)
def test_label_selector_dict_matches(selector, labels, expected):
    assert selector_from_label_selector_dict(selector).matches(labels) is expected


DICT_STRINGS = [
    ({}, ""),
    ({"matchLabels": {"b": "1", "a": "2"}}, "a=2,b=1"),
    ({"matchExpressions": [{"key": "t", "operator": "In", "values": ["y", "x"]},
                           {"key": "e", "operator": "DoesNotExist"}]}, "!e,t in (x,y)"),
]


@pytest.mark.parametrize("selector, expected", DICT_STRINGS)
def test_label_selector_dict_string(selector, expected):
    assert str(selector_from_label_selector_dict(selector)) == expected


DICT_ERRORS = [
    ({"matchExpressions": [{"key": "a", "operator": "Like", "values": ["b"]}]}, '"Like" is not a valid label selector operator'),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}, "values set can't be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["b"]}]}, "values set must be empty"),
    ({"matchLabels": {"a b": "c"}}, 'key: Invalid value: "a b"'),
    ({"matchLabels": {"a": "b c"}}, 'values[0][a]: Invalid value: "b c"'),
]


@pytest.mark.parametrize("selector, message", DICT_ERRORS)
def test_bad_label_selector_dict(selector, message):
    with pytest.raises(StatusError) as exc:
        selector_from_label_selector_dict(selector)
    assert exc.value.code == 400
    assert message in exc.value.message


KEYS = [("app", True), ("example.com/app", True), ("a.b-c_d", True), ("-a", False), ("a/", False),
        ("A.com/x", False), ("x" * 63, True), ("x" * 64, False), ("", False), ("a/b/c", False)]


@pytest.mark.parametrize("key, valid", KEYS)
def test_label_keys(key, valid):
    assert (label_key_errors(key) == []) is valid


VALUES = [("", True), ("web", True), ("a_b.c-d", True), ("-a", False), ("a b", False), ("v" * 63, True),
          ("v" * 64, False)]


@pytest.mark.parametrize("value, valid", VALUES)
def test_label_values(value, valid):
    assert (label_value_errors(value) == []) is valid


# -- properties: what we print parses back to the same selector ---------------------------

label_names = st.from_regex(r"\A[a-z0-9]([a-z0-9.-]{0,10}[a-z0-9])?\Z")
label_values = st.one_of(st.just(""), label_names)
requirements = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", label_names, label_values),
    st.builds(lambda k, v: f"{k}!={v}", label_names, label_values),
    st.builds(lambda k, vs: f"{k} in ({','.join(vs)})", label_names, st.lists(label_names, min_size=1, max_size=3)),
    st.builds(lambda k, vs: f"{k} notin ({','.join(vs)})", label_names, st.lists(label_names, min_size=1, max_size=3)),
    label_names,
    st.builds(lambda k: "!" + k, label_names),
)


@given(st.lists(requirements, min_size=1, max_size=4),
       st.dictionaries(label_names, label_values, max_size=4))
def test_printed_selector_parses_to_the_same_meaning(reqs, labels):
    selector = LabelSelector.parse(",".join(reqs))
    again = LabelSelector.parse(str(selector))
    assert again == selector
    assert again.matches(labels) == selector.matches(labels)


@given(st.dictionaries(label_names, label_values, max_size=5))
def test_exact_labels_select_themselves(labels):
    selector = LabelSelector.from_labels(labels)
    assert selector.matches(labels)
    assert LabelSelector.parse(str(selector)).matches(labels)
    if labels:
        key = sorted(labels)[0]
        assert not selector.matches({**labels, key: labels[key] + "x"})


# -- field selectors ------------------------------------------------------------------

POD = {
    "metadata": {"name": "web-1", "namespace": "default"},
    "spec": {"nodeName": "worker-1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
             "serviceAccountName": "default", "hostNetwork": True},
    "status": {"phase": "Running", "podIPs": [{"ip": "10.200.1.5"}], "nominatedNodeName": "worker-2"},
}
UNSCHEDULED = {"metadata": {"name": "web-2", "namespace": "prod"}, "spec": {}, "status": {"phase": "Pending"}}

FIELD_MATCHES = [
    ("", POD, True),
    ("metadata.name=web-1", POD, True),
    ("metadata.name==web-1", POD, True),
    ("metadata.name!=web-1", POD, False),
    ("metadata.namespace=default", POD, True),
    ("metadata.namespace=default", UNSCHEDULED, False),
    ("spec.nodeName=worker-1", POD, True),
    ("spec.nodeName=", UNSCHEDULED, True),  # the scheduler's "not bound yet"
    ("spec.nodeName=", POD, False),
    ("spec.nodeName!=", POD, True),
    ("spec.restartPolicy=Always", POD, True),
    ("spec.schedulerName=default-scheduler", POD, True),
    ("spec.serviceAccountName=default", POD, True),
    ("spec.hostNetwork=true", POD, True),
    ("spec.hostNetwork=false", UNSCHEDULED, True),
    ("status.phase=Running", POD, True),
    ("status.phase!=Running,status.phase!=Succeeded", UNSCHEDULED, True),
    ("status.phase!=Running,status.phase!=Succeeded", POD, False),
    ("status.podIP=10.200.1.5", POD, True),
    ("status.nominatedNodeName=worker-2", POD, True),
    ("spec.nodeName=worker-1,metadata.name=web-1", POD, True),
    ("spec.nodeName=worker-1,metadata.name=web-2", POD, False),
]


@pytest.mark.parametrize("text, obj, expected", FIELD_MATCHES)
def test_pod_field_selector(text, obj, expected):
    assert FieldSelector.parse(text, PODS).matches(obj) is expected


# resource, selector, object, matches?
def _res(group, plural):
    return registry.lookup(group, "v1", plural)


EVENT = {"metadata": {"name": "e1", "namespace": "default"},
         "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-1", "uid": "u1",
                            "apiVersion": "v1", "resourceVersion": "7", "fieldPath": "spec.containers{app}"},
         "reason": "Scheduled", "reportingComponent": "default-scheduler",
         "source": {"component": "default-scheduler"}, "type": "Normal"}
NEW_EVENT = {"metadata": {"name": "e2", "namespace": "default"},
             "regarding": {"kind": "Node", "name": "worker-1"}, "reason": "Ready",
             "reportingController": "kubelet", "type": "Normal"}

OTHER_KINDS = [
    (_res("", "nodes"), "spec.unschedulable=true", {"metadata": {"name": "n"}, "spec": {"unschedulable": True}}, True),
    (_res("", "nodes"), "spec.unschedulable=false", {"metadata": {"name": "n"}, "spec": {}}, True),
    (_res("", "nodes"), "metadata.name=n", {"metadata": {"name": "n"}}, True),
    (_res("", "namespaces"), "status.phase=Terminating", {"metadata": {"name": "x"}, "status": {"phase": "Terminating"}}, True),
    (_res("", "secrets"), "type=kubernetes.io/service-account-token",
     {"metadata": {"name": "s"}, "type": "kubernetes.io/service-account-token"}, True),
    (_res("", "secrets"), "type=Opaque", {"metadata": {"name": "s"}, "type": "kubernetes.io/tls"}, False),
    (_res("", "events"), "involvedObject.kind=Pod,involvedObject.name=web-1", EVENT, True),
    (_res("", "events"), "involvedObject.uid=u1", EVENT, True),
    (_res("", "events"), "involvedObject.namespace=default", EVENT, True),
    (_res("", "events"), "involvedObject.apiVersion=v1", EVENT, True),
    (_res("", "events"), "involvedObject.resourceVersion=7", EVENT, True),
    (_res("", "events"), "involvedObject.fieldPath=spec.containers{app}", EVENT, True),
    (_res("", "events"), "reason=Scheduled", EVENT, True),
    (_res("", "events"), "reportingComponent=default-scheduler", EVENT, True),
    (_res("", "events"), "source=default-scheduler", EVENT, True),
    (_res("", "events"), "type=Warning", EVENT, False),
    (_res("", "events"), "involvedObject.kind=Node", NEW_EVENT, True),
    (_res("events.k8s.io", "events"), "regarding.name=worker-1,reportingController=kubelet", NEW_EVENT, True),
    (_res("events.k8s.io", "events"), "regarding.kind=Pod", EVENT, True),
    (_res("apps", "replicasets"), "status.replicas=0", {"metadata": {"name": "r"}, "status": {}}, True),
    (_res("apps", "replicasets"), "status.replicas=3", {"metadata": {"name": "r"}, "status": {"replicas": 3}}, True),
    (_res("batch", "jobs"), "status.successful=1", {"metadata": {"name": "j"}, "status": {"succeeded": 1}}, True),
    (_res("", "services"), "spec.clusterIP=None", {"metadata": {"name": "s"}, "spec": {"clusterIP": "None"}}, True),
    (_res("", "services"), "spec.type=NodePort", {"metadata": {"name": "s"}, "spec": {"type": "ClusterIP"}}, False),
    (_res("", "configmaps"), "metadata.namespace=kube-system",
     {"metadata": {"name": "c", "namespace": "kube-system"}}, True),
]


@pytest.mark.parametrize("resource, text, obj, expected", OTHER_KINDS)
def test_field_selector_per_resource(resource, text, obj, expected):
    assert FieldSelector.parse(text, resource).matches(obj) is expected


# resource, selector, message
FIELD_ERRORS = [
    (PODS, "foo=bar", "field label not supported: foo"),
    (PODS, "spec.unschedulable=true", "field label not supported: spec.unschedulable"),
    (_res("", "nodes"), "spec.nodeName=x", "field label not supported: spec.nodeName"),
    (_res("", "configmaps"), "data.x=1", "field label not supported: data.x"),
    (_res("", "events"), "regarding.name=x", "field label not supported: regarding.name"),
    (_res("events.k8s.io", "events"), "source=x", "field label not supported: source"),
    (PODS, "metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
    (PODS, "a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
    (PODS, "metadata.name=a=b", "invalid field selector: unescaped character in value: 61"),
    (PODS, "metadata.name=a\\x", "invalid field selector: invalid escape sequence: \\x"),
]


@pytest.mark.parametrize("resource, text, message", FIELD_ERRORS)
def test_bad_field_selector_is_bad_request(resource, text, message):
    with pytest.raises(StatusError) as exc:
        FieldSelector.parse(text, resource)
    assert (exc.value.code, exc.value.reason) == (400, "BadRequest")
    assert exc.value.message == message


def test_field_selector_escapes():
    selector = FieldSelector.parse("metadata.name=a\\,b\\=c\\\\d", PODS)
    assert selector.matches({"metadata": {"name": "a,b=c\\d"}})
    assert FieldSelector.parse(str(selector), PODS) == selector


def test_field_selector_exact_value():
    selector = FieldSelector.parse("spec.nodeName=w1,status.phase!=Failed", PODS)
    assert selector.exact_value("spec.nodeName") == "w1"
    assert selector.exact_value("status.phase") is None
    assert FieldSelector.parse("", PODS).empty


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12))
def test_any_name_round_trips_through_an_escaped_field_selector(name):
    escaped = name.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
    selector = FieldSelector.parse(f"metadata.name={escaped}", PODS)
    assert selector.matches({"metadata": {"name": name}})
    assert not selector.matches({"metadata": {"name": name + "x"}})
