"""Encryption at rest: ``--encryption-provider-config`` in upstream's EncryptionConfiguration format.

The file (labkit/pki/encryption.py writes one per lab) says, per group of
resources, which providers to use, in order::

    apiVersion: apiserver.config.k8s.io/v1
    kind: EncryptionConfiguration
    resources:
    - resources: [secrets]
      providers:
      - aescbc: {keys: [{name: key2, secret: <base64 of 32 bytes>}, {name: key1, secret: ...}]}
      - identity: {}

- **writes** use the first key of the first provider;
- **reads** look at the value's prefix and use whichever listed key made it:
  ``k8s:enc:<provider>:v1:<key name>:`` then the provider's bytes
  (``identity`` reads values stored before encryption was switched on);
- a value read with anything but the first key is **stale**: the storage
  writes it again on the next update, even an unchanged one, so after a key
  rotation ``kubectl get secrets -A -o json | kubectl replace -f -`` rewrites
  every Secret with the new first key (see docs in the module's tests).

The providers' byte layouts are upstream's (so a learner's etcdctl output
looks like a real cluster's):

- ``aescbc``: 16-byte random IV, then AES-CBC of the value with PKCS#7 padding;
- ``aesgcm``: 12-byte random nonce, then AES-GCM sealed with the etcd key as
  authenticated data (a value copied under another key does not decrypt);
- ``secretbox``: 24-byte random nonce, then XSalsa20-Poly1305 (NaCl secretbox);
- ``identity``: the value as it is.

Only the resources a ``resources`` entry names are transformed; everything
else is stored in plain JSON.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.exceptions import InvalidTag
from nacl.exceptions import CryptoError
from nacl.secret import SecretBox

from labkit.api import registry
from labkit.apiserver.storage import Transformer

ENCRYPTED_PREFIX = b"k8s:enc:"
PROVIDERS = ("aescbc", "aesgcm", "secretbox", "identity")
AES_KEY_SIZES = (16, 24, 32)
SECRETBOX_KEY_SIZE = 32


class EncryptionConfigError(ValueError):
    """The EncryptionConfiguration file is wrong: the message names the file and the field."""


class TransformError(Exception):
    """A stored value cannot be read back (wrong key, tampered data, unknown provider)."""


# -- one key of one provider -------------------------------------------------------------


class AESCBC:
    """AES-CBC with PKCS#7 padding and a random 16-byte IV in front (no authentication, as upstream)."""

    def __init__(self, key: bytes):
        self.key = key

    def seal(self, data: bytes, context: bytes) -> bytes:
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        padded = padder.update(data) + padder.finalize()
        encryptor = Cipher(algorithms.AES(self.key), modes.CBC(iv)).encryptor()
        return iv + encryptor.update(padded) + encryptor.finalize()

    def open(self, data: bytes, context: bytes) -> bytes:
        if len(data) < 32:
            raise TransformError("the stored data was shorter than the required size")
        if len(data) % 16:
            raise TransformError("the stored data is not a multiple of the block size")
        iv, body = data[:16], data[16:]
        decryptor = Cipher(algorithms.AES(self.key), modes.CBC(iv)).decryptor()
        padded = decryptor.update(body) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise TransformError("invalid PKCS7 data (empty or not padded)") from None


