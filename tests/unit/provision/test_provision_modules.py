"""Modules as data: the probe's output (current state) in, the plan (commands, changes) out."""

from __future__ import annotations

import base64
import hashlib

import pytest

from labkit.provision.modules import MODULES, Plan


def plan_for(module: str, args: dict, probe_output: str):
    cls = MODULES[module]
    instance = cls(cls.finish_args(cls.check_args(args)))
    return instance.plan(instance.parse(probe_output))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


STAMP = " && mkdir -p /var/lib/apt/periodic && touch /var/lib/apt/periodic/update-success-stamp"

CASES = [
    # module, args, probe output, expected commands, expected changed
    ("file", {"path": "/etc/x", "state": "directory", "mode": "0755"}, "absent\n\n",
     ["mkdir -p /etc/x", "chmod 0755 /etc/x"], True),
    ("file", {"path": "/etc/x", "state": "directory", "mode": "0755"}, "directory|755|root|root\n\n", [], False),
    ("file", {"path": "/etc/x", "state": "directory", "mode": "0700", "owner": "etcd"}, "directory|755|root|root\n\n",
     ["chmod 0700 /etc/x", "chown etcd /etc/x"], True),
    ("file", {"path": "/etc/x", "state": "absent"}, "regular file|644|root|root\n\n", ["rm -rf /etc/x"], True),
    ("file", {"path": "/etc/x", "state": "absent"}, "absent\n\n", [], False),
    ("file", {"path": "/l", "state": "link", "src": "/t"}, "symbolic link|777|root|root\n/old\n", ["ln -sfn /t /l"], True),
    ("file", {"path": "/l", "state": "link", "src": "/t"}, "symbolic link|777|root|root\n/t\n", [], False),
    ("file", {"path": "/f", "mode": 0o600}, "regular file|644|root|root\n\n", ["chmod 0600 /f"], True),
    ("copy", {"dest": "/etc/motd", "content": "hi\n"}, f"regular file|644|root|root\n{sha('hi' + chr(10))}\n", [], False),
    ("copy", {"dest": "/etc/motd", "content": "hi\n", "mode": "0600"}, f"regular file|644|root|root\n{sha('hi' + chr(10))}\n",
     ["chmod 0600 /etc/motd"], True),
    ("copy", {"dest": "/etc/motd", "content": "new\n"}, f"regular file|640|root|adm\n{sha('old')}\n{b64('old' + chr(10))}\n",
     ["cat > /etc/motd.labkit-tmp", "chmod 0640 /etc/motd.labkit-tmp", "mv -f /etc/motd.labkit-tmp /etc/motd",
      "chown root:adm /etc/motd"], True),
    ("copy", {"dest": "/etc/motd", "content": "new\n"}, "absent\nnone\n",
     ["cat > /etc/motd.labkit-tmp", "chmod 0644 /etc/motd.labkit-tmp", "mv -f /etc/motd.labkit-tmp /etc/motd"], True),
    ("lineinfile", {"path": "/f", "regexp": "^a=", "line": "a=2"}, f"regular file|644|root|root\n{b64(chr(10).join(['x', 'a=1', 'y', '']))}\n",
     ["cat > /f.labkit-tmp", "chmod 0644 /f.labkit-tmp", "mv -f /f.labkit-tmp /f", "chown root:root /f"], True),
    ("lineinfile", {"path": "/f", "regexp": "^a=", "line": "a=2"}, f"regular file|644|root|root\n{b64('a=2' + chr(10))}\n", [], False),
    ("lineinfile", {"path": "/f", "line": "z", "state": "absent"}, f"regular file|644|root|root\n{b64('a' + chr(10))}\n", [], False),
    ("blockinfile", {"path": "/f", "block": "x\ny\n"},
     f"regular file|644|root|root\n{b64('# BEGIN LABKIT MANAGED BLOCK' + chr(10) + 'x' + chr(10) + 'y' + chr(10) + '# END LABKIT MANAGED BLOCK' + chr(10))}\n",
     [], False),
    ("apt", {"name": ["curl", "jq"]}, "curl|installed|7.88\njq|installed|1.6\n--stamp 100 200\n", [], False),
    ("apt", {"name": ["curl", "jq"], "update_cache": True, "cache_valid_time": 50}, "curl|installed|7.88\n--stamp 100 200\n",
     ["apt-get update -q" + STAMP,
      "DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold --no-install-recommends jq"],
     True),
    # a stale cache with nothing to install: refreshed, and that alone is no change
    ("apt", {"name": ["jq"], "update_cache": True, "cache_valid_time": 50}, "jq|installed|1.6\n--stamp 100 200\n",
     ["apt-get update -q" + STAMP], False),
    ("apt", {"name": ["jq"], "update_cache": True}, "jq|installed|1.6\n--stamp 100 200\n", [], False),  # fresh enough
    ("apt", {"name": ["jq"], "update_cache": True, "cache_valid_time": 50, "proxy": "http://192.168.77.1:3142"},
     "--stamp 0 200\n",
     ["apt-get update -q -o Acquire::http::Proxy=http://192.168.77.1:3142" + STAMP,
      "DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
      " -o Acquire::http::Proxy=http://192.168.77.1:3142 --no-install-recommends jq"], True),
    ("apt", {"name": "jq", "proxy": "http://192.168.77.1:3142"}, "--stamp 100 200\n",
     ["DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
      " -o Acquire::http::Proxy=http://192.168.77.1:3142 --no-install-recommends jq"], True),
    ("apt", {"name": ["jq"], "state": "absent"}, "jq|installed|1.6\n--stamp 100 200\n",
     ["DEBIAN_FRONTEND=noninteractive apt-get remove -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold --no-install-recommends jq"],
     True),
    ("apt", {"name": ["jq"], "state": "latest"}, "jq|installed|1.6\n--stamp 100 200\n--candidates\njq: 1.7\n",
     ["DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold --no-install-recommends jq"],
     True),
    ("pip", {"name": ["labkit==0.1.0"], "virtualenv": "/opt/labkit", "wheelhouse": "/srv/wheels"}, "none\n",
     ["python3 -m venv /opt/labkit",
      "/opt/labkit/bin/python -m pip --disable-pip-version-check -q install --no-index --find-links /srv/wheels labkit==0.1.0"], True),
    ("pip", {"name": ["labkit==0.1.0"], "virtualenv": "/opt/labkit"}, '{"labkit": "0.1.0", "pip": "23"}', [], False),
    ("pip", {"name": ["LabKit"], "virtualenv": "/opt/labkit"}, '{"labkit": "0.0.9"}', [], False),
    ("systemd", {"name": "etcd", "state": "started", "enabled": True},
     "active=inactive\nenabled=disabled\nNeedDaemonReload=no\nLoadState=loaded\n",
     ["systemctl enable etcd", "systemctl start etcd"], True),
    ("systemd", {"name": "etcd", "state": "started", "enabled": True},
     "active=active\nenabled=enabled\nNeedDaemonReload=yes\nLoadState=loaded\n", ["systemctl daemon-reload"], True),
    ("systemd", {"name": "etcd", "state": "started", "enabled": True},
     "active=active\nenabled=enabled\nNeedDaemonReload=no\nLoadState=loaded\n", [], False),
    ("systemd", {"name": "etcd", "state": "restarted"},
     "active=active\nenabled=enabled\nNeedDaemonReload=no\nLoadState=loaded\n", ["systemctl restart etcd"], True),
    ("systemd", {"name": "etcd", "state": "stopped", "enabled": False},
     "active=active\nenabled=enabled\nNeedDaemonReload=no\nLoadState=loaded\n", ["systemctl disable etcd", "systemctl stop etcd"], True),
    ("sysctl", {"name": "net.ipv4.ip_forward", "value": 1}, "live=0\n",
     ["mkdir -p $(dirname /etc/sysctl.d/99-labkit.conf) && printf '%s' 'net.ipv4.ip_forward = 1\n' > /etc/sysctl.d/99-labkit.conf",
      "sysctl -q -w net.ipv4.ip_forward=1"], True),
    ("sysctl", {"name": "net.ipv4.ip_forward", "value": "1"}, "live=1\nnet.ipv4.ip_forward = 1\n", [], False),
    ("modprobe", {"name": "br_netfilter"}, "loaded=no\npersisted=no\n",
     ["modprobe br_netfilter", "mkdir -p /etc/modules-load.d && echo br_netfilter > /etc/modules-load.d/br_netfilter.conf"], True),
    ("modprobe", {"name": "overlay"}, "loaded=yes\npersisted=yes\n", [], False),
    ("group", {"name": "etcd", "system": True}, "", ["groupadd --system etcd"], True),
    ("group", {"name": "etcd", "gid": 990}, "etcd:x:990:\n", [], False),
    ("user", {"name": "etcd", "system": True, "shell": "/usr/sbin/nologin"}, "",
     ["useradd --system --create-home --shell /usr/sbin/nologin etcd"], True),
    ("user", {"name": "etcd", "shell": "/usr/sbin/nologin"}, "etcd:x:990:990::/var/lib/etcd:/bin/sh\ngroups=etcd etcd\n",
     ["usermod --shell /usr/sbin/nologin etcd"], True),
    ("user", {"name": "etcd", "shell": "/bin/sh", "groups": ["etcd"]}, "etcd:x:990:990::/var/lib/etcd:/bin/sh\ngroups=etcd etcd\n", [], False),
]


