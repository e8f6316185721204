"""告知承诺制 (国办发〔2020〕42号): the catalog's commitment text and post-check window, the
applicant's signature, the unit's approval at once, the post-check through the inspection
machinery, and a false commitment revoking the item on the license and its next scan."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from backend import clock
from backend.extensions import db
from backend.models import Applicant, Inspection, StaffAccount
from backend.services import calendar, catalog, commitments, notice, statistics
from tests.test_app import assert_envelope
from tests.test_applications import BASE, draft, fill, upload_required
from tests.test_collaborators import invite, joined
from tests.test_workflow import STAFF, post, staff_get

# a tea house of 450 m²: the food permit (visited as needed; nothing deferred, so no visit) and
# the fire safety check (always visited) — the item the catalog allows by commitment
TEA_HOUSE = {"floor_area": 450, "investment": 80, "outdoor_sign": False}
FIRE, FOOD = "fire_safety_check", "food_business"
CATALOG = Path(__file__).resolve().parents[1] / "config" / "catalog" / "catalog.yaml"


def offer(detail: dict, code: str) -> dict | None:
    return next((i["commitment_offer"] for i in detail["items"] if i["code"] == code), None)


def drafted(client, applicant, mode: str = "commitment") -> dict:
    """A complete tea house draft, 告知承诺 (``mode``) chosen for the fire check in the form."""
    detail = fill(client, applicant, draft(client, applicant, "tea_house", **TEA_HOUSE),
                  fire_application_mode=mode)
    upload_required(client, applicant, detail, skip_deferrable=False)
    return client.get(f"{BASE}/{detail['id']}", headers=applicant).json


def sign(client, applicant, detail: dict, code: str = FIRE, **body):
    sha = (offer(detail, code) or {}).get("text_sha256", "0" * 64)
    return client.put(f"{BASE}/{detail['id']}/items/{code}/commitment", headers=applicant,
                      json={"text_sha256": sha, "signed": True} | body)


def accepted(client, applicant, commissioner, *, signed: bool = True) -> dict:
    detail = drafted(client, applicant, "commitment" if signed else "inspection")
    if signed:
        assert sign(client, applicant, detail).status_code == 200
    submitted = client.post(f"{BASE}/{detail['id']}/submit", headers=applicant)
    assert submitted.status_code == 200, submitted.json
    return post(client, commissioner, f"/applications/{detail['id']}/accept",
                {"version": submitted.json["version"]})


def task_of(client, reviewer, app_id: int) -> dict:
    return next(t for t in staff_get(client, reviewer, "/reviews")["reviews"]
                if t["application_id"] == app_id)


class Office:
    """The staff a commitment meets in-process: the window, the fire unit's reviewer and
    inspector, the coordinator."""

    def __init__(self, staff_login):
        self.commissioner, _ = staff_login("window_commissioner")
        self.reviewer, _ = staff_login("unit_reviewer", "fire")
        self.coordinator, _ = staff_login("inspection_coordinator")
        self.inspector, self.inspector_id = staff_login("inspector", "fire")

    def approved_by_commitment(self, client, applicant, session) -> tuple[dict, int]:
        """An accepted tea house whose fire check fire approved by commitment, and the id of
        its post-check."""
        detail = accepted(client, applicant, self.commissioner)
        task = task_of(client, self.reviewer, detail["id"])
        post(client, self.reviewer, f"/reviews/{task['id']}/approve-by-commitment",
             {"version": task["version"]})
        return detail, session.query(Inspection).filter_by(
            kind="post_check", application_id=detail["id"]).one().id

    def post_checked(self, client, session, check_id: int, result: str, notes: str) -> None:
        """The post-check scheduled the next working day, ``result`` recorded, concluded."""
        coordinator = self.coordinator
        post(client, coordinator, f"/inspections/{check_id}/schedule", {
            "version": staff_get(client, coordinator, f"/inspections/{check_id}")["version"],
            "date": next_workday(session, clock.today()).isoformat(), "window": "09:00-11:00",
            "address": "太原市小店区平阳路 1 号", "team": [self.inspector_id]})
        post(client, self.inspector, f"/inspections/{check_id}/results",
             {"item_code": FIRE, "result": result, "notes": notes})
        post(client, coordinator, f"/inspections/{check_id}/conclude", {
            "version": staff_get(client, coordinator, f"/inspections/{check_id}")["version"]})


def test_the_catalog_says_which_items_allow_commitment_with_text_and_window(app):
    with app.app_context():
        document = catalog.document_of(catalog.current_version(db.session))
    fire, health, food = (document.permit_items[c] for c in (FIRE, "public_health", FOOD))
    assert fire.by_commitment and health.by_commitment and not food.by_commitment
    assert fire.commitment.post_check_days == 20 and health.commitment.post_check_days == 30
    assert fire.commitment.estimated and "承诺不实" in fire.commitment.text
    view = notice.commitment_view(fire)
    assert view["text_sha256"] == notice.text_sha256(fire.commitment.text)
    assert notice.commitment_view(food) is None
    with pytest.raises(ValueError, match="commitment_eligible"):
        food.model_validate(food.model_dump() | {"commitment": fire.commitment.model_dump()})


def test_a_catalog_file_naming_no_form_field_for_the_commitment_is_refused():
    text = CATALOG.read_text(encoding="utf-8")
    wrong = text.replace("mode_field: fire_application_mode", "mode_field: no_such_field")
    document, problems = catalog.check(wrong)
    assert document is None
    assert [(p.code, p.where) for p in problems if "no_such_field" in p.message] == [
        ("reference", "permit_items › fire_safety_check › commitment › mode_field")]


@pytest.mark.parametrize(("case", "status", "code"), [
    ("item not allowed", 422, "COMMITMENT_NOT_ALLOWED"),
    ("not signed", 422, "COMMITMENT_NOT_SIGNED"),
    ("another text", 422, "COMMITMENT_TEXT_MISMATCH"),
    ("item not in the bundle", 404, "ITEM_NOT_FOUND"),
])
def test_signing_is_refused_with_a_clear_code(client, login, case, status, code):
    applicant = login("signer")
    detail = drafted(client, applicant)
    resp = {"item not allowed": lambda: sign(client, applicant, detail, FOOD),
            "not signed": lambda: sign(client, applicant, detail, signed=False),
            "another text": lambda: sign(client, applicant, detail, text_sha256="a" * 64),
            "item not in the bundle": lambda: sign(client, applicant, detail, "public_health"),
            }[case]()
    assert (resp.status_code, resp.json["code"]) == (status, code)
    after = client.get(f"{BASE}/{detail['id']}", headers=applicant).json
    assert all(i["commitment"] is None for i in after["items"])  # nothing changed


def test_a_signature_is_kept_with_its_text_version_time_and_signer(client, login, session):
    applicant = login("signer")
    detail = drafted(client, applicant)
    assert offer(detail, FOOD) is None and offer(detail, FIRE)["post_check_days"] == 20
    signed = sign(client, applicant, detail)
    assert signed.status_code == 200, signed.json
    lane = next(i for i in signed.json["items"] if i["code"] == FIRE)
    assert lane["commitment"]["text_sha256"] == offer(detail, FIRE)["text_sha256"]
    assert lane["commitment"]["text"] == offer(detail, FIRE)["text"]
    assert lane["commitment"]["catalog_version"] == detail["catalog_version"]
    assert lane["commitment"]["signed_by"] == session.scalars(
        select(Applicant.id).order_by(Applicant.id.desc())).first()
    assert lane["commitment"]["signed_at"] and lane["commitment"]["post_check"] is None
    assert signed.json["timeline"][-1]["action"] == "item.commitment_signed"
    withdrawn = client.delete(f"{BASE}/{detail['id']}/items/{FIRE}/commitment", headers=applicant)
    assert withdrawn.status_code == 200
    assert next(i for i in withdrawn.json["items"] if i["code"] == FIRE)["commitment"] is None


def test_only_the_owner_signs_and_the_export_carries_the_signed_text(client, login):
    """A commitment vouches for the business: a collaborator may fill the form but not sign
    (403, nothing stored); what the owner signed is in their personal-data export."""
    owner, helper = login("vouching-owner"), login("vouching-helper")
    detail = drafted(client, owner)
    joined(client, helper, invite(client, owner, detail["id"]))

    refused = sign(client, helper, detail)

    assert_envelope(refused, 403, "COLLABORATOR_NOT_ALLOWED")
    assert next(i for i in client.get(f"{BASE}/{detail['id']}", headers=owner).json["items"]
                if i["code"] == FIRE)["commitment"] is None
    assert sign(client, owner, detail).status_code == 200
    (mine,) = client.get("/api/mp/v1/me/personal-data", headers=owner).json["applications"]
    assert [(c["item_code"], c["text"]) for c in mine["commitments"]] == [
        (FIRE, offer(detail, FIRE)["text"])]


def test_choosing_commitment_in_the_form_without_signing_is_refused_at_submit(client, login):
    applicant = login("owner")
    detail = drafted(client, applicant)
    resp = client.post(f"{BASE}/{detail['id']}/submit", headers=applicant)
    assert (resp.status_code, resp.json["code"]) == (422, "APPLICATION_INCOMPLETE")
    assert field_codes(resp) == {"fields.fire_application_mode": "COMMITMENT_NOT_SIGNED"}
    assert client.get(f"{BASE}/{detail['id']}", headers=applicant).json["status"] == "draft"
    assert sign(client, applicant, detail).status_code == 200
    assert client.post(f"{BASE}/{detail['id']}/submit", headers=applicant).status_code == 200


@pytest.mark.parametrize(("case", "code"), [
    ("unsigned commitment", "COMMITMENT_NOT_SIGNED"),
    ("item not allowed", "COMMITMENT_NOT_ALLOWED"),
])
def test_approval_by_commitment_is_refused_with_a_clear_code(client, login, staff_login, case,
                                                            code):
    applicant = login("owner")
    commissioner, _ = staff_login("window_commissioner")
    detail = accepted(client, applicant, commissioner, signed=case != "unsigned commitment")
    unit, item = ("fire", FIRE) if case == "unsigned commitment" else ("approval_bureau", FOOD)
    reviewer, _ = staff_login("unit_reviewer", unit)
    task = next(t for t in staff_get(client, reviewer, "/reviews")["reviews"]
                if t["item_code"] == item)
    resp = client.post(f"{STAFF}/reviews/{task['id']}/approve-by-commitment", headers=reviewer,
                       json={"version": task["version"]})
    assert (resp.status_code, resp.json["code"]) == (422, code)
    again = staff_get(client, reviewer, f"/reviews/{task['id']}")
    assert again["status"] == "under_review" and again["version"] == task["version"]
    assert client.get(f"{BASE}/{detail['id']}", headers=applicant).json["post_checks"] == []


def test_post_check_window_is_counted_in_working_days_and_overdue_is_flagged(
        client, login, staff_login, session):
    applicant = login("owner")
    commissioner, _ = staff_login("window_commissioner")
    reviewer, reviewer_id = staff_login("unit_reviewer", "fire")
    coordinator, _ = staff_login("inspection_coordinator")
    inspector, inspector_id = staff_login("inspector", "fire")
    detail = accepted(client, applicant, commissioner)
    assert detail["inspection"]["item_codes"] == [FIRE]  # before: a visit for the fire check
    task = task_of(client, reviewer, detail["id"])
    # Mon 2025-03-03 + 20 working days (weekends skipped, no holiday between) = Mon 03-31
    commitments.approve(session, staff=session.get(StaffAccount, reviewer_id), item_id=task["id"],
                        version=task["version"], opinion="", today=date(2025, 3, 3))
    session.commit()
    after = client.get(f"{BASE}/{detail['id']}", headers=applicant).json
    assert after["inspection"] is None  # approved without the on-site check
    [check] = after["post_checks"]
    assert (check["kind"], check["status"], check["due_on"]) == (
        "post_check", "to_schedule", "2025-03-31")
    assert check["overdue"] is True  # 2025-03-31 is long past
    lane = next(i for i in after["items"] if i["code"] == FIRE)
    assert lane["status"] == "approved" and lane["commitment"]["post_check"]["overdue"] is True
    overdue = staff_get(client, coordinator, "/inspections?overdue=true")["inspections"]
    assert [i["id"] for i in overdue] == [check["id"]]
    assert staff_get(client, coordinator, "/inspections?kind=joint")["inspections"] == []

    # a post-check is scheduled, recorded and concluded as inspections are; no rectification
    post(client, coordinator, f"/inspections/{check['id']}/schedule", {
        "version": staff_get(client, coordinator, f"/inspections/{check['id']}")["version"],
        "date": next_workday(session, clock.today()).isoformat(), "window": "09:00-11:00",
        "address": "太原市小店区平阳路 1 号", "team": [inspector_id]})
    wrong = client.post(f"{STAFF}/inspections/{check['id']}/results", headers=inspector,
                        json={"item_code": FIRE, "result": "rectify", "demands": ["整改"]})
    assert wrong.status_code == 422
    assert field_codes(wrong) == {"result": "POST_CHECK_NO_RECTIFICATION"}


def field_codes(resp) -> dict[str, str]:
    return {f["field"]: f["code"] for f in resp.json["details"]["fields"]}


def next_workday(session, after: date) -> date:
    day = after + timedelta(days=1)
    while not calendar.is_workday(session, day):
        day += timedelta(days=1)
    return day


def test_a_post_check_is_set_within_its_window(client, login, staff_login, session):
    office = Office(staff_login)
    _, check_id = office.approved_by_commitment(client, login("owner"), session)
    check = session.get(Inspection, check_id)
    late = next_workday(session, check.due_on)
    resp = client.post(f"{STAFF}/inspections/{check.id}/schedule", headers=office.coordinator,
                       json={"version": check.lock_version, "date": late.isoformat(),
                             "window": "09:00-11:00", "address": "太原市小店区平阳路 1 号",
                             "team": [office.inspector_id]})
    assert resp.status_code == 422, resp.json
    assert field_codes(resp) == {"date": "POST_CHECK_AFTER_DUE"}


def test_a_commitment_item_approved_at_once_then_revoked_by_a_failed_post_check_over_http(
        live_server):
    """Over real HTTP under gunicorn: the applicant signs the fire check's commitment, the fire
    unit approves it at once (no visit), the license is issued without waiting, the post-check
    is due within the catalog's working days, inspector2 finds the commitment false, and the
    item is revoked — on the application, the license, the next public verification and the
    inspector's scan."""
    server, http = live_server, live_server.client()
    name = f"committer-{uuid.uuid4().hex[:8]}"
    applicant = server.login_applicant(name)
    staff = {n: server.login_staff(n) for n in
             ("window1", "bureau1", "fire1", "coordinator1", "inspector1", "inspector2")}
    window, fire = staff["window1"][0], staff["fire1"][0]
    coordinator = staff["coordinator1"][0]

    detail = drafted(http, applicant)
    signed = sign(http, applicant, detail)
    assert signed.status_code == 200, signed.json
    submitted = http.post(f"{BASE}/{detail['id']}/submit", headers=applicant)
    assert submitted.status_code == 200, submitted.json
    app_id = detail["id"]
    accepted_ = post(http, window, f"/applications/{app_id}/accept",
                     {"version": submitted.json["version"]})
    assert accepted_["inspection"]["item_codes"] == [FIRE]

    # 告知承诺: approved at once; the visit is no longer needed; a post-check is due
    task = task_of(http, fire, app_id)
    assert task["commitment_offered"] and task["commitment"]["text_sha256"]
    approved = post(http, fire, f"/reviews/{task['id']}/approve-by-commitment",
                    {"version": task["version"]})
    assert approved["status"] == "approved"
    mine = http.get(f"{BASE}/{app_id}", headers=applicant).json
    assert mine["inspection"] is None
    [check] = mine["post_checks"]
    assert (check["status"], check["overdue"]) == ("to_schedule", False)
    due = date.fromisoformat(check["due_on"])
    assert due - clock.today() >= timedelta(days=26)  # 20 working days: four weeks at least
    assert any(e["action"] == "item.approved_by_commitment" for e in mine["timeline"])

    # the other unit decides as usual; the license comes without any visit
    food = task_of(http, staff["bureau1"][0], app_id)
    post(http, staff["bureau1"][0], f"/reviews/{food['id']}/approve",
         {"version": food["version"], "opinion": "符合条件，准予许可"})
    assert http.get(f"{BASE}/{app_id}", headers=applicant).json["status"] == "approved"
    issued = post(http, window, f"/applications/{app_id}/license", status=201)
    verify_url = http.get("/api/mp/v1/licenses", headers=applicant).json["licenses"][0][
        "verify_url"]
    assert public_items(http, verify_url)[FIRE_NAME] == "valid"

    # 事后核查 through the inspection machinery: scheduled, recorded, concluded
    inspector2 = staff["inspector2"]
    version = staff_get(http, coordinator, f"/inspections/{check['id']}")["version"]
    day = clock.today()
    while True:
        day += timedelta(days=1)
        resp = http.post(f"{STAFF}/inspections/{check['id']}/schedule", headers=coordinator,
                         json={"version": version, "date": day.isoformat(),
                               "window": "09:00-11:00", "address": "太原市小店区平阳路 1 号",
                               "team": [inspector2[1]["id"]]})
        if resp.status_code == 200:
            break
        assert field_codes(resp) == {"date": "INSPECTION_DATE_NOT_WORKDAY"}, resp.json
    assert resp.json["kind"] == "post_check" and resp.json["status"] == "scheduled"
    assert check["id"] in [i["id"] for i in staff_get(
        http, inspector2[0], "/inspections/mine")["inspections"]]
    post(http, inspector2[0], f"/inspections/{check['id']}/results", {
        "item_code": FIRE, "result": "fail", "notes": "安全出口被货物堵塞，与承诺不符"})
    concluded = post(http, coordinator, f"/inspections/{check['id']}/conclude", {
        "version": staff_get(http, coordinator, f"/inspections/{check['id']}")["version"]})
    assert (concluded["status"], concluded["outcome"]) == ("failed", "failed")

    # a false commitment: the item revoked and recorded with the reason, the license too
    mine = http.get(f"{BASE}/{app_id}", headers=applicant).json
    lane = next(i for i in mine["items"] if i["code"] == FIRE)
    assert lane["status"] == "revoked"
    assert "安全出口被货物堵塞" in lane["commitment"]["found_false_reason"]
    assert lane["commitment"]["post_check"]["outcome"] == "failed"
    held = http.get("/api/mp/v1/licenses", headers=applicant).json["licenses"][0]
    assert held["license_no"] == issued["license_no"]
    fire_item = next(i for i in held["items"] if i["code"] == FIRE)
    assert fire_item["status"] == "revoked" and "告知承诺不实" in fire_item["status_reason"]
    assert public_items(http, verify_url) == {FIRE_NAME: "revoked", FOOD_NAME: "valid"}
    scan = http.post("/api/mp/v1/licenses/verify", headers=staff["inspector1"][0],
                     json={"scan": verify_url}).json
    assert {i["code"]: i["verdict"] for i in scan["items"]}[FIRE] == "revoked"
    assert [(v["kind"], v["outcome"]) for v in scan["inspections"]] == [("post_check", "failed")]
    told = [m["title"] for m in http.get("/api/mp/v1/messages", headers=applicant).json[
        "messages"]]
    assert f"{FIRE_NAME}：承诺不实，撤销许可" in told and "事后核查已安排" in told


