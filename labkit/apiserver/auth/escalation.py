"""RBAC escalation prevention: nobody grants a permission they do not hold.

Whoever may write Roles and RoleBindings could otherwise give themselves
anything. So, as upstream's RBAC storage does, every write of an RBAC object
is checked against its author's own permissions:

- **Role / ClusterRole** (create, update): the author must already hold every
  rule the role grants (in the role's namespace; cluster-wide for a
  ClusterRole), or be allowed the ``escalate`` verb on roles/clusterroles.
  Setting or changing a ClusterRole's ``aggregationRule`` needs everything
  (``*`` on ``*``): it can gather any rule.
- **RoleBinding / ClusterRoleBinding** (create, update): the author must hold
  every rule of the referenced role, or be allowed the ``bind`` verb on that
  role (``resourceNames`` can name it).
- members of ``system:masters`` (and the development-only insecure port) skip
  the check, as upstream's privileged loopback does.

"Holding" a rule is decided rule by rule: each requested rule is broken
down into one verb on one resource of one group (and one name), and each
piece must be covered by one of the author's rules (``*`` covers all;
``*/status`` covers that subresource of anything; ``/logs/*`` covers URLs
below it). What is missing is listed in the 403, compacted like upstream's::

    roles.rbac.authorization.k8s.io "pod-admin" is forbidden: user "jane" (groups=["system:authenticated"])
    is attempting to grant RBAC permissions not currently held:
    {APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}

It runs as an admission plugin (:class:`RBACEscalationCheck`) on writes of
the four rbac.authorization.k8s.io resources.
"""

from __future__ import annotations

import json

from labkit.api import errors
from labkit.apiserver.admission import CREATE, UPDATE, Attributes as AdmissionAttributes, BasePlugin
from labkit.apiserver.auth import Attributes, UserInfo
from labkit.apiserver.auth.rbac import RoleNotFound

