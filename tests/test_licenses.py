"""一证准营: issue, render, verify by QR (as a phone photo), and the license's life."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from urllib.parse import quote, unquote, urlsplit

import flask_migrate
import pytest
import sqlalchemy
import zxingcpp
from PIL import Image
from sqlalchemy import select

from backend import clock
from backend.app import create_app
from backend.extensions import db
from backend.models import Inspection, License
from backend.models.notifications import DepartmentRecord
from backend.services import licenses, public_records, verification
from tests import servers
from tests.conftest import make_settings
from tests.test_app import assert_envelope, bad_fields
from tests.test_applications import BASE, VALID_ENTITY
from tests.test_verdicts import eventually
from tests.test_workflow import STAFF, accepted, post, staff_get, statements

QR = zxingcpp.BarcodeFormat.QRCode  # decode QR codes only: a license's print is not a 1-D code

SHOP = {"prepackaged_only": True, "sells_devices": True}  # two filings, no site visit


@pytest.fixture
def licensed(client, login, staff_login):
    """A convenience store through window and review to an issued license."""
    return issue_shop_license(client, login, staff_login)


def issue_shop_license(client, login, staff_login) -> dict:
    """A convenience store (two filings, no site visit: the prepackaged-food filing required,
    the device filing not) through window and review to an issued license, under the
    catalog version in force."""
    applicant = login("shop")
    commissioner, _ = staff_login("window_commissioner")
    reviewer, _ = staff_login("unit_reviewer", "approval_bureau")
    detail = accepted(client, applicant, commissioner, "convenience_store", **SHOP)
    for task in staff_get(client, reviewer, "/reviews")["reviews"]:
        post(client, reviewer, f"/reviews/{task['id']}/approve",
             {"version": task["version"], "opinion": "备案材料齐全"})
    issued = post(client, commissioner, f"/applications/{detail['id']}/license", status=201)
    return {"applicant": applicant, "commissioner": commissioner, "reviewer": reviewer,
            "application": detail, "license": issued}


def fetch(client, url: str) -> bytes:
    with client.get(urlsplit(url).path) as resp:
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.data


def phone_photo(png: bytes) -> Image.Image:
    """What a phone camera makes of a printed license: smaller, JPEG, a little askew."""
    img = Image.open(io.BytesIO(png)).convert("RGB")
    img = img.resize((img.width // 2, img.height // 2))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=60)
    return Image.open(io.BytesIO(out.getvalue())).rotate(5, expand=True, fillcolor="white")


def public(client, url: str) -> dict:
    parts = urlsplit(url)
    return client.get(f"/api/public/v1/licenses/{parts.path.rsplit('/', 1)[1]}?{parts.query}").json


def test_issue_is_idempotent_numbered_and_audited(client, licensed, session):
    first = licensed["license"]
    again = post(client, licensed["commissioner"],
                 f"/applications/{licensed['application']['id']}/license", status=200)
    assert again["license_no"] == first["license_no"]
    number = first["license_no"]
    assert re.fullmatch(r"140105\d{4}\d{2}\d{6}[0-9X]", number)
    assert first["premises_address"] == "山西省太原市小店区平阳路 1 号"
    assert number[6:10] == str(clock.today().year)
    assert licenses.check_character(number[:-1]) == number[-1]
    assert first["valid_until"] is None  # filings only: long-term
    assert [i["sub_license_no"] for i in first["items"]] == [f"{number}-01", f"{number}-02"]
    assert all(set(i[u]) == {"code", "name"} and i[u]["name"] != i[u]["code"]
               for i in first["items"] for u in ("approving_unit", "supervising_unit"))
    mine = client.get(f"{BASE}/{licensed['application']['id']}",
                      headers=licensed["applicant"]).json
    assert mine["status"] == "licensed"
    assert f"证号 {number}" in mine["timeline"][-1]["message"]
    assert session.query(License).count() == 1


def test_issue_needs_an_approved_application(client, login, staff_login):
    applicant = login()
    commissioner, _ = staff_login("window_commissioner")
    detail = accepted(client, applicant, commissioner, "convenience_store", **SHOP)
    assert_envelope(client.post(f"{STAFF}/applications/{detail['id']}/license",
                                headers=commissioner), 409, "STATE_CONFLICT")


def test_printed_license_photographed_by_a_phone_verifies(client, licensed):
    mine = client.get("/api/mp/v1/licenses", headers=licensed["applicant"]).json
    license_ = mine["licenses"][0]
    png = fetch(client, license_["image_url"])
    assert png.startswith(b"\x89PNG")
    assert fetch(client, license_["pdf_url"]).startswith(b"%PDF-")
    decoded = zxingcpp.read_barcodes(phone_photo(png), formats=QR)
    assert [b.text for b in decoded] == [license_["verify_url"]]
    verdict = public(client, decoded[0].text)
    assert verdict["verdict"] == "valid" and verdict["verdict_label"] == "有效"
    tampered = decoded[0].text.replace("?v=1", "?v=2")
    assert public(client, tampered)["verdict"] == "invalid"
    other = re.sub(r"/v/\d+", "/v/140105" + "0" * 13, decoded[0].text)
    assert public(client, other)["verdict"] == "invalid"


def test_the_image_is_rendered_once_per_version(client, licensed):
    one = client.get(f"/api/mp/v1/licenses/{licensed['license']['id']}",
                     headers=licensed["applicant"]).json
    two = client.get(f"/api/mp/v1/licenses/{licensed['license']['id']}",
                     headers=licensed["applicant"]).json
    assert fetch(client, one["image_url"]) == fetch(client, two["image_url"])


def test_inspector_scan_shows_every_permit(client, licensed, staff_login):
    inspector, _ = staff_login("inspector", "approval_bureau")
    scan = licensed["license"]["verify_url"]
    body = client.post("/api/mp/v1/licenses/verify", headers=inspector,
                       json={"scan": scan}).json
    assert body["verdict"] == "valid"
    assert body["credit_code"] == "91110000600037341L"
    assert {i["code"] for i in body["items"]} == {"food_prepackaged_filing",
                                                  "device_class2_filing"}
    # each permit with its 证照标识, state and validity; the license's own identifier
    assert body["identifier"] == licensed["license"]["elicense"]["identifier"]
    assert [(i["elicense"]["identifier"], i["verdict_label"], i["valid_until"])
            for i in body["items"]] == [(i["elicense"]["identifier"], "有效", None)
                                        for i in licensed["license"]["items"]]
    assert body["last_inspection"] is None  # two filings: no site visit
    for junk in ("hello", "", "https://evil.example/v/1?v=1&k=dev1&s=x", scan[:-3]):
        resp = client.post("/api/mp/v1/licenses/verify", headers=inspector, json={"scan": junk})
        assert resp.status_code == 200 and resp.json["verdict"] == "invalid", junk
    assert client.post("/api/mp/v1/licenses/verify", headers=licensed["applicant"],
                       json={"scan": scan}).status_code == 401


def test_revoking_a_required_item_shows_at_the_next_scan(client, licensed, app):
    url = licensed["license"]["verify_url"]
    assert public(client, url)["verdict"] == "valid"  # now kept by this process
    current = staff_get(client, licensed["reviewer"], f"/licenses/{licensed['license']['id']}")
    post(client, licensed["reviewer"],
         f"/licenses/{current['id']}/items/food_prepackaged_filing/revoke",
         {"version": current["lock_version"], "reason": "销售过期食品，情节严重"})
    verdict = public(client, url)
    assert verdict["verdict"] == "revoked" and "仅销售预包装食品备案" in verdict["reason"]


# a new pooled connection's, not the request's; and PING: the change channel's keepalive,
# sent every second by the process's listener whatever the requests do
HANDSHAKE = {"HELLO", "CLIENT", "SELECT", "PING"}


def test_a_repeated_scan_costs_no_query_and_no_round_trip_while_the_limit_is_far(
        client, licensed, app, set_settings):
    """Under load every round trip is waited for. A verdict seen before is answered from the
    process (one SQL query, then none); the count against PUBLIC_VERIFY_RATE_LIMIT takes
    tokens from Redis in blocks while the limit is far (one EVALSHA for a block, then none), on
    the page and its JSON twin alike (commands a script runs inside Redis are not round
    trips)."""
    set_settings(PUBLIC_VERIFY_RATE_LIMIT="6400 per minute")  # blocks of (6400 - 1) // 64
    url = urlsplit(licensed["license"]["verify_url"])
    number = url.path.rsplit("/", 1)[1]
    paths = [f"/api/public/v1/licenses/{number}?{url.query}", f"/v/{number}?{url.query}"] * 6
    assert client.get(paths[0]).status_code == 200  # the first token, one at a time
    assert eventually(lambda: app.extensions["verdicts"].keeping)  # change channel joined
    cache = app.extensions["redis"]
    db_id = cache.connection_pool.connection_kwargs.get("db", 0)
    sent = []

    def scan_all() -> None:
        for path in paths:
            with cache.monitor() as monitor:
                assert client.get(path).status_code == 200
                cache.echo(path)  # the end of this request's commands
                sent.append([])
                while (command := monitor.next_command())["command"] != f"ECHO {path}":
                    name = command["command"].split()[0]
                    if (command["client_type"] != "lua" and int(command["db"]) == db_id
                            and name not in HANDSHAKE):
                        sent[-1].append(name)

    sql = statements(app, scan_all)
    assert sent == [["EVALSHA"]] + [[]] * 11, sent  # a block of 99, then the process counts
    assert len([s for s in sql if s.lstrip().upper().startswith("SELECT")]) <= 1



def test_a_kept_verdict_is_answered_as_the_database_answered_it(client, licensed, app):
    """A kept verdict is served as the bytes encoded when it was read: the same JSON, the
    same page, as the answer that came from the database."""
    url = urlsplit(licensed["license"]["verify_url"])
    number = url.path.rsplit("/", 1)[1]
    path = f"/api/public/v1/licenses/{number}?{url.query}"
    assert client.get(path).status_code == 200  # the process joins the change channel
    assert eventually(lambda: app.extensions["verdicts"].keeping)
    read, kept = client.get(path), client.get(path)
    assert read.content_type == kept.content_type == "application/json"
    assert kept.data == read.data and kept.json["verdict"] == "valid"
    assert kept.json["license_no"] == number and len(kept.json["items"]) >= 2
    page, again = (client.get(f"/v/{number}?{url.query}") for _ in range(2))
    assert again.data == page.data and again.content_type == "text/html; charset=utf-8"
    text = page.get_data(as_text=True)
    assert kept.json["holder_name"] in text and kept.json["items"][0]["name"] in text

@contextmanager
def sent_to_the_database(app, monkeypatch) -> Iterator[list[tuple[int, str]]]:
    """(connection, SQL) of every statement the app sends while in the block, counted where
    it leaves: at pymysql on MariaDB (a ROLLBACK or SET AUTOCOMMIT counts too), at
    SQLAlchemy's cursor on SQLite."""
    sent: list[tuple[int, str]] = []
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            engine = db.engine

        def seen(conn, cursor, statement, *_) -> None:
            sent.append((id(conn.connection.dbapi_connection), statement))

        sqlalchemy.event.listen(engine, "before_cursor_execute", seen)
        try:
            yield sent
        finally:
            sqlalchemy.event.remove(engine, "before_cursor_execute", seen)
        return
    import pymysql.connections  # noqa: PLC0415

    send = pymysql.connections.Connection._execute_command

    def counted(connection, command, sql):
        sent.append((id(connection), sql.decode() if isinstance(sql, bytes) else sql))
        return send(connection, command, sql)

    with monkeypatch.context() as patch:
        patch.setattr(pymysql.connections.Connection, "_execute_command", counted)
        yield sent


