"""Staff accounts: roles bound to units, passwords hashed with argon2id, login with a
lockout, server-side tokens, and the one-time codes that bind an inspector's WeChat.

The lockout and lifetimes are constants, not settings: they are policy, not deployment.
"""

from __future__ import annotations

import functools
import re
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.clock import CHINA
from backend.errors import (
    Conflict,
    FieldsInvalid,
    NotFound,
    PermissionDenied,
    RuleViolation,
    Unauthorized,
)
from backend.identifiers import clean_text, normalize_identifier
from backend.models import StaffAccount, StaffBindingCode
from backend.models.base import utcnow
from backend.security import passwords, permissions, tokens
from backend.services import catalog, entity, pages

ROLES = {
    "window_commissioner": "窗口服务专员",
    "unit_reviewer": "审批单位审核人员",
    "inspection_coordinator": "核查协调人",
    "inspector": "现场核查人员",
    "catalog_admin": "目录管理员",
    "system_admin": "系统管理员",
}
UNIT_BOUND_ROLES = {"unit_reviewer", "inspector"}

MAX_FAILED_LOGINS = 5  # consecutive failures before the account locks
LOCKOUT = timedelta(minutes=15)
TOKEN_TTL_SECONDS = 12 * 3600  # one working day; then log in again
BINDING_CODE_TTL = timedelta(minutes=10)
BINDING_CODE_DIGITS = 8

_hasher = PasswordHasher()  # module-level so tests can swap in cheaper parameters

DEMO_PASSWORD = "demo-password-1"  # noqa: S105 - public (README): demo accounts only

# One rule on every database: SQLite compares bytes (LOCKME ≠ lockme), MariaDB's
# utf8mb4_unicode_ci folds case and accents (CASEY = casey, casé = case). Lower-case ASCII
# letters, digits and . _ - only, so both agree and a name reads the same everywhere.
USERNAME_PATTERN = re.compile(r"[a-z0-9._-]{3,32}")
DISPLAY_NAME_MAX = 64

DEMO_ACCOUNTS = [
    ("window1", "窗口专员（演示）", "window_commissioner", None),
    ("bureau1", "行政审批局审核员（演示）", "unit_reviewer", "approval_bureau"),
    ("fire1", "消防审核员（演示）", "unit_reviewer", "fire"),
    ("tobacco1", "烟草专卖审核员（演示）", "unit_reviewer", "tobacco"),
    ("coordinator1", "核查协调人（演示）", "inspection_coordinator", None),
    ("inspector1", "行政审批局核查员（演示）", "inspector", "approval_bureau"),
    ("inspector2", "消防核查员（演示）", "inspector", "fire"),
    ("inspector3", "烟草专卖核查员（演示）", "inspector", "tobacco"),
    ("catalog1", "目录管理员（演示）", "catalog_admin", None),
    ("admin1", "系统管理员（演示）", "system_admin", None),
]


def canonical_username(typed: str) -> str:
    """The username as stored and looked up: :func:`normalize_identifier` (pasted invisible
    characters and spaces out, full-width folded), then lower case — ``Window1`` is
    ``window1`` on SQLite and MariaDB alike."""
    return normalize_identifier(typed).lower()


def create(session: Session, *, username: str, display_name: str, role: str,
           unit_code: str | None, password: str, county_code: str | None = None
           ) -> StaffAccount:
    """A new account. Raises RuleViolation (422) STAFF_ROLE_UNKNOWN, STAFF_USERNAME_INVALID
    (3–32 of a–z 0–9 . _ - after :func:`canonical_username`), STAFF_DISPLAY_NAME_INVALID
    (1–64 characters of cleaned text, no control characters), STAFF_COUNTY_UNKNOWN (a
    ``county_code`` — county-level staff — that is no county of the divisions table),
    STAFF_UNIT_MISMATCH,
    STAFF_UNIT_UNKNOWN (not a unit of the catalog in force), STAFF_PASSWORD_WEAK
    (backend.security.passwords: zxcvbn, knowing the names, the service's words and the
    public demo password), or Conflict STAFF_USERNAME_TAKEN."""
    return _create(session, username=username, display_name=display_name, role=role,
                   unit_code=unit_code, password=password, demo=False,
                   county_code=county_code)


