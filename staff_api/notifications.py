"""Notifications on the staff side: delivery state and replay (system administrators),
department endpoints, the department pull feed (per-department API key), and the staff's own
in-app messages (e.g. the daily overdue list)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from apiflask import APIKeyHeaderAuth
from flask import current_app
from pydantic import BaseModel, Field, StringConstraints

from backend.api_types import Cursor, Page, PerPage
from backend.extensions import db
from backend.services import deliveries, departments, inbox
from notifications import outbox
from staff_api import bp
from staff_api.auth import current_staff, requires, staff_auth
from staff_api.schemas import In

department_auth = APIKeyHeaderAuth(name="DepartmentApiKey", param_name="X-Api-Key",
                                   security_scheme_name="DepartmentApiKey",
                                   description="监管部门的 API Key（管理员配置推送地址时生成）")


@department_auth.verify_token
def _verify_department(raw: str):
    return departments.department_for_key(db.session, raw)


def _settings():
    return current_app.extensions["settings"]


# --- schemas -----------------------------------------------------------------------------------


class DeliveryQuery(In):
    status: Literal[outbox.STATUSES] | None = None  # enumerated: an unknown value is 422
    channel: Literal[outbox.WECHAT, outbox.WEBHOOK, outbox.ELICENSE, outbox.NONE] | None = None
    event: Annotated[str, StringConstraints(max_length=64)] | None = None
    target: Annotated[str, StringConstraints(max_length=100)] | None = Field(
        default=None, description="applicant:7 或部门代码")
    page: Page = 1
    per_page: PerPage = 20


class DeliveryOut(BaseModel):
    id: int
    event: str
    channel: str = Field(description="wechat | webhook | elicense（省电子证照库）| "
                                      "none（仅站内消息）")
    target: str | None = Field(description="applicant:7 | 部门代码 | elicense_library")
    status: str = Field(description="pending | sending | sent | refused | skipped | failed | "
                                    "uncertain")
    attempts: int
    due_at: datetime
    sent_at: datetime | None
    error_class: str | None
    last_error: str | None
    dedupe_key: str
    aggregate: str
    created_at: datetime


class DeliveryPage(BaseModel):
    total: int
    page: int
    per_page: int
    deliveries: list[DeliveryOut]


class LibraryState(BaseModel):
    configured: bool = Field(description="是否已配置省电子证照库地址（ELICENSE_LIBRARY_URL）")
    waiting: int = Field(description="等待推送的条数（未配置时全部等待，配置后依次发送）")


class DeliverySummary(BaseModel):
    counts: dict[str, dict[str, int]] = Field(description="渠道 → 状态 → 条数")
    oldest_due_pending_seconds: float = Field(description="最早到期仍未投递的等待秒数")
    elicense_library: LibraryState


class ReplayIn(In):
    accept_duplicate_risk: bool = Field(
        default=False, description="重发状态为 uncertain 的微信消息须确认（可能已送达）")


class DepartmentOut(BaseModel):
    code: str
    name: str
    configured: bool
    url: str | None
    active: bool
    updated_at: datetime | None
    updated_by: str | None


class DepartmentList(BaseModel):
    departments: list[DepartmentOut]


class DepartmentIn(In):
    url: Annotated[str, StringConstraints(max_length=500, strip_whitespace=True)] | None = \
        Field(default=None, description="接收推送的地址（生产环境须 https）；为空则只用拉取接口")
    active: bool = True
    rotate_secret: bool = Field(default=False, description="重新生成签名密钥")
    rotate_api_key: bool = Field(default=False, description="重新生成拉取接口的 API Key")


class DepartmentConfigured(DepartmentOut):
    secret: str | None = Field(description="签名密钥：仅在生成时返回这一次")
    api_key: str | None = Field(description="API Key：仅在生成时返回这一次")


class FeedQuery(In):
    after: Cursor = Field(default=0, description="游标：上次返回的 next_cursor")
    limit: int = Field(default=100, ge=1, le=departments.FEED_MAX)


class FeedRecord(BaseModel):
    cursor: int
    id: str = Field(description="幂等 ID，与推送的 X-Yiye-Delivery 相同")
    event: str
    created_at: datetime
    record: dict[str, Any]


class FeedPage(BaseModel):
    department: str
    records: list[FeedRecord]
    next_cursor: int
    has_more: bool


class StaffMessageQuery(In):
    unread_only: bool = False
    page: Page = 1
    per_page: PerPage = 20


class StaffMessageOut(BaseModel):
    id: int
    event: str
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None


class StaffMessageList(BaseModel):
    unread: int
    total: int
    messages: list[StaffMessageOut]


# --- delivery state (administrators) -------------------------------------------------------------


def _delivery(row) -> dict:
    return {k: getattr(row, k) for k in DeliveryOut.model_fields}


@bp.get("/notifications/deliveries")
@bp.auth_required(staff_auth)
@requires("notifications.admin")
@bp.input(DeliveryQuery, location="query")
@bp.output(DeliveryPage)
def list_deliveries(query_data: DeliveryQuery):
    """通知与部门推送的投递记录（可按状态、渠道、事件、对象筛选）"""
    rows, total = deliveries.list_deliveries(
        db.session, staff=current_staff(), status=query_data.status,
        channel=query_data.channel, event=query_data.event, target=query_data.target,
        page=query_data.page, per_page=query_data.per_page)
    return {"total": total, "page": query_data.page, "per_page": query_data.per_page,
            "deliveries": [_delivery(r) for r in rows]}


@bp.get("/notifications/summary")
@bp.auth_required(staff_auth)
@requires("notifications.admin")
@bp.output(DeliverySummary)
def delivery_summary():
    """投递概况：各渠道各状态条数、积压时长、省电子证照库是否配置"""
    return deliveries.summary(db.session, staff=current_staff(),
                              library_configured=bool(_settings().ELICENSE_LIBRARY_URL))


@bp.get("/notifications/deliveries/<int:delivery_id>")
@bp.auth_required(staff_auth)
@requires("notifications.admin")
@bp.output(DeliveryOut)
@bp.doc(responses={404: "DELIVERY_NOT_FOUND"})
def get_delivery(delivery_id: int):
    """一条投递记录"""
    return _delivery(deliveries.get(db.session, staff=current_staff(), delivery_id=delivery_id))


@bp.post("/notifications/deliveries/<int:delivery_id>/replay")
@bp.auth_required(staff_auth)
@requires("notifications.admin")
@bp.input(ReplayIn)
@bp.output(DeliveryOut)
@bp.doc(responses={404: "DELIVERY_NOT_FOUND",
                   409: "DELIVERY_NOT_REPLAYABLE / DELIVERY_MAY_HAVE_ARRIVED",
                   422: "DELIVERY_NOTHING_TO_SEND"})
def replay_delivery(delivery_id: int, json_data: ReplayIn):
    """重发一条未送达（拒绝、跳过、失败、不确定）的投递"""
    row = deliveries.replay(db.session, staff=current_staff(), delivery_id=delivery_id,
                       accept_duplicate_risk=json_data.accept_duplicate_risk)
    db.session.commit()
    return _delivery(row)


# --- department endpoints (administrators) and the pull feed (departments) -----------------------


@bp.get("/notifications/departments")
@bp.auth_required(staff_auth)
@requires("notifications.admin")
@bp.output(DepartmentList)
def list_departments():
    """监管部门及其推送配置"""
    return {"departments": departments.list_endpoints(db.session, staff=current_staff())}


@bp.put("/notifications/departments/<code>")
@bp.auth_required(staff_auth)
@requires("notifications.admin")
@bp.input(DepartmentIn)
@bp.output(DepartmentConfigured)
@bp.doc(responses={404: "DEPARTMENT_NOT_FOUND",
                   422: "DEPARTMENT_URL_INVALID, DEPARTMENT_URL_FORBIDDEN, "
                        "DEPARTMENT_URL_UNRESOLVABLE"})
def configure_department(code: str, json_data: DepartmentIn):
    """配置监管部门的推送地址；首次配置或要求时生成签名密钥与 API Key（只显示这一次）"""
    settings = _settings()
    endpoint, issued = departments.configure(
        db.session, staff=current_staff(), code=code, url=json_data.url,
        active=json_data.active, rotate_secret=json_data.rotate_secret,
        rotate_api_key=json_data.rotate_api_key, secret_key=settings.SECRET_KEY,
        production=settings.APP_ENV == "production",
        allow_private=settings.WEBHOOK_ALLOW_PRIVATE)
    db.session.commit()
    names = departments.units(db.session)
    return {"code": code, "name": names[code], "configured": True, "url": endpoint.url,
            "active": endpoint.active, "updated_at": endpoint.updated_at,
            "updated_by": endpoint.updated_by, "secret": issued.get("secret"),
            "api_key": issued.get("api_key")}


@bp.get("/departments/feed")
@bp.auth_required(department_auth)
@bp.input(FeedQuery, location="query")
@bp.output(FeedPage)
@bp.doc(responses={401: "AUTH_REQUIRED（X-Api-Key 无效）"})
def department_feed(query_data: FeedQuery):
    """监管部门拉取本部门的审批记录（按游标续取；推送失败时用于补齐）"""
    department = department_auth.current_user
    rows, cursor, more = departments.feed(
        db.session, department=department, after=query_data.after, limit=query_data.limit,
        settle_seconds=_settings().NOTIFY_FEED_SETTLE_SECONDS)
    return {"department": department.department_code, "next_cursor": cursor, "has_more": more,
            "records": [{"cursor": r.id, "id": r.record_id, "event": r.event,
                         "created_at": r.created_at, "record": r.payload} for r in rows]}


# --- the staff member's own messages -------------------------------------------------------------


def _me() -> tuple[str, int]:
    return "staff", current_staff().id


def _staff_message(row) -> dict:
    return {"id": row.id, "event": row.event, "title": row.title, "body": row.body,
            "created_at": row.created_at, "read_at": row.read_at}


@bp.get("/messages")
@bp.auth_required(staff_auth)
@bp.input(StaffMessageQuery, location="query")
@bp.output(StaffMessageList)
def staff_messages(query_data: StaffMessageQuery):
    """我的站内消息（如每日超期事项清单）"""
    rows, total = inbox.list_messages(db.session, _me(), unread_only=query_data.unread_only,
                                      page=query_data.page, per_page=query_data.per_page)
    return {"unread": inbox.unread_count(db.session, _me()), "total": total,
            "messages": [_staff_message(r) for r in rows]}


@bp.post("/messages/<int:message_id>/read")
@bp.auth_required(staff_auth)
@bp.output(StaffMessageOut)
@bp.doc(responses={404: "MESSAGE_NOT_FOUND"})
def read_staff_message(message_id: int):
    """标记站内消息为已读"""
    row = inbox.mark_read(db.session, _me(), message_id)
    db.session.commit()
    return _staff_message(row)
