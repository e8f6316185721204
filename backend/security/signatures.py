"""Signatures for the QR on a license: a forged or altered code is detected.

The QR holds ``{base_url}/v/{license_no}?v={version}&k={kid}&s={signature}``. Online, the
verify page looks the license up and shows its current status; offline, anyone holding the
published public keys (``Keyring.public_keys`` / ``public_key_pems``) can check the signature.

The scheme is chosen per key id: Ed25519 (RFC 8032) or SM2 with SM3 (GB/T 32918.2, GB/T 32905,
default user ID 1234567812345678; ``backend.security.sm2``), the national algorithms a
deployment assessed under GB/T 39786-2021 (密评) uses. Both sign 64 bytes (SM2 as r ‖ s), so
the URL, its parser and the QR's size are the same whichever key signed.

Settings (text, so they fit in environment variables):

- ``LICENSE_SIGNING_KEYS`` — comma-separated ``kid:secret`` (Ed25519) or ``kid:scheme:secret``
  with scheme ``ed25519`` or ``sm2``; secret is base64url of 32 bytes: the Ed25519 private
  seed or the SM2 private key d (big-endian, 1 ≤ d ≤ n−2). E.g.
  ``k2025b:XyZ…,k2027g:sm2:AbC…`` (make one with ``python -m backend.security.signatures
  k2027g --scheme sm2``). A kid is 1–16 of ``[A-Za-z0-9_-]``.
- ``LICENSE_ACTIVE_KEY_ID`` — the kid that signs new codes.
- ``LICENSE_RETIRED_KEY_IDS`` — comma-separated kids whose codes no longer verify.

Rotation (also from Ed25519 to SM2): add the new key, make it active, keep the old one listed
so printed codes still verify; retire it when every license carrying it has been re-issued.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote

import nacl.exceptions
import nacl.signing
from ada_url import URL
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from backend.security.sm2 import SM2PrivateKey, SM2PublicKey

KID = re.compile(r"[A-Za-z0-9_-]{1,16}")
# RFC 3986 unreserved characters: the number goes into the URL path without escaping.
LICENSE_NO = re.compile(r"[A-Za-z0-9._~-]{1,64}")
_VERSION = re.compile(r"0|[1-9][0-9]{0,8}")
# Loose on purpose: a truncated signature still parses, so it is judged "invalid signature"
# by verify() rather than "not our code".
_SIG_TEXT = re.compile(r"[A-Za-z0-9_-]{1,128}")
_SIG_CHARS = 86  # 64 bytes in base64url without padding: Ed25519, and SM2 as r ‖ s
MAX_QUERY_CHARS = 400  # a genuine query is about 110 characters; room for share parameters
MAX_SCAN_CHARS = 2048  # a cheap guard before parsing; the limits above decide
DEV_KID = "dev1"
DEV_SEED = hashlib.sha256(b"yiye-yizheng dev license key, public, never production").digest()
_DEV_KEY = Ed25519PrivateKey.from_private_bytes(DEV_SEED)

SigningKey = Ed25519PrivateKey | SM2PrivateKey
# scheme name in LICENSE_SIGNING_KEYS → its key class: from_private_bytes (32 bytes, ValueError
# if bad) and generate(); and what its secret must be
SCHEMES: dict[str, type[Ed25519PrivateKey] | type[SM2PrivateKey]] = {
    "ed25519": Ed25519PrivateKey, "sm2": SM2PrivateKey}
_SECRET_RULE = {"ed25519": "a 32-byte seed",
                "sm2": "a 32-byte SM2 private key (1 <= d <= n-2)"}


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    """Strict: only the base64url alphabet, and only the canonical encoding of the bytes.

    The standard decoder ignores stray characters and the unused low bits of the last
    character, so two different texts would carry the same signature.
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc
    if _b64url(raw) != text:
        raise ValueError("not canonical base64url")
    return raw


def license_message(license_no: str, version: int) -> bytes:
    """The bytes a license QR signs; defined here only, so signer and verifier cannot differ."""
    return f"yyz-license:{license_no}:{version}".encode()


