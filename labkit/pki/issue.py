"""Issue a leaf certificate for an Identity, and decide whether an existing one still fits.

``problems()`` is the single judge used by both pki.generate (reissue when it
finds something) and pki.check (report what it finds).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from labkit.pki.ca import BACKDATE, CERT_VALIDITY, Pair, new_key, public_der
from labkit.pki.identities import Identity

RENEW_BEFORE = timedelta(days=30)  # reissue (and warn in pki.check) when fewer days are left

USAGE_OIDS = {"server": ExtendedKeyUsageOID.SERVER_AUTH, "client": ExtendedKeyUsageOID.CLIENT_AUTH}


def _subject(identity: Identity) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in identity.organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, identity.common_name))
    return x509.Name(attrs)


def issue(identity: Identity, ca: Pair, now: datetime) -> Pair:
    """A new key and a certificate for it, signed by ``ca``, valid a year (never past the CA)."""
    key = new_key()
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(_subject(identity))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + CERT_VALIDITY, ca.cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([USAGE_OIDS[u] for u in identity.usages]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
    )
    sans = [x509.DNSName(n) for n in identity.dns_names] + [
        x509.IPAddress(ipaddress.ip_address(a)) for a in identity.ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return Pair(identity.name, builder.sign(ca.key, hashes.SHA256()), key)


# --- reading a certificate back -------------------------------------------------------------

def common_name(cert: x509.Certificate) -> str:
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""


def organizations(cert: x509.Certificate) -> tuple[str, ...]:
    return tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))


def sans(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) of the certificate, in its order."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return ext.get_values_for_type(x509.DNSName), [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)]


def usages(cert: x509.Certificate) -> set[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return set()
    return {name for name, oid in USAGE_OIDS.items() if oid in ext}


def signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def days_left(cert: x509.Certificate, now: datetime) -> float:
    return (cert.not_valid_after_utc - now).total_seconds() / 86400


def validity_problem(cert: x509.Certificate, now: datetime, renew_before: timedelta) -> str | None:
    if now < cert.not_valid_before_utc:
        return f"not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    left = cert.not_valid_after_utc - now
    if left <= timedelta(0):
        return f"expired {-left.days} days ago ({cert.not_valid_after_utc:%Y-%m-%d})"
    if left < renew_before:
        return f"expires in {left.days} days ({cert.not_valid_after_utc:%Y-%m-%d}), within {renew_before.days}"
    return None


def _difference(what: str, have: list[str] | tuple[str, ...] | set[str], want) -> str | None:
    added = [x for x in want if x not in have]
    removed = [x for x in have if x not in want]
    if not added and not removed:
        return None
    parts = ([f"missing {', '.join(added)}"] if added else []) + ([f"extra {', '.join(removed)}"] if removed else [])
    return f"{what} differ from the inventory: {'; '.join(parts)}"


def problems(identity: Identity, pair: Pair, ca: Pair, now: datetime,
             renew_before: timedelta = RENEW_BEFORE) -> list[str]:
    """Why this certificate does not fit ``identity`` any more (empty: it fits)."""
    found = []
    if public_der(pair.cert) != public_der(pair.key):
        found.append("private key does not match the certificate")
    if not signed_by(pair.cert, ca.cert):
        found.append(f"not signed by the current {ca.name} ({common_name(ca.cert)})")
    problem = validity_problem(pair.cert, now, renew_before)
    if problem:
        found.append(problem)
    if common_name(pair.cert) != identity.common_name:
        found.append(f"CN is {common_name(pair.cert)!r}, expected {identity.common_name!r}")
    if sorted(organizations(pair.cert)) != sorted(identity.organizations):
        found.append(f"O is {list(organizations(pair.cert))}, expected {list(identity.organizations)}")
    if usages(pair.cert) != set(identity.usages):
        found.append(f"key usages are {sorted(usages(pair.cert))}, expected {sorted(identity.usages)}")
    dns, ips = sans(pair.cert)
    for what, have, want in (("DNS SANs", dns, identity.dns_names), ("IP SANs", ips, identity.ip_addresses)):
        diff = _difference(what, have, want)
        if diff:
            found.append(diff)
    return found
