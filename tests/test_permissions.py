"""Every role × every staff endpoint, generated from the URL map and asserted: a role the
permission table does not allow is refused (403, or 404 where the object itself is hidden);
an allowed role is never refused. A new staff endpoint without a declared rule fails here."""

from __future__ import annotations

import re
from datetime import date

from backend.security import permissions
from backend.services.staff import ROLES
from tests.test_workflow import STAFF, accepted, staff_get

# endpoint → the permission it needs; "visible" = object-level only (unit, team), "any" = any
# signed-in staff member
RULES = {
    "staff.me": "any",
    "staff.change_password": "any",
    "staff.binding_code": "staff.binding_code",
    "staff.list_applications": "application.view_any",
    "staff.get_application": "visible",
    "staff.accept": "application.accept",
    "staff.request_supplements": "application.request_supplements",
    "staff.reject": "application.reject",
    "staff.drop_item": "application.drop_item",
    "staff.refuse": "application.refuse",
    "staff.list_reviews": "review.list_unit",
    "staff.get_review": "review.list_unit",
    "staff.approve_review": "review.decide",
    "staff.refuse_review": "review.decide",
    "staff.approve_by_commitment": "review.decide",
    "staff.list_time_limits": "time_limits.view",
    "staff.list_inspections": "inspection.list_all",
    "staff.my_inspections": "inspection.list_mine",
    "staff.get_inspection": "visible",
    "staff.schedule": "inspection.schedule",
    "staff.upload_photo": "visible",
    "staff.record_result": "inspection.record_result",
    "staff.conclude": "inspection.conclude",
    "staff.photo_review": "inspection.conclude",
    "staff.list_calendar": "time_limits.view",
    "staff.set_calendar_day": "calendar.edit",
    "staff.issue_license": "license.issue",
    "staff.get_license": "license.view",
    "staff.license_downloads": "license.downloads",
    "staff.list_license_requests": "license.handle_requests",
    "staff.decide_license_request": "license.handle_requests",
    "staff.set_item_status": "license.item_status",
    "staff.catalog_versions": "catalog.view",
    "staff.catalog_estimates": "catalog.view",
    "staff.catalog_low_volume": "catalog.view",
    "staff.statistics_figures": "statistics.view",
    "staff.list_deliveries": "notifications.admin",
    "staff.delivery_summary": "notifications.admin",
    "staff.get_delivery": "notifications.admin",
    "staff.replay_delivery": "notifications.admin",
    "staff.list_departments": "notifications.admin",
    "staff.configure_department": "notifications.admin",
    "staff.staff_messages": "any",
    "staff.read_staff_message": "any",
    "staff.rate_at_window": "rating.record_at_window",
    "staff.list_rectifications": "rectification.view",
    "staff.get_rectification": "rectification.view",
    "staff.verify_rectification": "rectification.act",
    "staff.follow_up_rectification": "rectification.act",
    "staff.close_rectification": "rectification.act",
}
NOT_IN_MATRIX = {"staff.login", "staff.logout"}  # no role involved; tested in test_staff_auth
# a department's API key, not a staff role: tested in test_notifications_api
NOT_IN_MATRIX |= {"staff.department_feed"}
# who may see the fixture's objects: the reviewer is of a unit with an item in it, the
# inspector is not on its team
VISIBLE = {"window_commissioner", "inspection_coordinator", "system_admin", "unit_reviewer"}
VISIBLE_INSPECTION = {"inspection_coordinator"}


def staff_routes(app) -> list[tuple[str, str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(STAFF) and rule.endpoint not in NOT_IN_MATRIX:
            method = sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
            out.append((rule.endpoint, method, rule.rule))
    return out


def test_every_staff_endpoint_declares_its_permission(app):
    endpoints = {e for e, _, _ in staff_routes(app)}
    assert endpoints == set(RULES), endpoints ^ set(RULES)
    for rule in RULES.values():
        assert rule in {"any", "visible"} or rule in permissions.ACTIONS, rule


def test_role_by_endpoint_matrix(app, client, login, staff_login):
    applicant = login()
    commissioner, _ = staff_login("window_commissioner")
    detail = accepted(client, applicant, commissioner, floor_area=450, investment=80)
    coordinator, _ = staff_login("inspection_coordinator")
    inspection = staff_get(client, coordinator, "/inspections")["inspections"][0]
    bureau_reviewer, _ = staff_login("unit_reviewer", "approval_bureau")
    review = staff_get(client, bureau_reviewer, "/reviews")["reviews"][0]
    ids = {"application_id": detail["id"], "review_id": review["id"],
           "inspection_id": inspection["id"], "item_code": "food_business",
           "day": date(2027, 1, 1).isoformat(), "license_id": 999999, "request_id": 999999,
           "delivery_id": 999999, "message_id": 999999, "task_id": 999999}
    tokens = {role: staff_login(role, "approval_bureau" if role in {"unit_reviewer",
                                                                    "inspector"} else None)[0]
              for role in ROLES}
    body = {"version": 1, "reason": "理由", "opinion": "意见", "note": "",
            "demands": [{"subject": "材料", "demand": "补正"}]}
    refusals = []
    for endpoint, method, rule in staff_routes(app):
        url = rule
        for name, value in ids.items():
            url = url.replace(f"<int:{name}>", str(value)).replace(f"<{name}>", str(value))
        url = re.sub(r"<any\([^)]*\):action>", "suspend", url)
        for role, headers in tokens.items():
            resp = client.open(url, method=method, headers=headers,
                               json=None if method == "GET" else body)
            expected = _allowed(RULES[endpoint], role, endpoint)
            refused = resp.status_code in {401, 403, 404} and resp.json["code"] in {
                "FORBIDDEN_ROLE", "AUTH_REQUIRED", "APPLICATION_NOT_FOUND",
                "INSPECTION_NOT_FOUND", "REVIEW_NOT_FOUND"}
            if expected == refused:
                refusals.append((endpoint, role, resp.status_code, resp.json.get("code")))
    assert refusals == [], refusals


def _allowed(rule: str, role: str, endpoint: str) -> bool:
    if rule == "any":
        return True
    if rule == "visible":
        inspection = endpoint in {"staff.get_inspection", "staff.upload_photo"}
        return role in (VISIBLE_INSPECTION if inspection else VISIBLE)
    return permissions.allowed(role, rule)


def test_applicants_and_strangers_cannot_use_the_staff_api(app, client, login):
    applicant = login()
    for _, method, rule in staff_routes(app):
        url = re.sub(r"<int:\w+>", "1", rule).replace("<item_code>", "x") \
            .replace("<day>", "2027-01-01")
        url = re.sub(r"<any\([^)]*\):action>", "suspend", url)
        for headers in (applicant, {}):
            resp = client.open(url, method=method, headers=headers,
                               json=None if method == "GET" else {})
            assert resp.status_code == 401, (url, resp.json)
            assert resp.json["code"] == "AUTH_REQUIRED"
