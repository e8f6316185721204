"""The signed-in staff member's own account: 修改密码 (every role; linked from the header)."""

from __future__ import annotations

from flask import flash, redirect, render_template, session, url_for

from backend.errors import DomainError
from backend.extensions import db
from backend.services import staff as staff_service
from console import bp
from console.forms import parse, problem_of
from console.session import current_staff
from staff_api.schemas import PasswordChangeIn


def _page(problem: dict | None = None):
    return render_template("account/password.html", title="修改密码", problem=problem)


@bp.get("/account/password")
def password_form():
    return _page()


@bp.post("/account/password")
def password_change():
    """The service checks the current password (a wrong one counts towards the lockout, so
    the refusal is committed too), ends the account's other sessions and gives this one a
    fresh token."""
    try:
        form = parse(PasswordChangeIn)
        token, _ = staff_service.change_password(
            db.session, staff=current_staff(), current=form.current_password,
            new=form.new_password, repeated=form.repeat_password)
    except DomainError as error:
        db.session.commit()  # the failure count outlives the refused request
        return _page(problem_of(error, "password")), error.status
    db.session.commit()
    session["token"] = token
    flash("密码已修改；本账号在其他设备上的登录已退出")
    return redirect(url_for("console.home"))
