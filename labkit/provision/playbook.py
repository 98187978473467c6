"""Plays, roles and tasks: loaded from YAML and checked before anything runs.

A play file is a list of plays::

    - hosts: masters            # a host pattern (see Inventory.hosts_in)
      roles: [common, etcd]     # or {role: etcd, tags: [...], vars: {...}}
      serial: 1                 # or "30%": rolling batches
      any_errors_fatal: false
      vars: {...}
      tasks: [...]              # optional, after the roles
      handlers: [...]

A role is a folder ``roles/<role>/`` with ``tasks.yaml``, and optionally
``handlers.yaml``, ``defaults.yaml``, ``meta.yaml`` (``dependencies: [role]``),
``templates/`` and ``files/``. Templates are also looked up in the
repository's ``templates/`` folder.

``load_play_file`` + ``validate`` find, before any host is touched: YAML
errors, unknown keywords, unknown modules or arguments, notify of a handler
that does not exist, missing templates or template syntax errors, and
variables that are undefined for some host of the play. Each error names
the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import jinja2.nodes

from labkit.provision.errors import ValidationError, YamlError
from labkit.provision.inventory import Inventory
from labkit.provision.modules import MODULES
from labkit.provision.templating import Renderer, TemplateError
from labkit.provision.yamlfile import YamlList, YamlMap, load_yaml

TASK_KEYWORDS = {
    "name", "when", "loop", "loop_control", "register", "notify", "changed_when", "failed_when", "tags",
    "run_once", "delegate_to", "ignore_errors", "retries", "delay", "until", "environment", "vars",
    "check_mode", "listen",
}
PLAY_KEYWORDS = {"name", "hosts", "roles", "tasks", "handlers", "vars", "serial", "any_errors_fatal", "gather_facts", "tags"}
ROLE_ENTRY_KEYWORDS = {"role", "tags", "vars"}
META_KEYWORDS = {"dependencies"}
META_ACTIONS = {"flush_handlers"}

# names every task can use without defining them
MAGIC_VARS = {
    "facts", "lab", "inventory_hostname", "inventory_dir", "groups", "group_names", "hostvars",
    "play_hosts", "check_mode", "inventory_address", "ansible_check_mode", "role_path", "role_name", "omit",
}


@dataclass
class Task:
    name: str
    module: str
    args: Any
    file: str
    line: int
    keywords: dict[str, Any] = field(default_factory=dict)
    role: "Role | None" = None
    tags: list[str] = field(default_factory=list)
    is_handler: bool = False

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def get(self, keyword: str, default: Any = None) -> Any:
        return self.keywords.get(keyword, default)

    def line_of(self, key: str) -> int:
        node = self.keywords.get("__node__")
        return node.line_of(key) if isinstance(node, YamlMap) else self.line


@dataclass
class Role:
    name: str
    path: Path
    tasks: list[Task] = field(default_factory=list)
    handlers: list[Task] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)
    dependencies: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class Play:
    name: str
    hosts: str
    roles: list[Role]
    tasks: list[Task]
    handlers: list[Task]
    vars: dict[str, Any]
    serial: int | str | None
    any_errors_fatal: bool
    gather_facts: bool
    file: str
    line: int
    project_dir: Path

    def sections(self) -> list[tuple[Role | None, list[Task]]]:
        """The task lists in run order: each role's, then the play's own tasks."""
        out: list[tuple[Role | None, list[Task]]] = [(role, role.tasks) for role in self.roles]
        if self.tasks:
            out.append((None, self.tasks))
        return out

    def defaults(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for role in self.roles:
            merged.update(role.defaults)
        return merged


def _err(message: str, node: Any, key: Any = None) -> ValidationError:
    if isinstance(node, (YamlMap, YamlList)):
        return ValidationError(message, node.file, node.line_of(key) if key is not None else node.line)
    return ValidationError(message)


def _load(path: Path) -> Any:
    try:
        return load_yaml(path)
    except YamlError as exc:
        raise ValidationError(exc.message, exc.file, exc.line) from None


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def parse_task(node: Any, file: str, line: int, role: Role | None, is_handler: bool = False) -> Task:
    if not isinstance(node, YamlMap):
        raise ValidationError("a task must be a mapping (name, a module and its arguments, keywords)", file, line)
    modules = [k for k in node if k not in TASK_KEYWORDS]
    if "meta" in modules:
        if node["meta"] not in META_ACTIONS:
            raise _err(f"meta: {node['meta']!r} is not one of {', '.join(META_ACTIONS)}", node, "meta")
    unknown = [k for k in modules if k not in MODULES and k != "meta"]
    if unknown:
        close = sorted(k for k in list(MODULES) + sorted(TASK_KEYWORDS) if k[:3] == str(unknown[0])[:3])
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise _err(f"unknown module or keyword {unknown[0]!r}{hint}", node, unknown[0])
    if len(modules) != 1:
        what = "no module" if not modules else f"several modules ({', '.join(modules)})"
        raise _err(f"a task needs exactly one module, found {what}", node)
    module = modules[0]
    args = node[module]
    if module != "meta":
        try:
            args = MODULES[module].check_args(args)
        except ValueError as exc:
            key = getattr(exc, "key", None)
            if key is not None and isinstance(args, YamlMap):
                raise _err(str(exc), args, key) from None
            raise _err(str(exc), node, module) from None
    keywords = {k: node[k] for k in node if k in TASK_KEYWORDS}
    keywords["__node__"] = node
    tags = [str(t) for t in _as_list(node.get("tags"))]
    name = str(node.get("name") or _default_name(module, args))
    if "notify" in keywords:
        keywords["notify"] = [str(n) for n in _as_list(keywords["notify"])]
    if "retries" in keywords and (isinstance(keywords["retries"], bool) or not isinstance(keywords["retries"], int)):
        raise _err("retries must be a whole number", node, "retries")
    if "delay" in keywords and (isinstance(keywords["delay"], bool) or not isinstance(keywords["delay"], (int, float))):
        raise _err("delay must be a number of seconds", node, "delay")
    if "until" in keywords and "retries" not in keywords:
        keywords["retries"] = 3
    return Task(name=name, module=module, args=args, file=file, line=node.line, keywords=keywords,
                role=role, tags=tags, is_handler=is_handler)


def _default_name(module: str, args: Any) -> str:
    if isinstance(args, dict):
        first = next(iter(args.values()), "") if args else ""
        text = f"{module} {first}"
    else:
        text = f"{module} {args}"
    return text if len(text) <= 60 else text[:57] + "..."


def parse_tasks(path: Path, role: Role | None, is_handler: bool = False, required: bool = False) -> list[Task]:
    if not path.exists():
        if required:
            raise ValidationError(f"role {role.name if role else ''}: {path.name} is missing", path)
        return []
    doc = _load(path)
    if doc is None:
        return []
    if not isinstance(doc, YamlList):
        raise ValidationError("a task file must be a list of tasks", path, getattr(doc, "line", 1))
    return [parse_task(item, str(path), doc.line_of(i), role, is_handler) for i, item in enumerate(doc)]


def find_roles_dir(play_path: Path) -> Path:
    """Roles live next to the play (``roles/site.yaml``) or in ``roles/`` beside it."""
    here = play_path.parent
    if (here / "roles").is_dir():
        return here / "roles"
    return here


def load_role(name: str, roles_dir: Path, file: str, line: int) -> Role:
    path = roles_dir / name
    if not path.is_dir():
        known = sorted(p.name for p in roles_dir.iterdir() if p.is_dir() and (p / "tasks.yaml").exists()) if roles_dir.is_dir() else []
        raise ValidationError(f"role {name!r} not found in {roles_dir} (roles: {', '.join(known) or 'none'})", file, line)
    role = Role(name=name, path=path)
    defaults = _load(path / "defaults.yaml") if (path / "defaults.yaml").exists() else None
    if defaults is not None and not isinstance(defaults, dict):
        raise ValidationError("defaults.yaml must be a mapping of variables", path / "defaults.yaml", 1)
    role.defaults = dict(defaults or {})
    meta = _load(path / "meta.yaml") if (path / "meta.yaml").exists() else None
    if meta:
        if not isinstance(meta, YamlMap):
            raise ValidationError("meta.yaml must be a mapping", path / "meta.yaml", 1)
        for key in meta:
            if key not in META_KEYWORDS:
                raise _err(f"unknown key {key!r} in meta.yaml (allowed: {', '.join(META_KEYWORDS)})", meta, key)
        role.dependencies = [str(d) for d in _as_list(meta.get("dependencies"))]
    role.tasks = parse_tasks(path / "tasks.yaml", role, required=True)
    role.handlers = parse_tasks(path / "handlers.yaml", role, is_handler=True)
    return role


def load_play_file(path: str | Path) -> list[Play]:
    path = Path(path)
    doc = _load(path)
    if not isinstance(doc, YamlList) or not doc:
        raise ValidationError("a play file must be a list of plays (hosts, roles, ...)", path, getattr(doc, "line", 1))
    roles_dir = find_roles_dir(path)
    project_dir = roles_dir.parent if roles_dir.name == "roles" else path.parent
    plays = []
    for index, node in enumerate(doc):
        if not isinstance(node, YamlMap):
            raise ValidationError("a play must be a mapping", path, doc.line_of(index))
        for key in node:
            if key not in PLAY_KEYWORDS:
                raise _err(f"unknown play keyword {key!r} (allowed: {', '.join(sorted(PLAY_KEYWORDS))})", node, key)
        if "hosts" not in node:
            raise _err("a play needs hosts: (a group or host pattern)", node)
        roles: list[Role] = []
        loaded: set[str] = set()

        def add_role(name: str, entry_tags: list[str], entry_vars: dict, line: int, chain: list[str]) -> None:
            if name in chain:
                raise ValidationError(f"role dependency cycle: {' -> '.join(chain + [name])}", path, line)
            if name in loaded:
                return
            role = load_role(name, roles_dir, str(path), line)
            for dep in role.dependencies:
                add_role(dep, entry_tags, {}, line, chain + [name])
            role.tags, role.vars = entry_tags, entry_vars
            loaded.add(name)
            roles.append(role)

        role_list = node.get("roles") or []
        if not isinstance(role_list, list):
            raise _err("roles: must be a list", node, "roles")
        for i, entry in enumerate(role_list):
            line = role_list.line_of(i) if isinstance(role_list, YamlList) else node.line
            if isinstance(entry, str):
                add_role(entry, [], {}, line, [])
            elif isinstance(entry, YamlMap) and "role" in entry:
                for key in entry:
                    if key not in ROLE_ENTRY_KEYWORDS:
                        raise _err(f"unknown key {key!r} in a role entry (allowed: {', '.join(sorted(ROLE_ENTRY_KEYWORDS))})", entry, key)
                add_role(str(entry["role"]), [str(t) for t in _as_list(entry.get("tags"))], dict(entry.get("vars") or {}), line, [])
            else:
                raise ValidationError("a role entry is a name or {role: NAME, tags: [...], vars: {...}}", path, line)
        tasks = _inline_tasks(node, "tasks", path)
        handlers = [h for role in roles for h in role.handlers] + _inline_tasks(node, "handlers", path, True)
        serial = node.get("serial")
        if serial is not None and not (isinstance(serial, int) and serial > 0) and not (
                isinstance(serial, str) and serial.endswith("%") and serial[:-1].isdigit() and 0 < int(serial[:-1]) <= 100):
            raise _err(f"serial must be a positive number or a percentage like '30%', not {serial!r}", node, "serial")
        play = Play(
            name=str(node.get("name") or node["hosts"]), hosts=str(node["hosts"]) if not isinstance(node["hosts"], list) else ":".join(node["hosts"]),
            roles=roles, tasks=tasks, handlers=handlers, vars=dict(node.get("vars") or {}), serial=serial,
            any_errors_fatal=bool(node.get("any_errors_fatal", False)), gather_facts=bool(node.get("gather_facts", True)),
            file=str(path), line=node.line, project_dir=project_dir,
        )
        play_tags = [str(t) for t in _as_list(node.get("tags"))]
        for role in roles:
            role.tags = role.tags + play_tags
        for task in tasks:
            task.tags = task.tags + play_tags
        plays.append(play)
    return plays


def _inline_tasks(node: YamlMap, key: str, path: Path, is_handler: bool = False) -> list[Task]:
    items = node.get(key) or []
    if not isinstance(items, list):
        raise _err(f"{key}: must be a list", node, key)
    return [parse_task(item, str(path), items.line_of(i) if isinstance(items, YamlList) else node.line, None, is_handler)
            for i, item in enumerate(items)]


# -- checks before running ----------------------------------------------------

def template_dirs(play: Play, role: Role | None) -> list[Path]:
    dirs = []
    if role is not None and (role.path / "templates").is_dir():
        dirs.append(role.path / "templates")
    dirs.append(play.project_dir / "templates")
    return dirs


def _guarded_names(ast: jinja2.nodes.Template) -> set[str]:
    """Names used as ``x is defined`` or ``x | default(...)``: optional by intent."""
    guarded = set()
    for node in ast.find_all((jinja2.nodes.Test, jinja2.nodes.Filter)):
        optional = (isinstance(node, jinja2.nodes.Test) and node.name in ("defined", "undefined")) or (
            isinstance(node, jinja2.nodes.Filter) and node.name in ("default", "d"))
        if optional and node.node is not None:
            for name in node.node.find_all(jinja2.nodes.Name):
                guarded.add(name.name)
            if isinstance(node.node, jinja2.nodes.Name):
                guarded.add(node.node.name)
    return guarded


def used_variables(renderer: Renderer, source: str, expression: bool = False) -> list[tuple[str, int]]:
    text = "{{ " + source + " }}" if expression else source
    ast = renderer.env.parse(text)
    guarded = _guarded_names(ast)
    return [(n, line) for n, line in renderer.undeclared(text) if n not in guarded]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def validate(plays: list[Play], inventory: Inventory) -> None:
    """Everything that can be known before running; raises ValidationError (file:line)."""
    for play in plays:
        try:
            hosts = inventory.hosts_in(play.hosts)
        except Exception as exc:
            raise ValidationError(str(getattr(exc, "message", exc)), play.file, play.line) from None
        handler_names = {h.name for h in play.handlers} | {str(n) for h in play.handlers for n in _as_list(h.get("listen"))}
        registers = {str(t.get("register")) for _, tasks in play.sections() for t in tasks if t.get("register")}
        registers |= {str(t.get("register")) for t in play.handlers if t.get("register")}
        set_facts = {str(k) for _, tasks in play.sections() for t in tasks if t.module == "set_fact" for k in t.args}
        base = MAGIC_VARS | registers | set_facts | set(play.vars) | set(play.defaults())
        for role, tasks in play.sections() + [(h.role, [h]) for h in play.handlers]:
            renderer = Renderer(template_dirs(play, role))
            globals_ = set(renderer.env.globals)
            for task in tasks:
                for name in task.get("notify") or []:
                    if name not in handler_names:
                        raise ValidationError(
                            f"task {task.name!r} notifies handler {name!r}, which does not exist "
                            f"(handlers: {', '.join(sorted(handler_names)) or 'none'})", task.file, task.line_of("notify"))
                if task.module == "meta":
                    continue
                _check_static_arguments(task)
                loop_var = (task.get("loop_control") or {}).get("loop_var", "item") if task.get("loop") is not None else None
                known = base | globals_ | set(task.get("vars") or {}) | ({loop_var} if loop_var else set()) | (set(role.vars) if role else set())
                uses: list[tuple[str, str, int]] = []  # (name, file, line)
                for text in _strings(task.args) + _strings(task.get("environment")) + _strings(task.get("loop")) + _strings(task.get("vars")):
                    for name, _ in _parse_or_fail(renderer, text, False, task):
                        uses.append((name, task.file, task.line_of(task.module)))
                for keyword in ("when", "changed_when", "failed_when", "until"):
                    for text in _strings(task.get(keyword)):
                        for name, _ in _parse_or_fail(renderer, text.strip().removeprefix("{{").removesuffix("}}"), True, task):
                            uses.append((name, task.file, task.line_of(keyword)))
                if task.module == "template" and isinstance(task.args.get("src"), str) and "{{" not in task.args["src"]:
                    try:
                        path = renderer.find_template(task.args["src"])
                        source = path.read_text()
                        renderer.load_template(task.args["src"])
                    except TemplateError as exc:
                        raise ValidationError(f"task {task.name!r}: {exc.message}", exc.file or task.file,
                                              exc.line if exc.file else task.line_of("template")) from None
                    for name, line in used_variables(renderer, source):
                        uses.append((name, str(path), line))
                if task.module == "copy" and isinstance(task.args.get("src"), str) and "{{" not in task.args["src"]:
                    if _find_file(play, role, task.args["src"]) is None:
                        raise ValidationError(f"task {task.name!r}: file {task.args['src']!r} not found in the role's files/, {play.project_dir}/files or {play.project_dir}",
                                              task.file, task.line_of("copy"))
                for name, file, line in uses:
                    if name in known:
                        continue
                    missing = [h.name for h in hosts if name not in h.vars]
                    if missing:
                        raise ValidationError(
                            f"undefined variable {name!r} (task {task.name!r} at {task.where}) for host(s) {', '.join(missing)}",
                            file, line)


def _check_static_arguments(task: Task) -> None:
    """Types and choices of the arguments that hold no template: known now, not on the hosts."""
    if not isinstance(task.args, dict):
        return
    static = {k: v for k, v in task.args.items() if not any("{{" in t or "{%" in t for t in _strings(v))}
    try:
        MODULES[task.module].finish_args(static)
    except ValueError as exc:
        key = next((k for k in static if repr(k) in str(exc)), None)
        line = task.args.line_of(key) if key is not None and isinstance(task.args, YamlMap) else task.line_of(task.module)
        raise ValidationError(f"task {task.name!r}: {exc}", task.file, line) from None


def _parse_or_fail(renderer: Renderer, text: str, expression: bool, task: Task) -> list[tuple[str, int]]:
    try:
        return used_variables(renderer, text, expression)
    except jinja2.TemplateSyntaxError as exc:
        raise ValidationError(f"task {task.name!r}: template syntax error in {text!r}: {exc.message}", task.file, task.line) from None


def _find_file(play: Play, role: Role | None, src: str) -> Path | None:
    candidates = []
    if Path(src).is_absolute():
        candidates.append(Path(src))
    else:
        if role is not None:
            candidates.append(role.path / "files" / src)
        candidates += [play.project_dir / "files" / src, play.project_dir / src]
    return next((c for c in candidates if c.is_file()), None)


find_file = _find_file
