"""The printed license: A4 page, real CJK glyphs, and a QR that a phone photo still decodes."""

from __future__ import annotations

import dataclasses
from datetime import date
from io import BytesIO

import pytest
import zxingcpp
from PIL import Image, ImageFont

from backend.security.signatures import build_verify_url, dev_keyring, parse_verify_url
from media import render
from media.qr import qr_image, qr_png
from media.render import (
    LicenseFace,
    LicenseItem,
    chinese_date,
    find_font,
    glyph_bitmap,
    render_pdf,
    render_png,
    sample_face,
    wrap,
)

QR = zxingcpp.BarcodeFormat.QRCode  # decode QR codes only: a license's print is not a 1-D code

BASE = "https://zwfw.shanxi.gov.cn/yyyz"  # a long base: the URL is 152 chars, QR version 11
KEYRING = dev_keyring()
URL = build_verify_url(BASE, "JZ1401052026000123", 3, KEYRING)


@pytest.fixture(scope="module")
def face() -> LicenseFace:
    """Ten items with long names, a long holder name and address: the worst case."""
    return sample_face(URL)


@pytest.fixture(scope="module")
def png(face: LicenseFace) -> bytes:
    return render_png(face)


def decode(image: Image.Image) -> list[str]:
    return [barcode.text for barcode in zxingcpp.read_barcodes(image, formats=QR)]


def phone_photo(image: Image.Image) -> Image.Image:
    """What a phone sends: half the resolution, JPEG q60, held 5° askew."""
    small = image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)
    out = BytesIO()
    small.convert("RGB").save(out, format="JPEG", quality=60)
    photo = Image.open(BytesIO(out.getvalue()))
    return photo.rotate(5, resample=Image.Resampling.BICUBIC, expand=True, fillcolor="white")


def test_ten_long_items_render_an_a4_png_at_200_dpi(face, png):
    assert len(face.items) == 10 and max(len(item[0]) for item in face.items) > 30
    image = Image.open(BytesIO(png))
    assert image.format == "PNG"
    assert image.size == (1654, 2339)
    assert abs(image.height / image.width - 297 / 210) < 0.005
    assert image.info["dpi"] == pytest.approx((200, 200), abs=0.01)


def test_render_is_deterministic_so_it_can_be_cached_per_version(face, png):
    assert render_png(face) == png


def test_qr_decodes_from_the_render_and_verifies(png):
    assert decode(Image.open(BytesIO(png))) == [URL]
    scan = parse_verify_url(URL, base_url=BASE)
    assert scan is not None and scan.verified_by(KEYRING)


def test_qr_decodes_from_a_phone_photo_of_the_render(png):
    photo = phone_photo(Image.open(BytesIO(png)))
    (text,) = decode(photo)
    assert text == URL
    scan = parse_verify_url(text, base_url=BASE)
    assert scan is not None and scan.verified_by(KEYRING)
    tampered = parse_verify_url(text.replace("JZ1401052026000123", "JZ1401052026000124"),
                                base_url=BASE)
    assert tampered is not None and not tampered.verified_by(KEYRING)


def test_qr_modules_are_at_least_half_a_millimetre_on_a4():
    matrix = qr_image(URL, box_size=1, border=0).width
    assert matrix == 61  # version 11: 152 characters at ECC Q
    qr, module_px = render._qr(URL)
    assert module_px * 25.4 / render.DPI >= 0.5
    assert qr.width == (matrix + 8) * module_px <= render.QR_MAX_PX


def test_qr_png_alone_decodes_after_a_phone_photo():
    image = Image.open(BytesIO(qr_png(URL)))
    assert image.width == (61 + 8) * 10
    assert decode(phone_photo(image)) == [URL]


def test_the_font_draws_chinese_and_the_check_would_catch_tofu():
    font = ImageFont.truetype(find_font(), 40, index=render.font_index(find_font()))
    assert glyph_bitmap("行业综合许可证", font) != glyph_bitmap("经营主体名称地", font)
    assert glyph_bitmap("证", font) != glyph_bitmap("业", font)
    tofu = ImageFont.load_default(size=40)  # Pillow's own font: a box for every character
    assert glyph_bitmap("证", tofu) == glyph_bitmap("业", tofu)


def test_find_font_refuses_rather_than_falling_back(monkeypatch):
    with pytest.raises(RuntimeError, match="LICENSE_FONT_PATH"):
        find_font("/nonexistent/font.ttc")
    monkeypatch.setattr(render, "FONT_CANDIDATES", ("/nonexistent/NotoSansCJK-Regular.ttc",))
    with pytest.raises(RuntimeError, match="run scripts/install-system-packages.sh"):
        find_font(None)
    with pytest.raises(RuntimeError, match="no CJK font installed"):
        render_png(sample_face(URL))


def test_an_explicit_font_path_is_used():
    installed = find_font()
    assert find_font(installed) == installed


def test_long_text_wraps_within_the_width():
    font = ImageFont.truetype(find_font(), 40)
    text = "太原市小店区晋阳街道康宁便利连锁超市有限责任公司（第一百二十三分店）"
    lines = wrap(text, font, 400)
    assert "".join(lines) == text and len(lines) > 1
    assert all(font.getlength(line) <= 400 for line in lines[:-1])
    assert not lines[-1].startswith("）")  # closing punctuation hangs on the previous line
    latin = "Kangning Convenience Store Chain Co Ltd"
    lines = wrap(latin, font, 300)
    assert len(lines) > 1 and [w for line in lines for w in line.split()] == latin.split()
    assert wrap("A" * 50, font, 300)[0] != "A" * 50  # an overlong word is split


def test_too_many_items_is_a_clear_error_not_an_overflow(face):
    crowded = dataclasses.replace(face, items=list(face.items) * 4)
    with pytest.raises(ValueError, match="do not fit"):
        render_png(crowded)


def test_dates_and_open_ended_validity(face):
    assert chinese_date(date(2026, 11, 25)) == "2026年11月25日"
    assert chinese_date(date(2027, 1, 5)) == "2027年1月5日"
    short = dataclasses.replace(face, valid_until=None, industry_category="",
                                items=[LicenseItem("烟草专卖零售许可", "烟草专卖零售许可证", ""),
                                       ("酒类零售备案", "电子证照 1401050001", "长期有效")])
    assert Image.open(BytesIO(render_png(short))).size == (1654, 2339)


def test_pdf_is_one_a4_page(face):
    pdf = render_pdf(face)
    assert pdf.startswith(b"%PDF-")
    assert b"/MediaBox [ 0 0 595.44 842.04 ]" in pdf  # points: 210 × 297 mm
