"""一证准营: issue the 行业综合许可证, and manage its life.

晋政办发〔2022〕90号 二（六）: one license in a province-wide format (行业类别、经营主体、经营场所、
许可项目、发证机关) whose QR covers every bundled permit; during the transition each original
permit is kept as an electronic sub-license. Every lifecycle step is audited on the
application's timeline and written to the outbox for the applicant and the supervising
departments (谁审批谁负责，谁主管谁监管).

License number rule (documented here once): ``{county code 6}{year 4}{industry no 2}{serial 6}
{check 1}`` — the premises' county (GB/T 2260), the issue year, the industry's two-digit
number in the catalog, six random digits (unique, so numbers cannot be enumerated in bulk)
and an ISO 7064 MOD 11-2 check character that catches a mistyped digit.

Validity rule: the shortest validity (in years) among the bundled permits that have one;
long-term when none has. A sub-license keeps its own permit's validity; a renewal (延续) of
the license renews every permit not revoked whose validity would end before the license's
new end, by its own validity from the day after its end (or today, if later), so no permit
is left expired under a valid license.

Each license and each bundled permit is also an electronic license (电子证照) with a 证照标识
and a national status: ``backend.services.elicenses``, kept in step here by every step that
changes the license (:func:`states` gives what each one's status is).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import Select, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, object_session, selectinload

from backend import clock, workflow
from backend.errors import Conflict, FieldsInvalid, NotFound, RuleViolation, Unavailable
from backend.identifiers import clean_text
from backend.models import (
    Applicant,
    Application,
    ApplicationEvent,
    License,
    LicenseChange,
    LicenseItem,
    LicenseRendition,
    StaffAccount,
)
from backend.models.base import utcnow
from backend.security import permissions, signatures
from backend.services import (
    applications,
    elicense_ids,
    elicense_library,
    elicenses,
    entity,
    notice,
    pages,
    timeline,
    twins,
    window,
)
from media import render
from media.seal import SealError, signing_time

if TYPE_CHECKING:
    from media.seal import Sealer

ACTIVE, SUSPENDED, REVOKED, CANCELLED = "active", "suspended", "revoked", "cancelled"
ITEM_STATUS_LABELS = {ACTIVE: "有效", SUSPENDED: "已暂停", REVOKED: "已吊销"}
# a bundled permit's state as a scan shows it (item_verdict): its unit's decision, then the
# combined license's; "void": it lost effect with the combined license
ITEM_VERDICT_LABELS = {"valid": "有效", "suspended": "已暂停", "revoked": "已吊销",
                       "cancelled": "已注销", "expired": "已过期", "void": "已失效"}
INSPECTION_OUTCOME_LABELS = {"passed": "通过", "failed": "未通过"}
CHANGEABLE = {"holder_name": "经营主体名称", "premises_address": "经营场所",
              "legal_rep_name": "法定代表人（负责人）"}
RENEWAL_WINDOW_DAYS = 90
REQUEST_LABELS = {"change": "变更", "renewal": "延续", "replacement": "补发", "cancel": "注销"}
REQUEST_STATUS_LABELS = {"pending": "待审核", "approved": "已同意", "refused": "不予同意"}
# The one table of which holder requests each state of the license allows (the state is its
# verdict, so an item's loss counts as the scan shows it). Checked when the holder asks and
# again when staff approve, so a license revoked while a request waits is never re-issued.
# - suspended (a required item): only 注销; a new face or copy must not circulate meanwhile.
# - expired: only 注销; 延续 must be asked before expiry (行政许可法 第五十条), after it the
#   holder applies anew.
# - revoked / cancelled: nothing; the license is void (行政许可法 第七十条: 注销 is then the
#   authority's own step).
REQUESTS_BY_STATE: dict[str, frozenset[str]] = {
    "valid": frozenset(REQUEST_LABELS),
    "suspended": frozenset({"cancel"}),
    "expired": frozenset({"cancel"}),
    "revoked": frozenset(),
    "cancelled": frozenset(),
}
CHANGED = "changed_licenses"  # session.info key: licenses whose cached verdicts must go


def add_years(day: date, years: int) -> date:
    """The day before the same date ``years`` later (a 5-year permit from 2026-11-25 runs to
    2031-11-24); 29 February falls back to 28 February."""
    try:
        same = day.replace(year=day.year + years)
    except ValueError:
        same = day.replace(year=day.year + years, day=28)
    return same - timedelta(days=1)


def check_character(digits: str) -> str:
    """ISO 7064 MOD 11-2, as the ID-card number uses."""
    total = sum(int(d) * pow(2, len(digits) - i, 11) for i, d in enumerate(digits))
    return "0123456789X"[(12 - total % 11) % 11]


def full_address(division: entity.Division, address: str) -> str:
    """The address with province, city and county once, however much the applicant typed."""
    rest = address.removeprefix(division.province_name)
    for prefix in (division.city_name, division.county_name):
        rest = rest.removeprefix(prefix)
    return f"{division.province_name}{division.city_name}{division.county_name}{rest}"


def _new_number(session: Session, county: str, year: int, industry_no: int) -> str:
    for _ in range(20):
        body = f"{county}{year}{industry_no:02d}{secrets.randbelow(10**6):06d}"
        number = body + check_character(body)
        if session.scalar(select(License.id).where(License.license_no == number)) is None:
            return number
    raise Conflict("LICENSE_NUMBER_EXHAUSTED", "证号生成失败，请重试")


def issue(session: Session, *, staff: StaffAccount, application_id: int,
          today: date | None = None, version: int | None = None) -> tuple[License, bool]:
    """Issue the license of an approved application; again → the same license (idempotent).
    ``version``: the application's version the clerk saw (a stale page is 409)."""
    permissions.require(staff, "license.issue")
    application = window.get_for_staff(session, staff, application_id)
    existing = of_application(session, application)
    if existing is not None:
        return existing, False
    window.check_version(application, version)
    step = workflow.transition(application.status, workflow.Action.ISSUE, role=staff.role)
    today = today or clock.today()
    bundle = applications.bundle_of(session, application)
    document = bundle.document
    industry = document.industries[application.industry_code]
    values = application.form_values
    division = premises_division(application)
    approved = [i for i in application.items if i.status == workflow.ItemState.APPROVED]
    essential = notice.essential_items(document, application.industry_code, application.answers)
    years = [document.permit_items[i.item_code].validity_years for i in approved]
    shortest = min((y for y in years if y), default=None)
    license_ = License(
        application_id=application.id,
        license_no=_new_number(session, division.county_code, today.year,
                               list(document.industries).index(application.industry_code) + 1),
        industry_code=application.industry_code, industry_name=industry.name,
        industry_category=industry.category, holder_name=values["entity_name"],
        credit_code=values["credit_code"],
        premises_address=full_address(division, values["premises_address"]),
        county_code=division.county_code,
        issuing_authority=issuing_authority(division),
        issued_on=today, valid_until=add_years(today, shortest) if shortest else None,
    )
    for n, item in enumerate(approved, start=1):
        spec = document.permit_items[item.item_code]
        license_.items.append(LicenseItem(
            item_code=item.item_code, item_name=spec.name,
            sub_license_no=f"{license_.license_no}-{n:02d}",
            approving_unit=item.approving_unit, supervising_unit=spec.supervising_unit,
            required=item.item_code in essential,
            valid_until=add_years(today, spec.validity_years) if spec.validity_years else None))
    session.add(license_)
    try:
        session.flush()
    except IntegrityError:  # a concurrent issue won the unique application_id
        session.rollback()
        return session.scalars(select(License).where(
            License.application_id == application_id)).one(), False
    issued = elicenses.issue(session, license_, states(license_, today), today=today)
    elicenses.link(issued, timeline.fire(
        session, application, application, step, actor=staff,
        message=f"核发行业综合许可证，证号 {license_.license_no}", data=_event_data(license_)))
    elicense_library.queue(session, issued)  # the library gets the license and each permit
    return license_, True


