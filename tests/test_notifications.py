"""Notifications, the parts below the worker: value fitting to WeChat's rules (checked by the
emulator's own validator), the message configuration, webhook signatures, backoff, the
emulator's subscription behaviours, and the shared access token refreshed once.

The fixtures here (a fast worker app, a running worker, a department receiver) serve the
other test_notifications_* modules too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis as redis_lib
import requests
from sqlalchemy import select

from backend import worker
from backend.app import create_app
from backend.extensions import db
from backend.models import Applicant
from notifications import channels, delivery, outbox, routing, signing, templates
from notifications.wechat import make_client
from tests.conftest import APPID, SECRET, make_settings
from wechat_emulator.app import VALUE_RULES, _wechat_id
from wechat_emulator.server import abort_connection

MP = "/api/mp/v1"

# the worker's knobs, shortened so that retries and leases play out in a test's time
FAST = {"WORKER_POLL_SECONDS": 0.1, "NOTIFY_LEASE_SECONDS": 2.0,
        "NOTIFY_RETRY_BASE_SECONDS": 0.2, "NOTIFY_RETRY_MAX_SECONDS": 1.0,
        "NOTIFY_MAX_ATTEMPTS": 15, "NOTIFY_TICK_SECONDS": 3600.0,
        "NOTIFY_WEBHOOK_TIMEOUT_SECONDS": 0.5, "NOTIFY_FEED_SETTLE_SECONDS": 0.0,
        "WECHAT_TIMEOUT_SECONDS": 3.0, "ELICENSE_LIBRARY_TIMEOUT_SECONDS": 2.0}


# --- fixtures shared by the notification tests -------------------------------------------------


def worker_settings(app, **overrides):
    base = app.extensions["settings"].values
    return make_settings(**({"DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
                             "REDIS_URL": base["REDIS_URL"],
                             "WECHAT_API_BASE": base["WECHAT_API_BASE"],
                             "ELICENSE_LIBRARY_URL": base["ELICENSE_LIBRARY_URL"],
                             "MEDIA_ROOT": base["MEDIA_ROOT"]} | FAST | overrides))


@pytest.fixture(scope="session")
def worker_app(app):
    """A second app on the same database, Redis and emulator, with the fast knobs: what a
    `flask worker` process of its own would be."""
    made = create_app(worker_settings(app))
    yield made
    with made.app_context():
        db.engine.dispose()


class RunningWorker:
    """The real worker loop (``backend.worker.run``) in a thread, stoppable."""

    def __init__(self, app) -> None:
        self.app = app
        self.stop_event = threading.Event()
        self.thread = worker.start_in_process(app, self.stop_event)

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "worker did not stop"


@pytest.fixture
def start_worker() -> Iterator[Callable[..., RunningWorker]]:
    started: list[RunningWorker] = []

    def start(app) -> RunningWorker:
        started.append(RunningWorker(app))
        return started[-1]

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def running_worker(worker_app, start_worker) -> RunningWorker:
    return start_worker(worker_app)


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def control(emulator, action: str, **body) -> dict:
    resp = requests.post(f"{emulator.base_url}_emulator/{action}", json=body, timeout=5)
    assert resp.status_code in {200, 201}, resp.text
    return resp.json()


def emulator_log(emulator) -> dict:
    return requests.get(f"{emulator.base_url}_emulator/log", timeout=5).json()


def messages_to(emulator, openid: str) -> list[dict]:
    return [m for m in emulator_log(emulator)["messages"] if m["touser"] == openid]


def openid_of(user: str) -> str:
    return _wechat_id(APPID, user)


def template_id(name: str) -> str:
    return templates.load().templates[name].id


def applicant_id(session, user: str) -> int:
    return session.scalar(select(Applicant.id).where(Applicant.openid == openid_of(user)))


def subscribe(client, headers, *names: str, emulator=None, user: str | None = None) -> dict:
    """The user taps 允许 for these templates: WeChat learns it (the emulator, when it enforces
    quotas) and the mini-program reports it to us."""
    results = {template_id(n): "accept" for n in names}
    if emulator is not None:
        for n in names:
            control(emulator, "subscribe", user=user, template_id=template_id(n))
    resp = client.post(f"{MP}/subscriptions", headers=headers, json={"results": results})
    assert resp.status_code == 200, resp.json
    return resp.json


def enqueue_event(app, *, applicant: int, event: str = "application.accepted",
                  key: str | None = None, **payload) -> str:
    """A domain event committed as a state change would commit it (fan-out included)."""
    key = key or f"{event}:test-{uuid.uuid4().hex[:10]}"
    with app.app_context():
        outbox.enqueue(db.session, event=event, aggregate="application:0", dedupe_key=key,
                       payload={"applicant_id": applicant, "acceptance_number": "SL20260001",
                                "message": "窗口受理，各事项已分送审批单位", "reason": None}
                       | payload)
        db.session.commit()
    return key


def outbox_row(session, key: str) -> outbox.OutboxMessage:
    session.expire_all()
    return session.scalar(select(outbox.OutboxMessage).where(
        outbox.OutboxMessage.dedupe_key == key))


def deliver_now(app) -> int:
    """One synchronous round of the worker's delivery (no thread): deterministic tests."""
    with app.app_context():
        deliverer = worker.make_deliverer(app)
        try:
            return deliverer.deliver_due(db.session)
        finally:
            deliverer.wechat.close()
            db.session.remove()


