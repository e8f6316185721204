"""The administrators' and the licenses' console pages (console/admin.py, console/licenses.py):
refusals shown in place, every error of a catalog file before anything is stored, the
difference between two catalog versions, a license found and handled by its own unit."""

from __future__ import annotations

import re

import pytest
import yaml
from sqlalchemy import select

from backend.models import License, LicenseItem, StaffAccount
from backend.services import catalog
from backend.services import staff as staff_service
from tests.conftest import STAFF_PASSWORD
from tests.test_catalog import (
    catalog_data,
    field_and_reference_errors,
    load_cli,
    version_count,
    write_catalog,
)
from tests.test_console_session import csrf_of, sign_in
from tests.test_licenses import licensed  # noqa: F401 - the fixture
from tests.test_notifications_api import applicant_id, enqueue_event, outbox_row

STRONG = "copper-meadow-listens-73"


def account(session, username: str, role: str, unit: str | None = None) -> StaffAccount:
    made = staff_service.create(session, username=username, display_name=username, role=role,
                                unit_code=unit, password=STAFF_PASSWORD)
    session.commit()
    return made


def signed_in(client, session, username: str, role: str, unit: str | None = None,
              page: str = "/console/") -> str:
    """Sign ``username`` in to the console; returns a CSRF token for its forms (read from
    ``page``: every page holds one in its logout form)."""
    if session.scalar(select(StaffAccount).where(StaffAccount.username == username)) is None:
        account(session, username, role, unit)
    assert sign_in(client, username).status_code == 302
    return csrf_of(client.get(page, follow_redirects=True).text)


# --- staff accounts ------------------------------------------------------------------------------


def test_a_weak_password_is_refused_in_place_and_nothing_is_created(client, session):
    token = signed_in(client, session, "sysadmin-a", "system_admin")
    resp = client.post("/console/staff", data={
        "csrf_token": token, "username": "clerk-b", "display_name": "窗口乙",
        "role": "window_commissioner", "password": "password123"})
    assert resp.status_code == 422
    assert "STAFF_PASSWORD_WEAK" in resp.text and 'value="clerk-b"' in resp.text
    assert session.scalar(select(StaffAccount).where(StaffAccount.username == "clerk-b")) is None


def test_a_reviewer_needs_a_unit_of_the_catalog(client, session):
    token = signed_in(client, session, "sysadmin-a", "system_admin")
    resp = client.post("/console/staff", data={
        "csrf_token": token, "username": "rev-x", "display_name": "审核",
        "role": "unit_reviewer", "password": STRONG})
    assert resp.status_code == 422 and "STAFF_UNIT_MISMATCH" in resp.text


def test_a_county_level_administrator_is_made_with_their_county(client, session):
    token = signed_in(client, session, "sysadmin-a", "system_admin")
    assert 'id="new-county"' in client.get("/console/staff").text
    resp = client.post("/console/staff", data={
        "csrf_token": token, "username": "xiaodian-admin", "display_name": "小店区管理员",
        "role": "system_admin", "county_code": "999999", "password": STRONG})
    assert resp.status_code == 422 and "STAFF_COUNTY_UNKNOWN" in resp.text
    resp = client.post("/console/staff", data={
        "csrf_token": token, "username": "xiaodian-admin", "display_name": "小店区管理员",
        "role": "system_admin", "county_code": "140105", "password": STRONG})
    assert resp.status_code == 302
    made = session.scalar(select(StaffAccount).where(StaffAccount.username == "xiaodian-admin"))
    assert made.county_code == "140105"