def of_application(session: Session, application: Application) -> License | None:
    """The license issued on ``application`` (None before it is issued)."""
    return session.scalar(select(License).where(License.application_id == application.id))


def premises_division(application: Application) -> entity.Division:
    values = application.form_values
    return entity.division(values["premises_city_code"], values["premises_county_code"])


def issuing_authority(division: entity.Division) -> str:
    """The county's approval service bureau: it issues the license and the window's notices."""
    return f"{division.city_name}{division.county_name}行政审批服务管理局"


def _event_data(license_: License, **extra: Any) -> dict[str, Any]:
    return {"license_no": license_.license_no, "license_version": license_.version,
            "holder_name": license_.holder_name, "premises_address": license_.premises_address,
            "valid_until": license_.valid_until.isoformat() if license_.valid_until else None,
            "identifier": license_.identifier,
            "items": [{"item_code": i.item_code, "item_name": i.item_name,
                       "sub_license_no": i.sub_license_no, "identifier": i.identifier,
                       "status": i.status, "supervising_unit": i.supervising_unit}
                      for i in license_.items],
            **extra}


def verdict(license_: License | PublicLicense, today: date | None = None
            ) -> tuple[str, str, str]:
    """(code, 中文 verdict, reason) as a scan shows it, from the license's current state."""
    today = today or clock.today()
    if license_.status == CANCELLED:
        return "cancelled", "已注销", license_.status_reason or "经营者已申请注销"
    if license_.status == REVOKED:
        return "revoked", "已吊销", license_.status_reason or "许可证已被吊销"
    lost = [i for i in license_.items if i.required and i.status != ACTIVE]
    if any(i.status == REVOKED for i in lost):
        return "revoked", "已吊销", "必备许可事项已被吊销：" + "、".join(
            i.item_name for i in lost)
    if lost:
        return "suspended", "已暂停", "必备许可事项已暂停：" + "、".join(i.item_name for i in lost)
    if license_.valid_until is not None and license_.valid_until < today:
        return "expired", "已过期", f"有效期至 {license_.valid_until:%Y年%m月%d日}"
    return "valid", "有效", ""


