"""Repeated keys in a request body, as upstream's strict decoding reports them.

A JSON object with a key twice is legal JSON (the last value wins), but the
apiserver tells: with ``fieldValidation=Strict`` a 400 naming each repeated
field (``duplicate field "spec.paused"``) along with the unknown ones, with
``Warn`` (the default) one ``Warning`` header each and the object stored,
with ``Ignore`` nothing. YAML bodies get go-yaml's words
(``line 5: key "name" already set in map``). Raw HTTP, so the body reaches the
server byte for byte; then the real kubectl with a JSON file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import aiohttp
import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]

# Upstream's test body (test/integration/apiserver/field_validation_test.go), cut to what labkit has:
# a repeated known field at three depths, an unknown field, and one both unknown and repeated.
DEPLOYMENT_JSON = """{
  "apiVersion": "apps/v1",
  "kind": "Deployment",
  "metadata": {"name": "NAME", "name": "NAME", "labels": {"app": "web"}},
  "spec": {
    "unknown1": "val1",
    "unknownDupe": "valDupe",
    "unknownDupe": "valDupe2",
    "paused": true,
    "paused": false,
    "selector": {"matchLabels": {"app": "web"}},
    "template": {
      "metadata": {"labels": {"app": "web"}},
      "spec": {"containers": [{"name": "web", "image": "nginx", "imagePullPolicy": "Always",
                               "imagePullPolicy": "Never"}]}
    }
  }
}"""

EXPECTED_JSON = ['duplicate field "metadata.name"', 'unknown field "spec.unknown1"', 'unknown field "spec.unknownDupe"',
                 'duplicate field "spec.paused"',
                 'duplicate field "spec.template.spec.containers[0].imagePullPolicy"']

DEPLOYMENT_YAML = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: NAME
  name: NAME
spec:
  paused: true
  paused: false
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        unknownNested: x
"""


def warnings_of(resp: aiohttp.ClientResponse) -> list[str]:
    """The Warning headers' texts (``299 - "text"``), in order."""
    texts = []
    for header in resp.headers.getall("Warning", []):
        assert header.startswith('299 - "') and header.endswith('"'), header
        texts.append(header[len('299 - "'):-1].replace('\\"', '"'))
    return texts


async def post(http, namespace, body: str, validation: str | None, content_type="application/json"):
    params = {"fieldValidation": validation} if validation else {}
    async with http.post(f"/apis/apps/v1/namespaces/{namespace}/deployments", data=body.encode(), params=params,
                            headers={"Content-Type": content_type}) as resp:
        return resp.status, await resp.json(), warnings_of(resp)


async def get_status(http, namespace, name) -> int:
    async with http.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}") as resp:
        return resp.status


async def test_strict_refuses_repeated_and_unknown_fields_in_document_order(http, namespace):
    code, status, warnings = await post(http, namespace, DEPLOYMENT_JSON.replace("NAME", "strict"), "Strict")
    assert code == 400 and status["reason"] == "BadRequest"
    assert status["message"] == ('Deployment in version "v1" cannot be handled as a Deployment: strict decoding '
                                 "error: " + ", ".join(EXPECTED_JSON))
    assert warnings == []
    assert await get_status(http, namespace, "strict") == 404  # nothing stored


