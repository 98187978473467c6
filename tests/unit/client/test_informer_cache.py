"""The informer's cache and indexes, fed with watch events (no server needed for this part)."""

from labkit.client.api import ApiClient
from labkit.client.informer import NODE_NAME_INDEX, Indexer, Informer, index_by_node_name
from labkit.client.kubeconfig import ConnectionConfig


def pod(name, node=None, rv="1", ns="default"):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "resourceVersion": rv},
            "spec": {"nodeName": node} if node else {}}


def test_indexes_follow_updates_and_deletes():
    idx = Indexer({NODE_NAME_INDEX: index_by_node_name})
    idx.put(pod("a", "n1"))
    idx.put(pod("b", "n1"))
    idx.put(pod("c", "n2", ns="other"))
    assert [p["metadata"]["name"] for p in idx.by_index(NODE_NAME_INDEX, "n1")] == ["a", "b"]
    idx.put(pod("a", "n2", rv="2"))  # moved
    assert [p["metadata"]["name"] for p in idx.by_index(NODE_NAME_INDEX, "n1")] == ["b"]
    assert [p["metadata"]["name"] for p in idx.by_index(NODE_NAME_INDEX, "n2")] == ["a", "c"]
    idx.remove("default/b")
    assert idx.by_index(NODE_NAME_INDEX, "n1") == []
    assert [p["metadata"]["name"] for p in idx.by_index("namespace", "other")] == ["c"]


async def test_relist_reports_exactly_the_differences():
    informer = Informer(ApiClient(ConnectionConfig("http://127.0.0.1:1")), "pods")
    seen = []
    informer.add_event_handler(lambda o: seen.append(("add", o["metadata"]["name"])),
                               lambda old, new: seen.append(("update", new["metadata"]["name"])),
                               lambda o: seen.append(("delete", o["metadata"]["name"])))
    informer._replace([pod("a"), pod("b"), pod("c")])
    seen.clear()
    informer._replace([pod("a"), pod("b", rv="7"), pod("d")])
    assert sorted(seen) == [("add", "d"), ("delete", "c"), ("update", "b")]
    informer._apply("DELETED", pod("a"))
    assert seen[-1] == ("delete", "a")
    assert sorted(informer.indexer.keys()) == ["default/b", "default/d"]


async def test_late_handlers_get_the_cached_objects_as_adds():
    informer = Informer(ApiClient(ConnectionConfig("http://127.0.0.1:1")), "pods")
    informer._replace([pod("a"), pod("b")])
    added = []
    informer.add_event_handler(on_add=lambda o: added.append(o["metadata"]["name"]))
    assert sorted(added) == ["a", "b"]
