"""What every console page shares: the navigation by role, the filters, the headers, and
error pages in Chinese instead of the API's JSON envelope."""

from __future__ import annotations

from datetime import date, datetime

from flask import render_template

from backend.clock import CHINA
from backend.services.staff import ROLES
from console import bp

# (endpoint, label, permission): a role sees the entries its permissions allow
# (backend.security.permissions); each page's module defines its endpoint
NAVIGATION = [
    ("console.window_queue", "受理队列", "application.accept"),
    ("console.assisted_list", "帮办代办", "application.assist"),
    ("console.review_queue", "本单位审查", "review.list_unit"),
    ("console.inspection_board", "联合核查", "inspection.list_all"),
    ("console.my_visits", "我的核查任务", "inspection.list_mine"),
    ("console.license_search", "许可证", "license.view"),
    ("console.license_requests", "变更延续补办", "license.handle_requests"),
    ("console.rectifications_list", "差评整改", "rectification.view"),
    ("console.catalog_versions", "行业目录", "catalog.view"),
    ("console.statistics_page", "统计分析", "statistics.view"),
    ("console.scorecard_page", "绩效考评", "statistics.view"),
    ("console.calendar", "节假日", "calendar.edit"),
    ("console.staff_accounts", "工作人员", "staff.manage"),
    ("console.deliveries", "消息投递", "notifications.admin"),
]

# our own scripts and styles only; images and PDFs are our own signed file links
POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
          "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@bp.app_context_processor
def _globals():
    return {"NAVIGATION": NAVIGATION, "ROLES": ROLES}


@bp.app_template_filter("cst")
def china_time(value: datetime | date | None, minutes: bool = True) -> str:
    """A stored UTC time as the clerk reads it: Beijing time, ``2026-11-29 09:05``."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M" if minutes else "%Y-%m-%d")
    return value.isoformat()


@bp.after_request
def _headers(response):
    """Pages hold personal data: never cached, never framed, no foreign script."""
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = POLICY
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(status: int, code: str, message: str) -> str:
    """Every error under /console that no form shows in place — a case that is not yours
    (404), an address opened the wrong way (405), a body too large (413), a rate limit (429),
    a fault (500) — as a page in Chinese with its code (backend.http_errors.reply); the
    status and headers (Retry-After) stay the API's."""
    return render_template("error.html", title=_TITLES.get(status, "无法完成"),
                           message=f"{message}（{code}）")


_TITLES = {400: "请求有误", 403: "无权操作", 404: "找不到页面", 405: "无法这样打开",
           409: "状态已变化", 413: "内容过大", 415: "无法处理", 422: "无法完成",
           429: "操作过于频繁", 500: "出错了", 503: "暂时不可用"}
