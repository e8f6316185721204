"""A small office's month, built through the real services on set days (time-machine moves
the clock; every timestamp is the service's own): the data set whose figures
tests/test_statistics.py works out by hand.

The working days are the weekday rule (the test database holds no holiday schedule, and
none falls in 2025-02-24 … 2025-04-01 anyway). Counties: 140105 太原市小店区, 140106
太原市迎泽区. Cases (A–H):

- A 网吧, 小店区, online: submitted Mon 03-03, 补正 the same day, resubmitted 03-04,
  accepted Wed 03-05; fire approves Fri 03-07 (2 working days, due 03-10), the approval
  bureau approves the 网吧 item Wed 03-12 (5); the joint visit passes Thu 03-13 at the first
  visit; licensed Tue 03-18 (9 working days). Ten materials supplied once; apart, the 网吧
  and fire permits would each ask for the three shared ones: 13.
- B 咖啡馆, 迎泽区, a walk-in (帮办代办) on Thu 02-27 with three 容缺 materials, claimed online
  02-28; accepted Mon 03-03 (food item due 03-10); the visit on Thu 03-06 asks for
  rectification (clock paused), the applicant reports it Tue 03-11 (3 working days paused,
  due now 03-13), the on-site re-check passes Wed 03-12; the bureau approves Fri 03-14, one
  day late (6 working days net); licensed Mon 03-17 (10 − 3 = 7). One trip to the window;
  7 materials (4 uploaded, 3 deferred), apart also 7.
- C 书店, 小店区: submitted Sat 03-01 00:30 CST (still 02-28 in UTC), accepted Tue 03-11,
  the bureau refuses Thu 03-13 (2 working days), the window refuses (不予许可) Fri 03-14.
- D 书店, 迎泽区: submitted Mon 03-17, not accepted (不予受理) 03-18.
- E 书店, 小店区: submitted Wed 03-19, withdrawn 03-20.
- F 书店, 小店区: a draft made and withdrawn on 03-20 (never submitted: no case).
- H 书店, 迎泽区: submitted Tue 04-01 00:10 CST (still 03-31 in UTC).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time

import time_machine
from sqlalchemy.orm import Session

from backend import workflow
from backend.clock import CHINA
from backend.extensions import db
from backend.models import Applicant, Application, StaffAccount
from backend.services import (
    accounts,
    applications,
    assisted,
    demo,
    inspections,
    licenses,
    materials,
    review,
    window,
)
from backend.services import staff as staff_service
from tests.conftest import STAFF_PASSWORD
from tests.test_media_images import pdf_bytes

XIAODIAN, YINGZE = "140105", "140106"
NETCAFE = ("internet_cafe", demo.IN_REVIEW.answers, demo.IN_REVIEW.fields)
BOOKSHOP = ("bookstore", demo.WALK_IN.answers, demo.WALK_IN.fields)
CAFE = ("cafe", {"applicant_is_agent": False, "floor_area": 60, "investment": 15,
                 "discharges_sewage": False, "outdoor_sign": False},
        demo.SUBMITTED.fields)
STAFF = {"window": ("window_commissioner", None), "bureau": ("unit_reviewer", "approval_bureau"),
         "fire": ("unit_reviewer", "fire"), "coordinator": ("inspection_coordinator", None),
         "bureau_inspector": ("inspector", "approval_bureau"),
         "fire_inspector": ("inspector", "fire"), "admin": ("system_admin", None),
         "catalog": ("catalog_admin", None)}


def day(month: int, number: int) -> date:
    return date(2025, month, number)


class Office:
    """The staff of one office and the services they call, on the days a test sets."""

    def __init__(self, app, session: Session) -> None:
        self.session = session
        settings = app.extensions["settings"]
        self.store = app.extensions["media_store"]
        self.limits = materials.limits_from(settings)
        self.secret_key = settings.SECRET_KEY
        self.staff: dict[str, StaffAccount] = {}
        for name, (role, unit) in STAFF.items():
            self.staff[name] = staff_service.create(
                session, username=f"stat-{name}", display_name=f"统计{name}", role=role,
                unit_code=unit, password=STAFF_PASSWORD)
        session.commit()
        self.pdf = pdf_bytes()

    @contextmanager
    def on(self, when: date, hour: int = 10, minute: int = 0) -> Iterator[None]:
        """The clock stands at ``when`` ``hour``:``minute`` CST."""
        with time_machine.travel(datetime.combine(when, time(hour, minute), CHINA),
                                 tick=False):
            yield
            self.session.commit()  # inside: a row's default time is taken when it is written

    # --- the applicant ------------------------------------------------------------------

    def draft(self, who: str, kind: tuple, county: str) -> Application:
        industry, answers, fields = kind
        applicant = accounts.upsert_applicant(self.session, openid=f"stat-{who}")
        application = applications.create(self.session, applicant=applicant,
                                          industry_code=industry, answers=answers)
        self.session.commit()
        applications.update_form(self.session, applicant=applicant,
                                 application_id=application.id,
                                 changes=self._form(application, fields, county),
                                 secret_key=self.secret_key)
        self.session.commit()
        return application

    def _form(self, application: Application, fields: dict, county: str) -> dict:
        present = {"premises_county_code": county}
        return {f.code: present.get(f.code, fields.get(f.code, _value(f)))
                for f in applications.bundle_of(self.session, application).fields
                if f.code not in application.form_values}

    def applicant(self, application: Application) -> Applicant:
        return self.session.get(Applicant, application.applicant_id)

    def upload_all(self, application: Application, *, defer: bool = False, actor=None) -> None:
        """A file for every material still missing (deferrable ones too unless ``defer``)."""
        wanted = {"missing"} | (set() if defer else {"deferrable"})
        bundle = applications.bundle_of(self.session, application)
        codes = [m["code"] for m in applications.material_status(bundle, application)
                 if m["state"] in wanted]
        for code in codes:
            if actor is None:
                materials.upload(self.session, applicant=self.applicant(application),
                                 application_id=application.id, material_code=code,
                                 stream=io.BytesIO(self.pdf), store=self.store,
                                 limits=self.limits)
            else:
                assisted.upload(self.session, staff=actor, application_id=application.id,
                                material_code=code, stream=io.BytesIO(self.pdf),
                                store=self.store, limits=self.limits)
            self.session.commit()

    def submit(self, application: Application) -> None:
        applications.submit(self.session, applicant=self.applicant(application),
                            application_id=application.id, secret_key=self.secret_key)

    def online(self, who: str, kind: tuple, county: str) -> Application:
        """Drafted, filled, every material uploaded and submitted, now."""
        application = self.draft(who, kind, county)
        self.upload_all(application)
        self.submit(application)
        return application

    # --- the staff ----------------------------------------------------------------------

    def accept(self, application: Application) -> None:
        window.accept(self.session, staff=self.staff["window"], application_id=application.id,
                      version=None)

    def decide(self, application: Application, item_code: str, reviewer: str,
               approve: bool = True) -> None:
        item = next(i for i in application.items if i.item_code == item_code)
        review.decide(self.session, staff=self.staff[reviewer], item_id=item.id, version=None,
                      approve=approve, opinion="符合条件" if approve else "不符合法定条件")

    def schedule(self, application: Application, on: date) -> None:
        inspection = application.inspection
        team = [self.staff[f"{u}_inspector"].id if u == "fire"
                else self.staff["bureau_inspector"].id
                for u in sorted(inspections.units_involved(inspection))]
        inspections.schedule(self.session, staff=self.staff["coordinator"],
                             inspection_id=inspection.id, version=None, on=on,
                             window_text="09:00-11:00", address="现场", team=team)

    def record(self, application: Application, result: str = "pass") -> None:
        """Each unit's inspector records ``result`` for its items of this round, confirming
        every deferred material."""
        inspection = application.inspection
        round_ = inspections.recording_round(inspection)
        for code in inspections.items_of_round(inspection, round_):
            unit = next(i.approving_unit for i in application.items if i.item_code == code)
            inspector = self.staff["fire_inspector" if unit == "fire" else "bureau_inspector"]
            inspections.record_result(
                self.session, staff=inspector, inspection_id=inspection.id, item_code=code,
                result=result, notes="", demands=["疏散通道须清理"] if result == "rectify" else [],
                photos=[], confirmed_materials=list(application.deferred_materials)
                if round_ == 1 else [])

    def conclude(self, application: Application, deadline: date | None = None) -> None:
        inspections.conclude(self.session, staff=self.staff["coordinator"],
                             inspection_id=application.inspection.id, version=None,
                             deadline=deadline, recheck_mode="onsite" if deadline else None)

    def issue(self, application: Application) -> None:
        licenses.issue(self.session, staff=self.staff["window"], application_id=application.id)


def _as_sent(value) -> list[str]:
    """A value as an HTML form sends it (the console's 帮办代办 form)."""
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _value(f):
    """A valid value for a catalog field the case does not name (as the demo story fills)."""
    if f.options:
        first = f.options[0]["value"]
        return [first] if f.type == "multi_choice" else first
    return {"bool": False, "number": 1, "integer": 1, "date": "2025-01-01",
            "phone": "13812345678"}.get(f.type, "统计测试")


def build(app) -> tuple[Office, dict[str, Application]]:
    """The office and its cases A–H as the module's docstring tells them, in a session of
    their own (the services' savepoints need a transaction; the test's ``session`` fixture
    is autocommit); the staff and applications stay readable after it closes."""
    with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
        return _build(Office(app, session), session)


def _build(office: Office, session: Session) -> tuple[Office, dict[str, Application]]:
    cases: dict[str, Application] = {}

    # B: the walk-in, at the window on 02-27, with three 容缺 materials
    with office.on(day(2, 27)):
        clerk = office.staff["window"]
        industry, answers, fields = CAFE
        b = assisted.start(session, staff=clerk, industry_code=industry,
                           answers={q: _as_sent(v) for q, v in answers.items()},
                           person_name="孙丽", id_document="resident_id_card",
                           id_number="14010519880612004X", identity_checked=True)
        session.commit()
        assisted.fill(session, staff=clerk, application_id=b.id, version=None,
                      secret_key=office.secret_key,
                      form={code: _as_sent(value)
                            for code, value in office._form(b, fields, YINGZE).items()})
        session.commit()
        office.upload_all(b, defer=True, actor=clerk)
        assisted.submit(session, staff=clerk, application_id=b.id, version=None,
                        secret_key=office.secret_key)
        code, _ = assisted.issue_claim_code(session, staff=clerk, application_id=b.id)
    cases["B"] = b
    with office.on(day(2, 28), 9):
        assisted.claim(session, applicant=accounts.upsert_applicant(session, openid="stat-b"),
                       code=code)
    with office.on(day(3, 1), 0, 30):
        cases["C"] = office.online("c", BOOKSHOP, XIAODIAN)
    with office.on(day(3, 3), 9):
        office.accept(b)
    with office.on(day(3, 3)):
        a = cases["A"] = office.online("a", NETCAFE, XIAODIAN)
    with office.on(day(3, 3), 15):
        window.request_supplements(session, staff=office.staff["window"], application_id=a.id,
                                   version=None, note="",
                                   demands=[{"subject": "营业执照", "demand": "请上传清晰件"}])
    with office.on(day(3, 4)):
        office.submit(a)
        office.schedule(b, day(3, 6))
    with office.on(day(3, 5), 9):
        office.accept(a)
    with office.on(day(3, 6)):
        office.record(b, "rectify")
    with office.on(day(3, 6), 11):
        office.conclude(b, deadline=day(3, 20))
    with office.on(day(3, 7)):
        office.decide(a, "fire_safety_check", "fire")
    with office.on(day(3, 10)):
        office.schedule(a, day(3, 13))
    with office.on(day(3, 11)):
        inspections.submit_rectification(session, applicant=office.applicant(b),
                                         application_id=b.id, note="已整改")
        office.accept(cases["C"])
    with office.on(day(3, 12)):
        office.decide(a, "internet_cafe", "bureau")
        office.record(b)
    with office.on(day(3, 12), 11):
        office.conclude(b)
    with office.on(day(3, 13)):
        office.record(a)
        office.decide(cases["C"], "publication_retail", "bureau", approve=False)
    with office.on(day(3, 13), 11):
        office.conclude(a)
    with office.on(day(3, 14)):
        office.decide(b, "food_business", "bureau")
        window.refuse(session, staff=office.staff["window"], application_id=cases["C"].id,
                      version=None, reason="出版物经营许可不予许可")
    with office.on(day(3, 17)):
        office.issue(b)
        d = cases["D"] = office.online("d", BOOKSHOP, YINGZE)
    with office.on(day(3, 18)):
        office.issue(a)
        window.reject(session, staff=office.staff["window"], application_id=d.id, version=None,
                      reason="不属于本窗口受理范围")
    with office.on(day(3, 19)):
        e = cases["E"] = office.online("e", BOOKSHOP, XIAODIAN)
    with office.on(day(3, 20)):
        applications.withdraw(session, applicant=office.applicant(e), application_id=e.id)
        f = cases["F"] = office.draft("f", BOOKSHOP, XIAODIAN)
        applications.withdraw(session, applicant=office.applicant(f), application_id=f.id)
    with office.on(day(4, 1), 0, 10):
        cases["H"] = office.online("h", BOOKSHOP, YINGZE)
    for loaded in [*cases.values(), *office.staff.values()]:
        session.refresh(loaded)
    assert {k: a.status for k, a in cases.items()} == {
        "A": workflow.State.LICENSED, "B": workflow.State.LICENSED,
        "C": workflow.State.REFUSED, "D": workflow.State.NOT_ACCEPTED,
        "E": workflow.State.WITHDRAWN, "F": workflow.State.WITHDRAWN,
        "H": workflow.State.SUBMITTED}
    return office, cases
