"""Strategic merge patch: the engine with an explicit patch-metadata table, then kubectl's patches
against the real schema (labkit.api.schema.patch_meta)."""

import json
from collections import namedtuple

import pytest
from hypothesis import given, strategies as st

from labkit.api import registry
from labkit.api.errors import StatusError
from labkit.api.patch import StrategicMerge, apply_patch

SMP = "application/strategic-merge-patch+json"
Meta = namedtuple("Meta", "strategy merge_key")

# The engine's own fixture schema: just what these tests need, passed in explicitly.
TEST_META = {
    ("spec", "containers"): Meta("merge", "name"),
    ("spec", "containers", "env"): Meta("merge", "name"),
    ("spec", "containers", "ports"): Meta("merge", "containerPort"),
    ("spec", "containers", "args"): Meta(None, None),
    ("spec", "volumes"): Meta("merge,retainKeys", "name"),
    ("spec", "tolerations"): Meta(None, None),
    ("spec", "strategy"): Meta("retainKeys", None),
    ("spec", "nodeSelector"): Meta(None, None),
    ("spec", "resources"): Meta("replace", None),
    ("metadata", "finalizers"): Meta("merge", None),
    ("metadata", "ownerReferences"): Meta("merge", "uid"),
    ("metadata", "labels"): Meta(None, None),
}


def lookup(api_version, kind, path):
    return TEST_META.get(tuple(path), Meta(None, None))


def smp(original, patch):
    return StrategicMerge("v1", "Pod", lookup).merge_map(json.loads(json.dumps(original)), patch, ())


def c(name, **fields):
    return {"name": name, **fields}