class Receiver:
    """A supervising department's webhook receiver on 127.0.0.1, programmable per request:
    ``script`` holds what to do with the next requests: "500"; "timeout" (accept after the
    worker has given up waiting); "reset" (accept, then reset the connection instead of
    answering); "ok". What it accepts it dedupes by delivery id, as a department must:
    ``verified`` lists every verified delivery's id, ``accepted`` each record once."""

    def __init__(self) -> None:
        self.script: list[str] = []
        self.requests: list[dict] = []
        self.verified: list[str] = []
        self.accepted: dict[str, dict] = {}
        self.secret: str | None = None
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    action = receiver.script.pop(0) if receiver.script else "ok"
                    receiver.requests.append({"headers": dict(self.headers), "body": body,
                                              "action": action})
                if action == "500":
                    return self._answer(500, b"internal error")
                if action == "timeout":
                    time.sleep(1.0)  # longer than the worker's webhook timeout
                # what a department does: verify with plain HMAC, then dedupe by delivery id
                timestamp = self.headers["X-Yiye-Timestamp"]
                expected = "v1=" + hmac.new(receiver.secret.encode(),
                                            timestamp.encode() + b"." + body,
                                            hashlib.sha256).hexdigest()
                if not hmac.compare_digest(expected, self.headers["X-Yiye-Signature"]) or abs(
                        time.time() - int(timestamp)) > 300:
                    return self._answer(401, b"bad signature")
                with receiver.lock:
                    receiver.verified.append(self.headers["X-Yiye-Delivery"])
                    receiver.accepted.setdefault(self.headers["X-Yiye-Delivery"],
                                                 json.loads(body))
                if action == "reset":
                    self.close_connection = True
                    return abort_connection(self.connection)
                return self._answer(200, b"ok")

            def _answer(self, status: int, text: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/yiye"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fresh_emulator(emulator):
    """For tests without ``app`` (whose cleanup resets the emulator): reset before and after."""
    emulator.reset()
    yield emulator
    emulator.reset()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


# --- value fitting: WeChat's per-type limits, checked by the emulator's own rules -------------


def wechat_accepts(kind: str, value: str) -> bool:
    _, rule = VALUE_RULES[kind]
    return bool(value) and "\n" not in value and rule(value)


def test_thing_over_20_characters_is_cut_with_an_ellipsis():
    long = "太原市小店区平阳路一号二单元三层三零一室东侧临街商铺"

    fitted = templates.fit("thing", long)

    assert len(fitted) == 20 and fitted.endswith("…") and fitted.startswith(long[:19])
    assert templates.fit("thing", "短事项") == "短事项"
    assert templates.fit("thing", "第一行\n第二行") == "第一行 第二行"


@pytest.mark.parametrize(("kind", "raw", "expected"), [
    ("phrase", "已受理", "已受理"),
    ("phrase", "审批通过，待发证", "审批通过待"),
    ("phrase", "OK 通过!", "通过"),
    ("character_string", "SL2026-0001 号", "SL2026-0001"),
    ("character_string", "A" * 40, "A" * 32),
    ("number", "共 12 件", "12"),
    ("letter", "ab-c 12", "abc"),
    ("symbol", "-!?@#$%", "-!?@#"),
    ("name", "张三丰（法定代表人）", "张三丰法定代表人"),
    ("name", "Zhang San Feng of Taiyuan", "Zhang San Feng of Ta"),
    ("phone_number", "138 0000 1234", "13800001234"),
    ("car_number", "晋A 12345", "晋A12345"),
    ("amount", "¥120.50元", "¥120.50元"),
])
def test_values_are_fitted_to_what_wechat_accepts(kind, raw, expected):
    fitted = templates.fit(kind, raw)

    assert fitted == expected
    assert wechat_accepts(kind, fitted), (kind, fitted)


def test_empty_values_get_a_placeholder_wechat_accepts():
    for kind in ("thing", "phrase", "character_string", "letter", "symbol", "name",
                 "phone_number", "car_number"):
        assert wechat_accepts(kind, templates.fit(kind, None)), kind


def test_dates_and_times_are_written_in_beijing_time_the_wechat_way():
    at = datetime(2026, 11, 25, 17, 5, tzinfo=UTC)  # 01:05 next day in Beijing

    assert templates.fit("time", at) == "2026年11月26日 01:05"
    assert templates.fit("date", at) == "2026年11月26日"
    assert templates.fit("date", date(2027, 1, 9)) == "2027年1月9日"
    assert templates.fit("date", "2031-11-24") == "2031年11月24日"
    window = routing.inspection_time("2026-11-27", "09:00-11:00")
    assert window == "2026年11月27日 09:00~11:00"
    assert templates.fit("time", window) == window
    for kind, value in (("time", templates.fit("time", at)), ("date", "2031年11月24日"),
                        ("time", window)):
        assert wechat_accepts(kind, value), value


def test_a_value_that_cannot_be_a_date_is_a_configuration_error():
    with pytest.raises(templates.TemplateError, match="date3"):
        templates.fit("date", "下周三", keyword="date3")
    with pytest.raises(templates.TemplateError):
        templates.fit("time", date(2026, 11, 27))  # a time needs a clock time
    with pytest.raises(templates.TemplateError):
        templates.fit("amount", "一百元")


# events that only a license with an expiry date has (a 长期 license never expires)
EXPIRY_EVENTS = {"license.expiring", "license.renewed"}


@pytest.mark.parametrize("valid_until", [date(2031, 11, 24), None], ids=["dated", "long-term"])
def test_every_configured_event_renders_values_wechat_accepts(valid_until):
    """Each event's template data, from a context with long and awkward values, passes the
    emulator's validator for every keyword: no configured event can earn a 47003, for a
    license with an expiry date and for a 长期 one (its issue was refused as "date3: not a
    date: None" and never reached the holder)."""
    config = templates.load()
    context = {
        "number": "SL20261125000123", "industry_name": "饭店（含网络餐饮服务、集体用餐配送）",
        "item_name": "公众聚集场所投入使用、营业前消防安全检查",
        "message": "一次性告知需补正的内容：\n1. 租赁合同须有出租方签章；2. 补充门牌号",
        "reason": "经营场所位于居民楼内，不符合规划要求，依法不予受理",
        "at": datetime(2026, 11, 25, 2, 30, tzinfo=UTC),
        "inspection_time": routing.inspection_time("2026-11-27", "14:00-16:00"),
        "inspection_address": "太原市小店区平阳路 1 号 2 单元底商（近长风街）",
        "license_no": "14010520260912345X", "valid_until": valid_until,
        "application_id": 7, "license_id": 3, "days_left": 30,
    }
    checked = 0
    for event, spec in config.events.items():
        assert templates.render_text(spec.title, context), event
        if spec.wechat is None or (valid_until is None and event in EXPIRY_EVENTS):
            continue
        data = templates.render_data(config.template(spec.wechat.template), spec.wechat.data,
                                     context)
        for keyword, item in data.items():
            assert wechat_accepts(templates.kind_of(keyword), item["value"]), (event, keyword,
                                                                               item["value"])
        checked += 1
    assert checked >= 10


def test_configuration_refuses_data_that_does_not_match_the_template(tmp_path):
    text = templates.DEFAULT_PATH.read_text(encoding="utf-8").replace(
        "thing5: 各审批单位正在并联审查", "thing9: 各审批单位正在并联审查", 1)
    path = tmp_path / "templates.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ValueError, match="application.accepted"):
        templates.load(str(path))


# --- webhook signatures and backoff ------------------------------------------------------------


def test_webhook_signature_verifies_and_refuses_tampering_and_stale_timestamps():
    secret, body, now = "s3cret", channels.webhook_body({"id": "x", "holder": "某餐饮"}), 1.8e9
    timestamp = str(int(now))
    signature = signing.sign(secret, timestamp, body)

    assert signing.verify(secret, timestamp, body, signature, now=now)
    assert not signing.verify(secret, timestamp, body + b" ", signature, now=now)
    assert not signing.verify("other", timestamp, body, signature, now=now)
    assert not signing.verify(secret, str(int(now) + 1), body, signature, now=now)
    assert not signing.verify(secret, timestamp, body, signature, now=now + 301)
    assert body == json.dumps(json.loads(body), ensure_ascii=False, sort_keys=True,
                              separators=(",", ":")).encode()


def test_backoff_doubles_is_capped_and_waits_for_midnight_on_the_daily_limit():
    policy = delivery.Policy(retry_base_seconds=30, retry_max_seconds=600)
    now = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)  # 14:00 in Beijing
    rng = random.Random(1)

    delays = [(delivery.next_due(now, n, "transient", policy, rng) - now).total_seconds()
              for n in (1, 2, 3, 10)]

    assert 22.5 <= delays[0] <= 37.5 and 45 <= delays[1] <= 75 and 90 <= delays[2] <= 150
    assert 450 <= delays[3] <= 750
    midnight = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)  # 00:00 the next day in Beijing
    retry = delivery.next_due(now, 1, "daily_limit", policy, rng)
    assert midnight <= retry <= midnight + timedelta(minutes=10)


