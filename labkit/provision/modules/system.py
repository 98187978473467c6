"""The host's system: systemd units, sysctl, kernel modules, users and groups."""

from __future__ import annotations

from typing import Any

from labkit.provision.modules.base import Arg, Module, ModuleFailure, Plan, quote, register


@register
class Systemd(Module):
    """A unit enabled or not, started/stopped/restarted/reloaded.

    ``daemon_reload``: run ``systemctl daemon-reload`` first when systemd says
    the unit changed on disk (``NeedDaemonReload=yes``), or when a copy or
    template task of this run changed a unit file on this host; ``always``
    forces it.
    """

    name = "systemd"
    args = {
        "name": Arg(str),
        "state": Arg(str, choices=("started", "stopped", "restarted", "reloaded")),
        "enabled": Arg(bool),
        "daemon_reload": Arg((bool, str), default="auto", doc="auto | always (true) | never (false)"),
    }

    def probe(self) -> str | None:
        if not self.args["name"]:
            return "echo"
        unit = quote(self.args["name"])
        return (f"echo active=$(systemctl is-active {unit} 2>/dev/null); "
                f"echo enabled=$(systemctl is-enabled {unit} 2>/dev/null); "
                f"systemctl show -p NeedDaemonReload -p LoadState {unit} 2>/dev/null; true")

    def parse(self, stdout: str) -> dict[str, Any]:
        state = dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)
        if self.ctx is not None and self.ctx.host_state.get("units_changed"):
            state["NeedDaemonReload"] = "yes"
        return state

    def plan(self, state: dict[str, Any]) -> Plan:
        a = self.args
        name = a["name"]
        reload_mode = a["daemon_reload"]
        commands, lines = [], []
        needs = state.get("NeedDaemonReload") == "yes"
        if reload_mode in (True, "always") or (reload_mode == "auto" and needs):
            commands.append("systemctl daemon-reload")
            lines.append("daemon-reload")
        if not name:
            return Plan(commands=commands, diff="\n".join(lines))
        unit = quote(name)
        if state.get("LoadState") == "not-found" and (a["state"] or a["enabled"] is not None) and not commands:
            if not (self.ctx is not None and self.ctx.check):
                raise ModuleFailure(f"unit {name} not found")
            # check mode: an earlier task would have installed the unit; plan as for a new one
        enabled_now = state.get("enabled") in ("enabled", "enabled-runtime", "static", "alias", "indirect", "generated")
        if a["enabled"] is True and not enabled_now:
            commands.append(f"systemctl enable {unit}")
            lines.append(f"{name}: enabled")
        elif a["enabled"] is False and state.get("enabled") in ("enabled", "enabled-runtime"):
            commands.append(f"systemctl disable {unit}")
            lines.append(f"{name}: disabled")
        active = state.get("active") in ("active", "activating", "reloading")
        if a["state"] == "started" and not active:
            commands.append(f"systemctl start {unit}")
            lines.append(f"{name}: {state.get('active') or 'inactive'} -> started")
        elif a["state"] == "stopped" and active:
            commands.append(f"systemctl stop {unit}")
            lines.append(f"{name}: stopped")
        elif a["state"] == "restarted":
            commands.append(f"systemctl restart {unit}")
            lines.append(f"{name}: restarted")
        elif a["state"] == "reloaded":
            commands.append(f"systemctl reload-or-restart {unit}" if active else f"systemctl start {unit}")
            lines.append(f"{name}: reloaded")
        return Plan(commands=commands, diff="\n".join(lines))

    def run(self) -> Plan:
        plan = super().run()
        if self.ctx is not None and "systemctl daemon-reload" in plan.commands and not self.ctx.check:
            self.ctx.host_state["units_changed"] = False
        return plan


