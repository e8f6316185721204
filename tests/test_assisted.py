"""帮办代办: the window applies for a walk-in, then hands the case over with a one-time code."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.errors import DomainError, NotFound, PermissionDenied
from backend.extensions import db
from backend.models import Applicant, Application, InboxMessage, WalkIn
from backend.models.base import utcnow
from backend.services import applications, assisted, materials, window
from backend.services import staff as staff_service
from tests.conftest import STAFF_PASSWORD
from tests.media_files import phone_jpeg
from tests.test_app import assert_envelope
from tests.test_applications import BASE, VALID_ENTITY, sample_value
from tests.test_console_session import csrf_of, sign_in

RESTAURANT = {"applicant_is_agent": ["false"], "floor_area": ["450"], "investment": ["80"],
              "sells_alcohol": ["false"], "sells_tobacco": ["true"], "outdoor_sign": ["false"]}
PERSON = {"person_name": "李四", "id_document": "resident_id_card",
          "id_number": "360426199101010071", "identity_checked": True}
CLAIM = f"{BASE}/claim"


def make_staff(session, username: str, role: str = "window_commissioner", unit=None):
    account = staff_service.create(session, username=username, display_name=f"{username}专员",
                                   role=role, unit_code=unit, password=STAFF_PASSWORD)
    session.commit()
    return account


@pytest.fixture
def commissioner(session):
    return make_staff(session, "window-a")


def acting(staff):
    """The staff account in the request's own session."""
    return db.session.get(type(staff), staff.id)


def start(app, staff, **person) -> int:
    with app.app_context():
        application = assisted.start(db.session, staff=acting(staff), industry_code="restaurant",
                                     answers=RESTAURANT, **(PERSON | person))
        db.session.commit()
        return application.id


def form_text(app, application_id: int) -> dict[str, list[str]]:
    """The merged form as a browser sends it: every field as text."""
    with app.app_context():
        application = db.session.get(Application, application_id)
        fields = applications.bundle_of(db.session, application).fields
    values = {code: [value] for code, value in VALID_ENTITY.items()}
    for f in fields:
        if f.code not in values and f.code != "floor_area":
            value = sample_value({"code": f.code, "type": f.type, "options": list(f.options)})
            values[f.code] = [str(v) for v in value] if isinstance(value, list) \
                else ["true" if value is True else str(value)]
    return values


def fill_upload_submit(app, staff, application_id: int) -> tuple[str, str]:
    """(status, submission number) once submitted."""
    with app.app_context():
        assisted.fill(db.session, staff=acting(staff), application_id=application_id,
                      form=form_text(app, application_id), version=None,
                      secret_key=app.extensions["settings"].SECRET_KEY)
        db.session.commit()
        application = db.session.get(Application, application_id)
        missing = [m["code"] for m in applications.material_status(
            applications.bundle_of(db.session, application), application)
            if m["state"] == "missing"]
        for seed, code in enumerate(missing, start=20):
            _, created = assisted.upload(
                db.session, staff=acting(staff), application_id=application_id,
                material_code=code, stream=io.BytesIO(phone_jpeg(400, 300, seed=seed)),
                store=app.extensions["media_store"],
                limits=materials.limits_from(app.extensions["settings"]))
            db.session.commit()
            assert created
        submitted = assisted.submit(db.session, staff=acting(staff),
                                    application_id=application_id, version=None,
                                    secret_key=app.extensions["settings"].SECRET_KEY)
        db.session.commit()
        return submitted.status, submitted.submission_number


def issue_code(app, staff, application_id: int) -> str:
    with app.app_context():
        code, expires_at = assisted.issue_claim_code(db.session, staff=acting(staff),
                                                     application_id=application_id)
        db.session.commit()
    assert len(code) == 8 and code.isdigit()
    assert timedelta(days=6, hours=23) < expires_at - utcnow() <= timedelta(days=7)
    return code


