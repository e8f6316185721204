"""The window's and the units' work: queues, acceptance, supplements, review, decision."""

from __future__ import annotations

from backend import presenters
from backend.extensions import db
from backend.models import ApplicationItem
from backend.services import commitments, review, time_limits, window
from miniprogram_api.schemas import ApplicationDetail
from staff_api import bp
from staff_api.auth import current_staff, requires, staff_auth
from staff_api.schemas import (
    AcceptIn,
    ApplicationPage,
    ApplicationQuery,
    ClockList,
    ClockQuery,
    CommitmentApprovalIn,
    OpinionIn,
    ReasonIn,
    ReviewPage,
    ReviewQuery,
    ReviewTask,
    SupplementsIn,
    Versioned,
)

CONFLICTS = {403: "FORBIDDEN_ROLE", 404: "不存在或无权查看（不区分）",
             409: "STATE_CONFLICT / VERSION_CONFLICT（附当前状态）"}


def _detail(application) -> dict:
    return presenters.staff_detail(application, current_staff())


@bp.get("/applications")
@bp.auth_required(staff_auth)
@requires("application.view_any")
@bp.input(ApplicationQuery, location="query")
@bp.output(ApplicationPage)
def list_applications(query_data: ApplicationQuery):
    """窗口工作队列：按状态（默认待受理）列出申请"""
    rows, total = window.queue(db.session, staff=current_staff(), status=query_data.status,
                               industry=query_data.industry, page=query_data.page,
                               per_page=query_data.per_page, clock_state=query_data.clock)
    return {"total": total, "page": query_data.page, "per_page": query_data.per_page,
            "applications": [presenters.summary(a) for a in rows]}


@bp.get("/applications/<int:application_id>")
@bp.auth_required(staff_auth)
@bp.output(ApplicationDetail)
@bp.doc(responses=CONFLICTS)
def get_application(application_id: int):
    """申请详情（按角色与单位过滤）"""
    return _detail(window.get_for_staff(db.session, current_staff(), application_id))


def _commit(application) -> dict:
    db.session.commit()
    return _detail(application)


@bp.post("/applications/<int:application_id>/accept")
@bp.auth_required(staff_auth)
@requires("application.accept")
@bp.input(AcceptIn)
@bp.output(ApplicationDetail)
@bp.doc(responses=CONFLICTS)
def accept(application_id: int, json_data: AcceptIn):
    """受理（含容缺受理）：各事项同时分送审批单位，开始计时"""
    return _commit(window.accept(db.session, staff=current_staff(),
                                 application_id=application_id, version=json_data.version,
                                 note=json_data.note))


@bp.post("/applications/<int:application_id>/request-supplements")
@bp.auth_required(staff_auth)
@requires("application.request_supplements")
@bp.input(SupplementsIn)
@bp.output(ApplicationDetail)
@bp.doc(responses=CONFLICTS)
def request_supplements(application_id: int, json_data: SupplementsIn):
    """一次性告知补正内容"""
    return _commit(window.request_supplements(
        db.session, staff=current_staff(), application_id=application_id,
        version=json_data.version, demands=[d.model_dump() for d in json_data.demands],
        note=json_data.note))


@bp.post("/applications/<int:application_id>/reject")
@bp.auth_required(staff_auth)
@requires("application.reject")
@bp.input(ReasonIn)
@bp.output(ApplicationDetail)
@bp.doc(responses=CONFLICTS)
def reject(application_id: int, json_data: ReasonIn):
    """不予受理（须说明理由）"""
    return _commit(window.reject(db.session, staff=current_staff(),
                                 application_id=application_id, version=json_data.version,
                                 reason=json_data.reason))


@bp.post("/applications/<int:application_id>/items/<item_code>/drop")
@bp.auth_required(staff_auth)
@requires("application.drop_item")
@bp.input(Versioned)
@bp.output(ApplicationDetail)
@bp.doc(responses=CONFLICTS)
def drop_item(application_id: int, item_code: str, json_data: Versioned):
    """经申请人同意，放弃办理被不予许可的非必备事项"""
    return _commit(window.drop_item(db.session, staff=current_staff(),
                                    application_id=application_id, item_code=item_code,
                                    version=json_data.version))


