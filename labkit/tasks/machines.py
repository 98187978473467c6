"""invoke machines.*: the lab's machines (nspawn or Vagrant), before any provisioning.

    invoke machines.up [--lab ha | --inventory PATH] [--provider auto|nspawn|vagrant]
    invoke machines.status [--lab ha]
    invoke machines.ssh NAME [--lab ha] [--command "systemctl is-system-running"]
    invoke machines.down [--lab ha]
    invoke machines.wheelhouse          labkit and its dependencies as wheels for the machines

``--lab NAME`` reads inventory/NAME.yaml; the default lab is ``ha``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from invoke import Collection, task
from invoke.exceptions import Exit

from labkit.providers.base import ProviderError, get_provider
from labkit.tasks import load_lab


def _provider(lab, inventory, provider):
    if lab and inventory:
        raise Exit("give --lab or --inventory, not both", code=2)
    inv, _ = load_lab(lab or "ha", inventory)
    try:
        return get_provider(inv, provider)
    except ProviderError as exc:
        raise Exit(f"error: {exc}", code=1) from None


def _status_table(machines) -> None:
    from rich.console import Console
    from rich.table import Table
    table = Table("machine", "address", "state", "pid")
    for m in machines:
        colour = {"running": "green", "stopped": "yellow"}.get(m.state, "red")
        table.add_row(m.name, m.address, f"[{colour}]{m.state}[/]", str(m.pid or ""))
    Console().print(table)


@task(help={"lab": "lab name (inventory/NAME.yaml); default ha", "inventory": "inventory file instead of --lab",
            "provider": "auto, nspawn or vagrant (default: the inventory's lab.provider)"})
def up(c, lab=None, inventory=None, provider=None):
    """Bring the lab's machines up (idempotent: running machines are reused)."""
    p = _provider(lab, inventory, provider)
    try:
        report = p.up()
    except ProviderError as exc:
        raise Exit(f"error: {exc}", code=1) from None
    for change in report.changes:
        print(f"changed: {change}")
    if not report.changes:
        print("nothing to do: every machine is up")
    _status_table(report.machines)


@task(help={"lab": "lab name", "inventory": "inventory file", "provider": "auto, nspawn or vagrant"})
def status(c, lab=None, inventory=None, provider=None):
    """Show each machine: running, stopped or missing."""
    try:
        _status_table(_provider(lab, inventory, provider).status())
    except ProviderError as exc:
        raise Exit(f"error: {exc}", code=1) from None


@task(help={"lab": "lab name", "inventory": "inventory file", "provider": "auto, nspawn or vagrant"})
def down(c, lab=None, inventory=None, provider=None):
    """Stop the lab's machines and remove everything up made."""
    p = _provider(lab, inventory, provider)
    try:
        removed = p.down()
    except ProviderError as exc:
        raise Exit(f"error: {exc}", code=1) from None
    for line in removed:
        print(f"removed: {line}")
    if not removed:
        print("nothing to do: the lab was down")


@task(help={"name": "machine name", "lab": "lab name", "inventory": "inventory file",
            "provider": "auto, nspawn or vagrant", "command": "run this instead of a login shell"})
def ssh(c, name, lab=None, inventory=None, provider=None, command=None):
    """Log into a machine with the lab's SSH key (or run --command there)."""
    p = _provider(lab, inventory, provider)
    try:
        argv = p.ssh_argv(name, [command] if command else None)
    except ProviderError as exc:
        raise Exit(f"error: {exc}", code=1) from None
    sys.stdout.flush()
    os.execvp(argv[0], argv)


@task(help={"output": "directory for the wheels (default .labkit/cache/wheelhouse)"})
def wheelhouse(c, output=None):
    """Build labkit's wheel and its dependencies for the machines' Python (pip install --no-index)."""
    from labkit.providers.wheelhouse import build_wheelhouse
    try:
        path = build_wheelhouse(Path(output) if output else None)
    except ProviderError as exc:
        raise Exit(f"error: {exc}", code=1) from None
    print(f"wheelhouse: {path} ({len(list(path.glob('*.whl')))} wheels)")


ns = Collection("machines", up, status, down, ssh, wheelhouse)