def test_a_cold_public_scan_sends_the_database_its_query_and_nothing_else(
        client, licensed, app, monkeypatch):
    """Counted at the driver (pymysql), a scan whose verdict the process does not hold sends
    MariaDB one statement, the SELECT, on a pooled connection in autocommit mode: no BEGIN,
    no ROLLBACK after it (a round trip each, and a cold scan's share of the database's CPU),
    and the SELECT reads one row by the license number's unique key (a public record).
    A pooled connection switches mode only when its last user wanted the other one (SET
    AUTOCOMMIT, at most once per connection here), and the Session still gets one in a
    transaction."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite's transactions are not a server round trip")
    url = urlsplit(licensed["license"]["verify_url"])
    number = url.path.rsplit("/", 1)[1]
    path = f"/api/public/v1/licenses/{number}?{url.query}"
    scans = 12
    with sent_to_the_database(app, monkeypatch) as sent:
        for _ in range(scans):
            app.extensions["verdicts"].clear()  # cold: the verdict is read from the database
            assert client.get(path).json["verdict"] == "valid"
    kinds = [sql.split()[0].upper() for _, sql in sent]
    assert kinds.count("SELECT") == scans and set(kinds) <= {"SELECT", "SET"}, kinds
    switched = [connection for connection, sql in sent if sql.upper().startswith("SET")]
    assert sorted(sql.upper() for _, sql in sent if sql.upper().startswith("SET")) == [
        "SET AUTOCOMMIT = 1"] * len(switched)
    assert len(switched) == len(set(switched))  # once per pooled connection
    with app.app_context():
        assert db.session.scalar(sqlalchemy.text("SELECT @@autocommit")) == 0
        # and MariaDB finds the rows by the unique key: no join, no scan, no sort (one alone,
        # or eight asked together by eight threads)
        plans = {}
        for size in (1, 8):
            query = public_records._read_statement(size).compile(db.engine)
            asked = {"n0": number} | {f"n{i}": f"{number}{i:02}" for i in range(1, size)}
            plans[size] = [(step.table, step.type, step.key) for step in
                           db.session.connection().exec_driver_sql(
                               f"EXPLAIN {query}", query.construct_params(asked))]
        db.session.remove()
    key = "uq_license_public_records_license_no"
    assert plans == {1: [("license_public_records", "const", key)],
                     8: [("license_public_records", "range", key)]}, plans


def test_a_public_scan_on_a_connection_that_died_in_the_pool_leaves_it_behind(
        client, licensed, app):
    """The public read goes to the driver itself: a pooled connection the server closed
    (restart, wait_timeout) fails that one scan as SQLAlchemy's error, is thrown away, and the
    next scan answers on a new one."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite has no server connection to lose")
    from backend.extensions import autocommit_rows  # noqa: PLC0415

    url = urlsplit(licensed["license"]["verify_url"])
    path = f"/api/public/v1/licenses/{url.path.rsplit('/', 1)[1]}?{url.query}"
    connection_id = sqlalchemy.text("SELECT CONNECTION_ID()")
    with app.app_context():
        db.engine.dispose()  # one pooled connection from here on
        [(first,)] = autocommit_rows(db.engine, connection_id, {})
        killer = sqlalchemy.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
        with killer.connect() as conn:
            conn.execute(sqlalchemy.text(f"KILL CONNECTION {first}"))
        killer.dispose()
        with pytest.raises(sqlalchemy.exc.OperationalError) as lost:
            autocommit_rows(db.engine, connection_id, {})
        assert lost.value.connection_invalidated
    app.extensions["verdicts"].clear()
    assert client.get(path).json["verdict"] == "valid"
    with app.app_context():
        assert autocommit_rows(db.engine, connection_id, {})[0][0] != first


