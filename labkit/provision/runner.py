"""The runner: plays over hosts, in parallel, one reused connection per host.

For each play, hosts are split into ``serial`` batches; the hosts of a batch
run at the same time (a bounded thread pool: paramiko is blocking, and each
host's work is mostly waiting on the network). Each host goes through the
play's roles in order on its own; a failed host stops only itself unless
the play says ``any_errors_fatal``. Facts are gathered once per host per
run. Handlers run after each role's tasks (and after the play's own tasks),
once, in handler order, when a changed task notified them.

Use from Python::

    from labkit.provision.runner import run_play_file
    result = run_play_file("inventory/ha.yaml", "roles/site.yaml", check=True)
    result.failed_hosts  # [] when all went well

``connections`` maps a host name to connection data (address, port, user,
key, connection) that replaces the inventory's: providers (nspawn, vagrant)
pass what they know about the machines they made.
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from labkit.provision.connection import Connection, Unreachable, connect, control_host
from labkit.provision.errors import ProvisionError
from labkit.provision.facts import gather_facts
from labkit.provision.inventory import Host, Inventory, load_inventory
from labkit.provision.modules import MODULES, ModuleFailure, Plan
from labkit.provision.playbook import Play, Role, Task, find_file, load_play_file, template_dirs, validate
from labkit.provision.report import Reporter
from labkit.provision.templating import Renderer, TemplateError, Vars

DEFAULT_FORKS = 16


@dataclass
class TaskFailure:
    host: str
    task: str
    where: str
    message: str
    command: str | None = None
    stderr: str = ""
    rc: int | None = None

    def __str__(self) -> str:
        lines = [f"{self.host}: task {self.task!r} ({self.where}) failed: {self.message}"]
        if self.command:
            lines.append(f"  command: {self.command}")
        if self.rc is not None:
            lines.append(f"  rc: {self.rc}")
        if self.stderr.strip():
            lines.append("  stderr: " + self.stderr.strip().replace("\n", "\n          "))
        return "\n".join(lines)


@dataclass
class HostStats:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    unreachable: int = 0
    ignored: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"ok": self.ok, "changed": self.changed, "failed": self.failed,
                "skipped": self.skipped, "unreachable": self.unreachable}


@dataclass
class TaskRecord:
    host: str
    task: str
    where: str
    status: str          # ok | changed | failed | skipped | ignored
    seconds: float
    diff: str = ""
    msg: str = ""


@dataclass
class RunResult:
    stats: dict[str, HostStats] = field(default_factory=dict)
    records: list[TaskRecord] = field(default_factory=list)
    failures: list[TaskFailure] = field(default_factory=list)
    seconds: float = 0.0
    commands: dict[str, int] = field(default_factory=dict)   # SSH/local commands per host

    @property
    def failed_hosts(self) -> list[str]:
        return [h for h, s in self.stats.items() if s.failed or s.unreachable]

    @property
    def changed(self) -> int:
        return sum(s.changed for s in self.stats.values())

    def recap(self) -> dict[str, dict[str, int]]:
        return {h: s.as_dict() for h, s in self.stats.items()}

    def changed_tasks(self, host: str | None = None) -> list[str]:
        return [r.task for r in self.records if r.status == "changed" and (host is None or r.host == host)]


class TaskContext:
    """What a module sees: its host's connection, check/diff mode, facts and variables."""

    def __init__(self, runner: "Runner", play: Play, host: Host, conn: Connection, vars: Vars,
                 role: Role | None, environment: Mapping[str, Any] | None, task: Task):
        self.runner, self.play, self.host, self.conn = runner, play, host, conn
        self.vars, self.role, self.environment, self.task = vars, role, dict(environment or {}), task
        # check_mode: false on a task runs it for real in a check run (reads that later tasks need)
        self.check = bool(task.get("check_mode")) if task.get("check_mode") is not None else runner.check
        self.diff = runner.diff
        self.facts = runner.facts.get(host.name, {})
        self.host_state = runner.host_state.setdefault(conn.host.name, {})

    def run(self, command: str, stdin: bytes | None = None, timeout: float | None = None):
        return self.conn.run(command, stdin=stdin, env=self.environment, timeout=timeout)

    @property
    def renderer(self) -> Renderer:
        return self.runner.renderer(self.play, self.role)

    def render_template(self, src: str) -> str:
        return self.renderer.render_template(src, self.vars)

    def find_file(self, src: str) -> Path:
        path = find_file(self.play, self.role, src)
        if path is None:
            raise ModuleFailure(f"file {src!r} not found in the role's files/, {self.play.project_dir}/files or {self.play.project_dir}")
        return path

    def evaluate(self, expression: str) -> Any:
        return self.renderer.evaluate(expression, self.vars, self.task.where)

    def condition(self, expression: Any) -> bool:
        return self.renderer.condition(expression, self.vars, self.task.where)


