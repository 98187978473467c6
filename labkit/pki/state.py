"""How the PKI's files get to disk: atomically and privately.

A lab's state is ``.labkit/<lab>/`` at the repository root (``$LABKIT_HOME/<lab>/``
when LABKIT_HOME is set), as labkit.providers.base.lab_dir says; the PKI
owns its ``pki/`` and ``kubeconfigs/`` there. Directories are 0700; every
file is written to a temporary file next to its destination and renamed over
it, so a crash or a full disk leaves the old file or the new one, never half
of one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600  # private keys, kubeconfigs (they embed keys), the encryption config
PUBLIC_FILE = 0o644  # certificates and the service-account public key


class PkiError(Exception):
    """Bad input or state (inventory, existing files, permissions); the message says what and where."""


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) 0700, prove a file can be written there; PkiError if not."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        os.chmod(path, PRIVATE_DIR)
        # root ignores permission bits, so ask the file system itself (read-only mounts, files in the way)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".labkit-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PkiError(f"cannot write to the state directory {path}: {exc.strerror or exc}") from None


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` with ``mode``: a private temporary file renamed over the target."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # created 0600
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise PkiError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