def test_admin_creates_resets_and_disables_an_account(client, app, session):
    token = signed_in(client, session, "sysadmin-a", "system_admin")
    resp = client.post("/console/staff", data={
        "csrf_token": token, "username": "Fire-Reviewer", "display_name": "消防审核丙",
        "role": "unit_reviewer", "unit_code": "fire", "password": STRONG})
    assert resp.status_code == 302
    made = session.scalar(select(StaffAccount).where(StaffAccount.username == "fire-reviewer"))
    assert made.unit_code == "fire" and made.role == "unit_reviewer"

    other = app.test_client()  # the new account signed in elsewhere
    assert sign_in(other, "fire-reviewer", password=STRONG).status_code == 302
    assert other.get("/console/licenses").status_code == 200

    resp = client.post(f"/console/staff/{made.id}/password", data={"csrf_token": token})
    assert resp.status_code == 200
    new_password = re.search(r'class="secret-value">([^<]+)<', resp.text).group(1)
    assert new_password not in resp.headers.get("Set-Cookie", "")  # never in the cookie
    assert other.get("/console/licenses").status_code == 302  # its session ended
    assert new_password not in client.get("/console/staff").text  # shown once
    assert sign_in(other, "fire-reviewer", password=STRONG).status_code == 401
    assert sign_in(other, "fire-reviewer", password=new_password).status_code == 302

    client.post(f"/console/staff/{made.id}/role", data={
        "csrf_token": token, "role": "inspector", "unit_code": "tobacco"})
    session.refresh(made)
    assert (made.role, made.unit_code) == ("inspector", "tobacco")
    assert other.get("/console/licenses").status_code == 302  # a new role: sign in again

    assert sign_in(other, "fire-reviewer", password=new_password).status_code == 302
    client.post(f"/console/staff/{made.id}/active", data={"csrf_token": token,
                                                          "active": "false"})
    assert other.get("/console/licenses").status_code == 302
    assert sign_in(other, "fire-reviewer", password=new_password).status_code == 401


def test_an_admin_cannot_disable_themselves(client, session):
    token = signed_in(client, session, "sysadmin-a", "system_admin")
    me = session.scalar(select(StaffAccount).where(StaffAccount.username == "sysadmin-a"))
    resp = client.post(f"/console/staff/{me.id}/active", data={"csrf_token": token,
                                                               "active": "false"})
    assert resp.status_code == 409 and "STAFF_SELF_CHANGE" in resp.text
    session.refresh(me)
    assert me.active


def test_only_system_admins_manage_staff(client, session):
    signed_in(client, session, "catalog-a", "catalog_admin")
    resp = client.get("/console/staff")
    assert resp.status_code == 403 and "FORBIDDEN_ROLE" in resp.text


# --- the catalog ---------------------------------------------------------------------------------


def upload(client, token: str, text: str, step: str):
    from io import BytesIO
    return client.post("/console/catalog/upload", data={
        "csrf_token": token, "step": step,
        "file": (BytesIO(text.encode("utf-8")), "catalog.yaml")},
        content_type="multipart/form-data")


def broken_catalog() -> str:
    data = catalog_data()
    data["permit_items"]["food_business"]["legal_days"] = "twenty"
    data["industries"]["restaurant"]["colour"] = "red"
    del data["industries"]["bakery"]["category"]
    return yaml.safe_dump(data, allow_unicode=True)


def test_a_catalog_file_with_several_errors_lists_every_one_and_stores_nothing(client,
                                                                               session):
    token = signed_in(client, session, "catalog-a", "catalog_admin")
    for step in ("validate", "load"):
        resp = upload(client, token, broken_catalog(), step)
        assert resp.status_code == 422 and "CATALOG_FILE_INVALID" in resp.text
        assert "3 处错误" in resp.text
        assert "permit_items › food_business › legal_days" in resp.text
        assert "industries › restaurant › colour" in resp.text
        assert "industries › bakery › category" in resp.text
    assert version_count(session) == 1


def test_broken_references_are_listed_one_by_one(client, session):
    token = signed_in(client, session, "catalog-a", "catalog_admin")
    data = catalog_data()
    data["permit_items"]["food_business"]["approving_unit"] = "nowhere"
    data["industries"]["restaurant"]["items"].append("no_such_item")
    resp = upload(client, token, yaml.safe_dump(data, allow_unicode=True), "load")
    assert resp.status_code == 422 and "2 处错误" in resp.text
    assert "引用了不存在的单位“nowhere”" in resp.text
    assert "引用了不存在的许可事项“no_such_item”" in resp.text
    assert version_count(session) == 1


