"""Authentication: from a request's credentials to a user, as upstream's authenticators do.

A request may prove who it is in one of these ways, tried in this order:

1. a **client certificate** signed by ``--client-ca-file`` (asked for by TLS,
   verified here: chain, validity, clientAuth usage; see tls.py): user = the
   subject's CN, groups = its O values (``admin``/``system:masters``,
   ``system:node:worker-1``/``system:nodes``);
2. a **bearer token** (``Authorization: Bearer <token>``), which is either
   - a line of ``--token-auth-file`` (CSV: ``token,user,uid,"group1,group2"``), or
   - a **service-account JWT** signed by the apiserver itself
     (``--service-account-signing-key-file``, checked with
     ``--service-account-key-file``): user ``system:serviceaccount:<ns>:<name>``,
     groups ``system:serviceaccounts`` and ``system:serviceaccounts:<ns>``.

Every authenticated user also gets the group ``system:authenticated``. A
request with no credentials is nobody (the gate makes it
``system:anonymous`` when ``--anonymous-auth`` is on); a request with bad
credentials (a client certificate of another CA, expired or not for client
authentication; an unknown token, bad signature, expired, wrong audience, bound
pod deleted) is 401 Unauthorized, and the reason goes to the log, never to
the client, as upstream.

Service-account tokens come in two shapes (upstream's pkg/serviceaccount):

- **bound** tokens from the TokenRequest API (``kubectl create token``):
  issuer ``--service-account-issuer``, audiences, an expiry, and optionally
  bound to a Pod, Secret or Node: the token dies with that object;
- **legacy** tokens (issuer ``kubernetes/serviceaccount``) kept in Secrets of
  type ``kubernetes.io/service-account-token``: valid while that Secret holds
  them and the service account exists.

Either way the service account must still exist with the uid in the token.

A token that authenticated is remembered for 10 seconds (upstream's token
success cache): checking a service-account token reads the service account
(and its bound pod or secret) from etcd, and a controller sends its token
with every request. So a revoked token (its pod or account deleted) stops
working within 10 seconds, as upstream's does; a refused one is never cached.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store, VerificationError

from labkit.api import errors, registry
from labkit.apiserver.auth import AUTHENTICATED, UserInfo
from labkit.apiserver.auth import tokens

log = logging.getLogger("labkit.apiserver.authn")

LEGACY_ISSUER = "kubernetes/serviceaccount"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts"
LEEWAY_SECONDS = 60  # upstream tolerates this much clock skew on exp/nbf/iat
TOKEN_SUCCESS_CACHE_SECONDS = 10  # upstream's TokenSuccessCacheTTL
TOKEN_CACHE_SIZE = 4096
# Who a request on the (development-only) insecure port is, as upstream's insecure handler had it:
# the gate does not run there, so nothing authenticates it.
INSECURE_USER = UserInfo("system:unsecured", groups=("system:masters", AUTHENTICATED))

SERVICEACCOUNTS = registry.lookup("", "v1", "serviceaccounts")
PODS = registry.lookup("", "v1", "pods")
SECRETS = registry.lookup("", "v1", "secrets")
NODES = registry.lookup("", "v1", "nodes")
BOUND_KINDS = {"Pod": PODS, "Secret": SECRETS, "Node": NODES}


class InvalidCredentials(Exception):
    """Credentials were presented and are not good: 401 (the message is for the log only)."""


def with_authenticated_group(user: UserInfo) -> UserInfo:
    if AUTHENTICATED in user.groups:
        return user
    return UserInfo(user.name, user.uid, (*user.groups, AUTHENTICATED), user.extra)


def service_account_user(namespace: str, name: str, uid: str = "", extra: dict | None = None) -> UserInfo:
    return UserInfo(f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}", uid,
                    (SERVICE_ACCOUNTS_GROUP, f"{SERVICE_ACCOUNTS_GROUP}:{namespace}"), extra or {})


# -- client certificates ------------------------------------------------------------

def user_from_certificate(cert) -> UserInfo | None:
    """The user a (verified) certificate names: the subject's CN, its O values as groups; None without a CN."""
    from labkit.pki.issue import common_name, organizations

    if not common_name(cert):
        return None  # upstream's CommonNameUserConversion: no user, no error (another authenticator may know it)
    return UserInfo(common_name(cert), "", organizations(cert))


