"""The window's printed documents (文书): 受理通知书, 一次性补正告知书, 不予受理决定书.

Each is built from the application as it stands when the window acts, by that action
(:func:`issue`, called by ``window.accept`` / ``request_supplements`` / ``reject`` in their
transaction) and kept as issued (``backend.services.issued``): a download serves the stored
PDF, never a fresh rendering from today's data. Its wording, number, date, issuing unit and
legal basis are decided here; ``media.documents`` only lays them out. A number is derived
from the application's own numbers (acceptance or submission number, and the round of a
supplement request). A document that does not apply to the case (no acceptance yet, no
supplement request, not refused acceptance) does not exist (404).

行政许可法 第三十二条: the authority accepts a complete application, tells the applicant once
(一次告知) everything to supply, or decides not to accept it with a written decision; a
decision against the applicant names the right to administrative reconsideration or suit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy.orm import Session

from backend import workflow
from backend.clock import CHINA
from backend.errors import NotFound
from backend.models import Application, IssuedDocument, StaffAccount
from backend.services import application_form, applications, issued, licenses, window
from media.documents import Notice

PLAN = "《山西省“一业一证”改革实施方案》（晋政办发〔2022〕90号）"
LICENSING_LAW = "《中华人民共和国行政许可法》第三十二条"
REMEDY = ("如不服本决定，可以自收到本决定书之日起六十日内依法申请行政复议，"
          "或者自收到本决定书之日起六个月内依法向人民法院提起行政诉讼。")
SUPPLEMENT_EVENT = "application.supplement_requested"

# kind (the URL's name) → title, in the order the window meets them
TITLES = {"acceptance": "受理通知书", "supplements": "一次性补正告知书",
          "not_accepted": "不予受理决定书"}


def _day(value: date | datetime) -> date:
    return value.astimezone(CHINA).date() if isinstance(value, datetime) else value


def _written(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def applies(application: Application, kind: str) -> bool:
    """Whether the case has this document: acceptance once accepted (a number exists), the
    supplement notice once one was given, the refusal once acceptance was refused."""
    if kind == "acceptance":
        return application.acceptance_number is not None
    if kind == "supplements":
        return bool(application.supplement_notice)
    if kind == "not_accepted":
        return application.status == workflow.State.NOT_ACCEPTED
    return False


def available(application: Application) -> list[tuple[str, str]]:
    """The documents of the case as (kind, title), for the case page's links."""
    return [(kind, title) for kind, title in TITLES.items() if applies(application, kind)]


def pdf_for(session: Session, *, staff: StaffAccount, application_id: int, kind: str) -> bytes:
    """One document of a case the staff member may see, as issued (the stored PDF); 404 when
    it does not apply. A case issued before documents were kept gets its document rendered
    and stored now, once (the caller commits)."""
    application = window.get_for_staff(session, staff, application_id)
    if not applies(application, kind):
        raise NotFound("DOCUMENT_NOT_FOUND", "该申请没有此文书",
                       {"application_id": application_id, "kind": kind})
    return issued.kept(session, application, kind,
                       lambda: issue(session, application, kind, staff=None))


def issue(session: Session, application: Application, kind: str, *,
          staff: StaffAccount | None) -> IssuedDocument:
    """Issue the document ``kind`` of the case as it stands now: rendered once and kept (in
    the caller's transaction). The supplement notice is issued once per round."""
    notice = _BUILDERS[kind](session, application)
    return issued.issue(session, application, kind=kind, round_=_round(application, kind),
                        notice=notice, staff=staff)


def _round(application: Application, kind: str) -> int:
    if kind == "supplements":
        return max(1, sum(1 for e in application.events if e.action == SUPPLEMENT_EVENT))
    return 1


def _context(session: Session, application: Application) -> tuple[str, str, str]:
    """(addressee, industry name, issuing unit) of a case."""
    industry = applications.industry_of(session, application)["name"]
    issuer = licenses.issuing_authority(licenses.premises_division(application))
    return application.form_values.get("entity_name") or "申请人", industry, issuer


def _applied(application: Application, industry: str) -> str:
    return (f"你（单位）于{_written(_day(application.submitted_at))}提交的{industry}"
            f"“一业一证”行业综合许可申请（提交编号 {application.submission_number}"
            f"{_parties(application)}）")


