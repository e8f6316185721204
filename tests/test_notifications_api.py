"""Notifications through the HTTP API and the tick: the in-app inbox written with the state
change, the subscription quota the mini-program reports, department records, endpoints and
the pull feed, delivery state and replay for administrators, and the periodic tick."""

from __future__ import annotations

import math
import os
import time
from datetime import UTC, date, datetime, timedelta

import pytest
import requests
from sqlalchemy import func, select

from backend import worker
from backend.app import create_app
from backend.clock import CHINA
from backend.extensions import db
from backend.models import (
    Applicant,
    Application,
    ApplicationEvent,
    ApplicationItem,
    CatalogVersion,
    DepartmentEndpoint,
    DepartmentRecord,
    InboxMessage,
    Inspection,
    License,
    LicenseItem,
    LicenseRendition,
    WechatSubscription,
)
from backend.models.base import utcnow
from backend.security import addresses, tokens
from notifications import channels, outbox, routing
from notifications import tick as jobs
from tests import test_notifications as shared
from tests.test_app import assert_envelope
from tests.test_notifications import (
    MP,
    applicant_id,
    deliver_now,
    enqueue_event,
    outbox_row,
    subscribe,
    template_id,
)
from tests.test_workflow import RESTAURANT, STAFF, accepted, post, staff_get, submitted

worker_app = shared.worker_app  # the fixture
receiver = shared.receiver  # the fixture


def inbox_rows(session, applicant: int) -> list[InboxMessage]:
    session.expire_all()
    return list(session.scalars(select(InboxMessage).where(
        InboxMessage.recipient_kind == "applicant", InboxMessage.recipient_id == applicant)
        .order_by(InboxMessage.id)))


# --- the inbox is written with the state change -----------------------------------------------


def test_acceptance_writes_the_inbox_message_and_the_delivery_in_its_transaction(
        client, login, staff_login, session):
    applicant = login("owner")
    commissioner, _ = staff_login("window_commissioner")
    app = submitted(client, applicant, **RESTAURANT)
    owner = applicant_id(session, "owner")
    assert_envelope(client.post(f"{STAFF}/applications/{app['id']}/accept", headers=commissioner,
                                json={"version": app["version"] - 1}), 409, "VERSION_CONFLICT")
    assert inbox_rows(session, owner) == []  # the refused transition wrote nothing

    detail = post(client, commissioner, f"/applications/{app['id']}/accept",
                  {"version": app["version"]})

    [message] = inbox_rows(session, owner)
    assert message.event == "application.accepted" and message.title == "申请已受理"
    assert detail["acceptance_number"] in message.body
    assert message.page == f"pages/application/detail?id={app['id']}"
    row = outbox_row(session, message.dedupe_key)
    assert (row.channel, row.target, row.status) == ("wechat", f"applicant:{owner}", "pending")
    # item lanes opened in the same step notify nobody: one message for one event
    assert session.scalar(select(func.count()).select_from(InboxMessage)) == 1


def test_a_rolled_back_state_change_leaves_no_message(app, login, session):
    login("alice")
    alice = applicant_id(session, "alice")
    with app.app_context():
        outbox.enqueue(db.session, event="application.accepted", aggregate="application:0",
                       dedupe_key="application.accepted:rolled-back",
                       payload={"applicant_id": alice, "message": "窗口受理"})
        db.session.flush()
        db.session.rollback()

    assert inbox_rows(session, alice) == []
    assert outbox_row(session, "application.accepted:rolled-back") is None


def test_the_same_event_twice_is_one_message(app, login, session):
    login("alice")
    alice = applicant_id(session, "alice")

    for _ in range(2):
        enqueue_event(app, applicant=alice, key="application.accepted:twice")

    assert len(inbox_rows(session, alice)) == 1


# --- the inbox API -------------------------------------------------------------------------------


