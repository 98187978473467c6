"""Labs generated once per session (ha and single), copied for tests that change them."""

from __future__ import annotations

import pytest
from pki_lab import NOW, REPO, Lab

from labkit.pki.generate import generate
from labkit.provision.inventory import load_inventory


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> dict[str, Lab]:
    labs = {}
    for name in ("ha", "single"):
        base = tmp_path_factory.mktemp(f"pki-{name}")
        inventory = load_inventory(REPO / "inventory" / f"{name}.yaml")
        generate(inventory, base / name, now=NOW)
        labs[name] = Lab(REPO / "inventory" / f"{name}.yaml", base / name)
    return labs


@pytest.fixture
def ha(generated, tmp_path) -> Lab:
    """A private copy of the generated ha lab, free to change."""
    return generated["ha"].copy(tmp_path)
