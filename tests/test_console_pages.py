"""What every console page shares: a query string read with its schema (a bad one is the
Chinese 404), a refusal summarised at the top of the page, uploads refused in Chinese, and
staff changing their own password."""

from __future__ import annotations

import io

import pytest

from tests.test_assisted import make_staff, start
from tests.test_console_admin import signed_in
from tests.test_console_session import csrf_of, sign_in
from tests.test_console_units import console_as, in_review, lane  # noqa: F401 - fixtures

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