def test_a_public_scan_reads_what_the_whole_license_shows(client, licensed, session, app,
                                                         monkeypatch):
    """The public path reads the license's public record in ONE query; the verdict and every
    public field — each permit's 证照标识, state and validity, in the order they were
    bundled, the joint inspection — are those of the whole ORM license, in every state
    (valid, an item suspended, revoked: each commit rewrote the record), and a number that
    is not there is not found."""
    number = licensed["license"]["license_no"]
    path = f"/licenses/{licensed['license']['id']}"
    license_ = session.get(License, licensed["license"]["id"])
    session.add(Inspection(application_id=license_.application_id, status="passed",
                           item_codes=["food_prepackaged_filing"], outcome="passed",
                           concluded_on=clock.today() - timedelta(days=3)))
    # read back through JSON on the public path: quotes, a backslash, a line break, an emoji
    license_.premises_address = '平阳路"1号"\\B座\n二层 🏪'
    session.commit()

    def both() -> tuple[dict, dict]:
        session.expire_all()
        return tuple(verification.public_view(verification.Result(
            *licenses.verdict(read), license=read, scanned_version=1))
            for read in (licenses.by_number(session, number),
                         public_records.by_number(session, number)))
    whole, public_ = both()
    assert whole == public_ and whole["verdict"] == "valid" and len(whole["items"]) == 2
    assert public_["premises_address"] == '平阳路"1号"\\B座\n二层 🏪'
    assert whole["identifier"] == licensed["license"]["elicense"]["identifier"]
    assert [(i["identifier"], i["status_label"], i["valid_until"]) for i in whole["items"]] == [
        (i["elicense"]["identifier"], "有效", None) for i in licensed["license"]["items"]]
    assert whole["last_inspection"] == {
        "on": (clock.today() - timedelta(days=3)).isoformat(), "outcome": "passed",
        "outcome_label": "通过"}
    with sent_to_the_database(app, monkeypatch) as sent, app.app_context():
        assert public_records.by_number(db.session, number) is not None
        db.session.remove()
    # the license, its permits and identifiers in one query, and nothing else (a pooled
    # connection's switch to autocommit aside: the next test counts those)
    assert [sql.split()[0].upper() for _, sql in sent
            if sql.upper() != "SET AUTOCOMMIT = 1"] == ["SELECT"]
    for action in ("suspend", "revoke"):
        current = staff_get(client, licensed["reviewer"], path)
        post(client, licensed["reviewer"], f"{path}/items/food_prepackaged_filing/{action}",
             {"version": current["lock_version"], "reason": "检查发现问题"})
        whole, public_ = both()
        assert whole == public_ and whole["verdict"] != "valid", action
        assert {i["status"] for i in whole["items"]} != {"valid"}, action
    other = number[:-1] + ("1" if number[-1] == "0" else "0")  # never the number itself
    assert public_records.by_number(session, other) is None
    assert public_records.by_number(session, "1'--") is None


