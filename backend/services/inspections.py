"""一同核查: ONE joint on-site inspection for every item that needs one.

晋政办发〔2022〕90号 二（五）: 多个事项一次核查、整改意见一口告知、整改情况一趟复审. The
coordinator schedules one visit with an inspector from each unit involved; the applicant may
ask once to reschedule; inspectors record per-item results with photos and confirm deferred
(容缺) materials on site; the outcome is pass, or ONE consolidated rectification notice and
ONE re-check (on site or by photos), then pass or fail. The clock pauses while the
applicant rectifies.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from enum import StrEnum
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import clock, workflow
from backend.errors import Conflict, FieldsInvalid, NotFound, RuleViolation
from backend.models import (
    Applicant,
    Application,
    Inspection,
    InspectionMember,
    InspectionResult,
    MaterialFile,
    StaffAccount,
)
from backend.security import permissions
from backend.services import (
    applications,
    calendar,
    commitments,
    inspection_documents,
    materials,
    pages,
    timeline,
    window,
)
from media.store import MediaStore

N = workflow.InspectionState
WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$", re.ASCII)
RESULTS = {"pass", "rectify", "fail"}
# How far ahead a visit may be set: the whole review runs on a promised limit of a few dozen
# working days, and a visit months away (or a typo such as 2099) would hold the case far past
# it; 90 calendar days covers any holiday season with room to spare.
SCHEDULE_MAX_DAYS_AHEAD = 90
# How long a rectification may be given: the items' clocks stop while the applicant rectifies
# (resume_clock), so a deadline years away (a typo such as 2029) would freeze the case; 60
# calendar days is room for building work such as fire-safety repairs.
RECTIFICATION_MAX_DAYS = 60


# an inspector's finding on an item, and how a rectification is checked again
RESULT_LABELS = {"pass": "符合要求", "rectify": "需整改", "fail": "不符合要求"}
RECHECK_MODES = {"onsite": "现场复核", "photos": "照片复核"}


def queue(session: Session, *, staff: StaffAccount, status: str | None, mine: bool, page: int,
          per_page: int, kind: str | None = None, overdue: bool = False,
          today: date | None = None) -> tuple[list[Inspection], int]:
    """Inspections to schedule (coordinator) or assigned to me (inspector); ``kind`` joint or
    post_check; ``overdue``: only post-checks past their due day and still open."""
    if mine:
        permissions.require(staff, "inspection.list_mine")
        query = select(Inspection).join(InspectionMember).where(
            InspectionMember.staff_id == staff.id)
    else:
        permissions.require(staff, "inspection.list_all")
        query = select(Inspection)
    if status:
        query = query.where(Inspection.status == status)
    if kind:
        query = query.where(Inspection.kind == kind)
    if overdue:
        query = query.where(Inspection.kind == commitments.POST_CHECK,
                            Inspection.status.in_(commitments.OPEN),
                            Inspection.due_on < (today or clock.today()))
    return pages.page(session, query, Inspection.scheduled_on, Inspection.id, page=page,
                      per_page=per_page)


def get_for_staff(session: Session, *, staff: StaffAccount, inspection_id: int) -> Inspection:
    """Coordinators see every inspection; an inspector only those they are on."""
    inspection = session.get(Inspection, inspection_id)
    visible = inspection is not None and (
        permissions.allowed(staff.role, "inspection.list_all")
        or (permissions.allowed(staff.role, "inspection.list_mine")
            and any(m.staff_id == staff.id for m in inspection.members)))
    if not visible:
        raise NotFound("INSPECTION_NOT_FOUND", "核查任务不存在", {"inspection_id": inspection_id})
    return inspection


def units_involved(inspection: Inspection) -> set[str]:
    application = inspection.application
    return {i.approving_unit for i in application.items if i.item_code in inspection.item_codes}


def schedule(session: Session, *, staff: StaffAccount, inspection_id: int, version: int | None,
             on: date, window_text: str, address: str, team: list[int],
             today: date | None = None) -> Inspection:
    """Set date, time window, address and a team covering every unit involved; again (the
    coordinator rescheduling) while nothing has been recorded on the visit."""
    permissions.require(staff, "inspection.schedule")
    inspection = get_for_staff(session, staff=staff, inspection_id=inspection_id)
    window.check_version(inspection, version)
    if inspection.status == N.SCHEDULED and not schedulable(inspection):
        raise RuleViolation("INSPECTION_RESULTS_RECORDED",
                            "已记录现场核查结果，不能再调整核查时间",
                            {"status": inspection.status})
    step = workflow.transition(inspection.status, workflow.Action.SCHEDULE, role=staff.role,
                               kind=states_of(inspection))
    today = today or clock.today()
    problems, uncovered = _schedule_problems(session, inspection, on, window_text, address,
                                             team, today)
    due = inspection.due_on  # a post-check: within the catalog's working days, unless late
    if "date" not in problems and due is not None and today <= due < on:
        problems["date"] = {"code": "POST_CHECK_AFTER_DUE",
                            "message": f"事后核查须在 {due:%Y年%m月%d日} 前完成"}
    if problems:
        raise FieldsInvalid("INSPECTION_SCHEDULE_INVALID", problems,
                            details={"uncovered_units": uncovered})
    members = [session.get(StaffAccount, i) for i in dict.fromkeys(team)]
    inspection.scheduled_on, inspection.window, inspection.address = on, window_text, address
    wanted = {m.id: m for m in members}
    for member in list(inspection.members):  # keep who stays: (inspection, staff) is unique
        if member.staff_id not in wanted:
            inspection.members.remove(member)
    present = {m.staff_id for m in inspection.members}
    inspection.members.extend(InspectionMember(staff_id=m.id, unit_code=m.unit_code)
                              for m in members if m.id not in present)
    timeline.fire(session, inspection.application, inspection, step, actor=staff,
                  item_code=inspection.item_codes[0]
                  if inspection.kind == commitments.POST_CHECK else None,
                  message=f"{step.label}：{on:%Y年%m月%d日} {window_text}，地点：{address}",
                  data={"date": on.isoformat(), "window": window_text, "address": address,
                        "team": [m.display_name for m in members]})
    return inspection


def states_of(inspection: Inspection) -> type[StrEnum]:
    """The state machine of ``inspection``: the joint visit's, or a post-check's."""
    if inspection.kind == commitments.POST_CHECK:
        return workflow.PostCheckState
    return N


def schedulable(inspection: Inspection) -> bool:
    """Whether the coordinator may (re)schedule it: to schedule, asked to reschedule, or
    scheduled with no result recorded yet."""
    if inspection.status == N.SCHEDULED:
        return not inspection.results
    return inspection.status in (N.TO_SCHEDULE, N.RESCHEDULE_REQUESTED)


def _schedule_problems(session: Session, inspection: Inspection, on: date, window_text: str,
                       address: str, team: list[int], today: date,
                       ) -> tuple[dict[str, dict[str, str]], list[dict[str, str]]]:
    """Problems by field path (``team.<i>`` a member who is no active inspector, ``team`` the
    units no valid member covers), and those units ({code, name})."""
    problems = {}
    if on < today:
        problems["date"] = {"code": "INSPECTION_DATE_PAST", "message": "核查日期不能早于今天"}
    elif on > today + timedelta(days=SCHEDULE_MAX_DAYS_AHEAD):
        problems["date"] = {"code": "INSPECTION_DATE_TOO_FAR",
                            "message": f"核查日期须在今后 {SCHEDULE_MAX_DAYS_AHEAD} 天以内"}
    elif not calendar.is_workday(session, on):
        problems["date"] = {"code": "INSPECTION_DATE_NOT_WORKDAY",
                            "message": "核查日期须为工作日"}
    match = WINDOW.match(window_text)
    if not match or match.group(1, 2) >= match.group(3, 4):
        problems["window"] = {"code": "INSPECTION_WINDOW_INVALID",
                              "message": "时间段格式应为 09:00-11:00，且开始早于结束"}
    if not address.strip():
        problems["address"] = {"code": "INSPECTION_ADDRESS_REQUIRED",
                               "message": "请填写核查地址"}
    inspectors = set()
    for index, staff_id in enumerate(team):
        member = session.get(StaffAccount, staff_id)
        if member is None or member.role != "inspector" or not member.active:
            problems[f"team.{index}"] = {"code": "TEAM_MEMBER_NOT_INSPECTOR",
                                         "message": f"第 {index + 1} 位成员不是在岗的现场核查人员"}
        else:
            inspectors.add(member.unit_code)
    units = applications.bundle_of(session, inspection.application).document.units
    uncovered = [{"code": code, "name": units[code].name}
                 for code in sorted(units_involved(inspection) - inspectors)]
    if uncovered:
        problems["team"] = {"code": "TEAM_UNITS_UNCOVERED",
                            "message": "核查组须包括每个相关单位的核查人员，还缺少："
                                       + "、".join(u["name"] for u in uncovered)}
    return problems, uncovered


def request_reschedule(session: Session, *, applicant: Applicant, application_id: int,
                       reason: str) -> Inspection:
    """The applicant — the owner or the authorised agent (受托人) — may ask ONCE for another
    date; a collaborator may not (403 COLLABORATOR_NOT_ALLOWED, ``applications.get_for``)."""
    application, actor = applications.get_for(session, applicant=applicant,
                                              application_id=application_id,
                                              need=applications.DECIDE)
    inspection = _inspection_of(application)
    if inspection.reschedule_used:
        raise RuleViolation("INSPECTION_RESCHEDULE_USED", "核查时间只能申请调整一次")
    step = workflow.transition(inspection.status, workflow.Action.REQUEST_RESCHEDULE,
                               role=workflow.APPLICANT, kind=N)
    inspection.reschedule_used, inspection.reschedule_reason = True, reason
    timeline.fire(session, application, inspection, step, actor=actor,
                  message=f"{step.label}：{reason}", reason=reason)
    return inspection


def _inspection_of(application: Application) -> Inspection:
    if application.inspection is None:
        raise NotFound("INSPECTION_NOT_FOUND", "该申请无需现场核查")
    return application.inspection


def recording_round(inspection: Inspection) -> int | None:
    """The round whose results inspectors record now: 1 on the visit, 2 on an on-site
    re-check; None when nothing is recorded on site (to schedule, rectifying, by photos, done)."""
    if inspection.status == N.SCHEDULED:
        return 1
    if inspection.status == N.RECHECK and inspection.recheck_mode == "onsite":
        return 2
    return None


def items_of_round(inspection: Inspection, round_: int) -> list[str]:
    """The visit checks every item; the re-check only the items given rectification."""
    if round_ == 1:
        return list(inspection.item_codes)
    return [r["item_code"] for r in inspection.rectification or []]


def record_result(session: Session, *, staff: StaffAccount, inspection_id: int, item_code: str,
                  result: str, notes: str, demands: list[str], photos: list[str],
                  confirmed_materials: list[str]) -> InspectionResult:
    """An inspector's finding for one item of their unit, in the visit or the on-site re-check."""
    permissions.require(staff, "inspection.record_result")
    inspection = get_for_staff(session, staff=staff, inspection_id=inspection_id)
    round_ = recording_round(inspection)
    if round_ is None:
        raise RuleViolation("INSPECTION_NOT_RECORDING", "当前核查状态不能记录结果",
                            {"status": inspection.status})
    application = inspection.application
    item = next((i for i in application.items if i.item_code == item_code
                 and item_code in inspection.item_codes), None)
    if item is None or item.approving_unit != staff.unit_code:
        raise NotFound("ITEM_NOT_FOUND", "本次核查中没有您所在单位的该事项",
                       {"item_code": item_code})
    problems = {}
    if result not in RESULTS:
        problems["result"] = {"code": "RESULT_INVALID", "message": "结果应为 pass、rectify 或 fail"}
    if result == "rectify" and not demands:
        problems["demands"] = {"code": "DEMANDS_REQUIRED",
                               "message": "需要整改的，请逐条写明整改要求"}
    if (wrong := commitments.result_problem(inspection, result)) is not None:
        problems["result"] = wrong
    if result == "pass" and demands:  # a pass demands nothing: the notice would carry them
        problems["demands"] = {"code": "DEMANDS_ON_PASS",
                               "message": "结果为“符合要求”的，不能提出整改要求"}
    unknown = set(confirmed_materials) - set(application.deferred_materials)
    if unknown:
        problems["confirmed_materials"] = {
            "code": "MATERIAL_NOT_DEFERRED",
            "message": "只能确认容缺受理的材料：" + "、".join(sorted(unknown))}
    held = {f.sha256 for f in application.files if f.material_code == "inspection_photo"}
    if set(photos) - held:
        problems["photos"] = {"code": "PHOTO_NOT_UPLOADED",
                              "message": "照片须先通过核查照片接口上传"}
    if problems:
        raise FieldsInvalid("INSPECTION_RESULT_INVALID", problems)
    row = session.scalar(select(InspectionResult).where(
        InspectionResult.inspection_id == inspection.id, InspectionResult.round == round_,
        InspectionResult.item_code == item_code))
    if row is None:
        row = InspectionResult(inspection_id=inspection.id, round=round_, item_code=item_code,
                               inspector_id=staff.id, result=result)
        inspection.results.append(row)
    row.result, row.notes, row.demands, row.photos = result, notes, demands, photos
    row.confirmed_materials, row.inspector_id = confirmed_materials, staff.id
    verdict = RESULT_LABELS[result]
    timeline.record(session, application, actor=staff, action="inspection.result_recorded",
                    item_code=item_code, message=f"现场核查记录（第 {round_} 轮）：{verdict}",
                    data={"round": round_, "result": result})
    return row


