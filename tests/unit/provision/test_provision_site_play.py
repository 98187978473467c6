"""The repository's cluster play (roles/site.yaml) is valid for both labs."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.provision.inventory import load_inventory
from labkit.provision.playbook import load_play_file, validate

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("lab", ["ha", "single"])
def test_site_play_validates_against_the_lab(lab):
    plays = load_play_file(REPO / "roles" / "site.yaml")
    validate(plays, load_inventory(REPO / "inventory" / f"{lab}.yaml"))
    assert [r.name for r in plays[0].roles][0] == "common"