def test_suspending_an_optional_item_keeps_the_license_valid(client, licensed):
    current = staff_get(client, licensed["reviewer"], f"/licenses/{licensed['license']['id']}")
    post(client, licensed["reviewer"],
         f"/licenses/{current['id']}/items/device_class2_filing/suspend",
         {"version": current["lock_version"], "reason": "整改期间暂停"})
    verdict = public(client, licensed["license"]["verify_url"])
    assert verdict["verdict"] == "valid"
    assert {i["name"]: i["status_label"] for i in verdict["items"]}[
        "第二类医疗器械经营备案"] == "已暂停"


def test_cancellation_and_expiry_show_at_the_next_scan(client, licensed, session):
    url = licensed["license"]["verify_url"]
    license_ = session.get(License, licensed["license"]["id"])
    license_.valid_until = clock.today() - timedelta(days=1)
    session.commit()
    assert public(client, url)["verdict"] == "expired"
    client.post(f"/api/mp/v1/licenses/{license_.id}/cancel", headers=licensed["applicant"],
                json={"reason": "停止经营"})
    cancelled = public(client, url)
    assert cancelled["verdict_label"] == "已注销"
    # the combined license's end reaches every bundled permit
    assert {i["status_label"] for i in cancelled["items"]} == {"已注销"}


def test_a_change_reviewed_by_units_makes_a_new_version(client, licensed):
    applicant, reviewer = licensed["applicant"], licensed["reviewer"]
    old = licensed["license"]
    client.post(f"/api/mp/v1/licenses/{old['id']}/requests", headers=applicant,
                json={"kind": "change", "changes": {"holder_name": "\u202d晋味便利店（新）\u202c"},
                      "reason": "更名"})  # pasted from a chat app: printed without the marks
    pending = staff_get(client, reviewer, "/license-requests")["requests"]
    assert [r["kind"] for r in pending] == ["change"]
    changed = post(client, reviewer, f"/license-requests/{pending[0]['id']}/decide",
                   {"version": pending[0]["version"], "approve": True, "opinion": "同意变更"})
    assert changed["version"] == 2 and changed["holder_name"] == "晋味便利店（新）"
    assert changed["verify_url"] != old["verify_url"]
    assert fetch(client, changed["image_url"]) != fetch(client, old["image_url"])
    resolved = public(client, old["verify_url"])  # the old QR shows the current version
    assert resolved["verdict"] == "valid" and resolved["superseded"] is True
    assert resolved["holder_name"] == "晋味便利店（新）"


