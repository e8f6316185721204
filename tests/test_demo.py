"""`flask demo story`: a newcomer's office with a case in every state, seeded through the
real services, and a second run that adds nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from backend import clock
from backend.extensions import db
from backend.models import Applicant, License, LicenseRendition, MaterialFile, StaffAccount
from backend.services import assisted, calendar, demo, verification
from backend.services import staff as staff_service
from tests.test_console_session import sign_in


def run_story(app) -> str:
    result = app.test_cli_runner().invoke(args=["demo", "story"])
    assert result.exit_code == 0, result.output
    return result.output


def row_counts() -> dict[str, int]:
    return {t.name: db.session.scalar(select(func.count()).select_from(t))
            for t in db.metadata.sorted_tables}


def test_the_story_seeds_every_state_once(app):
    with app.app_context():
        staff_service.ensure_demo_accounts(db.session)
        db.session.commit()
    first = run_story(app)
    assert "4 of 4 cases changed" in first and "许可证验证：http" in first
    with app.app_context():
        before = row_counts()
    second = run_story(app)
    assert "0 of 4 cases changed (already seeded)" in second
    with app.app_context():
        assert row_counts() == before  # not one row more: no application, file or event
        by_openid = demo.demo_applications(db.session)
        assert {o: a.status for o, a in by_openid.items()} == {
            "demo-licensed": "licensed", "demo-in-review": "in_review",
            "demo-submitted": "submitted", "demo-walk-in": "draft"}
        assert db.session.scalar(select(func.count()).select_from(Applicant).where(
            Applicant.openid.startswith("demo-"))) == 3  # the walk-in's is a placeholder

        # licensed: every item approved, the inspection passed, the QR verifies
        licensed = by_openid["demo-licensed"]
        assert {i.status for i in licensed.items} == {"approved"}
        assert licensed.inspection.status == "passed" and licensed.deferred_materials
        assert set(licensed.deferred_materials) <= {
            m for r in licensed.inspection.results for m in r.confirmed_materials}
        license_ = db.session.scalar(select(License).where(
            License.application_id == licensed.id))
        face = db.session.scalar(select(LicenseRendition).where(
            LicenseRendition.license_id == license_.id))
        settings = app.extensions["settings"]
        result = verification.check_scan(db.session, scan=face.verify_url,
                                         keyring=app.extensions["license_keyring"],
                                         base_url=settings.LICENSE_VERIFY_BASE_URL)
        assert (result.code, result.label) == ("valid", "有效")
        assert result.license.holder_name == "太原市小店区晋味饭店有限公司"

        # in review: the bureau's item approved, fire's still under review,
        # the joint inspection scheduled on a working day of next week with both units
        in_review = by_openid["demo-in-review"]
        assert {i.item_code: i.status for i in in_review.items} == {
            "internet_cafe": "approved", "fire_safety_check": "under_review"}
        inspection = in_review.inspection
        assert inspection.status == "scheduled"
        today = clock.today()
        next_monday = today + timedelta(days=7 - today.weekday())
        assert next_monday <= inspection.scheduled_on < next_monday + timedelta(days=7)
        assert calendar.is_workday(db.session, inspection.scheduled_on)
        assert {m.unit_code for m in inspection.members} == {"approval_bureau", "fire"}

        # waiting at the window, and window1's 帮办代办 draft with its entity filled in
        assert {i.status for i in by_openid["demo-submitted"].items} == {"submitted"}
        walk_in = by_openid["demo-walk-in"]
        assert walk_in.form_values["entity_name"] == "太原市小店区三晋书苑文化有限公司"
        assert not walk_in.files
        window1 = db.session.scalar(select(StaffAccount).where(
            StaffAccount.username == "window1"))
        [case] = assisted.list_mine(db.session, staff=window1)
        assert case.application.id == walk_in.id and case.placeholder.openid is None
        assert case.walk_in.id_number_masked.startswith("1401") and case.walk_in.person_name
        assert {e.action for e in walk_in.events} >= {"application.assisted"}

        # real files in the media store: photos re-encoded as JPEG, documents as PDF
        files = db.session.scalars(select(MaterialFile)).all()
        assert {f.media_type for f in files} == {"image/jpeg", "application/pdf"}
        store = app.extensions["media_store"]
        for f in files:
            with store.open(f.sha256) as stored:
                head = stored.read(5)
            assert head.startswith(b"%PDF-" if f.media_type == "application/pdf" else b"\xff\xd8")


def test_the_story_wants_the_demo_staff_first(app):
    result = app.test_cli_runner().invoke(args=["demo", "story"])
    assert result.exit_code == 1
    assert "DEMO_STAFF_MISSING" in result.output and "flask staff demo" in result.output


def test_window1_finds_the_walk_in_on_its_assisted_page(app):
    with app.app_context():
        staff_service.ensure_demo_accounts(db.session)
        db.session.commit()
    run_story(app)
    client = app.test_client()
    sign_in(client, "window1", staff_service.DEMO_PASSWORD)
    page = client.get("/console/assisted").text
    assert "太原市小店区三晋书苑文化有限公司" in page and "孙*" in page
    assert "共 1 件" in page