def _parties(application: Application) -> str:
    """Who applied: the legal representative, and the 受托人 who applied for them (named
    in the 授权委托书) when the guidance answer says so; "" for a form without names."""
    values = application.form_values
    said = []
    if values.get("legal_rep_name"):
        said.append(f"法定代表人（负责人）：{values['legal_rep_name']}")
    if (application_form.applicant_role(application.answers) == "agent"
            and values.get("agent_name")):
        said.append(f"受托人：{values['agent_name']}，凭授权委托书代为办理")
    return "".join(f"；{s}" for s in said)


def acceptance(session: Session, application: Application) -> Notice:
    addressee, industry, issuer = _context(session, application)
    bundle = applications.bundle_of(session, application)
    day = application.accepted_on
    deferred = [m["name"] for m in bundle.notice["materials"]
                if m["code"] in application.deferred_materials]
    # 容缺受理 accepts with materials still to come: the notice must not call them complete
    found = ("申请材料基本齐全、符合法定形式，下列材料容缺受理" if deferred
             else "申请材料齐全、符合法定形式")
    paragraphs = [
        f"{_applied(application, industry)}，经审查，{found}，"
        f"本机关决定予以受理，受理编号 {application.acceptance_number}。",
        "本申请涉及的下列许可事项已同时分送各审批单位并联审查，各事项在承诺时限内办结：",
    ]
    rows = [("许可事项", "审批单位", "承诺时限（工作日）", "办结期限")]
    for item in application.items:
        rows.append((bundle.document.permit_items[item.item_code].name,
                     bundle.document.units[item.approving_unit].name, str(item.promised_days),
                     _written(item.due_on) if item.due_on else "—"))
    closing = ["你（单位）可通过“一业一证”微信小程序查询办理进度。"]
    if deferred:
        closing.insert(0, "以下材料容缺受理，须在联合现场核查时提交，由核查人员现场确认："
                          + "、".join(deferred) + "。")
    return Notice(title=TITLES["acceptance"],
                  number=f"晋一业一证受字〔{day.year}〕第{application.acceptance_number}号",
                  addressee=addressee, paragraphs=(*paragraphs, *closing),
                  legal_basis=f"{LICENSING_LAW}；{PLAN}", issuer=issuer,
                  issued_on=_written(day), rows=tuple(rows))


def supplements(session: Session, application: Application) -> Notice:
    addressee, industry, issuer = _context(session, application)
    notice = application.supplement_notice
    day = _day(datetime.fromisoformat(notice["requested_at"]))
    paragraphs = [
        f"{_applied(application, industry)}，经审查，申请材料不齐全或者不符合法定形式。"
        "现一次性告知需要补正的全部内容如下：",
    ]
    rows = [("序号", "需补正的内容", "补正要求")]
    rows += [(str(n), d["subject"], d["demand"])
             for n, d in enumerate(notice["demands"], start=1)]
    closing = []
    if notice.get("note"):
        closing.append(f"说明：{notice['note']}")
    closing.append("请按上述要求一次补正全部内容后，通过“一业一证”微信小程序重新提交申请。")
    return Notice(title=TITLES["supplements"],
                  number=(f"晋一业一证补字〔{day.year}〕第{application.submission_number}"
                          f"-{_round(application, 'supplements')}号"),
                  addressee=addressee, paragraphs=(*paragraphs, *closing),
                  legal_basis=f"{LICENSING_LAW}第一款第（四）项；{PLAN}", issuer=issuer,
                  issued_on=_written(day), rows=tuple(rows))


def not_accepted(session: Session, application: Application) -> Notice:
    addressee, industry, issuer = _context(session, application)
    day = _day(application.decided_at)
    paragraphs = (
        f"{_applied(application, industry)}，经审查，本机关决定不予受理。",
        f"理由：{application.decision_reason}",
        REMEDY,
    )
    return Notice(title=TITLES["not_accepted"],
                  number=f"晋一业一证不受字〔{day.year}〕第{application.submission_number}号",
                  addressee=addressee, paragraphs=paragraphs,
                  legal_basis=f"{LICENSING_LAW}；{PLAN}", issuer=issuer,
                  issued_on=_written(day))


_BUILDERS: dict[str, Callable[[Session, Application], Notice]] = {
    "acceptance": acceptance, "supplements": supplements, "not_accepted": not_accepted}
