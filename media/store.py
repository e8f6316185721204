"""Uploaded files on disk, addressed by SHA-256, and short-lived signed tokens to fetch them.

The interface (put / open / exists / delete / sign / verify by digest) is what callers rely
on, so an S3-compatible backend can replace the local directory without changing them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from media.errors import MediaNotFound, SignatureExpired, SignatureInvalid

_DIGEST = re.compile(r"[0-9a-f]{64}")
_TOKEN_DOMAIN = b"yiye-media-link-v1\n"  # the key may be shared: never let another MAC pass here


class MediaStore:
    """A content-addressed directory under MEDIA_ROOT; never inside a static web path."""

    def __init__(self, root: Path, signing_key: bytes) -> None:
        if len(signing_key) < 32:
            raise ValueError("signing_key must be at least 32 bytes")
        self.root = Path(root)
        self._key = signing_key

    def path_of(self, sha256: str) -> Path:
        """root/ab/cd/<digest>; anything but a lowercase hex digest is refused, so no `../`."""
        if not isinstance(sha256, str) or not _DIGEST.fullmatch(sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, content: bytes) -> str:
        """Store once by digest; temp file + fsync + rename, so readers never see a partial file.

        Concurrent puts of the same bytes each rename a complete identical file: harmless.
        """
        digest = hashlib.sha256(content).hexdigest()
        path = self.path_of(digest)
        if path.is_file():
            # fresh again: the orphan sweep spares files touched within its grace period
            os.utime(path)
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".put-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)  # make the rename itself survive a power cut
        return digest

    def open(self, sha256: str) -> BinaryIO:
        try:
            return self.path_of(sha256).open("rb")
        except FileNotFoundError:
            raise MediaNotFound(sha256=sha256) from None

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def delete(self, sha256: str) -> None:
        """Remove the bytes; identical uploads share them, so only call when none refers to them."""
        self.path_of(sha256).unlink(missing_ok=True)

    def sign(self, sha256: str, *, subject: str, expires_in: int,
             now: float | None = None) -> str:
        """A URL-safe token granting `subject` (e.g. "user:42") the file until the expiry.

        The web layer must still check that the user fetching it is that subject or staff
        allowed to see it: the token limits leaks, it does not replace access control.
        """
        self.path_of(sha256)  # refuse to sign something that is not a digest
        if expires_in <= 0:
            raise ValueError("expires_in must be positive")
        expires = int((time.time() if now is None else now) + expires_in)
        payload = f"{sha256}:{expires}:{subject}".encode()
        return f"{_b64encode(payload)}.{_b64encode(self._mac(payload))}"

    def verify(self, token: str, *, now: float | None = None) -> tuple[str, str]:
        """(sha256, subject) of a token we issued; SignatureInvalid / SignatureExpired otherwise."""
        try:
            payload_part, mac_part = token.split(".")
            payload, mac = _b64decode(payload_part), _b64decode(mac_part)
        except (ValueError, AttributeError, binascii.Error):
            raise SignatureInvalid() from None
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise SignatureInvalid()
        sha256, expires, subject = payload.decode().split(":", 2)
        if (time.time() if now is None else now) >= int(expires):
            raise SignatureExpired(expired_at=int(expires))
        return sha256, subject

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, _TOKEN_DOMAIN + payload, hashlib.sha256).digest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    """Strict: only the exact unpadded form we issue, so one grant has one token string."""
    raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    if _b64encode(raw) != text:
        raise ValueError("non-canonical base64")
    return raw
