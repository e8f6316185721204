"""The published guides (办事指南) at /guides, for anyone and without signing in, and the
catalog as open data (``/api/public/v1/catalog/versions/{n}.json`` and ``.csv``).

Pages are plain server-rendered HTML that reads and works without JavaScript (the
questionnaire is a GET form), in the look of the verification page (``public/base.html``:
one inlined stylesheet, nothing fetched from elsewhere). Every answer depends only on the
catalog version, so it is made once per version and process (``catalog.AnswerCache``) and
sent with a strong ETag (304 on If-None-Match); a numbered version's files never change
(``immutable``). The rules live in ``backend.services.guides`` and ``notice``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import quote, urlencode

from apiflask import APIBlueprint
from flask import Response, current_app, render_template, request

from backend.catalog_format import CatalogDocument
from backend.conditional import Body, respond
from backend.errors import FieldsInvalid
from backend.extensions import db
from backend.models import CatalogVersion
from backend.services import catalog, guides, notice
from media.documents import render_sheet

bp = APIBlueprint("guides", __name__, tag="办事指南与开放数据")

PREFIX = "/guides"
REVALIDATE = "public, no-cache"  # the version in force may change at the next load
IMMUTABLE = "public, max-age=31536000, immutable"  # a numbered version never changes
PAGE_HEADERS = (("Content-Security-Policy",
                 "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                 "base-uri 'none'"),
                ("X-Content-Type-Options", "nosniff"))
FILE_HEADERS = (("X-Content-Type-Options", "nosniff"),)
MAX_QUERY = 50


def _cache() -> catalog.AnswerCache:
    return current_app.extensions["catalog_answers"]


def _in_force() -> tuple[catalog.VersionRef, Callable[[], CatalogVersion]]:
    ref = _cache().in_force(db.session)
    return ref, lambda: db.session.get(CatalogVersion, ref.id)


def _page(key: tuple, template: str, context: Callable[[], dict]) -> Response:
    """A page made once per version: ``template`` with ``context()``."""
    return respond(_cache().answer(("guides", *key), lambda: Body.raw(
        render_template(template, **context()).encode(), "text/html", PAGE_HEADERS)),
        REVALIDATE)


def _file(key: tuple, make: Callable[[], bytes], mimetype: str, filename: str,
          cache_control: str = REVALIDATE) -> Response:
    headers = (*FILE_HEADERS, ("Content-Disposition", _disposition(filename)))
    return respond(_cache().answer(("guides", *key), lambda: Body.raw(make(), mimetype,
                                                                      headers)), cache_control)


def _disposition(filename: str) -> str:
    """Opened in the browser (a PDF in its viewer), saved under a Chinese name (RFC 6266)."""
    ascii_name = filename.encode("ascii", "ignore").decode().replace('"', "")
    return f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def error_page(status: int, code: str, message: str) -> str:
    """An error under /guides as a page in the guides' look (backend.http_errors.reply)."""
    return render_template("guides/error.html", status=status, code=code, message=message)


@bp.get(f"{PREFIX}/")
@bp.doc(hide=True)
def index():
    """行业目录与搜索（中文名、类别、拼音或拼音首字母）"""
    q = request.args.get("q", "").strip()[:MAX_QUERY]
    ref, version = _in_force()

    def context() -> dict:
        rows = catalog.search_industries(db.session, q=q or None, version=version())
        categories: dict[str, list] = {}
        for row in rows:
            categories.setdefault(row.category, []).append(row)
        return {"q": q, "categories": categories, "total": len(rows), "version": ref.number}

    return _page((ref, "index", q), "guides/index.html", context)


def _industry_page(code: str, page: str, view: Callable[[CatalogDocument, str], dict],
                   values: dict[str, str] | None = None) -> Response:
    """A page of one industry of the version in force: ``guides/{page}.html`` with ``guide``
    = ``view(document, code)`` and the form's ``values``."""
    ref, version = _in_force()

    def context() -> dict:
        document, _ = catalog.get_industry(version(), code)
        return {"guide": view(document, code), "values": values or {}, "errors": {},
                "version": ref.number}

    key = json.dumps(sorted((values or {}).items()), ensure_ascii=False)
    return _page((ref, page, code, key), f"guides/{page}.html", context)


@bp.get(f"{PREFIX}/industries/<code>")
@bp.doc(hide=True)
def industry(code: str):
    """一个行业的办事指南"""
    return _industry_page(code, "industry", guides.guide)


@bp.get(f"{PREFIX}/industries/<code>/questions")
@bp.doc(hide=True)
def questions(code: str):
    """情形问题（表单，不需要 JavaScript）；带上次的回答（?floor_area=…）时预先填好"""
    values = {k: v[:20] for k, v in list(request.args.items())[:MAX_QUERY]}
    return _industry_page(code, "questions", notice.overview, values)


def _answers_key() -> str:
    return json.dumps(sorted(request.args.items(multi=False)), ensure_ascii=False)


