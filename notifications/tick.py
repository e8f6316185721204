"""The worker's periodic tick: timed messages and housekeeping, derived from database state.

Each job reads the current state and writes under a unique key, so running it twice — or in
two workers at once — adds nothing (a concurrent duplicate fails on the unique key and the
job simply runs again next tick). Timed messages are ordinary outbox rows plus in-app
messages (``outbox.enqueue``), created once their moment has come, so the in-app message and
the WeChat push appear together:

- inspection reminders, the day before the joint inspection (from NOTIFY_REMINDER_HOUR,
  Beijing time; not on the day the visit was (re)scheduled — that message just went out);
- license-expiry reminders, 30 days before the license's validity ends (again after each
  renewal, since the key carries the end date);
- the daily overdue list for staff: one in-app message per reviewer (their unit's overdue
  items and rectification tasks), per commissioner/coordinator (every overdue item) and per
  system administrator (every overdue rectification task);
- cleanup: expired tokens; uploaded files no row refers to, older than
  MEDIA_ORPHAN_GRACE_HOURS (an upload stores its bytes before its row commits).

Services do not commit: ``backend.worker.tick`` commits after each job.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from backend import workflow
from backend.clock import CHINA
from backend.models import (
    Application,
    ApplicationEvent,
    CatalogVersion,
    Inspection,
    License,
    StaffAccount,
)
from backend.models.base import Base
from backend.models.notifications import InboxMessage
from media.store import MediaStore
from notifications import outbox

EXPIRY_NOTICE_DAYS = 30


def _local(now: datetime) -> datetime:
    return now.astimezone(CHINA)


def _application_payload(application: Application) -> dict:
    return {"application_id": application.id, "applicant_id": application.applicant_id,
            "industry_code": application.industry_code,
            "submission_number": application.submission_number,
            "acceptance_number": application.acceptance_number}


def inspection_reminders(session: Session, *, now: datetime, hour: int) -> int:
    """Remind applicants the day before their joint inspection."""
    local = _local(now)
    if local.hour < hour:
        return 0
    tomorrow = local.date() + timedelta(days=1)
    added = 0
    for inspection in session.scalars(select(Inspection).where(
            Inspection.status == workflow.InspectionState.SCHEDULED,
            Inspection.scheduled_on == tomorrow)):
        key = f"inspection.reminder:{inspection.id}:{tomorrow.isoformat()}"
        if _exists(session, key) or _scheduled_today(session, inspection, local.date()):
            continue
        application = inspection.application
        outbox.enqueue(session, event="inspection.reminder",
                       aggregate=f"application:{application.id}", dedupe_key=key,
                       payload=_application_payload(application) | {
                           "date": tomorrow.isoformat(), "window": inspection.window,
                           "address": inspection.address, "inspection_id": inspection.id,
                           "message": f"明天联合现场核查：{inspection.window}，"
                                      f"{inspection.address}"})
        added += 1
    return added


def _scheduled_today(session: Session, inspection: Inspection, today: date) -> bool:
    last = session.scalar(select(func.max(ApplicationEvent.at)).where(
        ApplicationEvent.application_id == inspection.application_id,
        ApplicationEvent.action.in_(("inspection.scheduled", "inspection.rescheduled"))))
    return last is not None and _local(last).date() == today


def license_expiry_reminders(session: Session, *, now: datetime, hour: int,
                             days: int = EXPIRY_NOTICE_DAYS) -> int:
    """Remind holders ``days`` days before the license's validity ends."""
    local = _local(now)
    if local.hour < hour:
        return 0
    today = local.date()
    added = 0
    for license_ in session.scalars(select(License).where(
            License.status == "active", License.valid_until.is_not(None),
            License.valid_until >= today, License.valid_until <= today + timedelta(days=days))):
        key = f"license.expiring:{license_.id}:{license_.valid_until.isoformat()}"
        if _exists(session, key):
            continue
        application = session.get(Application, license_.application_id)
        outbox.enqueue(session, event="license.expiring",
                       aggregate=f"application:{application.id}", dedupe_key=key,
                       payload=_application_payload(application) | {
                           "license_id": license_.id, "license_no": license_.license_no,
                           "industry_name": license_.industry_name,
                           "valid_until": license_.valid_until.isoformat(),
                           "days_left": (license_.valid_until - today).days})
        added += 1
    return added