class AESGCMBox:
    """AES-GCM: a random 12-byte nonce in front; the etcd key is the authenticated data."""

    def __init__(self, key: bytes):
        self.aead = AESGCM(key)

    def seal(self, data: bytes, context: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self.aead.encrypt(nonce, data, context)

    def open(self, data: bytes, context: bytes) -> bytes:
        if len(data) < 12 + 16:
            raise TransformError("the stored data was shorter than the required size")
        try:
            return self.aead.decrypt(data[:12], data[12:], context)
        except InvalidTag:
            raise TransformError("cipher: message authentication failed") from None


class Secretbox:
    """NaCl secretbox (XSalsa20-Poly1305): a random 24-byte nonce in front."""

    def __init__(self, key: bytes):
        self.box = SecretBox(key)

    def seal(self, data: bytes, context: bytes) -> bytes:
        nonce = os.urandom(SecretBox.NONCE_SIZE)
        return bytes(self.box.encrypt(data, nonce))  # nonce + ciphertext with its Poly1305 tag

    def open(self, data: bytes, context: bytes) -> bytes:
        if len(data) < SecretBox.NONCE_SIZE + SecretBox.MACBYTES:
            raise TransformError("the stored data was shorter than the required size")
        try:
            return self.box.decrypt(data)
        except CryptoError:
            raise TransformError("output array was not large enough for encryption") from None


_CIPHERS = {"aescbc": AESCBC, "aesgcm": AESGCMBox, "secretbox": Secretbox}


@dataclass
class Key:
    """One named key of a provider, with the prefix its values carry."""

    provider: str
    name: str
    cipher: AESCBC | AESGCMBox | Secretbox | None  # None: identity

    @property
    def prefix(self) -> bytes:
        if self.cipher is None:
            return b""
        return f"k8s:enc:{self.provider}:v1:{self.name}:".encode()

    def seal(self, data: bytes, context: bytes) -> bytes:
        if self.cipher is None:
            return data
        return self.prefix + self.cipher.seal(data, context)

    def open(self, data: bytes, context: bytes) -> bytes:
        if self.cipher is None:
            if data.startswith(ENCRYPTED_PREFIX):
                raise TransformError("identity transformer tried to read encrypted data")
            return data
        return self.cipher.open(data[len(self.prefix):], context)


class KeyChain:
    """The keys of one ``resources`` entry, in the file's order: the first writes, any reads."""

    def __init__(self, keys: list[Key]):
        self.keys = keys

    def to_storage(self, key: bytes, data: bytes) -> bytes:
        return self.keys[0].seal(data, key)

    def is_stale(self, data: bytes) -> bool:
        """Written with anything but the first key (a prefix check: reads already proved it decrypts)."""
        first = self.keys[0]
        if first.cipher is None:
            return data.startswith(ENCRYPTED_PREFIX)
        return not data.startswith(first.prefix)

    def from_storage(self, key: bytes, data: bytes) -> tuple[bytes, bool]:
        """(plaintext, stale): stale when a key other than the first one read it."""
        first_error: TransformError | None = None
        for i, k in enumerate(self.keys):
            if not data.startswith(k.prefix):
                continue
            if k.cipher is None and data.startswith(ENCRYPTED_PREFIX):
                continue  # identity matches everything, but never hands out ciphertext as if it were JSON
            try:
                return k.open(data, key), i != 0
            except TransformError as exc:
                first_error = first_error or exc
        if first_error is not None:
            raise first_error
        # "k8s:enc:<provider>:v1:<key name>:" names the key that wrote it (never more: the rest is ciphertext)
        shown = b":".join(data.split(b":", 5)[:5]) + b":" if data.startswith(ENCRYPTED_PREFIX) else b""
        raise TransformError(f"no matching prefix found (value starts with {shown.decode(errors='replace')!r}; "
                             f"configured: {', '.join(k.prefix.decode() or 'identity' for k in self.keys)})")


# -- the file --------------------------------------------------------------------------


@dataclass
class ResourceEntry:
    """One ``resources`` item: which resources (as etcd key segments) and their keys."""

    names: list[str]  # as written: "secrets", "configmaps", "deployments.apps", "*.*"
    storage_segments: set[str] | None  # None: every resource ("*.*")
    groups_wildcard: set[str]  # "*.apps" -> {"apps"}; "*." -> {""}
    chain: KeyChain


def _decode_secret(value, where: str, sizes: tuple[int, ...]) -> bytes:
    if not isinstance(value, str) or not value:
        raise EncryptionConfigError(f"{where}: Required value: secret is required")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise EncryptionConfigError(f"{where}: Invalid value: \"REDACTED\": secret is not a valid base64 value") \
            from None
    if len(raw) not in sizes:
        raise EncryptionConfigError(f"{where}: Invalid value: \"REDACTED\": secret is not of the expected length, "
                                    f"got {len(raw)}, expected one of {list(sizes)}")
    return raw


def _provider_keys(provider: dict, where: str) -> list[Key]:
    if not isinstance(provider, dict) or len(provider) != 1:
        found = sorted(provider) if isinstance(provider, dict) else provider
        raise EncryptionConfigError(f"{where}: Invalid value: a provider must have exactly one of "
                                    f"{', '.join(PROVIDERS)} (found {found!r})")
    kind, body = next(iter(provider.items()))
    if kind == "identity":
        return [Key("identity", "", None)]
    if kind not in _CIPHERS:
        raise EncryptionConfigError(f"{where}.{kind}: Unsupported value: supported providers: {', '.join(PROVIDERS)}")
    keys = (body or {}).get("keys") if isinstance(body, dict) else None
    if not isinstance(keys, list) or not keys:
        raise EncryptionConfigError(f"{where}.{kind}.keys: Required value: at least one key is required")
    found, seen = [], set()
    for j, entry in enumerate(keys):
        kwhere = f"{where}.{kind}.keys[{j}]"
        if not isinstance(entry, dict):
            raise EncryptionConfigError(f"{kwhere}: Invalid value: must be a mapping with name and secret")
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise EncryptionConfigError(f"{kwhere}.name: Required value: key name is required")
        if ":" in name:
            raise EncryptionConfigError(f"{kwhere}.name: Invalid value: \"{name}\": key name must not contain ':'")
        if name in seen:
            raise EncryptionConfigError(f"{kwhere}.name: Duplicate value: \"{name}\"")
        seen.add(name)
        sizes = (SECRETBOX_KEY_SIZE,) if kind == "secretbox" else AES_KEY_SIZES
        secret = _decode_secret(entry.get("secret"), f"{kwhere}.secret", sizes)
        found.append(Key(kind, name, _CIPHERS[kind](secret)))
    return found


def _segments_for(names: list[str], where: str) -> tuple[set[str] | None, set[str]]:
    """etcd key segments of the named resources (``deployments.apps`` -> ``deployments``)."""
    segments: set[str] = set()
    groups: set[str] = set()
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise EncryptionConfigError(f"{where}[{i}]: Required value: resource name is required")
        if name == "*.*":
            return None, set()
        plural, _, group = name.partition(".")
        if plural == "*":
            groups.add(group)
            continue
        matches = [r for r in registry.RESOURCES if r.plural == plural and r.group == group]
        if not matches:
            # Upstream accepts resources it does not serve (yet); so do we: they are simply never written.
            segments.add(plural)
        for r in matches:
            segments.add(r.storage)
    return segments, groups


def parse_config(doc, source: str = "<config>") -> list[ResourceEntry]:
    """The entries of an EncryptionConfiguration document; errors name ``source`` and the field."""
    def fail(msg: str) -> EncryptionConfigError:
        return EncryptionConfigError(f"{source}: {msg}")

    if not isinstance(doc, dict):
        raise fail("not an EncryptionConfiguration (expected a YAML mapping)")
    if doc.get("kind") != "EncryptionConfiguration":
        raise fail(f"kind: Invalid value: {doc.get('kind')!r}: expected EncryptionConfiguration")
    if doc.get("apiVersion") not in ("apiserver.config.k8s.io/v1", "apiserver.config.k8s.io/v1beta1"):
        raise fail(f"apiVersion: Invalid value: {doc.get('apiVersion')!r}: expected apiserver.config.k8s.io/v1")
    resources = doc.get("resources")
    if not isinstance(resources, list) or not resources:
        raise fail("resources: Required value: at least one resource group is required")
    entries = []
    for i, item in enumerate(resources):
        where = f"resources[{i}]"
        if not isinstance(item, dict):
            raise fail(f"{where}: Invalid value: must be a mapping with resources and providers")
        names = item.get("resources")
        if not isinstance(names, list) or not names:
            raise fail(f"{where}.resources: Required value: resources is required")
        providers = item.get("providers")
        if not isinstance(providers, list) or not providers:
            raise fail(f"{where}.providers: Required value: providers is required")
        keys: list[Key] = []
        try:
            segments, groups = _segments_for(names, f"{where}.resources")
            for j, provider in enumerate(providers):
                keys += _provider_keys(provider, f"{where}.providers[{j}]")
        except EncryptionConfigError as exc:
            raise fail(str(exc)) from None
        entries.append(ResourceEntry(list(names), segments, groups, KeyChain(keys)))
    return entries


def load_config(path: str | Path) -> list[ResourceEntry]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise EncryptionConfigError(f"{path}: cannot read the encryption provider config: {exc.strerror}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise EncryptionConfigError(f"{path}: not valid YAML{where}") from None  # no excerpt: the file holds keys
    return parse_config(doc, str(path))


# -- the storage's transformer -----------------------------------------------------------


class EncryptionTransformer(Transformer):
    """Picks the key chain by the etcd key's resource segment; other resources pass through unchanged."""

    def __init__(self, entries: list[ResourceEntry], prefix: str = "/registry"):
        self.entries = entries
        self.prefix = "/" + prefix.strip("/") + "/"

    def chain_for(self, key: bytes) -> KeyChain | None:
        text = key.decode(errors="replace")
        if not text.startswith(self.prefix):
            return None
        rest = text[len(self.prefix):]
        for entry in self.entries:  # the first entry naming the resource wins, as upstream
            if entry.storage_segments is None:
                return entry.chain
            if any(rest.startswith(seg + "/") for seg in entry.storage_segments):
                return entry.chain
            if entry.groups_wildcard and _group_of(rest) in entry.groups_wildcard:
                return entry.chain
        return None

    def to_storage(self, key: bytes, data: bytes) -> bytes:
        chain = self.chain_for(key)
        return chain.to_storage(key, data) if chain else data

    def from_storage(self, key: bytes, data: bytes) -> bytes:
        chain = self.chain_for(key)
        if chain is None:
            return data
        try:
            plain, _ = chain.from_storage(key, data)
        except TransformError as exc:
            from labkit.api import errors
            raise errors.internal_error(f"unable to transform key {key.decode(errors='replace')!r}: {exc}") from None
        return plain

    def stale(self, key: bytes, data: bytes) -> bool:
        chain = self.chain_for(key)
        if chain is None:
            return False
        return chain.is_stale(data)


def _group_of(rest: str) -> str | None:
    """The API group of the resource stored under ``rest`` (``deployments/ns/x`` -> ``apps``)."""
    for r in registry.RESOURCES:
        if rest.startswith(r.storage + "/"):
            return r.group
    return None