def ensure_demo_accounts(session: Session, *, password: str = DEMO_PASSWORD
                         ) -> list[StaffAccount]:
    """The demo staff of `make run`; existing ones are left as they are.

    Development only (`flask staff demo` refuses production): here the public demo
    password is the point, so only its strength is checked, not its publicity nor the
    service's words it is made of.
    """
    created = []
    for username, name, role, unit in DEMO_ACCOUNTS:
        if _by_username(session, username) is None:
            created.append(_create(session, username=username, display_name=name, role=role,
                                   unit_code=unit, password=password, demo=True))
    return created


def _create(session: Session, *, username: str, display_name: str, role: str,
            unit_code: str | None, password: str, demo: bool,
            county_code: str | None = None) -> StaffAccount:
    _known_role(role)
    if county_code is not None and county_code not in entity.load_divisions().counties:
        raise RuleViolation("STAFF_COUNTY_UNKNOWN", f"没有该县（市、区）：{county_code}")
    username = canonical_username(username)
    if not USERNAME_PATTERN.fullmatch(username):
        raise RuleViolation("STAFF_USERNAME_INVALID",
                            "用户名须为 3–32 个字符：小写英文字母、数字或 . _ -（大写按小写处理）",
                            {"pattern": USERNAME_PATTERN.pattern})
    display_name = clean_text(display_name)  # one line, no control or invisible characters
    if not 1 <= len(display_name) <= DISPLAY_NAME_MAX:
        raise RuleViolation("STAFF_DISPLAY_NAME_INVALID",
                            f"姓名须为 1–{DISPLAY_NAME_MAX} 个字符",
                            {"max_length": DISPLAY_NAME_MAX})
    unit_code, units = _role_unit(session, role, unit_code)
    _check_password(password, username=username, display_name=display_name, units=units,
                    demo=demo)
    if _by_username(session, username):
        raise Conflict("STAFF_USERNAME_TAKEN", f"用户名 {username} 已存在")
    account = StaffAccount(username=username, display_name=display_name, role=role,
                           unit_code=unit_code, county_code=county_code,
                           password_hash=_hasher.hash(password))
    session.add(account)
    session.flush()
    return account


def _known_role(role: str) -> None:
    if role not in ROLES:
        raise RuleViolation("STAFF_ROLE_UNKNOWN", f"未知角色：{role}", {"roles": sorted(ROLES)})


def _role_unit(session: Session, role: str, unit_code: str | None
               ) -> tuple[str | None, list[str]]:
    """The unit as stored for ``role`` (reviewers and inspectors: exactly one unit of the
    catalog in force; other roles: none), and the catalog's units."""
    unit_code = normalize_identifier(unit_code) if unit_code else None
    if (role in UNIT_BOUND_ROLES) != bool(unit_code):
        raise RuleViolation("STAFF_UNIT_MISMATCH", "审核人员和核查人员须且仅须绑定一个单位")
    units = _catalog_units(session, required=unit_code is not None)
    if unit_code is not None and unit_code not in units:
        raise RuleViolation("STAFF_UNIT_UNKNOWN", f"现行行业目录中没有单位：{unit_code}",
                            {"units": sorted(units)})
    return unit_code, units


def _check_password(password: str, *, username: str, display_name: str, units: list[str],
                    demo: bool = False) -> None:
    passwords.check(password, names=(username, display_name),
                    public=() if demo else (DEMO_PASSWORD,),
                    vocabulary=() if demo else (*passwords.SERVICE_WORDS, *ROLES, *units))


def _by_username(session: Session, username: str) -> StaffAccount | None:
    return session.scalar(select(StaffAccount).where(StaffAccount.username == username))


