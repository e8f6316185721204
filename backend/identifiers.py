"""What a person types, made canonical once where it enters: identifiers and free text.

Values are often pasted from a chat app (WeChat, QQ, DingTalk), which wraps or splits them
with invisible format characters — U+202D/U+202C bidi overrides around a phone number,
U+200B zero-width spaces, U+FEFF, U+2060 — or groups them with NBSP / U+3000 spaces, and
phone keyboards may type full-width digits. None of those can belong inside an identifier,
so ``normalize_identifier`` removes them; each identifier's own rules (check characters,
upper case, separators such as the hyphens of a phone number) stay with its validator.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from pydantic import BeforeValidator


def _visible(text: str) -> str:
    """``text`` without Unicode format characters (category Cf): zero-width, bidi, BOM …"""
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def normalize_identifier(text: str) -> str:
    """The canonical text of an identifier or code: phone, ID number, credit code, division
    code, binding code, username, a number typed as text.

    NFKC (full-width ``１３８`` → ``138``, U+3000 and NBSP → space), then every format
    character (Cf) and every whitespace character removed. Case is kept: whether it matters
    is the identifier's own rule.
    """
    folded = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in _visible(folded) if not ch.isspace())


# Line breaks as typed or pasted: CR LF (Windows), CR, LF, VT, FF, NEL, U+2028, U+2029.
_LINE_BREAK = re.compile(r"\r\n|[\r\n\v\f\x85\u2028\u2029]")


def clean_text(text: str, *, multiline: bool = False) -> str:
    """Free text (names, addresses, reasons): format (Cf) and control (Cc) characters removed,
    ends trimmed.

    A pasted zero-width space, or an ESC colour sequence and BEL typed into a name, would be
    stored and printed on the license. A line break is ``\n`` in a multi-line field (a
    textarea: reasons, opinions, notes) and a space in a single-line one; a tab is a space.
    Inner spaces stay, and no NFKC: it would turn Chinese full-width punctuation such as
    ``（`` and ``，`` into ASCII, changing how a name or address is printed on the license.
    """
    text = _LINE_BREAK.sub("\n" if multiline else " ", _visible(text)).replace("\t", " ")
    return "".join(ch for ch in text
                   if ch == "\n" or unicodedata.category(ch) != "Cc").strip()


def _identifier_or_as_is(value: Any) -> Any:
    return normalize_identifier(value) if isinstance(value, str) else value


# For a request field holding an identifier, last in its Annotated list (after its
# StringConstraints, so they still reach the OpenAPI document): the value is normalised before
# those constraints are checked; a non-string is left for pydantic to refuse.
AS_IDENTIFIER = BeforeValidator(_identifier_or_as_is)
