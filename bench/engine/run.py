"""Benchmark: labkit's engine against pyinfra and ansible-core on the same role and hosts.

The role (labkit/, ansible/, pyinfra/ beside this file, the same work in
each tool's words): a package check, 2 directories, 10 templated files,
10 copied files, a systemd unit file and its enable link, and a handler
that "restarts" the service when the unit or a config changed.

Hosts: N real sshd processes on this machine (127.0.x.y, free ports, a
generated key; see labkit.provision.sshd), each tool writing under its own
scratch root per host. For each N, every tool does a first run on empty
hosts and a converged re-run; wall times are printed with the peers'
ratios to labkit (ratio > 1: labkit is faster).

The peers are the real tools from PyPI, installed by this script into a
separate venv (never project dependencies):

    sudo .venv/bin/python bench/engine/run.py [--hosts 2,4,8] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))

from labkit.provision.sshd import SshdProcess, make_key  # noqa: E402

PEERS_VENV = Path(os.environ.get("LABKIT_BENCH_PEERS", Path.home() / ".cache" / "labkit-bench" / "peers"))
PEERS = ["pyinfra", "ansible-core"]


def peers_venv() -> Path:
    """A venv with pyinfra and ansible-core from PyPI (made once, reused)."""
    python = PEERS_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {PEERS_VENV} with {', '.join(PEERS)}", flush=True)
        subprocess.run([sys.executable.replace(str(REPO / ".venv"), sys.base_prefix) if False else "python3",
                        "-m", "venv", str(PEERS_VENV)], check=True)
    check = subprocess.run([str(python), "-c", "import pyinfra, ansible"], capture_output=True)
    if check.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEERS], check=True)
    return PEERS_VENV / "bin"


def versions(bin_dir: Path) -> dict[str, str]:
    out = subprocess.run([str(bin_dir / "python"), "-c",
                          "import importlib.metadata as m; print(m.version('pyinfra'), m.version('ansible-core'))"],
                         capture_output=True, text=True, check=True).stdout.split()
    import labkit
    return {"labkit": labkit.__version__, "pyinfra": out[0], "ansible-core": out[1]}


class Tool:
    name = ""

    def __init__(self, work: Path, hosts: list[SshdProcess], key: Path, bin_dir: Path):
        self.work, self.hosts, self.key, self.bin = work, hosts, key, bin_dir
        self.work.mkdir(parents=True, exist_ok=True)

    def root(self, i: int) -> Path:
        return self.work / f"host-{i + 1}"

    def prepare(self) -> None:
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def run(self) -> tuple[float, str]:
        started = time.monotonic()
        proc = subprocess.run(self.command(), capture_output=True, text=True, env=self.env(), cwd=self.cwd())
        seconds = time.monotonic() - started
        if proc.returncode != 0:
            raise RuntimeError(f"{self.name} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return seconds, proc.stdout

    def cwd(self) -> Path:
        return self.work

    def cleanup(self) -> None:
        pass

    def converged(self) -> bool:
        """Every host has the 21 files and the link (checked the same way for every tool)."""
        for i in range(len(self.hosts)):
            root = self.root(i)
            files = list((root / "etc/bench").glob("*"))
            link = root / "etc/systemd/system/multi-user.target.wants/bench.service"
            if len(files) != 20 or not link.is_symlink() or not (root / "restarts").exists():
                return False
        return True


class Labkit(Tool):
    name = "labkit"

    def prepare(self) -> None:
        import yaml
        hosts = {f"host-{i + 1}": {"address": h.address, "port": h.port, "user": "root", "key": str(self.key),
                                   "vars": {"root_prefix": str(self.root(i))}} for i, h in enumerate(self.hosts)}
        (self.work / "inventory.yaml").write_text(yaml.safe_dump({"hosts": hosts}))

    def command(self) -> list[str]:
        return [str(REPO / ".venv" / "bin" / "labkit"), "play", "-i", str(self.work / "inventory.yaml"),
                str(HERE / "labkit" / "site.yaml"), "--report", "json"]

    @staticmethod
    def changed(stdout: str) -> int:
        return sum(h["changed"] for h in json.loads(stdout.strip().splitlines()[-1]).values())


class Ansible(Tool):
    name = "ansible-core"

    def prepare(self) -> None:
        import yaml
        hosts = {f"host-{i + 1}": {"ansible_host": h.address, "ansible_port": h.port, "ansible_user": "root",
                                   "ansible_ssh_private_key_file": str(self.key), "root_prefix": str(self.root(i))}
                 for i, h in enumerate(self.hosts)}
        (self.work / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
        (self.work / "cp").mkdir(exist_ok=True)
        # the fast settings an experienced user turns on: pipelining, ControlPersist, enough forks
        (self.work / "ansible.cfg").write_text(
            "[defaults]\nhost_key_checking = False\nforks = 16\ninterpreter_python = /usr/bin/python3\n"
            f"local_tmp = {self.work / 'tmp'}\nretry_files_enabled = False\n"
            "[ssh_connection]\npipelining = True\n"
            f"control_path_dir = {self.work / 'cp'}\n"
            "ssh_args = -o ControlMaster=auto -o ControlPersist=120s -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no\n")

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(ANSIBLE_CONFIG=str(self.work / "ansible.cfg"), ANSIBLE_HOME=str(self.work / "home"),
                   PATH=f"{self.bin}:{env.get('PATH', '')}")
        return env

    def command(self) -> list[str]:
        return [str(self.bin / "ansible-playbook"), "-i", str(self.work / "inventory.yml"), str(HERE / "ansible" / "site.yml")]

    def cwd(self) -> Path:
        return HERE / "ansible"

    def cleanup(self) -> None:
        """Stop the ControlPersist masters ansible left running (ssh -O exit on each socket)."""
        for socket_path in (self.work / "cp").iterdir():
            subprocess.run(["ssh", "-O", "exit", "-o", f"ControlPath={socket_path}", "bench"], capture_output=True)

    @staticmethod
    def changed(stdout: str) -> int:
        return sum(int(part.split("=")[1]) for line in stdout.splitlines() if "changed=" in line
                   for part in line.split() if part.startswith("changed="))


class Pyinfra(Tool):
    name = "pyinfra"

    def prepare(self) -> None:
        lines = ["hosts = ["]
        for i, h in enumerate(self.hosts):
            data = {"ssh_port": h.port, "ssh_user": "root", "ssh_key": str(self.key),
                    "ssh_strict_host_key_checking": "off", "ssh_known_hosts_file": "/dev/null",
                    "root_prefix": str(self.root(i)), "name": f"host-{i + 1}"}
            lines.append(f"    ({h.address!r}, {data!r}),")
        lines.append("]")
        (self.work / "inventory.py").write_text("\n".join(lines) + "\n")

    def command(self) -> list[str]:
        return [str(self.bin / "pyinfra"), "-y", "--parallel", "16", str(self.work / "inventory.py"),
                str(HERE / "pyinfra" / "deploy.py")]

    def cwd(self) -> Path:
        return HERE / "pyinfra"

    @staticmethod
    def changed(stdout: str) -> int:
        return -1  # pyinfra's summary is a table; convergence is checked on the files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", default="2,4,8")
    parser.add_argument("--rounds", type=int, default=1, help="repeat each measurement, report the median")
    parser.add_argument("--tools", default="labkit,pyinfra,ansible-core")
    args = parser.parse_args()
    counts = [int(n) for n in args.hosts.split(",")]
    tools = [t for t in (Labkit, Pyinfra, Ansible) if t.name in args.tools.split(",")]
    bin_dir = peers_venv()
    print("versions:", versions(bin_dir), flush=True)

    base = Path(tempfile.mkdtemp(prefix="labkit-bench-engine-"))
    key = make_key(base / "client_key")
    net = random.randrange(20, 200)
    sshds: list[SshdProcess] = []
    rows = []
    try:
        for i in range(max(counts)):
            sshds.append(SshdProcess(base / f"sshd-{i + 1}", address=f"127.1.{net}.{i + 2}", client_key=key).start())
        for n in counts:
            for round_ in range(args.rounds):
                for tool_cls in tools:
                    tool = tool_cls(base / f"n{n}-r{round_}" / tool_cls.name, sshds[:n], key, bin_dir)
                    tool.prepare()
                    first, _ = tool.run()
                    if not tool.converged():
                        raise RuntimeError(f"{tool.name} did not converge the hosts on its first run")
                    again, out = tool.run()
                    tool.cleanup()
                    changed = tool.changed(out)
                    rows.append({"hosts": n, "tool": tool.name, "round": round_, "first": first, "rerun": again,
                                 "rerun_changed": changed})
                    print(f"  N={n} {tool.name:13} first {first:6.2f}s  re-run {again:6.2f}s"
                          + (f"  (re-run changed: {changed})" if changed >= 0 else ""), flush=True)
    finally:
        for sshd in sshds:
            sshd.stop()
        shutil.rmtree(base, ignore_errors=True)

    print("\nmedian wall time (s) and ratio to labkit (>1: labkit faster)")
    print(f"{'hosts':>5} {'tool':13} {'first':>7} {'ratio':>6} {'re-run':>7} {'ratio':>6}")
    for n in counts:
        med = {t.name: (statistics.median(r["first"] for r in rows if r["hosts"] == n and r["tool"] == t.name),
                        statistics.median(r["rerun"] for r in rows if r["hosts"] == n and r["tool"] == t.name)) for t in tools}
        ref = med.get("labkit")
        for name, (first, again) in med.items():
            r1 = f"{first / ref[0]:6.1f}" if ref else "     -"
            r2 = f"{again / ref[1]:6.1f}" if ref else "     -"
            print(f"{n:5} {name:13} {first:7.2f} {r1} {again:7.2f} {r2}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