def _catalog_units(session: Session, *, required: bool) -> list[str]:
    """Unit codes of the catalog in force; none before a catalog is loaded, unless
    ``required`` (a unit-bound role), which then raises CATALOG_EMPTY."""
    try:
        return list(catalog.document_of(catalog.current_version(session)).units)
    except NotFound:  # CATALOG_EMPTY
        if required:
            raise
        return []


def unit_of(session: Session, staff: StaffAccount) -> dict[str, str] | None:
    """The staff member's unit as ``{code, name}`` (current catalog), or None for roles
    without one."""
    if staff.unit_code is None:
        return None
    return catalog.document_of(catalog.current_version(session)).unit_ref(staff.unit_code)


def authenticate(session: Session, *, username: str, password: str,
                 now: datetime | None = None) -> StaffAccount:
    """The account for these credentials. The caller commits even when this raises:
    the failure count is what the lockout stands on.

    Unknown user, wrong password, inactive and locked account (even with the right
    password) get one answer, ``STAFF_LOGIN_FAILED`` 401, after exactly one argon2
    verification each, so neither the answer nor its timing tells which usernames exist.
    Attempts while locked are not counted: the lock neither extends nor lifts.
    """
    now = now or utcnow()
    staff = _by_username(session, canonical_username(username))
    matches = _password_matches(_dummy_hash(_hasher) if staff is None else staff.password_hash,
                                password)
    if staff is None or (staff.locked_until is not None and staff.locked_until > now):
        raise _login_failed()
    if not matches or not staff.active:
        _count_failure(session, staff, now)
        raise _login_failed()
    staff.failed_logins = 0
    staff.locked_until = None
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = _hasher.hash(password)
    return staff


def change_password(session: Session, *, staff: StaffAccount, current: str, new: str,
                    repeated: str, now: datetime | None = None) -> tuple[str, datetime]:
    """The staff member's own new password; returns a fresh token for the session that
    changed it, every other session of the account ends (as a reset does).

    The current password is checked like a login's: a wrong one counts towards the lockout
    (the caller commits even when this raises; STAFF_CURRENT_PASSWORD_WRONG 422 on
    ``current_password``) and a locked account is refused as locked (STAFF_ACCOUNT_LOCKED:
    the person is signed in already, so saying so tells nothing a login would hide). The new
    one follows the strength rule of :func:`create` (STAFF_PASSWORD_WEAK) and must be typed
    twice alike.
    """
    now = now or utcnow()
    if staff.locked_until is not None and staff.locked_until > now:
        until = staff.locked_until.astimezone(CHINA)
        raise FieldsInvalid("STAFF_ACCOUNT_LOCKED", {"current_password": {
            "code": "STAFF_ACCOUNT_LOCKED",
            "message": f"当前密码连续输错，账号已锁定至 {until:%H:%M}，届时再试"}})
    if not _password_matches(staff.password_hash, current):
        _count_failure(session, staff, now)
        raise FieldsInvalid("STAFF_CURRENT_PASSWORD_WRONG", {"current_password": {
            "code": "STAFF_CURRENT_PASSWORD_WRONG",
            "message": f"当前密码不正确；连续失败 {MAX_FAILED_LOGINS} 次后账号锁定 "
                       f"{LOCKOUT.seconds // 60} 分钟"}})
    if new != repeated:
        raise FieldsInvalid("STAFF_PASSWORD_MISMATCH", {"repeat_password": {
            "code": "STAFF_PASSWORD_MISMATCH", "message": "两次输入的新密码不一致"}})
    if new == current:
        raise FieldsInvalid("STAFF_PASSWORD_UNCHANGED", {"new_password": {
            "code": "STAFF_PASSWORD_UNCHANGED", "message": "新密码不能与当前密码相同"}})
    try:
        _check_password(new, username=staff.username, display_name=staff.display_name,
                        units=_catalog_units(session, required=False))
    except RuleViolation as weak:
        raise FieldsInvalid(weak.code, {"new_password": {"code": weak.code,
                                                         "message": weak.message}},
                            details={k: v for k, v in weak.details.items()
                                     if k != "fields"}) from None
    staff.password_hash = _hasher.hash(new)
    staff.failed_logins, staff.locked_until = 0, None
    tokens.revoke_all(session, subject_kind="staff", subject_id=staff.id)
    return issue_token(session, staff)


