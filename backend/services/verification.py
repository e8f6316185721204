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
from backend.models import Application, License, LicenseItem
from backend.security import signatures
from backend.services import elicense_ids, elicenses, licenses

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
    """What wx.scanCode returned, verbatim: our signed URL or anything else — or a 证照标识
    (``1.2.156.3005.2…``, e.g. read from the holder's e-license in another app), looked up
    by :func:`check_identifier`."""
    if elicense_ids.looks_like(scan):
        return check_identifier(session, scan)
    return check(session, code=signatures.parse_verify_url(scan, base_url=base_url),
                 keyring=keyring)


def check_identifier(session: Session, text: str, today: date | None = None) -> Result:
    """The verdict on the license holding the e-license a 证照标识 names, for signed-in
    staff only: an identifier is not signed, so the public pages do not look one up.
    Malformed (a wrong check character, root or length): 422 ``ELICENSE_ID_INVALID`` naming
    ``scan``. An earlier version's identifier shows the license as it now is
    (``superseded``); one we never issued is 无效."""
    try:
        found = elicenses.find(session, text)
    except elicense_ids.IdentifierInvalid as error:
        raise error.as_field("scan") from None
    if found is None:
        return _invalid("查无此证照标识")
    elicense, earlier = found
    license_ = licenses.by_number(session, session.get(License, elicense.license_id).license_no)
    verdict_code, label, reason = licenses.verdict(license_, today)
    return Result(verdict_code, label, reason, license_,
                  None if earlier else license_.version)


def identifier_verdict(text: str) -> Result | None:
    """For the public pages, which verify signed QR codes only: what a 证照标识 given in
    place of a license number gets (its own problem when malformed), else None."""
    if not elicense_ids.looks_like(text):
        return None
    try:
        elicense_ids.parse(text)
    except elicense_ids.IdentifierInvalid as error:
        return _invalid(error.message)
    return _invalid("证照标识不能在此核验：请扫描许可证上的二维码")


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def public_view(result: Result) -> dict[str, Any]:
    """What a supervisor needs and nothing personal (no ID or phone number, no legal
    representative, no inspector): the verdict, the face, the 证照标识 of the license and of
    each bundled permit with the permit's state (``licenses.item_verdict``) and validity,
    and the date and outcome of the joint inspection (``last_inspection``, None when the
    licence needed no on-site check)."""
    body: dict[str, Any] = {"verdict": result.code, "verdict_label": result.label,
                            "reason": result.reason}
    license_ = result.license
    if license_ is None:
        return body
    outcome = license_.inspection_outcome
    return body | {
        "license_no": license_.license_no, "identifier": license_.identifier,
        "scanned_version": result.scanned_version, "current_version": license_.version,
        "superseded": result.scanned_version != license_.version,
        "industry": f"{license_.industry_category}（{license_.industry_name}）",
        "holder_name": license_.holder_name, "premises_address": license_.premises_address,
        "issuing_authority": license_.issuing_authority,
        "issued_on": license_.issued_on.isoformat(),
        "valid_until": _day(license_.valid_until),
        "last_inspection": None if outcome is None else {
            "on": _day(license_.inspected_on), "outcome": outcome,
            "outcome_label": licenses.INSPECTION_OUTCOME_LABELS.get(outcome, outcome)},
        "items": [_public_item(i, result.code) for i in license_.items],
    }


def _public_item(item: LicenseItem | licenses.PublicItem, license_verdict: str
                 ) -> dict[str, Any]:
    code, label, _ = licenses.item_verdict(item, license_verdict)
    return {"name": item.item_name, "identifier": item.identifier, "status": code,
            "status_label": label, "valid_until": _day(item.valid_until)}


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
           keyring: signatures.Keyring, ttl: int, number: str = "") -> dict[str, Any]:
    """The public verdict: ``cached`` (what Redis holds at ``cache_key(code)``, read by the
    caller in the round trip that counts the request) while still in force, else from the
    database, written to ``cache`` when valid. ``number``: what was asked in place of the
    license number (a 证照标识 there is told why it does not verify here)."""
    if code is None:
        return public_view(identifier_verdict(number) or MALFORMED)
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
