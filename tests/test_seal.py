"""The sealed license PDF (media/seal.py, backend/security/seals.py): a PAdES signature by the
issuing authority that pyHanko's validator accepts against the development CA, covering the
whole served file; one changed byte is detected; the seal where a seal belongs on the face;
production refuses to start without the authority's own certificate."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path

import pytest
import zxingcpp
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image, ImageChops
from pyhanko.keys import load_cert_from_pemder
from pyhanko.keys.internal import (
    translate_pyca_cryptography_cert_to_asn1,
    translate_pyca_cryptography_key_to_asn1,
)
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.timestamps import DummyTimeStamper
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import select

from backend.models import License, LicenseRendition
from backend.security import seals, signatures
from backend.services.licenses import SEAL_REASON
from config.settings import SettingsError, load
from media import render
from media.seal import FIELD_NAME, SEAL_RED, PadesSealer, load_signer, run_async, seal_image
from tests import seal_files, servers
from tests.conftest import make_settings
from tests.test_app import PRODUCTION, assert_envelope
from tests.test_licenses import fetch, licensed  # noqa: F401 - the fixture

QR = zxingcpp.BarcodeFormat.QRCode  # decode QR codes only: a license's print is not a 1-D code

URL = signatures.build_verify_url("https://zwfw.shanxi.gov.cn/yyyz", "JZ1401052026000123", 3,
                                  signatures.dev_keyring())


def validation(pdf: bytes, trust_root: Path | None = None) -> PdfSignatureStatus:
    """pyHanko's verdict on the file's one signature, trusting only ``trust_root`` (the
    development CA of this machine by default), nothing fetched from the network."""
    root = trust_root or seals.development_authority().ca_cert
    [signature] = PdfFileReader(BytesIO(pdf)).embedded_signatures  # strict reading
    context = ValidationContext(trust_roots=[load_cert_from_pemder(str(root))],
                                allow_fetching=False)
    return run_async(async_validate_pdf_signature(signature, context))


def assert_sealed(pdf: bytes, *, authority: str) -> PdfSignatureStatus:
    """Sealed by ``authority``: intact, trusted, covering the whole file, PAdES."""
    status = validation(pdf)
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.bottom_line
    signature = PdfFileReader(BytesIO(pdf)).embedded_signatures[0]
    assert signature.field_name == FIELD_NAME
    sig = signature.sig_object
    assert (sig["/SubFilter"], sig["/Reason"], sig["/Location"], sig["/Name"]) == (
        "/ETSI.CAdES.detached", SEAL_REASON, authority, authority)
    return status


def judged_valid(pdf: bytes) -> bool:
    """What a relying party concludes: a file that cannot even be read is not valid."""
    try:
        return validation(pdf).bottom_line
    except (PdfReadError, ValueError):  # pyHanko's validation errors are ValueErrors
        return False


def image_stream_middle(pdf: bytes) -> int:
    """An offset inside the page image's compressed data (most of the file)."""
    start = pdf.index(b"stream", pdf.index(b"/Subtype /Image")) + len(b"stream\n")
    end = pdf.index(b"endstream", start)
    assert end - start > 100_000
    return (start + end) // 2


def test_the_served_license_pdf_is_sealed_by_its_issuing_authority(client, licensed):  # noqa: F811
    mine = client.get("/api/mp/v1/licenses", headers=licensed["applicant"]).json["licenses"]
    pdf = fetch(client, mine[0]["pdf_url"])
    status = assert_sealed(pdf, authority=licensed["license"]["issuing_authority"])
    assert abs(status.signer_reported_dt - datetime.now(UTC)) < timedelta(minutes=5)
    assert status.timestamp_validity is None  # B-B: no timestamp service configured
    # the same file on a second view: sealed once per version, kept
    again = client.get("/api/mp/v1/licenses", headers=licensed["applicant"]).json["licenses"]
    assert fetch(client, again[0]["pdf_url"]) == pdf


