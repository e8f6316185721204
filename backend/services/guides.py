"""The published guides (办事指南): the catalog and each industry's guide for anyone, without
signing in.

晋政办发〔2022〕90号 四（三）: publish the catalog and the guides so that society knows what to
prepare. Everything here is read from one catalog version, so each answer is the same for as
long as that version is in force (the pages are cached per version). The tailored notice is
THE notice of the mini-program (``notice.tailored``): the public questionnaire and
``POST /api/mp/v1/industries/{code}/notice`` share one rule set.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import unicodedata
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session
from stdnum.cn import uscc

from backend.catalog_format import CatalogDocument, Industry
from backend.errors import NotFound
from backend.models import CatalogVersion
from backend.services import application_form, catalog, divisions, notice
from media.documents import Section, Sheet

ONSITE = {"always": "需要现场核查", "as_needed": "视情况现场核查", "never": "无需现场核查"}
DEFERRAL = {notice.DEFERRABLE: "可容缺（现场核查时确认）", notice.NOT_DEFERRABLE: "不可容缺",
            notice.SAFETY_CRITICAL: "不可容缺（涉及安全）"}
NO_FEE = "不收费（《中华人民共和国行政许可法》第五十八条）"
YES, NO = "yes", "no"  # a yes/no question's values in the HTML form


# --- the questionnaire as an HTML form ------------------------------------------------------

def answers_from_form(document: CatalogDocument, industry: Industry,
                      form: Mapping[str, str]) -> dict[str, Any]:
    """A questionnaire sent as an HTML form (every value text) read as the API's JSON answers:
    a yes/no question ``yes``/``no`` → true/false, a number as a JSON number (an integer when
    it is whole, as a phone sends 450), a choice as its value. Only the industry's questions
    are read; one left empty is left out (ANSWER_MISSING), text that is no number is kept as
    text (ANSWER_INVALID): ``notice.tailored`` names them, as it does for the API."""
    answers: dict[str, Any] = {}
    for code in notice.questions_of(document, industry):
        raw = (form.get(code) or "").strip()
        if not raw:
            continue
        kind = document.questions[code].type
        if kind == "bool":
            answers[code] = {YES: True, NO: False}.get(raw, raw)
        elif kind == "number":
            answers[code] = _number(raw)
        else:
            answers[code] = raw
    return answers


def _number(raw: str) -> float | int | str:
    try:
        value = float(unicodedata.normalize("NFKC", raw).replace(",", ""))
    except ValueError:
        return raw
    if value != value or value in (float("inf"), float("-inf")):
        return raw
    return int(value) if value.is_integer() and abs(value) < 2 ** 53 else value


def form_values(document: CatalogDocument, industry: Industry, answers: Mapping[str, Any]
                ) -> dict[str, str]:
    """Answers back as the form's values (to refill it, or as a query string)."""
    values = {}
    for code in notice.questions_of(document, industry):
        if code not in answers:
            continue
        value = answers[code]
        if isinstance(value, bool):
            values[code] = YES if value else NO
        elif isinstance(value, float) and value.is_integer():
            values[code] = str(int(value))
        else:
            values[code] = str(value)
    return values


# --- an industry's guide ----------------------------------------------------------------------

def guide(document: CatalogDocument, code: str) -> dict[str, Any]:
    """Everything an industry's guide shows before any answer: ``notice.overview`` and, for
    each item (base and conditional), its materials as ``{code, name, description, required,
    deferral, deferral_label, shared, form}`` — ``shared``: asked by more than one item of the
    industry, supplied once (一套材料); ``form``: a blank form and a filled-in example exist —
    and the forms of the industry, the items open to 告知承诺 (``commitment_items``), the
    windows where to apply (:func:`windows`)."""
    view = notice.overview(document, code)
    items = [*view["base_items"], *view["conditional_items"]]
    uses = {i["code"]: [*document.common.materials, *document.permit_items[i["code"]].materials]
            for i in items}
    users: dict[str, set[str]] = {}
    for item_code, listed in uses.items():
        for use in listed:
            users.setdefault(use.material, set()).add(item_code)
    for item in items:
        permit = document.permit_items[item["code"]]
        item["onsite_label"] = ONSITE[item["onsite_check"]]
        item["fee"] = permit.fee or NO_FEE
        item["materials"] = []
        for use in uses[item["code"]]:
            material = document.materials[use.material]
            deferral = notice.deferral_of(permit, use, document)
            item["materials"].append({
                "code": use.material, "name": material.name,
                "description": material.description, "required": use.required,
                "deferral": deferral, "deferral_label": DEFERRAL[deferral],
                "shared": len(users[use.material]) > 1, "form": material.form,
                "estimated": material.estimated})
    forms = {m["code"]: m["name"] for i in items for m in i["materials"] if m["form"]}
    return view | {
        "forms": [{"code": c, "name": n} for c, n in forms.items()],
        "commitment_items": [i for i in items if i["commitment_eligible"]],
        "windows": windows(document),
    }


