"""The base image of nspawn machines: a Debian root made with debootstrap, cached.

The image is described by a *recipe* (suite, mirror, packages, the files and
units labkit adds); its SHA-256 names the cache directory, so a changed recipe
builds a new image and an unchanged one is reused by every lab::

    <cache>/images/debian-bookworm-<hash>/rootfs     (cache: .labkit/cache or $LABKIT_CACHE)

Building takes ~50 s (debootstrap) and happens under a file lock, into a
temporary directory renamed into place when done, so parallel runs never see
half an image. Old images are left alone; ``rm -rf .labkit/cache/images``
frees them.

Everything per machine (hostname, address, SSH keys, machine-id) is *not* in
the image: the nspawn provider writes it into each machine's own copy.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from labkit.providers.base import ProviderError, cache_dir

PACKAGES = [
    "systemd", "systemd-sysv", "dbus",      # a real init, as on any lab host
    "openssh-server",                       # the engine reaches machines over SSH
    "iproute2", "iputils-ping",             # host0's address; reachability checks
    "python3", "python3-venv",              # the engine's modules; /opt/labkit/venv from the wheelhouse
    "ca-certificates",
]

# cgroup hierarchies are mounted read-only inside an nspawn machine, and runc
# (containerd) must create cgroups: remount them read-write on every boot,
# before containerd starts (see notes/lab-hosts.md).
CGROUP_RW_UNIT = """\
[Unit]
Description=labkit: cgroup hierarchies writable for containerd/runc
DefaultDependencies=no
# before every ordinary unit: a remount while systemd puts a process into a
# cgroup fails that start (status 219/CGROUP)
Before=sysinit.target containerd.service kubelet.service
After=local-fs.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'for c in /sys/fs/cgroup/*/; do mount -o remount,bind,rw "$c" 2>/dev/null || true; done; mount -o remount,rw /sys/fs/cgroup'

[Install]
WantedBy=sysinit.target
"""

# The machine's static address on host0 (the veth to the lab bridge), from
# /etc/labkit/host0.env written per machine. No default route: the lab
# reaches nothing beyond the bridge. (Not systemd-networkd: with /sys writable
# it waits forever for udev, which an nspawn machine does not run.)
HOST0_UNIT = """\
[Unit]
Description=labkit: static address on host0 (the lab bridge), no default route
DefaultDependencies=no
After=labkit-cgroup-rw.service
Before=network.target ssh.service
Wants=network.target

[Service]
Type=oneshot
RemainAfterExit=yes
EnvironmentFile=/etc/labkit/host0.env
ExecStart=/sbin/ip link set lo up
ExecStart=/sbin/ip address replace ${ADDRESS} dev host0
ExecStart=/sbin/ip link set host0 up

[Install]
WantedBy=multi-user.target
"""

# Files the image gets on top of debootstrap's root (path -> content).
FILES = {
    "etc/systemd/system/labkit-cgroup-rw.service": CGROUP_RW_UNIT,
    "etc/systemd/system/labkit-host0.service": HOST0_UNIT,
    # sshd answers root with the lab key only
    "etc/ssh/sshd_config.d/labkit.conf": "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n",
    # minbase has no documentation to keep; apt stays quiet without a terminal
    "etc/apt/apt.conf.d/90labkit-noninteractive": 'APT::Install-Recommends "false";\nDpkg::Use-Pty "0";\n',
}
ENABLE_UNITS = ["labkit-host0.service", "ssh.service", "labkit-cgroup-rw.service"]
# per-machine identity, written by the provider for each machine instead
REMOVE = ["etc/hostname", "etc/ssh/ssh_host_*", "var/lib/dbus/machine-id"]


def host_debian_mirror() -> str:
    """The Debian mirror of this host's own apt sources (the one it can reach)."""
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            words = line.split()
            if words[:1] == ["URIs:"] and len(words) > 1 and "/debian" in words[1] and "security" not in words[1]:
                return words[1]
            if words[:1] == ["deb"] and "security" not in line:
                uri = next((w for w in words[1:] if w.startswith("http")), "")
                if "/debian" in uri:
                    return uri
    return "http://deb.debian.org/debian"


def recipe(suite: str, mirror: str | None = None) -> dict:
    return {
        "suite": suite,
        "mirror": mirror or host_debian_mirror(),
        "variant": "minbase",
        "packages": PACKAGES,
        "files": FILES,
        "enable": ENABLE_UNITS,
        "remove": REMOVE,
    }


def recipe_hash(r: dict) -> str:
    return hashlib.sha256(json.dumps(r, sort_keys=True).encode()).hexdigest()[:16]


def image_path(r: dict) -> Path:
    return cache_dir() / "images" / f"debian-{r['suite']}-{recipe_hash(r)}" / "rootfs"


def ensure_base_image(suite: str = "bookworm", mirror: str | None = None, progress=print) -> Path:
    """The cached root for ``suite``; built with debootstrap when its recipe has none yet."""
    r = recipe(suite, mirror)
    rootfs = image_path(r)
    if (rootfs / "usr/sbin/sshd").exists():
        return rootfs
    if shutil.which("debootstrap") is None:
        raise ProviderError("debootstrap is not installed: run `bash scripts/bootstrap.sh setup` "
                            "(scripts/machines-packages.txt)")
    rootfs.parent.mkdir(parents=True, exist_ok=True)
    with open(rootfs.parent.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)           # another run may be building the same image
        if (rootfs / "usr/sbin/sshd").exists():
            return rootfs
        building = rootfs.parent / f"building.{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        progress(f"building the base image debian-{suite} with debootstrap from {r['mirror']} (once, ~1 min)")
        started = time.monotonic()
        proc = subprocess.run(
            ["debootstrap", f"--variant={r['variant']}", f"--include={','.join(r['packages'])}",
             suite, str(building), r["mirror"]],
            capture_output=True, text=True)
        if proc.returncode != 0:
            log = building / "debootstrap/debootstrap.log"
            detail = log.read_text()[-2000:] if log.exists() else proc.stderr[-2000:]
            shutil.rmtree(building, ignore_errors=True)
            raise ProviderError(f"debootstrap {suite} from {r['mirror']} failed:\n{detail}")
        customize(building, r)
        (rootfs.parent / "recipe.json").write_text(json.dumps(r, indent=2, sort_keys=True))
        building.rename(rootfs)
        progress(f"base image ready in {time.monotonic() - started:.0f} s: {rootfs}")
    return rootfs


def customize(root: Path, r: dict) -> None:
    """labkit's additions to debootstrap's root (the recipe's files, units, removals)."""
    for rel, content in r["files"].items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    for pattern in r["remove"]:
        for path in root.glob(pattern):
            path.unlink()
    (root / "etc/machine-id").write_text("")   # each machine gets its own
    # systemctl works on a root directory without a running systemd
    subprocess.run(["systemctl", f"--root={root}", "enable", *r["enable"]], check=True, capture_output=True)
    # apt's lists from the build are stale the day after; machines update through the proxy
    for lists in (root / "var/lib/apt/lists").glob("*_*"):
        lists.unlink()
    shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
    (root / "var/cache/apt/archives/partial").mkdir(parents=True)
