"""The merged form (一表申请): shared fields asked once, item fields by item, no field twice.

晋政办发〔2022〕90号 二（二）: 共用信息共享应用、个性信息单独填报. The shared section (entity,
legal representative, contact, premises) is defined here because its rules are national
standards; item fields come from the pinned catalog version. A field several items need is
asked once and says which items it serves.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backend.catalog_format import CatalogDocument, FormField
from backend.identifiers import clean_text
from backend.security.masking import mask_id_number, mask_phone
from backend.services import divisions, entity


@dataclass(frozen=True)
class Field:
    code: str
    label: str
    type: str
    section: str
    required: bool = True
    rule: str = ""  # the validation rule, in words the applicant reads
    options: tuple[dict[str, str], ...] = ()
    unit: str = ""
    help: str = ""
    sensitive: bool = False  # stored sealed, shown masked
    items: tuple[str, ...] = ()
    check: Callable[[Any], Any] | None = field(default=None, compare=False)


def _text(max_length: int, *, multiline: bool = False) -> Callable[[Any], str]:
    """Free text: invisible and control characters dropped, ends trimmed, inner spaces kept;
    line breaks only in a textarea. Left empty by that, it is missing, not mistyped."""
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise entity.FieldInvalid("FIELD_TYPE", "应为文本")
        value = clean_text(value, multiline=multiline)
        if not value:
            raise entity.FieldInvalid("FIELD_REQUIRED", "此项必填")
        if len(value) > max_length:
            raise entity.FieldInvalid("FIELD_TOO_LONG", f"不能超过 {max_length} 个字")
        return value
    return check


ENTITY_KINDS = ({"value": "enterprise", "label": "企业"},
                {"value": "individual", "label": "个体工商户"})

SHARED_FIELDS: tuple[Field, ...] = (
    Field("entity_kind", "主体类型", "choice", "entity", options=ENTITY_KINDS,
          check=lambda v: _choice(v, ENTITY_KINDS)),
    Field("entity_name", "经营主体名称", "text", "entity", rule="与营业执照一致，不超过 100 字",
          check=_text(100)),
    Field("credit_code", "统一社会信用代码", "text", "entity",
          rule="18 位，按 GB 32100 校验", check=entity.credit_code),
    Field("legal_rep_name", "法定代表人（负责人）姓名", "text", "entity", check=_text(50)),
    Field("legal_rep_id_number", "法定代表人（负责人）身份证号", "text", "entity",
          rule="18 位居民身份证号码，按 GB 11643 校验", sensitive=True, check=entity.id_number),
    Field("contact_phone", "联系电话", "phone", "contact", rule="手机号或带区号的固定电话",
          sensitive=True, check=entity.mobile_phone),
    Field("premises_city_code", "经营场所所在市", "division", "premises",
          rule="山西省地级市行政区划代码", check=entity.division_code),
    Field("premises_county_code", "经营场所所在县（市、区）", "division", "premises",
          rule="县级行政区划代码，须属于所选的市", check=entity.division_code),
    Field("premises_address", "经营场所详细地址", "text", "premises", rule="不超过 200 字",
          check=_text(200)),
    Field("floor_area", "经营场所面积", "number", "premises", unit="平方米",
          rule="大于 0，须与情形引导中的营业面积一致",
          check=lambda v: float(entity.floor_area(v))),
)
# 受托人: asked only when the guidance answer says someone else applies for the legal
# representative (applicant_is_agent); validated and masked like the representative's.
AGENT_QUESTION = "applicant_is_agent"
AGENT_FIELDS: tuple[Field, ...] = (
    Field("agent_name", "受托人姓名", "text", "agent",
          help="代为办理的受托人，凭法定代表人（负责人）签署的授权委托书办理", check=_text(50)),
    Field("agent_id_number", "受托人身份证号", "text", "agent",
          rule="18 位居民身份证号码，按 GB 11643 校验", sensitive=True, check=entity.id_number),
    Field("agent_phone", "受托人联系电话", "phone", "agent", rule="手机号或带区号的固定电话",
          sensitive=True, check=entity.mobile_phone),
)
SENSITIVE_CODES = frozenset(f.code for f in (*SHARED_FIELDS, *AGENT_FIELDS) if f.sensitive)
# a person's data (PIPL 第四条): names, ID and phone numbers of the representative and the
# agent; the form takes them only after consent (backend.services.personal_data)
PERSONAL_CODES = SENSITIVE_CODES | {"legal_rep_name", "agent_name"}
# the catalog materials whose files show a person's data (PIPL 第四条; 第二十八条 for health
# and criminal records): identity documents, the 授权委托书 naming both people with their ID
# numbers, staff certificates and health certificates. Like PERSONAL_CODES, uploaded only
# after consent (backend.services.materials), and encrypted inside archive packages
# (backend.services.archive).
PERSONAL_MATERIALS = frozenset({
    "legal_rep_id", "agent_id", "power_of_attorney", "pharmacist_certificate",
    "device_quality_staff", "food_safety_manager", "health_certificates",
    "pesticide_staff_qualification", "no_criminal_record"})
ID_NUMBER_CODES = frozenset({"legal_rep_id_number", "agent_id_number"})
SECTION_TITLES = {"entity": "经营主体", "agent": "受托人（代为办理）", "contact": "联系方式",
                  "premises": "经营场所", "shared_items": "多个事项共用的信息"}
APPLICANT_ROLES = {"legal_rep": "法定代表人（负责人）", "agent": "受托人（凭授权委托书代为办理）"}


def applicant_role(answers: dict[str, Any]) -> str:
    """Who applies, as the guidance answer says: ``legal_rep`` or ``agent`` (受托人)."""
    return "agent" if answers.get(AGENT_QUESTION) is True else "legal_rep"


def _choice(value: Any, options: tuple[dict[str, str], ...]) -> str:
    if value not in [o["value"] for o in options]:
        raise entity.FieldInvalid("FIELD_OPTION", "请从选项中选择")
    return value


def fields_for(document: CatalogDocument, item_codes: list[str], *,
               agent: bool = False) -> list[Field]:
    """The shared fields (with the 受托人's when ``agent``), then each catalog field once, in
    the section of the items it serves."""
    served: dict[str, list[str]] = {}
    for item in item_codes:
        for code in document.permit_items[item].fields:
            served.setdefault(code, []).append(item)
    fields = list(SHARED_FIELDS)
    if agent:
        fields[5:5] = AGENT_FIELDS  # after the representative, before the contact
    for code, items in served.items():
        spec = document.fields[code]
        section = "shared_items" if len(items) > 1 else f"item:{items[0]}"
        fields.append(Field(
            code=code, label=spec.label, type=spec.type, section=section,
            required=spec.required, rule=_rule_of(spec), unit=spec.unit, help=spec.help,
            options=tuple(o.model_dump() for o in spec.options), items=tuple(items),
            check=_catalog_check(spec),
        ))
    return fields


def sections(document: CatalogDocument, fields: list[Field], values: dict[str, Any],
             sensitive: dict[str, str], verified: frozenset[str] = frozenset(),
             ) -> list[dict[str, Any]]:
    """The form schema with current values (sensitive ones masked), grouped for display;
    ``verified``: fields whose value WeChat verified (the contact phone from getPhoneNumber),
    each field's ``verified``."""
    out: dict[str, dict[str, Any]] = {}
    for f in fields:
        title = SECTION_TITLES.get(f.section) or document.permit_items[f.section[5:]].name
        section = out.setdefault(f.section, {"code": f.section, "title": title, "fields": []})
        present = (f.code in sensitive) if f.sensitive else (f.code in values)
        value = _masked(f.code, sensitive.get(f.code)) if f.sensitive else values.get(f.code)
        section["fields"].append({
            "code": f.code, "label": f.label, "type": f.type, "required": f.required,
            "rule": f.rule, "options": list(f.options), "unit": f.unit, "help": f.help,
            "items": list(f.items), "sensitive": f.sensitive, "filled": present,
            "value": value, "shown": shown(f, value), "verified": f.code in verified,
        })
    return list(out.values())


def shown(f: Field, value: Any) -> str | None:
    """A filled value as a person reads it: 是/否, an option's label (several joined with
    、), a division's name, a number with its unit; None when not filled."""
    if value is None or value == "" or value == []:
        return None
    if f.type == "bool":
        return "是" if value else "否"
    if f.type == "division":
        return divisions.name_of(value)
    labels = {o["value"]: o["label"] for o in f.options}
    text = "、".join(str(labels.get(v, v)) for v in (value if isinstance(value, list)
                                                    else [value]))
    return f"{text} {f.unit}" if f.unit else text


def _masked(code: str, value: str | None) -> str | None:
    if value is None:
        return None
    return mask_id_number(value) if code in ID_NUMBER_CODES else mask_phone(value)


def validate(fields: list[Field], changes: dict[str, Any]) -> tuple[dict[str, Any], dict]:
    """Check each changed field; ``None`` clears it. Returns (clean values, errors by field)."""
    by_code = {f.code: f for f in fields}
    clean: dict[str, Any] = {}
    errors: dict[str, dict[str, str]] = {}
    for code, value in changes.items():
        spec = by_code.get(code)
        if spec is None:
            errors[code] = {"code": "FIELD_UNKNOWN", "message": "本申请表没有此项"}
            continue
        if value is None:
            clean[code] = None
            continue
        try:
            clean[code] = spec.check(value) if spec.check else value
        except entity.FieldInvalid as problem:
            errors[code] = {"code": problem.code, "message": f"{spec.label}：{problem.message}"}
    return clean, errors


def _rule_of(spec: FormField) -> str:
    parts = []
    if spec.min_length or spec.max_length:
        parts.append(f"{spec.min_length or 0}–{spec.max_length or '不限'} 字")
    if spec.minimum is not None or spec.maximum is not None:
        parts.append(f"{spec.minimum if spec.minimum is not None else '不限'}–"
                     f"{spec.maximum if spec.maximum is not None else '不限'}{spec.unit}")
    if spec.pattern:
        parts.append("格式须符合要求")
    return "，".join(parts)


def _catalog_check(spec: FormField) -> Callable[[Any], Any]:
    """A validator for a catalog-defined field, from its type and bounds."""

    def check(value: Any) -> Any:
        kind = spec.type
        if kind in {"text", "textarea"}:
            multiline = kind == "textarea"
            value = _text(spec.max_length or (2000 if multiline else 200),
                          multiline=multiline)(value)
            if spec.min_length and len(value) < spec.min_length:
                raise entity.FieldInvalid("FIELD_TOO_SHORT", f"至少 {spec.min_length} 个字")
            if spec.pattern and not re.fullmatch(spec.pattern, value):
                raise entity.FieldInvalid("FIELD_PATTERN", "格式不正确")
            return value
        if kind in {"number", "integer"}:
            is_int = isinstance(value, int) and not isinstance(value, bool)
            if not (is_int or (kind == "number" and isinstance(value, float))):
                expected = "应为整数" if kind == "integer" else "应为数字"
                raise entity.FieldInvalid("FIELD_TYPE", expected)
            if spec.minimum is not None and value < spec.minimum:
                raise entity.FieldInvalid("FIELD_RANGE", f"不能小于 {spec.minimum:g}")
            if spec.maximum is not None and value > spec.maximum:
                raise entity.FieldInvalid("FIELD_RANGE", f"不能大于 {spec.maximum:g}")
            return value
        if kind == "bool":
            if not isinstance(value, bool):
                raise entity.FieldInvalid("FIELD_TYPE", "应为是或否")
            return value
        options = tuple(o.model_dump() for o in spec.options)
        if kind == "choice":
            return _choice(value, options)
        if kind == "multi_choice":
            if not isinstance(value, list) or not value:
                raise entity.FieldInvalid("FIELD_TYPE", "请至少选择一项")
            return sorted({_choice(v, options) for v in value})
        if kind == "date":
            try:
                return dt.date.fromisoformat(value).isoformat()
            except (TypeError, ValueError):
                raise entity.FieldInvalid("FIELD_DATE", "日期格式应为 YYYY-MM-DD") from None
        return entity.mobile_phone(value)  # phone

    return check
