"""The watch protocol and the odd subresources, over raw HTTP (what every client library relies on).

Raw requests on purpose: these tests pin the wire format (newline-delimited
WatchEvents, BOOKMARK objects, the initial-events-end annotation, ERROR
events carrying a Status) that kubectl, client-go and the Python client parse.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
async def ns(http) -> str:
    name = f"w-{uuid.uuid4().hex[:8]}"
    async with http.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": {"name": name}}) as resp:
        assert resp.status == 201, await resp.text()
    return name


async def create_cm(http, ns, name, labels=None, data=None) -> dict:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}},
            "data": data or {}}
    async with http.post(f"/api/v1/namespaces/{ns}/configmaps", json=body) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()


async def patch_cm(http, ns, name, patch) -> dict:
    async with http.patch(f"/api/v1/namespaces/{ns}/configmaps/{name}", data=json.dumps(patch),
                          headers={"Content-Type": "application/merge-patch+json"}) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def read_events(resp, count: int, timeout: float = 20) -> list[dict]:
    events = []

    async def read():
        while len(events) < count:
            line = await resp.content.readline()
            if not line:
                return
            events.append(json.loads(line))
    await asyncio.wait_for(read(), timeout)
    return events


async def test_watch_list_initial_events_then_bookmark_then_changes(http, ns):
    await create_cm(http, ns, "a")
    await create_cm(http, ns, "b")
    params = {"watch": "1", "sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
              "allowWatchBookmarks": "true", "timeoutSeconds": "30"}
    async with http.get(f"/api/v1/namespaces/{ns}/configmaps", params=params) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("application/json")
        first = await read_events(resp, 3)
        assert [(e["type"], e["object"]["metadata"].get("name")) for e in first] == \
            [("ADDED", "a"), ("ADDED", "b"), ("BOOKMARK", None)]
        assert first[2]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
        assert first[2]["object"]["kind"] == "ConfigMap"
        await create_cm(http, ns, "c")
        (later,) = await read_events(resp, 1)
        assert (later["type"], later["object"]["metadata"]["name"]) == ("ADDED", "c")
        assert int(later["object"]["metadata"]["resourceVersion"]) > \
            int(first[2]["object"]["metadata"]["resourceVersion"])


async def test_send_initial_events_without_bookmarks_is_refused_like_upstream(http, ns):
    params = {"watch": "1", "sendInitialEvents": "true"}
    async with http.get(f"/api/v1/namespaces/{ns}/configmaps", params=params) as resp:
        assert resp.status == 422
        status = await resp.json()
        assert status["reason"] == "Invalid"
        assert {c["field"] for c in status["details"]["causes"]} == {"resourceVersionMatch", "allowWatchBookmarks"}


async def test_objects_entering_and_leaving_a_selector(http, ns):
    listing_rv = (await create_cm(http, ns, "x", labels={"color": "blue"}))["metadata"]["resourceVersion"]
    params = {"watch": "1", "labelSelector": "color=red", "resourceVersion": listing_rv, "timeoutSeconds": "30"}
    async with http.get(f"/api/v1/namespaces/{ns}/configmaps", params=params) as resp:
        await patch_cm(http, ns, "x", {"metadata": {"labels": {"color": "red"}}})
        await patch_cm(http, ns, "x", {"data": {"k": "v"}})
        await patch_cm(http, ns, "x", {"metadata": {"labels": {"color": "green"}}})
        events = await read_events(resp, 3)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[2]["object"]["metadata"]["labels"] == {"color": "green"}  # the object as it left


async def test_watch_from_a_resource_version_and_timeout(http, ns):
    created = await create_cm(http, ns, "t")
    rv = created["metadata"]["resourceVersion"]
    await patch_cm(http, ns, "t", {"data": {"n": "1"}})
    params = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "2"}
    async with http.get(f"/api/v1/namespaces/{ns}/configmaps", params=params) as resp:
        events = await read_events(resp, 1)
        assert events[0]["type"] == "MODIFIED" and events[0]["object"]["data"] == {"n": "1"}
        rest = await asyncio.wait_for(resp.content.read(), 10)  # the server ends the stream after timeoutSeconds
        assert rest == b""


async def test_bookmarks_arrive_when_idle(http, ns):
    rv = (await create_cm(http, ns, "idle"))["metadata"]["resourceVersion"]
    params = {"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true", "timeoutSeconds": "30"}
    async with http.get(f"/api/v1/namespaces/{ns}/configmaps", params=params) as resp:
        (event,) = await read_events(resp, 1, timeout=25)
    assert event["type"] == "BOOKMARK"
    assert int(event["object"]["metadata"]["resourceVersion"]) >= int(rv)


async def test_watch_as_table_for_kubectl_get_w(http, ns):
    rv = (await create_cm(http, ns, "tab"))["metadata"]["resourceVersion"]
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    params = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "30"}
    async with http.get(f"/api/v1/namespaces/{ns}/configmaps", params=params, headers={"Accept": accept}) as resp:
        await patch_cm(http, ns, "tab", {"data": {"a": "1", "b": "2"}})
        (event,) = await read_events(resp, 1)
    table = event["object"]
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert table["rows"][0]["cells"][:2] == ["tab", 2]


async def test_kubelet_subresources_answer_a_clear_error(http, ns):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    async with http.post(f"/api/v1/namespaces/{ns}/pods", json=pod) as resp:
        assert resp.status == 201
    async with http.get(f"/api/v1/namespaces/{ns}/pods/p/log") as resp:  # upstream: no node, no logs yet
        assert resp.status == 200 and await resp.text() == ""
    async with http.get(f"/api/v1/namespaces/{ns}/pods/p/exec", params={"command": "ls"}) as resp:
        status = await resp.json()
        assert resp.status == 400 and status["message"] == "pod p does not have a host assigned"
    async with http.post(f"/api/v1/namespaces/{ns}/pods/p/binding",
                         json={"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
                               "target": {"kind": "Node", "name": "n1"}}) as resp:
        assert resp.status == 201
    async with http.get(f"/api/v1/namespaces/{ns}/pods/p/exec", params={"command": "ls"}) as resp:
        status = await resp.json()
        assert resp.status == 404 and status["message"] == 'nodes "n1" not found'


async def test_core_and_events_k8s_io_events_are_the_same_objects(http, ns):
    event = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e1"},
             "eventTime": "2026-12-01T00:00:00.000000Z", "reportingController": "labkit/test",
             "reportingInstance": "test-1", "action": "Testing", "reason": "Tested", "type": "Normal",
             "note": "hello", "regarding": {"kind": "ConfigMap", "name": "x", "namespace": ns}}
    async with http.post(f"/apis/events.k8s.io/v1/namespaces/{ns}/events", json=event) as resp:
        assert resp.status == 201, await resp.text()
    async with http.get(f"/api/v1/namespaces/{ns}/events/e1") as resp:
        core = await resp.json()
    assert core["apiVersion"] == "v1" and core["message"] == "hello"
    assert core["involvedObject"]["name"] == "x" and core["reportingComponent"] == "labkit/test"


async def test_watch_without_initial_events_starts_from_now(http, ns):
    await create_cm(http, ns, "before")
    params = {"watch": "1", "sendInitialEvents": "false", "resourceVersionMatch": "NotOlderThan",
              "allowWatchBookmarks": "true", "timeoutSeconds": "30"}
    async with http.get(f"/api/v1/namespaces/{ns}/configmaps", params=params) as resp:
        assert resp.status == 200
        await asyncio.sleep(0.5)
        await create_cm(http, ns, "after")
        events = [e for e in await read_events(resp, 1) if e["type"] != "BOOKMARK"]
        while not events:
            events = [e for e in await read_events(resp, 1) if e["type"] != "BOOKMARK"]
    assert (events[0]["type"], events[0]["object"]["metadata"]["name"]) == ("ADDED", "after")


async def test_bad_selector_on_a_watch_is_a_plain_400(http, ns):
    async with http.get(f"/api/v1/namespaces/{ns}/configmaps", params={"watch": "1", "labelSelector": "a in"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["reason"] == "BadRequest"