def test_field_and_reference_errors_are_listed_in_one_validation(client, session):
    token = signed_in(client, session, "catalog-a", "catalog_admin")
    text = field_and_reference_errors()
    for step in ("validate", "load"):
        resp = upload(client, token, text, step)
        assert resp.status_code == 422 and "3 处错误" in resp.text
        listed = re.findall(r"<li>(.*?)</li>", resp.text.split('aria-label="目录文件的错误"')[1]
                            .split("</ol>")[0], re.S)
        assert len(listed) == 3
        assert "permit_items › food_business › legal_days" in resp.text
        assert "引用了不存在的单位“nowhere”" in resp.text
        assert "引用了不存在的许可事项“no_such_item”" in resp.text
        lines = [int(n) for n in re.findall(r"第 (\d+) 行", "".join(listed))]
        assert len(lines) == 3 and lines == sorted(lines)  # each on its line, in file order
    assert version_count(session) == 1


def test_yaml_syntax_error_names_its_line(client, session):
    token = signed_in(client, session, "catalog-a", "catalog_admin")
    resp = upload(client, token, "format: 1\nindustries: [unclosed\n", "validate")
    assert resp.status_code == 422 and "yaml_syntax" in resp.text and "第 3 行" in resp.text


def test_validate_stores_nothing_and_load_makes_a_version(client, session):
    token = signed_in(client, session, "catalog-a", "catalog_admin")
    data = catalog_data()
    data["title"] += "（修订）"
    text = yaml.safe_dump(data, allow_unicode=True)
    resp = upload(client, token, text, "validate")
    assert resp.status_code == 302 and version_count(session) == 1
    assert "校验通过" in client.get("/console/catalog").text
    assert upload(client, token, text, "load").status_code == 302
    assert version_count(session) == 2
    assert "已加载为第 2 版" in client.get("/console/catalog").text


def test_only_catalog_admins_load(client, session):
    token = signed_in(client, session, "sysadmin-a", "system_admin")
    assert client.get("/console/catalog").status_code == 200  # may read
    resp = upload(client, token, CATALOG_TEXT(), "load")
    assert resp.status_code == 403 and "FORBIDDEN_ROLE" in resp.text


def CATALOG_TEXT() -> str:  # noqa: N802
    return yaml.safe_dump(catalog_data(), allow_unicode=True)


def test_the_difference_between_two_versions(app, client, session, tmp_path):
    data = catalog_data()
    old_days = data["permit_items"]["food_business"]["promised_days"]
    data["permit_items"]["food_business"]["promised_days"] = old_days - 1
    data["industries"]["bakery"]["retired"] = True
    removed_item = data["industries"]["restaurant"]["items"][-1]
    data["industries"]["restaurant"]["items"].remove(removed_item)
    data["materials"]["zz_new_material"] = {"name": "新增材料甲"}
    data["fields"][next(iter(data["fields"]))]["label"] = "改过的字段名"
    assert load_cli(app, write_catalog(tmp_path, data)).exit_code == 0

    signed_in(client, session, "catalog-a", "catalog_admin")
    page = client.get("/console/catalog/diff?old=1&new=2")
    assert page.status_code == 200
    sections = {s.key: s for s in _diff(app, 1, 2).sections}
    food = next(e for e in sections["permit_items"].changed if e.code == "food_business")
    assert [(c.field, c.old, c.new) for c in food.changes] == [
        ("promised_days", str(old_days), str(old_days - 1))]
    restaurant = next(e for e in sections["industries"].changed if e.code == "restaurant")
    assert [(c.field, c.removed) for c in restaurant.changes] == [("items", (removed_item,))]
    assert ("zz_new_material", "新增材料甲") in sections["materials"].added
    assert sections["fields"].changed[0].changes[0].new == "改过的字段名"
    assert sections["units"].empty and sections["questions"].empty
    for text in ("新增材料甲", "zz_new_material", "promised_days", f"去掉 {removed_item}",
                 "改过的字段名", "retired"):
        assert text in page.text
    # and back: what was added is now removed
    back = {s.key: s for s in _diff(app, 2, 1).sections}
    assert ("zz_new_material", "新增材料甲") in back["materials"].removed


def _diff(app, old: int, new: int):
    from backend.extensions import db
    with app.app_context():
        admin = StaffAccount(username="x", display_name="x", role="catalog_admin",
                             password_hash="x")
        return catalog.diff(db.session, staff=admin, old=old, new=new)