def test_a_change_to_nothing_visible_is_refused(client, licensed, session):
    """Text made only of invisible or control characters is missing, in every field."""
    license_id = licensed["license"]["id"]
    for blank in ("\u200b\u202c", "\x07\x1b", "\r\n\u200b"):
        resp = client.post(f"/api/mp/v1/licenses/{license_id}/requests",
                           headers=licensed["applicant"],
                           json={"kind": "change", "changes": {"holder_name": blank}})
        problem = bad_fields(resp, 422, "REQUEST_INVALID")["changes.holder_name"]
        assert (problem["code"], problem["message"]) == ("MISSING", "此项必填")
        resp = client.post(f"/api/mp/v1/licenses/{license_id}/cancel",
                           headers=licensed["applicant"], json={"reason": blank})
        assert bad_fields(resp, 422, "REQUEST_INVALID")["reason"]["code"] == "MISSING"
    license_ = session.get(License, license_id)
    session.refresh(license_)
    assert license_.status == "active" and license_.changes == []


def test_control_characters_never_reach_the_printed_license(client, licensed):
    """An ESC colour sequence and a BEL typed into a name are dropped; a reason keeps its
    line breaks, normalised to ``\\n``."""
    post_json = {"kind": "change", "changes": {"holder_name": "晋\x1b[31m味\x07\r\n便利店"},
                 "reason": "更名\r\n\x00见执照"}
    resp = client.post(f"/api/mp/v1/licenses/{licensed['license']['id']}/requests",
                       headers=licensed["applicant"], json=post_json)
    assert resp.status_code == 201, resp.json
    pending = staff_get(client, licensed["reviewer"], "/license-requests")["requests"]
    assert (pending[0]["changes"], pending[0]["reason"]) == \
        ({"holder_name": "晋[31m味 便利店"}, "更名\n见执照")


def test_renewal_of_a_long_term_license_is_refused(client, licensed):
    resp = client.post(f"/api/mp/v1/licenses/{licensed['license']['id']}/requests",
                       headers=licensed["applicant"], json={"kind": "renewal"})
    assert_envelope(resp, 422, "LICENSE_LONG_TERM")


def put_in_state(session, license_id: int, state: str) -> License:
    """The license as each state arises: a required item suspended or revoked by its unit,
    cancelled, or past its validity; "valid" is renewable (within the renewal window)."""
    license_ = session.get(License, license_id)
    session.refresh(license_)
    today = clock.today()
    license_.valid_until = today + timedelta(days=-1 if state == "expired" else 30)
    required = next(i for i in license_.items if i.required)
    if state in ("suspended", "revoked"):
        required.status = state
    if state == "cancelled":
        license_.status = "cancelled"
    session.commit()
    assert licenses.verdict(license_)[0] == state
    return license_


def holder_asks(client, licensed, kind: str):
    license_id = licensed["license"]["id"]
    if kind == "cancel":
        return client.post(f"/api/mp/v1/licenses/{license_id}/cancel",
                           headers=licensed["applicant"], json={"reason": "停止经营"})
    return client.post(f"/api/mp/v1/licenses/{license_id}/requests",
                       headers=licensed["applicant"],
                       json={"kind": kind, "reason": "原证遗失", **(
                           {"changes": {"holder_name": "晋味便利店（新）"}}
                           if kind == "change" else {})})


@pytest.mark.parametrize(("state", "allowed"), [
    ("valid", {"change", "renewal", "replacement", "cancel"}),
    ("suspended", {"cancel"}), ("expired", {"cancel"}),
    ("revoked", set()), ("cancelled", set())])
def test_each_state_of_the_license_allows_only_its_requests(client, licensed, session, state,
                                                            allowed):
    """Issue 10: a revoked license was replaced (201) and its version 2 rendered."""
    license_ = put_in_state(session, licensed["license"]["id"], state)
    for kind in ("change", "renewal", "replacement", "cancel"):
        resp = holder_asks(client, licensed, kind)
        session.refresh(license_)
        if kind in allowed:
            assert resp.status_code == (200 if kind == "cancel" else 201), (kind, resp.json)
            for change in license_.changes:  # the next kind is asked afresh
                session.delete(change)
            session.commit()
            continue
        body = assert_envelope(resp, 409, "LICENSE_NOT_ACTIVE")
        assert body["details"] == {"status": state, "kind": kind, **body["details"]}
        assert license_.changes == [] and license_.version == 1
        assert license_.status == ("cancelled" if state == "cancelled" else "active")


def test_a_request_pending_when_the_license_is_revoked_cannot_be_approved(
        client, licensed, session):
    """Checked again at the decision: approving would re-render a revoked license."""
    window = licensed["commissioner"]  # decides renewals and replacements
    assert holder_asks(client, licensed, "replacement").status_code == 201
    pending = staff_get(client, window, "/license-requests")["requests"][0]
    put_in_state(session, licensed["license"]["id"], "revoked")
    resp = client.post(f"{STAFF}/license-requests/{pending['id']}/decide", headers=window,
                       json={"version": pending["version"], "approve": True, "opinion": "同意"})
    assert assert_envelope(resp, 409, "LICENSE_NOT_ACTIVE")["details"]["status"] == "revoked"
    license_ = session.get(License, licensed["license"]["id"])
    session.refresh(license_)
    assert license_.version == 1 and license_.changes[0].status == "pending"
    post(client, window, f"/license-requests/{pending['id']}/decide",
         {"version": pending["version"], "approve": False, "opinion": "许可证已吊销"})
    session.refresh(license_)
    assert license_.version == 1 and license_.changes[0].status == "refused"


