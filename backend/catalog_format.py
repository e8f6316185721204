"""The catalog file format (config/catalog/catalog.yaml), validated before anything is stored.

The catalog is data, not code (动态调整目录): industries, their permit items, the material and
form-field libraries, and guidance questions (情形引导) whose answers add or remove items and
materials. Every cross-reference is checked here, so a loaded version is always coherent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from stdnum.cn import uscc

Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,63}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]


@dataclass(frozen=True)
class ReferenceProblem:
    """A cross-reference that does not resolve: where (a path of keys and list positions from
    the top of the file), a stable code, and a sentence in Chinese."""

    path: tuple[str | int, ...]
    code: str  # "reference": names nothing of the file; "unasked_question"; "duplicate_type_code"
    message: str


class ReferenceProblems(ValueError):
    """Every cross-reference of the file that does not resolve."""

    def __init__(self, problems: list[ReferenceProblem]) -> None:
        super().__init__("; ".join(f"{' › '.join(map(str, p.path))}：{p.message}"
                                   for p in problems))
        self.problems = problems


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Verification(Strict):
    """How a fact was checked. ``estimated`` facts stay flagged for administrators."""

    sources: list[Text] = []
    notes: str = ""


class Unit(Strict):
    name: Text


class Option(Strict):
    value: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    label: Text


class Question(Strict):
    text: Text
    type: Literal["bool", "choice", "number"]
    help: str = ""
    unit: str = ""  # for numbers, e.g. 平方米
    options: list[Option] = []
    minimum: float | None = None
    maximum: float | None = None

    @model_validator(mode="after")
    def _options_match_type(self) -> Question:
        if (self.type == "choice") != bool(self.options):
            raise ValueError("选择题（且只有选择题）须列出选项 options")
        return self


class Material(Strict):
    name: Text
    description: str = ""
    # never deferrable (容缺), whatever the item says: it bears on public safety
    safety_critical: bool = False
    # a form the applicant fills in (申请表、申请书、备案表): its fields are the one form's
    # shared fields and the fields of the items that ask for it; the published guide offers
    # it blank and as a filled-in example (示例样表)
    form: bool = False
    estimated: bool = False


CountyCode = Annotated[str, StringConstraints(pattern=r"^14[0-9]{4}$")]  # GB/T 2260, Shanxi


class ServiceWindow(Strict):
    """Where to apply in person: a county's 一业一证 window (综合窗口) of its government
    service centre. ``estimated`` until checked against the county's published guide."""

    name: Text
    address: Text
    hours: Text = "工作日 上午9:00—12:00，下午13:00—17:00"
    phone: str = ""
    estimated: bool = False


class FormField(Strict):
    label: Text
    type: Literal["text", "textarea", "number", "integer", "bool", "choice", "multi_choice",
                  "date", "phone"]
    required: bool = True
    help: str = ""
    unit: str = ""
    options: list[Option] = []
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None

    @model_validator(mode="after")
    def _options_match_type(self) -> FormField:
        if (self.type in {"choice", "multi_choice"}) != bool(self.options):
            raise ValueError("选择类字段（且只有选择类字段）须列出选项 options")
        return self


class MaterialUse(Strict):
    """A material as one permit item asks for it."""

    material: Code
    required: bool = True
    deferrable: bool = False  # 容缺: may follow later, confirmed at the on-site check


# 证照类型代码 (GB/T 36904): the defining body's 统一社会信用代码 (18) + a 3-digit sequence
TypeCode = Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{18}[0-9]{3}$")]


class ElicenseType(Strict):
    """A license type of the provincial e-license catalog (电子证照目录), as 证照标识 carry it
    (``backend.services.elicense_ids``): the 21-character type code, the type's name and the
    body that defines it (定义机构). ``estimated``: a placeholder until the province assigns
    the code; the licenses issued meanwhile are flagged as carrying a placeholder."""

    code: TypeCode
    name: Text  # 证照类型名称, e.g. 食品经营许可证
    defined_by: Text  # 定义机构名称; its code is the first 18 characters of ``code``
    estimated: bool = False
    verification: Verification = Verification()

    @field_validator("code")
    @classmethod
    def _definer_is_a_credit_code(cls, code: str) -> str:
        if not uscc.is_valid(code[:18]):
            raise ValueError("证照类型代码的前18位应为定义机构的统一社会信用代码（校验位正确）")
        return code


class CombinedLicense(ElicenseType):
    """The 行业综合许可证 as an e-license type, with the government-service item that issues
    it (关联事项, GB/T 36903)."""

    service_item_name: Text
    service_item_code: str | None = None  # the province's service-item code, when it has one


