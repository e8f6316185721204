"""Signing in to the console: the staff API's login (same lockout, same server-side token),
carried in a session cookie instead of a header.

The cookie (``console_session``, path ``/console``) is signed with SECRET_KEY, HttpOnly,
SameSite=Lax and Secure in production; it holds the staff token and when it was last used.
A token unused for CONSOLE_IDLE_MINUTES is revoked (idle timeout); logout revokes it at once;
disabling an account ends its sessions (``staff.staff_for_token``). Every POST carries a
CSRF token (Flask-WTF), the login form included.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect

from backend.errors import DomainError
from backend.extensions import db, limit_of, limiter
from backend.models import StaffAccount
from backend.security import permissions
from backend.services import staff as staff_service
from console import bp
from console.forms import parse, problem_of
from staff_api.schemas import StaffLoginIn

csrf = CSRFProtect()

OPEN_ENDPOINTS = {"console.login", "console.login_submit", "console.static"}
# requests a page makes by itself (the queue's counts every minute): they need a session
# but are not activity, or a queue left open would never be signed out
PASSIVE_ENDPOINTS = {"console.window_counts"}


def cookie_config(production: bool) -> dict:
    """Flask's session settings for the console's cookie (the API uses none)."""
    return {"SESSION_COOKIE_NAME": "console_session", "SESSION_COOKIE_PATH": "/console",
            "SESSION_COOKIE_HTTPONLY": True, "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": production,
            # checked only where the console asks (csrf.protect below), never on the JSON API
            "WTF_CSRF_CHECK_DEFAULT": False}


def current_staff() -> StaffAccount:
    return g.staff


@bp.app_template_global()
def may(action: str) -> bool:
    """Whether the signed-in role may do ``action`` (backend.security.permissions): the
    navigation shows only what the role can use; the services still check every call."""
    return permissions.allowed(g.staff.role, action)


@bp.before_request
def _sign_in_and_csrf():
    """Signed in first (a signed-out form goes to the login, not to a CSRF refusal: nothing
    it asks is done either way), then the CSRF token of every POST."""
    if request.endpoint not in OPEN_ENDPOINTS:
        token, seen = session.get("token"), session.get("seen", 0)
        idle = time.time() - seen > _settings().CONSOLE_IDLE_MINUTES * 60
        staff = staff_service.staff_for_token(db.session, token) if token else None
        if staff is None or idle:
            session.clear()
            if token:
                staff_service.revoke_token(db.session, token)
                db.session.commit()
                flash("长时间未操作，已自动退出，请重新登录" if staff else "登录已失效，请重新登录")
            return _to(url_for("console.login", next=_return_to()))
        if request.endpoint not in PASSIVE_ENDPOINTS:
            session["seen"] = int(time.time())
        g.staff = staff
    if request.method == "POST":
        csrf.protect()
    return None


def _return_to() -> str:
    """Where to come back after signing in again: the page asked for; for a form that was
    sent, the page it was sent from (its address takes POST only: opened again, a 405); for a
    part of a page htmx fetched (the queue's counts), the page it is part of."""
    page = request.headers.get("HX-Current-URL") if request.headers.get("HX-Request") else None
    if request.method == "GET" and page is None:
        return request.full_path.rstrip("?")
    came_from = urlsplit(page or request.referrer or "")
    return _safe_next(came_from.path + (f"?{came_from.query}" if came_from.query else ""))


def _to(url: str):
    """A redirect that also works for an htmx request (it would swap the target page in)."""
    if request.headers.get("HX-Request"):
        return "", 204, {"HX-Redirect": url}
    return redirect(url)


@bp.errorhandler(CSRFError)
def _csrf_refused(error: CSRFError):
    if request.endpoint == "console.login_submit" and session.get("token"):
        # a second login tab, sent after the first signed in (which renewed the session)
        flash("您已登录")
        return redirect(_safe_next(request.form.get("next")))
    return render_template("error.html", title="页面已过期",
                           message="页面已过期或来源不明，请返回刷新后重试（CSRF_INVALID）"), 400


@bp.get("/login")
def login():
    return render_template("login.html", next=_safe_next(request.args.get("next")))


@bp.post("/login")
@limiter.limit(limit_of("LOGIN_RATE_LIMIT"))  # per client address; the lockout guards accounts
def login_submit():
    """The staff API's login: five failures lock the account for 15 minutes; one answer for
    every refusal (STAFF_LOGIN_FAILED)."""
    target = _safe_next(request.form.get("next"))
    try:
        form = parse(StaffLoginIn)
        staff = staff_service.authenticate(db.session, username=form.username,
                                           password=form.password)
    except DomainError as error:
        db.session.commit()  # the failure count outlives the refused request
        return render_template("login.html", next=target, error=problem_of(error),
                               username=request.form.get("username", "")), error.status
    token, _ = staff_service.issue_token(db.session, staff)
    db.session.commit()
    session.clear()  # a fresh session (and CSRF secret) for the signed-in user
    session.update(token=token, seen=int(time.time()))
    return redirect(target)


@bp.post("/logout")
def logout():
    staff_service.revoke_token(db.session, session["token"])
    db.session.commit()
    session.clear()
    flash("已退出登录")
    return redirect(url_for("console.login"))


@bp.get("/")
def home():
    """Each role starts at its own work."""
    return redirect(url_for(START[current_staff().role]))


# each role's first page (the module that builds it defines the endpoint)
START = {"window_commissioner": "console.window_queue", "unit_reviewer": "console.review_queue",
         "inspection_coordinator": "console.inspection_board", "inspector": "console.my_visits",
         "catalog_admin": "console.catalog_versions", "system_admin": "console.staff_accounts"}


def _safe_next(raw: str | None) -> str:
    """Only a path inside the console: never an open redirect to another site."""
    parts = urlsplit(raw or "")
    if raw and not parts.scheme and not parts.netloc and parts.path.startswith("/console/"):
        return raw
    return url_for("console.home")


def _settings():
    return current_app.extensions["settings"]
