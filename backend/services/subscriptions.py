"""One-time subscribe-message quota (一次性订阅): what the mini-program reports after
``wx.requestSubscribeMessage``.

Each ``accept`` of a template lets us send that user ONE message of that template; accepting
again adds one more. ``reject`` adds nothing, ``ban`` (the user or WeChat blocked the template)
and ``filter`` (the template is filtered for this user) clear what is left. The worker spends
a unit per message sent and zeroes the quota when WeChat answers 43101. Nothing here commits.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import FieldsInvalid
from backend.models import Applicant
from backend.models.notifications import WechatSubscription
from backend.services import twins
from notifications import templates

RESULTS = ("accept", "reject", "ban", "filter")
MAX_PER_CALL = 3  # wx.requestSubscribeMessage takes at most 3 template ids per call


def overview(session: Session, *, applicant: Applicant, config: templates.MessageConfig,
             ) -> list[dict]:
    """Every template the mini-program may ask for, with the events it carries and what the
    user has left — the mini-program picks its ``tmplIds`` from this."""
    rows = {s.template_id: s for s in session.scalars(select(WechatSubscription).where(
        WechatSubscription.applicant_id == applicant.id))}
    out = []
    for name, template in config.templates.items():
        row = rows.get(template.id)
        out.append({
            "name": name, "template_id": template.id, "title": template.title,
            "events": sorted(e for e, spec in config.events.items()
                             if spec.wechat and spec.wechat.template == name),
            "remaining": row.remaining if row else 0,
            "last_result": row.last_result if row else None,
        })
    return out


def report(session: Session, *, applicant: Applicant, results: dict[str, str],
           config: templates.MessageConfig) -> None:
    """Record one ``wx.requestSubscribeMessage`` result (``{template_id: accept|reject|…}``)."""
    results = {k: v for k, v in results.items() if k != "errMsg"}  # the call's own status
    problems = {}
    if not results:
        problems["results"] = {"code": "RESULTS_REQUIRED",
                               "message": "请至少上报一个模板的订阅结果"}
    elif len(results) > MAX_PER_CALL:
        problems["results"] = {"code": "RESULTS_TOO_MANY",
                               "message": f"一次最多上报 {MAX_PER_CALL} 个模板"
                                          "（与 wx.requestSubscribeMessage 一致）"}
    for template_id, result in results.items():
        if config.template_by_id(template_id) is None:
            problems[template_id] = {"code": "TEMPLATE_UNKNOWN", "message": "不认识的订阅消息模板"}
        elif result not in RESULTS:
            problems[template_id] = {"code": "RESULT_INVALID",
                                     "message": "订阅结果应为 accept、reject、ban 或 filter"}
    if problems:
        raise FieldsInvalid("SUBSCRIPTION_INVALID", problems)
    for template_id, result in results.items():
        accepted = int(result == "accept")
        same = select(WechatSubscription).where(WechatSubscription.applicant_id == applicant.id,
                                                WechatSubscription.template_id == template_id)
        row = session.scalar(same)
        if row is None:  # a first report; two at once: the second counts on the first's row
            row, created = twins.insert_or_find(session, WechatSubscription(
                applicant_id=applicant.id, template_id=template_id, remaining=accepted,
                accepted_total=accepted, last_result=result), same)
            if created:
                continue
        row.last_result = result
        if accepted:  # in SQL: two reports at once both count
            row.remaining = WechatSubscription.remaining + 1
            row.accepted_total = WechatSubscription.accepted_total + 1
        elif result in {"ban", "filter"}:
            row.remaining = 0
