"""许可证: find a license, read it (items, status history, its face), a unit's suspension,
revocation or restoration of its own item, and the change / renewal / replacement requests
waiting for the signed-in staff member."""

from __future__ import annotations

from typing import Annotated

from flask import render_template, request, url_for
from pydantic import StringConstraints

from backend import presenters
from backend.errors import RuleViolation
from backend.extensions import db
from backend.security import permissions
from backend.services import elicense_downloads, licenses
from console import bp
from console.forms import parse, perform, problem_of
from console.forms import query as query_of
from console.session import current_staff
from staff_api.schemas import ItemStatusIn, PageQuery, RequestDecisionIn


class LicenseQuery(PageQuery):
    q: Annotated[str, StringConstraints(max_length=128)] = ""  # a 证照标识 is up to ~100


@bp.get("/licenses")
def license_search():
    """By license number, unified social credit code or holder name (each from its start),
    or by 证照标识; a malformed identifier is told beside the box (422), nothing listed."""
    query = query_of(LicenseQuery)
    try:
        rows, total = licenses.search(db.session, staff=current_staff(), q=query.q,
                                      page=query.page, per_page=query.per_page)
        problem, status = None, 200
    except RuleViolation as error:
        rows, total, problem, status = [], 0, problem_of(error), error.status
    return render_template("licenses/search.html", title="许可证", query=query, total=total,
                           problem=problem,
                           rows=[(license_, licenses.verdict(license_),
                                  license_.identifier) for license_ in rows]), status


def _license_page(license_id: int, problem: dict | None = None):
    staff = current_staff()
    history = licenses.history(db.session, staff=staff, license_id=license_id)
    license_ = history.license
    shown = presenters.license_out(license_, f"staff:{staff.id}")
    downloads = (elicense_downloads.of_license(db.session, staff=staff, license_id=license_id)
                 if permissions.allowed(staff.role, "license.downloads") else None)
    db.session.commit()  # the first view of a version keeps its rendered face
    return render_template("licenses/page.html", title=f"许可证 {license_.license_no}",
                           license=shown, events=history.events,
                           elicense_events=history.elicense_events, downloads=downloads,
                           problem=problem,
                           form=request.form,
                           actions=licenses.ITEM_ACTIONS,
                           changeable=licenses.changeable_items(staff, license_))


@bp.get("/licenses/<int:license_id>")
def license_page(license_id: int):
    return _license_page(license_id)


@bp.post("/licenses/<int:license_id>/items/<item_code>/<any(suspend, revoke, restore):action>")
def license_item_status(license_id: int, item_code: str, action: str):
    """本单位暂停、吊销或恢复一个事项（staff API: set_item_status）."""
    def call():
        form = parse(ItemStatusIn)
        return licenses.set_item_status(db.session, staff=current_staff(),
                                        license_id=license_id, item_code=item_code,
                                        action=action, reason=form.reason, version=form.version)

    verb = licenses.ITEM_ACTIONS[action][2]
    return perform(f"item-{item_code}-{action}", call, done=f"已{verb}该事项",
                   then=url_for("console.license_page", license_id=license_id),
                   page=lambda problem: _license_page(license_id, problem))


def _requests_page(problem: dict | None = None):
    rows = licenses.pending_requests(db.session, staff=current_staff())
    return render_template("licenses/requests.html", title="变更延续补办", requests=rows,
                           problem=problem, kinds=licenses.REQUEST_LABELS,
                           fields=licenses.CHANGEABLE)


@bp.get("/license-requests")
def license_requests():
    return _requests_page()


@bp.post("/license-requests/<int:request_id>/decide")
def license_request_decide(request_id: int):
    def call():
        form = parse(RequestDecisionIn)
        return licenses.decide(db.session, staff=current_staff(), change_id=request_id,
                               approve=form.approve, opinion=form.opinion, version=form.version)

    return perform(f"request-{request_id}", call,
                   done=lambda change: "已同意该申请" if change.status != "refused"
                   else "已不予同意该申请",
                   then=url_for("console.license_requests"),
                   page=lambda problem: _requests_page(problem))
