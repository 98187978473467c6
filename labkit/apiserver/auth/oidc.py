"""Service-account issuer discovery: the OpenID Connect documents that let others check our tokens.

A service-account token is a JWT signed by the apiserver. Something outside
the cluster (Vault, a cloud's workload identity, another cluster) can check
it without asking the apiserver, given the public keys; upstream publishes
them as an OIDC provider would, and so does labkit:

- ``GET /.well-known/openid-configuration``: the issuer
  (``--service-account-issuer``), where the keys are (``jwks_uri``:
  ``--service-account-jwks-uri``, or this server's own /openid/v1/jwks) and
  the signing algorithms;
- ``GET /openid/v1/jwks``: every ``--service-account-key-file`` public key as
  a JSON Web Key (RFC 7517), with the ``kid`` the tokens name.

Served only when the issuer is an https URL (upstream's rule). Both are
ordinary non-resource paths for authorization (upstream's bootstrap policy
grants them to service accounts through system:service-account-issuer-discovery).
"""

from __future__ import annotations

import json
from urllib.parse import urlparse

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from labkit.apiserver.auth import tokens

CONFIGURATION_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/openid/v1/jwks"
_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def jwk(public_key) -> dict:
    """One public key as a JSON Web Key for signature checks."""
    alg, kid = tokens.algorithm_of(public_key), tokens.key_id(public_key)
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        return {"use": "sig", "kty": "RSA", "kid": kid, "alg": alg, "n": _b64_int(numbers.n),
                "e": _b64_int(numbers.e)}
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    numbers, size = public_key.public_numbers(), (public_key.curve.key_size + 7) // 8
    return {"use": "sig", "kty": "EC", "kid": kid, "crv": _CURVES[public_key.curve.name], "alg": alg,
            "x": tokens.b64url_encode(numbers.x.to_bytes(size, "big")),
            "y": tokens.b64url_encode(numbers.y.to_bytes(size, "big"))}


def _b64_int(value: int) -> str:
    return tokens.b64url_encode(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def is_discoverable(issuer: str) -> bool:
    parsed = urlparse(issuer)
    return parsed.scheme == "https" and bool(parsed.netloc)


class IssuerDiscovery:
    def __init__(self, issuer: str, public_keys: list, jwks_uri: str):
        self.configuration = json.dumps({
            "issuer": issuer, "jwks_uri": jwks_uri, "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": sorted({tokens.algorithm_of(k) for k in public_keys})})
        self.keys = json.dumps({"keys": [jwk(k) for k in public_keys]})

    async def openid_configuration(self, request: web.Request) -> web.Response:
        return web.Response(text=self.configuration, content_type="application/json",
                            headers={"Cache-Control": "public, max-age=3600"})

    async def jwks(self, request: web.Request) -> web.Response:
        return web.Response(text=self.keys, content_type="application/jwk-set+json",
                            headers={"Cache-Control": "public, max-age=3600"})

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(CONFIGURATION_PATH, self.openid_configuration)
        app.router.add_get(JWKS_PATH, self.jwks)
