"""Task keywords, handlers per role, facts, the bounded pool and serial batches, on real hosts.

The same scratch-root lab as test_provision_runs.py (three sshd hosts and the
control machine): failed_when, creates/removes guards, retries/until that
really retry, delegate_to another inventory host, file absent and owner,
facts gathered once per host per run, handlers that run at the end of
their role, a bounded pool of hosts, "50%" serial batches, and a module
written in one file with the API of labkit/provision/modules/base.py.
"""

from __future__ import annotations

import importlib.util
import pwd
import textwrap
from pathlib import Path

import pytest

from labkit.provision.modules import MODULES
from labkit.provision.runner import run_play_file

pytestmark = pytest.mark.integration

ALL = ["ssh-1", "ssh-2", "ssh-3", "local-1"]


def write(base: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())


def test_task_keywords_handlers_per_role_and_facts_once(lab, sshd_hosts, tmp_path):
    project = tmp_path / "project"
    write(project, {
        "roles/first/tasks.yaml": """
            - name: scratch root
              file: {path: "{{ root_prefix }}", state: directory}
            - name: a config that changes on the first run
              copy: {dest: "{{ root_prefix }}/first.conf", content: "first\\n"}
              notify: first changed
        """,
        "roles/first/handlers.yaml": """
            - name: first changed
              shell: "echo handler-of-first >> {{ root_prefix }}/order"
        """,
        "roles/second/tasks.yaml": """
            - name: the next role starts after the first role's handlers
              shell: "echo second-role >> {{ root_prefix }}/order"
              changed_when: false
        """,
        "play.yaml": """
            - hosts: all
              roles: [first, second]
              tasks:
                - name: which SSH connection am I on
                  shell: 'echo "$SSH_CONNECTION"'
                  register: conn_first
                  changed_when: false
                - name: exit 3 is fine here (failed_when)
                  shell: "echo oops >&2; exit 3"
                  register: three
                  failed_when: three.rc not in [0, 3]
                - assert:
                    that: ["three.rc == 3", "three.stderr == 'oops'", "not three.failed"]

                - name: rc 0 that failed_when calls a failure
                  shell: "echo disk full"
                  register: full
                  failed_when: "'full' in full.stdout"
                  ignore_errors: true
                - assert:
                    that: ["full.failed", "full.rc == 0"]

                - name: removes, when there is nothing to remove
                  shell: {cmd: "rm {{ root_prefix }}/stale", removes: "{{ root_prefix }}/stale"}
                  register: nothing_removed
                - file: {path: "{{ root_prefix }}/stale", state: touch}
                - name: removes, when there is
                  shell: {cmd: "rm {{ root_prefix }}/stale", removes: "{{ root_prefix }}/stale"}
                  register: removed
                - name: creates, when it exists
                  command: {cmd: "touch {{ root_prefix }}/never", creates: "{{ root_prefix }}/first.conf"}
                  register: not_created
                - assert:
                    that: ["not nothing_removed.changed", "removed.changed", "not not_created.changed"]

                - name: succeeds on the third attempt (retries/until)
                  shell: "echo x >> {{ root_prefix }}/attempts; wc -l < {{ root_prefix }}/attempts"
                  register: attempt
                  until: attempt.stdout | int >= 3
                  retries: 5
                  delay: 0
                  changed_when: false
                - assert:
                    that: ["attempt.attempts == 3"]

                - name: run on ssh-3 for every host (delegate_to an inventory host)
                  shell: >-
                    echo "{{ inventory_hostname }} via $SSH_CONNECTION"
                    > {{ hostvars['ssh-3'].root_prefix }}/from-{{ inventory_hostname }}
                  delegate_to: ssh-3

                - file: {path: "{{ root_prefix }}/gone/deep", state: directory}
                - file: {path: "{{ root_prefix }}/gone", state: absent}
                - file: {path: "{{ root_prefix }}/owned", state: touch, owner: nobody, mode: "0600"}

                - name: facts of the host
                  assert:
                    that:
                      - facts.os_id == 'debian' and facts.arch == 'x86_64'
                      - facts.memory_mb > 0 and facts.cpus >= 1
                      - facts.hostname | length > 0 and facts.kernel | length > 0
                      - facts.addresses is iterable

            - hosts: remote
              tasks:
                - debug: {msg: "second play, facts already known: {{ facts.hostname }}"}
                - name: still the same SSH connection (same client port) in the next play
                  shell: 'echo "$SSH_CONNECTION"'
                  register: conn_later
                  changed_when: false
                - assert:
                    that: ["conn_first.stdout | length > 0", "conn_later.stdout == conn_first.stdout"]
        """,
    })
    for host in ALL:
        lab.roots[host].mkdir(parents=True, exist_ok=True)
        (lab.roots[host] / "stale-marker").write_text("")
    result = run_play_file(lab.path, project / "play.yaml")
    assert result.failed_hosts == [], [str(f) for f in result.failures]

    ssh3 = sshd_hosts[2]
    nobody = pwd.getpwnam("nobody").pw_uid
    for host in ALL:
        root = lab.roots[host]
        # the first role's handler ran when the role ended, before the second role began
        assert (root / "order").read_text().split() == ["handler-of-first", "second-role"]
        assert (root / "attempts").read_text().split() == ["x", "x", "x"]
        assert not (root / "stale").exists() and not (root / "never").exists() and not (root / "gone").exists()
        assert (root / "owned").stat().st_uid == nobody and oct((root / "owned").stat().st_mode)[-3:] == "600"
        # delegated: the command ran over ssh-3's connection, with this host's variables
        said = (lab.roots["ssh-3"] / f"from-{host}").read_text().split()
        assert said[:2] == [host, "via"] and said[-2:] == [ssh3.address, str(ssh3.port)]
        assert result.stats[host].ignored == 1
    # facts: gathered once per host for the whole run, though two plays ran
    gathered = [r.host for r in result.records if r.task == "gather facts"]
    assert sorted(gathered) == sorted(ALL)
    assert [r.host for r in result.records if r.task.startswith("assert") and r.status == "ok"].count("ssh-1") == 5
    second_play = [r for r in result.records if r.task.startswith("debug")]
    assert sorted(r.host for r in second_play) == ["ssh-1", "ssh-2", "ssh-3"]


