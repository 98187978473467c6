"""The service-account signing key pair: pki/sa.key (private) and pki/sa.pub (public).

kube-apiserver signs service-account tokens with sa.key
(--service-account-signing-key-file) and checks them with sa.pub
(--service-account-key-file); kube-controller-manager uses sa.key too
(--service-account-private-key-file). It is RSA 2048, as upstream: tokens are
RS256 JWTs, the algorithm every token consumer expects. There is no
certificate, so nothing expires; the pair is made once and kept.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from labkit.pki.ca import key_pem, load_private_key
from labkit.pki.state import PRIVATE_FILE, PUBLIC_FILE, PkiError, write_atomic

KEY = "sa.key"
PUB = "sa.pub"


def public_pem(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def read_key(pki: Path):
    """The private key, or None when missing; PkiError when corrupt or not RSA."""
    path = pki / KEY
    if not path.exists():
        return None
    key = load_private_key(path)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise PkiError(f"{path} is not an RSA key; service-account tokens are signed RS256")
    return key


def problems(pki: Path, key=None) -> list[str]:
    """What is wrong with the pair on disk (a corrupt key raises PkiError); ``key``: sa.key, already read."""
    key = key or read_key(pki)
    if key is None:
        return [f"{KEY} is missing"]
    pub = pki / PUB
    if not pub.exists():
        return [f"{PUB} is missing"]
    if pub.read_bytes() != public_pem(key):
        return [f"{PUB} is not the public half of {KEY}"]
    return []


def ensure(pki: Path, key=None) -> tuple[str, str] | None:
    """Make the pair when missing, rewrite sa.pub when it does not match: (action, reason), or None.

    ``key``: sa.key as already read (checking an RSA key is slow enough to do it once).
    """
    key = key or read_key(pki)
    if key is None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        write_atomic(pki / KEY, key_pem(key), PRIVATE_FILE)
        write_atomic(pki / PUB, public_pem(key), PUBLIC_FILE)
        return "created", "missing"
    found = problems(pki, key)
    if found:
        write_atomic(pki / PUB, public_pem(key), PUBLIC_FILE)
        return "rewritten", found[0]
    return None
