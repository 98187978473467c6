"""``--authorization-mode=AlwaysAllow`` and ``AlwaysDeny``: upstream's trivial authorizers.

AlwaysAllow (upstream's default mode) lets every authenticated request
through: for development and for tests of authentication alone. AlwaysDeny
refuses everything (useful to see what only the insecure port can do).
"""

from __future__ import annotations

from labkit.apiserver.auth import ALLOW, DENY, NO_OPINION, Attributes


class AlwaysAllow:
    async def authorize(self, attrs: Attributes) -> tuple[str, str]:
        return ALLOW, ""


class AlwaysDeny:
    async def authorize(self, attrs: Attributes) -> tuple[str, str]:
        return DENY, "Everything is forbidden."


class PrivilegedGroups:
    """Members of these groups may do anything, asked before every mode (upstream: ``system:masters``).

    So an administrator's certificate keeps working even if someone deletes
    the cluster-admin ClusterRoleBinding.
    """

    def __init__(self, *groups: str):
        self.groups = frozenset(groups)

    async def authorize(self, attrs: Attributes) -> tuple[str, str]:
        if self.groups.intersection(attrs.user.groups):
            return ALLOW, ""
        return NO_OPINION, ""