# (original, patch, expected)
ENGINE_CASES = [
    # plain fields merge like a JSON merge patch; null deletes
    ({"a": 1, "b": {"x": 1, "y": 2}}, {"b": {"x": None, "z": 3}}, {"a": 1, "b": {"y": 2, "z": 3}}),
    ({"a": 1}, {"b": None}, {"a": 1}),
    ({"metadata": {"labels": {"a": "1"}}}, {"metadata": {"labels": {"a": None, "b": "2"}}},
     {"metadata": {"labels": {"b": "2"}}}),
    # merge-keyed lists: the item named in the patch is merged, the others stay
    ({"spec": {"containers": [c("a", image="a:1"), c("b", image="b:1")]}},
     {"spec": {"containers": [c("b", image="b:2")]}},
     {"spec": {"containers": [c("a", image="a:1"), c("b", image="b:2")]}}),
    # a new item comes first (patch items lead unless the live order decides)
    ({"spec": {"containers": [c("a", image="a:1")]}},
     {"spec": {"containers": [c("b", image="b:1")]}},
     {"spec": {"containers": [c("b", image="b:1"), c("a", image="a:1")]}}),
    # $patch: delete removes the item with that key
    ({"spec": {"containers": [c("a"), c("b"), c("c")]}},
     {"spec": {"containers": [{"$patch": "delete", "name": "b"}]}},
     {"spec": {"containers": [c("a"), c("c")]}}),
    # $patch: replace in a list replaces the list by the other items
    ({"spec": {"containers": [c("a"), c("b")]}},
     {"spec": {"containers": [{"$patch": "replace"}, c("z", image="z")]}},
     {"spec": {"containers": [c("z", image="z")]}}),
    # $patch: replace in an object replaces the object
    ({"spec": {"nodeSelector": {"a": "1", "b": "2"}}},
     {"spec": {"nodeSelector": {"$patch": "replace", "c": "3"}}},
     {"spec": {"nodeSelector": {"c": "3"}}}),
    # $patch: delete in an object empties it
    ({"spec": {"nodeSelector": {"a": "1"}, "x": 1}}, {"spec": {"nodeSelector": {"$patch": "delete"}}},
     {"spec": {"nodeSelector": {}, "x": 1}}),
    # nested merge: env inside a container, by name
    ({"spec": {"containers": [c("a", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])]}},
     {"spec": {"containers": [c("a", env=[{"name": "B", "value": "3"}, {"name": "C", "value": "4"}])]}},
     {"spec": {"containers": [c("a", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "3"},
                                          {"name": "C", "value": "4"}])]}}),
    # a list without a merge strategy is replaced (tolerations, args)
    ({"spec": {"tolerations": [{"key": "a", "operator": "Exists"}]}},
     {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}},
     {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}}),
    ({"spec": {"containers": [c("a", args=["x", "y"])]}}, {"spec": {"containers": [c("a", args=["z"])]}},
     {"spec": {"containers": [c("a", args=["z"])]}}),
    # an object with strategy replace is replaced, not merged
    ({"spec": {"resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}}},
     {"spec": {"resources": {"limits": {"cpu": "2"}}}},
     {"spec": {"resources": {"limits": {"cpu": "2"}}}}),
    # merge lists of scalars are sets: finalizers
    ({"metadata": {"finalizers": ["a", "b"]}}, {"metadata": {"finalizers": ["b", "c"]}},
     {"metadata": {"finalizers": ["a", "b", "c"]}}),
    ({"metadata": {"finalizers": ["a"]}}, {"metadata": {"finalizers": ["a"]}}, {"metadata": {"finalizers": ["a"]}}),
    ({"metadata": {}}, {"metadata": {"finalizers": ["x"]}}, {"metadata": {"finalizers": ["x"]}}),
    ({"metadata": {"finalizers": ["a", "b", "c"]}}, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}},
     {"metadata": {"finalizers": ["a", "c"]}}),
    ({"metadata": {"finalizers": ["a", "b"]}},
     {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["d"]}},
     {"metadata": {"finalizers": ["d", "b"]}}),
    ({"metadata": {}}, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}, {"metadata": {}}),
    ({"metadata": {"finalizers": ["a"]}}, {"metadata": {"finalizers": None}}, {"metadata": {}}),
    # ownerReferences merge by uid
    ({"metadata": {"ownerReferences": [{"uid": "1", "name": "rs-a", "controller": True}]}},
     {"metadata": {"ownerReferences": [{"uid": "2", "name": "rs-b"}]}},
     {"metadata": {"ownerReferences": [{"uid": "2", "name": "rs-b"},
                                       {"uid": "1", "name": "rs-a", "controller": True}]}}),
    ({"metadata": {"ownerReferences": [{"uid": "1", "name": "rs-a", "controller": True}]}},
     {"metadata": {"ownerReferences": [{"uid": "1", "controller": None}]}},
     {"metadata": {"ownerReferences": [{"uid": "1", "name": "rs-a"}]}}),
    ({"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}, {"uid": "2", "name": "b"}]}},
     {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": "1"}]}},
     {"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]}}),
    # $retainKeys: keys of the object not listed are dropped (deployment strategy type change)
    ({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}},
     {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
     {"spec": {"strategy": {"type": "Recreate"}}}),
    # $retainKeys inside merge-keyed items (volumes: merge,retainKeys)
    ({"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}},
     {"spec": {"volumes": [{"$retainKeys": ["configMap", "name"], "name": "v", "configMap": {"name": "cm"}}]}},
     {"spec": {"volumes": [{"name": "v", "configMap": {"name": "cm"}}]}}),
    # $setElementOrder decides the final order of a merge-keyed list
    ({"spec": {"containers": [c("a"), c("b"), c("c")]}},
     {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "b"}, {"name": "a"}]}},
     {"spec": {"containers": [c("c"), c("b"), c("a")]}}),
    ({"spec": {"containers": [c("a"), c("b")]}},
     {"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "new"}, {"name": "b"}],
               "containers": [c("new", image="n")]}},
     {"spec": {"containers": [c("a"), c("new", image="n"), c("b")]}}),
    # a server-only item goes before the first ordered item it precedes in the live list
    ({"spec": {"containers": [c("a"), c("server"), c("b")]}},
     {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}},
     {"spec": {"containers": [c("server"), c("b"), c("a")]}}),
    ({"spec": {"containers": [c("a"), c("b"), c("server")]}},
     {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}},
     {"spec": {"containers": [c("b"), c("a"), c("server")]}}),
    ({"metadata": {"finalizers": ["a", "b"]}},
     {"metadata": {"$setElementOrder/finalizers": ["b", "a", "c"], "finalizers": ["c"]}},
     {"metadata": {"finalizers": ["b", "a", "c"]}}),
    # new values carry no nulls and no directives into the object
    ({"spec": {}}, {"spec": {"containers": [c("a", image=None, env=[{"$patch": "delete", "name": "x"}])]}},
     {"spec": {"containers": [c("a", env=[])]}}),
    ({}, {"spec": {"nodeSelector": {"a": "1", "b": None}}}, {"spec": {"nodeSelector": {"a": "1"}}}),
    # a type change replaces the value
    ({"a": {"b": 1}}, {"a": "x"}, {"a": "x"}),
    ({"a": "x"}, {"a": {"b": 1, "c": None}}, {"a": {"b": 1}}),
]


