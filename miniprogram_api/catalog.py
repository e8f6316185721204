"""The industry catalog and the one-time notice (一次告知)."""

from __future__ import annotations

from backend.extensions import db
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


@bp.get("/industries")
@bp.input(IndustryQuery, location="query")
@bp.output(IndustryList)
def list_industries(query_data: IndustryQuery):
    """“一业一证”行业列表与搜索（中文名、类别或拼音首字母）"""
    version = catalog.current_version(db.session)
    rows = catalog.search_industries(db.session, q=query_data.q, version=version)
    return IndustryList(
        catalog_version=version.number, total=len(rows),
        industries=[IndustrySummary.model_validate(r, from_attributes=True) for r in rows],
    )


@bp.get("/industries/<code>")
@bp.input(VersionQuery, location="query")
@bp.output(IndustryDetail)
def get_industry(code: str, query_data: VersionQuery):
    """行业告知总览：全部可能涉及的事项及情形问题"""
    version = catalog.get_version(db.session, query_data.version)
    document, _ = catalog.get_industry(version, code)
    return {"catalog_version": version.number, **notice.overview(document, code)}


@bp.post("/industries/<code>/notice")
@bp.input(NoticeIn)
@bp.output(NoticeOut)
def tailored_notice(code: str, json_data: NoticeIn):
    """按情形回答生成的一次告知单"""
    version = catalog.current_version(db.session)
    document, industry = catalog.get_industry(version, code)
    answers = notice.validate_answers(document, industry, json_data.answers)
    return {"catalog_version": version.number, **notice.tailor(document, code, answers)}
