"""Software on the host: apt (Debian packages) and pip (a venv from a local wheelhouse)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from labkit.provision.modules.base import Arg, Module, ModuleFailure, Plan, quote, register

# apt's own stamp of the last successful `apt-get update`
APT_STAMP = "/var/lib/apt/periodic/update-success-stamp"
APT_LISTS = "/var/lib/apt/lists"


@register
class Apt(Module):
    """Debian packages present, absent or at the latest version.

    The cache is refreshed (``apt-get update``) only when ``update_cache`` is
    set and it is older than ``cache_valid_time`` seconds (apt's
    update-success stamp, which the module writes after each refresh), and
    once more when a package to install is unknown to a cache that was not
    refreshed (a source added since). ``proxy`` (e.g. apt-cacher-ng on the lab's host)
    is passed as ``-o Acquire::http::Proxy=...``. Refreshing the cache alone
    is not a change of the host's state and does not count as one; with
    ``state: latest`` the versions are compared again after a refresh, since
    the fresh cache may know newer ones.
    """

    name = "apt"
    free_form = "name"
    args = {
        "name": Arg((list, str), required=True),
        "state": Arg(str, default="present", choices=("present", "absent", "latest")),
        "update_cache": Arg(bool, default=False),
        "cache_valid_time": Arg(int, default=3600),
        "proxy": Arg(str),
        "install_recommends": Arg(bool, default=False),
    }

    def packages(self) -> list[str]:
        names = self.args["name"]
        return [names] if isinstance(names, str) else [str(n) for n in names]

    def probe(self) -> str:
        names = " ".join(quote(n.split("=")[0]) for n in self.packages())
        latest = ""
        if self.args["state"] == "latest":
            latest = f"; echo '--candidates'; apt-cache policy {names} 2>/dev/null | awk '/^[^ ]/ {{p=$1}} /Candidate:/ {{print p, $2}}'"
        return (f"dpkg-query -W -f='${{Package}}|${{db:Status-Status}}|${{Version}}\\n' {names} 2>/dev/null; "
                f"echo \"--stamp $(stat -c %Y {APT_STAMP} 2>/dev/null || stat -c %Y {APT_LISTS} 2>/dev/null || echo 0) $(date +%s)\""
                f"{latest}")

    def parse(self, stdout: str) -> dict[str, Any]:
        installed: dict[str, str] = {}
        candidates: dict[str, str] = {}
        age = 0
        section = "installed"
        for line in stdout.splitlines():
            if line.startswith("--stamp"):
                _, stamp, now = line.split()
                age = int(now) - int(stamp)
            elif line.startswith("--candidates"):
                section = "candidates"
            elif section == "installed" and "|" in line:
                name, status, version = line.split("|", 2)
                if status == "installed":
                    installed[name] = version
            elif section == "candidates" and line.strip():
                name, version = line.split()
                candidates[name.rstrip(":")] = version
        return {"installed": installed, "candidates": candidates, "cache_age": age}

    def plan(self, state: dict[str, Any]) -> Plan:
        a = self.args
        installed, wanted = state["installed"], self.packages()
        opts = "-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
        if a["proxy"]:
            opts += f" -o Acquire::http::Proxy={quote(a['proxy'])}"
        if not a["install_recommends"]:
            opts += " --no-install-recommends"
        env = "DEBIAN_FRONTEND=noninteractive"
        if a["state"] == "absent":
            remove = [n for n in wanted if n in installed]
            if not remove:
                return Plan()
            return Plan(commands=[f"{env} apt-get remove {opts} {' '.join(map(quote, remove))}"],
                        diff="\n".join(f"- {n} {installed[n]}" for n in remove))
        missing = []
        for spec in wanted:
            name, _, version = spec.partition("=")
            if name not in installed or (version and installed[name] != version):
                missing.append(spec)
            elif a["state"] == "latest" and state["candidates"].get(name, installed[name]) != installed[name]:
                missing.append(name)
        stale = a["update_cache"] and state["cache_age"] > a["cache_valid_time"]
        update = self.update_command()
        commands = []
        if missing and stale:
            commands.append(update)
        elif stale:
            # a refresh is due but nothing changes on the host: do it, report ok
            return Plan(commands=[update], changed=False, msg="cache refreshed")
        if not missing:
            return Plan()
        commands.append(f"{env} apt-get install {opts} {' '.join(map(quote, missing))}")
        return Plan(commands=commands, diff="\n".join(
            f"+ {n}" + (f" (was {installed[n.split('=')[0]]})" if n.split('=')[0] in installed else "") for n in missing))

    def apply(self, plan: Plan) -> None:
        try:
            super().apply(plan)
        except ModuleFailure as failure:
            # a package the (fresh enough) cache does not know yet, e.g. after a new source was
            # added: with update_cache, refresh once and try again rather than fail
            refreshed = any(c.startswith("apt-get update") for c in plan.commands)
            if not (self.args["update_cache"] and not refreshed and "Unable to locate package" in failure.stderr):
                raise
            super().apply(Plan(commands=[self.update_command()] + plan.commands))

    def update_command(self) -> str:
        # apt's own stamp is only written where a hook asks for it (not on a minimal Debian): write it
        proxy = self.args["proxy"]
        return ("apt-get update -q" + (f" -o Acquire::http::Proxy={quote(proxy)}" if proxy else "")
                + f" && mkdir -p {APT_STAMP.rsplit('/', 1)[0]} && touch {APT_STAMP}")

    def run(self) -> Plan:
        plan = super().run()
        if plan.changed is False and plan.commands and self.ctx is not None and not self.ctx.check:
            self.apply(plan)  # the cache refresh: real, but not a change
            if self.args["state"] == "latest":
                return super().run()  # the refreshed cache may offer newer versions
        return plan


_REQ = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==\s*([^\s;]+))?$")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@register
class Pip(Module):
    """Python packages in a virtualenv, installed offline from a local wheelhouse.

    Creates the venv when missing (``python3 -m venv``) and installs with
    ``pip install --no-index --find-links WHEELHOUSE``: lab nodes have no
    Internet. Installed versions are read in one command from the venv's
    own metadata.
    """

    name = "pip"
    free_form = "name"
    args = {
        "name": Arg((list, str), required=True, doc="names, optionally name==version"),
        "virtualenv": Arg(str, required=True),
        "wheelhouse": Arg(str, doc="directory of wheels on the host; without it pip uses its index"),
        "state": Arg(str, default="present", choices=("present", "absent")),
        "virtualenv_python": Arg(str, default="python3"),
    }

    def requirements(self) -> list[tuple[str, str | None]]:
        names = self.args["name"]
        out = []
        for spec in ([names] if isinstance(names, str) else names):
            match = _REQ.match(str(spec).strip())
            if not match:
                raise ModuleFailure(f"pip: {spec!r} is not a requirement of the form name or name==version")
            out.append((match.group(1), match.group(2)))
        return out

    def probe(self) -> str:
        py = quote(self.args["virtualenv"].rstrip("/") + "/bin/python")
        script = ("import importlib.metadata as m, json; "
                  "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))")
        return f"if [ -x {py} ]; then {py} -c {quote(script)}; else echo none; fi"

    def parse(self, stdout: str) -> dict[str, Any] | None:
        text = stdout.strip()
        if text == "none":
            return None
        return {_canonical(k): v for k, v in json.loads(text).items()}

    def plan(self, installed: dict[str, str] | None) -> Plan:
        a = self.args
        venv = a["virtualenv"].rstrip("/")
        pip = f"{quote(venv + '/bin/python')} -m pip --disable-pip-version-check -q"
        reqs = self.requirements()
        commands, lines = [], []
        if a["state"] == "absent":
            remove = [n for n, _ in reqs if installed and _canonical(n) in installed]
            if remove:
                commands.append(f"{pip} uninstall -y {' '.join(map(quote, remove))}")
                lines = [f"- {n}" for n in remove]
            return Plan(commands=commands, diff="\n".join(lines))
        if installed is None:
            commands.append(f"{quote(a['virtualenv_python'])} -m venv {quote(venv)}")
            lines.append(f"+ venv {venv}")
            installed = {}
        todo = []
        for name, version in reqs:
            have = installed.get(_canonical(name))
            if have is None or (version and have != version):
                todo.append(f"{name}=={version}" if version else name)
                lines.append(f"+ {name} {version or ''}".rstrip() + (f" (was {have})" if have else ""))
        if todo:
            source = f" --no-index --find-links {quote(a['wheelhouse'])}" if a["wheelhouse"] else ""
            commands.append(f"{pip} install{source} {' '.join(map(quote, todo))}")
        return Plan(commands=commands, diff="\n".join(lines))

