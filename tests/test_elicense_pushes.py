"""Every e-license change reaches the province's e-license library through the outbox: the
real worker over real HTTP to the library emulator, on both databases. Issued → the library
holds the combined license and every permit with their metadata and the sealed file; a
revoked essential permit → the status changes in order; faults → retried, then delivered
once; a definitive refusal → marked, shown to administrators, holding back the e-license's
later pushes until replayed."""

from __future__ import annotations

import hashlib

import pytest
import requests
from sqlalchemy import delete, select, update

from backend.app import create_app
from backend.extensions import db
from backend.models import Elicense, License, LicenseRendition
from backend.models.base import utcnow
from backend.services import elicenses
from config.settings import Settings
from media.seal import SealError
from notifications.outbox import OutboxMessage
from tests import test_notifications as shared
from tests.test_console_admin import signed_in
from tests.test_elicenses import migrate_again
from tests.test_licenses import issue_shop_license
from tests.test_notifications import deliver_now, wait_until, worker_settings
from tests.test_seal import assert_sealed
from tests.test_workflow import post, staff_get

FILING, DEVICE = "food_prepackaged_filing", "device_class2_filing"  # required, optional
COMBINED = elicenses.COMBINED
worker_app, start_worker = shared.worker_app, shared.start_worker  # the fixtures


@pytest.fixture
def licensed(client, login, staff_login):
    return issue_shop_license(client, login, staff_login)


def holdings(library) -> dict:
    return requests.get(f"{library.base_url}_emulator/log", timeout=5).json()


def arm(library, **fault) -> None:
    resp = requests.post(f"{library.base_url}_emulator/faults", json=fault, timeout=5)
    assert resp.status_code == 201, resp.text


def pushes(session, status: str | None = None) -> list[OutboxMessage]:
    session.expire_all()
    query = select(OutboxMessage).where(OutboxMessage.channel == "elicense")
    if status:
        query = query.where(OutboxMessage.status == status)
    return list(session.scalars(query.order_by(OutboxMessage.id)))


def identifiers(session, license_id: int) -> dict[str, str]:
    session.expire_all()
    return {code: e.identifier
            for code, e in elicenses.of_license(session.get(License, license_id)).items()}


def changes(log: dict, identifier: str) -> list[tuple[int, str, str]]:
    return [(c["sequence"], c["operation_code"], c["status_code"])
            for c in log["held"][identifier]["changes"]]


def revoke(client, licensed, item: str = FILING, action: str = "revoke") -> None:
    current = staff_get(client, licensed["reviewer"], f"/licenses/{licensed['license']['id']}")
    post(client, licensed["reviewer"], f"/licenses/{current['id']}/items/{item}/{action}",
         {"version": current["lock_version"], "reason": "销售过期食品，情节严重"})


def test_an_issued_license_is_held_with_every_permit_metadata_and_sealed_file(
        app, licensed, session, library, worker_app):
    license_id = licensed["license"]["id"]
    queued = pushes(session)
    assert [(r.event, r.status, r.target) for r in queued] == [
        ("elicense.issued", "pending", "elicense_library")] * 3  # the license and 2 permits

    assert deliver_now(worker_app) >= 3
    assert {r.status for r in pushes(session)} == {"sent"}
    log = holdings(library)
    session.expire_all()
    license_ = session.get(License, license_id)
    pdf = session.scalar(select(LicenseRendition.pdf_sha256).where(
        LicenseRendition.license_id == license_id))
    records = elicenses.records_of(license_)
    assert [r["identifier"] for r in records] == list(log["held"])  # nothing else held
    for record in records:
        held = log["held"][record["identifier"]]
        assert held["record"] | {"status_label": record["status_label"]} == record | {
            "status_description": held["record"]["status_description"]}
        assert record["sealed_by"] == license_.issuing_authority and record["sealed_at"]
        assert held["file"]["sha256"] == pdf  # the face the holder downloads, as sealed
        assert changes(log, record["identifier"]) == [(1, "01", "01")]
    # the file the library holds is the sealed PDF itself
    got = requests.get(f"{library.base_url}api/v1/elicenses/{records[1]['identifier']}/file",
                       timeout=5).content
    assert hashlib.sha256(got).hexdigest() == pdf
    assert_sealed(got, authority=license_.issuing_authority)


class SealServerDown:
    def seal(self, pdf: bytes, **_) -> bytes:
        raise SealError("seal server unreachable")


