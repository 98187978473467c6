"""The OpenAPI v3 documents: what kubectl needs from them, checked on the documents themselves."""

from __future__ import annotations

import hashlib
import json

import pytest

from labkit.api import registry
from labkit.apiserver.openapi import (group_version_of_path, openapi_v3_document, openapi_v3_document_bytes,
                                      openapi_v3_hash, openapi_v3_index)

GROUP_VERSIONS = registry.group_versions()
REF = "#/components/schemas/"


def gv_id(gv):
    return "/".join(p for p in gv if p) or gv[1]


def refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(doc, schema):
    """Follow ``allOf: [{$ref}]`` and ``$ref`` as kubectl's strategic-patch lookup does."""
    while True:
        if "allOf" in schema:
            schema = schema["allOf"][0]
        elif "$ref" in schema:
            schema = doc["components"]["schemas"][schema["$ref"][len(REF):]]
        else:
            return schema


def schema_of_kind(doc, group, version, kind):
    for schema in doc["components"]["schemas"].values():
        if {"group": group, "version": version, "kind": kind} in schema.get("x-kubernetes-group-version-kind", []):
            return schema
    return None


def test_index_lists_every_group_version_with_the_hash_of_its_document():
    index = openapi_v3_index()
    assert len(index["paths"]) == len(GROUP_VERSIONS)
    for group, version in GROUP_VERSIONS:
        key = f"api/{version}" if not group else f"apis/{group}/{version}"
        url = index["paths"][key]["serverRelativeURL"]
        expected = hashlib.sha512(openapi_v3_document_bytes(group, version)).hexdigest().upper()
        assert url == f"/openapi/v3/{key}?hash={expected}"
        assert group_version_of_path(key) == (group, version)


def test_unknown_group_version_has_no_document():
    assert openapi_v3_document("nosuch.example.com", "v1") is None
    assert openapi_v3_hash("", "v2") is None


@pytest.mark.parametrize("gv", GROUP_VERSIONS, ids=gv_id)
def test_every_ref_resolves(gv):
    doc = openapi_v3_document(*gv)
    assert doc["openapi"].startswith("3.0")
    schemas = doc["components"]["schemas"]
    missing = {r for r in refs(doc) if r[len(REF):] not in schemas}
    assert not missing


@pytest.mark.parametrize("resource", registry.RESOURCES, ids=lambda r: f"{r.plural}.{r.group or 'core'}")
def test_every_resource_has_its_kind_and_a_patch_operation_kubectl_accepts(resource):
    doc = openapi_v3_document(resource.group, resource.version)
    kind_schema = schema_of_kind(doc, resource.group, resource.version, resource.kind)
    assert kind_schema is not None and {"apiVersion", "kind", "metadata"} <= set(kind_schema["properties"])
    assert schema_of_kind(doc, resource.group, resource.version, resource.kind + "List") is not None
    gvk = {"group": resource.group, "version": resource.version, "kind": resource.kind}
    if "patch" not in resource.verbs:  # create-only reviews (TokenReview ...): a POST operation of the GVK
        assert [p for p in doc["paths"].values() if p.get("post", {}).get("x-kubernetes-group-version-kind") == gvk]
        return
    patches = [p["patch"] for p in doc["paths"].values()
               if "patch" in p and p["patch"].get("x-kubernetes-group-version-kind") == gvk]
    assert patches, "kubectl finds server-side field validation through a PATCH operation of the GVK"
    op = patches[0]
    # kubectl --validate=strict: the fieldValidation parameter listed on the operation itself
    assert "fieldValidation" in [p["name"] for p in op["parameters"]]
    # kubectl apply: strategic merge patch accepted
    assert "application/strategic-merge-patch+json" in op["requestBody"]["content"]
    ns = "Namespaced" if resource.namespaced else ""
    assert op["operationId"].startswith("patch") and op["operationId"].endswith(f"{ns}{resource.kind}")


