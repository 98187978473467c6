"""invoke collections; tasks.py at the repository root assembles them.

One module per collection (``invoke --list`` shows them): each owns its
tasks and nothing else. ``load_lab`` is how every one of them turns
``--lab NAME`` / ``--inventory PATH`` into an inventory.
"""

from __future__ import annotations

from pathlib import Path

from invoke import Exit

from labkit.providers.base import REPO_ROOT, ProviderError, lab_dir
from labkit.provision.errors import ProvisionError
from labkit.provision.inventory import Inventory, load_inventory


def load_lab(lab: str, inventory: str | None = None) -> tuple[Inventory, Path]:
    """The lab's inventory and state directory; invoke's Exit with the reason when they cannot be used."""
    path = Path(inventory) if inventory else REPO_ROOT / "inventory" / f"{lab}.yaml"
    if not path.exists():
        labs = ", ".join(sorted(p.stem for p in (REPO_ROOT / "inventory").glob("*.yaml")))
        raise Exit(f"error: no inventory {path} for lab {lab!r} (labs: {labs})", code=1)
    try:
        inv = load_inventory(path)
        return inv, lab_dir(inv)
    except (ProvisionError, ProviderError) as exc:
        raise Exit(f"error: {exc}", code=1) from None