def conclude(session: Session, *, staff: StaffAccount, inspection_id: int, version: int | None,
             deadline: date | None, recheck_mode: str | None, today: date | None = None,
             ) -> Inspection:
    """Close the visit from the recorded results: pass, ONE rectification notice, or fail."""
    permissions.require(staff, "inspection.conclude")
    inspection = get_for_staff(session, staff=staff, inspection_id=inspection_id)
    window.check_version(inspection, version)
    round_ = recording_round(inspection)
    if round_ is None:
        raise Conflict("STATE_CONFLICT", f"当前状态为“{workflow.label(inspection.status, N)}”，"
                       "不能结束核查", {"status": inspection.status})
    results = _results_or_missing(inspection, round_)
    if inspection.kind == commitments.POST_CHECK:
        return commitments.conclude(session, inspection, staff, results)
    application = inspection.application
    verdicts = {r.result for r in results.values()}
    if "fail" in verdicts:
        return _fail(session, inspection, staff, [c for c, r in results.items()
                                                  if r.result == "fail"])
    if "rectify" in verdicts and round_ == 1:
        step = workflow.transition(inspection.status, workflow.Action.REQUIRE_RECTIFICATION,
                                   role=staff.role, kind=N)
        today = today or clock.today()
        problems = {}
        if deadline is None or deadline <= today:
            problems["deadline"] = {"code": "DEADLINE_INVALID",
                                    "message": "请设定晚于今天的整改期限"}
        elif deadline > today + timedelta(days=RECTIFICATION_MAX_DAYS):
            problems["deadline"] = {
                "code": "DEADLINE_TOO_FAR",
                "message": f"整改期限须在 {RECTIFICATION_MAX_DAYS} 天以内"}
        if recheck_mode not in RECHECK_MODES:
            problems["recheck_mode"] = {
                "code": "RECHECK_MODE_INVALID",
                "message": "请选择复核方式：现场复核或照片复核"}
        if problems:
            raise FieldsInvalid("RECTIFICATION_INVALID", problems)
        names = applications.bundle_of(session, application).document.permit_items
        inspection.rectification = [
            {"item_code": c, "item_name": names[c].name, "demands": r.demands, "notes": r.notes}
            for c, r in results.items() if r.result == "rectify"]
        inspection.rectification_deadline, inspection.recheck_mode = deadline, recheck_mode
        application.paused_since = today  # the applicant's time does not count
        notice = "；".join(f"{r['item_name']}：{'、'.join(r['demands'])}"
                          for r in inspection.rectification)
        timeline.fire(session, application, inspection, step, actor=staff,
                      message=f"整改意见（请于{deadline:%Y年%m月%d日}前完成）：{notice}",
                      data={"rectification": inspection.rectification,
                            "deadline": deadline.isoformat(), "recheck_mode": recheck_mode})
        inspection_documents.issue(session, inspection, staff=staff)
        return inspection
    if "rectify" in verdicts:  # a re-check still finding faults: only one re-check is allowed
        return _fail(session, inspection, staff, [c for c, r in results.items()
                                                  if r.result == "rectify"])
    unconfirmed = set(application.deferred_materials) - {
        m for r in inspection.results for m in r.confirmed_materials}
    if unconfirmed:
        raise RuleViolation("DEFERRED_MATERIALS_UNCONFIRMED", "容缺受理的材料尚未在现场确认",
                            {"materials": sorted(unconfirmed)})
    step = workflow.transition(inspection.status, workflow.Action.PASS, role=staff.role, kind=N)
    inspection.outcome, inspection.concluded_on = "passed", clock.today()
    timeline.fire(session, application, inspection, step, actor=staff)
    window.conclude_if_decided(session, application)
    return inspection


