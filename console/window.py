"""一窗受理: the window's queue of applications."""

from __future__ import annotations

from flask import render_template, request

from backend import presenters, workflow
from backend.extensions import db
from backend.services import window
from console import bp
from console.session import current_staff
from staff_api.schemas import ApplicationQuery


@bp.get("/window")
def window_queue():
    """The window's queue by status (default 待受理), oldest first; the table alone for htmx."""
    query = ApplicationQuery.model_validate(
        {k: v for k, v in request.args.items() if k in ApplicationQuery.model_fields and v})
    rows, total = window.queue(db.session, staff=current_staff(), status=query.status,
                               industry=query.industry, page=query.page,
                               per_page=query.per_page)
    status = query.status or workflow.State.SUBMITTED
    template = "window/_queue_table.html" if request.headers.get("HX-Request") else \
        "window/queue.html"
    return render_template(template, title="受理队列", status=status, total=total,
                           page=query.page, per_page=query.per_page,
                           applications=[presenters.summary(a) for a in rows],
                           statuses=[(s, workflow.label(s)) for s in workflow.State
                                     if s != workflow.State.DRAFT])
