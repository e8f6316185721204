"""Recognise uploads by their bytes and rewrite them into files that are safe to keep and show.

Nothing here trusts a file name or a Content-Type: the bytes decide. Images are decoded once
and re-encoded into a fresh JPEG, which drops metadata (GPS), polyglot tails and anything a
decoder would not draw. PDFs are never rendered here, only parsed and kept as uploaded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from typing import BinaryIO, Literal

import pikepdf
import pillow_heif
from PIL import Image, ImageFile, ImageOps, JpegImagePlugin, PngImagePlugin

from media.errors import MediaRejected

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000  # an 8160×6120 "50 MP" phone photo still passes
DEFAULT_MAX_PAGES = 50
# The most any setting may allow, and Pillow's own guard for every other image in the
# process; below Pillow's default (89.5 MP) so importing this module only tightens it.
PIXEL_CEILING = 80_000_000
Image.MAX_IMAGE_PIXELS = PIXEL_CEILING

# Embedded HEIF thumbnails are separate pictures a forger could make differ from the main
# one; depth and auxiliary images are never shown. Read none of them.
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)

Kind = Literal["jpeg", "png", "heif", "pdf"]

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs",
                b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}  # the bundled libheif has no AV1 decoder

# Constructing the plugin class reads the header only and, unlike Image.open, skips Pillow's
# bomb check, which merely warns between PIXEL_CEILING and twice it: we refuse first instead.
_HEADER_READERS: dict[str, Callable[[BinaryIO], ImageFile.ImageFile]] = {
    "jpeg": JpegImagePlugin.jpeg_factory,
    "png": PngImagePlugin.PngImageFile,
    "heif": pillow_heif.HeifImageFile,
}
_PILLOW_FORMATS = {"jpeg": "JPEG", "png": "PNG", "heif": "HEIF"}

# PDF names that run code, launch programs, carry files or act without a click. Checked as
# dictionary keys and as name values (e.g. /S /JavaScript, /Type /EmbeddedFile).
_PDF_ACTIVE = frozenset({"/JavaScript", "/JS", "/Launch", "/EmbeddedFile", "/EmbeddedFiles",
                         "/AA", "/RichMedia", "/XFA"})


@dataclass(frozen=True)
class Normalised:
    """What is stored for one upload; width, height and thumbnail only for images."""

    kind: Literal["image", "pdf"]
    content: bytes
    thumbnail: bytes | None
    width: int | None
    height: int | None
    page_count: int | None
    media_type: Literal["image/jpeg", "application/pdf"]
    sha256: str


def copy_limited(stream: BinaryIO, out: BinaryIO, max_bytes: int) -> int:
    """Copy an upload to ``out`` in 1 MB pieces, refusing it as soon as it passes max_bytes
    (so it is never taken whole); returns its size."""
    total = 0
    while chunk := stream.read(min(1 << 20, max_bytes + 1 - total)):
        total += len(chunk)
        if total > max_bytes:
            raise _too_large(max_bytes)
        out.write(chunk)
    return total


def sniff(data: bytes) -> Kind:
    """The file's real type from its leading bytes; anything not on the allow-list is refused."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data[4:8] == b"ftyp":
        brands = _ftyp_brands(data)
        if brands & _HEIF_BRANDS and not brands & _AVIF_BRANDS:
            return "heif"
    raise MediaRejected("UPLOAD_TYPE_NOT_ALLOWED")


def normalise(data: bytes, *, max_bytes: int, max_pixels: int, long_side: int = 2560,
              thumb_side: int = 320, jpeg_quality: int = 85,
              max_pages: int = DEFAULT_MAX_PAGES, photos_only: bool = False) -> Normalised:
    """Validate an upload and return what to store: a clean JPEG and thumbnail, or the PDF as is.

    ``photos_only``: the place takes photos (an inspection photo), so a PDF — judged by its
    content, not its name or declared type — is refused with UPLOAD_PHOTO_ONLY.
    Raises MediaRejected for any input we will not keep; nothing is written anywhere. The
    service calls it through media.pool, in an image process of its own.
    """
    if max_pixels > PIXEL_CEILING:
        raise ValueError(f"max_pixels {max_pixels} is above PIXEL_CEILING {PIXEL_CEILING}")
    if not data:
        raise MediaRejected("UPLOAD_EMPTY")
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    kind = sniff(data)
    if kind == "pdf" and photos_only:
        raise MediaRejected("UPLOAD_PHOTO_ONLY")
    if kind == "pdf":
        return _check_pdf(data, max_pages)
    return _reencode(kind, data, max_pixels=max_pixels, long_side=long_side,
                     thumb_side=thumb_side, jpeg_quality=jpeg_quality)


