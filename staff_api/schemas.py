"""Request and response bodies of the staff API (pydantic → OpenAPI at /openapi.json)."""

from __future__ import annotations

from datetime import date as date_type
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from backend.api_types import DbId, Page, PerPage, Unit, Version, free_text
from backend.identifiers import AS_IDENTIFIER
from backend.services import calendar, rectifications
from backend.workflow import InspectionState, ItemState, State


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StaffLoginIn(In):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64), AS_IDENTIFIER]
    # bounded: argon2 hashes whatever arrives
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class StaffOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    role_label: str = Field(description="角色的中文名称")
    unit: Unit | None = Field(description="审核、核查人员所属单位；其他角色为空")


class StaffTokenOut(BaseModel):
    token: str = Field(description="Bearer 令牌，放在 Authorization 头")
    token_type: str = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_at: datetime
    staff: StaffOut


class BindingCodeOut(BaseModel):
    code: str = Field(description="8 位数字，在小程序“绑定工作人员账号”中输入；一次有效")
    expires_at: datetime


class PasswordChangeIn(In):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    new_password: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        description="至少 10 位，不易猜测（不含用户名、姓名、本系统常用词）")
    repeat_password: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        description="再次输入新密码")


class BindingCodeIn(In):
    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{8}$"), AS_IDENTIFIER] = Field(
        description="工作人员接口 POST /auth/binding-code 得到的 8 位绑定码")


class WalkInIn(In):
    """帮办代办: who came to the window and how their identity was checked in person."""

    industry: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    person_name: free_text(50) = Field(description="到场办理人姓名")
    id_document: Annotated[str, StringConstraints(min_length=1, max_length=32)] = Field(
        description="当面核验的证件类型（backend.services.assisted.ID_DOCUMENTS）")
    id_number: Annotated[str, StringConstraints(min_length=1, max_length=32)] = Field(
        description="证件号码；只保存脱敏后的号码")
    identity_checked: bool = Field(False, description="已当面核验证件原件")


# --- the case work: queues, acceptance, review, inspection -----------------------------------

Reason = free_text(1000, multiline=True)
Short = free_text(1000, required=False, multiline=True)


# Every enumerated query parameter is its enum: an unknown value is 422, not an empty list.
class PageQuery(In):
    page: Page = 1
    per_page: PerPage = 20


class ApplicationQuery(PageQuery):
    status: State | None = Field(default=None, description="默认 submitted（待受理）")
    clock: Literal["due_soon", "overdue"] | None = Field(
        default=None, description="按办理时限筛选：有事项临期或超期的在办申请（忽略 status）")
    industry: Annotated[str, StringConstraints(max_length=64)] | None = None


class ReviewQuery(PageQuery):
    status: ItemState | None = Field(default=None, description="默认 under_review（待审查）")


class InspectionQuery(PageQuery):
    status: InspectionState | None = None
    kind: Literal["joint", "post_check"] | None = Field(
        default=None, description="joint 联合现场核查 | post_check 告知承诺事后核查")
    overdue: bool = Field(default=False, description="只列出已过期限仍未办结的事后核查")


class ClockQuery(In):
    state: Literal["on_time", "due_soon", "overdue", "paused"] | None = None


class Versioned(In):
    version: Version = Field(description="客户端看到的版本号（乐观锁）；已被他人更新则 409")


class AcceptIn(Versioned):
    note: Short = ""


class SupplementDemand(In):
    subject: free_text(100) = Field(
        description="需补正的材料或字段名称")
    demand: Reason


class SupplementsIn(Versioned):
    demands: list[SupplementDemand] = Field(min_length=1, max_length=50)
    note: Short = ""


class SupplementCodesIn(Versioned):
    """补正 by picking the application's own fields and materials (the console's checkboxes)."""

    fields: list[Annotated[str, StringConstraints(max_length=64)]] = Field(default=[],
                                                                           max_length=100)
    materials: list[Annotated[str, StringConstraints(max_length=64)]] = Field(default=[],
                                                                              max_length=100)
    note: Short = ""


class ReasonIn(Versioned):
    reason: Reason


class OpinionIn(Versioned):
    opinion: Reason = Field(description="审查意见；不予许可时写明理由和法律依据")


