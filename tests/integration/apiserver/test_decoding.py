"""What upstream's decoding into its Go types does to a body it accepts.

Labels and annotations are a ``map[string]string``: a JSON ``null`` as a value
leaves the Go string empty, so upstream stores ``""`` (and answers it). The
same holds for every map or list of strings, at any depth (a ConfigMap's data,
a pod template's labels, a container's args, a nodeSelector). Raw HTTP, so the
nulls reach the server as sent; create, update (PUT) and a JSON patch (which
can add a null that no merge patch can).

A field of an object set to ``null`` leaves its Go field empty, and upstream
omits empty fields when it writes the object out: it is stored and answered
without that field (and a required one set to null is missing: 422).
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration

JSON = {"Content-Type": "application/json"}


def configmap(name: str, resource_version: str | None = None) -> bytes:
    meta = {"name": name, "labels": {"app": None, "tier": "web"}, "annotations": {"note": None}}
    if resource_version:
        meta["resourceVersion"] = resource_version
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"a": "1"}}).encode()


async def stored(http, path: str) -> dict:
    async with http.get(path) as resp:
        assert resp.status == 200
        return (await resp.json())["metadata"]


async def test_null_label_and_annotation_values_are_stored_as_empty_strings(http, namespace):
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    async with http.post(path, data=configmap("nulls"), headers=JSON) as resp:
        assert resp.status == 201, await resp.text()
        answered = (await resp.json())["metadata"]
    assert answered["labels"] == {"app": "", "tier": "web"} and answered["annotations"] == {"note": ""}
    meta = await stored(http, f"{path}/nulls")
    assert meta["labels"] == {"app": "", "tier": "web"} and meta["annotations"] == {"note": ""}

    async with http.put(f"{path}/nulls", data=configmap("nulls", meta["resourceVersion"]), headers=JSON) as resp:
        assert resp.status == 200, await resp.text()
    assert (await stored(http, f"{path}/nulls"))["labels"] == {"app": "", "tier": "web"}

    patch = [{"op": "add", "path": "/metadata/labels/added", "value": None}]
    async with http.patch(f"{path}/nulls", data=json.dumps(patch).encode(),
                          headers={"Content-Type": "application/json-patch+json"}) as resp:
        assert resp.status == 200, await resp.text()
    assert (await stored(http, f"{path}/nulls"))["labels"] == {"app": "", "tier": "web", "added": ""}

    # a merge patch's null still deletes the label (the patch's meaning, before any decoding)
    async with http.patch(f"{path}/nulls", data=b'{"metadata": {"labels": {"tier": null}}}',
                          headers={"Content-Type": "application/merge-patch+json"}) as resp:
        assert resp.status == 200, await resp.text()
    assert (await stored(http, f"{path}/nulls"))["labels"] == {"app": "", "added": ""}


async def test_null_strings_in_any_map_or_list_of_strings_become_empty(http, namespace):
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nulls"}, "spec": {
        "selector": {"matchLabels": {"app": "nulls"}},
        "template": {"metadata": {"labels": {"app": "nulls", "extra": None}},
                     "spec": {"nodeSelector": {"disk": None},
                              "containers": [{"name": "c", "image": "busybox", "args": ["sleep", None],
                                              "command": [None]}]}}}}
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    async with http.post(path, data=json.dumps(deployment).encode(), headers=JSON) as resp:
        assert resp.status == 201, await resp.text()
    async with http.get(f"{path}/nulls") as resp:
        template = (await resp.json())["spec"]["template"]
    assert template["metadata"]["labels"] == {"app": "nulls", "extra": ""}
    assert template["spec"]["nodeSelector"] == {"disk": ""}
    container = template["spec"]["containers"][0]
    assert container["args"] == ["sleep", ""] and container["command"] == [""]

    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "data-nulls"}, "data": {"a": None, "b": "x"}}
    async with http.post(f"/api/v1/namespaces/{namespace}/configmaps", data=json.dumps(cm).encode(),
                         headers=JSON) as resp:
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["data"] == {"a": "", "b": "x"}


async def test_fields_set_to_null_are_stored_without_them(http, namespace):
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "generateName": None, "creationTimestamp": None, "labels": None},
           "spec": {"hostname": None, "nodeSelector": None, "activeDeadlineSeconds": None,
                    "containers": [{"name": "c", "image": "busybox", "workingDir": None, "args": None,
                                    "resources": {"limits": None}}]},
           "status": {"phase": None}}
    path = f"/api/v1/namespaces/{namespace}/pods"
    async with http.post(path, data=json.dumps(pod).encode(), headers=JSON) as resp:
        assert resp.status == 201, await resp.text()
        answered = await resp.json()
    async with http.get(f"{path}/p") as resp:
        stored_pod = await resp.json()
    for obj in (answered, stored_pod):
        assert not {"generateName", "labels"} & obj["metadata"].keys()
        assert obj["metadata"]["creationTimestamp"] is not None  # set by the server, as always
        assert not {"hostname", "nodeSelector", "activeDeadlineSeconds"} & obj["spec"].keys()
        container = obj["spec"]["containers"][0]
        assert not {"workingDir", "args"} & container.keys() and container["resources"] == {}
        assert None not in obj["status"].values()

    patch = [{"op": "add", "path": "/spec/activeDeadlineSeconds", "value": None}]
    async with http.patch(f"{path}/p", data=json.dumps(patch).encode(),
                          headers={"Content-Type": "application/json-patch+json"}) as resp:
        assert resp.status == 200, await resp.text()
        assert "activeDeadlineSeconds" not in (await resp.json())["spec"]

    pod["metadata"]["name"] = "no-image"
    pod["spec"]["containers"][0]["image"] = None  # required: null is missing
    async with http.post(path, data=json.dumps(pod).encode(), headers=JSON) as resp:
        assert resp.status == 422
        causes = (await resp.json())["details"]["causes"]
    assert {"reason": "FieldValueRequired", "message": "Required value",
            "field": "spec.containers[0].image"} in causes