def issue_token(session: Session, staff: StaffAccount) -> tuple[str, datetime]:
    return tokens.issue(session, subject_kind="staff", subject_id=staff.id,
                        ttl_seconds=TOKEN_TTL_SECONDS)


def staff_for_token(session: Session, raw: str) -> StaffAccount | None:
    """The active holder of ``raw``: deactivating an account ends its sessions at once."""
    token = tokens.resolve(session, raw, subject_kind="staff")
    return _active(session.get(StaffAccount, token.subject_id) if token else None)


def revoke_token(session: Session, raw: str) -> None:
    token = tokens.resolve(session, raw, subject_kind="staff")
    if token is not None:
        tokens.revoke(session, token)


def create_binding_code(session: Session, *, staff: StaffAccount) -> tuple[str, datetime]:
    """A one-time code that binds ``staff`` to the WeChat user who enters it.

    Only its SHA-256 is stored; it lives 10 minutes and replaces the staff's unused codes.
    """
    permissions.require(staff, "staff.binding_code")
    session.execute(delete(StaffBindingCode).where(StaffBindingCode.staff_id == staff.id,
                                                   StaffBindingCode.used_at.is_(None)))
    code, hashed = tokens.draw_code(session, StaffBindingCode.code_hash, BINDING_CODE_DIGITS)
    expires_at = utcnow() + BINDING_CODE_TTL
    session.add(StaffBindingCode(staff_id=staff.id, code_hash=hashed, expires_at=expires_at))
    return code, expires_at


def bind_wechat(session: Session, *, code: str, openid: str) -> StaffAccount:
    """Bind the WeChat user ``openid`` to the code's staff account; the code works once.

    Binding again (a new phone) replaces the account's earlier WeChat user.
    """
    now = utcnow()
    binding = session.scalar(select(StaffBindingCode)
                             .where(StaffBindingCode.code_hash == tokens.digest(code)))
    staff = _active(session.get(StaffAccount, binding.staff_id) if binding else None)
    if binding is None or staff is None or binding.used_at is not None \
            or binding.expires_at <= now:
        raise _binding_code_invalid()
    holder = session.scalar(select(StaffAccount).where(StaffAccount.wechat_openid == openid))
    if holder is not None and holder.id != staff.id:
        raise _already_bound()
    claimed = session.execute(update(StaffBindingCode)
                              .where(StaffBindingCode.id == binding.id,
                                     StaffBindingCode.used_at.is_(None))
                              .values(used_at=now))
    if claimed.rowcount != 1:  # a parallel bind used it first
        raise _binding_code_invalid()
    try:
        with session.begin_nested():  # the same WeChat user binding two accounts at once
            staff.wechat_openid = openid
    except IntegrityError:
        raise _already_bound() from None
    return staff


def staff_for_openid(session: Session, openid: str) -> StaffAccount | None:
    return _active(session.scalar(select(StaffAccount)
                                  .where(StaffAccount.wechat_openid == openid)))


def wechat_session(session: Session, *, openid: str) -> tuple[StaffAccount, str, datetime]:
    """A staff token for the WeChat user bound to an active account (inspectors on site)."""
    staff = staff_for_openid(session, openid)
    if staff is None:
        raise PermissionDenied("STAFF_NOT_BOUND", "该微信尚未绑定工作人员账号")
    return staff, *issue_token(session, staff)