def item_verdict(item: LicenseItem | PublicItem, license_verdict: str,
                 today: date | None = None) -> tuple[str, str, str]:
    """(code, 中文 verdict, reason) of a bundled permit as a scan shows it, given the combined
    license's verdict code: the propagation rules, downward.

    Its own revocation first; then the combined license cancelled (every permit 注销) or
    revoked (every other permit void, 失效); its own suspension or the license's (every
    permit suspended with it); its own validity. An expired combined license does not
    expire a permit with a longer validity of its own. Upward, :func:`verdict` reads the
    permits (an essential permit suspended or revoked suspends or revokes the license)."""
    today = today or clock.today()
    if item.status == REVOKED:
        return "revoked", "已吊销", item.status_reason or "该事项已被吊销"
    if license_verdict == "cancelled":
        return "cancelled", "已注销", "行业综合许可证已注销，本事项随之注销"
    if license_verdict == "revoked":
        return "void", "已失效", "行业综合许可证已吊销，本事项随之失效"
    if item.status == SUSPENDED:
        return "suspended", "已暂停", item.status_reason or "该事项已被暂停"
    if license_verdict == "suspended":
        return "suspended", "已暂停", "行业综合许可证已暂停，本事项随之暂停"
    if item.valid_until is not None and item.valid_until < today:
        return "expired", "已过期", f"有效期至 {item.valid_until:%Y年%m月%d日}"
    return "valid", "有效", ""


def states(license_: License, today: date | None = None) -> dict[str, tuple[str, str, str]]:
    """The verdict of the combined license (key ``elicenses.COMBINED``) and of each bundled
    permit (its item code): what their national statuses follow."""
    whole = verdict(license_, today)
    return {elicenses.COMBINED: whole} | {
        i.item_code: item_verdict(i, whole[0], today) for i in license_.items}


def elicense_view(license_: License, item_code: str = elicenses.COMBINED
                  ) -> dict[str, Any] | None:
    """The e-license of the combined license (or of the permit ``item_code``) as holders and
    staff see it beside the license (``elicenses.view``); None if it has none."""
    elicense = elicenses.of_license(license_).get(item_code)
    return elicenses.view(elicense) if elicense is not None else None