RBAC_GROUP = "rbac.authorization.k8s.io"
SYSTEM_MASTERS = "system:masters"
FULL_AUTHORITY = [
    {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
    {"verbs": ["*"], "nonResourceURLs": ["*"]},
]


# -- does one set of rules cover another? ------------------------------------------------


def breakdown_rule(rule: dict) -> list[dict]:
    """One rule as single-verb, single-group, single-resource (single-name) rules."""
    out = []
    for group in rule.get("apiGroups") or []:
        for resource in rule.get("resources") or []:
            for verb in rule.get("verbs") or []:
                names = rule.get("resourceNames") or []
                if names:
                    for name in names:
                        out.append({"verbs": [verb], "apiGroups": [group], "resources": [resource],
                                    "resourceNames": [name]})
                else:
                    out.append({"verbs": [verb], "apiGroups": [group], "resources": [resource]})
    for url in rule.get("nonResourceURLs") or []:
        for verb in rule.get("verbs") or []:
            out.append({"verbs": [verb], "nonResourceURLs": [url]})
    return out


def _has_all(have: list[str], wanted: list[str]) -> bool:
    return set(wanted) <= set(have)


def _resources_cover(have: list[str], wanted: list[str]) -> bool:
    if "*" in have or _has_all(have, wanted):
        return True
    for resource in wanted:
        if resource in have:
            continue
        if "/" not in resource:
            return False
        if "*/" + resource.split("/", 1)[1] not in have:
            return False
    return True


def _url_covers(have: str, wanted: str) -> bool:
    return have == wanted or (have.endswith("*") and wanted.startswith(have.rstrip("*")))


def _urls_cover(have: list[str], wanted: list[str]) -> bool:
    return all(any(_url_covers(h, w) for h in have) for w in wanted)


def rule_covers(owner: dict, sub: dict) -> bool:
    """Does ``owner`` allow everything the (broken-down) rule ``sub`` allows?"""
    verbs = owner.get("verbs") or []
    groups = owner.get("apiGroups") or []
    owner_names = owner.get("resourceNames") or []
    sub_names = sub.get("resourceNames") or []
    return (("*" in verbs or _has_all(verbs, sub.get("verbs") or []))
            and ("*" in groups or _has_all(groups, sub.get("apiGroups") or []))
            and _resources_cover(owner.get("resources") or [], sub.get("resources") or [])
            and _urls_cover(owner.get("nonResourceURLs") or [], sub.get("nonResourceURLs") or [])
            and (not owner_names if not sub_names else (not owner_names or _has_all(owner_names, sub_names))))


def covers(owner_rules: list[dict], requested: list[dict]) -> tuple[bool, list[dict]]:
    """(all held?, the broken-down pieces that are not)."""
    missing = []
    for rule in requested:
        for piece in breakdown_rule(rule):
            if not any(rule_covers(owner, piece) for owner in owner_rules):
                missing.append(piece)
    return not missing, missing


def compact_rules(rules: list[dict]) -> list[dict]:
    """Join pieces that differ only in their verb (one group, one resource, at most one name)."""
    merged: dict[tuple, dict] = {}
    out = []
    for rule in rules:
        simple = (len(rule.get("apiGroups") or []) == 1 and len(rule.get("resources") or []) == 1
                  and len(rule.get("resourceNames") or []) <= 1 and not rule.get("nonResourceURLs"))
        if not simple:
            out.append(rule)
            continue
        key = (rule["apiGroups"][0], rule["resources"][0], tuple(rule.get("resourceNames") or ()))
        if key in merged:
            merged[key]["verbs"] = merged[key]["verbs"] + list(rule.get("verbs") or [])
        else:
            merged[key] = {**rule, "verbs": list(rule.get("verbs") or [])}
    return out + list(merged.values())


def _go_quoted_list(values: list[str]) -> str:
    """Go's ``%q`` of a []string: ``["get" "list"]``."""
    return "[" + " ".join(json.dumps(v) for v in values) + "]"


def compact_string(rule: dict) -> str:
    """A rule as upstream prints it: ``{APIGroups:[""], Resources:["pods"], Verbs:["get"]}``."""
    parts = []
    for label, key in (("APIGroups", "apiGroups"), ("Resources", "resources"),
                       ("NonResourceURLs", "nonResourceURLs"), ("ResourceNames", "resourceNames"),
                       ("Verbs", "verbs")):
        if rule.get(key):
            parts.append(f"{label}:{_go_quoted_list(rule[key])}")
    return "{" + ", ".join(parts) + "}"


def escalation_message(user: UserInfo, missing: list[dict], resolution_errors: list[str]) -> str:
    lines = sorted({compact_string(r) for r in compact_rules(missing)})
    text = (f"user {json.dumps(user.name)} (groups={_go_quoted_list(list(user.groups))}) is attempting to grant "
            "RBAC permissions not currently held:\n" + "\n".join(lines))
    if resolution_errors:
        text += f"; resolution errors: [{', '.join(resolution_errors)}]"
    return text


# -- the admission plugin -------------------------------------------------------------------


class RBACEscalationCheck(BasePlugin):
    """Refuses RBAC writes that would grant more than their author holds (upstream's policy-based RBAC storage).

    ``authorize`` is the apiserver's whole authorizer chain (for the
    ``escalate`` and ``bind`` verbs); ``resolver`` lists the rules RBAC gives
    a user (labkit.apiserver.auth.rbac.RuleResolver).
    """

    name = "RBACEscalationCheck"
    ROLE_KINDS = ("Role", "ClusterRole")
    BINDING_KINDS = ("RoleBinding", "ClusterRoleBinding")

    def __init__(self, authorize, resolver):
        self.authorize = authorize  # async (labkit.apiserver.auth.Attributes) -> (allowed, reason)
        self.resolver = resolver

    async def validate(self, a: AdmissionAttributes) -> None:
        if a.resource.group != RBAC_GROUP or a.operation not in (CREATE, UPDATE) or a.subresource:
            return
        user = a.user
        if user is None or SYSTEM_MASTERS in user.groups:
            return  # the insecure port and system:masters may do anything (upstream: EscalationAllowed)
        if a.operation == UPDATE and _only_gc_fields_changed(a.obj, a.old):
            return
        kind = a.resource.kind
        namespace = a.namespace or ""
        if kind in self.ROLE_KINDS:
            await self._check_role(a, user, namespace)
        elif kind in self.BINDING_KINDS:
            await self._check_binding(a, user, namespace)

    async def _allowed(self, user: UserInfo, verb: str, resource: str, name: str, namespace: str) -> bool:
        attrs = Attributes(user, verb, True, RBAC_GROUP, "*", resource, "", namespace, name)
        allowed, _ = await self.authorize(attrs)
        return allowed

    def _refuse(self, a: AdmissionAttributes, message: str) -> errors.StatusError:
        return errors.forbidden(a.resource.plural, a.name, message, RBAC_GROUP)

    def _confirm_no_escalation(self, a: AdmissionAttributes, user: UserInfo, namespace: str,
                               rules: list[dict]) -> None:
        owner_rules, resolution_errors = self.resolver.rules_for(user, namespace)
        held, missing = covers(owner_rules, rules)
        if not held:
            raise self._refuse(a, escalation_message(user, missing, resolution_errors))

    async def _check_role(self, a: AdmissionAttributes, user: UserInfo, namespace: str) -> None:
        # upstream asks with the URL's name: none on create
        name = a.name if a.operation == UPDATE else ""
        if await self._allowed(user, "escalate", a.resource.plural, name, namespace):
            return
        obj = a.obj or {}
        self._confirm_no_escalation(a, user, namespace, list(obj.get("rules") or []))
        if a.resource.kind == "ClusterRole":
            aggregating = _aggregates(obj) or (a.operation == UPDATE and _aggregates(a.old or {}))
            if aggregating:
                held, _ = covers(self.resolver.rules_for(user, "")[0], FULL_AUTHORITY)
                if not held:
                    raise self._refuse(a, "must have cluster-admin privileges to use the aggregationRule")

    async def _check_binding(self, a: AdmissionAttributes, user: UserInfo, namespace: str) -> None:
        role_ref = (a.obj or {}).get("roleRef") or {}
        resource = {"ClusterRole": "clusterroles", "Role": "roles"}.get(role_ref.get("kind"))
        if resource and await self._allowed(user, "bind", resource, role_ref.get("name", ""), namespace):
            return
        try:
            rules = self.resolver.role_reference_rules(role_ref, namespace)
        except RoleNotFound as exc:  # upstream refuses with the lookup error
            raise self._refuse(a, str(exc)) from None
        self._confirm_no_escalation(a, user, namespace, rules)


def _aggregates(role: dict) -> bool:
    return bool(((role or {}).get("aggregationRule") or {}).get("clusterRoleSelectors"))


def _only_gc_fields_changed(new: dict | None, old: dict | None) -> bool:
    """Only ownerReferences/finalizers (and server-kept fields) differ: the garbage collector's writes pass."""
    if new is None or old is None:
        return False
    ignored = ("ownerReferences", "finalizers", "resourceVersion", "managedFields", "generation")

    def strip(obj: dict) -> dict:
        meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in ignored}
        return {**obj, "metadata": meta}

    return strip(new) == strip(old)
