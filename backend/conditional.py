"""Answers that change only with a new catalog version or release, sent as stored bytes with a
strong ETag: a phone that sends it back in If-None-Match gets 304 and no body. The
mini-program's catalog answers (JSON) and the published guides (HTML, CSV, PDF) alike."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from flask import Response, request


def compact_json(value: Any) -> bytes:
    """``value`` as the API sends stored answers: compact UTF-8 JSON, CJK as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Body:
    data: bytes
    etag: str
    mimetype: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()  # e.g. the page's Content-Security-Policy

    @classmethod
    def of(cls, value: Any) -> Body:
        """``value`` as compact UTF-8 JSON, its ETag a digest of those bytes."""
        return cls.raw(compact_json(value))

    @classmethod
    def raw(cls, data: bytes, mimetype: str = "application/json",
            headers: tuple[tuple[str, str], ...] = ()) -> Body:
        """Bytes as they are (a page, a CSV, a PDF), their ETag a digest of them."""
        return cls(data, hashlib.sha256(data).hexdigest()[:32], mimetype, headers)


def respond(body: Body, cache_control: str) -> Response:
    """``body`` with its ETag and ``cache_control``; 304 when the client already has it
    (If-None-Match, weak comparison as RFC 9110 13.1.2 asks). Not werkzeug's
    ``make_conditional``: it also parses dates and ranges these answers never use, at a
    third of the cost of the whole request."""
    headers = {"ETag": f'"{body.etag}"', "Cache-Control": cache_control, **dict(body.headers)}
    if request.if_none_match.contains_weak(body.etag):
        return Response(status=304, headers=headers)
    return Response(body.data, headers=headers, mimetype=body.mimetype)