def test_estimates_are_listed(client, session):
    signed_in(client, session, "catalog-a", "catalog_admin")
    page = client.get("/console/catalog/estimates")
    assert page.status_code == 200 and "仍为估计" in page.text
    assert "电子证照类型代码" in page.text and "111400000000000003001" in page.text


# --- the holiday calendar ----------------------------------------------------------------------


def test_a_day_set_off_with_a_note(client, session):
    token = signed_in(client, session, "catalog-a", "catalog_admin")
    resp = client.post("/console/calendar?year=2031", data={
        "csrf_token": token, "day": "2031-03-03", "is_workday": "false", "name": "本地调整"})
    assert resp.status_code == 302
    page = client.get("/console/calendar?year=2031").text
    assert "2031-03-03" in page and "本地调整" in page and "管理员 catalog-a" in page
    resp = client.post("/console/calendar?year=2031", data={
        "csrf_token": token, "day": "2031-03-04", "is_workday": "true"})
    assert resp.status_code == 422 and "FORM_INVALID" in resp.text


def test_a_day_outside_the_years_the_calendar_shows_is_refused(client, session):
    """1999-01-01 and 2150-01-01 were stored, though no year view can ever show them."""
    token = signed_in(client, session, "catalog-b", "catalog_admin")
    for day in ("1999-01-01", "2150-01-01"):
        resp = client.post("/console/calendar?year=2031", data={
            "csrf_token": token, "day": day, "is_workday": "false", "name": "越界"})
        assert resp.status_code == 422 and "CALENDAR_DAY_OUT_OF_RANGE" in resp.text, day
    assert client.get("/console/calendar?year=2101").status_code == 404  # a bad query: not found


# --- licenses ------------------------------------------------------------------------------------


def bureau_signed_in(client, session) -> str:
    return signed_in(client, session, "bureau-a", "unit_reviewer", "approval_bureau",
                     page="/console/licenses")


@pytest.mark.usefixtures("licensed")
def test_a_license_is_found_by_number_code_or_holder_and_only_by_its_units(
        client, session, licensed):  # noqa: F811
    shown = licensed["license"]
    bureau_signed_in(client, session)
    for q in (shown["license_no"], shown["license_no"][:10], shown["credit_code"],
              shown["holder_name"][:2]):
        page = client.get("/console/licenses", query_string={"q": q})
        assert page.status_code == 200 and shown["license_no"] in page.text, q
    assert shown["license_no"] not in client.get(
        "/console/licenses", query_string={"q": "9" * 18}).text

    client.post("/console/logout", data={"csrf_token": csrf_of(
        client.get("/console/licenses").text)})
    signed_in(client, session, "fire-a", "unit_reviewer", "fire", page="/console/licenses")
    page = client.get("/console/licenses", query_string={"q": shown["license_no"]})
    assert "共 0 张" in page.text  # no fire item: not found, as by id
    assert client.get(f"/console/licenses/{shown['id']}").status_code == 404


def test_the_license_page_shows_items_history_and_face(client, session, licensed):  # noqa: F811
    shown = licensed["license"]
    bureau_signed_in(client, session)
    page = client.get(f"/console/licenses/{shown['id']}")
    assert page.status_code == 200
    for item in shown["items"]:
        assert item["sub_license_no"] in page.text
    assert "核发行业综合许可证" in page.text  # the history
    image = re.search(r'<img class="page" src="([^"]+)"', page.text).group(1)
    assert "/files/" in image and "PDF" in page.text