def _results_or_missing(inspection: Inspection, round_: int) -> dict[str, InspectionResult]:
    """This round's results; an on-site re-check covers only the rectified items."""
    wanted = items_of_round(inspection, round_)
    results = {r.item_code: r for r in inspection.results if r.round == round_}
    missing = [c for c in wanted if c not in results]
    if missing:
        raise RuleViolation("INSPECTION_RESULTS_MISSING", "以下事项尚未记录核查结果",
                            {"items": missing})
    return results


def _fail(session: Session, inspection: Inspection, staff: StaffAccount,
          failed: list[str]) -> Inspection:
    step = workflow.transition(inspection.status, workflow.Action.FAIL, role=staff.role, kind=N)
    inspection.outcome, inspection.concluded_on = "failed", clock.today()
    application = inspection.application
    timeline.fire(session, application, inspection, step, actor=staff,
                  message=f"{step.label}：" + "、".join(failed), data={"items": failed})
    for item in application.items:
        if item.item_code in failed and item.status == workflow.ItemState.UNDER_REVIEW:
            item_step = workflow.transition(item.status, workflow.Action.FAIL,
                                            role=workflow.SYSTEM, kind=workflow.ItemState)
            timeline.fire(session, application, item, item_step, actor=None,
                          item_code=item.item_code)
    return inspection


