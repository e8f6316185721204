"""The public verification page a citizen's phone camera opens, and its JSON twin.

A clear verdict (有效 / 已暂停 / 已吊销 / 已注销 / 已过期 / 无效) for whatever is asked — never a
500 — with only non-sensitive fields, rate-limited per client against enumeration.
"""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import current_app, render_template, request

from backend.extensions import db, limiter
from backend.security import signatures
from backend.services import verification

bp = APIBlueprint("public", __name__, tag="公开核验")


def _limit() -> str:
    return current_app.extensions["settings"].PUBLIC_VERIFY_RATE_LIMIT


def _verdict(license_no: str) -> dict:
    """Any query string at all gets a verdict; a malformed one is simply 无效.

    Read by the same parser as an inspector's scan (``signatures.parse_code``): the same
    text gets the same verdict on all three paths."""
    code = signatures.parse_code(license_no, request.query_string.decode("latin-1"))
    settings = current_app.extensions["settings"]
    return verification.public(
        db.session, current_app.extensions["redis"], code=code,
        keyring=current_app.extensions["license_keyring"], ttl=settings.LICENSE_CACHE_SECONDS)


@bp.get("/v/<license_no>")
@limiter.limit(_limit)
@bp.doc(summary="许可证公开核验页（手机浏览器）",
        responses={200: {"description": "HTML 页面", "content": {"text/html": {}}}})
def verify_page(license_no: str):
    """许可证公开核验页：扫码即见结论"""
    html = render_template("verify.html", result=_verdict(license_no))
    return html, 200, {"Content-Type": "text/html; charset=utf-8",
                       "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                       "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}


@bp.get("/api/public/v1/licenses/<license_no>")
@limiter.limit(_limit)
def verify_json(license_no: str):
    """许可证公开核验（JSON），参数同二维码：v 版本、k 密钥编号、s 签名，各一次；其他参数
    （如微信分享附加的 from、isappinstalled）忽略，不影响结论"""
    return _verdict(license_no)
