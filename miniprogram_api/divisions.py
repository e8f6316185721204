"""Administrative divisions for the premises address picker (cacheable)."""

from __future__ import annotations

from flask import jsonify, request
from pydantic import BaseModel

from backend.services import divisions
from miniprogram_api import bp

MAX_AGE_SECONDS = 86_400  # the table changes with a code release, if ever


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
    body, etag = divisions.listing()
    response = jsonify(body)
    response.set_etag(etag)
    response.cache_control.public = True
    response.cache_control.max_age = MAX_AGE_SECONDS
    return response.make_conditional(request)
