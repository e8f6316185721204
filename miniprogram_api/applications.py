"""Applications: create, fill the merged form, upload materials, submit, withdraw."""

from __future__ import annotations

from flask import current_app, request

from backend import files, presenters
from backend.extensions import db, limit_of, limiter
from backend.services import (
    applications,
    assisted,
    commitments,
    idempotency,
    inspections,
    materials,
    window,
)
from miniprogram_api import bp
from miniprogram_api.auth import per_applicant, token_auth
from miniprogram_api.schemas import (
    ApplicationDetail,
    ApplicationList,
    ApplicationListQuery,
    ClaimIn,
    CommitmentIn,
    CreateApplicationIn,
    FileOut,
    FormPatchIn,
    RectificationIn,
    ReorderIn,
    RescheduleIn,
)

IDEMPOTENCY_DOC = {"Idempotency-Key": "可选；弱网重试时保证只执行一次"}


def _settings():
    return current_app.extensions["settings"]


def _submit_limit() -> str:
    return _settings().SUBMIT_RATE_LIMIT


def _upload_limit() -> str:
    return _settings().UPLOAD_RATE_LIMIT


def _detail(application) -> dict:
    """The application as the caller sees it: file links signed for the caller (its owner
    or a helper), checked again at every fetch."""
    return presenters.detail(application, subject=f"applicant:{token_auth.current_user.id}")


def _json(detail: dict) -> dict:
    """The detail as JSON values, for answers stored under an Idempotency-Key."""
    return ApplicationDetail.model_validate(detail).model_dump(mode="json")


def _idempotent(scope: str, payload, action):
    """Run ``action`` under the request's Idempotency-Key; returns (body, status)."""
    applicant = token_auth.current_user
    return idempotency.run(db.session, scope=f"applicant:{applicant.id}:{scope}",
                           key=request.headers.get("Idempotency-Key"), payload=payload,
                           action=action)


@bp.post("/applications")
@bp.auth_required(token_auth)
@limiter.limit(_submit_limit, key_func=per_applicant)
@bp.input(CreateApplicationIn)
@bp.doc(responses={201: "ApplicationDetail", 422: "QUESTION_UNKNOWN / ANSWER_INVALID / "
                   "APPLICATION_NOT_ELIGIBLE"}, security="BearerAuth")
def create_application(json_data: CreateApplicationIn):
    """新建申请草稿（按情形回答确定事项，锁定现行目录版本）"""

    def action():
        application = applications.create(db.session, applicant=token_auth.current_user,
                                          industry_code=json_data.industry,
                                          answers=json_data.answers,
                                          secret_key=_settings().SECRET_KEY)
        return _json(_detail(application)), 201

    return _idempotent("create", json_data.model_dump(), action)


@bp.get("/applications")
@bp.auth_required(token_auth)
@bp.input(ApplicationListQuery, location="query")
@bp.output(ApplicationList)
def list_applications(query_data: ApplicationListQuery):
    """我的申请"""
    rows = applications.list_own(db.session, applicant=token_auth.current_user,
                                 status=query_data.status)
    return {"total": len(rows), "applications": [presenters.summary(a) for a in rows]}


@bp.post("/applications/claim")
@bp.auth_required(token_auth)
@limiter.limit(limit_of("BIND_RATE_LIMIT"), key_func=per_applicant)  # guesses, like a binding
@bp.input(ClaimIn)
@bp.output(ApplicationList)
@bp.doc(responses={422: "ASSIST_CLAIM_CODE_INVALID（无效、已使用或已过期）"})
def claim_applications(json_data: ClaimIn):
    """认领窗口帮办代办的申请：输入窗口工作人员出具的认领码，申请归入本人名下（一次有效）"""
    rows = assisted.claim(db.session, applicant=token_auth.current_user, code=json_data.code)
    db.session.commit()
    return {"total": len(rows), "applications": [presenters.summary(a) for a in rows]}


@bp.get("/applications/<int:application_id>")
@bp.auth_required(token_auth)
@bp.output(ApplicationDetail)
def get_application(application_id: int):
    """申请详情：申请表、材料、各事项进度与时间线"""
    application, _ = applications.get_for(db.session, applicant=token_auth.current_user,
                                          application_id=application_id)
    return _detail(application)


@bp.patch("/applications/<int:application_id>")
@bp.auth_required(token_auth)
@bp.input(FormPatchIn)
@bp.output(ApplicationDetail)
@bp.doc(responses={403: "PRIVACY_CONSENT_REQUIRED（填写个人信息前须同意隐私政策）",
                   409: "APPLICATION_NOT_EDITABLE", 422: "FORM_INVALID"})
