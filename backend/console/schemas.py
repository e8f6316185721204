"""Request and response bodies of the staff API (pydantic → OpenAPI at /openapi.json)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StaffLoginIn(In):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64,
                                               strip_whitespace=True)]
    # bounded: argon2 hashes whatever arrives
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class StaffOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    role_label: str = Field(description="角色的中文名称")
    unit_code: str | None = Field(description="审核、核查人员所属单位；其他角色为空")


class StaffTokenOut(BaseModel):
    token: str = Field(description="Bearer 令牌，放在 Authorization 头")
    token_type: str = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_at: datetime
    staff: StaffOut


class BindingCodeOut(BaseModel):
    code: str = Field(description="8 位数字，在小程序“绑定工作人员账号”中输入；一次有效")
    expires_at: datetime


class BindingCodeIn(In):
    code: Annotated[str, StringConstraints(pattern=r"^\d{8}$", strip_whitespace=True)] = Field(
        description="工作人员接口 POST /auth/binding-code 得到的 8 位绑定码")
