"""电子证照: the 行业综合许可证 and each bundled permit as national electronic licenses.

晋政办发〔2022〕90号 二（六）: during the transition the permits bundled in the combined license
are kept as electronic licenses for the holder. Each one (and the combined license itself)
gets a 证照标识 (GB/T 36904, ``elicense_ids``), the core metadata of GB/T 36903 as real
columns (``models.elicenses``) and a national status, kept in step with the license by
``backend.services.licenses`` — the only caller of the writing functions here.

Identifier rules (documented here once):

- 证照类型代码: the catalog entry (``combined_license``, a permit item's ``elicense``) of the
  catalog version in force at issue — the province assigns codes in its e-license catalog
  and a newly assigned code applies to every license issued after it — else of the
  application's own version, else ``UNCATALOGUED_TYPE``. Placeholders are flagged
  ``type_estimated``.
- 颁发机构代码: the 统一社会信用代码 of the unit that issues it in the premises' county — the
  county's approval bureau (``BUREAU``) for the combined license, each permit's approving
  unit for the permit — from the setting ``ELICENSE_ISSUER_CODES``; until configured a
  stand-in (``elicense_ids.placeholder_credit_code``) flagged ``issuer_estimated``.
- 流水号: the printed number without its hyphen (``140105202601123456X``, a permit
  ``140105202601123456X01``): unique, and found again from the printed number.
- 版本号: ``001`` at issue; a change (变更) raises it on the combined license and on every
  permit not revoked, a renewal (延续) on the combined license and the permits it renews;
  the new version keeps the previous identifier (``previous_identifier``, and every
  identifier ever used is in ``elicense_events``). A replacement (补发) reprints the same
  data: no new version.

Status (one vocabulary, both directions): the product's verdicts (``licenses.verdict`` for
the combined license, ``licenses.item_verdict`` for a permit, which carries the propagation
rules) map to the national status codes by ``STATUS_OF_VERDICT`` and back by
``VERDICT_OF_STATUS``; a permit's national status is brought about by the unit action
``ITEM_ACTION_FOR_STATUS``. Every change of status is an ``ElicenseEvent`` with the
national operation code (``operation_for``), written in the same transaction as the change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.catalog_format import CatalogDocument, CombinedLicense, ElicenseType
from backend.models import Application, ApplicationEvent, License, LicenseItem
from backend.models.elicenses import COMBINED, Elicense, ElicenseEvent
from backend.services import applications, catalog, elicense_ids, entity

# --- the national vocabulary (a ministry-level e-certificate interface; GB/T 36903) -------------
STATUS_LABELS = {"01": "有效", "02": "暂扣", "03": "撤销", "04": "注销", "05": "失效",
                 "07": "吊销", "99": "其他"}
OPERATION_LABELS = {"01": "新发", "02": "延续", "03": "暂扣", "04": "过期失效",
                    "05": "注销/撤销/吊销", "06": "暂扣发还", "09": "变更"}
HOLDER_CODE_TYPES = {"001": "统一社会信用代码", "111": "公民身份号码"}
ISSUER_LEVELS = {"province": "省级", "city": "市级", "county": "县级"}

# product verdict → national status. "void": a permit that lost effect with the combined
# license (revoked for an essential permit): 失效, not itself revoked.
STATUS_OF_VERDICT = {"valid": "01", "suspended": "02", "cancelled": "04", "expired": "05",
                     "void": "05", "revoked": "07"}
# national status → the product verdict that shows it (03 撤销 shows as revoked: the product
# withdraws a permit one way only; 99 其他 has no product state)
VERDICT_OF_STATUS = {"01": "valid", "02": "suspended", "03": "revoked", "04": "cancelled",
                     "05": "expired", "07": "revoked"}
# national status → the unit's action on its permit that brings it about
# (licenses.set_item_status); 04 注销 is the holder's, of the whole license (licenses.cancel)
ITEM_ACTION_FOR_STATUS = {"01": "restore", "02": "suspend", "03": "revoke", "07": "revoke"}

BUREAU = "approval_bureau"  # the county unit that issues the combined license (一枚印章管审批)
UNCATALOGUED_DEFINER = "111400000000000003"  # the catalog's stand-in definer (placeholder)
UNCATALOGUED_TYPE = UNCATALOGUED_DEFINER + "000"  # a type the catalog does not list


def operation_for(old_status: str, verdict: str) -> str:
    """The national operation code of a status change to ``verdict`` (a product verdict)
    from the national status ``old_status``."""
    if verdict == "suspended":
        return "03"  # 暂扣
    if verdict == "valid":
        return "06" if old_status == "02" else "02"  # 暂扣发还; valid again after expiry: 延续
    if verdict == "expired":
        return "04"  # 过期失效
    return "05"  # cancelled, revoked, void: 注销/撤销/吊销


State = tuple[str, str, str]  # (verdict code, 中文 label, reason), as licenses.verdict gives


@dataclass(frozen=True)
class Issuer:
    name: str
    code: str
    level: str
    estimated: bool


@cache
def _issuer_codes(raw: str) -> Mapping[tuple[str, str], str]:
    return elicense_ids.parse_issuer_codes(raw)


def configured_issuers() -> Mapping[tuple[str, str], str]:
    """ELICENSE_ISSUER_CODES of the running app (none outside one)."""
    if not has_app_context():
        return {}
    return _issuer_codes(current_app.extensions["settings"].ELICENSE_ISSUER_CODES)


def _county_prefix(county_code: str) -> str:
    table = entity.load_divisions()
    city_code, county_name = table.counties[county_code]
    return f"{table.cities[city_code]}{county_name}"


def issuer(county_code: str, unit_code: str, unit_name: str) -> Issuer:
    """The unit ``unit_code`` of the county as the issuer of an e-license (颁发机构)."""
    code = configured_issuers().get((county_code, unit_code))
    return Issuer(name=f"{_county_prefix(county_code)}{unit_name}",
                  code=code or elicense_ids.placeholder_credit_code(county_code, unit_code),
                  level="county", estimated=code is None)


def _type(documents: Iterable[CatalogDocument], item_code: str) -> ElicenseType | None:
    for document in documents:
        if item_code == COMBINED:
            entry = document.combined_license
        else:
            spec = document.permit_items.get(item_code)
            entry = spec.elicense if spec is not None else None
        if entry is not None:
            return entry
    return None


def holder_code_type(code: str) -> str:
    """001 统一社会信用代码, or 111 公民身份号码 for an 18-character resident ID number."""
    return "001" if elicense_ids.is_credit_code(code) else "111"


def _face(license_: License, item: LicenseItem | None, units: CatalogDocument) -> dict[str, Any]:
    """The columns that follow the license's face: holder, validity, extension."""
    common = {"holder_name": license_.holder_name, "holder_code": license_.credit_code,
              "holder_code_type": holder_code_type(license_.credit_code),
              "division_code": license_.county_code}
    if item is None:
        return common | {
            "license_no": license_.license_no, "valid_until": license_.valid_until,
            "extension": {"industry_category": license_.industry_category,
                          "industry_name": license_.industry_name,
                          "premises_address": license_.premises_address,
                          "face_version": license_.version,
                          "permits": [{"item_code": i.item_code, "name": i.item_name,
                                       "license_no": i.sub_license_no}
                                      for i in license_.items]}}
    return common | {
        "license_no": item.sub_license_no, "valid_until": item.valid_until,
        "extension": {"item_code": item.item_code, "item_name": item.item_name,
                      "approving_unit": units.unit_ref(item.approving_unit),
                      "supervising_unit": units.unit_ref(item.supervising_unit),
                      "required": item.required, "premises_address": license_.premises_address,
                      "industry_name": license_.industry_name,
                      "combined_license_no": license_.license_no}}