def item_view(item: LicenseItem) -> dict[str, Any]:
    """A bundled permit as holders and staff see it (the public page shows less); units as
    ``{code, name}`` named by the catalog version the application was made under.
    ``status`` is its unit's decision, ``verdict`` its state as a scan shows it
    (:func:`item_verdict`), ``elicense`` its e-license (``elicenses.view``)."""
    session = object_session(item)
    document = applications.document_of(
        session, session.get(Application, item.license.application_id))
    code, label, reason = item_verdict(item, verdict(item.license)[0])
    return {"code": item.item_code, "name": item.item_name,
            "sub_license_no": item.sub_license_no,
            "approving_unit": document.unit_ref(item.approving_unit),
            "supervising_unit": document.unit_ref(item.supervising_unit),
            "required": item.required,
            "status": item.status, "status_label": ITEM_STATUS_LABELS[item.status],
            "status_reason": item.status_reason, "valid_until": item.valid_until,
            "verdict": code, "verdict_label": label, "verdict_reason": reason,
            "elicense": elicense_view(item.license, item.item_code)}


def get_own(session: Session, *, applicant: Applicant, license_id: int) -> License:
    license_ = session.get(License, license_id)
    if license_ is None or session.get(Application, license_.application_id
                                       ).applicant_id != applicant.id:
        raise NotFound("LICENSE_NOT_FOUND", "许可证不存在", {"license_id": license_id})
    return license_


def list_own(session: Session, *, applicant: Applicant) -> list[License]:
    return list(session.scalars(select(License).join(Application)
                                .where(Application.applicant_id == applicant.id)
                                .order_by(License.id.desc())))


def get_for_staff(session: Session, *, staff: StaffAccount, license_id: int) -> License:
    """A license as staff reach it by id: the object rule of its application
    (``window.staff_may_see``) — a unit sees the licenses with one of its items, an
    inspector those whose inspection they were on. Anything else is 404 like a missing id."""
    permissions.require(staff, "license.view")
    license_ = session.get(License, license_id)
    if license_ is None or not window.staff_may_see(
            session, staff, session.get(Application, license_.application_id)):
        raise NotFound("LICENSE_NOT_FOUND", "许可证不存在", {"license_id": license_id})
    return license_


def search(session: Session, *, staff: StaffAccount, q: str, page: int, per_page: int
           ) -> tuple[list[License], int]:
    """Licenses whose number, unified social credit code or holder name starts with ``q``
    (each an indexed column), among those ``staff`` may open (:func:`get_for_staff`'s rule,
    ``window.visible_to``); newest first.

    A ``q`` written as a 证照标识 (``1.2.156…``) finds the license holding that e-license, by
    its current or an earlier version's identifier; a malformed one is 422
    ``ELICENSE_ID_INVALID`` naming ``q`` with the identifier's own code
    (``elicense_ids.PROBLEMS``: a wrong check character, root or length)."""
    permissions.require(staff, "license.view")
    needle = clean_text(q)
    query = (select(License).join(Application, Application.id == License.application_id)
             .where(window.visible_to(staff)))
    query = query.options(selectinload(License.elicenses))  # each row shows its 证照标识
    if elicense_ids.looks_like(needle):
        try:
            found = elicenses.find(session, needle)
        except elicense_ids.IdentifierInvalid as error:
            raise error.as_field("q") from None
        query = query.where(License.id == (found[0].license_id if found else None))
    elif needle:
        query = query.where(or_(License.license_no.startswith(needle.upper(), autoescape=True),
                                License.credit_code.startswith(needle.upper(), autoescape=True),
                                License.holder_name.startswith(needle, autoescape=True)))
    return pages.page(session, query, License.id.desc(), page=page, per_page=per_page)


@dataclass(frozen=True)
class History:
    """A license's history as staff read it: ``events``, the ``license.*`` steps of its
    application's timeline; ``elicense_events``, what each of its e-licenses went through
    (``elicenses.history``: national operation and status codes, identifiers); oldest first."""

    license: License
    events: list[ApplicationEvent]
    elicense_events: list[dict[str, Any]]


def history(session: Session, *, staff: StaffAccount, license_id: int) -> History:
    """The license (as :func:`get_for_staff`) and its history (:class:`History`)."""
    license_ = get_for_staff(session, staff=staff, license_id=license_id)
    events = session.scalars(select(ApplicationEvent).where(
        ApplicationEvent.application_id == license_.application_id,
        ApplicationEvent.action.startswith("license.")).order_by(ApplicationEvent.id))
    return History(license_, list(events), elicenses.history(license_))


def by_number(session: Session, license_no: str) -> License | None:
    if not plausible_number(license_no):
        return None
    # with its items, e-licenses and inspection in the same query: one round trip
    return session.execute(select(License).options(
        joinedload(License.items), joinedload(License.elicenses),
        joinedload(License.inspection)).where(License.license_no == license_no)
    ).unique().scalar_one_or_none()


