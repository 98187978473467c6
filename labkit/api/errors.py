"""API errors as upstream Status objects.

Every refusal the apiserver gives is a ``StatusError``: it carries the HTTP
code, the upstream ``reason`` and a message worded like upstream's, so that
kubectl prints exactly what a learner would see against a real cluster, and
client libraries can branch on ``reason`` (``kubectl apply`` does on NotFound,
controllers do on Conflict).

The constructors below are the only place such messages are spelled out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Cause:
    """One reason an object is invalid (``details.causes[]``)."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


class StatusError(Exception):
    """An error the API answers with a ``Status`` object of ``code``."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        name: str | None = None,
        group: str | None = None,
        kind: str | None = None,
        causes: list[Cause] | None = None,
        retry_after_seconds: int | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.name = name
        self.group = group
        self.kind = kind
        self.causes = list(causes or [])
        self.retry_after_seconds = retry_after_seconds

    def to_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        details: dict[str, Any] = {}
        if self.name is not None:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind is not None:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after_seconds is not None:
            details["retryAfterSeconds"] = self.retry_after_seconds
        if details:
            status["details"] = details
        return status

    def __repr__(self) -> str:
        return f"StatusError({self.code}, {self.reason!r}, {self.message!r})"


def qualified(resource: str, group: str = "") -> str:
    """``pods`` or ``deployments.apps``: how upstream names a resource in messages."""
    return f"{resource}.{group}" if group else resource


def success_status(details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Status upstream answers to a delete that leaves nothing to return."""
    status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        status["details"] = details
    return status


# -- the upstream reasons -----------------------------------------------------


def not_found(resource: str, name: str, group: str = "") -> StatusError:
    return StatusError(
        404, "NotFound", f'{qualified(resource, group)} "{name}" not found',
        name=name, group=group, kind=resource,
    )


def path_not_found(path: str = "") -> StatusError:
    """A URL that names no API resource at all (upstream: 404 with reason NotFound)."""
    return StatusError(404, "NotFound", "the server could not find the requested resource")


def already_exists(resource: str, name: str, group: str = "") -> StatusError:
    return StatusError(
        409, "AlreadyExists", f'{qualified(resource, group)} "{name}" already exists',
        name=name, group=group, kind=resource,
    )


def conflict(resource: str, name: str, group: str = "", detail: str | None = None) -> StatusError:
    detail = detail or (
        "the object has been modified; please apply your changes to the latest version and try again"
    )
    return StatusError(
        409, "Conflict",
        f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {detail}',
        name=name, group=group, kind=resource,
    )


def invalid(kind: str, name: str, causes: list[Cause], group: str = "") -> StatusError:
    """422: ``Pod "x" is invalid: spec.containers: Required value``."""
    parts = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
    if len(parts) == 1:
        summary = parts[0]
    else:
        summary = "[" + ", ".join(parts) + "]"
    kind_label = f"{kind}.{group}" if group else kind
    return StatusError(
        422, "Invalid", f'{kind_label} "{name}" is invalid: {summary}',
        name=name, group=group, kind=kind, causes=causes,
    )


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def unauthorized(message: str = "Unauthorized") -> StatusError:
    return StatusError(401, "Unauthorized", message)


def go_json_type(value: Any) -> str:
    """A JSON value's type as Go's encoding/json names it in ``json: cannot unmarshal <type> into ...``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "null")


def forbidden(resource: str, name: str, message: str, group: str = "") -> StatusError:
    """403 worded like upstream: ``pods "x" is forbidden: <why>`` (or without a name)."""
    target = f'{qualified(resource, group)} "{name}"' if name else qualified(resource, group)
    return StatusError(
        403, "Forbidden", f"{target} is forbidden: {message}",
        name=name or None, group=group, kind=resource,
    )


def namespace_terminating(resource: str, name: str, namespace: str, group: str = "") -> StatusError:
    err = forbidden(
        resource, name,
        f"unable to create new content in namespace {namespace} because it is being terminated",
        group,
    )
    err.causes = [Cause(field="metadata.namespace", reason="NamespaceTerminating",
                        message=f"namespace {namespace} is being terminated")]
    return err


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> StatusError:
    return StatusError(405, "MethodNotAllowed", message)


def not_acceptable(message: str) -> StatusError:
    return StatusError(406, "NotAcceptable", message)


def expired(message: str) -> StatusError:
    """410: a watch or list from a compacted resourceVersion."""
    return StatusError(410, "Expired", message)


def gone(message: str) -> StatusError:
    return StatusError(410, "Gone", message)


def too_large(message: str = "the server has received too large of a request") -> StatusError:
    return StatusError(413, "RequestEntityTooLarge", message)


def unsupported_media_type(content_type: str) -> StatusError:
    return StatusError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got "{content_type}")')


def too_many_requests(message: str, retry_after_seconds: int = 1) -> StatusError:
    return StatusError(429, "TooManyRequests", message, retry_after_seconds=retry_after_seconds)


def internal_error(message: str) -> StatusError:
    return StatusError(500, "InternalError", f"Internal error occurred: {message}")


def service_unavailable(message: str) -> StatusError:
    return StatusError(503, "ServiceUnavailable", message)
