"""The public verification page a citizen's phone camera opens, and its JSON twin.

A clear verdict (有效 / 已暂停 / 已吊销 / 已注销 / 已过期 / 无效) for whatever is asked — never a
500 — with only non-sensitive fields (``verification.public_view``: each bundled permit with
its 证照标识, state and validity, the joint inspection's date and result), rate-limited per
client against enumeration. Only signed QR codes verify here: a 证照标识 given in place of the
number is told why not (``verification.identifier_verdict``).
"""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import Response, current_app, render_template, request
from flask_limiter import RequestLimit

from backend.extensions import db
from backend.rate_limits import SharedLimit
from backend.security import signatures
from backend.services import statistics_summary, verification

bp = APIBlueprint("public", __name__, tag="公开核验")

PAGE_HEADERS = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}


def _page(result: dict) -> str:
    """The verdict page (``verification.public_view``'s shape, or a refusal's)."""
    return render_template("verify.html", result=result)


def _busy_page(limit: RequestLimit) -> Response:
    """A refused page request is a page a phone shows, not a JSON envelope."""
    wait = limit.limit.get_expiry()
    result = {"verdict": "busy", "verdict_label": "请稍后再试",
              "reason": f"查询过于频繁，请 {wait} 秒后再扫码核验"}
    return Response(_page(result), 429, PAGE_HEADERS)


# The page and its JSON twin are one thing to count (PUBLIC_VERIFY_RATE_LIMIT is "public
# verification requests per client address"): one shared counter, or enumeration gets twice
# the budget by alternating the two paths.
_SCOPE = "public-verify"
_page_limit = SharedLimit("PUBLIC_VERIFY_RATE_LIMIT", _SCOPE, on_breach=_busy_page)
_json_limit = SharedLimit("PUBLIC_VERIFY_RATE_LIMIT", _SCOPE)


def _verdict(license_no: str, limit: SharedLimit) -> verification.PublicAnswer:
    """Any query string at all gets a verdict; a malformed one is simply 无效 (and counts).

    Read by the same parser as an inspector's scan (``signatures.parse_code``): the same
    text gets the same verdict on all three paths."""
    app = current_app._get_current_object()  # noqa: SLF001 - one proxy lookup, not three
    limit.hit(app)
    code = signatures.parse_code(license_no, request.query_string.decode("latin-1"))
    return verification.public(db.session, app.extensions["verdicts"], code=code,
                               keyring=app.extensions["license_keyring"], number=license_no)


@bp.get("/v/<license_no>")
@bp.doc(summary="许可证公开核验页（手机浏览器）",
        responses={200: {"description": "HTML 页面", "content": {"text/html": {}}},
                   429: {"description": "请求过于频繁（与 JSON 核验合计计数）：HTML 页面，"
                                        "Retry-After", "content": {"text/html": {}}}})
def verify_page(license_no: str):
    """许可证公开核验页：扫码即见结论"""
    return _verdict(license_no, _page_limit).page(_page), 200, PAGE_HEADERS


JSON_HEADERS = {"Content-Type": "application/json"}
RESULTS_HEADERS = PAGE_HEADERS | {"Cache-Control": "public, max-age=600"}


@bp.get("/results")
@bp.doc(summary="改革成效公开页（各行业办件量与平均用时，不含个人信息）",
        responses={200: {"description": "HTML 页面", "content": {"text/html": {}}},
                   422: {"description": "年份无效"}})
def results_page():
    """“一业一证”改革成效：当年（或 ?year=YYYY）各行业申请、发证件数，受理至发证平均用时与较
    分别办理节省的工作日；只有件数与平均数，不含任何个人信息；缓存至统计汇总下次更新"""
    year = request.args.get("year", type=int)
    period, rows, total = statistics_summary.public_results(db.session, year=year)
    return (render_template("results.html", period=period, rows=rows, total=total), 200,
            RESULTS_HEADERS)


@bp.get("/api/public/v1/licenses/<license_no>")
def verify_json(license_no: str):
    """许可证公开核验（JSON），参数同二维码：v 版本、k 密钥编号、s 签名，各一次；其他参数
    （如微信分享附加的 from、isappinstalled）忽略，不影响结论。返回结论、证照信息与证照标识
    （identifier）、每个许可事项的证照标识、状态与有效期（items），以及联合现场核查的日期与
    结论（last_inspection）；不含身份证号、电话等个人信息。只核验二维码：单独给出证照标识
    时结论为无效，并说明原因"""
    return Response(_verdict(license_no, _json_limit).json, 200, JSON_HEADERS)