def test_a_unit_suspends_and_restores_its_item_but_not_another_units(
        client, session, licensed):  # noqa: F811
    shown = licensed["license"]
    token = bureau_signed_in(client, session)
    theirs, mine = (session.scalars(select(LicenseItem).where(
        LicenseItem.license_id == shown["id"]).order_by(LicenseItem.id)).all())
    theirs.approving_unit = "fire"  # a license bundling another unit's permit
    session.commit()
    version = session.get(License, shown["id"]).lock_version

    url = f"/console/licenses/{shown['id']}/items"
    page = client.get(f"/console/licenses/{shown['id']}").text  # forms for its own item only
    assert re.findall(r'action="[^"]*/items/([^/"]+)/\w+"', page) == [mine.item_code] * 3
    resp = client.post(f"{url}/{theirs.item_code}/suspend", data={
        "csrf_token": token, "version": version, "reason": "检查发现问题"})
    assert resp.status_code == 404 and "LICENSE_ITEM_NOT_FOUND" in resp.text
    assert "该许可证没有本单位的此事项" in resp.text and "<h1>行业综合许可证" in resp.text
    session.refresh(theirs)
    assert theirs.status == "active"

    resp = client.post(f"{url}/{mine.item_code}/suspend", data={
        "csrf_token": token, "version": version, "reason": "检查发现问题"})
    assert resp.status_code == 302
    session.refresh(mine)
    assert (mine.status, mine.status_reason) == ("suspended", "检查发现问题")
    stale = client.post(f"{url}/{mine.item_code}/restore", data={
        "csrf_token": token, "version": version, "reason": "已整改"})
    assert stale.status_code == 409 and "VERSION_CONFLICT" in stale.text
    fresh = session.get(License, shown["id"])
    session.refresh(fresh)
    assert client.post(f"{url}/{mine.item_code}/restore", data={
        "csrf_token": token, "version": fresh.lock_version, "reason": "已整改"}
    ).status_code == 302
    session.refresh(mine)
    assert mine.status == "active"
    page = client.get(f"/console/licenses/{shown['id']}").text
    assert "暂停（检查发现问题）" in page and "恢复（已整改）" in page


def test_a_change_request_is_decided_by_the_unit(client, session, licensed):  # noqa: F811
    shown = licensed["license"]
    resp = client.post(f"/api/mp/v1/licenses/{shown['id']}/requests",
                       headers=licensed["applicant"],
                       json={"kind": "change", "changes": {"holder_name": "新店名有限公司"},
                             "reason": "更名"})
    assert resp.status_code in (200, 201), resp.json
    token = bureau_signed_in(client, session)
    page = client.get("/console/license-requests")
    assert "新店名有限公司" in page.text
    change_id = int(re.search(r"/license-requests/(\d+)/decide", page.text).group(1))
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    resp = client.post(f"/console/license-requests/{change_id}/decide", data={
        "csrf_token": token, "version": version, "opinion": "同意变更", "approve": "true"})
    assert resp.status_code == 302
    assert session.get(License, shown["id"]).holder_name == "新店名有限公司"
    page = client.get(f"/console/licenses/{shown['id']}").text
    assert f"#{change_id} 变更 · 已同意" in page  # labels, not the codes change / approved


# --- deliveries ----------------------------------------------------------------------------------


def test_an_uncertain_wechat_delivery_is_replayed_from_the_console_only_knowingly(
        app, client, login, session):
    login("alice")
    row = outbox_row(session, enqueue_event(app, applicant=applicant_id(session, "alice")))
    row.status = "uncertain"
    session.commit()
    token = signed_in(client, session, "sysadmin-d", "system_admin", page="/console/deliveries")
    page = client.get("/console/deliveries")
    assert f'/console/deliveries/{row.id}/replay' in page.text and "接受重复发送的风险" in page.text

    url = f"/console/deliveries/{row.id}/replay"
    refused = client.post(url, data={"csrf_token": token})
    assert refused.status_code == 409 and "DELIVERY_MAY_HAVE_ARRIVED" in refused.text
    session.refresh(row)
    assert row.status == "uncertain"  # nothing changed
    done = client.post(url, data={"csrf_token": token, "accept_duplicate_risk": "true"})
    assert done.status_code == 302
    session.refresh(row)
    assert row.status == "pending" and "sysadmin-d" in row.last_error


def test_a_department_endpoint_shows_its_new_credentials_once(client, session):
    token = signed_in(client, session, "sysadmin-e", "system_admin", page="/console/deliveries")
    resp = client.post("/console/departments/market", data={
        "csrf_token": token, "url": "https://market.example/hook", "active": "true",
        "rotate_secret": "true", "rotate_api_key": "true"})
    assert resp.status_code == 200
    shown = re.findall(r"<code[^>]*>([A-Za-z0-9_\-]{20,})</code>", resp.text)
    assert len(shown) == 2, resp.text  # the signing secret and the API key, this once
    again = client.get("/console/deliveries").text
    assert not any(secret in again for secret in shown)
