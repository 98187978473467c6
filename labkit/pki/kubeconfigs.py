"""Kubeconfigs for the admin and every component, with the certificates embedded.

One per Identity whose table row names an endpoint (labkit.pki.identities):
``kubeconfigs/<name>.kubeconfig`` in the lab's state directory, e.g.
admin.kubeconfig, kube-scheduler.kubeconfig, kubelet-worker-1.kubeconfig.
Control-plane components on the masters talk to the apiserver next to them
(https://127.0.0.1:6443); kubelets, kube-proxy and the admin go through the
load balancer (the first master when the lab has none), like kubeadm's
controlPlaneEndpoint.

Every kubeconfig names its cluster and context ``labkit-<lab>``; the admin's
user is named alike, so labkit.pki.contexts can merge it into ~/.kube/config
as is. Components' users are their certificate's CN (system:node:worker-1).
"""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from labkit.pki.ca import Pair, cert_pem, key_pem
from labkit.pki.identities import Identity

ADMIN = "admin"


def context_name(lab: str) -> str:
    return f"labkit-{lab}"


def kubeconfig_path(lab_dir: Path, name: str) -> Path:
    return lab_dir / "kubeconfigs" / f"{name}.kubeconfig"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def build(lab: str, identity: Identity, server: str, pair: Pair, ca: Pair) -> dict:
    """The kubeconfig document for one identity."""
    name = context_name(lab)
    user = name if identity.name == ADMIN else identity.common_name
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {
            "certificate-authority-data": _b64(cert_pem(ca.cert)), "server": server}}],
        "users": [{"name": user, "user": {
            "client-certificate-data": _b64(cert_pem(pair.cert)), "client-key-data": _b64(key_pem(pair.key))}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
        "current-context": name,
        "preferences": {},
    }


def render(doc: dict) -> bytes:
    """The document as YAML (libyaml's emitter when present: the pure-Python one is slow)."""
    return yaml.dump(doc, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False).encode()
