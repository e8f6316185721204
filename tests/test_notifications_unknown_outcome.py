"""Sends whose outcome the worker cannot know (issue 19).

WeChat has no idempotency key: a send that may have reached WeChat — an answer later than
the client's timeout, the connection reset after the request was read, an answer that is
not JSON — is recorded ``uncertain`` and never resent automatically, and the quota unit it
reserved stays spent. Only failures that prove nothing was sent (connection refused, a
timeout while connecting, DNS) are retried. Department webhooks carry an idempotency id:
the same faults are retried there, and the receiver dedupes by that id.

Counts come from what the emulator and the receiver actually got; no timing assertions.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest

from backend import worker
from backend.app import create_app
from backend.extensions import db
from backend.models import DepartmentRecord
from notifications import channels, routing
from notifications.wechat import make_client
from tests import test_notifications as shared
from tests.conftest import APPID, SECRET
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
from tests.test_notifications_worker import inbox_count, remaining

receiver = shared.receiver  # the fixtures
fresh_emulator = shared.fresh_emulator

STAFF = "/api/staff/v1"
TIMEOUT = 0.5  # the WeChat client's timeout in these tests; the late answer comes after it
UNKNOWN_OUTCOMES = {
    "late answer": {"delay_seconds": TIMEOUT + 0.3},
    "reset after reading": {"reset_connection": True},
    "unparsable answer": {"answer_text": "<html><body>502 Bad Gateway</body></html>"},
}


@contextlib.contextmanager
def refusing_address() -> Iterator[str]:
    """A base URL whose port refuses connections: bound (so nothing else takes it), never
    listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"


@contextlib.contextmanager
def unanswered_address() -> Iterator[str]:
    """A base URL whose connections time out while connecting: a listener with a full
    backlog that never accepts."""
    with socket.create_server(("127.0.0.1", 0), backlog=0) as server, \
            contextlib.ExitStack() as stack:
        port = server.getsockname()[1]
        for _ in range(8):  # fill the accept queue until a connection attempt times out
            sock = stack.enter_context(socket.socket())
            sock.settimeout(0.2)
            try:
                sock.connect(("127.0.0.1", port))
            except TimeoutError:
                break
        yield f"http://127.0.0.1:{port}/"


@pytest.fixture
def fault_app(app):
    """A worker process's app with a short WeChat timeout."""
    made = create_app(worker_settings(app, WECHAT_TIMEOUT_SECONDS=TIMEOUT))
    yield made
    with made.app_context():
        db.engine.dispose()


def settle(worker_app, session, key: str):
    """Worker rounds until the row stops waiting (a retry is due within 0.25 s)."""
    def done():
        deliver_now(worker_app)
        row = outbox_row(session, key)
        return row if row.status != "pending" else None

    return wait_until(done, 10, f"{key} to settle")


def with_quota(client, login, session, emulator, user: str, times: int) -> int:
    """The user accepted the template ``times`` times: WeChat and we both know it, so a
    resend would be accepted (and spend a unit meant for a later message)."""
    headers = login(user)
    for _ in range(times):
        subscribe(client, headers, "progress", emulator=emulator, user=user)
    return applicant_id(session, user)


def wechat_quota(emulator, user: str) -> int:
    [entry] = [q for q in emulator_log(emulator)["quota"] if q["touser"] == openid_of(user)]
    return entry["remaining"]


def sends_to(emulator, user: str) -> int:
    """subscribe_send calls that reached the emulator for this user, answered or not."""
    return sum(1 for r in emulator_log(emulator)["received"]
               if r["endpoint"] == "subscribe_send" and r["touser"] == openid_of(user))


# --- WeChat ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", UNKNOWN_OUTCOMES.values(), ids=UNKNOWN_OUTCOMES)
def test_a_wechat_send_with_an_unknown_outcome_arrives_once_and_is_left_uncertain(
        app, client, login, session, emulator, fault_app, fault):
    control(emulator, "config", enforce_quota=True)
    alice = with_quota(client, login, session, emulator, "alice", 2)
    control(emulator, "faults", endpoint="subscribe_send", touser=openid_of("alice"), **fault)
    key = enqueue_event(app, applicant=alice)

    settle(fault_app, session, key)
    wait_until(lambda: messages_to(emulator, openid_of("alice")), 5, "WeChat to accept")
    deliver_now(fault_app)  # another round: nothing is resent

    row = outbox_row(session, key)
    assert (row.status, row.error_class, row.attempts) == ("uncertain", "unknown_outcome", 1)
    assert row.sent_at is None and row.last_error
    assert len(messages_to(emulator, openid_of("alice"))) == 1
    assert sends_to(emulator, "alice") == 1  # no hidden retry below us either
    assert wechat_quota(emulator, "alice") == 1 and remaining(session, alice) == 1
    assert inbox_count(session, alice) == 1


def test_a_wechat_send_to_a_refusing_address_is_retried_and_arrives_once(
        app, client, login, session, emulator, fault_app):
    control(emulator, "config", enforce_quota=True)
    alice = with_quota(client, login, session, emulator, "alice", 2)
    with fault_app.app_context():  # the shared token is cached: the send meets the refusal
        assert worker.make_deliverer(fault_app).wechat.access_token
    key = enqueue_event(app, applicant=alice)
    with refusing_address() as base:
        refused_app = create_app(worker_settings(app, WECHAT_API_BASE=base))
        try:
            deliver_now(refused_app)
        finally:
            with refused_app.app_context():
                db.engine.dispose()
    first = outbox_row(session, key)
    waiting = (first.status, first.error_class, first.attempts)
    given_back = remaining(session, alice)

    row = settle(fault_app, session, key)

    assert waiting == ("pending", "transient", 1)
    assert given_back == 2  # nothing reached WeChat: the unit is back
    assert (row.status, row.attempts) == ("sent", 2)
    assert len(messages_to(emulator, openid_of("alice"))) == 1 and sends_to(emulator,
                                                                             "alice") == 1
    assert wechat_quota(emulator, "alice") == 1 and remaining(session, alice) == 1


