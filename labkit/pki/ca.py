"""Keys, certificate authorities, and reading/writing PEM files.

Every certificate key is ECDSA P-256 (see the package docstring for why);
the service-account signing key is RSA (labkit.pki.serviceaccount). A CA is
valid for 10 years, like kubeadm's; nothing here rotates a CA: its key
signs every other certificate of the lab.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from labkit.pki.state import PRIVATE_FILE, PUBLIC_FILE, PkiError, write_atomic

CA_VALIDITY = timedelta(days=3650)
CERT_VALIDITY = timedelta(days=365)
BACKDATE = timedelta(minutes=5)  # tolerate clocks a little behind the one that signed (kubeadm does the same)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key) -> bytes:
    """A private key as unencrypted PKCS#8 PEM (files are 0600)."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def public_der(key_or_cert) -> bytes:
    """The public key's DER bytes: equal for a certificate and its private key."""
    public = key_or_cert.public_key()
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass
class Pair:
    """A certificate and its private key, as read from (or written to) pki/<name>.crt and .key."""

    name: str
    cert: x509.Certificate
    key: object

    def save(self, pki: Path) -> None:
        """Key first, then certificate: a crash in between leaves a mismatch the next run reissues."""
        write_atomic(key_path(pki, self.name), key_pem(self.key), PRIVATE_FILE)
        write_atomic(cert_path(pki, self.name), cert_pem(self.cert), PUBLIC_FILE)


def cert_path(pki: Path, name: str) -> Path:
    return pki / f"{name}.crt"


def key_path(pki: Path, name: str) -> Path:
    return pki / f"{name}.key"


def load_certificate(path: Path) -> x509.Certificate:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PkiError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise PkiError(f"{path} is not a PEM certificate (corrupt?); remove it and its .key to have "
                       "pki.generate issue a new one") from None


def load_private_key(path: Path):
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PkiError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        # the error never quotes the file: it holds (or should hold) a private key
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise PkiError(f"{path} is not an unencrypted PEM private key (corrupt?); remove it and its .crt "
                       "to have pki.generate issue a new one") from None


def read_pair(pki: Path, name: str) -> Pair | None:
    """The pair on disk; None when either file is missing; PkiError when one is corrupt."""
    crt, key = cert_path(pki, name), key_path(pki, name)
    if not crt.exists() or not key.exists():
        return None
    return Pair(name, load_certificate(crt), load_private_key(key))


def read_ca(pki: Path, name: str) -> Pair | None:
    """A CA on disk. Half a CA is an error: issuing a new one would silently distrust every certificate."""
    crt, key = cert_path(pki, name), key_path(pki, name)
    if crt.exists() != key.exists():
        present, missing = (crt, key) if crt.exists() else (key, crt)
        raise PkiError(f"{missing} is missing but {present} exists; restore it, or remove {present} to start a "
                       "new CA (every certificate it signed is then reissued)")
    pair = read_pair(pki, name)
    if pair is not None and public_der(pair.cert) != public_der(pair.key):
        raise PkiError(f"{key} does not belong to {crt}; restore the right key, or remove both to start a new CA")
    return pair


def new_ca(name: str, common_name: str, now: datetime) -> Pair:
    """A self-signed CA that may sign leaf certificates only (path length 0)."""
    key = new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Pair(name, cert, key)