def plausible_number(license_no: str) -> bool:
    """Whether ``license_no`` can be a license number at all (not worth a query when not)."""
    return license_no.isalnum() and len(license_no) <= 32


@dataclass(frozen=True)
class PublicItem:
    item_code: str
    item_name: str
    status: str
    status_reason: str | None
    required: bool
    valid_until: date | None
    identifier: str | None  # 证照标识 of its e-license


@dataclass(frozen=True)
class PublicLicense:
    """What a public scan reads of a license: its verdict (``verdict``) and the fields the
    public page shows (``verification.public_view``), as plain values, kept for each license
    as its public record (``public_records``)."""

    license_no: str
    version: int
    status: str
    status_reason: str | None
    industry_category: str
    industry_name: str
    holder_name: str
    premises_address: str
    issuing_authority: str
    issued_on: date
    valid_until: date | None
    identifier: str | None  # 证照标识 of the combined license
    inspected_on: date | None  # the joint inspection's conclusion, if there was one
    inspection_outcome: str | None
    items: tuple[PublicItem, ...]


def _ensure_live(license_: License) -> None:
    if license_.status != ACTIVE:
        raise Conflict("LICENSE_NOT_ACTIVE", "许可证已注销或吊销，不能办理此业务",
                       {"status": license_.status})


def _touch(session: Session, license_: License) -> None:
    session.info.setdefault(CHANGED, {})[license_.license_no] = license_.version


def _record(session: Session, license_: License, *, actor, action: str, message: str,
            reason: str | None = None, item_code: str | None = None,
            changed: list[elicenses.ElicenseEvent] | None = None) -> None:
    """A step of the license's life: on the timeline and in the outbox, with every e-license
    whose status it changes brought to its new national status (``changed``: e-license
    events the step already wrote), all linked to the timeline's event."""
    _touch(session, license_)
    changed = [*(changed or []), *elicenses.sync(license_, states(license_), reason=reason)]
    application = session.get(Application, license_.application_id)
    elicenses.link(changed, timeline.record(
        session, application, actor=actor, action=action, message=message, reason=reason,
        item_code=item_code, notify=True, data=_event_data(license_)))
    elicense_library.queue(session, changed)


def _new_version(session: Session, license_: License) -> None:
    """A change of the face: the next version, rendered and sealed anew on first request
    (until then its e-licenses name no seal)."""
    license_.version += 1
    elicenses.sealed(session, license_, at=None, by=None)


def ensure_allows(license_: License, kind: str, today: date) -> None:
    """Refuse a holder request (``REQUEST_LABELS`` kind) the license's state does not allow
    (``REQUESTS_BY_STATE``): 409 LICENSE_NOT_ACTIVE, details ``{status, kind}``."""
    state, label, _ = verdict(license_, today)
    if kind not in REQUESTS_BY_STATE[state]:
        raise Conflict("LICENSE_NOT_ACTIVE",
                       f"许可证{label}，不能办理{REQUEST_LABELS[kind]}", {"status": state,
                                                                      "kind": kind})


def cancel(session: Session, *, applicant: Applicant, license_id: int, reason: str) -> License:
    """注销 at the holder's request: every scan shows it at once."""
    license_ = get_own(session, applicant=applicant, license_id=license_id)
    ensure_allows(license_, "cancel", clock.today())
    license_.status, license_.status_reason = CANCELLED, reason
    _record(session, license_, actor=applicant, action="license.cancelled",
            message=f"申请注销行业综合许可证：{reason}", reason=reason)
    return license_


ITEM_ACTIONS = {"suspend": (SUSPENDED, "license.item_suspended", "暂停"),
                "revoke": (REVOKED, "license.item_revoked", "吊销"),
                "restore": (ACTIVE, "license.item_restored", "恢复")}


def may_change_item(staff: StaffAccount, item: LicenseItem) -> bool:
    """Whether ``staff`` may suspend, revoke or restore ``item``: a unit reviewer, for the
    items its own unit approved (谁审批谁负责). The one rule :func:`set_item_status` applies
    and the license page asks to show the forms."""
    return (permissions.allowed(staff.role, "license.item_status")
            and item.approving_unit == staff.unit_code)