def test_inbox_lists_newest_first_with_unread_count_and_marks_read(app, client, login, session):
    headers = login("alice")
    alice = applicant_id(session, "alice")
    for event in ("application.accepted", "application.supplement_requested",
                  "inspection.passed"):
        enqueue_event(app, applicant=alice, event=event)

    listed = client.get(f"{MP}/messages", headers=headers).json

    assert listed["unread"] == 3 and listed["total"] == 3
    assert [m["event"] for m in listed["messages"]] == [
        "inspection.passed", "application.supplement_requested", "application.accepted"]
    first = listed["messages"][-1]
    assert first["read"] is False and first["title"] == "申请已受理"
    read = client.post(f"{MP}/messages/{first['id']}/read", headers=headers)
    assert read.status_code == 200 and read.json["read"] is True
    again = client.post(f"{MP}/messages/{first['id']}/read", headers=headers).json
    assert again["read_at"] == read.json["read_at"]  # marking twice changes nothing
    assert client.get(f"{MP}/messages/unread-count", headers=headers).json == {"unread": 2}
    unread = client.get(f"{MP}/messages?unread_only=true&per_page=1", headers=headers).json
    assert unread["total"] == 2 and len(unread["messages"]) == 1
    assert client.post(f"{MP}/messages/read-all", headers=headers).json == {"marked": 2,
                                                                         "unread": 0}
    assert client.get(f"{MP}/messages/unread-count", headers=headers).json == {"unread": 0}


def test_another_users_message_is_invisible(app, client, login, session):
    alice_headers, bob_headers = login("alice"), login("bob")
    enqueue_event(app, applicant=applicant_id(session, "alice"))
    message_id = client.get(f"{MP}/messages", headers=alice_headers).json["messages"][0]["id"]

    assert client.get(f"{MP}/messages", headers=bob_headers).json["total"] == 0
    body = assert_envelope(client.post(f"{MP}/messages/{message_id}/read", headers=bob_headers),
                           404, "MESSAGE_NOT_FOUND")
    missing = assert_envelope(client.post(f"{MP}/messages/99999999/read", headers=bob_headers),
                              404, "MESSAGE_NOT_FOUND")
    assert body["message"] == missing["message"]  # another's id answers like a missing one
    assert client.get(f"{MP}/messages", headers=alice_headers).json["unread"] == 1
    assert_envelope(client.get(f"{MP}/messages"), 401, "AUTH_REQUIRED")


# --- subscriptions -------------------------------------------------------------------------------


def test_subscriptions_count_each_acceptance_and_list_the_templates(client, login, session):
    headers = login("alice")
    progress, result = template_id("progress"), template_id("result")

    listed = client.get(f"{MP}/subscriptions", headers=headers).json["templates"]
    assert {t["name"] for t in listed} == {"progress", "inspection", "result", "license"}
    assert "application.accepted" in next(t for t in listed if t["name"] == "progress")["events"]
    for _ in range(2):
        subscribe(client, headers, "progress")
    reported = client.post(f"{MP}/subscriptions", headers=headers, json={"results": {
        result: "reject", "errMsg": "requestSubscribeMessage:ok"}})

    assert reported.status_code == 200, reported.json
    by_id = {t["template_id"]: t for t in reported.json["templates"]}
    assert by_id[progress]["remaining"] == 2 and by_id[result]["remaining"] == 0
    assert by_id[result]["last_result"] == "reject"
    client.post(f"{MP}/subscriptions", headers=headers, json={"results": {progress: "ban"}})
    row = session.scalar(select(WechatSubscription).where(
        WechatSubscription.template_id == progress))
    assert (row.remaining, row.accepted_total, row.last_result) == (0, 2, "ban")


def test_subscription_report_retried_with_its_idempotency_key_counts_once(client, login,
                                                                         session):
    headers = login("alice") | {"Idempotency-Key": "tap-1"}
    body = {"results": {template_id("inspection"): "accept"}}

    first = client.post(f"{MP}/subscriptions", headers=headers, json=body)
    replay = client.post(f"{MP}/subscriptions", headers=headers, json=body)

    assert first.status_code == replay.status_code == 200 and first.json == replay.json
    assert session.scalar(select(WechatSubscription.remaining)) == 1


