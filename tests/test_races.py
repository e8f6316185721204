"""Two real requests at once on one unique key, on SQLite and MariaDB: a double tap, or a
weak-4G retry racing the original. Both find no row, both insert; the database lets one in.
The other must answer as a repeat would, with the winner's row — never a 500.

The race is made certain, not hoped for: a test-only listener on the engine holds each
request at its INSERT into the guarded table until both are there (after both have read,
so on MariaDB both hold a snapshot from before either row existed). Nothing is mocked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import delete, event, func, select

from backend.extensions import db
from backend.models import (
    Applicant,
    Application,
    ApplicationEvent,
    IdempotencyRecord,
    LicenseRendition,
    MaterialFile,
    WechatSubscription,
)
from backend.models.ratings import RectificationTask, ServiceRating
from tests.media_files import phone_jpeg
from tests.test_applications import BASE, draft, upload
from tests.test_licenses import licensed  # noqa: F401 - the fixture
from tests.test_notice import neutral_answers
from tests.test_notifications import MP, template_id
from tests.test_ratings import not_accepted


@contextmanager
def meeting_at_insert(app, table: str) -> Iterator[None]:
    """Hold each of two requests at its first INSERT INTO ``table`` until both are there."""
    barrier = threading.Barrier(2, timeout=20)
    held = threading.local()
    arrived = []

    def hold(conn, cursor, statement: str, *args) -> None:  # noqa: ARG001
        if statement.startswith(f"INSERT INTO {table} ") and not getattr(held, "done", False):
            held.done = True
            arrived.append(threading.get_ident())
            barrier.wait()

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", hold)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", hold)
    assert len(arrived) == 2, f"{len(arrived)} of 2 requests reached INSERT INTO {table}"


def twice_at_once(app, table: str, request: Callable) -> list:
    """Two threads, each with its own test client (its own session), run ``request(client)``
    at once and meet at their INSERT into ``table``; returns both responses."""
    results: list = [None, None]

    def one(n: int) -> None:
        results[n] = request(app.test_client())

    with meeting_at_insert(app, table):
        threads = [threading.Thread(target=one, args=(n,)) for n in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return results


def rows(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_double_tapped_photo_is_one_file(app, client, login, session):
    headers = login()
    app_id = draft(client, headers)["id"]
    photo = phone_jpeg(seed=31)

    first, second = twice_at_once(app, "material_files", lambda c: upload(
        c, headers, app_id, "premises_proof", photo))

    assert sorted((first.status_code, second.status_code)) == [200, 201], (first.json,
                                                                           second.json)
    assert first.json["id"] == second.json["id"]
    assert rows(session, MaterialFile) == 1
    assert rows(session, ApplicationEvent, ApplicationEvent.action == "material.uploaded") == 1


def test_a_first_login_twice_at_once_is_one_applicant(app, session):
    def log_in(c):
        return c.post("/api/mp/v1/auth/login", json={"code": f"test-twin.{threading.get_ident()}"})

    first, second = twice_at_once(app, "applicants", log_in)

    assert first.status_code == second.status_code == 200, (first.json, second.json)
    assert first.json["applicant_id"] == second.json["applicant_id"]
    assert rows(session, Applicant) == 1


def test_a_subscription_reported_twice_at_once_counts_both(app, login, session):
    headers = login()
    progress = template_id("progress")

    first, second = twice_at_once(app, "wechat_subscriptions", lambda c: c.post(
        f"{MP}/subscriptions", headers=headers, json={"results": {progress: "accept"}}))

    assert first.status_code == second.status_code == 200, (first.json, second.json)
    row = session.scalar(select(WechatSubscription))
    assert (row.remaining, row.accepted_total) == (2, 2)  # two acceptances: two messages


def test_a_license_first_viewed_twice_at_once_is_rendered_once(app, licensed, session):  # noqa: F811
    path = f"/api/mp/v1/licenses/{licensed['license']['id']}"
    session.execute(delete(LicenseRendition))  # issuing rendered it; as if never viewed

    first, second = twice_at_once(app, "license_renditions", lambda c: c.get(
        path, headers=licensed["applicant"]))

    assert first.status_code == second.status_code == 200, (first.json, second.json)
    assert first.json["verify_url"] == second.json["verify_url"]
    assert rows(session, LicenseRendition) == 1


def test_one_idempotency_key_twice_at_once_creates_once(app, client, login, session):
    headers = login() | {"Idempotency-Key": "create-twice"}
    body = {"industry": "restaurant", "answers": neutral_answers(client, "restaurant")}

    responses = twice_at_once(app, "idempotency_records", lambda c: c.post(
        BASE, headers=headers, json=body))

    statuses = sorted(r.status_code for r in responses)
    assert statuses in ([201, 201], [201, 409]), [r.json for r in responses]
    if statuses == [201, 409]:
        assert max(responses, key=lambda r: r.status_code).json["code"] == \
            "IDEMPOTENCY_IN_PROGRESS"
    assert rows(session, Application) == 1
    assert rows(session, IdempotencyRecord) == 1


def test_a_rating_sent_twice_at_once_is_kept_once(app, client, login, staff_login, session):
    """A double tap on 提交评价: one rating, one rectification task, one timeline entry; the
    other answer is the repeat's 409."""
    applicant = login("double-tap")
    closed = not_accepted(client, applicant, staff_login("window_commissioner")[0])

    responses = twice_at_once(app, "service_ratings", lambda c: c.post(
        f"/api/mp/v1/applications/{closed['id']}/rating", headers=applicant,
        json={"level": "very_dissatisfied"}))

    assert sorted(r.status_code for r in responses) == [201, 409], [r.json for r in responses]
    assert max(responses, key=lambda r: r.status_code).json["code"] == "RATING_ALREADY_GIVEN"
    assert rows(session, ServiceRating) == rows(session, RectificationTask) == 1
    assert rows(session, ApplicationEvent, ApplicationEvent.action == "rating.given") == 1
