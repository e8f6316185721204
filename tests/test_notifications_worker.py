"""The worker against its faults: the real worker loop (a thread, or a real process that is
killed) on both databases, real Redis, the WeChat emulator and a department receiver on
127.0.0.1. After each fault every due message is in the user's view exactly once: the
in-app message always, the WeChat message at most once, the department record once."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis as redis_lib
from sqlalchemy import select

from backend.app import create_app
from backend.clock import CHINA
from backend.extensions import db
from backend.models import Applicant, DepartmentRecord, InboxMessage, WechatSubscription
from backend.models.base import utcnow
from notifications import routing
from tests import servers
from tests import test_notifications as shared
from tests.test_notifications import (
    applicant_id,
    control,
    deliver_now,
    emulator_log,
    enqueue_event,
    messages_to,
    openid_of,
    outbox_row,
    subscribe,
    template_id,
    wait_until,
    worker_settings,
)
from tests.test_workflow import accepted, post, staff_get

ROOT = Path(__file__).resolve().parent.parent
worker_app = shared.worker_app  # the fixtures
start_worker = shared.start_worker
running_worker = shared.running_worker
receiver = shared.receiver


def status_of(session, key: str) -> str | None:
    row = outbox_row(session, key)
    return row.status if row is not None else None


def wait_status(session, key: str, *statuses: str, timeout: float = 10.0):
    wait_until(lambda: status_of(session, key) in statuses, timeout,
               f"{key} to become {statuses} (is {status_of(session, key)})")
    return outbox_row(session, key)


def inbox_count(session, applicant: int) -> int:
    session.expire_all()
    return len(session.scalars(select(InboxMessage.id).where(
        InboxMessage.recipient_kind == "applicant",
        InboxMessage.recipient_id == applicant)).all())


def remaining(session, applicant: int, template: str = "progress") -> int | None:
    session.expire_all()
    return session.scalar(select(WechatSubscription.remaining).where(
        WechatSubscription.applicant_id == applicant,
        WechatSubscription.template_id == template_id(template)))


def subscribed(client, login, session, *users: str, emulator=None) -> dict[str, int]:
    out = {}
    for user in users:
        subscribe(client, login(user), "progress", emulator=emulator, user=user)
        out[user] = applicant_id(session, user)
    return out


# --- the happy path, quota, and errors that must not be retried ---------------------------------


def test_worker_sends_the_subscribed_message_once_with_fitted_values(
        client, login, staff_login, session, emulator, running_worker):
    applicant = login("owner")
    subscribe(client, applicant, "progress")
    commissioner, _ = staff_login("window_commissioner")

    detail = accepted(client, applicant, commissioner)

    owner = applicant_id(session, "owner")
    [message] = wait_until(lambda: messages_to(emulator, openid_of("owner")), what="message")
    assert message["template_id"] == template_id("progress")
    assert message["page"] == f"pages/application/detail?id={detail['id']}"
    data = {k: v["value"] for k, v in message["data"].items()}
    assert data["character_string1"] == detail["acceptance_number"]
    assert data["phrase3"] == "已受理" and data["thing2"] == detail["industry"]["name"][:20]
    assert "年" in data["time4"] and ":" in data["time4"]
    key = session.scalar(select(InboxMessage.dedupe_key).where(
        InboxMessage.recipient_id == owner))
    row = wait_status(session, key, "sent")
    assert row.attempts == 1 and row.sent_at is not None
    assert remaining(session, owner) == 0 and inbox_count(session, owner) == 1


def test_no_send_without_quota_and_43101_marks_the_quota_spent(app, client, login, session,
                                                              emulator, running_worker):
    control(emulator, "config", enforce_quota=True)
    login("alice")
    alice = applicant_id(session, "alice")
    bob = subscribed(client, login, session, "bob")["bob"]  # reported to us, not to WeChat
    carol = subscribed(client, login, session, "carol", emulator=emulator)["carol"]

    keys = {user: enqueue_event(app, applicant=who)
            for user, who in (("alice", alice), ("bob", bob), ("carol", carol))}

    skipped = wait_status(session, keys["alice"], "skipped")
    refused = wait_status(session, keys["bob"], "refused")
    wait_status(session, keys["carol"], "sent")
    assert skipped.error_class == "no_quota" and skipped.attempts == 1
    assert refused.error_class == "user" and refused.last_error.startswith("43101")
    assert refused.attempts == 1  # the user's decision: never retried
    assert remaining(session, bob) == 0 and remaining(session, carol) == 0
    session.expire_all()
    assert session.scalar(select(WechatSubscription.last_result).where(
        WechatSubscription.applicant_id == bob)) == "spent"
    sends = [r for r in emulator_log(emulator)["requests"] if r["endpoint"] == "subscribe_send"]
    assert sorted(r["body"]["touser"] for r in sends) == sorted([openid_of("bob"),
                                                                 openid_of("carol")])
    assert all(inbox_count(session, who) == 1 for who in (alice, bob, carol))


@pytest.mark.parametrize("errcode", [47003, 40037, 41030])
def test_configuration_errors_are_refused_for_good_and_the_quota_kept(
        app, client, login, session, emulator, running_worker, errcode):
    alice = subscribed(client, login, session, "alice")["alice"]
    control(emulator, "faults", endpoint="subscribe_send", errcode=errcode, times=5)

    key = enqueue_event(app, applicant=alice)

    row = wait_status(session, key, "refused")
    time.sleep(0.5)  # several retry intervals: nothing more happens
    row = outbox_row(session, key)
    assert (row.status, row.error_class, row.attempts) == ("refused", "config", 1)
    assert row.last_error.startswith(str(errcode))
    sends = [r for r in emulator_log(emulator)["requests"] if r["endpoint"] == "subscribe_send"]
    assert len(sends) == 1
    assert remaining(session, alice) == 1  # nothing reached the user: the quota is still there


# --- WeChat faults -----------------------------------------------------------------------------


def test_wechat_system_error_then_success_is_delivered_once(app, client, login, session,
                                                           emulator, running_worker):
    alice = subscribed(client, login, session, "alice")["alice"]
    control(emulator, "faults", endpoint="subscribe_send", errcode=-1, times=1)

    key = enqueue_event(app, applicant=alice)

    row = wait_status(session, key, "sent")
    assert row.attempts == 2
    codes = [r["errcode"] for r in emulator_log(emulator)["requests"]
             if r["endpoint"] == "subscribe_send"]
    assert codes == [-1, 0]
    assert len(messages_to(emulator, openid_of("alice"))) == 1
    assert remaining(session, alice) == 0 and inbox_count(session, alice) == 1


def test_wechat_down_for_a_while_then_delivered_once(app, client, login, session, emulator,
                                                     running_worker):
    alice = subscribed(client, login, session, "alice")["alice"]
    control(emulator, "down", seconds=1.2)

    key = enqueue_event(app, applicant=alice)

    row = wait_status(session, key, "sent", timeout=15)
    assert row.attempts >= 2
    statuses = [r["status"] for r in emulator_log(emulator)["requests"]]
    assert statuses.count(503) == row.attempts - 1 and statuses[-1] == 200
    assert len(messages_to(emulator, openid_of("alice"))) == 1


def test_a_refused_token_is_refreshed_once_and_the_message_sent(app, client, login, session,
                                                                emulator, running_worker):
    alice, bob = subscribed(client, login, session, "alice", "bob").values()
    wait_status(session, enqueue_event(app, applicant=alice), "sent")  # the token is cached
    control(emulator, "expire_token")
    before = len(emulator_log(emulator)["requests"])

    key = enqueue_event(app, applicant=bob)

    assert wait_status(session, key, "sent").attempts == 1
    calls = [(r["endpoint"], r["errcode"]) for r in emulator_log(emulator)["requests"][before:]]
    assert calls == [("subscribe_send", 40001), ("token", 0), ("subscribe_send", 0)]


def test_wechat_daily_limit_waits_until_after_midnight(app, client, login, session, emulator,
                                                      worker_app):
    alice = subscribed(client, login, session, "alice")["alice"]
    control(emulator, "faults", endpoint="subscribe_send", errcode=45009)
    key = enqueue_event(app, applicant=alice)

    deliver_now(worker_app)

    row = outbox_row(session, key)
    midnight = (utcnow().astimezone(CHINA) + timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0)
    assert (row.status, row.error_class) == ("pending", "daily_limit")
    assert midnight <= row.due_at <= midnight + timedelta(minutes=10)
    assert remaining(session, alice) == 1  # given back until the message really goes


# --- department webhooks -----------------------------------------------------------------------


def test_department_webhook_answering_500_then_timing_out_is_delivered_once_and_signed(
        client, login, staff_login, session, receiver, running_worker):
    admin, _ = staff_login("system_admin")
    configured = client.put("/api/staff/v1/notifications/departments/market", headers=admin,
                            json={"url": receiver.url}).json
    receiver.secret = configured["secret"]
    receiver.script = ["500", "timeout"]
    applicant = login("owner")
    commissioner, _ = staff_login("window_commissioner")
    bureau, _ = staff_login("unit_reviewer", "approval_bureau")
    accepted(client, applicant, commissioner)
    food = next(t for t in staff_get(client, bureau, "/reviews")["reviews"]
                if t["item_code"] == "food_business")

    post(client, bureau, f"/reviews/{food['id']}/approve",
         {"version": food["version"], "opinion": "符合条件，准予许可"})

    record = session.scalar(select(DepartmentRecord))
    row = wait_status(session, f"webhook:{record.record_id}", "sent", timeout=15)
    assert row.attempts == 3
    assert [r["action"] for r in receiver.requests] == ["500", "timeout", "ok"]
    ids = {r["headers"]["X-Yiye-Delivery"] for r in receiver.requests}
    bodies = {r["body"] for r in receiver.requests}
    assert ids == {record.record_id} and len(bodies) == 1  # the same record, retried
    assert receiver.requests[-1]["headers"]["Idempotency-Key"] == record.record_id
    assert list(receiver.accepted) == [record.record_id]
    delivered = receiver.accepted[record.record_id]
    assert delivered["decision"] == "approved" and delivered["item"]["code"] == "food_business"
    assert delivered["holder"]["name"] and delivered["premises"]


def test_department_without_an_endpoint_is_skipped_and_left_to_the_feed(
        app, session, worker_app):
    with app.app_context():
        routing.push_to_department(db.session, DepartmentRecord(
            department_code="fire", record_id="item.approved:test:fire:x", event="item.approved",
            payload={"id": "item.approved:test:fire:x"}), aggregate="application:0")
        db.session.commit()

    deliver_now(worker_app)

    row = outbox_row(session, "webhook:item.approved:test:fire:x")
    assert (row.status, row.error_class) == ("skipped", "no_endpoint")


# --- the worker killed between sending and recording --------------------------------------------


def test_worker_killed_between_sending_and_recording_sends_no_duplicate(
        app, client, login, session, emulator, worker_app, start_worker, tmp_path):
    """A real worker process claims alice's message and is killed (SIGKILL) while WeChat is
    still answering; WeChat delivers it. The next worker finds the expired claim and marks it
    uncertain instead of sending it again; bob's message, still pending, goes out once."""
    alice, bob = subscribed(client, login, session, "alice", "bob").values()
    control(emulator, "faults", endpoint="subscribe_send", touser=openid_of("alice"),
            delay_seconds=1.5)
    first = enqueue_event(app, applicant=alice)
    second = enqueue_event(app, applicant=bob)
    settings = worker_settings(app, NOTIFY_LEASE_SECONDS=1.0, LOG_LEVEL="WARNING")
    env = os.environ | {k: str(v) for k, v in settings.values.items()}
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "backend.worker"], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        # killed once the request is at WeChat and before the answer is back
        wait_until(lambda: any(r["touser"] == openid_of("alice")
                               for r in emulator_log(emulator)["received"]), 60, "the send")
        assert status_of(session, first) == "sending"
        process.kill()  # SIGKILL: no cleanup, no recording
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
    wait_until(lambda: messages_to(emulator, openid_of("alice")), 5, "WeChat to deliver")
    assert status_of(session, first) == "sending", (tmp_path / "worker.log").read_text()
    assert status_of(session, second) == "pending"

    start_worker(worker_app)

    row = wait_status(session, first, "uncertain")
    wait_status(session, second, "sent")
    time.sleep(0.4)  # a few more rounds of the new worker: still nothing resent
    assert row.error_class == "lease_expired" and row.attempts == 1
    assert len(messages_to(emulator, openid_of("alice"))) == 1
    assert len(messages_to(emulator, openid_of("bob"))) == 1
    assert inbox_count(session, alice) == 1 and inbox_count(session, bob) == 1