def test_subscription_reports_are_validated(client, login, session):
    headers = login("alice")
    ids = [template_id(n) for n in ("progress", "inspection", "result", "license")]
    cases = [
        ({"results": {}}, 422, "SUBSCRIPTION_INVALID"),
        ({"results": {"no-such-template": "accept"}}, 422, "SUBSCRIPTION_INVALID"),
        ({"results": {ids[0]: "maybe"}}, 422, "SUBSCRIPTION_INVALID"),
        ({"results": dict.fromkeys(ids, "accept")}, 422, "SUBSCRIPTION_INVALID"),  # > 3 ids
        ({"results": "accept"}, 422, "REQUEST_INVALID"),
        ({"results": {ids[0]: "accept"}, "extra": 1}, 422, "REQUEST_INVALID"),
    ]
    for body, status, code in cases:
        assert_envelope(client.post(f"{MP}/subscriptions", headers=headers, json=body),
                        status, code)
    assert session.scalar(select(func.count()).select_from(WechatSubscription)) == 0


# --- department records, endpoints and the pull feed ----------------------------------------------


def _approve_food_business(client, staff_login, login) -> dict:
    applicant = login("owner")
    commissioner, _ = staff_login("window_commissioner")
    bureau, _ = staff_login("unit_reviewer", "approval_bureau")
    detail = accepted(client, applicant, commissioner)
    food = next(t for t in staff_get(client, bureau, "/reviews")["reviews"]
                if t["item_code"] == "food_business")
    post(client, bureau, f"/reviews/{food['id']}/approve",
         {"version": food["version"], "opinion": "符合条件，准予许可"})
    return detail


def test_an_approved_item_becomes_a_record_for_its_supervising_department(
        client, login, staff_login, session):
    detail = _approve_food_business(client, staff_login, login)

    [record] = session.scalars(select(DepartmentRecord)).all()
    body = record.payload
    assert record.department_code == "market"  # 谁主管谁监管: food business → market
    assert body["decision"] == "approved" and body["event"] == "item.approved"
    assert body["item"] == {"code": "food_business", "name": "食品经营许可", "status": "approved"}
    assert body["approving_unit"]["code"] == "approval_bureau"
    assert body["department"] == {"code": "market", "name": "市场监督管理局"}
    assert body["holder"]["name"] and body["premises"]
    assert body["acceptance_number"] == detail["acceptance_number"] and body["decided_at"]
    assert body["id"] == record.record_id
    row = outbox_row(session, f"webhook:{record.record_id}")
    assert (row.channel, row.target, row.status) == ("webhook", "market", "pending")
    assert [m.title for m in session.scalars(select(InboxMessage))][-1] == "食品经营许可：准予许可"


def test_license_events_reach_each_supervising_department_with_the_license_number(
        app, login, session):
    """The mapping is data (templates.yaml ``departments:``): issuance goes to the department
    of every item on the license, a revoked item to its own department only."""
    login("alice")
    alice = applicant_id(session, "alice")
    application = _bare_application(session, alice, status="licensed",
                                    form_values={"entity_name": "某某餐饮有限公司"})
    license_ = License(application_id=application.id, license_no="14010520260100009X",
                       industry_code="restaurant", industry_name="饭店", industry_category="餐饮",
                       holder_name="某某餐饮有限公司", credit_code="91140100MA0L000000",
                       premises_address="山西省太原市小店区平阳路 1 号", county_code="140105",
                       issuing_authority="太原市小店区行政审批服务管理局",
                       issued_on=date(2026, 11, 25), valid_until=date(2031, 11, 24))
    for n, (code, name, unit, supervisor) in enumerate((
            ("food_business", "食品经营许可", "approval_bureau", "market"),
            ("fire_safety_check", "消防安全检查", "fire", "fire")), start=1):
        license_.items.append(LicenseItem(
            item_code=code, item_name=name, sub_license_no=f"{license_.license_no}-{n:02d}",
            approving_unit=unit, supervising_unit=supervisor, required=True))
    session.add(license_)
    session.commit()
    payload = {"application_id": application.id, "applicant_id": alice,
               "license_no": license_.license_no, "valid_until": "2031-11-24",
               "message": f"核发行业综合许可证，证号 {license_.license_no}",
               "items": [{"item_code": i.item_code, "item_name": i.item_name,
                          "supervising_unit": i.supervising_unit} for i in license_.items]}

    with app.app_context():
        outbox.enqueue(db.session, event="license.issued", aggregate="application:x",
                       dedupe_key="license.issued:t1", payload=payload)
        outbox.enqueue(db.session, event="license.item_revoked", aggregate="application:x",
                       dedupe_key="license.item_revoked:t2",
                       payload=payload | {"item_code": "fire_safety_check",
                                          "reason": "消防设施严重不合格"})
        db.session.commit()

    records = session.scalars(select(DepartmentRecord).order_by(DepartmentRecord.id)).all()
    assert [(r.event, r.department_code) for r in records] == [
        ("license.issued", "market"), ("license.issued", "fire"),
        ("license.item_revoked", "fire")]
    issued = records[0].payload
    assert issued["license_no"] == license_.license_no and issued["decision"] == "issued"
    assert issued["sub_license_no"] == f"{license_.license_no}-01"
    assert issued["holder"] == {"name": "某某餐饮有限公司", "credit_code": "91140100MA0L000000"}
    assert issued["valid_until"] == "2031-11-24" and issued["issued_on"] == "2026-11-25"
    revoked = records[2].payload
    assert revoked["decision"] == "revoked" and revoked["reason"] == "消防设施严重不合格"
    messages = {m.event: m for m in inbox_rows(session, alice)}
    assert messages["license.issued"].page == f"pages/license/detail?id={license_.id}"
    assert outbox_row(session, "license.issued:t1").channel == "wechat"