FIRE_NAME, FOOD_NAME = "公众聚集场所投入使用、营业前消防安全检查", "食品经营许可"


def public_items(http, url: str) -> dict[str, str]:
    """The permits' states on the public verification of ``url`` (the QR's link)."""
    parts = urlsplit(url)
    body = http.get(f"/api/public/v1/licenses/{parts.path.rsplit('/', 1)[1]}?{parts.query}").json
    return {i["name"]: i["status"] for i in body["items"]}


def test_statistics_count_items_approved_by_commitment_and_post_check_results(
        client, login, staff_login, session):
    office = Office(staff_login)
    admin, admin_id = staff_login("system_admin")
    checks = [office.approved_by_commitment(client, login(f"owner{n}"), session)[1]
              for n in range(3)]
    for check_id, result in zip(checks, ("fail", "pass"), strict=False):  # the third pending
        office.post_checked(client, session, check_id, result, "核查记录")
    body = staff_get(client, admin, f"/statistics?period=month&month={clock.today():%Y-%m}")
    rows = {r["key"]: r["commitments"] for r in body["rows"]}
    expected = {"approved": 3, "post_check_passed": 1, "post_check_failed": 1,
                "post_check_pending": 1}
    assert rows["fire"] == expected and body["total"]["commitments"] == expected
    assert rows["approval_bureau"]["approved"] == 0
    figures = statistics.figures(session, staff=session.get(StaffAccount, admin_id),
                                 period=statistics.period_of("month",
                                                             month=f"{clock.today():%Y-%m}"))
    header, *_, total = statistics.table(figures)
    assert total[header.index("告知承诺（事项）·核查不实撤销")] == 1


