"""The demo story of `make run` (`flask demo story`): a living office for a newcomer.

Four applicants, each known by an openid starting with ``demo-`` (the WeChat emulator's
openids start with ``o``, so no phone login can become one), and one application each, taken
by the REAL services, the same calls the APIs make, to a different state:

- ``demo-licensed``: a restaurant (饭店) accepted with 容缺 materials, every item approved by
  its unit, the joint inspection passed (the deferred materials confirmed on site) and the
  行业综合许可证 issued (its QR verifies at the public page);
- ``demo-in-review``: an internet café (网吧) accepted, the approval
  bureau's item approved, the fire item still under review, the joint inspection scheduled
  for a working day next week with an inspector of each unit;
- ``demo-submitted``: a bakery (面包烘焙店) submitted, waiting at the window;
- ``demo-walk-in``: a bookshop (书店) draft that window1 made at the window for a walk-in
  (帮办代办), see :func:`seed_walk_in_draft`; it has no demo applicant of its own (the
  service's placeholder, no openid), so the name only tells it apart in the story.

Materials are real files (JPEG photos drawn with Pillow, PDFs from media.documents) that go
through the upload's own validation and re-encoding into the media store.

Each case resumes from the state its application is in, so running the story again adds
nothing, and a run cut short finishes on the next. It commits after each step, as the API's
requests do (an upload ends the transaction of its checks before the image work).
Development and tests only: the CLI refuses it in production, like the demo staff.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import clock, workflow
from backend.errors import RuleViolation
from backend.models import Applicant, Application, License, StaffAccount
from backend.services import (
    accounts,
    applications,
    assisted,
    calendar,
    inspections,
    licenses,
    materials,
    review,
    staff,
    window,
)
from media import documents, render
from media.store import MediaStore

OPENID_PREFIX = "demo-"
ENDED = {workflow.State.WITHDRAWN, workflow.State.NOT_ACCEPTED, workflow.State.REFUSED}
# materials a person photographs (a certificate, an ID card, a contract); the rest are
# documents they write, uploaded as PDF
PHOTOGRAPHED = {"business_license", "legal_rep_id", "premises_proof", "agent_id",
                "health_certificates", "pharmacist_certificate"}
OPINION = "材料齐全，符合法定条件，准予许可（演示）"


@dataclass(frozen=True)
class Case:
    openid: str  # the demo applicant's; the walk-in's only names it (its applicant has none)
    industry: str
    answers: dict[str, Any]
    fields: dict[str, Any]  # the merged form; catalog fields not named get a plain value
    goal: str  # workflow.State the story takes it to
    defer: bool = False  # leave 容缺 (deferrable) materials for the inspection to confirm
    approving_units: tuple[str, ...] = ()  # units that approve their items (in review)


def _entity(name: str, credit_code: str, rep: str, id_number: str, phone: str, address: str,
            ) -> dict[str, Any]:
    return {"entity_kind": "enterprise", "entity_name": name, "credit_code": credit_code,
            "legal_rep_name": rep, "legal_rep_id_number": id_number, "contact_phone": phone,
            "premises_city_code": "140100", "premises_county_code": "140105",
            "premises_address": address}


LICENSED = Case(
    openid="demo-licensed", industry="restaurant", goal=workflow.State.LICENSED,
    answers={"applicant_is_agent": False, "floor_area": 450, "investment": 80,
             "sells_alcohol": False, "sells_tobacco": True, "outdoor_sign": False},
    fields=_entity("太原市小店区晋味饭店有限公司", "91140105MA0L3BRT2L", "张三",
                   "140105198503150030", "13812345678", "太原市小店区平阳路 1 号")
    | {"main_business_type": "catering", "business_items": ["hot_food", "cold_food"],
       "food_safety_manager_name": "李娜", "drainage_category": "catering",
       "daily_discharge": 12, "pretreatment_facility": "隔油池一座",
       "fire_application_mode": "inspection", "fire_safety_manager_name": "张三",
       "floors_used": "一至二层", "max_occupancy": 260, "tobacco_outlet_type": "catering"},
    defer=True)
IN_REVIEW = Case(
    openid="demo-in-review", industry="internet_cafe", goal=workflow.State.IN_REVIEW,
    answers={"applicant_is_agent": False, "near_school_200m": False, "sells_food": False,
             "outdoor_sign": False},
    fields=_entity("太原市小店区星联网络科技有限公司", "91140105MA0K2C7N4D", "王强",
                   "140105199007210019", "13934567890", "太原市小店区长风街 88 号二层")
    | {"floor_area": 600, "computer_count": 120, "network_provider": "中国联通太原分公司",
       "fire_application_mode": "inspection", "fire_safety_manager_name": "王强",
       "floors_used": "二层", "max_occupancy": 150},
    approving_units=("approval_bureau",))
SUBMITTED = Case(
    openid="demo-submitted", industry="bakery", goal=workflow.State.SUBMITTED,
    answers={"applicant_is_agent": False, "floor_area": 60, "investment": 15,
             "discharges_sewage": False, "outdoor_sign": False},
    fields=_entity("太原市小店区麦香烘焙坊", "92140105MA0M4D8E1A", "赵敏",
                   "140105199211080020", "13645678901", "太原市小店区亲贤北街 12 号")
    | {"entity_kind": "individual", "main_business_type": "food_sales",
       "business_items": ["pastry", "drinks"], "food_safety_manager_name": "赵敏"})
WALK_IN = Case(
    openid="demo-walk-in", industry="bookstore", goal=workflow.State.DRAFT,
    answers={"applicant_is_agent": False, "floor_area": 120, "investment": 20,
             "sells_food": False, "outdoor_sign": False},
    fields=_entity("太原市小店区三晋书苑文化有限公司", "91140105MA0N5E9F3U", "孙丽",
                   "14010519880612004X", "13756789012", "太原市小店区坞城路 36 号"))


@dataclass
class Context:
    """What the story needs from the app: the media store, upload limits, the license
    keyring and base URL, the font, the secret that seals sensitive form fields, the license
    PDF's sealer."""

    store: MediaStore
    limits: materials.UploadLimits
    keyring: Any
    verify_base_url: str
    font_path: str | None
    secret_key: str
    sealer: Any
    today: date = field(default_factory=clock.today)


