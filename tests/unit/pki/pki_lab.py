"""A generated lab for the pki tests: its inventory, state directory and the clock it was made at."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

from labkit.provision.inventory import load_inventory

REPO = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)  # the injected clock every generated lab starts from


class Lab:
    """A generated lab: its inventory and state directory (.labkit/<lab> equivalent)."""

    def __init__(self, inventory_path: Path, state: Path):
        self.inventory_path = inventory_path
        self.inventory = load_inventory(inventory_path)
        self.state = state
        self.pki = state / "pki"

    def copy(self, dest: Path) -> "Lab":
        shutil.copytree(self.state, dest / self.inventory.name, symlinks=True)
        return Lab(self.inventory_path, dest / self.inventory.name)

    def snapshot(self) -> dict[str, bytes]:
        """Every file's bytes, to see exactly what a run changed."""
        return {str(p.relative_to(self.state)): p.read_bytes() for p in sorted(self.state.rglob("*")) if p.is_file()}
