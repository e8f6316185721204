"""Verifying a license QR: the signature first (a forged or altered code never reaches the
database), then the license's CURRENT state, so a revoked license shows revoked at the next
scan. Valid answers are kept in each web process (``Verdicts``), encoded once; every change
drops them after commit.

The public sees only what a shop shows anyway (name, address, permits); inspectors, signed
in, see everything the QR covers, including the inspection history.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import redis as redis_lib
from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from backend import clock, metrics
from backend.conditional import compact_json
from backend.models import Application, License, LicenseItem
from backend.security import signatures
from backend.services import elicense_ids, elicenses, licenses, public_records

log = logging.getLogger(__name__)


@dataclass(eq=False)
class PublicAnswer:
    """A public verdict as it is served: ``public_view``'s body encoded as JSON once (UTF-8,
    compact; ~1 KB) and its page once asked, so a kept verdict is answered with these bytes
    and holds no objects (~1.3 KB kept, ~7 KB once its page was shown)."""

    json: bytes
    verdict: str  # Result.code
    valid_until: date | None  # the license's, when it has one
    _page: bytes | None = field(default=None, init=False, repr=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> PublicAnswer:
        until = body.get("valid_until")
        return cls(compact_json(body), body["verdict"],
                   date.fromisoformat(until) if until else None)

    def body(self) -> dict[str, Any]:
        return json.loads(self.json)

    def page(self, render: Callable[[dict[str, Any]], str]) -> bytes:
        """The page ``render`` makes of the body, made once for each answer: a kept verdict's
        page (~5.6 KB) is served as these bytes, not rendered again for every scan (~0.1 ms,
        an eighth of the page's cost under load)."""
        if self._page is None:
            self._page = render(self.body()).encode()
        return self._page


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
    visits = [*([application.inspection] if application.inspection else []),
              *application.post_checks]
    return body | {
        "credit_code": license_.credit_code,
        "acceptance_number": application.acceptance_number,
        "items": [licenses.item_view(i) for i in license_.items],
        # the joint visit, then each post-check of an item approved by commitment (告知承诺)
        "inspections": [{
            "kind": inspection.kind, "item_codes": inspection.item_codes,
            "scheduled_on": inspection.scheduled_on.isoformat()
            if inspection.scheduled_on else None,
            "due_on": _day(inspection.due_on),
            "outcome": inspection.outcome,
            "results": [{"round": r.round, "item_code": r.item_code, "result": r.result,
                         "notes": r.notes} for r in inspection.results],
        } for inspection in visits],
    }


class Verdicts:
    """Valid public verdicts, kept in the web process: a repeated scan costs no round trip.

    Keyed by the whole signed code (a hit means exactly this code was verified before, so the
    signature check is skipped only for a byte-identical code), for LICENSE_CACHE_SECONDS, at
    most LICENSE_CACHE_ENTRIES of them (the oldest go first: with one lifetime for all, the
    nearest to lapsing). A scan reads without a lock (one dict lookup, atomic in CPython), so
    32 threads answering the same code never queue; writers take the lock. A committed change
    of a license drops its verdicts here at once and, through Redis pub/sub (``CHANNEL``), in
    every other web process within milliseconds. A process that loses its subscription (also
    a Redis that stops answering: found within 3 s by pings) drops all it holds and keeps
    nothing until it is subscribed again; a verdict read from the database while a change
    was being announced is not kept (``generation``).
    """

    CHANNEL = "license:changed"
    PING_SECONDS = 1.0

    def __init__(self, redis: redis_lib.Redis | None, *, seconds: int, entries: int) -> None:
        self._redis, self._lock = redis, threading.Lock()
        self._seconds, self._entries = seconds, entries
        self._held: dict[signatures.ParsedScan, tuple[float, Any]] = {}  # (expires, verdict)
        self._listening: int | None = None  # the pid whose thread listens (gunicorn forks)
        self._subscribed = redis is None  # without Redis there is one process: nothing to hear
        self.generation = 0

    @property
    def keeping(self) -> bool:
        """Whether verdicts are kept now (not while the change channel is being joined)."""
        return self._subscribed

    def get(self, code: signatures.ParsedScan) -> Any | None:
        if self._listening != os.getpid() and self._redis is not None:
            self._listen_in_background()
        held = self._held.get(code)
        return held[1] if held is not None and time.monotonic() < held[0] else None

    def put(self, code: signatures.ParsedScan, verdict: Any, generation: int) -> None:
        """Keep ``verdict`` unless a change was heard since ``generation`` was read; the
        lapsed, and the oldest beyond LICENSE_CACHE_ENTRIES, go (first in, first to lapse)."""
        now = time.monotonic()
        with self._lock:
            if not (self._subscribed and generation == self.generation):
                return
            held = self._held
            held.pop(code, None)  # kept again: now the newest
            held[code] = (now + self._seconds, verdict)
            while held:
                oldest = next(iter(held))
                if len(held) <= self._entries and held[oldest][0] > now:
                    break
                del held[oldest]

    def changed(self, numbers: Iterable[str]) -> None:
        """After a commit that changed these licenses: here now, elsewhere by pub/sub."""
        numbers = list(numbers)
        self._drop(numbers)
        if self._redis is None:
            return
        try:
            for number in numbers:
                self._redis.publish(self.CHANNEL, number)
        except redis_lib.RedisError:
            # the others keep the verdict for LICENSE_CACHE_SECONDS at most
            log.error("license change not announced", extra={"licenses": numbers[:10]})

    def clear(self) -> None:
        with self._lock:
            self._held.clear()
            self.generation += 1

    def _drop(self, numbers: Iterable[str]) -> None:
        numbers = set(numbers)
        with self._lock:
            for code in [c for c in self._held if c.license_no in numbers]:
                del self._held[code]
            self.generation += 1

    def _listen_in_background(self) -> None:
        with self._lock:
            if self._listening == os.getpid():
                return
            self._listening, self._subscribed = os.getpid(), False
        threading.Thread(target=self._listen, name="license-verdicts", daemon=True).start()

    def _listen(self) -> None:
        while True:
            pubsub = self._redis.pubsub()
            try:
                pubsub.subscribe(self.CHANNEL)
                self._hear(pubsub)
            except Exception:  # a thread that stops would keep stale verdicts forever
                if self._subscribed:  # once per outage
                    log.warning("license change channel lost: verdicts dropped, none kept "
                                "until it is back", exc_info=True)
                self._subscribed = False
                self.clear()
                time.sleep(1)
            finally:
                pubsub.close()

    def _hear(self, pubsub) -> None:
        """Until the channel fails: a silent channel is pinged every PING_SECONDS, and one
        that does not answer within 3 of them is lost (a Redis that hangs closes nothing, and
        a change announced meanwhile would never be heard)."""
        heard = time.monotonic()
        while True:
            message = pubsub.get_message(timeout=self.PING_SECONDS)
            if message is not None:
                heard = time.monotonic()
                if message["type"] == "subscribe":  # also after redis-py reconnects
                    self.clear()  # what was announced before it was not heard
                    self._subscribed = True
                elif message["type"] == "message":
                    self._drop([message["data"].decode()])
            elif time.monotonic() - heard > 3 * self.PING_SECONDS:
                raise redis_lib.ConnectionError("the license change channel does not answer")
            else:
                pubsub.ping()


def public(session: Session, verdicts: Verdicts, *, code: signatures.ParsedScan | None,
           keyring: signatures.Keyring, number: str = "") -> PublicAnswer:
    """The public verdict: the one ``verdicts`` holds while still in force, else from the
    database, kept when valid. ``number``: what was asked in place of the license number (a
    证照标识 there is told why it does not verify here)."""
    if code is None:
        return PublicAnswer.of(public_view(identifier_verdict(number) or MALFORMED))
    kept = verdicts.get(code)
    if kept is not None and (kept.valid_until is None or kept.valid_until >= clock.today()):
        metrics.verification_cached(hit=True)
        return kept
    metrics.verification_cached(hit=False)
    generation = verdicts.generation
    answer = PublicAnswer.of(public_view(check(session, code=code, keyring=keyring,
                                               load=public_records.by_number)))
    if answer.verdict == "valid":
        verdicts.put(code, answer, generation)
    return answer


@event.listens_for(Session, "after_commit")
def _drop_changed(session: Session) -> None:
    """After every commit that changed a license, drop its verdicts in every process."""
    changed = session.info.pop(licenses.CHANGED, None)
    if changed and has_app_context():
        current_app.extensions["verdicts"].changed(changed)


@event.listens_for(Session, "after_rollback")
def _forget_changed(session: Session) -> None:
    session.info.pop(licenses.CHANGED, None)
