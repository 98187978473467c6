"""JSON Web Tokens for service accounts: sign and verify, with ``cryptography`` only.

A JWT is three base64url parts joined by dots: a header (``{"alg":"RS256","kid":...}``),
the claims (who, for whom, until when) and a signature over the first two.
The apiserver signs with ``--service-account-signing-key-file`` and verifies
with every key of ``--service-account-key-file``; the algorithm follows the
key: RS256 for RSA (what labkit.pki makes), ES256/ES384/ES512 for EC keys.

The ``kid`` is upstream's: base64url(SHA-256(DER public key)), so a verifier
picks the right key among several without trying them all.

This module knows tokens, not Kubernetes: which claims a service-account
token carries, and what must still exist for it to be valid, is authn.py's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature


class TokenError(ValueError):
    """A token that cannot be trusted: malformed, badly signed, or of an unknown key."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenError(f"not base64url: {exc}") from None


# The EC curve decides the hash and the signature's size (RFC 7518 section 3.4).
_EC_ALGORITHMS = {"secp256r1": ("ES256", hashes.SHA256(), 32), "secp384r1": ("ES384", hashes.SHA384(), 48),
                  "secp521r1": ("ES512", hashes.SHA512(), 66)}


def algorithm_of(public_key) -> str:
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RS256"
    if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name in _EC_ALGORITHMS:
        return _EC_ALGORITHMS[public_key.curve.name][0]
    raise TokenError(f"unsupported key type for service-account tokens: {type(public_key).__name__}")


def key_id(public_key) -> str:
    """Upstream's kid: base64url of the SHA-256 of the public key's DER (SubjectPublicKeyInfo)."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return b64url_encode(hashlib.sha256(der).digest())


def load_signing_key(path: Path):
    """The private key of --service-account-signing-key-file (PEM, RSA or EC)."""
    data = _read(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: not a PEM private key: {exc}") from None
    algorithm_of(key.public_key())  # refuse unsupported types here, not at the first token
    return key


def load_public_keys(path: Path) -> list:
    """Every public key in a --service-account-key-file: PEM public keys, certificates or private keys."""
    from cryptography import x509

    data = _read(path)
    keys = []
    for block in _pem_blocks(data):
        label = block.split(b"\n", 1)[0]
        try:
            if b"CERTIFICATE" in label:
                keys.append(x509.load_pem_x509_certificate(block).public_key())
            elif b"PRIVATE KEY" in label:
                keys.append(serialization.load_pem_private_key(block, password=None).public_key())
            elif b"PUBLIC KEY" in label:
                keys.append(serialization.load_pem_public_key(block))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: a PEM block could not be read: {exc}") from None
    if not keys:
        raise ValueError(f"{path}: no public key found (expected PEM public keys, certificates or private keys)")
    for key in keys:
        algorithm_of(key)
    return keys


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or exc}") from None


def _pem_blocks(data: bytes) -> list[bytes]:
    blocks, start = [], data.find(b"-----BEGIN ")
    while start != -1:
        end_marker = data.find(b"-----END ", start)
        if end_marker == -1:
            break
        end = data.find(b"-----", end_marker + 9)
        blocks.append(data[start:end + 5] + b"\n")
        start = data.find(b"-----BEGIN ", end + 5)
    return blocks


def sign(claims: dict, private_key) -> str:
    """A compact JWS of ``claims`` signed with ``private_key`` (RS256 or ES256/384/512)."""
    public = private_key.public_key()
    alg = algorithm_of(public)
    header = {"alg": alg, "kid": key_id(public)}
    signing_input = (b64url_encode(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url_encode(json.dumps(claims, separators=(",", ":")).encode()))
    if alg == "RS256":
        signature = private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    else:
        _, digest, size = _EC_ALGORITHMS[public.curve.name]
        r, s = decode_dss_signature(private_key.sign(signing_input.encode(), ec.ECDSA(digest)))
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")  # JWS wants r||s, not DER
    return signing_input + "." + b64url_encode(signature)


@dataclass
class Unverified:
    header: dict
    claims: dict
    signing_input: bytes
    signature: bytes


def parse(token: str) -> Unverified:
    """The parts of a compact JWS, not yet trusted."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("not a JWT: expected three dot-separated parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenError(f"not a JWT: {exc}") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenError("not a JWT: header and claims must be JSON objects")
    return Unverified(header, claims, f"{parts[0]}.{parts[1]}".encode(), b64url_decode(parts[2]))


def verify(token: str, public_keys: list) -> dict:
    """The claims of ``token`` when one of ``public_keys`` signed it; TokenError otherwise."""
    jws = parse(token)
    alg, kid = jws.header.get("alg"), jws.header.get("kid")
    candidates = [k for k in public_keys if algorithm_of(k) == alg]
    if not candidates:
        raise TokenError(f"no key for algorithm {alg!r}")
    if kid:  # a kid names its key; without one, any key of the algorithm may have signed
        named = [k for k in candidates if key_id(k) == kid]
        candidates = named or candidates
    for key in candidates:
        if _signature_ok(key, alg, jws.signing_input, jws.signature):
            return jws.claims
    raise TokenError("invalid signature")


def _signature_ok(key, alg: str, signing_input: bytes, signature: bytes) -> bool:
    try:
        if alg == "RS256":
            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
            return True
        _, digest, size = _EC_ALGORITHMS[key.curve.name]
        if len(signature) != 2 * size:
            return False
        r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
        key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(digest))
        return True
    except InvalidSignature:
        return False
