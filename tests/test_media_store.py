"""Content-addressed storage and signed media links, on local disk and on a real S3 store
(SeaweedFS): every behaviour a caller relies on is asserted on both."""

from __future__ import annotations

import base64
import hashlib
import math
import os
import threading
import time
from pathlib import Path

import pytest

from media.errors import MediaNotFound, MediaRejected, SignatureExpired, SignatureInvalid
from media.store import MediaStore, S3MediaStore, key_of, s3_client

KEY = b"k" * 32
T0 = 1_800_000_000.0


@pytest.fixture
def local_store(tmp_path: Path) -> MediaStore:
    return MediaStore(tmp_path / "media", KEY)


@pytest.fixture(params=["local", "s3"])
def store(request):
    """The same tests on the local directory and on the S3 bucket."""
    return request.getfixturevalue("local_store" if request.param == "local" else "s3_store")


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def stored_names(store) -> list[str]:
    """Every name the store holds, ``ab/cd/<digest>``, temporary files included."""
    if isinstance(store, MediaStore):
        return [p.relative_to(store.root).as_posix() for p in files_under(store.root)]
    listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix)
    return sorted(item["Key"][len(store.prefix):] for item in listed.get("Contents", ()))


def test_put_stores_by_sha256_and_reads_back(store):
    digest = store.put(b"scan of a business licence")
    assert digest == hashlib.sha256(b"scan of a business licence").hexdigest()
    assert stored_names(store) == [f"{digest[:2]}/{digest[2:4]}/{digest}"]
    assert store.exists(digest)
    with store.open(digest) as f:
        assert f.read() == b"scan of a business licence"
    sent = store.download(digest)
    with sent.file:
        assert (sent.size, sent.file.read()) == (26, b"scan of a business licence")


def test_local_files_lie_under_the_root_by_digest(local_store):
    digest = local_store.put(b"floor plan")
    assert local_store.path_of(digest) == local_store.root / digest[:2] / digest[2:4] / digest
    sent = local_store.download(digest)
    sent.file.close()
    assert sent.path == local_store.path_of(digest)


def test_identical_content_is_stored_once(store):
    first = store.put(b"same bytes")
    assert store.put(b"same bytes") == first
    assert stored_names(store) == [key_of(first)]


def test_identical_local_content_keeps_its_file(local_store):
    first = local_store.put(b"same bytes")
    inode = local_store.path_of(first).stat().st_ino
    local_store.put(b"same bytes")
    assert local_store.path_of(first).stat().st_ino == inode