def test_operation_ids_and_paths_are_upstreams():
    core = openapi_v3_document("", "v1")["paths"]
    assert core["/api/v1/namespaces/{namespace}/pods"]["get"]["operationId"] == "listCoreV1NamespacedPod"
    assert core["/api/v1/namespaces/{namespace}/pods"]["post"]["operationId"] == "createCoreV1NamespacedPod"
    assert core["/api/v1/pods"]["get"]["operationId"] == "listCoreV1PodForAllNamespaces"
    assert core["/api/v1/nodes/{name}"]["get"]["operationId"] == "readCoreV1Node"
    assert core["/api/v1/namespaces/{namespace}/pods/{name}/status"]["patch"]["operationId"] == \
        "patchCoreV1NamespacedPodStatus"
    assert core["/api/v1/namespaces/{namespace}/pods/{name}/binding"]["post"]["x-kubernetes-group-version-kind"] == \
        {"group": "", "version": "v1", "kind": "Binding"}
    assert core["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"]["x-kubernetes-group-version-kind"] == \
        {"group": "policy", "version": "v1", "kind": "Eviction"}
    apps = openapi_v3_document("apps", "v1")["paths"]
    scale = apps["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
    assert scale["put"]["operationId"] == "replaceAppsV1NamespacedDeploymentScale"
    assert scale["put"]["x-kubernetes-group-version-kind"]["kind"] == "Scale"
    rbac = openapi_v3_document("rbac.authorization.k8s.io", "v1")["paths"]
    assert rbac["/apis/rbac.authorization.k8s.io/v1/clusterroles"]["get"]["operationId"] == \
        "listRbacAuthorizationV1ClusterRole"


# The merge keys kubectl apply reads, walked through the document as kubectl walks it.
MERGE_KEYS = [
    ("", "v1", "Pod", ("spec", "containers"), "name", "merge"),
    ("", "v1", "Pod", ("spec", "initContainers"), "name", "merge"),
    ("", "v1", "Pod", ("spec", "volumes"), "name", "merge,retainKeys"),
    ("", "v1", "Pod", ("spec", "containers", "env"), "name", "merge"),
    ("", "v1", "Pod", ("spec", "containers", "volumeMounts"), "mountPath", "merge"),
    ("", "v1", "Pod", ("spec", "containers", "ports"), "containerPort", "merge"),
    ("", "v1", "Pod", ("metadata", "ownerReferences"), "uid", "merge"),
    ("", "v1", "Pod", ("status", "conditions"), "type", "merge"),
    ("", "v1", "Service", ("spec", "ports"), "port", "merge"),
    ("apps", "v1", "Deployment", ("spec", "template", "spec", "containers"), "name", "merge"),
    ("apps", "v1", "Deployment", ("spec", "template", "spec", "containers", "env"), "name", "merge"),
    ("apps", "v1", "Deployment", ("status", "conditions"), "type", "merge"),
    ("batch", "v1", "CronJob", ("spec", "jobTemplate", "spec", "template", "spec", "volumes"), "name",
     "merge,retainKeys"),
]


@pytest.mark.parametrize("group,version,kind,path,key,strategy", MERGE_KEYS,
                         ids=[f"{k}:{'.'.join(p)}" for _, _, k, p, _, _ in MERGE_KEYS])
def test_merge_keys_in_the_documents(group, version, kind, path, key, strategy):
    doc = openapi_v3_document(group, version)
    schema = schema_of_kind(doc, group, version, kind)
    for name in path[:-1]:
        schema = resolve(doc, schema["properties"][name])
        if schema.get("type") == "array":
            schema = resolve(doc, schema["items"])
    field = schema["properties"][path[-1]]
    assert field["x-kubernetes-patch-merge-key"] == key
    assert field["x-kubernetes-patch-strategy"] == strategy


def test_formats_and_extensions():
    doc = openapi_v3_document("", "v1")
    schemas = doc["components"]["schemas"]
    assert schemas["io.k8s.apimachinery.pkg.apis.meta.v1.Time"] == {
        "description": schemas["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]["description"],
        "type": "string", "format": "date-time"}
    assert schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"] == "int-or-string"
    assert schemas["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"] == "string"
    pod_spec = schemas["io.k8s.api.core.v1.PodSpec"]
    assert pod_spec["required"] == ["containers"]
    assert pod_spec["properties"]["restartPolicy"]["enum"] == ["Always", "Never", "OnFailure"]
    assert pod_spec["properties"]["nodeSelector"]["x-kubernetes-map-type"] == "atomic"
    assert pod_spec["properties"]["tolerations"]["x-kubernetes-list-type"] == "atomic"
    ports = schemas["io.k8s.api.core.v1.Container"]["properties"]["ports"]
    assert ports["x-kubernetes-list-map-keys"] == ["containerPort", "protocol"]
    delete_options = schemas["io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"]
    assert {"group": "apps", "version": "v1", "kind": "DeleteOptions"} in \
        delete_options["x-kubernetes-group-version-kind"]
    json.dumps(doc)  # plain JSON all the way down
