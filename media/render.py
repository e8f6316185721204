"""The printable 行业综合许可证: an A4 PNG (and PDF) with the fields and the signed QR code.

Pure and deterministic — the same face gives the same bytes — so the caller renders once
per license version and stores the result keyed by (license_no, version).

Grayscale on purpose: office printers are black and white, and an "L" PNG encodes about
twice as fast and half as large as RGB, which keeps a render well under 150 ms.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from io import BytesIO
from pathlib import Path
from typing import NamedTuple

import pikepdf
from PIL import Image, ImageDraw, ImageFont

from media.qr import QUIET_ZONE, qr_image

# A4 at 200 dpi: 210 × 297 mm → 1654 × 2339 px; 1 px = 0.127 mm.
DPI = 200
PAGE = (1654, 2339)
MARGIN = 150  # content box inset, inside the double border
INK, LABEL_INK, RULE_INK, FAINT_INK = 0, 50, 70, 90

# QR module size: ≥ 0.5 mm printed = 0.5 / 0.127 ≈ 3.9 → at least 4 px per module. Our
# ~150-character URL at ECC Q is version 10–11 (57–61 modules), + 2 × 4 quiet modules
# = 65–69 modules: at 4 px that is only 276 px (3.5 cm). We give it up to 500 px: 7 px
# (0.89 mm) per module for version 11 → 483 px ≈ 6.1 cm, which a phone reads from a
# print at arm's length and from this PNG shown on a phone screen.
QR_MAX_PX = 500
QR_MIN_MODULE_PX = 4
QR_MAX_MODULE_PX = 8

# A county-level authority's round seal is 42 mm across (国发〔1999〕25号, 国家行政机关印章
# 直径 4.2 厘米 for bodies below the province); the electronic seal shows at that size.
SEAL_MM = 42
SEAL_PX = round(SEAL_MM / 25.4 * DPI)

ITEM_FONT_SIZES = range(40, 23, -2)  # shrink items to fit, never below ~8.6 pt printed
FIELD_SIZE, TITLE_SIZE, NUMBER_SIZE, CAPTION_SIZE = 40, 110, 36, 32

# Noto CJK collections hold JP, KR, SC, TC…: index 2 is Simplified Chinese.
FONT_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


class LicenseItem(NamedTuple):
    """One 许可项目: its name, the original permit (name / sub-license number), and its
    validity as printed, verbatim (e.g. "有效期至2031年11月24日", "长期有效", or "")."""

    name: str
    permit: str
    validity: str


@dataclass(frozen=True)
class LicenseFace:
    """Everything printed on one version of a license."""

    license_no: str
    version: int
    industry_category: str  # 行业类别
    industry_name: str
    holder_name: str  # 经营主体
    credit_code: str  # 统一社会信用代码
    premises: str  # 经营场所
    items: Sequence[tuple[str, str, str]]  # LicenseItem-shaped
    issuing_authority: str  # 发证机关
    issued_on: date
    valid_until: date | None  # None → 长期
    verify_url: str  # what the QR holds


def font_index(path: str) -> int:
    """Face index in a collection: Noto CJK puts Japanese first, Simplified Chinese third."""
    return 2 if Path(path).name.startswith(("NotoSansCJK", "NotoSerifCJK")) else 0


def _load(path: str, size: int) -> ImageFont.FreeTypeFont:
    # BASIC layout: CJK needs no shaping, and it measures ~40× faster than Raqm.
    return ImageFont.truetype(path, size, index=font_index(path),
                              layout_engine=ImageFont.Layout.BASIC)


def _draws_chinese(path: str) -> bool:
    """Distinct characters give distinct bitmaps; a font without them draws the same box."""
    try:
        font = _load(path, 32)
    except OSError:
        return False
    return glyph_bitmap("证", font) != glyph_bitmap("业", font)


def glyph_bitmap(text: str, font: ImageFont.FreeTypeFont) -> bytes:
    """The pixels ``text`` draws in ``font``, for telling real glyphs from tofu."""
    canvas = Image.new("L", (round(font.size * 1.5) * len(text), round(font.size * 1.5)), 0)
    ImageDraw.Draw(canvas).text((0, 0), text, font=font, fill=255)
    return canvas.tobytes()


def find_font(explicit: str | None = None) -> str:
    """The CJK font to render with: LICENSE_FONT_PATH if set, else the first installed.

    Refuses rather than falling back to Pillow's default font, which draws tofu silently.
    """
    if explicit:
        if not _draws_chinese(explicit):
            raise RuntimeError(f"LICENSE_FONT_PATH={explicit!r} is missing or has no Chinese"
                               " glyphs")
        return explicit
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file() and _draws_chinese(candidate):
            return candidate
    raise RuntimeError("no CJK font installed: run scripts/install-system-packages.sh")


def chinese_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


_NO_LINE_START = set("，。、；：？！）》」』】〕,.;:?!)%")


def _tokens(text: str) -> Iterator[str]:
    """Break opportunities: each CJK character alone, Latin words and digit runs whole."""
    word = ""
    for char in text:
        if char.isascii() and not char.isspace():
            word += char
            continue
        if word:
            yield word
            word = ""
        yield char
    if word:
        yield word


def wrap(text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """Greedy lines no wider than ``width``; closing punctuation never starts a line."""
    lines: list[str] = []
    line, used = "", 0.0
    for token in _tokens(" ".join(text.split())):
        size = font.getlength(token)
        if line and used + size > width and token not in _NO_LINE_START:
            lines.append(line.rstrip())
            line, used = "", 0.0
            if token.isspace():
                continue
        if size > width and not line:  # a word longer than the line: split it anywhere
            for char in token:
                char_size = font.getlength(char)
                if line and used + char_size > width:
                    lines.append(line)
                    line, used = "", 0.0
                line, used = line + char, used + char_size
            continue
        line, used = line + token, used + size
    if line.strip():
        lines.append(line.rstrip())
    return lines or [""]


class _Text(NamedTuple):
    x: int
    y: int
    text: str
    font: ImageFont.FreeTypeFont
    ink: int


def _line_height(font: ImageFont.FreeTypeFont) -> int:
    return round(font.size * 1.45)


def _wrap_parts(parts: list[str], font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """Parts on one line when they fit; otherwise each part starts a line of its own."""
    lines = wrap("　".join(parts), font, width)
    if len(lines) > 1:
        return [line for part in parts for line in wrap(part, font, width)]
    return lines


def _layout_items(items: Sequence[tuple[str, str, str]], font_path: str, size: int,
                  box: tuple[int, int, int], beside_qr: tuple[int, int]) -> tuple[list[_Text], int]:
    """Numbered items with a hanging indent; the permit and validity line in smaller type.

    ``box`` is (left, right, top); from ``beside_qr`` = (y, right) on, lines stop short of
    the QR so items may run down beside it.
    """
    left, right, top = box
    main, detail = _load(font_path, size), _load(font_path, round(size * 0.8))
    texts: list[_Text] = []
    y = top
    for number, (name, permit, validity) in enumerate(items, start=1):
        label = f"{number}．"
        indent = left + round(main.getlength("10．"))
        texts.append(_Text(indent - round(main.getlength(label)), y, label, main, INK))
        sub = [part for part in (permit, validity) if part]
        for parts, font, ink in (([name], main, INK), (sub, detail, FAINT_INK)):
            lines = _wrap_parts(parts, font, right - indent)
            if y + len(lines) * _line_height(font) > beside_qr[0]:
                lines = _wrap_parts(parts, font, beside_qr[1] - indent)
            for line in lines:
                texts.append(_Text(indent, y, line, font, ink))
                y += _line_height(font)
        y += round(size * 0.35)
    return texts, y


def _qr(url: str) -> tuple[Image.Image, int]:
    """The QR at the largest whole module size (≤ 8 px) within QR_MAX_PX, and that size."""
    unit = qr_image(url, box_size=1, border=QUIET_ZONE)
    module_px = min(QR_MAX_MODULE_PX, QR_MAX_PX // unit.width)
    if module_px < QR_MIN_MODULE_PX:
        raise ValueError(f"verify URL too long for a printable QR ({len(url)} characters)")
    side = unit.width * module_px
    return unit.resize((side, side), Image.Resampling.NEAREST), module_px


class Page(NamedTuple):
    """The drawn page and where the issuing authority's seal goes on it: ``seal_box`` is
    (left, top, right, bottom) in pixels, a square of SEAL_MM over the 发证机关 and 发证日期
    values (the seal straddles the date, 骑年盖月), clear of the QR and the 许可项目."""

    image: Image.Image
    seal_box: tuple[int, int, int, int]


def render_image(face: LicenseFace, *, font_path: str | None = None) -> Image.Image:
    """The license page as a grayscale PIL image (render_png / render_pdf encode it)."""
    return render_page(face, font_path=font_path).image


def render_page(face: LicenseFace, *, font_path: str | None = None) -> Page:
    """The license page and the place of its seal (:class:`Page`)."""
    path = find_font(font_path)
    width, height = PAGE
    page = Image.new("L", PAGE, 255)
    draw = ImageDraw.Draw(page)
    draw.rectangle((70, 70, width - 71, height - 71), outline=RULE_INK, width=8)
    draw.rectangle((94, 94, width - 95, height - 95), outline=RULE_INK, width=2)
    left, right, bottom = MARGIN, width - MARGIN, height - 140
    texts: list[_Text] = []

    title = _load(path, TITLE_SIZE)
    title_text = "行业综合许可证"
    spacing = TITLE_SIZE // 4
    x = (width - (title.getlength(title_text) + spacing * (len(title_text) - 1))) / 2
    for char in title_text:
        texts.append(_Text(round(x), 150, char, title, INK))
        x += title.getlength(char) + spacing
    number = _load(path, NUMBER_SIZE)
    number_text = f"编号：{face.license_no}"
    texts.append(_Text(right - round(number.getlength(number_text)), 310, number_text, number,
                       LABEL_INK))
    draw.line((left, 370, right, 370), fill=RULE_INK, width=2)

    field = _load(path, FIELD_SIZE)
    value_x = left + round(field.getlength("统一社会信用代码：")) + 12
    industry = (f"{face.industry_name}（{face.industry_category}）"
                if face.industry_category else face.industry_name)
    y = 400
    for label, value in (("行业类别", industry), ("经营主体", face.holder_name),
                         ("统一社会信用代码", face.credit_code), ("经营场所", face.premises),
                         ("许可项目", "")):
        texts.append(_Text(left, y, f"{label}：", field, LABEL_INK))
        for line in wrap(value, field, right - value_x):
            texts.append(_Text(value_x, y, line, field, INK))
            y += _line_height(field)
        y += 10

    # Footer: issuer and dates on the left, the QR and its caption bottom-right.
    qr, module_px = _qr(face.verify_url)
    caption = _load(path, CAPTION_SIZE)
    caption_text = "扫码核验真伪"
    qr_x, qr_y = right - qr.width, bottom - qr.height - _line_height(caption)
    page.paste(qr, (qr_x, qr_y))
    texts.append(_Text(qr_x + (qr.width - round(caption.getlength(caption_text))) // 2,
                       qr_y + qr.height, caption_text, caption, LABEL_INK))
    validity = "长期" if face.valid_until is None else chinese_date(face.valid_until)
    footer: list[_Text] = []
    footer_y = sealed = 0  # sealed: the widest line of the authority and the date
    footer_value_x = left + round(field.getlength("发证机关：")) + 12
    for label, value in (("发证机关", face.issuing_authority),
                         ("发证日期", chinese_date(face.issued_on)), ("有效期至", validity)):
        footer.append(_Text(left, footer_y, f"{label}：", field, LABEL_INK))
        if label == "发证日期":
            date_middle = footer_y + _line_height(field) // 2
        for line in wrap(value, field, qr_x - 40 - footer_value_x):
            footer.append(_Text(footer_value_x, footer_y, line, field, INK))
            if label != "有效期至":
                sealed = max(sealed, round(field.getlength(line)))
            footer_y += _line_height(field)
    # Bottom-align the footer text with the QR's dark modules (inside its quiet zone).
    shift = qr_y + qr.height - QUIET_ZONE * module_px - footer_y
    texts.extend(t._replace(y=t.y + shift) for t in footer)
    # the seal straddles the date, across the authority's name and the date, left of the QR
    centre = min(footer_value_x + sealed // 2, qr_x - 40 - SEAL_PX // 2)
    top = shift + date_middle - SEAL_PX // 2
    seal = (centre - SEAL_PX // 2, top, centre - SEAL_PX // 2 + SEAL_PX, top + SEAL_PX)
    for size in ITEM_FONT_SIZES:
        item_texts, end = _layout_items(face.items, path, size, (left + 40, right, y),
                                        (qr_y - 20, qr_x - 40))
        if end <= min(shift, seal[1]) - 20:
            break
    else:
        raise ValueError(f"{len(face.items)} 许可项目 do not fit one page even at the smallest"
                         " type size")
    texts.extend(item_texts)

    for text in texts:
        draw.text((text.x, text.y), text.text, font=text.font, fill=text.ink)
    return Page(page, seal)


def render_png(face: LicenseFace, *, font_path: str | None = None) -> bytes:
    """The license as PNG, with 200 dpi recorded so it prints at A4 size."""
    out = BytesIO()
    render_image(face, font_path=font_path).save(out, format="PNG", dpi=(DPI, DPI),
                                                compress_level=3)
    return out.getvalue()


class SealablePdf(NamedTuple):
    """The PDF and where its seal goes: ``seal_box`` is (left, bottom, right, top) in PDF
    points from the page's lower-left corner, as a signature widget's /Rect."""

    pdf: bytes
    seal_box: tuple[int, int, int, int]


def render_pdf(face: LicenseFace, *, font_path: str | None = None) -> bytes:
    """A one-page A4 PDF of the same image, for print shops that want PDF."""
    return render_sealable_pdf(face, font_path=font_path).pdf


def render_sealable_pdf(face: LicenseFace, *, font_path: str | None = None) -> SealablePdf:
    """The one-page A4 PDF and the place of the issuing authority's seal on it, still
    unsealed (media/seal.py seals it)."""
    page = render_page(face, font_path=font_path)
    drawn = BytesIO()
    page.image.save(drawn, format="PDF", resolution=DPI, quality=92)
    # Pillow's cross-reference table starts "0000000000 65536 f", a generation past the
    # 65535 ISO 32000-1 (7.5.4) allows, which strict readers (pyHanko's validator) refuse;
    # qpdf writes the same objects with a valid table and a document /ID (~2 ms).
    out = BytesIO()
    with pikepdf.open(drawn) as document:
        document.save(out)
    pt = 72 / DPI  # the image fills the page: one pixel is this many points
    left, top, right, bottom = page.seal_box
    x, y = round(left * pt), round((page.image.height - bottom) * pt)
    side = round((right - left) * pt)  # whole points, as pyHanko sizes the appearance
    return SealablePdf(out.getvalue(), (x, y, x + side, y + side))


def sample_face(verify_url: str) -> LicenseFace:
    """Ten items with long names: the worst case the page must hold (bench and tests)."""
    items = [
        ("食品经营许可（含网络经营、冷藏冷冻食品销售、散装熟食销售及自制饮品制售）",
         "食品经营许可证"),
        ("药品零售企业经营许可（含处方药、非处方药、中药饮片及第二类精神药品）",
         "药品经营许可证"),
        ("第二类医疗器械经营备案", "第二类医疗器械经营备案凭证"),
        ("公众聚集场所投入使用、营业前消防安全检查", "消防安全检查合格证"),
        ("烟草专卖零售许可", "烟草专卖零售许可证"),
        ("酒类商品零售经营备案登记", "酒类流通备案登记表"),
        ("出版物零售经营许可", "出版物经营许可证"),
        ("户外广告设施设置许可（门头招牌设置）", "户外广告设施设置许可决定书"),
        ("城镇污水排入排水管网许可", "城镇污水排入排水管网许可证"),
        ("特种设备使用登记（电梯、压力容器）", "特种设备使用登记证"),
    ]
    return LicenseFace(
        license_no="JZ1401052026000123", version=3,
        industry_category="商贸流通", industry_name="便利店",
        holder_name="太原市小店区晋阳街道康宁便利连锁超市有限责任公司第一百二十三分店",
        credit_code="91140105MA0K7XQ12X",
        premises="山西省太原市小店区晋阳街道长治路与南内环街交叉口东北角康宁花园小区底商"
                 "3号楼1单元101室",
        items=[LicenseItem(name, f"{permit} 140105{n:010d}",
                           "有效期：2026年11月25日至2031年11月24日")
               for n, (name, permit) in enumerate(items, start=1)],
        issuing_authority="太原市小店区行政审批服务管理局",
        issued_on=date(2026, 11, 25), valid_until=date(2031, 11, 24),
        verify_url=verify_url,
    )

