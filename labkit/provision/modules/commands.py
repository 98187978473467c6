"""Running things: command, shell, wait_for, and the control-side debug, set_fact, assert."""

from __future__ import annotations

import json
import shlex
from typing import Any

from labkit.provision.modules.base import Arg, Module, ModuleFailure, Plan, quote, register

SKIP_MARK = "__labkit_guard_skip__"


class _Run(Module):
    """command and shell: always a change unless ``creates``/``removes`` say the work is done
    (checked in the same round trip) or the task's ``changed_when`` says otherwise."""

    args = {
        "cmd": Arg(str, required=True),
        "chdir": Arg(str),
        "creates": Arg(str, doc="skip when this path exists"),
        "removes": Arg(str, doc="skip unless this path exists"),
        "stdin": Arg(str),
    }
    free_form = "cmd"

    def body(self) -> str:
        raise NotImplementedError

    def guard(self) -> str:
        parts = []
        if self.args["creates"]:
            parts.append(f"if [ -e {quote(self.args['creates'])} ]; then echo {SKIP_MARK}; exit 0; fi")
        if self.args["removes"]:
            parts.append(f"if [ ! -e {quote(self.args['removes'])} ]; then echo {SKIP_MARK}; exit 0; fi")
        return "; ".join(parts)

    def script(self) -> str:
        cd = f"cd {quote(self.args['chdir'])} && " if self.args["chdir"] else ""
        guard = self.guard()
        return (guard + "; " if guard else "") + cd + self.body()

    def plan(self, state: Any) -> Plan:
        return Plan(commands=[self.script()], diff="")

    def run(self) -> Plan:
        assert self.ctx is not None
        if self.ctx.check:
            guard = self.guard()
            if guard:  # in check mode only the guard runs: would the command run?
                out = self.ctx.run(guard + "; echo run").stdout
                if SKIP_MARK in out:
                    return Plan(changed=False, msg="skipped: guard says done", result={"rc": 0, "stdout": "", "stderr": ""})
            return Plan(commands=[self.body()], msg="not run in check mode", result={"rc": 0, "stdout": "", "stderr": ""})
        script = self.script()
        stdin = self.args["stdin"]
        result = self.ctx.run(script, stdin=stdin.encode() if stdin is not None else None)
        stdout = result.stdout
        if SKIP_MARK in stdout and stdout.strip() == SKIP_MARK:
            return Plan(changed=False, msg="skipped: guard says done", result={"rc": 0, "stdout": "", "stderr": ""})
        values = {"rc": result.rc, "stdout": stdout.rstrip("\n"), "stderr": result.stderr.rstrip("\n"),
                  "stdout_lines": stdout.splitlines(), "cmd": self.body()}
        if result.rc != 0:
            raise ModuleFailure(f"non-zero return code {result.rc}", self.body(), result.stderr, result.rc, values)
        return Plan(commands=[self.body()], changed=True, result=values)


@register
class Shell(_Run):
    """Run a command through /bin/sh (pipes, redirections, variables)."""

    name = "shell"

    def body(self) -> str:
        return self.args["cmd"]


@register
class Command(_Run):
    """Run a program with arguments, no shell features (words are quoted as given)."""

    name = "command"
    args = {**_Run.args, "argv": Arg(list)}
    args["cmd"] = Arg(str)

    @classmethod
    def check_args(cls, raw: Any) -> dict[str, Any]:
        args = super().check_args(raw)
        if "cmd" not in args and "argv" not in args:
            raise ValueError("module command: needs cmd (or argv)")
        return args

    def body(self) -> str:
        words = self.args["argv"] or shlex.split(self.args["cmd"])
        return "exec " + " ".join(quote(w) for w in words)


WAIT_SCRIPT = r"""
import json, os, socket, sys, time, urllib.request
spec = json.loads(sys.argv[1])
deadline = time.monotonic() + spec["timeout"]
time.sleep(spec["delay"])
def check():
    if spec.get("port"):
        try:
            socket.create_connection((spec["host"], spec["port"]), timeout=1).close(); up = True
        except OSError:
            up = False
        return up == (spec["state"] in ("started", "present"))
    if spec.get("path"):
        return os.path.exists(spec["path"]) == (spec["state"] in ("present", "started"))
    try:
        with urllib.request.urlopen(spec["url"], timeout=2) as r:
            code = r.status
    except urllib.error.HTTPError as e:
        code = e.code
    except Exception:
        code = None
    return code == spec["status_code"]
while True:
    if check():
        print("ready"); sys.exit(0)
    if time.monotonic() > deadline:
        print("timeout"); sys.exit(1)
    time.sleep(0.2)
"""


@register
class WaitFor(Module):
    """Wait on the host for a port open/closed, a file present/absent, or an HTTP status."""

    name = "wait_for"
    args = {
        "port": Arg(int),
        "host": Arg(str, default="127.0.0.1"),
        "path": Arg(str),
        "url": Arg(str),
        "status_code": Arg(int, default=200),
        "state": Arg(str, default="started", choices=("started", "stopped", "present", "absent")),
        "timeout": Arg(int, default=60),
        "delay": Arg(int, default=0),
    }

    def what(self) -> str:
        a = self.args
        if a["port"]:
            return f"port {a['host']}:{a['port']} {'open' if a['state'] in ('started', 'present') else 'closed'}"
        if a["path"]:
            return f"{a['path']} {'present' if a['state'] in ('present', 'started') else 'absent'}"
        if a["url"]:
            return f"{a['url']} answering {a['status_code']}"
        raise ModuleFailure("wait_for needs port, path or url")

    def run(self) -> Plan:
        assert self.ctx is not None
        what = self.what()
        command = f"python3 -c {quote(WAIT_SCRIPT)} {quote(json.dumps(self.args))}"
        result = self.ctx.run(command, timeout=self.args["timeout"] + self.args["delay"] + 15)
        if result.rc != 0:
            raise ModuleFailure(f"timed out after {self.args['timeout']}s waiting for {what}", command[:60] + "...", result.stderr, result.rc)
        return Plan(changed=False, msg=f"{what}", result={"elapsed": None})


@register
class Debug(Module):
    """Show a message or a variable's value in the output."""

    name = "debug"
    free_form = "msg"
    runs_on_control = True
    args = {"msg": Arg(object), "var": Arg(str)}

    def run(self) -> Plan:
        assert self.ctx is not None
        if self.args["var"]:
            value = self.ctx.evaluate(self.args["var"])
            return Plan(changed=False, msg=f"{self.args['var']} = {json.dumps(value, default=str)}")
        return Plan(changed=False, msg=str(self.args["msg"]))


@register
class SetFact(Module):
    """Set variables for this host for the rest of the run."""

    name = "set_fact"
    runs_on_control = True
    args: dict[str, Arg] = {}

    @classmethod
    def check_args(cls, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict) or not raw:
            raise ValueError("module set_fact takes a mapping of variable names to values")
        return dict(raw)

    @classmethod
    def finish_args(cls, rendered: dict[str, Any]) -> dict[str, Any]:
        return rendered

    def run(self) -> Plan:
        return Plan(changed=False, result={"set_vars": dict(self.args)})


@register
class Assert(Module):
    """Fail the host unless every condition in ``that`` holds."""

    name = "assert"
    runs_on_control = True
    args = {"that": Arg(list, required=True), "fail_msg": Arg(str)}

    def run(self) -> Plan:
        assert self.ctx is not None
        for condition in self.args["that"]:
            if not self.ctx.condition(condition):
                raise ModuleFailure(self.args["fail_msg"] or f"assertion failed: {condition}")
        return Plan(changed=False, msg="all assertions passed")
