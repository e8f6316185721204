"""The digital seal (电子印章) of the printed license: a PAdES signature of the PDF by the
issuing authority's certificate, shown as a red round seal where a seal belongs on the face.

One interface, :class:`Sealer`: bytes of an unsealed PDF in, bytes of the sealed PDF out.
:class:`PadesSealer` (pyHanko) is the one we have. GB/T 36905 names OFD sealed under
GB/T 38540 (SM2 over SM3) by the province's certified seal server; no Python library signs
OFD today, and that server keeps its keys itself, so it takes this place as another
``Sealer`` chosen by LICENSE_SEALER (backend/security/seals.py), not as a change here.

The signature is PAdES baseline B-B (ETSI EN 319 142-1): a CAdES detached signature with the
signing certificate bound in (signing-certificate-v2), /SubFilter ETSI.CAdES.detached, the
signing time in the signature dictionary. With a timestamp service (RFC 3161) it is B-T.
"""

from __future__ import annotations

import asyncio
import functools
import math
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from PIL import Image, ImageDraw, ImageFont
from pyhanko.keys.internal import (
    translate_pyca_cryptography_cert_to_asn1,
    translate_pyca_cryptography_key_to_asn1,
)
from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers, timestamps
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
from pyhanko.stamp import StaticStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

from media.render import find_font, font_index

Box = tuple[float, float, float, float]  # PDF points (left, bottom, right, top) on page 1

FIELD_NAME = "IssuingAuthoritySeal"
SEAL_RED = (214, 0, 24)
LEGEND = "电子印章"  # the horizontal line under the star, where a paper seal names its use
APPEARANCE_PX = 700  # the seal drawn this wide: 42 mm at about 420 dpi, crisp when printed
OPACITY = 0.85  # ink over the printed text: the date under the seal stays readable


class Sealer(Protocol):
    """Seals a one-page PDF as the issuing authority.

    ``signer_name`` is the authority (it appears on the seal), ``location`` where it seals,
    ``reason`` the signature's stated reason; ``box`` is where the visible seal goes
    (:data:`Box`). Returns the whole sealed file. Raises :class:`SealError` when the seal
    cannot be applied (a remote seal server unreachable, a timestamp refused).
    """

    def seal(self, pdf: bytes, *, signer_name: str, location: str, reason: str,
             box: Box) -> bytes: ...


class SealError(RuntimeError):
    """The seal could not be applied."""


class SealCredentialsError(ValueError):
    """The authority's key or certificate cannot be loaded, or they do not belong together."""


class PadesSealer:
    """PAdES signatures with a key held here (a PKCS#12 or PEM key and certificate chain).

    ``timestamp_url``: an RFC 3161 timestamp service for B-T; empty = B-B (no timestamp).
    ``font_path``: the CJK font the seal's lettering is drawn in (as the license face).
    """

    def __init__(self, signer: signers.SimpleSigner, *, timestamp_url: str = "",
                 timestamp_timeout: float = 10.0, font_path: str | None = None) -> None:
        self.signer = signer
        self.timestamper = (RequestsHTTPTimeStamper(timestamp_url, timeout=timestamp_timeout)
                            if timestamp_url else None)
        self.font_path = font_path

    def seal(self, pdf: bytes, *, signer_name: str, location: str, reason: str,
             box: Box) -> bytes:
        meta = signers.PdfSignatureMetadata(
            field_name=FIELD_NAME, name=signer_name, location=location, reason=reason,
            md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES)
        style = StaticStampStyle(
            background=PdfImage(seal_image(signer_name, font_path=self.font_path)),
            background_opacity=OPACITY, border_width=0,
            background_layout=layout.SimpleBoxLayoutRule(  # the square seal fills the box
                x_align=layout.AxisAlignment.ALIGN_MIN, y_align=layout.AxisAlignment.ALIGN_MIN,
                margins=layout.Margins.uniform(0)))
        signer = signers.PdfSigner(
            meta, self.signer, timestamper=self.timestamper, stamp_style=style,
            new_field_spec=fields.SigFieldSpec(FIELD_NAME, on_page=0, box=box))
        writer = IncrementalPdfFileWriter(BytesIO(pdf))
        try:
            return run_async(signer.async_sign_pdf(writer)).getvalue()
        except timestamps.TimestampRequestError as error:
            raise SealError(f"timestamp service: {error}") from error


