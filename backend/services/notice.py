"""The one-time notice (一次告知单), tailored by the applicant's guidance answers (情形引导).

晋政办发〔2022〕90号 二（一）: one clear notice of the conditions to meet and the materials to
submit. The bundle is the industry's base items changed by every rule whose answers match;
materials are merged so that one needed by several items is listed once, naming the items
it serves. Items run in parallel (并联), so the promised time is the longest item, not the sum.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from backend.catalog_format import CatalogDocument, Industry, MaterialUse, PermitItem, Rule
from backend.errors import FieldsInvalid
from backend.models import CatalogVersion
from backend.services import catalog

Answers = dict[str, Any]

DEFERRABLE = "deferrable"  # 容缺: may follow, confirmed at the on-site check
NOT_DEFERRABLE = "not_deferrable"
SAFETY_CRITICAL = "safety_critical"  # never deferrable: national / public / ecological safety


def questions_of(document: CatalogDocument, industry: Industry) -> list[str]:
    """The questions an applicant of this industry answers, common ones first, each once."""
    return list(dict.fromkeys([*document.common.questions, *industry.questions]))


def validate_answers(document: CatalogDocument, industry: Industry, answers: Answers) -> Answers:
    """Every problem at once, each in ``details.fields`` as ``answers.<question>``: unknown
    questions (QUESTION_UNKNOWN), invalid values (ANSWER_INVALID), unanswered questions
    (ANSWER_MISSING); the error's code names the first kind present (ANSWERS_INCOMPLETE for
    the last), 422."""
    asked = questions_of(document, industry)
    unknown = {q: {"code": "QUESTION_UNKNOWN", "message": f"该行业没有情形问题“{q}”"}
               for q in sorted(set(answers) - set(asked))}
    invalid = {q: {"code": "ANSWER_INVALID", "message": problem} for q in asked if q in answers
               if (problem := _answer_problem(document, q, answers[q]))}
    missing = {q: {"code": "ANSWER_MISSING",
                   "message": f"“{document.questions[q].text.rstrip('？?')}”尚未回答"}
               for q in asked if q not in answers}
    problems = {f"answers.{q}": p for q, p in (unknown | invalid | missing).items()}
    for code, kind in (("QUESTION_UNKNOWN", unknown), ("ANSWER_INVALID", invalid),
                       ("ANSWERS_INCOMPLETE", missing)):
        if kind:
            raise FieldsInvalid(code, problems, lead="请修改情形问题的回答：")
    return {code: answers[code] for code in asked}


def _answer_problem(document: CatalogDocument, code: str, value: Any) -> str | None:
    question = document.questions[code]
    text = question.text.rstrip("？?")
    if question.type == "bool":
        return None if isinstance(value, bool) else f"“{text}”应回答是或否"
    if question.type == "choice":
        allowed = [o.value for o in question.options]
        return None if value in allowed else f"“{text}”应为 {'/'.join(allowed)} 之一"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"“{text}”应为数字"
    if question.minimum is not None and value < question.minimum:
        return f"“{text}”不能小于 {question.minimum:g}"
    if question.maximum is not None and value > question.maximum:
        return f"“{text}”不能大于 {question.maximum:g}"
    return None


def tailored(version: CatalogVersion, code: str, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The one-time notice for ``answers`` under ``version``, as the mini-program's API and
    the published questionnaire (/guides) both give it: ``{catalog_version, **tailor(...)}``.
    Raises NotFound INDUSTRY_NOT_FOUND / INDUSTRY_RETIRED, and FieldsInvalid (422)
    QUESTION_UNKNOWN / ANSWER_INVALID / ANSWERS_INCOMPLETE naming every ``answers.<question>``
    at fault (:func:`validate_answers`)."""
    document, industry = catalog.get_industry(version, code)
    valid = validate_answers(document, industry, dict(answers))
    return {"catalog_version": version.number, **tailor(document, code, valid)}


def rule_matches(rule: Rule, answers: Answers) -> bool:
    return all(_condition_holds(answers[q], expected) for q, expected in rule.when.items())


def _condition_holds(value: Any, expected: Any) -> bool:
    if not isinstance(expected, dict):
        return value == expected
    checks = {
        "eq": lambda a, b: a == b, "in": lambda a, b: a in b,
        "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b,
    }
    return all(checks[op](value, operand) for op, operand in expected.items())


@dataclass
class _Bundle:
    """Items in force, why each applies, and each item's material uses."""

    reasons: dict[str, str] = field(default_factory=dict)
    uses: dict[str, list[MaterialUse]] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)


