"""The shape every module has, and the small API for writing a new one.

A module reads the current state in one command, computes the difference
and applies it only in a real run::

    probe()        -> the shell command that reads the state (one round trip)
    parse(stdout)  -> the state, as plain data
    plan(state)    -> a Plan: the commands (and at most one file upload) that
                      would converge the host, the diff, changed or not
    apply(plan)    -> runs the plan (the engine never calls it in check mode)

``probe``, ``parse`` and ``plan`` are pure (no I/O), which is what the
data-driven tests exercise: state in, commands out. A new module is one
file in ``labkit/provision/modules/`` (imported automatically)::

    from labkit.provision.modules.base import Arg, Module, Plan, quote, register

    @register
    class Hostname(Module):
        '''Set the host's name (live and in /etc/hostname).'''
        name = "hostname"
        args = {"name": Arg(str, required=True)}

        def probe(self):
            return "hostname"

        def plan(self, current):
            wanted = self.args["name"]
            if current.strip() == wanted:
                return Plan()
            return Plan(commands=[f"hostname {quote(wanted)}",
                                  f"echo {quote(wanted)} > /etc/hostname"],
                        diff=f"hostname: {current.strip()} -> {wanted}")

Modules that must do more than one step (``command``, ``wait_for``) override
``run()`` and use ``self.ctx.run``; they still honour ``self.ctx.check``.
"""

from __future__ import annotations

import difflib
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar

if TYPE_CHECKING:
    from labkit.provision.runner import TaskContext

MODULES: dict[str, type["Module"]] = {}


def register(cls: type["Module"]) -> type["Module"]:
    """Make a module class available to tasks under its ``name``."""
    if cls.name in MODULES and MODULES[cls.name] is not cls:
        raise ValueError(f"module {cls.name!r} is defined twice ({MODULES[cls.name].__module__}, {cls.__module__})")
    MODULES[cls.name] = cls
    return cls


def quote(value: Any) -> str:
    return shlex.quote(str(value))


_MISSING = object()


@dataclass
class Arg:
    """One module argument: its type, whether it is required, default, choices."""

    type: type | tuple[type, ...] = str
    required: bool = False
    default: Any = None
    choices: tuple | None = None
    doc: str = ""


class ModuleFailure(Exception):
    """The module could not do its work; carries the command and its stderr."""

    def __init__(self, message: str, command: str | None = None, stderr: str = "", rc: int | None = None,
                 result: dict | None = None):
        super().__init__(message)
        self.message, self.command, self.stderr, self.rc = message, command, stderr, rc
        self.result = result or {}


@dataclass
class Upload:
    path: str
    data: bytes
    mode: str | None = None


@dataclass
class Plan:
    """What a module would change: commands to run (in order), one optional upload first."""

    commands: list[str] = field(default_factory=list)
    upload: Upload | None = None
    diff: str = ""
    msg: str = ""
    changed: bool | None = None          # None: changed when there is something to do
    result: dict[str, Any] = field(default_factory=dict)  # extra values for `register`

    @property
    def is_change(self) -> bool:
        if self.changed is not None:
            return self.changed
        return bool(self.commands or self.upload)

    def script(self) -> str:
        """The one shell command that applies the plan (upload via stdin, then commands)."""
        steps = []
        if self.upload:
            tmp = quote(self.upload.path + ".labkit-tmp")
            steps.append(f"cat > {tmp}")
            if self.upload.mode:
                steps.append(f"chmod {quote(self.upload.mode)} {tmp}")
            steps.append(f"mv -f {tmp} {quote(self.upload.path)}")
        steps.extend(self.commands)
        return " && ".join(steps)


