"""Content-addressed storage and signed media links."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from pathlib import Path

import pytest

from media.errors import MediaNotFound, MediaRejected, SignatureExpired, SignatureInvalid
from media.store import MediaStore

KEY = b"k" * 32
T0 = 1_800_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> MediaStore:
    return MediaStore(tmp_path / "media", KEY)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_put_stores_by_sha256_and_reads_back(store):
    digest = store.put(b"scan of a business licence")
    assert digest == hashlib.sha256(b"scan of a business licence").hexdigest()
    assert store.path_of(digest) == store.root / digest[:2] / digest[2:4] / digest
    assert store.exists(digest)
    with store.open(digest) as f:
        assert f.read() == b"scan of a business licence"


def test_identical_content_is_stored_once(store):
    first = store.put(b"same bytes")
    inode = store.path_of(first).stat().st_ino
    assert store.put(b"same bytes") == first
    assert store.path_of(first).stat().st_ino == inode
    assert files_under(store.root) == [store.path_of(first)]


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
    assert files_under(store.root) == [store.path_of(digests[0])]
    assert store.path_of(digests[0]).read_bytes() == content


def test_failed_put_leaves_no_partial_or_temp_file(store, monkeypatch):
    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        store.put(b"half written")
    assert files_under(store.root) == []
    assert not store.exists(hashlib.sha256(b"half written").hexdigest())


def test_files_are_private_to_the_service_user(store):
    digest = store.put(b"id card")
    assert store.path_of(digest).stat().st_mode & 0o077 == 0


def test_delete_is_idempotent(store):
    digest = store.put(b"withdrawn application")
    store.delete(digest)
    assert not store.exists(digest)
    store.delete(digest)
    with pytest.raises(MediaNotFound) as caught:
        store.open(digest)
    assert caught.value.code == "MEDIA_NOT_FOUND"


BAD_DIGESTS = ["../etc/passwd", "../../" + "a" * 58, "/etc/passwd", "", "..", "a" * 63,
               "a" * 65, "g" * 64, "A" * 64, "a" * 64 + "\n", "ab/cd/" + "a" * 58, "a" * 62 + "/.",
               None, 123]


@pytest.mark.parametrize("bad", BAD_DIGESTS)
def test_anything_but_a_hex_digest_is_refused_as_a_path(store, bad):
    for call in (store.path_of, store.open, store.exists, store.delete):
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