@dataclass
class Told:
    """What one case did: its application, the steps taken this run, and a line to print."""

    case: Case
    application: Application
    steps: list[str] = field(default_factory=list)
    verify_url: str | None = None

    def line(self) -> str:
        a = self.application
        done = "；".join(self.steps) if self.steps else "已存在，未改动"
        number = a.submission_number or f"草稿 #{a.id}"
        out = f"{self.case.openid}: {number} {workflow.label(a.status)}（{done}）"
        return out + (f"\n  许可证验证：{self.verify_url}" if self.verify_url else "")


def story(session: Session, context: Context) -> list[Told]:
    """Take each demo case to its state; what already is there stays as it is."""
    missing = [u for u, *_ in staff.DEMO_ACCOUNTS if _staff(session, u) is None]
    if missing:
        raise RuleViolation("DEMO_STAFF_MISSING",
                            "请先运行 flask staff demo 创建演示工作人员：" + "、".join(missing))
    return [_licensed(session, context), _in_review(session, context),
            _submitted(session, context), seed_walk_in_draft(session, context)]


def seed_walk_in_draft(session: Session, context: Context) -> Told:
    """The walk-in case (帮办代办): window1 checked 孙丽's identity card at the window and
    started a draft for her (:func:`assisted.start`, a placeholder applicant), then typed
    in the entity as the console's form sends it (:func:`assisted.fill`). It is on window1's
    帮办代办 page until someone claims it with a hand-over code; then the next run makes a
    new one."""
    commissioner = _staff(session, "window1")
    told = Told(WALK_IN, _walk_in_draft(session, commissioner))
    if told.application is None:
        told.application = assisted.start(
            session, staff=commissioner, industry_code=WALK_IN.industry,
            answers={q: _as_sent(v) for q, v in WALK_IN.answers.items()},
            person_name=WALK_IN.fields["legal_rep_name"], id_document="resident_id_card",
            id_number=WALK_IN.fields["legal_rep_id_number"], identity_checked=True)
        told.steps.append("窗口代办：核验身份并创建申请")
        session.commit()
    application = told.application
    present = set(application.form_values) | set(
        applications.sensitive_values(application, context.secret_key))
    missing = {code: _as_sent(value) for code, value in WALK_IN.fields.items()
               if code not in present}
    if missing and application.status == workflow.State.DRAFT:
        assisted.fill(session, staff=commissioner, application_id=application.id,
                      form=missing, version=application.lock_version,
                      secret_key=context.secret_key)
        told.steps.append("窗口代办：填写申请表")
        session.commit()
    return told