def _exists(session: Session, key: str) -> bool:
    return session.scalar(select(exists().where(outbox.OutboxMessage.dedupe_key == key)))


def overdue_digest(session: Session, *, now: datetime, hour: int) -> int:
    """Once a day: each reviewer's overdue items and rectification tasks (差评整改) of their
    unit; commissioners and coordinators get every overdue item, system administrators every
    overdue task. In-app messages for staff, one per person and day."""
    from backend.services import catalog, rectifications, time_limits  # noqa: PLC0415

    local = _local(now)
    if local.hour < hour:
        return 0
    today = local.date()
    tasks_by_unit: dict[str, list[str]] = defaultdict(list)
    for task, days_over in rectifications.overdue(session, today=today):
        application = task.application
        tasks_by_unit[task.unit_code].append(
            f"差评整改 {application.acceptance_number or application.submission_number}"
            f"（{task.due_on.month}月{task.due_on.day}日到期）超期 {days_over} 个工作日")
    by_unit: dict[str, list[str]] = defaultdict(list)
    for item, clock in time_limits.open_items(session, state="overdue", today=today):
        application = item.application
        document = catalog.document_of(session.get(CatalogVersion,
                                                   application.catalog_version_id))
        spec = document.permit_items.get(item.item_code)
        by_unit[item.approving_unit].append(
            f"{application.acceptance_number or application.id}"
            f"「{spec.name if spec else item.item_code}」超期 "
            f"{-(clock.remaining_working_days or 0)} 个工作日")
    if not by_unit and not tasks_by_unit:
        return 0
    every = [line for lines in by_unit.values() for line in lines]
    added = 0
    for staff in session.scalars(select(StaffAccount).where(StaffAccount.active.is_(True))):
        if staff.role == "unit_reviewer":
            unit = staff.unit_code or ""
            lines = by_unit.get(unit, []) + tasks_by_unit.get(unit, [])
        elif staff.role in {"window_commissioner", "inspection_coordinator"}:
            lines = every
        elif staff.role == "system_admin":
            lines = [line for lines in tasks_by_unit.values() for line in lines]
        else:
            continue
        key = f"staff.overdue:{today.isoformat()}:{staff.id}"
        if not lines or session.scalar(select(exists().where(InboxMessage.dedupe_key == key))):
            continue
        session.add(InboxMessage(
            recipient_kind="staff", recipient_id=staff.id, dedupe_key=key,
            event="staff.overdue_digest", title=f"超期未办结事项 {len(lines)} 件",
            body=(f"截至{today.year}年{today.month}月{today.day}日：" + "；".join(lines))[:2000],
            page=None))
        added += 1
    return added


def referenced_digests(session: Session) -> set[str]:
    """Every SHA-256 any table refers to: each column named ``sha256`` or ``*_sha256``, so
    tables added later (license renditions …) are covered without a change here."""
    digests: set[str] = set()
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if column.name == "sha256" or column.name.endswith("_sha256"):
                digests.update(session.scalars(select(column).where(column.is_not(None))
                                               .distinct()))
    return digests


def orphaned_uploads(session: Session, store: MediaStore, *, now: datetime,
                     grace: timedelta, limit: int = 500) -> int:
    """Delete stored files no row refers to once older than ``grace`` (abandoned partial
    writes of a local store go too); a file is re-checked against the database right before
    it goes. Local directory and bucket alike (``store.stale``)."""
    cutoff = (now - grace).timestamp()
    referenced = referenced_digests(session)
    removed = 0
    for digest in store.stale(cutoff):
        if removed >= limit:
            break
        if digest not in referenced and digest not in referenced_digests_of(session, digest):
            store.delete(digest)
            removed += 1
    return removed


def referenced_digests_of(session: Session, digest: str) -> set[str]:
    """``{digest}`` if any row refers to it now, else empty."""
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if (column.name == "sha256" or column.name.endswith("_sha256")) and session.scalar(
                    select(exists().where(column == digest))):
                return {digest}
    return set()