@pytest.mark.parametrize("module, args, probe_output, commands, changed", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_state_in_commands_out(module, args, probe_output, commands, changed):
    plan = plan_for(module, args, probe_output)
    upload_steps = Plan(upload=plan.upload).script().split(" && ") if plan.upload else []
    assert upload_steps + plan.commands == commands
    assert plan.is_change is changed
    if changed:
        assert plan.diff  # every change says what it is


def test_copy_diff_is_a_unified_diff_of_the_old_content():
    plan = plan_for("copy", {"dest": "/etc/app.conf", "content": "a=1\nb=3\n"},
                    f"regular file|644|root|root\n{sha('x')}\n{b64('a=1' + chr(10) + 'b=2' + chr(10))}\n")
    assert "-b=2\n+b=3" in plan.diff and "before: /etc/app.conf" in plan.diff


def test_unit_files_mark_the_host_for_daemon_reload():
    plan = plan_for("copy", {"dest": "/etc/systemd/system/etcd.service", "content": "[Unit]\n"}, "absent\nnone\n")
    assert plan.result["unit_changed"] is True


def test_command_guards_and_quoting():
    cls = MODULES["command"]
    cmd = cls(cls.finish_args(cls.check_args({"cmd": "touch '/tmp/a b'", "creates": "/tmp/a b"})))
    assert cmd.script() == "if [ -e '/tmp/a b' ]; then echo __labkit_guard_skip__; exit 0; fi; exec touch '/tmp/a b'"
    removes = cls(cls.finish_args(cls.check_args({"cmd": "rm /run/x.pid", "removes": "/run/x.pid", "chdir": "/run"})))
    assert removes.script() == "if [ ! -e /run/x.pid ]; then echo __labkit_guard_skip__; exit 0; fi; cd /run && exec rm /run/x.pid"
    shell = MODULES["shell"]
    assert shell(shell.finish_args(shell.check_args("echo $HOME | wc -c"))).script() == "echo $HOME | wc -c"


@pytest.mark.parametrize("module, args, message", [
    ("copy", {"dest": "/x", "contnet": "a"}, "unknown argument 'contnet'"),
    ("file", {"state": "directory"}, "missing required argument 'path'"),
    ("file", {"path": "/x", "state": "dir"}, "must be one of"),
    ("apt", {"name": "jq", "update_cache": "sometimes"}, "must be bool"),
])
def test_bad_arguments_are_named(module, args, message):
    cls = MODULES[module]
    with pytest.raises(ValueError, match=message):
        cls.finish_args(cls.check_args(args))


def test_every_module_documents_itself():
    for name, cls in MODULES.items():
        assert cls.__doc__ and cls.__doc__.strip(), name


def test_systemd_unknown_unit_fails_in_a_real_run_and_is_planned_in_check_mode():
    from labkit.provision.modules.base import ModuleFailure

    class Check:
        check = True
        host_state: dict = {}

    cls = MODULES["systemd"]
    args = cls.finish_args(cls.check_args({"name": "etcd", "state": "started", "enabled": True}))
    state = "active=inactive\nenabled=\nNeedDaemonReload=no\nLoadState=not-found\n"
    with pytest.raises(ModuleFailure, match="unit etcd not found"):
        real = cls(args)
        real.plan(real.parse(state))
    planned = cls(args, Check())
    assert planned.plan(planned.parse(state)).commands == ["systemctl enable etcd", "systemctl start etcd"]


@pytest.mark.parametrize("hosts, serial, sizes", [
    (10, None, [10]), (10, 3, [3, 3, 3, 1]), (10, "30%", [3, 3, 3, 1]), (4, "50%", [2, 2]),
    (3, "10%", [1, 1, 1]), (5, "100%", [5]),
])
def test_serial_batches(hosts, serial, sizes):
    from types import SimpleNamespace

    from labkit.provision.runner import Runner
    batches = Runner.batches(SimpleNamespace(serial=serial), list(range(hosts)))
    assert [len(b) for b in batches] == sizes
    assert [h for b in batches for h in b] == list(range(hosts))