def _walk_in_draft(session: Session, commissioner: StaffAccount) -> Application | None:
    """The story's walk-in case of window1, not yet claimed nor ended, if there is one."""
    return next((c.application for c in assisted.list_mine(session, staff=commissioner)
                 if c.walk_in.person_name == WALK_IN.fields["legal_rep_name"]
                 and c.application.industry_code == WALK_IN.industry
                 and c.application.status not in ENDED), None)


def _as_sent(value: Any) -> list[str]:
    """A value as an HTML form sends it: text, one per chosen option."""
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _licensed(session: Session, context: Context) -> Told:
    told = _submitted_case(session, context, LICENSED)
    app = told.application
    _accept(session, told)
    _approve(session, told, units=None)
    _schedule(session, told, on=_first_workday(session, context.today), today=context.today)
    if app.inspection is not None and app.inspection.status == workflow.InspectionState.SCHEDULED:
        _inspect_and_pass(session, context, told)
    if app.status == workflow.State.APPROVED:
        licenses.issue(session, staff=_staff(session, "window1"), application_id=app.id,
                       today=context.today)
        told.steps.append("核发许可证")
        session.commit()
    license_ = session.scalar(select(License).where(License.application_id == app.id))
    if license_ is not None:  # the face, rendered at its first view as the API does
        face = licenses.rendition(session, license_, keyring=context.keyring,
                                  base_url=context.verify_base_url, store=context.store,
                                  font_path=context.font_path, sealer=context.sealer)
        told.verify_url = face.verify_url
        session.commit()
    return told


def _in_review(session: Session, context: Context) -> Told:
    told = _submitted_case(session, context, IN_REVIEW)
    _accept(session, told)
    _approve(session, told, units=set(IN_REVIEW.approving_units))
    _schedule(session, told, on=next_week_workday(session, context.today),
              today=context.today)
    return told


def _submitted(session: Session, context: Context) -> Told:
    return _submitted_case(session, context, SUBMITTED)


def _submitted_case(session: Session, context: Context, case: Case) -> Told:
    """The case's application filled, its materials uploaded and submitted."""
    told = _drafted(session, context, case, complete=True)
    if told.application.status == workflow.State.DRAFT:
        applicant = _applicant(session, case)
        applications.submit(session, applicant=applicant, application_id=told.application.id,
                            secret_key=context.secret_key)
        told.steps.append("提交" + ("（容缺受理）" if told.application.deferred_materials else ""))
        session.commit()
    return told


def _drafted(session: Session, context: Context, case: Case, *, complete: bool) -> Told:
    """The demo applicant (as the mini-program login makes one) and its application: made,
    the case's fields filled in and, when ``complete``, every other field and every
    material it still lacks too."""
    applicant = _applicant(session, case)
    application = next((a for a in applications.list_own(session, applicant=applicant)
                        if a.status not in ENDED), None)
    told = Told(case, application)
    if application is None:
        told.application = application = applications.create(
            session, applicant=applicant, industry_code=case.industry, answers=case.answers)
        told.steps.append("创建申请")
    if application.status != workflow.State.DRAFT:
        session.commit()
        return told
    present = set(application.form_values) | set(
        applications.sensitive_values(application, context.secret_key))
    fields = applications.bundle_of(session, application).fields
    changes = {f.code: case.fields.get(f.code, _plain_value(f)) for f in fields
               if f.code not in present and (complete or f.code in case.fields)}
    if changes:
        applications.update_form(session, applicant=applicant, application_id=application.id,
                                 changes=changes, secret_key=context.secret_key)
        told.steps.append("填写申请表")
    session.commit()
    if complete:
        _upload_materials(session, context, told, applicant)
    return told