def update_application(application_id: int, json_data: FormPatchIn):
    """保存申请表（可部分保存；逐项校验；个人信息须先同意隐私政策）"""
    application = applications.update_form(
        db.session, applicant=token_auth.current_user, application_id=application_id,
        changes=json_data.fields, secret_key=_settings().SECRET_KEY,
        privacy_version=_settings().PRIVACY_NOTICE_VERSION)
    db.session.commit()
    return _detail(application)


@bp.post("/applications/<int:application_id>/submit")
@bp.auth_required(token_auth)
@limiter.limit(_submit_limit, key_func=per_applicant)
@bp.output(ApplicationDetail)
@bp.doc(responses={403: "COLLABORATOR_NOT_ALLOWED（协作人不能提交）",
                   409: "STATE_CONFLICT / IDEMPOTENCY_IN_PROGRESS",
                   422: "APPLICATION_INCOMPLETE（一次列出全部缺项）"})
def submit_application(application_id: int):
    """提交申请（容缺材料可在现场核查时确认）"""

    def action():
        application = applications.submit(
            db.session, applicant=token_auth.current_user, application_id=application_id,
            secret_key=_settings().SECRET_KEY)
        return _json(_detail(application)), 200

    return _idempotent(f"submit:{application_id}", {}, action)


@bp.post("/applications/<int:application_id>/withdraw")
@bp.auth_required(token_auth)
@bp.output(ApplicationDetail)
@bp.doc(responses={403: "COLLABORATOR_NOT_ALLOWED（协作人不能撤回）"})
def withdraw_application(application_id: int):
    """撤回申请（草稿，或已提交但尚未受理）"""
    application = applications.withdraw(db.session, applicant=token_auth.current_user,
                                        application_id=application_id)
    db.session.commit()
    return _detail(application)


@bp.post("/applications/<int:application_id>/materials/<material_code>")
@bp.auth_required(token_auth)
@limiter.limit(_upload_limit, key_func=per_applicant)
@bp.doc(responses={201: "FileOut", 200: "同一文件已上传过（不重复保存）",
                   403: "PRIVACY_CONSENT_REQUIRED（身份证明、授权委托书等含个人信息的材料须先同意"
                        "隐私政策）", **files.UPLOAD_RESPONSES})
def upload_material(application_id: int, material_code: str):
    """上传材料的一页（multipart/form-data，文件字段名 file，即 wx.uploadFile 的 name）"""
    row, created = materials.upload(
        db.session, applicant=token_auth.current_user, application_id=application_id,
        material_code=material_code, stream=files.upload_stream(),
        store=current_app.extensions["media_store"], limits=materials.limits_from(_settings()),
        privacy_version=_settings().PRIVACY_NOTICE_VERSION)
    return _file_created(row, created)


def _file_created(row, created: bool):
    """201 for a new file, 200 when the same bytes were already there (a retried upload)."""
    db.session.commit()
    out = presenters.file_out(row, f"applicant:{token_auth.current_user.id}")
    return FileOut.model_validate(out).model_dump(mode="json"), 201 if created else 200


@bp.delete("/applications/<int:application_id>/materials/<material_code>/files/<int:file_id>")
@bp.auth_required(token_auth)
@bp.output(ApplicationDetail)
def delete_material_file(application_id: int, material_code: str, file_id: int):
    """删除材料中的一页"""
    application = materials.delete(db.session, applicant=token_auth.current_user,
                                   application_id=application_id, material_code=material_code,
                                   file_id=file_id)
    db.session.commit()
    return _detail(application)


@bp.put("/applications/<int:application_id>/materials/<material_code>/order")
@bp.auth_required(token_auth)
@bp.input(ReorderIn)
@bp.output(ApplicationDetail)
def reorder_material_files(application_id: int, material_code: str, json_data: ReorderIn):
    """调整材料各页顺序"""
    application = materials.reorder(db.session, applicant=token_auth.current_user,
                                    application_id=application_id,
                                    material_code=material_code, file_ids=json_data.file_ids)
    db.session.commit()
    return _detail(application)


