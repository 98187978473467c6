"""Who is asking, and may they? Authentication and authorization of every request.

Every request on the secure port passes two gates before anything else runs:

1. **authentication** turns the request's credentials (a client certificate,
   a bearer token) into a ``UserInfo``: a name and groups. Nobody recognised
   is ``system:anonymous`` (group ``system:unauthenticated``), allowed only
   the public endpoints (/healthz, /livez, /readyz, /version).
2. **authorization** asks the authorizers in ``--authorization-mode`` order
   (Node, then RBAC) about the request's ``Attributes`` (user, verb,
   resource, namespace, name ...): the first to allow wins; if none does,
   403 Forbidden, worded like upstream.

Admission (labkit/apiserver/admission.py) comes after these, for writes.
The development-only insecure port skips both gates, as upstream's did.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

from aiohttp import web

from labkit.api import errors
from labkit.api.errors import StatusError

ALLOW, DENY, NO_OPINION = "allow", "deny", "no-opinion"
ANONYMOUS = "system:anonymous"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
WEBSOCKET_CREATE = ("exec", "attach", "portforward")  # pods/<these> over a WebSocket GET also need create


@dataclass(frozen=True)
class UserInfo:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict, hash=False, compare=False)

    def to_dict(self) -> dict:
        out: dict = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            out["uid"] = self.uid
        if self.extra:
            out["extra"] = {k: list(v) for k, v in self.extra.items()}
        return out


ANONYMOUS_USER = UserInfo(ANONYMOUS, groups=(UNAUTHENTICATED,))


@dataclass(frozen=True)
class Attributes:
    """What authorization decides on (upstream's authorizer.Attributes)."""

    user: UserInfo
    verb: str  # get list watch create update patch delete deletecollection; for paths: get post put ...
    resource_request: bool
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""
    # list/watch selectors: the Node authorizer lets a kubelet list only ``spec.nodeName=<itself>``
    field_selector: str = ""
    label_selector: str = ""


class Authenticator(Protocol):
    async def authenticate(self, request: web.Request) -> UserInfo | None:
        """The user the request's credentials prove, None when it carries none; 401 when they are bad."""


class Authorizer(Protocol):
    async def authorize(self, attrs: Attributes) -> tuple[str, str]:
        """(ALLOW | DENY | NO_OPINION, reason)."""


def request_attributes(request: web.Request, user: UserInfo) -> Attributes:
    """The Attributes of an HTTP request, as upstream's RequestInfoFactory derives them."""
    from labkit.apiserver.server import parse_path  # the one URL parser

    path = request.path
    method = request.method
    parts = [p for p in path.split("/") if p]
    if parts[:1] in (["api"], ["apis"]):
        try:
            info = parse_path(path)
        except StatusError:
            info = None
        if info is not None:
            r = info.resource
            if method == "GET":
                if info.name is None:
                    verb = "watch" if request.query.get("watch") in ("1", "true") else "list"
                else:
                    verb = "get"
            elif method == "POST":
                verb = "create"
            elif method == "PUT":
                verb = "update"
            elif method == "PATCH":
                verb = "patch"
            elif method == "DELETE":
                verb = "delete" if info.name else "deletecollection"
            else:
                verb = method.lower()
            namespace = info.namespace or ""
            if r.plural == "namespaces" and info.name:
                namespace = info.name  # upstream: a namespace is in itself
            name = info.name or ""
            field_selector = request.query.get("fieldSelector", "")
            if verb in ("list", "watch") and not name and field_selector:
                # upstream: a list of one name (fieldSelector=metadata.name=x) is authorized as that name
                from labkit.api.selectors import FieldSelector
                try:
                    name = FieldSelector.parse(field_selector, r).exact_value("metadata.name") or ""
                except StatusError:
                    pass  # a bad selector is the handler's 400
            return Attributes(user, verb, True, r.group, r.version, r.plural, info.subresource or "", namespace,
                              name, path, field_selector, request.query.get("labelSelector", ""))
    return Attributes(user, method.lower(), False, path=path)


def forbidden_message(attrs: Attributes, reason: str = "") -> str:
    """Upstream's wording: ``User "jane" cannot list resource "pods" in API group "" in the namespace "web"``."""
    who = f'User "{attrs.user.name}"'
    if not attrs.resource_request:
        text = f'{who} cannot {attrs.verb} path "{attrs.path}"'
    else:
        resource = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
        text = f'{who} cannot {attrs.verb} resource "{resource}" in API group "{attrs.api_group}"'
        if attrs.namespace:
            text += f' in the namespace "{attrs.namespace}"'
        else:  # upstream says so for namespaces too (a list or create of them has no namespace)
            text += " at the cluster scope"
    return text + (f": {reason}" if reason else "")


def forbidden(attrs: Attributes, reason: str = "") -> StatusError:
    message = forbidden_message(attrs, reason)
    if attrs.resource_request:  # upstream names the resource without its subresource: pods "x" is forbidden: ...
        err = errors.forbidden(attrs.resource, attrs.name, message, attrs.api_group)
    else:
        err = StatusError(403, "Forbidden", f'forbidden: {message}')
    return err


class Gate:
    """Authentication then authorization, as an aiohttp middleware for the secure port."""

    def __init__(self, authenticator: Authenticator, authorizers: list[Authorizer], anonymous: bool = True,
                 skip_ports: tuple[int, ...] = ()):
        self.authenticator = authenticator
        self.authorizers = authorizers
        self.anonymous = anonymous
        self.skip_ports = skip_ports  # the insecure port: no gate

    async def decide(self, attrs: Attributes) -> tuple[bool, str]:
        reasons = []
        for authorizer in self.authorizers:
            decision, reason = await authorizer.authorize(attrs)
            if decision == ALLOW:
                return True, reason
            if reason:
                reasons.append(reason)
            if decision == DENY:
                break
        return False, "; ".join(reasons)

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        if sockname and sockname[1] in self.skip_ports:
            return await handler(request)
        user = await self.authenticator.authenticate(request)
        if user is None:
            if not self.anonymous:
                raise errors.unauthorized()
            user = ANONYMOUS_USER
        if any(h.lower().startswith("impersonate-") for h in request.headers):  # kubectl --as
            from labkit.apiserver.auth.impersonation import impersonated

            request["impersonator"] = user
            user = await impersonated(request.headers, user, self.decide)
        request["user"] = user
        attrs = request_attributes(request, user)
        allowed, reason = await self.decide(attrs)
        if allowed and attrs.verb == "get" and attrs.resource == "pods" and attrs.subresource in WEBSOCKET_CREATE \
                and request.headers.get("Upgrade", "").lower() == "websocket":
            # upstream 1.35+ (AuthorizePodWebsocketUpgradeCreatePermission): a WebSocket GET that starts a
            # command needs "create" as well, like SPDY's POST
            attrs = replace(attrs, verb="create")
            allowed, reason = await self.decide(attrs)
        request["authorization"] = ("allow" if allowed else "forbid", reason)  # for the audit log's annotations
        if not allowed:
            if user.name == ANONYMOUS and not self.anonymous:
                raise errors.unauthorized()
            raise forbidden(attrs, reason)
        return await handler(request)