def test_a_renewal_asked_in_time_is_decided_after_expiry(client, licensed, session):
    """行政许可法 第五十条: a renewal asked before expiry may be decided after it."""
    put_in_state(session, licensed["license"]["id"], "valid")
    assert holder_asks(client, licensed, "renewal").status_code == 201
    license_ = put_in_state(session, licensed["license"]["id"], "expired")
    license_.changes[0].created_at -= timedelta(days=2)  # asked the day before expiry
    session.commit()
    pending = staff_get(client, licensed["commissioner"], "/license-requests")["requests"][0]
    renewed = post(client, licensed["commissioner"], f"/license-requests/{pending['id']}/decide",
                   {"version": pending["version"], "approve": True, "opinion": "同意延续"})
    assert renewed["version"] == 2 and renewed["verdict"] == "valid"


def test_another_applicant_cannot_see_the_license(client, licensed, login):
    other = login("stranger")
    assert client.get("/api/mp/v1/licenses", headers=other).json["total"] == 0
    assert_envelope(client.get(f"/api/mp/v1/licenses/{licensed['license']['id']}",
                               headers=other), 404, "LICENSE_NOT_FOUND")


def test_public_page_is_rate_limited(client, app):
    limit = int(app.extensions["settings"].PUBLIC_VERIFY_RATE_LIMIT.split()[0])
    statuses = [client.get("/v/123?v=1&k=dev1&s=x").status_code for _ in range(limit + 1)]
    assert statuses[:limit] == [200] * limit and statuses[-1] == 429


def test_the_page_and_its_json_twin_share_one_limit(client, set_settings):
    """PUBLIC_VERIFY_RATE_LIMIT counts verification requests per address, whichever path:
    alternating the two must not double it. A refused page is a page, in Chinese."""
    set_settings(PUBLIC_VERIFY_RATE_LIMIT="4 per minute")
    page, api = "/v/123?v=1&k=dev1&s=x", "/api/public/v1/licenses/123?v=1&k=dev1&s=x"
    assert [client.get(path).status_code for path in (page, api, page, api)] == [200] * 4
    refused_api = client.get(api)
    assert_envelope(refused_api, 429, "RATE_LIMITED")
    refused_page = client.get(page)
    assert refused_page.status_code == 429 and refused_page.mimetype == "text/html"
    assert 0 < int(refused_page.headers["Retry-After"]) <= 60
    html = refused_page.get_data(as_text=True)
    assert 'data-verdict="busy"' in html and "请稍后再试" in html and "秒后" in html
    assert refused_page.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_public_page_in_headless_chromium(client, licensed, app, tmp_path, session):
    """The page a citizen's phone opens: verdict visible, each permit with its 证照标识,
    state and validity, the joint inspection's date and result; no ID or phone number, no
    legal representative's or inspector's name."""
    license_ = session.get(License, licensed["license"]["id"])
    session.add(Inspection(application_id=license_.application_id, status="passed",
                           item_codes=["food_prepackaged_filing"], outcome="passed",
                           concluded_on=date(2026, 11, 20)))
    session.commit()
    url = urlsplit(licensed["license"]["verify_url"])
    html = client.get(f"{url.path}?{url.query}").get_data(as_text=True)
    page = tmp_path / "verify.html"
    page.write_text(html, encoding="utf-8")
    browser = shutil.which("chromium") or "/usr/bin/chromium"
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=390,844", "--dump-dom",
         page.as_uri()], capture_output=True, text=True, timeout=60, check=True).stdout
    assert 'data-verdict="valid"' in dom and "<h1>有效</h1>" in dom
    assert licensed["license"]["elicense"]["identifier"] in dom
    for item in licensed["license"]["items"]:
        assert f"证照标识 {item['elicense']['identifier']}" in dom
    assert dom.count('data-status="valid"') == 2 and dom.count("有效 · 长期有效") == 2
    assert re.search(r'id="inspection">\s*2026-11-20 通过', dom)
    assert "360426199101010071" not in dom and "13812345678" not in dom
    assert "身份证" not in dom and "电话" not in dom
    assert VALID_ENTITY["legal_rep_name"] not in dom and "法定代表人" not in dom


def test_issuing_and_revoking_reach_the_supervising_department(client, licensed, session):
    """谁审批谁负责，谁主管谁监管: each item's record goes to its supervising department."""
    issued = session.scalars(select(DepartmentRecord).where(
        DepartmentRecord.event == "license.issued")).all()
    assert {r.department_code for r in issued} == {"market"}
    assert {r.payload["item"]["code"] for r in issued} == {"food_prepackaged_filing",
                                                           "device_class2_filing"}
    assert all(r.payload["license_no"] == licensed["license"]["license_no"] for r in issued)
    assert {r.payload["identifier"] for r in issued} == {
        i["elicense"]["identifier"] for i in licensed["license"]["items"]}
    current = staff_get(client, licensed["reviewer"], f"/licenses/{licensed['license']['id']}")
    post(client, licensed["reviewer"],
         f"/licenses/{current['id']}/items/device_class2_filing/suspend",
         {"version": current["lock_version"], "reason": "整改"})
    suspended = session.scalars(select(DepartmentRecord).where(
        DepartmentRecord.event == "license.item_suspended")).all()
    assert [r.payload["item"]["code"] for r in suspended] == ["device_class2_filing"]
    messages = client.get("/api/mp/v1/messages", headers=licensed["applicant"]).json
    assert any("许可证" in m["title"] + m["body"] for m in messages["messages"])


