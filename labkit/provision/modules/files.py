"""Files on the host: file, copy, template, lineinfile, blockinfile."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from labkit.provision.modules.base import (
    Arg, Module, ModuleFailure, Plan, Upload, attribute_commands, normalize_mode, parse_stat, quote,
    register, stat_command, text_diff,
)

SYSTEMD_UNIT_DIRS = ("/etc/systemd/system/", "/lib/systemd/system/", "/usr/lib/systemd/system/")


def _mode_arg(module: Module) -> str | None:
    try:
        return normalize_mode(module.args.get("mode"))
    except ValueError as exc:
        raise ModuleFailure(str(exc)) from None


@register
class File(Module):
    """A directory, file, symlink or nothing at ``path``, with mode and owner."""

    name = "file"
    args = {
        "path": Arg(str, required=True),
        "state": Arg(str, default="file", choices=("file", "directory", "link", "absent", "touch")),
        "src": Arg(str, doc="link target (state=link)"),
        "mode": Arg((str, int)),
        "owner": Arg(str),
        "group": Arg(str),
    }

    def probe(self) -> str:
        path = quote(self.args["path"])
        return stat_command(self.args["path"]) + f"; readlink {path} || true"

    def parse(self, stdout: str) -> dict[str, Any]:
        lines = stdout.splitlines() + ["", ""]
        return {"stat": parse_stat(lines[0]), "link_target": lines[1].strip()}

    def plan(self, state: dict[str, Any]) -> Plan:
        a, path = self.args, self.args["path"]
        current, mode = state["stat"], _mode_arg(self)
        changes: list[str] = []
        commands: list[str] = []
        wanted = a["state"]
        if wanted == "absent":
            if current is not None:
                return Plan(commands=[f"rm -rf {quote(path)}"], diff=f"{path}: {current['kind']} -> absent")
            return Plan()
        if wanted == "link":
            if not a["src"]:
                raise ModuleFailure("state=link needs src (the link target)")
            if current is None or current["kind"] != "link" or state["link_target"] != a["src"]:
                before = f"link to {state['link_target']}" if current and current["kind"] == "link" else (current or {}).get("kind", "absent")
                commands.append(f"ln -sfn {quote(a['src'])} {quote(path)}")
                changes.append(f"{path}: {before} -> link to {a['src']}")
            owner_cmds = [c.replace("chown ", "chown -h ", 1).replace("chgrp ", "chgrp -h ", 1)
                          for c in attribute_commands(path, current if current and current["kind"] == "link" else None,
                                                      None, a["owner"], a["group"], changes)]
            return Plan(commands=commands + owner_cmds, diff="\n".join(changes))
        if wanted == "directory":
            if current is None:
                commands.append(f"mkdir -p {quote(path)}")
                changes.append(f"{path}: absent -> directory")
            elif current["kind"] != "directory":
                raise ModuleFailure(f"{path} exists and is a {current['kind']}, not a directory")
        elif wanted == "touch":
            commands.append(f"touch {quote(path)}")
            changes.append(f"{path}: touched")
        else:  # file: must exist already (copy/template create files)
            if current is None:
                raise ModuleFailure(f"{path} does not exist (use state=touch to create an empty file, or copy/template)")
            if current["kind"] != "file":
                raise ModuleFailure(f"{path} is a {current['kind']}, not a file")
        commands += attribute_commands(path, current, mode, a["owner"], a["group"], changes)
        return Plan(commands=commands, diff="\n".join(changes))


class _Content(Module):
    """Shared by copy and template: the wanted bytes of ``dest``, sent only on change."""

    args = {
        "dest": Arg(str, required=True),
        "mode": Arg((str, int)),
        "owner": Arg(str),
        "group": Arg(str),
    }

    def wanted(self) -> bytes:
        raise NotImplementedError

    def probe(self) -> str:
        self._data = self.wanted()
        digest = hashlib.sha256(self._data).hexdigest()
        dest = quote(self.args["dest"])
        show = self.ctx is not None and self.ctx.diff
        # one round trip: stat, checksum, and the old content only when it differs and a diff is wanted
        old = f'[ "$sum" != {digest} ] && [ -f {dest} ] && base64 {dest}' if show else "true"
        return (f"{stat_command(self.args['dest'])}; "
                f"if [ -f {dest} ]; then sum=$(sha256sum {dest} | cut -d' ' -f1); else sum=none; fi; echo $sum; "
                f"{old} || true")

    def parse(self, stdout: str) -> dict[str, Any]:
        lines = stdout.splitlines()
        old = "".join(lines[2:])
        return {"stat": parse_stat(lines[0]), "sha256": lines[1].strip() if len(lines) > 1 else "none",
                "old": base64.b64decode(old).decode("utf-8", errors="replace") if old else None}

    def plan(self, state: dict[str, Any]) -> Plan:
        a, dest = self.args, self.args["dest"]
        data = getattr(self, "_data", None)
        if data is None:
            data = self._data = self.wanted()
        current, mode = state["stat"], _mode_arg(self)
        if current is not None and current["kind"] not in ("file",):
            raise ModuleFailure(f"{dest} is a {current['kind']}, not a file")
        changes: list[str] = []
        commands: list[str] = []
        upload, diff = None, ""
        if hashlib.sha256(data).hexdigest() == state["sha256"]:
            commands = attribute_commands(dest, current, mode, a["owner"], a["group"], changes)
        else:
            # the new file replaces the old one by rename: carry mode, owner and group over
            upload = Upload(dest, data, mode or (current["mode"] if current else "0644"))
            if current is None:
                diff = text_diff("", data.decode("utf-8", errors="replace"), dest)
            elif state.get("old") is not None:
                diff = text_diff(state["old"], data.decode("utf-8", errors="replace"), dest)
            else:
                changes.append(f"{dest}: content changed (sha256 {state['sha256'][:12]} -> {hashlib.sha256(data).hexdigest()[:12]})")
            if current is not None and mode and current["mode"] != mode:
                changes.append(f"mode: {current['mode']} -> {mode}")
            owner = a["owner"] or (current["owner"] if current else None)
            group = a["group"] or (current["group"] if current else None)
            if owner or group:
                commands.append(f"chown {quote(owner or '')}{':' + quote(group) if group else ''} {quote(dest)}")
        result = {"dest": dest, "checksum": hashlib.sha256(data).hexdigest()}
        if self.is_unit(dest) and (upload or commands):
            result["unit_changed"] = True
        text = "\n".join(x for x in (diff, "\n".join(changes)) if x)
        return Plan(commands=commands, upload=upload, diff=text, result=result)

    @staticmethod
    def is_unit(path: str) -> bool:
        return any(d in path for d in SYSTEMD_UNIT_DIRS)


@register
class Copy(_Content):
    """``dest`` holds ``content`` (or the bytes of local file ``src``)."""

    name = "copy"
    args = {**_Content.args, "content": Arg(str), "src": Arg(str, doc="a file of the role's files/ or the repository")}

    def wanted(self) -> bytes:
        if self.args.get("content") is not None:
            return str(self.args["content"]).encode()
        if not self.args.get("src"):
            raise ModuleFailure("copy needs content or src")
        assert self.ctx is not None
        return self.ctx.find_file(self.args["src"]).read_bytes()


@register
class Template(_Content):
    """``dest`` holds the Jinja2 template ``src`` rendered with the host's variables."""

    name = "template"
    args = {**_Content.args, "src": Arg(str, required=True)}

    def wanted(self) -> bytes:
        assert self.ctx is not None
        return self.ctx.render_template(self.args["src"]).encode()


