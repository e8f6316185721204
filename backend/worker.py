"""The background worker: periodic housekeeping now, outbox delivery as it arrives.

Runs as the Procfile's ``worker:`` (``flask worker``); any number may run at once, since
each tick is idempotent. Without Redis the same loop runs as a thread of the web process.
"""

from __future__ import annotations

import logging
import signal
import threading

from flask import Flask, current_app

from backend.extensions import db
from backend.security import tokens

log = logging.getLogger(__name__)


def tick() -> dict[str, int]:
    """One round of housekeeping, committed on its own."""
    purged = tokens.purge_expired(db.session)
    db.session.commit()
    return {"expired_tokens_purged": purged}


def run(stop: threading.Event) -> None:
    """Tick every WORKER_POLL_SECONDS until ``stop`` is set; a failed tick is retried next time."""
    interval = current_app.extensions["settings"].WORKER_POLL_SECONDS
    log.info("worker started", extra={"poll_seconds": interval})
    while not stop.is_set():
        try:
            done = tick()
            log.log(logging.INFO if any(done.values()) else logging.DEBUG, "tick", extra=done)
        except Exception:
            db.session.rollback()
            log.exception("tick failed")
        finally:
            db.session.remove()
        stop.wait(interval)
    log.info("worker stopped")


def run_forever() -> None:
    """The ``worker:`` process: stops cleanly on SIGTERM / SIGINT."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run(stop)


def start_in_process(app: Flask) -> threading.Thread:
    def _target() -> None:
        with app.app_context():
            run(threading.Event())

    thread = threading.Thread(target=_target, name="in-process-worker", daemon=True)
    thread.start()
    return thread
