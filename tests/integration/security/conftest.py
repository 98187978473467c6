"""Fixtures of the security tests: a generated lab PKI and a secure apiserver (see secure_server.py).

Reuse in a test module::

    def test_x(secure_apiserver):                      # the module's default server (AlwaysAllow)
        config = secure_apiserver.kubeconfig("admin")  # a generated kubeconfig, pointed at it
        secure_apiserver.kubectl(config, "get", "ns")

    @pytest.fixture(scope="module")
    def rbac_server(security_lab, tmp_path_factory):   # a server with other flags
        server = start_secure_apiserver(security_lab, tmp_path_factory.mktemp("rbac"),
                                        authorization_mode="Node,RBAC", extra_args=("--v=2",))
        yield server
        server.stop()
"""

from __future__ import annotations

import pytest

from tests.integration.security.secure_server import ISSUER, SecureApiserver, SecurityLab, make_security_lab, \
    start_secure_apiserver

__all__ = ["ISSUER", "SecureApiserver", "SecurityLab", "start_secure_apiserver"]


@pytest.fixture(scope="session")
def security_lab(tmp_path_factory) -> SecurityLab:
    return make_security_lab(tmp_path_factory.mktemp("security-lab"))


@pytest.fixture(scope="module")
def secure_apiserver(security_lab, tmp_path_factory) -> SecureApiserver:
    """The default secure server of a test module (AlwaysAllow authorization, anonymous on, audit on)."""
    server = start_secure_apiserver(security_lab, tmp_path_factory.mktemp("secure-apiserver"))
    yield server
    server.stop()
