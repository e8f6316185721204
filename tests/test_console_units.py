"""The units' review and the joint inspection in the console (console/review.py,
console/inspections.py), in process: refusals shown in place, another unit's item is 404,
and the printed 整改通知书."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from pypdf import PdfReader

from backend import clock
from backend.services import calendar
from backend.services import staff as staff_service
from tests.conftest import STAFF_PASSWORD
from tests.media_files import phone_jpeg
from tests.test_applications import BASE, send_file
from tests.test_console_session import csrf_of, sign_in
from tests.test_workflow import (
    RESTAURANT,
    accepted,
    post,
    rectifying,
    staff_get,
    submitted,
    visit_of,
)


@pytest.fixture
def console_as(app, session):
    """A signed-in console client for a new account of ``role`` (and ``unit``)."""
    made = iter(range(1, 100))

    def _as(role: str, unit: str | None = None):
        username = f"c-{role[:10]}-{unit or 'all'}-{next(made)}"
        account = staff_service.create(session, username=username, display_name=username,
                                       role=role, unit_code=unit, password=STAFF_PASSWORD)
        session.commit()
        browser = app.test_client()
        assert sign_in(browser, username).status_code == 302
        return browser, account

    return _as


@pytest.fixture
def in_review(client, login, staff_login):
    """An accepted restaurant application (approval bureau, fire and tobacco items)."""
    commissioner, _ = staff_login("window_commissioner")
    return accepted(client, login("units-owner"), commissioner, **RESTAURANT)


def lane(detail: dict, unit: str) -> dict:
    return next(i for i in detail["items"] if i["approving_unit"]["code"] == unit)


def test_a_reviewer_typing_another_units_item_gets_the_404_page(console_as, in_review):
    fire, _ = console_as("unit_reviewer", "fire")
    own, other = lane(in_review, "fire"), lane(in_review, "tobacco")
    queue = fire.get("/console/reviews")
    assert queue.status_code == 200 and own["name"] in queue.text
    assert other["name"] not in queue.text
    page = fire.get(f"/console/reviews/{own['id']}")
    assert page.status_code == 200 and own["name"] in page.text
    refused = fire.get(f"/console/reviews/{other['id']}")
    assert refused.status_code == 404 and "REVIEW_NOT_FOUND" in refused.text
    assert "找不到页面" in refused.text and other["name"] not in refused.text
    sent = fire.post(f"/console/reviews/{other['id']}/approve",
                     data={"csrf_token": csrf_of(page.text), "version": other["version"],
                           "opinion": "越权"})
    assert sent.status_code == 404


def test_a_reviewer_never_sees_an_item_the_window_has_not_sent(console_as, client, login,
                                                               staff_login):
    fire, _ = console_as("unit_reviewer", "fire")
    waiting = submitted(client, login("units-waiting"), **RESTAURANT)
    item = lane(waiting, "fire")
    for status in ("submitted", "closed", "draft"):
        listed = fire.get(f"/console/reviews?status={status}")
        assert listed.status_code == 200 and f"/console/reviews/{item['id']}" not in listed.text
    page = fire.get(f"/console/reviews/{item['id']}")
    assert page.status_code == 404 and "REVIEW_NOT_FOUND" in page.text
    # nor the application itself, in the console or the staff API
    assert fire.get(f"/console/applications/{waiting['id']}").status_code == 404
    reviewer, _ = staff_login("unit_reviewer", "fire")
    assert client.get(f"/api/staff/v1/applications/{waiting['id']}",
                      headers=reviewer).status_code == 404


def test_the_item_page_shows_only_the_items_own_fields_and_materials(console_as, in_review,
                                                                     client, staff_login):
    fire, _ = console_as("unit_reviewer", "fire")
    commissioner, _ = staff_login("window_commissioner")
    whole = staff_get(client, commissioner, f"/applications/{in_review['id']}")
    own = lane(in_review, "fire")
    page = fire.get(f"/console/reviews/{own['id']}").text
    for material in whole["materials"]:
        serves = {i["code"] for i in material["items"]}
        assert (f"<h3>{material['name']}" in page) == (own["code"] in serves), material["name"]
    for section in whole["form"]:
        for field in section["fields"]:
            needed = not field["items"] or own["code"] in field["items"]
            assert (f"<dt>{field['label']}</dt>" in page) == needed, field["label"]
    assert "<img" in page  # the photographed materials inline


def test_review_refusals_are_shown_in_place(console_as, in_review, client, staff_login):
    fire, _ = console_as("unit_reviewer", "fire")
    own = lane(in_review, "fire")
    page = fire.get(f"/console/reviews/{own['id']}").text
    token = csrf_of(page)
    empty = fire.post(f"/console/reviews/{own['id']}/refuse",
                      data={"csrf_token": token, "version": own["version"], "opinion": " "})
    assert empty.status_code == 422 and "FORM_INVALID" in empty.text
    assert 'id="refuse-opinion-error"' in empty.text
    stale = fire.post(f"/console/reviews/{own['id']}/approve",
                      data={"csrf_token": token, "version": own["version"] + 5,
                            "opinion": "符合条件"})
    assert stale.status_code == 409 and "VERSION_CONFLICT" in stale.text
    assert "符合条件" in stale.text  # what was typed is kept
    done = fire.post(f"/console/reviews/{own['id']}/approve",
                     data={"csrf_token": token, "version": own["version"],
                           "opinion": "符合条件，准予许可"})
    assert done.status_code == 302
    after = fire.get(done.location).text
    assert "已准予许可" in after and "符合条件，准予许可" in after
    commissioner, _ = staff_login("window_commissioner")
    detail = staff_get(client, commissioner, f"/applications/{in_review['id']}")
    assert lane(detail, "fire")["status"] == "approved"


def schedule_form(page: str, version: int, team: list[int], day) -> dict:
    return {"csrf_token": csrf_of(page), "version": str(version), "date": day.isoformat(),
            "window": "09:00-11:00", "address": "太原市小店区平阳路 1 号",
            "team": [str(t) for t in team]}


def test_schedule_refusals_are_shown_in_place(console_as, in_review, session):
    coordinator, _ = console_as("inspection_coordinator")
    _, bureau = console_as("inspector", "approval_bureau")
    _, fire = console_as("inspector", "fire")
    _, tobacco = console_as("inspector", "tobacco")
    board = coordinator.get("/console/inspections")
    assert board.status_code == 200 and "待安排" in board.text
    inspection_id = int(re.search(r'/console/inspections/(\d+)"', board.text).group(1))
    page = coordinator.get(f"/console/inspections/{inspection_id}").text
    assert "还需本单位核查人员" in page and f'value="{fire.id}"' in page
    version = int(re.search(r'name="version" value="(\d+)"', page).group(1))
    day = calendar.add_working_days(session, clock.today(), 2)

    short = coordinator.post(f"/console/inspections/{inspection_id}/schedule",
                             data=schedule_form(page, version, [bureau.id], day))
    assert short.status_code == 422 and "INSPECTION_SCHEDULE_INVALID" in short.text
    assert "核查组须包括每个相关单位的核查人员，还缺少：消防救援机构、烟草专卖局" in short.text
    assert f'value="{bureau.id}" checked' in short.text  # the choice is kept
    assert re.search(r'class="unit needs" data-unit="fire"', short.text)

    stale = coordinator.post(f"/console/inspections/{inspection_id}/schedule",
                             data=schedule_form(page, version + 3, [bureau.id, fire.id], day))
    assert stale.status_code == 409 and "VERSION_CONFLICT" in stale.text

    done = coordinator.post(f"/console/inspections/{inspection_id}/schedule",
                            data=schedule_form(page, version, [bureau.id, fire.id, tobacco.id],
                                               day))
    assert done.status_code == 302
    board = coordinator.get("/console/inspections").text
    assert "09:00-11:00" in board and bureau.display_name in board
    window, _ = console_as("window_commissioner")  # the case page names the team too
    case = window.get(f"/console/applications/{in_review['id']}").text
    assert f"{bureau.display_name}（行政审批服务管理局）" in case and "人员 #" not in case


def test_the_rectification_notice_prints_every_demand_once(console_as, client, login,
                                                           staff_login, session):
    _, _, detail, inspection = rectifying(client, login, staff_login, session)
    coordinator, _ = console_as("inspection_coordinator")
    page = coordinator.get(f"/console/inspections/{inspection['id']}").text
    assert "打印整改通知书" in page
    resp = coordinator.get(f"/console/inspections/{inspection['id']}/rectification-notice.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(resp.data)).pages)
    flat = re.sub(r"\s+", "", text)
    assert "整改通知书" in flat
    assert f"晋一业一证整字〔{clock.today().year}〕第{inspection['id']:06d}号" in flat
    deadline = clock.today() + timedelta(days=7)
    assert f"请于{deadline:%Y年%m月%d日}前完成全部整改" in flat
    # the team recorded its results today, before the day it was scheduled for: the notice
    # dates the visit as held, not as planned
    assert f"{clock.today():%Y年%m月%d日}，联合核查组" in flat
    assert "现场复核一次" in flat and "晋政办发〔2022〕90号" in flat
    names = [i["name"] for i in detail["items"] if i["code"] in inspection["item_codes"]]
    assert names and all(re.sub(r"\s+", "", n) in flat for n in names)
    assert "行政审批服务管理局" in flat


def test_no_notice_before_a_rectification(console_as, in_review):
    coordinator, _ = console_as("inspection_coordinator")
    board = coordinator.get("/console/inspections").text
    inspection_id = int(re.search(r'/console/inspections/(\d+)"', board).group(1))
    resp = coordinator.get(f"/console/inspections/{inspection_id}/rectification-notice.pdf")
    assert resp.status_code == 409 and "NO_RECTIFICATION_NOTICE" in resp.text


def test_the_photo_recheck_shows_the_evidence_and_decides_once(console_as, client, login,
                                                               staff_login, session):
    applicant, _, detail, inspection = rectifying(client, login, staff_login, session,
                                                  recheck_mode="photos")
    sent = send_file(client, f"{BASE}/{detail['id']}/inspection/evidence", applicant,
                     phone_jpeg(seed=61))
    assert sent.status_code == 201, sent.json
    done = client.post(f"{BASE}/{detail['id']}/inspection/rectification", headers=applicant,
                       json={"note": "已整改"})
    version = done.json["inspection"]["version"]
    coordinator, _ = console_as("inspection_coordinator")
    page = coordinator.get(f"/console/inspections/{inspection['id']}").text
    assert "照片复核" in page and 'alt="整改照片 1"' in page
    form = {"csrf_token": csrf_of(page), "notes": "照片显示已整改", "passed": "true"}
    stale = coordinator.post(f"/console/inspections/{inspection['id']}/photo-review",
                             data=form | {"version": str(version + 1)})
    assert stale.status_code == 409 and "VERSION_CONFLICT" in stale.text
    passed = coordinator.post(f"/console/inspections/{inspection['id']}/photo-review",
                              data=form | {"version": str(version)})
    assert passed.status_code == 302
    assert "核查通过" in coordinator.get(passed.location).text


def test_the_item_page_shows_the_premises_by_name(console_as, in_review):
    fire, _ = console_as("unit_reviewer", "fire")
    page = fire.get(f"/console/reviews/{lane(in_review, 'fire')['id']}").text
    main = page.split("<main", 1)[1]
    assert "<dd>太原市</dd>" in main and "<dd>小店区</dd>" in main
    assert "140100" not in main and "140105" not in main


def test_the_coordinator_is_offered_the_schedule_form_until_a_result_is_recorded(
        console_as, client, login, staff_login, session):
    coordinator_page, _ = console_as("inspection_coordinator")
    _, team, detail, inspection = visit_of(client, login, staff_login, session)
    url = f"/console/inspections/{inspection['id']}"
    page = coordinator_page.get(url).text
    assert "调整核查时间" in page and f"{url}/schedule" in page
    code = next(c for c in inspection["item_codes"] if any(
        i["code"] == c and i["approving_unit"]["code"] == "fire" for i in detail["items"]))
    post(client, team["fire"], f"/inspections/{inspection['id']}/results",
         {"item_code": code, "result": "pass"})
    assert f"{url}/schedule" not in coordinator_page.get(url).text
