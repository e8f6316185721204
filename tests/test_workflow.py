"""The staff side end to end through the HTTP API: one window, parallel review, one joint
inspection with one rectification and one re-check, and the decision."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import event as sql_event
from sqlalchemy import func, select, text

from backend import clock
from backend.extensions import db
from backend.models import Application, ApplicationItem, MaterialFile
from backend.services import calendar, inspections, time_limits
from notifications.outbox import OutboxMessage
from tests.media_files import phone_jpeg
from tests.test_app import assert_envelope, bad_fields
from tests.test_applications import BASE, draft, fill, send_file, upload, upload_required
from tests.test_catalog import catalog_data, load_cli, write_catalog
from tests.test_media_images import pdf_bytes

STAFF = "/api/staff/v1"


def submitted(client, headers, industry="restaurant", on_draft=None, **answers) -> dict:
    """A complete application, submitted with its deferrable materials left for the visit;
    ``on_draft(headers, detail)`` runs on the fresh draft (to invite helpers)."""
    detail = draft(client, headers, industry, **answers)
    if on_draft is not None:
        on_draft(headers, detail)
    detail = fill(client, headers, detail)
    upload_required(client, headers, detail, skip_deferrable=True)
    resp = client.post(f"{BASE}/{detail['id']}/submit", headers=headers)
    assert resp.status_code == 200, resp.json
    return resp.json


def staff_get(client, headers, path: str) -> dict:
    resp = client.get(STAFF + path, headers=headers)
    assert resp.status_code == 200, resp.json
    return resp.json


def post(client, headers, path: str, body: dict | None = None, status: int = 200) -> dict:
    resp = client.post(STAFF + path, headers=headers, json=body or {})
    assert resp.status_code == status, resp.json
    return resp.json


def accepted(client, applicant, commissioner, industry="restaurant", on_draft=None,
             **answers) -> dict:
    app = submitted(client, applicant, industry, on_draft, **answers)
    return post(client, commissioner, f"/applications/{app['id']}/accept",
                {"version": app["version"]})


def approve_all(client, reviewers: dict[str, dict], app_id: int) -> None:
    for headers in reviewers.values():
        for task in staff_get(client, headers, "/reviews")["reviews"]:
            if task["application_id"] == app_id:
                post(client, headers, f"/reviews/{task['id']}/approve",
                     {"version": task["version"], "opinion": "符合条件，准予许可"})


def events(session, application_id: int) -> list[str]:
    return list(session.scalars(select(OutboxMessage.event)
                                .where(OutboxMessage.aggregate == f"application:{application_id}")
                                .order_by(OutboxMessage.id)))


RESTAURANT = {"floor_area": 450, "investment": 80, "sells_tobacco": True}


def test_restaurant_full_path_through_window_units_inspection_rectification(
        client, login, staff_login, session):
    applicant = login("owner")
    commissioner, _ = staff_login("window_commissioner")
    reviewers = {unit: staff_login("unit_reviewer", unit)[0]
                 for unit in ("approval_bureau", "fire", "tobacco")}
    coordinator, _ = staff_login("inspection_coordinator")
    inspectors = {unit: staff_login("inspector", unit) for unit in ("approval_bureau", "fire",
                                                                     "tobacco")}

    # 一窗受理: one supplement notice, then acceptance
    app = submitted(client, applicant, **RESTAURANT)
    queue = staff_get(client, commissioner, "/applications")
    assert [a["id"] for a in queue["applications"]] == [app["id"]]
    post(client, commissioner, f"/applications/{app['id']}/request-supplements", {
        "version": app["version"], "note": "请一次补齐",
        "demands": [{"subject": "经营场所使用证明", "demand": "租赁合同须有出租方签章"},
                    {"subject": "经营场所详细地址", "demand": "补充门牌号"}]})
    mine = client.get(f"{BASE}/{app['id']}", headers=applicant).json
    assert mine["status"] == "supplement_requested"
    assert len(mine["supplement_notice"]["demands"]) == 2
    assert "租赁合同须有出租方签章" in mine["timeline"][-1]["message"]
    client.patch(f"{BASE}/{app['id']}", headers=applicant,
                 json={"fields": {"premises_address": "太原市小店区平阳路 1 号 2 单元"}})
    upload(client, applicant, app["id"], "premises_proof", phone_jpeg(seed=99))
    resubmitted = client.post(f"{BASE}/{app['id']}/submit", headers=applicant).json
    assert resubmitted["status"] == "submitted"
    detail = post(client, commissioner, f"/applications/{app['id']}/accept",
                  {"version": resubmitted["version"]})
    assert detail["status"] == "in_review" and detail["acceptance_number"].startswith("SL")
    units = {i["approving_unit"]["code"] for i in detail["items"]}
    assert units == {"approval_bureau", "fire", "tobacco"}
    assert all(i["status"] == "under_review" and i["due_on"] for i in detail["items"])

    # 并联: each unit sees only its own tasks, all at once
    for unit, headers in reviewers.items():
        tasks = staff_get(client, headers, "/reviews")["reviews"]
        assert tasks and {t["item_code"] for t in tasks} == {
            i["code"] for i in detail["items"] if i["approving_unit"]["code"] == unit}
    fire_task = staff_get(client, reviewers["fire"], "/reviews")["reviews"][0]
    assert_envelope(client.post(f"{STAFF}/reviews/{fire_task['id']}/approve",
                                headers=reviewers["tobacco"],
                                json={"version": 1, "opinion": "越权"}), 404, "REVIEW_NOT_FOUND")
    approve_all(client, reviewers, app["id"])
    after_reviews = client.get(f"{BASE}/{app['id']}", headers=applicant).json
    assert all(i["status"] == "approved" for i in after_reviews["items"])
    assert after_reviews["status"] == "in_review"  # the joint inspection is still to come

    # 一同核查: one visit, the applicant may reschedule once
    to_schedule = staff_get(client, coordinator, "/inspections?status=to_schedule")
    inspection = to_schedule["inspections"][0]
    assert inspection["application_id"] == app["id"]
    team = [staff_id for _, staff_id in inspectors.values()]
    day = calendar.add_working_days(session, clock.today(), 2)
    inspection = post(client, coordinator, f"/inspections/{inspection['id']}/schedule", {
        "version": inspection["version"], "date": day.isoformat(), "window": "09:00-11:00",
        "address": "太原市小店区平阳路 1 号", "team": team})
    assert inspection["status"] == "scheduled"
    resp = client.post(f"{BASE}/{app['id']}/inspection/reschedule", headers=applicant,
                       json={"reason": "当天需外出进货"})
    assert resp.json["inspection"]["status"] == "reschedule_requested"
    assert_envelope(client.post(f"{BASE}/{app['id']}/inspection/reschedule", headers=applicant,
                                json={"reason": "再改一次"}), 422, "INSPECTION_RESCHEDULE_USED")
    later = calendar.add_working_days(session, day, 2)
    inspection = post(client, coordinator, f"/inspections/{inspection['id']}/schedule", {
        "version": resp.json["inspection"]["version"], "date": later.isoformat(),
        "window": "14:00-16:00", "address": "太原市小店区平阳路 1 号", "team": team})

    # inspectors record per-item results (photos, deferred materials confirmed on site)
    deferred = set(detail["deferred_materials"])
    for unit, (headers, _) in inspectors.items():
        photo = send_file(client, f"{STAFF}/inspections/{inspection['id']}/photos", headers,
                          phone_jpeg(seed=7))
        assert photo.status_code == 201, photo.json
        for item in detail["items"]:
            if item["approving_unit"]["code"] != unit or item["code"] not in inspection[
                    "item_codes"]:
                continue
            rectify = item["code"] == "fire_safety_check"
            post(client, headers, f"/inspections/{inspection['id']}/results", {
                "item_code": item["code"], "result": "rectify" if rectify else "pass",
                "demands": ["疏散通道堆放杂物，须清理"] if rectify else [],
                "photos": [photo.json["sha256"]],
                "confirmed_materials": sorted(deferred) if unit == "approval_bureau" else []})

    # ONE consolidated rectification notice; the clock pauses
    inspection = post(client, coordinator, f"/inspections/{inspection['id']}/conclude", {
        "version": staff_get(client, coordinator, f"/inspections/{inspection['id']}")["version"],
        "deadline": (clock.today() + timedelta(days=10)).isoformat(), "recheck_mode": "photos"})
    assert inspection["status"] == "rectifying"
    assert [r["item_code"] for r in inspection["rectification"]] == ["fire_safety_check"]
    mine = client.get(f"{BASE}/{app['id']}", headers=applicant).json
    assert "疏散通道堆放杂物" in mine["timeline"][-1]["message"]

    # the applicant rectifies; ONE re-check by photos; approved
    upload_evidence = send_file(client, f"{BASE}/{app['id']}/inspection/evidence", applicant,
                                phone_jpeg(seed=8))
    assert upload_evidence.status_code == 201, upload_evidence.json
    resp = client.post(f"{BASE}/{app['id']}/inspection/rectification", headers=applicant,
                       json={"note": "已清理疏散通道"})
    assert resp.json["inspection"]["status"] == "recheck"
    final = post(client, coordinator, f"/inspections/{inspection['id']}/photo-review",
                 {"version": resp.json["inspection"]["version"], "passed": True})
    assert final["status"] == "passed"
    done = client.get(f"{BASE}/{app['id']}", headers=applicant).json
    assert done["status"] == "approved"
    assert done["timeline"][-1]["message"].startswith("全部事项准予许可")

    # every step was an outbox event in the same transaction
    emitted = events(session, app["id"])
    for event in ("application.supplement_requested", "application.accepted",
                  "item.approved", "inspection.scheduled", "inspection.rescheduled",
                  "inspection.rectification_requested", "inspection.passed",
                  "application.approved"):
        assert event in emitted, (event, emitted)
    assert emitted.count("application.approved") == 1


def test_refused_essential_item_ends_in_refusal(client, login, staff_login):
    applicant = login()
    commissioner, _ = staff_login("window_commissioner")
    bureau, _ = staff_login("unit_reviewer", "approval_bureau")
    detail = accepted(client, applicant, commissioner)
    food = next(t for t in staff_get(client, bureau, "/reviews")["reviews"]
                if t["item_code"] == "food_business")
    post(client, bureau, f"/reviews/{food['id']}/refuse",
         {"version": food["version"], "opinion": "不符合《食品安全法》第三十三条：无独立操作间"})
    assert_envelope(client.post(f"{BASE}/{detail['id']}/items/food_business/consent-drop",
                                headers=applicant), 422, "ITEM_NOT_DROPPABLE")
    current = staff_get(client, commissioner, f"/applications/{detail['id']}")
    refused = post(client, commissioner, f"/applications/{detail['id']}/refuse",
                   {"version": current["version"], "reason": "食品经营许可不予许可，无法经营"})
    assert refused["status"] == "refused"
    assert {i["status"] for i in refused["items"]} <= {"refused", "closed"}
    mine = client.get(f"{BASE}/{detail['id']}", headers=applicant).json
    assert "不予许可" in mine["timeline"][-1]["message"]


def test_refused_optional_item_is_dropped_with_consent(client, login, staff_login, session):
    applicant = login()
    commissioner, _ = staff_login("window_commissioner")
    bureau, _ = staff_login("unit_reviewer", "approval_bureau")
    detail = accepted(client, applicant, commissioner, outdoor_sign=True)
    tasks = staff_get(client, bureau, "/reviews")["reviews"]
    sign = next(t for t in tasks if t["item_code"] == "outdoor_sign")
    post(client, bureau, f"/reviews/{sign['id']}/refuse",
         {"version": sign["version"], "opinion": "招牌尺寸超出规划限制"})
    current = staff_get(client, commissioner, f"/applications/{detail['id']}")
    assert_envelope(client.post(f"{STAFF}/applications/{detail['id']}/items/outdoor_sign/drop",
                                headers=commissioner, json={"version": current["version"]}),
                    422, "ITEM_DROP_NEEDS_CONSENT")
    client.post(f"{BASE}/{detail['id']}/items/outdoor_sign/consent-drop", headers=applicant)
    current = staff_get(client, commissioner, f"/applications/{detail['id']}")
    post(client, commissioner, f"/applications/{detail['id']}/items/outdoor_sign/drop",
         {"version": current["version"]})
    for task in staff_get(client, bureau, "/reviews")["reviews"]:
        post(client, bureau, f"/reviews/{task['id']}/approve",
             {"version": task["version"], "opinion": "准予许可"})
    final = client.get(f"{BASE}/{detail['id']}", headers=applicant).json
    statuses = {i["code"]: i["status"] for i in final["items"]}
    assert statuses.pop("outdoor_sign") == "dropped"
    assert set(statuses.values()) == {"approved"}
    needs_visit = final["inspection"] is not None
    assert final["status"] == ("in_review" if needs_visit else "approved")


def test_reject_at_the_window(client, login, staff_login):
    applicant = login()
    commissioner, _ = staff_login("window_commissioner")
    app = submitted(client, applicant)
    done = post(client, commissioner, f"/applications/{app['id']}/reject",
                {"version": app["version"], "reason": "经营场所位于居民楼内，不符合规划"})
    assert done["status"] == "not_accepted"
    assert all(i["status"] == "closed" for i in done["items"])


def test_a_unit_sees_an_item_only_once_the_window_has_sent_it(client, login, staff_login):
    """``/reviews?status=submitted`` (or ``closed``) listed items the window had not accepted
    or had refused, and ``/reviews/{id}`` showed their form and materials."""
    applicant = login("units-not-yet")
    commissioner, _ = staff_login("window_commissioner")
    fire, _ = staff_login("unit_reviewer", "fire")
    waiting = submitted(client, applicant, **RESTAURANT)
    refused = submitted(client, applicant, **RESTAURANT)
    post(client, commissioner, f"/applications/{refused['id']}/reject",
         {"version": refused["version"], "reason": "经营场所位于居民楼内，不符合规划"})
    sent = accepted(client, applicant, commissioner, **RESTAURANT)

    def listed(status: str) -> set[int]:
        return {t["application_id"] for t in staff_get(
            client, fire, f"/reviews?status={status}&per_page=100")["reviews"]}

    for status in ("draft", "submitted", "closed", "under_review"):
        assert not {waiting["id"], refused["id"]} & listed(status), status
    assert sent["id"] in listed("under_review")
    for unseen in (waiting, refused):
        item = next(i for i in unseen["items"] if i["approving_unit"]["code"] == "fire")
        assert_envelope(client.get(f"{STAFF}/reviews/{item['id']}", headers=fire), 404,
                        "REVIEW_NOT_FOUND")
    own = next(i for i in sent["items"] if i["approving_unit"]["code"] == "fire")
    assert staff_get(client, fire, f"/reviews/{own['id']}")["id"] == own["id"]


def test_stale_version_is_409_with_current_state(client, login, staff_login):
    applicant = login()
    commissioner, _ = staff_login("window_commissioner")
    app = submitted(client, applicant)
    body = assert_envelope(client.post(f"{STAFF}/applications/{app['id']}/accept",
                                       headers=commissioner,
                                       json={"version": app["version"] - 1}), 409,
                           "VERSION_CONFLICT")
    assert body["details"]["current_version"] == app["version"]
    assert body["details"]["status"] == "submitted"
    post(client, commissioner, f"/applications/{app['id']}/accept", {"version": app["version"]})
    again = assert_envelope(client.post(f"{STAFF}/applications/{app['id']}/accept",
                                        headers=commissioner,
                                        json={"version": app["version"] + 10}), 409,
                            "VERSION_CONFLICT")
    assert again["details"]["status"] == "in_review"


def test_two_concurrent_approvals_of_one_task_one_wins(app, client, login, staff_login,
                                                       session):
    applicant = login()
    commissioner, _ = staff_login("window_commissioner")
    first, _ = staff_login("unit_reviewer", "approval_bureau")
    second, _ = staff_login("unit_reviewer", "approval_bureau")
    detail = accepted(client, applicant, commissioner)
    task = next(t for t in staff_get(client, first, "/reviews")["reviews"])
    barrier, results = threading.Barrier(2), []

    def decide(headers, verdict: str) -> None:
        local = app.test_client()
        barrier.wait()
        resp = local.post(f"{STAFF}/reviews/{task['id']}/{verdict}", headers=headers,
                          json={"version": task["version"], "opinion": f"{verdict} 意见"})
        results.append((resp.status_code, resp.json.get("code")))

    threads = [threading.Thread(target=decide, args=(first, "approve")),
               threading.Thread(target=decide, args=(second, "refuse"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(s for s, _ in results) == [200, 409], results
    item = session.get(ApplicationItem, task["id"])
    decided = [e for e in client.get(f"{BASE}/{detail['id']}", headers=applicant).json[
        "timeline"] if e["action"] in {"item.approved", "item.refused"}]
    assert len(decided) == 1 and item.status in {"approved", "refused"}


def test_time_limits_list_due_soon_and_overdue(client, login, staff_login, session):
    applicant = login()
    commissioner, _ = staff_login("window_commissioner")
    coordinator, _ = staff_login("inspection_coordinator")
    detail = accepted(client, applicant, commissioner)
    items = list(session.scalars(select(ApplicationItem).where(
        ApplicationItem.application_id == detail["id"])))
    items[0].due_on = calendar.add_working_days(session, clock.today(), 1)
    items[-1].due_on = clock.today() - timedelta(days=10)
    session.commit()
    overdue = staff_get(client, coordinator, "/time-limits?state=overdue")["tasks"]
    assert [t["id"] for t in overdue] == [items[-1].id]
    assert overdue[0]["remaining_working_days"] < 0
    assert overdue[0]["unit"] == next(i["approving_unit"] for i in detail["items"]
                                      if i["id"] == items[-1].id)
    soon = staff_get(client, coordinator, "/time-limits?state=due_soon")["tasks"]
    assert items[0].id in [t["id"] for t in soon]


def test_inspector_sees_only_inspections_they_are_on(client, login, staff_login, session):
    applicant = login()
    commissioner, _ = staff_login("window_commissioner")
    coordinator, _ = staff_login("inspection_coordinator")
    on_team = {u: staff_login("inspector", u) for u in ("approval_bureau", "fire")}
    outsider, _ = staff_login("inspector", "fire")
    detail = accepted(client, applicant, commissioner, floor_area=450, investment=80)
    inspection = staff_get(client, coordinator, "/inspections")["inspections"][0]
    post(client, coordinator, f"/inspections/{inspection['id']}/schedule", {
        "version": inspection["version"],
        "date": calendar.add_working_days(session, clock.today(), 1).isoformat(),
        "window": "09:00-10:00", "address": "现场", "team": [i for _, i in on_team.values()]})
    headers, _ = on_team["fire"]
    team = staff_get(client, coordinator, f"/inspections/{inspection['id']}")["team"]
    assert sorted((m["unit"]["code"], m["unit"]["name"]) for m in team) == [
        ("approval_bureau", "行政审批服务管理局"), ("fire", "消防救援机构")]
    assert staff_get(client, headers, "/inspections/mine")["total"] == 1
    assert staff_get(client, outsider, "/inspections/mine")["total"] == 0
    assert_envelope(client.get(f"{STAFF}/inspections/{inspection['id']}", headers=outsider),
                    404, "INSPECTION_NOT_FOUND")
    assert_envelope(client.get(f"{STAFF}/applications/{detail['id']}", headers=outsider), 404,
                    "APPLICATION_NOT_FOUND")


def _schedule_next_monday(client, login, staff_login, window: str, team: list[int]):
    """An accepted application whose inspection involves the approval bureau and fire,
    scheduled by a coordinator for next Monday: (response, detail, inspection, coordinator)."""
    applicant = login()
    commissioner, _ = staff_login("window_commissioner")
    coordinator, _ = staff_login("inspection_coordinator")
    detail = accepted(client, applicant, commissioner, floor_area=450, investment=80)
    inspection = staff_get(client, coordinator, "/inspections")["inspections"][0]
    monday = clock.today() + timedelta(days=7 - clock.today().weekday())
    resp = client.post(
        f"{STAFF}/inspections/{inspection['id']}/schedule", headers=coordinator,
        json={"version": inspection["version"], "date": monday.isoformat(),
              "window": window, "address": "现场", "team": team})
    return resp, detail, inspection, coordinator


@pytest.mark.parametrize("team_units", [(), ("approval_bureau",)])
def test_schedule_names_the_units_still_needing_an_inspector(client, login, staff_login,
                                                            session, team_units):
    team = [staff_login("inspector", u)[1] for u in team_units]
    resp, detail, inspection, coordinator = _schedule_next_monday(
        client, login, staff_login, "11:00-09:00", team)
    involved = {i["approving_unit"]["code"]: i["approving_unit"] for i in detail["items"]
                if i["code"] in inspection["item_codes"]}
    fields = bad_fields(resp, 422, "INSPECTION_SCHEDULE_INVALID")
    uncovered = [involved[c] for c in sorted(set(involved) - set(team_units))]
    assert len(uncovered) >= 1 and {"team", "window"} <= set(fields)
    assert fields["team"]["code"] == "TEAM_UNITS_UNCOVERED"
    assert all(u["name"] in fields["team"]["message"] for u in uncovered)
    assert resp.json["details"]["uncovered_units"] == uncovered
    assert staff_get(client, coordinator, f"/inspections/{inspection['id']}")["status"] == \
        inspection["status"]


def test_schedule_names_every_team_problem_at_once(client, login, staff_login):
    """A member who is no inspector, an unknown id and the unit they leave uncovered: each
    its own entry (``team.<i>``, ``team``), not only the first kind found."""
    team = [staff_login("inspector", "approval_bureau")[1],
            staff_login("unit_reviewer", "fire")[1], 2**31 - 1]
    resp, detail, _, _ = _schedule_next_monday(client, login, staff_login, "09:00-11:00", team)
    fire_name = next(i["approving_unit"]["name"] for i in detail["items"]
                     if i["approving_unit"]["code"] == "fire")
    fields = bad_fields(resp, 422, "INSPECTION_SCHEDULE_INVALID")
    assert {k: f["code"] for k, f in fields.items()} == {
        "team.1": "TEAM_MEMBER_NOT_INSPECTOR", "team.2": "TEAM_MEMBER_NOT_INSPECTOR",
        "team": "TEAM_UNITS_UNCOVERED"}
    assert fire_name in fields["team"]["message"]
    assert [u["code"] for u in resp.json["details"]["uncovered_units"]] == ["fire"]


def test_staff_free_text_is_cleaned_where_it_enters(client, login, staff_login):
    """Addresses are one line; reasons keep their line breaks; neither keeps a control or
    invisible character, and text made only of those is missing."""
    applicant = login()
    commissioner, _ = staff_login("window_commissioner")
    coordinator, _ = staff_login("inspection_coordinator")
    detail = accepted(client, applicant, commissioner, floor_area=450, investment=80)
    inspection = staff_get(client, coordinator, "/inspections")["inspections"][0]
    team = sorted({staff_login("inspector", i["approving_unit"]["code"])[1]
                   for i in detail["items"] if i["code"] in inspection["item_codes"]})
    monday = clock.today() + timedelta(days=7 - clock.today().weekday())
    body = {"version": inspection["version"], "date": monday.isoformat(),
            "window": "09:00-11:00", "team": team}
    for blank in ("\u200b", "\x07\r\n", " \ufeff "):
        resp = client.post(f"{STAFF}/inspections/{inspection['id']}/schedule",
                           headers=coordinator, json=body | {"address": blank})
        fields = bad_fields(resp, 422, "REQUEST_INVALID")
        assert (fields["address"]["code"], fields["address"]["message"]) == \
            ("MISSING", "此项必填")
    assert staff_get(client, coordinator, f"/inspections/{inspection['id']}")["address"] is None
    done = post(client, coordinator, f"/inspections/{inspection['id']}/schedule",
                body | {"address": "平阳路\x1b[0m 1 号\r\n东门\u200b"})
    assert done["address"] == "平阳路[0m 1 号 东门"

    other = submitted(client, login("second"))
    resp = client.post(f"{STAFF}/applications/{other['id']}/reject", headers=commissioner,
                       json={"version": other["version"], "reason": "\u200b\n\x00"})
    assert bad_fields(resp, 422, "REQUEST_INVALID")["reason"]["code"] == "MISSING"
    done = post(client, commissioner, f"/applications/{other['id']}/reject",
                {"version": other["version"], "reason": "不符合规划\r\n\x07见附件\r\n"})
    assert done["decision_reason"] == "不符合规划\n见附件"


def scheduled(client, login, staff_login, session, on_draft=None, days_ahead: int = 1,
              **answers) -> tuple[dict, dict, dict, dict, dict]:
    """(applicant, coordinator, {unit: (inspector headers, id)}, application, inspection): a
    joint inspection scheduled ``days_ahead`` working days from today; ``on_draft``: see
    :func:`submitted`."""
    applicant = login()
    commissioner, _ = staff_login("window_commissioner")
    coordinator, _ = staff_login("inspection_coordinator")
    team = {u: staff_login("inspector", u) for u in ("approval_bureau", "fire")}
    detail = accepted(client, applicant, commissioner, on_draft=on_draft, floor_area=450,
                      investment=80, **answers)
    inspection = next(i for i in staff_get(client, coordinator, "/inspections?per_page=100")[
        "inspections"] if i["application_id"] == detail["id"])
    inspection = post(client, coordinator, f"/inspections/{inspection['id']}/schedule", {
        "version": inspection["version"],
        "date": calendar.add_working_days(session, clock.today(), days_ahead).isoformat(),
        "window": "09:00-10:00", "address": "现场", "team": [i for _, i in team.values()]})
    return applicant, coordinator, team, detail, inspection


def rectifying(client, login, staff_login, session, recheck_mode: str = "onsite",
               deadline_days: int = 7, status: int = 200, on_draft=None, **answers,
               ) -> tuple[dict, dict, dict, dict]:
    """(applicant, coordinator, application, inspection): a joint inspection concluded with a
    rectification notice due in ``deadline_days``, re-checked on site (or by photos); the
    conclusion answers ``status``."""
    applicant, coordinator, team, detail, inspection = scheduled(
        client, login, staff_login, session, on_draft, **answers)
    for unit, (headers, _) in team.items():
        for code in inspection["item_codes"]:
            unit_of = next(i["approving_unit"]["code"] for i in detail["items"]
                           if i["code"] == code)
            if unit_of == unit:
                post(client, headers, f"/inspections/{inspection['id']}/results", {
                    "item_code": code, "result": "rectify", "demands": ["整改"],
                    "confirmed_materials": detail["deferred_materials"]})
    current = staff_get(client, coordinator, f"/inspections/{inspection['id']}")
    post(client, coordinator, f"/inspections/{inspection['id']}/conclude", {
        "version": current["version"], "recheck_mode": recheck_mode,
        "deadline": (clock.today() + timedelta(days=deadline_days)).isoformat()},
         status=status)
    return applicant, coordinator, detail, inspection


def test_a_rectification_deadline_years_away_is_refused(client, login, staff_login, session):
    """The clock stops while the applicant rectifies: a typo such as 2029 would freeze the
    case for years."""
    _, coordinator, _, inspection = rectifying(
        client, login, staff_login, session,
        deadline_days=inspections.RECTIFICATION_MAX_DAYS + 1, status=422)
    after = staff_get(client, coordinator, f"/inspections/{inspection['id']}")
    assert after["status"] == "scheduled" and after["rectification_deadline"] is None
    rectifying(client, login, staff_login, session,
               deadline_days=inspections.RECTIFICATION_MAX_DAYS)


def visit_of(client, login, staff_login, session, days_ahead: int = 1):
    """(coordinator, {unit: inspector headers}, application, inspection): a joint inspection
    scheduled ``days_ahead`` working days from today."""
    _, coordinator, team, detail, inspection = scheduled(client, login, staff_login, session,
                                                         days_ahead=days_ahead)
    return coordinator, {u: h for u, (h, _) in team.items()}, detail, inspection


def test_a_pass_carries_no_rectification_demands(client, login, staff_login, session):
    _, team, detail, inspection = visit_of(client, login, staff_login, session)
    code = next(i["code"] for i in detail["items"] if i["approving_unit"]["code"] == "fire"
                and i["code"] in inspection["item_codes"])
    resp = client.post(f"{STAFF}/inspections/{inspection['id']}/results", headers=team["fire"],
                       json={"item_code": code, "result": "pass", "demands": ["补装灭火器"]})
    assert bad_fields(resp, 422, "INSPECTION_RESULT_INVALID")["demands"]["code"] == \
        "DEMANDS_ON_PASS"
    post(client, team["fire"], f"/inspections/{inspection['id']}/results",
         {"item_code": code, "result": "pass", "demands": []})


def test_the_coordinator_reschedules_a_visit_until_a_result_is_recorded(
        client, login, staff_login, session):
    """Once scheduled a visit could not be moved by the coordinator; and any date, even
    2099-12-31, was accepted."""
    coordinator, team, detail, inspection = visit_of(client, login, staff_login, session)
    url = f"/inspections/{inspection['id']}/schedule"
    body = {"window": "14:00-15:00", "address": "东门",
            "team": [m["staff_id"] for m in inspection["team"]]}
    limit = clock.today() + timedelta(days=inspections.SCHEDULE_MAX_DAYS_AHEAD)
    for far in (date(2099, 12, 31), limit + timedelta(days=1)):
        resp = client.post(STAFF + url, headers=coordinator, json=body | {
            "version": inspection["version"], "date": far.isoformat()})
        assert bad_fields(resp, 422, "INSPECTION_SCHEDULE_INVALID")["date"]["code"] == \
            "INSPECTION_DATE_TOO_FAR"
    later = calendar.last_working_day(session, limit)
    moved = post(client, coordinator, url, body | {"version": inspection["version"],
                                                    "date": later.isoformat()})
    assert (moved["status"], moved["scheduled_on"], moved["window"]) == (
        "scheduled", later.isoformat(), "14:00-15:00")
    assert events(session, detail["id"]).count("inspection.scheduled") == 2  # told again

    code = next(c for c in inspection["item_codes"] if any(
        i["code"] == c and i["approving_unit"]["code"] == "fire" for i in detail["items"]))
    post(client, team["fire"], f"/inspections/{inspection['id']}/results",
         {"item_code": code, "result": "pass"})
    current = staff_get(client, coordinator, f"/inspections/{inspection['id']}")
    resp = client.post(STAFF + url, headers=coordinator, json=body | {
        "version": current["version"], "date": later.isoformat()})
    assert_envelope(resp, 422, "INSPECTION_RESULTS_RECORDED")


@pytest.mark.parametrize(("role", "unit", "path", "name", "known"), [
    ("window_commissioner", None, "/applications", "status", "in_review"),
    ("unit_reviewer", "fire", "/reviews", "status", "approved"),
    ("inspection_coordinator", None, "/inspections", "status", "scheduled"),
    ("inspector", "fire", "/inspections/mine", "status", "passed"),
    ("inspection_coordinator", None, "/time-limits", "state", "overdue"),
    ("system_admin", None, "/notifications/deliveries", "status", "sent"),
    ("system_admin", None, "/notifications/deliveries", "channel", "webhook"),
    (None, None, "/api/mp/v1/applications", "status", "draft"),
])
def test_an_unknown_value_of_an_enumerated_query_parameter_is_422(client, login, staff_login,
                                                                  role, unit, path, name,
                                                                  known):
    """``?status=nope`` answered 200 with an empty list, as if nothing had that status."""
    headers = staff_login(role, unit)[0] if role else login()
    url = path if path.startswith("/api/") else f"{STAFF}{path}"
    resp = client.get(url, headers=headers, query_string={name: known})
    assert resp.status_code == 200, resp.json
    for unknown in ("nope", known.upper(), f"{known} "):
        resp = client.get(url, headers=headers, query_string={name: unknown})
        assert name in bad_fields(resp, 422, "REQUEST_INVALID"), (unknown, resp.json)


def test_clock_pauses_while_the_applicant_rectifies(client, login, staff_login, session):
    applicant, _, detail, _ = rectifying(client, login, staff_login, session)
    paused = client.get(f"{BASE}/{detail['id']}", headers=applicant).json["items"]
    assert {i["clock"] for i in paused} == {"paused"}
    due_before = {i["code"]: date_of(i["due_on"]) for i in paused}
    # the applicant took a week to rectify
    application = session.get(Application, detail["id"])
    application.paused_since = clock.today() - timedelta(days=7)
    session.commit()
    taken = calendar.working_days_between(session, application.paused_since, clock.today())
    client.post(f"{BASE}/{detail['id']}/inspection/rectification", headers=applicant,
                json={"note": "已整改"})
    resumed = client.get(f"{BASE}/{detail['id']}", headers=applicant).json["items"]
    for item in resumed:
        assert item["clock"] != "paused"
        expected = calendar.add_working_days(session, due_before[item["code"]], taken)
        assert date_of(item["due_on"]) == expected, (item, taken)


def test_a_pdf_is_no_inspection_photo(client, login, staff_login, session):
    """Inspection photos and rectification photos are judged as pictures: a PDF (by its
    content, whatever its name) is refused there and nothing is stored."""
    applicant, coordinator, detail, inspection = rectifying(client, login, staff_login, session)
    places = ((f"{STAFF}/inspections/{inspection['id']}/photos", coordinator),
              (f"{BASE}/{detail['id']}/inspection/evidence", applicant))
    for url, headers in places:
        resp = send_file(client, url, headers, pdf_bytes(1), name="photo.jpg")
        assert assert_envelope(resp, 415, "UPLOAD_PHOTO_ONLY")["message"] == \
            "此处只能上传照片（JPEG、PNG、HEIC），不能上传 PDF"
    codes = {"inspection_photo", "rectification_evidence"}
    assert session.scalar(select(func.count()).select_from(MaterialFile).where(
        MaterialFile.material_code.in_(codes))) == 0
    for url, headers in places:
        assert send_file(client, url, headers, phone_jpeg()).status_code == 201


def date_of(text: str) -> date:
    return date.fromisoformat(text)


# --- queries: bounded per application, the watch lists read an index ---------------------

def load_industries_of(app, tmp_path, sizes: dict[str, int]) -> None:
    """A catalog version with industries of the given numbers of items (no questions)."""
    data = catalog_data()
    codes = list(data["permit_items"])
    for name, size in sizes.items():
        data["industries"][name] = data["industries"]["small_eatery"] | {
            "name": name, "items": codes[:size], "questions": [], "rules": []}
    assert load_cli(app, write_catalog(tmp_path, data)).exit_code == 0


def statements(app, call) -> list[str]:
    seen: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # noqa: ARG001
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    sql_event.listen(engine, "before_cursor_execute", count)
    try:
        call()
    finally:
        sql_event.remove(engine, "before_cursor_execute", count)
    return seen


def test_application_detail_costs_the_same_queries_for_one_item_or_ten(
        app, client, login, staff_login, session, tmp_path):
    """No query per item: the clocks of all lanes come from one calendar query."""
    load_industries_of(app, tmp_path, {"one_item": 1, "ten_items": 10})
    commissioner, _ = staff_login("window_commissioner")
    counts = {}
    for industry in ("one_item", "ten_items"):
        detail = accepted(client, login(), commissioner, industry)
        assert len(detail["items"]) == int(industry == "ten_items") * 9 + 1
        assert all(i["clock"] in {"on_time", "due_soon"} for i in detail["items"])
        path = f"/applications/{detail['id']}"
        staff_get(client, commissioner, path)  # warm: the catalog document, the token
        counts[industry] = len(statements(app, lambda p=path: staff_get(client, commissioner,
                                                                           p)))
    assert counts["one_item"] == counts["ten_items"], counts


def test_watch_lists_read_a_range_of_deadlines_on_the_index(app, client, login, staff_login,
                                                            session):
    """overdue / due_soon / on_time are ranges on (status, due_on) that agree with the clocks
    computed one by one; MariaDB plans the overdue query on the index."""
    applicant = login()
    commissioner, _ = staff_login("window_commissioner")
    coordinator, _ = staff_login("inspection_coordinator")
    ids = [accepted(client, applicant, commissioner)["id"] for _ in range(3)]
    items = list(session.scalars(select(ApplicationItem).where(
        ApplicationItem.application_id.in_(ids)).order_by(ApplicationItem.id)))
    today = clock.today()
    for n, item in enumerate(items):  # deadlines from 12 days ago to 12 days ahead
        item.due_on = today + timedelta(days=n * 24 // max(1, len(items) - 1) - 12)
    session.commit()
    one_by_one = {item.id: time_limits.of_item(session, item).state for item in items}
    for state in ("overdue", "due_soon", "on_time"):
        listed = [t["id"] for t in staff_get(client, coordinator,
                                             f"/time-limits?state={state}")["tasks"]]
        assert sorted(listed) == sorted(i for i, s in one_by_one.items() if s == state), state
    assert {"overdue", "on_time"} <= set(one_by_one.values())

    query = (select(ApplicationItem.id).join(Application)
             .where(*time_limits.in_state(session, "overdue", today)))
    if session.bind.dialect.name == "mariadb":
        compiled = query.compile(session.bind, compile_kwargs={"literal_binds": True})
        plan = session.execute(text(f"EXPLAIN {compiled}")).mappings().all()
        items_plan = next(row for row in plan if row["table"] == "application_items")
        assert items_plan["key"] in {"ix_application_items_status_due_on",
                                     "ix_application_items_due_on"}, plan
        assert items_plan["type"] == "range", plan
