"""The catalog file format (config/catalog/catalog.yaml), validated before anything is stored.

The catalog is data, not code (动态调整目录): industries, their permit items, the material and
form-field libraries, and guidance questions (情形引导) whose answers add or remove items and
materials. Every cross-reference is checked here, so a loaded version is always coherent.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,63}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]


class ReferenceProblems(ValueError):
    """Every cross-reference of the file that does not resolve, one sentence each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
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


class PermitItem(Strict):
    name: Text
    basic_code: str | None = None  # 国家政务服务事项基本目录编码
    approving_unit: Code
    supervising_unit: Code
    legal_basis: Text
    legal_days: int = Field(ge=0, le=365)  # 法定办结时限, working days
    promised_days: int = Field(ge=0, le=365)  # 承诺办结时限, working days
    onsite_check: Literal["always", "as_needed", "never"]
    safety_critical: bool = False  # touches national / public / ecological safety: no 容缺
    commitment_eligible: bool = False  # 告知承诺制 applies
    validity_years: int | None = Field(default=None, ge=1, le=30)  # None: long-term / filing
    conditions: list[Text] = []
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
    units: dict[Code, Unit]
    questions: dict[Code, Question]
    materials: dict[Code, Material]
    fields: dict[Code, FormField]
    permit_items: dict[Code, PermitItem]
    common: Common = Common()
    industries: dict[Code, Industry]

    def unit_ref(self, code: str) -> dict[str, str]:
        """A unit as every API shows one: ``{code, name}``, named as this version names it."""
        unit = self.units.get(code)
        return {"code": code, "name": unit.name if unit else code}

    @model_validator(mode="after")
    def _references_resolve(self) -> CatalogDocument:
        problems: list[str] = []

        def need(kind: str, table: dict, code: str, where: str) -> None:
            if code not in table:
                problems.append(f"{where}：引用了不存在的{kind}“{code}”")

        for code, item in self.permit_items.items():
            need("单位", self.units, item.approving_unit, f"许可事项 {code}")
            need("单位", self.units, item.supervising_unit, f"许可事项 {code}")
            for use in item.materials:
                need("材料", self.materials, use.material, f"许可事项 {code}")
            for f in item.fields:
                need("表单字段", self.fields, f, f"许可事项 {code}")
        for use in self.common.materials:
            need("材料", self.materials, use.material, "通用部分")
        for q in self.common.questions:
            need("情形问题", self.questions, q, "通用部分")
        for code, industry in self.industries.items():
            for item in industry.items:
                need("许可事项", self.permit_items, item, f"行业 {code}")
            for q in industry.questions:
                need("情形问题", self.questions, q, f"行业 {code}")
            asked = set(self.common.questions) | set(industry.questions)
            for rule in [*self.common.rules, *industry.rules]:
                for q in rule.when:
                    if q not in asked:
                        problems.append(f"行业 {code}：规则用到未提问的情形问题“{q}”")
                for item in [*rule.add_items, *rule.remove_items,
                             *rule.add_materials, *rule.remove_materials]:
                    need("许可事项", self.permit_items, item, f"行业 {code} 的规则")
                for uses in [*rule.add_materials.values(), rule.add_bundle_materials]:
                    for use in uses:
                        need("材料", self.materials, use.material, f"行业 {code} 的规则")
        if problems:
            raise ReferenceProblems(problems)
        return self
