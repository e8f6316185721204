"""SM2 with SM3 license signatures (GB/T 32918, GB/T 32905), chosen per key id beside Ed25519:
published test vectors, and every signature cross-checked with OpenSSL's own SM2."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from pathlib import Path

import gmssl_pyx
import pytest
import zxingcpp
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from backend.security import bench, sm2
from backend.security.signatures import (
    Keyring,
    build_verify_url,
    generate_key_text,
    license_message,
    parse_code,
    parse_verify_url,
)
from config.settings import SettingsError, load
from tests.test_app import PRODUCTION
from tests.test_licenses import fetch, licensed, phone_photo, public  # noqa: F401 - fixture
from tests.test_signatures import BASE, NO

QR = zxingcpp.BarcodeFormat.QRCode  # decode QR codes only: a license's print is not a 1-D code

DEFAULT_ID = b"1234567812345678"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


ED = f"k2026a:{b64url(bytes([2]) * 32)}"
SM2_OLD = f"k2027g:sm2:{b64url(bytes([3]) * 32)}"
SM2_NEW = f"k2028g:sm2:{b64url(bytes([4]) * 32)}"

# The SM2 signature example on the recommended curve, ID "1234567812345678", message
# "message digest" (GM/T 0003.5-2012 annex, the curve of GB/T 32918.5-2017); the same
# numbers are in the test suites of GmSSL, OpenSSL/Tongsuo and BoringSSL-derived libraries.
KAT = {
    "d": "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8",
    "x": "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020",
    "y": "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13",
    "z": "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3",
    "e": "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640",
    "r": "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3",
    "s": "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA",
}
CURVE = {  # GB/T 32918.5-2017, the recommended 256-bit curve
    "a": "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC",
    "b": "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93",
    "xG": "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7",
    "yG": "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0",
    "n": "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123",
}


def sm3(data: bytes) -> bytes:
    """OpenSSL's SM3 (through cryptography): not the library that signs."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


# --- SM3: GB/T 32905-2016 appendix A, in both implementations -------------------------------

