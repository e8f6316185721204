"""Per-event message configuration (``templates.yaml``) and WeChat's value rules.

WeChat refuses a subscribe message whose value breaks its keyword type's rule (47003), and a
refused message is a message lost. So every value is *fitted* before sending: ``thing`` is
cut to 20 characters with an ellipsis, ``phrase`` keeps at most 5 Chinese characters,
``character_string`` at most 32 letters, digits and symbols, dates and times are written the
way WeChat reads them (``2026年11月25日 09:00``, ranges with ``~``), line breaks never pass.
A value that cannot be fitted (a date that is not a date) is a configuration error, refused
before WeChat is called.
"""

from __future__ import annotations

import re
import string
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from backend.clock import CHINA

DEFAULT_PATH = Path(__file__).with_name("templates.yaml")
DEFAULT_PAGE = "pages/application/detail?id={application_id}"
ELLIPSIS = "…"

_KIND = re.compile(r"(?P<kind>[a-z_]+?)\d+")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_SYMBOL_CHARS = "".join(chr(c) for c in range(0x21, 0x7F) if not chr(c).isalnum())
_DATE = r"\d{4}(?:年\d{1,2}月\d{1,2}日|-\d{1,2}-\d{1,2}|/\d{1,2}/\d{1,2})"
_CLOCK = r"(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?"
_TIME_POINT = re.compile(rf"(?:{_DATE}\s*)?{_CLOCK}")
_DATE_POINT = re.compile(rf"{_DATE}(?:\s*{_CLOCK})?")
_FIELD = re.compile(r"\{(\w+)\}")
KINDS = frozenset({"thing", "number", "letter", "symbol", "character_string", "phrase", "name",
                   "time", "date", "amount", "phone_number", "car_number"})


class TemplateError(ValueError):
    """A value that no fitting can make acceptable: fix the configuration."""


# --- configuration -------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Template(_Strict):
    name: str = ""
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    title: str
    keywords: dict[str, str]

    @model_validator(mode="after")
    def _known_kinds(self) -> Template:
        for key in self.keywords:
            if kind_of(key) not in KINDS:
                raise ValueError(f"keyword {key!r}: unknown WeChat value type")
        return self


class WechatSpec(_Strict):
    template: str
    data: dict[str, str]


class EventSpec(_Strict):
    title: str = Field(min_length=1)
    body: str = Field(min_length=1)
    page: str = DEFAULT_PAGE
    wechat: WechatSpec | None = None


class StaffSpec(_Strict):
    """An in-app message to staff (the staff API's and the console's message list): to every
    active account of ``roles``; with ``own_unit``, only to those of the payload's
    ``unit_code`` (a unit's reviewers)."""

    title: str = Field(min_length=1)
    body: str = Field(min_length=1)
    roles: list[str] = Field(min_length=1)
    own_unit: bool = True


class DepartmentRule(_Strict):
    decision: str = Field(min_length=1, max_length=32)
    scope: str = Field(pattern=r"^(item|license)$")


class MessageConfig(_Strict):
    templates: dict[str, Template]
    events: dict[str, EventSpec]
    staff: dict[str, StaffSpec] = {}
    departments: dict[str, DepartmentRule] = {}

    @model_validator(mode="after")
    def _cross_check(self) -> MessageConfig:
        ids = [t.id for t in self.templates.values()]
        if len(ids) != len(set(ids)):
            raise ValueError("two templates share one id")
        for name, spec in self.events.items():
            if spec.wechat is None:
                continue
            template = self.templates.get(spec.wechat.template)
            if template is None:
                raise ValueError(f"event {name}: unknown template {spec.wechat.template!r}")
            if set(spec.wechat.data) != set(template.keywords):
                raise ValueError(f"event {name}: data keys must be exactly the keywords of "
                                 f"{spec.wechat.template}: {sorted(template.keywords)}")
        return self

    def template(self, name: str) -> Template:
        return self.templates[name].model_copy(update={"name": name})

    def template_by_id(self, template_id: str) -> Template | None:
        return next((self.template(n) for n, t in self.templates.items()
                     if t.id == template_id), None)


@lru_cache(maxsize=4)
def load(path: str = "") -> MessageConfig:
    """The configuration file (NOTIFY_TEMPLATES_PATH; empty = the bundled development one)."""
    text = Path(path or DEFAULT_PATH).read_text(encoding="utf-8")
    return MessageConfig.model_validate(yaml.safe_load(text))


# --- rendering -----------------------------------------------------------------------------


