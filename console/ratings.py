"""好差评 in the console: the window's rating tablet, and the rectification tasks of bad
ratings for the units and administrators.

The tablet page (``/console/applications/<id>/rating``) is what a window clerk hands to the
applicant: the applicant, not the clerk, chooses — five large buttons for the level (a GET
form, nothing changes), then the level's reasons, a comment and the unit, sent once. It runs
under the clerk's session (recorded as the clerk's, channel ``window``) and shows no
navigation. The same services as the APIs: ``ratings.rate_at_window`` and
``backend.services.rectifications``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import current_app, render_template, request, url_for
from pydantic import Field
from werkzeug.datastructures import MultiDict

from backend import clock, presenters, workflow
from backend.extensions import db
from backend.services import applications, ratings, rectifications
from console import bp
from console.forms import parse, perform
from console.forms import query as query_of
from console.session import current_staff
from miniprogram_api.schemas import RatingIn
from staff_api.schemas import CloseIn, FollowUpIn, In, RectificationQuery, VerifyIn


class TabletQuery(In):
    level: Literal[ratings.LEVEL_CODES] | None = Field(default=None)


def _rules() -> ratings.Rules:
    return ratings.rules_from(current_app.extensions["settings"])


def _tablet_page(application_id: int, level: str | None, problem: dict | None = None):
    application, status = ratings.window_case(db.session, staff=current_staff(),
                                              application_id=application_id, rules=_rules())
    chosen = ratings.BY_CODE.get(level or "")
    return render_template(
        "ratings/tablet.html", title="请您评价", application=application,
        industry=applications.industry_of(db.session, application),
        status=presenters.rating_status(application) if status else None,
        levels=ratings.LEVELS, level=chosen,
        tags=[(t, ratings.TAGS[t]) for t in ratings.TAGS_BY_LEVEL[chosen.code]] if chosen else [],
        problem=problem, form=request.form if problem else MultiDict())


@bp.get("/applications/<int:application_id>/rating")
def rating_tablet(application_id: int):
    """The window's tablet: the level first, then its reasons, comment and unit."""
    return _tablet_page(application_id, query_of(TabletQuery).level)


@bp.post("/applications/<int:application_id>/rating")
def rating_tablet_submit(application_id: int):
    """The applicant's rating as chosen on the tablet; a refusal is shown in place."""
    def call():
        form = parse(RatingIn)
        return ratings.rate_at_window(db.session, staff=current_staff(),
                                      application_id=application_id, rules=_rules(),
                                      level=form.level, tags=form.tags, comment=form.comment,
                                      unit=form.unit)

    return perform("rate", call, done="感谢您的评价！",
                   then=url_for("console.rating_tablet", application_id=application_id),
                   page=lambda problem: _tablet_page(application_id, request.form.get("level"),
                                                     problem))


# --- rectification tasks -----------------------------------------------------------------------


@bp.get("/rectifications")
def rectifications_list():
    """The tasks ``staff`` may see: still open (overdue first), overdue only, or closed."""
    query = query_of(RectificationQuery)
    view = query.view or "open"
    rows, total = rectifications.tasks(db.session, staff=current_staff(), view=view,
                                       page=query.page, per_page=query.per_page)
    return render_template("rectifications/list.html", title="差评整改", view=view,
                           views=rectifications.VIEWS, total=total, page=query.page,
                           per_page=query.per_page, tasks=presenters.rectification_tasks(rows),
                           all_units=current_staff().role != workflow.REVIEWER)


def _task_page(task_id: int, problem: dict | None = None):
    task = rectifications.get(db.session, staff=current_staff(), task_id=task_id)
    return render_template(
        "rectifications/task.html", title=f"差评整改 {task_id}",
        task=presenters.rectification_detail(task, current_staff()),
        methods=rectifications.CONTACT_METHODS, problem=problem,
        form=request.form if problem else {},
        now=datetime.now(clock.CHINA).strftime("%Y-%m-%dT%H:%M"))


@bp.get("/rectifications/<int:task_id>")
def rectification_task(task_id: int):
    """One task: the rating, whom to call back, what was done and by whom, the next step."""
    return _task_page(task_id)


def _act(task_id: int, action: str, schema, move, done: str):
    def call():
        form = parse(schema)
        return move(db.session, staff=current_staff(), task_id=task_id,
                    **form.model_dump())

    return perform(action, call, done=done,
                   then=url_for("console.rectification_task", task_id=task_id),
                   page=lambda problem: _task_page(task_id, problem))


@bp.post("/rectifications/<int:task_id>/verify")
def rectification_verify(task_id: int):
    return _act(task_id, "verify", VerifyIn, rectifications.verify, "已记录核实情况")


@bp.post("/rectifications/<int:task_id>/follow-up")
def rectification_follow_up(task_id: int):
    return _act(task_id, "follow_up", FollowUpIn, rectifications.follow_up, "已记录回访")


@bp.post("/rectifications/<int:task_id>/close")
def rectification_close(task_id: int):
    return _act(task_id, "close", CloseIn, rectifications.close, "整改任务已办结")
