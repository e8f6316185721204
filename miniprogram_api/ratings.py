"""政务服务"好差评": the applicant rates a closed case once per closing stage
(backend/services/ratings.py); the levels and reasons, the cases to rate, the rating."""

from __future__ import annotations

from flask import current_app

from backend import presenters
from backend.extensions import db
from backend.services import ratings
from miniprogram_api import bp
from miniprogram_api.auth import token_auth
from miniprogram_api.schemas import (
    RatingCaseList,
    RatingCaseQuery,
    RatingIn,
    RatingOptions,
    RatingStatus,
)


def _rules() -> ratings.Rules:
    return ratings.rules_from(current_app.extensions["settings"])


@bp.get("/ratings/options")
@bp.output(RatingOptions)
def rating_options():
    """好差评的五个等级及各等级可选的原因（国家"好差评"等级：非常满意 … 非常不满意）"""
    return {"levels": ratings.options(), "comment_max_length": ratings.COMMENT_MAX,
            "window_days": _rules().window_days}


@bp.get("/ratings")
@bp.auth_required(token_auth)
@bp.input(RatingCaseQuery, location="query")
@bp.output(RatingCaseList)
def rating_cases(query_data: RatingCaseQuery):
    """我已办结的申请及其评价状态（可评价、已评价、已过期），最新在前"""
    rows = ratings.cases_of(db.session, applicant=token_auth.current_user, rules=_rules(),
                            rateable_only=query_data.rateable_only)
    return {"total": len(rows), "cases": [presenters.rating_case(a, s) for a, s in rows]}


@bp.post("/applications/<int:application_id>/rating")
@bp.auth_required(token_auth)
@bp.input(RatingIn)
@bp.output(RatingStatus, status_code=201)
@bp.doc(responses={403: "COLLABORATOR_NOT_ALLOWED（协作人不能评价；受托人可以）",
                   404: "APPLICATION_NOT_FOUND（不是本人的申请，与不存在相同）",
                   409: "RATING_NOT_OPEN（尚未办结）/ RATING_ALREADY_GIVEN（每个办结环节一次）"
                        " / RATING_WINDOW_CLOSED（超过评价期限）",
                   422: "RATING_INVALID（tags.N 不是该等级的原因；unit 不是本案办理单位）"})
def rate_application(application_id: int, json_data: RatingIn):
    """评价本次办理（办结后一次）；不满意及以下转办理单位核实整改并回访"""
    rating = ratings.rate_own(db.session, applicant=token_auth.current_user,
                              application_id=application_id, rules=_rules(),
                              level=json_data.level, tags=json_data.tags,
                              comment=json_data.comment, unit=json_data.unit)
    db.session.commit()
    return presenters.rating_status(rating.application)