@bp.post("/applications/<int:application_id>/refuse")
@bp.auth_required(staff_auth)
@requires("application.refuse")
@bp.input(ReasonIn)
@bp.output(ApplicationDetail)
@bp.doc(responses=CONFLICTS)
def refuse(application_id: int, json_data: ReasonIn):
    """不予许可（有事项被不予许可且不能放弃时）"""
    return _commit(window.refuse(db.session, staff=current_staff(),
                                 application_id=application_id, version=json_data.version,
                                 reason=json_data.reason))


def _task(item: ApplicationItem, limit: time_limits.Clock | None = None) -> dict:
    return presenters.review_task(item, limit)


@bp.get("/reviews")
@bp.auth_required(staff_auth)
@requires("review.list_unit")
@bp.input(ReviewQuery, location="query")
@bp.output(ReviewPage)
def list_reviews(query_data: ReviewQuery):
    """本单位的审查任务（默认待审查，最近到期在前）"""
    rows, total = review.unit_queue(db.session, staff=current_staff(), status=query_data.status,
                                    page=query_data.page, per_page=query_data.per_page)
    return {"total": total, "page": query_data.page, "per_page": query_data.per_page,
            "reviews": [_task(i) for i in rows]}


@bp.get("/reviews/<int:review_id>")
@bp.auth_required(staff_auth)
@requires("review.list_unit")
@bp.output(ReviewTask)
@bp.doc(responses=CONFLICTS)
def get_review(review_id: int):
    """一个审查任务（仅本单位）"""
    return _task(review.get_task(db.session, staff=current_staff(), item_id=review_id))


def _decide(review_id: int, json_data: OpinionIn, approve: bool) -> dict:
    item = review.decide(db.session, staff=current_staff(), item_id=review_id,
                         version=json_data.version, approve=approve,
                         opinion=json_data.opinion)
    db.session.commit()
    return _task(item)


@bp.post("/reviews/<int:review_id>/approve")
@bp.auth_required(staff_auth)
@requires("review.decide")
@bp.input(OpinionIn)
@bp.output(ReviewTask)
@bp.doc(responses=CONFLICTS)
def approve_review(review_id: int, json_data: OpinionIn):
    """准予许可（附审查意见）"""
    return _decide(review_id, json_data, approve=True)


@bp.post("/reviews/<int:review_id>/refuse")
@bp.auth_required(staff_auth)
@requires("review.decide")
@bp.input(OpinionIn)
@bp.output(ReviewTask)
@bp.doc(responses=CONFLICTS)
def refuse_review(review_id: int, json_data: OpinionIn):
    """不予许可（写明理由和法律依据）"""
    return _decide(review_id, json_data, approve=False)


@bp.post("/reviews/<int:review_id>/approve-by-commitment")
@bp.auth_required(staff_auth)
@requires("review.decide")
@bp.input(CommitmentApprovalIn)
@bp.output(ReviewTask)
@bp.doc(responses=CONFLICTS | {422: "COMMITMENT_NOT_ALLOWED / COMMITMENT_NOT_SIGNED / "
                                     "COMMITMENT_ALREADY_INSPECTED"})
def approve_by_commitment(review_id: int, json_data: CommitmentApprovalIn):
    """告知承诺当场准予许可（国办发〔2020〕42号）：申请人已签署承诺书的，不经现场核查即准予许可，
    并按目录的工作日数安排事后核查"""
    item = commitments.approve(db.session, staff=current_staff(), item_id=review_id,
                               version=json_data.version, opinion=json_data.opinion)
    db.session.commit()
    return _task(item)


@bp.get("/time-limits")
@bp.auth_required(staff_auth)
@requires("time_limits.view")
@bp.input(ClockQuery, location="query")
@bp.output(ClockList)
def list_time_limits(query_data: ClockQuery):
    """办理时限：临期与超期的审查任务（按剩余工作日排序）"""
    rows = time_limits.watch_list(db.session, staff=current_staff(), state=query_data.state)
    return {"total": len(rows), "tasks": [_task(item, limit) for item, limit in rows]}