class CommitmentApprovalIn(Versioned):
    opinion: Short = Field(default="", description="审查意见；可空，默认“申请人已签署告知承诺书，"
                                                   "当场准予许可，实行事后核查”")


class ScheduleIn(Versioned):
    date: date_type
    window: Annotated[str, StringConstraints(max_length=11)] = Field(description="如 09:00-11:00")
    address: free_text(300)
    # no minimum: an empty or partial team is answered by naming the units still uncovered
    team: list[DbId] = Field(max_length=20, description="核查人员账号 id，每个相关单位至少一人")


class ResultIn(In):
    item_code: Annotated[str, StringConstraints(max_length=64)]
    result: Literal["pass", "rectify", "fail"]
    notes: Short = ""
    demands: list[Reason] = Field(default=[], max_length=30)
    photos: list[Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]] = Field(
        default=[], max_length=30, description="核查照片的 sha256（先上传）")
    confirmed_materials: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default=[], max_length=50, description="现场确认的容缺材料代码")


class ConcludeIn(Versioned):
    deadline: date_type | None = Field(default=None, description="需整改时：整改期限")
    recheck_mode: Literal["onsite", "photos"] | None = None


class PhotoReviewIn(Versioned):
    passed: bool
    notes: Short = ""


class ApplicationPage(BaseModel):
    total: int
    page: int
    per_page: int
    applications: list[dict[str, Any]]


class ReviewTask(BaseModel):
    id: int
    version: int
    application_id: int
    submission_number: str | None
    acceptance_number: str | None
    item_code: str
    item_name: str
    status: str
    due_on: date_type | None
    remaining_working_days: int | None
    clock: str
    commitment_offered: bool = Field(description="目录允许该事项告知承诺")
    commitment: dict[str, Any] | None = Field(
        description="申请人签署的告知承诺（文本版本、时间、签署人）及事后核查；未选择为 null")


class ReviewPage(BaseModel):
    total: int
    page: int
    per_page: int
    reviews: list[ReviewTask]


class InspectionPage(BaseModel):
    total: int
    page: int
    per_page: int
    inspections: list[dict[str, Any]]


class PhotoOut(BaseModel):
    sha256: str
    url: str
    thumbnail_url: str | None


class ClockEntry(ReviewTask):
    unit: Unit = Field(description="审批单位")


class ClockList(BaseModel):
    total: int
    tasks: list[ClockEntry]


class CalendarQuery(In):
    year: int = Field(ge=calendar.FIRST_YEAR, le=calendar.LAST_YEAR)


class CalendarDayIn(In):
    is_workday: bool = Field(description="true：调休上班；false：放假")
    name: free_text(64) = Field(description="如 元旦、春节调休上班")


class CalendarDayOut(BaseModel):
    day: date_type
    is_workday: bool
    name: str
    source: str
    updated_by: str


class CalendarYear(BaseModel):
    year: int
    provisional: bool = Field(description="该年安排尚未录入，按周一至周五推算")
    days: list[CalendarDayOut]


class RequestDecisionIn(Versioned):
    approve: bool
    opinion: Reason


class ItemStatusIn(Versioned):
    reason: Reason


class RequestList(BaseModel):
    total: int
    requests: list[dict[str, Any]]


class DownloadRecordOut(BaseModel):
    id: int
    at: datetime = Field(description="下载时间")
    identifier: str = Field(description="所下载版本的证照标识")
    name: str = Field(description="证照名称")
    item_code: str | None = Field(description="许可事项代码（行业综合许可证为空）")
    applicant_id: int = Field(description="下载的持证人（小程序用户）")
    purpose: str = Field(description="用证事由代码")
    purpose_label: str
    purpose_text: str | None = Field(description="用证事由为“其他”时持证人的说明")
    client_address: str | None = Field(description="客户端地址")
    expires_at: datetime = Field(description="下载链接失效时间")


class DownloadRecordList(BaseModel):
    total: int
    downloads: list[DownloadRecordOut]


class VersionQuery(In):
    version: Version | None = None


class CatalogVersions(BaseModel):
    versions: list[dict[str, Any]]