def test_department_endpoints_are_for_administrators_and_show_credentials_once(
        client, staff_login, session):
    admin, _ = staff_login("system_admin")
    commissioner, _ = staff_login("window_commissioner")
    url = f"{STAFF}/notifications/departments/market"

    assert_envelope(client.put(url, headers=commissioner, json={"url": "https://x.example"}),
                    403, "FORBIDDEN_ROLE")
    assert_envelope(client.put(f"{STAFF}/notifications/departments/nope", headers=admin,
                               json={}), 404, "DEPARTMENT_NOT_FOUND")
    for bad in ("ftp://market.example/hook", "not a url", "https://"):
        assert_envelope(client.put(url, headers=admin, json={"url": bad}), 422,
                        "DEPARTMENT_URL_INVALID")
    created = client.put(url, headers=admin, json={"url": "https://market.example/hook"}).json
    changed = client.put(url, headers=admin, json={"url": "https://market.example/v2"}).json
    rotated = client.put(url, headers=admin, json={"url": "https://market.example/v2",
                                                   "rotate_api_key": True}).json
    listed = staff_get(client, admin, "/notifications/departments")["departments"]

    assert created["secret"] and created["api_key"].startswith("dk_")
    assert changed["secret"] is None and changed["api_key"] is None  # shown once only
    assert rotated["api_key"] and rotated["api_key"] != created["api_key"]
    assert rotated["secret"] is None
    market = next(d for d in listed if d["code"] == "market")
    assert market["configured"] and market["url"] == "https://market.example/v2"
    assert "secret" not in market and len(listed) >= 5
    # only the key's digest is kept, the same digest as every other token and code
    kept = session.scalar(select(DepartmentEndpoint.api_key_hash).where(
        DepartmentEndpoint.department_code == "market"))
    assert kept == tokens.digest(rotated["api_key"])


NOT_PUBLIC = ["http://127.0.0.1:8600/api/staff/v1/x", "http://169.254.169.254/latest/meta-data",
              "http://[::1]:22/", "http://localhost:8000/", "http://10.1.2.3/hook",
              "http://[::ffff:127.0.0.1]/", "http://0.0.0.0:8000/", "http://100.64.0.1/",
              "http://[fe80::1]/", "http://224.0.0.1/", "http://2130706433/",
              "http://[2002:7f00:1::]/",  # 6to4 carrying 127.0.0.1
              "http://[2001:0:c0a8:1::f7f7:f7f7]/"]  # Teredo, its server 192.168.0.1


