"""整改通知书: the ONE consolidated rectification notice of a joint inspection, as printed.

晋政办发〔2022〕90号 二（五）: 整改意见一口告知、整改情况一趟复审. Every item's demands in one
notice, one deadline, one re-check; the number, wording, legal basis and issuing authority are
decided here, ``media.documents`` only lays them out. The notice is issued by the conclusion
that requires rectification, in its transaction (:func:`issue`), and kept as issued
(``backend.services.issued``): a download serves the stored PDF, never a fresh rendering.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend import clock
from backend.errors import Conflict
from backend.models import Inspection, IssuedDocument, StaffAccount
from backend.services import applications, entity, inspections, issued, licenses
from media.documents import Notice

REFORM_BASIS = ("《山西省人民政府办公厅关于印发山西省深化“一业一证”改革实施方案的通知》"
                "（晋政办发〔2022〕90号）二（五）“一同核查”")
RECHECK = {
    "onsite": "整改完成后，请在小程序中报告整改完成，核查组将到现场复核一次。",
    "photos": "整改完成后，请在小程序中上传整改照片并报告整改完成，核查组将据照片复核一次。",
}
ISSUED = "inspection.rectification_requested"  # the timeline event of the notice


KIND = "rectification"  # IssuedDocument.kind


def rectification_pdf(session: Session, *, staff: StaffAccount, inspection_id: int) -> bytes:
    """The notice of an inspection concluded with rectification, as issued (the stored PDF),
    for whoever may see the inspection (coordinators, its team); 409 NO_RECTIFICATION_NOTICE
    before one was given. One issued before documents were kept is rendered and stored now,
    once (the caller commits)."""
    inspection = inspections.get_for_staff(session, staff=staff, inspection_id=inspection_id)
    if not inspection.rectification:
        raise Conflict("NO_RECTIFICATION_NOTICE", "本次核查没有整改意见，无整改通知书",
                       {"status": inspection.status})
    return issued.kept(session, inspection.application, KIND,
                       lambda: issue(session, inspection, staff=None))


def issue(session: Session, inspection: Inspection, *,
          staff: StaffAccount | None) -> IssuedDocument:
    """Issue the notice of the rectification just required (in the caller's transaction)."""
    application = inspection.application
    round_ = max(1, sum(1 for e in application.events if e.action == ISSUED))
    return issued.issue(session, application, kind=KIND, round_=round_,
                        notice=rectification_notice(session, inspection), staff=staff)


def rectification_notice(session: Session, inspection: Inspection) -> Notice:
    """The notice as it reads from the inspection as it stands."""
    application = inspection.application
    document = applications.document_of(session, application)
    values = application.form_values
    division = entity.division(values["premises_city_code"], values["premises_county_code"])
    issued = next((e.at for e in application.events if e.action == ISSUED), None)
    issued_on = issued.astimezone(clock.CHINA).date() if issued else clock.today()
    rows = [("序号", "许可事项", "审批单位", "整改要求")]
    bases = []
    for n, entry in enumerate(inspection.rectification, start=1):
        item = document.permit_items[entry["item_code"]]
        demands = "；".join(f"{k}. {d}" for k, d in enumerate(entry["demands"], start=1))
        rows.append((str(n), entry["item_name"], document.units[item.approving_unit].name,
                     demands + (f"（核查意见：{entry['notes']}）" if entry.get("notes") else "")))
        bases.append(f"{item.name}：{item.legal_basis}")
    industry = document.industries[application.industry_code].name
    deadline = inspection.rectification_deadline
    address = licenses.full_address(division, values["premises_address"])
    visited = _visited(inspection)
    return Notice(
        title="整改通知书",
        number=f"晋一业一证整字〔{issued_on.year}〕第{inspection.id:06d}号",
        addressee=values.get("entity_name", ""),
        paragraphs=(
            f"{visited}，联合核查组对你单位位于{address}的经营场所"
            f"（{industry}，受理编号 {application.acceptance_number}）进行了联合现场核查。"
            f"经核查，下列 {len(inspection.rectification)} 个事项需要整改，现一次性告知如下：",
            f"请于{deadline:%Y年%m月%d日}前完成全部整改。{RECHECK[inspection.recheck_mode]}"
            "整改期间，各事项办理时限暂停计算。",
            "逾期未完成整改或复核仍不符合要求的，相关事项将依法作出不予许可决定。",
        ),
        rows=tuple(rows),
        legal_basis=REFORM_BASIS + "；" + "；".join(bases),
        issuer=f"{division.city_name}{division.county_name}行政审批服务管理局（联合核查组）",
        issued_on=f"{issued_on:%Y年%m月%d日}",
    )


def _visited(inspection: Inspection) -> str:
    """The day(s) the team recorded this round's results: when the visit was held, whatever
    the schedule said (a notice is a record; a visit held early is dated as held)."""
    last = max((r.round for r in inspection.results), default=None)
    days = sorted({r.recorded_at.astimezone(clock.CHINA).date()
                   for r in inspection.results if r.round == last})
    if not days:
        return f"{inspection.scheduled_on:%Y年%m月%d日}" if inspection.scheduled_on else ""
    if days[0] == days[-1]:
        return f"{days[0]:%Y年%m月%d日}"
    return f"{days[0]:%Y年%m月%d日}至{days[-1]:%Y年%m月%d日}"
