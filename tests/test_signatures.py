"""Ed25519-signed license QR URLs: signing, rotation, retirement, and hostile scan texts."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from backend.security.signatures import (
    Keyring,
    ParsedScan,
    build_verify_url,
    dev_keyring,
    generate_key_text,
    license_message,
    parse_code,
    parse_verify_url,
)

BASE = "https://yyyz.sx.gov.cn"
NO = "JZ1401052026000123"
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def seed_text(byte: int) -> str:
    return base64.urlsafe_b64encode(bytes([byte]) * 32).rstrip(b"=").decode()


OLD = f"k2025b:{seed_text(1)}"
NEW = f"k2026a:{seed_text(2)}"


@pytest.fixture
def ring() -> Keyring:
    return Keyring.from_settings(f"{NEW},{OLD}", "k2026a")


def test_sign_verify_round_trip(ring):
    message = license_message(NO, 3)
    assert message == b"yyz-license:JZ1401052026000123:3"
    kid, sig = ring.sign(message)
    assert kid == "k2026a"
    assert len(sig) == 86 and set(sig) <= set(B64URL)
    assert ring.verify(kid, sig, message)


@pytest.mark.parametrize("message", [
    license_message("JZ1401052026000124", 3),   # another license
    license_message(NO, 4),                     # another version
    license_message(NO, 3) + b" ",
])
def test_signature_does_not_cover_other_messages(ring, message):
    kid, sig = ring.sign(license_message(NO, 3))
    assert not ring.verify(kid, sig, message)


def _flip(sig: str, position: int) -> str:
    changed = B64URL[(B64URL.index(sig[position]) + 32) % 64]
    return sig[:position] + changed + sig[position + 1:]


def test_tampered_truncated_and_malformed_signatures_fail_without_raising(ring):
    message = license_message(NO, 3)
    kid, sig = ring.sign(message)
    last = B64URL.index(sig[-1])
    # Same 64 bytes, other text: the last character's low 4 bits are unused.
    non_canonical = sig[:-1] + B64URL[last ^ 1]
    for bad in (_flip(sig, 0), _flip(sig, 40), sig[:-1], sig[:43], "", sig + "A", sig + "==",
                sig.replace(sig[5], "+", 1), non_canonical, "é" * 86):
        assert not ring.verify(kid, bad, message), bad
    for bad_kid in ("k2099z", "", "K2026A"):
        assert not ring.verify(bad_kid, sig, message)
    assert not ring.verify(None, sig, message)  # type: ignore[arg-type]
    assert not ring.verify(kid, None, message)  # type: ignore[arg-type]
    assert not ring.verify(["k2026a"], sig, message)  # type: ignore[arg-type]


def test_rotation_old_codes_verify_until_the_old_key_is_retired():
    old_ring = Keyring.from_settings(OLD, "k2025b")
    printed = build_verify_url(BASE, NO, 1, old_ring)

    rotated = Keyring.from_settings(f"{NEW},{OLD}", "k2026a")
    scan = parse_verify_url(printed, base_url=BASE)
    assert scan is not None and scan.kid == "k2025b"
    assert scan.verified_by(rotated)
    reissued = parse_verify_url(build_verify_url(BASE, NO, 2, rotated), base_url=BASE)
    assert reissued is not None and reissued.kid == "k2026a" and reissued.verified_by(rotated)

    retired = Keyring.from_settings(f"{NEW},{OLD}", "k2026a", retired="k2025b")
    assert not scan.verified_by(retired)
    assert reissued.verified_by(retired)
    dropped = Keyring.from_settings(NEW, "k2026a", retired=" k2025b , ")
    assert not scan.verified_by(dropped)


def test_public_keys_verify_offline_and_leave_out_retired_keys():
    ring = Keyring.from_settings(f"{NEW},{OLD}", "k2026a", retired="k2025b")
    keys = ring.public_keys()
    assert set(keys) == {"k2026a"}
    raw = base64.urlsafe_b64decode(keys["k2026a"] + "=")
    assert len(raw) == 32
    kid, sig = ring.sign(license_message(NO, 7))
    Ed25519PublicKey.from_public_bytes(raw).verify(
        base64.urlsafe_b64decode(sig + "=="), license_message(NO, 7))  # raises if wrong
    assert seed_text(2)[:20] not in keys["k2026a"]


@pytest.mark.parametrize(("keys", "active", "retired", "complaint"), [
    ("", "k1", "", "empty"),
    (NEW, "k2025b", "", "not among"),
    (NEW, "k2026a", "k2026a", "also listed as retired"),
    (f"{NEW},{NEW}", "k2026a", "", "twice"),
    ("k2026a", "k2026a", "", "kid:seed"),
    (f"bad kid!:{seed_text(2)}", "bad kid!", "", "kid:seed"),
    (f"k{'x' * 16}:{seed_text(2)}", "k", "", "kid:seed"),
    ("k1:c2hvcnQ", "k1", "", "32-byte seed"),
    (f"k1:{seed_text(2)}+", "k1", "", "32-byte seed"),
    (NEW, "k2026a", "not/valid", "1-16 characters"),
])
def test_bad_settings_fail_at_start_up_without_echoing_seeds(keys, active, retired, complaint):
    with pytest.raises(ValueError, match=complaint) as caught:
        Keyring.from_settings(keys, active, retired)
    assert seed_text(2) not in str(caught.value)


def test_generated_key_text_loads_and_is_fresh():
    text = generate_key_text("k2027a")
    assert text.startswith("k2027a:") and text != generate_key_text("k2027a")
    ring = Keyring.from_settings(f" {text} ", "k2027a")
    assert ring.verify(*ring.sign(b"x"), b"x")
    with pytest.raises(ValueError):
        generate_key_text("no spaces allowed")


def test_dev_keyring_is_deterministic():
    assert dev_keyring().public_keys() == dev_keyring().public_keys()
    assert dev_keyring().active_kid == "dev1"
    url = build_verify_url(BASE, NO, 3, dev_keyring())
    assert url == build_verify_url(BASE, NO, 3, dev_keyring())  # Ed25519 is deterministic


def test_build_verify_url_shape(ring):
    url = build_verify_url(BASE + "/", NO, 3, ring)
    kid, sig = ring.sign(license_message(NO, 3))
    assert url == f"{BASE}/v/{NO}?v=3&k={kid}&s={sig}"
    assert len(url) < 160  # QR version 10 at ECC Q
    for bad_no in ("晋JZ001", "a/../b", "a b", "", "x" * 65):
        with pytest.raises(ValueError, match="URL-safe"):
            build_verify_url(BASE, bad_no, 3, ring)
    for bad_version in (-1, True, "3", 10**9):
        with pytest.raises(ValueError, match="version"):
            build_verify_url(BASE, NO, bad_version, ring)  # type: ignore[arg-type]


def test_parse_accepts_what_wx_scan_code_returns(ring):
    url = build_verify_url(BASE, NO, 3, ring)
    expected = ParsedScan(NO, 3, "k2026a", url.rsplit("s=", 1)[1])
    assert parse_verify_url(url) == expected
    assert parse_verify_url(url, base_url=BASE) == expected
    assert parse_verify_url(url, base_url=BASE + "/") == expected
    assert parse_verify_url(f" \n{url}\t ", base_url=BASE) == expected
    assert parse_verify_url(quote(url, safe=""), base_url=BASE) == expected  # options.q
    # parameters added on sharing, a fragment, a percent-encoded number: a browser opens the
    # same page, and the signature covers what is verified
    for shared in (url + "&from=singlemessage&isappinstalled=0", url + "&utm=1#frag",
                   url.replace("/v/J", "/v/%4A")):
        assert parse_verify_url(shared, base_url=BASE) == expected, shared
    assert expected.verified_by(ring)


def test_parse_honours_a_base_path_and_a_dev_http_base(ring):
    base = "https://zwfw.shanxi.gov.cn/yyyz"
    url = build_verify_url(base, NO, 3, ring)
    assert parse_verify_url(url, base_url=base) is not None
    assert parse_verify_url(url) is not None
    assert parse_verify_url(url, base_url="https://zwfw.shanxi.gov.cn") is None
    dev = build_verify_url("http://127.0.0.1:8000", NO, 3, ring)
    assert parse_verify_url(dev, base_url="http://127.0.0.1:8000") is not None
    assert parse_verify_url(dev) is None  # without a base, only https


def _our(ring: Keyring) -> str:
    return build_verify_url(BASE, NO, 3, ring)


@pytest.mark.parametrize("make", [
    lambda url: url.replace("yyyz.sx.gov.cn", "yyyz.sx.gov.cn.evil.example"),
    lambda url: url.replace("https://", "https://yyyz.sx.gov.cn@"),
    lambda url: url.replace("https://", "http://"),
    lambda url: url.split("&s=")[0],
    lambda url: url.replace("&s=", "&s=&x="),
    lambda url: url.replace("v=3", "v=three"),
    lambda url: url.replace("v=3", "v=-3"),
    lambda url: url.replace("v=3", "v=03"),
    lambda url: url.replace("v=3", "v=3&v=4"),
    lambda url: url + "&x=" + "a" * 400,  # query past MAX_QUERY_CHARS
    lambda url: url.replace("v=3", "v=%C2%B3"),  # superscript three
    lambda url: url.replace("v=3", "v=%EF%BC%93"),  # fullwidth three
    lambda url: url.replace("/v/", "/x/"),
    lambda url: url.replace("/v/", "/v/a/"),
    lambda url: url.replace("k=k2026a", "k=" + "k" * 17),
    lambda url: url.replace(NO, "晋" + NO),
    lambda url: url.replace(NO, ""),
    lambda url: url.replace("?", " ?"),
    lambda url: url + "x" * (2049 - len(url)),
    lambda url: "hello",
    lambda url: "",
    lambda url: "   ",
    lambda url: "h" * 2000,
    lambda url: "https://" + "a" * 2000,
    lambda url: "pages/license/verify?scene=JZ1401052026000123",  # a WX_CODE path
    lambda url: "WXLICENSE:" + url,
    lambda url: "https%3A%2F%2Fyyyz.sx.gov.cn%2Fv%2F%25%32%35",
    lambda url: "javascript:alert(1)//" + url,
])
def test_parse_refuses_what_is_not_our_url(ring, make):
    assert parse_verify_url(make(_our(ring)), base_url=BASE) is None


@pytest.mark.parametrize("junk", [None, 42, b"https://yyyz.sx.gov.cn/v/x?v=1&k=a&s=b"])
def test_parse_refuses_non_text(junk):
    assert parse_verify_url(junk) is None  # type: ignore[arg-type]


def test_a_scan_with_a_truncated_or_tampered_signature_parses_but_does_not_verify(ring):
    """The service can tell "not our code" (None) from "our code, forged" (False)."""
    url = _our(ring)
    for tampered in (url[:-10], url.replace(NO, "JZ1401052026000999"),
                     url.replace("v=3", "v=4"), url.replace("k=k2026a", "k=k2099z")):
        scan = parse_verify_url(tampered, base_url=BASE)
        assert scan is not None, tampered
        assert not scan.verified_by(ring)


def test_one_parser_reads_a_code_from_a_path_and_its_query(ring):
    """What the public routes call with their path and raw query string."""
    sig = _our(ring).rsplit("s=", 1)[1]
    expected = ParsedScan(NO, 3, "k2026a", sig)
    assert parse_code(NO, f"v=3&k=k2026a&s={sig}&from=singlemessage&isappinstalled=0") \
        == expected
    assert parse_code(NO, f"s={sig}&scene=1&k=k2026a&v=%33") == expected
    for query in (f"v=3&v=3&k=k2026a&s={sig}", f"k=k2026a&s={sig}", f"v=03&k=k2026a&s={sig}",
                  f"v=%D9%A3&k=k2026a&s={sig}", f"v=٣&k=k2026a&s={sig}",
                  f"v=3&k=k2026a&s={sig}&x={'a' * 400}"):
        assert parse_code(NO, query) is None, query
    assert parse_code("晋" + NO, f"v=3&k=k2026a&s={sig}") is None