def _send(base_url: str) -> channels.Result:
    wechat = make_client(appid=APPID, secret=SECRET, base_url=base_url, timeout=TIMEOUT)
    wechat.session.set(wechat.access_token_key, "a-cached-token")  # the send itself fails
    try:
        return channels.send_wechat(wechat, openid=openid_of("alice"),
                                    template_id=template_id("progress"),
                                    data={"thing1": {"value": "营业执照"}}, page=None)
    finally:
        wechat.close()


@pytest.mark.parametrize("address", [refusing_address, unanswered_address,
                                     lambda: contextlib.nullcontext("http://yiye.invalid/")],
                         ids=["connection refused", "connect timeout", "unknown host"])
def test_a_send_that_never_connected_is_retried(fresh_emulator, address):
    with address() as base:
        result = _send(base)

    assert (result.outcome, result.error_class) == ("retry", "transient")


@pytest.mark.parametrize(("fault", "outcome"), [
    *((f, "uncertain") for f in UNKNOWN_OUTCOMES.values()),
    ({"http_status": 500}, "uncertain"), ({"http_status": 502}, "uncertain"),
    ({"http_status": 504}, "uncertain"),
    ({"http_status": 503}, "retry"), ({"http_status": 429}, "retry"),
], ids=[*UNKNOWN_OUTCOMES, "500", "502", "504", "503", "429"])
def test_a_send_that_reached_the_server_is_uncertain_unless_it_says_it_did_nothing(
        fresh_emulator, fault, outcome):
    control(fresh_emulator, "faults", endpoint="subscribe_send", **fault)

    result = _send(fresh_emulator.base_url)

    assert result.outcome == outcome
    wait_until(lambda: len(emulator_log(fresh_emulator)["requests"]) == 1, 5, "the answer")


# --- department webhooks: the same faults, retried, deduplicated by the receiver ---------------


@pytest.mark.parametrize("fault", ["timeout", "reset", "refused"],
                         ids=["late answer", "reset after reading", "connection refused"])
def test_a_department_webhook_is_retried_through_each_fault_and_received_once(
        app, client, staff_login, session, receiver, fault):
    admin, _ = staff_login("system_admin")

    def point_at(url: str) -> None:
        answer = client.put("/api/staff/v1/notifications/departments/market", headers=admin,
                            json={"url": url}).json
        receiver.secret = answer.get("secret") or receiver.secret

    record_id = "item.approved:t:market:x"
    with app.app_context():
        routing.push_to_department(db.session, DepartmentRecord(
            department_code="market", record_id=record_id, event="item.approved",
            payload={"id": record_id}), aggregate="application:0")
        db.session.commit()
    wapp = create_app(worker_settings(app))
    try:
        if fault == "refused":
            with refusing_address() as base:
                point_at(base + "hooks/yiye")
                deliver_now(wapp)
            waiting = outbox_row(session, f"webhook:{record_id}")
            assert (waiting.status, waiting.attempts) == ("pending", 1)
            point_at(receiver.url)
        else:
            point_at(receiver.url)
            receiver.script = [fault]
        row = settle(wapp, session, f"webhook:{record_id}")
    finally:
        with wapp.app_context():
            db.engine.dispose()

    assert (row.status, row.attempts) == ("sent", 2)
    delivered = 1 if fault == "refused" else 2  # a late or reset delivery arrived too
    wait_until(lambda: len(receiver.verified) == delivered, 5, "the deliveries")
    assert receiver.verified == [record_id] * delivered
    assert list(receiver.accepted) == [record_id]  # the receiver deduped by the id


def test_an_uncertain_send_is_listed_for_the_administrator_and_replayed_only_knowingly(
        app, client, login, staff_login, session, emulator, fault_app):
    alice = with_quota(client, login, session, emulator, "alice", 2)
    control(emulator, "faults", endpoint="subscribe_send", reset_connection=True)
    key = enqueue_event(app, applicant=alice)
    settle(fault_app, session, key)
    admin, _ = staff_login("system_admin")
    deliveries = f"{STAFF}/notifications/deliveries"

    listed = client.get(deliveries, headers=admin,
                        query_string={"status": "uncertain", "channel": "wechat"}).json
    counts = client.get(f"{STAFF}/notifications/summary", headers=admin).json["counts"]
    row_id = listed["deliveries"][0]["id"]
    refused = client.post(f"{deliveries}/{row_id}/replay", headers=admin, json={})
    replayed = client.post(f"{deliveries}/{row_id}/replay", headers=admin,
                           json={"accept_duplicate_risk": True})
    row = settle(fault_app, session, key)

    assert [(d["error_class"], d["attempts"]) for d in listed["deliveries"]] == [
        ("unknown_outcome", 1)]
    assert counts["wechat"] == {"uncertain": 1}
    assert refused.status_code == 409 and refused.json["code"] == "DELIVERY_MAY_HAVE_ARRIVED"
    assert replayed.status_code == 200 and replayed.json["status"] == "pending"
    assert (row.status, row.attempts) == ("sent", 1)
    assert len(messages_to(emulator, openid_of("alice"))) == 2  # the duplicate, knowingly
    assert remaining(session, alice) == 0