def test_a_webhook_into_our_own_network_is_refused_when_configured(app, staff_login, session):
    """An administrator could point a department at 127.0.0.1:8600 or the cloud metadata
    address, and the worker POSTed there."""
    strict = create_app(shared.worker_settings(app, WEBHOOK_ALLOW_PRIVATE=False))
    admin, _ = staff_login("system_admin")
    url = f"{STAFF}/notifications/departments/tobacco"
    try:
        with strict.test_client() as client:
            for target in NOT_PUBLIC:
                body = assert_envelope(client.put(url, headers=admin, json={"url": target}),
                                       422, "DEPARTMENT_URL_FORBIDDEN")
                assert "公网" in body["message"], target
            assert_envelope(client.put(url, headers=admin,
                                       json={"url": "https://nowhere.invalid/hook"}),
                            422, "DEPARTMENT_URL_UNRESOLVABLE")
            assert client.put(url, headers=admin, json={"url": "https://1.1.1.1/hook"}
                              ).status_code == 200
    finally:
        with strict.app_context():
            db.engine.dispose()
    session.expire_all()
    kept = session.scalar(select(DepartmentEndpoint.url).where(
        DepartmentEndpoint.department_code == "tobacco"))
    assert kept == "https://1.1.1.1/hook"


def test_a_webhook_whose_address_became_private_is_refused_at_send_time_for_good(
        app, client, staff_login, session, receiver):
    """DNS can change after configuration: the worker checks again and never sends."""
    admin, _ = staff_login("system_admin")
    receiver.secret = client.put(f"{STAFF}/notifications/departments/market", headers=admin,
                                 json={"url": receiver.url}).json["secret"]
    record_id = "item.approved:ssrf:market:x"
    with app.app_context():
        routing.push_to_department(db.session, DepartmentRecord(
            department_code="market", record_id=record_id, event="item.approved",
            payload={"id": record_id}), aggregate="application:0")
        db.session.commit()
    strict = create_app(shared.worker_settings(app, WEBHOOK_ALLOW_PRIVATE=False))
    try:
        deliver_now(strict)
    finally:
        with strict.app_context():
            db.engine.dispose()
    row = outbox_row(session, f"webhook:{record_id}")
    assert (row.status, row.error_class) == ("refused", "forbidden_address")
    assert "127.0.0.1" in row.last_error and receiver.requests == []


def test_the_connection_itself_is_checked_and_a_reply_body_is_never_recorded(receiver):
    """A name re-resolved to 127.0.0.1 between the check and the connect (rebinding) is
    caught on the socket; a failed answer records its status, not what the receiver said."""
    guarded = addresses.guard(requests.Session())
    with pytest.raises(addresses.ForbiddenAddress):
        guarded.post(receiver.url, data=b"{}", timeout=2)
    assert receiver.requests == []
    receiver.script = ["500"]
    result = channels.send_webhook(requests.Session(), url=receiver.url, secret="s",
                                   record_id="r", event="e", body=b"{}", timeout=2,
                                   allow_private=True)
    assert (result.outcome, result.error) == ("retry", "HTTP 500 Internal Server Error")
    refused = channels.send_webhook(guarded, url=receiver.url, secret="s", record_id="r",
                                    event="e", body=b"{}", timeout=2)
    assert (refused.outcome, refused.error_class) == ("refused", "forbidden_address")


