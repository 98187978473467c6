"""Shared fixtures: a real etcd per test session, wiped between tests that use it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from labkit.localplane import EtcdProcess

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory) -> EtcdProcess:
    """One real etcd on loopback for the whole run (Debian's etcd-server)."""
    if shutil.which("etcd") is None:
        pytest.fail("etcd is not installed: run `bash scripts/bootstrap.sh setup`")
    data = tmp_path_factory.mktemp("etcd") / "data"
    etcd = EtcdProcess(data_dir=data).start()
    yield etcd
    etcd.stop()


@pytest.fixture
def etcd(etcd_server: EtcdProcess) -> EtcdProcess:
    """The session etcd, empty at the start of the test."""
    etcd_server.wipe("/")
    return etcd_server


@pytest.fixture(scope="session")
def apiserver(tmp_path_factory):
    """One real labkit-apiserver for the whole run, on an etcd of its own.

    Tests share it: each works in namespaces of its own (uuid names), so the
    wiping of the ``etcd`` fixture never pulls the store from under it.
    """
    from labkit.localplane import ApiserverProcess

    if shutil.which("etcd") is None:
        pytest.fail("etcd is not installed: run `bash scripts/bootstrap.sh setup`")
    base = tmp_path_factory.mktemp("apiserver")
    etcd = EtcdProcess(data_dir=base / "etcd-data").start()
    # No ServiceAccount admission: no controller-manager makes the "default" account in the tests' namespaces
    # (tests/integration/security/test_admission.py runs the whole default chain with the controllers).
    server = ApiserverProcess(etcd=etcd, log_path=base / "apiserver.log",
                              extra_args=("--disable-admission-plugins=ServiceAccount",))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        etcd.stop()
        log = server.log()
        if "Traceback" in log:
            print(f"--- apiserver log (tracebacks found)\n{log[-8000:]}")
