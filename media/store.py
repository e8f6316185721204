"""Uploaded files addressed by SHA-256, on local disk or S3-compatible object storage, and
short-lived signed tokens to fetch them.

The interface (put / open / download / exists / delete / stale / ready / sign / verify by
digest) is what callers rely on: :func:`from_settings` picks the local directory under
MEDIA_ROOT (the default) or, when MEDIA_S3_ENDPOINT is set, a bucket spoken to with boto3
(:class:`S3MediaStore`), with the same keys (``ab/cd/<digest>``) and no change to callers.
Links are ours either way: ``/files/{token}`` checks the token and the owner before every
read and streams the bytes, so a bucket is never public and needs no presigned URLs.
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from media.errors import MediaNotFound, SignatureExpired, SignatureInvalid

_DIGEST = re.compile(r"[0-9a-f]{64}")
_TOKEN_DOMAIN = b"yiye-media-link-v1\n"  # the key may be shared: never let another MAC pass here
_PARTIAL = ".put-"  # a local write not yet renamed into place


def key_of(sha256: str) -> str:
    """``ab/cd/<digest>``, the name of a file in any store; anything but a lowercase hex
    digest is refused (ValueError), so no ``../`` and no other object of the bucket."""
    if not isinstance(sha256, str) or not _DIGEST.fullmatch(sha256):
        raise ValueError("not a SHA-256 hex digest")
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


@dataclass
class Download:
    """A stored file opened for sending: ``file`` (read from its start), its ``size`` in
    bytes, and ``path`` when it is a local file (sent by path: sendfile, Range, length)."""

    file: BinaryIO
    size: int
    path: Path | None = None


class SignedLinks:
    """Short-lived tokens naming a digest and who may fetch it (HMAC-SHA256, the key ≥ 32
    bytes); shared by every store so a link reads the same whatever holds the bytes."""

    def __init__(self, signing_key: bytes) -> None:
        if len(signing_key) < 32:
            raise ValueError("signing_key must be at least 32 bytes")
        self._key = signing_key

    def sign(self, sha256: str, *, subject: str, expires_in: int,
             now: float | None = None) -> str:
        """A URL-safe token granting `subject` (e.g. "user:42") the file until the expiry.

        The web layer must still check that the user fetching it is that subject or staff
        allowed to see it: the token limits leaks, it does not replace access control.
        """
        key_of(sha256)  # refuse to sign something that is not a digest
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


class MediaStore(SignedLinks):
    """A content-addressed directory under MEDIA_ROOT; never inside a static web path."""

    def __init__(self, root: Path, signing_key: bytes) -> None:
        super().__init__(signing_key)
        self.root = Path(root)

    def path_of(self, sha256: str) -> Path:
        """root/ab/cd/<digest>; anything but a lowercase hex digest is refused, so no `../`."""
        return self.root / key_of(sha256)

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
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_PARTIAL)
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

    def download(self, sha256: str) -> Download:
        file = self.open(sha256)
        return Download(file, os.fstat(file.fileno()).st_size, self.path_of(sha256))

    def stale(self, cutoff: float) -> Iterator[str]:
        """Digests of files last written (or put again) before ``cutoff`` (a Unix time);
        abandoned partial writes that old are removed on the way."""
        if not self.root.is_dir():
            return
        for path in self.root.glob("*/*/*"):
            try:
                if not path.is_file() or path.stat().st_mtime > cutoff:
                    continue
            except FileNotFoundError:
                continue
            if path.name.startswith(_PARTIAL):
                path.unlink(missing_ok=True)
            elif _DIGEST.fullmatch(path.name):
                yield path.name

    def ready(self) -> bool:
        """The directory exists (made when missing) and this process may write into it."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError:
            return False
        return os.access(self.root, os.W_OK | os.X_OK)


class S3MediaStore(SignedLinks):
    """The same store in a bucket of S3-compatible object storage (SeaweedFS, MinIO, a
    cloud's), through a boto3 client: object ``<prefix>ab/cd/<digest>``, private.

    A PUT is atomic in S3, so readers never see a partial object; putting bytes that are
    already there copies the object onto itself, which renews its LastModified for the
    orphan sweep's grace period, as a local put renews the file's mtime.
    """

    def __init__(self, client: Any, bucket: str, signing_key: bytes, prefix: str = "") -> None:
        super().__init__(signing_key)
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def object_key(self, sha256: str) -> str:
        return self.prefix + key_of(sha256)

    def put(self, content: bytes) -> str:
        digest = hashlib.sha256(content).hexdigest()
        key = self.object_key(digest)
        if self.exists(digest):
            self.client.copy_object(Bucket=self.bucket, Key=key, MetadataDirective="REPLACE",
                                    CopySource={"Bucket": self.bucket, "Key": key},
                                    ContentType="application/octet-stream")
            return digest
        self.client.put_object(Bucket=self.bucket, Key=key, Body=content,
                               ContentType="application/octet-stream")
        return digest

    def open(self, sha256: str) -> BinaryIO:
        return self.download(sha256).file

    def download(self, sha256: str) -> Download:
        try:
            got = self.client.get_object(Bucket=self.bucket, Key=self.object_key(sha256))
        except self.client.exceptions.NoSuchKey:
            raise MediaNotFound(sha256=sha256) from None
        return Download(got["Body"], int(got["ContentLength"]))

    def exists(self, sha256: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_key(sha256))
        except self.client.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def delete(self, sha256: str) -> None:
        """Remove the object (idempotent: S3 answers a missing key with success)."""
        self.client.delete_object(Bucket=self.bucket, Key=self.object_key(sha256))

    def stale(self, cutoff: float) -> Iterator[str]:
        """Digests of objects last written before ``cutoff`` (a Unix time)."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:
            for item in page.get("Contents", ()):
                name = item["Key"][len(self.prefix):]
                digest = name.rsplit("/", 1)[-1]
                if (_DIGEST.fullmatch(digest) and name == key_of(digest)
                        and item["LastModified"].timestamp() <= cutoff):
                    yield digest

    def ready(self) -> bool:
        """The bucket answers (HEAD bucket with our credentials)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            return False
        return True


def s3_client(*, endpoint: str, region: str, access_key: str, secret_key: str,
              timeout: float = 10.0) -> Any:
    """A boto3 S3 client for an S3-compatible endpoint: path-style addressing (no bucket
    DNS names on a private network), signature v4, bounded timeouts and retries; one per
    process, shared by its threads (boto3 clients are thread-safe)."""
    import boto3  # noqa: PLC0415 - only a store on S3 pays its import
    from botocore.config import Config  # noqa: PLC0415

    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=region,
        aws_access_key_id=access_key or None, aws_secret_access_key=secret_key or None,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                      connect_timeout=timeout, read_timeout=timeout,
                      retries={"max_attempts": 3, "mode": "standard"},
                      max_pool_connections=64))


def from_settings(settings: Any, signing_key: bytes) -> MediaStore | S3MediaStore:
    """The store the settings name: a bucket when MEDIA_S3_ENDPOINT is set, else MEDIA_ROOT."""
    if not settings.MEDIA_S3_ENDPOINT:
        return MediaStore(Path(settings.MEDIA_ROOT), signing_key)
    client = s3_client(endpoint=settings.MEDIA_S3_ENDPOINT, region=settings.MEDIA_S3_REGION,
                       access_key=settings.MEDIA_S3_ACCESS_KEY,
                       secret_key=settings.MEDIA_S3_SECRET_KEY)
    return S3MediaStore(client, settings.MEDIA_S3_BUCKET, signing_key,
                        prefix=settings.MEDIA_S3_PREFIX)


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
