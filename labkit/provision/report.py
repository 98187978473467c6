"""What a run shows: live progress per host, diffs, errors, the PLAY RECAP, timings, JSON.

The runner calls a Reporter from its host threads; every method takes the
lock. On a terminal a rich Live table shows each host's current task and
counts; elsewhere (CI logs, pipes) one line per changed/failed task.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from labkit.provision.playbook import Play, Task
    from labkit.provision.runner import RunResult, TaskFailure

STATUS_STYLE = {"ok": "green", "changed": "yellow", "failed": "bold red", "skipped": "cyan",
                "ignored": "magenta", "unreachable": "bold red"}


class Reporter:
    def __init__(self, console: Console | None = None, quiet: bool = False, verbose: int = 0, show_diff: bool = False):
        self.console = console or Console(stderr=False, highlight=False)
        self.quiet, self.verbose, self.show_diff = quiet, verbose, show_diff
        self._lock = threading.Lock()
        self._live: Live | None = None
        self._hosts: dict[str, dict[str, Any]] = {}

    # -- live table ---------------------------------------------------------------
    def _table(self) -> Table:
        table = Table(box=None, show_header=True, header_style="bold")
        for column in ("host", "task", "ok", "changed", "failed", "skipped"):
            table.add_column(column)
        for name, row in self._hosts.items():
            table.add_row(name, Text(row["task"], style="dim" if row["done"] else ""), str(row["ok"]),
                          Text(str(row["changed"]), style="yellow" if row["changed"] else ""),
                          Text(str(row["failed"]), style="bold red" if row["failed"] else ""), str(row["skipped"]))
        return table

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._table(), refresh=True)

    def play_start(self, play: "Play", hosts: list[str]) -> None:
        if self.quiet:
            return
        with self._lock:
            self.console.rule(Text(f"PLAY {play.name} [{', '.join(hosts)}]"))  # Text: brackets are not markup
            self._hosts = {h: {"task": "connecting", "ok": 0, "changed": 0, "failed": 0, "skipped": 0, "done": False} for h in hosts}
            if self.console.is_terminal:
                self._live = Live(self._table(), console=self.console, refresh_per_second=8, transient=True)
                self._live.start()

    def play_end(self, play: "Play") -> None:
        with self._lock:
            if self._live is not None:
                self._live.stop()
                self._live = None

    def task_start(self, host: str, task: "Task") -> None:
        if self.quiet:
            return
        with self._lock:
            if host in self._hosts:
                self._hosts[host]["task"] = task.name
                self._refresh()

    def task_done(self, host: str, task: str, status: str, seconds: float, diff: str = "", msg: str = "") -> None:
        if self.quiet:
            return
        with self._lock:
            row = self._hosts.get(host)
            if row is not None and status in row:
                row[status] += 1
            self._refresh()
            if status in ("changed", "ignored") or self.verbose:
                timing = f" ({seconds:.2f}s)" if self.verbose else ""
                self.console.print(Text.assemble((f"{status:8}", STATUS_STYLE.get(status, "")), f" {host}: {task}{timing}"))
            if msg:
                self.console.print(Text.assemble((f"{status:8}", STATUS_STYLE.get(status, "")), f" {host}: {msg}"))
            if diff and self.show_diff:
                self.console.print(Text(diff.rstrip("\n"), style="dim"))

    def host_failed(self, failure: "TaskFailure", unreachable: bool = False) -> None:
        if self.quiet:
            return
        with self._lock:
            row = self._hosts.get(failure.host)
            if row is not None:
                row["failed"] += 1
                row["task"] = "UNREACHABLE" if unreachable else f"FAILED: {failure.task}"
            self._refresh()
            label = "UNREACHABLE" if unreachable else "FAILED"
            self.console.print(Text(f"{label:8} {failure}", style="bold red"))

    # -- the end ------------------------------------------------------------------
    def recap(self, result: "RunResult") -> None:
        if self.quiet:
            return
        table = Table(title="PLAY RECAP", title_justify="left", box=None, header_style="bold")
        for column in ("host", "ok", "changed", "failed", "skipped", "unreachable", "ignored"):
            table.add_column(column, justify="left" if column == "host" else "right")
        for host, stats in result.stats.items():
            style = "bold red" if stats.failed or stats.unreachable else "yellow" if stats.changed else "green"
            table.add_row(Text(host, style=style), str(stats.ok), str(stats.changed), str(stats.failed),
                          str(stats.skipped), str(stats.unreachable), str(stats.ignored))
        self.console.print(table)
        if self.verbose:
            timing = Table(title="TASK TIMING (slowest first)", title_justify="left", box=None, header_style="bold")
            for column in ("seconds", "host", "task", "where", "status"):
                timing.add_column(column)
            for record in sorted(result.records, key=lambda r: -r.seconds)[:40]:
                timing.add_row(f"{record.seconds:.3f}", record.host, record.task, record.where, record.status)
            self.console.print(timing)
        self.console.print(f"{result.seconds:.2f}s, {sum(result.commands.values())} commands on {len(result.commands)} connections")


def json_recap(result: "RunResult") -> str:
    return json.dumps(result.recap(), sort_keys=True)


def now() -> float:
    return time.monotonic()