@pytest.fixture(scope="module")
def sealed() -> tuple[render.SealablePdf, bytes]:
    """The worst-case face (ten long items), sealed with this machine's development seal."""
    face = render.sample_face(URL)
    pdf = render.render_sealable_pdf(face)
    sealer = seals.sealer_from_settings(make_settings())
    return pdf, sealer.seal(pdf.pdf, signer_name=face.issuing_authority,
                            location=face.issuing_authority, reason=SEAL_REASON,
                            box=pdf.seal_box)


def test_one_changed_byte_of_the_sealed_pdf_is_detected(sealed):
    _, pdf = sealed
    assert judged_valid(pdf)
    at = image_stream_middle(pdf)
    changed = pdf[:at] + bytes([pdf[at] ^ 0x01]) + pdf[at + 1:]
    status = validation(changed)
    assert not status.intact and not status.bottom_line
    # and what lost the last release its files' tails: 4 KB short is not a valid seal
    assert not judged_valid(pdf[:-4096])


def test_an_unsealed_or_foreign_signed_pdf_is_not_trusted(sealed):
    unsealed, pdf = sealed
    assert PdfFileReader(BytesIO(unsealed.pdf)).embedded_signatures == []
    other_root = seal_files.province_authority().ca_cert  # another CA: not who sealed it
    assert not validation(pdf, trust_root=other_root).trusted