# --- one code, one verdict on every path ---------------------------------------------------------

WECHAT_SHARE = "&from=singlemessage&isappinstalled=0"


def _sig_flipped(url: str) -> str:
    head, sig = url.rsplit("s=", 1)
    return f"{head}s={('B' if sig[0] == 'A' else 'A')}{sig[1:]}"


def scan_texts(url: str, base: str) -> list[tuple[str, bool]]:
    """(what a camera or wx.scanCode may deliver, is it this genuine code)."""
    number = urlsplit(url).path.rsplit("/", 1)[1]
    version = re.search(r"\?v=(\d+)", url)[1]

    def v(text: str) -> str:
        return url.replace(f"?v={version}", f"?{text}")

    return [
        (url, True),
        (url + WECHAT_SHARE, True),  # shared in a chat
        (url + "&from=timeline&isappinstalled=0&scene=1001", True),
        (url + "&utm_source=poster#top", True),  # any other parameter, a fragment
        (quote(url, safe=""), True),  # the mini-program's options.q
        (quote(url + WECHAT_SHARE, safe=""), True),
        (f"  {url}\n", True),
        (url.replace(f"/v/{number}", f"/v/%{ord(number[0]):X}{number[1:]}"), True),
        (v(f"v=%{ord(version):X}"), True),  # v=%31 is v=1
        # Paths a browser resolves (dot segments) or our router merges (repeated slashes)
        (url.replace("/v/", "//v/"), True),
        (url.replace("/v/", "/v//"), True),
        (url.replace("/v/", "//v//"), True),
        (url.replace("/v/", "/./v/"), True),
        (url.replace("/v/", "/x/../v/"), True),
        (url.replace("/v/", "/../v/"), True),
        (url.replace("/v/", "/x/%2E%2e/v/"), True),
        (url.replace("/v/", "/v/x/../"), True),
        (url.replace("/v/", "/w/../x/./../v/"), True),
        (url.replace("/v/", "/x/v/"), False),
        (url.replace("/v/", "/v/../"), False),
        (_sig_flipped(url), False),  # well-formed, forged
        (url[:-5], False),  # a torn QR
        (url.replace(f"/v/{number}", f"/v/{number[:-1]}{'1' if number[-1] != '1' else '2'}"),
         False),
        (v(f"v={int(version) + 1}"), False),
        (v(f"v=0{version}"), False),  # leading zero
        (url + f"&v={version}", False),  # repeated
        (url.replace("&k=", "&kk="), False),  # missing kid
        (url.split("&s=")[0] + "&s=", False),
        (v("v=%C2%B2"), False),  # superscript two
        (v("v=%D9%A1"), False),  # Arabic-Indic one
        (v("v=%EF%BC%91"), False),  # fullwidth one
        (v(f"%EF%BD%96={version}"), False),  # fullwidth v
        (url + "&x=" + "a" * 400, False),  # too long
        (url.replace(base, "https://evil.example"), False),  # not our address
        (url.replace("://", "://evil@"), False),
        ("hello", False),
        ("", False),
    ]


def opened_path(text: str, base: str) -> str | None:
    """The path and query a phone's browser requests from us when it opens ``text``; None
    when the text is not at our address or not at a verification page (a 404)."""
    text = text.strip()
    if text.lower().startswith("http%3a"):
        text = unquote(text)
    if not text.startswith(base + "/"):
        return None
    path, _, query = text[len(base):].split("#")[0].partition("?")
    path = _without_dot_segments(path)
    return f"{path}?{query}" if re.fullmatch(r"/+v/+[^/]+", path) else None