class Keyring:
    """Signing keys by kid, each Ed25519 or SM2: one active signer, every listed non-retired
    key verifies with its own scheme."""

    def __init__(self, keys: Mapping[str, SigningKey], active_kid: str,
                 retired: Iterable[str] = ()) -> None:
        retired_kids = tuple(retired)
        for kid in (*keys, *retired_kids):
            if not isinstance(kid, str) or not KID.fullmatch(kid):
                raise ValueError(f"key id {kid!r}: 1-16 characters of A-Z a-z 0-9 _ -")
        retired_set = frozenset(retired_kids)
        if active_kid not in keys:
            raise ValueError(f"active key id {active_kid!r} is not among the signing keys")
        if active_kid in retired_set:
            raise ValueError(f"active key id {active_kid!r} is also listed as retired")
        self.active_kid = active_kid
        self._signer = keys[active_kid]
        self._kids = frozenset(keys)
        self._public_bytes = frozenset(_raw_public(key) for key in keys.values())
        # Retired kids may already be gone from `keys`; listing them is then a no-op.
        self._verifiers: dict[str, Ed25519PublicKey | SM2PublicKey] = {
            kid: key.public_key() for kid, key in keys.items() if kid not in retired_set}
        self._checks = {kid: _check_of(key) for kid, key in self._verifiers.items()}
        # every non-retired key signs an archive package (backend.services.archive)
        self._signers = {kid: key for kid, key in keys.items() if kid not in retired_set}

    @classmethod
    def from_settings(cls, keys: str, active_kid: str, retired: str = "") -> Keyring:
        """Parse LICENSE_SIGNING_KEYS / LICENSE_ACTIVE_KEY_ID / LICENSE_RETIRED_KEY_IDS.

        Raises ValueError naming the bad entry (never echoing a seed) so a misconfigured
        deployment fails at start-up, not at the first license.
        """
        parsed: dict[str, SigningKey] = {}
        for position, entry in enumerate((e.strip() for e in keys.split(",")), start=1):
            if not entry:
                continue
            kid, sep, secret_text = entry.partition(":")
            kid = kid.strip()
            if not sep or not KID.fullmatch(kid):
                raise ValueError(f"LICENSE_SIGNING_KEYS entry {position}: expected kid:seed"
                                 " or kid:scheme:secret")
            if kid in parsed:
                raise ValueError(f"LICENSE_SIGNING_KEYS: key id {kid!r} listed twice")
            # base64url has no ':', so a second one can only end a scheme name
            scheme, sep, secret = secret_text.rpartition(":")
            scheme = scheme.strip() if sep else "ed25519"
            if scheme not in SCHEMES:
                raise ValueError(f"LICENSE_SIGNING_KEYS: key {kid!r} names an unknown scheme"
                                 f" {scheme[:16]!r} (one of {', '.join(SCHEMES)})")
            try:
                parsed[kid] = SCHEMES[scheme].from_private_bytes(_b64url_decode(secret.strip()))
            except ValueError:
                raise ValueError(f"LICENSE_SIGNING_KEYS: key {kid!r} is not base64url of"
                                 f" {_SECRET_RULE[scheme]}") from None
        if not parsed:
            raise ValueError("LICENSE_SIGNING_KEYS is empty")
        retired_kids = [r.strip() for r in retired.split(",") if r.strip()]
        return cls(parsed, active_kid.strip(), retired_kids)

    def sign(self, message: bytes) -> tuple[str, str]:
        """(kid, base64url signature without padding — 86 characters in either scheme)."""
        return self.active_kid, _b64url(self._signer.sign(message))

    def sign_with_each(self, message: bytes) -> dict[str, bytes]:
        """kid → raw 64-byte signature of ``message`` by every non-retired key, each in its
        own scheme (``schemes``): the detached signatures of an archive package, so a
        deployment holding an Ed25519 and an SM2 key gives both."""
        return {kid: key.sign(message) for kid, key in self._signers.items()}

    def verify_raw(self, kid: str, signature: bytes, message: bytes) -> bool:
        """``verify`` for raw signature bytes (an archive package's); never raises."""
        try:
            check = self._checks.get(kid)
            if check is None:
                return False
            check(signature, message)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True

    def verify(self, kid: str, sig_b64: str, message: bytes) -> bool:
        """False for an unknown or retired kid, malformed or wrong signature; never raises."""
        try:
            check = self._checks.get(kid)
            if check is None or len(sig_b64) != _SIG_CHARS:
                return False
            check(_b64url_decode(sig_b64), message)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True

    def public_keys(self) -> dict[str, str]:
        """kid → base64url raw public key of every verifying key: the published trust list.

        Raw means 32 bytes for Ed25519 (RFC 8032), the 65-byte uncompressed point 04‖x‖y
        for SM2 (GB/T 32918.1); ``schemes`` names which."""
        return {kid: _b64url(key.public_bytes_raw()) for kid, key in self._verifiers.items()}

    def public_key_pems(self) -> dict[str, str]:
        """kid → SubjectPublicKeyInfo PEM of every verifying key, as openssl reads it."""
        return {kid: key.public_pem() if isinstance(key, SM2PublicKey)
                else key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
                for kid, key in self._verifiers.items()}

    def schemes(self) -> dict[str, str]:
        """kid → ``ed25519`` | ``sm2`` of every verifying key."""
        return {kid: "sm2" if isinstance(key, SM2PublicKey) else "ed25519"
                for kid, key in self._verifiers.items()}

    def holds_development_key(self) -> bool:
        """True when any key given, retired ones included, is the public development key
        (its seed derives its public key, so comparing public keys compares seeds however
        they were written) or goes by its kid, under which anyone may mint codes offline."""
        return DEV_KID in self._kids or _raw_public(_DEV_KEY) in self._public_bytes