def test_a_face_nobody_viewed_is_sealed_by_the_worker_and_a_seal_outage_only_delays(
        licensed, session, library, worker_app, monkeypatch):
    license_id = licensed["license"]["id"]
    session.execute(delete(LicenseRendition))  # as if nobody had viewed the license yet
    session.execute(update(Elicense).values(sealed_at=None, sealed_by=None))
    session.commit()
    monkeypatch.setitem(worker_app.extensions, "license_sealer", SealServerDown())
    slow_retry = dict(worker_app.extensions["settings"].values, NOTIFY_RETRY_BASE_SECONDS=60.0)
    # one round, one attempt each, however slow the machine (0.2 s would fall due again)
    monkeypatch.setitem(worker_app.extensions, "settings", Settings(slow_retry))
    deliver_now(worker_app)
    waiting = pushes(session)
    assert [(r.status, r.attempts) for r in waiting] == [("pending", 1)] * 3
    assert all(r.last_error.startswith("证照文件暂不可用") for r in waiting)
    assert holdings(library)["held"] == {}

    monkeypatch.undo()  # the seal server is back
    session.execute(update(OutboxMessage).values(due_at=utcnow()))  # past the backoff
    session.commit()
    deliver_now(worker_app)
    assert {r.status for r in pushes(session)} == {"sent"}
    face = session.scalar(select(LicenseRendition.pdf_sha256).where(
        LicenseRendition.license_id == license_id))  # made by the worker, once
    held = holdings(library)["held"].values()
    assert len(held) == 3 and {h["file"]["sha256"] for h in held} == {face}
    assert all(h["record"]["sealed_by"] == licensed["license"]["issuing_authority"]
               for h in held)


def test_a_revoked_essential_permit_reaches_the_library_after_the_issue_in_order(
        client, licensed, session, library, worker_app, start_worker):
    """The library refuses the combined license's issue twice (503) while the revocation is
    already queued: its status change waits behind the issue, never sent before it."""
    ids = identifiers(session, licensed["license"]["id"])
    arm(library, endpoint="push", http_status=503, times=2, identifier=ids[COMBINED])
    revoke(client, licensed)
    assert [r.event for r in pushes(session)] == ["elicense.issued"] * 3 + [
        "elicense.withdrawn"] * 3

    start_worker(worker_app)
    wait_until(lambda: {r.status for r in pushes(session)} == {"sent"}, 15, "all pushes sent")
    log = holdings(library)
    assert changes(log, ids[COMBINED]) == [(1, "01", "01"), (2, "05", "07")]  # 吊销
    assert changes(log, ids[FILING]) == [(1, "01", "01"), (2, "05", "07")]
    assert changes(log, ids[DEVICE]) == [(1, "01", "01"), (2, "05", "05")]  # 随之失效
    assert log["held"][ids[DEVICE]]["record"]["status_description"] == \
        "行业综合许可证已吊销，本事项随之失效"
    combined = [(r["endpoint"], r["status"]) for r in log["requests"]
                if r["identifier"] == ids[COMBINED]]
    assert combined == [("push", 503), ("push", 503), ("push", 201), ("status", 201)]
    assert not any(r["code"] == "ELICENSE_UNKNOWN" for r in log["requests"])
    [issued] = [r for r in pushes(session) if r.payload["identifier"] == ids[COMBINED]
                and r.event == "elicense.issued"]
    assert issued.attempts == 3


@pytest.mark.parametrize("fault", [
    {"http_status": 500}, {"http_status": 503, "times": 2}, {"http_status": 429},
    {"delay_seconds": 3.0},  # longer than the worker waits: held, the answer lost
    {"reset_connection": True},  # held, then the connection dropped
], ids=["500", "503x2", "429", "timeout", "dropped"])
def test_a_push_that_fails_is_retried_and_held_once(licensed, session, library, worker_app,
                                                    start_worker, fault):
    ids = identifiers(session, licensed["license"]["id"])
    arm(library, endpoint="push", identifier=ids[FILING], **fault)
    start_worker(worker_app)
    wait_until(lambda: {r.status for r in pushes(session)} == {"sent"}, 20, "all pushes sent")
    log = holdings(library)
    assert changes(log, ids[FILING]) == [(1, "01", "01")]  # held once, however often sent
    assert len([r for r in log["received"] if r["identifier"] == ids[FILING]]) >= 2
    [row] = [r for r in pushes(session) if r.payload["identifier"] == ids[FILING]]
    assert row.attempts >= 2