class _HostFailed(Exception):
    pass


class Runner:
    def __init__(self, inventory: Inventory, plays: list[Play], *, check: bool = False, diff: bool = False,
                 tags: list[str] | None = None, skip_tags: list[str] | None = None, limit: str | None = None,
                 forks: int = DEFAULT_FORKS, connections: Mapping[str, Mapping[str, Any]] | None = None,
                 reporter: Reporter | None = None):
        self.inventory, self.plays = inventory, plays
        self.check, self.diff = check, diff
        self.tags, self.skip_tags = set(tags or []), set(skip_tags or [])
        self.limit = {h.name for h in inventory.hosts_in(limit)} if limit else None
        self.forks = max(1, forks)
        self.overrides = dict(connections or {})
        self.reporter = reporter or Reporter(quiet=True)
        self.result = RunResult()
        self.facts: dict[str, dict[str, Any]] = {}
        self.host_state: dict[str, dict[str, Any]] = {}
        self.registered: dict[str, dict[str, Any]] = {}   # host -> registered results and set_fact vars
        self._connections: dict[str, Connection] = {}
        self._connect_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._renderers: dict[tuple[str, str], Renderer] = {}
        self._run_once: dict[tuple[int, int], tuple[threading.Event, list]] = {}
        self._fatal = threading.Event()
        self._unreachable: dict[str, str] = {}

    # -- resources shared across hosts -------------------------------------------
    def renderer(self, play: Play, role: Role | None) -> Renderer:
        key = (play.file, role.name if role else "")
        with self._lock:
            if key not in self._renderers:
                self._renderers[key] = Renderer(template_dirs(play, role))
            return self._renderers[key]

    def connection(self, host: Host) -> Connection:
        """The host's one connection for the whole run, opened on first use."""
        with self._lock:
            lock = self._connect_locks.setdefault(host.name, threading.Lock())
        with lock:
            if host.name in self._unreachable:
                raise Unreachable(self._unreachable[host.name])
            if host.name not in self._connections:
                try:
                    self._connections[host.name] = connect(host, self.overrides.get(host.name))
                except Unreachable as exc:
                    self._unreachable[host.name] = str(exc)
                    raise
            return self._connections[host.name]

    def close(self) -> None:
        for name, conn in self._connections.items():
            self.result.commands[name] = conn.commands_run
            conn.close()
        self._connections.clear()

    # -- the run --------------------------------------------------------------------
    def run(self) -> RunResult:
        started = time.monotonic()
        try:
            for play in self.plays:
                self.run_play(play)
        finally:
            self.close()
            self.result.seconds = time.monotonic() - started
        return self.result

    def run_play(self, play: Play) -> None:
        hosts = self.inventory.hosts_in(play.hosts)
        if self.limit is not None:
            hosts = [h for h in hosts if h.name in self.limit]
        for host in hosts:
            self.result.stats.setdefault(host.name, HostStats())
        self.reporter.play_start(play, [h.name for h in hosts])
        self._fatal.clear()
        for batch in self.batches(play, hosts):
            live = [h for h in batch if not self._host_failed(h.name)]
            if not live:
                continue
            with ThreadPoolExecutor(max_workers=min(self.forks, len(live)), thread_name_prefix="labkit-host") as pool:
                list(pool.map(lambda h: self.run_host(play, h, [x.name for x in hosts]), live))
            if self._fatal.is_set():
                break
            if play.serial and all(self._host_failed(h.name) for h in live):
                break  # a whole batch failed: a rolling change stops here
        self.reporter.play_end(play)

    @staticmethod
    def batches(play: Play, hosts: list[Host]) -> list[list[Host]]:
        if not play.serial or not hosts:
            return [hosts]
        if isinstance(play.serial, str):
            size = max(1, math.floor(len(hosts) * int(play.serial[:-1]) / 100))
        else:
            size = play.serial
        return [hosts[i:i + size] for i in range(0, len(hosts), size)]

    def _host_failed(self, name: str) -> bool:
        stats = self.result.stats.get(name)
        return bool(stats and (stats.failed or stats.unreachable))

    def base_vars(self, play: Play, host: Host, play_hosts: list[str]) -> dict[str, Any]:
        inv = self.inventory
        return {
            "lab": inv.lab,
            "inventory_hostname": host.name,
            "inventory_dir": str(inv.path.parent.resolve()),
            "groups": {"all": list(inv.hosts), **{g: inv.group_hosts(g) for g in inv.groups}},
            "group_names": [g for g in host.groups if g != "all"],
            "hostvars": {name: {**h.vars, "inventory_address": h.address} for name, h in inv.hosts.items()},
            "inventory_address": host.address,
            "play_hosts": play_hosts,
            "check_mode": self.check,
            "ansible_check_mode": self.check,
            "facts": self.facts.get(host.name, {}),
        }

    def host_vars(self, play: Play, host: Host, role: Role | None, play_hosts: list[str]) -> Vars:
        """Precedence, lowest first: role defaults < inventory (all < groups < host)
        < play vars < role entry vars < registered results and set_fact."""
        layers = [play.defaults(), host.vars, play.vars, role.vars if role else {},
                  self.base_vars(play, host, play_hosts), self.registered.setdefault(host.name, {})]
        if role is not None:
            layers.append({"role_path": str(role.path), "role_name": role.name})
        return Vars(layers, self.renderer(play, role))

    def run_host(self, play: Play, host: Host, play_hosts: list[str]) -> None:
        stats = self.result.stats[host.name]
        try:
            conn = self.connection(host)
            if play.gather_facts and host.name not in self.facts:
                started = time.monotonic()
                self.facts[host.name] = gather_facts(conn)
                seconds = time.monotonic() - started
                with self._lock:
                    self.result.records.append(TaskRecord(host.name, "gather facts", host.where, "ok", seconds))
                self.reporter.task_done(host.name, "gather facts", "ok", seconds)
        except Unreachable as exc:
            stats.unreachable += 1
            failure = TaskFailure(host.name, "connect", f"{host.file}:{host.line}", str(exc))
            self.result.failures.append(failure)
            self.reporter.host_failed(failure, unreachable=True)
            if play.any_errors_fatal:
                self._fatal.set()
            return
        except Exception as exc:
            stats.failed += 1
            failure = TaskFailure(host.name, "gather facts", f"{host.file}:{host.line}", str(exc))
            self.result.failures.append(failure)
            self.reporter.host_failed(failure)
            return
        notified: list[str] = []
        try:
            for role, tasks in play.sections():
                for task in tasks:
                    if self._fatal.is_set():
                        return
                    if task.module == "meta":
                        if self.selected(task, role):
                            self.flush_handlers(play, host, conn, notified, play_hosts)
                        continue
                    if not self.selected(task, role):
                        continue
                    self.run_task(play, host, role, task, notified, play_hosts)
                self.flush_handlers(play, host, conn, notified, play_hosts)
        except _HostFailed:
            if play.any_errors_fatal:
                self._fatal.set()

    def selected(self, task: Task, role: Role | None) -> bool:
        tags = set(task.tags) | set(role.tags if role else [])
        if "always" in tags and "always" not in self.skip_tags:
            return True
        if self.tags and not (tags & self.tags) and "all" not in self.tags:
            return False
        if self.skip_tags and tags & self.skip_tags:
            return False
        return True

    def flush_handlers(self, play: Play, host: Host, conn: Connection, notified: list[str], play_hosts: list[str]) -> None:
        if not notified:
            return
        pending = set(notified)
        notified.clear()
        for handler in play.handlers:  # in handler order, each at most once
            listen = handler.get("listen")
            names = {handler.name} | {str(n) for n in (listen if isinstance(listen, list) else [listen] if listen else [])}
            if names & pending:
                self.run_task(play, host, handler.role, handler, notified, play_hosts)

    # -- one task on one host ------------------------------------------------------
    def run_task(self, play: Play, host: Host, role: Role | None, task: Task, notified: list[str],
                 play_hosts: list[str]) -> None:
        stats = self.result.stats[host.name]
        started = time.monotonic()
        self.reporter.task_start(host.name, task)
        if task.get("run_once"):
            key = (id(play), id(task))
            with self._lock:
                first = key not in self._run_once
                if first:
                    self._run_once[key] = (threading.Event(), [])
                event, box = self._run_once[key]
            if not first:
                event.wait()
                status, register_value = box[0] if box else ("skipped", {"skipped": True})
                if task.get("register"):
                    self.registered[host.name][str(task.get("register"))] = register_value
                self._count(stats, status if status != "failed" else "skipped")
                self.record(host.name, task, status, time.monotonic() - started, msg="run once (on the first host)")
                return
            try:
                status, value = self._run_task_body(play, host, role, task, notified, play_hosts, stats, started)
                box.append((status, value))
            except _HostFailed:
                box.append(("failed", {"failed": True}))
                raise
            finally:
                event.set()
            return
        self._run_task_body(play, host, role, task, notified, play_hosts, stats, started)

    def _count(self, stats: HostStats, status: str) -> None:
        with self._lock:
            if status == "changed":
                stats.changed += 1
            elif status == "skipped":
                stats.skipped += 1
            elif status == "failed":
                stats.failed += 1
            elif status == "ignored":
                stats.ignored += 1
            else:
                stats.ok += 1

    def _run_task_body(self, play, host, role, task, notified, play_hosts, stats, started) -> tuple[str, dict]:
        vars = self.host_vars(play, host, role, play_hosts)
        if task.get("vars"):
            vars = vars.child(task.get("vars"))
        renderer = self.renderer(play, role)
        register = task.get("register")
        try:
            loop = task.get("loop")
            if loop is not None:
                items = renderer.render_value(loop, vars, f"{task.file}:{task.line_of('loop')}")
                if not isinstance(items, list):
                    raise TemplateError(f"loop must give a list, got {type(items).__name__}", task.file, task.line_of("loop"))
                loop_var = (task.get("loop_control") or {}).get("loop_var", "item")
                results = []
                for item in items:
                    item_vars = vars.child({loop_var: item})
                    try:
                        results.append(self._run_once_item(play, host, role, task, item_vars, renderer))
                    except TaskFailed as failed:
                        failed.failure.message += f" (loop item {item!r})"
                        raise
                value = {"results": results, "changed": any(r.get("changed") for r in results),
                         "failed": any(r.get("failed") for r in results),
                         "skipped": all(r.get("skipped") for r in results) if results else True}
            else:
                value = self._run_once_item(play, host, role, task, vars, renderer)
        except TaskFailed as failed:
            value = failed.value
            if register:
                self.registered[host.name][str(register)] = value
            seconds = time.monotonic() - started
            if task.get("ignore_errors"):
                self._count(stats, "ignored")
                self.record(host.name, task, "ignored", seconds, msg=failed.failure.message)
                self.reporter.task_done(host.name, task.name, "ignored", seconds, msg=str(failed.failure))
                return "ignored", value
            self._count(stats, "failed")
            self.result.failures.append(failed.failure)
            self.record(host.name, task, "failed", seconds, msg=failed.failure.message)
            self.reporter.host_failed(failed.failure)
            raise _HostFailed() from None
        if register:
            self.registered[host.name][str(register)] = value
        status = "skipped" if value.get("skipped") else "changed" if value.get("changed") else "ok"
        if status == "changed":
            for name in task.get("notify") or []:
                if name not in notified:
                    notified.append(name)
        seconds = time.monotonic() - started
        self._count(stats, status)
        diff = "\n".join(d for d in ([value.get("diff", "")] + [r.get("diff", "") for r in value.get("results", [])]) if d)
        self.record(host.name, task, status, seconds, diff=diff, msg=str(value.get("msg", "")))
        self.reporter.task_done(host.name, task.name, status, seconds, diff=diff if self.diff else "",
                                msg=str(value.get("msg", "")) if task.module == "debug" else "")
        return status, value

    def _run_once_item(self, play, host, role, task, vars: Vars, renderer: Renderer) -> dict[str, Any]:
        """One module run (one loop item): when, args, retries/until, changed_when/failed_when."""
        where = task.where
        when = task.get("when")
        try:
            if when is not None and not renderer.condition(when, vars, f"{task.file}:{task.line_of('when')}"):
                return {"skipped": True, "changed": False, "msg": "condition false"}
            module_cls = MODULES[task.module]
            args = module_cls.finish_args(renderer.render_value(task.args, vars, where))
            environment = renderer.render_value(task.get("environment") or {}, vars, where)
            delegate = task.get("delegate_to")
            conn_host = host
            if delegate:
                target = renderer.render_value(delegate, vars, where)
                conn = self.delegate_connection(str(target), task)
            else:
                conn = self.connection(conn_host)
        except TemplateError as exc:
            raise TaskFailed(TaskFailure(host.name, task.name, where, str(exc)), {"failed": True, "msg": str(exc)}) from None
        except (ValueError, ModuleFailure) as exc:
            raise TaskFailed(TaskFailure(host.name, task.name, where, str(exc)), {"failed": True, "msg": str(exc)}) from None
        except Unreachable as exc:
            raise TaskFailed(TaskFailure(host.name, task.name, where, f"delegate host unreachable: {exc}"), {"failed": True}) from None

        retries = int(task.get("retries", 0)) if task.get("until") is not None else 0
        delay = float(task.get("delay", 1))
        attempt = 0
        while True:
            attempt += 1
            ctx = TaskContext(self, play, host, conn, vars, role, environment, task)
            failure: TaskFailure | None = None
            try:
                plan = module_cls(args, ctx).run()
                value: dict[str, Any] = {"changed": plan.is_change, "failed": False, "msg": plan.msg, "diff": plan.diff, **plan.result}
                set_vars = value.pop("set_vars", None)
                if set_vars:
                    self.registered[host.name].update(set_vars)
                if plan.result.get("unit_changed") and not ctx.check:
                    ctx.host_state["units_changed"] = True
            except ModuleFailure as exc:
                value = {"changed": False, "failed": True, "msg": exc.message, **exc.result}
                failure = TaskFailure(host.name, task.name, where, exc.message, exc.command, exc.stderr, exc.rc)
            except TemplateError as exc:
                value = {"changed": False, "failed": True, "msg": str(exc)}
                failure = TaskFailure(host.name, task.name, where, str(exc))
            except Unreachable as exc:
                value = {"changed": False, "failed": True, "msg": str(exc)}
                failure = TaskFailure(host.name, task.name, where, f"unreachable: {exc}")
            if value.get("changed") and getattr(conn, "host", host).name != host.name:
                value["delegated_to"] = conn.host.name
            try:
                checked = vars.child({"result": value, **({str(task.get("register")): value} if task.get("register") else {})})
                if task.get("changed_when") is not None:
                    value["changed"] = renderer.condition(task.get("changed_when"), checked, f"{task.file}:{task.line_of('changed_when')}")
                if task.get("failed_when") is not None:
                    value["failed"] = renderer.condition(task.get("failed_when"), checked, f"{task.file}:{task.line_of('failed_when')}")
                    if value["failed"] and failure is None:
                        failure = TaskFailure(host.name, task.name, where, f"failed_when is true: {task.get('failed_when')}",
                                              value.get("cmd"), value.get("stderr", ""), value.get("rc"))
                    elif not value["failed"]:
                        failure = None
                done = True
                if task.get("until") is not None:
                    done = renderer.condition(task.get("until"), checked, f"{task.file}:{task.line_of('until')}")
            except TemplateError as exc:
                raise TaskFailed(TaskFailure(host.name, task.name, where, str(exc)), {"failed": True, "msg": str(exc)}) from None
            if (done and failure is None) or attempt > retries:
                break
            time.sleep(delay)
        value["attempts"] = attempt
        if failure is None and task.get("until") is not None and not done:
            failure = TaskFailure(host.name, task.name, where, f"until condition still false after {attempt} attempts: {task.get('until')}")
        if failure is not None:
            value["failed"] = True
            raise TaskFailed(failure, value)
        return value

    def delegate_connection(self, target: str, task: Task) -> Connection:
        if target in ("localhost", "127.0.0.1", "control"):
            with self._lock:
                if "localhost" not in self._connections:
                    self._connections["localhost"] = connect(control_host())
                return self._connections["localhost"]
        if target not in self.inventory.hosts:
            raise ValueError(f"delegate_to: {target!r} is neither localhost nor a host of the inventory")
        return self.connection(self.inventory.hosts[target])

    def record(self, host: str, task: Task, status: str, seconds: float, diff: str = "", msg: str = "") -> None:
        with self._lock:
            self.result.records.append(TaskRecord(host, task.name, task.where, status, seconds, diff, msg))


class TaskFailed(Exception):
    def __init__(self, failure: TaskFailure, value: dict[str, Any]):
        super().__init__(str(failure))
        self.failure, self.value = failure, value


def run_play_file(inventory: str | Path | Inventory, play_file: str | Path, **options: Any) -> RunResult:
    """Load, validate (before touching any host), run; returns the RunResult."""
    inv = inventory if isinstance(inventory, Inventory) else load_inventory(inventory)
    plays = load_play_file(play_file)
    validate(plays, inv)
    return Runner(inv, plays, **options).run()


__all__ = ["Runner", "RunResult", "TaskFailure", "run_play_file", "ProvisionError", "Plan"]
