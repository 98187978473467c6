"""Modules against real hosts: pip from a wheelhouse, users and groups, wait_for, environment."""

from __future__ import annotations

import base64
import hashlib
import http.server
import secrets
import subprocess
import threading
import zipfile
from pathlib import Path

import pytest

from labkit.localplane import free_port
from labkit.provision.runner import run_play_file


pytestmark = pytest.mark.integration


def build_wheel(directory: Path, name: str, version: str) -> Path:
    """A real (tiny) wheel, written by hand in the wheel format: one module, METADATA, WHEEL, RECORD."""
    directory.mkdir(parents=True, exist_ok=True)
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": f"VERSION = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: labkit-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
        zf.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return wheel


def write_play(tmp_path: Path, body: str) -> Path:
    play = tmp_path / "play.yaml"
    play.write_text(body)
    return play


def test_pip_installs_from_a_wheelhouse_offline(lab, tmp_path):
    wheels = tmp_path / "wheelhouse"
    build_wheel(wheels, "labkit_demo", "1.0")
    build_wheel(wheels, "labkit_demo", "2.0")
    # one host: making a venv (ensurepip) is the slow part, and the module is the same over any connection
    play = write_play(tmp_path, f"""
- hosts: ssh-1
  vars: {{demo_version: "1.0"}}
  tasks:
    - name: demo package in a venv
      pip:
        name: ["labkit_demo=={{{{ demo_version }}}}"]
        virtualenv: "{{{{ root_prefix }}}}/venv"
        wheelhouse: {wheels}
""")
    first = run_play_file(lab.path, play)
    assert first.failed_hosts == [], [str(f) for f in first.failures]
    python = lab.roots["ssh-1"] / "venv/bin/python"
    out = subprocess.run([str(python), "-c", "import labkit_demo; print(labkit_demo.VERSION)"], capture_output=True, text=True)
    assert out.stdout.strip() == "1.0"
    again = run_play_file(lab.path, play)
    assert again.changed == 0
    play.write_text(play.read_text().replace('demo_version: "1.0"', 'demo_version: "2.0"'))
    upgraded = run_play_file(lab.path, play, diff=True)
    assert upgraded.changed == 1
    assert "+ labkit_demo 2.0 (was 1.0)" in [r.diff for r in upgraded.records if r.host == "ssh-1" and r.status == "changed"][0]


def test_user_and_group_on_the_control_machine(lab, tmp_path):
    name = "lkt" + secrets.token_hex(3)
    play = write_play(tmp_path, f"""
- hosts: local-1
  tasks:
    - group: {{name: {name}, system: true}}
    - user: {{name: {name}, group: {name}, system: true, create_home: false, shell: /usr/sbin/nologin, home: /nonexistent}}
""")
    try:
        first = run_play_file(lab.path, play)
        assert first.failed_hosts == [], [str(f) for f in first.failures]
        entry = subprocess.run(["getent", "passwd", name], capture_output=True, text=True).stdout
        assert entry.strip().endswith(":/nonexistent:/usr/sbin/nologin")
        assert run_play_file(lab.path, play).changed == 0
        play.write_text(play.read_text().replace("shell: /usr/sbin/nologin", "shell: /bin/false"))
        changed = run_play_file(lab.path, play)
        assert changed.changed == 1
        assert subprocess.run(["getent", "passwd", name], capture_output=True, text=True).stdout.strip().endswith(":/bin/false")
    finally:
        subprocess.run(["userdel", name], capture_output=True)
        subprocess.run(["groupdel", name], capture_output=True)


def test_wait_for_port_http_and_file_then_environment_and_set_fact(lab, sshd_hosts, tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    closed = free_port()
    try:
        play = write_play(tmp_path, f"""
- hosts: ssh-1
  tasks:
    - wait_for: {{port: {sshd_hosts[0].port}, host: {sshd_hosts[0].address}, timeout: 5}}
    - wait_for: {{port: {closed}, state: stopped, timeout: 5}}
    - wait_for: {{url: "http://127.0.0.1:{server.server_address[1]}/", status_code: 200, timeout: 5}}
    - name: a file appears while we wait
      shell: "(sleep 1; mkdir -p {{{{ root_prefix }}}}; touch {{{{ root_prefix }}}}/later) > /dev/null 2>&1 &"
    - wait_for: {{path: "{{{{ root_prefix }}}}/later", timeout: 10}}
    - name: environment reaches the command
      shell: echo "$GREETING from $(hostname)"
      environment: {{GREETING: "hello {{{{ inventory_hostname }}}}"}}
      register: greeting
    - set_fact: {{said: "{{{{ greeting.stdout }}}}"}}
    - assert:
        that: ["said.startswith('hello ssh-1 from')"]
    - name: a port that never opens times out with a clear error
      wait_for: {{port: {closed}, timeout: 1}}
      ignore_errors: true
      register: never
    - assert:
        that: ["never.failed", "'timed out after 1s waiting for port 127.0.0.1:{closed} open' in never.msg"]
""")
        result = run_play_file(lab.path, play)
        assert result.failed_hosts == [], [str(f) for f in result.failures]
        assert result.stats["ssh-1"].ignored == 1
    finally:
        server.shutdown()
        server.server_close()


def test_handlers_run_in_handler_order_once_and_flush_handlers(lab, tmp_path):
    play = write_play(tmp_path, """
- hosts: ssh-1:ssh-2
  tasks:
    - name: make the root
      file: {path: "{{ root_prefix }}", state: directory}
    - name: changes, notifies second then first
      copy: {dest: "{{ root_prefix }}/a", content: "a\\n"}
      notify: [second, first]
    - name: changes again, notifies first again
      copy: {dest: "{{ root_prefix }}/b", content: "b\\n"}
      notify: first
    - name: no change, notifies nothing
      copy: {dest: "{{ root_prefix }}/b", content: "b\\n"}
      notify: third
    - meta: flush_handlers
    - name: after the flush
      shell: "echo task >> {{ root_prefix }}/log"
  handlers:
    - name: first
      shell: "echo first >> {{ root_prefix }}/log"
    - name: second
      shell: "echo second >> {{ root_prefix }}/log"
    - name: third
      shell: "echo third >> {{ root_prefix }}/log"
""")
    assert run_play_file(lab.path, play).failed_hosts == []
    for host in ("ssh-1", "ssh-2"):
        assert (lab.roots[host] / "log").read_text().split() == ["first", "second", "task"]


def test_connection_override_from_a_provider(make_lab, sshd_hosts, tmp_path):
    """A provider knows where its machines really are: the runner takes that over the inventory."""
    lab = make_lab(extra_hosts={"machine-1": {"address": "192.0.2.99", "user": "nobody",
                                              "vars": {"root_prefix": str(tmp_path / "machine-1")}}})
    play = write_play(tmp_path, "- hosts: machine-1\n  tasks:\n    - file: {path: '{{ root_prefix }}', state: directory}\n")
    real = sshd_hosts[2]
    result = run_play_file(lab.path, play, connections={
        "machine-1": {"address": real.address, "port": real.port, "user": "root", "key": str(real.client_key)}})
    assert result.failed_hosts == [], [str(f) for f in result.failures]
    assert (tmp_path / "machine-1").is_dir()
