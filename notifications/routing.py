"""Fan-out of one domain event, inside the transaction of the state change that caused it.

- The applicant's in-app message (``InboxMessage``), keyed by the event's dedupe key: the
  applicant's view never depends on WeChat, a worker or Redis.
- The event's own outbox row becomes the WeChat delivery when ``templates.yaml`` gives the
  event a template (else it stays as the record of the event, channel ``none``).
- An in-app message for each staff member the event concerns, for the events listed under
  ``staff:`` in ``templates.yaml`` (e.g. a unit's reviewers, told of a rectification task).
- One ``DepartmentRecord`` and one webhook outbox row per item and supervising department,
  for the events listed under ``departments:`` in ``templates.yaml`` — data, so the license
  events (issued, changed, suspended, revoked …) plug in without code.

The context helpers here also serve the worker, which renders the WeChat values at send time
(so a fixed configuration applies to a replay).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.models import (
    Application,
    ApplicationItem,
    CatalogVersion,
    License,
    StaffAccount,
)
from backend.models.base import utcnow
from backend.models.notifications import DepartmentRecord, InboxMessage
from notifications import templates
from notifications.outbox import NONE, SKIPPED, WEBHOOK, WECHAT, OutboxMessage


def config() -> templates.MessageConfig:
    path = current_app.extensions["settings"].NOTIFY_TEMPLATES_PATH if has_app_context() else ""
    return templates.load(path)


def fan_out(session: Session, message: OutboxMessage) -> None:
    """Write what ``message`` owes to the applicant and the departments, in its transaction."""
    cfg = config()
    spec = cfg.events.get(message.event)
    applicant_id = message.payload.get("applicant_id")
    staff_spec = cfg.staff.get(message.event)
    context = context_for(session, message.event, message.payload, at=message.created_at
                          or utcnow()) if (spec and applicant_id) or staff_spec else {}
    if spec is not None and applicant_id:
        session.add(InboxMessage(
            recipient_kind="applicant", recipient_id=applicant_id,
            dedupe_key=message.dedupe_key, event=message.event,
            title=templates.render_text(spec.title, context)[:100],
            body=templates.render_text(spec.body, context)[:2000],
            page=templates.render_text(spec.page, context)[:200],
            application_id=message.payload.get("application_id")))
        message.target = f"applicant:{applicant_id}"
    if spec is not None and spec.wechat is not None and applicant_id:
        message.channel = WECHAT
    else:
        message.channel, message.status, message.error_class = NONE, SKIPPED, "no_channel"
        message.last_error = "该事件只写入站内消息" if spec else "该事件无需通知申请人"
    if staff_spec is not None:
        tell_staff(session, message, staff_spec, context)
    rule = cfg.departments.get(message.event)
    if rule is not None:
        for record in department_records(session, message, rule):
            push_to_department(session, record, aggregate=message.aggregate)


def tell_staff(session: Session, message: OutboxMessage, spec: templates.StaffSpec,
               context: dict[str, Any]) -> None:
    """One in-app message per active staff member ``spec`` names, keyed by the event's
    dedupe key and the recipient (written once, however often the event is replayed)."""
    query = select(StaffAccount).where(StaffAccount.active.is_(True),
                                       StaffAccount.role.in_(spec.roles))
    if spec.own_unit:
        query = query.where(StaffAccount.unit_code == message.payload.get("unit_code"))
    title = templates.render_text(spec.title, context)[:100]
    body = templates.render_text(spec.body, context)[:2000]
    for staff in session.scalars(query.order_by(StaffAccount.id)):
        session.add(InboxMessage(
            recipient_kind="staff", recipient_id=staff.id, event=message.event,
            dedupe_key=f"{message.dedupe_key}:staff:{staff.id}"[:200], title=title, body=body,
            page=None, application_id=message.payload.get("application_id")))


def push_to_department(session: Session, record: DepartmentRecord, *, aggregate: str,
                       ) -> OutboxMessage:
    """Keep a department record (the pull feed) and queue its webhook, in the caller's
    transaction; the record id is the idempotency id the department dedupes on."""
    session.add(record)
    delivery = OutboxMessage(event=record.event, aggregate=aggregate,
                             dedupe_key=f"webhook:{record.record_id}"[:200],
                             payload={"record_id": record.record_id}, channel=WEBHOOK,
                             target=record.department_code, due_at=utcnow())
    session.add(delivery)
    return delivery


# --- context: what the texts and template values are made of ---------------------------------


def context_for(session: Session, event: str, payload: dict[str, Any], *, at: datetime,
                ) -> dict[str, Any]:
    ctx: dict[str, Any] = dict(payload)
    ctx["at"] = at
    ctx["number"] = (payload.get("acceptance_number") or payload.get("submission_number")
                     or payload.get("license_no") or "")
    application = (session.get(Application, payload["application_id"])
                   if payload.get("application_id") else None)
    document = _document(session, application)
    industry_code = payload.get("industry_code") or (application.industry_code
                                                     if application else None)
    if not ctx.get("industry_name") and document and industry_code in document.industries:
        ctx["industry_name"] = document.industries[industry_code].name
    item_code = payload.get("item_code")
    if item_code and not ctx.get("item_name"):
        named = {i.get("item_code"): i.get("item_name") for i in payload.get("items") or []
                 if isinstance(i, dict)}
        ctx["item_name"] = named.get(item_code) or (
            document.permit_items[item_code].name
            if document and item_code in document.permit_items else item_code)
    if payload.get("date"):
        ctx["inspection_time"] = inspection_time(payload["date"], payload.get("window"))
        ctx["inspection_address"] = payload.get("address") or ""
    if isinstance(payload.get("valid_until"), str):
        ctx["valid_until"] = date.fromisoformat(payload["valid_until"])
    if application is not None and "license_id" not in ctx and event.startswith("license."):
        ctx["license_id"] = session.scalar(select(License.id).where(
            License.application_id == application.id))
    return ctx


def inspection_time(day: str | date, window: str | None) -> str:
    """``2026-11-27`` + ``09:00-11:00`` → ``2026年11月27日 09:00~11:00`` (WeChat's time type)."""
    day = date.fromisoformat(day) if isinstance(day, str) else day
    text = templates.as_text(day)
    if window:
        text += " " + window.replace("-", "~")
    return text


def _document(session: Session, application: Application | None):
    if application is None:
        return None
    from backend.services import catalog  # noqa: PLC0415 - services import this package

    return catalog.document_of(session.get(CatalogVersion, application.catalog_version_id))


# --- department records ------------------------------------------------------------------------


def department_records(session: Session, message: OutboxMessage,
                       rule: templates.DepartmentRule) -> list[DepartmentRecord]:
    """One record per item concerned and its supervising department (谁主管谁监管)."""
    payload = message.payload
    application = session.get(Application, payload.get("application_id") or 0)
    if application is None:
        return []
    document = _document(session, application)
    license_ = session.scalar(select(License).where(License.application_id == application.id))
    if rule.scope == "item":
        codes = [payload["item_code"]] if payload.get("item_code") else []
    else:
        codes = [i["item_code"] for i in payload.get("items") or []] or (
            [i.item_code for i in license_.items] if license_ else [])
    records = []
    for code in codes:
        spec = document.permit_items.get(code)
        licensed = next((i for i in license_.items if i.item_code == code), None
                        ) if license_ else None
        department = (licensed.supervising_unit if licensed else
                      spec.supervising_unit if spec else None)
        if department is None:
            continue
        record_id = f"{message.dedupe_key}:{department}:{code}"
        body = _record_body(session, record_id, message, rule, application, document,
                            license_, licensed, code, department)
        records.append(DepartmentRecord(department_code=department, record_id=record_id,
                                        event=message.event, payload=body))
    return records


def _unit(document, code: str | None) -> dict[str, str | None]:
    unit = document.units.get(code) if code else None
    return {"code": code, "name": unit.name if unit else None}


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _record_body(session: Session, record_id: str, message: OutboxMessage,
                 rule: templates.DepartmentRule, application: Application, document,
                 license_: License | None, licensed, item_code: str, department: str,
                 ) -> dict[str, Any]:
    """The approval record a department receives (webhook body and pull-feed entry)."""
    values = application.form_values or {}
    lane = session.scalar(select(ApplicationItem).where(
        ApplicationItem.application_id == application.id,
        ApplicationItem.item_code == item_code))
    spec = document.permit_items.get(item_code)
    industry = document.industries.get(application.industry_code)
    approving = (licensed.approving_unit if licensed else
                 lane.approving_unit if lane else spec.approving_unit if spec else None)
    return {
        "id": record_id,
        "event": message.event,
        "decision": rule.decision,
        "occurred_at": _iso(message.created_at or utcnow()),
        "department": _unit(document, department),
        "license_no": license_.license_no if license_ else None,
        "sub_license_no": licensed.sub_license_no if licensed else None,
        "identifier": licensed.identifier if licensed else None,  # the permit's 证照标识
        "holder": {"name": license_.holder_name if license_ else values.get("entity_name"),
                   "credit_code": license_.credit_code if license_ else values.get(
                       "credit_code")},
        "premises": license_.premises_address if license_ else _premises(values),
        "industry": {"code": application.industry_code,
                     "name": industry.name if industry else None},
        "item": {"code": item_code, "name": spec.name if spec else item_code,
                 "status": licensed.status if licensed else (lane.status if lane else None)},
        "approving_unit": _unit(document, approving),
        "acceptance_number": application.acceptance_number,
        "decided_at": _iso(lane.decided_at if lane else None),
        "issued_on": _iso(license_.issued_on if license_ else None),
        "valid_until": _iso((licensed.valid_until if licensed else None)
                            or (license_.valid_until if license_ else None)),
        "reason": message.payload.get("reason"),
    }


def _premises(values: dict[str, Any]) -> str | None:
    from backend.errors import DomainError  # noqa: PLC0415
    from backend.services import entity, licenses  # noqa: PLC0415

    address = values.get("premises_address")
    try:
        division = entity.division(values.get("premises_city_code"),
                                   values.get("premises_county_code"))
    except DomainError:
        return address
    return licenses.full_address(division, address or "")