# --- Redis restarted, the database unavailable ----------------------------------------------------


def test_redis_restarted_with_jobs_queued_loses_nothing(app, client, login, session, emulator,
                                                       start_worker, tmp_path):
    redis = servers.start_redis(tmp_path)
    # a worker process with a Redis of its own (create_app with that URL would also move the
    # process-wide rate limiter's storage there, under the other tests' feet)
    wapp = create_app(worker_settings(app))
    wapp.extensions["settings"] = worker_settings(app, REDIS_URL=redis.url)
    wapp.extensions["redis"] = redis_lib.Redis.from_url(redis.url, socket_timeout=2,
                                                        socket_connect_timeout=2)
    users = subscribed(client, login, session, "alice", "bob", "carol", "dave")
    workers = []
    try:
        workers.append(start_worker(wapp))
        wait_status(session, enqueue_event(wapp, applicant=users["alice"]), "sent")
        workers[0].stop()
        queued = [enqueue_event(wapp, applicant=users[u]) for u in ("bob", "carol")]
        redis.stop()  # the doorbell's tokens and the cached access token are gone
        redis = servers.start_redis(tmp_path, port=redis.port)
        workers.append(start_worker(wapp))
        for key in queued:
            wait_status(session, key, "sent")
        redis.stop()  # down while the worker runs: it polls
        late = enqueue_event(wapp, applicant=users["dave"])
        wait_status(session, late, "sent")
    finally:
        for running in workers:
            running.stop()
        redis.stop()
        with wapp.app_context():
            db.engine.dispose()

    for user in users:
        assert len(messages_to(emulator, openid_of(user))) == 1, user