@pytest.mark.parametrize("original, patch, expected", ENGINE_CASES)
def test_strategic_merge(original, patch, expected):
    before = json.loads(json.dumps(original))
    assert smp(original, patch) == expected
    assert original == before


# malformed strategic patches: 400 with a message naming the problem
ENGINE_ERRORS = [
    ({"spec": {"containers": [c("a")]}}, {"spec": {"containers": [{"image": "x"}]}},
     "does not contain declared merge key: name"),
    ({"spec": {"containers": [c("a")]}}, {"spec": {"containers": [{"$patch": "delete"}]}},
     "does not contain declared merge key: name"),
    ({"spec": {"containers": [c("a")]}}, {"spec": {"containers": [{"$patch": "frob", "name": "a"}]}},
     "unknown patch type: frob"),
    ({"spec": {"containers": [c("a")]}}, {"spec": {"containers": [{"$patch": "merge", "name": "a"}]}},
     "merging lists cannot yet be specified in the patch"),
    ({"spec": {}}, {"spec": {"$patch": "frob"}}, "unknown patch type: frob in map"),
    ({"spec": {"strategy": {"type": "A"}}}, {"spec": {"strategy": {"$retainKeys": "type"}}},
     "invalid patch format of retainKeys"),
    ({"spec": {"strategy": {"type": "A"}}},
     {"spec": {"strategy": {"$retainKeys": ["type"], "type": "B", "rollingUpdate": {}}}},
     "invalid patch format of retainKeys"),
    ({"metadata": {"finalizers": ["a"]}}, {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}},
     "invalid patch format of primitive list"),
    ({"spec": {"containers": [c("a")]}}, {"spec": {"$setElementOrder/containers": "a"}},
     "invalid patch format of setElementOrder list"),
    ({"spec": {"containers": [c("a"), c("b")]}},
     {"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [c("b")]}},
     "doesn't match $setElementOrder list"),
    ({"spec": {"containers": [c("a")]}}, {"spec": {"containers": [[1]]}}, "lists of lists are not supported"),
    ({"metadata": {"finalizers": ["a"]}}, {"metadata": {"finalizers": [{"a": 1}]}}, "list element types are not identical"),
    ({"spec": {}}, {"spec": {"$frob": 1}}, 'unknown strategic merge patch directive "$frob"'),
]


@pytest.mark.parametrize("original, patch, message", ENGINE_ERRORS)
def test_bad_strategic_patch_is_400(original, patch, message):
    with pytest.raises(StatusError) as exc:
        smp(original, patch)
    assert (exc.value.code, exc.value.reason) == (400, "BadRequest")
    assert message in exc.value.message


# -- kubectl's patches against the real schema -----------------------------------------------

DEPLOYMENTS = registry.lookup("apps", "v1", "deployments")
PODS = registry.lookup("", "v1", "pods")
NODES = registry.lookup("", "v1", "nodes")


def deployment(containers, **spec):
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "resourceVersion": "7",
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}, **spec},
    }


def containers_of(obj):
    return obj["spec"]["template"]["spec"]["containers"]


def real(resource, current, patch):
    return apply_patch(resource, current, json.dumps(patch).encode(), SMP)