def test_the_window_drafts_fills_scans_and_submits_for_a_walk_in(app, session, commissioner):
    application_id = start(app, commissioner)
    walk_in = session.scalar(select(WalkIn))
    placeholder = session.get(Applicant, walk_in.applicant_id)
    assert placeholder.openid is None  # nobody can sign in as the walk-in
    assert (walk_in.staff_id, walk_in.id_document) == (commissioner.id, "resident_id_card")
    assert walk_in.id_number_masked == "3604**********0071"  # never the whole number
    assert walk_in.identity_checked_at is not None and walk_in.claim_code_hash is None

    status, number = fill_upload_submit(app, commissioner, application_id)
    assert status == "submitted" and number
    with app.app_context():
        application = db.session.get(Application, application_id)
        events = [(e.action, e.actor_kind, e.actor_id, e.actor_label) for e in application.events]
        staff = acting(commissioner)
        queued, _ = window.queue(db.session, staff=staff, status=None, industry=None,
                                 page=1, per_page=50)
    label = "window-a专员（窗口代办）"
    assert events[0] == ("application.created", "staff", commissioner.id, label)
    assert events[1][0] == "application.assisted" and "李*" in application.events[1].message
    assert {e for e in events if e[0] in {"material.uploaded", "application.submitted"}} <= {
        ("material.uploaded", "staff", commissioner.id, label),
        ("application.submitted", "staff", commissioner.id, label)}
    assert "application.submitted" in [e[0] for e in events]
    assert application_id in [a.id for a in queued]  # the window's queue like any other


def test_identity_must_be_checked_in_person_and_nothing_is_made_without(app, session,
                                                                       commissioner):
    with pytest.raises(DomainError) as refused:
        start(app, commissioner, identity_checked=False, id_number="360426199101010072")
    assert refused.value.code == "ASSIST_IDENTITY_INVALID"
    fields = {f["field"]: f["code"] for f in refused.value.details["fields"]}
    assert fields == {"identity_checked": "ASSIST_IDENTITY_NOT_CHECKED",
                      "id_number": "ID_NUMBER_INVALID"}
    assert session.scalar(select(WalkIn)) is None
    assert session.scalar(select(Applicant)) is None
    start(app, commissioner, id_document="passport", id_number="e1234 5678")
    assert session.scalar(select(WalkIn.id_number_masked)) == "E1*****78"


def test_only_its_commissioner_works_on_a_walk_in(app, session, commissioner):
    application_id = start(app, commissioner)
    other = make_staff(session, "window-b")
    reviewer = make_staff(session, "bureau-a", "unit_reviewer", "approval_bureau")
    with app.app_context():
        with pytest.raises(NotFound):
            assisted.case_of(db.session, staff=acting(other), application_id=application_id)
        with pytest.raises(PermissionDenied):
            assisted.case_of(db.session, staff=acting(reviewer), application_id=application_id)
        assert assisted.list_mine(db.session, staff=acting(other)) == []
        mine = assisted.list_mine(db.session, staff=acting(commissioner))
        assert [c.application.id for c in mine] == [application_id]


def test_the_applicant_claims_the_case_once_and_then_sees_it(app, client, login, session,
                                                            commissioner):
    application_id = start(app, commissioner)
    fill_upload_submit(app, commissioner, application_id)
    with app.app_context():  # accepted before the applicant claims it: a message for them
        window.accept(db.session, staff=acting(commissioner), application_id=application_id,
                      version=None)
        db.session.commit()
    first = issue_code(app, commissioner, application_id)
    code = issue_code(app, commissioner, application_id)  # issued again: the first is void
    owner = login("walk-in-owner")
    assert_envelope(client.post(CLAIM, json={"code": first}, headers=owner), 422,
                    "ASSIST_CLAIM_CODE_INVALID")

    resp = client.post(CLAIM, json={"code": code}, headers=owner)
    assert resp.status_code == 200, resp.json
    assert [a["id"] for a in resp.json["applications"]] == [application_id]
    mine = client.get(BASE, headers=owner).json
    assert [a["id"] for a in mine["applications"]] == [application_id]
    detail = client.get(f"{BASE}/{application_id}", headers=owner).json
    assert detail["status"] == "in_review"
    assert detail["timeline"][-1]["message"] == "申请人在小程序中认领了窗口代办的申请"

    again = client.post(CLAIM, json={"code": code}, headers=login("someone-else"))
    assert_envelope(again, 422, "ASSIST_CLAIM_CODE_INVALID")
    assert "认领码无效、已使用或已过期" in again.json["message"]
    with app.app_context(), pytest.raises(NotFound):  # the window's part is over
        assisted.case_of(db.session, staff=acting(commissioner), application_id=application_id)
    walk_in = session.scalar(select(WalkIn))
    assert walk_in.claimed_at is not None and walk_in.claimed_by is not None
    inbox = session.scalars(select(InboxMessage.recipient_id).where(
        InboxMessage.application_id == application_id)).all()
    assert inbox and set(inbox) == {walk_in.claimed_by}  # 已受理 reaches the new owner


