"""One error envelope everywhere: ``{"code", "message", "details"}``.

Domain errors carry their own code; HTTP errors get a stable code per status; request
validation errors list every bad field with a Chinese message. Never an HTML page or a
stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from apiflask import APIFlask
from apiflask.exceptions import HTTPError
from flask import current_app, request
from flask_limiter.errors import RateLimitExceeded
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.orm.exc import StaleDataError

from backend.errors import DomainError
from backend.logging import request_id_var
from media.errors import MediaRejected

log = logging.getLogger(__name__)

STATUS_ERRORS: dict[int, tuple[str, str]] = {
    400: ("REQUEST_MALFORMED", "请求格式不正确，无法解析"),
    401: ("AUTH_REQUIRED", "请先登录"),
    403: ("FORBIDDEN", "无权执行此操作"),
    404: ("NOT_FOUND", "请求的资源不存在"),
    405: ("METHOD_NOT_ALLOWED", "不支持该请求方法"),
    409: ("CONFLICT", "操作与当前状态冲突"),
    413: ("REQUEST_TOO_LARGE", "请求内容过大"),
    415: ("REQUEST_UNSUPPORTED_MEDIA_TYPE", "不支持的请求内容类型"),
    422: ("REQUEST_INVALID", "请求参数不正确"),
    429: ("RATE_LIMITED", "操作过于频繁，请稍后再试"),
    500: ("SERVER_ERROR", "服务器开小差了，请稍后重试"),
    503: ("SERVICE_UNAVAILABLE", "服务暂时不可用，请稍后重试"),
}

MEDIA_STATUS = {"UPLOAD_TOO_LARGE": 413, "UPLOAD_TYPE_NOT_ALLOWED": 415, "UPLOAD_PHOTO_ONLY": 415,
                "MEDIA_NOT_FOUND": 404, "MEDIA_LINK_INVALID": 403, "MEDIA_LINK_EXPIRED": 403}

# pydantic error types → what an applicant reads
FIELD_MESSAGES: dict[str, str] = {
    "missing": "此项必填",
    "extra_forbidden": "不认识的字段",
    "string_type": "应为文本",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "finite_number": "数值超出范围",
    "value_type": "取值类型不正确",
    "bool_type": "应为是或否（true/false）",
    "bool_parsing": "应为是或否（true/false）",
    "dict_type": "应为对象",
    "list_type": "应为列表",
    "string_too_short": "内容过短",
    "string_too_long": "内容过长",
    "too_short": "条目过少",
    "too_long": "条目过多",
    "greater_than_equal": "数值过小",
    "less_than_equal": "数值过大",
    "greater_than": "数值过小",
    "less_than": "数值过大",
    "literal_error": "取值不在允许范围内",
    "enum": "取值不在允许范围内",
    "string_pattern_mismatch": "格式不正确",
    "control_character": "不能包含控制字符",
}


def _strings(**descriptions: str) -> dict[str, dict[str, str]]:
    return {name: {"type": "string", "description": d} for name, d in descriptions.items()}


FIELD_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["field", "code", "message"],
    "properties": _strings(field="字段路径，如 answers.floor_area、team.0",
                           code="稳定的问题代码，如 MISSING、USCC_INVALID", message="中文说明"),
}

# documented as the HTTPError and ValidationError components of /openapi.json
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["code", "message", "details"],
    "properties": {
        **_strings(code="稳定的错误代码，如 NOT_FOUND、FORM_INVALID", message="给用户看的中文说明"),
        "details": {
            "type": "object",
            "description": "随错误而定的补充信息；字段有误时 fields 逐项列出",
            "properties": {
                "fields": {"type": "array", "items": FIELD_PROBLEM_SCHEMA},
                **_strings(location="json | query | form", request_id="请求编号（X-Request-ID）"),
            },
        },
    },
}


def envelope(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {"code": code, "message": message, "details": details or {}}
    if request_id := request_id_var.get():
        body["details"].setdefault("request_id", request_id)
    return body


# a limit the message names: (pydantic error type, its ctx key) → the message with it
LIMIT_MESSAGES = {"string_too_long": ("max_length", "内容过长（最多 {} 字）"),
                  "too_long": ("max_length", "条目过多（最多 {} 条）")}


def _field_message(error: Any) -> str:
    """A field's Chinese message; a length limit says the limit."""
    key, template = LIMIT_MESSAGES.get(error["type"], (None, None))
    limit = (error.get("ctx") or {}).get(key) if key else None
    if limit is not None:
        return template.format(limit)
    return FIELD_MESSAGES.get(error["type"], "格式不正确")


