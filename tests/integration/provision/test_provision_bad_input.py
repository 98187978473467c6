"""Bad input is found before anything runs on any host, and names the file and line."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest


pytestmark = pytest.mark.integration
LAB = Path(__file__).resolve().parent / "lab"  # the test play and roles (conftest: `lab`)


def broken_copy(tmp_path: Path) -> Path:
    """A copy of the test play and roles to break."""
    target = tmp_path / "play"
    shutil.copytree(LAB, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


CASES = {
    "yaml syntax error": ("roles/common/tasks.yaml", "  file: {path: \"{{ root_prefix }}/etc\", state: directory, mode: \"0755\"}",
                          "  file: {path: \"{{ root_prefix }}/etc\", state: directory, mode: \"0755\"",
                          "roles/common/tasks.yaml:8", "YAML syntax error"),
    "unknown module": ("roles/common/tasks.yaml", "  copy:\n    dest:", "  cpoy:\n    dest:",
                       "roles/common/tasks.yaml:13", "unknown module or keyword 'cpoy'"),
    "unknown argument": ("roles/common/tasks.yaml", "    regexp: \"^nofile=\"", "    regex: \"^nofile=\"",
                         "roles/common/tasks.yaml:24", "module lineinfile: unknown argument 'regex'"),
    "bad argument value": ("roles/common/tasks.yaml", "state: directory, mode: \"0755\"}", "state: dir, mode: \"0755\"}",
                           "roles/common/tasks.yaml:6", "module file: argument 'state' must be one of"),
    "missing required argument": ("roles/common/tasks.yaml", "    dest: \"{{ root_prefix }}/etc/motd\"\n", "",
                                  "roles/common/tasks.yaml:13", "missing required argument 'dest'"),
    "undefined variable in a template": ("templates/app.conf.j2", "port = {{ app_port }}", "port = {{ app_prot }}",
                                         "templates/app.conf.j2:3", "undefined variable 'app_prot'"),
    "undefined variable in arguments": ("roles/app/tasks.yaml", "dest: \"{{ root_prefix }}/etc/app.conf\"",
                                        "dest: \"{{ root_prefx }}/etc/app.conf\"", "roles/app/tasks.yaml:2",
                                        "undefined variable 'root_prefx'"),
    "missing template": ("roles/app/tasks.yaml", "src: app.service.j2", "src: app.servcie.j2",
                         "roles/app/tasks.yaml:9", "template 'app.servcie.j2' not found"),
    "template syntax error": ("templates/app.conf.j2", "{% endfor %}", "{% endfro %}", "templates/app.conf.j2:6",
                              "template syntax error"),
    "notify of a missing handler": ("roles/app/tasks.yaml", "notify: restart app", "notify: restart ap",
                                    "roles/app/tasks.yaml:3", "notifies handler 'restart ap', which does not exist"),
    "unknown play keyword": ("roles/site.yaml", "  roles: [common, app]", "  roles: [common, app]\n  seral: 2",
                             "roles/site.yaml:4", "unknown play keyword 'seral'"),
    "unknown role": ("roles/site.yaml", "roles: [common, app]", "roles: [common, ap]", "roles/site.yaml:3",
                     "role 'ap' not found"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_changes_nothing_and_names_file_and_line(lab, tmp_path, case):
    file, old, new, where, message = CASES[case]
    play_dir = broken_copy(tmp_path)
    edit(play_dir / file, old, new)
    result = lab.labkit("play", "-i", str(lab.path), str(play_dir / "roles/site.yaml"))
    assert result.returncode == 1, result.stdout + result.stderr
    error = result.stderr
    assert f"{play_dir}/{where}" in error and message in error, error
    assert "nothing was changed on any host" in error
    for root in lab.roots.values():
        assert not root.exists()  # no host was touched (the first task would create it)


def test_bad_inventory_is_reported_before_running(lab):
    lab.path.write_text(lab.path.read_text().replace("  ssh-2:\n", "  ssh-1:\n", 1))
    result = lab.labkit("play", "-i", str(lab.path), str(LAB / "roles/site.yaml"))
    assert result.returncode == 1
    assert "duplicate key 'ssh-1'" in result.stderr and f"{lab.path}:" in result.stderr


def test_runtime_template_error_names_the_template_line(lab, tmp_path):
    """An attribute missing at run time (not knowable before) fails that host, naming file:line."""
    play_dir = broken_copy(tmp_path)
    edit(play_dir / "templates/app.conf.j2", "greeting = {{ greeting }}", "greeting = {{ facts.no_such_fact }}")
    result = lab.labkit("play", "-i", str(lab.path), str(play_dir / "roles/site.yaml"), "--limit", "local-1")
    assert result.returncode == 2
    out = " ".join(result.stdout.split())
    assert f"{play_dir}/templates/app.conf.j2:2" in out and "no_such_fact" in out, out
    assert textwrap.dedent("app config") in out
