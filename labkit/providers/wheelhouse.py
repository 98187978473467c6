"""The wheelhouse: labkit and every dependency as wheels, built on the control host.

Lab machines have no Internet, so labkit's Python components are installed
on them offline::

    python3 -m venv /opt/labkit/venv
    /opt/labkit/venv/bin/pip install --no-index --find-links /opt/labkit/wheelhouse labkit

The wheels are built here with ``pip wheel`` from the project's own venv. The
machines run Debian 12's python3 (3.11, x86_64, glibc), so a wheel built or
downloaded for this venv's interpreter installs there only when both
interpreters agree: ``build_wheelhouse`` refuses another Python version.

Default place: ``<cache>/wheelhouse`` (``.labkit/cache/wheelhouse``).
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from pathlib import Path

from labkit.providers.base import REPO_ROOT, ProviderError, cache_dir

MACHINE_PYTHON = {"bookworm": (3, 11)}      # Debian release -> its python3
ON_MACHINE = Path("/opt/labkit/wheelhouse")
VENV = Path("/opt/labkit/venv")


def build_wheelhouse(output: Path | None = None, debian: str = "bookworm", progress=print) -> Path:
    output = output or cache_dir() / "wheelhouse"
    want = MACHINE_PYTHON.get(debian)
    have = sys.version_info[:2]
    if want is None:
        raise ProviderError(f"no known python3 version for Debian {debian!r} (known: {', '.join(MACHINE_PYTHON)})")
    if have != want or platform.machine() != "x86_64":
        raise ProviderError(f"the machines run Python {want[0]}.{want[1]} on x86_64 (Debian {debian}), this venv "
                            f"is Python {have[0]}.{have[1]} on {platform.machine()}: build the wheelhouse from a "
                            f"matching venv (LABKIT_PYTHON=python3.{want[1]} bash scripts/bootstrap.sh setup)")
    output.mkdir(parents=True, exist_ok=True)
    for old in output.glob("labkit-*.whl"):   # same version number, new code: always rebuilt
        old.unlink()
    progress(f"building wheels for labkit and its dependencies into {output}")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(output), str(REPO_ROOT)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise ProviderError(f"pip wheel failed:\n{proc.stderr[-3000:]}")
    progress(f"{len(list(output.glob('*.whl')))} wheels in {time.monotonic() - started:.0f} s")
    return output


def install_script(wheelhouse: Path = ON_MACHINE, venv: Path = VENV) -> str:
    """The shell commands that install labkit on a machine from a wheelhouse copied there."""
    return (f"python3 -m venv {venv} && "
            f"{venv}/bin/pip install --quiet --no-index --find-links {wheelhouse} labkit")