def issue(session: Session, license_: License, states: Mapping[str, State], *,
          today: date) -> list[ElicenseEvent]:
    """The e-licenses of a license just issued (flushed): the combined license and each
    permit, version 001, each with its 新发 (01) event. ``states``: the verdict of each,
    keyed by item code (``COMBINED`` for the license)."""
    pinned = applications.document_of(session, session.get(Application, license_.application_id))
    documents = (catalog.document_of(catalog.current_version(session)), pinned)
    events = []
    for values in first_versions(license_, documents, states, today=today):
        elicense = Elicense(**values)
        license_.elicenses.append(elicense)
        events.append(_event(elicense, "01"))
    return events


def first_versions(license_: License, documents: tuple[CatalogDocument, ...],
                   states: Mapping[str, State], *, today: date) -> list[dict[str, Any]]:
    """The column values of a license's e-licenses at version 001, the combined license
    first. ``documents``: the catalog versions whose e-license types apply, in order of
    precedence (in force, then the application's own, which also names the units).

    Pure: ``license_`` may be anything with the attributes of a License and its items (the
    migration that gave existing licenses their e-licenses passes plain rows)."""
    pinned = documents[-1]
    combined_type = _type(documents, COMBINED)
    service_item = ((combined_type.service_item_name, combined_type.service_item_code)
                    if isinstance(combined_type, CombinedLicense)
                    else ("行业综合许可证核发（一业一证）", None))
    rows = [(None, combined_type, issuer(license_.county_code, BUREAU,
                                          pinned.unit_ref(BUREAU)["name"]), service_item)]
    for item in license_.items:
        spec = pinned.permit_items.get(item.item_code)
        rows.append((item, _type(documents, item.item_code),
                     issuer(license_.county_code, item.approving_unit,
                            pinned.unit_ref(item.approving_unit)["name"]),
                     (item.item_name, spec.basic_code if spec is not None else None)))
    out = []
    for item, kind, by, (service_name, service_code) in rows:
        item_code = COMBINED if item is None else item.item_code
        face = _face(license_, item, pinned)
        name = kind.name if kind is not None else (
            "行业综合许可证" if item is None else item.item_name)
        type_code = kind.code if kind is not None else UNCATALOGUED_TYPE
        identifier = elicense_ids.compute(type_code, by.code,
                                          face["license_no"].replace("-", ""), 1)
        verdict, _, why = states[item_code]
        out.append(face | {
            "item_code": item_code, "identifier": str(identifier), "previous_identifier": None,
            "type_code": type_code, "type_name": name,
            "type_estimated": kind is None or kind.estimated,
            "definer_name": kind.defined_by if kind is not None else "（未编目）",
            "issuer_code": by.code, "issuer_name": by.name, "issuer_level": by.level,
            "issuer_estimated": by.estimated, "serial": identifier.serial, "version": 1,
            "name": name, "issued_on": today, "valid_from": license_.issued_on,
            "service_item_name": service_name, "service_item_code": service_code,
            "status_code": STATUS_OF_VERDICT[verdict], "status_reason": why or None,
            "sealed_at": None, "sealed_by": None})
    return out


