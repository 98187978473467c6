"""The ``labkit`` command. Subcommands:

    labkit play -i INVENTORY PLAY [--check] [--diff] [--tags T] [--skip-tags T]
                [--limit HOSTS] [-v] [--report json] [--forks N]
        Run a play file (e.g. roles/site.yaml) against an inventory.
        Exit status: 0 when every host succeeded, 2 when a host failed or was
        unreachable, 1 when the input is wrong (nothing ran then).

    labkit inventory -i INVENTORY [PATTERN]
        Check an inventory and show its hosts (with groups and variables).
"""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.markup import escape


def _split(values: list[str] | None) -> list[str]:
    return [t.strip() for v in values or [] for t in v.split(",") if t.strip()]


def cmd_play(args: argparse.Namespace) -> int:
    from labkit.provision.errors import ProvisionError
    from labkit.provision.inventory import load_inventory
    from labkit.provision.playbook import load_play_file, validate
    from labkit.provision.report import Reporter, json_recap
    from labkit.provision.runner import Runner

    console = Console(highlight=False, soft_wrap=True)  # errors and diffs stay whole lines in logs
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        inventory = load_inventory(args.inventory)
        plays = load_play_file(args.play)
        validate(plays, inventory)
        if args.limit:
            inventory.hosts_in(args.limit)
    except ProvisionError as exc:
        errors.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False)
        errors.print("nothing was changed on any host")
        return 1
    reporter = Reporter(console=console, verbose=args.verbose, show_diff=args.diff)
    runner = Runner(inventory, plays, check=args.check, diff=args.diff, tags=_split(args.tags),
                    skip_tags=_split(args.skip_tags), limit=args.limit, forks=args.forks, reporter=reporter)
    result = runner.run()
    reporter.recap(result)
    if args.report == "json":
        print(json_recap(result))
    return 2 if result.failed_hosts else 0


def cmd_inventory(args: argparse.Namespace) -> int:
    from labkit.provision.errors import ProvisionError
    from labkit.provision.inventory import load_inventory

    try:
        inventory = load_inventory(args.inventory)
        hosts = inventory.hosts_in(args.pattern)
    except ProvisionError as exc:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/] {escape(str(exc))}", markup=True)
        return 1
    print(json.dumps({h.name: {"address": h.address, "port": h.port, "user": h.user, "connection": h.connection,
                               "groups": h.groups, "vars": h.vars} for h in hosts}, indent=2, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description="Build and provision Kubernetes-style labs.")
    sub = parser.add_subparsers(dest="command", required=True)

    play = sub.add_parser("play", help="run a play file against an inventory")
    play.add_argument("-i", "--inventory", required=True, help="inventory file, e.g. inventory/ha.yaml")
    play.add_argument("play", help="play file, e.g. roles/site.yaml")
    play.add_argument("--check", action="store_true", help="report what would change, change nothing")
    play.add_argument("--diff", action="store_true", help="show the differences of changed files and settings")
    play.add_argument("--tags", action="append", help="run only tasks with these tags (comma-separated)")
    play.add_argument("--skip-tags", action="append", help="skip tasks with these tags")
    play.add_argument("--limit", help="restrict to hosts matching this pattern")
    play.add_argument("-v", "--verbose", action="count", default=0, help="every task, with timing")
    play.add_argument("--report", choices=("json",), help="end the output with a JSON recap")
    play.add_argument("--forks", type=int, default=16, help="hosts worked on at the same time (default 16)")
    play.set_defaults(func=cmd_play)

    inv = sub.add_parser("inventory", help="check an inventory and list its hosts")
    inv.add_argument("-i", "--inventory", required=True)
    inv.add_argument("pattern", nargs="?", default="all")
    inv.set_defaults(func=cmd_inventory)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
