"""Real image files made in the tests: phone-like photos with EXIF, hostile files."""

from __future__ import annotations

import io
import random

from PIL import Image

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