def generate_key_text(kid: str, scheme: str = "ed25519") -> str:
    """A fresh LICENSE_SIGNING_KEYS entry (operators; keep it secret): ``kid:seed`` for
    Ed25519 (the form every deployment already has), ``kid:sm2:d`` for SM2."""
    if not KID.fullmatch(kid):
        raise ValueError(f"key id {kid!r}: 1-16 characters of A-Z a-z 0-9 _ -")
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r} (one of {', '.join(SCHEMES)})")
    secret = _b64url(SCHEMES[scheme].generate().private_bytes_raw())
    return f"{kid}:{secret}" if scheme == "ed25519" else f"{kid}:{scheme}:{secret}"


def dev_keyring() -> Keyring:
    """Development and tests only — NOT for production: its seed is public in this file.

    Deterministic (kid "dev1"), so URLs in fixtures and local databases stay stable.
    Production refuses it (``Keyring.holds_development_key``, config.settings).
    """
    return Keyring({DEV_KID: _DEV_KEY}, DEV_KID)


def _raw_public(key: SigningKey) -> bytes:
    return key.public_key().public_bytes_raw()


def _check_of(key: Ed25519PublicKey | SM2PublicKey) -> Callable[[bytes, bytes], None]:
    """``key.verify(signature, message)``: raises InvalidSignature unless it verifies. An
    Ed25519 key is checked by libsodium (PyNaCl), ~0.08 ms against OpenSSL's ~0.15 ms
    through cryptography: every cold scan of a QR pays one (RFC 8032 both; libsodium also
    refuses small-order keys and non-canonical encodings, which no code we sign has)."""
    if not isinstance(key, Ed25519PublicKey):
        return key.verify
    sodium = nacl.signing.VerifyKey(key.public_bytes_raw())

    def check(signature: bytes, message: bytes) -> None:
        try:
            sodium.verify(message, signature)
        except nacl.exceptions.BadSignatureError:
            raise InvalidSignature from None

    return check


@dataclass(frozen=True)
class ParsedScan:
    """The parts of a scanned license URL; nothing here is trusted until verified."""

    license_no: str
    version: int
    kid: str
    sig: str

    def verified_by(self, keyring: Keyring) -> bool:
        """The signature alone; the caller still looks the license up for its live status."""
        return keyring.verify(self.kid, self.sig, license_message(self.license_no, self.version))


def build_verify_url(base_url: str, license_no: str, version: int, keyring: Keyring) -> str:
    """``{base_url}/v/{license_no}?v={version}&k={kid}&s={sig}`` signed by the active key."""
    if not LICENSE_NO.fullmatch(license_no):
        raise ValueError(f"license number {license_no!r} is not URL-safe")
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version < 10**9:
        raise ValueError(f"version {version!r} is not a non-negative integer")
    kid, sig = keyring.sign(license_message(license_no, version))
    return f"{base_url.rstrip('/')}/v/{license_no}?v={version}&k={kid}&s={sig}"