def windows(document: CatalogDocument) -> list[dict[str, Any]]:
    """Where to apply: ``[{code, name, counties: [{code, name, windows: [{name, address,
    hours, phone, estimated}]}]}]`` by city, in code order; only counties with a window in
    the version (an older version may have none)."""
    listing = divisions.listing()
    out = []
    for city in listing["cities"]:
        counties = [{"code": c["code"], "name": c["name"],
                     "windows": [w.model_dump() for w in document.windows[c["code"]]]}
                    for c in city["counties"] if document.windows.get(c["code"])]
        if counties:
            out.append({"code": city["code"], "name": city["name"], "counties": counties})
    return out


# --- blank forms and filled-in examples (示例样表) -------------------------------------------

EXAMPLE_SHARED = {
    "entity_kind": "enterprise",
    "entity_name": "山西示例餐饮管理有限公司",
    "legal_rep_name": "张示例",
    "legal_rep_id_number": "140105199001010016",
    "contact_phone": "13800000000",
    "premises_city_code": "140100",
    "premises_county_code": "140105",
    "premises_address": "太原市小店区示例路1号",
    "floor_area": 120,
}


def _example_credit_code() -> str:
    body = "91140105MA0EXAMPL"
    return body + uscc.calc_check_digit(body)


def example_value(field: application_form.Field) -> Any:
    """Invented example data for one field of the form, valid by the field's own check."""
    if field.code == "credit_code":
        return _example_credit_code()
    if field.code in EXAMPLE_SHARED:
        return EXAMPLE_SHARED[field.code]
    if field.type in {"choice"}:
        return field.options[0]["value"]
    if field.type == "multi_choice":
        return [o["value"] for o in field.options[:2]]
    if field.type == "bool":
        return False
    if field.type in {"number", "integer"}:
        return 20 if field.type == "integer" else 50.0
    if field.type == "date":
        return "2026-12-01"
    if field.type == "phone":
        return "03511234567"
    if "姓名" in field.label:
        return "李示例"
    return f"示例：{field.label}"


def form_material(document: CatalogDocument, material_code: str) -> dict[str, Any]:
    """A material that is a form (``form: true``): ``{code, name, items: [{code, name}],
    fields: [application_form.Field]}`` — the one form's shared fields and the fields of every
    item that asks for the material. NotFound FORM_NOT_FOUND when it is no form."""
    material = document.materials.get(material_code)
    if material is None or not material.form:
        raise NotFound("FORM_NOT_FOUND", f"目录中没有表格“{material_code}”",
                               {"material": material_code})
    items = [code for code, item in document.permit_items.items()
             if any(u.material == material_code for u in item.materials)]
    return {"code": material_code, "name": material.name,
            "items": [{"code": c, "name": document.permit_items[c].name} for c in items],
            "fields": application_form.fields_for(document, items)}


def form_rows(document: CatalogDocument, material_code: str, *, example: bool
              ) -> dict[str, Any]:
    """The form to print: ``{title, items, sections: [{title, rows: [(label, value)]}]}``,
    each value empty (blank form) or the invented example as a person reads it."""
    form = form_material(document, material_code)
    sections: dict[str, dict[str, Any]] = {}
    for f in form["fields"]:
        title = application_form.SECTION_TITLES.get(f.section) or (
            document.permit_items[f.section[5:]].name)
        if example:  # the ID number in full: it is invented, and shows the format
            value = (example_value(f) if f.code == "legal_rep_id_number"
                     else application_form.shown(f, example_value(f)) or "")
        else:  # blank: boxes to tick for the options, the unit to write against
            value = "  ".join(f"□ {o['label']}" for o in f.options) or (
                "□ 是  □ 否" if f.type == "bool" else f"      {f.unit}" if f.unit else "")
        sections.setdefault(title, {"title": title, "rows": []})["rows"].append(
            (f.label, value))
    return {"title": form["name"] + ("（示例样表）" if example else ""),
            "items": form["items"], "sections": list(sections.values())}


def form_sheet(document: CatalogDocument, material_code: str, *, example: bool,
               catalog_version: int) -> Sheet:
    """A form as printed: blank, or filled in with invented data (示例样表)."""
    form = form_rows(document, material_code, example=example)
    items = "、".join(i["name"] for i in form["items"])
    note = ("本样表所填内容均为虚构示例，仅供参考填写格式，请按本单位实际情况填写。" if example
            else "请用黑色字迹的钢笔或签字笔填写，或在“一业一证”小程序中在线填写"
                 "（一表申请，共用信息只填一次）。")
    return Sheet(title=form["title"], lines=(f"用于：{items}",
                                             f"山西省“一业一证”行业目录第 {catalog_version} 版"),
                 sections=tuple(Section(s["title"], rows=tuple(s["rows"]))
                                for s in form["sections"]),
                 note=note + "　申请人（签字或盖章）：__________　日期：__________",
                 author=PUBLISHER)


PUBLISHER = "山西省“一业一证”办事指南"


