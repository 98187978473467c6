"""The authentication.k8s.io/v1 API: TokenRequest, TokenReview, SelfSubjectReview.

None of these is stored: each request gets an answer computed on the spot.

- **TokenRequest** (``POST .../serviceaccounts/<name>/token``, what
  ``kubectl create token`` and the kubelet's projected volumes call): a new
  bound token for a service account, for some audiences (default: the
  apiserver's ``--api-audiences``), for ``expirationSeconds`` (default one
  hour, at least 10 minutes), optionally bound to a Pod, Secret or Node so it
  dies with that object.
- **TokenReview** (``POST /apis/authentication.k8s.io/v1/tokenreviews``):
  "who is this token?", asked by other servers (a kubelet, a webhook) that got
  a token and want the apiserver to check it.
- **SelfSubjectReview** (``kubectl auth whoami``): "who am I?" — the user the
  request itself authenticated as.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone

from labkit.api import errors
from labkit.api.errors import Cause, StatusError
from labkit.apiserver.auth import UserInfo
from labkit.apiserver.auth import tokens
from labkit.apiserver.auth.authn import BOUND_KINDS, INSECURE_USER, NODES, SERVICE_ACCOUNT_PREFIX, SERVICEACCOUNTS, \
    InvalidCredentials, RequestAuthenticator

GROUP = "authentication.k8s.io"
API_VERSION = f"{GROUP}/v1"
DEFAULT_EXPIRATION_SECONDS = 3600
MIN_EXPIRATION_SECONDS = 10 * 60  # upstream's validation
MAX_EXPIRATION_SECONDS = 1 << 32
# The kubelet asks exactly this for its projected tokens; upstream (--service-account-extend-token-expiration,
# default on) then signs them for a year and marks when they would have expired ("warnafter"), so clients
# that never reread the token file keep working while the stale use can be seen.
WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS = 3607
EXPIRATION_EXTENSION_SECONDS = 365 * 24 * 3600


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(int(seconds), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def bound_claims(*, issuer: str, audiences: list[str], namespace: str, account: dict, expires: int, now: int,
                 bound: tuple[str, dict] | None = None, node: dict | None = None,
                 warn_after: int | None = None) -> dict:
    """The claims of a bound service-account token, upstream's layout (pkg/serviceaccount/claims.go).

    ``node``: for a pod-bound token, the Node the pod runs on (information, as upstream adds it).
    """
    meta = account["metadata"]
    private: dict = {"namespace": namespace, "serviceaccount": {"name": meta["name"], "uid": meta.get("uid", "")}}
    if bound is not None:
        kind, obj = bound
        private[kind.lower()] = {"name": obj["metadata"]["name"], "uid": obj["metadata"].get("uid", "")}
    if node is not None:
        private["node"] = {"name": node["metadata"]["name"], "uid": node["metadata"].get("uid", "")}
    if warn_after is not None:
        private["warnafter"] = warn_after
    return {"aud": audiences, "exp": expires, "iat": now, "iss": issuer, "jti": str(uuid.uuid4()),
            "kubernetes.io": private, "nbf": now, "sub": f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{meta['name']}"}


def legacy_claims(namespace: str, account: dict, secret_name: str) -> dict:
    """The claims of a legacy token kept in a kubernetes.io/service-account-token Secret (no expiry, no audience)."""
    meta = account["metadata"]
    return {"iss": "kubernetes/serviceaccount", "kubernetes.io/serviceaccount/namespace": namespace,
            "kubernetes.io/serviceaccount/secret.name": secret_name,
            "kubernetes.io/serviceaccount/service-account.name": meta["name"],
            "kubernetes.io/serviceaccount/service-account.uid": meta.get("uid", ""),
            "sub": f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{meta['name']}"}


def _body(body, kind: str) -> dict:
    if not isinstance(body, dict):
        raise errors.bad_request(f"the body of the request must be a JSON object ({kind})")
    if body.get("kind") not in (None, kind) or body.get("apiVersion") not in (None, API_VERSION):
        raise errors.bad_request(f'{body.get("kind")} in version "{body.get("apiVersion")}" cannot be handled as a '
                                 f"{kind}: the body must be a {API_VERSION} {kind}")
    spec = body.get("spec") or {}
    if not isinstance(spec, dict):
        raise errors.bad_request(f"{kind}.spec must be an object")
    return spec


class TokenIssuer:
    """Signs bound tokens for the TokenRequest subresource."""

    def __init__(self, signing_key, issuer: str, api_audiences: list[str], storage,
                 max_expiration_seconds: int = 0, extend_expiration: bool = True):
        self.signing_key = signing_key
        self.issuer = issuer
        self.api_audiences = api_audiences
        self.storage = storage
        self.max_expiration_seconds = max_expiration_seconds  # --service-account-max-token-expiration (0: none)
        self.extend_expiration = extend_expiration  # --service-account-extend-token-expiration

    async def token_request(self, namespace: str, name: str, body, options) -> dict:
        """``POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token``."""
        spec = _body(body, "TokenRequest")
        meta = body.get("metadata") or {}
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request("the name of the object "
                                     f"({meta['name']}) does not match the name on the URL ({name})")
        audiences = spec.get("audiences") or list(self.api_audiences)
        if not isinstance(audiences, list) or not all(isinstance(a, str) and a for a in audiences):
            raise errors.invalid("TokenRequest", name, [Cause("spec.audiences", "Invalid value: must be a list "
                                                              "of non-empty strings")], GROUP)
        expiration = spec.get("expirationSeconds", DEFAULT_EXPIRATION_SECONDS)
        if expiration is None:
            expiration = DEFAULT_EXPIRATION_SECONDS
        if not isinstance(expiration, int) or isinstance(expiration, bool):
            raise errors.bad_request(f"spec.expirationSeconds: {expiration!r} is not an integer")
        causes = []
        if expiration < MIN_EXPIRATION_SECONDS:
            causes.append(Cause("spec.expirationSeconds",
                                f"Invalid value: {expiration}: may not specify a duration less than 10 minutes"))
        if expiration > MAX_EXPIRATION_SECONDS:
            causes.append(Cause("spec.expirationSeconds",
                                f"Invalid value: {expiration}: may not specify a duration larger than 2^32 seconds"))
        if causes:
            raise errors.invalid("TokenRequest", name, causes, GROUP)
        if self.max_expiration_seconds and expiration > self.max_expiration_seconds:
            expiration = self.max_expiration_seconds  # upstream shortens, it does not refuse

        account = await self.storage.get(SERVICEACCOUNTS, namespace, name)  # 404 like upstream
        if (account.get("metadata") or {}).get("deletionTimestamp"):
            raise errors.not_found("serviceaccounts", name)
        bound = node = None
        ref = spec.get("boundObjectRef")
        if ref:
            bound = await self._bound_object(namespace, name, ref)
            node_name = (bound[1].get("spec") or {}).get("nodeName") if bound[0] == "Pod" else None
            if node_name:  # the pod's node, as information (none when the Node object is not there)
                node = await self.storage.get_or_none(NODES, None, node_name)

        now = int(time.time())
        expires, warn_after = now + expiration, None
        if self.extend_expiration and bound is not None and bound[0] == "Pod" \
                and expiration == WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS \
                and set(audiences) <= set(self.api_audiences):
            expires, warn_after = now + EXPIRATION_EXTENSION_SECONDS, now + expiration
        claims = bound_claims(issuer=self.issuer, audiences=audiences, namespace=namespace, account=account,
                              expires=expires, now=now, bound=bound, node=node, warn_after=warn_after)
        if options.dry_run:
            token = ""
        else:
            token = tokens.sign(claims, self.signing_key)
        out_spec = {"audiences": audiences, "expirationSeconds": expiration}
        if ref:
            out_spec["boundObjectRef"] = ref
        return {"kind": "TokenRequest", "apiVersion": API_VERSION,
                "metadata": {"name": name, "namespace": namespace, "creationTimestamp": rfc3339(now)},
                "spec": out_spec,
                "status": {"token": token, "expirationTimestamp": rfc3339(now + expiration)}}

    async def _bound_object(self, namespace: str, account_name: str, ref) -> tuple[str, dict]:
        if not isinstance(ref, dict):
            raise errors.bad_request("spec.boundObjectRef must be an object")
        kind, api_version, ref_name = ref.get("kind"), ref.get("apiVersion") or "v1", ref.get("name")
        resource = BOUND_KINDS.get(kind)
        if resource is None or api_version != "v1":
            raise errors.bad_request(f'cannot bind token for serviceaccount "{account_name}" to object of type '
                                     f'{api_version}, Kind={kind}')
        if not ref_name:
            raise errors.invalid("TokenRequest", account_name, [Cause("spec.boundObjectRef.name",
                                                                      "Required value", "FieldValueRequired")], GROUP)
        obj = await self.storage.get(resource, namespace if resource.namespaced else None, ref_name)
        if kind == "Pod" and ((obj.get("spec") or {}).get("serviceAccountName") or "default") != account_name:
            raise errors.bad_request(f'cannot bind token for serviceaccount "{account_name}" to pod running with '
                                     "different serviceaccount name.")
        uid = (obj.get("metadata") or {}).get("uid")
        if ref.get("uid") and ref["uid"] != uid:
            raise errors.conflict(resource.plural, ref_name, detail=(
                f"the UID in the bound object reference ({ref['uid']}) does not match the UID in record. "
                "The object might have been deleted and then recreated"))
        return kind, obj


class Reviews:
    """TokenReview and SelfSubjectReview: computed from the authenticator."""

    def __init__(self, authenticator: RequestAuthenticator):
        self.authenticator = authenticator

    async def self_subject_review(self, namespace, body, options) -> dict:
        _body(body, "SelfSubjectReview")
        user: UserInfo = options.user or INSECURE_USER  # no user: the insecure port, where no gate runs
        return {"kind": "SelfSubjectReview", "apiVersion": API_VERSION,
                "metadata": {"creationTimestamp": rfc3339(time.time())},
                "status": {"userInfo": user.to_dict()}}

    async def token_review(self, namespace, body, options) -> dict:
        spec = _body(body, "TokenReview")
        token = spec.get("token")
        if not isinstance(token, str) or not token:
            raise errors.invalid("TokenReview", "", [Cause("spec.token", "Required value", "FieldValueRequired")],
                                 GROUP)
        audiences = spec.get("audiences") or None
        status: dict
        try:
            user, matched = await self.authenticator.authenticate_token(token, audiences)
            status = {"authenticated": True, "user": user.to_dict(), "audiences": matched}
        except InvalidCredentials as exc:
            status = {"authenticated": False, "user": {}, "error": f"[invalid bearer token, {exc}]"}
        except StatusError:
            raise
        out_spec = {"token": token}
        if audiences:
            out_spec["audiences"] = audiences
        return {"kind": "TokenReview", "apiVersion": API_VERSION,
                "metadata": {"creationTimestamp": rfc3339(time.time())}, "spec": out_spec, "status": status}


def register(reg, issuer: TokenIssuer | None, reviews: Reviews) -> None:
    """Hook the computed resources into the apiserver's registry."""
    if issuer is not None:
        reg.subresource_handlers[("", "serviceaccounts", "token")] = issuer.token_request
    reg.virtual[(GROUP, "selfsubjectreviews")] = reviews.self_subject_review
    reg.virtual[(GROUP, "tokenreviews")] = reviews.token_review

