"""Signing in to the console (console/session.py): the API's login and lockout behind a
session cookie, CSRF on every form, idle timeout, logout, and no open redirect."""

from __future__ import annotations

import re
import time

import pytest
from flask.sessions import SecureCookieSessionInterface

from backend.services import staff as staff_service
from tests.conftest import STAFF_PASSWORD


@pytest.fixture
def commissioner(session):
    account = staff_service.create(session, username="window-c", display_name="窗口甲",
                                   role="window_commissioner", unit_code=None,
                                   password=STAFF_PASSWORD)
    session.commit()
    return account


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, username="window-c", password=STAFF_PASSWORD, next_="", token=None):
    token = token or csrf_of(client.get("/console/login").text)
    return client.post("/console/login", data={"csrf_token": token, "username": username,
                                               "password": password, "next": next_})


def test_sign_in_lands_on_the_roles_work_with_a_safe_cookie(client, commissioner):
    assert client.get("/console/window").status_code == 302  # not signed in: to the login
    resp = sign_in(client)
    assert resp.status_code == 302 and resp.location == "/console/"
    cookie = resp.headers["Set-Cookie"]
    assert "console_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/console" in cookie
    page = client.get("/console/", follow_redirects=True)
    assert page.status_code == 200 and "受理队列" in page.text and "窗口甲" in page.text
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"


def test_the_api_still_sets_no_cookie(client, commissioner):
    resp = client.post("/api/staff/v1/auth/login",
                       json={"username": "window-c", "password": STAFF_PASSWORD})
    assert resp.status_code == 200 and "Set-Cookie" not in resp.headers


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(client, commissioner):
    client.get("/console/login")
    resp = client.post("/console/login", data={"username": "window-c",
                                               "password": STAFF_PASSWORD})
    assert resp.status_code == 400 and "CSRF_INVALID" in resp.text
    assert client.get("/console/window").status_code == 302  # still signed out


def test_wrong_passwords_lock_the_account_as_the_api_does(client, commissioner):
    for _ in range(staff_service.MAX_FAILED_LOGINS):
        resp = sign_in(client, password="wrong-password-x")
        assert resp.status_code == 401 and "STAFF_LOGIN_FAILED" in resp.text
    resp = sign_in(client)  # the right password, locked
    assert resp.status_code == 401 and 'value="window-c"' in resp.text


def test_logout_revokes_the_session(client, commissioner):
    sign_in(client)
    page = client.get("/console/window")
    cookie = client.get_cookie("console_session", path="/console").value
    client.post("/console/logout", data={"csrf_token": csrf_of(page.text)})
    assert client.get("/console/window").status_code == 302
    client.set_cookie("console_session", cookie, path="/console")  # a copy kept aside
    assert client.get("/console/window").status_code == 302


def test_an_idle_session_is_signed_out(client, commissioner, set_settings):
    sign_in(client)
    assert client.get("/console/window").status_code == 200
    set_settings(CONSOLE_IDLE_MINUTES=0)
    resp = client.get("/console/window")
    assert resp.status_code == 302 and resp.location.startswith("/console/login")
    assert "长时间未操作" in client.get(resp.location).text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/console/",
                                    "/api/staff/v1/me", "javascript:alert(1)"])
def test_next_never_leaves_the_console(client, commissioner, target):
    assert sign_in(client, next_=target).location == "/console/"


def test_next_returns_to_the_page_asked_for(client, commissioner):
    assert sign_in(client, next_="/console/window?status=in_review").location == \
        "/console/window?status=in_review"


def seen_of(client) -> int:
    """The last-used time the session cookie holds (signed, not encrypted: readable)."""
    serializer = SecureCookieSessionInterface().get_signing_serializer(client.application)
    return serializer.loads(client.get_cookie("console_session", path="/console").value)["seen"]


def test_the_queue_counting_by_itself_is_not_activity(client, commissioner, set_settings):
    """The queue's tabs refresh their counts every minute: a queue left open on a desk must
    still be signed out after CONSOLE_IDLE_MINUTES."""
    sign_in(client)
    before = seen_of(client)
    time.sleep(1.1)
    assert client.get("/console/window/counts", headers={"HX-Request": "true"}).status_code == 200
    assert seen_of(client) == before
    client.get("/console/window")
    assert seen_of(client) > before  # a person's request is


def test_a_form_sent_after_the_session_ended_returns_to_its_page(client, commissioner,
                                                                set_settings):
    sign_in(client)
    token = csrf_of(client.get("/console/window").text)
    set_settings(CONSOLE_IDLE_MINUTES=0)
    resp = client.post("/console/applications/7/actions/reject",
                       data={"csrf_token": token, "reason": "材料不全"},
                       headers={"Referer": "http://localhost/console/applications/7"})
    assert resp.status_code == 302
    assert resp.location == "/console/login?next=/console/applications/7"


def test_a_part_of_a_page_fetched_after_the_session_ended_returns_to_the_page(
        client, commissioner, set_settings):
    """The queue's counts refresh by themselves: when that finds the session ended, the
    clerk signs in again to the queue as it was, not to the bare counts."""
    sign_in(client)
    set_settings(CONSOLE_IDLE_MINUTES=0)
    resp = client.get("/console/window/counts?status=in_review", headers={
        "HX-Request": "true",
        "HX-Current-URL": "http://localhost/console/window?status=in_review"})
    assert resp.status_code == 204
    assert resp.headers["HX-Redirect"] == \
        "/console/login?next=/console/window?status%3Din_review"


def test_errors_under_the_console_are_pages_in_chinese(client, commissioner, set_settings):
    sign_in(client)
    for resp, status, code in [
            (client.get("/console/no-such-page"), 404, "NOT_FOUND"),
            (client.get("/console/applications/7/actions/reject"), 405, "METHOD_NOT_ALLOWED"),
            (client.post("/console/applications/7/actions/reject",
                         data={"csrf_token": csrf_of(client.get("/console/window").text),
                               "reason": "长" * 70_000}), 413, "REQUEST_TOO_LARGE")]:
        assert resp.status_code == status and resp.mimetype == "text/html", resp.data[:200]
        assert code in resp.text and "返回工作台首页" in resp.text  # the console's own page
    api = client.get("/api/staff/v1/no-such-page")
    assert api.status_code == 404 and api.json["code"] == "NOT_FOUND"  # the API stays JSON


def test_a_rate_limited_console_page_says_when_to_come_back(client, commissioner, set_settings):
    set_settings(LOGIN_RATE_LIMIT="2 per minute")
    for _ in range(2):
        sign_in(client, password="wrong-password-x")
    resp = sign_in(client, password="wrong-password-x")
    assert resp.status_code == 429 and resp.mimetype == "text/html"
    assert "RATE_LIMITED" in resp.text and int(resp.headers["Retry-After"]) > 0


def test_a_second_login_tab_after_the_first_signed_in_is_not_an_error(client, commissioner):
    stale = csrf_of(client.get("/console/login").text)  # tab 2 opened
    sign_in(client)  # tab 1 signs in: a fresh session
    resp = sign_in(client, token=stale)
    assert resp.status_code == 302 and resp.location == "/console/"
