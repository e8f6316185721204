"""One push to the province's e-license library (省电子证照库): the request and what its
answer means. The interface: ``elicense_library/README.md``.

An outbox row of channel ``elicense`` carries the push as queued with the change
(``backend.services.elicense_library.queue``): the path, and the body — the GB/T 36903
record of a new version (新发, 延续, 变更) or the status change (暂扣, 暂扣发还, 注销/撤销/吊销,
过期失效) — as it was at that moment. A new version's push also carries the sealed file of
the license face it was queued with, read when it is sent (:class:`SealedFile`; the worker
renders and seals the face then if nobody has viewed it yet).

The library is idempotent per 证照标识 + 序号, so every failure that may or may not have
reached it is simply retried (like a department webhook, unlike WeChat):

- 2xx (``200 duplicate`` too): sent;
- 408, 429, 5xx; a timeout; the connection refused, reset or dropped: retried with backoff;
- any other 4xx (a bad identifier, an unknown code, an unknown identifier …): refused for
  good, with the library's code and message, for an administrator to fix and replay.

Order: the pushes of one e-license (its ``aggregate``) go one at a time, oldest first —
a status change never reaches the library before the issue it refers to, and nothing of an
e-license goes while an earlier push of it is refused or failed
(``notifications.delivery``'s claim).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

import requests

from notifications.channels import REFUSED, RETRY, Result, post_once, status_text

TARGET = "elicense_library"  # the outbox rows' target
RETRIED = frozenset({408, 429})  # 4xx statuses saying "not now", not "never"


@dataclass(frozen=True)
class SealedFile:
    """The sealed PDF of a license face, and who sealed it when (签章者, 签章时间)."""

    name: str
    content: bytes
    sealed_by: str
    sealed_at: datetime | None

    def wire(self) -> dict[str, Any]:
        return {"name": self.name, "media_type": "application/pdf",
                "sha256": hashlib.sha256(self.content).hexdigest(), "size": len(self.content),
                "content_base64": base64.b64encode(self.content).decode()}


def body_of(payload: dict[str, Any], sealed: SealedFile | None) -> bytes:
    """The exact bytes pushed: the queued body, plus, for a new version, its file and the
    seal's signer and time in the record."""
    body = dict(payload["body"])
    if "record" in body:
        body["file"] = sealed.wire() if sealed is not None else None
        if sealed is not None:
            body["record"] = body["record"] | {
                "sealed_by": sealed.sealed_by,
                "sealed_at": sealed.sealed_at.isoformat() if sealed.sealed_at else None}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def push(http: requests.Session, *, base_url: str, path: str, body: bytes,
         timeout: float) -> Result:
    """POST one push and classify the answer (the table above)."""
    url = urljoin(base_url if base_url.endswith("/") else base_url + "/", path)
    resp = post_once(http, url, body=body, timeout=timeout,
                     headers={"Content-Type": "application/json; charset=utf-8",
                              "User-Agent": "yiye-yizheng-elicense/1"})
    if isinstance(resp, Result):
        return resp
    text = status_text(resp.status_code)
    if resp.status_code >= 500 or resp.status_code in RETRIED:
        return Result(RETRY, "transient", text)
    return Result(REFUSED, "library", f"{text}: {_reason(resp)}")


def _reason(resp: requests.Response) -> str:
    """The library's ``code: message`` (what an administrator needs to fix and replay)."""
    try:
        answer = resp.json()
        reason = f"{answer['code']}: {answer['message']}"
        return reason + (f"（{answer['field']}）" if answer.get("field") else "")
    except (ValueError, KeyError, TypeError):
        return "（证照库的回答无法解析）"
