"""The industry catalog and the one-time notice (一次告知).

A catalog version never changes, so each answer is computed once per version and process
(``catalog.AnswerCache``; a tailored notice once per body as sent) and served as stored bytes
with a strong ETag: a client that sends the ETag back in If-None-Match gets 304 and no body
until a new version is in force.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, current_app, request
from pydantic import BaseModel

from backend.conditional import Body, respond
from backend.extensions import db
from backend.models import CatalogVersion
from backend.services import catalog, notice
from miniprogram_api import bp
from miniprogram_api.schemas import (
    IndustryDetail,
    IndustryList,
    IndustryQuery,
    IndustrySummary,
    NoticeIn,
    NoticeOut,
    VersionQuery,
)

# the version in force may change at the next load: ask again each time (304 is cheap);
# a numbered version never changes
REVALIDATE = "public, no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"


def _answers() -> catalog.AnswerCache:
    return current_app.extensions["catalog_answers"]


def _serve(key: tuple, schema: type[BaseModel], make: Callable[[], Any],
           cache_control: str = REVALIDATE) -> Response:
    """The answer for ``key`` as the schema shapes it, from the cache; 304 when unchanged."""
    def render() -> Body:
        return Body.of(schema.model_validate(make()).model_dump(mode="json", by_alias=True))

    return respond(_answers().answer(key, render), cache_control)


def _version(session, ref: catalog.VersionRef) -> CatalogVersion:
    return session.get(CatalogVersion, ref.id)


def _notice_key(code: str) -> tuple:
    """A notice is kept per version in force, industry and body exactly as sent (its
    SHA-256: bodies are bounded by MAX_JSON_BYTES, keys need not be)."""
    return (_answers().in_force(db.session), "notice", code,
            hashlib.sha256(request.get_data()).digest())


def _plain(kind: str) -> Callable[..., tuple | None]:
    """The key of a GET with no query (the mini-program's: the version in force's answer),
    the one its view keeps it under; None for any other GET, validated first."""
    def key(code: str | None = None) -> tuple | None:
        return None if request.query_string else (_answers().in_force(db.session), kind, code)

    return key


def _given_before(key_of: Callable[..., tuple | None]) -> Callable[[Callable], Callable]:
    """A request answered before is answered again from the cache, before its query or body
    is parsed and validated (@bp.input, below this), when ``key_of(**view_args)`` names it:
    the same bytes were validated when first sent and the answer depends on nothing else. In
    process ~15-30 µs a request: the notice 183 → ~150 µs, the list and the detail ~20 µs
    (docs/bench-http.md, rounds 7 and 8)."""
    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def answer(**view_args):
            key = key_of(**view_args)
            kept = _answers().get(key) if key is not None else None
            return respond(kept, REVALIDATE) if kept is not None else view(**view_args)

        return answer

    return decorate


@bp.get("/industries")
@_given_before(_plain("list"))
@bp.input(IndustryQuery, location="query")
@bp.output(IndustryList)
def list_industries(query_data: IndustryQuery):
    """“一业一证”行业列表与搜索（中文名、类别或拼音首字母）

    带 ETag；请求头 If-None-Match 与之相同时返回 304（目录未换版）。"""
    ref = _answers().in_force(db.session)

    def make() -> IndustryList:
        rows = catalog.search_industries(db.session, q=query_data.q,
                                         version=_version(db.session, ref))
        return IndustryList(
            catalog_version=ref.number, total=len(rows),
            industries=[IndustrySummary.model_validate(r, from_attributes=True) for r in rows])

    return _serve((ref, "list", query_data.q), IndustryList, make)


@bp.get("/industries/<code>")
@_given_before(_plain("detail"))
@bp.input(VersionQuery, location="query")
@bp.output(IndustryDetail)
def get_industry(code: str, query_data: VersionQuery):
    """行业告知总览：全部可能涉及的事项及情形问题

    带 ETag（同上）；指定 version 时内容永不改变，可长期缓存。"""
    if query_data.version is None:
        ref, cache_control = _answers().in_force(db.session), REVALIDATE
    else:
        ref, cache_control = catalog.version_ref(db.session, query_data.version), IMMUTABLE

    def make() -> dict:
        document, _ = catalog.get_industry(_version(db.session, ref), code)
        return {"catalog_version": ref.number, **notice.overview(document, code)}

    return _serve((ref, "detail", code), IndustryDetail, make, cache_control)


@bp.post("/industries/<code>/notice")
@_given_before(_notice_key)
@bp.input(NoticeIn)
@bp.output(NoticeOut)
def tailored_notice(code: str, json_data: NoticeIn):
    """按情形回答生成的一次告知单"""
    key = _notice_key(code)

    def make() -> dict:
        return notice.tailored(_version(db.session, key[0]), code, json_data.answers)

    return _serve(key, NoticeOut, make)
