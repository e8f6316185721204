"""Request and response bodies of the staff API (pydantic → OpenAPI at /openapi.json)."""

from __future__ import annotations

from datetime import date as date_type
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from backend.api_types import DbId, Page, PerPage, Unit, Version, free_text
from backend.identifiers import AS_IDENTIFIER
from backend.services import calendar
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