def kind_of(keyword: str) -> str | None:
    match = _KIND.fullmatch(keyword)
    return match["kind"] if match else None


def as_text(value: Any) -> str:
    """A context value as the applicant reads it."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _wechat_datetime(value)
    if isinstance(value, date):
        return _wechat_date(value)
    return str(value)


class _Texts(dict):
    def __missing__(self, key: str) -> str:
        return ""


def render_text(spec: str, context: dict[str, Any]) -> str:
    """A ``{field}`` format string over the context; unknown fields render empty."""
    texts = _Texts({k: as_text(v) for k, v in context.items()})
    return string.Formatter().vformat(spec, (), texts)


def render_data(template: Template, data: dict[str, str], context: dict[str, Any],
                ) -> dict[str, dict[str, str]]:
    """WeChat's ``data`` for a template: every keyword rendered, then fitted to its type."""
    out = {}
    for keyword, spec in data.items():
        single = _FIELD.fullmatch(spec)
        raw = context.get(single[1]) if single else render_text(spec, context)
        out[keyword] = {"value": fit(kind_of(keyword) or "thing", raw, keyword=keyword)}
    return out


# --- fitting values to WeChat's per-type limits ---------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cut(text: str, limit: int, *, ellipsis: bool) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1] + ELLIPSIS if ellipsis else text[:limit]


def _wechat_date(value: date | datetime) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(CHINA) if value.tzinfo else value
        value = value.date()
    return f"{value.year}年{value.month}月{value.day}日"


def _wechat_datetime(value: datetime) -> str:
    local = value.astimezone(CHINA) if value.tzinfo else value
    return f"{_wechat_date(local)} {local:%H:%M}"


def _points(text: str, point: re.Pattern[str]) -> bool:
    parts = text.split("~")
    return len(parts) <= 2 and all(point.fullmatch(p.strip()) for p in parts)


def _parse_iso(text: str) -> date | datetime | None:
    for parse in (date.fromisoformat, datetime.fromisoformat):
        try:
            return parse(text)
        except ValueError:
            continue
    return None


def fit(kind: str, value: Any, *, keyword: str = "") -> str:
    """``value`` made acceptable for a keyword of ``kind``; TemplateError when impossible."""
    where = keyword or kind
    if kind in {"time", "date"}:
        return _fit_when(kind, value, where)
    text = _one_line(as_text(value))
    if kind == "thing":
        return _cut(text, 20, ellipsis=True) or "无"
    if kind == "phrase":
        return "".join(_HAN.findall(text))[:5] or "无"
    if kind == "character_string":
        kept = "".join(c for c in text if (c.isascii() and c.isalnum()) or c in _SYMBOL_CHARS)
        return kept[:32] or "-"
    if kind == "number":
        match = re.search(r"\d+(?:\.\d+)?", text)
        if match is None:
            raise TemplateError(f"{where}: not a number: {text!r}")
        return match[0][:32]
    if kind == "letter":
        return "".join(c for c in text if c.isascii() and c.isalpha())[:32] or "NA"
    if kind == "symbol":
        return "".join(c for c in text if c in _SYMBOL_CHARS)[:5] or "-"
    if kind == "name":
        han = "".join(c for c in text if _HAN.match(c) or c == "·")
        if han:
            return han[:10]
        return "".join(c for c in text if c.isascii() and (c.isalpha() or c in " .'-")
                       ).strip()[:20] or "-"
    if kind == "phone_number":
        return "".join(c for c in text if c.isdigit() or c in _SYMBOL_CHARS)[:17] or "-"
    if kind == "car_number":
        return text.replace(" ", "").replace("·", "")[:8] or "NA"
    if kind == "amount":
        if not re.fullmatch(r"[¥￥$€£]?\d{1,10}(?:\.\d+)?元?", text):
            raise TemplateError(f"{where}: not an amount: {text!r}")
        return text
    raise TemplateError(f"{where}: unknown WeChat value type {kind!r}")


def _fit_when(kind: str, value: Any, where: str) -> str:
    point = _TIME_POINT if kind == "time" else _DATE_POINT
    if isinstance(value, str):
        text = _one_line(value)
        parsed = _parse_iso(text)
        if parsed is None and text and _points(text, point):
            return text
        value = parsed
    if isinstance(value, datetime):
        return _wechat_datetime(value) if kind == "time" else _wechat_date(value)
    if isinstance(value, date):
        if kind == "date":
            return _wechat_date(value)
        raise TemplateError(f"{where}: a time needs a clock time, got the date {value}")
    raise TemplateError(f"{where}: not a {kind}: {value!r}")
