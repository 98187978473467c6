"""The project's one Jinja2 renderer: templates, task arguments and conditions.

Everything labkit renders (files under ``templates/``, ``{{ }}`` in task
arguments, ``when:``/``until:`` conditions, kubeconfigs or units written by
other parts of the project) goes through here, with ``StrictUndefined``: a
missing variable is an error, never an empty string.

Variables are resolved lazily: a variable whose value itself holds ``{{ }}``
is rendered when it is used, against the same variables (like Ansible).
A string that is exactly one expression (``"{{ ports }}"``) keeps its type.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterator

import jinja2
import jinja2.meta
import jinja2.nodes
import yaml

from labkit.provision.errors import ValidationError

_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.S)
_MAX_DEPTH = 20


class TemplateError(ValidationError):
    """A template that does not parse or render (undefined variable, bad filter)."""


def _to_yaml(value: Any) -> str:
    return yaml.safe_dump(_plain(value), default_flow_style=False, sort_keys=False)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _b64encode(value: str | bytes) -> str:
    import base64
    return base64.b64encode(value.encode() if isinstance(value, str) else value).decode()


def _bool(value: Any) -> bool:
    """The ``bool`` filter (as Ansible's): only yes/true/1/on are true."""
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "true", "1", "on")
    return bool(value)


