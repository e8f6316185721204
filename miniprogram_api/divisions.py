"""Administrative divisions for the premises address picker (cacheable)."""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel

from backend.conditional import Body, respond
from backend.services import divisions
from miniprogram_api import bp

CACHE_CONTROL = "public, max-age=86400"  # the table changes with a code release, if ever


class DivisionOut(BaseModel):
    code: str
    name: str


class CityOut(DivisionOut):
    counties: list[DivisionOut]


class DivisionList(BaseModel):
    province: DivisionOut
    cities: list[CityOut]


@bp.get("/divisions")
@bp.output(DivisionList)
@bp.doc(responses={304: "未变化（If-None-Match 与 ETag 相同）"})
def list_divisions():
    """山西省市、县（区）行政区划代码：申请表 premises_city_code / premises_county_code 的可选值

    带 ETag 与 Cache-Control；再次请求时带 If-None-Match 可得 304。
    """
    return respond(_listing(), CACHE_CONTROL)


@cache
def _listing() -> Body:
    return Body.of(divisions.listing())