class CatalogEstimates(BaseModel):
    catalog_version: int
    permit_items: list[dict[str, Any]]
    industries: list[dict[str, Any]]
    elicense_types: list[dict[str, Any]] = Field(
        description="仍为占位的电子证照类型代码（GB/T 36904）：code 为 combined_license"
                    "（行业综合许可证）或许可事项代码，type_code 为21位证照类型代码")
    commitments: list[dict[str, Any]] = Field(
        description="仍为估计的告知承诺书文本和事后核查时限：code 为许可事项代码")


# --- 差评整改 (backend/services/rectifications.py) -------------------------------------------


class RectificationQuery(PageQuery):
    view: Literal["open", "overdue", "closed"] | None = Field(
        default=None, description="open 未办结（默认，超期的在前）| overdue 已超期 | closed 已办结")


class VerifyIn(Versioned):
    founded: bool = Field(description="反映的问题是否属实")
    notes: Reason = Field(description="核实情况（属实的写明整改措施；不属实的写明依据）")


class FollowUpIn(Versioned):
    contacted_at: datetime = Field(
        description="回访时间（不早于评价、不晚于现在）；不带时区的按北京时间")
    method: Literal[tuple(rectifications.CONTACT_METHODS)] = Field(
        description="phone 电话 | sms 短信 | wechat 微信 | visit 上门 | window 窗口当面")
    applicant_said: Reason = Field(description="申请人的意见")
    satisfied: bool = Field(description="申请人对处理结果是否满意")


class CloseIn(Versioned):
    note: Short = ""


class RectificationRating(BaseModel):
    level: str
    level_label: str
    stage_label: str
    tags: list[dict[str, str]]
    comment: str
    channel_label: str
    rated_at: datetime


class RectificationOut(BaseModel):
    id: int
    version: int = Field(description="乐观锁版本号，操作时回传")
    status: str = Field(description="open 待核实 | verified 已核实 | followed_up 已回访 | "
                                    "closed 已办结")
    status_label: str
    unit: Unit
    application_id: int
    submission_number: str | None
    acceptance_number: str | None
    industry: dict[str, str]
    entity_name: str | None
    rating: RectificationRating
    opened_at: datetime
    due_on: date_type = Field(description="办结期限（RECTIFICATION_WORKING_DAYS 个工作日）")
    remaining_working_days: int | None = Field(description="剩余工作日；负数为超期；办结后为空")
    overdue: bool
    closed_late: bool = Field(description="办结时已超过期限")


class RectificationPage(BaseModel):
    total: int
    page: int
    per_page: int
    tasks: list[RectificationOut]


class RectificationDetail(RectificationOut):
    contact: dict[str, str | None] = Field(
        description="回访对象：法定代表人姓名与联系电话（本单位审核人员可见全号，其他人脱敏）")
    verification: dict[str, Any] | None
    follow_up: dict[str, Any] | None
    closing: dict[str, Any] | None
    actions: list[str] = Field(description="当前可执行的操作：verify | follow_up | close")
    history: list[dict[str, Any]] = Field(description="经办记录（谁、何时、做了什么）")


# --- statistics (backend.services.statistics) ------------------------------------------------


class StatisticsQuery(In):
    period: Literal["day", "month", "year", "range"] = Field(
        default="month", description="统计期间：日、月、年，或起止日期（range）；按北京时间")
    day: date_type | None = Field(default=None, description="period=day：该日，默认今天")
    month: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")] | None = \
        Field(default=None, description="period=month：YYYY-MM，默认本月")
    year: int | None = Field(default=None, ge=calendar.FIRST_YEAR, le=calendar.LAST_YEAR,
                             description="period=year：该年，默认本年")
    since: date_type | None = Field(default=None, description="period=range：开始日期（含）")
    until: date_type | None = Field(default=None,
                                    description="period=range：结束日期（含），最长三年")
    group_by: Literal["unit", "county", "industry", "province"] = Field(
        default="unit", description="分组：审批单位、县（市、区）、行业或全省")
    unit: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="只统计该审批单位（管理员可选；审核人员只能是本单位）")


class PeriodOut(BaseModel):
    kind: str
    first: date_type = Field(description="第一天（北京时间）")
    last: date_type = Field(description="最后一天（含）")
    label: str


class SpreadOut(BaseModel):
    count: int
    average: float | None = Field(description="平均工作日，保留两位小数")
    p90: int | None = Field(description="90% 分位（最近秩）")


