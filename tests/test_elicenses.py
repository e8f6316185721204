"""电子证照: every license and bundled permit has a 证照标识 and GB/T 36903 metadata, one
national status vocabulary kept in step with the license both ways, versions linked, and the
identifier checked wherever it is accepted."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import flask_migrate
import pytest
import yaml
from sqlalchemy import select

from backend import clock
from backend.extensions import db
from backend.models import (
    ApplicationEvent,
    Elicense,
    ElicenseEvent,
    Inspection,
    License,
    LicenseItem,
)
from backend.services import catalog, elicense_ids, elicenses, licenses, public_records
from tests.conftest import CATALOG_FILE
from tests.test_app import bad_fields
from tests.test_console_admin import signed_in
from tests.test_licenses import holder_asks, issue_shop_license
from tests.test_workflow import post, staff_get

FILING, DEVICE = "food_prepackaged_filing", "device_class2_filing"  # required, optional
COMBINED = elicenses.COMBINED


@pytest.fixture
def licensed(client, login, staff_login):
    return issue_shop_license(client, login, staff_login)


def mine(session, license_id: int) -> dict[str, Elicense]:
    session.expire_all()
    return elicenses.of_license(session.get(License, license_id))


def statuses(session, license_id: int) -> dict[str, str]:
    return {code: e.status_code for code, e in mine(session, license_id).items()}


def last_operations(session, license_id: int) -> dict[str, str]:
    return {code: e.events[-1].operation_code for code, e in mine(session, license_id).items()}


def test_the_license_and_every_permit_get_an_identifier_and_metadata(client, licensed, session):
    shown = client.get(f"/api/mp/v1/licenses/{licensed['license']['id']}",
                       headers=licensed["applicant"]).json
    number = shown["license_no"]
    combined = elicense_ids.parse(shown["elicense"]["identifier"])
    assert (combined.type_code, combined.serial, combined.version_text) == (
        "111400000000000003001", number, "001")  # the catalog's (placeholder) type
    bureau = elicense_ids.placeholder_credit_code("140105", "approval_bureau")
    assert combined.issuer_code == bureau
    assert shown["elicense"]["estimated"] == ["type_code", "issuer_code"]
    assert shown["elicense"]["status_code"] == "01" and shown["elicense"]["status_label"] == "有效"
    permits = {i["code"]: elicense_ids.parse(i["elicense"]["identifier"]) for i in shown["items"]}
    assert set(permits) == {FILING, DEVICE}
    assert permits[FILING].type_code == "111400000000000003102"
    assert permits[FILING].serial == f"{number}01" and permits[DEVICE].serial == f"{number}02"
    assert all(i["verdict"] == "valid" and i["elicense"]["version"] == "001"
               for i in shown["items"])
    # the staff view says the same
    staff = staff_get(client, licensed["reviewer"], f"/licenses/{shown['id']}")
    assert staff["elicense"] == shown["elicense"]

    record = elicenses.record(mine(session, shown["id"])[FILING])
    # sealed when the face was first made (the issue's answer shows it): the seal's signer
    # and the signing time the signature states
    sealed_at = datetime.fromisoformat(record.pop("sealed_at"))
    assert abs(sealed_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert record.pop("sealed_by") == shown["issuing_authority"]
    assert record | {"identifier": None, "extension": None} == {
        "identifier": None, "previous_identifier": None,
        "type_name": "仅销售预包装食品备案凭证", "type_code": "111400000000000003102",
        "license_no": f"{number}-01", "name": "仅销售预包装食品备案凭证", "version": "001",
        "issued_on": clock.today().strftime("%Y%m%d"),
        "issuer_name": "太原市小店区行政审批服务管理局", "issuer_code": bureau,
        "issuer_level": "county", "issuer_level_label": "县级",
        "definer_name": "山西省审批服务管理局", "definer_code": "111400000000000003",
        "valid_from": clock.today().strftime("%Y%m%d"), "valid_until": "长期",
        "division_code": "140105", "holder_name": shown["holder_name"],
        "holder_code": "91110000600037341L", "holder_code_type": "001",
        "holder_code_type_name": "统一社会信用代码",
        "service_item_name": "仅销售预包装食品备案", "service_item_code": None,
        "status_code": "01", "status_label": "有效",
        "status_description": None, "extension": None,
        "estimated": ["type_code", "issuer_code"]}
    assert record["extension"]["approving_unit"]["code"] == "approval_bureau"
    assert record["extension"]["combined_license_no"] == number
    assert [r["identifier"] for r in elicenses.records_of(session.get(License, shown["id"]))] \
        == [shown["elicense"]["identifier"], *(i["elicense"]["identifier"]
                                               for i in shown["items"])]
    # each 新发 is linked to the audited issue on the timeline
    issued = session.scalar(select(ApplicationEvent.id).where(
        ApplicationEvent.action == "license.issued"))
    events = session.scalars(select(ElicenseEvent)).all()
    assert len(events) == 3 and {(e.operation_code, e.status_code, e.application_event_id)
                                 for e in events} == {("01", "01", issued)}


def test_a_configured_issuer_code_replaces_the_stand_in(client, login, staff_login, session,
                                                        set_settings):
    fire_code = "11140105MB0123456U"
    set_settings(ELICENSE_ISSUER_CODES=f"140105/approval_bureau={fire_code}")
    issued = issue_shop_license(client, login, staff_login)["license"]
    for elicense in mine(session, issued["id"]).values():
        assert (elicense.issuer_code, elicense.issuer_estimated) == (fire_code, False)
        assert elicense_ids.parse(elicense.identifier).issuer_code == fire_code


def act(client, licensed, step: str) -> None:
    """One step of the license's life through the APIs: "<item>:<action>" by its unit, or
    the holder's cancel."""
    if step == "cancel":
        assert holder_asks(client, licensed, "cancel").status_code == 200
        return
    item, action = step.split(":")
    current = staff_get(client, licensed["reviewer"], f"/licenses/{licensed['license']['id']}")
    post(client, licensed["reviewer"], f"/licenses/{current['id']}/items/{item}/{action}",
         {"version": current["lock_version"], "reason": "监督检查"})


