"""Discovery: how kubectl learns what this server serves.

Before ``kubectl get po`` can build a URL it must know that ``po`` is short
for ``pods``, that pods are in the core group, version v1, and namespaced.
It asks once and caches the answer (``~/.kube/cache/discovery``):

- ``/api`` and ``/apis``: the groups and versions (APIVersions, APIGroupList);
- ``/api/v1``, ``/apis/<group>/<version>``: the resources of one version
  (APIResourceList: names, kinds, verbs, shortNames, categories, subresources);
- *aggregated discovery* (apidiscovery.k8s.io/v2): the same for every group
  in one answer to ``/api`` and ``/apis``, which newer clients prefer.

Everything is computed from the resource table (labkit/api/registry.py).
"""

from __future__ import annotations

import hashlib
from typing import Any

from labkit.api import registry
from labkit.api.registry import Resource

AGGREGATED_MEDIA_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

# Subresources: the kind they take and give, and their verbs (as upstream).
SUBRESOURCES: dict[str, tuple[tuple[str, str, str], tuple[str, ...]]] = {
    "status": (("", "", ""), ("get", "patch", "update")),
    "scale": (("autoscaling", "v1", "Scale"), ("get", "patch", "update")),
    "binding": (("", "v1", "Binding"), ("create",)),
    "eviction": (("policy", "v1", "Eviction"), ("create",)),
    "log": (("", "v1", "Pod"), ("get",)),
    "exec": (("", "v1", "PodExecOptions"), ("create", "get")),
    "attach": (("", "v1", "PodAttachOptions"), ("create", "get")),
    "finalize": (("", "", ""), ("update",)),
    "token": (("authentication.k8s.io", "v1", "TokenRequest"), ("create",)),
}


def _sub_kind(resource: Resource, sub: str) -> tuple[str, str, str]:
    (group, version, kind), _ = SUBRESOURCES[sub]
    if not kind:  # same kind as the resource
        return resource.group, resource.version, resource.kind
    return group, version, kind


def storage_version_hash(resource: Resource) -> str:
    """An opaque hash of where the resource is stored (clients only compare it)."""
    digest = hashlib.sha256(f"{resource.group}/{resource.version}/{resource.kind}".encode()).digest()
    import base64
    return base64.b64encode(digest[:8]).decode()


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group_entry(group: str) -> dict[str, Any]:
    versions = [{"groupVersion": f"{g}/{v}", "version": v} for g, v in registry.group_versions() if g == group]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list() -> dict[str, Any]:
    groups = [g for g in registry.GROUP_ORDER if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group_entry(g) for g in groups]}


def api_group(group: str) -> dict[str, Any] | None:
    if group not in registry.GROUP_ORDER or not group:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group)}


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    resources = registry.resources_in(group, version)
    if not resources:
        return None
    entries = []
    for r in resources:
        entry: dict[str, Any] = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                                 "kind": r.kind, "verbs": list(r.verbs),
                                 "storageVersionHash": storage_version_hash(r)}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        entries.append(entry)
        for sub in r.subresources:
            g, v, kind = _sub_kind(r, sub)
            sub_entry = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                         "kind": kind, "verbs": list(SUBRESOURCES[sub][1])}
            if (g, v) != (r.group, r.version):
                sub_entry["group"], sub_entry["version"] = g, v
            entries.append(sub_entry)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": resources[0].group_version,
            "resources": entries}


def _discovery_resource(r: Resource) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    subs = []
    for sub in r.subresources:
        g, v, kind = _sub_kind(r, sub)
        subs.append({"subresource": sub, "responseKind": {"group": g, "version": v, "kind": kind},
                     "verbs": list(SUBRESOURCES[sub][1])})
    if subs:
        entry["subresources"] = subs
    return entry


def aggregated(core: bool) -> dict[str, Any]:
    """apidiscovery.k8s.io/v2 APIGroupDiscoveryList of /api (core) or /apis (every named group)."""
    items = []
    for group in registry.GROUP_ORDER:
        if (group == "") != core:
            continue
        versions = [{"version": v, "resources": [_discovery_resource(r) for r in registry.resources_in(g, v)],
                     "freshness": "Current"} for g, v in registry.group_versions() if g == group]
        item: dict[str, Any] = {"metadata": {"name": group} if group else {}, "versions": versions}
        items.append(item)
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
            "items": items}