def signing_time(pdf: bytes) -> datetime | None:
    """The signing time the last signature of ``pdf`` states (签章时间), or None when the file
    has none that can be read (another Sealer's output)."""
    from pyhanko.pdf_utils.reader import PdfFileReader  # noqa: PLC0415

    try:
        signatures = PdfFileReader(BytesIO(pdf)).embedded_signatures
        return signatures[-1].self_reported_timestamp if signatures else None
    except Exception:  # noqa: BLE001 - a file we cannot read has no time to tell
        return None


def load_signer(*, pkcs12_path: str = "", key_path: str = "", cert_path: str = "",
                chain_path: str = "", passphrase: str = "") -> signers.SimpleSigner:
    """The authority's signing key and certificate: from a PKCS#12 file (key, certificate
    and chain), or from a PEM/DER key and certificate with the chain's certificates in
    ``chain_path`` (PEM, one or more). The passphrase unlocks the PKCS#12 or the key.

    Raises :class:`SealCredentialsError` naming what is wrong: a missing or unreadable file,
    a wrong passphrase, a key that does not match the certificate, a certificate that is not
    valid now or not allowed to sign.
    """
    secret = passphrase.encode() or None
    if pkcs12_path:
        data = _read(pkcs12_path, "LICENSE_SEAL_PKCS12")
        try:
            key, cert, chain = pkcs12.load_key_and_certificates(data, secret)
        except ValueError as error:
            raise SealCredentialsError(
                f"LICENSE_SEAL_PKCS12 {pkcs12_path}: cannot be opened (wrong "
                f"LICENSE_SEAL_PASSPHRASE, or not PKCS#12): {error}") from None
        if key is None or cert is None:
            raise SealCredentialsError(f"LICENSE_SEAL_PKCS12 {pkcs12_path}: holds no private "
                                       "key and certificate")
    else:
        if not (key_path and cert_path):
            raise SealCredentialsError("set LICENSE_SEAL_PKCS12, or LICENSE_SEAL_KEY and "
                                       "LICENSE_SEAL_CERT")
        key = _load_key(_read(key_path, "LICENSE_SEAL_KEY"), secret, key_path)
        cert = _load_certs(_read(cert_path, "LICENSE_SEAL_CERT"), cert_path,
                           "LICENSE_SEAL_CERT")[0]
        chain = []
    if chain_path:
        chain = [*chain, *_load_certs(_read(chain_path, "LICENSE_SEAL_CHAIN"), chain_path,
                                      "LICENSE_SEAL_CHAIN")]
    _check_pair(key, cert)
    store = SimpleCertificateStore()
    store.register_multiple([translate_pyca_cryptography_cert_to_asn1(c) for c in chain])
    return signers.SimpleSigner(signing_cert=translate_pyca_cryptography_cert_to_asn1(cert),
                                signing_key=translate_pyca_cryptography_key_to_asn1(key),
                                cert_registry=store)