# state by state: the steps taken, then every e-license's national status and the operation
# code of its last recorded change (01 新发 where nothing changed)
STATES = [
    ("issued", [], {COMBINED: "01", FILING: "01", DEVICE: "01"},
     {COMBINED: "01", FILING: "01", DEVICE: "01"}),
    ("an optional permit suspended", [f"{DEVICE}:suspend"],
     {COMBINED: "01", FILING: "01", DEVICE: "02"}, {COMBINED: "01", FILING: "01", DEVICE: "03"}),
    ("an optional permit given back", [f"{DEVICE}:suspend", f"{DEVICE}:restore"],
     {COMBINED: "01", FILING: "01", DEVICE: "01"}, {COMBINED: "01", FILING: "01", DEVICE: "06"}),
    ("an essential permit suspended: the license and every permit with it",
     [f"{FILING}:suspend"], {COMBINED: "02", FILING: "02", DEVICE: "02"},
     {COMBINED: "03", FILING: "03", DEVICE: "03"}),
    ("an essential permit given back: all given back", [f"{FILING}:suspend", f"{FILING}:restore"],
     {COMBINED: "01", FILING: "01", DEVICE: "01"}, {COMBINED: "06", FILING: "06", DEVICE: "06"}),
    ("an optional permit revoked", [f"{DEVICE}:revoke"],
     {COMBINED: "01", FILING: "01", DEVICE: "07"}, {COMBINED: "01", FILING: "01", DEVICE: "05"}),
    ("an essential permit revoked: the license void, the other permit lapses",
     [f"{FILING}:revoke"], {COMBINED: "07", FILING: "07", DEVICE: "05"},
     {COMBINED: "05", FILING: "05", DEVICE: "05"}),
    ("an optional permit suspended, then the essential one revoked",
     [f"{DEVICE}:suspend", f"{FILING}:revoke"], {COMBINED: "07", FILING: "07", DEVICE: "05"},
     {COMBINED: "05", FILING: "05", DEVICE: "05"}),
    ("cancelled by the holder: every permit cancelled", ["cancel"],
     {COMBINED: "04", FILING: "04", DEVICE: "04"}, {COMBINED: "05", FILING: "05", DEVICE: "05"}),
]


@pytest.mark.parametrize(("state", "steps", "status", "operation"), STATES,
                         ids=[s[0] for s in STATES])
