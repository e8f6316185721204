"""Domain errors: a stable machine-readable code and a Chinese message for end users.

Services raise these; ``backend.app`` turns each into the one error envelope
``{"code", "message", "details"}``. No HTTP here beyond the status each class implies.
"""

from __future__ import annotations

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


class Unavailable(DomainError):
    """An upstream (WeChat, the database) failed in a way worth retrying later."""

    status = 503