@bp.post("/applications/<int:application_id>/items/<item_code>/consent-drop")
@bp.auth_required(token_auth)
@bp.output(ApplicationDetail)
@bp.doc(responses={403: "COLLABORATOR_NOT_ALLOWED（协作人不能代为同意）"})
def consent_drop_item(application_id: int, item_code: str):
    """同意放弃办理被不予许可的事项（其余事项继续）"""
    application = window.consent_to_drop(db.session, applicant=token_auth.current_user,
                                         application_id=application_id, item_code=item_code)
    db.session.commit()
    return _detail(application)


COMMITMENT_ERRORS = {404: "ITEM_NOT_FOUND / COMMITMENT_NOT_FOUND",
                     409: "APPLICATION_NOT_EDITABLE",
                     422: "COMMITMENT_NOT_ALLOWED（目录不允许该事项告知承诺）/ "
                          "COMMITMENT_NOT_SIGNED（未确认签署）/ "
                          "COMMITMENT_TEXT_MISMATCH（承诺书文本不一致）"}


@bp.put("/applications/<int:application_id>/items/<item_code>/commitment")
@bp.auth_required(token_auth)
@bp.input(CommitmentIn)
@bp.output(ApplicationDetail)
@bp.doc(responses=COMMITMENT_ERRORS)
def sign_commitment(application_id: int, item_code: str, json_data: CommitmentIn):
    """告知承诺（国办发〔2020〕42号）：对目录允许的事项选择承诺方式并签署承诺书，记录文本版本、
    时间和签署人；受理后审批单位可当场准予许可，事后核查"""
    row = commitments.sign(db.session, applicant=token_auth.current_user,
                           application_id=application_id, item_code=item_code,
                           text_sha256=json_data.text_sha256, signed=json_data.signed)
    db.session.commit()
    return presenters.detail(row.application)


@bp.delete("/applications/<int:application_id>/items/<item_code>/commitment")
@bp.auth_required(token_auth)
@bp.output(ApplicationDetail)
@bp.doc(responses=COMMITMENT_ERRORS)
def withdraw_commitment(application_id: int, item_code: str):
    """撤回告知承诺，该事项改为一般程序（先检查后许可）；提交前可撤回"""
    application = commitments.withdraw(db.session, applicant=token_auth.current_user,
                                       application_id=application_id, item_code=item_code)
    db.session.commit()
    return presenters.detail(application)


@bp.post("/applications/<int:application_id>/inspection/reschedule")
@bp.auth_required(token_auth)
@bp.input(RescheduleIn)
@bp.output(ApplicationDetail)
@bp.doc(responses={403: "COLLABORATOR_NOT_ALLOWED（协作人不能申请；受托人可以）",
                   409: "STATE_CONFLICT", 422: "INSPECTION_RESCHEDULE_USED（仅可申请一次）"})
def request_reschedule(application_id: int, json_data: RescheduleIn):
    """申请调整现场核查时间（仅一次；申请人本人或受托人）"""
    inspection = inspections.request_reschedule(
        db.session, applicant=token_auth.current_user, application_id=application_id,
        reason=json_data.reason)
    db.session.commit()
    return _detail(inspection.application)


@bp.post("/applications/<int:application_id>/inspection/evidence")
@bp.auth_required(token_auth)
@limiter.limit(_upload_limit, key_func=per_applicant)
@bp.doc(responses={201: "FileOut", 409: "STATE_CONFLICT", **files.UPLOAD_RESPONSES})
def upload_evidence(application_id: int):
    """上传整改照片（multipart/form-data，字段 file；仅照片，PDF 为 415 UPLOAD_PHOTO_ONLY；
    申请人、受托人和协作人均可上传）"""
    row, created = inspections.add_evidence(
        db.session, applicant=token_auth.current_user, application_id=application_id,
        stream=files.upload_stream(), store=current_app.extensions["media_store"],
        limits=materials.limits_from(_settings()))
    return _file_created(row, created)


@bp.post("/applications/<int:application_id>/inspection/rectification")
@bp.auth_required(token_auth)
@bp.input(RectificationIn)
@bp.output(ApplicationDetail)
@bp.doc(responses={403: "COLLABORATOR_NOT_ALLOWED（协作人不能提请；受托人可以）",
                   409: "STATE_CONFLICT", 422: "RECTIFICATION_EVIDENCE_MISSING"})
def submit_rectification(application_id: int, json_data: RectificationIn):
    """整改完成，提请复核（计时恢复；申请人本人或受托人）"""
    inspection = inspections.submit_rectification(
        db.session, applicant=token_auth.current_user, application_id=application_id,
        note=json_data.note)
    db.session.commit()
    return _detail(inspection.application)
