"""Administrators: the catalog's versions (difference, upload, estimates), the holiday
calendar, staff accounts, and department endpoints with the delivery state."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from flask import current_app, render_template, request, url_for
from pydantic import Field, StringConstraints

from backend import clock
from backend.api_types import Version, free_text
from backend.extensions import db
from backend.services import calendar, catalog, deliveries, departments, divisions, statistics
from backend.services import staff as staff_service
from console import bp
from console.forms import parse, perform, shown_once
from console.forms import query as query_of
from console.session import current_staff
from notifications import outbox
from staff_api.notifications import DeliveryQuery, DepartmentIn, ReplayIn
from staff_api.schemas import CalendarDayIn, In, PageQuery, VersionQuery

# --- the catalog ---------------------------------------------------------------------------------


class DiffQuery(In):
    old: Version | None = None
    new: Version | None = None


class UploadForm(In):
    step: Literal["validate", "load"] = "validate"


def _catalog_page(problem: dict | None = None):
    versions = catalog.versions_for(db.session, staff=current_staff())
    threshold = current_app.extensions["settings"].STATISTICS_LOW_VOLUME_CASES
    period, volumes = statistics.low_volume_industries(db.session, staff=current_staff(),
                                                       threshold=threshold)
    return render_template("admin/catalog.html", title="行业目录", versions=versions,
                           problem=problem, threshold=threshold, period=period,
                           volumes=volumes)


@bp.get("/catalog")
def catalog_versions():
    return _catalog_page()


@bp.get("/catalog/diff")
def catalog_diff():
    """What changed between two versions (industries, items, materials, fields …)."""
    query = query_of(DiffQuery)
    difference = None if query.old is None or query.new is None else \
        catalog.diff(db.session, staff=current_staff(), old=query.old, new=query.new)
    return render_template("admin/catalog_diff.html", title="目录版本对比", diff=difference,
                           versions=catalog.versions_for(db.session, staff=current_staff()))


@bp.get("/catalog/estimates")
def catalog_estimates():
    version, report = catalog.estimates_for(db.session, staff=current_staff(),
                                            number=query_of(VersionQuery).version)
    return render_template("admin/catalog_estimates.html", title="待核实的目录数据",
                           version=version, report=report)


@bp.post("/catalog/upload")
def catalog_upload():
    """Check a catalog file (every error listed, nothing stored) or check and load it."""
    def call():
        form = parse(UploadForm)
        upload = request.files.get("file")
        return catalog.upload(db.session, staff=current_staff(),
                              data=upload.read() if upload else b"",
                              filename=upload.filename if upload else "",
                              store=form.step == "load")

    def done(result: catalog.Upload) -> str:
        held = f"“{result.title}”：{result.industries} 个行业、{result.permit_items} 个许可事项"
        if result.version is None:
            return f"校验通过，{held}；尚未加载"
        if not result.created:
            return f"与第 {result.version.number} 版内容相同，未新建版本"
        return f"已加载为第 {result.version.number} 版，{held}"

    return perform("upload", call, done=done, then=url_for("console.catalog_versions"),
                   page=_catalog_page)


# --- the holiday calendar ------------------------------------------------------------------------


class YearQuery(In):
    year: int = Field(default_factory=lambda: clock.today().year, ge=calendar.FIRST_YEAR,
                      le=calendar.LAST_YEAR)


class CalendarDayForm(CalendarDayIn):
    day: date


def _calendar_page(year: int, problem: dict | None = None):
    days, provisional = calendar.year_for(db.session, staff=current_staff(), year=year)
    return render_template("admin/calendar.html", title="节假日", year=year, days=days,
                           provisional=provisional, problem=problem)


@bp.get("/calendar", endpoint="calendar")
def calendar_year():
    return _calendar_page(query_of(YearQuery).year)


@bp.post("/calendar")
def calendar_set_day():
    year = query_of(YearQuery).year

    def call():
        form = parse(CalendarDayForm)
        return calendar.edit_day(db.session, staff=current_staff(), day=form.day,
                                 is_workday=form.is_workday, name=form.name)

    return perform("day", call,
                   done=lambda row: f"{row.day:%Y-%m-%d} 已设为"
                   f"{'上班' if row.is_workday else '放假'}",
                   then=lambda row: url_for("console.calendar", year=row.day.year),
                   page=lambda problem: _calendar_page(year, problem))



# --- staff accounts ------------------------------------------------------------------------------

Code = Annotated[str, StringConstraints(max_length=64, strip_whitespace=True)]


class RoleForm(In):
    role: Code
    unit_code: Code | None = None


class AccountForm(RoleForm):
    county_code: Code | None = None  # county-level staff (their statistics dashboard)
    username: Code
    display_name: free_text(64)
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class ActiveForm(In):
    active: bool


def _staff_page(problem: dict | None = None, issued: dict | None = None):
    query = query_of(PageQuery)
    rows, total = staff_service.list_accounts(db.session, staff=current_staff(),
                                              page=query.page, per_page=query.per_page)
    return render_template("admin/staff.html", title="工作人员", accounts=rows, total=total,
                           query=query, units=departments.units(db.session),
                           counties=divisions.listing()["cities"],
                           unit_bound=staff_service.UNIT_BOUND_ROLES, problem=problem,
                           issued=issued, form=request.form)


@bp.get("/staff")
def staff_accounts():
    return _staff_page()


@bp.post("/staff")
def staff_create():
    def call():
        form = parse(AccountForm)
        return staff_service.create_account(
            db.session, staff=current_staff(), username=form.username,
            display_name=form.display_name, role=form.role, unit_code=form.unit_code,
            password=form.password, county_code=form.county_code or None)

    return perform("create", call, done=lambda a: f"已创建账号 {a.username}",
                   then=url_for("console.staff_accounts"),
                   page=_staff_page)


@bp.post("/staff/<int:account_id>/active")
def staff_set_active(account_id: int):
    def call():
        form = parse(ActiveForm)
        return staff_service.set_active(db.session, staff=current_staff(),
                                        account_id=account_id, active=form.active)

    return perform(f"account-{account_id}", call,
                   done=lambda a: f"已{'启用' if a.active else '停用'}账号 {a.username}",
                   then=url_for("console.staff_accounts"),
                   page=_staff_page)


@bp.post("/staff/<int:account_id>/role")
def staff_change_role(account_id: int):
    def call():
        form = parse(RoleForm)
        return staff_service.change_role(db.session, staff=current_staff(),
                                         account_id=account_id, role=form.role,
                                         unit_code=form.unit_code)

    return perform(f"account-{account_id}", call,
                   done=lambda a: f"已更改 {a.username} 的角色与单位",
                   then=url_for("console.staff_accounts"),
                   page=_staff_page)


@bp.post("/staff/<int:account_id>/password")
def staff_reset_password(account_id: int):
    """The new password is shown on this answer only (never flashed into the cookie)."""
    def call():
        account, password = staff_service.reset_password(db.session, staff=current_staff(),
                                                         account_id=account_id)
        return {"username": account.username, "password": password}

    return shown_once(f"account-{account_id}", call, page=_staff_page)


# --- department endpoints and deliveries ---------------------------------------------------------


def _deliveries_page(problem: dict | None = None, issued: dict | None = None):
    query = query_of(DeliveryQuery)
    staff = current_staff()
    rows, total = deliveries.list_deliveries(
        db.session, staff=staff, status=query.status, channel=query.channel,
        event=query.event, target=query.target, page=query.page, per_page=query.per_page)
    return render_template(
        "admin/deliveries.html", title="消息投递", query=query, rows=rows, total=total,
        summary=deliveries.summary(
            db.session, staff=staff, library_configured=bool(
                current_app.extensions["settings"].ELICENSE_LIBRARY_URL)),
        endpoints=departments.list_endpoints(db.session, staff=staff),
        statuses=outbox.STATUSES, deliveries=deliveries, outbox=outbox,
        problem=problem, issued=issued)


@bp.get("/deliveries", endpoint="deliveries")
def deliveries_page():
    return _deliveries_page()


@bp.post("/deliveries/<int:delivery_id>/replay")
def delivery_replay(delivery_id: int):
    def call():
        form = parse(ReplayIn)
        return deliveries.replay(db.session, staff=current_staff(), delivery_id=delivery_id,
                                 accept_duplicate_risk=form.accept_duplicate_risk)

    return perform(f"delivery-{delivery_id}", call, done=f"已安排重发第 {delivery_id} 条",
                   then=url_for("console.deliveries"),
                   page=lambda problem: _deliveries_page(problem))


@bp.post("/departments/<code>")
def department_configure(code: str):
    """Configure a department's endpoint; new credentials are shown on this answer only."""
    settings = current_app.extensions["settings"]

    def call():
        form = parse(DepartmentIn)
        _, issued = departments.configure(
            db.session, staff=current_staff(), code=code, url=form.url, active=form.active,
            rotate_secret=form.rotate_secret, rotate_api_key=form.rotate_api_key,
            secret_key=settings.SECRET_KEY, production=settings.APP_ENV == "production",
            allow_private=settings.WEBHOOK_ALLOW_PRIVATE)
        return {"code": code, **issued}

    return shown_once(f"department-{code}", call, page=_deliveries_page)