class X509Authenticator:
    """The TLS connection's client certificate, verified here against ``--client-ca-file`` as upstream's x509
    authenticator does (the handshake only asked for it, see tls.py): it must be signed by a certificate of
    that file, be within its validity window (and so must the CA), and allow client authentication
    (extended key usage clientAuth, or no extended key usage at all, as Go's x509). A certificate that fails
    raises InvalidCredentials (401); a request without one is not this authenticator's.

    The client's own intermediates are not available to Python 3.11's ssl, so a client certificate must be
    signed directly by a certificate of the CA file (as all of labkit.pki's are; a bundle may hold several).
    A verified certificate is remembered by its SHA-256 (keep-alive clients send one request after another);
    its validity window is checked again on every use, and a refused one is never remembered.
    """

    CACHE_SIZE = 1024

    def __init__(self, client_ca_file: str | Path):
        try:
            roots = x509.load_pem_x509_certificates(Path(client_ca_file).read_bytes())
        except (OSError, ValueError) as exc:
            raise ValueError(f"--client-ca-file {client_ca_file}: "
                             f"{getattr(exc, 'strerror', None) or exc}") from None
        self.store = Store(roots)
        # The Web PKI's end-entity rules, except that a client certificate need not name a host (no SAN)
        self.ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
            x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
        self.ca_policy = ExtensionPolicy.webpki_defaults_ca()
        self.verified: OrderedDict[bytes, tuple[UserInfo | None, float, float]] = OrderedDict()

    def authenticate(self, request: web.Request) -> UserInfo | None:
        transport = request.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        if ssl_object is None:
            return None
        der = ssl_object.getpeercert(binary_form=True)  # as sent: the handshake did not verify it
        if not der:
            return None
        return self.verify(der)

    def verify(self, der: bytes, now: float | None = None) -> UserInfo | None:
        """The user of a DER client certificate that verifies against the client CA; InvalidCredentials if not."""
        now = time.time() if now is None else now
        fingerprint = hashlib.sha256(der).digest()
        known = self.verified.get(fingerprint)
        if known is not None and known[1] <= now <= known[2]:
            self.verified.move_to_end(fingerprint)
            return known[0]
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError as exc:
            raise InvalidCredentials(f"client certificate: unreadable: {exc}") from None
        verifier = (PolicyBuilder().store(self.store).time(datetime.fromtimestamp(now, timezone.utc))
                    .extension_policies(ca_policy=self.ca_policy, ee_policy=self.ee_policy).build_client_verifier())
        try:
            verified = verifier.verify(cert, [])
        except VerificationError as exc:
            raise InvalidCredentials(f"verifying certificate {_describe(cert)} failed: {exc}") from None
        not_before = max(c.not_valid_before_utc.timestamp() for c in verified.chain)
        not_after = min(c.not_valid_after_utc.timestamp() for c in verified.chain)
        user = user_from_certificate(cert)
        self.verified[fingerprint] = (user, not_before, not_after)
        while len(self.verified) > self.CACHE_SIZE:
            self.verified.popitem(last=False)
        return user


def _describe(cert) -> str:
    """How upstream's log names a certificate: subject, serial number and validity."""
    return (f"subject={cert.subject.rfc4514_string()!r} SN={cert.serial_number} "
            f"valid {cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}..{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}")


# -- bearer tokens ------------------------------------------------------------------

def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


