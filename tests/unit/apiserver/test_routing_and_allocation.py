"""Data-driven tests of the apiserver's pure parts: URL routing, content negotiation, continue tokens, bitmaps."""

from __future__ import annotations

import pytest

from labkit.api.errors import StatusError
from labkit.apiserver.allocators import AlreadyAllocated, Bitmap, ClusterIPAllocator, NodePortAllocator, \
    NotInRange, RangeFull
from labkit.apiserver.server import negotiate, parse_path
from labkit.apiserver.storage import decode_continue, encode_continue

ROUTES = [
    # path, (group, plural, namespace, name, subresource)
    ("/api/v1/pods", ("", "pods", None, None, None)),
    ("/api/v1/namespaces/web/pods", ("", "pods", "web", None, None)),
    ("/api/v1/namespaces/web/pods/p1", ("", "pods", "web", "p1", None)),
    ("/api/v1/namespaces/web/pods/p1/status", ("", "pods", "web", "p1", "status")),
    ("/api/v1/namespaces/web/pods/p1/binding", ("", "pods", "web", "p1", "binding")),
    ("/api/v1/namespaces", ("", "namespaces", None, None, None)),
    ("/api/v1/namespaces/web", ("", "namespaces", None, "web", None)),
    ("/api/v1/namespaces/web/status", ("", "namespaces", None, "web", "status")),
    ("/api/v1/namespaces/web/finalize", ("", "namespaces", None, "web", "finalize")),
    ("/api/v1/nodes/n1/status", ("", "nodes", None, "n1", "status")),
    ("/apis/apps/v1/namespaces/web/deployments/api/scale", ("apps", "deployments", "web", "api", "scale")),
    ("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases",
     ("coordination.k8s.io", "leases", "kube-system", None, None)),
    ("/apis/rbac.authorization.k8s.io/v1/clusterroles/admin", ("rbac.authorization.k8s.io", "clusterroles", None,
                                                               "admin", None)),
]

NOT_FOUND = [
    "/api/v2/pods", "/api/v1/widgets", "/apis/apps/v1/pods", "/api/v1/namespaces/web/nodes",
    "/api/v1/namespaces/web/pods/p1/scale", "/api/v1/namespaces/web/pods/p1/status/extra", "/apis/apps",
    "/metrics",
]


@pytest.mark.parametrize("path,expected", ROUTES)
def test_routes(path, expected):
    info = parse_path(path)
    assert (info.resource.group, info.resource.plural, info.namespace, info.name, info.subresource) == expected


@pytest.mark.parametrize("path", NOT_FOUND)
def test_paths_serving_nothing_are_404(path):
    with pytest.raises(StatusError) as err:
        parse_path(path)
    assert err.value.code == 404


ACCEPT = [
    (None, ("application/json", None)),
    ("application/json", ("application/json", None)),
    ("*/*", ("application/json", None)),
    ("application/yaml", ("application/yaml", None)),
    # what kubectl get sends
    ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
     "application/json", ("application/json", "Table")),
    # what client-go's typed clients send: protobuf first, JSON as the fallback we answer with
    ("application/vnd.kubernetes.protobuf,application/json", ("application/json", None)),
    ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
     ("application/json", "APIGroupDiscoveryList")),
    ("application/json;as=Table;v=v2;g=meta.k8s.io,application/json", ("application/json", None)),
]


@pytest.mark.parametrize("header,expected", ACCEPT)
def test_negotiation(header, expected):
    accept = negotiate(header)
    assert (accept.media, accept.as_kind) == expected


def test_nothing_acceptable_is_406():
    with pytest.raises(StatusError) as err:
        negotiate("application/vnd.kubernetes.protobuf")
    assert err.value.code == 406


def test_continue_tokens_round_trip_and_garbage_is_400():
    token = encode_continue(42, "web/cm-07\x00")
    assert decode_continue(token) == (42, "web/cm-07\x00")
    for bad in ("not-base64!", encode_continue(1, "x")[:-3] + "zzz", "e30"):
        with pytest.raises(StatusError) as err:
            decode_continue(bad)
        assert err.value.code == 400


def test_cluster_ip_bitmap_skips_network_and_broadcast_and_never_repeats():
    ips = ClusterIPAllocator(None, "/registry", "10.32.0.0/29")  # 8 addresses, 6 usable
    bitmap = Bitmap(bytearray(1), 0)
    assert ips.first == "10.32.0.1"
    assert ips.allocate(bitmap, "10.32.0.1") == "10.32.0.1"
    with pytest.raises(AlreadyAllocated):
        ips.allocate(bitmap, "10.32.0.1")
    for wanted in ("10.32.0.0", "10.32.0.7", "10.33.0.1", "bogus"):
        with pytest.raises(NotInRange):
            ips.allocate(bitmap, wanted)
    taken = {ips.allocate(bitmap) for _ in range(5)}
    assert taken == {f"10.32.0.{i}" for i in range(2, 7)}
    with pytest.raises(RangeFull):
        ips.allocate(bitmap)
    ips.release(bitmap, "10.32.0.4")
    assert ips.allocate(bitmap) == "10.32.0.4"


def test_node_port_range_and_bad_flag():
    ports = NodePortAllocator(None, "/registry", "30000-30002")
    bitmap = Bitmap(bytearray(1), 0)
    assert ports.allocate(bitmap, 30001) == 30001
    assert {ports.allocate(bitmap), ports.allocate(bitmap)} == {30000, 30002}
    with pytest.raises(NotInRange):
        ports.allocate(Bitmap(bytearray(1), 0), 80)
    with pytest.raises(ValueError, match="--service-node-port-range"):
        NodePortAllocator(None, "/registry", "32767-30000")


def test_a_warning_with_a_control_character_is_left_out_of_the_headers():
    """A header cannot carry one (aiohttp would drop the connection): upstream's NewWarningHeader refuses it too."""
    from labkit.apiserver.server import JSON as JSON_MEDIA, Accept, render

    resp = render({}, Accept(JSON_MEDIA), warnings=["bad\x11text", 'unknown field "a\\"b"', "tab\there"])
    assert resp.headers.getall("Warning") == ['299 - "unknown field \\"a\\\\\\"b\\""']