ARRIVE_AND_WAIT = """
- hosts: remote
  tasks:
    - name: arrive
      shell: "touch {{ control_dir }}/{{ inventory_hostname }}.arrived"
    - name: wait until every host of the play has arrived
      shell: "ls {{ control_dir }} | grep -c arrived"
      register: arrived
      until: arrived.stdout | int == 3
      retries: RETRIES
      delay: 0.2
      changed_when: false
"""


def test_hosts_run_in_parallel_in_a_bounded_pool(lab, tmp_path):
    """Three hosts that wait for each other finish only if all three run at once."""
    play = tmp_path / "barrier.yaml"
    play.write_text(ARRIVE_AND_WAIT.replace("RETRIES", "100"))
    together = run_play_file(lab.path, play, forks=3)
    assert together.failed_hosts == [], [str(f) for f in together.failures]

    for marker in lab.control_dir.glob("*.arrived"):
        marker.unlink()
    play.write_text(ARRIVE_AND_WAIT.replace("RETRIES", "5"))
    bounded = run_play_file(lab.path, play, forks=2)
    # two hosts at a time: the first two wait in vain for the third, which has not started
    assert len(bounded.failed_hosts) == 2, [str(f) for f in bounded.failures]
    assert all("until condition still false after 6 attempts" in str(f) for f in bounded.failures)


def test_serial_percentage_makes_batches(lab, tmp_path):
    play = tmp_path / "rolling.yaml"
    play.write_text(
        "- hosts: all\n  serial: '50%'\n  tasks:\n"
        "    - shell: 'echo {{ inventory_hostname }} >> {{ control_dir }}/turns'\n"
        "    - shell: 'echo {{ inventory_hostname }} >> {{ control_dir }}/turns'\n"
    )
    assert run_play_file(lab.path, play).failed_hosts == []
    turns = (lab.control_dir / "turns").read_text().split()
    # 4 hosts, 50%: batches of two; the second batch starts when the first is done
    assert sorted(turns[:4]) == ["ssh-1", "ssh-1", "ssh-2", "ssh-2"]
    assert sorted(turns[4:]) == ["local-1", "local-1", "ssh-3", "ssh-3"]