def _read_file_probe(path: str) -> str:
    p = quote(path)
    return f"{stat_command(path)}; if [ -f {p} ]; then base64 {p}; fi"


def _parse_file(stdout: str) -> dict[str, Any]:
    lines = stdout.splitlines()
    body = "".join(lines[1:])
    return {"stat": parse_stat(lines[0]), "text": base64.b64decode(body).decode() if body else ""}


class _EditText(Module):
    """Shared by lineinfile and blockinfile: read the file in one command, edit in Python."""

    def probe(self) -> str:
        return _read_file_probe(self.args["path"])

    def parse(self, stdout: str) -> dict[str, Any]:
        return _parse_file(stdout)

    def edit(self, text: str) -> str:
        raise NotImplementedError

    def plan(self, state: dict[str, Any]) -> Plan:
        path, current = self.args["path"], state["stat"]
        if current is None and not self.args.get("create"):
            if self.args.get("state") == "absent":
                return Plan()
            raise ModuleFailure(f"{path} does not exist (create: true makes it)")
        before = state["text"]
        after = self.edit(before)
        mode = _mode_arg(self)
        if after == before and current is not None:
            changes: list[str] = []
            commands = attribute_commands(path, current, mode, None, None, changes)
            return Plan(commands=commands, diff="\n".join(changes))
        upload = Upload(path, after.encode(), mode or (current["mode"] if current else "0644"))
        commands = [f"chown {quote(current['owner'])}:{quote(current['group'])} {quote(path)}"] if current else []
        return Plan(commands=commands, upload=upload, diff=text_diff(before, after, path))


