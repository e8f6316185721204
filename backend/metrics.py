"""Prometheus metrics: ``GET /metrics`` in the text exposition format (prometheus_client).

What is measured, and where it is counted:

- ``yiye_http_request_duration_seconds`` histogram {route, method, status}: per request, one
  observation in the web process; ``route`` is the URL rule (``/v/<license_no>``, never the
  raw path; ``unmatched`` when no rule matched), so the series are bounded by the routes;
  ``_count`` is the request count.
- ``yiye_verification_cache_requests_total`` counter {result = hit | miss}: each public
  verification of a well-formed code (``verification.public``); the hit rate is
  ``rate(…{result="hit"}) / rate(…)``.
- ``yiye_outbox_due_messages`` and ``yiye_outbox_oldest_due_age_seconds`` gauges {channel}:
  at scrape, pending rows whose due time has come and how long the oldest has been due (0:
  none); ``yiye_outbox_messages`` {channel, status}: rows in each state that is not done
  (pending, sending, failed, refused, uncertain).
- ``yiye_delivery_failures_total`` counter {channel, outcome = retry | refused | uncertain |
  failed}: every delivery attempt that did not deliver, counted by the workers (``retry``: it
  goes again later; ``failed``: attempts exhausted).
- ``yiye_worker_last_seen_timestamp_seconds`` gauge {worker = host:pid}: when each worker last
  finished a round (rounds are at most WORKER_POLL_SECONDS apart while it lives).
- ``yiye_metrics_source_up`` gauge {source = database | redis}: 0 when that source did not
  answer the scrape (its figures are then left out).

**Several processes.** gunicorn runs WEB_CONCURRENCY web processes; a scrape reaches one of
them. The per-request figures are therefore kept in prometheus_client's multiprocess mode:
``config/gunicorn.conf.py`` points ``PROMETHEUS_MULTIPROC_DIR`` at ``METRICS_DIR/PORT``
(emptied when gunicorn starts) before any worker imports prometheus_client, each worker writes its
counts to its own memory-mapped files there, and a scrape served by any worker adds up the
files of all (``MultiProcessCollector``). Counts of a worker that exited stay in the sum, as
a counter's must. Outside gunicorn (tests, ``flask`` commands) the figures are the process's.

The outbox figures are read from the database at scrape (two grouped queries on the
``(status, due_at)`` index), so they are the same on every web host. Worker heartbeats and
delivery failures are written by the worker processes, which may run on other hosts: to
Redis (``yiye:metrics:*``), and without Redis (the embedded default, where the worker is a
thread of the one web process) to this process's memory.

**Protected.** ``METRICS_TOKEN`` empty: ``/metrics`` answers 404 as if it did not exist. Set:
only ``Authorization: Bearer <METRICS_TOKEN>`` is served, anything else is 401. Keep the path
off the public proxy as well (docs/operations.md).

**Cost per request**: a dictionary lookup for the label values and an append; the histogram
observation (two increments of memory-mapped doubles under prometheus_client's lock) is made
by one thread of the process every 0.2 s (``_Later``), so another process's requests reach a
scrape up to 0.2 s late.
"""

from __future__ import annotations

import atexit
import hmac
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import redis as redis_lib
from flask import Flask, Response, abort, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select

from backend.errors import Unauthorized
from backend.models.base import utcnow
from backend.periodic import Periodic
from notifications import outbox

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own name for its directory
# whether this process counts into files (prometheus_client decided when it was imported,
# from the variable then); a variable set later changes nothing in this process
MULTIPROCESS = values.ValueClass is not values.MutexValue

# seconds; a request of this service takes milliseconds (docs/bench-http.md), an upload seconds
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUEST_SECONDS = Histogram(
    "yiye_http_request_duration_seconds",
    "Time from the first hook to the response, by URL rule, method and status "
    "(_count: requests)",
    ("route", "method", "status"), buckets=BUCKETS)
VERIFICATION_CACHE = Counter(
    "yiye_verification_cache_requests",
    "Public verifications of a well-formed code, by whether the process held the verdict",
    ("result",))

HEARTBEATS = "yiye:metrics:worker_heartbeats"  # hash: worker → Unix time of its last round
FAILURES = "yiye:metrics:delivery_failures"  # hash: "channel outcome" → attempts
FORGET_WORKER_SECONDS = 24 * 3600  # a worker silent this long is no longer listed
UNDONE = (outbox.PENDING, outbox.SENDING, outbox.FAILED, outbox.REFUSED, outbox.UNCERTAIN)