def _without_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 as a browser applies it (``%2e`` is a dot too)."""
    out: list[str] = []
    segments = path.split("/")[1:]
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        dots = unquote(segment)
        if dots == "..":
            out = out[:-1]
        if dots in (".", ".."):
            out += [""] if last else []
        else:
            out.append(segment)
    return "/" + "/".join(out)


def three_verdicts(client, text: str, base: str, inspector: dict, row: int) -> list[tuple]:
    scan = client.post("/api/mp/v1/licenses/verify", headers=inspector, json={"scan": text})
    assert scan.status_code == 200, scan.json
    out = [(scan.json["verdict"], scan.json["reason"], scan.json.get("scanned_version"))]
    path = opened_path(text, base)
    if path is None:
        return out * 3
    client_addr = {"REMOTE_ADDR": f"10.0.{row // 250}.{row % 250 + 1}"}  # under the rate limit

    def opened(path: str):
        """Requested as sent: PATH_INFO set as a server decodes it (the test client would
        read ``//v`` as a host), redirects (Werkzeug's merged slashes) followed."""
        route, _, query = path.partition("?")
        resp = client.get("/", query_string=query, environ_base=client_addr,
                          environ_overrides={"PATH_INFO": unquote(route)},
                          follow_redirects=True)
        assert resp.status_code == 200, (path, resp.status_code)
        return resp

    twin = opened(path.replace("/v/", "/api/public/v1/licenses/", 1)).json
    page = opened(path).get_data(as_text=True)
    shown = re.search(r'data-verdict="(\w+)"', page)[1]
    reason = twin["reason"] if twin["reason"] in page else None
    return out + [(twin["verdict"], twin["reason"], twin.get("scanned_version")),
                  (shown, reason, twin.get("scanned_version"))]


def test_every_path_gives_one_code_one_verdict(client, app, licensed, staff_login):
    """The public page, its JSON twin and the inspector's scan read a code with one parser
    (signatures.parse_code), before and after the license changes version and is revoked."""
    base = app.extensions["settings"].LICENSE_VERIFY_BASE_URL
    inspector, _ = staff_login("inspector", "approval_bureau")
    first = licensed["license"]
    client.post(f"/api/mp/v1/licenses/{first['id']}/requests", headers=licensed["applicant"],
                json={"kind": "change", "changes": {"holder_name": "晋味便利店（新）"},
                      "reason": "更名"})
    for phase, verdict in (("issued", "valid"), ("superseded", "valid"), ("revoked", "revoked")):
        if phase == "superseded":
            pending = staff_get(client, licensed["reviewer"], "/license-requests")["requests"]
            second = post(client, licensed["reviewer"],
                          f"/license-requests/{pending[0]['id']}/decide",
                          {"version": pending[0]["version"], "approve": True,
                           "opinion": "同意"})
        if phase == "revoked":
            post(client, licensed["reviewer"],
                 f"/licenses/{first['id']}/items/food_prepackaged_filing/revoke",
                 {"version": second["lock_version"], "reason": "严重违法"})
        urls = [first["verify_url"]] + ([] if phase == "issued" else [second["verify_url"]])
        for number, url in enumerate(urls, start=1):
            for row, (text, genuine) in enumerate(scan_texts(url, base)):
                verdicts = three_verdicts(client, text, base, inspector, row)
                assert len(set(verdicts)) == 1, (phase, text, verdicts)
                assert verdicts[0][0] == (verdict if genuine else "invalid"), (phase, text)
                assert verdicts[0][2] == (number if genuine else None), (phase, text)


@pytest.mark.parametrize("digit", ["%C2%B2", "%D9%A3", "%EF%BC%93", "%E0%A5%A9", "1%C2%B2"])
def test_a_non_ascii_digit_in_a_version_is_invalid_not_an_error(client, digit):
    """² ٣ ３ ३: str.isdigit() says yes, int() disagrees; only ASCII digits are numbers."""
    for path in ("/v/", "/api/public/v1/licenses/"):
        resp = client.get(f"{path}140105202601000001X?v={digit}&k=dev1&s=x")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        if resp.is_json:
            assert resp.json["verdict"] == "invalid"
        else:
            assert 'data-verdict="invalid"' in resp.get_data(as_text=True)


def test_a_unit_without_an_item_cannot_read_or_touch_the_license(client, licensed, staff_login,
                                                                 session):
    """A fire reviewer and an inspector who never visited read the holder, credit code and a
    signed QR link of any license by id; now they get what a missing id gets."""
    license_id = licensed["license"]["id"]
    strangers = [staff_login("unit_reviewer", "fire")[0],
                 staff_login("inspector", "approval_bureau")[0]]
    for headers in strangers:
        resp = client.get(f"{STAFF}/licenses/{license_id}", headers=headers)
        body = assert_envelope(resp, 404, "LICENSE_NOT_FOUND")
        assert "credit_code" not in str(body)
    resp = client.post(f"{STAFF}/licenses/{license_id}/items/food_prepackaged_filing/suspend",
                       headers=strangers[0], json={"version": 1, "reason": "越权"})
    assert_envelope(resp, 404, "LICENSE_NOT_FOUND")
    assert {i.status for i in session.get(License, license_id).items} == {"active"}
    assert staff_get(client, licensed["reviewer"], f"/licenses/{license_id}")["id"] == license_id


def test_redis_out_of_reach_still_gives_a_verdict(workdir, emulator):
    """Redis is the cache and the counter, not the record: while it is out of reach the
    public page and its JSON twin answer from the database (limits are let through, as
    Flask-Limiter does with RATELIMIT_SWALLOW_ERRORS), never a 500."""
    dead_redis = f"redis://127.0.0.1:{servers.free_port()}/0"
    app = create_app(make_settings(DATABASE_URL=f"sqlite:///{workdir / 'no-redis.db'}",
                                   REDIS_URL=dead_redis, WECHAT_API_BASE=emulator.base_url))
    with app.app_context():
        flask_migrate.upgrade()
    client = app.test_client()
    code = "/1401052026073828250?v=1&k=dev1&s=" + "A" * 86
    for path in ("/v" + code, "/api/public/v1/licenses" + code, "/v/x?v=1"):
        resp = client.get(path)
        assert resp.status_code == 200, (path, resp.get_data(as_text=True)[:300])
        assert "无效" in resp.get_data(as_text=True)
    with app.app_context():
        db.engine.dispose()
