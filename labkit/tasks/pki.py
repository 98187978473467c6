"""invoke pki.*: a lab's certificates, keys and kubeconfigs (labkit.pki).

    invoke pki.generate --lab ha     create what is missing, reissue what no longer fits; show what changed
    invoke pki.check --lab ha        a table of every certificate; exit 1 on any problem

``--inventory PATH`` reads another inventory file instead of inventory/<lab>.yaml
(the lab is then named by that file).
"""

from __future__ import annotations

import sys

from invoke import Exit, task
from rich.console import Console
from rich.table import Table

from labkit.pki.state import PkiError
from labkit.tasks import load_lab


@task(help={"lab": "the lab: reads inventory/<lab>.yaml (default: ha)",
            "inventory": "an inventory file to read instead of inventory/<lab>.yaml"})
def generate(c, lab="ha", inventory=None):
    """Create or update the lab's PKI and kubeconfigs in .labkit/<lab>/ (only what changed)."""
    from labkit.pki.generate import generate as generate_pki

    inv, target = load_lab(lab, inventory)
    try:
        changes = generate_pki(inv, target)
    except PkiError as exc:
        raise Exit(f"error: {exc}\nnothing was written", code=1) from None
    console = Console(highlight=False, soft_wrap=True)
    if not changes:
        console.print(f"lab {inv.name}: PKI and kubeconfigs in {target} are up to date; nothing changed")
        return
    table = Table(title=f"lab {inv.name}: {len(changes)} change(s) in {target}")
    for column in ("File", "Action", "Reason"):
        table.add_column(column, overflow="fold")
    for change in changes:
        table.add_row(change.path, change.action, change.reason)
    console.print(table)


@task(help={"lab": "the lab: reads inventory/<lab>.yaml (default: ha)",
            "inventory": "an inventory file to read instead of inventory/<lab>.yaml"})
def check(c, lab="ha", inventory=None):
    """Show every certificate (subject, SANs, issuer, days left, key, chain) and exit 1 on any problem."""
    from labkit.pki.check import check as check_pki
    from labkit.pki.check import table

    inv, target = load_lab(lab, inventory)
    try:
        rows = check_pki(inv, target)
    except PkiError as exc:
        raise Exit(f"error: {exc}", code=1) from None
    wide = None if sys.stdout.isatty() else 200  # a log gets every column whole; a terminal its own width
    Console(highlight=False, width=wide).print(table(rows, inv.name))
    bad = [row for row in rows if not row.ok]
    if bad:
        lines = [f"  {row.name}: {problem}" for row in bad for problem in row.problems]
        raise Exit(f"{len(bad)} problem(s):\n" + "\n".join(lines), code=1)