class Proxy:
    """A TCP proxy to the database that the test can cut: the database, as the worker sees
    it, goes away (connections dropped, new ones refused) and comes back."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.down = False
        self.sockets: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            upstream = socket.create_connection(self.upstream)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self) -> None:
        self.down = True
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.sockets.clear()

    def restore(self) -> None:
        self.down = False

    def close(self) -> None:
        self.cut()
        self.listener.close()


def test_database_unavailable_during_a_send_records_the_outcome_once_it_is_back(
        app, client, login, session, emulator, start_worker):
    """The worker has sent (WeChat answered) but cannot record it: the database is locked
    (SQLite) or gone (MariaDB, behind a proxy that drops every connection). It keeps the
    outcome and writes it when the database is back: sent once, never resent."""
    alice = subscribed(client, login, session, "alice")["alice"]
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    proxy = lock = None
    if url.startswith("sqlite"):
        database_url = url + "?timeout=0.3"  # a locked database answers within 0.3 s
    else:
        parts = urlsplit(url)
        proxy = Proxy(parts.hostname, parts.port)
        database_url = urlunsplit(parts._replace(netloc=parts.netloc.replace(
            f":{parts.port}", f":{proxy.port}")))
    wapp = create_app(worker_settings(app, DATABASE_URL=database_url,
                                      NOTIFY_LEASE_SECONDS=30.0))
    control(emulator, "faults", endpoint="subscribe_send", touser=openid_of("alice"),
            delay_seconds=0.8)
    running = None
    try:
        running = start_worker(wapp)
        key = enqueue_event(app, applicant=alice)
        wait_status(session, key, "sending")
        if proxy is not None:
            proxy.cut()
        else:
            lock = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
            lock.execute("BEGIN EXCLUSIVE")
        wait_until(lambda: messages_to(emulator, openid_of("alice")), 5, "WeChat to deliver")
        time.sleep(1.0)  # the worker tries, and fails, to record meanwhile
        if proxy is not None:
            assert status_of(session, key) == "sending"
            proxy.restore()
        else:
            lock.execute("ROLLBACK")
            lock.close()
            lock = None

        row = wait_status(session, key, "sent")
    finally:
        if lock is not None:
            lock.close()
        if running is not None:
            running.stop()
        if proxy is not None:
            proxy.close()
        with wapp.app_context():
            db.engine.dispose()

    assert row.attempts == 1
    assert len(messages_to(emulator, openid_of("alice"))) == 1
    assert inbox_count(session, alice) == 1


# --- several workers ---------------------------------------------------------------------------


def test_two_workers_share_the_outbox_without_sending_anything_twice(
        app, session, emulator, worker_app, start_worker):
    people = []
    for n in range(12):
        person = Applicant(openid=openid_of(f"crowd{n}"))
        session.add(person)
        session.flush()
        session.add(WechatSubscription(applicant_id=person.id, template_id=template_id(
            "progress"), remaining=1, accepted_total=1, last_result="accept"))
        people.append(person.id)
    session.commit()
    start_worker(worker_app)
    start_worker(worker_app)

    keys = [enqueue_event(app, applicant=who) for who in people]

    rows = [wait_status(session, key, "sent") for key in keys]
    assert {r.attempts for r in rows} == {1}
    received = [m["touser"] for m in emulator_log(emulator)["messages"]]
    assert sorted(received) == sorted(openid_of(f"crowd{n}") for n in range(12))


def test_a_webhook_that_keeps_failing_ends_failed_and_a_replay_starts_afresh(
        app, client, staff_login, session, receiver):
    admin, _ = staff_login("system_admin")
    receiver.secret = client.put("/api/staff/v1/notifications/departments/market",
                                 headers=admin, json={"url": receiver.url}).json["secret"]
    receiver.script = ["500", "500"]
    with app.app_context():
        routing.push_to_department(db.session, DepartmentRecord(
            department_code="market", record_id="item.approved:t:market:x",
            event="item.approved", payload={"id": "item.approved:t:market:x"}),
            aggregate="application:0")
        db.session.commit()
    wapp = create_app(worker_settings(app, NOTIFY_MAX_ATTEMPTS=2,
                                      NOTIFY_RETRY_BASE_SECONDS=0.0))
    try:
        deliver_now(wapp)
        failed = outbox_row(session, "webhook:item.approved:t:market:x")
        replayed = post(client, admin, f"/notifications/deliveries/{failed.id}/replay")
        deliver_now(wapp)
    finally:
        with wapp.app_context():
            db.engine.dispose()

    assert (failed.status, failed.attempts, failed.error_class) == ("failed", 2, "transient")
    assert replayed["attempts"] == 0 and "已尝试 2 次" in replayed["last_error"]
    row = outbox_row(session, "webhook:item.approved:t:market:x")
    assert (row.status, row.attempts) == ("sent", 1)
    assert list(receiver.accepted) == ["item.approved:t:market:x"]