@pytest.mark.parametrize(("message", "digest"), [
    (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
    (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
])
def test_sm3_published_vectors(message, digest):
    assert gmssl_pyx.sm3_hash(message).hex() == digest  # GmSSL: what signs and verifies
    assert sm3(message).hex() == digest  # OpenSSL


# --- SM2: the published example ---------------------------------------------------------------

def test_sm2_known_answer_public_key_z_and_signature():
    key = sm2.SM2PrivateKey.from_private_bytes(bytes.fromhex(KAT["d"]))
    point = bytes.fromhex("04" + KAT["x"] + KAT["y"])
    assert key.public_key().public_bytes_raw() == point
    # Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA) with the default ID (GB/T 35276-2017),
    # e = SM3(Z ‖ M): the numbers of the example, so the ID below is the one it signs with
    z = sm3(b"\x00\x80" + DEFAULT_ID + b"".join(
        bytes.fromhex(CURVE[p]) for p in ("a", "b", "xG", "yG")) + point[1:])
    assert z.hex().upper() == KAT["z"]
    assert sm3(z + b"message digest").hex().upper() == KAT["e"]
    signature = bytes.fromhex(KAT["r"] + KAT["s"])
    key.public_key().verify(signature, b"message digest")  # raises if wrong
    for bad in (signature[:-1] + bytes([signature[-1] ^ 1]), signature[:63], signature + b"\0"):
        with pytest.raises(InvalidSignature):
            key.public_key().verify(bad, b"message digest")
    with pytest.raises(InvalidSignature):
        key.public_key().verify(signature, b"message digesT")
    assert sm2.N == int(CURVE["n"], 16)


def test_sm2_signatures_are_64_bytes_r_s_in_range_and_verify():
    key = sm2.SM2PrivateKey.generate()
    message = license_message(NO, 3)
    signature = key.sign(message)
    assert len(signature) == 64
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    assert 0 < r < sm2.N and 0 < s < sm2.N
    assert signature != key.sign(message)  # SM2 draws a fresh k each time
    key.public_key().verify(signature, message)
    with pytest.raises(InvalidSignature):
        key.public_key().verify(signature, license_message(NO, 4))
    # r and s outside [1, n-1] (GB/T 32918.2 B1, B2); r + n would otherwise pass mod n
    for r_bad, s_bad in ((0, s), (r, 0), (sm2.N, s), (r, sm2.N), (r + sm2.N, s), (r, s + sm2.N)):
        if max(r_bad, s_bad) < 2**256:
            with pytest.raises(InvalidSignature):
                key.public_key().verify(r_bad.to_bytes(32, "big") + s_bad.to_bytes(32, "big"),
                                        message)


@pytest.mark.parametrize("d", [0, int(CURVE["n"], 16) - 1, int(CURVE["n"], 16), 2**256 - 1])
def test_sm2_private_key_outside_1_to_n_minus_2_is_refused(d):
    with pytest.raises(ValueError, match="SM2"):
        sm2.SM2PrivateKey.from_private_bytes(d.to_bytes(32, "big"))


def test_sm2_private_key_must_be_32_bytes():
    for raw in (b"", b"\x01" * 31, b"\x01" * 33):
        with pytest.raises(ValueError, match="SM2"):
            sm2.SM2PrivateKey.from_private_bytes(raw)


# --- OpenSSL, a second implementation ----------------------------------------------------------

OPENSSL = shutil.which("openssl")


@pytest.fixture
def openssl(tmp_path: Path):
    """The ``openssl`` command (OpenSSL 3, its own SM2), run in a scratch directory."""
    assert OPENSSL, "the openssl command is missing (scripts/install-test-servers.sh)"

    def run(*args: str, data: bytes | None = None, check: bool = True):
        return subprocess.run([OPENSSL, *args], input=data, cwd=tmp_path, capture_output=True,
                              check=check, timeout=30)

    run.path = tmp_path  # type: ignore[attr-defined]
    return run


def write(openssl, name: str, data: bytes | str) -> str:
    path = openssl.path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def openssl_verifies(openssl, pem: str, message: bytes, der: bytes, distid: bytes) -> bool:
    result = openssl("pkeyutl", "-verify", "-pubin", "-inkey", write(openssl, "pub.pem", pem),
                     "-rawin", "-digest", "sm3", "-pkeyopt", f"distid:{distid.decode()}",
                     "-in", write(openssl, "msg", message), "-sigfile",
                     write(openssl, "sig.der", der), check=False)
    return result.returncode == 0 and b"Signature Verified Successfully" in result.stdout


def test_our_sm2_signature_verifies_in_openssl_with_the_default_id(openssl):
    key = sm2.SM2PrivateKey.generate()
    pem = key.public_key().public_pem()
    # the exported public key is a standard SubjectPublicKeyInfo: OpenSSL reads it as SM2
    text = openssl("pkey", "-pubin", "-in", write(openssl, "pub.pem", pem), "-text",
                   "-noout").stdout.decode()
    assert "ASN1 OID: SM2" in text
    listed = re.search(r"pub:\s*((?:[0-9a-f]{2}:?\s*)+)", text).group(1)
    assert bytes.fromhex(re.sub(r"[:\s]", "", listed)) == key.public_key().public_bytes_raw()
    message = license_message(NO, 3)
    der = sm2.signature_der(key.sign(message))
    assert openssl_verifies(openssl, pem, message, der, DEFAULT_ID)
    assert not openssl_verifies(openssl, pem, message, der, b"1234567812345679")
    assert not openssl_verifies(openssl, pem, license_message(NO, 4), der, DEFAULT_ID)


def test_openssl_sm2_signature_and_key_verify_in_ours(openssl):
    openssl("genpkey", "-algorithm", "SM2", "-out", "key.pem")
    text = openssl("pkey", "-in", "key.pem", "-text", "-noout").stdout.decode()
    fields = {name: bytes.fromhex(re.sub(r"[:\s]", "", value)) for name, value in
              re.findall(r"(priv|pub):\s*((?:[0-9a-f]{2}:?\s*)+)", text)}
    ours = sm2.SM2PrivateKey.from_private_bytes(fields["priv"].rjust(33, b"\0")[-32:])
    # the same private key gives the same public key in both implementations
    assert ours.public_key().public_bytes_raw() == fields["pub"]
    message = license_message(NO, 3)
    for distid, verifies in ((DEFAULT_ID, True), (b"ALICE123@YAHOO.COM", False)):
        der = openssl("pkeyutl", "-sign", "-inkey", "key.pem", "-rawin", "-digest", "sm3",
                      "-pkeyopt", f"distid:{distid.decode()}", "-in",
                      write(openssl, "msg", message)).stdout
        r, s = decode_dss_signature(der)
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert sm2.signature_der(raw) == der
        if verifies:
            ours.public_key().verify(raw, message)
        else:
            with pytest.raises(InvalidSignature):
                ours.public_key().verify(raw, message)


def test_the_published_example_verifies_in_openssl(openssl):
    key = sm2.SM2PrivateKey.from_private_bytes(bytes.fromhex(KAT["d"]))
    der = encode_dss_signature(int(KAT["r"], 16), int(KAT["s"], 16))
    assert openssl_verifies(openssl, key.public_key().public_pem(), b"message digest", der,
                            DEFAULT_ID)


# --- the keyring: a scheme per key id ----------------------------------------------------------

def test_key_text_names_the_scheme_and_old_ed25519_texts_load_unchanged():
    ring = Keyring.from_settings(f"{ED},{SM2_OLD}", "k2026a")
    explicit = Keyring.from_settings(f"k2026a:ed25519:{b64url(bytes([2]) * 32)},{SM2_OLD}",
                                     "k2026a")
    assert ring.public_keys() == explicit.public_keys()
    assert ring.schemes() == {"k2026a": "ed25519", "k2027g": "sm2"}
    keys = ring.public_keys()
    assert len(unb64url(keys["k2026a"])) == 32
    sm2_point = unb64url(keys["k2027g"])
    assert len(sm2_point) == 65 and sm2_point[0] == 4
    assert keys["k2027g"] == b64url(sm2.SM2PrivateKey.from_private_bytes(
        bytes([3]) * 32).public_key().public_bytes_raw())
    for kid, pem in ring.public_key_pems().items():
        assert pem.startswith("-----BEGIN PUBLIC KEY-----\n"), kid
    assert isinstance(load_pem_public_key(ring.public_key_pems()["k2026a"].encode()),
                      Ed25519PublicKey)


def test_an_sm2_active_key_signs_codes_the_same_shape_as_ed25519():
    ed = Keyring.from_settings(ED, "k2026a")
    ring = Keyring.from_settings(f"{ED},{SM2_OLD}", "k2027g")
    url = build_verify_url(BASE, NO, 3, ring)
    scan = parse_verify_url(url, base_url=BASE)
    assert scan is not None and scan.kid == "k2027g" and scan.verified_by(ring)
    assert len(url) == len(build_verify_url(BASE, NO, 3, ed))  # kids of the same length
    assert len(scan.sig) == 86
    # codes printed under the Ed25519 key keep verifying after the switch
    printed = parse_verify_url(build_verify_url(BASE, NO, 2, ed), base_url=BASE)
    assert printed is not None and printed.verified_by(ring)


def test_a_former_sm2_key_verifies_until_it_is_retired():
    old = Keyring.from_settings(SM2_OLD, "k2027g")
    printed = parse_verify_url(build_verify_url(BASE, NO, 1, old), base_url=BASE)
    rotated = Keyring.from_settings(f"{SM2_NEW},{SM2_OLD},{ED}", "k2028g")
    assert printed is not None and printed.verified_by(rotated)
    retired = Keyring.from_settings(f"{SM2_NEW},{SM2_OLD},{ED}", "k2028g", retired="k2027g")
    assert not printed.verified_by(retired)
    assert set(retired.public_keys()) == {"k2028g", "k2026a"}


def test_a_signature_under_the_other_schemes_kid_or_tampered_fails_without_raising():
    ring = Keyring.from_settings(f"{ED},{SM2_OLD}", "k2027g")
    ed_ring = Keyring.from_settings(f"{ED},{SM2_OLD}", "k2026a")
    message = license_message(NO, 3)
    kid, sig = ring.sign(message)
    assert kid == "k2027g" and ring.verify(kid, sig, message)
    assert not ring.verify("k2026a", sig, message)  # an SM2 signature under the Ed25519 kid
    ed_kid, ed_sig = ed_ring.sign(message)
    assert not ring.verify("k2027g", ed_sig, message)  # and the other way round
    assert ring.verify(ed_kid, ed_sig, message)
    raw = bytearray(unb64url(sig))
    raw[10] ^= 1
    for bad in (b64url(bytes(raw)), sig[:-1], sig[:43], sig + "A", "", "A" * 86, "_" * 86,
                b64url(bytes(64)), b64url(sm2.N.to_bytes(32, "big") * 2), "é" * 86,
                b64url(unb64url(sig) + b"\0")):
        assert not ring.verify(kid, bad, message), bad
    assert not ring.verify(kid, None, message)  # type: ignore[arg-type]


@pytest.mark.parametrize(("keys", "complaint"), [
    (f"k1:rsa:{b64url(bytes([3]) * 32)}", "scheme"),
    (f"k1:SM2:{b64url(bytes([3]) * 32)}", "scheme"),
    ("k1:sm2:", "SM2"),
    (f"k1:sm2:{b64url(bytes(32))}", "SM2"),
    (f"k1:sm2:{b64url(bytes([255]) * 32)}", "SM2"),
    (f"k1:sm2:{b64url(bytes([3]) * 31)}", "SM2"),
    (f"k1:sm2:{b64url(bytes([3]) * 32)}+", "SM2"),
    (f"k1:ed25519:{b64url(bytes([3]) * 31)}", "32-byte seed"),
])
def test_bad_sm2_settings_fail_at_start_up_without_echoing_keys(keys, complaint):
    with pytest.raises(ValueError, match=complaint) as caught:
        Keyring.from_settings(keys, "k1")
    assert b64url(bytes([3]) * 31)[:20] not in str(caught.value)
    assert b64url(bytes([255]) * 32)[:20] not in str(caught.value)


def test_production_starts_with_an_sm2_active_key_and_refuses_a_bad_one():
    settings = load(environ=PRODUCTION | {
        "LICENSE_SIGNING_KEYS": f"{PRODUCTION['LICENSE_SIGNING_KEYS']},{SM2_OLD}",
        "LICENSE_ACTIVE_KEY_ID": "k2027g"})
    assert settings.LICENSE_ACTIVE_KEY_ID == "k2027g"
    with pytest.raises(SettingsError, match="LICENSE_SIGNING_KEYS.*'k2027g'.*SM2"):
        load(environ=PRODUCTION | {"LICENSE_SIGNING_KEYS": f"k2027g:sm2:{b64url(bytes(32))}",
                                   "LICENSE_ACTIVE_KEY_ID": "k2027g"})


def test_generated_sm2_key_text_loads_and_is_fresh():
    text = generate_key_text("k2027g", scheme="sm2")
    assert re.fullmatch(r"k2027g:sm2:[A-Za-z0-9_-]{43}", text)
    assert text != generate_key_text("k2027g", scheme="sm2")
    ring = Keyring.from_settings(text, "k2027g")
    assert ring.schemes() == {"k2027g": "sm2"}
    assert ring.verify(*ring.sign(b"x"), b"x")
    assert re.fullmatch(r"k1:[A-Za-z0-9_-]{43}", generate_key_text("k1"))  # Ed25519 as before
    with pytest.raises(ValueError, match="scheme"):
        generate_key_text("k1", scheme="rsa")


def test_the_key_command_prints_an_sm2_entry_and_its_public_key(openssl):
    out = subprocess.run(
        [sys.executable, "-m", "backend.security.signatures", "k2027g", "--scheme", "sm2"],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, check=True,
        timeout=60).stdout
    entry = re.search(r"k2027g:sm2:[A-Za-z0-9_-]{43}", out).group(0)
    ring = Keyring.from_settings(entry, "k2027g")
    assert ring.public_keys()["k2027g"] in out
    pem = ring.public_key_pems()["k2027g"]
    assert pem in out
    openssl("pkey", "-pubin", "-in", write(openssl, "pub.pem", pem), "-noout")


# --- over HTTP: an SM2 key id on the public verification path ----------------------------------

def test_an_sm2_signed_license_verifies_on_the_public_page(app, client, monkeypatch, request):
    monkeypatch.setitem(app.extensions, "license_keyring",
                        Keyring.from_settings(f"{ED},{SM2_OLD}", "k2027g"))
    issued = request.getfixturevalue("licensed")
    mine = client.get("/api/mp/v1/licenses", headers=issued["applicant"]).json["licenses"][0]
    url = mine["verify_url"]
    assert "&k=k2027g&s=" in url
    png = fetch(client, mine["image_url"])
    assert [b.text for b in zxingcpp.read_barcodes(phone_photo(png), formats=QR)] == [url]
    assert public(client, url)["verdict"] == "valid"
    sig = url.rsplit("s=", 1)[1]
    raw = bytearray(unb64url(sig))
    raw[0] ^= 0x80
    for bad in (url.replace(sig, b64url(bytes(raw))), url[:-1], url + "A",
                url.replace(sig, b64url(unb64url(sig) + b"\0\0\0")),
                url.replace("k=k2027g", "k=k2026a")):
        resp = client.get("/api/public/v1/licenses/" + bad.split("/v/", 1)[1])
        assert resp.status_code == 200, bad
        assert resp.json["verdict"] == "invalid" and resp.json["verdict_label"] == "无效", bad
    page = client.get("/v/" + url.split("/v/", 1)[1].replace(sig, sig[:40]))
    assert page.status_code == 200 and "无效" in page.get_data(as_text=True)


def test_parse_code_takes_an_sm2_code_like_any_other():
    ring = Keyring.from_settings(SM2_OLD, "k2027g")
    sig = build_verify_url(BASE, NO, 3, ring).rsplit("s=", 1)[1]
    code = parse_code(NO, f"v=3&k=k2027g&s={sig}")
    assert code is not None and code.verified_by(ring)
    assert parse_code(NO, f"v=3&k=k2027g&s={sig}={sig}") is None


def test_the_signature_benchmark_times_both_schemes():
    for scheme in ("ed25519", "sm2"):
        figures = bench.measure(scheme, runs=5)
        assert set(figures) == {"verify", "sign"}
        assert all(wall > 0 and cpu > 0 for wall, cpu in figures.values()), figures