def test_department_feed_pages_by_cursor_and_shows_only_its_own_records(
        client, login, staff_login, session, worker_app):
    detail = _approve_food_business(client, staff_login, login)
    admin, _ = staff_login("system_admin")
    keys = {code: client.put(f"{STAFF}/notifications/departments/{code}", headers=admin,
                             json={}).json["api_key"] for code in ("market", "fire")}
    with worker_app.app_context():  # more records, as the license work will add them
        for n in range(3):
            routing.push_to_department(db.session, DepartmentRecord(
                department_code="market", record_id=f"license.issued:{n}:market:x",
                event="license.issued", payload={"n": n}), aggregate="application:0")
        db.session.commit()
    feed = worker_app.test_client()  # NOTIFY_FEED_SETTLE_SECONDS=0 there

    first = feed.get(f"{STAFF}/departments/feed?limit=2",
                     headers={"X-Api-Key": keys["market"]}).json
    second = feed.get(f"{STAFF}/departments/feed?limit=2&after={first['next_cursor']}",
                      headers={"X-Api-Key": keys["market"]}).json
    other = feed.get(f"{STAFF}/departments/feed", headers={"X-Api-Key": keys["fire"]}).json

    assert first["department"] == "market" and first["has_more"] is True
    assert first["records"][0]["record"]["acceptance_number"] == detail["acceptance_number"]
    assert [r["record"].get("n") for r in second["records"]] == [1, 2]
    assert second["has_more"] is False
    cursors = [r["cursor"] for r in first["records"] + second["records"]]
    assert cursors == sorted(cursors) and len(set(cursors)) == 4
    assert other["records"] == [] and other["next_cursor"] == 0
    for headers in ({"X-Api-Key": "dk_wrong"}, {}, login("owner")):
        assert_envelope(feed.get(f"{STAFF}/departments/feed", headers=headers), 401,
                        "AUTH_REQUIRED")
    # the default settle time keeps records younger than 30 s out of the feed
    assert client.get(f"{STAFF}/departments/feed",
                      headers={"X-Api-Key": keys["market"]}).json["records"] == []


# --- delivery state and replay -------------------------------------------------------------------


def test_administrators_see_delivery_state_and_replay_what_did_not_go_through(
        app, client, login, staff_login, session, worker_app):
    headers = login("alice")
    alice = applicant_id(session, "alice")
    skipped_key = enqueue_event(app, applicant=alice)  # no subscription yet: skipped
    deliver_now(worker_app)
    admin, _ = staff_login("system_admin")
    reviewer, _ = staff_login("unit_reviewer", "market")
    row = outbox_row(session, skipped_key)
    assert (row.status, row.error_class) == ("skipped", "no_quota")

    listed = staff_get(client, admin, "/notifications/deliveries?status=skipped&channel=wechat")
    summary = staff_get(client, admin, "/notifications/summary")
    assert [d["id"] for d in listed["deliveries"]] == [row.id]
    assert summary["counts"]["wechat"]["skipped"] == 1
    assert_envelope(client.get(f"{STAFF}/notifications/deliveries", headers=reviewer), 403,
                    "FORBIDDEN_ROLE")
    assert_envelope(client.post(f"{STAFF}/notifications/deliveries/{row.id}/replay",
                                headers=reviewer, json={}), 403, "FORBIDDEN_ROLE")

    subscribe(client, headers, "progress")  # the user subscribes; the administrator replays
    replayed = post(client, admin, f"/notifications/deliveries/{row.id}/replay")
    assert replayed["status"] == "pending" and replayed["error_class"] == "replayed"
    deliver_now(worker_app)
    assert outbox_row(session, skipped_key).status == "sent"
    assert_envelope(client.post(f"{STAFF}/notifications/deliveries/{row.id}/replay",
                                headers=admin, json={}), 409, "DELIVERY_NOT_REPLAYABLE")
    assert_envelope(client.get(f"{STAFF}/notifications/deliveries/99999999", headers=admin),
                    404, "DELIVERY_NOT_FOUND")


def test_an_uncertain_wechat_delivery_is_replayed_only_knowingly(app, client, login,
                                                                 staff_login, session):
    login("alice")
    key = enqueue_event(app, applicant=applicant_id(session, "alice"))
    row = outbox_row(session, key)
    row.status = "uncertain"
    session.commit()
    admin, _ = staff_login("system_admin")
    url = f"{STAFF}/notifications/deliveries/{row.id}/replay"

    assert_envelope(client.post(url, headers=admin, json={}), 409, "DELIVERY_MAY_HAVE_ARRIVED")
    assert post(client, admin, f"/notifications/deliveries/{row.id}/replay",
                {"accept_duplicate_risk": True})["status"] == "pending"


# --- the periodic tick ---------------------------------------------------------------------------


def _bare_application(session, applicant: int, **fields) -> Application:
    version = session.scalar(select(func.min(CatalogVersion.id)))
    application = Application(**{
        "applicant_id": applicant, "catalog_version_id": version, "industry_code": "restaurant",
        "answers": {}, "status": "in_review", "form_values": {}, "deferred_materials": [],
        "acceptance_number": f"SL-T{os.urandom(3).hex()}"} | fields)
    session.add(application)
    session.flush()
    return application


