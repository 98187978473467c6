"""Facts about a host, gathered once per host per run in one command.

``facts`` in templates and conditions: hostname, os_id, os_version,
os_codename, arch, kernel, addresses (IPv4, without loopback), memory_mb,
cpus, service_manager ("systemd" when systemd runs as PID 1), python.
"""

from __future__ import annotations

from typing import Any

from labkit.provision.connection import Connection

# One shell script, one round trip: prints key=value lines.
FACTS_COMMAND = r"""
. /etc/os-release 2>/dev/null
echo "hostname=$(hostname 2>/dev/null || cat /etc/hostname)"
echo "os_id=${ID:-unknown}"
echo "os_version=${VERSION_ID:-}"
echo "os_codename=${VERSION_CODENAME:-}"
echo "arch=$(uname -m)"
echo "kernel=$(uname -r)"
echo "addresses=$(ip -o -4 addr show 2>/dev/null | awk '$2 != "lo" {split($4, a, "/"); printf "%s ", a[1]}')"
echo "memory_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
echo "cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)"
if [ -d /run/systemd/system ]; then echo service_manager=systemd; else echo service_manager=none; fi
echo "python=$(command -v python3 || true)"
echo "user=$(id -un)"
"""


def parse_facts(output: str) -> dict[str, Any]:
    raw = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    return {
        "hostname": raw.get("hostname", ""),
        "os_id": raw.get("os_id", ""),
        "os_version": raw.get("os_version", ""),
        "os_codename": raw.get("os_codename", ""),
        "arch": raw.get("arch", ""),
        "kernel": raw.get("kernel", ""),
        "addresses": raw.get("addresses", "").split(),
        "memory_mb": int(raw.get("memory_kb") or 0) // 1024,
        "cpus": int(raw.get("cpus") or 1),
        "service_manager": raw.get("service_manager", "none"),
        "python": raw.get("python", ""),
        "user": raw.get("user", ""),
    }


def gather_facts(connection: Connection) -> dict[str, Any]:
    result = connection.run(FACTS_COMMAND)
    if result.rc != 0:
        raise RuntimeError(f"gathering facts failed (rc={result.rc}): {result.stderr.strip()}")
    return parse_facts(result.stdout)
