"""The EncryptionConfiguration for Secrets: pki/encryption-config.yaml.

kube-apiserver reads it with --encryption-provider-config: Secrets are
written with the first provider (aescbc, a random 32-byte key from
os.urandom) and read with whichever provider matches; `identity` last lets
it read Secrets stored before encryption was switched on. The file holds
the key, so it is 0600 and never printed. Made once and kept: a new key
would make every stored Secret unreadable.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import yaml

from labkit.pki.state import PRIVATE_FILE, PkiError, write_atomic

FILE = "encryption-config.yaml"


def new_config() -> dict:
    return {
        "kind": "EncryptionConfiguration",
        "apiVersion": "apiserver.config.k8s.io/v1",
        "resources": [{
            "resources": ["secrets"],
            "providers": [
                {"aescbc": {"keys": [{"name": "key1", "secret": base64.b64encode(os.urandom(32)).decode()}]}},
                {"identity": {}},
            ],
        }],
    }


def problems(pki: Path) -> list[str]:
    """What is wrong with the file on disk (empty: fine)."""
    path = pki / FILE
    if not path.exists():
        return [f"{FILE} is missing"]
    try:
        doc = yaml.safe_load(path.read_text())
        if doc["kind"] != "EncryptionConfiguration" or doc["apiVersion"] != "apiserver.config.k8s.io/v1":
            raise ValueError("not an EncryptionConfiguration")
        secrets = [r for r in doc["resources"] if "secrets" in r["resources"]]
        first = secrets[0]["providers"][0]
        keys = first["aescbc"]["keys"]
        for k in keys:
            if len(base64.b64decode(k["secret"], validate=True)) != 32:
                return [f"{FILE}: aescbc key {k['name']!r} is not 32 bytes"]
    except (yaml.YAMLError, KeyError, IndexError, TypeError, ValueError, OSError):
        # no details: the file holds a key
        return [f"{FILE} is not an EncryptionConfiguration with an aescbc key for secrets"]
    return []


def check_existing(pki: Path) -> None:
    """PkiError when the file exists but is not valid: it is never replaced (the key decrypts stored Secrets)."""
    path = pki / FILE
    found = problems(pki) if path.exists() else []
    if found:
        raise PkiError(f"{path}: {found[0]}; fix it, or remove it to have a new key made "
                       "(Secrets encrypted with the old key become unreadable)")


def ensure(pki: Path) -> tuple[str, str] | None:
    """Write the file when missing: ("created", reason), or None when it is there (and valid)."""
    check_existing(pki)
    if (pki / FILE).exists():
        return None
    write_atomic(pki / FILE, yaml.safe_dump(new_config(), sort_keys=False).encode(), PRIVATE_FILE)
    return "created", "missing"
