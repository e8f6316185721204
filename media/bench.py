"""`python -m media.bench`: the cost of one phone upload and of one license render, to hold
against the budgets (shared quality anchors): normalise median < 250 ms and peak RSS < 150 MB
per upload; a 144 MP bomb refused in < 100 ms without decoding; a 10-item license < 150 ms.
Results are recorded in docs/bench-media.txt and docs/bench-license.txt.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import struct
import time
import zlib
from collections.abc import Callable
from io import BytesIO

import PIL
from PIL import ExifTags, Image

from media.errors import MediaRejected
from media.images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, normalise
from media.qr import qr_image, qr_png
from media.render import PAGE, find_font, render_pdf, render_png, sample_face

RUNS = 7


def phone_jpeg(width: int = 4032, height: int = 3024, grain: int = 4) -> bytes:
    """A 12 MP photo with noise (so JPEG has detail to code), EXIF-rotated and with GPS.

    ``grain``: noise cells of grain×grain pixels; 4 gives ~2.4 MB, 2 gives ~3.4 MB."""
    scene = Image.merge("RGB", [
        Image.linear_gradient("L").resize((width, height)),
        Image.radial_gradient("L").resize((width, height)),
        Image.effect_noise((width // grain, height // grain), 40).resize((width, height)),
    ])
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif.get_ifd(ExifTags.IFD.GPSInfo).update({1: "N", 2: (37.0, 52.0, 12.0), 3: "E",
                                               4: (112.0, 33.0, 5.0)})
    out = BytesIO()
    scene.save(out, "JPEG", quality=92, exif=exif)
    return out.getvalue()


def png_bomb(side: int = 12000) -> bytes:
    """A side×side greyscale PNG of zeros, ~140 KB for 144 MP, written without allocating it."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    deflate = zlib.compressobj(9)
    rows = bytes((side + 1) * 100)  # 100 rows: filter byte 0 + pixels
    idat = b"".join(deflate.compress(rows) for _ in range(side // 100)) + deflate.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


def _median_ms(fn: Callable[[], object], runs: int = RUNS) -> str:
    """Wall and CPU medians: the machine is shared, CPU time is the steadier figure."""
    wall, cpu = [], []
    for _ in range(runs):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start_wall)
        cpu.append(time.process_time() - start_cpu)
    return (f"median of {runs}: {statistics.median(wall) * 1000:.2f} ms wall,"
            f" {statistics.median(cpu) * 1000:.2f} ms CPU")


def _refuse(bomb: bytes, limits: dict[str, int]) -> None:
    try:
        normalise(bomb, **limits)
    except MediaRejected as exc:
        if exc.code == "UPLOAD_TOO_MANY_PIXELS":
            return
    raise SystemExit("the bomb was not refused as UPLOAD_TOO_MANY_PIXELS")


def license_figures() -> None:
    # a verify URL of the longest expected length: 152 characters, QR version 11 at ECC Q
    url = ("https://zwfw.shanxi.gov.cn/yyyz/v/JZ1401052026000123?v=3&k=dev1&s="
           + ("Zx9_-aQ" * 13)[:86])  # base64url: mixed case, so byte mode like a real one
    face, font = sample_face(url), find_font()
    png = render_png(face, font_path=font)
    modules = qr_image(url, box_size=1, border=0).width
    print(f"license: font {font}; verify URL {len(url)} characters → QR {modules}×{modules}"
          f" modules (version {(modules - 17) // 4}, ECC Q)")
    print(f"license PNG {PAGE[0]}×{PAGE[1]} ({len(png) // 1024} KB), 10 items,"
          f" {_median_ms(lambda: render_png(face, font_path=font))} (goal < 150 ms)")
    print(f"QR PNG alone, {_median_ms(lambda: qr_png(url))}")
    print(f"license PDF, {_median_ms(lambda: render_pdf(face, font_path=font))}")


def main() -> None:
    base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    photo = phone_jpeg()
    limits = {"max_bytes": DEFAULT_MAX_BYTES, "max_pixels": DEFAULT_MAX_PIXELS}
    result = normalise(photo, **limits)
    full = _median_ms(lambda: normalise(photo, **limits))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # Thumbnail alone: same pipeline with the long side capped at thumbnail size, so JPEG
    # draft mode decodes at 1/8 scale: the cost if thumbnails were made on demand.
    thumb = _median_ms(lambda: normalise(photo, **limits, long_side=320))

    bomb = png_bomb()
    refuse = _median_ms(lambda: _refuse(bomb, limits))

    print(f"python -m media.bench: Python {platform.python_version()}, Pillow {PIL.__version__},"
          f" {os.cpu_count()} CPUs")
    print(f"input: 4032x3024 JPEG q92, EXIF orientation 6 + GPS, {len(photo) / 1e6:.2f} MB")
    print(f"output: {result.width}x{result.height} JPEG q85, {len(result.content) / 1e6:.2f} MB;"
          f" thumbnail {len(result.thumbnail or b'')} bytes")
    print(f"normalise 12 MP JPEG, {full}")
    print(f"peak RSS of the process (test image generation included): {peak_mb:.0f} MB;"
          f" {base_mb:.0f} MB after imports")
    print(f"thumbnail only (long side 320, JPEG draft decode), {thumb}")
    print(f"refuse 12000x12000 PNG bomb ({len(bomb) / 1e3:.0f} KB), {refuse}")
    license_figures()


if __name__ == "__main__":
    main()
