"""一同核查 in the console: the coordinator's board, scheduling with a team picker,
conclusion, the printed 整改通知书 and the photo re-check; the inspectors' visits with
per-item results and photos.

The same services as the staff API's inspection routes (staff_api/inspections.py).
"""

from __future__ import annotations

from flask import current_app, render_template, request, url_for

from backend import files, presenters, workflow
from backend.extensions import db
from backend.services import commitments, inspection_documents, inspections, materials
from console import bp
from console.forms import parse, perform
from console.session import current_staff
from staff_api.schemas import ConcludeIn, PhotoReviewIn, ResultIn, ScheduleIn

N = workflow.InspectionState
# the board's sections: (title, states, grouped by visit day)
SECTIONS = (("待安排", (N.TO_SCHEDULE, N.RESCHEDULE_REQUESTED), False),
            ("已安排", (N.SCHEDULED,), True), ("整改中", (N.RECTIFYING,), False),
            ("待复核", (N.RECHECK,), False))


def _subject() -> str:
    return f"staff:{current_staff().id}"


@bp.get("/inspections")
def inspection_board():
    """Open inspections by stage; scheduled ones grouped by visit day."""
    board = inspections.board(db.session, staff=current_staff())
    sections = [(title, [presenters.inspection_card(i, _subject())
                         for state in states for i in board[state]], by_day)
                for title, states, by_day in SECTIONS]
    return render_template("inspections/board.html", title="联合核查", sections=sections)


def _inspection_page(inspection_id: int, problem: dict | None = None):
    inspection = inspections.get_for_staff(db.session, staff=current_staff(),
                                           inspection_id=inspection_id)
    chosen = ([int(v) for v in request.form.getlist("team") if v.isdigit()]
              if request.method == "POST" else [m.staff_id for m in inspection.members])
    return render_template(
        "inspections/inspection.html", title="联合核查", problem=problem, form=request.form,
        card=presenters.inspection_card(inspection, _subject()),
        units=inspections.team_options(db.session, inspection, chosen),
        recheck_modes=tuple(inspections.RECHECK_MODES.items()))


@bp.get("/inspections/<int:inspection_id>")
def inspection_detail(inspection_id: int):
    return _inspection_page(inspection_id)


def _act(inspection_id: int, action: str, schema, service, done, **arguments: str):
    """Parse ``schema``, call ``service`` on the inspection with the form's version and
    ``arguments`` (service argument → form field), show the outcome in place; ``done`` the
    flash, or a function of the inspection giving it."""
    def call():
        form = parse(schema)
        return service(db.session, staff=current_staff(), inspection_id=inspection_id,
                       version=form.version,
                       **{name: getattr(form, field) for name, field in arguments.items()})
    return perform(action, call, done=done,
                   then=url_for("console.inspection_detail", inspection_id=inspection_id),
                   page=lambda problem: _inspection_page(inspection_id, problem))


@bp.post("/inspections/<int:inspection_id>/schedule")
def inspection_schedule(inspection_id: int):
    return _act(inspection_id, "schedule", ScheduleIn, inspections.schedule,
                lambda i: f"已安排{'事后核查' if i.kind == commitments.POST_CHECK else '联合核查'}"
                          "，已通知申请人", on="date", window_text="window",
                address="address", team="team")


@bp.post("/inspections/<int:inspection_id>/conclude")
def inspection_conclude(inspection_id: int):
    return _act(inspection_id, "conclude", ConcludeIn, inspections.conclude, "已结束核查",
                deadline="deadline", recheck_mode="recheck_mode")


@bp.post("/inspections/<int:inspection_id>/photo-review")
def inspection_photo_review(inspection_id: int):
    return _act(inspection_id, "photo_review", PhotoReviewIn, inspections.photo_review,
                "已作出照片复核结论", passed="passed", notes="notes")


@bp.get("/inspections/<int:inspection_id>/rectification-notice.pdf")
def rectification_notice(inspection_id: int):
    """整改通知书 as issued (the stored PDF) to print (opened in a new tab)."""
    pdf = inspection_documents.rectification_pdf(db.session, staff=current_staff(),
                                                 inspection_id=inspection_id)
    db.session.commit()  # a notice issued before documents were kept is kept from now on
    return pdf, 200, {"Content-Type": "application/pdf",
                      "Content-Disposition": f"inline; filename=rectification-{inspection_id}.pdf"}


# --- the inspectors ----------------------------------------------------------------------

@bp.get("/visits")
def my_visits():
    """My inspections, the next visit first."""
    rows, total = inspections.queue(db.session, staff=current_staff(), status=None, mine=True,
                                    page=1, per_page=100)
    return render_template("inspections/visits.html", title="我的核查任务", total=total,
                           visits=[presenters.inspection_card(i, _subject()) for i in rows])


def _visit_page(inspection_id: int, problem: dict | None = None):
    staff = current_staff()
    inspection = inspections.get_for_staff(db.session, staff=staff, inspection_id=inspection_id)
    return render_template(
        "inspections/visit.html", title="现场核查", problem=problem, form=request.form,
        card=presenters.inspection_card(inspection, _subject()),
        items=inspections.visit_items(db.session, staff=staff, inspection=inspection),
        results=tuple((value, label) for value, label in inspections.RESULT_LABELS.items()
                      if commitments.result_problem(inspection, value) is None))


@bp.get("/visits/<int:inspection_id>")
def visit(inspection_id: int):
    return _visit_page(inspection_id)


@bp.post("/visits/<int:inspection_id>/results")
def visit_result(inspection_id: int):
    """One item's finding; demands one per line."""
    def call():
        lines = request.form.get("demands", "").splitlines()
        form = parse(ResultIn, demands=[line for line in lines if line.strip()])
        return inspections.record_result(
            db.session, staff=current_staff(), inspection_id=inspection_id,
            item_code=form.item_code, result=form.result, notes=form.notes,
            demands=form.demands, photos=form.photos,
            confirmed_materials=form.confirmed_materials)
    return perform(f"result-{request.form.get('item_code', '')}", call, done="已记录核查结果",
                   then=url_for("console.visit", inspection_id=inspection_id),
                   page=lambda problem: _visit_page(inspection_id, problem))


@bp.post("/visits/<int:inspection_id>/photos")
def visit_photo(inspection_id: int):
    """A photo taken on the visit (multipart, field ``file``): the staff API's checks."""
    def call():
        staff = current_staff()
        inspection = inspections.get_for_staff(db.session, staff=staff,
                                               inspection_id=inspection_id)
        return inspections.add_photo(
            db.session, staff=staff, inspection=inspection, stream=files.upload_stream(),
            store=current_app.extensions["media_store"],
            limits=materials.limits_from(current_app.extensions["settings"]))
    return perform("photo", call, done="照片已上传",
                   then=url_for("console.visit", inspection_id=inspection_id),
                   page=lambda problem: _visit_page(inspection_id, problem))
