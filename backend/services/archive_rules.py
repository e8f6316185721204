"""The archive's settings read once (``config.settings`` checks them at start): retention per
record class and the key that protects personal data inside packages.

Record classes are how a case closed (the stage of ``services.ratings.CLOSING_EVENTS``):
``licensed``, ``refused``, ``not_accepted``, ``withdrawn``. The national rule
(GB/T 42727-2023) leaves 保管期限 to each archive's own retention schedule, so the years are
a setting, not a constant here.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, MultiFernet

RECORD_CLASSES = ("licensed", "refused", "not_accepted", "withdrawn")
RECORD_CLASS_LABELS = {"licensed": "核发许可证", "refused": "不予许可",
                       "not_accepted": "不予受理", "withdrawn": "受理后撤回"}
PERMANENT = "permanent"


def retention_years(text: str) -> dict[str, int | None]:
    """``licensed:30,refused:10`` → {class: years, None = permanent}; a class left out is
    permanent. ValueError naming the bad entry."""
    years: dict[str, int | None] = dict.fromkeys(RECORD_CLASSES)
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        name, sep, value = (part.strip() for part in entry.partition(":"))
        if not sep or name not in RECORD_CLASSES:
            raise ValueError(f"ARCHIVE_RETENTION_YEARS entry {entry!r}: class:years with a "
                             f"class of {', '.join(RECORD_CLASSES)}")
        if value == PERMANENT:
            years[name] = None
        elif value.isascii() and value.isdigit() and 1 <= int(value) <= 200:
            years[name] = int(value)
        else:
            raise ValueError(f"ARCHIVE_RETENTION_YEARS entry {entry!r}: years 1-200 or "
                             f"{PERMANENT}")
    return years


def personal_keys(text: str, secret_key: str) -> MultiFernet:
    """The Fernet keys of ``ARCHIVE_PERSONAL_DATA_KEYS`` (first encrypts), or one derived
    from ``secret_key`` when the setting is empty (development and tests)."""
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if not keys:
        digest = hashlib.sha256(b"yiye-archive-personal:" + secret_key.encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    try:
        return MultiFernet([Fernet(k) for k in keys])
    except ValueError:
        raise ValueError("ARCHIVE_PERSONAL_DATA_KEYS: each key must be a Fernet key "
                         "(base64url of 32 bytes)") from None
