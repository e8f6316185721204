"""Prometheus metrics (backend/metrics.py): what an operator's Prometheus scrapes.

Over the real server: a scrape answered by any gunicorn worker process adds up the requests
every process served; the outbox figures are the rows in the database; the worker's heartbeat
and delivery failures reach the web host; nobody without the token gets anything.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, delete, select
from sqlalchemy.orm import Session

from backend import metrics
from backend.models import License
from backend.models.base import utcnow
from backend.models.notifications import DepartmentEndpoint
from backend.security import signatures
from config.settings import SettingsError, load
from notifications.outbox import ELICENSE, FAILED, PENDING, WEBHOOK, OutboxMessage
from tests import test_notifications as shared
from tests.live import METRICS_TOKEN, LiveServer
from tests.test_app import PRODUCTION
from tests.test_notifications import (
    applicant_id,
    control,
    enqueue_event,
    subscribe,
    wait_until,
)

AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}
worker_app, start_worker, running_worker = (  # the fixtures
    shared.worker_app, shared.start_worker, shared.running_worker)
INDUSTRIES = ("/api/mp/v1/industries", "GET", "200")
HEALTHZ, READYZ = ("/healthz", "GET", "200"), ("/readyz", "GET", "200")


Samples = dict[tuple[str, frozenset], float]


def parse(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests_of(samples: Samples, route: str, method: str, status: str) -> float:
    return value(samples, "yiye_http_request_duration_seconds_count",
                 route=route, method=method, status=status)


def process_of(response) -> str:
    """The web process that answered: request ids start with a per-process random prefix."""
    return response.headers["X-Request-ID"][:16]


def scrape(server: LiveServer) -> tuple[Samples, str]:
    resp = server.client().get("/metrics", headers=AUTH)  # a connection of its own
    assert resp.status_code == 200, resp.data[:300]
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    return parse(resp.data.decode()), process_of(resp)


def signed_code_of_a_valid_license(server: LiveServer) -> str:
    """The verification link of a license the public sees as 有效 (the demo story's at least),
    signed as the server signs (the development keyring: the live tier sets no keys)."""
    engine = create_engine(server.env["DATABASE_URL"])
    try:
        with Session(engine) as session:
            licenses = session.execute(select(License.license_no, License.version)
                                       .where(License.status == "active")).all()
    finally:
        engine.dispose()
    http = server.client()
    for number, version in licenses:
        url = signatures.build_verify_url(server.base_url, number, version,
                                          signatures.dev_keyring())
        path = url.removeprefix(server.base_url).replace("/v/", "/api/public/v1/licenses/", 1)
        if http.get(path).json["verdict"] == "valid":
            return path
    raise AssertionError(f"no valid license among {licenses}")


def test_a_scrape_adds_up_the_requests_of_every_web_process(live_server: LiveServer):
    """Requests on new connections spread over the web processes (two on MariaDB + Redis);
    every scrape, whichever process answers it, counts all of them, by URL rule and status —
    never by the raw path."""
    verify_path = signed_code_of_a_valid_license(live_server)
    time.sleep(3 * metrics.APPLY_SECONDS)  # every process has added the requests so far
    before, _ = scrape(live_server)
    served_by, sent = set(), 0
    processes = 2 if live_server.env["REDIS_URL"] else 1
    with ThreadPoolExecutor(max_workers=8) as pool:
        while len(served_by) < processes or sent < 40:  # until each process served some
            assert sent < 400, f"requests reached only {served_by}"
            answers = list(pool.map(lambda _: live_server.client().get(INDUSTRIES[0]),
                                    range(20)))
            assert [a.status_code for a in answers] == [200] * 20
            served_by |= {process_of(a) for a in answers}
            sent += 20
    missing = live_server.client().get(f"/no-such-page/{uuid.uuid4().hex}")
    scanner = live_server.client(source_address="127.0.0.91")  # a verification limit of its own
    scans = [scanner.get(verify_path) for _ in range(6)]
    assert [s.json["verdict"] for s in scans] == ["valid"] * 6
    time.sleep(3 * metrics.APPLY_SECONDS)  # each process adds its requests within that

    scrapes: list[tuple[Samples, str]] = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        while len({process for _, process in scrapes}) < processes or len(scrapes) < 8:
            assert len(scrapes) < 200, "every scrape went to one process"
            scrapes += pool.map(lambda _: scrape(live_server), range(4))
    for after, _ in scrapes:
        assert requests_of(after, *INDUSTRIES) - requests_of(before, *INDUSTRIES) == sent
        assert requests_of(after, "unmatched", "GET", "404") \
            - requests_of(before, "unmatched", "GET", "404") == 1
        assert requests_of(after, "/api/public/v1/licenses/<license_no>", "GET", "200") \
            - requests_of(before, "/api/public/v1/licenses/<license_no>", "GET", "200") == 6
        hits, misses = (value(after, "yiye_verification_cache_requests_total", result=r)
                        - value(before, "yiye_verification_cache_requests_total", result=r)
                        for r in ("hit", "miss"))
        # each process reads the verdict from the database until it holds it (with Redis,
        # from the moment it listens for license changes: its first scans may go by before)
        assert hits + misses == 6 and hits >= 6 - 2 * processes, (hits, misses)
        assert value(after, "yiye_http_request_duration_seconds_bucket", route=INDUSTRIES[0],
                     method="GET", status="200", le="+Inf") == requests_of(after, *INDUSTRIES)
        assert not requests_of(after, *HEALTHZ) and not requests_of(after, *READYZ)  # probes
    routes = {dict(labels).get("route") for (_, labels) in scrapes[-1][0]}
    assert not any(missing.headers["X-Request-ID"] in (r or "") or "no-such-page" in (r or "")
                   or verify_path.split("?")[0].rsplit("/", 1)[1] in (r or "")
                   for r in routes), routes


def test_metrics_are_refused_without_the_token(live_server: LiveServer):
    http = live_server.client()
    for headers in ({}, {"Authorization": "Bearer wrong-token"},
                    {"Authorization": f"Basic {METRICS_TOKEN}"},
                    {"Authorization": f"Bearer {METRICS_TOKEN}x"}):
        refused = http.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert b"yiye_" not in refused.data
    assert "/metrics" not in http.get("/openapi.json").json["paths"]


@contextmanager
def rows_in(server: LiveServer, *rows) -> Iterator[list]:
    """Rows added to the live server's database for one test, removed after it."""
    engine = create_engine(server.env["DATABASE_URL"])
    try:
        with Session(engine) as session:
            for row in rows:
                session.add(row)
                session.flush()  # in this order: ids ascending
            session.commit()
            ids = [(type(row), row.id) for row in rows]
        yield ids
    finally:
        with Session(engine) as session:
            for model, row_id in ids:
                session.execute(delete(model).where(model.id == row_id))
            session.commit()
        engine.dispose()


def test_outbox_backlog_worker_heartbeat_and_failures(live_server: LiveServer):
    """Three pushes to the e-license library held back for two hours behind a failed earlier
    push of the same e-license (the library's order): the backlog is those three, the oldest
    due for two hours; a webhook whose record is missing is refused by the worker and counted
    as a delivery failure of its channel; the worker's heartbeat is recent."""
    # nothing else held for the library (the periodic tick may add WeChat reminders meanwhile)
    wait_until(lambda: value(scrape(live_server)[0], "yiye_outbox_due_messages",
                             channel=ELICENSE) == 0, 30, "the worker to drain")
    before, _ = scrape(live_server)
    aggregate, hours_ago = f"elicense:metrics-{uuid.uuid4().hex[:8]}", utcnow() - timedelta(hours=2)

    def push(n: int, status: str) -> OutboxMessage:
        return OutboxMessage(event="elicense.issued", dedupe_key=f"{aggregate}:{n}",
                             aggregate=aggregate, payload={}, status=status, due_at=hours_ago,
                             created_at=hours_ago, channel=ELICENSE, target="elicense_library")

    code = f"metrics-{uuid.uuid4().hex[:8]}"
    endpoint = DepartmentEndpoint(department_code=code, url="https://department.example/hook",
                                  secret_sealed=b"-", api_key_hash=uuid.uuid4().hex * 2,
                                  updated_by="test")
    orphan = OutboxMessage(event="item.approved", dedupe_key=f"webhook:{code}",
                           aggregate="application:0", payload={"record_id": f"gone:{code}"},
                           channel=WEBHOOK, target=code)
    with rows_in(live_server, push(0, FAILED), push(1, PENDING), push(2, PENDING),
                 push(3, PENDING), endpoint, orphan):
        refusals = wait_until(lambda: value(
            scraped := scrape(live_server)[0], "yiye_delivery_failures_total",
            channel=WEBHOOK, outcome="refused") - value(
            before, "yiye_delivery_failures_total", channel=WEBHOOK, outcome="refused")
            and scraped, 30, "the worker to refuse the orphaned webhook")
        now = time.time()

    assert value(refusals, "yiye_delivery_failures_total", channel=WEBHOOK,
                 outcome="refused") - value(before, "yiye_delivery_failures_total",
                                            channel=WEBHOOK, outcome="refused") == 1
    assert value(refusals, "yiye_outbox_due_messages", channel=ELICENSE) == 3
    assert 7200 <= value(refusals, "yiye_outbox_oldest_due_age_seconds", channel=ELICENSE) \
        < 7200 + 120
    assert value(refusals, "yiye_outbox_messages", channel=ELICENSE, status=FAILED) \
        - value(before, "yiye_outbox_messages", channel=ELICENSE, status=FAILED) == 1
    assert value(refusals, "yiye_outbox_messages", channel=ELICENSE, status=PENDING) \
        - value(before, "yiye_outbox_messages", channel=ELICENSE, status=PENDING) == 3
    beats = {dict(labels)["worker"]: at for (name, labels), at in refusals.items()
             if name == "yiye_worker_last_seen_timestamp_seconds"}
    assert beats and max(beats.values()) > now - 30, beats
    assert value(refusals, "yiye_metrics_source_up", source="database") == 1


# --- in process: the settings, and a worker retrying ------------------------------------------

def test_metrics_do_not_exist_without_a_token(client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers=AUTH).json["code"] == "NOT_FOUND"


def test_the_token_opens_metrics(client, set_settings, monkeypatch, tmp_path):
    set_settings(METRICS_TOKEN=METRICS_TOKEN)
    # set after prometheus_client chose how to count (as reading gunicorn's config does):
    # this process still reports its own figures
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "not-this-process"))
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused.json["code"] == "METRICS_TOKEN_REQUIRED"
    assert client.get("/metrics", headers=AUTH).status_code == 200


