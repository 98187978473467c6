"""The apiserver's choices before it calls a kubelet (labkit/apiserver/kubelet_proxy.py): container, address."""

from __future__ import annotations

import ssl

import pytest

from labkit.api.errors import StatusError
from labkit.apiserver.kubelet_proxy import dial_error, kubelet_error, node_address, parse_address_types, pick_container


def pod(containers, init=(), ephemeral=()):
    return {"metadata": {"name": "web"},
            "spec": {"containers": [{"name": c} for c in containers],
                     "initContainers": [{"name": c} for c in init],
                     "ephemeralContainers": [{"name": c} for c in ephemeral]}}


def test_the_only_container_is_the_default():
    assert pick_container(pod(["app"]), "") == "app"


def test_a_named_container_may_be_any_kind():
    assert pick_container(pod(["app"], init=["setup"], ephemeral=["debugger"]), "setup") == "setup"
    assert pick_container(pod(["app"], ephemeral=["debugger"]), "debugger") == "debugger"


@pytest.mark.parametrize("spec, asked, message", [
    (pod(["app", "sidecar"]), "", "a container name must be specified for pod web, choose one of: [app sidecar]"),
    (pod(["app", "sidecar"], init=["setup"]), "",
     "a container name must be specified for pod web, choose one of: [app sidecar] or one of the init containers: "
     "[setup]"),
    (pod([]), "", "a container name must be specified for pod web"),
    (pod(["app"]), "nope", "container nope is not valid for pod web"),
])
def test_upstreams_400s(spec, asked, message):
    with pytest.raises(StatusError) as refused:
        pick_container(spec, asked)
    assert (refused.value.code, refused.value.message) == (400, message)


def test_address_types_in_upstreams_default_order():
    addresses = [{"type": "ExternalIP", "address": "203.0.113.5"}, {"type": "InternalIP", "address": "10.0.0.5"},
                 {"type": "Hostname", "address": "worker-1"}]
    node = {"status": {"addresses": addresses}}
    assert node_address(node) == "worker-1"
    node["status"]["addresses"] = addresses[:2]
    assert node_address(node) == "10.0.0.5"
    assert node_address({"status": {}}) is None


def test_dial_errors_read_like_gos():
    assert dial_error(ConnectionRefusedError(111, "Connection refused"), "10.0.0.5", 10250) == \
        "dial tcp 10.0.0.5:10250: connect: connection refused"
    verify = ssl.SSLCertVerificationError(1, "certificate verify failed")
    verify.verify_message = "Hostname mismatch, certificate is not valid for 'localhost'."
    assert dial_error(verify, "localhost", 10250) == \
        "tls: failed to verify certificate: Hostname mismatch, certificate is not valid for 'localhost'."


def test_a_kubelets_refusal_keeps_its_code_and_text():
    refused = kubelet_error(403, b"Forbidden (user=x, verb=get, resource=nodes, subresource=proxy)\n")
    assert (refused.code, refused.reason) == (403, "Forbidden")
    assert refused.message == "Forbidden (user=x, verb=get, resource=nodes, subresource=proxy)"


def test_preferred_address_types_flag():
    """--kubelet-preferred-address-types reorders the choice (a lab whose node names do not resolve dials InternalIP)."""
    addresses = [{"type": "Hostname", "address": "worker-1"}, {"type": "InternalIP", "address": "10.0.0.5"}]
    node = {"status": {"addresses": addresses}}
    assert node_address(node, parse_address_types("InternalIP,Hostname")) == "10.0.0.5"
    assert node_address(node, parse_address_types("ExternalIP")) is None
    with pytest.raises(ValueError, match="unknown address type 'InternalAddress'"):
        parse_address_types("InternalIP,InternalAddress")
    with pytest.raises(ValueError, match="empty"):
        parse_address_types(" , ")