def tailor(document: CatalogDocument, industry_code: str, answers: Answers) -> dict[str, Any]:
    """The tailored notice for validated answers."""
    industry = document.industries[industry_code]
    rules = [*document.common.rules, *industry.rules]
    matched = [r for r in rules if rule_matches(r, answers)]
    bundle = _Bundle()
    for code in industry.items:
        bundle.reasons[code] = f"{industry.name}行业的基本许可事项"
    for rule in matched:
        for code in rule.remove_items:
            bundle.reasons.pop(code, None)
            bundle.removed[code] = rule.reason
        for code in rule.add_items:
            bundle.reasons[code] = rule.reason
            bundle.removed.pop(code, None)
    for code in bundle.reasons:
        item = document.permit_items[code]
        bundle.uses[code] = [*document.common.materials, *item.materials]
    for rule in matched:
        for code, uses in rule.add_materials.items():
            if code in bundle.uses:
                bundle.uses[code].extend(uses)
        for code, materials in rule.remove_materials.items():
            if code in bundle.uses:
                bundle.uses[code] = [u for u in bundle.uses[code] if u.material not in materials]
        for code in bundle.uses:
            bundle.uses[code].extend(rule.add_bundle_materials)

    items = [_item_view(document, code, bundle.reasons[code]) for code in bundle.reasons]
    not_applicable = _not_applicable(document, rules, bundle)
    blocked = [r.reason for r in matched if r.blocks]
    promised = max((i["promised_days"] for i in items), default=0)
    return {
        "industry": {"code": industry_code, "name": industry.name, "category": industry.category},
        "answers": answers,
        "eligible": not blocked,
        "blocked_reasons": blocked,
        "items": items,
        "not_applicable_items": not_applicable,
        "materials": _merged_materials(document, bundle),
        "form_fields": _merged_fields(document, bundle),
        "summary": _summary(items, promised, blocked),
        "promised_days": promised,
        "legal_days": max((i["legal_days"] for i in items), default=0),
        "serial_promised_days": sum(i["promised_days"] for i in items),
        "joint_inspection": _joint_inspection(items),
        "estimated": industry.estimated or any(i["estimated"] for i in items),
    }


def _summary(items: list[dict[str, Any]], promised_days: int, blocked: list[str]) -> str:
    if blocked:
        return "按您的回答，暂不符合办理条件：" + "；".join(blocked)
    if not items:
        return "按您的回答，该经营活动无需办理本目录中的许可事项。"
    return (f"共需办理 {len(items)} 个许可事项，各部门并联审批，"
            f"承诺 {promised_days} 个工作日内办结（不含现场核查整改时间）。")


def essential_items(document: CatalogDocument, industry_code: str, answers: Answers) -> set[str]:
    """Items the business cannot operate without: the industry's base items, and whatever a
    matched rule put in place of one (e.g. the pre-packaged food filing instead of the license).
    Everything else was added by a situation and may be given up."""
    industry = document.industries[industry_code]
    essential = set(industry.items)
    for rule in [*document.common.rules, *industry.rules]:
        if rule_matches(rule, answers) and set(rule.remove_items) & set(industry.items):
            essential |= set(rule.add_items)
    return essential


def overview(document: CatalogDocument, industry_code: str) -> dict[str, Any]:
    """Everything an industry may involve, before any answer: base and conditional items."""
    industry = document.industries[industry_code]
    rules = [*document.common.rules, *industry.rules]
    conditional = {}
    for rule in rules:
        for code in rule.add_items:
            conditional.setdefault(code, []).append(rule.reason)
    return {
        "industry": {"code": industry_code, "name": industry.name,
                     "category": industry.category, "description": industry.description,
                     "in_seed": industry.in_seed, "retired": industry.retired},
        "base_items": [_item_view(document, c, f"{industry.name}行业的基本许可事项")
                       for c in industry.items],
        "conditional_items": [
            _item_view(document, code, "；".join(reasons))
            for code, reasons in conditional.items() if code not in industry.items
        ],
        "questions": [question_view(document, q) for q in questions_of(document, industry)],
        "rules": [{"when": r.when, "reason": r.reason, "add_items": r.add_items,
                   "remove_items": r.remove_items, "blocks": r.blocks} for r in rules],
        "estimated": industry.estimated,
    }