def _tick(app, job, **kwargs) -> int:
    with app.app_context():
        done = job(db.session, **kwargs)
        db.session.commit()
        return done


def test_tick_reminds_of_tomorrows_inspection_once(app, login, session):
    login("alice")
    alice = applicant_id(session, "alice")
    now = utcnow()
    tomorrow = now.astimezone(CHINA).date() + timedelta(days=1)
    application = _bare_application(session, alice)
    session.add(Inspection(application_id=application.id, status="scheduled", item_codes=[],
                           scheduled_on=tomorrow, window="09:00-11:00", address="平阳路 1 号"))
    other = _bare_application(session, alice)  # scheduled today: that message just went out
    session.add(Inspection(application_id=other.id, status="scheduled", item_codes=[],
                           scheduled_on=tomorrow, window="14:00-15:00", address="长风街 2 号"))
    session.add(ApplicationEvent(application_id=other.id, actor_kind="staff",
                                 actor_label="协调人", action="inspection.scheduled",
                                 message="安排联合现场核查", data={}))
    session.commit()

    runs = [_tick(app, jobs.inspection_reminders, now=now, hour=0) for _ in range(2)]
    early = _tick(app, jobs.inspection_reminders, now=now, hour=24)  # before the hour: nothing

    assert runs == [1, 0] and early == 0
    [message] = inbox_rows(session, alice)
    assert message.event == "inspection.reminder" and message.title == "明天现场核查"
    assert f"{tomorrow.year}年{tomorrow.month}月{tomorrow.day}日 09:00~11:00" in message.body


def test_tick_reminds_30_days_before_the_license_expires_once_per_validity(app, login,
                                                                          session):
    login("alice")
    alice = applicant_id(session, "alice")
    now = utcnow()
    today = now.astimezone(CHINA).date()
    application = _bare_application(session, alice, status="licensed")
    license_ = License(application_id=application.id, license_no="14010520260100001X",
                       industry_code="restaurant", industry_name="饭店", industry_category="餐饮",
                       holder_name="某某餐饮有限公司", credit_code="91140100MA0L000000",
                       premises_address="太原市小店区平阳路 1 号", county_code="140105",
                       issuing_authority="太原市小店区行政审批服务管理局",
                       issued_on=today - timedelta(days=1800),
                       valid_until=today + timedelta(days=30))
    far = License(application_id=_bare_application(session, alice).id,
                  license_no="14010520260100002X", industry_code="restaurant",
                  industry_name="饭店", industry_category="餐饮", holder_name="另一家",
                  credit_code="91140100MA0L000001", premises_address="x", county_code="140105",
                  issuing_authority="x", issued_on=today, valid_until=today + timedelta(days=31))
    session.add_all([license_, far])
    session.commit()

    assert [_tick(app, jobs.license_expiry_reminders, now=now, hour=0) for _ in range(2)] == [1, 0]
    license_.valid_until = today + timedelta(days=20)  # e.g. corrected: a new end date
    session.commit()
    assert _tick(app, jobs.license_expiry_reminders, now=now, hour=0) == 1

    messages = inbox_rows(session, alice)
    assert [m.event for m in messages] == ["license.expiring"] * 2
    assert "还有 30 天" in messages[0].body and license_.license_no in messages[0].body
    assert messages[0].page == f"pages/license/detail?id={license_.id}"


