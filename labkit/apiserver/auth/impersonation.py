"""Impersonation: acting as another user (``kubectl --as=jane --as-group=dev``).

A request may carry, after it authenticated as itself::

    Impersonate-User: jane                     (or system:serviceaccount:<ns>:<name>)
    Impersonate-Group: dev                     (repeatable)
    Impersonate-Uid: 1234
    Impersonate-Extra-<key>: <value>           (repeatable)

Each part is a permission of its own, asked like any request with the verb
``impersonate``: on ``users`` (or the ``serviceaccounts`` object), ``groups``,
``uids`` and ``userextras/<key>`` (the last two in authentication.k8s.io),
named by the value. Only when all are allowed does the request go on as the
impersonated user (who gets ``system:authenticated``, and a service account's
groups when no group is asked for); a refusal is the usual 403, e.g.
``users "jane" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope``.
"""

from __future__ import annotations

from urllib.parse import unquote

from labkit.api import errors
from labkit.apiserver.auth import ANONYMOUS, AUTHENTICATED, UNAUTHENTICATED, Attributes, UserInfo, forbidden

USER_HEADER = "Impersonate-User"
GROUP_HEADER = "Impersonate-Group"
UID_HEADER = "Impersonate-Uid"
EXTRA_PREFIX = "Impersonate-Extra-"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


async def impersonated(headers, user: UserInfo, decide) -> UserInfo:
    """The user the request acts as: ``user`` itself, or the one its Impersonate-* headers name if allowed.

    ``decide`` is the authorizer chain: async (Attributes) -> (allowed, reason).
    """
    name = headers.get(USER_HEADER)
    groups = headers.getall(GROUP_HEADER, []) if hasattr(headers, "getall") else []
    uid = headers.get(UID_HEADER)
    extra: dict[str, list[str]] = {}
    for key, value in headers.items():
        if key.lower().startswith(EXTRA_PREFIX.lower()):
            extra.setdefault(unquote(key[len(EXTRA_PREFIX):]).lower(), []).append(value)
    if name is None:
        if groups or extra or uid:
            asked = [f"{GROUP_HEADER}={g}" for g in groups] + [f"{UID_HEADER}={uid}"] * bool(uid) + \
                [f"{EXTRA_PREFIX}{k}={v}" for k, vs in extra.items() for v in vs]
            raise errors.bad_request(f"requested [{' '.join(asked)}] without impersonating a user")
        return user

    checks = []
    if name.startswith(SERVICE_ACCOUNT_PREFIX) and name.count(":") == 3:
        namespace, account = name[len(SERVICE_ACCOUNT_PREFIX):].split(":", 1)
        checks.append(Attributes(user, "impersonate", True, "", "", "serviceaccounts", "", namespace, account))
        if not groups:
            groups = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
    else:
        checks.append(Attributes(user, "impersonate", True, "", "", "users", "", "", name))
    for group in headers.getall(GROUP_HEADER, []) if hasattr(headers, "getall") else []:
        checks.append(Attributes(user, "impersonate", True, "", "", "groups", "", "", group))
    if uid:
        checks.append(Attributes(user, "impersonate", True, "authentication.k8s.io", "", "uids", "", "", uid))
    for key, values in extra.items():
        for value in values:
            checks.append(Attributes(user, "impersonate", True, "authentication.k8s.io", "", "userextras", key, "",
                                     value))
    for attrs in checks:
        allowed, reason = await decide(attrs)
        if not allowed:
            raise forbidden(attrs, reason)

    groups = list(groups)
    if name == ANONYMOUS:
        if UNAUTHENTICATED not in groups:
            groups.append(UNAUTHENTICATED)
    elif AUTHENTICATED not in groups:
        groups.append(AUTHENTICATED)
    return UserInfo(name, uid or "", tuple(groups), {k: tuple(v) for k, v in extra.items()})