def question_view(document: CatalogDocument, code: str) -> dict[str, Any]:
    q = document.questions[code]
    return {"code": code, "text": q.text, "type": q.type, "help": q.help, "unit": q.unit,
            "options": [o.model_dump() for o in q.options],
            "minimum": q.minimum, "maximum": q.maximum}


def _item_view(document: CatalogDocument, code: str, reason: str) -> dict[str, Any]:
    item = document.permit_items[code]
    return {
        "code": code,
        "name": item.name,
        "basic_code": item.basic_code,
        "why": reason,
        "approving_unit": document.unit_ref(item.approving_unit),
        "supervising_unit": document.unit_ref(item.supervising_unit),
        "legal_basis": item.legal_basis,
        "legal_days": item.legal_days,
        "promised_days": item.promised_days,
        "onsite_check": item.onsite_check,
        "safety_critical": item.safety_critical,
        "commitment_eligible": item.commitment_eligible,
        "commitment": commitment_view(item),
        "validity_years": item.validity_years,
        "conditions": item.conditions,
        "notes": item.notes,
        "estimated": item.estimated,
    }


def commitment_view(item: PermitItem) -> dict[str, Any] | None:
    """告知承诺 as the applicant is offered it: the text to sign, its SHA-256 (what a
    signature names), the post-check window in working days and whether it is estimated;
    None when the item cannot be approved by commitment (国办发〔2020〕42号)."""
    if not item.by_commitment:
        return None
    return {"text": item.commitment.text, "text_sha256": text_sha256(item.commitment.text),
            "post_check_days": item.commitment.post_check_days,
            "estimated": item.commitment.estimated}


def text_sha256(text: str) -> str:
    """The SHA-256 (hex) of a commitment text as UTF-8: with the catalog version, the
    version of the text an applicant signed."""
    return hashlib.sha256(text.encode()).hexdigest()


def deferral_of(item: PermitItem, use: MaterialUse, document: CatalogDocument) -> str:
    """容缺 only where an on-site check will confirm it and no safety concern forbids it."""
    if document.materials[use.material].safety_critical or item.safety_critical:
        return SAFETY_CRITICAL
    if use.deferrable and item.onsite_check != "never":
        return DEFERRABLE
    return NOT_DEFERRABLE


def _merged_materials(document: CatalogDocument, bundle: _Bundle) -> list[dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for item_code, uses in bundle.uses.items():
        item = document.permit_items[item_code]
        for use in uses:
            material = document.materials[use.material]
            entry = merged.setdefault(use.material, {
                "code": use.material, "name": material.name,
                "description": material.description, "required": False,
                "deferral": DEFERRABLE, "items": [], "estimated": material.estimated,
            })
            if item_code not in [i["code"] for i in entry["items"]]:
                entry["items"].append({"code": item_code, "name": item.name})
            entry["required"] = entry["required"] or use.required
            entry["deferral"] = _stricter(entry["deferral"], deferral_of(item, use, document))
    return list(merged.values())


def _stricter(a: str, b: str) -> str:
    """A material shared by items is deferrable only if every item allows it."""
    order = [DEFERRABLE, NOT_DEFERRABLE, SAFETY_CRITICAL]
    return max(a, b, key=order.index)


def _merged_fields(document: CatalogDocument, bundle: _Bundle) -> list[dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for item_code in bundle.reasons:
        for code in document.permit_items[item_code].fields:
            f = document.fields[code]
            entry = merged.setdefault(code, {"code": code, "label": f.label, "type": f.type,
                                             "required": f.required, "items": []})
            entry["items"].append(item_code)
    return list(merged.values())


def _not_applicable(document: CatalogDocument, rules: list[Rule], bundle: _Bundle,
                    ) -> list[dict[str, str]]:
    """Conditional items left out, with the situation in which they would apply."""
    out = {code: {"code": code, "name": document.permit_items[code].name, "why": reason}
           for code, reason in bundle.removed.items()}
    for rule in rules:
        for code in rule.add_items:
            if code not in bundle.reasons and code not in out:
                out[code] = {"code": code, "name": document.permit_items[code].name,
                             "why": f"仅在以下情形办理：{rule.reason}"}
    return list(out.values())


def _joint_inspection(items: list[dict[str, Any]]) -> dict[str, Any]:
    """一同核查: one visit covers every item that needs a check."""
    always = [i["code"] for i in items if i["onsite_check"] == "always"]
    maybe = [i["code"] for i in items if i["onsite_check"] == "as_needed"]
    return {"required": bool(always), "items": always, "possible_items": maybe}
