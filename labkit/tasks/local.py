"""invoke local.*: a control plane on this machine, on loopback, without any VM.

    invoke local.up       start etcd, labkit-apiserver and labkit-controller-manager
                          in the background (state and logs in .labkit/local/),
                          write .labkit/local/admin.kubeconfig and print how to use it
    invoke local.verify   check it with the real kubectl (discovery, a namespace,
                          apply, get, delete)
    invoke local.status   what runs, with PIDs and ports
    invoke local.down     stop what local.up started (by the PIDs it recorded)

It is the quickest way to watch the apiserver work (``kubectl get -w`` in one
terminal, ``kubectl apply`` in another) before a whole lab exists. Ports are
picked free on first start and kept, so the kubeconfig stays valid.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from invoke import Exit, task

from labkit.localplane import ApiserverProcess, EtcdProcess, free_port, wait_http_ok
from labkit.providers.base import PidFile

REPO = Path(__file__).resolve().parents[2]


def state_dir() -> Path:
    home = Path(os.environ.get("LABKIT_HOME") or REPO / ".labkit")
    path = home / "local"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _state_file() -> Path:
    return state_dir() / "state.json"


def _load() -> dict:
    try:
        return json.loads(_state_file().read_text())
    except FileNotFoundError:
        return {}


def _save(state: dict) -> None:
    _state_file().write_text(json.dumps(state, indent=2) + "\n")


# What local.up starts, in start order; each is supervised through <name>.pid (PID and start time).
COMPONENTS = ("etcd", "apiserver", "controller-manager")


def _pidfile(name: str) -> PidFile:
    return PidFile(state_dir() / f"{name}.pid")


def _kubectl() -> str:
    return shutil.which("kubectl", path=str(REPO / ".venv" / "bin")) or shutil.which("kubectl") or "kubectl"


def _ensure(name: str, label: str, start) -> None:
    """Reuse our running ``name``, or ``start()`` it (which returns its PID once it is ready)."""
    pidfile = _pidfile(name)
    pid = pidfile.pid()
    if pid is not None:
        print(f"{label}: running (pid {pid})")
        return
    pid = start()
    pidfile.record(pid)
    print(f"{label}: started (pid {pid})")


@task(help={"verify": "run local.verify once it is up"})
def up(c, verify=False):
    """Start etcd, labkit-apiserver and labkit-controller-manager on loopback (reused when running)."""
    state = _load()
    base = state_dir()
    for port in ("etcd_port", "etcd_peer_port", "apiserver_port", "controller_manager_port"):
        state.setdefault(port, free_port())
    _save(state)

    etcd = EtcdProcess(data_dir=base / "etcd-data", client_port=state["etcd_port"],
                       peer_port=state["etcd_peer_port"], log_path=base / "etcd.log", detach=True)
    _ensure("etcd", f"etcd ({etcd.endpoint})", lambda: etcd.start().proc.pid)
    apiserver = ApiserverProcess(etcd=etcd, insecure_port=state["apiserver_port"], log_path=base / "apiserver.log",
                                 detach=True)
    _ensure("apiserver", f"labkit-apiserver ({apiserver.url})", lambda: apiserver.start().proc.pid)
    kubeconfig = apiserver.kubeconfig(base / "admin.kubeconfig")
    kubeconfig.chmod(0o600)

    def start_controller_manager() -> int:
        port, log_path = state["controller_manager_port"], base / "controller-manager.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "labkit.controllers.manager", f"--kubeconfig={kubeconfig}",
                                     f"--port={port}"], stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True, cwd=REPO)
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", 30, proc, what=f"labkit-controller-manager (log: {log_path})")
        return proc.pid

    _ensure("controller-manager", "labkit-controller-manager", start_controller_manager)
    print(f"\nThe local control plane is up. Point kubectl at it:\n\n    export KUBECONFIG={kubeconfig}\n"
          f"    {_kubectl()} get namespaces\n\nLogs: {base}/*.log   Stop it: invoke local.down")
    if verify:
        verify_(c)


@task(name="verify")
def verify_(c):
    """Check the local control plane with the real kubectl."""
    kubeconfig = state_dir() / "admin.kubeconfig"
    if not kubeconfig.exists():
        raise Exit("the local control plane is not up: run `invoke local.up`", code=1)
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    ns = f"verify-{int(time.time())}"
    manifest = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hello", "namespace": ns},
                           "data": {"greeting": "hello from labkit"}})
    steps = [
        (["version"], None, "Server Version"),
        (["get", "namespaces"], None, "kube-system"),
        (["get", "service", "kubernetes", "-n", "default"], None, "10."),
        (["create", "namespace", ns, "--dry-run=client", "-o", "json"], None, ns),
        (["apply", "-f", "-"], json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
         "created"),
        (["apply", "-f", "-"], manifest, "created"),
        (["get", "configmap", "hello", "-n", ns, "-o", "jsonpath={.data.greeting}"], None, "hello from labkit"),
        (["delete", "namespace", ns, "--timeout=60s"], None, "deleted"),
    ]
    for args, stdin, expected in steps:
        done = subprocess.run([_kubectl(), *args], input=stdin, capture_output=True, text=True, env=env, timeout=90)
        shown = "kubectl " + " ".join(args)
        if done.returncode != 0 or expected not in done.stdout:
            raise Exit(f"FAILED: {shown}\n{done.stdout}{done.stderr}", code=1)
        print(f"ok: {shown}")
    print("the local control plane works")


@task
def status(c):
    """What local.up started, and whether it still runs."""
    if not _load():
        print("nothing started (invoke local.up)")
        return
    for name in COMPONENTS:
        pid = _pidfile(name).pid()
        print(f"{name:20} {'running (pid %d)' % pid if pid else 'stopped'}")
    print(f"kubeconfig: {state_dir() / 'admin.kubeconfig'}")


@task(help={"wipe": "also delete etcd's data and the logs"})
def down(c, wipe=False):
    """Stop the local control plane (by the PIDs local.up recorded)."""
    for name in reversed(COMPONENTS):
        pidfile = _pidfile(name)
        pid = pidfile.pid()
        if pidfile.stop(timeout=10):
            print(f"{name}: stopped (pid {pid})")
    if wipe:
        shutil.rmtree(state_dir())
        print("local state wiped")