def init_app(app: Flask) -> None:
    """Serve ``/metrics`` (hidden from the API document); requests are timed by
    ``backend.logging.RequestLog``, which calls ``observe_request``."""

    @app.get("/metrics")
    @app.doc(hide=True)
    def metrics() -> Response:
        _authorise(current_app.extensions["settings"].METRICS_TOKEN)
        _later.apply()
        registry = CollectorRegistry(auto_describe=False)
        if MULTIPROCESS:
            MultiProcessCollector(registry)
        else:
            registry.register(_ThisProcess())
        registry.register(_Shared(current_app.extensions["redis"]))
        return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


# the labelled series made so far: request keys are bounded by rules × methods × statuses
_series: dict = {}
APPLY_SECONDS = 0.2  # how late another process's requests may reach a scrape


class _Later:
    """Increments of this process's values, applied by one thread of the process.

    In multiprocess mode every increment takes one lock for the whole process and writes a
    memory-mapped file; the 32 request threads of a gthread worker queued on that lock, a
    fifth of /healthz's time under load (docs/bench-http.md, round 4). Request threads only
    append here; a thread applies what was added every ``APPLY_SECONDS``, a scrape first applies its
    own process's, and an ordinary exit the rest. So a scrape sees another process's requests
    at most ``APPLY_SECONDS`` late, and a process killed outright loses at most its last
    ``APPLY_SECONDS``.
    """

    def __init__(self) -> None:
        self._pending: deque[tuple[Callable[[float], None], float]] = deque()
        self._applier = Periodic("metrics", APPLY_SECONDS, self.apply)
        self._forked()
        os.register_at_fork(after_in_child=self._forked)
        atexit.register(self.apply)

    def _forked(self) -> None:
        """A new process applies its own increments; the parent applies what it added."""
        self._pending.clear()
        self._applying = threading.Lock()

    def add(self, apply: Callable[[float], None], amount: float) -> None:
        self._pending.append((apply, amount))
        self._applier.ensure()

    def apply(self) -> None:
        with self._applying:
            while self._pending:
                apply, amount = self._pending.popleft()
                apply(amount)


_later = _Later()


def observe_request(rule: str | None, method: str, status: int, seconds: float) -> None:
    """One request: its URL rule (None: none matched), method, status and duration."""
    key = (rule or "unmatched", method if method in METHODS else "other", status)
    series = _series.get(key)
    if series is None:  # prometheus_client's own lookup costs as much as the observation
        series = _series.setdefault(key, REQUEST_SECONDS.labels(*key))
    _later.add(series.observe, seconds)


def verification_cached(hit: bool) -> None:
    """One public verification of a well-formed code, answered from the process's cache or
    not. The series are made on first use: a process that never verifies (``flask worker``)
    creates no metric file."""
    series = _series.get(hit)
    if series is None:
        series = _series.setdefault(hit, VERIFICATION_CACHE.labels("hit" if hit else "miss"))
    _later.add(series.inc, 1)


def _authorise(token: str) -> None:
    """404 while no token is set (the endpoint does not exist); 401 without the right one."""
    if not token:
        abort(404)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                             token.encode()):
        raise Unauthorized("METRICS_TOKEN_REQUIRED", "需要监控令牌",
                           headers={"WWW-Authenticate": 'Bearer realm="metrics"'})


class _ThisProcess:
    """The default registry's metrics (this process only, outside gunicorn)."""

    def collect(self):
        return REGISTRY.collect()


# --- written by the workers -------------------------------------------------------------------

_local_lock = threading.Lock()
_local_heartbeats: dict[str, float] = {}
_local_failures: dict[str, int] = {}


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def heartbeat(redis: redis_lib.Redis | None, worker: str, now: float | None = None) -> None:
    """A worker's round is done; best effort (Redis down: the heartbeat simply ages)."""
    now = time.time() if now is None else now
    if redis is None:
        with _local_lock:
            _local_heartbeats[worker] = now
        return
    try:
        redis.hset(HEARTBEATS, worker, repr(now))
    except redis_lib.RedisError:
        log.debug("heartbeat not written", exc_info=True)


def worker_stopped(redis: redis_lib.Redis | None, worker: str) -> None:
    """A worker that stops cleanly is no longer listed (a dead one's heartbeat ages)."""
    if redis is None:
        with _local_lock:
            _local_heartbeats.pop(worker, None)
        return
    try:
        redis.hdel(HEARTBEATS, worker)
    except redis_lib.RedisError:
        log.debug("heartbeat not removed", exc_info=True)