@dataclass
class TokenFile:
    """``--token-auth-file``: static tokens, one CSV line each: token,user,uid[,"group1,group2"]."""

    users: dict[str, UserInfo] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> "TokenFile":
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ValueError(f"--token-auth-file {path}: {exc.strerror or exc}") from None
        users: dict[str, UserInfo] = {}
        for number, row in enumerate(csv.reader(text.splitlines()), start=1):
            if not row or (len(row) == 1 and not row[0].strip()) or row[0].startswith("#"):
                continue
            if len(row) < 3:
                raise ValueError(f"--token-auth-file {path}, line {number}: at least 3 columns are needed "
                                 f"(token, user name, user uid), found {len(row)}")
            token, name, uid = (c.strip() for c in row[:3])
            if not token or not name:
                raise ValueError(f"--token-auth-file {path}, line {number}: the token and the user name "
                                 "must not be empty")
            if token in users:
                raise ValueError(f"--token-auth-file {path}, line {number}: this token is already on an "
                                 "earlier line")
            groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
            users[token] = UserInfo(name, uid, groups)
        return cls(users)

    def authenticate_token(self, token: str) -> UserInfo | None:
        for known, user in self.users.items():
            if hmac.compare_digest(known.encode(), token.encode()):  # constant time, as upstream
                return user
        return None