def test_tick_sends_each_staff_member_their_overdue_list_once_a_day(app, login, staff_login,
                                                                   session, client):
    login("alice")
    application = _bare_application(session, applicant_id(session, "alice"))
    now = datetime.now(CHINA).replace(hour=10)
    due = now.date() - timedelta(days=20)
    for code, unit in (("food_business", "approval_bureau"), ("fire_safety_check", "fire")):
        session.add(ApplicationItem(application_id=application.id, item_code=code,
                                    approving_unit=unit, status="under_review", reason="必备",
                                    due_on=due))
    session.commit()
    bureau, _ = staff_login("unit_reviewer", "approval_bureau")
    _, market_id = staff_login("unit_reviewer", "market")
    coordinator, _ = staff_login("inspection_coordinator")

    assert [_tick(app, jobs.overdue_digest, now=now, hour=9) for _ in range(2)] == [2, 0]

    mine = staff_get(client, bureau, "/messages")
    assert mine["unread"] == 1 and mine["messages"][0]["title"] == "超期未办结事项 1 件"
    assert "食品经营许可" in mine["messages"][0]["body"]
    everything = staff_get(client, coordinator, "/messages")["messages"][0]
    assert everything["title"] == "超期未办结事项 2 件"
    assert session.scalar(select(func.count()).select_from(InboxMessage).where(
        InboxMessage.recipient_id == market_id, InboxMessage.recipient_kind == "staff")) == 0
    read = client.post(f"{STAFF}/messages/{mine['messages'][0]['id']}/read", headers=bureau)
    assert read.status_code == 200 and read.json["read_at"]
    assert_envelope(client.post(f"{STAFF}/messages/{everything['id']}/read", headers=bureau),
                    404, "MESSAGE_NOT_FOUND")


def test_tick_removes_old_unreferenced_uploads_only(app, session):
    store = app.extensions["media_store"]
    kept, orphan, young = (store.put(f"file {n}".encode()) for n in range(3))
    # a license rendition is a table the tick has never heard of: its *_sha256 columns count
    _rendition_showing(session, kept)
    old = (utcnow() - timedelta(hours=30)).timestamp()
    for digest in (kept, orphan):
        os.utime(store.path_of(digest), (old, old))

    removed = _tick(app, jobs.orphaned_uploads, store=store, now=utcnow(),
                    grace=timedelta(hours=24))

    assert removed == 1
    assert store.exists(kept) and store.exists(young) and not store.exists(orphan)


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)  # the bucket, not the database
def test_tick_removes_old_unreferenced_objects_from_the_bucket_only(app, session, s3_store):
    """The same sweep on S3 storage: objects are listed with their LastModified (whole
    seconds), the referenced and the young ones stay."""
    kept, orphan = s3_store.put(b"file 0"), s3_store.put(b"file 1")
    cutoff = datetime.fromtimestamp(math.ceil(time.time()), UTC)
    time.sleep((cutoff - datetime.now(UTC)).total_seconds() + 1.05)
    young = s3_store.put(b"file 2")
    _rendition_showing(session, kept)

    removed = _tick(app, jobs.orphaned_uploads, store=s3_store,
                    now=cutoff + timedelta(hours=24), grace=timedelta(hours=24))

    assert removed == 1
    assert s3_store.exists(kept) and s3_store.exists(young) and not s3_store.exists(orphan)


def _rendition_showing(session, png_sha256: str) -> None:
    """A license whose rendition refers to ``png_sha256``, committed."""
    application = _bare_application(session, _applicant(session))
    session.add(License(application_id=application.id, license_no="14010520260100003X",
                        industry_code="restaurant", industry_name="饭店", industry_category="餐饮",
                        holder_name="x", credit_code="x", premises_address="x",
                        county_code="140105", issuing_authority="x", issued_on=date.today()))
    session.flush()
    session.add(LicenseRendition(license_id=session.scalar(select(func.max(License.id))),
                                 version=1, png_sha256=png_sha256, verify_url="https://v/x"))
    session.commit()


def _applicant(session) -> int:
    row = Applicant(openid=f"o{os.urandom(8).hex()}")
    session.add(row)
    session.flush()
    return row.id


def test_the_worker_tick_runs_every_job_and_repeats_harmlessly(worker_app, monkeypatch):
    monkeypatch.setattr(worker, "_next_cleanup", 0.0)
    with worker_app.app_context():
        first, second = worker.tick(), worker.tick()

    assert set(first) == {"inspection_reminders", "license_expiry_reminders", "overdue_digests",
                          "elicense_expiries", "statistics_days", "expired_tokens_purged",
                          "orphaned_uploads_removed"}
    assert set(second) == {"inspection_reminders", "license_expiry_reminders",
                           "overdue_digests", "elicense_expiries",
                           "statistics_days"}  # cleanup at most hourly
    assert not any(second.values())