MODULE_FILE = '''
"""A module in one file, with the API of labkit/provision/modules/base.py."""
from labkit.provision.modules.base import Arg, Module, Plan, quote, register


@register
class Motto(Module):
    """A file holding one motto line."""

    name = "lkt_motto"
    args = {"path": Arg(str, required=True), "motto": Arg(str, required=True)}

    def probe(self):
        return f"cat {quote(self.args['path'])} 2>/dev/null || true"

    def plan(self, current):
        wanted = self.args["motto"] + "\\n"
        if current == wanted:
            return Plan()
        return Plan(commands=[f"printf '%s\\\\n' {quote(self.args['motto'])} > {quote(self.args['path'])}"],
                    diff=f"motto: {current.strip() or '(none)'} -> {self.args['motto']}")
'''


def test_a_module_written_in_one_file(lab, tmp_path):
    source = tmp_path / "lkt_motto.py"
    source.write_text(MODULE_FILE)
    spec = importlib.util.spec_from_file_location("lkt_motto", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # @register makes it available to tasks
    try:
        play = tmp_path / "motto.yaml"
        play.write_text("- hosts: ssh-1:local-1\n  tasks:\n"
                        "    - file: {path: '{{ root_prefix }}', state: directory}\n"
                        "    - lkt_motto: {path: '{{ root_prefix }}/motto', motto: '{{ motto }}'}\n"
                        "  vars: {motto: keep it simple}\n")
        check = run_play_file(lab.path, play, check=True, diff=True)
        assert not (lab.roots["ssh-1"] / "motto").exists()
        assert "motto: (none) -> keep it simple" in [r.diff for r in check.records if r.host == "ssh-1" and r.status == "changed"]
        first = run_play_file(lab.path, play)
        assert first.failed_hosts == [], [str(f) for f in first.failures]
        assert (lab.roots["ssh-1"] / "motto").read_text() == "keep it simple\n"
        assert run_play_file(lab.path, play).changed == 0
    finally:
        del MODULES["lkt_motto"]


def test_every_module_in_check_mode_reports_its_change_and_changes_nothing(lab, tmp_path):
    """A check run over every state-changing module on fresh hosts: each says what it would do, none does it."""
    name = "lkc" + tmp_path.name[-6:].replace("_", "x").lower()
    project = tmp_path / "project"
    write(project, {
        "templates/site.conf.j2": "site of {{ inventory_hostname }}\n",
        "files/static.txt": "static\n",
        "play.yaml": f"""
            - hosts: ssh-1:local-1
              tasks:
                - file: {{path: "{{{{ root_prefix }}}}/dir", state: directory, mode: "0750"}}
                - file: {{path: "{{{{ root_prefix }}}}/link", state: link, src: /etc/hostname}}
                - copy: {{dest: "{{{{ root_prefix }}}}/copied", content: "content\\n"}}
                - copy: {{dest: "{{{{ root_prefix }}}}/static.txt", src: static.txt}}
                - template: {{src: site.conf.j2, dest: "{{{{ root_prefix }}}}/site.conf"}}
                - lineinfile: {{path: "{{{{ root_prefix }}}}/lines", line: "a=1", create: true}}
                - blockinfile: {{path: "{{{{ root_prefix }}}}/block", block: "x\\n", create: true}}
                - sysctl: {{name: net.ipv4.ip_forward, value: 1, sysctl_set: false, sysctl_file: "{{{{ root_prefix }}}}/99.conf"}}
                - modprobe: {{name: labkit_no_such_module, persistent: false}}
                - apt: {{name: labkit-no-such-package}}
                - pip: {{name: [labkit_demo], virtualenv: "{{{{ root_prefix }}}}/venv", wheelhouse: /nonexistent}}
                - group: {{name: {name}}}
                - user: {{name: {name}, group: {name}, create_home: false}}
                - shell: {{cmd: "touch {{{{ root_prefix }}}}/ran", creates: /nonexistent}}
                - command: "touch {{{{ root_prefix }}}}/ran-too"
        """,
    })
    result = run_play_file(lab.path, project / "play.yaml", check=True, diff=True)
    assert result.failed_hosts == [], [str(f) for f in result.failures]
    for host in ("ssh-1", "local-1"):
        records = [r for r in result.records if r.host == host and r.task != "gather facts"]
        assert len(records) == 15
        unchanged = [r.task for r in records if r.status != "changed"]
        assert unchanged == [], unchanged
        no_diff = [r.task for r in records if not r.diff and not r.task.startswith(("shell", "command"))]
        assert no_diff == [], no_diff
        assert not lab.roots[host].exists()
    import grp
    with pytest.raises(KeyError):
        pwd.getpwnam(name)
    with pytest.raises(KeyError):
        grp.getgrnam(name)
    assert not Path("/sys/module/labkit_no_such_module").exists()
