"""What every console page shares: a query string read with its schema (a bad one is the
Chinese 404), a refusal summarised at the top of the page, uploads refused in Chinese, and
staff changing their own password."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from backend import clock
from backend.models import License, LicenseItem, StaffAccount, WalkIn
from backend.security import tokens
from backend.services import calendar
from backend.services import staff as staff_service
from tests.conftest import STAFF_PASSWORD
from tests.test_assisted import form_text, make_staff, start
from tests.test_console_admin import bureau_signed_in, signed_in
from tests.test_console_session import csrf_of, sign_in
from tests.test_console_units import console_as, in_review, lane  # noqa: F401 - fixtures
from tests.test_licenses import licensed  # noqa: F401 - the fixture
from tests.test_workflow import accepted, post, staff_get

BAD_QUERIES = [
    ("window_commissioner", None, "/console/window?status=bogus"),
    ("window_commissioner", None, "/console/window?page=abc"),
    ("window_commissioner", None, "/console/window/counts?clock=never"),
    ("unit_reviewer", "approval_bureau", "/console/reviews?status=bogus"),
    ("unit_reviewer", "approval_bureau", "/console/reviews?page=abc"),
    ("unit_reviewer", "approval_bureau", "/console/reviews?page=0"),
    ("unit_reviewer", "approval_bureau", "/console/reviews?per_page=9999"),
    ("unit_reviewer", "approval_bureau", "/console/licenses?page=-1"),
    ("catalog_admin", None, "/console/catalog/diff?old=x&new=1"),
    ("catalog_admin", None, "/console/catalog/estimates?version=abc"),
    ("system_admin", None, "/console/calendar?year=1"),
    ("system_admin", None, "/console/staff?per_page=9999"),
    ("system_admin", None, "/console/deliveries?page=abc"),
]


@pytest.mark.parametrize(("role", "unit", "url"), BAD_QUERIES)
def test_a_bad_query_string_is_the_chinese_404_page(client, session, role, unit, url):
    signed_in(client, session, f"q-{role[:12]}", role, unit)
    page = client.get(url)
    assert page.status_code == 404, url
    assert "找不到页面" in page.text and "PAGE_NOT_FOUND" in page.text


def test_the_catalog_difference_without_versions_shows_its_form(client, session):
    signed_in(client, session, "q-catalog", "catalog_admin")
    page = client.get("/console/catalog/diff")
    assert page.status_code == 200 and "目录版本对比" in page.text and 'name="old"' in page.text


def test_a_stale_tab_is_told_at_the_top_why_and_keeps_the_opinion(console_as, in_review):  # noqa: F811
    fire, _ = console_as("unit_reviewer", "fire")
    own = lane(in_review, "fire")
    token = csrf_of(fire.get(f"/console/reviews/{own['id']}").text)
    sent = {"csrf_token": token, "version": own["version"]}
    assert fire.post(f"/console/reviews/{own['id']}/approve",
                     data={**sent, "opinion": "符合条件"}).status_code == 302
    late = fire.post(f"/console/reviews/{own['id']}/refuse",
                     data={**sent, "opinion": "另一位审核人员写的理由"})
    assert late.status_code == 409
    summary = late.text.split('id="problem"', 1)[1].split("</div>", 1)[0]
    assert 'role="alert"' in late.text and "VERSION_CONFLICT" in summary
    assert "另一位审核人员写的理由" in late.text
    assert late.text.count("VERSION_CONFLICT") == 1  # one place only


def test_a_field_error_is_summarised_once_and_shown_beside_its_field(console_as, in_review):  # noqa: F811
    fire, _ = console_as("unit_reviewer", "fire")
    own = lane(in_review, "fire")
    token = csrf_of(fire.get(f"/console/reviews/{own['id']}").text)
    empty = fire.post(f"/console/reviews/{own['id']}/refuse",
                      data={"csrf_token": token, "version": own["version"], "opinion": " "})
    assert empty.status_code == 422 and empty.text.count("FORM_INVALID") == 1
    assert 'id="problem"' in empty.text and 'id="refuse-opinion-error"' in empty.text


@pytest.mark.parametrize(("content", "name", "status", "code"), [
    (b"MZ\x90\x00" * 50, "scan.jpg", 415, "UPLOAD_TYPE_NOT_ALLOWED"),  # a renamed program
    (b"%PDF-1.4\n broken", "scan.pdf", 422, "UPLOAD_"),  # a broken PDF
    (b"", "empty.jpg", 422, "UPLOAD_EMPTY"),
])
def test_a_refused_walk_in_scan_is_told_on_the_page_not_as_json(app, client, session, content,
                                                                name, status, code):
    staff = make_staff(session, "window-up")
    application_id = start(app, staff)
    sign_in(client, "window-up")
    page = f"/console/assisted/{application_id}"
    token = csrf_of(client.get(page).text)
    refused = client.post(f"{page}/materials/premises_proof", data={
        "csrf_token": token, "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data")
    assert refused.status_code == status and refused.mimetype == "text/html"
    assert 'id="problem"' in refused.text and code in refused.text


def test_a_too_long_result_note_or_demand_is_told_beside_it_with_the_limit(
        client, login, staff_login, session, console_as):  # noqa: F811
    commissioner, _ = staff_login("window_commissioner")
    coordinator, _ = staff_login("inspection_coordinator")
    detail = accepted(client, login("visit-long"), commissioner, floor_area=450, investment=80)
    fire, fire_account = console_as("inspector", "fire")
    _, bureau_id = staff_login("inspector", "approval_bureau")
    inspection = staff_get(client, coordinator, "/inspections")["inspections"][0]
    post(client, coordinator, f"/inspections/{inspection['id']}/schedule", {
        "version": inspection["version"],
        "date": calendar.add_working_days(session, clock.today(), 1).isoformat(),
        "window": "09:00-10:00", "address": "现场", "team": [fire_account.id, bureau_id]})
    page = f"/console/visits/{inspection['id']}"
    shown = fire.get(page).text
    assert 'maxlength="1000"' in shown
    code = next(i["code"] for i in detail["items"] if i["approving_unit"]["code"] == "fire")
    sent = {"csrf_token": csrf_of(shown), "item_code": code, "result": "rectify"}
    too_long = fire.post(f"{page}/results", data={**sent, "notes": "记" * 1001,
                                                   "demands": "整改\n" + "改" * 1001})
    assert too_long.status_code == 422
    assert f'id="{code}-notes-error"' in too_long.text
    assert "内容过长（最多 1000 字）" in too_long.text and "第 2 条：" in too_long.text
    assert too_long.text.count("FORM_INVALID") == 1


def test_a_license_reason_too_long_is_told_beside_its_own_box(client, session,
                                                             licensed):  # noqa: F811
    token = bureau_signed_in(client, session)
    license_ = session.get(License, licensed["license"]["id"])
    item = session.scalars(select(LicenseItem).where(LicenseItem.license_id == license_.id)
                           .order_by(LicenseItem.id)).all()[-1]
    page = f"/console/licenses/{license_.id}"
    refused = client.post(f"{page}/items/{item.item_code}/suspend", data={
        "csrf_token": token, "version": license_.lock_version, "reason": "因" * 1001})
    assert refused.status_code == 422
    assert f'id="reason-{item.item_code}-suspend-error"' in refused.text
    assert "内容过长（最多 1000 字）" in refused.text
    assert f'id="reason-{item.item_code}-revoke-error"' not in refused.text


def test_every_kind_of_control_keeps_what_was_sent_after_an_error(app, client, session):
    staff = make_staff(session, "window-keep")
    application_id = start(app, staff)
    sign_in(client, "window-keep")
    page = f"/console/assisted/{application_id}"
    shown = client.get(page).text
    version = re.search(r'name="version" value="(\d+)"', shown).group(1)
    fields = {f"fields.{k}": v for k, v in form_text(app, application_id).items()}
    fields["fields.business_items"] = ["hot_food", "cold_food"]
    fields["fields.entity_name"] = "名" * 500  # too long: the form comes back
    refused = client.post(f"{page}/form", data={"csrf_token": csrf_of(shown),
                                                "version": version, **fields})
    assert refused.status_code == 422
    ticked = re.findall(r'name="fields.business_items" value="(\w+)" checked', refused.text)
    assert ticked == ["hot_food", "cold_food"]


def test_reloading_the_code_page_does_not_replace_the_code_given(app, client, session):
    staff = make_staff(session, "window-code")
    application_id = start(app, staff)
    sign_in(client, "window-code")
    page = f"/console/assisted/{application_id}"
    shown = client.get(page).text
    assert "data-testid=\"code-active\"" not in shown
    sent = {"csrf_token": csrf_of(shown), "replacing": ""}
    first = client.post(f"{page}/code", data=sent)
    code = re.search(r'data-testid="claim-code">(\d{8})<', first.text).group(1)
    reloaded = client.post(f"{page}/code", data=sent)  # the browser sends the form again
    assert reloaded.status_code == 409 and "ASSIST_CLAIM_CODE_ACTIVE" in reloaded.text
    assert code not in reloaded.text and 'data-testid="code-active"' in reloaded.text
    assert session.scalar(select(WalkIn.claim_code_hash)) == tokens.digest(code)
    again = client.get(page).text
    assert "data-confirm=\"重新出具后，已交给申请人的认领码" in again
    stamp = re.search(r'name="replacing" value="([^"]*)"', again).group(1)
    assert stamp
    replaced = client.post(f"{page}/code", data={**sent, "replacing": stamp})
    assert replaced.status_code == 200 and "claim-code" in replaced.text


def test_staff_change_their_own_password_and_other_sessions_end(app, client, session):
    token = signed_in(client, session, "q-pw-change", "inspector", "fire")
    other = app.test_client()
    assert sign_in(other, "q-pw-change").status_code == 302
    api = client.post("/api/staff/v1/auth/login",
                      json={"username": "q-pw-change", "password": STAFF_PASSWORD}).json
    form = client.get("/console/account/password")
    assert form.status_code == 200 and 'autocomplete="current-password"' in form.text
    new = "violet-harbour-sings-41"
    wrong = client.post("/console/account/password", data={
        "csrf_token": token, "current_password": "not-it", "new_password": new,
        "repeat_password": new})
    assert wrong.status_code == 422 and 'id="current_password-error"' in wrong.text
    assert session.scalar(select(StaffAccount.failed_logins).where(
        StaffAccount.username == "q-pw-change")) == 1  # counted towards the lockout
    weak = client.post("/console/account/password", data={
        "csrf_token": token, "current_password": STAFF_PASSWORD,
        "new_password": "1234567890", "repeat_password": "1234567890"})
    assert weak.status_code == 422 and "STAFF_PASSWORD_WEAK" in weak.text
    assert 'id="new_password-error"' in weak.text
    done = client.post("/console/account/password", data={
        "csrf_token": token, "current_password": STAFF_PASSWORD, "new_password": new,
        "repeat_password": new})
    assert done.status_code == 302
    assert "密码已修改" in client.get(done.location, follow_redirects=True).text  # still in
    assert other.get("/console/visits").status_code == 302  # the other session ended
    assert client.get("/api/staff/v1/me",
                      headers={"Authorization": f"Bearer {api['token']}"}).status_code == 401
    assert sign_in(app.test_client(), "q-pw-change", password=new).status_code == 302


def test_a_locked_account_is_told_it_is_locked_when_changing_its_password(client, session):
    token = signed_in(client, session, "q-pw-lock", "inspector", "fire")
    form = {"csrf_token": token, "current_password": "not-it",
            "new_password": "violet-harbour-sings-43", "repeat_password": "violet-harbour-sings-43"}
    for _ in range(staff_service.MAX_FAILED_LOGINS):
        assert "STAFF_CURRENT_PASSWORD_WRONG" in client.post("/console/account/password",
                                                             data=form).text
    locked = client.post("/console/account/password", data=form | {
        "current_password": STAFF_PASSWORD})  # even the right one, while locked
    assert locked.status_code == 422 and "STAFF_ACCOUNT_LOCKED" in locked.text
    assert "已锁定至" in locked.text


def test_the_staff_api_changes_the_password_and_answers_a_fresh_token(client, session):
    signed_in(client, session, "q-pw-api", "window_commissioner")
    old = client.post("/api/staff/v1/auth/login",
                      json={"username": "q-pw-api", "password": STAFF_PASSWORD}).json["token"]
    headers = {"Authorization": f"Bearer {old}"}
    new = "violet-harbour-sings-42"
    mismatch = client.post("/api/staff/v1/auth/password", headers=headers, json={
        "current_password": STAFF_PASSWORD, "new_password": new, "repeat_password": new + "x"})
    assert mismatch.status_code == 422 and mismatch.json["code"] == "STAFF_PASSWORD_MISMATCH"
    changed = client.post("/api/staff/v1/auth/password", headers=headers, json={
        "current_password": STAFF_PASSWORD, "new_password": new, "repeat_password": new})
    assert changed.status_code == 200, changed.json
    fresh = {"Authorization": f"Bearer {changed.json['token']}"}
    assert client.get("/api/staff/v1/me", headers=fresh).status_code == 200
    assert client.get("/api/staff/v1/me", headers=headers).status_code == 401
    assert "/auth/password" in str(client.get("/openapi.json").json["paths"].keys())
