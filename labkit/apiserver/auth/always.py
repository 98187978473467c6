"""``--authorization-mode=AlwaysAllow`` and ``AlwaysDeny``: upstream's trivial authorizers.

AlwaysAllow (upstream's default mode) lets every authenticated request
through: for development and for tests of authentication alone. AlwaysDeny
refuses everything (useful to see what only the insecure port can do).
"""

from __future__ import annotations

from labkit.apiserver.auth import ALLOW, DENY, Attributes


class AlwaysAllow:
    async def authorize(self, attrs: Attributes) -> tuple[str, str]:
        return ALLOW, ""


class AlwaysDeny:
    async def authorize(self, attrs: Attributes) -> tuple[str, str]:
        return DENY, "Everything is forbidden."
