"""authorization.k8s.io/v1: asking the apiserver "may this user do that?" (``kubectl auth can-i``).

Four kinds, each POSTed and answered at once, never stored:

===========================  ======================================  ====================================
kind                         asks about                              kubectl
===========================  ======================================  ====================================
SelfSubjectAccessReview      the requesting user, one action         ``kubectl auth can-i list pods``
SubjectAccessReview          any user/groups, one action             ``kubectl auth can-i ... --as=jane``
                                                                     (kubectl impersonates, then asks
                                                                     with a SelfSubjectAccessReview)
LocalSubjectAccessReview     any user, one action in the URL's       (namespace admins: the admin role
                             namespace                               grants creating these)
SelfSubjectRulesReview       the requesting user, every rule in a    ``kubectl auth can-i --list``
                             namespace
===========================  ======================================  ====================================

The answer comes from the same authorizers, in the same order, as a real
request would get (``--authorization-mode``), so ``status.allowed`` is what
the request would meet; ``status.reason`` says which binding allowed it.
"""

from __future__ import annotations

from typing import Any

from labkit.api import errors
from labkit.api.errors import Cause
from labkit.apiserver.auth import ALLOW, AUTHENTICATED, DENY, NO_OPINION, Attributes, UserInfo
from labkit.apiserver.auth.always import AlwaysAllow

GROUP = "authorization.k8s.io"
API_VERSION = f"{GROUP}/v1"
# Who the development-only insecure port acts as (upstream's insecure superuser).
INSECURE_SUPERUSER = UserInfo("system:unsecured", groups=("system:masters", AUTHENTICATED))


async def evaluate(authorizers: list, attrs: Attributes) -> tuple[str, str]:
    """The first authorizer to allow or deny decides (upstream's union authorizer)."""
    reasons = []
    for authorizer in authorizers:
        decision, reason = await authorizer.authorize(attrs)
        if decision in (ALLOW, DENY):
            return decision, reason
        if reason:
            reasons.append(reason)
    return NO_OPINION, "\n".join(reasons)


def _invalid(kind: str, field: str, value: Any, message: str) -> errors.StatusError:
    shown = "null" if value is None else f'"{value}"' if isinstance(value, str) else str(value)
    return errors.invalid(kind, "", [Cause(field, f"Invalid value: {shown}: {message}")], GROUP)


def attributes_from_spec(kind: str, user: UserInfo, spec: dict) -> Attributes:
    """The Attributes a review's resourceAttributes or nonResourceAttributes describe."""
    resource = spec.get("resourceAttributes")
    non_resource = spec.get("nonResourceAttributes")
    if resource is not None and non_resource is not None:
        raise _invalid(kind, "spec.nonResourceAttributes", "",
                       "cannot be specified in combination with resourceAttributes")
    if resource is None and non_resource is None:
        raise _invalid(kind, "spec.resourceAttributes", None,
                       "exactly one of nonResourceAttributes or resourceAttributes must be specified")
    if resource is not None:
        if not isinstance(resource, dict):
            raise errors.bad_request(f"{kind}: spec.resourceAttributes must be an object")
        return Attributes(user, resource.get("verb") or "", True, resource.get("group") or "",
                          resource.get("version") or "", resource.get("resource") or "",
                          resource.get("subresource") or "", resource.get("namespace") or "",
                          resource.get("name") or "",
                          field_selector=((resource.get("fieldSelector") or {}).get("rawSelector") or ""),
                          label_selector=((resource.get("labelSelector") or {}).get("rawSelector") or ""))
    if not isinstance(non_resource, dict):
        raise errors.bad_request(f"{kind}: spec.nonResourceAttributes must be an object")
    return Attributes(user, non_resource.get("verb") or "", False, path=non_resource.get("path") or "")


def _status(decision: str, reason: str) -> dict:
    status: dict = {"allowed": decision == ALLOW}
    if decision == DENY:
        status["denied"] = True
    if reason:
        status["reason"] = reason
    return status


def _answer(kind: str, body: dict, status: dict) -> dict:
    meta = dict(body.get("metadata") or {})
    meta.setdefault("creationTimestamp", None)
    return {"kind": kind, "apiVersion": API_VERSION, "metadata": meta, "spec": body.get("spec") or {},
            "status": status}


def _body(kind: str, body: Any) -> dict:
    if not isinstance(body, dict):
        raise errors.bad_request(f"the body of the request must be a {kind}")
    if body.get("kind") not in (None, kind) or body.get("apiVersion") not in (None, API_VERSION):
        raise errors.bad_request(f'{body.get("kind")} in version "{body.get("apiVersion")}" cannot be handled as a '
                                 f"{kind}")
    if not isinstance(body.get("spec") or {}, dict):
        raise errors.bad_request(f"{kind}: spec must be an object")
    return body


