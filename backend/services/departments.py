"""Supervising departments as receivers (谁审批谁负责，谁主管谁监管).

Configuration is a table (``department_endpoints``), kept by a system administrator through
``PUT /api/staff/v1/notifications/departments/{code}``: the department code is a unit of the
current catalog; the URL is where signed webhooks go (https in production; empty = pull only).
A signing secret and an API key are generated on creation (and on request), shown ONCE in
that answer and never again: the secret is stored sealed (we must sign with it), the key only
as its SHA-256 (we only compare).

The pull feed (``GET /api/dept/…`` see ``staff_api.notifications``) lists the
department's records after a cursor (the record's id), oldest first. A record becomes
visible to the feed NOTIFY_FEED_SETTLE_SECONDS after it was written: ids are allocated at
insert but transactions commit in any order, and a reader that moved its cursor past a
still-uncommitted lower id would skip it for ever; no request transaction lasts that long.
Nothing here commits.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import NotFound, RuleViolation
from backend.models import StaffAccount
from backend.models.base import utcnow
from backend.models.notifications import DepartmentEndpoint, DepartmentRecord
from backend.security import addresses, permissions, tokens
from backend.security import secrets as sealed
from backend.services import catalog

FEED_MAX = 200


def units(session: Session) -> dict[str, str]:
    """Department codes (catalog units of the current version) and their names."""
    document = catalog.document_of(catalog.current_version(session))
    return {code: unit.name for code, unit in document.units.items()}


def list_endpoints(session: Session, *, staff: StaffAccount) -> list[dict]:
    permissions.require(staff, "notifications.admin")
    rows = {e.department_code: e for e in session.scalars(select(DepartmentEndpoint))}
    return [{"code": code, "name": name, "configured": code in rows,
             "url": rows[code].url if code in rows else None,
             "active": rows[code].active if code in rows else False,
             "updated_at": rows[code].updated_at if code in rows else None,
             "updated_by": rows[code].updated_by if code in rows else None}
            for code, name in units(session).items()]


def configure(session: Session, *, staff: StaffAccount, code: str, url: str | None,
              active: bool, rotate_secret: bool, rotate_api_key: bool, secret_key: str,
              production: bool, allow_private: bool = False,
              ) -> tuple[DepartmentEndpoint, dict[str, str]]:
    """Create or change a department's endpoint; returns it and any newly generated
    credentials ({"secret": …, "api_key": …}), which are shown only this once."""
    permissions.require(staff, "notifications.admin")
    if code not in units(session):
        raise NotFound("DEPARTMENT_NOT_FOUND", "目录中没有该单位", {"code": code})
    url = (url or "").strip() or None
    if url is not None:
        parts = urlsplit(url)
        allowed = {"https"} if production else {"https", "http"}
        if parts.scheme not in allowed or not parts.hostname:
            raise RuleViolation("DEPARTMENT_URL_INVALID",
                                "推送地址须为 https:// 开头的完整网址" if production
                                else "推送地址须为 http(s):// 开头的完整网址", {"url": url})
        if not allow_private:
            _refuse_non_public(url)
    endpoint = session.scalar(select(DepartmentEndpoint).where(
        DepartmentEndpoint.department_code == code))
    issued: dict[str, str] = {}
    if endpoint is None:
        endpoint = DepartmentEndpoint(department_code=code)
        session.add(endpoint)
        rotate_secret = rotate_api_key = True
    if rotate_secret:
        issued["secret"] = secrets.token_urlsafe(32)
        endpoint.secret_sealed = sealed.seal(secret_key, issued["secret"])
    if rotate_api_key:
        issued["api_key"] = "dk_" + secrets.token_urlsafe(32)
        endpoint.api_key_hash = tokens.digest(issued["api_key"])
    endpoint.url, endpoint.active, endpoint.updated_by = url, active, staff.username
    endpoint.updated_at = utcnow()
    return endpoint, issued


def _refuse_non_public(url: str) -> None:
    """No webhook into our own network (backend/security/addresses.py; checked again at
    every send, since DNS changes)."""
    try:
        addresses.check_url(url)
    except addresses.Unresolvable:
        raise RuleViolation("DEPARTMENT_URL_UNRESOLVABLE", "推送地址的域名无法解析，请核对",
                            {"url": url}) from None
    except addresses.ForbiddenAddress as error:
        raise RuleViolation("DEPARTMENT_URL_FORBIDDEN",
                            f"推送地址不能指向{error.kind}（{error.address}），须为公网地址",
                            {"url": url, "address": error.address}) from None


def department_for_key(session: Session, raw: str) -> DepartmentEndpoint | None:
    """The active department holding this API key, or None."""
    if not raw or len(raw) > 128:
        return None
    endpoint = session.scalar(select(DepartmentEndpoint).where(
        DepartmentEndpoint.api_key_hash == tokens.digest(raw)))
    return endpoint if endpoint is not None and endpoint.active else None


def feed(session: Session, *, department: DepartmentEndpoint, after: int, limit: int,
         settle_seconds: float) -> tuple[list[DepartmentRecord], int, bool]:
    """Records after the cursor, oldest first: (records, next cursor, more waiting)."""
    limit = max(1, min(limit, FEED_MAX))
    settled = utcnow() - timedelta(seconds=settle_seconds)
    rows = list(session.scalars(
        select(DepartmentRecord)
        .where(DepartmentRecord.department_code == department.department_code,
               DepartmentRecord.id > after)
        .order_by(DepartmentRecord.id).limit(limit + 1)))
    # stop at the first record too young to be sure nothing below it is still uncommitted
    fresh = next((n for n, r in enumerate(rows) if r.created_at > settled), len(rows))
    more = len(rows) > limit or fresh < len(rows)
    rows = rows[:min(limit, fresh)]
    return rows, (rows[-1].id if rows else after), more