def ensure_rectifying(application: Application) -> None:
    """Evidence is accepted only while a rectification notice is open."""
    inspection = _inspection_of(application)
    if inspection.status != N.RECTIFYING:
        raise Conflict("STATE_CONFLICT", "当前没有待整改的核查意见",
                       {"status": inspection.status})


def add_evidence(session: Session, *, applicant: Applicant, application_id: int,
                 stream: BinaryIO, store: MediaStore, limits: materials.UploadLimits,
                 ) -> tuple[MaterialFile, bool]:
    """A photo showing the rectification, while the notice is open: the re-check judges
    photos, so a PDF is refused (UPLOAD_PHOTO_ONLY). Uploading is filling in: the owner and
    every active helper may (``applications.EDIT``); the timeline names who did."""
    application, actor = applications.get_for(session, applicant=applicant,
                                              application_id=application_id,
                                              need=applications.EDIT)
    ensure_rectifying(application)
    clean = materials.clean_upload(session, stream, limits, photos_only=True)
    return materials.store_file(session, application, material_code="rectification_evidence",
                                label="整改照片", clean=clean, store=store, actor=actor)


def add_photo(session: Session, *, staff: StaffAccount, inspection: Inspection,
              stream: BinaryIO, store: MediaStore, limits: materials.UploadLimits,
              ) -> MaterialFile:
    """A photo taken on the visit (``inspection`` from :func:`get_for_staff`), kept with
    the application's files."""
    clean = materials.clean_upload(session, stream, limits, photos_only=True)
    return materials.store_file(session, inspection.application,
                                material_code="inspection_photo", label="核查照片",
                                clean=clean, store=store, actor=staff)[0]


