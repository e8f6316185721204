"""帮办代办: the window applies for a walk-in (identity checked in person), fills the merged
form, uploads scans of the paper materials, submits, and hands the case over with a code."""

from __future__ import annotations

from flask import current_app, render_template, request, url_for

from backend import files, presenters, workflow
from backend.errors import DomainError
from backend.extensions import db
from backend.security.masking import mask_name
from backend.services import assisted, divisions, materials
from console import bp
from console.forms import parse, perform, problem_of
from console.session import current_staff
from staff_api.schemas import Versioned, WalkInIn


def _settings():
    return current_app.extensions["settings"]


def _prefixed(prefix: str) -> dict[str, list[str]]:
    """The form's ``prefix.<code>`` controls by code, each with every value sent."""
    return {k[len(prefix):]: request.form.getlist(k) for k in request.form
            if k.startswith(prefix)}


@bp.get("/assisted")
def assisted_list():
    """This commissioner's walk-ins not yet claimed by their applicants."""
    cases = assisted.list_mine(db.session, staff=current_staff())
    return render_template("assisted/list.html", title="帮办代办", cases=[
        {"summary": presenters.summary(c.application), "person": mask_name(c.walk_in.person_name),
         "entity_name": c.application.form_values.get("entity_name")} for c in cases])


def _new_page(problem=None):
    industry = request.values.get("industry") or None
    return render_template("assisted/new.html", title="窗口代办：新建申请", problem=problem,
                           form=request.form,
                           **assisted.intake(db.session, staff=current_staff(),
                                             industry_code=industry))


@bp.get("/assisted/new")
def assisted_new():
    return _new_page()


@bp.post("/assisted/new")
def assisted_start():
    def call():
        form = parse(WalkInIn)
        return assisted.start(db.session, staff=current_staff(), industry_code=form.industry,
                              answers=_prefixed("answers."), person_name=form.person_name,
                              id_document=form.id_document, id_number=form.id_number,
                              identity_checked=form.identity_checked)

    return perform("start", call, done="已为申请人创建申请草稿，请填写申请表并上传材料",
                   then=lambda a: url_for("console.assisted_case", application_id=a.id),
                   page=_new_page)


def _case_page(application_id: int, problem=None):
    case = assisted.case_of(db.session, staff=current_staff(), application_id=application_id)
    return render_template("assisted/case.html", title="窗口代办申请",
                           detail=presenters.detail(case.application), walk_in=case.walk_in,
                           person=mask_name(case.walk_in.person_name),
                           id_document=assisted.ID_DOCUMENTS[case.walk_in.id_document],
                           editable=workflow.State(case.application.status) in workflow.EDITABLE,
                           divisions=divisions.listing(), problem=problem, form=request.form,
                           code_until=assisted.code_active_until(case.walk_in),
                           code_stamp=assisted.code_stamp(case.walk_in))


@bp.get("/assisted/<int:application_id>")
def assisted_case(application_id: int):
    return _case_page(application_id)


def _back(application_id: int):
    return url_for("console.assisted_case", application_id=application_id)


@bp.post("/assisted/<int:application_id>/form")
def assisted_fill(application_id: int):
    def call():
        return assisted.fill(db.session, staff=current_staff(), application_id=application_id,
                             form=_prefixed("fields."), version=parse(Versioned).version,
                             secret_key=_settings().SECRET_KEY)

    return perform("fill", call, done="申请表已保存", then=_back(application_id),
                   page=lambda problem: _case_page(application_id, problem))


@bp.post("/assisted/<int:application_id>/materials/<material_code>")
def assisted_upload(application_id: int, material_code: str):
    """A scan (JPEG, PNG or PDF) checked and re-encoded as the mini-program's upload is."""
    def call():
        return assisted.upload(db.session, staff=current_staff(), application_id=application_id,
                               material_code=material_code, stream=files.upload_stream(),
                               store=current_app.extensions["media_store"],
                               limits=materials.limits_from(_settings()))

    return perform(f"upload:{material_code}", call,
                   done=lambda r: "材料已上传" if r[1] else "该文件已上传过，未重复保存",
                   then=_back(application_id),
                   page=lambda problem: _case_page(application_id, problem))


@bp.post("/assisted/<int:application_id>/submit")
def assisted_submit(application_id: int):
    def call():
        return assisted.submit(db.session, staff=current_staff(), application_id=application_id,
                               version=parse(Versioned).version,
                               secret_key=_settings().SECRET_KEY)

    return perform("submit", call,
                   done=lambda a: f"已代为提交，申请编号 {a.submission_number}；已进入受理队列",
                   then=_back(application_id),
                   page=lambda problem: _case_page(application_id, problem))


@bp.post("/assisted/<int:application_id>/code")
def assisted_code(application_id: int):
    """The hand-over code is shown once, on this answer (only its hash is kept): no
    redirect, so it never sits in a cookie or a URL. Reloading this answer sends the form
    again: the service then refuses to replace the code just given."""
    try:
        code, expires_at = assisted.issue_claim_code(
            db.session, staff=current_staff(), application_id=application_id,
            replacing=request.form.get("replacing", ""))
    except DomainError as error:  # a reload of this answer: the code given stays
        db.session.rollback()
        return _case_page(application_id, problem_of(error, "code")), error.status
    db.session.commit()
    return render_template("assisted/code.html", title="认领码", code=code,
                           expires_at=expires_at, application_id=application_id)