def _too_large(max_bytes: int) -> MediaRejected:
    return MediaRejected("UPLOAD_TOO_LARGE", limit_mb=f"{max_bytes / 2**20:g}")


def _ftyp_brands(data: bytes) -> set[bytes]:
    """Major and compatible brands of an ISO-BMFF ftyp box (skipping the minor version)."""
    end = min(int.from_bytes(data[:4], "big"), len(data), 256)
    return {data[8:12]} | {data[i:i + 4] for i in range(16, end - 3, 4)}


def _reencode(kind: Kind, data: bytes, *, max_pixels: int, long_side: int, thumb_side: int,
              jpeg_quality: int) -> Normalised:
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False: "
                           "truncated uploads would be accepted as grey-filled photos")
    try:
        probe = _HEADER_READERS[kind](BytesIO(data))
    except Exception as exc:  # any header a decoder cannot parse
        raise MediaRejected("UPLOAD_CORRUPT") from exc
    width, height = probe.size
    if width * height > max_pixels:
        raise MediaRejected("UPLOAD_TOO_MANY_PIXELS", width=width, height=height,
                            limit=max_pixels)
    try:
        probe.verify()
        img = Image.open(BytesIO(data), formats=[_PILLOW_FORMATS[kind]])
        img.draft(None, _draft_box(width, height, long_side))
        img.load()
        picture = picture_of(img)  # before resizing: palette images resize nearest-only
        # HAMMING: ~20 % cheaper than bicubic at 4032 → 2560 and text stays sharp, which keeps
        # a 12 MP photo within the 250 ms budget (docs/bench-media.txt).
        picture.thumbnail((long_side, long_side), Image.Resampling.HAMMING)
        # Turning upright after the cap is the same picture for a square box, and cheaper.
        ImageOps.exif_transpose(picture, in_place=True)
    except MediaRejected:
        raise
    except Exception as exc:  # decoders raise many types on hostile data; all mean "unusable"
        raise MediaRejected("UPLOAD_CORRUPT") from exc
    _refuse_if_blanked(img, picture)
    content = _encode_jpeg(picture, jpeg_quality)
    width, height = picture.size
    picture.thumbnail((thumb_side, thumb_side))
    return Normalised(kind="image", content=content,
                      thumbnail=_encode_jpeg(picture, jpeg_quality), width=width,
                      height=height, page_count=None, media_type="image/jpeg",
                      sha256=hashlib.sha256(content).hexdigest())