def test_each_state_reaches_every_elicense(client, licensed, session, state, steps, status,
                                           operation):
    for step in steps:
        act(client, licensed, step)
    license_id = licensed["license"]["id"]
    assert statuses(session, license_id) == status, state
    assert last_operations(session, license_id) == operation, state
    # one vocabulary: what the APIs and the public page show is what the statuses say
    shown = staff_get(client, licensed["reviewer"], f"/licenses/{license_id}")
    assert elicenses.STATUS_OF_VERDICT[shown["verdict"]] == status[COMBINED]
    for item in shown["items"]:
        assert elicenses.STATUS_OF_VERDICT[item["verdict"]] == status[item["code"]]
        assert item["elicense"]["status_code"] == status[item["code"]]
    # every change after the issue names the audited step that caused it
    changes = session.scalars(select(ElicenseEvent).where(ElicenseEvent.operation_code != "01"))
    assert all(e.application_event_id is not None for e in changes)


def test_the_vocabulary_maps_both_ways():
    """A product verdict has one national status and back (void and expired both 05 失效);
    each permit status a unit can bring about has its action."""
    for verdict, status in elicenses.STATUS_OF_VERDICT.items():
        assert status in elicenses.STATUS_LABELS
        back = elicenses.VERDICT_OF_STATUS[status]
        assert back == verdict or (verdict, back) == ("void", "expired")
    assert {elicenses.ITEM_ACTION_FOR_STATUS[s] for s in ("01", "02", "07")} == set(
        licenses.ITEM_ACTIONS)
    assert set(elicenses.OPERATION_LABELS) == {"01", "02", "03", "04", "05", "06", "09"}


def test_a_change_raises_every_version_and_links_the_previous(client, licensed, session):
    license_id = licensed["license"]["id"]
    before = {c: e.identifier for c, e in mine(session, license_id).items()}
    assert holder_asks(client, licensed, "change").status_code == 201
    pending = staff_get(client, licensed["reviewer"], "/license-requests")["requests"][0]
    post(client, licensed["reviewer"], f"/license-requests/{pending['id']}/decide",
         {"version": pending["version"], "approve": True, "opinion": "同意"})
    after = mine(session, license_id)
    for code, elicense in after.items():
        assert elicense.version == 2 and elicense.previous_identifier == before[code]
        assert elicense_ids.parse(elicense.identifier) == elicense_ids.parse(
            before[code]).next_version()
        assert elicense.holder_name == "晋味便利店（新）"
        assert [e.operation_code for e in elicense.events] == ["01", "09"]
    # the old identifier still finds the license, told it is an earlier version
    found, earlier = elicenses.find(session, before[FILING])
    assert (found.id, earlier) == (after[FILING].id, True)


def test_a_replacement_is_the_same_elicense(client, licensed):
    assert holder_asks(client, licensed, "replacement").status_code == 201
    pending = staff_get(client, licensed["commissioner"], "/license-requests")["requests"][0]
    replaced = post(client, licensed["commissioner"], f"/license-requests/{pending['id']}/decide",
                    {"version": pending["version"], "approve": True, "opinion": "同意补发"})
    assert replaced["version"] == 2 and replaced["elicense"]["version"] == "001"


@pytest.fixture
def timed(app, client, login, staff_login, session):
    """The shop's license under a catalog version whose filings run 3 and 5 years: the
    license runs 3 years, the device filing 5."""
    data = yaml.safe_load(CATALOG_FILE.read_text(encoding="utf-8"))
    data["permit_items"][FILING]["validity_years"] = 3
    data["permit_items"][DEVICE]["validity_years"] = 5
    with app.app_context():
        catalog.load_text(db.session, yaml.safe_dump(data, allow_unicode=True), source="test",
                          loaded_by="tests")
        db.session.commit()
        catalog.versions_changed()
    return issue_shop_license(client, login, staff_login)