class ServiceAccountTokens:
    """Checks service-account JWTs: signature, issuer, audiences, expiry, and that what they name still exists."""

    def __init__(self, public_keys: list, issuers: list[str], api_audiences: list[str], storage):
        self.public_keys = public_keys
        self.issuers = issuers  # --service-account-issuer values: the first signs, all are accepted
        self.api_audiences = api_audiences  # --api-audiences: a token must be for one of them
        self.storage = storage

    def is_ours(self, token: str) -> bool:
        """A JWT whose issuer this apiserver accepts (else another authenticator may know the token)."""
        try:
            claims = tokens.parse(token).claims
        except tokens.TokenError:
            return False
        return claims.get("iss") in (*self.issuers, LEGACY_ISSUER)

    async def authenticate_token(self, token: str, audiences: list[str] | None = None,
                                 now: float | None = None) -> tuple[UserInfo, list[str]]:
        """(user, audiences the token is good for) or InvalidCredentials naming what is wrong."""
        try:
            claims = tokens.verify(token, self.public_keys)
        except tokens.TokenError as exc:
            raise InvalidCredentials(f"service account token: {exc}") from None
        now = time.time() if now is None else now
        if claims.get("iss") == LEGACY_ISSUER:
            user = await self._legacy(token, claims)
            token_audiences = list(self.api_audiences)  # legacy tokens carry none: the apiserver's own
        else:
            user, token_audiences = await self._bound(claims, now)
        wanted = audiences if audiences else self.api_audiences
        matching = [a for a in wanted if a in token_audiences]
        if not matching:
            raise InvalidCredentials(f"token audiences {token_audiences} are not among {wanted}")
        return user, matching

    async def _bound(self, claims: dict, now: float) -> tuple[UserInfo, list[str]]:
        if claims.get("iss") not in self.issuers:
            raise InvalidCredentials(f"service account token: issuer {claims.get('iss')!r} is not accepted")
        for name in ("exp", "nbf", "iat"):
            if name in claims and not isinstance(claims[name], (int, float)):
                raise InvalidCredentials(f"service account token: claim {name} is not a number")
        if "exp" not in claims:
            raise InvalidCredentials("service account token: no expiry (exp)")
        if now > claims["exp"] + LEEWAY_SECONDS:
            raise InvalidCredentials("service account token has expired")
        if "nbf" in claims and now < claims["nbf"] - LEEWAY_SECONDS:
            raise InvalidCredentials("service account token is not valid yet")
        aud = claims.get("aud")
        token_audiences = [aud] if isinstance(aud, str) else list(aud or [])
        k8s = claims.get("kubernetes.io")
        if not isinstance(k8s, dict):
            raise InvalidCredentials("service account token: no kubernetes.io claim")
        namespace = k8s.get("namespace") or ""
        sa = k8s.get("serviceaccount") or {}
        if not namespace or not isinstance(sa, dict) or not sa.get("name"):
            raise InvalidCredentials("service account token: namespace or service account missing")
        if claims.get("sub") != f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{sa['name']}":
            raise InvalidCredentials("service account token: sub does not name its service account")
        account = await self._alive(SERVICEACCOUNTS, namespace, sa["name"], sa.get("uid", ""), "service account")
        extra: dict[str, list[str]] = {}
        for kind in ("pod", "secret", "node"):
            ref = k8s.get(kind)
            if not ref:
                continue
            if not isinstance(ref, dict) or not ref.get("name"):
                raise InvalidCredentials(f"service account token: the {kind} reference has no name")
            resource = BOUND_KINDS[kind.capitalize()]
            if not (kind == "node" and k8s.get("pod")):  # a pod-bound token names its node as information only
                await self._alive(resource, namespace if resource.namespaced else None, ref["name"],
                                  ref.get("uid", ""), kind)
            extra[f"authentication.kubernetes.io/{kind}-name"] = [ref["name"]]
            if ref.get("uid"):
                extra[f"authentication.kubernetes.io/{kind}-uid"] = [ref["uid"]]
        if claims.get("jti"):
            extra["authentication.kubernetes.io/credential-id"] = [f"JTI={claims['jti']}"]
        uid = (account.get("metadata") or {}).get("uid", "")
        return service_account_user(namespace, sa["name"], uid, extra), token_audiences

    async def _legacy(self, token: str, claims: dict) -> UserInfo:
        namespace = claims.get("kubernetes.io/serviceaccount/namespace") or ""
        name = claims.get("kubernetes.io/serviceaccount/service-account.name") or ""
        uid = claims.get("kubernetes.io/serviceaccount/service-account.uid") or ""
        secret_name = claims.get("kubernetes.io/serviceaccount/secret.name") or ""
        if not (namespace and name and secret_name):
            raise InvalidCredentials("legacy service account token: namespace, name or secret missing")
        if claims.get("sub") != f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}":
            raise InvalidCredentials("legacy service account token: sub does not name its service account")
        secret = await self._alive(SECRETS, namespace, secret_name, "", "secret")
        import base64
        stored = (secret.get("data") or {}).get("token", "")
        try:
            stored_token = base64.b64decode(stored).decode()
        except (ValueError, UnicodeDecodeError):
            stored_token = ""
        if not hmac.compare_digest(stored_token.encode(), token.encode()):
            raise InvalidCredentials(f"legacy service account token: secret {namespace}/{secret_name} no longer "
                                     "holds this token")
        account = await self._alive(SERVICEACCOUNTS, namespace, name, uid, "service account")
        return service_account_user(namespace, name, (account.get("metadata") or {}).get("uid", ""),
                                    {"authentication.kubernetes.io/credential-id": [f"secret={secret_name}"]})

    async def _alive(self, resource, namespace: str | None, name: str, uid: str, what: str) -> dict:
        """The object a token names; InvalidCredentials when it is gone, replaced, or being deleted."""
        obj = await self.storage.get_or_none(resource, namespace, name)
        where = f"{namespace}/{name}" if namespace else name
        if obj is None:
            raise InvalidCredentials(f"{what} {where} not found")
        meta = obj.get("metadata") or {}
        if uid and meta.get("uid") != uid:
            raise InvalidCredentials(f"{what} {where}: uid {meta.get('uid')} does not match the token's {uid}")
        deleted_at = meta.get("deletionTimestamp")
        # A graceful deletion sets deletionTimestamp to its end: until then (and the leeway after),
        # the pod's containers still run and still need their token, as upstream allows.
        if deleted_at and _seconds(deleted_at) < time.time() - LEEWAY_SECONDS:
            raise InvalidCredentials(f"{what} {where} has been deleted (at {deleted_at})")
        return obj


def _seconds(rfc3339: str) -> float:
    try:
        return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0  # unreadable: treat as long past