def notice_sheet(tailored: dict[str, Any], answers_shown: list[tuple[str, str]]) -> Sheet:
    """The tailored notice as printed: the answers it was made for, the summary, the items
    with their units and time limits, the materials (容缺 and shared marked)."""
    industry = tailored["industry"]
    sections = [Section("您的回答", rows=tuple(answers_shown)),
                Section("结论", paragraphs=(tailored["summary"],
                                          *tailored["blocked_reasons"]))]
    if tailored["items"]:
        sections.append(Section("需要办理的许可事项", header=(
            "事项", "审批单位", "监管单位", "法定/承诺时限（工作日）", "现场核查"), rows=tuple(
            (i["name"] + ("（可告知承诺）" if i["commitment_eligible"] else ""),
             i["approving_unit"]["name"], i["supervising_unit"]["name"],
             f"{i['legal_days']} / {i['promised_days']}", ONSITE[i["onsite_check"]])
            for i in tailored["items"])))
    if tailored["materials"]:
        sections.append(Section("需要准备的材料", header=("材料", "用于", "是否容缺"), rows=tuple(
            (m["name"] + ("" if m["required"] else "（如有）"),
             "、".join(i["name"] for i in m["items"]) + ("（共用，只交一份）"
                                                        if len(m["items"]) > 1 else ""),
             DEFERRAL[m["deferral"]]) for m in tailored["materials"])))
    if tailored["not_applicable_items"]:
        sections.append(Section("按您的回答无需办理", rows=tuple(
            (i["name"], i["why"]) for i in tailored["not_applicable_items"])))
    return Sheet(title=f"{industry['name']}“一业一证”一次告知单",
                 lines=(f"山西省“一业一证”行业目录第 {tailored['catalog_version']} 版",),
                 sections=tuple(sections),
                 note="本告知单按您的回答生成，以受理时的审查为准。标“估计”的信息尚待核实。",
                 author=PUBLISHER)


def answers_shown(document: CatalogDocument, answers: Mapping[str, Any]
                  ) -> list[tuple[str, str]]:
    """Each answer as (question, answer as a person reads it)."""
    out = []
    for code, value in answers.items():
        q = document.questions[code]
        if q.type == "bool":
            shown = "是" if value else "否"
        elif q.type == "choice":
            shown = {o.value: o.label for o in q.options}.get(value, str(value))
        else:
            shown = f"{value:g} {q.unit}".strip() if isinstance(value, int | float) else str(value)
        out.append((q.text, shown))
    return out


# --- open data: each version as JSON and CSV --------------------------------------------------

CSV_COLUMNS = ("industry_code", "industry_name", "category", "item_code", "item_name",
               "basic_code", "bundled", "approving_unit", "supervising_unit", "legal_basis",
               "legal_days", "promised_days", "onsite_check", "safety_critical",
               "commitment_eligible", "material_code", "material_name", "material_required",
               "deferral", "material_shared", "estimated")


def catalog_json(version: CatalogVersion) -> dict[str, Any]:
    """A version as open data: ``{catalog_version, title, checksum, loaded_at, document}`` —
    ``document`` is the version's stored catalog exactly (the format of
    ``backend/catalog_format.py``); its canonical JSON hashes to ``checksum``."""
    return {"catalog_version": version.number, "title": version.title,
            "checksum": version.checksum,
            "loaded_at": version.loaded_at.isoformat() if version.loaded_at else None,
            "document": catalog.document_of(version).model_dump(mode="json")}


def catalog_csv(version: CatalogVersion) -> str:
    """A version as one table (UTF-8 with BOM, for spreadsheets): one row per industry ×
    permit item × material (the common materials included), retired industries left out;
    ``bundled`` is ``base`` or ``conditional`` (added by an answer)."""
    document = catalog.document_of(version)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for code, industry in document.industries.items():
        if industry.retired:
            continue
        view = guide(document, code)
        for bundled, items in (("base", view["base_items"]),
                               ("conditional", view["conditional_items"])):
            for item in items:
                for m in item["materials"]:
                    writer.writerow((
                        code, industry.name, industry.category, item["code"], item["name"],
                        item["basic_code"] or "", bundled, item["approving_unit"]["name"],
                        item["supervising_unit"]["name"], item["legal_basis"],
                        item["legal_days"], item["promised_days"], item["onsite_check"],
                        _flag(item["safety_critical"]), _flag(item["commitment_eligible"]),
                        m["code"], m["name"], _flag(m["required"]), m["deferral"],
                        _flag(m["shared"]), _flag(item["estimated"] or m["estimated"])))
    return out.getvalue()


def _flag(value: bool) -> str:
    return "true" if value else "false"


def versions(session: Session) -> list[CatalogVersion]:
    """Every version, newest first (the open-data page)."""
    return list(reversed(catalog.list_versions(session)))


def changes(session: Session, number: int) -> catalog.CatalogDiff | None:
    """What version ``number`` changed from the one before (None for the first version)."""
    if number <= 1:
        catalog.get_version(session, number)
        return None
    return catalog.compare(session, old=number - 1, new=number)


def printed_on(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def as_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1).encode()
