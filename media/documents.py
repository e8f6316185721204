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
from reportlab.lib.pagesizes import A4, landscape
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


@dataclass(frozen=True)
class Report:
    """A printed table (绩效考评表 …) on landscape A4: the title, lines under it (the period,
    who), the table (first row the header, repeated on every page), notes under it (how it
    is scored), the issuing unit and date. Every string is plain text (escaped here)."""

    title: str
    lines: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()
    issuer: str = ""
    issued_on: str = ""


@functools.cache
def _register_font(font_path: str | None) -> str:
    path = find_font(font_path)
    pdfmetrics.registerFont(TTFont(FONT, path, subfontIndex=font_index(path)))
    return FONT


def _body(font: str) -> ParagraphStyle:
    return ParagraphStyle("body", fontName=font, fontSize=12, leading=20, firstLineIndent=24,
                          wordWrap="CJK")


def _grid(rows: tuple[tuple[str, ...], ...], cell: ParagraphStyle, **options) -> Table:
    table = Table([[Paragraph(escape(c), cell) for c in row] for row in rows], repeatRows=1,
                  hAlign="LEFT", **options)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, "#000000"),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table


def render(notice: Notice, *, font_path: str | None = None) -> bytes:
    """The notice as a PDF (bytes), one or more A4 pages."""
    font = _register_font(font_path)
    body = _body(font)
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
        story += [Spacer(1, 3 * mm), _grid(notice.rows, cell), Spacer(1, 3 * mm)]
    story += [Paragraph(escape(f"依据：{notice.legal_basis}"), body), Spacer(1, 12 * mm),
              Paragraph(escape(notice.issuer), right), Paragraph(escape(notice.issued_on), right)]
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4, title=notice.title, author=notice.issuer,
                      leftMargin=28 * mm, rightMargin=26 * mm, topMargin=37 * mm,
                      bottomMargin=35 * mm).build(story)
    return out.getvalue()


def render_report(report: Report, *, font_path: str | None = None) -> bytes:
    """The report as a PDF (bytes), one or more landscape A4 pages."""
    font = _register_font(font_path)
    plain = ParagraphStyle("plain", parent=_body(font), firstLineIndent=0)
    title = ParagraphStyle("title", parent=plain, fontSize=18, leading=28, alignment=TA_CENTER)
    centred = ParagraphStyle("lines", parent=plain, alignment=TA_CENTER)
    small = ParagraphStyle("small", parent=plain, fontSize=9.5, leading=14)
    right = ParagraphStyle("right", parent=plain, alignment=TA_RIGHT)
    story = [Paragraph(escape(report.title), title)]
    story += [Paragraph(escape(line), centred) for line in report.lines]
    story += [Spacer(1, 5 * mm), _grid(report.rows, small), Spacer(1, 4 * mm)]
    story += [Paragraph(escape(note), small) for note in report.notes]
    if report.issuer:
        story += [Spacer(1, 8 * mm), Paragraph(escape(report.issuer), right),
                  Paragraph(escape(report.issued_on), right)]
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=landscape(A4), title=report.title,
                      author=report.issuer or report.title, leftMargin=15 * mm,
                      rightMargin=15 * mm, topMargin=15 * mm, bottomMargin=15 * mm
                      ).build(story)
    return out.getvalue()


@dataclass(frozen=True)
class Section:
    """A part of a :class:`Sheet`: a heading, paragraphs, and a table (``header`` first when
    given, else label/value rows with the label column narrow). Plain text (escaped here)."""

    title: str
    paragraphs: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    header: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sheet:
    """A printed guide page on portrait A4 (a blank form, its filled-in example, a tailored
    notice): the title, lines under it, its sections and a closing note."""

    title: str
    lines: tuple[str, ...] = ()
    sections: tuple[Section, ...] = ()
    note: str = ""
    author: str = ""


def render_sheet(sheet: Sheet, *, font_path: str | None = None) -> bytes:
    """The sheet as a PDF (bytes), one or more portrait A4 pages, text selectable."""
    font = _register_font(font_path)
    plain = ParagraphStyle("plain", parent=_body(font), firstLineIndent=0, fontSize=11,
                           leading=18)
    title = ParagraphStyle("title", parent=plain, fontSize=18, leading=28, alignment=TA_CENTER)
    centred = ParagraphStyle("lines", parent=plain, alignment=TA_CENTER, fontSize=10)
    heading = ParagraphStyle("heading", parent=plain, fontSize=13, leading=22,
                             spaceBefore=4 * mm)
    cell = ParagraphStyle("cell", parent=plain, fontSize=10, leading=15)
    width = A4[0] - 36 * mm
    story = [Paragraph(escape(sheet.title), title)]
    story += [Paragraph(escape(line), centred) for line in sheet.lines]
    for section in sheet.sections:
        story.append(Paragraph(escape(section.title), heading))
        story += [Paragraph(escape(p), plain) for p in section.paragraphs]
        if section.rows:
            rows = ((section.header,) if section.header else ()) + section.rows
            widths = None if section.header else [width * 0.32, width * 0.68]
            table = _grid(rows, cell, colWidths=widths)
            table.setStyle(TableStyle([("TOPPADDING", (0, 0), (-1, -1), 6),
                                       ("BOTTOMPADDING", (0, 0), (-1, -1), 6)]))
            story += [Spacer(1, 2 * mm), table]
    if sheet.note:
        story += [Spacer(1, 6 * mm), Paragraph(escape(sheet.note), cell)]
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4, title=sheet.title, author=sheet.author or sheet.title,
                      leftMargin=18 * mm, rightMargin=18 * mm, topMargin=18 * mm,
                      bottomMargin=18 * mm).build(story)
    return out.getvalue()