def test_the_seal_straddles_the_issue_date_over_the_authority_left_of_the_qr():
    face = render.sample_face(URL)
    page = render.render_page(face)
    left, top, right, bottom = page.seal_box
    assert right - left == bottom - top == round(42 / 25.4 * render.DPI)  # 42 mm across

    def changed(**fields) -> tuple[int, int, int, int]:
        other = render.render_page(dataclasses.replace(face, **fields)).image
        return ImageChops.difference(page.image, other).getbbox()

    date = changed(issued_on=face.issued_on + timedelta(days=3))
    middle = ((date[0] + date[2]) // 2, (date[1] + date[3]) // 2)
    assert left < middle[0] < right and top < middle[1] < bottom  # over the date
    name = changed(issuing_authority="太原市小店区行政审批服务管理局局")
    assert name[1] < bottom and name[3] > top  # across the authority's name
    assert name[0] < right and name[2] > left
    [qr] = zxingcpp.read_barcodes(page.image, formats=QR)
    qr_left = min(p.x for p in (qr.position.top_left, qr.position.bottom_left))
    assert right < qr_left  # never over the QR a phone must read
    items = changed(items=face.items[:9])  # the last item's lines
    assert items[3] < top  # never over the 许可项目


def test_the_seal_widget_is_at_that_place_on_the_page_and_red(sealed):
    unsealed, pdf = sealed
    reader = PdfFileReader(BytesIO(pdf))
    [widget] = [a.get_object() for a in reader.root["/Pages"]["/Kids"][0]["/Annots"]]
    assert widget["/Subtype"] == "/Widget" and widget["/FT"] == "/Sig"
    assert widget["/T"] == FIELD_NAME
    assert [float(v) for v in widget["/Rect"]] == list(unsealed.seal_box)
    x1, y1, x2, y2 = (float(v) for v in widget["/AP"]["/N"]["/BBox"])
    left, bottom, right, top = unsealed.seal_box
    assert (abs(x2 - x1), abs(y2 - y1)) == (right - left, top - bottom)  # drawn at its size
    # what it shows: the red round seal with this authority's name, and nothing else
    [image] = [x.get_object() for x in widget["/AP"]["/N"]["/Resources"]["/XObject"].values()]
    size = (int(image["/Width"]), int(image["/Height"]))
    shown = Image.frombytes("RGB", size, image.data)
    shown.putalpha(Image.frombytes("L", size, image["/SMask"].get_object().data))
    assert shown.tobytes() == seal_image(render.sample_face(URL).issuing_authority).tobytes()
    inked = [px for px in shown.get_flattened_data() if px[3] == 255]
    assert {px[:3] for px in inked} == {SEAL_RED}
    assert len(inked) > size[0] * size[1] * 0.05


def test_the_seal_names_the_authority_on_its_rim():
    one = seal_image("太原市小店区行政审批服务管理局")
    other = seal_image("大同市平城区行政审批服务管理局")
    assert one.size == other.size and ImageChops.difference(one, other).getbbox() is not None


def test_production_refuses_to_start_without_the_authoritys_seal():
    with pytest.raises(SettingsError, match="production requires the issuing authority's seal"):
        load(environ=PRODUCTION | {"LICENSE_SEAL_KEY": "", "LICENSE_SEAL_CERT": "",
                                   "LICENSE_SEAL_CHAIN": ""})


def test_production_refuses_the_development_seal():
    dev = seals.development_authority()
    with pytest.raises(SettingsError, match="development"):
        load(environ=PRODUCTION | {"LICENSE_SEAL_KEY": str(dev.key),
                                   "LICENSE_SEAL_CERT": str(dev.cert),
                                   "LICENSE_SEAL_CHAIN": str(dev.ca_cert)})


@pytest.mark.parametrize("overrides, problem", [
    ({"LICENSE_SEAL_KEY": "/nonexistent/seal-key.pem"}, "LICENSE_SEAL_KEY.*No such file"),
    ({"LICENSE_SEAL_CERT": ""}, "LICENSE_SEAL_PKCS12, or LICENSE_SEAL_KEY and LICENSE_SEAL_CERT"),
    ({"LICENSE_SEAL_CERT": "DEV"}, "does not belong to its certificate"),
    ({"LICENSE_SEAL_CERT": "KEY"}, "LICENSE_SEAL_CERT.*not a certificate"),
    ({"LICENSE_SEAL_KEY": "", "LICENSE_SEAL_CERT": "", "LICENSE_SEAL_PKCS12": "P12",
      "LICENSE_SEAL_PASSPHRASE": "wrong"}, "LICENSE_SEAL_PKCS12.*LICENSE_SEAL_PASSPHRASE"),
    ({"LICENSE_SEALER": "ofd"}, "LICENSE_SEALER"),
    ({"LICENSE_SEALER": "tests.test_seal:nothing_here"}, "LICENSE_SEALER.*cannot be imported"),
])
def test_production_refuses_seal_credentials_that_do_not_load(overrides, problem):
    province, dev = seal_files.province_authority(), seals.development_authority()
    files = {"DEV": str(dev.cert), "KEY": str(province.key),
             "P12": seal_files.pkcs12_file(province)}
    env = PRODUCTION | {k: files.get(v, v) for k, v in overrides.items()}
    with pytest.raises(SettingsError, match=problem):
        load(environ=env)


def test_production_seals_with_the_authoritys_pkcs12_or_pem_files():
    province = seal_files.province_authority()
    p12 = {"LICENSE_SEAL_KEY": "", "LICENSE_SEAL_CERT": "", "LICENSE_SEAL_CHAIN": "",
           "LICENSE_SEAL_PKCS12": seal_files.pkcs12_file(province),
           "LICENSE_SEAL_PASSPHRASE": seal_files.PASSPHRASE}
    face = render.sample_face(URL)
    pdf = render.render_sealable_pdf(face)
    for env in (PRODUCTION, PRODUCTION | p12):
        sealer = seals.sealer_from_settings(load(environ=env))
        signed = sealer.seal(pdf.pdf, signer_name=face.issuing_authority, location="太原",
                             reason=SEAL_REASON, box=pdf.seal_box)
        status = validation(signed, trust_root=province.ca_cert)
        assert status.bottom_line and status.trusted, status.pretty_print_details()
        assert not validation(signed).trusted  # the development CA did not issue it


class RecordingSealer:
    """A stand-in for the province's seal server: records what it was asked to seal."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.calls: list[dict] = []

    def seal(self, pdf: bytes, **request) -> bytes:
        self.calls.append(request)
        return pdf + b"%sealed elsewhere\n"


@pytest.fixture
def recording_sealer(app, monkeypatch) -> RecordingSealer:
    """The app's sealer as LICENSE_SEALER=tests.test_seal:RecordingSealer makes it."""
    settings = make_settings(LICENSE_SEALER="tests.test_seal:RecordingSealer")
    sealer = seals.sealer_from_settings(settings)
    assert isinstance(sealer, RecordingSealer) and sealer.settings is settings
    monkeypatch.setitem(app.extensions, "license_sealer", sealer)
    return sealer


def test_another_sealer_replaces_pyhanko_by_configuration(recording_sealer, client,
                                                          licensed):  # noqa: F811
    mine = client.get("/api/mp/v1/licenses", headers=licensed["applicant"]).json["licenses"]
    pdf = fetch(client, mine[0]["pdf_url"])
    assert pdf.startswith(b"%PDF-") and pdf.endswith(b"%sealed elsewhere\n")
    [call] = recording_sealer.calls
    authority = licensed["license"]["issuing_authority"]
    assert call["signer_name"] == call["location"] == authority
    assert call["reason"] == SEAL_REASON and len(call["box"]) == 4


@pytest.fixture
def timestamp_service():
    """An RFC 3161 timestamp service on 127.0.0.1 (pyHanko's test TSA behind HTTP) and the
    CA that certified it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "测试时间戳服务")])
    now = datetime.now(UTC) - timedelta(days=1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                           critical=True)
            .sign(key, hashes.SHA256()))
    tsa = DummyTimeStamper(tsa_cert=translate_pyca_cryptography_cert_to_asn1(cert),
                           tsa_key=translate_pyca_cryptography_key_to_asn1(key))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            request = tsp.TimeStampReq.load(self.rfile.read(int(self.headers["Content-Length"])))
            body = tsa.request_tsa_response(request).dump()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    root = translate_pyca_cryptography_cert_to_asn1(cert)
    yield f"http://127.0.0.1:{server.server_port}/tsa", root
    server.shutdown()
    server.server_close()


def development_sealer(timestamp_url: str) -> PadesSealer:
    authority = seals.development_authority()
    return PadesSealer(load_signer(key_path=str(authority.key), cert_path=str(authority.cert),
                                   chain_path=str(authority.ca_cert)),
                       timestamp_url=timestamp_url, timestamp_timeout=2)


def test_a_timestamp_service_makes_the_seal_pades_b_t(timestamp_service):
    url, tsa_root = timestamp_service
    authority = seals.development_authority()
    sealer = development_sealer(url)
    face = render.sample_face(URL)
    pdf = render.render_sealable_pdf(face)
    signed = sealer.seal(pdf.pdf, signer_name=face.issuing_authority, location="太原",
                         reason=SEAL_REASON, box=pdf.seal_box)
    [signature] = PdfFileReader(BytesIO(signed)).embedded_signatures
    trust = load_cert_from_pemder(str(authority.ca_cert))
    status = run_async(async_validate_pdf_signature(
        signature, ValidationContext(trust_roots=[trust], allow_fetching=False),
        ts_validation_context=ValidationContext(trust_roots=[tsa_root], allow_fetching=False)))
    assert status.bottom_line and status.timestamp_validity is not None
    assert status.timestamp_validity.trusted and status.timestamp_validity.intact
    assert abs(status.timestamp_validity.timestamp - datetime.now(UTC)) < timedelta(minutes=5)



def test_while_the_timestamp_service_is_down_the_license_waits_and_keeps_nothing(
        app, client, licensed, session, monkeypatch):  # noqa: F811
    license_ = session.get(License, licensed["license"]["id"])
    license_.version += 1  # a new version to render, as a change or replacement makes
    session.commit()
    down = f"http://127.0.0.1:{servers.free_port()}/tsa"  # nothing listens there
    monkeypatch.setitem(app.extensions, "license_sealer", development_sealer(down))
    commissioner = licensed["commissioner"]
    resp = client.get(f"/api/staff/v1/licenses/{license_.id}", headers=commissioner)
    body = assert_envelope(resp, 503, "SEAL_UNAVAILABLE")
    assert body["message"] == "电子印章服务暂不可用，请稍后重试"
    assert resp.headers["Retry-After"] == "60"
    assert session.scalars(select(LicenseRendition).where(
        LicenseRendition.license_id == license_.id, LicenseRendition.version == 2)).all() == []
    monkeypatch.undo()  # the service is back: the next view seals it
    shown = client.get(f"/api/staff/v1/licenses/{license_.id}", headers=commissioner).json
    assert shown["version"] == 2
    assert_sealed(fetch(client, shown["pdf_url"]), authority=shown["issuing_authority"])
