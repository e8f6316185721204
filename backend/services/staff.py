"""Staff accounts: roles bound to units, passwords hashed with argon2id."""

from __future__ import annotations

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import Conflict, RuleViolation
from backend.models import StaffAccount

ROLES = {
    "window_commissioner": "窗口服务专员",
    "unit_reviewer": "审批单位审核人员",
    "inspection_coordinator": "核查协调人",
    "inspector": "现场核查人员",
    "catalog_admin": "目录管理员",
    "system_admin": "系统管理员",
}
UNIT_BOUND_ROLES = {"unit_reviewer", "inspector"}

_hasher = PasswordHasher()

DEMO_ACCOUNTS = [
    ("window1", "窗口专员（演示）", "window_commissioner", None),
    ("market1", "市场监管审核员（演示）", "unit_reviewer", "market"),
    ("fire1", "消防审核员（演示）", "unit_reviewer", "fire"),
    ("coordinator1", "核查协调人（演示）", "inspection_coordinator", None),
    ("inspector1", "市场监管核查员（演示）", "inspector", "market"),
    ("catalog1", "目录管理员（演示）", "catalog_admin", None),
    ("admin1", "系统管理员（演示）", "system_admin", None),
]


def create(session: Session, *, username: str, display_name: str, role: str,
           unit_code: str | None, password: str) -> StaffAccount:
    if role not in ROLES:
        raise RuleViolation("STAFF_ROLE_UNKNOWN", f"未知角色：{role}", {"roles": sorted(ROLES)})
    if (role in UNIT_BOUND_ROLES) != bool(unit_code):
        raise RuleViolation("STAFF_UNIT_MISMATCH", "审核人员和核查人员须且仅须绑定一个单位")
    if len(password) < 10:
        raise RuleViolation("STAFF_PASSWORD_WEAK", "密码至少 10 位")
    if session.scalar(select(StaffAccount).where(StaffAccount.username == username)):
        raise Conflict("STAFF_USERNAME_TAKEN", f"用户名 {username} 已存在")
    account = StaffAccount(username=username, display_name=display_name, role=role,
                           unit_code=unit_code, password_hash=_hasher.hash(password))
    session.add(account)
    session.flush()
    return account


def ensure_demo_accounts(session: Session, *, password: str) -> list[StaffAccount]:
    """The demo staff of `make run`; existing ones are left as they are."""
    created = []
    for username, name, role, unit in DEMO_ACCOUNTS:
        if session.scalar(select(StaffAccount).where(StaffAccount.username == username)) is None:
            created.append(create(session, username=username, display_name=name, role=role,
                                  unit_code=unit, password=password))
    return created