def test_a_definitive_refusal_is_shown_to_administrators_and_replayed(
        app, client, licensed, session, library, worker_app, staff_login):
    ids = identifiers(session, licensed["license"]["id"])
    arm(library, endpoint="push", http_status=422, code="HOLDER_NOT_REGISTERED",
        message="持证主体未在本库登记", identifier=ids[DEVICE])
    deliver_now(worker_app)
    [refused] = pushes(session, "refused")
    assert refused.payload["identifier"] == ids[DEVICE] and refused.attempts == 1
    assert refused.error_class == "library"
    assert refused.last_error == ("HTTP 422 Unprocessable Entity: HOLDER_NOT_REGISTERED: "
                                  "持证主体未在本库登记")
    assert ids[DEVICE] not in holdings(library)["held"]

    # a later change of that permit waits behind its refused issue; the others go
    revoke(client, licensed, DEVICE, "suspend")
    deliver_now(worker_app)
    [waiting] = pushes(session, "pending")
    assert (waiting.payload["identifier"], waiting.event) == (ids[DEVICE], "elicense.suspended")
    assert waiting.attempts == 0

    admin, _ = staff_login("system_admin")
    listed = staff_get(client, admin,
                       "/notifications/deliveries?status=refused&channel=elicense")
    assert [d["id"] for d in listed["deliveries"]] == [refused.id]
    summary = staff_get(client, admin, "/notifications/summary")
    assert summary["counts"]["elicense"] == {"sent": 2, "refused": 1, "pending": 1}
    assert summary["elicense_library"] == {"configured": True, "waiting": 1}
    token = signed_in(client, session, "sysadmin-lib", "system_admin",
                      page="/console/deliveries?status=refused")
    page = client.get("/console/deliveries?status=refused").text
    assert "电子证照库" in page and "HOLDER_NOT_REGISTERED" in page
    assert f"/console/deliveries/{refused.id}/replay" in page

    resp = client.post(f"/console/deliveries/{refused.id}/replay", data={"csrf_token": token})
    assert resp.status_code == 302, resp.text
    deliver_now(worker_app)
    assert {r.status for r in pushes(session)} == {"sent"}
    assert changes(holdings(library), ids[DEVICE]) == [(1, "01", "01"), (2, "03", "02")]


def test_without_a_library_pushes_wait_and_go_once_it_is_set(
        app, licensed, session, library, staff_login):
    """ELICENSE_LIBRARY_URL empty: nothing is claimed, administrators are told how many
    wait (the API's summary, the console's deliveries page); a worker with the library set
    sends them all."""
    idle = create_app(worker_settings(app, ELICENSE_LIBRARY_URL=""))
    try:
        deliver_now(idle)
        assert {r.status for r in pushes(session)} == {"pending"}
        browser = idle.test_client()
        admin, _ = staff_login("system_admin")
        summary = browser.get("/api/staff/v1/notifications/summary", headers=admin).json
        assert summary["elicense_library"] == {"configured": False, "waiting": 3}
        signed_in(browser, session, "sysadmin-nolib", "system_admin")
        page = browser.get("/console/deliveries").text
        assert "ELICENSE_LIBRARY_URL" in page and "3 条推送等待" in page
    finally:
        with idle.app_context():
            db.engine.dispose()
    assert holdings(library)["held"] == {}
    deliver_now(app)
    assert {r.status for r in pushes(session)} == {"sent"}
    assert len(holdings(library)["held"]) == 3


def test_the_upgrade_queues_what_the_library_is_owed_for_existing_elicenses(
        app, client, licensed, session):
    """E-licenses made before pushes existed (the previous revision's backfill, or any event
    since): the revision queues the pushes queue() writes, in the events' order."""
    revoke(client, licensed)  # status changes after the issue: sequence 2

    def queued() -> list[tuple]:
        # the record's seal is read when sent (the face was sealed after the issue)
        return [(r.dedupe_key, r.event, r.aggregate, r.status, r.payload | {"body": {
            k: ({f: v for f, v in value.items() if not f.startswith("sealed_")}
                if k == "record" else value) for k, value in r.payload["body"].items()}})
            for r in pushes(session)]

    before = queued()
    assert [(key.split(":")[0], event) for key, event, *_ in before] == [
        ("elicense", "elicense.issued")] * 3 + [("elicense", "elicense.withdrawn")] * 3
    for row in pushes(session):
        session.delete(row)
    session.commit()
    migrate_again(app, session, "9c5ade6f480f")
    assert queued() == before
