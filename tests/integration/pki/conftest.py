"""A generated ha lab (and single, as a stranger) and a mutual-TLS server presenting ha's apiserver certificate."""

from __future__ import annotations

from pathlib import Path

import pytest
from pki_tls import REPO, MutualTlsServer

from labkit.pki.generate import generate
from labkit.provision.inventory import load_inventory


@pytest.fixture(scope="session")
def labs(tmp_path_factory) -> dict[str, Path]:
    """State directories of the ha and single labs, generated now (the real clock)."""
    out = {}
    for name in ("ha", "single"):
        state = tmp_path_factory.mktemp(f"pki-int-{name}") / name
        generate(load_inventory(REPO / "inventory" / f"{name}.yaml"), state)
        out[name] = state
    return out


@pytest.fixture(scope="module")
def tls_server(labs):
    server = MutualTlsServer(labs["ha"] / "pki").start()
    yield server
    server.stop()