@bp.get(f"{PREFIX}/industries/<code>/notice")
@bp.doc(hide=True)
def notice_page(code: str):
    """按回答生成的一次告知单（与小程序接口同一规则）；回答有误时回到问题页并逐项说明"""
    ref, version = _in_force()

    def context() -> dict:  # made once per version and answers: no query when cached
        document, industry_ = catalog.get_industry(version(), code)
        tailored = notice.tailored(version(), code,
                                   guides.answers_from_form(document, industry_, request.args))
        return {"notice": tailored, "query": urlencode(
            guides.form_values(document, industry_, tailored["answers"])),
            "answers": guides.answers_shown(document, tailored["answers"]),
            "version": ref.number}

    try:
        return _page((ref, "notice", code, _answers_key()), "guides/notice.html", context)
    except FieldsInvalid as problem:
        errors = {f["field"].removeprefix("answers."): f["message"]
                  for f in problem.details["fields"]}
        document, _ = catalog.get_industry(version(), code)
        page = render_template("guides/questions.html", guide=notice.overview(document, code),
                               values=request.args, errors=errors, version=ref.number)
        return Response(page, 422, dict(PAGE_HEADERS), mimetype="text/html")


@bp.get(f"{PREFIX}/industries/<code>/notice.pdf")
@bp.doc(hide=True)
def notice_pdf(code: str):
    """一次告知单 PDF（同一组回答，同一份告知单）"""
    ref, version = _in_force()

    def make() -> bytes:
        document, industry_ = catalog.get_industry(version(), code)
        tailored = notice.tailored(version(), code,
                                   guides.answers_from_form(document, industry_, request.args))
        return render_sheet(guides.notice_sheet(
            tailored, guides.answers_shown(document, tailored["answers"])))

    return _file((ref, "notice.pdf", code, _answers_key()), make, "application/pdf",
                 f"{code}-告知单.pdf")


@bp.get(f"{PREFIX}/forms/<material>/<any(blank, example):kind>.pdf")
@bp.doc(hide=True)
def form_pdf(material: str, kind: str):
    """表格的空白表或示例样表（PDF），按目录中的字段定义生成"""
    ref, version = _in_force()

    def make() -> bytes:
        document = catalog.document_of(version())
        return render_sheet(guides.form_sheet(document, material, example=kind == "example",
                                              catalog_version=ref.number))

    suffix = "示例样表" if kind == "example" else "空白表"
    return _file((ref, "form", material, kind), make, "application/pdf",
                 f"{material}-{suffix}.pdf")


@bp.get(f"{PREFIX}/data")
@bp.doc(hide=True)
def open_data():
    """开放数据：每一版目录的 JSON 与 CSV，以及版本更新记录"""
    ref, _ = _in_force()
    return _page((ref, "data"), "guides/data.html",
                 lambda: {"versions": guides.versions(db.session), "version": ref.number})


@bp.get(f"{PREFIX}/data/<int:number>/changes")
@bp.doc(hide=True)
def changes(number: int):
    """第 number 版相对上一版的变化"""
    ref = catalog.version_ref(db.session, number)

    def make() -> Body:
        page = render_template("guides/changes.html", number=number,
                               diff=guides.changes(db.session, number))
        return Body.raw(page.encode(), "text/html", PAGE_HEADERS)

    return respond(_cache().answer(("guides", ref, "changes"), make), IMMUTABLE)


@bp.get("/api/public/v1/catalog/versions/<int:number>.json")
@bp.doc(summary="行业目录（开放数据，JSON）", responses={
    200: {"description": "该版目录：catalog_version、title、checksum、loaded_at 与 document"
                         "（目录文件的全部内容，格式见 backend/catalog_format.py）；版本永不改变，"
                         "可长期缓存", "content": {"application/json": {}}},
    404: {"description": "CATALOG_VERSION_NOT_FOUND"}})
def catalog_json(number: int):
    """第 number 版行业目录的全部内容（开放数据，稳定地址）"""
    ref = catalog.version_ref(db.session, number)
    return _file((ref, "json"), lambda: guides.as_json(guides.catalog_json(
        catalog.get_version(db.session, number))), "application/json",
        f"yiye-catalog-v{number}.json", IMMUTABLE)


@bp.get("/api/public/v1/catalog/versions/<int:number>.csv")
@bp.doc(summary="行业目录（开放数据，CSV）", responses={
    200: {"description": "每行一个 行业 × 许可事项 × 材料（UTF-8 带 BOM）；列见 "
                         "backend/services/guides.py CSV_COLUMNS", "content": {"text/csv": {}}},
    404: {"description": "CATALOG_VERSION_NOT_FOUND"}})
def catalog_csv(number: int):
    """第 number 版行业目录（CSV，开放数据，稳定地址）"""
    ref = catalog.version_ref(db.session, number)
    return _file((ref, "csv"), lambda: guides.catalog_csv(
        catalog.get_version(db.session, number)).encode(), "text/csv",
        f"yiye-catalog-v{number}.csv", IMMUTABLE)
