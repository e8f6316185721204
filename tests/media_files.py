"""Real image files made in the tests: phone-like photos with EXIF, hostile files."""

from __future__ import annotations

import io
import random
import struct
import zlib

from PIL import Image, ImageDraw

ORIENTATION, GPS_IFD = 0x0112, 0x8825


def phone_jpeg(width: int = 1600, height: int = 1200, *, seed: int = 1,
               rotated: bool = True) -> bytes:
    """A landscape-sensor photo with GPS tags and (by default) EXIF orientation 6 (90° CW)."""
    rng = random.Random(seed)
    img = Image.new("RGB", (width, height), (rng.randrange(256), 120, 60))
    for _ in range(200):  # some texture so it is not trivially compressible
        x, y = rng.randrange(width - 40), rng.randrange(height - 40)
        img.paste((rng.randrange(256), rng.randrange(256), rng.randrange(256)),
                  (x, y, x + 40, y + 40))
    exif = Image.Exif()
    if rotated:
        exif[ORIENTATION] = 6
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(GPS_IFD)
    gps.update({1: "N", 2: (37.0, 52.0, 12.0), 3: "E", 4: (112.0, 33.0, 4.0)})
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def bomb_png(side: int = 12000) -> bytes:
    """A tiny file that declares side×side pixels (a decompression bomb)."""
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, "PNG", optimize=True)
    return out.getvalue()


# --- pictures with bars: content that a faithful conversion keeps and a broken one loses -----

BAR_SIZE = (640, 480)
BAR_PITCH = 80  # a bar of 40 px, then 40 px of background


def bars(mode: str, background, bar, size: tuple[int, int] = BAR_SIZE) -> Image.Image:
    """Vertical bars over a background, in any Pillow mode (ImageDraw: Pillow 13's paste of an
    int into I;16 writes 0)."""
    img = Image.new(mode, size, background)
    draw = ImageDraw.Draw(img)
    for x in range(0, size[0], BAR_PITCH):
        draw.rectangle((x, 0, x + BAR_PITCH // 2 - 1, size[1] - 1), fill=bar)
    return img


def bar_rows(background: bytes, bar: bytes, size: tuple[int, int] = BAR_SIZE) -> bytes:
    """The same bars as raw interleaved samples, one pixel given as its bytes."""
    row = b"".join(bar if x % BAR_PITCH < BAR_PITCH // 2 else background for x in range(size[0]))
    return row * size[1]


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def raw_png(size: tuple[int, int], bit_depth: int, colour_type: int, samples: bytes,
            trns: bytes | None = None) -> bytes:
    """A PNG written by hand, for sample layouts Pillow cannot save (16-bit RGB, LA, RGBA).

    samples: big-endian rows without filter bytes, as PNG stores them.
    """
    width, height = size
    stride = len(samples) // height
    filtered = b"".join(b"\0" + samples[y * stride:(y + 1) * stride] for y in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth,
                                             colour_type, 0, 0, 0))
            + (png_chunk(b"tRNS", trns) if trns is not None else b"")
            + png_chunk(b"IDAT", zlib.compress(filtered)) + png_chunk(b"IEND", b""))


def grey16_bars_png() -> bytes:
    """Issue 10's file: 16-bit greyscale 640×480, background 0x8000, darker bars 0x1000."""
    out = io.BytesIO()
    bars("I;16", 0x8000, 0x1000).save(out, "PNG")
    return out.getvalue()