def delivery_failed(redis: redis_lib.Redis | None, channel: str, outcome: str) -> None:
    """One delivery attempt that did not deliver (``notifications.delivery`` calls this)."""
    field = f"{channel} {outcome}"
    if redis is None:
        with _local_lock:
            _local_failures[field] = _local_failures.get(field, 0) + 1
        return
    try:
        redis.hincrby(FAILURES, field, 1)
    except redis_lib.RedisError:
        log.debug("delivery failure not counted", exc_info=True)


# --- read at scrape ---------------------------------------------------------------------------

class _Shared:
    """What every host sees alike: the outbox in the database, the workers' figures."""

    def __init__(self, redis: redis_lib.Redis | None) -> None:
        self.redis = redis

    def collect(self) -> Iterator:
        up = GaugeMetricFamily("yiye_metrics_source_up",
                               "1 when the source answered this scrape", labels=("source",))
        try:
            yield from outbox_figures(utcnow())
            up.add_metric(("database",), 1)
        except Exception:  # noqa: BLE001 - a scrape still reports the rest
            log.warning("outbox figures unavailable", exc_info=True)
            up.add_metric(("database",), 0)
        finally:
            from backend.extensions import db  # noqa: PLC0415

            db.session.remove()
        try:
            heartbeats, failures = self._read()
            if self.redis is not None:
                up.add_metric(("redis",), 1)
        except redis_lib.RedisError:
            log.warning("worker figures unavailable", exc_info=True)
            heartbeats, failures = {}, {}
            up.add_metric(("redis",), 0)
        seen = GaugeMetricFamily("yiye_worker_last_seen_timestamp_seconds",
                                 "Unix time at which each worker last finished a round",
                                 labels=("worker",))
        for worker, at in sorted(heartbeats.items()):
            seen.add_metric((worker,), at)
        yield seen
        failed = CounterMetricFamily("yiye_delivery_failures",
                                     "Delivery attempts that did not deliver, by channel and "
                                     "outcome, counted by all workers",
                                     labels=("channel", "outcome"))
        for field, count in sorted(failures.items()):
            channel, _, outcome = field.partition(" ")
            failed.add_metric((channel, outcome), count)
        yield failed
        yield up

    def _read(self) -> tuple[dict[str, float], dict[str, int]]:
        if self.redis is None:
            with _local_lock:
                return dict(_local_heartbeats), dict(_local_failures)
        with self.redis.pipeline(transaction=False) as pipe:
            raw_beats, raw_failures = pipe.hgetall(HEARTBEATS).hgetall(FAILURES).execute()
        heartbeats = {k.decode(): float(v) for k, v in raw_beats.items()}
        forgotten = [w for w, at in heartbeats.items() if at < time.time() - FORGET_WORKER_SECONDS]
        if forgotten:
            self.redis.hdel(HEARTBEATS, *forgotten)
        return ({w: at for w, at in heartbeats.items() if w not in forgotten},
                {k.decode(): int(v) for k, v in raw_failures.items()})


def outbox_figures(now: datetime) -> Iterator[GaugeMetricFamily]:
    """The outbox's backlog from the database: due rows and the age of the oldest per channel
    (a range of the ``(status, due_at)`` index), and the rows in each unfinished state."""
    from backend.extensions import db  # noqa: PLC0415

    table = outbox.OutboxMessage
    due = db.session.execute(
        select(table.channel, func.count(), func.min(table.due_at))
        .where(table.status == outbox.PENDING, table.due_at <= now)
        .group_by(table.channel)).all()
    states = db.session.execute(
        select(table.channel, table.status, func.count())
        .where(table.status.in_(UNDONE)).group_by(table.channel, table.status)).all()
    channels = sorted({outbox.WECHAT, outbox.WEBHOOK, outbox.ELICENSE}
                      | {row[0] for row in due} | {row[0] for row in states})
    due_by = {channel: (count, oldest) for channel, count, oldest in due}
    backlog = GaugeMetricFamily("yiye_outbox_due_messages",
                                "Outbox rows waiting to be sent whose due time has come",
                                labels=("channel",))
    age = GaugeMetricFamily("yiye_outbox_oldest_due_age_seconds",
                            "Seconds since the oldest due outbox row became due (0: none due)",
                            labels=("channel",))
    for channel in channels:
        count, oldest = due_by.get(channel, (0, None))
        backlog.add_metric((channel,), count)
        age.add_metric((channel,), max((now - oldest) / timedelta(seconds=1), 0.0)
                       if oldest is not None else 0.0)
    counted = {(channel, status): count for channel, status, count in states}
    rows = GaugeMetricFamily("yiye_outbox_messages",
                             "Outbox rows not done, by channel and status",
                             labels=("channel", "status"))
    for channel in channels:
        for status in UNDONE:
            rows.add_metric((channel, status), counted.get((channel, status), 0))
    yield from (backlog, age, rows)