def test_a_false_commitment_found_before_the_license_leaves_the_case_to_drop_or_refuse(
        client, login, staff_login, session):
    """Revoked before any license: the item is not granted, like a refused one — the applicant
    may consent to drop it (not essential here) and the rest goes on to approval."""
    applicant, office = login("owner"), Office(staff_login)
    commissioner = office.commissioner
    detail, check_id = office.approved_by_commitment(client, applicant, session)
    office.post_checked(client, session, check_id, "fail", "未配置灭火器")
    case = staff_get(client, commissioner, f"/applications/{detail['id']}")
    lanes = {i["code"]: i["status"] for i in case["items"]}
    assert lanes == {FIRE: "revoked", FOOD: "under_review"} and case["status"] == "in_review"
    consent = client.post(f"{BASE}/{detail['id']}/items/{FIRE}/consent-drop", headers=applicant)
    assert consent.status_code == 200, consent.json
    post(client, commissioner, f"/applications/{detail['id']}/items/{FIRE}/drop",
         {"version": staff_get(client, commissioner, f"/applications/{detail['id']}")["version"]})
    bureau, _ = staff_login("unit_reviewer", "approval_bureau")
    food = task_of(client, bureau, detail["id"])
    post(client, bureau, f"/reviews/{food['id']}/approve",
         {"version": food["version"], "opinion": "符合条件，准予许可"})
    assert client.get(f"{BASE}/{detail['id']}", headers=applicant).json["status"] == "approved"