def test_an_expired_code_claims_nothing(app, client, login, session, commissioner):
    application_id = start(app, commissioner)
    code = issue_code(app, commissioner, application_id)
    walk_in = session.scalar(select(WalkIn))
    walk_in.claim_code_expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    owner = login("late-owner")
    assert_envelope(client.post(CLAIM, json={"code": code}, headers=owner), 422,
                    "ASSIST_CLAIM_CODE_INVALID")
    assert client.get(BASE, headers=owner).json["total"] == 0


def test_guessing_codes_is_rate_limited_per_applicant(client, login, set_settings):
    set_settings(BIND_RATE_LIMIT="3 per minute")
    guesser, other = login("guesser"), login("bystander")
    for n in range(3):
        assert_envelope(client.post(CLAIM, json={"code": f"1234567{n}"}, headers=guesser), 422,
                        "ASSIST_CLAIM_CODE_INVALID")
    assert_envelope(client.post(CLAIM, json={"code": "12345679"}, headers=guesser), 429,
                    "RATE_LIMITED")
    assert client.post(CLAIM, json={"code": "12345679"}, headers=other).status_code == 422


@pytest.mark.parametrize(("kind", "text", "value"), [
    ("bool", ["true"], True), ("bool", ["false"], False), ("bool", ["ja"], "ja"),
    ("number", ["450"], 450), ("number", ["12.5"], 12.5), ("number", ["nan"], "nan"),
    ("integer", ["3"], 3), ("integer", ["3.5"], 3.5), ("text", [" 太原 "], "太原"),
    ("multi_choice", ["a", "b"], ["a", "b"]),
])
def test_form_text_gets_the_type_the_applicant_rules_check(kind, text, value):
    assert assisted.typed(kind, text) == value


# --- the console's pages (in-process; the browser test walks them over the live server) -----

def test_the_console_pages_drive_a_walk_in_from_intake_to_the_code(app, client, session,
                                                                  commissioner):
    sign_in(client, "window-a")
    listing = client.get("/console/assisted")
    assert listing.status_code == 200 and "暂无代办申请" in listing.text
    new = client.get("/console/assisted/new?industry=restaurant")
    assert "是否委托他人代为办理" in new.text and "当面核验身份" in new.text
    answers = {f"answers.{q}": v[0] for q, v in RESTAURANT.items()}
    person = {"person_name": "李四", "id_document": "resident_id_card",
              "id_number": "360426199101010071"}
    unchecked = client.post("/console/assisted/new", data={
        "csrf_token": csrf_of(new.text), "industry": "restaurant", **answers, **person})
    assert unchecked.status_code == 422 and "ASSIST_IDENTITY_INVALID" in unchecked.text
    made = client.post("/console/assisted/new", data={
        "csrf_token": csrf_of(new.text), "industry": "restaurant", **answers, **person,
        "identity_checked": "true"})
    assert made.status_code == 302
    page = client.get(made.location)
    assert page.status_code == 200 and "3604**********0071" in page.text
    token = csrf_of(page.text)
    application_id = int(made.location.rsplit("/", 1)[1])
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    fields = {f"fields.{k}": v for k, v in form_text(app, application_id).items()}
    saved = client.post(f"{made.location}/form",
                        data={"csrf_token": token, "version": version, **fields})
    assert saved.status_code == 302, saved.text
    stale = client.post(f"{made.location}/form",
                        data={"csrf_token": token, "version": version, **fields})
    assert stale.status_code == 409 and "VERSION_CONFLICT" in stale.text
    scan = phone_jpeg(1600, 1200, seed=5)  # past MAX_JSON_BYTES: an upload endpoint
    uploaded = client.post(f"{made.location}/materials/premises_proof", data={
        "csrf_token": token, "file": (io.BytesIO(scan), "scan.jpg")},
        content_type="multipart/form-data")
    assert uploaded.status_code == 302, uploaded.text
    page = client.get(made.location)
    assert 'class="thumb"' in page.text and "窗口代办" in page.text
    not_a_scan = client.post(f"{made.location}/materials/premises_proof", data={
        "csrf_token": token, "file": (io.BytesIO(b"MZ\x90\x00"), "x.exe")},
        content_type="multipart/form-data")
    assert not_a_scan.status_code == 415 and "UPLOAD_TYPE_NOT_ALLOWED" in not_a_scan.text
    code_page = client.post(f"{made.location}/code", data={"csrf_token": token})
    assert code_page.status_code == 200
    assert re.search(r'data-testid="claim-code">(\d{8})<', code_page.text)
    assert session.scalar(select(WalkIn.claim_code_hash)) is not None