def of_license(license_: License) -> dict[str, Elicense]:
    """The license's e-licenses by item code (``COMBINED``: the combined license)."""
    return {e.item_code: e for e in license_.elicenses}


def _event(elicense: Elicense, operation: str, reason: str | None = None) -> ElicenseEvent:
    event = ElicenseEvent(identifier=elicense.identifier,
                          previous_identifier=elicense.previous_identifier,
                          operation_code=operation, status_code=elicense.status_code,
                          reason=reason[:500] if reason else None)
    elicense.events.append(event)
    return event


def new_version(session: Session, license_: License, item_codes: Iterable[str],
                states: Mapping[str, State], *, operation: str, today: date,
                valid_from: Mapping[str, date] | None = None, reason: str | None = None
                ) -> list[ElicenseEvent]:
    """The next version of each named e-license (``COMBINED`` and item codes) after a 变更
    (operation 09) or 延续 (02; ``valid_from``: the first day of each renewed validity, by
    code): a new identifier linking the previous one, the face fields and status as they
    now are."""
    units = applications.document_of(session, session.get(Application, license_.application_id))
    items = {i.item_code: i for i in license_.items}
    mine = of_license(license_)
    events = []
    for code in item_codes:
        elicense = mine[code]
        following = elicense_ids.parse(elicense.identifier).next_version()
        elicense.previous_identifier, elicense.identifier = elicense.identifier, str(following)
        elicense.version, elicense.issued_on = following.version, today
        for field, value in _face(license_, items.get(code), units).items():
            setattr(elicense, field, value)
        if valid_from and code in valid_from:
            elicense.valid_from = valid_from[code]
        verdict, _, why = states[code]
        elicense.status_code, elicense.status_reason = STATUS_OF_VERDICT[verdict], why or None
        events.append(_event(elicense, operation, reason))
    return events


