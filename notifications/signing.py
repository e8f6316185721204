"""Signatures of department webhooks: HMAC-SHA256 over ``f"{timestamp}.{body}"``.

What a department receiver does (Python shown; any language with HMAC-SHA256 will do)::

    timestamp = request.headers["X-Yiye-Timestamp"]            # Unix seconds
    expected = "v1=" + hmac.new(secret.encode(), timestamp.encode() + b"." + request.body,
                                hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, request.headers["X-Yiye-Signature"])
    assert abs(time.time() - int(timestamp)) <= 300             # refuse replays of old bodies
    if seen(request.headers["X-Yiye-Delivery"]): return 200     # idempotency: once per id

The body is signed as received (bytes), so the receiver must verify before parsing. The
timestamp is part of the signed text, so an old body cannot be replayed with a new timestamp.
Retries of one record carry the same ``X-Yiye-Delivery`` (also sent as ``Idempotency-Key``)
and the same body; answering 2xx to a repeated id is how a receiver acknowledges it.
"""

from __future__ import annotations

import hashlib
import hmac
import time

EVENT_HEADER = "X-Yiye-Event"
DELIVERY_HEADER = "X-Yiye-Delivery"
TIMESTAMP_HEADER = "X-Yiye-Timestamp"
SIGNATURE_HEADER = "X-Yiye-Signature"
TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *,
           now: float | None = None, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """The receiver's check: a genuine signature over a fresh timestamp."""
    if not (timestamp.isascii() and timestamp.isdigit()):  # int() also reads ٣ or ３
        return False
    age = abs((now if now is not None else time.time()) - int(timestamp))
    return age <= tolerance and hmac.compare_digest(sign(secret, timestamp, body), signature)
