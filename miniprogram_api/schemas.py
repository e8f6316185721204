"""Request and response bodies of the mini-program API (pydantic → OpenAPI at /openapi.json)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from backend.api_types import (
    AnswerFloat,
    AnswerInt,
    DbId,
    Unit,
    Version,
    free_text,
    plain_text,
)
from backend.services import elicense_downloads, ratings
from backend.workflow import State


def by_json_type(*members: Any) -> Any:
    """A value of one of several JSON types, validated as the member of its own type only.

    A plain union tried every member and, all failing, named a problem per member (a number
    out of range read "fields.x.bool: 应为是或否"). Here one problem per field: the member's
    own (LESS_THAN_EQUAL, FINITE_NUMBER, …) or VALUE_TYPE for a type none accepts. A list
    member's problem is named at the field, not at the item. Documented as the union.
    """
    adapters = [(_json_type(member), TypeAdapter(member)) for member in members]

    def validate(value: Any) -> Any:
        for kind, adapter in adapters:
            if type(value) is kind:  # bool is not int here: JSON true is not 1
                try:
                    return adapter.validate_python(value)
                except ValidationError as error:
                    first = error.errors()[0]
                    raise PydanticCustomError(first["type"], first["msg"],
                                              first.get("ctx")) from None
        raise PydanticCustomError("value_type", "value is of no accepted JSON type")

    documented = Union[members]  # noqa: UP007 - built from a tuple, no `|` spelling
    return Annotated[Any, PlainValidator(validate, json_schema_input_type=documented)]


def _json_type(member: Any) -> type:
    origin = get_origin(member)
    if origin is Annotated:
        return _json_type(get_args(member)[0])
    return origin or (type(None) if member is None else member)


AnswerValue = by_json_type(bool, AnswerInt, AnswerFloat,
                           Annotated[str, StringConstraints(max_length=64)])


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(In):
    code: Annotated[str, StringConstraints(min_length=1, max_length=128, strip_whitespace=True)] = \
        Field(description="wx.login() 得到的一次性 code")


class LoginOut(BaseModel):
    token: str = Field(description="Bearer 令牌，放在 Authorization 头")
    token_type: str = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_at: datetime
    applicant_id: int


class PhoneIn(In):
    code: Annotated[str, StringConstraints(min_length=1, max_length=128, strip_whitespace=True)] = \
        Field(description="手机号快速验证组件（button open-type=getPhoneNumber）回调中的一次性 "
                          "code；仅可使用一次，五分钟内有效")


class PhoneOut(BaseModel):
    verified: bool = Field(description="是否已有经微信验证的手机号")
    phone_masked: str | None = Field(description="脱敏手机号，如 138****5678；完整号码从不返回")
    verified_at: datetime | None


class ConsentIn(In):
    version: Annotated[str, StringConstraints(min_length=1, max_length=32,
                                              strip_whitespace=True)] = Field(
        description="所同意的隐私政策版本，须为现行版本"
                    "（GET /me/privacy-consent 的 current_version）")


class ConsentRecord(BaseModel):
    version: str
    agreed_at: datetime


class ConsentOut(BaseModel):
    current_version: str = Field(description="现行隐私政策版本")
    agreed: bool = Field(description="是否已同意现行版本；未同意时申请表不接受个人信息")
    agreed_at: datetime | None
    history: list[ConsentRecord] = Field(description="历次同意的版本与时间")


class MeOut(BaseModel):
    id: int
    kind: str = "applicant"
    openid_masked: str
    created_at: datetime
    last_login_at: datetime
    phone: PhoneOut = Field(description="经微信验证的手机号（脱敏）")
    privacy: ConsentOut = Field(description="隐私政策同意情况")


class PersonalDataOut(BaseModel):
    exported_at: str
    account: dict[str, Any]
    verified_phone: dict[str, Any] = Field(description="本人的完整手机号（仅本人导出时）")
    privacy_consents: list[dict[str, Any]]
    applications: list[dict[str, Any]] = Field(
        description="本人的申请：申请表（含本人完整证件号、电话）、材料（SHA-256）、办理记录")
    collaborations: list[dict[str, Any]]


class ErasedEntry(BaseModel):
    what: str
    label: str
    count: int | None


class KeptEntry(BaseModel):
    what: str
    reason: str = Field(description="保留的法律依据")
    count: int


class ErasureOut(BaseModel):
    deleted: list[ErasedEntry] = Field(description="已删除的内容")
    kept: list[KeptEntry] = Field(description="依法保留的内容及原因")


class IndustryQuery(In):
    q: Annotated[str, StringConstraints(max_length=50, strip_whitespace=True)] | None = Field(
        default=None, description="行业名称、类别或拼音首字母，如“饭店”或“fd”")


class VersionQuery(In):
    version: Version | None = Field(default=None, description="目录版本号；缺省为现行版本")


class IndustrySummary(BaseModel):
    code: str
    name: str
    category: str
    item_count: int = Field(description="基本许可事项数（情形引导可增减）")
    promised_days: int = Field(description="并联办理承诺时限（工作日），取最长事项")
    estimated: bool = Field(description="含未经核实的估计数据")


class IndustryList(BaseModel):
    catalog_version: int
    total: int
    industries: list[IndustrySummary]


class NoticeIn(In):
    answers: dict[Annotated[str, StringConstraints(max_length=64)], AnswerValue] = Field(
        max_length=50, description="情形问题代码 → 回答（是/否、选项值或数字）")


class CommitmentOffer(BaseModel):
    text: str = Field(description="承诺书全文（随目录版本）")
    text_sha256: str = Field(description="承诺书全文的 SHA-256，签署时原样提交")
    post_check_days: int = Field(description="准予许可后事后核查的时限，工作日")
    estimated: bool


class ItemOut(BaseModel):
    code: str
    name: str
    basic_code: str | None
    why: str = Field(description="为何需要办理此事项")
    approving_unit: Unit
    supervising_unit: Unit
    legal_basis: str
    legal_days: int
    promised_days: int
    onsite_check: str = Field(description="always | as_needed | never")
    safety_critical: bool
    commitment_eligible: bool
    commitment: CommitmentOffer | None = Field(
        description="告知承诺：可选择承诺方式时的承诺书全文及事后核查时限；不可选择时为 null")
    validity_years: int | None
    conditions: list[str]
    notes: str
    estimated: bool


class QuestionOut(BaseModel):
    code: str
    text: str
    type: str
    help: str
    unit: str
    options: list[dict[str, str]]
    minimum: float | None
    maximum: float | None


class IndustryDetail(BaseModel):
    catalog_version: int
    industry: dict[str, Any]
    base_items: list[ItemOut]
    conditional_items: list[ItemOut]
    questions: list[QuestionOut]
    rules: list[dict[str, Any]]
    estimated: bool


class ItemRef(BaseModel):
    code: str
    name: str


class MaterialOut(BaseModel):
    code: str
    name: str
    description: str
    required: bool
    deferral: str = Field(description="deferrable（可容缺）| not_deferrable | safety_critical")
    items: list[ItemRef] = Field(description="此材料服务的事项（只需提交一次）")
    estimated: bool


class NotApplicableItem(BaseModel):
    code: str
    name: str
    why: str


class FieldOut(BaseModel):
    code: str
    label: str
    type: str
    required: bool
    items: list[str]


class JointInspection(BaseModel):
    required: bool
    items: list[str]
    possible_items: list[str]


class NoticeOut(BaseModel):
    catalog_version: int
    industry: dict[str, str]
    answers: dict[str, Any]
    eligible: bool
    blocked_reasons: list[str]
    items: list[ItemOut]
    not_applicable_items: list[NotApplicableItem]
    materials: list[MaterialOut]
    form_fields: list[FieldOut]
    summary: str = Field(description="一句话结论，如“共需办理 3 个许可事项……”")
    promised_days: int = Field(description="并联办理承诺时限：最长事项，而非各事项之和")
    legal_days: int
    serial_promised_days: int = Field(description="若逐项串联办理的承诺时限之和（对比用）")
    joint_inspection: JointInspection
    estimated: bool


class CreateApplicationIn(In):
    industry: Annotated[str, StringConstraints(max_length=64)] = Field(description="行业代码")
    answers: dict[Annotated[str, StringConstraints(max_length=64)], AnswerValue] = Field(
        max_length=50, description="情形问题的回答，与告知单一致")


class ApplicationListQuery(In):
    status: State | None = None  # an unknown status is 422, not an empty list


# the longest text any form field takes (a catalog textarea); each field's own limit is the
# form service's (backend.services.application_form), reported per field as FIELD_TOO_LONG
FormValue = by_json_type(bool, AnswerInt, AnswerFloat,
                         Annotated[str, StringConstraints(max_length=2000)],
                         list[Annotated[str, StringConstraints(max_length=64)]], None)


class FormPatchIn(In):
    fields: dict[Annotated[str, StringConstraints(max_length=64)], FormValue] = \
        Field(max_length=100, description="字段代码 → 新值；null 清空该项")


class ReorderIn(In):
    file_ids: list[DbId] = Field(max_length=50, description="该材料全部文件的新顺序")


class ApplicationSummary(BaseModel):
    id: int
    industry: dict[str, str]
    status: str
    status_label: str
    submission_number: str | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None


class ApplicationList(BaseModel):
    total: int
    applications: list[ApplicationSummary]


EightDigitCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{8}$")]  # one-time codes


class InviteIn(In):
    role: Literal["collaborator", "agent"] = Field(
        default="collaborator",
        description="collaborator 协作人（填写申请表、上传材料和整改照片）；agent 受托人（还可"
                    "提交、撤回、同意放弃事项、申请调整核查时间、提请整改复核、评价；仅限选择了"
                    "委托他人代为办理的申请）")


class InviteOut(BaseModel):
    code: str = Field(description="8 位一次性邀请码（只显示这一次）")
    role: str
    expires_at: datetime


class InvitationOut(BaseModel):
    id: int
    role: str
    role_label: str
    created_at: datetime
    expires_at: datetime


class InvitationList(BaseModel):
    total: int
    invitations: list[InvitationOut] = Field(
        description="尚未使用且未过期的邀请码（邀请码本身只在出具时显示一次）")


class JoinIn(In):
    code: EightDigitCode = Field(
        description="申请人出具的 8 位邀请码；仅可使用一次")


class CollaboratorOut(BaseModel):
    id: int
    role: str
    role_label: str
    openid_masked: str
    added_at: datetime
    is_me: bool = Field(description="是否为当前登录的用户")


class CollaboratorList(BaseModel):
    total: int
    collaborators: list[CollaboratorOut]


class ClaimIn(In):
    code: EightDigitCode = Field(
        description="窗口帮办代办时工作人员出具的 8 位认领码；7 天内有效，仅可使用一次")


class FileOut(BaseModel):
    id: int
    position: int
    media_type: str
    byte_size: int
    width: int | None
    height: int | None
    page_count: int | None
    url: str = Field(description="短期有效的签名链接")
    thumbnail_url: str | None
    uploaded_at: datetime


class MaterialStatus(MaterialOut):
    state: str = Field(description="uploaded | missing | deferrable（可容缺）| optional")
    state_label: str = Field(description="该状态的中文说明，如“尚未上传”")
    files: list[FileOut]


class PostCheckRef(BaseModel):
    id: int
    status: str = Field(description="to_schedule | scheduled | passed | failed")
    status_label: str
    due_on: date | None = Field(description="事后核查须完成的日期（准予许可后若干工作日）")
    scheduled_on: date | None
    outcome: str | None = Field(description="passed | failed（承诺不实）")
    overdue: bool = Field(description="已过期限仍未完成核查")


class CommitmentSigned(BaseModel):
    catalog_version: int = Field(description="承诺书所属目录版本")
    text_sha256: str = Field(description="所签承诺书全文的 SHA-256（与目录版本一起即文本版本）")
    text: str = Field(description="所签承诺书全文")
    signed_at: datetime
    signed_by: int = Field(description="签署人（申请人账号编号）")
    found_false_at: datetime | None = Field(description="事后核查认定承诺不实的时间")
    found_false_reason: str | None
    post_check: PostCheckRef | None


class ItemLane(BaseModel):
    id: int
    version: int = Field(description="乐观锁版本号，工作人员操作时回传")
    code: str
    name: str
    approving_unit: Unit
    status: str
    status_label: str
    promised_days: int
    onsite_check: str
    why: str
    due_on: date | None = Field(description="承诺办结日期（工作日计算）")
    remaining_working_days: int | None = Field(description="剩余工作日；负数为超期")
    clock: str = Field(description="not_started | on_time | due_soon | overdue | paused | done")
    opinion: str | None
    applicant_consents_to_drop: bool
    commitment_offer: CommitmentOffer | None = Field(
        description="告知承诺：该事项可选择承诺方式时的承诺书（null 为不适用）")
    commitment: CommitmentSigned | None = Field(
        description="申请人已签署的告知承诺（null 为未选择）及其事后核查")


class InspectionOut(BaseModel):
    id: int
    version: int
    application_id: int
    status: str
    status_label: str
    item_codes: list[str]
    scheduled_on: date | None
    window: str | None
    address: str | None
    reschedule_used: bool
    team: list[dict[str, Any]]
    results: list[dict[str, Any]]
    rectification: list[dict[str, Any]] | None
    rectification_deadline: date | None
    recheck_mode: str | None
    outcome: str | None
    kind: str = Field(description="joint（联合现场核查）| post_check（告知承诺事后核查）")
    due_on: date | None = Field(description="事后核查须完成的日期；联合核查为 null")
    overdue: bool = Field(description="事后核查已过期限仍未办结")


class TimelineEvent(BaseModel):
    at: datetime
    actor: str
    action: str
    message: str


# --- 好差评 (backend/services/ratings.py) ---------------------------------------------------------


class RatingIn(In):
    level: Literal[ratings.LEVEL_CODES] = Field(
        description="very_satisfied 非常满意 | satisfied 满意 | basically_satisfied 基本满意 | "
                    "dissatisfied 不满意 | very_dissatisfied 非常不满意（后两者转单位核实整改）")
    tags: list[Annotated[str, StringConstraints(max_length=32)]] = Field(
        default=[], max_length=ratings.MAX_TAGS,
        description="可选的原因标签代码，须为所选等级可选的（GET /ratings/options）；"
                    "否则 422 RATING_INVALID（tags.N）")
    comment: plain_text(ratings.COMMENT_MAX, multiline=True) = Field(
        default="", description="可选的意见，最多 500 字；含控制字符为 422 CONTROL_CHARACTER")
    unit: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="评价针对的单位代码，须为本案办理单位之一（rating.units）；"
                                  "缺省：不予许可为作出不予许可的单位，其余为窗口")


class RatingTag(BaseModel):
    code: str
    label: str


class RatingOut(BaseModel):
    id: int
    stage: str = Field(description="licensed | refused | not_accepted | withdrawn")
    stage_label: str
    level: str
    level_label: str
    score: int = Field(description="5 非常满意 … 1 非常不满意")
    tags: list[RatingTag]
    comment: str
    unit: Unit
    channel: str = Field(description="miniprogram 小程序 | window 窗口评价器（平板）")
    channel_label: str
    rated_at: datetime


class RatingStatus(BaseModel):
    stage: str = Field(description="办结环节：licensed 发证 | refused 不予许可 | "
                                   "not_accepted 不予受理 | withdrawn 受理后撤回")
    stage_label: str
    closed_at: datetime
    rateable_until: datetime = Field(description="评价截止时间（办结后 RATING_WINDOW_DAYS 天）")
    rateable: bool = Field(description="现在可以评价（未评价且未过期）")
    reason: str | None = Field(description="不能评价的原因（已评价、已过期）")
    units: list[Unit] = Field(description="可评价的办理单位：窗口与各审批单位")
    default_unit: Unit = Field(description="未指定单位时评价针对的单位")
    rating: RatingOut | None = Field(description="已给出的评价")


class RatingCase(RatingStatus):
    application_id: int
    submission_number: str | None
    industry: dict[str, str]
    status: str
    status_label: str


class RatingCaseList(BaseModel):
    total: int
    cases: list[RatingCase]


class RatingCaseQuery(In):
    rateable_only: bool = Field(default=False, description="只列出现在可以评价的")


class RatingLevel(BaseModel):
    code: str
    score: int
    label: str
    opens_rectification: bool = Field(description="该等级转单位核实整改（不满意及以下）")
    tags: list[RatingTag] = Field(description="该等级可选的原因")


class RatingOptions(BaseModel):
    levels: list[RatingLevel]
    comment_max_length: int
    window_days: int = Field(description="办结后可评价的天数")


class ApplicationDetail(ApplicationSummary):
    version: int = Field(description="乐观锁版本号")
    catalog_version: int
    answers: dict[str, Any]
    deferred_materials: list[str]
    acceptance_number: str | None
    accepted_on: date | None
    supplement_notice: dict[str, Any] | None = Field(description="补正通知（一次性告知）")
    decision_reason: str | None
    items: list[ItemLane]
    inspection: InspectionOut | None
    post_checks: list[InspectionOut] = Field(
        description="告知承诺事项的事后核查（准予许可后若干工作日内）")
    evidence: dict[str, list[FileOut]] = Field(description="核查照片与整改材料")
    form: list[dict[str, Any]] = Field(
        description="合并后的申请表：分区、字段规则、服务事项与当前值（证件号、电话脱敏；"
                    "verified 为真表示该值是微信验证过的手机号；委托办理时含受托人分区 agent）")
    materials: list[MaterialStatus]
    missing: dict[str, list[dict[str, Any]]] = Field(description="提交前仍缺少的字段和材料")
    timeline: list[TimelineEvent]
    rating: RatingStatus | None = Field(
        description="好差评：办结后（发证、不予许可、不予受理、受理后撤回）可评价一次；"
                    "办理中为 null")


class CommitmentIn(In):
    text_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] = Field(
        description="所阅读承诺书全文的 SHA-256（事项的 commitment_offer.text_sha256）")
    signed: bool = Field(description="申请人确认已阅读并签署承诺书；false 不予接受")


class RescheduleIn(In):
    reason: free_text(500, multiline=True)


class RectificationIn(In):
    note: free_text(1000, required=False, multiline=True) = ""


class LicenseRequestIn(In):
    kind: Literal["change", "renewal", "replacement"] = Field(
        description="change 变更（经各审批单位审核）| renewal 延续 | replacement 补发")
    changes: dict[Literal["holder_name", "premises_address", "legal_rep_name"],
                  free_text(200)] = {}
    reason: free_text(500, required=False, multiline=True) = ""


class CancelIn(In):
    reason: free_text(500, multiline=True)


class ScanIn(In):
    scan: Annotated[str, StringConstraints(max_length=2048)] = Field(
        description="wx.scanCode 返回的 result 原文；也可为一个证照标识（1.2.156.3005.2.…，"
                    "如持证人在其他应用中出示的电子证照），格式或校验位不对时 422 "
                    "ELICENSE_ID_INVALID")


class ElicenseOut(BaseModel):
    """电子证照：证照标识（GB/T 36904）与全国统一的证照状态"""

    identifier: str = Field(description="证照标识：1.2.156.3005.2.类型代码.颁发机构代码.流水号."
                                        "版本号.校验位（ISO 7064 MOD 37,36）")
    version: str = Field(description="版本号，001 起；变更、延续后递增")
    previous_identifier: str | None = Field(description="上一版本的证照标识（首版为空）")
    status_code: str = Field(description="证照状态代码：01 有效 · 02 暂扣 · 03 撤销 · 04 注销 · "
                                         "05 失效 · 07 吊销 · 99 其他")
    status_label: str
    type_name: str = Field(description="证照类型名称")
    estimated: list[str] = Field(description="仍为占位、待赋码的代码：type_code（证照类型代码）、"
                                             "issuer_code（颁发机构代码）")


class HeldElicenseOut(BaseModel):
    """持证人的一张电子证照（行业综合许可证或其中一项许可）"""

    identifier: str = Field(description="证照标识（当前版本）")
    name: str = Field(description="证照名称")
    kind: Literal["combined", "permit"] = Field(description="combined 行业综合许可证 | permit "
                                                           "所含许可事项")
    item_code: str | None = Field(description="许可事项代码（综合许可证为空）")
    license_id: int
    license_no: str = Field(description="证照编号（印在证上）")
    version: str
    status_code: str = Field(description="01 有效 · 02 暂扣 · 03 撤销 · 04 注销 · 05 失效 · "
                                         "07 吊销")
    status_label: str
    valid_from: date
    valid_until: date | None = Field(description="有效期截止；为空表示长期")
    downloadable: bool = Field(description="可下载用证（仅状态为有效的当前版本）")


class PurposeOut(BaseModel):
    code: str
    label: str
    needs_text: bool = Field(description="须填写 purpose_text（“其他”）")


class HeldElicenseList(BaseModel):
    total: int
    elicenses: list[HeldElicenseOut]
    purposes: list[PurposeOut] = Field(description="下载时可选的用证事由")


class DownloadIn(In):
    purpose: Literal[tuple(elicense_downloads.PURPOSES)] = Field(
        description="用证事由：" + "，".join(f"{k} {v}" for k, v in
                                         elicense_downloads.PURPOSES.items()))
    purpose_text: free_text(100, required=False) | None = Field(
        default=None, description="用证事由为 other（其他）时必填，2至100字；其他事由不填")


class DownloadOut(BaseModel):
    identifier: str
    name: str = Field(description="证照名称")
    purpose: str
    purpose_label: str
    purpose_text: str | None
    url: str = Field(description="盖章 PDF 的下载链接（许可事项与综合许可证为同一文件："
                                 "各事项印于其上），短期有效，仅限本人")
    expires_at: datetime = Field(description="链接失效时间")
    file_sha256: str = Field(description="文件的 SHA-256，与省电子证照库所存一致")


class LicenseItemOut(BaseModel):
    code: str
    name: str
    sub_license_no: str
    approving_unit: Unit
    supervising_unit: Unit
    required: bool
    status: str = Field(description="本单位的决定：active | suspended | revoked")
    status_label: str
    status_reason: str | None
    valid_until: date | None
    verdict: str = Field(description="扫码所见的事项状态（含随综合许可证的变化）：valid | "
                                     "suspended | revoked | cancelled | expired | void（随证失效）")
    verdict_label: str = Field(description="有效 / 已暂停 / 已吊销 / 已注销 / 已过期 / 已失效")
    verdict_reason: str
    elicense: ElicenseOut | None = Field(description="本事项的电子证照")


class LicenseOut(BaseModel):
    id: int
    version: int = Field(description="证照版本；变更、延续、补发后递增")
    lock_version: int
    application_id: int
    license_no: str
    verdict: str
    verdict_label: str
    verdict_reason: str
    industry_category: str
    industry_name: str
    holder_name: str
    credit_code: str
    premises_address: str
    issuing_authority: str
    issued_on: date
    valid_until: date | None
    elicense: ElicenseOut | None = Field(description="行业综合许可证本身的电子证照")
    items: list[LicenseItemOut]
    image_url: str = Field(description="证照图片（PNG）短期签名链接")
    pdf_url: str | None = Field(description="打印用 PDF 短期签名链接")
    verify_url: str = Field(description="二维码内容（公开核验地址，含签名）")
    requests: list[dict[str, Any]]


class LicenseList(BaseModel):
    total: int
    licenses: list[LicenseOut]


class VerifyOut(BaseModel):
    verdict: str = Field(description="valid | suspended | revoked | cancelled | expired | invalid")
    verdict_label: str = Field(description="有效 / 已暂停 / 已吊销 / 已注销 / 已过期 / 无效")
    reason: str
    license_no: str | None = None
    identifier: str | None = Field(default=None, description="行业综合许可证的证照标识")
    scanned_version: int | None = None
    current_version: int | None = None
    superseded: bool | None = None
    industry: str | None = None
    holder_name: str | None = None
    premises_address: str | None = None
    issuing_authority: str | None = None
    issued_on: date | None = None
    valid_until: date | None = None
    credit_code: str | None = None
    acceptance_number: str | None = None
    last_inspection: dict[str, Any] | None = Field(
        default=None, description="联合现场核查的结论：{on 日期, outcome passed|failed, "
                                  "outcome_label}；无需现场核查为空")
    items: list[dict[str, Any]] = Field(
        default=[], description="每个许可事项：证照标识（elicense.identifier）、状态与有效期")
    inspections: list[dict[str, Any]] = []
