"""The real etcd the integration tests run on: started, written, wiped."""

import os
import subprocess

import pytest

pytestmark = pytest.mark.integration


def etcdctl(etcd, *args):
    return subprocess.run(
        ["etcdctl", f"--endpoints={etcd.endpoint}", *args],
        check=True, capture_output=True, text=True, env={**os.environ, "ETCDCTL_API": "3"},
    ).stdout


def test_etcd_is_real_and_wiped_between_tests(etcd):
    assert etcdctl(etcd, "get", "--prefix", "/") == ""
    etcdctl(etcd, "put", "/registry/x", "1")
    assert "1" in etcdctl(etcd, "get", "/registry/x")


def test_wiped_again(etcd):
    assert etcdctl(etcd, "get", "--prefix", "/") == ""
