"""Breaker findings on who applies (#16): consent, collaborators' codes, erasure."""

from __future__ import annotations

from sqlalchemy import func, select

from backend.models import MaterialFile
from tests.media_files import phone_jpeg
from tests.test_app import assert_envelope
from tests.test_applications import BASE, draft, fill, upload, upload_required
from tests.test_collaborators import JOIN, invite
from tests.test_workflow import RESTAURANT


def test_an_identity_card_scan_is_personal_data_refused_before_consent(client, login, session):
    """The form refuses ID numbers before the privacy notice is agreed to; the scan of the
    identity card itself (legal_rep_id) is the same personal data and more."""
    shy = login("scan-before-consent", consent=False)
    detail = draft(client, shy)
    assert "legal_rep_id" in {m["code"] for m in detail["materials"]}

    resp = upload(client, shy, detail["id"], "legal_rep_id", phone_jpeg(400, 300, seed=3))

    assert_envelope(resp, 403, "PRIVACY_CONSENT_REQUIRED")
    assert session.scalar(select(func.count()).select_from(MaterialFile).where(
        MaterialFile.application_id == detail["id"])) == 0


def test_a_code_issued_before_erasure_no_longer_opens_the_erased_users_application(
        client, login):
    """DELETE /me/personal-data says it deleted 未使用的邀请码; a code the user handed out
    for an application that was then submitted must no longer let anyone in."""
    owner, later = login("erase-owner"), login("finds-the-code")
    detail = draft(client, owner, "restaurant", **RESTAURANT)
    code = invite(client, owner, detail["id"])
    detail = fill(client, owner, detail)
    upload_required(client, owner, detail, skip_deferrable=True)
    assert client.post(f"{BASE}/{detail['id']}/submit", headers=owner).status_code == 200

    erased = client.delete("/api/mp/v1/me/personal-data", headers=owner)
    assert erased.status_code == 200, erased.json
    assert "collaborations" in {d["what"] for d in erased.json["deleted"]}

    resp = client.post(JOIN, headers=later, json={"code": code})
    assert_envelope(resp, 422, "COLLABORATION_CODE_INVALID")
    assert client.get(f"{BASE}/{detail['id']}", headers=later).status_code == 404


def test_a_code_does_not_join_a_withdrawn_application(client, login):
    """Inviting needs an application still open (409 APPLICATION_NOT_EDITABLE); a code handed
    out before the owner withdrew must not let anyone in afterwards either."""
    owner, late = login("withdraw-owner"), login("late-helper")
    detail = draft(client, owner)
    code = invite(client, owner, detail["id"])
    assert client.post(f"{BASE}/{detail['id']}/withdraw", headers=owner).status_code == 200

    resp = client.post(JOIN, headers=late, json={"code": code})

    assert resp.status_code in (409, 422), resp.json
    assert client.get(f"{BASE}/{detail['id']}", headers=late).status_code == 404


def test_over_http_an_erased_owners_old_code_and_a_pre_consent_id_scan(live_server):
    """The two identity findings as a phone meets them, through the real server."""
    http = live_server.client()
    owner, stranger = live_server.login_applicant("b2-owner"), live_server.login_applicant(
        "b2-stranger")
    shy = live_server.login_applicant("b2-shy", consent=False)

    scan = draft(http, shy)
    sent = upload(http, shy, scan["id"], "legal_rep_id", phone_jpeg(400, 300, seed=9))
    assert sent.status_code == 403 and sent.json["code"] == "PRIVACY_CONSENT_REQUIRED", \
        sent.json

    detail = draft(http, owner, "restaurant", **RESTAURANT)
    code = invite(http, owner, detail["id"])
    detail = fill(http, owner, detail)
    upload_required(http, owner, detail, skip_deferrable=True)
    assert http.post(f"{BASE}/{detail['id']}/submit", headers=owner).status_code == 200
    assert http.delete("/api/mp/v1/me/personal-data", headers=owner).status_code == 200

    joined = http.post(JOIN, headers=stranger, json={"code": code})
    assert joined.status_code == 422 and joined.json["code"] == "COLLABORATION_CODE_INVALID", \
        joined.json.get("status")
