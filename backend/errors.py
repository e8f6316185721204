"""Domain errors: a stable machine-readable code and a Chinese message for end users.

Services raise these; ``backend.app`` turns each into the one error envelope
``{"code", "message", "details"}``. No HTTP here beyond the status each class implies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class DomainError(Exception):
    status = 400

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


class BadRequest(DomainError):
    status = 400


class Unauthorized(DomainError):
    status = 401


class PermissionDenied(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class UnsupportedMediaType(DomainError):
    status = 415


class RuleViolation(DomainError):
    status = 422


class FieldsInvalid(RuleViolation):
    """422 naming every bad field at once.

    ``details.fields`` has the one shape request validation also uses
    (``backend.http_errors``): ``[{"field", "code", "message"}]``, from
    ``problems`` = ``{field: {"code", "message"}}``, each field its path in the request body
    (``answers.floor_area``, ``team.2``); the message is ``lead``, every field's message and
    ``more`` (problems that are not fields, detailed in ``details`` by the caller).
    """

    def __init__(self, code: str, problems: Mapping[str, Mapping[str, str]], *, lead: str = "",
                 more: Sequence[str] = (), details: dict[str, Any] | None = None):
        fields = [{"field": field, "code": p["code"], "message": p["message"]}
                  for field, p in problems.items()]
        message = lead + "；".join([*(f["message"] for f in fields), *more])
        super().__init__(code, message, {**(details or {}), "fields": fields})


class Unavailable(DomainError):
    """An upstream (WeChat, the database) failed in a way worth retrying later."""

    status = 503
