"""Fixtures for the controller tests: the real apiserver, labkit-controller-manager processes, kubectl."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.localplane import free_port, stop_process, wait_http_ok

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def kubeconfig_path(apiserver, tmp_path) -> Path:
    """The controller-manager's kubeconfig (api and namespace come from tests/integration/conftest.py)."""
    return apiserver.kubeconfig(tmp_path / "controller-manager.kubeconfig", user="system:kube-controller-manager")


class ControllerManagerProcess:
    """One labkit-controller-manager child process, its health port and its log."""

    def __init__(self, kubeconfig: Path, log_path: Path, *extra: str):
        self.port = free_port()
        self.log_path = log_path
        self.args = [sys.executable, "-m", "labkit.controllers.manager", f"--kubeconfig={kubeconfig}",
                     f"--port={self.port}", *extra]
        self.proc: subprocess.Popen | None = None

    def start(self) -> "ControllerManagerProcess":
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=REPO)
        wait_http_ok(f"http://127.0.0.1:{self.port}/healthz", 30, self.proc,
                     what=f"labkit-controller-manager (log: {self.log_path})")
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def leader_info(self) -> dict:
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/leader", timeout=5) as resp:
            return json.loads(resp.read())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


@pytest.fixture
def controller_manager(kubeconfig_path, tmp_path):
    """Start labkit-controller-manager processes; all are stopped (by their PID) at the end."""
    started: list[ControllerManagerProcess] = []

    def start(*extra: str) -> ControllerManagerProcess:
        cm = ControllerManagerProcess(kubeconfig_path, tmp_path / f"controller-manager-{len(started)}.log", *extra)
        started.append(cm)
        return cm.start()

    yield start
    for cm in started:
        cm.stop()
    for cm in started:
        print(f"--- {cm.log_path.name}\n{cm.log()[-4000:]}")


@pytest.fixture
def kubectl(kubeconfig_path):
    exe = shutil.which("kubectl", path=str(REPO / ".venv" / "bin")) or shutil.which("kubectl")
    if exe is None:
        pytest.fail("kubectl is not installed: run `bash scripts/bootstrap.sh setup`")

    def run(*args: str, timeout: float = 60) -> str:
        done = subprocess.run([exe, f"--kubeconfig={kubeconfig_path}", *args], capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, "KUBECONFIG": str(kubeconfig_path)})
        if done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return done.stdout

    return run
