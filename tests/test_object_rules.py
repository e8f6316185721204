"""The object rule, generated from the URL map: for every staff route that names an object
by id, a staff member unrelated to that object gets the same answer as for an id that does
not exist — 404, or the role gate's 403 where the role may never use the route — and nothing
changes. A new route with a path variable fails here until it is classified below."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from backend import clock
from backend.extensions import db
from backend.models.base import utcnow
from backend.models.notifications import InboxMessage
from backend.services import calendar
from tests.media_files import phone_jpeg
from tests.test_applications import send_file
from tests.test_permissions import RULES, _allowed
from tests.test_workflow import STAFF, accepted, approve_all, post, staff_get

# staff endpoint with a path variable → the object it names; None = no owner (configuration
# and the delivery log: administrators only, the role gate of test_permissions)
OBJECT_OF = {
    "staff.get_application": "application", "staff.accept": "application",
    "staff.request_supplements": "application", "staff.reject": "application",
    "staff.drop_item": "application", "staff.refuse": "application",
    "staff.issue_license": "application",
    "staff.get_review": "review", "staff.approve_review": "review",
    "staff.refuse_review": "review", "staff.approve_by_commitment": "review",
    "staff.get_inspection": "inspection", "staff.schedule": "inspection",
    "staff.upload_photo": "inspection", "staff.record_result": "inspection",
    "staff.conclude": "inspection", "staff.photo_review": "inspection",
    "staff.get_license": "license", "staff.set_item_status": "license",
    "staff.license_downloads": "license",
    "staff.decide_license_request": "license_request",
    "staff.read_staff_message": "message",
    "staff.rate_at_window": "application",
    "staff.get_rectification": "rectification", "staff.verify_rectification": "rectification",
    "staff.follow_up_rectification": "rectification",
    "staff.close_rectification": "rectification",
    "staff.set_calendar_day": None, "staff.get_delivery": None,
    "staff.replay_delivery": None, "staff.configure_department": None,
}
# a body that would be accepted if the object were the caller's: the object rule, not the
# validation, must be what refuses
VERSION = "{version}"  # the object's current version
BODIES = {
    "staff.approve_review": {"version": VERSION, "opinion": "越权审批"},
    "staff.refuse_review": {"version": VERSION, "opinion": "越权不予许可"},
    "staff.approve_by_commitment": {"version": VERSION, "opinion": "越权承诺即批"},
    "staff.record_result": {"item_code": "{item_code}", "result": "fail"},
    "staff.set_item_status": {"version": VERSION, "reason": "越权吊销"},
    "staff.decide_license_request": {"version": VERSION, "approve": True, "opinion": "越权同意"},
    "staff.rate_at_window": {"level": "very_dissatisfied"},
    "staff.verify_rectification": {"version": VERSION, "founded": True, "notes": "越权核实"},
    "staff.follow_up_rectification": {"version": VERSION, "contacted_at": "{now}",
                                      "method": "phone", "applicant_said": "越权回访",
                                      "satisfied": True},
    "staff.close_rectification": {"version": VERSION, "note": "越权办结"},
}
MISSING = 2**31 - 1  # a valid id no row has
RESTAURANT = {"floor_area": 450, "investment": 80, "sells_tobacco": False}


def id_routes(app):
    return [r for r in app.url_map.iter_rules()
            if r.rule.startswith(STAFF) and "<" in r.rule and r.endpoint in RULES]


def test_every_staff_route_with_an_id_is_classified(app):
    assert {r.endpoint for r in id_routes(app)} == set(OBJECT_OF)


@pytest.fixture
def world(client, login, staff_login, session):
    """A restaurant (approval bureau and fire items, no tobacco item) through review, a joint
    inspection by a bureau and a fire inspector, to a license with a pending change; and a
    message for the commissioner."""
    applicant = login("owner")
    commissioner, commissioner_id = staff_login("window_commissioner")
    coordinator, _ = staff_login("inspection_coordinator")
    reviewers = {u: staff_login("unit_reviewer", u)[0] for u in ("approval_bureau", "fire")}
    team = {u: staff_login("inspector", u) for u in ("approval_bureau", "fire")}
    detail = accepted(client, applicant, commissioner, **RESTAURANT)
    assert {i["approving_unit"]["code"] for i in detail["items"]} == set(reviewers)
    review = staff_get(client, reviewers["approval_bureau"], "/reviews")["reviews"][0]
    approve_all(client, reviewers, detail["id"])
    inspection = staff_get(client, coordinator, "/inspections")["inspections"][0]
    inspection = post(client, coordinator, f"/inspections/{inspection['id']}/schedule", {
        "version": inspection["version"], "window": "09:00-11:00",
        "date": calendar.add_working_days(session, clock.today(), 1).isoformat(),
        "address": "太原市小店区平阳路 1 号", "team": [i for _, i in team.values()]})
    units = {i["code"]: i["approving_unit"]["code"] for i in detail["items"]}
    for code in inspection["item_codes"]:
        post(client, team[units[code]][0], f"/inspections/{inspection['id']}/results",
             {"item_code": code, "result": "pass",
              "confirmed_materials": sorted(detail["deferred_materials"])
              if units[code] == "approval_bureau" else []})
    post(client, coordinator, f"/inspections/{inspection['id']}/conclude",
         {"version": staff_get(client, coordinator,
                               f"/inspections/{inspection['id']}")["version"]})
    license_ = post(client, commissioner, f"/applications/{detail['id']}/license", status=201)
    resp = client.post(f"/api/mp/v1/licenses/{license_['id']}/requests", headers=applicant,
                       json={"kind": "change", "changes": {"holder_name": "新名称"},
                             "reason": "更名"})
    assert resp.status_code == 201, resp.json
    request = staff_get(client, reviewers["fire"], "/license-requests")["requests"][0]
    rated = client.post(f"/api/mp/v1/applications/{detail['id']}/rating", headers=applicant,
                        json={"level": "dissatisfied", "comment": "等待时间长"})
    assert rated.status_code == 201, rated.json
    task = staff_get(client, reviewers["approval_bureau"], "/rectifications")["tasks"][0]
    message = InboxMessage(recipient_kind="staff", recipient_id=commissioner_id,
                           dedupe_key="test:object-rule", event="tick.overdue", title="超期事项",
                           body="今日超期 0 件")
    session.add(message)
    session.commit()
    strangers = {"tobacco reviewer": staff_login("unit_reviewer", "tobacco")[0],
                 "bureau inspector off the team": staff_login("inspector", "approval_bureau")[0],
                 "tobacco inspector": staff_login("inspector", "tobacco")[0]}
    others = {"commissioner": commissioner, "coordinator": coordinator,
              "system admin": staff_login("system_admin")[0]}
    bureau_item = next(c for c, u in units.items() if u == "approval_bureau")
    return {
        "ids": {"application_id": detail["id"], "review_id": review["id"],
                "inspection_id": inspection["id"], "license_id": license_["id"],
                "request_id": request["id"], "message_id": message.id,
                "item_code": bureau_item, "task_id": task["id"],
                "now": utcnow().isoformat()},
        "versions": {"application": detail["version"], "review": review["version"],
                     "inspection": inspection["version"], "license": license_["lock_version"],
                     "license_request": request["version"], "message": 1,
                     "rectification": task["version"]},
        # whom each object is unrelated to: units without an item, inspectors not on the
        # team; a change waits for its units only; a message is its recipient's alone
        "strangers": {"application": strangers, "review": strangers, "inspection": strangers,
                      "license": strangers,
                      "license_request": strangers | {"commissioner": commissioner},
                      "message": strangers | {k: v for k, v in others.items()
                                              if k != "commissioner"},
                      # a bad rating's task is its unit's: not another unit of the case
                      "rectification": strangers | {"fire reviewer": reviewers["fire"],
                                                    "commissioner": commissioner,
                                                    "coordinator": coordinator}},
    }


def snapshot(session) -> dict[str, list]:
    return {t.name: sorted(map(tuple, session.execute(select(t)).all()), key=repr)
            for t in db.metadata.sorted_tables}


def _url(rule: str, ids: dict, missing: bool) -> str:
    def fill(match: re.Match) -> str:
        converter, name = match["converter"] or "", match["name"]
        if converter.startswith("any("):
            return "revoke"
        return str(MISSING) if missing and converter == "int" else str(ids[name])
    return re.sub(r"<(?:(?P<converter>[^>:]+):)?(?P<name>\w+)>", fill, rule)


def _call(client, rule, headers, world, missing: bool):
    method = sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
    url = _url(rule.rule, world["ids"], missing)
    if rule.endpoint == "staff.upload_photo":
        return send_file(client, url, headers, phone_jpeg(seed=3))
    values = world["ids"] | {"version": world["versions"][OBJECT_OF[rule.endpoint]]}
    body = {k: (int if v == VERSION else str)(v.format(**values)) if isinstance(v, str) else v
            for k, v in BODIES.get(rule.endpoint, {}).items()}
    return client.open(url, method=method, headers=headers,
                       json=None if method == "GET" else body)


def test_an_unrelated_staff_member_gets_404_and_changes_nothing(app, client, world, session):
    before = snapshot(session)
    checked = []
    for rule in id_routes(app):
        kind = OBJECT_OF[rule.endpoint]
        if kind is None:
            continue
        for who, headers in world["strangers"][kind].items():
            real = _call(client, rule, headers, world, missing=False)
            absent = _call(client, rule, headers, world, missing=True)
            answer = (real.status_code, real.json.get("code"))
            assert answer == (absent.status_code, absent.json.get("code")), (rule.rule, who,
                                                                         real.json)
            role = staff_role(session, headers, client)
            if _allowed(RULES[rule.endpoint], role, "") or RULES[rule.endpoint] == "visible":
                assert real.status_code == 404, (rule.rule, who, real.json)
            else:
                assert answer == (403, "FORBIDDEN_ROLE"), (rule.rule, who, real.json)
            checked.append((rule.endpoint, who))
        assert snapshot(session) == before, rule.rule
    assert {e for e, _ in checked} == {e for e, k in OBJECT_OF.items() if k}


def staff_role(session, headers, client) -> str:
    return client.get(f"{STAFF}/me", headers=headers).json["role"]

