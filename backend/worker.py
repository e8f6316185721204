"""The background worker: outbox delivery (WeChat, department webhooks) and the periodic tick.

Runs as the Procfile's ``worker:`` (``flask worker``, or ``python -m backend.worker``); any
number may run at once on any number of hosts: rows are claimed with SKIP LOCKED and a
compare-and-set (``notifications.delivery``), and every tick job is idempotent
(``notifications.tick``; the e-license expiry sweep ``licenses.record_expiries``; the
statistics summary ``statistics_summary.summarise``). Without
Redis the same loop runs as a thread of the web process.

Each round: the tick when it is due (NOTIFY_TICK_SECONDS), then every due outbox row and the
closed cases' archive packages due (``backend.services.archive``), then
wait for the doorbell (Redis BRPOP, rung after each commit that adds outbox rows) at most
WORKER_POLL_SECONDS — so without Redis, or with Redis down, delivery is late by at most
one poll interval and nothing is lost.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import timedelta

import requests
from flask import Flask, current_app

from backend import metrics
from backend.extensions import db
from backend.models.base import utcnow
from backend.security import tokens
from backend.services import archive, elicense_library, licenses, statistics_summary
from notifications import delivery, doorbell
from notifications import tick as jobs
from notifications.wechat import make_client

log = logging.getLogger(__name__)
BATCH = 50  # rows per round before the tick gets another look


CLEANUP_EVERY = 3600.0  # seconds: sweeping tokens and the media directory needs no hurry
_next_cleanup = 0.0


def tick() -> dict[str, int]:
    """One round of timed messages and housekeeping; each job commits on its own, and a
    failing job does not keep the others from running."""
    global _next_cleanup
    app = current_app
    settings = app.extensions["settings"]
    now = utcnow()
    hour = settings.NOTIFY_REMINDER_HOUR
    grace = timedelta(hours=settings.MEDIA_ORPHAN_GRACE_HOURS)
    steps = {
        "inspection_reminders": lambda: jobs.inspection_reminders(db.session, now=now,
                                                                  hour=hour),
        "license_expiry_reminders": lambda: jobs.license_expiry_reminders(db.session, now=now,
                                                                          hour=hour),
        "overdue_digests": lambda: jobs.overdue_digest(db.session, now=now, hour=hour),
        # e-licenses whose validity ended: 05 失效 with operation 04 过期失效
        "elicense_expiries": lambda: licenses.record_expiries(db.session),
        # 改革成效统计: the days with new events, into the summary tables
        "statistics_days": lambda: statistics_summary.summarise(db.session),
    }
    if time.monotonic() >= _next_cleanup:
        _next_cleanup = time.monotonic() + CLEANUP_EVERY
        steps |= {
            "expired_tokens_purged": lambda: tokens.purge_expired(db.session),
            "orphaned_uploads_removed": lambda: jobs.orphaned_uploads(
                db.session, app.extensions["media_store"], now=now, grace=grace),
        }
    done = {}
    for name, step in steps.items():
        try:
            done[name] = step()
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("tick job failed; it runs again next tick", extra={"job": name})
            done[name] = 0
    return done


def make_deliverer(app: Flask) -> delivery.Deliverer:
    settings = app.extensions["settings"]
    wechat = make_client(appid=settings.WECHAT_APPID, secret=settings.WECHAT_SECRET,
                         base_url=settings.WECHAT_API_BASE,
                         timeout=settings.WECHAT_TIMEOUT_SECONDS,
                         redis=app.extensions["redis"], auto_retry=False)
    redis = app.extensions["redis"]
    return delivery.Deliverer(delivery.Policy.from_settings(settings), wechat=wechat,
                              http=requests.Session(),
                              sealed_files=elicense_library.sealed_file,
                              on_failure=lambda channel, outcome: metrics.delivery_failed(
                                  redis, channel, outcome))


def run(stop: threading.Event) -> None:
    """Deliver and tick until ``stop`` is set; a failed round is retried next time."""
    app = current_app._get_current_object()
    settings = app.extensions["settings"]
    poll, tick_every = settings.WORKER_POLL_SECONDS, settings.NOTIFY_TICK_SECONDS
    deliverer = make_deliverer(app)
    bell = doorbell.Doorbell(settings.REDIS_URL or None, max_wait=poll)
    redis, name = app.extensions["redis"], metrics.worker_name()
    log.info("worker started", extra={"poll_seconds": poll, "worker": deliverer.name,
                                      "heartbeat_as": name})
    next_tick = 0.0
    try:
        while not stop.is_set():
            busy = False
            try:
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + tick_every
                    done = tick()
                    log.log(logging.INFO if any(done.values()) else logging.DEBUG, "tick",
                            extra=done)
                busy = deliverer.deliver_due(db.session, limit=BATCH, stop=stop) >= BATCH
                archive.build_due(db.session, stop=stop)
            except Exception:
                try:
                    db.session.rollback()
                except Exception:  # the database may be the very thing that is down
                    log.debug("rollback failed", exc_info=True)
                log.exception("worker round failed")
            finally:
                db.session.remove()
            metrics.heartbeat(redis, name)  # yiye_worker_last_seen_timestamp_seconds
            if not busy and not stop.is_set():
                bell.wait(poll)
    finally:
        metrics.worker_stopped(redis, name)
        bell.close()
        deliverer.wechat.close()
        deliverer.http.close()
        deliverer.library_http.close()
        log.info("worker stopped", extra={"worker": deliverer.name})


def run_forever() -> None:
    """The ``worker:`` process: stops cleanly on SIGTERM / SIGINT."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run(stop)


def start_in_process(app: Flask, stop: threading.Event | None = None) -> threading.Thread:
    """The embedded worker (no Redis, SQLite): the same loop, as a daemon thread."""
    stop = stop or threading.Event()

    def _target() -> None:
        with app.app_context():
            run(stop)

    thread = threading.Thread(target=_target, name="in-process-worker", daemon=True)
    thread.start()
    return thread


if __name__ == "__main__":  # python -m backend.worker
    from backend.app import create_app

    with create_app().app_context():
        run_forever()