class TokenCache:
    """Tokens that authenticated lately: sha256(token) and audiences -> (user, audiences, until)."""

    def __init__(self, ttl: float = TOKEN_SUCCESS_CACHE_SECONDS, size: int = TOKEN_CACHE_SIZE):
        self.ttl = ttl
        self.size = size
        self.entries: OrderedDict[tuple, tuple[UserInfo, list[str], float]] = OrderedDict()

    @staticmethod
    def key(token: str, audiences: list[str] | None) -> tuple:
        return hashlib.sha256(token.encode()).digest(), tuple(audiences or ())

    def get(self, token: str, audiences: list[str] | None, now: float) -> tuple[UserInfo, list[str]] | None:
        key = self.key(token, audiences)
        found = self.entries.get(key)
        if found is None:
            return None
        user, matched, until = found
        if now >= until:
            del self.entries[key]
            return None
        return user, matched

    def put(self, token: str, audiences: list[str] | None, user: UserInfo, matched: list[str], now: float,
            expires: float | None = None) -> None:
        until = now + self.ttl if expires is None else min(now + self.ttl, expires)
        self.entries[self.key(token, audiences)] = (user, matched, until)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)  # the oldest first


class RequestAuthenticator:
    """The union of the configured authenticators (upstream's authenticator chain), for the auth Gate."""

    def __init__(self, x509: X509Authenticator | None = None, token_file: TokenFile | None = None,
                 service_accounts: ServiceAccountTokens | None = None, cache: TokenCache | None = None):
        self.x509 = x509
        self.token_file = token_file
        self.service_accounts = service_accounts
        self.cache = cache if cache is not None else TokenCache()

    async def authenticate(self, request: web.Request) -> UserInfo | None:
        bad_certificate = None
        if self.x509 is not None:
            try:
                user = self.x509.authenticate(request)
            except InvalidCredentials as exc:
                bad_certificate = exc  # upstream's union: a good bearer token may still authenticate
            else:
                if user is not None:
                    return with_authenticated_group(user)
        token = bearer_token(request)
        if token is None:
            if bad_certificate is not None:  # never anonymous: upstream fails the request on an error
                log.info("%s %s from %s: 401: %s", request.method, request.path, request.remote, bad_certificate)
                raise errors.unauthorized()
            return None
        try:
            user, _ = await self.authenticate_token(token)
        except InvalidCredentials as exc:
            log.info("%s %s from %s: 401: %s", request.method, request.path, request.remote, exc)
            raise errors.unauthorized() from None
        return user

    async def authenticate_token(self, token: str, audiences: list[str] | None = None) -> tuple[UserInfo, list[str]]:
        """A bearer token's user and audiences (TokenReview asks this too); InvalidCredentials if nobody knows it."""
        now = time.time()
        cached = self.cache.get(token, audiences, now)
        if cached is not None:
            return cached
        user, matched = await self._authenticate_token(token, audiences)
        expires = None
        if self.service_accounts is not None and self.service_accounts.is_ours(token):
            exp = tokens.parse(token).claims.get("exp")
            expires = exp + LEEWAY_SECONDS if isinstance(exp, (int, float)) else None
        self.cache.put(token, audiences, user, matched, now, expires)
        return user, matched

    async def _authenticate_token(self, token: str, audiences: list[str] | None) -> tuple[UserInfo, list[str]]:
        if self.token_file is not None:
            user = self.token_file.authenticate_token(token)
            if user is not None:
                # Static tokens have no audience of their own: they are for this apiserver.
                own = self.service_accounts.api_audiences if self.service_accounts else []
                if audiences and own and not set(audiences) & set(own):
                    raise InvalidCredentials("token-auth-file token: not for the requested audiences")
                return with_authenticated_group(user), list(audiences or own)
        if self.service_accounts is not None and self.service_accounts.is_ours(token):
            user, auds = await self.service_accounts.authenticate_token(token, audiences)
            return with_authenticated_group(user), auds
        raise InvalidCredentials("the bearer token is not known to any authenticator")
