"""一窗受理: the window's queue of applications, a case as submitted, the window's actions on
it and its printed documents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import render_template, request, url_for

from backend import presenters, workflow
from backend.errors import NotFound
from backend.extensions import db
from backend.models import StaffAccount
from backend.security import permissions
from backend.services import archive, documents, licenses, window
from console import bp
from console.forms import parse, perform
from console.forms import query as query_of
from console.session import current_staff
from staff_api.schemas import (
    AcceptIn,
    ApplicationQuery,
    ReasonIn,
    SupplementCodesIn,
    Versioned,
)

# the queue's tabs: (query parameter, value, label); the counts come from window.counts
TABS = [("status", str(workflow.State.SUBMITTED), "待受理"),
        ("status", str(workflow.State.SUPPLEMENT_REQUESTED), "待补正"),
        ("status", str(workflow.State.IN_REVIEW), "办理中"),
        ("status", str(workflow.State.APPROVED), "待发证"),
        ("status", str(workflow.State.LICENSED), "已发证"),
        ("clock", "due_soon", "即将到期"),
        ("clock", "overdue", "已超期")]


def _selected(query: ApplicationQuery) -> tuple[str, str]:
    if query.clock:
        return "clock", query.clock
    return "status", str(query.status or workflow.State.SUBMITTED)


@bp.get("/window")
def window_queue():
    """The window's queue by status (default 待受理) or by clock, oldest first; the table
    alone (with the tabs' counts out of band) for htmx."""
    query = query_of(ApplicationQuery)
    desk = window.desk(db.session, staff=current_staff(), status=query.status,
                       clock_state=query.clock, industry=query.industry, page=query.page,
                       per_page=query.per_page)
    template = "window/_queue_table.html" if request.headers.get("HX-Request") else \
        "window/queue.html"
    rows = [(presenters.summary(a), a.form_values.get("entity_name"), limit)
            for a, limit in desk.rows]
    return render_template(template, title="受理队列", selected=_selected(query), tabs=TABS,
                           counts=desk.counts, total=desk.total, page=query.page,
                           per_page=query.per_page, rows=rows, oob=True)


@bp.get("/window/counts")
def window_counts():
    """The tabs with fresh counts (polled by the queue page every minute)."""
    selected = _selected(query_of(ApplicationQuery))
    return render_template("window/_tabs.html", tabs=TABS, selected=selected,
                           counts=window.counts(db.session, staff=current_staff()))


def _case_page(application_id: int, problem: dict[str, Any] | None = None,
               checked: tuple[Any, Any] | None = None):
    staff = current_staff()
    application = window.get_for_staff(db.session, staff, application_id)
    case = presenters.staff_detail(application, staff)
    packages = (archive.packages_of(db.session, application.id)
                if permissions.allowed(staff.role, "archive.view") else None)
    return render_template("window/case.html", title=f"申请 {case['submission_number']}",
                           case=case, entity_name=application.form_values.get("entity_name"),
                           actions=window.actions_for(staff, application),
                           license=licenses.of_application(db.session, application),
                           documents=documents.available(application), problem=problem,
                           form=request.form if problem else {}, packages=packages,
                           may_verify=permissions.allowed(staff.role, "archive.verify"),
                           may_open=permissions.allowed(staff.role, "archive.open"),
                           checked=checked, closed=archive.closing_of(application))


@bp.get("/applications/<int:application_id>")
def case(application_id: int):
    """A case as submitted: the merged form, the materials, the lanes, the inspection, the
    timeline, the actions the workflow allows now and the printed documents."""
    return _case_page(application_id)


Call = Callable[[StaffAccount, int], Any]


def _accept(staff: StaffAccount, application_id: int):
    form = parse(AcceptIn)
    return window.accept(db.session, staff=staff, application_id=application_id,
                         version=form.version, note=form.note)


def _request_supplements(staff: StaffAccount, application_id: int):
    form = parse(SupplementCodesIn)
    return window.request_supplements_of(
        db.session, staff=staff, application_id=application_id, version=form.version,
        fields=form.fields, materials=form.materials, note=form.note)


def _with_reason(decide: Callable[..., Any]) -> Call:
    """A decision that states its reason (不予受理, 不予许可)."""
    def call(staff: StaffAccount, application_id: int):
        form = parse(ReasonIn)
        return decide(db.session, staff=staff, application_id=application_id,
                      version=form.version, reason=form.reason)
    return call


def _issue(staff: StaffAccount, application_id: int):
    return licenses.issue(db.session, staff=staff, application_id=application_id,
                          version=parse(Versioned).version)


# each action of the window (workflow.Action) → its service call and what the clerk is told
ACTIONS: dict[str, tuple[Call, str | Callable[[Any], str]]] = {
    workflow.Action.ACCEPT: (_accept, "已受理，各事项已分送审批单位"),
    workflow.Action.REQUEST_SUPPLEMENTS: (_request_supplements, "已一次性告知补正内容"),
    workflow.Action.REJECT: (_with_reason(window.reject), "已作出不予受理决定"),
    workflow.Action.REFUSE: (_with_reason(window.refuse), "已作出不予许可决定"),
    workflow.Action.ISSUE: (_issue,
                            lambda issued: f"已核发行业综合许可证（证号 {issued[0].license_no}）"),
}


@bp.post("/applications/<int:application_id>/actions/<action>")
def case_action(application_id: int, action: str):
    """One of the window's actions on a case; a refusal is shown in place on the case page."""
    if action not in ACTIONS:
        raise NotFound("PAGE_NOT_FOUND", "没有这样的操作")
    call, done = ACTIONS[action]
    return perform(action, lambda: call(current_staff(), application_id), done=done,
                   then=url_for("console.case", application_id=application_id),
                   page=lambda problem: _case_page(application_id, problem))


@bp.get("/applications/<int:application_id>/documents/<kind>.pdf")
def document(application_id: int, kind: str):
    """A printed document of the case as issued (the stored PDF), shown in the browser (404
    if not applicable)."""
    pdf = documents.pdf_for(db.session, staff=current_staff(), application_id=application_id,
                            kind=kind)
    db.session.commit()  # a document issued before documents were kept is kept from now on
    return pdf, 200, {"Content-Type": "application/pdf",
                      "Content-Disposition": f"inline; filename={kind}-{application_id}.pdf"}


@bp.post("/applications/<int:application_id>/archive/<int:version>/verify")
def archive_verify(application_id: int, version: int):
    """验证档案包: one version of the case's archive package checked as an auditor would
    (BagIt manifests, SHA-256 of every file, the detached signature); the result, naming
    every file that is not as written, shown on the case page; the check is logged."""
    checked = archive.verify_for_staff(db.session, staff=current_staff(),
                                       application_id=application_id, version=version)
    db.session.commit()
    return _case_page(application_id, checked=checked)


@bp.get("/applications/<int:application_id>/archive/<int:version>.zip")
def archive_download(application_id: int, version: int):
    """The package zip of one version, for administrators (its personal data stays
    encrypted); each download is logged as an opening."""
    package, data = archive.download_for_staff(db.session, staff=current_staff(),
                                               application_id=application_id, version=version)
    db.session.commit()
    return data, 200, {"Content-Type": "application/zip",
                       "Content-Disposition": f"attachment; filename={package.bag_name}.zip"}