def _draft_box(width: int, height: int, long_side: int) -> tuple[int, int]:
    """The size JPEG decoding may scale down to (1/2, 1/4, 1/8 in the DCT, far cheaper in time
    and memory than decoding whole and resizing): as long as the long side stays at least
    3/4 of the cap. A 12 MP phone photo (4032 × 3024) is decoded at 2016 × 1512 and stored so,
    a quarter of the pixels to decode, hold and encode; a 3000-pixel one is decoded whole and
    resized to the cap, as it would lose too much at half. Other formats ignore the draft."""
    floor = long_side * 3 // 4
    longest = max(width, height)
    if longest <= long_side:
        return width, height
    return -(-width * floor // longest), -(-height * floor // longest)


def picture_of(img: Image.Image) -> Image.Image:
    """The RGB picture a viewer shows for a decoded image, transparency laid on white paper,
    carrying the image's EXIF (its orientation) for ``ImageOps.exif_transpose``.

    A reading may build a new image (laying transparency on white does), which has no EXIF:
    without carrying it such pictures were stored sideways while opaque ones were turned
    upright (issue 10). Raises MediaRejected UPLOAD_IMAGE_MODE_UNSUPPORTED for a mode
    without a reading in MODE_READINGS: a picture we do not know how to read is refused,
    never guessed.
    """
    reading = MODE_READINGS.get(img.mode)
    if reading is None:
        raise MediaRejected("UPLOAD_IMAGE_MODE_UNSUPPORTED", mode=img.mode)
    picture = reading.to_rgb(img)
    if picture is not img:
        # getexif() also reads an orientation given only in XMP.
        picture.info["exif"] = img.getexif().tobytes()
    return picture


def _on_white(img: Image.Image) -> Image.Image:
    """RGB for JPEG; transparent areas become white, as on paper, rather than black.

    Pillow's own conversions are faithful for 8-bit modes: palettes (with tRNS alpha), a tRNS
    key colour, LA/RGBA alpha, and CMYK, which the JPEG decoder has already turned from Adobe's
    inverted convention into plain ink amounts (as browsers read every CMYK JPEG).
    """
    if img.has_transparency_data:
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img if img.mode == "RGB" else img.convert("RGB")


# 16 → 8 bits as the PNG specification reduces sample depth (§13.12): round(v × 255 / 65535).
_SIXTEEN_TO_EIGHT = [(v * 255 + 32767) // 65535 for v in range(1 << 16)]


def _sixteen_bit_grey(img: Image.Image) -> Image.Image:
    """Grey samples over 0…65535 to 8 bits by the bit depth, not stretched to their own range.

    Pillow's own conversion clips every sample above 255 to white (issue 10). Scaling by the
    depth keeps what a viewer shows: 0x8000 is mid-grey, a near-blank scan stays pale instead
    of having its noise stretched to black and white. pillow-heif widens 10/12-bit greys to
    16 bits, so the same scale reads them.
    """
    wide = img.convert("I")  # Pillow applies a 65536-entry table to mode I only
    grey = wide.point(_SIXTEEN_TO_EIGHT, "L")
    key = img.info.get("transparency")  # PNG tRNS: this one sample value is see-through
    if key is None:
        return grey.convert("RGB")
    alpha = wide.point([0 if v == key else 255 for v in range(1 << 16)], "L")
    return _on_white(Image.merge("LA", (grey, alpha)))


@dataclass(frozen=True)
class Reading:
    """How the samples of one decoded mode become a picture, and what their scale is."""

    to_rgb: Callable[[Image.Image], Image.Image]
    full_scale: int = 255  # the sample value of full intensity
    # the image whose bands (alpha aside) carry its colours: a palette's indices do not
    colours: Callable[[Image.Image], Image.Image] = lambda img: img


_EIGHT_BIT = Reading(_on_white)

# Every mode the three decoders hand back, and nothing else (tests pin this):
# PNG (PngImagePlugin._MODES): 1, L (1/2/4/8 bits), I;16 (16-bit grey, any tRNS in info), RGB
#   (8/16 bits), P, LA, RGBA (8/16 bits, and 16-bit LA). JPEG: L, RGB, CMYK (1, 3, 4
#   components). HEIF (pillow-heif): L, RGB, RGBA, or I;16 for greys deeper than 8 bits (its
#   deeper colour arrives as 8-bit RGB/RGBA). Modes only other formats produce (I, F, LAB,
#   YCbCr, HSV, premultiplied La/RGBa, PA…) are refused by picture_of.
MODE_READINGS: dict[str, Reading] = {
    "1": _EIGHT_BIT, "L": _EIGHT_BIT, "LA": _EIGHT_BIT, "RGB": _EIGHT_BIT,
    "RGBA": _EIGHT_BIT, "CMYK": _EIGHT_BIT,
    "P": Reading(_on_white, colours=lambda img: img.convert("RGBA")),
    "I;16": Reading(_sixteen_bit_grey, full_scale=65535),
}

# Samples closer than this many 8-bit levels look alike (JPEG at q85 moves flat areas by about
# as much), so a picture varying no more than that may be stored as one colour.
_FAINT_LEVELS = 4


def _refuse_if_blanked(img: Image.Image, picture: Image.Image) -> None:
    """Refuse a stored page that would be one flat colour while the upload visibly varies.

    That happens when a fully transparent layer hides the content (some exporters write an
    alpha of 0 everywhere) or when a reading loses the content (issue 10's white page). A
    genuinely blank page still passes: its own samples are uniform too, and a photographed one
    never is uniform after conversion. The cost is 64 pixel reads for any real picture; the
    full passes run only on a picture that came out uniform.
    """
    if not _is_uniform(picture):
        return
    reading = MODE_READINGS[img.mode]
    colours = reading.colours(img)  # an opaque RGB upload is the picture itself
    extrema = colours.getextrema()
    bands = [extrema] if len(colours.getbands()) == 1 else extrema
    spread = max(hi - lo for (lo, hi), band in zip(bands, colours.getbands(), strict=True)
                 if band != "A")
    if spread * 255 > _FAINT_LEVELS * reading.full_scale:
        raise MediaRejected("UPLOAD_IMAGE_BLANK")


def _is_uniform(picture: Image.Image) -> bool:
    """One colour everywhere; a grid of samples settles it for any real picture cheaply."""
    width, height = picture.size
    first = picture.getpixel((0, 0))
    if any(picture.getpixel((x * (width - 1) // 7, y * (height - 1) // 7)) != first
           for x in range(8) for y in range(8)):
        return False
    return all(lo == hi for lo, hi in picture.getextrema())


def _encode_jpeg(img: Image.Image, quality: int) -> bytes:
    """A fresh JPEG with no EXIF, ICC, XMP or comment (Pillow re-emits info['comment'])."""
    img.info.clear()
    out = BytesIO()
    img.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()


def _check_pdf(data: bytes, max_pages: int) -> Normalised:
    # qpdf silently repairs a truncated file; a cut-off upload must be sent again instead.
    if b"%%EOF" not in data[-1024:]:
        raise MediaRejected("UPLOAD_CORRUPT")
    try:
        with pikepdf.open(BytesIO(data)) as pdf:
            encrypted = pdf.is_encrypted
            active = _find_active(pdf)
            pages = len(pdf.pages)
    except pikepdf.PasswordError as exc:
        raise MediaRejected("UPLOAD_PDF_ENCRYPTED") from exc
    except Exception as exc:  # qpdf errors on structure it cannot recover
        raise MediaRejected("UPLOAD_CORRUPT") from exc
    if encrypted:  # an owner password alone opens without a password, still refuse it
        raise MediaRejected("UPLOAD_PDF_ENCRYPTED")
    if active:
        raise MediaRejected("UPLOAD_PDF_ACTIVE_CONTENT", name=active)
    if pages == 0:
        raise MediaRejected("UPLOAD_CORRUPT")
    if pages > max_pages:
        raise MediaRejected("UPLOAD_PDF_TOO_MANY_PAGES", limit=max_pages, pages=pages)
    return Normalised(kind="pdf", content=data, thumbnail=None, width=None, height=None,
                      page_count=pages, media_type="application/pdf",
                      sha256=hashlib.sha256(data).hexdigest())


def _find_active(pdf: pikepdf.Pdf) -> str | None:
    """The first active-content name anywhere in the file, found through the parser.

    Parsed names are already decoded, so /J#61vaScript counts as /JavaScript. Every indirect
    object (also those inside object streams, referenced or not) is walked with its direct
    children; indirect children are skipped as they are walked on their own.
    """
    stack: list[object] = [pdf.trailer, *pdf.objects]
    while stack:
        obj = stack.pop()
        if isinstance(obj, pikepdf.Name):
            if str(obj) in _PDF_ACTIVE:
                return str(obj)
            continue
        if isinstance(obj, (pikepdf.Dictionary, pikepdf.Stream)):
            if found := _PDF_ACTIVE.intersection(obj.keys()):
                return min(found)
            children = obj.values()
        elif isinstance(obj, pikepdf.Array):
            children = obj
        else:
            continue
        stack.extend(c for c in children if isinstance(c, pikepdf.Object) and not c.is_indirect)
    return None
