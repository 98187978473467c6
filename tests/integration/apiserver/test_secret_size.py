"""A Secret holds at most 1 MiB of data, counted as upstream counts it: the decoded bytes.

In JSON a Secret's values are base64 (4 characters for 3 bytes), so a 900 KB
file is about 1.2 MB of text in the request; upstream's ValidateSecret sums
``len(value)`` of the ``[]byte`` values - the decoded bytes - and refuses more
than MaxSecretSize (1048576) with ``data: Too long: must have at most 1048576
bytes``. The judge is the real kubectl: ``kubectl create secret generic
--from-file`` (a protobuf body) and ``kubectl create -f`` (JSON), both well under
the apiserver's 3 MiB body limit and etcd's 1.5 MiB request limit.
"""

from __future__ import annotations

import base64
import json
import random
import uuid

import pytest
import yaml

from tests.integration.apiserver.test_kubectl import Kubectl

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
TOO_LONG = "data: Too long: must have at most 1048576 bytes"


@pytest.fixture
def kubectl(apiserver, tmp_path) -> Kubectl:
    namespace = f"size-{uuid.uuid4().hex[:8]}"
    k = Kubectl(apiserver.kubeconfig(tmp_path / "kubeconfig"), namespace, tmp_path / "home")
    k("create", "-f", "-", input=yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": namespace}}), namespaced=False)
    return k


def blob(size: int) -> bytes:
    return random.Random(size).randbytes(size)  # incompressible, the same in every run


def test_kubectl_creates_a_900_kb_secret_from_a_file(kubectl, tmp_path):
    data = blob(900 * 1000)
    (tmp_path / "payload").write_bytes(data)
    kubectl("create", "secret", "generic", "big-enough", f"--from-file=payload={tmp_path / 'payload'}")
    stored = kubectl.json("get", "secret", "big-enough")
    assert base64.b64decode(stored["data"]["payload"]) == data


def test_kubectl_is_refused_a_1_1_mb_secret_with_upstreams_message(kubectl, tmp_path):
    (tmp_path / "payload").write_bytes(blob(1100 * 1000))
    done = kubectl.run("create", "secret", "generic", "too-big", f"--from-file=payload={tmp_path / 'payload'}",
                       check=False)
    assert done.returncode != 0
    assert f'Secret "too-big" is invalid: {TOO_LONG}' in done.stderr, done.stderr
    gone = kubectl.run("get", "secret", "too-big", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_a_configmap_over_1_mib_is_refused_on_the_whole_object_as_upstream(kubectl, tmp_path):
    """Upstream's ValidateConfigMap reports the total size on field.NewPath(""), which Go writes "[]":
    ``ConfigMap "x" is invalid: []: Too long: ...`` (a Secret names its ``data``)."""
    (tmp_path / "payload").write_bytes(b"x" * (MiB + 1))
    done = kubectl.run("create", "configmap", "too-big", f"--from-file=payload={tmp_path / 'payload'}",
                       check=False)
    assert done.returncode != 0
    assert 'ConfigMap "too-big" is invalid: []: Too long: must have at most 1048576 bytes' in done.stderr, \
        done.stderr
    (tmp_path / "payload").write_bytes(b"x" * MiB)  # the last size allowed
    kubectl("create", "configmap", "just-fits", f"--from-file=payload={tmp_path / 'payload'}")


@pytest.mark.parametrize("size, accepted", [(MiB, True), (MiB + 1, False)])
def test_the_limit_is_on_the_decoded_bytes_of_all_values(kubectl, size, accepted):
    """Two values summing to ``size`` bytes, sent as JSON (``kubectl create -f``): 1 MiB is the last size allowed."""
    first = blob(size // 2)
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"edge-{size}"},
              "data": {"a": base64.b64encode(first).decode(), "b": base64.b64encode(blob(size - len(first))).decode()}}
    done = kubectl.run("create", "-f", "-", input=json.dumps(secret), check=False)
    if accepted:
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode != 0 and TOO_LONG in done.stderr, done.stderr