# --- the emulator's subscription behaviours ------------------------------------------------------


def _send(client, touser: str, template: str = "dev-progress-0001", page: str | None = None):
    data = {"thing1": {"value": "饭店"}}
    return client.wxa.send_subscribe_message(touser, template, data, page=page)


def test_emulator_enforces_quota_templates_and_pages(fresh_emulator):
    emulator = fresh_emulator
    from wechatpy.exceptions import WeChatClientException

    client = make_client(appid=APPID, secret=SECRET, base_url=emulator.base_url, timeout=3)
    alice = openid_of("alice")
    control(emulator, "config", enforce_quota=True, templates=["dev-progress-0001"],
            pages=["pages/application/detail"])
    try:
        codes = []
        for call in (lambda: _send(client, alice),  # no quota yet
                     lambda: _send(client, alice, template="unknown-template"),
                     lambda: _send(client, alice, page="pages/missing/index")):
            with pytest.raises(WeChatClientException) as caught:
                call()
            codes.append(caught.value.errcode)
        control(emulator, "subscribe", user="alice", template_id="dev-progress-0001")
        sent = _send(client, alice, page="pages/application/detail?id=7")
        with pytest.raises(WeChatClientException) as spent:
            _send(client, alice)
    finally:
        client.close()

    assert codes == [43101, 40037, 41030]
    assert sent["errcode"] == 0 and spent.value.errcode == 43101
    assert emulator_log(emulator)["quota"] == [
        {"touser": alice, "template_id": "dev-progress-0001", "remaining": 0}]