def validation_details(error: PydanticValidationError, location: str) -> dict[str, Any]:
    """Every bad field at once, each with a Chinese message and pydantic's error type
    (upper-cased) as its code: the same ``fields`` shape as ``backend.errors.FieldsInvalid``."""
    return {
        "location": location,
        "fields": [
            {
                "field": ".".join(str(p) for p in e["loc"]) or "_body",
                "code": e["type"].upper(),
                "message": _field_message(e),
            }
            for e in error.errors()
        ],
    }


def document_any_error(spec: dict[str, Any]) -> dict[str, Any]:
    """Every operation may also answer any other error status (a role refused, a malformed
    body, a rate limit, …): as the ``default`` response, always the one envelope."""
    default = {"description": "其他错误：统一为 {code, message, details}",
               "content": {"application/json": {
                   "schema": {"$ref": "#/components/schemas/HTTPError"}}}}
    for operations in spec["paths"].values():
        for operation in operations.values():
            operation["responses"].setdefault("default", default)
    return spec


def reply(code: str, message: str, details: dict[str, Any] | None, status: int,
          headers: Any = None):
    """The error as the client reads it: the JSON envelope, or, under a path prefix that
    people open in a browser (``app.extensions["error_pages"]``: prefix → page renderer,
    e.g. the console's), a page in Chinese with the same code, status and headers."""
    for prefix, page in current_app.extensions.get("error_pages", {}).items():
        if request.path.startswith(prefix):
            return page(status, code, message), status, headers or {}
    return envelope(code, message, details), status, headers or {}


def register_error_handlers(app: APIFlask) -> None:
    app.config.update(HTTP_ERROR_SCHEMA=ERROR_SCHEMA, VALIDATION_ERROR_SCHEMA=ERROR_SCHEMA)

    @app.error_processor
    def _http_error(error: HTTPError):
        code, message = STATUS_ERRORS.get(error.status_code, ("HTTP_ERROR", "请求无法完成"))
        details: dict[str, Any] = {}
        cause = error.__cause__
        if isinstance(cause, PydanticValidationError):
            location = next(iter(error.detail), "json") if error.detail else "json"
            details = validation_details(cause, location)
        return reply(code, message, details, error.status_code, error.headers)

    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError):
        return reply(error.code, error.message, dict(error.details), error.status, error.headers)

    @app.errorhandler(MediaRejected)
    def _media_rejected(error: MediaRejected):
        status = MEDIA_STATUS.get(error.code, 422)
        return reply(error.code, error.message, dict(error.details), status)

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(error: RateLimitExceeded):
        # Retry-After is the limit's window: the most a client has to wait
        code, message = STATUS_ERRORS[429]
        retry_after = str(error.limit.limit.get_expiry())
        if error.response is not None:  # the route's own answer (on_breach: a page)
            error.response.headers["Retry-After"] = retry_after
            return error.response
        return reply(code, message, {"retry_after_seconds": int(retry_after)}, 429,
                     {"Retry-After": retry_after})

    @app.errorhandler(StaleDataError)
    def _stale(error: StaleDataError):
        # optimistic locking: someone else changed the row between our read and our write
        return reply("VERSION_CONFLICT", "数据已被他人更新，请刷新后重试", None, 409)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error")
        code, message = STATUS_ERRORS[500]
        return reply(code, message, None, 500)