def test_a_retried_wechat_send_counts_as_a_failure_of_its_channel(
        app, client, login, session, emulator, running_worker, set_settings):
    """WeChat's system error (-1) once: one failed attempt counted (retry), then sent."""
    set_settings(METRICS_TOKEN=METRICS_TOKEN)
    headers = login("alice")
    subscribe(client, headers, "progress", emulator=emulator, user="alice")
    applicant = applicant_id(session, "alice")
    control(emulator, "faults", endpoint="subscribe_send", errcode=-1, times=1)

    enqueue_event(app, applicant=applicant)

    def beats_of(samples: Samples) -> list[float]:
        return [at for (name, _), at in samples.items()
                if name == "yiye_worker_last_seen_timestamp_seconds"]

    # the failure is counted during the worker's round, its heartbeat when the round is done
    samples = wait_until(lambda: value(s := parse(client.get("/metrics", headers=AUTH).data
                                                  .decode()),
                                       "yiye_delivery_failures_total", channel="wechat",
                                       outcome="retry") and beats_of(s) and s, 10,
                         "the retry and the round to be counted")
    assert value(samples, "yiye_delivery_failures_total", channel="wechat", outcome="retry") == 1
    beats = beats_of(samples)
    assert beats and max(beats) > time.time() - 10


@pytest.mark.parametrize("token", ["short-token", "x" * 31])
def test_production_refuses_a_short_metrics_token(token):
    with pytest.raises(SettingsError, match="METRICS_TOKEN"):
        load(environ=PRODUCTION | {"METRICS_TOKEN": token})
    assert load(environ=PRODUCTION | {"METRICS_TOKEN": token + "y" * 32}).METRICS_TOKEN
    assert load(environ=PRODUCTION).METRICS_TOKEN == ""  # no /metrics at all