def submit_rectification(session: Session, *, applicant: Applicant, application_id: int,
                         note: str, today: date | None = None) -> Inspection:
    """The owner or the authorised agent reports the rectification done; the clock runs
    again. A collaborator may not (403 COLLABORATOR_NOT_ALLOWED)."""
    application, actor = applications.get_for(session, applicant=applicant,
                                              application_id=application_id,
                                              need=applications.DECIDE)
    inspection = _inspection_of(application)
    step = workflow.transition(inspection.status, workflow.Action.SUBMIT_RECTIFICATION,
                               role=workflow.APPLICANT, kind=N)
    if inspection.recheck_mode == "photos" and not any(
            f.material_code == "rectification_evidence" for f in application.files):
        raise RuleViolation("RECTIFICATION_EVIDENCE_MISSING", "照片复核须先上传整改照片")
    resume_clock(session, application, today or clock.today())
    timeline.fire(session, application, inspection, step, actor=actor,
                  message=f"{step.label}：{note}" if note else step.label)
    return inspection


def resume_clock(session: Session, application: Application, today: date) -> None:
    """Add the paused working days to every open item's deadline."""
    if application.paused_since is None:
        return
    paused = calendar.working_days_between(session, application.paused_since, today)
    application.paused_working_days += paused
    application.paused_since = None
    for item in application.items:
        if item.status == workflow.ItemState.UNDER_REVIEW and application.accepted_on:
            item.due_on = calendar.add_working_days(
                session, application.accepted_on, item.promised_days
                + application.paused_working_days)


