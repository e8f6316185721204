"""The in-app message list and the WeChat subscribe-message quota the mini-program reports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from flask import request
from pydantic import BaseModel, Field, StringConstraints

from backend.api_types import Page, PerPage
from backend.extensions import db
from backend.services import idempotency, inbox, subscriptions
from miniprogram_api import bp
from miniprogram_api.auth import token_auth
from miniprogram_api.schemas import In
from notifications import routing


class MessageQuery(In):
    unread_only: bool = False
    page: Page = 1
    per_page: PerPage = 20


class MessageOut(BaseModel):
    id: int
    event: str = Field(description="事件，如 application.accepted、inspection.reminder")
    title: str
    body: str
    page: str | None = Field(description="点击后打开的小程序页面")
    application_id: int | None
    created_at: datetime
    read: bool
    read_at: datetime | None


class MessageList(BaseModel):
    unread: int = Field(description="未读消息数（角标）")
    total: int
    page: int
    per_page: int
    messages: list[MessageOut]


class UnreadOut(BaseModel):
    unread: int


class ReadAllOut(BaseModel):
    marked: int
    unread: int


class SubscriptionOut(BaseModel):
    name: str
    template_id: str = Field(description="传给 wx.requestSubscribeMessage 的 tmplIds")
    title: str
    events: list[str] = Field(description="使用该模板的事件")
    remaining: int = Field(description="还可发送的条数（每次“允许”加一条）")
    last_result: str | None


class SubscriptionList(BaseModel):
    templates: list[SubscriptionOut]


TemplateId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class SubscriptionReportIn(In):
    results: dict[TemplateId, Annotated[str, StringConstraints(max_length=64)]] = Field(
        max_length=10,
        description="wx.requestSubscribeMessage 的结果：{模板ID: accept|reject|ban|filter}"
                    "（最多 3 个；errMsg 可原样带上，会被忽略）")


def _me() -> tuple[str, int]:
    return "applicant", token_auth.current_user.id


def _message(row) -> dict:
    return {"id": row.id, "event": row.event, "title": row.title, "body": row.body,
            "page": row.page, "application_id": row.application_id,
            "created_at": row.created_at, "read": row.read_at is not None,
            "read_at": row.read_at}


@bp.get("/messages")
@bp.auth_required(token_auth)
@bp.input(MessageQuery, location="query")
@bp.output(MessageList)
def list_messages(query_data: MessageQuery):
    """我的消息（最新在前），附未读数"""
    rows, total = inbox.list_messages(db.session, _me(), unread_only=query_data.unread_only,
                                      page=query_data.page, per_page=query_data.per_page)
    return {"unread": inbox.unread_count(db.session, _me()), "total": total,
            "page": query_data.page, "per_page": query_data.per_page,
            "messages": [_message(r) for r in rows]}


@bp.get("/messages/unread-count")
@bp.auth_required(token_auth)
@bp.output(UnreadOut)
def unread_count():
    """未读消息数"""
    return {"unread": inbox.unread_count(db.session, _me())}


@bp.post("/messages/<int:message_id>/read")
@bp.auth_required(token_auth)
@bp.output(MessageOut)
@bp.doc(responses={404: "MESSAGE_NOT_FOUND"})
def read_message(message_id: int):
    """标记一条消息为已读（重复标记无副作用）"""
    row = inbox.mark_read(db.session, _me(), message_id)
    db.session.commit()
    return _message(row)


@bp.post("/messages/read-all")
@bp.auth_required(token_auth)
@bp.output(ReadAllOut)
def read_all_messages():
    """全部标记为已读"""
    marked = inbox.mark_all_read(db.session, _me())
    db.session.commit()
    return {"marked": marked, "unread": 0}


@bp.get("/subscriptions")
@bp.auth_required(token_auth)
@bp.output(SubscriptionList)
def list_subscriptions():
    """可订阅的消息模板及剩余可发送条数（小程序据此调用 wx.requestSubscribeMessage）"""
    return {"templates": subscriptions.overview(db.session, applicant=token_auth.current_user,
                                                config=routing.config())}


@bp.post("/subscriptions")
@bp.auth_required(token_auth)
@bp.input(SubscriptionReportIn)
@bp.doc(responses={200: "SubscriptionList", 422: "SUBSCRIPTION_INVALID"},
        security="BearerAuth")
def report_subscriptions(json_data: SubscriptionReportIn):
    """上报订阅结果：每个“允许”(accept) 可发送一条该模板的消息；可带 Idempotency-Key"""
    applicant = token_auth.current_user

    def action():
        subscriptions.report(db.session, applicant=applicant, results=json_data.results,
                             config=routing.config())
        db.session.flush()  # the quota is counted in SQL; the flush expires the counters
        body = SubscriptionList.model_validate({"templates": subscriptions.overview(
            db.session, applicant=applicant, config=routing.config())}).model_dump(mode="json")
        return body, 200

    return idempotency.run(db.session, scope=f"applicant:{applicant.id}:subscriptions",
                           key=request.headers.get("Idempotency-Key"),
                           payload=json_data.model_dump(), action=action)