class Commitment(Strict):
    """告知承诺制 (国办发〔2020〕42号) for one permit item: the text the applicant signs (its
    version is the catalog version it appears in, and its SHA-256), and the window of the
    post-check (事后核查) in working days from the approval. ``estimated``: wording or window
    not yet taken from the province's published 告知承诺书 / 核查办法."""

    text: Annotated[str, StringConstraints(min_length=20, max_length=2000,
                                           strip_whitespace=True)]
    post_check_days: int = Field(ge=1, le=120)  # 事后核查时限, working days after approval
    # the item's form field asking the procedure (办理方式), if it has one: its answer
    # ``commitment`` needs the signature before the application can be submitted
    mode_field: Code | None = None
    estimated: bool = False
    verification: Verification = Verification()


class PermitItem(Strict):
    name: Text
    basic_code: str | None = None  # 国家政务服务事项基本目录编码
    elicense: ElicenseType | None = None  # the permit's e-license type (None: not catalogued)
    approving_unit: Code
    supervising_unit: Code
    legal_basis: Text
    legal_days: int = Field(ge=0, le=365)  # 法定办结时限, working days
    promised_days: int = Field(ge=0, le=365)  # 承诺办结时限, working days
    onsite_check: Literal["always", "as_needed", "never"]
    safety_critical: bool = False  # touches national / public / ecological safety: no 容缺
    commitment_eligible: bool = False  # 告知承诺制 applies
    # the commitment text and post-check window; offered only with commitment_eligible
    commitment: Commitment | None = None
    validity_years: int | None = Field(default=None, ge=1, le=30)  # None: long-term / filing
    conditions: list[Text] = []
    fee: str = ""  # 收费; empty: none (行政许可法 第五十八条: 实施行政许可不得收取任何费用)
    materials: list[MaterialUse] = []
    fields: list[Code] = []
    notes: str = ""
    estimated: bool = False
    verification: Verification = Verification()

    @model_validator(mode="after")
    def _promise_within_law(self) -> PermitItem:
        if self.promised_days > self.legal_days:
            raise ValueError("承诺时限 promised_days 不能超过法定时限 legal_days")
        return self

    @model_validator(mode="after")
    def _commitment_only_if_eligible(self) -> PermitItem:
        if self.commitment is not None and not self.commitment_eligible:
            raise ValueError("只有 commitment_eligible: true 的事项才能写承诺书 commitment")
        return self

    @property
    def by_commitment(self) -> bool:
        """Whether an applicant may choose 告知承诺 for this item: eligible, with a text."""
        return self.commitment_eligible and self.commitment is not None


Comparison = dict[Literal["gt", "gte", "lt", "lte", "in", "eq"], Any]


class Rule(Strict):
    """When every answer in ``when`` matches, change the bundle (情形引导)."""

    when: dict[Code, bool | str | float | Comparison]
    add_items: list[Code] = []
    remove_items: list[Code] = []
    add_materials: dict[Code, list[MaterialUse]] = {}  # item code → extra materials
    remove_materials: dict[Code, list[Code]] = {}
    add_bundle_materials: list[MaterialUse] = []  # to every item of the bundle (e.g. 委托书)
    reason: Text
    # an answer that makes the business ineligible as described (e.g. a prohibited location)
    blocks: bool = False


class Industry(Strict):
    name: Text
    category: Text
    description: str = ""
    items: list[Code] = []  # always bundled
    questions: list[Code] = []  # asked in this order, after the common questions
    rules: list[Rule] = []
    in_seed: bool = False  # named in 晋政办发〔2022〕90号 itself
    estimated: bool = False
    retired: bool = False  # no new applications; old ones keep their version
    verification: Verification = Verification()


class Common(Strict):
    """What every industry shares: questions, materials and rules asked of everyone."""

    questions: list[Code] = []
    materials: list[MaterialUse] = []
    rules: list[Rule] = []


class CatalogDocument(Strict):
    format: Literal[1]
    title: Text
    combined_license: CombinedLicense | None = None  # None: not catalogued (older versions)
    units: dict[Code, Unit]
    questions: dict[Code, Question]
    materials: dict[Code, Material]
    fields: dict[Code, FormField]
    permit_items: dict[Code, PermitItem]
    common: Common = Common()
    industries: dict[Code, Industry]
    # county code → its windows (一窗受理); empty in older versions
    windows: dict[CountyCode, list[ServiceWindow]] = {}

    def unit_ref(self, code: str) -> dict[str, str]:
        """A unit as every API shows one: ``{code, name}``, named as this version names it."""
        unit = self.units.get(code)
        return {"code": code, "name": unit.name if unit else code}

    @model_validator(mode="after")
    def _references_resolve(self) -> CatalogDocument:
        problems = reference_problems(self.model_dump())
        if problems:
            raise ReferenceProblems(problems)
        return self


# --- the cross-references: ONE set of rules over plain data, so that they run on a valid
# document (the model validator above) and on the file as parsed, whose fields may be wrong or
# missing (services.catalog.check lists both kinds of error in one pass). What cannot be read
# (a section that is not a mapping, a code that is not text …) is skipped: pydantic names it.

_KINDS = {"units": "单位", "materials": "材料", "fields": "表单字段", "questions": "情形问题",
          "permit_items": "许可事项"}


def _pairs(value: Any) -> list[tuple[Any, Any]]:
    return list(value.items()) if isinstance(value, dict) else []


