"""The project's renderer: strict, lazy, typed; and what validation treats as optional."""

from __future__ import annotations

import pytest

from labkit.provision.playbook import used_variables
from labkit.provision.templating import Renderer, TemplateError, Vars


def test_single_expression_keeps_its_type_and_vars_render_lazily():
    r = Renderer()
    v = Vars([{"ports": [1, 2]}, {"first": "{{ ports[0] }}", "url": "http://{{ host }}:{{ first }}", "host": "lb"}], r)
    assert r.render_string("{{ ports }}", v) == [1, 2]
    assert r.render_string("{{ first }}", v) == 1
    assert r.render_string("{{ url }}/healthz", v) == "http://lb:1/healthz"
    assert r.condition("ports | length == 2", v) is True
    assert r.render_string("{{ '10.32.0.0/24' | nth_host(10) }}", v) == "10.32.0.10"


def test_undefined_is_an_error_naming_where():
    r = Renderer()
    with pytest.raises(TemplateError, match=r"roles/x/tasks.yaml:7: undefined variable: 'nope' is undefined"):
        r.render_string("a {{ nope }} b", {}, "roles/x/tasks.yaml:7")


def test_self_reference_is_an_error():
    r = Renderer()
    v = Vars([{"a": "{{ b }}", "b": "{{ a }}"}], r)
    with pytest.raises(TemplateError, match="refers to itself: a -> b -> a"):
        r.render_string("{{ a }}", v)


def test_template_file_errors_name_the_template_line(tmp_path):
    (tmp_path / "unit.j2").write_text("[Unit]\nDescription={{ name }}\nAfter={{ after }}\n")
    r = Renderer([tmp_path])
    assert r.render_template("unit.j2", {"name": "x", "after": "y"}) == "[Unit]\nDescription=x\nAfter=y\n"
    with pytest.raises(TemplateError) as err:
        r.render_template("unit.j2", {"name": "x"})
    assert str(err.value).startswith(f"{tmp_path}/unit.j2:3: undefined variable")


def test_guarded_variables_are_optional_for_validation():
    r = Renderer()
    names = [n for n, _ in used_variables(r, "{% if proxy is defined %}{{ proxy }}{% endif %}{{ port | default(80) }}{{ must }}")]
    assert names == ["must"]


@pytest.mark.parametrize("value, truth", [
    ("http://192.168.77.1:3142", True), ("", False), ("no", False), ("False", False), ("0", False),
    ("yes", True), ("true", True), (None, False), ([], False), (["a"], True), (0, False), (2, True),
])
def test_conditions_read_strings_as_people_mean_them(value, truth):
    r = Renderer()
    assert r.condition("setting", Vars([{"setting": value}], r)) is truth


def test_the_bool_filter_is_ansibles():
    r = Renderer()
    assert [r.condition("s | bool", Vars([{"s": s}], r)) for s in ("yes", "on", "1", "http://x", "")] == [True, True, True, False, False]