def _upload_materials(session: Session, context: Context, told: Told,
                      applicant: Applicant) -> None:
    application, case = told.application, told.case
    bundle = applications.bundle_of(session, application)
    wanted = {"missing"} | (set() if case.defer else {"deferrable"})
    todo = [m for m in applications.material_status(bundle, application)
            if m["state"] in wanted]
    for material in todo:
        content = (photo if material["code"] in PHOTOGRAPHED else pdf)(
            material["name"], case.fields["entity_name"], context)
        materials.upload(session, applicant=applicant, application_id=application.id,
                         material_code=material["code"], stream=io.BytesIO(content),
                         store=context.store, limits=context.limits)
        session.commit()
    if todo:
        told.steps.append(f"上传材料 {len(todo)} 份")


def _accept(session: Session, told: Told) -> None:
    application = told.application
    if application.status == workflow.State.SUBMITTED:
        window.accept(session, staff=_staff(session, "window1"), application_id=application.id,
                      version=application.lock_version, note="演示：窗口受理")
        told.steps.append("窗口受理")
        session.commit()


def _approve(session: Session, told: Told, *, units: set[str] | None) -> None:
    """Each unit (of ``units``; None: all) approves its items still under review."""
    approved = []
    for item in told.application.items:
        if item.status != workflow.ItemState.UNDER_REVIEW or (
                units is not None and item.approving_unit not in units):
            continue
        review.decide(session, staff=_staff(session, _demo_user("unit_reviewer",
                                                                item.approving_unit)),
                      item_id=item.id, version=item.lock_version, approve=True,
                      opinion=OPINION)
        approved.append(item.item_code)
        session.commit()
    if approved:
        told.steps.append(f"准予许可 {len(approved)} 项")


def _schedule(session: Session, told: Told, *, on: date, today: date) -> None:
    inspection = told.application.inspection
    if inspection is None or inspection.status != workflow.InspectionState.TO_SCHEDULE:
        return
    team = [_staff(session, _demo_user("inspector", unit)).id
            for unit in sorted(inspections.units_involved(inspection))]
    inspections.schedule(session, staff=_staff(session, "coordinator1"),
                         inspection_id=inspection.id, version=inspection.lock_version, on=on,
                         window_text="09:00-11:00",
                         address=told.case.fields["premises_address"], team=team,
                         today=today)
    told.steps.append(f"安排联合核查 {on:%Y-%m-%d}")
    session.commit()


def _inspect_and_pass(session: Session, context: Context, told: Told) -> None:
    """Each inspector photographs the premises and passes their unit's items, confirming the
    deferred materials that serve them; the coordinator concludes."""
    application = told.application
    inspection = application.inspection
    served = {m["code"]: {i["code"] for i in m["items"]} for m in
              applications.bundle_of(session, application).notice["materials"]}
    for unit in sorted(inspections.units_involved(inspection)):
        inspector = _staff(session, _demo_user("inspector", unit))
        shot = inspections.add_photo(
            session, staff=inspector, inspection=inspection, store=context.store,
            limits=context.limits,
            stream=io.BytesIO(photo("现场核查照片", told.case.fields["entity_name"], context,
                                    seed=len(unit))))
        session.commit()
        for item in application.items:
            if item.item_code in inspection.item_codes and item.approving_unit == unit:
                inspections.record_result(
                    session, staff=inspector, inspection_id=inspection.id,
                    item_code=item.item_code, result="pass", notes="现场情况与申报一致（演示）",
                    demands=[], photos=[shot.sha256],
                    confirmed_materials=[m for m in application.deferred_materials
                                         if item.item_code in served.get(m, set())])
        session.commit()
    inspections.conclude(session, staff=_staff(session, "coordinator1"),
                         inspection_id=inspection.id, version=inspection.lock_version,
                         deadline=None, recheck_mode=None)
    told.steps.append("联合核查通过")
    session.commit()