def _read(path: str, setting: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise SealCredentialsError(f"{setting} {path}: {error.strerror}") from None


def _load_key(data: bytes, secret: bytes | None, path: str):
    loaders = (serialization.load_pem_private_key if b"-----BEGIN" in data
               else serialization.load_der_private_key)
    try:
        return loaders(data, secret)
    except (ValueError, TypeError) as error:
        raise SealCredentialsError(f"LICENSE_SEAL_KEY {path}: cannot be read (wrong "
                                   f"LICENSE_SEAL_PASSPHRASE, or not a key): {error}") from None


def _load_certs(data: bytes, path: str, setting: str) -> list[x509.Certificate]:
    try:
        certs = (x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data
                 else [x509.load_der_x509_certificate(data)])
    except ValueError as error:
        raise SealCredentialsError(f"{setting} {path}: not a certificate: {error}") from None
    return certs


def _check_pair(key, cert: x509.Certificate) -> None:
    public = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*public) != cert.public_key().public_bytes(*public):
        raise SealCredentialsError("the seal's private key does not belong to its certificate")
    now = datetime.now(UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise SealCredentialsError(
            f"the seal's certificate is valid from {cert.not_valid_before_utc:%Y-%m-%d} to "
            f"{cert.not_valid_after_utc:%Y-%m-%d}, not now")
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not (usage.digital_signature or usage.content_commitment):
        raise SealCredentialsError("the seal's certificate is not allowed to sign "
                                   "(key usage lacks digitalSignature and nonRepudiation)")


@functools.lru_cache(maxsize=64)  # one per issuing authority; a county has one
def seal_image(authority: str, *, font_path: str | None = None,
               legend: str = LEGEND) -> Image.Image:
    """The round seal as an RGBA image APPEARANCE_PX wide: a red ring, the authority's name
    along the upper arc read clockwise, a five-pointed star in the centre and ``legend``
    under it, as on a government body's paper seal (国发〔1999〕25号)."""
    size = APPEARANCE_PX
    path = find_font(font_path)
    mask = Image.new("L", (size, size), 0)  # coverage; coloured red at the end
    draw = ImageDraw.Draw(mask)
    ring = round(size * 0.03)
    outer = size / 2 - 2
    draw.ellipse((2, 2, size - 3, size - 3), outline=255, width=ring)

    star_r = size * 0.17
    centre = size / 2
    points = [(centre + (star_r if i % 2 == 0 else star_r * 0.382)
               * math.sin(math.pi * i / 5),
               centre - (star_r if i % 2 == 0 else star_r * 0.382) * math.cos(math.pi * i / 5))
              for i in range(10)]
    draw.polygon(points, fill=255)

    legend_font = _font(path, round(size * 0.085))
    width = legend_font.getlength(legend)
    draw.text((centre - width / 2, centre + size * 0.2), legend, font=legend_font, fill=255)

    _draw_arc_text(mask, authority, path, radius=outer - ring - size * 0.02)
    red = Image.new("RGBA", (size, size), (*SEAL_RED, 0))
    red.putalpha(mask)
    return red


def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=font_index(path),
                              layout_engine=ImageFont.Layout.BASIC)


def _draw_arc_text(mask: Image.Image, text: str, font_path: str, *, radius: float) -> None:
    """Each character upright towards the rim, evenly spread over an arc centred on the top:
    up to 250° for a long name, narrower for a short one."""
    count = len(text)
    if not count:
        return
    size = mask.width
    glyph_size = round(size * (0.13 if count <= 10 else 0.115 if count <= 16 else 0.095))
    font = _font(font_path, glyph_size)
    step = min(250 / count, 24)  # degrees per character
    start = -step * (count - 1) / 2
    centre = size / 2
    baseline_radius = radius - glyph_size * 0.55  # the glyph's middle
    for index, char in enumerate(text):
        angle = start + step * index  # 0 = top, clockwise
        tile = Image.new("L", (glyph_size * 2, glyph_size * 2), 0)
        box = font.getbbox(char)
        ImageDraw.Draw(tile).text((glyph_size - (box[0] + box[2]) / 2,
                                   glyph_size - (box[1] + box[3]) / 2),
                                  char, font=font, fill=255)
        tile = tile.rotate(-angle, resample=Image.Resampling.BICUBIC)
        x = centre + baseline_radius * math.sin(math.radians(angle)) - glyph_size
        y = centre - baseline_radius * math.cos(math.radians(angle)) - glyph_size
        mask.paste(255, (round(x), round(y)), tile)


def run_async(coroutine):
    """Run one of pyHanko's coroutines to its end. Its synchronous calls start an event loop
    of their own (``asyncio.run``), which a thread already running one refuses (a test
    driving Chromium, an asynchronous server): there it runs in a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(1, thread_name_prefix="seal") as pool:
        return pool.submit(asyncio.run, coroutine).result()