def parse_code(license_no: str, query: str) -> ParsedScan | None:
    """The one reading of a license code, whichever way it arrives: the public page and its
    JSON twin pass the number from their path and the raw query string; a scan passes the
    parts of its URL (``parse_verify_url``). None when it is not a well-formed code.

    The rule: ``v`` (version, ASCII digits, no leading zero), ``k`` (kid) and ``s``
    (signature, base64url) must each appear exactly once; every other parameter is ignored.
    Sharing a link adds some (WeChat appends ``from=singlemessage&isappinstalled=0``, other
    apps ``scene``, ``utm_*``…) and none can change the verdict: the signature covers the
    number and the version, the only parts that name what is verified. The query may hold
    at most ``MAX_QUERY_CHARS`` characters as sent (percent-encoded), and only ASCII, as a
    browser sends it.
    """
    if len(query) > MAX_QUERY_CHARS or not query.isascii():
        return None
    params = parse_qs(query, keep_blank_values=True)
    if any(len(params.get(name, ())) != 1 for name in ("v", "k", "s")):
        return None
    (version,), (kid,), (sig,) = params["v"], params["k"], params["s"]
    if not (LICENSE_NO.fullmatch(license_no) and _VERSION.fullmatch(version)
            and KID.fullmatch(kid) and _SIG_TEXT.fullmatch(sig)):
        return None
    return ParsedScan(license_no, int(version), kid, sig)


def parse_verify_url(text: str, *, base_url: str | None = None) -> ParsedScan | None:
    """What wx.scanCode (raw text) or a mini-program's ``options.q`` (URL-encoded) gives.

    Surrounding whitespace is dropped. The URL is read as a phone's browser and our router
    read it, so a scan and the page that URL opens always agree: parsed by the WHATWG URL
    standard (``ada_url``: dot segments — also ``%2e`` — resolved, ``\\`` read as ``/``,
    default port and fragment dropped), then repeated slashes merged (Werkzeug's
    ``merge_slashes`` serves ``//v/<no>`` and redirects ``/v//<no>`` to ``/v/<no>``) and the
    number percent-decoded. None for anything that is not our URL: another scheme or host
    (when base_url is given; otherwise https is required), a user part, a path other than
    ``/v/<no>``, or a query ``parse_code`` refuses.
    """
    if not isinstance(text, str) or len(text) > MAX_SCAN_CHARS:
        return None
    text = text.strip()
    if re.match(r"https?%3A%2F%2F", text, re.IGNORECASE):
        text = unquote(text)
    if not text.isascii() or any(c.isspace() for c in text):
        return None
    url = _browser_url(text)
    if url is None or url.username or url.password:
        return None
    # Our router's reading: repeated slashes are one (Werkzeug's merge_slashes).
    route = re.sub(r"/{2,}", "/", url.pathname)
    if base_url is None:
        if url.protocol != "https:" or not url.hostname:
            return None
        prefix = re.escape(route.rpartition("/v/")[0])
    else:
        base = _browser_url(base_url.strip())
        if base is None or (url.protocol, url.host) != (base.protocol, base.host):
            return None
        prefix = re.escape(base.pathname.rstrip("/"))
    path = re.fullmatch(prefix + r"/v/([^/]+)", route)
    if path is None:
        return None
    return parse_code(unquote(path.group(1)), url.search.removeprefix("?"))


def _browser_url(text: str) -> URL | None:
    """``text`` parsed as a browser parses what it opens (WHATWG URL); None if no URL."""
    try:
        return URL(text)
    except ValueError:
        return None


def main(argv: list[str] | None = None) -> None:
    """`python -m backend.security.signatures KID [--scheme sm2]`: a new key entry and its
    public key, raw and PEM."""
    parser = argparse.ArgumentParser(prog="python -m backend.security.signatures",
                                     description="Make a license QR signing key.")
    parser.add_argument("kid", nargs="?", default="k1", help="key id, 1-16 of A-Za-z0-9_-")
    parser.add_argument("--scheme", choices=tuple(SCHEMES), default="ed25519",
                        help="sm2: SM2 with SM3 (GB/T 32918, for 密评); default ed25519")
    args = parser.parse_args(argv)
    try:
        new = generate_key_text(args.kid, args.scheme)
    except ValueError as error:
        parser.error(str(error))
    ring = Keyring.from_settings(new, args.kid)
    print(f"LICENSE_SIGNING_KEYS entry (secret): {new}")
    print(f"public key (publish): {ring.public_keys()}")
    print(ring.public_key_pems()[args.kid], end="")


if __name__ == "__main__":
    main()