def changeable_items(staff: StaffAccount, license_: License) -> set[str]:
    """The codes of the license's items ``staff`` may change (:func:`may_change_item`)."""
    return {i.item_code for i in license_.items if may_change_item(staff, i)}


def set_item_status(session: Session, *, staff: StaffAccount, license_id: int, item_code: str,
                    action: str, reason: str, version: int | None) -> License:
    """A unit suspends, revokes or restores ITS item; losing a required item voids the license."""
    permissions.require(staff, "license.item_status")
    license_ = get_for_staff(session, staff=staff, license_id=license_id)
    window.check_version(license_, version)
    _ensure_live(license_)
    item = next((i for i in license_.items if i.item_code == item_code
                 and may_change_item(staff, i)), None)
    if item is None:
        raise NotFound("LICENSE_ITEM_NOT_FOUND", "该许可证没有本单位的此事项",
                       {"item_code": item_code})
    change_item(session, license_, item, action=action, reason=reason, actor=staff)
    return license_


def change_item(session: Session, license_: License, item: LicenseItem, *, action: str,
                reason: str, actor) -> None:
    """Suspend, revoke or restore one item of a live license (``ITEM_ACTIONS``) and propagate
    it: the license's verdict, its e-licenses' national status (queued for the library), the
    timeline and the outbox; the next scan shows it. 409 STATE_CONFLICT when the item is
    revoked already or in the target state. Callers check who may (``set_item_status``, or
    a failed post-check of a commitment: ``services.commitments``)."""
    target, event, verb = ITEM_ACTIONS[action]
    if item.status == REVOKED or item.status == target:
        raise Conflict("STATE_CONFLICT", f"该事项当前为“{ITEM_STATUS_LABELS[item.status]}”，"
                       f"不能{verb}", {"status": item.status})
    item.status, item.status_reason = target, reason
    license_.updated_at = utcnow()
    _record(session, license_, actor=actor, action=event, item_code=item.item_code,
            message=f"{item.item_name}：{verb}（{reason}）", reason=reason)


def request(session: Session, *, applicant: Applicant, license_id: int, kind: str,
            changes: dict[str, str], reason: str, today: date | None = None) -> LicenseChange:
    """变更 (reviewed by every unit with an item), 延续 or 补发 (decided by the window)."""
    license_ = get_own(session, applicant=applicant, license_id=license_id)
    today = today or clock.today()
    ensure_allows(license_, kind, today)
    if any(c.status == "pending" for c in license_.changes):
        raise Conflict("LICENSE_REQUEST_PENDING", "已有待处理的申请，请等待办理结果")
    if kind == "change":
        # typed like the form's shared fields: pasted invisible marks never reach the face
        changes = {field: clean_text(value) for field, value in changes.items()}
        problems = {f"changes.{f}": {"code": "FIELD_UNKNOWN", "message": "此项不可变更"}
                    for f in changes if f not in CHANGEABLE}
        problems |= {f"changes.{f}": {"code": "FIELD_REQUIRED", "message": f"请填写新的{label}"}
                     for f, label in CHANGEABLE.items() if f in changes and not changes[f]}
        if not changes:
            problems["changes"] = {"code": "FIELD_REQUIRED", "message": "请填写要变更的事项"}
        if problems:
            raise FieldsInvalid("LICENSE_CHANGE_INVALID", problems, lead="可变更的事项：" +
                                "、".join(CHANGEABLE.values()) + "。")
    elif kind == "renewal":
        if license_.valid_until is None:
            raise RuleViolation("LICENSE_LONG_TERM", "长期有效的许可证无需延续")
        if (license_.valid_until - today).days > RENEWAL_WINDOW_DAYS:
            raise RuleViolation("LICENSE_RENEWAL_TOO_EARLY",
                                f"请在有效期届满前 {RENEWAL_WINDOW_DAYS} 日内申请延续")
    units = sorted({i.approving_unit for i in license_.items if i.status == ACTIVE})
    change = LicenseChange(kind=kind, changes=changes, reason=reason,
                           unit_decisions=dict.fromkeys(units) if kind == "change" else {})
    license_.changes.append(change)
    label = f"申请{REQUEST_LABELS[kind]}"
    _record(session, license_, actor=applicant, action=f"license.{kind}_requested",
            message=f"{label}：{reason}" if reason else label, reason=reason)
    return change


