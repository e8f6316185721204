"""Signing in to the console (console/session.py): the API's login and lockout behind a
session cookie, CSRF on every form, idle timeout, logout, and no open redirect."""

from __future__ import annotations

import re

import pytest

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