class Module:
    """Base class; see the module docstring for the shape."""

    name: ClassVar[str] = ""
    args: ClassVar[dict[str, Arg]] = {}
    free_form: ClassVar[str | None] = None      # `shell: echo hi` fills this argument
    runs_on_control: ClassVar[bool] = False     # debug/set_fact/assert: no host command

    def __init__(self, args: dict[str, Any], ctx: "TaskContext | None" = None):
        self.args = args
        self.ctx = ctx

    # -- argument checking (static: before anything runs) --------------------
    @classmethod
    def check_args(cls, raw: Any) -> dict[str, Any]:
        """Normalize raw task arguments; raise ValueError naming the bad one."""
        if raw is None:
            raw = {}
        if isinstance(raw, str):
            if not cls.free_form:
                raise ValueError(f"module {cls.name} takes arguments as a mapping, not a string")
            raw = {cls.free_form: raw}
        if not isinstance(raw, dict):
            raise ValueError(f"module {cls.name} takes arguments as a mapping")
        unknown = [k for k in raw if k not in cls.args]
        if unknown:
            error = ValueError(f"module {cls.name}: unknown argument {unknown[0]!r} (arguments: {', '.join(cls.args)})")
            error.key = unknown[0]  # type: ignore[attr-defined]  # lets the caller point at its line
            raise error
        for key, spec in cls.args.items():
            if spec.required and key not in raw:
                raise ValueError(f"module {cls.name}: missing required argument {key!r}")
        return dict(raw)

    @classmethod
    def finish_args(cls, rendered: dict[str, Any]) -> dict[str, Any]:
        """After rendering: fill defaults, check types and choices."""
        out = {}
        for key, spec in cls.args.items():
            value = rendered.get(key, _MISSING)
            if value is _MISSING or value is None:
                out[key] = spec.default
                continue
            types = spec.type if isinstance(spec.type, tuple) else (spec.type,)
            if bool in types and isinstance(value, str) and value.lower() in ("yes", "no", "true", "false"):
                value = value.lower() in ("yes", "true")
            if list in types and not isinstance(value, list) and str not in types:
                value = [value] if not isinstance(value, str) else [v.strip() for v in value.split(",") if v.strip()]
            if int in types and isinstance(value, str) and value.isdigit() and str not in types:
                value = int(value)
            if str in types and isinstance(value, (int, float)) and not isinstance(value, bool) and int not in types:
                value = str(value)
            if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                names = " or ".join(t.__name__ for t in types)
                raise ValueError(f"module {cls.name}: argument {key!r} must be {names}, got {value!r}")
            if spec.choices and value not in spec.choices:
                raise ValueError(f"module {cls.name}: argument {key!r} must be one of {', '.join(map(str, spec.choices))}, got {value!r}")
            out[key] = value
        return out

    # -- the shape ----------------------------------------------------------
    def probe(self) -> str | None:
        return None

    def parse(self, stdout: str) -> Any:
        return stdout

    def plan(self, state: Any) -> Plan:
        raise NotImplementedError

    def run(self) -> Plan:
        """Read, compare, apply (not in check mode). Returns the plan, done or not."""
        assert self.ctx is not None
        probe = self.probe()
        state = None
        if probe:
            result = self.ctx.run(probe)
            if result.rc != 0:
                raise ModuleFailure(f"reading the current state failed (rc={result.rc})", probe, result.stderr, result.rc)
            state = self.parse(result.stdout)
        plan = self.plan(state)
        if plan.is_change and not self.ctx.check:
            self.apply(plan)
        return plan

    def apply(self, plan: Plan) -> None:
        assert self.ctx is not None
        script = plan.script()
        if not script:
            return
        result = self.ctx.run(script, stdin=plan.upload.data if plan.upload else None)
        if result.rc != 0:
            shown = script if not plan.upload else script.replace("cat > ", "cat (file content) > ", 1)
            raise ModuleFailure(f"command failed (rc={result.rc})", shown, result.stderr, result.rc)


def text_diff(before: str, after: str, path: str) -> str:
    """A unified diff between two texts, labelled with the path."""
    return "".join(difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True),
        fromfile=f"before: {path}", tofile=f"after: {path}",
    ))


def stat_command(path: str) -> str:
    """Prints `type|mode|owner|group` of a path (no symlink following), or `absent`."""
    p = quote(path)
    return f"if [ -e {p} ] || [ -L {p} ]; then stat -c '%F|%a|%U|%G' {p}; else echo absent; fi"


def parse_stat(line: str) -> dict[str, str] | None:
    line = line.strip()
    if line == "absent" or not line:
        return None
    kind, mode, owner, group = line.split("|")
    kinds = {"directory": "directory", "symbolic link": "link", "regular file": "file", "regular empty file": "file"}
    return {"kind": kinds.get(kind, kind), "mode": mode.zfill(4), "owner": owner, "group": group}


def normalize_mode(mode: Any) -> str | None:
    """'644', '0644', 0o644 (YAML int 420) -> '0644'."""
    if mode is None:
        return None
    if isinstance(mode, int) and not isinstance(mode, bool):
        # YAML reads an unquoted 0644 as the octal number 420: that number is the mode
        if not 0 <= mode <= 0o7777:
            raise ValueError(f"mode {mode!r} is out of range; write it quoted, like '0644'")
        return oct(mode)[2:].zfill(4)
    text = str(mode).strip()
    if not text.isdigit() or not set(text) <= set("01234567") or len(text.lstrip("0")) > 4:
        raise ValueError(f"mode {mode!r} is not an octal mode like '0644'")
    return text.lstrip("0").zfill(4) if text.strip("0") else "0000"


def attribute_commands(path: str, current: dict | None, mode: str | None, owner: str | None,
                       group: str | None, changes: list[str]) -> list[str]:
    """chmod/chown commands for what differs; records each difference in ``changes``."""
    commands = []
    if mode and (current is None or current["mode"] != mode):
        commands.append(f"chmod {mode} {quote(path)}")
        changes.append(f"mode: {current['mode'] if current else '-'} -> {mode}")
    if owner and (current is None or current["owner"] != owner):
        commands.append(f"chown {quote(owner)} {quote(path)}")
        changes.append(f"owner: {current['owner'] if current else '-'} -> {owner}")
    if group and (current is None or current["group"] != group):
        commands.append(f"chgrp {quote(group)} {quote(path)}")
        changes.append(f"group: {current['group'] if current else '-'} -> {group}")
    return commands


Check = Callable[[Any], bool]