def test_a_renewal_renews_the_permits_it_covers(client, timed, session):
    """Issue 13: a county system renewed a parent license and left its permits expired."""
    license_id = timed["license"]["id"]
    today = clock.today()
    license_ = session.get(License, license_id)
    by_code = {i.item_code: i for i in license_.items}
    assert (license_.valid_until, by_code[FILING].valid_until) == (
        licenses.add_years(today, 3), licenses.add_years(today, 3))
    assert by_code[DEVICE].valid_until == licenses.add_years(today, 5)
    # three years on: the license and the filing end in 30 days, the device filing in two
    # years and 30 days — inside the renewed term
    end = today + timedelta(days=30)
    license_.valid_until = by_code[FILING].valid_until = end
    device_end = by_code[DEVICE].valid_until = end + timedelta(days=730)
    session.commit()
    assert holder_asks(client, timed, "renewal").status_code == 201
    pending = staff_get(client, timed["commissioner"], "/license-requests")["requests"][0]
    renewed = post(client, timed["commissioner"], f"/license-requests/{pending['id']}/decide",
                   {"version": pending["version"], "approve": True, "opinion": "同意延续"})
    start = end + timedelta(days=1)
    assert renewed["valid_until"] == licenses.add_years(start, 3).isoformat()
    items = {i["code"]: i for i in renewed["items"]}
    assert items[FILING]["valid_until"] == licenses.add_years(start, 3).isoformat()
    # the device filing would have ended inside the renewed term: renewed by its own 5 years
    assert items[DEVICE]["valid_until"] == licenses.add_years(
        device_end + timedelta(days=1), 5).isoformat()
    assert all(i["valid_until"] >= renewed["valid_until"] for i in renewed["items"])
    for code, elicense in mine(session, license_id).items():
        assert (elicense.version, elicense.status_code) == (2, "01"), code
        assert [e.operation_code for e in elicense.events] == ["01", "02"]
    assert mine(session, license_id)[COMBINED].valid_from == start
    # nothing is left expired under the valid license, even on the last day of the old term
    after = session.get(License, license_id)
    whole = licenses.states(after, end + timedelta(days=1))
    assert {v[0] for v in whole.values()} == {"valid"}


def test_expiry_is_recorded_once_by_the_tick(client, timed, session):
    """Three years on, the license and its 3-year filing lapse (05 失效, 04 过期失效); the
    5-year device filing runs on: an expired license does not expire a longer permit."""
    license_id = timed["license"]["id"]
    day_after = licenses.add_years(clock.today(), 3) + timedelta(days=1)
    assert licenses.record_expiries(session, day_after - timedelta(days=1)) == 0
    assert licenses.record_expiries(session, day_after) == 2
    session.commit()
    assert statuses(session, license_id) == {COMBINED: "05", FILING: "05", DEVICE: "01"}
    assert last_operations(session, license_id) == {COMBINED: "04", FILING: "04", DEVICE: "01"}
    assert licenses.record_expiries(session, day_after) == 0  # idempotent


def test_staff_find_a_license_by_identifier_or_are_told_why_not(client, licensed, session):
    signed_in(client, session, "window-e", "window_commissioner")
    identifier = licensed["license"]["items"][0]["elicense"]["identifier"]
    page = client.get("/console/licenses", query_string={"q": identifier})
    assert page.status_code == 200 and licensed["license"]["license_no"] in page.text
    assert identifier in page.text or licensed["license"]["elicense"]["identifier"] in page.text
    refusals = {identifier[:-1] + ("0" if identifier[-1] != "0" else "1"): "ELICENSE_ID_CHECK",
                identifier.replace("3005", "3003", 1): "ELICENSE_ID_ROOT",
                identifier.replace("111400000000000003", "11140000000000000", 1):
                    "ELICENSE_ID_TYPE_CODE"}
    for wrong, code in refusals.items():
        page = client.get("/console/licenses", query_string={"q": wrong})
        assert page.status_code == 422, wrong
        assert elicense_ids.PROBLEMS[code] in page.text and 'id="q-error"' in page.text
        assert "没有找到许可证" in page.text  # nothing listed
    unknown = str(elicense_ids.parse(identifier).next_version().next_version())
    page = client.get("/console/licenses", query_string={"q": unknown})
    assert page.status_code == 200 and "没有找到许可证" in page.text