def decide(session: Session, *, staff: StaffAccount, change_id: int, approve: bool,
           opinion: str, version: int | None, today: date | None = None) -> LicenseChange:
    """A unit's review of a change, or the window's decision on a renewal or replacement.

    Only a request waiting for ``staff`` (``waits_for``) is found; any other is 404 like a
    missing id, before its version is compared."""
    permissions.require(staff, "license.handle_requests")
    change = session.get(LicenseChange, change_id)
    if change is None or not waits_for(staff, change):
        raise NotFound("LICENSE_REQUEST_NOT_FOUND", "待处理的申请不存在", {"id": change_id})
    window.check_version(change, version)
    license_ = change.license
    if approve:  # expiry as of the request: one asked in time is decided after (第五十条)
        ensure_allows(license_, change.kind, change.created_at.astimezone(clock.CHINA).date())
    if change.kind == "change":
        change.unit_decisions = change.unit_decisions | {staff.unit_code: {
            "decision": "approved" if approve else "refused", "by": staff.id,
            "opinion": opinion}}
        if approve and any(d is None for d in change.unit_decisions.values()):
            return change  # the other units have yet to review
    change.status, change.decided_at = ("approved" if approve else "refused"), utcnow()
    if not approve:
        _record(session, license_, actor=staff, action=f"license.{change.kind}_refused",
                message=f"申请未获批准：{opinion}", reason=opinion)
        return change
    _apply(session, license_, change, staff, today or clock.today())
    return change


def _apply(session: Session, license_: License, change: LicenseChange, staff: StaffAccount,
           today: date) -> None:
    """An approved change, renewal or replacement: the license's next face version and, for a
    change of what the e-licenses carry or a renewal, their next versions (09 变更, 02 延续)."""
    renewed: dict[str, date] = {}  # e-license → first day of its renewed validity
    if change.kind == "change":
        for field, value in change.changes.items():
            if field != "legal_rep_name":  # not on the face; kept on the timeline
                setattr(license_, field, value)
        message = "许可证变更：" + "；".join(f"{CHANGEABLE[k]}改为{v}"
                                        for k, v in change.changes.items())
    elif change.kind == "renewal":
        renewed = _renew(session, license_, today)
        message = f"许可证延续，有效期至 {license_.valid_until:%Y年%m月%d日}"
    else:
        message = "许可证补发（原证作废，以新版为准）"
    _new_version(session, license_)
    versions: list[elicenses.ElicenseEvent] = []
    if renewed:
        versions = elicenses.new_version(session, license_, renewed, states(license_, today),
                                         operation="02", today=today, valid_from=renewed)
    elif change.kind == "change" and set(change.changes) - {"legal_rep_name"}:
        versions = elicenses.new_version(
            session, license_, [elicenses.COMBINED, *(i.item_code for i in license_.items
                                                     if i.status != REVOKED)],
            states(license_, today), operation="09", today=today)
    _record(session, license_, actor=staff, action={"change": "license.changed",
                                                     "renewal": "license.renewed",
                                                     "replacement": "license.replaced"}[
        change.kind], message=f"{message}（第 {license_.version} 版）", changed=versions)


def _renew(session: Session, license_: License, today: date) -> dict[str, date]:
    """延续: the license's validity from the day after its end (or today) for the shortest
    validity among its permits; every permit not revoked that would end before it renewed
    by its own validity. → ``{elicenses.COMBINED or item code: first day renewed}``."""
    application = session.get(Application, license_.application_id)
    document = applications.bundle_of(session, application).document
    years = {i.item_code: document.permit_items[i.item_code].validity_years
             for i in license_.items}
    start = max(license_.valid_until, today) + timedelta(days=1)
    license_.valid_until = add_years(start, min((y for y in years.values() if y), default=5))
    renewed = {elicenses.COMBINED: start}
    for item in license_.items:
        if (item.status != REVOKED and item.valid_until is not None and years[item.item_code]
                and item.valid_until < license_.valid_until):
            renewed[item.item_code] = max(item.valid_until, today) + timedelta(days=1)
            item.valid_until = add_years(renewed[item.item_code], years[item.item_code])
    return renewed