def _active(staff: StaffAccount | None) -> StaffAccount | None:
    return staff if staff is not None and staff.active else None


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash with the current parameters, verified for unknown users to spend equal time."""
    return hasher.hash(secrets.token_urlsafe(16))


def _count_failure(session: Session, staff: StaffAccount, now: datetime) -> None:
    """Counted in SQL, so parallel guesses cannot share one count; the lock resets it."""
    staff.failed_logins = StaffAccount.failed_logins + 1
    session.flush()
    if staff.failed_logins >= MAX_FAILED_LOGINS:
        staff.locked_until = now + LOCKOUT
        staff.failed_logins = 0


def _login_failed() -> Unauthorized:
    return Unauthorized("STAFF_LOGIN_FAILED",
                        f"用户名或密码错误；连续失败 {MAX_FAILED_LOGINS} 次后账号锁定 "
                        f"{LOCKOUT.seconds // 60} 分钟")


def _binding_code_invalid() -> RuleViolation:
    return RuleViolation("STAFF_BINDING_CODE_INVALID", "绑定码无效、已使用或已过期，请重新获取")


def _already_bound() -> Conflict:
    return Conflict("STAFF_WECHAT_ALREADY_BOUND", "该微信已绑定其他工作人员账号")


# --- system administrators: the accounts of everyone else ---------------------------------------

RESET_PASSWORD_BYTES = 12  # 16 URL-safe characters, ~96 bits: shown once, changed by hand


def list_accounts(session: Session, *, staff: StaffAccount, page: int, per_page: int
                  ) -> tuple[list[StaffAccount], int]:
    """Every account, by username."""
    permissions.require(staff, "staff.manage")
    return pages.page(session, select(StaffAccount), StaffAccount.username, page=page,
                      per_page=per_page)


def create_account(session: Session, *, staff: StaffAccount, username: str, display_name: str,
                   role: str, unit_code: str | None, password: str,
                   county_code: str | None = None) -> StaffAccount:
    """:func:`create` by a system administrator (same checks, same errors)."""
    permissions.require(staff, "staff.manage")
    return create(session, username=username, display_name=display_name, role=role,
                  unit_code=unit_code, password=password, county_code=county_code)


def _other_account(session: Session, staff: StaffAccount, account_id: int) -> StaffAccount:
    """An account an administrator may change: any but their own (no one locks themselves
    out, or grants themselves a role)."""
    permissions.require(staff, "staff.manage")
    account = session.get(StaffAccount, account_id)
    if account is None:
        raise NotFound("STAFF_NOT_FOUND", "工作人员账号不存在", {"id": account_id})
    if account.id == staff.id:
        raise Conflict("STAFF_SELF_CHANGE",
                       "不能停用、重置或更改自己的账号，请由另一位系统管理员办理")
    return account


def set_active(session: Session, *, staff: StaffAccount, account_id: int, active: bool
               ) -> StaffAccount:
    """Disable (every session of the account ends: :func:`staff_for_token` honours only
    active accounts, and its tokens are revoked) or enable again (the lockout cleared)."""
    account = _other_account(session, staff, account_id)
    account.active = active
    if active:
        account.failed_logins, account.locked_until = 0, None
    else:
        tokens.revoke_all(session, subject_kind="staff", subject_id=account.id)
    return account


def reset_password(session: Session, *, staff: StaffAccount, account_id: int
                   ) -> tuple[StaffAccount, str]:
    """A new random password for the account, returned to be shown ONCE (only its hash is
    kept); its sessions end and its lockout is cleared."""
    account = _other_account(session, staff, account_id)
    password = secrets.token_urlsafe(RESET_PASSWORD_BYTES)
    _check_password(password, username=account.username, display_name=account.display_name,
                    units=_catalog_units(session, required=False))
    account.password_hash = _hasher.hash(password)
    account.failed_logins, account.locked_until = 0, None
    tokens.revoke_all(session, subject_kind="staff", subject_id=account.id)
    return account, password


def change_role(session: Session, *, staff: StaffAccount, account_id: int, role: str,
                unit_code: str | None) -> StaffAccount:
    """Another role and unit (the unit rule of :func:`create`); the account's sessions end,
    so its next sign-in sees only what the new role may do."""
    account = _other_account(session, staff, account_id)
    _known_role(role)
    account.unit_code, _ = _role_unit(session, role, unit_code)
    account.role = role
    tokens.revoke_all(session, subject_kind="staff", subject_id=account.id)
    return account