def photo_review(session: Session, *, staff: StaffAccount, inspection_id: int,
                 version: int | None, passed: bool, notes: str) -> Inspection:
    """The re-check by photos: the coordinator judges the rectification evidence."""
    permissions.require(staff, "inspection.conclude")
    inspection = get_for_staff(session, staff=staff, inspection_id=inspection_id)
    window.check_version(inspection, version)
    if inspection.status != N.RECHECK or inspection.recheck_mode != "photos":
        raise RuleViolation("INSPECTION_NOT_PHOTO_RECHECK", "当前不是照片复核",
                            {"status": inspection.status})
    if not passed:
        return _fail(session, inspection, staff,
                     [r["item_code"] for r in inspection.rectification or []])
    step = workflow.transition(inspection.status, workflow.Action.PASS, role=staff.role, kind=N)
    inspection.outcome, inspection.concluded_on = "passed", clock.today()
    timeline.fire(session, inspection.application, inspection, step, actor=staff,
                  message=f"{step.label}（照片复核）{('：' + notes) if notes else ''}")
    window.conclude_if_decided(session, inspection.application)
    return inspection


# --- what the console's pages show ---------------------------------------------------------

BOARD = (N.TO_SCHEDULE, N.RESCHEDULE_REQUESTED, N.SCHEDULED, N.RECTIFYING, N.RECHECK)


def board(session: Session, *, staff: StaffAccount) -> dict[str, list[Inspection]]:
    """The coordinator's open inspections by status, each list by visit date."""
    permissions.require(staff, "inspection.list_all")
    out: dict[str, list[Inspection]] = {state: [] for state in BOARD}
    for inspection in session.scalars(
            select(Inspection).where(Inspection.status.in_(BOARD))
            .order_by(Inspection.scheduled_on, Inspection.id)):
        out[inspection.status].append(inspection)
    return out


def team_options(session: Session, inspection: Inspection, chosen: list[int],
                 ) -> list[dict]:
    """Every unit's active inspectors, the units of this inspection first, each saying
    whether ``chosen`` already covers it (the rule ``_schedule_problems`` enforces)."""
    document = applications.bundle_of(session, inspection.application).document
    involved = units_involved(inspection)
    inspectors = session.scalars(
        select(StaffAccount).where(StaffAccount.role == "inspector",
                                   StaffAccount.active.is_(True))
        .order_by(StaffAccount.unit_code, StaffAccount.display_name))
    by_unit: dict[str, list[StaffAccount]] = {}
    for person in inspectors:
        by_unit.setdefault(person.unit_code, []).append(person)
    picked = set(chosen)
    codes = sorted(involved) + sorted(set(by_unit) - involved)
    return [document.unit_ref(code) | {
        "involved": code in involved,
        "covered": any(p.id in picked for p in by_unit.get(code, [])),
        "inspectors": [{"id": p.id, "name": p.display_name, "chosen": p.id in picked}
                       for p in by_unit.get(code, [])]}
        for code in codes]


def visit_items(session: Session, *, staff: StaffAccount, inspection: Inspection,
                ) -> list[dict]:
    """The items an inspector records in this round: those of their own unit, with the
    result already recorded (if any)."""
    round_ = recording_round(inspection)
    if round_ is None:
        return []
    names = applications.bundle_of(session, inspection.application).document.permit_items
    mine = {i.item_code for i in inspection.application.items
            if i.approving_unit == staff.unit_code}
    results = {r.item_code: r for r in inspection.results if r.round == round_}
    return [{"code": code, "name": names[code].name, "round": round_,
             "result": results.get(code)}
            for code in items_of_round(inspection, round_) if code in mine]