def next_week_workday(session: Session, today: date) -> date:
    """The first working day of next week (from its Monday, on the working calendar)."""
    return _first_workday(session, today + timedelta(days=7 - today.weekday()))


def _first_workday(session: Session, day: date) -> date:
    while not calendar.is_workday(session, day):
        day += timedelta(days=1)
    return day


def _applicant(session: Session, case: Case) -> Applicant:
    return accounts.upsert_applicant(session, openid=case.openid)


def _demo_user(role: str, unit: str) -> str:
    return next(u for u, _, r, c in staff.DEMO_ACCOUNTS if r == role and c == unit)


def _staff(session: Session, username: str) -> StaffAccount | None:
    return session.scalar(select(StaffAccount).where(StaffAccount.username == username))


def demo_applications(session: Session) -> dict[str, Application]:
    """The application of each demo case by its name (the demo applicant's openid; the
    walk-in's placeholder has none), the ended ones aside."""
    rows = session.execute(select(Applicant.openid, Application).join(
        Application, Application.applicant_id == Applicant.id).where(
        Applicant.openid.startswith(OPENID_PREFIX), Application.status.not_in(ENDED)))
    found = {row.openid: row.Application for row in rows}
    walk_in = _walk_in_draft(session, _staff(session, "window1"))
    return found | ({WALK_IN.openid: walk_in} if walk_in is not None else {})


# --- real files ----------------------------------------------------------------------------

def _plain_value(f) -> Any:
    """A valid value for a catalog field the case does not name, from its type."""
    if f.options:
        first = f.options[0]["value"]
        return [first] if f.type == "multi_choice" else first
    return {"bool": False, "number": 1, "integer": 1, "date": "2026-01-01",
            "phone": "13812345678"}.get(f.type, "演示内容")


def photo(title: str, holder: str, context: Context, *, seed: int = 0) -> bytes:
    """A phone photo of a paper document: a sheet on a desk with its title and holder."""
    rng = random.Random(f"{title}{holder}{seed}")  # noqa: S311 - a picture, no secret
    image = Image.new("RGB", (1200, 900), (rng.randrange(90, 140), 100, 80))
    draw = ImageDraw.Draw(image)
    draw.rectangle((150, 80, 1050, 820), fill=(250, 248, 240), outline=(60, 60, 60), width=4)
    path = render.find_font(context.font_path)
    big = ImageFont.truetype(path, 56, index=render.font_index(path))
    small = ImageFont.truetype(path, 34, index=render.font_index(path))
    draw.text((600, 200), title[:14], font=big, fill=(150, 20, 20), anchor="mm")
    draw.text((600, 330), holder, font=small, fill=(20, 20, 20), anchor="mm")
    draw.text((600, 420), "（演示材料）", font=small, fill=(80, 80, 80), anchor="mm")
    for y in range(500, 780, 40):  # lines of text, as a page has
        draw.line((220, y, 220 + rng.randrange(400, 760), y), fill=(120, 120, 120), width=6)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def pdf(title: str, holder: str, context: Context) -> bytes:
    """A one-page PDF of a document the applicant writes (media.documents)."""
    return documents.render(documents.Notice(
        title=title, number="（演示材料）", addressee="太原市小店区行政审批服务管理局",
        paragraphs=(f"{holder}按“一业一证”改革要求提交本材料。",
                    "本文件为演示数据，由 flask demo story 生成，内容不代表真实经营主体。"),
        legal_basis="《山西省人民政府办公厅关于印发山西省“一业一证”改革实施方案的通知》"
                    "（晋政办发〔2022〕90号）",
        issuer=holder, issued_on=f"{context.today.year}年{context.today.month}月"
                                 f"{context.today.day}日"), font_path=context.font_path)

