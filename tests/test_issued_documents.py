"""Printed notices are records: produced once by the action that issues them, in its
transaction, and served as issued ever after (byte-identical, whatever the case says today)."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader
from sqlalchemy import delete, select

from backend.models import Application, IssuedDocument
from media import documents as printed
from tests import test_console_units, test_console_window
from tests.test_applications import BASE
from tests.test_console_window import CASE, act, version_of
from tests.test_workflow import RESTAURANT, rectifying, submitted

# the console clients of the window's and the units' tests
window_client, console_as = test_console_window.window_client, test_console_units.console_as
OLD_NAME, NEW_NAME = "测试烘焙店1号", "补正后的名称"


def text_of(pdf: bytes) -> str:
    return re.sub(r"\s+", "", "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages))


def rows(session, app_id: int) -> list[IssuedDocument]:
    session.expire_all()
    return list(session.scalars(select(IssuedDocument)
                                .where(IssuedDocument.application_id == app_id)
                                .order_by(IssuedDocument.id)))


def rename(session, app_id: int, name: str) -> None:
    """A later change of the case's data (the applicant's form, as stored)."""
    application = session.get(Application, app_id)
    application.form_values = {**application.form_values, "entity_name": name}
    session.commit()


def test_the_supplement_notice_stays_as_sent_after_the_applicant_renames(
        window_client, client, login, session):
    applicant = login("issued-supplement")
    app = submitted(client, applicant, **RESTAURANT)
    rename(session, app["id"], OLD_NAME)
    resp = act(window_client, app["id"], "request_supplements", version=version_of(
        session, app["id"]), fields=["entity_name"], note="名称与营业执照不一致")
    assert resp.status_code == 302
    url = f"{CASE}/{app['id']}/documents/supplements.pdf"
    sent = window_client.get(url).data
    assert OLD_NAME in text_of(sent)
    # the applicant corrects the name and resubmits
    patched = client.patch(f"{BASE}/{app['id']}", headers=applicant,
                           json={"fields": {"entity_name": NEW_NAME}})
    assert patched.status_code == 200, patched.json
    assert client.post(f"{BASE}/{app['id']}/submit", headers=applicant).status_code == 200
    again = window_client.get(url).data
    assert again == sent  # byte-identical: the notice as it was sent
    flat = text_of(again)
    assert OLD_NAME in flat and NEW_NAME not in flat
    number = session.get(Application, app["id"]).submission_number
    assert f"第{number}-1号" in flat
    # a second round is a second notice (-2); the first is still kept as it was
    resp = act(window_client, app["id"], "request_supplements",
               version=version_of(session, app["id"]), materials=["premises_proof"])
    assert resp.status_code == 302
    second = text_of(window_client.get(url).data)
    assert f"第{number}-2号" in second and NEW_NAME in second
    kept = rows(session, app["id"])
    assert [(r.kind, r.round) for r in kept] == [("supplements", 1), ("supplements", 2)]
    assert kept[0].number.endswith(f"第{number}-1号") and kept[0].byte_size == len(sent)


def test_the_acceptance_notice_is_written_by_the_accept_itself(window_client, client, login,
                                                                session):
    app = submitted(client, login("issued-accept"), **RESTAURANT)
    rename(session, app["id"], OLD_NAME)
    resp = act(window_client, app["id"], "accept", version=version_of(session, app["id"]))
    assert resp.status_code == 302
    # kept by the action, before anyone downloads it
    [row] = rows(session, app["id"])
    accepted = session.get(Application, app["id"])
    assert row.kind == "acceptance" and row.round == 1 and row.issued_by is not None
    year, number = accepted.accepted_on.year, accepted.acceptance_number
    assert row.number == f"晋一业一证受字〔{year}〕第{number}号"
    assert len(row.sha256) == 64
    rename(session, app["id"], NEW_NAME)  # a later change of the case's data
    url = f"{CASE}/{app['id']}/documents/acceptance.pdf"
    first, again = window_client.get(url).data, window_client.get(url).data
    assert first == again and len(first) == row.byte_size
    assert OLD_NAME in text_of(first) and NEW_NAME not in text_of(first)
    assert len(rows(session, app["id"])) == 1  # downloads write nothing


def test_an_action_that_fails_keeps_no_document(window_client, client, login, session,
                                                monkeypatch):
    app = submitted(client, login("issued-fails"), **RESTAURANT)
    stale = act(window_client, app["id"], "accept", version=app["version"] + 7)
    assert stale.status_code == 409
    empty = act(window_client, app["id"], "request_supplements", version=app["version"])
    assert empty.status_code == 422
    assert rows(session, app["id"]) == []

    def broken_printer(notice, **_):
        raise OSError("the printer is out of order")

    # the notice cannot be produced: the acceptance does not happen either
    monkeypatch.setattr(printed, "render", broken_printer)
    assert act(window_client, app["id"], "accept", version=app["version"]).status_code == 500
    monkeypatch.undo()
    assert rows(session, app["id"]) == []
    session.expire_all()
    assert session.get(Application, app["id"]).status == "submitted"


def test_a_case_issued_before_documents_were_kept_gets_its_document_once(
        window_client, client, login, session):
    app = submitted(client, login("issued-legacy"), **RESTAURANT)
    resp = act(window_client, app["id"], "reject", version=app["version"],
               reason="经营场所不在本行政区域内")
    assert resp.status_code == 302
    session.execute(delete(IssuedDocument).where(IssuedDocument.application_id == app["id"]))
    session.commit()  # as if decided before this change
    url = f"{CASE}/{app['id']}/documents/not_accepted.pdf"
    first = window_client.get(url)
    assert first.status_code == 200 and "不予受理决定书" in text_of(first.data)
    [row] = rows(session, app["id"])
    assert row.kind == "not_accepted" and row.issued_by is None
    rename(session, app["id"], NEW_NAME)
    assert window_client.get(url).data == first.data


def test_the_rectification_notice_stays_as_sent(console_as, client, login, staff_login,
                                                session):
    _, _, detail, inspection = rectifying(client, login, staff_login, session)
    [row] = [r for r in rows(session, detail["id"]) if r.kind == "rectification"]
    assert row.round == 1 and row.issued_by is not None
    assert row.number.endswith(f"第{inspection['id']:06d}号")
    coordinator, _ = console_as("inspection_coordinator")
    url = f"/console/inspections/{inspection['id']}/rectification-notice.pdf"
    sent = coordinator.get(url).data
    name = session.get(Application, detail["id"]).form_values["entity_name"]
    assert name in text_of(sent)
    rename(session, detail["id"], NEW_NAME)
    again = coordinator.get(url).data
    assert again == sent and NEW_NAME not in text_of(again)
