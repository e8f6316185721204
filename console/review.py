"""并联审批 in the console: a unit reviewer's queue of its own items and one item's page.

The same services as the staff API's review routes (staff_api/cases.py): ``review.unit_queue``,
``review.get_task`` (another unit's item is 404, like a missing one) and ``review.decide``.
"""

from __future__ import annotations

from flask import render_template, request, url_for

from backend import presenters, workflow
from backend.extensions import db
from backend.services import commitments, review
from console import bp
from console.forms import parse, perform
from console.forms import query as query_of
from console.session import current_staff
from staff_api.schemas import CommitmentApprovalIn, OpinionIn, ReviewQuery

STATUSES = (workflow.ItemState.UNDER_REVIEW, workflow.ItemState.APPROVED,
            workflow.ItemState.REFUSED)


@bp.get("/reviews")
def review_queue():
    """My unit's items (default 审查中), the earliest deadline first."""
    query = query_of(ReviewQuery)
    rows, total = review.unit_queue(db.session, staff=current_staff(), status=query.status,
                                    page=query.page, per_page=query.per_page)
    return render_template("review/queue.html", title="本单位审查", total=total,
                           status=query.status or workflow.ItemState.UNDER_REVIEW,
                           page=query.page, per_page=query.per_page,
                           tasks=presenters.review_tasks(rows),
                           statuses=[(s, workflow.label(s, workflow.ItemState))
                                     for s in STATUSES])


def _item_page(item_id: int, problem: dict | None = None, form: dict | None = None):
    item = review.get_task(db.session, staff=current_staff(), item_id=item_id)
    task = presenters.review_dossier(item, f"staff:{current_staff().id}")
    return render_template("review/item.html", title=task["item_name"], task=task,
                           problem=problem, form=form or {})


@bp.get("/reviews/<int:item_id>")
def review_item(item_id: int):
    """One item of my unit: its fields and materials only; approve or refuse."""
    return _item_page(item_id)


def _decide(item_id: int, approve: bool):
    action = "approve" if approve else "refuse"

    def call():
        form = parse(OpinionIn)
        return review.decide(db.session, staff=current_staff(), item_id=item_id,
                             version=form.version, approve=approve, opinion=form.opinion)

    return perform(action, call, done="已准予许可" if approve else "已作出不予许可决定",
                   then=url_for("console.review_item", item_id=item_id),
                   page=lambda problem: _item_page(
                       item_id, problem, {action: request.form.get("opinion", "")}))


@bp.post("/reviews/<int:item_id>/approve")
def review_approve(item_id: int):
    return _decide(item_id, approve=True)


@bp.post("/reviews/<int:item_id>/refuse")
def review_refuse(item_id: int):
    return _decide(item_id, approve=False)


@bp.post("/reviews/<int:item_id>/approve-by-commitment")
def review_approve_by_commitment(item_id: int):
    """告知承诺: approve at once on the applicant's signed commitment; a post-check follows."""
    def call():
        form = parse(CommitmentApprovalIn)
        return commitments.approve(db.session, staff=current_staff(), item_id=item_id,
                                   version=form.version, opinion=form.opinion)

    return perform("approve_by_commitment", call,
                   done="已按告知承诺准予许可，事后核查已列入核查任务",
                   then=url_for("console.review_item", item_id=item_id),
                   page=lambda problem: _item_page(
                       item_id, problem,
                       {"approve_by_commitment": request.form.get("opinion", "")}))