def test_an_inspector_may_verify_an_identifier(client, licensed, staff_login):
    inspector, _ = staff_login("inspector", "approval_bureau")
    identifier = licensed["license"]["items"][1]["elicense"]["identifier"]
    body = client.post("/api/mp/v1/licenses/verify", headers=inspector,
                       json={"scan": f" {identifier.lower()}\n"}).json
    assert body["verdict"] == "valid" and body["license_no"] == licensed["license"]["license_no"]
    assert body["superseded"] is False
    assert [i["elicense"]["identifier"] for i in body["items"]] == [
        i["elicense"]["identifier"] for i in licensed["license"]["items"]]
    wrong = identifier[:-1] + ("0" if identifier[-1] != "0" else "1")
    resp = client.post("/api/mp/v1/licenses/verify", headers=inspector, json={"scan": wrong})
    problem = bad_fields(resp, 422, "ELICENSE_ID_INVALID")["scan"]
    assert (problem["code"], problem["message"]) == (
        "ELICENSE_ID_CHECK", elicense_ids.PROBLEMS["ELICENSE_ID_CHECK"])
    never = str(elicense_ids.parse(identifier).next_version())
    unknown = client.post("/api/mp/v1/licenses/verify", headers=inspector, json={"scan": never})
    assert unknown.json["verdict"] == "invalid" and "查无此证照标识" in unknown.json["reason"]


def test_the_public_pages_verify_signed_codes_not_identifiers(client, licensed):
    """An identifier is not signed: the public pages say so (and what is wrong with a
    malformed one) rather than show a license to anyone who types a guess."""
    identifier = licensed["license"]["elicense"]["identifier"]
    body = client.get(f"/api/public/v1/licenses/{identifier}").json
    assert body["verdict"] == "invalid" and "请扫描许可证上的二维码" in body["reason"]
    assert "license_no" not in body
    wrong = client.get(f"/api/public/v1/licenses/{identifier.replace('3005', '3003', 1)}").json
    assert wrong["reason"] == elicense_ids.PROBLEMS["ELICENSE_ID_ROOT"]
    page = client.get(f"/v/{identifier[:-1]}{'Z' if identifier[-1] != 'Z' else 'Y'}")
    assert page.status_code == 200 and elicense_ids.PROBLEMS["ELICENSE_ID_CHECK"] in page.text


def migrate_again(app, session, down_to: str) -> None:
    """Down to the revision ``down_to`` and up again: a deployment upgrading from it, with
    the step docs/operations.md asks after it (`flask licenses public-records`)."""
    session.close()
    with app.app_context():
        db.session.remove()
        flask_migrate.downgrade(revision=down_to)
        flask_migrate.upgrade()
        public_records.rebuild(db.engine)


def test_the_migration_gives_existing_licenses_their_elicenses(app, client, licensed, session):
    """Licenses issued before e-licenses existed: the revision backfills what issuing now
    makes, renews a permit an old renewal left behind, and dates the joint inspection."""
    license_ = session.get(License, licensed["license"]["id"])
    expected = {c: (e.identifier, e.status_code) for c, e in elicenses.of_license(
        license_).items()}
    # an old renewal: the license runs on, the device filing was left ending before it
    license_.valid_until = clock.today() + timedelta(days=400)
    device = next(i for i in license_.items if i.item_code == DEVICE)
    device.valid_until = clock.today() + timedelta(days=10)
    device_id = device.id
    session.add(Inspection(application_id=license_.application_id, status="passed",
                           item_codes=[FILING], outcome="passed"))
    session.commit()
    issued_at = session.scalars(select(ApplicationEvent.at).where(
        ApplicationEvent.action == "license.issued")).one()
    session.add(ApplicationEvent(application_id=license_.application_id, actor_kind="staff",
                                 actor_label="协调员", action="inspection.passed",
                                 message="现场核查通过", at=issued_at))
    session.commit()
    migrate_again(app, session, "3f6b2d9e8c14")
    session.expire_all()
    license_ = session.get(License, licensed["license"]["id"])
    got = elicenses.of_license(license_)
    assert {c: (e.identifier, e.status_code) for c, e in got.items()} == expected
    assert got[DEVICE].valid_until == license_.valid_until
    assert session.get(LicenseItem, device_id).valid_until == license_.valid_until
    assert all([(e.operation_code, e.reason) for e in g.events] == [
        ("01", "补记：电子证照启用前核发")] for g in got.values())
    inspection = session.scalars(select(Inspection)).one()
    assert inspection.concluded_on == issued_at.astimezone(clock.CHINA).date()
    assert isinstance(inspection.concluded_on, date)
