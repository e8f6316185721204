"""QR codes for license verification URLs.

Error correction Q (~25 % of codewords recoverable): a printed license gets creased,
stained, laminated with glare and photographed at an angle; H would grow our ~150-character
URL from version 9 to 11 (smaller modules at the same printed size) for little gain, M
leaves too little margin for a dirty print. Quiet zone: the 4 modules the standard requires.
"""

from __future__ import annotations

from io import BytesIO

import qrcode
from PIL import Image
from qrcode.constants import ERROR_CORRECT_Q

QUIET_ZONE = 4


def qr_image(url: str, *, box_size: int = 10, border: int = QUIET_ZONE) -> Image.Image:
    """Black-on-white QR in mode "1", ``box_size`` pixels per module, ``border`` modules."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_Q, box_size=box_size, border=border)
    code.add_data(url)
    code.make(fit=True)
    return code.make_image().get_image()


def qr_png(url: str, *, box_size: int = 10, border: int = QUIET_ZONE) -> bytes:
    """The QR alone as PNG, e.g. for a phone screen or the mini-program."""
    out = BytesIO()
    qr_image(url, box_size=box_size, border=border).save(out, format="PNG", optimize=True)
    return out.getvalue()