def test_kubectl_apply_changes_an_image_by_container_name():
    current = deployment([c("nginx", image="nginx:1.14", ports=[{"containerPort": 80, "protocol": "TCP"}]),
                          c("sidecar", image="busybox")])
    # what kubectl apply sends when only the image changed in the manifest
    patch = {"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{new}"}},
             "spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
                                            "containers": [{"image": "nginx:1.16", "name": "nginx"}]}}}}
    result = real(DEPLOYMENTS, current, patch)
    assert containers_of(result) == [c("nginx", image="nginx:1.16", ports=[{"containerPort": 80, "protocol": "TCP"}]),
                                     c("sidecar", image="busybox")]
    assert result["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] == "{new}"
    assert result["spec"]["replicas"] == 2


def test_kubectl_apply_removes_an_env_var():
    current = deployment([c("app", image="app:1", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"},
                                                      {"name": "C", "value": "3"}])])
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}],
        "containers": [{"$setElementOrder/env": [{"name": "A"}, {"name": "C"}],
                        "env": [{"$patch": "delete", "name": "B"}], "name": "app"}]}}}}
    result = real(DEPLOYMENTS, current, patch)
    assert containers_of(result)[0]["env"] == [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]


def test_kubectl_apply_removes_a_field_with_null_and_reorders_containers():
    current = deployment([c("a", image="a", imagePullPolicy="Always"), c("b", image="b")])
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}, {"name": "c"}],
        "containers": [{"imagePullPolicy": None, "name": "a"}, {"image": "c", "name": "c"}]}}}}
    result = real(DEPLOYMENTS, current, patch)
    assert containers_of(result) == [c("b", image="b"), c("a", image="a"), c("c", image="c")]


def test_kubectl_apply_changes_the_strategy_type_with_retain_keys():
    current = deployment([c("a", image="a")])
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert real(DEPLOYMENTS, current, patch)["spec"]["strategy"] == {"type": "Recreate"}


def test_kubectl_patch_doc_example_adds_a_container():
    # "kubectl patch deployment patch-demo --patch-file patch-file.yaml" from the upstream docs
    current = deployment([c("patch-demo-ctr", image="nginx")])
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "patch-demo-ctr-2", "image": "redis"}]}}}}
    names = [x["name"] for x in containers_of(real(DEPLOYMENTS, current, patch))]
    assert sorted(names) == ["patch-demo-ctr", "patch-demo-ctr-2"]


def test_kubectl_patch_doc_example_replaces_tolerations():
    # tolerations have no patch strategy: the patch list replaces the live one (upstream docs example)
    current = deployment([c("a", image="a")], template=None)
    current["spec"]["template"] = {"spec": {"containers": [c("a", image="a")],
                                            "tolerations": [{"effect": "NoSchedule", "key": "dedicated",
                                                             "value": "test-team", "operator": "Equal"}]}}
    patch = {"spec": {"template": {"spec": {"tolerations": [{"effect": "NoSchedule", "key": "disktype",
                                                              "value": "ssd", "operator": "Equal"}]}}}}
    result = real(DEPLOYMENTS, current, patch)
    assert result["spec"]["template"]["spec"]["tolerations"] == [
        {"effect": "NoSchedule", "key": "disktype", "value": "ssd", "operator": "Equal"}]