def _requester(options) -> UserInfo:
    return options.user if options.user is not None else INSECURE_SUPERUSER


class Reviews:
    """The four review resources over the apiserver's authorizers (in ``--authorization-mode`` order)."""

    def __init__(self, authorizers: list):
        self.authorizers = authorizers

    def register(self, reg) -> None:
        reg.virtual[(GROUP, "selfsubjectaccessreviews")] = self.self_subject_access_review
        reg.virtual[(GROUP, "subjectaccessreviews")] = self.subject_access_review
        reg.virtual[(GROUP, "localsubjectaccessreviews")] = self.local_subject_access_review
        reg.virtual[(GROUP, "selfsubjectrulesreviews")] = self.self_subject_rules_review

    async def self_subject_access_review(self, namespace: str | None, body: Any, options) -> dict:
        kind = "SelfSubjectAccessReview"
        body = _body(kind, body)
        attrs = attributes_from_spec(kind, _requester(options), body.get("spec") or {})
        return _answer(kind, body, _status(*await evaluate(self.authorizers, attrs)))

    async def subject_access_review(self, namespace: str | None, body: Any, options) -> dict:
        kind = "SubjectAccessReview"
        body = _body(kind, body)
        spec = body.get("spec") or {}
        attrs = attributes_from_spec(kind, _subject(kind, spec), spec)
        return _answer(kind, body, _status(*await evaluate(self.authorizers, attrs)))

    async def local_subject_access_review(self, namespace: str | None, body: Any, options) -> dict:
        kind = "LocalSubjectAccessReview"
        body = _body(kind, body)
        spec = body.get("spec") or {}
        body_ns = (body.get("metadata") or {}).get("namespace")
        if body_ns and body_ns != namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on "
                                     "the request")
        if spec.get("nonResourceAttributes") is not None:
            raise _invalid(kind, "spec.nonResourceAttributes", "", "disallowed on this kind of request")
        resource = spec.get("resourceAttributes")
        if isinstance(resource, dict) and (resource.get("namespace") or "") != (namespace or ""):
            raise errors.bad_request(f"spec.resourceAttributes.namespace must match namespace: {namespace}")
        attrs = attributes_from_spec(kind, _subject(kind, spec), spec)
        body = {**body, "metadata": {**(body.get("metadata") or {}), "namespace": namespace}}
        return _answer(kind, body, _status(*await evaluate(self.authorizers, attrs)))

    async def self_subject_rules_review(self, namespace: str | None, body: Any, options) -> dict:
        kind = "SelfSubjectRulesReview"
        body = _body(kind, body)
        wanted = (body.get("spec") or {}).get("namespace") or ""
        if not wanted:
            raise errors.bad_request("no namespace on request")
        user = _requester(options)
        resource_rules, non_resource_rules, incomplete, problems = [], [], False, []
        for authorizer in self.authorizers:
            if isinstance(authorizer, AlwaysAllow):
                resource_rules.append({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})
                non_resource_rules.append({"verbs": ["*"], "nonResourceURLs": ["*"]})
                continue
            rules_for = getattr(authorizer, "rules_for", None)
            if rules_for is None:
                continue
            found, found_urls, partial, problem = rules_for(user, wanted)
            resource_rules += [_resource_rule(r) for r in found]
            non_resource_rules += [{"verbs": list(r.get("verbs") or []),
                                    "nonResourceURLs": list(r.get("nonResourceURLs") or [])} for r in found_urls]
            incomplete = incomplete or partial
            if problem:
                problems.append(problem)
        status: dict = {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules,
                        "incomplete": incomplete}
        if problems:
            status["evaluationError"] = "; ".join(problems)
        return _answer(kind, body, status)


def _resource_rule(rule: dict) -> dict:
    out = {"verbs": list(rule.get("verbs") or [])}
    for key in ("apiGroups", "resources", "resourceNames"):
        if rule.get(key):
            out[key] = list(rule[key])
    return out


def _subject(kind: str, spec: dict) -> UserInfo:
    user, groups = spec.get("user") or "", spec.get("groups") or []
    if not user and not groups:
        raise _invalid(kind, "spec.user", "", "at least one of user or group must be specified")
    extra = {k: tuple(v) for k, v in (spec.get("extra") or {}).items()}
    return UserInfo(user, spec.get("uid") or "", tuple(groups), extra)
