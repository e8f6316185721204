"""Masking of personal information in responses.

Why: PIPL (《个人信息保护法》) art. 51 requires de-identification as a security measure, and
GB/T 35273-2020 §7.2 (个人信息的展示限制) asks that personal information shown on a screen be
de-identified; its Appendix B lists the ID-card number as sensitive personal information.
So every response that does not need a value in full carries the masked form below, while
the full value stays in storage for the staff who review the application.

Every function accepts any string (or None) and never raises, so a malformed stored value
can neither break a response nor leak through one: what it cannot recognise it masks whole.
"""

from __future__ import annotations

import re

_LANDLINE = re.compile(r"(0(?:10|2\d|[3-9]\d{2}))-?(\d{7,8})")  # area code, local number


def _all(value: str) -> str:
    return "*" * len(value)


def mask_id_number(value: str | None) -> str:
    """18-digit (and legacy 15-digit) ID: keep the first 4 and last 4, e.g. 1401**********1234.

    The first 4 say only the city; the last 4 let the applicant recognise their own number.
    """
    value = (value or "").strip()
    if len(value) in (15, 18):
        return value[:4] + "*" * (len(value) - 8) + value[-4:]
    return _all(value)


def mask_phone(value: str | None) -> str:
    """Mobile 13812345678 → 138****5678; landline 0351-1234567 → 0351-***4567."""
    value = (value or "").strip()
    if re.fullmatch(r"1\d{10}", value):
        return value[:3] + "****" + value[-4:]
    if match := _LANDLINE.fullmatch(value):
        area, local = match.groups()
        return f"{area}-{'*' * (len(local) - 4)}{local[-4:]}"
    return _all(value)


def mask_name(value: str | None) -> str:
    """Keep the first character only: 张三 → 张*, 欧阳娜娜 → 欧***; for public pages."""
    value = (value or "").strip()
    if len(value) < 2:
        return _all(value)
    return value[0] + "*" * (len(value) - 1)


def mask_openid(value: str | None) -> str:
    """First 4 + **** + last 4: enough to correlate log lines, not to impersonate anyone."""
    value = (value or "").strip()
    if len(value) <= 8:
        return _all(value)
    return value[:4] + "****" + value[-4:]
