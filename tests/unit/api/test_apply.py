"""labkit/api/apply.py: field sets, merge, what a manager gives up, conflicts, force, update entries.

Each case is data: a config (and a live object), and what upstream's server-side
apply gives for it (FieldsV1 sets written as upstream prints them).
"""

from __future__ import annotations

import copy

import pytest

from labkit.api import apply as A
from labkit.api.errors import StatusError


def dep(containers: list, **spec) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {**spec, "template": {"spec": {"containers": containers}}}}


def containers_fields(tree: dict) -> dict:
    return tree["f:spec"]["f:template"]["f:spec"]["f:containers"]


# -- 1. the field set of an applied config ------------------------------------------------

FIELD_SETS = [
    ("map entries", "v1", "ConfigMap", {"data": {"a": "1", "b": "2"}},
     {"f:data": {"f:a": {}, "f:b": {}}}),
    ("an empty map is owned itself", "v1", "ConfigMap", {"data": {}}, {"f:data": {}}),
    ("labels and annotations per key", "v1", "ConfigMap",
     {"metadata": {"name": "x", "labels": {"app": "a"}, "annotations": {"n": "v"}}},
     {"f:metadata": {"f:annotations": {"f:n": {}}, "f:labels": {"f:app": {}}}}),
    ("server fields are nobody's", "v1", "ConfigMap",
     {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "n", "uid": "u"}}, {}),
    ("associative list items by key, with '.'", "apps/v1", "Deployment",
     {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}},
     {"f:spec": {"f:template": {"f:spec": {"f:containers": {
         'k:{"name":"c"}': {".": {}, "f:image": {}, "f:name": {}}}}}}}),
    ("a defaulted key field counts with its default", "v1", "Pod",
     {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]}},
     {"f:spec": {"f:containers": {'k:{"name":"c"}': {".": {}, "f:name": {}, "f:ports": {
         'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}}}}}}),
    ("set items by value", "v1", "ConfigMap", {"metadata": {"finalizers": ["a/b", "c"]}},
     {"f:metadata": {"f:finalizers": {'v:"a/b"': {}, 'v:"c"': {}}}}),
    ("an atomic list is one field", "v1", "Pod", {"spec": {"containers": [{"name": "c", "args": ["x", "y"]}]}},
     {"f:spec": {"f:containers": {'k:{"name":"c"}': {".": {}, "f:args": {}, "f:name": {}}}}}),
    ("an atomic struct is one field", "apps/v1", "Deployment",
     {"spec": {"selector": {"matchLabels": {"app": "a"}}}}, {"f:spec": {"f:selector": {}}}),
    ("an atomic map is one field", "v1", "Pod", {"spec": {"nodeSelector": {"disk": "ssd"}}},
     {"f:spec": {"f:nodeSelector": {}}}),
    ("status is not the main resource's", "apps/v1", "Deployment", {"status": {"replicas": 3}}, {}),
    ("a list without a list type: the patch strategy decides (secrets by name; an atomic item)", "v1",
     "ServiceAccount", {"secrets": [{"name": "s"}]}, {"f:secrets": {'k:{"name":"s"}': {}}}),
]


@pytest.mark.parametrize("what,api_version,kind,config,expected", FIELD_SETS, ids=[c[0] for c in FIELD_SETS])
def test_field_set_of_the_applied_config(what, api_version, kind, config, expected):
    fields = A.owned_by_writes(A.config_field_set(A.root_shape(api_version, kind), config), True, None)
    assert fields == expected


# -- 2. merge ---------------------------------------------------------------------------------

def names(items: list) -> list:
    return [x["name"] if isinstance(x, dict) else x for x in items]


MERGES = [
    ("new items are appended", ["a", "b"], ["a", "c"], ["a", "b", "c"]),
    ("live-only items keep their place", ["a", "b", "c"], ["c", "d"], ["a", "b", "c", "d"]),
    ("shared items follow the config where the walks do not meet", ["a", "b", "c"], ["c", "a"], ["b", "c", "a"]),
    ("a config reorders what it names", ["a", "b"], ["b", "a"], ["b", "a"]),
    ("nothing live", [], ["x", "y"], ["x", "y"]),
]


@pytest.mark.parametrize("what,live,config,expected", MERGES, ids=[c[0] for c in MERGES])
def test_associative_list_order(what, live, config, expected):
    shape = A.root_shape("v1", "Pod")
    merged = A.merge(shape, {"spec": {"containers": [{"name": n, "image": "live"} for n in live]}},
                     {"spec": {"containers": [{"name": n} for n in config]}})
    assert names(merged["spec"]["containers"]) == expected
    kept = {c["name"]: c.get("image") for c in merged["spec"]["containers"]}
    assert all(kept[n] == "live" for n in live), "a merged item keeps the live fields the config does not set"


def test_merge_maps_per_key_atomic_lists_whole_and_sets_by_value():
    shape = A.root_shape("v1", "Pod")
    live = {"metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["x"]},
            "spec": {"containers": [{"name": "c", "args": ["1", "2"], "env": [{"name": "E", "value": "e"}]}]}}
    config = {"metadata": {"labels": {"b": "3"}, "finalizers": ["y"]},
              "spec": {"containers": [{"name": "c", "args": ["9"], "env": [{"name": "F", "value": "f"}]}]}}
    merged = A.merge(shape, live, config)
    assert merged["metadata"] == {"labels": {"a": "1", "b": "3"}, "finalizers": ["x", "y"]}
    c = merged["spec"]["containers"][0]
    assert c["args"] == ["9"]
    assert c["env"] == [{"name": "E", "value": "e"}, {"name": "F", "value": "f"}]
    assert live["metadata"]["labels"] == {"a": "1", "b": "2"}, "the live object is not changed"


# -- 3. apply: removal, conflicts, force ---------------------------------------------------

def applied(live: dict, config: dict, manager: str, force: bool = False, now: str = "T") -> dict:
    return A.apply(config["apiVersion"], config["kind"], live, config, manager, force=force, now=now)


def cm(data: dict, **meta) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", **meta}, "data": data}


def entries(obj: dict) -> dict:
    return {(e["manager"], e["operation"]): e["fieldsV1"] for e in obj["metadata"].get("managedFields", [])}


REMOVALS = [
    # (what, first config of "a", config of "b" or None, second config of "a", data left)
    ("a key given up goes", {"x": "1", "y": "2"}, None, {"x": "1"}, {"x": "1"}),
    ("a key another manager owns too stays", {"x": "1", "y": "2"}, {"y": "2"}, {"x": "1"}, {"x": "1", "y": "2"}),
    ("a key never owned stays", {"x": "1"}, {"z": "3"}, {}, {"z": "3"}),
]


@pytest.mark.parametrize("what,first,other,second,left", REMOVALS, ids=[c[0] for c in REMOVALS])
def test_what_a_manager_gives_up_is_removed_unless_owned_by_another(what, first, other, second, left):
    obj = applied({}, cm(first), "a")
    if other is not None:
        obj = applied(obj, cm(other), "b")
    obj = applied(obj, cm(second), "a")
    assert obj.get("data", {}) == left


def test_removed_list_items_and_fields_inside_kept_items():
    first = dep([{"name": "web", "image": "i", "env": [{"name": "A", "value": "1"}]}, {"name": "side", "image": "s"}])
    obj = applied({}, first, "a")
    obj = applied(obj, dep([{"name": "web", "image": "i"}]), "a")
    assert obj["spec"]["template"]["spec"]["containers"] == [{"name": "web", "image": "i"}]
    assert containers_fields(entries(obj)[("a", "Apply")]) == {'k:{"name":"web"}': {".": {}, "f:image": {},
                                                                                       "f:name": {}}}


def test_a_map_owned_whole_before_keeps_the_keys_still_applied():
    """An Update set owns ``labels`` itself (``.``); once moved to an applier that applies one label, it stays."""
    live = cm({"x": "1"}, labels={"app": "a", "old": "o"})
    live["metadata"]["managedFields"] = [{"manager": "a", "operation": "Apply", "apiVersion": "v1",
                                          "fieldsType": "FieldsV1", "fieldsV1": {
                                              "f:data": {".": {}, "f:x": {}},
                                              "f:metadata": {"f:labels": {".": {}, "f:app": {}, "f:old": {}}}}}]
    obj = applied(live, cm({"x": "1"}, labels={"app": "a"}), "a")
    assert obj["metadata"]["labels"] == {"app": "a"}
    assert obj["data"] == {"x": "1"}


def test_an_item_another_manager_has_fields_in_stays_with_them():
    obj = applied({}, dep([{"name": "web", "image": "i"}]), "a")
    obj = applied(obj, dep([{"name": "web", "command": ["sh"]}]), "b")
    obj = applied(obj, dep([]), "a")
    assert obj["spec"]["template"]["spec"]["containers"] == [{"name": "web", "command": ["sh"]}]


def test_conflict_names_every_field_and_writes_nothing():
    live = applied({}, dep([{"name": "web", "image": "i"}], replicas=2), "a")
    before = copy.deepcopy(live)
    with pytest.raises(StatusError) as caught:
        applied(live, dep([{"name": "web", "image": "j"}], replicas=3), "b")
    err = caught.value
    assert (err.code, err.reason) == (409, "Conflict")
    assert err.message == ('Apply failed with 2 conflicts: conflicts with "a":\n'
                           '- .spec.replicas\n- .spec.template.spec.containers[name="web"].image')
    assert [c.to_dict() for c in err.causes] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "a"', "field": ".spec.replicas"},
        {"reason": "FieldManagerConflict", "message": 'conflict with "a"',
         "field": '.spec.template.spec.containers[name="web"].image'}]
    assert live == before


def test_same_value_is_shared_and_force_takes_the_field():
    live = applied({}, cm({"x": "1", "y": "1"}), "a")
    shared = applied(live, cm({"x": "1"}), "b")
    assert entries(shared)[("a", "Apply")] == {"f:data": {"f:x": {}, "f:y": {}}}
    assert entries(shared)[("b", "Apply")] == {"f:data": {"f:x": {}}}
    forced = applied(shared, cm({"x": "2"}), "b", force=True)
    assert forced["data"] == {"x": "2", "y": "1"}
    assert entries(forced)[("a", "Apply")] == {"f:data": {"f:y": {}}}
    # a manager left with nothing leaves managedFields
    gone = applied(forced, cm({"y": "3"}), "b", force=True)
    assert set(entries(gone)) == {("b", "Apply")}


def test_a_conflict_with_an_update_manager_names_its_version():
    live = applied({}, cm({"x": "1"}), "a")
    new = copy.deepcopy(live)
    new["data"]["x"] = "2"
    A.record_update("v1", "ConfigMap", live, new, "editor", now="T2")
    assert entries(new) == {("editor", "Update"): {"f:data": {"f:x": {}}}}, "the update took the field from a"
    with pytest.raises(StatusError) as caught:
        applied(new, cm({"x": "3"}), "a")
    assert caught.value.message == 'Apply failed with 1 conflict: conflict with "editor" using v1: .data.x'


def test_an_unchanged_apply_keeps_its_time():
    first = applied({}, cm({"x": "1"}), "a", now="T1")
    again = applied(first, cm({"x": "1"}), "a", now="T2")
    assert again == first


# -- Update entries --------------------------------------------------------------------------

def test_create_records_every_field_maps_as_members():
    obj = cm({"x": "1"}, labels={"app": "a"}, uid="u", namespace="n")
    A.record_update("v1", "ConfigMap", None, obj, "kubectl-create", now="T")
    [entry] = obj["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"], entry["time"]) == \
        ("kubectl-create", "Update", "v1", "T")
    assert entry["fieldsV1"] == {"f:data": {".": {}, "f:x": {}}, "f:metadata": {"f:labels": {".": {}, "f:app": {}}}}


def test_update_keeps_managed_fields_when_the_request_sends_none_and_clears_them_on_empty():
    live = applied({}, cm({"x": "1"}), "a")
    put = cm({"x": "1", "y": "2"})
    A.record_update("v1", "ConfigMap", live, put, "editor", now="T")
    assert entries(put) == {("a", "Apply"): {"f:data": {"f:x": {}}}, ("editor", "Update"): {"f:data": {"f:y": {}}}}
    cleared = cm({"x": "1"})
    cleared["metadata"]["managedFields"] = []
    A.record_update("v1", "ConfigMap", live, cleared, "editor", now="T")
    assert "managedFields" not in cleared["metadata"]


def test_removed_fields_leave_every_set():
    live = applied({}, cm({"x": "1", "y": "2"}), "a")
    put = cm({"x": "1"})
    A.record_update("v1", "ConfigMap", live, put, "editor", now="T")
    assert entries(put) == {("a", "Apply"): {"f:data": {"f:x": {}}}}


def test_update_entries_are_capped_the_oldest_folded_into_ancient_changes():
    obj = applied({}, cm({"a": "1"}), "applier")
    for i in range(12):
        new = copy.deepcopy(obj)
        new["data"][f"k{i}"] = "v"
        A.record_update("v1", "ConfigMap", obj, new, f"writer-{i}", now=f"2026-01-01T00:00:{i:02d}Z")
        obj = new
    names = [(e["manager"], e["operation"]) for e in obj["metadata"]["managedFields"]]
    assert len([n for n in names if n[1] == "Update"]) == A.MAX_UPDATE_MANAGERS
    assert ("applier", "Apply") in names, "Apply entries are never folded"
    ancient = entries(obj)[("ancient-changes", "Update")]
    assert ancient == {"f:data": {"f:k0": {}, "f:k1": {}, "f:k2": {}}}
    assert ("writer-3", "Update") in names and ("writer-2", "Update") not in names


def test_path_text_is_upstreams():
    assert A.path_text(("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}', "f:name")) == \
        '.spec.ports[port=80,protocol="TCP"].name'
    assert A.path_text(("f:metadata", "f:finalizers", 'v:"x"')) == '.metadata.finalizers[="x"]'
