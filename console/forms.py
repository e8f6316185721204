"""Forms in, one service call, and the answer shown in place.

``parse`` reads ``request.form`` with the staff API's own pydantic schema, so a field has one
rule whether it arrives as JSON or from a browser form. ``perform`` runs one service call:
commit and redirect (post/redirect/get) on success, or roll back and render the same page
again with the service's Chinese message beside the form that was sent (the status stays the
service's: 409 for a stale version, 422 for a bad field).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from flask import flash, redirect, request
from pydantic import BaseModel, ValidationError
from werkzeug.datastructures import MultiDict

from backend.errors import DomainError, NotFound, RuleViolation
from backend.extensions import db
from backend.http_errors import MEDIA_STATUS, validation_details
from media.errors import MediaRejected

Schema = TypeVar("Schema", bound=BaseModel)


def _is_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_list(a) for a in typing.get_args(annotation))
    return typing.get_origin(annotation) in (list, set, tuple)


def parse(schema: type[Schema], *, source: MultiDict | None = None, **extra: Any) -> Schema:
    """``request.form`` (or ``source``, e.g. ``request.args`` of a search; plus ``extra``,
    e.g. values from the URL) as ``schema``.

    A list field takes every value of its name (checkboxes, multi-selects); an empty text box
    is an absent field, so the schema's default or "此项必填" applies. Raises RuleViolation
    FORM_INVALID (422) naming every bad field, in the API's ``details.fields`` shape.
    """
    data: dict[str, Any] = {}
    for name, field in schema.model_fields.items():
        values = [v for v in (request.form if source is None else source).getlist(name)
                  if v.strip()]
        if _is_list(field.annotation):
            data[name] = values
        elif values:
            data[name] = values[0]
    data.update(extra)
    try:
        return schema.model_validate(data)
    except ValidationError as error:
        raise RuleViolation("FORM_INVALID", "表单填写有误，请按提示修改",
                            validation_details(error, "form")) from None


def query(schema: type[Schema], **extra: Any) -> Schema:
    """``request.args`` as ``schema``: the one way a console page reads its query string. A
    query the schema refuses (an unknown status, ``page=abc``, ``per_page=9999``) is no such
    page: the Chinese 404, never a 500 or a form error."""
    try:
        return parse(schema, source=request.args, **extra)
    except RuleViolation:
        raise NotFound("PAGE_NOT_FOUND", "没有这样的页面或筛选条件") from None


def problem_of(error: DomainError, action: str | None = None) -> dict[str, Any]:
    """What a page shows of a refused action: the message, its code, each field's message
    by field name, and which form (``action``) it belongs beside."""
    fields = {f["field"]: f["message"] for f in error.details.get("fields", [])}
    return {"code": error.code, "message": error.message, "fields": fields, "action": action,
            "details": error.details}


def _attempt(action: str, call: Callable[[], Any], page: Callable[..., Any]
             ) -> tuple[bool, Any]:
    """(True, what ``call`` returned) committed, or (False, the page with the refusal in
    place and its status) rolled back. A refused upload (media.errors.MediaRejected: too
    large, not the type it claims, broken, empty) is a refusal like a service's."""
    try:
        result = call()
    except MediaRejected as error:  # an uploaded file the media checks refuse, as the API says
        db.session.rollback()
        refused = DomainError(error.code, error.message, dict(error.details))
        refused.status = MEDIA_STATUS.get(error.code, 422)
        return False, (page(problem_of(refused, action)), refused.status)
    except DomainError as error:
        db.session.rollback()
        return False, (page(problem_of(error, action)), error.status)
    db.session.commit()
    return True, result


def perform(action: str, call: Callable[[], Any], *, done: str | Callable[[Any], str],
            then: str | Callable[[Any], str], page: Callable[[dict[str, Any]], Any]):
    """Run ``call`` (parse + one service call) for the form named ``action``.

    Success: commit, flash ``done``, redirect to ``then`` (each may be a function of what
    ``call`` returned). Refusal: roll back, and answer ``page(problem)`` with the error's status.
    """
    ok, result = _attempt(action, call, page)
    if not ok:
        return result
    flash(done(result) if callable(done) else done)
    return redirect(then(result) if callable(then) else then)


def shown_once(action: str, call: Callable[[], Any], *, page: Callable[..., Any]):
    """``perform`` for an answer that must not travel in a flash or a redirect: a secret
    shown this once (a new password, an API key). Success: commit and answer
    ``page(issued=result)``; refusal: roll back and ``page(problem)`` with its status."""
    ok, result = _attempt(action, call, page)
    return page(issued=result) if ok else result