def sync(license_: License, states: Mapping[str, State], *,
         reason: str | None = None) -> list[ElicenseEvent]:
    """Bring every e-license of the license to the national status of its verdict
    (``states``, keyed as in :func:`issue`); each one that changes gets an event with the
    operation code of the change (:func:`operation_for`)."""
    events = []
    for code, elicense in of_license(license_).items():
        if code not in states:
            continue
        verdict, _, why = states[code]
        status = STATUS_OF_VERDICT[verdict]
        if status == elicense.status_code:
            continue
        operation = operation_for(elicense.status_code, verdict)
        elicense.status_code, elicense.status_reason = status, why or None
        events.append(_event(elicense, operation, why or reason))
    return events


def sealed(session: Session, license_: License, *, at: datetime | None, by: str | None
           ) -> None:
    """The license's face was sealed (``licenses.rendition``; None: a new face not sealed
    yet): its signer (签章者) and signing time (签章时间) on every e-license it carries — the
    permits are printed on the combined license's face, so its seal is theirs. A plain
    UPDATE: it races no status change (no ``lock_version`` step)."""
    session.execute(update(Elicense).where(Elicense.license_id == license_.id)
                    .values(sealed_at=at, sealed_by=by[:100] if by else None))


def link(events: Iterable[ElicenseEvent], cause: ApplicationEvent) -> None:
    """Name the audited step of the timeline (who, when, why) that caused ``events``."""
    for event in events:
        event.application_event_id = cause.id


def expiring(session: Session, today: date) -> list[int]:
    """Ids of licenses with an e-license still recorded 有效 whose validity has ended: the
    tick's expiry sweep (``licenses.record_expiries``) brings them to 05 失效."""
    return list(session.scalars(select(Elicense.license_id).distinct().where(
        Elicense.status_code == "01", Elicense.valid_until.is_not(None),
        Elicense.valid_until < today)))


def find(session: Session, text: str) -> tuple[Elicense, bool] | None:
    """The e-license a 证照标识 names — its current or any earlier version — and whether
    ``text`` is an earlier version's. A malformed identifier raises
    ``elicense_ids.IdentifierInvalid`` (422, stable code, Chinese message)."""
    identifier = str(elicense_ids.parse(text))
    current = session.scalar(select(Elicense).where(Elicense.identifier == identifier))
    if current is not None:
        return current, False
    earlier = session.scalar(select(ElicenseEvent.elicense_id).where(
        ElicenseEvent.identifier == identifier).limit(1))
    return (session.get(Elicense, earlier), True) if earlier is not None else None