@register
class Sysctl(Module):
    """A kernel parameter, live (``sysctl -w``) and persisted in a sysctl.d file."""

    name = "sysctl"
    args = {
        "name": Arg(str, required=True),
        "value": Arg((str, int), required=True),
        "state": Arg(str, default="present", choices=("present", "absent")),
        "sysctl_file": Arg(str, default="/etc/sysctl.d/99-labkit.conf"),
        "sysctl_set": Arg(bool, default=True, doc="also set the live value"),
    }

    def probe(self) -> str:
        return (f"echo \"live=$(sysctl -n {quote(self.args['name'])} 2>/dev/null)\"; "
                f"cat {quote(self.args['sysctl_file'])} 2>/dev/null; true")

    def parse(self, stdout: str) -> dict[str, Any]:
        lines = stdout.splitlines()
        return {"live": lines[0].split("=", 1)[1].strip() if lines else "", "file": lines[1:]}

    def plan(self, state: dict[str, Any]) -> Plan:
        a = self.args
        key, value = a["name"], " ".join(str(a["value"]).split())
        entry = f"{key} = {value}"
        others = [line for line in state["file"] if line.split("=")[0].strip() != key]
        present = [line for line in state["file"] if line.split("=")[0].strip() == key]
        commands, lines = [], []
        path = quote(a["sysctl_file"])
        if a["state"] == "absent":
            if present:
                commands.append(f"printf '%s' {quote(''.join(l + chr(10) for l in others))} > {path}")
                lines.append(f"- {present[0]}  ({a['sysctl_file']})")
            return Plan(commands=commands, diff="\n".join(lines))
        if present != [entry]:
            content = "".join(line + "\n" for line in others + [entry])
            commands.append(f"mkdir -p $(dirname {path}) && printf '%s' {quote(content)} > {path}")
            lines.append(f"{a['sysctl_file']}: {present[0] if present else '(none)'} -> {entry}")
        if a["sysctl_set"] and " ".join(state["live"].split()) != value:
            commands.append(f"sysctl -q -w {quote(key + '=' + value)}")
            lines.append(f"live: {key} {state['live'] or '(unset)'} -> {value}")
        return Plan(commands=commands, diff="\n".join(lines))


@register
class Modprobe(Module):
    """A kernel module loaded (or not), and loaded at boot via modules-load.d."""

    name = "modprobe"
    args = {
        "name": Arg(str, required=True),
        "state": Arg(str, default="present", choices=("present", "absent")),
        "persistent": Arg(bool, default=True),
    }

    def probe(self) -> str:
        name = self.args["name"].replace("-", "_")
        conf = quote(f"/etc/modules-load.d/{self.args['name']}.conf")
        return (f"if [ -d /sys/module/{quote(name)} ]; then echo loaded=yes; else echo loaded=no; fi; "
                f"if [ -f {conf} ]; then echo persisted=yes; else echo persisted=no; fi")

    def parse(self, stdout: str) -> dict[str, bool]:
        raw = dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)
        return {"loaded": raw.get("loaded") == "yes", "persisted": raw.get("persisted") == "yes"}

    def plan(self, state: dict[str, bool]) -> Plan:
        name, present = self.args["name"], self.args["state"] == "present"
        conf = quote(f"/etc/modules-load.d/{name}.conf")
        commands, lines = [], []
        if present and not state["loaded"]:
            commands.append(f"modprobe {quote(name)}")
            lines.append(f"{name}: loaded")
        if not present and state["loaded"]:
            commands.append(f"modprobe -r {quote(name)}")
            lines.append(f"{name}: unloaded")
        if self.args["persistent"] and present and not state["persisted"]:
            commands.append(f"mkdir -p /etc/modules-load.d && echo {quote(name)} > {conf}")
            lines.append(f"/etc/modules-load.d/{name}.conf: loaded at boot")
        if not present and state["persisted"]:
            commands.append(f"rm -f {conf}")
            lines.append(f"/etc/modules-load.d/{name}.conf: removed")
        return Plan(commands=commands, diff="\n".join(lines))