def test_concurrent_identical_puts_leave_one_complete_file(store):
    content = os.urandom(256 * 1024)
    digests: list[str] = []
    threads = [threading.Thread(target=lambda: digests.append(store.put(content)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(digests) == {hashlib.sha256(content).hexdigest()}
    assert stored_names(store) == [key_of(digests[0])]
    with store.open(digests[0]) as f:
        assert f.read() == content


def test_failed_put_leaves_no_partial_or_temp_file(local_store, monkeypatch):
    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        local_store.put(b"half written")
    assert files_under(local_store.root) == []
    assert not local_store.exists(hashlib.sha256(b"half written").hexdigest())


def test_files_are_private_to_the_service_user(local_store):
    digest = local_store.put(b"id card")
    assert local_store.path_of(digest).stat().st_mode & 0o077 == 0


def test_delete_is_idempotent(store):
    digest = store.put(b"withdrawn application")
    store.delete(digest)
    assert not store.exists(digest)
    store.delete(digest)
    for read in (store.open, store.download):
        with pytest.raises(MediaNotFound) as caught:
            read(digest)
        assert caught.value.code == "MEDIA_NOT_FOUND"


def test_stale_names_files_last_put_before_the_cutoff(store):
    """What the orphan sweep may consider: a file put again since (a retried upload) is
    young again, so the grace counts from the last put."""
    old, retried = store.put(b"old scan"), store.put(b"retried photo")
    cutoff = math.ceil(time.time())  # S3 keeps whole seconds
    time.sleep(cutoff + 1.05 - time.time())
    young = store.put(b"young scan")
    assert store.put(b"retried photo") == retried
    assert list(store.stale(cutoff)) == [old]
    assert sorted(store.stale(time.time() + 1)) == sorted([old, retried, young])


def test_abandoned_local_partial_writes_are_swept_with_stale(local_store):
    digest = local_store.put(b"kept")
    partial = local_store.path_of(digest).parent / ".put-abandoned"
    partial.write_bytes(b"half")
    assert list(local_store.stale(time.time() + 1)) == [digest]
    assert not partial.exists()


def test_ready_when_the_store_answers(store):
    assert store.ready()


def test_a_bucket_with_wrong_credentials_or_missing_is_not_ready(seaweedfs, s3_store):
    strangers = s3_client(endpoint=seaweedfs, region="us-east-1", access_key="someone",
                          secret_key="guessed")
    assert not S3MediaStore(strangers, s3_store.bucket, KEY).ready()
    assert not S3MediaStore(s3_store.client, "no-such-bucket", KEY).ready()
    with pytest.raises(Exception, match="403|Forbidden|Access"):
        S3MediaStore(strangers, s3_store.bucket, KEY).put(b"x")


BAD_DIGESTS = ["../etc/passwd", "../../" + "a" * 58, "/etc/passwd", "", "..", "a" * 63,
               "a" * 65, "g" * 64, "A" * 64, "a" * 64 + "\n", "ab/cd/" + "a" * 58, "a" * 62 + "/.",
               None, 123]


@pytest.mark.parametrize("bad", BAD_DIGESTS)
def test_anything_but_a_hex_digest_is_refused_as_a_path(store, bad):
    for call in (key_of, store.open, store.download, store.exists, store.delete):
        with pytest.raises(ValueError):
            call(bad)
    with pytest.raises(ValueError):
        store.sign(bad, subject="user:1", expires_in=60)


def test_sign_verify_round_trip(store):
    digest = store.put(b"floor plan")
    token = store.sign(digest, subject="staff:7:fire-dept", expires_in=300, now=T0)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert store.verify(token, now=T0 + 299) == (digest, "staff:7:fire-dept")


def test_token_names_the_subject_it_was_issued_for(store):
    """The web layer compares the subject with the user fetching; a token does not transfer."""
    digest = store.put(b"alice's id card")
    token = store.sign(digest, subject="user:1", expires_in=300, now=T0)
    _, subject = store.verify(token, now=T0)
    assert subject == "user:1" != "user:2"


def test_token_rewritten_for_another_subject_is_invalid(store):
    digest = store.put(b"alice's id card")
    token = store.sign(digest, subject="user:1", expires_in=300, now=T0)
    payload, mac = token.split(".")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    forged = base64.urlsafe_b64encode(raw.replace(b"user:1", b"user:2")).rstrip(b"=").decode()
    with pytest.raises(SignatureInvalid):
        store.verify(f"{forged}.{mac}", now=T0)


def test_expired_token_is_refused(store):
    token = store.sign(store.put(b"x"), subject="user:1", expires_in=60, now=T0)
    with pytest.raises(SignatureExpired) as caught:
        store.verify(token, now=T0 + 60)
    assert caught.value.code == "MEDIA_LINK_EXPIRED"
    assert isinstance(caught.value, SignatureInvalid | MediaRejected)


def flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1:]


@pytest.mark.parametrize("tamper", [
    lambda t: flip(t, 5),                       # payload
    lambda t: flip(t, len(t) - 2),              # signature
    lambda t: t.split(".")[0],                  # signature removed
    lambda t: t + ".extra",
    lambda t: t[:-4],
    lambda t: "",
    lambda t: "not a token",
    lambda t: "ü." + t.split(".")[1],
    lambda t: t.replace(".", "=."),
], ids=["payload", "signature", "no-signature", "extra-part", "cut", "empty", "garbage",
        "non-ascii", "padding"])
def test_tampered_token_is_invalid(store, tamper):
    token = store.sign(store.put(b"x"), subject="user:1", expires_in=60, now=T0)
    with pytest.raises(SignatureInvalid) as caught:
        store.verify(tamper(token), now=T0)
    assert caught.value.code == "MEDIA_LINK_INVALID"


def test_token_from_another_key_is_invalid(store, tmp_path):
    other = MediaStore(tmp_path / "other", b"o" * 32)
    token = other.sign(store.put(b"x"), subject="user:1", expires_in=60, now=T0)
    with pytest.raises(SignatureInvalid):
        store.verify(token, now=T0)


def test_weak_key_and_non_positive_lifetime_are_refused(store, tmp_path):
    with pytest.raises(ValueError):
        MediaStore(tmp_path, b"short")
    with pytest.raises(ValueError):
        store.sign(store.put(b"x"), subject="user:1", expires_in=0)


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)  # the bytes, not the database
@pytest.mark.parametrize("kind", ["local", "s3"])
def test_a_file_link_serves_the_store_with_length_ranges_and_etag(app, client, login, kind,
                                                                 request, monkeypatch):
    """``/files/{token}`` reads the bucket as it reads the directory: the owner checked
    first, the whole length up front, a resumable range, the digest as a strong ETag."""
    from tests.media_files import phone_jpeg  # noqa: PLC0415
    from tests.test_applications import draft, upload  # noqa: PLC0415

    if kind == "s3":
        bucket = request.getfixturevalue("s3_store")
        bucket._key = app.extensions["media_store"]._key  # the app's link key
        monkeypatch.setitem(app.extensions, "media_store", bucket)
    store = app.extensions["media_store"]
    headers = login()
    detail = draft(client, headers)
    sent = upload(client, headers, detail["id"], "premises_proof", phone_jpeg(seed=4))
    assert sent.status_code == 201, sent.json
    url = sent.json["url"]
    digest, _ = store.verify(url.rsplit("/", 1)[1])
    with store.open(digest) as f:
        stored = f.read()
    assert hashlib.sha256(stored).hexdigest() == digest and len(stored) > 64 * 1024
    if kind == "s3":
        assert not Path(app.extensions["settings"].MEDIA_ROOT, key_of(digest)).exists()

    def fetch(**headers):
        with client.get(url, headers=headers) as resp:
            return resp.status_code, resp.headers, resp.data

    status, sent_headers, data = fetch()
    assert status == 200 and data == stored
    assert sent_headers["Content-Length"] == str(len(stored))
    assert sent_headers["Content-Type"] == "image/jpeg"
    assert sent_headers["ETag"] == f'"{digest}"'
    assert sent_headers["X-Content-Type-Options"] == "nosniff"
    for asked, start in (("bytes=100-", 100), ("bytes=-10", len(stored) - 10)):
        status, sent_headers, data = fetch(Range=asked)
        assert status == 206 and data == stored[start:], asked
        assert sent_headers["Content-Range"] == f"bytes {start}-{len(stored) - 1}/{len(stored)}"
        assert sent_headers["Content-Length"] == str(len(stored) - start)
    assert fetch(**{"If-None-Match": f'"{digest}"'})[0] == 304
    assert client.get(url.replace("/files/", "/files/x")).status_code == 403
