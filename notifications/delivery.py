"""The worker's delivery algorithm: claim a due outbox row, send it, record the outcome.

One row at a time, in three steps, each database step its own short transaction:

1. **Claim.** ``SELECT id … WHERE status='pending' AND due_at <= now ORDER BY due_at, id
   LIMIT 1 FOR UPDATE SKIP LOCKED`` (MariaDB/MySQL; any number of workers on any number of
   hosts pass each other by), then a compare-and-set ``UPDATE … SET status='sending',
   claim_token=…, locked_until=now+lease, attempts=attempts+1 WHERE id=… AND
   status='pending'`` — the CAS alone keeps SQLite (no SKIP LOCKED; the embedded in-process
   worker) correct even with two web processes each running one. In the same transaction the
   request is prepared: the user's openid, the template values fitted to WeChat's rules, and
   one unit of the user's subscription quota reserved (an atomic ``remaining - 1 WHERE
   remaining > 0``). Nothing to send (no quota, no endpoint) or a configuration that cannot
   be rendered is recorded right there (``skipped`` / ``refused``) and never reaches WeChat.
2. **Send**, outside any transaction (``notifications.channels``).
3. **Record** ``UPDATE … WHERE id=… AND claim_token=…``: ``sent``; ``pending`` again with a
   due time backed off by error class; ``refused`` for good; ``uncertain`` when the send
   may have reached WeChat; ``failed`` when attempts run out. A refused or retried WeChat
   message gives its quota unit back (an uncertain one keeps it spent); 43101 zeroes it. If
   the database is down at this point the worker keeps the outcome in memory and retries the
   write until the database answers — it does not send anything else meanwhile.

Exactly once in the user's view — the reasoning:

- The in-app message is written with the state change, in its transaction, under a unique
  key (``routing.fan_out``): it exists exactly once, whatever happens to workers, WeChat or
  Redis. This is the guaranteed channel.
- WeChat offers no idempotency key and no way to ask whether a message arrived, so the
  WeChat side is **at most once**: a row is only ever sent by the holder of its claim, and
  any send whose outcome is unknown is marked ``uncertain`` and never sent again
  automatically — a claim whose lease ran out while ``sending`` (the worker died between
  sending and recording, or before sending — we cannot tell which), and a send that failed
  after the request may have reached WeChat (a late answer, a reset connection, an answer
  that is not WeChat's; ``channels.classify_failure``). Only failures proving nothing left
  (refused, DNS, a connect timeout) are retried. A duplicate would be worse than a missing
  push: the message is in the in-app list either way. An administrator may replay an
  uncertain row knowingly.
  The window in which a WeChat push can be lost is the time between the claim's commit and
  the HTTP request leaving — milliseconds, only when the process dies just then.
- Department webhooks are **at least once + idempotent receiver**: an expired claim goes
  back to ``pending`` and is sent again with the same body and the same idempotency id
  (``X-Yiye-Delivery``), which the department dedupes on; the pull feed is the catch-up.
- Pushes to the e-license library (channel ``elicense``, ``notifications.library``) are at
  least once like webhooks (the library dedupes per 证照标识 + 序号), and **in order per
  e-license**: a row is claimed only when every earlier row of its e-license (its
  ``aggregate``) is ``sent``, so a status change never overtakes the issue it refers to,
  and a refused or failed push holds back the later ones of that e-license until an
  administrator replays it. While ELICENSE_LIBRARY_URL is empty they are not claimed at all
  (kept ``pending``, counted for administrators).
- Every producer writes under a unique ``dedupe_key`` (workflow event id, the tick's
  ``inspection.reminder:<id>:<date>``, …), so re-running a request or a tick adds nothing.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy import exists, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, aliased

from backend.clock import CHINA
from backend.models import Applicant
from backend.models.base import utcnow
from backend.models.notifications import (
    DepartmentEndpoint,
    DepartmentRecord,
    WechatSubscription,
)
from backend.security import addresses
from backend.security import secrets as sealed
from notifications import channels, library, routing, templates
from notifications.outbox import (
    ELICENSE,
    FAILED,
    PENDING,
    REFUSED,
    SENDING,
    SENT,
    SKIPPED,
    UNCERTAIN,
    WEBHOOK,
    WECHAT,
    OutboxMessage,
)
from notifications.wechat import WeChatClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Policy:
    """The knobs of delivery, from settings (tests shorten them)."""

    lease_seconds: float = 60.0
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    max_attempts: int = 15
    webhook_timeout: float = 10.0
    webhook_allow_private: bool = False
    miniprogram_state: str = "formal"
    templates_path: str = ""
    secret_key: str = ""
    elicense_library_url: str = ""  # empty: library pushes wait, unclaimed
    elicense_library_timeout: float = 20.0

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        return cls(lease_seconds=settings.NOTIFY_LEASE_SECONDS,
                   retry_base_seconds=settings.NOTIFY_RETRY_BASE_SECONDS,
                   retry_max_seconds=settings.NOTIFY_RETRY_MAX_SECONDS,
                   max_attempts=settings.NOTIFY_MAX_ATTEMPTS,
                   webhook_timeout=settings.NOTIFY_WEBHOOK_TIMEOUT_SECONDS,
                   webhook_allow_private=settings.WEBHOOK_ALLOW_PRIVATE,
                   miniprogram_state=settings.WECHAT_MINIPROGRAM_STATE,
                   templates_path=settings.NOTIFY_TEMPLATES_PATH,
                   secret_key=settings.SECRET_KEY,
                   elicense_library_url=settings.ELICENSE_LIBRARY_URL,
                   elicense_library_timeout=settings.ELICENSE_LIBRARY_TIMEOUT_SECONDS)

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels this worker sends (the library's only once it is configured)."""
        return (WECHAT, WEBHOOK, *((ELICENSE,) if self.elicense_library_url else ()))