@register
class Group(Module):
    """A group present (with an optional gid) or absent."""

    name = "group"
    args = {
        "name": Arg(str, required=True),
        "gid": Arg(int),
        "system": Arg(bool, default=False),
        "state": Arg(str, default="present", choices=("present", "absent")),
    }

    def probe(self) -> str:
        return f"getent group {quote(self.args['name'])} || true"

    def parse(self, stdout: str) -> dict[str, Any] | None:
        line = stdout.strip()
        if not line:
            return None
        name, _, gid, members = (line.split(":") + ["", "", "", ""])[:4]
        return {"name": name, "gid": int(gid), "members": [m for m in members.split(",") if m]}

    def plan(self, current: dict[str, Any] | None) -> Plan:
        a, name = self.args, quote(self.args["name"])
        if a["state"] == "absent":
            return Plan(commands=[f"groupdel {name}"], diff=f"- group {a['name']}") if current else Plan()
        if current is None:
            opts = (" --system" if a["system"] else "") + (f" --gid {a['gid']}" if a["gid"] is not None else "")
            return Plan(commands=[f"groupadd{opts} {name}"], diff=f"+ group {a['name']}")
        if a["gid"] is not None and current["gid"] != a["gid"]:
            return Plan(commands=[f"groupmod --gid {a['gid']} {name}"], diff=f"gid: {current['gid']} -> {a['gid']}")
        return Plan()


@register
class User(Module):
    """A user account present (uid, group, groups, home, shell) or absent."""

    name = "user"
    args = {
        "name": Arg(str, required=True),
        "uid": Arg(int),
        "group": Arg(str, doc="primary group"),
        "groups": Arg(list, doc="supplementary groups (added; append-only)"),
        "home": Arg(str),
        "shell": Arg(str),
        "system": Arg(bool, default=False),
        "create_home": Arg(bool, default=True),
        "state": Arg(str, default="present", choices=("present", "absent")),
    }

    def probe(self) -> str:
        name = quote(self.args["name"])
        return f"if getent passwd {name}; then echo \"groups=$(id -gn {name}) $(id -Gn {name})\"; fi; true"

    def parse(self, stdout: str) -> dict[str, Any] | None:
        lines = stdout.splitlines()
        if not lines or ":" not in lines[0]:
            return None
        name, _, uid, gid, _gecos, home, shell = (lines[0].split(":") + [""] * 7)[:7]
        names = lines[1].split("=", 1)[1].split() if len(lines) > 1 else []
        return {"name": name, "uid": int(uid), "gid": int(gid), "home": home, "shell": shell,
                "group": names[0] if names else "", "groups": names[1:]}

    def plan(self, current: dict[str, Any] | None) -> Plan:
        a, name = self.args, quote(self.args["name"])
        if a["state"] == "absent":
            return Plan(commands=[f"userdel {name}"], diff=f"- user {a['name']}") if current else Plan()
        opts, lines = [], []
        if current is None:
            if a["system"]:
                opts.append("--system")
            opts.append("--create-home" if a["create_home"] else "--no-create-home")
        if a["uid"] is not None and (current is None or current["uid"] != a["uid"]):
            opts.append(f"--uid {a['uid']}")
            lines.append(f"uid: {current['uid'] if current else '-'} -> {a['uid']}")
        if a["group"] and (current is None or current["group"] != a["group"]):
            opts.append(f"--gid {quote(a['group'])}")
            lines.append(f"group: {current['group'] if current else '-'} -> {a['group']}")
        if a["groups"]:
            missing = [g for g in a["groups"] if current is None or g not in current["groups"]]
            if missing:
                opts.append(f"--groups {quote(','.join(missing))}" + (" --append" if current else ""))
                lines.append(f"groups: + {', '.join(missing)}")
        if a["home"] and (current is None or current["home"] != a["home"]):
            opts.append(f"--home{'-dir' if current is None else ''} {quote(a['home'])}")
            lines.append(f"home: {current['home'] if current else '-'} -> {a['home']}")
        if a["shell"] and (current is None or current["shell"] != a["shell"]):
            opts.append(f"--shell {quote(a['shell'])}")
            lines.append(f"shell: {current['shell'] if current else '-'} -> {a['shell']}")
        if current is None:
            return Plan(commands=[f"useradd {' '.join(opts)} {name}".replace("  ", " ")],
                        diff="\n".join([f"+ user {a['name']}"] + lines))
        if not opts:
            return Plan()
        return Plan(commands=[f"usermod {' '.join(opts)} {name}"], diff="\n".join(lines))