def test_a_false_commitment_found_while_awaiting_the_license_reopens_the_case(
        client, login, staff_login, session):
    """Every item approved (待发证) and then the post-check finds the commitment false: no
    license may be issued with a revoked item in it — the case goes back to review, where the
    applicant consents to drop the item (or the window refuses), and only then is it approved."""
    applicant, office = login("owner"), Office(staff_login)
    commissioner = office.commissioner
    detail, check_id = office.approved_by_commitment(client, applicant, session)
    bureau, _ = staff_login("unit_reviewer", "approval_bureau")
    food = task_of(client, bureau, detail["id"])
    post(client, bureau, f"/reviews/{food['id']}/approve",
         {"version": food["version"], "opinion": "符合条件，准予许可"})
    assert staff_get(client, commissioner, f"/applications/{detail['id']}")["status"] == \
        "approved"

    office.post_checked(client, session, check_id, "fail", "未配置灭火器")

    case = staff_get(client, commissioner, f"/applications/{detail['id']}")
    assert case["status"] == "in_review"
    assert {i["code"]: i["status"] for i in case["items"]} == {FIRE: "revoked",
                                                                FOOD: "approved"}
    issued = client.post(f"/api/staff/v1/applications/{detail['id']}/license",
                         headers=commissioner, json={"version": case["version"]})
    assert issued.status_code == 409, issued.json
    assert client.post(f"{BASE}/{detail['id']}/items/{FIRE}/consent-drop",
                       headers=applicant).status_code == 200
    post(client, commissioner, f"/applications/{detail['id']}/items/{FIRE}/drop",
         {"version": staff_get(client, commissioner, f"/applications/{detail['id']}")["version"]})
    assert client.get(f"{BASE}/{detail['id']}", headers=applicant).json["status"] == "approved"