# --- one shared token, refreshed once -----------------------------------------------------------


def test_a_token_refused_in_many_workers_at_once_is_refreshed_once(fresh_emulator, redis_url):
    """Eight workers (each its own client, sharing the token through Redis) all hit 40001 at
    the same moment; the token is fetched once, and every message still goes out."""
    emulator = fresh_emulator
    redis = redis_lib.Redis.from_url(redis_url)
    redis.flushdb()
    clients = [make_client(appid=APPID, secret=SECRET, base_url=emulator.base_url, timeout=3,
                           redis=redis, auto_retry=False) for _ in range(8)]
    alice = openid_of("alice")
    data = {"thing1": {"value": "饭店"}}
    try:
        assert channels.send_wechat(clients[0], openid=alice, template_id="t", data=data,
                                    page=None).outcome == channels.SENT
        for c in clients:
            _ = c.access_token  # every worker holds the current token
        control(emulator, "expire_token")
        before = len(emulator_log(emulator)["requests"])
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda c: channels.send_wechat(
                c, openid=alice, template_id="t", data=data, page=None), clients))
    finally:
        for c in clients:
            c.close()
        redis.flushdb()
        redis.close()

    calls = [r["endpoint"] for r in emulator_log(emulator)["requests"][before:]]
    assert calls.count("token") == 1
    assert [r.outcome for r in results] == [channels.SENT] * 8
    assert len(messages_to(emulator, alice)) == 9