@register
class LineInFile(_EditText):
    """One line present (replacing what ``regexp`` matches) or absent."""

    name = "lineinfile"
    args = {
        "path": Arg(str, required=True),
        "line": Arg(str),
        "regexp": Arg(str),
        "state": Arg(str, default="present", choices=("present", "absent")),
        "insertafter": Arg(str, default="EOF", doc="EOF or a regexp; the line goes after its last match"),
        "create": Arg(bool, default=False),
        "mode": Arg((str, int)),
    }

    def edit(self, text: str) -> str:
        a = self.args
        lines = text.splitlines()
        pattern = re.compile(a["regexp"]) if a["regexp"] else None

        def matches(line: str) -> bool:
            return bool(pattern.search(line)) if pattern else line == a["line"]

        if a["state"] == "absent":
            kept = [line for line in lines if not matches(line)]
            return "\n".join(kept) + ("\n" if kept else "") if kept != lines else text
        if a["line"] is None:
            raise ModuleFailure("lineinfile state=present needs line")
        found = [i for i, line in enumerate(lines) if matches(line)]
        if found:
            i = found[-1]
            if lines[i] == a["line"]:
                return text
            lines[i] = a["line"]
        elif a["line"] in lines:
            return text
        else:
            where = len(lines)
            if a["insertafter"] != "EOF":
                after = [i for i, line in enumerate(lines) if re.search(a["insertafter"], line)]
                if after:
                    where = after[-1] + 1
            lines.insert(where, a["line"])
        return "\n".join(lines) + "\n"


@register
class BlockInFile(_EditText):
    """A block of lines between marker comments, present or absent."""

    name = "blockinfile"
    args = {
        "path": Arg(str, required=True),
        "block": Arg(str, default=""),
        "marker": Arg(str, default="# {mark} LABKIT MANAGED BLOCK"),
        "state": Arg(str, default="present", choices=("present", "absent")),
        "create": Arg(bool, default=False),
        "mode": Arg((str, int)),
    }

    def edit(self, text: str) -> str:
        a = self.args
        begin, end = a["marker"].replace("{mark}", "BEGIN"), a["marker"].replace("{mark}", "END")
        lines = text.splitlines()
        block = [begin] + a["block"].rstrip("\n").splitlines() + [end] if a["state"] == "present" else []
        if begin in lines and end in lines[lines.index(begin):]:
            start = lines.index(begin)
            stop = lines.index(end, start)
            lines[start:stop + 1] = block
        elif block:
            lines += block
        else:
            return text
        return "\n".join(lines) + ("\n" if lines else "")