def record_expiries(session: Session, today: date | None = None) -> int:
    """The tick's sweep: every e-license still recorded 有效 whose validity has ended is
    brought to 05 失效 (operation 04 过期失效), with its license's other e-licenses as the
    rules say. → how many e-license events were written. Idempotent."""
    today = today or clock.today()
    written = 0
    for license_id in elicenses.expiring(session, today):
        license_ = session.get(License, license_id)
        expired = elicenses.sync(license_, states(license_, today), reason="有效期届满")
        elicense_library.queue(session, expired)
        written += len(expired)
    return written


def waits_for(staff: StaffAccount, change: LicenseChange) -> bool:
    """A pending change my unit has yet to review, or a pending renewal or replacement for
    the window to decide."""
    if change.status != "pending":
        return False
    if change.kind == "change":
        return (permissions.allowed(staff.role, "license.review_change")
                and change.unit_decisions.get(staff.unit_code, "absent") is None)
    return permissions.allowed(staff.role, "license.decide_request")


def pending_requests(session: Session, *, staff: StaffAccount) -> list[LicenseChange]:
    """What waits for me: changes my unit has not reviewed; renewals and replacements."""
    permissions.require(staff, "license.handle_requests")
    changes = session.scalars(select(LicenseChange).where(LicenseChange.status == "pending")
                              .order_by(LicenseChange.id))
    return [c for c in changes if waits_for(staff, c)]


SEAL_REASON = "行业综合许可证电子印章"  # the stated reason of the PDF's signature


def rendition(session: Session, license_: License, *, keyring, base_url: str, store,
              font_path: str | None, sealer: Sealer) -> LicenseRendition:
    """The face of the current version, rendered once and kept in the media store; its PDF
    sealed by ``sealer`` (media.seal.Sealer) as the issuing authority (SEAL_REASON).
    Unavailable (503 SEAL_UNAVAILABLE) while the seal cannot be applied (a timestamp or seal
    service down)."""
    existing = session.scalar(_rendition_of(license_))
    if existing is not None:
        return existing
    url = signatures.build_verify_url(base_url, license_.license_no, license_.version, keyring)
    face = render.LicenseFace(
        license_no=license_.license_no, version=license_.version,
        industry_category=license_.industry_category, industry_name=license_.industry_name,
        holder_name=license_.holder_name, credit_code=license_.credit_code,
        premises=license_.premises_address,
        items=[(i.item_name, f"电子证照 {i.sub_license_no}",
                f"有效期至 {render.chinese_date(i.valid_until)}" if i.valid_until else "长期有效")
               for i in license_.items],
        issuing_authority=license_.issuing_authority, issued_on=license_.issued_on,
        valid_until=license_.valid_until, verify_url=url)
    font = font_path or None
    pdf = render.render_sealable_pdf(face, font_path=font)
    try:
        sealed = sealer.seal(pdf.pdf, signer_name=license_.issuing_authority,
                             location=license_.issuing_authority, reason=SEAL_REASON,
                             box=pdf.seal_box)
    except SealError as error:  # nothing kept: the next view seals afresh
        raise Unavailable("SEAL_UNAVAILABLE", "电子印章服务暂不可用，请稍后重试",
                          headers={"Retry-After": "60"}) from error
    row = LicenseRendition(license_id=license_.id, version=license_.version,
                           png_sha256=store.put(render.render_png(face, font_path=font)),
                           pdf_sha256=store.put(sealed), verify_url=url)
    # two first views at once: the second finds the first (and the first's seal stands)
    row, made = twins.insert_or_find(session, row, _rendition_of(license_))
    if made:
        elicenses.sealed(session, license_, at=signing_time(sealed) or utcnow(),
                         by=license_.issuing_authority)
    return row


def face(session: Session, license_: License) -> LicenseRendition:
    """:func:`rendition` of the current version with the running app's keys, media store,
    font and seal (a view, a download, or the worker pushing it to the e-license library)."""
    extensions = current_app.extensions
    settings = extensions["settings"]
    return rendition(session, license_, keyring=extensions["license_keyring"],
                     base_url=settings.LICENSE_VERIFY_BASE_URL,
                     store=extensions["media_store"], font_path=settings.LICENSE_FONT_PATH,
                     sealer=extensions["license_sealer"])


def _rendition_of(license_: License) -> Select:
    return select(LicenseRendition).where(LicenseRendition.license_id == license_.id,
                                          LicenseRendition.version == license_.version)