class ApplicationCounts(BaseModel):
    received: int = Field(description="收件：期间内首次提交的申请")
    accepted: int = Field(description="受理")
    licensed: int = Field(description="发证")
    refused: int = Field(description="不予许可")
    not_accepted: int = Field(description="不予受理")
    withdrawn: int = Field(description="提交后撤回")


class LicenseTimeOut(BaseModel):
    days: SpreadOut = Field(description="受理至发证的工作日（扣除整改暂停）")
    promised_limit_average: float | None = Field(description="平均承诺时限（最长事项）")
    legal_limit_average: float | None = Field(description="平均法定时限（最长事项）")
    within_promised: int = Field(description="承诺时限内发证的件数")


class ItemsOut(BaseModel):
    decided: int = Field(description="审批单位期间内办结（准予或不予许可）的事项")
    late: int = Field(description="超过办结期限的事项")
    late_share: float | None
    days: SpreadOut
    promised_average: float | None
    legal_average: float | None


class WindowOut(BaseModel):
    closed: int = Field(description="窗口办结：受理、不予受理、提交后撤回")
    with_supplements: int = Field(description="其中经过补正的")
    supplement_share: float | None
    deferred_cases: int = Field(description="容缺受理的件数")
    deferred_materials: int = Field(description="容缺的材料份数")
    deferred_share: float | None = Field(description="容缺受理件数 ÷ 受理件数")


class InspectionsOut(BaseModel):
    concluded: int = Field(description="办结（通过或未通过）的联合现场核查")
    passed_first_visit: int = Field(description="首次核查即通过（无整改）")
    first_visit_pass_rate: float | None


class CommitmentsOut(BaseModel):
    approved: int = Field(description="告知承诺当场准予许可的事项数")
    post_check_passed: int = Field(description="期间内事后核查通过（承诺属实）")
    post_check_failed: int = Field(description="期间内事后核查未通过（承诺不实，撤销许可）")
    post_check_pending: int = Field(description="期间内承诺即批、事后核查尚未办结的事项")


class DividendOut(BaseModel):
    cases: int = Field(description="期间内发证的件数")
    trips_average: float | None = Field(description="平均跑窗口次数（帮办代办到场的天数）")
    online_cases: int = Field(description="全程网办（零跑腿）的件数")
    materials_average: float | None = Field(description="平均提交材料（份，共享材料只交一次）")
    separate_materials_average: float | None = Field(
        description="各许可分别办理时需提交材料之和的平均")
    working_days_average: float | None
    legal_days_sum_average: float | None = Field(description="各事项法定时限之和的平均")
    working_days_saved_average: float | None


class RatingsOut(BaseModel):
    rated: int
    dissatisfied: int = Field(description="不满意及非常不满意")
    dissatisfied_share: float | None
    rectification_tasks: int
    rectification_overdue: int


class StatisticsRow(BaseModel):
    key: str = Field(description="分组代码：单位代码、县级区划代码、行业代码或 all")
    name: str
    applications: ApplicationCounts
    license_time: LicenseTimeOut
    items: ItemsOut
    window: WindowOut
    inspections: InspectionsOut
    commitments: CommitmentsOut
    dividend: DividendOut
    ratings: RatingsOut | None = Field(description="好差评；评价数据未接入时为空")


class StatisticsOut(BaseModel):
    period: PeriodOut
    group_by: str
    unit: Unit | None = Field(description="统计限定的审批单位（审核人员为本单位）")
    rows: list[StatisticsRow]
    total: StatisticsRow = Field(description="合计（按单位分组时每件申请只计一次）")


class LowVolumeQuery(In):
    year: int | None = Field(default=None, ge=calendar.FIRST_YEAR, le=calendar.LAST_YEAR,
                             description="统计年度；默认截至今天的近一年")


class IndustryVolumeOut(BaseModel):
    code: str
    name: str
    category: str
    flagged: bool = Field(description="收件少于门槛，建议评估是否调整出目录")
    figures: StatisticsRow


class LowVolumeOut(BaseModel):
    period: PeriodOut
    threshold: int = Field(description="STATISTICS_LOW_VOLUME_CASES：一年收件少于此数即标记")
    industries: list[IndustryVolumeOut]