def history(license_: License) -> list[dict[str, Any]]:
    """Every recorded change of the license's e-licenses, in the order recorded:
    ``{at, name (证照名称), item_code, operation_code, operation_label, status_code,
    status_label, identifier, previous_identifier, reason}``."""
    rows = sorted(((e, event) for e in license_.elicenses for event in e.events),
                  key=lambda pair: pair[1].id)
    return [{"at": event.occurred_at, "name": e.name, "item_code": e.item_code,
             "operation_code": event.operation_code,
             "operation_label": OPERATION_LABELS[event.operation_code],
             "status_code": event.status_code, "status_label": STATUS_LABELS[event.status_code],
             "identifier": event.identifier, "previous_identifier": event.previous_identifier,
             "reason": event.reason} for e, event in rows]


def view(elicense: Elicense) -> dict[str, Any]:
    """What holders and staff see of an e-license beside the license: its identifier,
    version, national status and whether its codes are still placeholders."""
    return {"identifier": elicense.identifier, "version": f"{elicense.version:03d}",
            "previous_identifier": elicense.previous_identifier,
            "status_code": elicense.status_code,
            "status_label": STATUS_LABELS[elicense.status_code],
            "type_name": elicense.type_name,
            "estimated": _estimated(elicense)}


def _estimated(elicense: Elicense) -> list[str]:
    return [name for name, flag in (("type_code", elicense.type_estimated),
                                    ("issuer_code", elicense.issuer_estimated)) if flag]


def _yyyymmdd(day: date | None) -> str | None:
    return day.strftime("%Y%m%d") if day is not None else None


def record(elicense: Elicense) -> dict[str, Any]:
    """The GB/T 36903 metadata record of an e-license as named fields (what the e-license
    library is sent). Dates ``yyyymmdd``; ``valid_until`` ``"长期"`` when it never expires;
    ``estimated`` names the codes that are still placeholders."""
    return {
        "identifier": elicense.identifier,  # 证照标识
        "previous_identifier": elicense.previous_identifier,
        "type_name": elicense.type_name, "type_code": elicense.type_code,  # 证照类型
        "license_no": elicense.license_no,  # 证照编号
        "name": elicense.name,  # 证照名称
        "version": f"{elicense.version:03d}",  # 版本号
        "issued_on": _yyyymmdd(elicense.issued_on),  # 颁发日期
        "issuer_name": elicense.issuer_name, "issuer_code": elicense.issuer_code,
        "issuer_level": elicense.issuer_level,
        "issuer_level_label": ISSUER_LEVELS[elicense.issuer_level],  # 颁发机构级别
        "definer_name": elicense.definer_name,
        "definer_code": elicense.type_code[:18],  # 定义机构
        "valid_from": _yyyymmdd(elicense.valid_from),  # 有效期起始
        "valid_until": _yyyymmdd(elicense.valid_until) or "长期",  # 有效期截止
        "division_code": elicense.division_code,  # 所属管辖属地
        "holder_name": elicense.holder_name, "holder_code": elicense.holder_code,  # 持证主体
        "holder_code_type": elicense.holder_code_type,
        "holder_code_type_name": HOLDER_CODE_TYPES[elicense.holder_code_type],
        "service_item_name": elicense.service_item_name,  # 关联事项
        "service_item_code": elicense.service_item_code,
        "sealed_by": elicense.sealed_by,  # 签章者 and time: empty until files are sealed
        "sealed_at": elicense.sealed_at.isoformat() if elicense.sealed_at else None,
        "status_code": elicense.status_code, "status_label": STATUS_LABELS[elicense.status_code],
        "status_description": elicense.status_reason,
        "extension": elicense.extension,  # license-specific face fields
        "estimated": _estimated(elicense),
    }


def records_of(license_: License) -> list[dict[str, Any]]:
    """The records (:func:`record`) of the combined license, then of each bundled permit."""
    mine = of_license(license_)
    order = [COMBINED, *(i.item_code for i in license_.items)]
    return [record(mine[code]) for code in order if code in mine]