@dataclass
class Claim:
    """A row this worker holds, with everything needed to send it without the database."""

    id: int
    token: str
    channel: str
    event: str
    attempts: int
    request: dict[str, Any] = field(default_factory=dict)
    quota: tuple[int, str] | None = None  # (applicant id, template id) reserved
    outcome: channels.Result | None = None  # known before sending: nothing is sent
    recorded: str | None = None  # the status the outcome was written as


@dataclass(frozen=True)
class Final:
    status: str
    error_class: str
    error: str


_EARLIER = aliased(OutboxMessage)
# an earlier push of the same e-license not yet delivered: this one waits (the library's order)
_EARLIER_UNSENT = exists().where(_EARLIER.channel == ELICENSE,
                                 _EARLIER.aggregate == OutboxMessage.aggregate,
                                 _EARLIER.id < OutboxMessage.id, _EARLIER.status != SENT)


def is_mysql(session: Session) -> bool:
    return session.get_bind().dialect.name in {"mysql", "mariadb"}


def _read_committed(session: Session) -> None:
    """On MariaDB, the worker's transactions take no gap locks on the due index, so inserts by
    web requests never wait on a claim (call at the start of a transaction)."""
    if is_mysql(session):
        session.connection(execution_options={"isolation_level": "READ COMMITTED"})


def next_due(now: datetime, attempts: int, error_class: str | None, policy: Policy,
             rng: random.Random | None = None) -> datetime:
    """When to try again: after Beijing midnight for WeChat's daily limit, else exponential
    backoff (base × 2^(attempt−1), capped) with ±25 % jitter so workers do not stampede."""
    rng = rng or random
    if error_class == "daily_limit":
        local = now.astimezone(CHINA)
        midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                        microsecond=0)
        return midnight + timedelta(seconds=rng.uniform(0, 600))
    delay = min(policy.retry_max_seconds, policy.retry_base_seconds * 2 ** max(attempts - 1, 0))
    return now + timedelta(seconds=delay * rng.uniform(0.75, 1.25))


# the sealed file of a license face (license id, face version), or None if it cannot be
# had; raises backend.errors.Unavailable while the seal cannot be applied
SealedFiles = Callable[[Session, int, int], "library.SealedFile | None"]


