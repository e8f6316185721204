"""Verifying a license QR: the signature first (a forged or altered code never reaches the
database), then the license's CURRENT state, so a revoked license shows revoked at the next
scan. Valid answers are cached in Redis; every change invalidates them after commit.

The public sees only what a shop shows anyway (name, address, permits); inspectors, signed
in, see everything the QR covers, including the inspection history.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import redis as redis_lib
from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from backend import clock
from backend.models import Application, License
from backend.security import signatures
from backend.services import licenses

log = logging.getLogger(__name__)
CACHE_PREFIX = "license:public"


@dataclass(frozen=True)
class Result:
    code: str  # valid | suspended | revoked | cancelled | expired | invalid
    label: str  # 有效 / 已暂停 / 已吊销 / 已注销 / 已过期 / 无效
    reason: str
    license: License | licenses.PublicLicense | None = None
    scanned_version: int | None = None


def _invalid(reason: str) -> Result:
    return Result("invalid", "无效", reason)


MALFORMED = _invalid("不是行业综合许可证的二维码，或二维码内容不完整")


def check(session: Session, *, code: signatures.ParsedScan | None,
          keyring: signatures.Keyring, today: date | None = None,
          load: Callable[[Session, str], License | licenses.PublicLicense | None]
          = licenses.by_number) -> Result:
    """The verdict on a code read by ``signatures.parse_code`` (None: it was malformed), on
    the license as ``load`` reads it (the public path reads only what it shows)."""
    if code is None:
        return MALFORMED
    if not code.verified_by(keyring):
        log.warning("license signature refused", extra={"license_no": code.license_no[:32],
                                                        "kid": code.kid[:16]})
        return _invalid("二维码签名无效：可能是伪造或被篡改的许可证")
    license_ = load(session, code.license_no)
    if license_ is None or code.version > license_.version:
        return _invalid("查无此证")
    verdict_code, label, reason = licenses.verdict(license_, today)
    return Result(verdict_code, label, reason, license_, code.version)


def check_scan(session: Session, *, scan: str, keyring: signatures.Keyring, base_url: str,
               ) -> Result:
    """What wx.scanCode returned, verbatim: our signed URL or anything else."""
    return check(session, code=signatures.parse_verify_url(scan, base_url=base_url),
                 keyring=keyring)


def public_view(result: Result) -> dict[str, Any]:
    """Only non-sensitive fields: no ID, phone or legal representative."""
    body: dict[str, Any] = {"verdict": result.code, "verdict_label": result.label,
                            "reason": result.reason}
    license_ = result.license
    if license_ is None:
        return body
    return body | {
        "license_no": license_.license_no,
        "scanned_version": result.scanned_version, "current_version": license_.version,
        "superseded": result.scanned_version != license_.version,
        "industry": f"{license_.industry_category}（{license_.industry_name}）",
        "holder_name": license_.holder_name, "premises_address": license_.premises_address,
        "issuing_authority": license_.issuing_authority,
        "issued_on": license_.issued_on.isoformat(),
        "valid_until": license_.valid_until.isoformat() if license_.valid_until else None,
        "items": [{"name": i.item_name, "status": i.status,
                   "status_label": licenses.ITEM_STATUS_LABELS[i.status],
                   "valid_until": i.valid_until.isoformat() if i.valid_until else None}
                  for i in license_.items],
    }


def full_view(session: Session, result: Result) -> dict[str, Any]:
    """For inspectors in the field: every bundled permit, the holder, the inspections."""
    body = public_view(result)
    license_ = result.license
    if license_ is None:
        return body
    application = session.get(Application, license_.application_id)
    inspection = application.inspection
    return body | {
        "credit_code": license_.credit_code,
        "acceptance_number": application.acceptance_number,
        "items": [licenses.item_view(i) for i in license_.items],
        "inspections": [] if inspection is None else [{
            "scheduled_on": inspection.scheduled_on.isoformat()
            if inspection.scheduled_on else None,
            "outcome": inspection.outcome,
            "results": [{"round": r.round, "item_code": r.item_code, "result": r.result,
                         "notes": r.notes} for r in inspection.results],
        }],
    }


def cache_key(code: signatures.ParsedScan | None) -> str | None:
    """Where the public verdict on exactly this signed code is cached (None: malformed).

    The key holds the whole signed code, so a hit means exactly this code was verified
    before: the signature check is skipped only for a byte-identical code (a retired key's
    codes then live out the cache TTL at most)."""
    if code is None:
        return None
    return f"{CACHE_PREFIX}:{code.license_no}:{code.version}:{code.kid}:{code.sig}"


def public(session: Session, cache: redis_lib.Redis | None, *,
           code: signatures.ParsedScan | None, cached: bytes | None,
           keyring: signatures.Keyring, ttl: int) -> dict[str, Any]:
    """The public verdict: ``cached`` (what Redis holds at ``cache_key(code)``, read by the
    caller in the round trip that counts the request) while still in force, else from the
    database, written to ``cache`` when valid."""
    if code is None:
        return public_view(MALFORMED)
    body = json.loads(cached) if cached else None
    if body is not None and (body["valid_until"] is None
                             or date.fromisoformat(body["valid_until"]) >= clock.today()):
        return body
    body = public_view(check(session, code=code, keyring=keyring, load=licenses.public_by_number))
    if body["verdict"] == "valid" and cache is not None:
        _cache_set(cache, cache_key(code), body, ttl)
    return body


def _cache_set(cache: redis_lib.Redis, key: str, body: dict[str, Any], ttl: int) -> None:
    try:
        cache.set(key, json.dumps(body, ensure_ascii=False), ex=ttl)
    except redis_lib.RedisError:
        log.warning("license cache write failed", extra={"key": key})


@event.listens_for(Session, "after_commit")
def _drop_changed(session: Session) -> None:
    """After every commit that changed a license, drop its cached verdicts (all versions)."""
    changed = session.info.pop(licenses.CHANGED, None)
    cache = current_app.extensions.get("redis") if changed and has_app_context() else None
    if cache is None:
        return
    try:
        for number in changed:
            keys = list(cache.scan_iter(match=f"{CACHE_PREFIX}:{number}:*", count=100))
            if keys:
                cache.delete(*keys)
    except redis_lib.RedisError:
        # the cached verdict then lives out its short TTL (LICENSE_CACHE_SECONDS)
        log.error("license cache invalidation failed", extra={"licenses": list(changed)[:10]})


@event.listens_for(Session, "after_rollback")
def _forget_changed(session: Session) -> None:
    session.info.pop(licenses.CHANGED, None)