def test_finalizers_merge_as_a_set_on_the_real_schema():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "finalizers": ["example.com/a"]},
           "spec": {"containers": [c("a", image="a")]}}
    added = real(PODS, pod, {"metadata": {"finalizers": ["example.com/b"]}})
    assert sorted(added["metadata"]["finalizers"]) == ["example.com/a", "example.com/b"]
    removed = real(PODS, added, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/a"]}})
    assert removed["metadata"]["finalizers"] == ["example.com/b"]


def test_owner_references_merge_by_uid_on_the_real_schema():
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "ownerReferences": [
               {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u1", "controller": True}]},
           "spec": {"containers": [c("a", image="a")]}}
    # the garbage collector orphaning a dependent: delete the owner reference by uid
    orphaned = real(PODS, pod, {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": "u1"}], "uid": "p-uid"}})
    assert orphaned["metadata"]["ownerReferences"] == []
    # adopting: a second owner is added, the first kept
    adopted = real(PODS, pod, {"metadata": {"ownerReferences": [
        {"apiVersion": "v1", "kind": "Node", "name": "n", "uid": "u2"}]}})
    assert [o["uid"] for o in adopted["metadata"]["ownerReferences"]] == ["u2", "u1"]


def test_cordon_patch_on_a_node():
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "w1", "labels": {"a": "b"}},
            "spec": {"podCIDR": "10.200.1.0/24"}}
    cordoned = real(NODES, node, {"spec": {"unschedulable": True}})
    assert cordoned["spec"] == {"podCIDR": "10.200.1.0/24", "unschedulable": True}
    assert real(NODES, cordoned, {"spec": {"unschedulable": None}})["spec"] == {"podCIDR": "10.200.1.0/24"}


def test_container_ports_merge_by_container_port():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [c("a", image="a", ports=[{"containerPort": 80, "name": "http"}])]}}
    result = real(PODS, pod, {"spec": {"containers": [c("a", ports=[{"containerPort": 443, "name": "https"}])]}})
    assert sorted(p["containerPort"] for p in result["spec"]["containers"][0]["ports"]) == [80, 443]


# -- properties ------------------------------------------------------------------------------

names = st.sampled_from(["a", "b", "c", "d", "e"])
container = st.builds(lambda n, img: {"name": n, "image": img}, names, st.sampled_from(["x:1", "x:2", "y"]))
container_lists = st.lists(container, max_size=5, unique_by=lambda x: x["name"])


@given(container_lists, container_lists)
def test_merged_containers_are_the_union_by_name_and_the_patch_wins(live, patch):
    result = smp({"spec": {"containers": live}}, {"spec": {"containers": patch}})["spec"]["containers"]
    by_name = {x["name"]: x for x in live}
    by_name.update({x["name"]: x for x in patch})
    assert sorted(x["name"] for x in result) == sorted(by_name)
    assert all(x == by_name[x["name"]] for x in result)


@given(container_lists, st.lists(names, unique=True, max_size=5))
def test_set_element_order_gives_the_patch_order_for_named_items(live, order):
    patch = {"spec": {"$setElementOrder/containers": [{"name": n} for n in order]}}
    result = [x["name"] for x in smp({"spec": {"containers": live}}, patch)["spec"]["containers"]]
    assert sorted(result) == sorted(x["name"] for x in live)
    named = [n for n in result if n in order]
    assert named == [n for n in order if n in named]


@given(st.lists(names, unique=True, max_size=5), st.lists(names, unique=True, max_size=5))
def test_finalizers_patch_is_a_set_union_and_idempotent(live, patch):
    once = smp({"metadata": {"finalizers": live}}, {"metadata": {"finalizers": patch}})
    assert sorted(once["metadata"]["finalizers"]) == sorted(set(live) | set(patch))
    twice = smp(once, {"metadata": {"finalizers": patch}})
    assert twice == once


@pytest.mark.parametrize("live, patch_items, order, expected", [
    # upstream merges into the live list in place: deleting "a" shifts "b" to the front, where the
    # order step finds it, so the server-only "b" comes before the patch's new "c"
    (["a", "b"], [{"$patch": "delete", "name": "a"}, {"name": "c"}], ["c"], ["b", "c"]),
    # without a delete nothing shifts: the new item is placed by the order list, the server-only one after
    (["a", "b"], [{"name": "c"}], ["c", "a"], ["c", "a", "b"]),
    # two deletes: both shift the rest; the new item lands in the spare slot of the live list
    (["a", "b", "x"], [{"$patch": "delete", "name": "a"}, {"$patch": "delete", "name": "b"}, {"name": "c"}],
     ["c"], ["x", "c"]),
])
def test_element_order_after_a_delete_reads_the_live_list_as_upstream_leaves_it(live, patch_items, order, expected):
    original = {"spec": {"containers": [{"name": n} for n in live]}}
    patch = {"spec": {"containers": patch_items, "$setElementOrder/containers": [{"name": n} for n in order]}}
    assert [c["name"] for c in smp(original, patch)["spec"]["containers"]] == expected