def _truth(value: Any) -> bool:
    """A condition's result: a string that spells a boolean is that boolean
    (``"false"`` from an inventory is false); any other string is true when
    it is not empty (``when: lab.apt_proxy`` with a URL is true)."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "no", "false", "0", "off", "none")
    return bool(value)


def _ipaddr_host(cidr: str, index: int) -> str:
    """``"10.32.0.0/24" | nth_host(1)`` -> ``10.32.0.1``."""
    import ipaddress
    return str(ipaddress.ip_network(str(cidr), strict=False)[int(index)])


def make_environment(search_path: list[Path] | None = None) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in (search_path or [])]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters.update(
        to_json=lambda v, **kw: json.dumps(_plain(v), **kw),
        to_yaml=_to_yaml,
        b64encode=_b64encode,
        bool=_bool,
        nth_host=_ipaddr_host,
        basename=lambda p: Path(str(p)).name,
        dirname=lambda p: str(Path(str(p)).parent),
        regex_replace=lambda s, pattern, repl="": re.sub(pattern, repl, str(s)),
        dict2items=lambda d: [{"key": k, "value": v} for k, v in d.items()],
        items2dict=lambda items: {i["key"]: i["value"] for i in items},
        quote=lambda s: "'" + str(s).replace("'", "'\"'\"'") + "'",
    )
    env.tests["defined"] = lambda v: not isinstance(v, jinja2.Undefined)
    return env


class Vars(Mapping):
    """Variables that render their own ``{{ }}`` on access, against themselves."""

    def __init__(self, layers: list[Mapping[str, Any]], renderer: "Renderer"):
        self._merged: dict[str, Any] = {}
        for layer in layers:  # lowest precedence first
            self._merged.update(layer)
        self._renderer = renderer
        self._cache: dict[str, Any] = {}
        self._resolving: list[str] = []

    def child(self, extra: Mapping[str, Any]) -> "Vars":
        """The same variables with ``extra`` on top (loop item, registered results)."""
        return Vars([self._merged, extra], self._renderer)

    def raw(self) -> dict[str, Any]:
        return self._merged

    def __getitem__(self, key: str) -> Any:
        if key in self._cache:
            return self._cache[key]
        value = self._merged[key]
        if key in self._resolving:
            raise TemplateError(f"variable {key!r} refers to itself: {' -> '.join(self._resolving + [key])}")
        if len(self._resolving) > _MAX_DEPTH:
            raise TemplateError(f"variables nest too deeply: {' -> '.join(self._resolving)}")
        self._resolving.append(key)
        try:
            rendered = self._renderer.render_value(value, self)
        finally:
            self._resolving.pop()
        self._cache[key] = rendered
        return rendered

    def __contains__(self, key: object) -> bool:
        return key in self._merged

    def __iter__(self) -> Iterator[str]:
        return iter(self._merged)

    def __len__(self) -> int:
        return len(self._merged)


class Renderer:
    """Renders strings, values, conditions and template files with one environment."""

    def __init__(self, template_dirs: list[Path] | None = None):
        self.template_dirs = [Path(p) for p in (template_dirs or [])]
        self.env = make_environment(self.template_dirs)
        self._compiled: dict[tuple[str, int], jinja2.Template] = {}
        self._strings: dict[str, jinja2.Template] = {}
        self._local = threading.local()
        self.env.filters["__keep"] = self._keep

    # -- strings and values -------------------------------------------------
    def _context(self, template: jinja2.Template, variables: Mapping[str, Any]):
        if isinstance(variables, Vars):
            parent = _WithGlobals(variables, self.env.globals)
            return template.new_context(parent, shared=True)  # type: ignore[arg-type]
        return template.new_context(dict(variables))

    def render_string(self, text: str, variables: Mapping[str, Any], where: str = "") -> Any:
        """Render one string; ``"{{ expr }}"`` alone returns the expression's value."""
        if "{{" not in text and "{%" not in text:
            return text
        try:
            single = _SINGLE_EXPRESSION.match(text)
            if single:
                return self.evaluate(single.group("expr"), variables, where)
            template = self._compile(text)
            return self.env.concat(template.root_render_func(self._context(template, variables)))  # type: ignore[attr-defined]
        except TemplateError:
            raise
        except jinja2.TemplateError as exc:
            raise TemplateError(f"{_describe(exc)} in {text!r}", *_split_where(where)) from None

    def render_value(self, value: Any, variables: Mapping[str, Any], where: str = "") -> Any:
        """Render every string inside lists and mappings."""
        if isinstance(value, str):
            return self.render_string(value, variables, where)
        if isinstance(value, Mapping):
            return {k: self.render_value(v, variables, where) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render_value(v, variables, where) for v in value]
        return value

    def _compile(self, text: str) -> jinja2.Template:
        template = self._strings.get(text)
        if template is None:
            template = self._strings[text] = self.env.from_string(text)
        return template

    def _keep(self, value: Any) -> str:
        self._local.value = value  # the expression's value, kept with its type
        return ""

    def evaluate(self, expression: str, variables: Mapping[str, Any], where: str = "") -> Any:
        """The value of a bare Jinja2 expression (``when:``, ``until:``, ``"{{ x }}"``)."""
        try:
            template = self._compile("{{ (" + expression + ") | __keep }}")
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{exc.message} in expression {expression!r}", *_split_where(where)) from None
        try:
            "".join(template.root_render_func(self._context(template, variables)))  # type: ignore[attr-defined]
        except jinja2.TemplateError as exc:
            raise TemplateError(f"{_describe(exc)} in {expression!r}", *_split_where(where)) from None
        value = self._local.value
        if isinstance(value, jinja2.Undefined):
            try:
                value._fail_with_undefined_error()
            except jinja2.UndefinedError as exc:
                raise TemplateError(f"{_describe(exc)} in {expression!r}", *_split_where(where)) from None
        return value

    def condition(self, expression: Any, variables: Mapping[str, Any], where: str = "") -> bool:
        if isinstance(expression, bool):
            return expression
        if isinstance(expression, list):
            return all(self.condition(e, variables, where) for e in expression)
        text = str(expression).strip()
        if text.startswith("{{") and text.endswith("}}"):
            text = text[2:-2]
        return _truth(self.evaluate(text, variables, where))

    # -- template files ------------------------------------------------------
    def find_template(self, name: str) -> Path:
        path = Path(name)
        if path.is_absolute():
            if path.is_file():
                return path
        else:
            for base in self.template_dirs:
                if (base / name).is_file():
                    return base / name
        searched = ", ".join(str(d) for d in self.template_dirs) or "no template directories"
        raise TemplateError(f"template {name!r} not found (searched {searched})")

    def load_template(self, name: str) -> jinja2.Template:
        path = self.find_template(name)
        key = (str(path), path.stat().st_mtime_ns)
        if key not in self._compiled:
            try:
                code = self.env.compile(path.read_text(), name=path.name, filename=str(path))
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(f"template syntax error: {exc.message}", str(path), exc.lineno) from None
            self._compiled[key] = self.env.template_class.from_code(self.env, code, self.env.make_globals(None))
        return self._compiled[key]

    def render_template(self, name: str, variables: Mapping[str, Any]) -> str:
        """Render a file under the template directories; errors name template file:line."""
        template = self.load_template(name)
        try:
            return self.env.concat(template.root_render_func(self._context(template, variables)))  # type: ignore[attr-defined]
        except jinja2.TemplateError as exc:
            raise TemplateError(_describe(exc), str(self.find_template(name)), _template_line(exc, template)) from None

    def undeclared(self, source: str) -> list[tuple[str, int]]:
        """Variables a template text uses without defining them, with their first line."""
        ast = self.env.parse(source)
        names = jinja2.meta.find_undeclared_variables(ast)
        lines: dict[str, int] = {}
        for node in ast.find_all(jinja2.nodes.Name):
            if node.name in names and node.ctx == "load":
                lines.setdefault(node.name, node.lineno)
        return sorted(((n, lines.get(n, 1)) for n in names), key=lambda t: t[1])


class _WithGlobals(Mapping):
    """Jinja2's shared context gets our Vars plus the environment's globals."""

    def __init__(self, variables: Vars, env_globals: Mapping[str, Any]):
        self._vars, self._globals = variables, env_globals

    def __getitem__(self, key: str) -> Any:
        if key in self._vars:
            return self._vars[key]
        return self._globals[key]

    def __contains__(self, key: object) -> bool:
        return key in self._vars or key in self._globals

    def __iter__(self):
        yield from self._vars
        yield from (k for k in self._globals if k not in self._vars)

    def __len__(self) -> int:
        return len(set(self._vars) | set(self._globals))


def _describe(exc: jinja2.TemplateError) -> str:
    if isinstance(exc, jinja2.UndefinedError):
        return f"undefined variable: {exc.message}"
    return getattr(exc, "message", None) or str(exc)


def _split_where(where: str) -> tuple[str | None, int | None]:
    if not where:
        return None, None
    file, _, line = where.rpartition(":")
    if file and line.isdigit():
        return file, int(line)
    return where, None


def _template_line(exc: Exception, template: jinja2.Template) -> int | None:
    """The template line an error happened on, from the traceback of the render."""
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == (template.filename or "<template>"):
            line = template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return line
