"""Printed documents of the window and the inspection (受理通知书, 一次性补正告知书,
不予受理决定书, 整改通知书 …): A4 PDF with a CJK font, text selectable and searchable.

Bytes out only: the caller (a ``backend`` service) decides the wording, number, date, issuing
unit and legal basis; this lays them out as an official notice (GB/T 9704 order: title,
number, addressee, body, basis, issuing unit, date). reportlab embeds a subset of the font.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from media.render import find_font, font_index

FONT = "cjk"


@dataclass(frozen=True)
class Notice:
    """One printed notice. ``rows`` is an optional table (e.g. materials and what is missing),
    first row the header; every string is plain text (escaped here)."""

    title: str
    number: str  # e.g. 晋一业一证受字〔2026〕第000123号
    addressee: str  # the applicant (entity name)
    paragraphs: tuple[str, ...]
    legal_basis: str
    issuer: str  # the issuing unit, printed above the date (where a seal goes)
    issued_on: str  # 2026年11月29日
    rows: tuple[tuple[str, ...], ...] = field(default_factory=tuple)


@functools.cache
def _register_font(font_path: str | None) -> str:
    path = find_font(font_path)
    pdfmetrics.registerFont(TTFont(FONT, path, subfontIndex=font_index(path)))
    return FONT


def render(notice: Notice, *, font_path: str | None = None) -> bytes:
    """The notice as a PDF (bytes), one or more A4 pages."""
    font = _register_font(font_path)
    body = ParagraphStyle("body", fontName=font, fontSize=12, leading=20, firstLineIndent=24,
                          wordWrap="CJK")
    title = ParagraphStyle("title", parent=body, fontSize=20, leading=30, alignment=TA_CENTER,
                           firstLineIndent=0)
    centred = ParagraphStyle("number", parent=body, alignment=TA_CENTER, firstLineIndent=0)
    plain = ParagraphStyle("plain", parent=body, firstLineIndent=0)
    right = ParagraphStyle("right", parent=body, alignment=TA_RIGHT, firstLineIndent=0)
    cell = ParagraphStyle("cell", parent=plain, fontSize=10.5, leading=15)

    story = [Paragraph(escape(notice.title), title), Paragraph(escape(notice.number), centred),
             Spacer(1, 8 * mm), Paragraph(escape(f"{notice.addressee}："), plain)]
    story += [Paragraph(escape(p), body) for p in notice.paragraphs]
    if notice.rows:
        table = Table([[Paragraph(escape(c), cell) for c in row] for row in notice.rows],
                      repeatRows=1, hAlign="LEFT")
        table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, "#000000"),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story += [Spacer(1, 3 * mm), table, Spacer(1, 3 * mm)]
    story += [Paragraph(escape(f"依据：{notice.legal_basis}"), body), Spacer(1, 12 * mm),
              Paragraph(escape(notice.issuer), right), Paragraph(escape(notice.issued_on), right)]
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4, title=notice.title, author=notice.issuer,
                      leftMargin=28 * mm, rightMargin=26 * mm, topMargin=37 * mm,
                      bottomMargin=35 * mm).build(story)
    return out.getvalue()