class Deliverer:
    """One worker's delivery loop body; holds its WeChat client and HTTP sessions.

    ``sealed_files`` gives a library push its file (``backend.services.elicense_library``:
    this package imports no service)."""

    def __init__(self, policy: Policy, *, wechat: WeChatClient,
                 http: requests.Session | None = None,
                 sealed_files: SealedFiles | None = None,
                 on_failure: Callable[[str, str], None] | None = None) -> None:
        self.policy = policy
        # told (channel, outcome) of each attempt that did not deliver (backend.metrics)
        self.on_failure = on_failure or (lambda channel, outcome: None)
        self.wechat = wechat
        self.http = http or requests.Session()
        if not policy.webhook_allow_private:
            addresses.guard(self.http)  # the address connected to is checked too (rebinding)
        # the library's address is a setting, not typed by an administrator: not guarded
        self.library_http = requests.Session()
        self.sealed_files = sealed_files
        self.name = uuid.uuid4().hex[:8]

    # --- the loop body ---------------------------------------------------------------------

    def deliver_due(self, session: Session, *, limit: int = 50,
                    stop: threading.Event | None = None) -> int:
        """Deliver due rows until none is left (or ``limit``); returns how many were handled."""
        stop = stop or threading.Event()
        _read_committed(session)
        self.recover_expired(session)
        session.commit()
        handled = 0
        while handled < limit and not stop.is_set():
            claim = self.claim_next(session)
            if claim is None:
                break
            handled += 1
            if isinstance(claim, Final):
                continue
            result = self.send(claim)
            self.record_until_written(session, claim, result, stop)
        return handled

    def recover_expired(self, session: Session, now: datetime | None = None) -> int:
        """Claims whose lease ran out: webhooks and library pushes go back to pending (the
        receiver dedupes), WeChat messages become uncertain (never resent: WeChat cannot
        dedupe)."""
        now = now or utcnow()
        expired = (OutboxMessage.status == SENDING) & (OutboxMessage.locked_until < now)
        resent = session.execute(
            update(OutboxMessage).where(expired, OutboxMessage.channel.in_((WEBHOOK, ELICENSE)))
            .values(status=PENDING, claim_token=None, locked_until=None, due_at=now,
                    error_class="lease_expired",
                    last_error="worker lost during delivery; sent again (receiver dedupes)")
            .execution_options(synchronize_session=False)).rowcount or 0
        doubtful = session.execute(
            update(OutboxMessage).where(expired, OutboxMessage.channel == WECHAT)
            .values(status=UNCERTAIN, locked_until=None, error_class="lease_expired",
                    last_error="worker lost while sending; not resent to avoid a duplicate "
                               "(the in-app message has it)")
            .execution_options(synchronize_session=False)).rowcount or 0
        if resent or doubtful:
            log.warning("expired claims recovered",
                        extra={"webhooks_requeued": resent, "wechat_uncertain": doubtful})
        return resent + doubtful

    def claim_next(self, session: Session) -> Claim | Final | None:
        """Claim the next due row (see the module docstring); commits."""
        while True:
            now = utcnow()
            _read_committed(session)
            query = (select(OutboxMessage.id)
                     .where(OutboxMessage.status == PENDING, OutboxMessage.due_at <= now,
                            OutboxMessage.channel.in_(self.policy.channels),
                            or_(OutboxMessage.channel != ELICENSE, ~_EARLIER_UNSENT))
                     .order_by(OutboxMessage.due_at, OutboxMessage.id).limit(1))
            if is_mysql(session):
                query = query.with_for_update(skip_locked=True)
            row_id = session.scalar(query)
            if row_id is None:
                session.commit()
                return None
            token = uuid.uuid4().hex
            won = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, OutboxMessage.status == PENDING)
                .values(status=SENDING, claim_token=token, attempts=OutboxMessage.attempts + 1,
                        locked_until=now + timedelta(seconds=self.policy.lease_seconds))
                .execution_options(synchronize_session=False)).rowcount
            if won != 1:
                session.rollback()  # another worker claimed it between our read and write
                continue
            row = session.scalars(select(OutboxMessage).where(OutboxMessage.id == row_id)
                                  .execution_options(populate_existing=True)).one()
            prepared = self._prepare(session, row, token)
            if isinstance(prepared, Final):
                row.status, row.error_class = prepared.status, prepared.error_class
                row.last_error, row.locked_until = prepared.error[:1000], None
                if prepared.status == REFUSED:
                    self.on_failure(row.channel, REFUSED)
                log.info("outbox row not sent", extra={"outbox_id": row.id, "event": row.event,
                                                       "status": prepared.status,
                                                       "reason": prepared.error})
            session.commit()
            return prepared

    def _prepare(self, session: Session, row: OutboxMessage, token: str) -> Claim | Final:
        claim = Claim(id=row.id, token=token, channel=row.channel, event=row.event,
                      attempts=row.attempts)
        if row.channel == WEBHOOK:
            return self._prepare_webhook(session, row, claim)
        if row.channel == ELICENSE:
            return self._prepare_library(session, row, claim)
        return self._prepare_wechat(session, row, claim)

    def _prepare_wechat(self, session: Session, row: OutboxMessage, claim: Claim,
                        ) -> Claim | Final:
        cfg = templates.load(self.policy.templates_path)
        spec = cfg.events.get(row.event)
        if spec is None or spec.wechat is None:
            return Final(SKIPPED, "no_channel", "该事件不再配置微信订阅消息")
        applicant = session.get(Applicant, row.payload.get("applicant_id") or 0)
        if applicant is None:
            return Final(SKIPPED, "no_recipient", "申请人不存在")
        template = cfg.template(spec.wechat.template)
        context = routing.context_for(session, row.event, row.payload, at=row.created_at)
        try:
            data = templates.render_data(template, spec.wechat.data, context)
        except templates.TemplateError as error:
            log.error("ALERT: template values cannot be fitted; fix templates.yaml and replay",
                      extra={"outbox_id": row.id, "event": row.event, "error": str(error)})
            return Final(REFUSED, "config", f"template: {error}")
        reserved = session.execute(
            update(WechatSubscription)
            .where(WechatSubscription.applicant_id == applicant.id,
                   WechatSubscription.template_id == template.id,
                   WechatSubscription.remaining > 0)
            .values(remaining=WechatSubscription.remaining - 1)
            .execution_options(synchronize_session=False)).rowcount
        if reserved != 1:
            return Final(SKIPPED, "no_quota", "用户未订阅该消息或订阅次数已用完（站内消息已送达）")
        claim.quota = (applicant.id, template.id)
        claim.request = {"openid": applicant.openid, "template_id": template.id, "data": data,
                         "page": templates.render_text(spec.page, context) or None}
        return claim

    def _prepare_webhook(self, session: Session, row: OutboxMessage, claim: Claim,
                         ) -> Claim | Final:
        endpoint = session.scalar(select(DepartmentEndpoint).where(
            DepartmentEndpoint.department_code == row.target))
        if endpoint is None or not endpoint.active or not endpoint.url:
            return Final(SKIPPED, "no_endpoint", "该部门未配置推送地址（可通过拉取接口获取）")
        record = session.scalar(select(DepartmentRecord).where(
            DepartmentRecord.record_id == row.payload.get("record_id")))
        if record is None:
            return Final(REFUSED, "config", "department record missing")
        claim.request = {"url": endpoint.url, "record_id": record.record_id,
                         "secret": sealed.unseal(self.policy.secret_key, endpoint.secret_sealed),
                         "body": channels.webhook_body(record.payload)}
        return claim

    def _prepare_library(self, session: Session, row: OutboxMessage, claim: Claim) -> Claim:
        """The push as queued; a new version's with the sealed file of its face (made now if
        nobody viewed it yet; a face replaced before it was ever made: no file)."""
        payload, sealed = row.payload, None
        if payload.get("face_version") and self.sealed_files is not None:
            # in a savepoint: whatever fails there (the seal service down, a file missing)
            # leaves the claim standing, and the row is retried with backoff (then failed,
            # for an administrator) instead of blocking the queue as a poison row
            try:
                with session.begin_nested():
                    sealed = self.sealed_files(session, payload["license_id"],
                                               payload["face_version"])
            except Exception as error:  # noqa: BLE001 - any failure: retried, logged
                log.warning("sealed file unavailable; push retried later",
                            extra={"outbox_id": row.id, "error": str(error)[:200]})
                claim.outcome = channels.Result(channels.RETRY, "transient",
                                                f"证照文件暂不可用：{error}"[:500])
                return claim
        claim.request = {"path": payload["path"], "body": library.body_of(payload, sealed)}
        return claim

    # --- send and record ---------------------------------------------------------------------

    def send(self, claim: Claim) -> channels.Result:
        r = claim.request
        if claim.outcome is not None:
            return claim.outcome
        if claim.channel == ELICENSE:
            return library.push(self.library_http, base_url=self.policy.elicense_library_url,
                                path=r["path"], body=r["body"],
                                timeout=self.policy.elicense_library_timeout)
        if claim.channel == WEBHOOK:
            return channels.send_webhook(self.http, url=r["url"], secret=r["secret"],
                                         record_id=r["record_id"], event=claim.event,
                                         body=r["body"], timeout=self.policy.webhook_timeout,
                                         allow_private=self.policy.webhook_allow_private)
        return channels.send_wechat(self.wechat, openid=r["openid"],
                                    template_id=r["template_id"], data=r["data"],
                                    page=r["page"], state=self.policy.miniprogram_state)

    def record(self, session: Session, claim: Claim, result: channels.Result) -> bool:
        """Write the outcome, if the claim is still ours; the caller commits."""
        now = utcnow()
        values: dict[str, Any] = {"locked_until": None, "error_class": result.error_class,
                                  "last_error": (result.error or "")[:1000] or None}
        if result.outcome == channels.SENT:
            values |= {"status": SENT, "sent_at": now}
        elif result.outcome == channels.REFUSED:
            values |= {"status": REFUSED}
        elif result.outcome == channels.UNCERTAIN:
            values |= {"status": UNCERTAIN}
        elif claim.attempts >= self.policy.max_attempts:
            values |= {"status": FAILED}
        else:
            values |= {"status": PENDING, "claim_token": None,
                       "due_at": next_due(now, claim.attempts, result.error_class, self.policy)}
        written = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == claim.id, OutboxMessage.claim_token == claim.token,
                   OutboxMessage.status.in_((SENDING, UNCERTAIN)))
            .values(**values).execution_options(synchronize_session=False)).rowcount
        if written != 1:
            log.warning("claim lost before the outcome was written; outcome dropped",
                        extra={"outbox_id": claim.id, "outcome": result.outcome})
            return False
        if claim.quota is not None and result.outcome in (channels.RETRY, channels.REFUSED):
            applicant_id, template_id = claim.quota
            mine = ((WechatSubscription.applicant_id == applicant_id)
                    & (WechatSubscription.template_id == template_id))
            change = ({"remaining": 0, "last_result": "spent"} if result.quota_spent
                      else {"remaining": WechatSubscription.remaining + 1})
            session.execute(update(WechatSubscription).where(mine).values(**change)
                            .execution_options(synchronize_session=False))
        claim.recorded = values["status"]
        level = logging.INFO if result.outcome == channels.SENT else logging.WARNING
        log.log(level, "outbox delivery", extra={
            "outbox_id": claim.id, "event": claim.event, "channel": claim.channel,
            "status": values["status"], "attempt": claim.attempts, "error": result.error})
        return True

    def record_until_written(self, session: Session, claim: Claim, result: channels.Result,
                             stop: threading.Event) -> bool:
        """Record the outcome, retrying while the database is unavailable (the send is done:
        forgetting its outcome would resend a webhook or leave a WeChat row uncertain)."""
        delay = 0.1
        while True:
            try:
                written = self.record(session, claim, result)
                session.commit()
                if written and result.outcome != channels.SENT:  # counted once it is recorded
                    self.on_failure(claim.channel,
                                    "retry" if claim.recorded == PENDING else claim.recorded)
                return written
            except DBAPIError as error:
                log.warning("database unavailable while recording; retrying",
                            extra={"outbox_id": claim.id, "error": str(error)[:200]})
                try:
                    session.rollback()
                except DBAPIError:
                    pass
            if stop.wait(delay):
                return False
            delay = min(delay * 2, 5.0)