def _entries(value: Any) -> list[tuple[Any, dict]]:
    """The (code, entry) pairs of a section whose entry is a mapping."""
    return [(k, v) for k, v in _pairs(value) if isinstance(v, dict)]


def _elements(value: Any) -> list[tuple[int, Any]]:
    return list(enumerate(value)) if isinstance(value, list) else []


def reference_problems(data: Any) -> list[ReferenceProblem]:
    """Every cross-reference of ``data`` (the file as parsed, or a document's dump) that does
    not resolve, in the order of the file's sections. Never raises on malformed data."""
    if not isinstance(data, dict):
        return []
    tables = {key: data[key] for key in _KINDS if isinstance(data.get(key), dict)}
    problems: list[ReferenceProblem] = []

    def need(kind: str, code: Any, *path: str | int) -> None:
        table = tables.get(kind)  # a missing or unreadable section: pydantic says so
        if table is not None and isinstance(code, str) and code not in table:
            problems.append(ReferenceProblem(
                path, "reference", f"引用了不存在的{_KINDS[kind]}“{code}”"))

    def uses(value: Any, *path: str | int) -> None:
        """A list of materials as an item asks for them (``{material: code, …}``)."""
        for i, use in _elements(value):
            if isinstance(use, dict):
                need("materials", use.get("material"), *path, i, "material")

    def rule_references(rule: dict, *path: str | int) -> None:
        for key in ("add_items", "remove_items"):
            for i, item in _elements(rule.get(key)):
                need("permit_items", item, *path, key, i)
        for item, listed in _pairs(rule.get("add_materials")):
            need("permit_items", item, *path, "add_materials", item)
            uses(listed, *path, "add_materials", item)
        for item, listed in _pairs(rule.get("remove_materials")):
            need("permit_items", item, *path, "remove_materials", item)
            for i, material in _elements(listed):
                need("materials", material, *path, "remove_materials", item, i)
        uses(rule.get("add_bundle_materials"), *path, "add_bundle_materials")

    def asked_in_rules(rules: Any, asked: set, where: str, *path: str | int) -> None:
        for r, rule in _elements(rules):
            when = rule.get("when") if isinstance(rule, dict) else None
            for q in when if isinstance(when, dict) else ():
                if isinstance(q, str) and q not in asked:
                    problems.append(ReferenceProblem(
                        (*path, r, "when", q), "unasked_question",
                        f"{where}：规则用到未提问的情形问题“{q}”"))

    type_codes: dict[str, tuple] = {}  # an e-license type code names one license type
    typed = [(("combined_license",), data.get("combined_license"))] + [
        (("permit_items", code, "elicense"), item.get("elicense"))
        for code, item in _entries(data.get("permit_items"))]
    for path, entry in typed:
        type_code = entry.get("code") if isinstance(entry, dict) else None
        if not isinstance(type_code, str):
            continue
        if type_code in type_codes:
            problems.append(ReferenceProblem(
                (*path, "code"), "duplicate_type_code",
                f"证照类型代码“{type_code}”已用于 {' › '.join(map(str, type_codes[type_code]))}"))
        type_codes.setdefault(type_code, path)
    for code, item in _entries(data.get("permit_items")):
        need("units", item.get("approving_unit"), "permit_items", code, "approving_unit")
        need("units", item.get("supervising_unit"), "permit_items", code, "supervising_unit")
        uses(item.get("materials"), "permit_items", code, "materials")
        for i, field in _elements(item.get("fields")):
            need("fields", field, "permit_items", code, "fields", i)
        commitment = item.get("commitment")
        if isinstance(commitment, dict) and commitment.get("mode_field") is not None:
            need("fields", commitment["mode_field"], "permit_items", code, "commitment",
                 "mode_field")
    common = data.get("common") if isinstance(data.get("common"), dict) else {}
    for i, q in _elements(common.get("questions")):
        need("questions", q, "common", "questions", i)
    uses(common.get("materials"), "common", "materials")
    for r, rule in _elements(common.get("rules")):
        if isinstance(rule, dict):
            rule_references(rule, "common", "rules", r)
    common_asked = {q for _, q in _elements(common.get("questions")) if isinstance(q, str)}
    for code, industry in _entries(data.get("industries")):
        for i, item in _elements(industry.get("items")):
            need("permit_items", item, "industries", code, "items", i)
        for i, q in _elements(industry.get("questions")):
            need("questions", q, "industries", code, "questions", i)
        asked = common_asked | {q for _, q in _elements(industry.get("questions"))
                                if isinstance(q, str)}
        # a common rule is asked of every industry: each must ask its questions
        asked_in_rules(common.get("rules"), asked, f"行业 {code}", "common", "rules")
        asked_in_rules(industry.get("rules"), asked, f"行业 {code}",
                       "industries", code, "rules")
        for r, rule in _elements(industry.get("rules")):
            if isinstance(rule, dict):
                rule_references(rule, "industries", code, "rules", r)
    return problems
