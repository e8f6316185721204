"""Types both APIs share: bounded integers and numbers and free text for requests, a unit in
answers.

Every integer a client sends (path, query or body) has a range in its schema, so an
out-of-range value is a 422 (or a 404 for a path id) before it reaches the database,
where 2⁶³ would overflow the driver, and the OpenAPI document shows minimum/maximum.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from backend.identifiers import clean_text

INT32_MAX = 2**31 - 1  # our integer columns (ids, versions, cursors) on MySQL/MariaDB
JSON_SAFE_INT = 2**53 - 1  # Number.MAX_SAFE_INTEGER: the mini-program's JavaScript

DbId = Annotated[int, Field(ge=1, le=INT32_MAX, description="数据库记录 id")]
Version = Annotated[int, Field(ge=1, le=INT32_MAX)]
Cursor = Annotated[int, Field(ge=0, le=INT32_MAX)]
Page = Annotated[int, Field(ge=1, le=10_000)]
PerPage = Annotated[int, Field(ge=1, le=100)]
# a number typed by an applicant (answers, form fields): JSON-safe and finite
AnswerInt = Annotated[int, Field(ge=-JSON_SAFE_INT, le=JSON_SAFE_INT)]
AnswerFloat = Annotated[float, Field(ge=-JSON_SAFE_INT, le=JSON_SAFE_INT, allow_inf_nan=False)]


class Unit(BaseModel):
    """An approving or supervising unit, everywhere one appears: code and name."""

    code: str
    name: str


def free_text(max_length: int, *, required: bool = True, multiline: bool = False) -> Any:
    """A free-text request field (name, address, reason, opinion, note), cleaned where it
    enters by ``identifiers.clean_text``: invisible and control characters removed, line
    breaks kept only when ``multiline`` (a textarea). A required text left empty by that
    is missing (422, ``MISSING`` 此项必填), whatever invisible characters it was sent as.
    """
    def clean(value: Any) -> Any:
        if not isinstance(value, str):
            return value  # pydantic refuses it as 应为文本
        value = clean_text(value, multiline=multiline)
        if required and not value:
            raise PydanticCustomError("missing", "Field required")
        return value

    # The validator last, after the constraints, so they still reach the OpenAPI document.
    return Annotated[str, StringConstraints(min_length=1 if required else 0,
                                            max_length=max_length), BeforeValidator(clean)]


_TYPED_BREAKS = frozenset("\t\n\r")  # what a textarea sends between lines (CR LF) and a tab


def plain_text(max_length: int, *, multiline: bool = False) -> Any:
    """Optional free text where a control character is refused, not removed (422,
    ``CONTROL_CHARACTER`` 不能包含控制字符): a comment or complaint is kept as the person
    wrote it, and one holding an ESC or NUL was not typed by a person. Line breaks and tabs
    are text; invisible format characters (a pasted zero-width space) are dropped and line
    breaks normalised by ``identifiers.clean_text`` (``multiline``: kept as ``\n``)."""
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            return value  # pydantic refuses it as 应为文本
        if any(unicodedata.category(ch) == "Cc" and ch not in _TYPED_BREAKS for ch in value):
            raise PydanticCustomError("control_character", "control characters are refused")
        return clean_text(value, multiline=multiline)

    return Annotated[str, StringConstraints(max_length=max_length), BeforeValidator(check)]
