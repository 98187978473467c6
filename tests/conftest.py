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