async def test_warn_stores_the_object_and_warns_once_per_field(http, namespace):
    for validation in ("Warn", None):  # Warn is the default
        name = f"warn-{validation or 'default'}".lower()
        code, stored, warnings = await post(http, namespace, DEPLOYMENT_JSON.replace("NAME", name), validation)
        assert code == 201, stored
        assert warnings == EXPECTED_JSON
        assert stored["spec"]["paused"] is False  # the last value wins, as in upstream's decoder
        assert stored["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Never"
        assert "unknown1" not in stored["spec"]


async def test_ignore_says_nothing(http, namespace):
    code, stored, warnings = await post(http, namespace, DEPLOYMENT_JSON.replace("NAME", "ignore"), "Ignore")
    assert code == 201, stored
    assert warnings == []
    assert stored["spec"]["paused"] is False


async def test_a_body_without_repeated_keys_gets_no_warning(http, namespace):
    body = json.loads(DEPLOYMENT_JSON.replace("NAME", "clean"))
    del body["spec"]["unknown1"], body["spec"]["unknownDupe"]
    code, stored, warnings = await post(http, namespace, json.dumps(body), "Strict")
    assert code == 201, stored
    assert warnings == []


async def test_update_reports_repeated_fields_too(http, namespace):
    body = json.loads(DEPLOYMENT_JSON.replace("NAME", "put"))
    del body["spec"]["unknown1"], body["spec"]["unknownDupe"]
    code, stored, _ = await post(http, namespace, json.dumps(body), None)
    assert code == 201, stored
    text = json.dumps(stored)[:-1] + ', "kind": "Deployment"}'  # "kind" a second time, at the top
    async with http.put(f"/apis/apps/v1/namespaces/{namespace}/deployments/put", data=text.encode(),
                           params={"fieldValidation": "Strict"},
                           headers={"Content-Type": "application/json"}) as resp:
        refusal = await resp.json()
        assert resp.status == 400, refusal
    assert refusal["message"].endswith('strict decoding error: duplicate field "kind"')
    async with http.put(f"/apis/apps/v1/namespaces/{namespace}/deployments/put", data=text.encode(),
                           headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 200, await resp.text()
        assert warnings_of(resp) == ['duplicate field "kind"']


async def test_yaml_bodies_get_go_yaml_line_messages(http, namespace):
    body = DEPLOYMENT_YAML.replace("NAME", "yaml-strict")
    code, status, _ = await post(http, namespace, body, "Strict", "application/yaml")
    assert code == 400, status
    assert status["message"].endswith(
        'strict decoding error: yaml: unmarshal errors:\n  line 5: key "name" already set in map\n'
        '  line 8: key "paused" already set in map, '
        'unknown field "spec.template.spec.containers[0].unknownNested"')
    code, stored, warnings = await post(http, namespace, DEPLOYMENT_YAML.replace("NAME", "yaml-warn"), "Warn",
                                        "application/yaml")
    assert code == 201, stored
    assert warnings == ['line 5: key "name" already set in map', 'line 8: key "paused" already set in map',
                        'unknown field "spec.template.spec.containers[0].unknownNested"']


def test_kubectl_with_a_json_file_with_a_repeated_key(apiserver, tmp_path):
    """What kubectl sends of a JSON file with a key twice.

    ``kubectl create -f`` decodes the file itself and sends the object it got
    (the last value won): no repeated key reaches any server, so it is created.
    ``kubectl create --raw -f`` sends the file's bytes: refused under
    ``fieldValidation=Strict`` naming the field, else stored with kubectl
    printing the server's ``Warning``.
    """
    exe = shutil.which("kubectl", path=str(REPO / ".venv" / "bin")) or shutil.which("kubectl")
    env = {**os.environ, "KUBECONFIG": str(apiserver.kubeconfig(tmp_path / "kubeconfig")),
           "HOME": str(tmp_path / "home")}
    namespace = f"dupk-{uuid.uuid4().hex[:8]}"

    def kubectl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, env=env)

    def manifest(name: str) -> str:
        path = tmp_path / f"{name}.json"
        path.write_text('{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "%s", "name": "%s"}, '
                        '"data": {"a": "1", "a": "2"}}' % (name, name))
        return str(path)

    assert kubectl("create", "namespace", namespace).returncode == 0
    created = kubectl("create", "-f", manifest("decoded-by-kubectl"), "-n", namespace, "-o", "json")
    assert created.returncode == 0 and "Warning" not in created.stderr, created.stderr
    assert json.loads(created.stdout)["data"] == {"a": "2"}

    collection = f"/api/v1/namespaces/{namespace}/configmaps"
    refused = kubectl("create", "--raw", collection + "?fieldValidation=Strict", "-f", manifest("strict"))
    assert refused.returncode != 0
    assert refused.stderr.strip() == ('Error from server (BadRequest): ConfigMap in version "v1" cannot be handled '
                                      'as a ConfigMap: strict decoding error: duplicate field "metadata.name", '
                                      'duplicate field "data.a"'), refused.stderr
    assert kubectl("get", "configmap", "strict", "-n", namespace).returncode != 0  # not stored

    warned = kubectl("create", "--raw", collection, "-f", manifest("warned"))
    assert warned.returncode == 0, warned.stderr
    assert 'Warning: duplicate field "metadata.name"' in warned.stderr
    assert 'Warning: duplicate field "data.a"' in warned.stderr
    assert json.loads(kubectl("get", "configmap", "warned", "-n", namespace, "-o", "json").stdout)["data"] == {"a": "2"}


async def test_patches_name_their_repeated_keys(http, namespace):
    body = json.loads(DEPLOYMENT_JSON.replace("NAME", "patched"))
    del body["spec"]["unknown1"], body["spec"]["unknownDupe"]
    code, stored, _ = await post(http, namespace, json.dumps(body), None)
    assert code == 201, stored
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/patched"
    merge = b'{"spec": {"paused": true, "paused": false, "bogus": 1}}'
    json_patch = (b'[{"op": "replace", "path": "/spec/paused", "path": "/spec/paused", "value": true},'
                  b' {"op": "add", "path": "/metadata/labels", "value": {"a": "1", "a": "2"}}]')
    for content_type, patch, expected in (
            ("application/merge-patch+json", merge, ['duplicate field "paused"', 'unknown field "spec.bogus"']),
            ("application/strategic-merge-patch+json", merge,
             ['duplicate field "paused"', 'unknown field "spec.bogus"']),
            ("application/json-patch+json", json_patch, ['json patch duplicate field "path"'])):
        async with http.patch(path, data=patch, params={"fieldValidation": "Strict"},
                                 headers={"Content-Type": content_type}) as resp:
            refusal = await resp.json()
            assert resp.status == 400, refusal
            assert refusal["message"].endswith("strict decoding error: " + ", ".join(expected)), refusal["message"]
        async with http.patch(path, data=patch, headers={"Content-Type": content_type}) as resp:
            assert resp.status == 200, await resp.text()
            assert warnings_of(resp) == expected
        async with http.patch(path, data=patch, params={"fieldValidation": "Ignore"},
                                 headers={"Content-Type": content_type}) as resp:
            assert resp.status == 200, await resp.text()
            assert warnings_of(resp) == []

