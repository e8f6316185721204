"""The applicant's personal data: the phone WeChat verifies, consent to the privacy notice,
export and deletion — over the real server and the emulator, and validation in-process."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from backend.models import Applicant, Application, MaterialFile, PrivacyConsent
from backend.services import application_form, applications
from tests.live import LiveServer
from tests.media_files import phone_jpeg
from tests.test_app import assert_envelope
from tests.test_applications import (
    BASE,
    VALID_ENTITY,
    draft,
    fields_of,
    fill,
    media_files,
    upload,
    upload_required,
)
from tests.test_collaborators import JOIN, invite
from tests.test_workflow import RESTAURANT, submitted

ME = "/api/mp/v1/me"


def phone_code(emulator_base: str, user: str) -> str:
    """What the getPhoneNumber button hands the mini-program after the user allows."""
    resp = requests.post(f"{emulator_base}_emulator/phone_code", json={"user": user}, timeout=5)
    resp.raise_for_status()
    return resp.json()["code"]


def advance(emulator_base: str, seconds: float) -> None:
    requests.post(f"{emulator_base}_emulator/advance", json={"seconds": seconds},
                  timeout=5).raise_for_status()


# ---- over the real server ------------------------------------------------------------------

def test_phone_verified_once_prefills_the_contact_masked_over_http(live_server: LiveServer):
    http, wechat = live_server.client(), live_server.env["WECHAT_API_BASE"]
    me = live_server.login_applicant("phone-owner")
    code = phone_code(wechat, "phone-owner")

    verified = http.post(f"{ME}/phone", json={"code": code}, headers=me)
    reused = http.post(f"{ME}/phone", json={"code": code}, headers=me)

    assert verified.status_code == 200, verified.json
    number = verified.json["phone_masked"]
    assert verified.json["verified"] and number.startswith("138") and "****" in number
    assert reused.status_code == 422 and reused.json["code"] == "WECHAT_PHONE_CODE_INVALID"
    assert reused.json["details"]["wechat_errcode"] == 40029
    detail = draft(http, me)
    contact = fields_of(detail)["contact_phone"]
    assert contact["value"] == number and contact["verified"] and contact["filled"]
    assert http.get(ME, headers=me).json["phone"]["phone_masked"] == number


def test_a_phone_code_older_than_five_minutes_is_refused_over_http(live_server: LiveServer):
    http, wechat = live_server.client(), live_server.env["WECHAT_API_BASE"]
    me = live_server.login_applicant("phone-late")
    code = phone_code(wechat, "phone-late")
    advance(wechat, 301)

    late = http.post(f"{ME}/phone", json={"code": code}, headers=me)

    assert late.status_code == 422 and late.json["code"] == "WECHAT_PHONE_CODE_INVALID"
    assert http.get(ME, headers=me).json["phone"] == {"verified": False, "phone_masked": None,
                                                      "verified_at": None}


def test_consent_is_required_before_personal_data_over_http(live_server: LiveServer):
    http, wechat = live_server.client(), live_server.env["WECHAT_API_BASE"]
    me = live_server.login_applicant("no-consent", consent=False)
    detail = draft(http, me)  # choosing an industry gives nothing personal

    refused = http.patch(f"{BASE}/{detail['id']}", headers=me,
                         json={"fields": {"legal_rep_name": "张三"}})
    phone = http.post(f"{ME}/phone", json={"code": phone_code(wechat, "no-consent")},
                      headers=me)
    entity_only = http.patch(f"{BASE}/{detail['id']}", headers=me,
                             json={"fields": {"entity_name": "晋味饭店有限公司"}})

    scan = upload(http, me, detail["id"], "legal_rep_id", phone_jpeg(400, 300, seed=9))

    assert refused.status_code == 403 and refused.json["code"] == "PRIVACY_CONSENT_REQUIRED"
    assert phone.status_code == 403 and phone.json["code"] == "PRIVACY_CONSENT_REQUIRED"
    assert scan.status_code == 403 and scan.json["code"] == "PRIVACY_CONSENT_REQUIRED"
    assert entity_only.status_code == 200
    assert fields_of(http.get(f"{BASE}/{detail['id']}", headers=me).json)[
        "legal_rep_name"]["value"] is None
    version = http.get(f"{ME}/privacy-consent", headers=me).json["current_version"]
    agreed = http.post(f"{ME}/privacy-consent", json={"version": version}, headers=me)
    assert agreed.status_code == 200 and agreed.json["agreed"] and agreed.json["agreed_at"]
    accepted = http.patch(f"{BASE}/{detail['id']}", headers=me,
                          json={"fields": {"legal_rep_name": "张三"}})
    assert accepted.status_code == 200
    assert upload(http, me, detail["id"], "legal_rep_id",
                  phone_jpeg(400, 300, seed=9)).status_code == 201


def test_export_then_delete_keeps_only_the_archives_over_http(live_server: LiveServer):
    http = live_server.client()
    me = live_server.login_applicant("forget-me")
    kept = draft(http, me)
    http.patch(f"{BASE}/{kept['id']}", headers=me,
               json={"fields": {"legal_rep_id_number": VALID_ENTITY["legal_rep_id_number"]}})

    exported = http.get(f"{ME}/personal-data", headers=me)

    assert exported.status_code == 200
    (mine,) = exported.json["applications"]
    assert mine["form"]["legal_rep_id_number"] == VALID_ENTITY["legal_rep_id_number"]
    assert exported.json["privacy_consents"][0]["version"]
    erased = http.delete(f"{ME}/personal-data", headers=me)
    assert erased.status_code == 200
    deleted = {d["what"]: d["count"] for d in erased.json["deleted"]}
    assert deleted["drafts"] == 1 and erased.json["kept"] == []  # nothing was ever submitted
    assert http.get(ME, headers=me).status_code == 401  # signed out everywhere


def test_an_erased_owners_unused_code_opens_nothing_over_http(live_server: LiveServer):
    """A code handed out for an application later submitted (kept as an archive) is void
    once its owner asks for deletion, and the answer counts it."""
    http = live_server.client()
    owner, stranger = (live_server.login_applicant(u) for u in ("erase-owner", "finds-code"))
    detail = draft(http, owner, "restaurant", **RESTAURANT)
    code = invite(http, owner, detail["id"])
    detail = fill(http, owner, detail)
    upload_required(http, owner, detail, skip_deferrable=True)
    assert http.post(f"{BASE}/{detail['id']}/submit", headers=owner).status_code == 200

    erased = http.delete(f"{ME}/personal-data", headers=owner)

    assert erased.status_code == 200
    assert {d["what"]: d["count"] for d in erased.json["deleted"]}["invitations"] == 1
    joined = http.post(JOIN, headers=stranger, json={"code": code})
    assert joined.status_code == 422 and joined.json["code"] == "COLLABORATION_CODE_INVALID"
    assert http.get(f"{BASE}/{detail['id']}", headers=stranger).status_code == 404


# ---- in-process: the rules one by one ------------------------------------------------------

def test_the_form_refuses_each_personal_field_without_consent(client, login):
    me = login("shy", consent=False)
    detail = draft(client, me)
    for code in ("legal_rep_name", "legal_rep_id_number", "contact_phone"):
        resp = client.patch(f"{BASE}/{detail['id']}", headers=me,
                            json={"fields": {code: VALID_ENTITY[code]}})
        body = assert_envelope(resp, 403, "PRIVACY_CONSENT_REQUIRED")
        assert body["details"]["privacy_version"]
    cleared = client.patch(f"{BASE}/{detail['id']}", headers=me,
                           json={"fields": {"legal_rep_name": None}})  # nothing given
    assert cleared.status_code == 200


def test_files_showing_a_person_are_refused_without_consent_and_nothing_is_stored(
        client, login, session, app):
    """An ID-card scan or a 授权委托书 is the same personal data as the form's numbers."""
    me = login("shy-uploader", consent=False)
    detail = draft(client, me, applicant_is_agent=True)
    codes = {m["code"] for m in detail["materials"]}
    personal = sorted(codes & application_form.PERSONAL_MATERIALS)
    assert {"legal_rep_id", "agent_id", "power_of_attorney"} <= set(personal)

    for seed, code in enumerate(personal):
        resp = upload(client, me, detail["id"], code, phone_jpeg(400, 300, seed=seed))
        assert_envelope(resp, 403, "PRIVACY_CONSENT_REQUIRED")
    licence = upload(client, me, detail["id"], "business_license", phone_jpeg(400, 300, seed=40))

    assert licence.status_code == 201  # the business licence names the entity, not a person
    assert [f.material_code for f in session.scalars(select(MaterialFile).where(
        MaterialFile.application_id == detail["id"]))] == ["business_license"]
    assert len(media_files(app)) == 2  # the licence and its thumbnail, nothing else


@pytest.mark.parametrize("version", ["2020-01-01", "x"])
def test_only_the_notice_in_force_can_be_agreed_to(client, login, session, version):
    me = login("reader", consent=False)

    resp = client.post(f"{ME}/privacy-consent", json={"version": version}, headers=me)

    body = assert_envelope(resp, 422, "PRIVACY_VERSION_OUTDATED")
    assert body["details"]["current_version"] != version
    assert session.scalar(select(PrivacyConsent)) is None


def test_a_new_notice_version_asks_again_and_keeps_history(client, login, set_settings):
    me = login("returning")
    set_settings(PRIVACY_NOTICE_VERSION="2027-01-01")
    detail = draft(client, me)

    resp = client.patch(f"{BASE}/{detail['id']}", headers=me,
                        json={"fields": {"legal_rep_name": "张三"}})
    assert_envelope(resp, 403, "PRIVACY_CONSENT_REQUIRED")
    agreed = client.post(f"{ME}/privacy-consent", json={"version": "2027-01-01"}, headers=me)
    assert [h["version"] for h in agreed.json["history"]][-1] == "2027-01-01"
    assert len(agreed.json["history"]) == 2


@pytest.mark.parametrize(("errcode", "status", "code"), [
    (40029, 422, "WECHAT_PHONE_CODE_INVALID"),
    (40163, 422, "WECHAT_PHONE_CODE_INVALID"),
    (-1, 503, "WECHAT_BUSY"),
    (45011, 503, "WECHAT_BUSY"),
])
def test_wechat_phone_errors_become_clear_answers(client, login, emulator, errcode, status,
                                                   code):
    me = login("caller")
    requests.post(f"{emulator.base_url}_emulator/faults", timeout=5, json={
        "endpoint": "getuserphonenumber", "errcode": errcode}).raise_for_status()

    resp = client.post(f"{ME}/phone", json={"code": "test-caller.1"}, headers=me)

    assert assert_envelope(resp, status, code)["details"]["wechat_errcode"] == errcode


def test_the_verified_number_is_stored_sealed_and_never_shown_whole(client, login, session,
                                                                     app, emulator):
    me = login("sealed")
    detail = draft(client, me)
    resp = client.post(f"{ME}/phone", json={"code": phone_code(emulator.base_url, "sealed")},
                       headers=me)
    assert resp.status_code == 200

    applicant = session.scalar(select(Applicant).where(Applicant.phone_sealed.is_not(None)))
    secret_key = app.extensions["settings"].SECRET_KEY
    row = session.get(Application, detail["id"])
    full = applications.sensitive_values(row, secret_key)["contact_phone"]
    assert full.encode() not in applicant.phone_sealed
    shown = client.get(f"{BASE}/{detail['id']}", headers=me).get_data(as_text=True)
    assert full not in shown and full[-4:] in shown  # the draft was pre-filled, masked
    # typing another number takes the verified mark away
    changed = client.patch(f"{BASE}/{detail['id']}", headers=me,
                           json={"fields": {"contact_phone": "13912345678"}})
    assert not fields_of(changed.json)["contact_phone"]["verified"]


def test_deletion_keeps_submitted_applications_and_says_why(client, login, session, emulator):
    me = login("archived")
    assert client.post(f"{ME}/phone", headers=me, json={
        "code": phone_code(emulator.base_url, "archived")}).status_code == 200
    kept = submitted(client, me)
    gone = draft(client, me)

    resp = client.delete(f"{ME}/personal-data", headers=me)

    assert resp.status_code == 200
    deleted = {d["what"]: d["count"] for d in resp.json["deleted"]}
    assert deleted["verified_phone"] == 1 and deleted["drafts"] == 1
    why = {k["what"]: k for k in resp.json["kept"]}
    assert why["applications"]["count"] == 1 and "行政许可法" in why["applications"]["reason"]
    assert why["privacy_consents"]["count"] == 1 and why["account"]["count"] == 1
    session.expire_all()
    assert session.get(Application, gone["id"]) is None
    assert session.get(Application, kept["id"]).status == "submitted"
    applicant = session.get(Applicant, session.get(Application, kept["id"]).applicant_id)
    assert applicant.phone_sealed is None and applicant.erased_at is not None
    assert applicant.openid is not None  # to follow the kept application after a new login
    again = login("archived")
    assert [a["id"] for a in client.get(BASE, headers=again).json["applications"]] == [
        kept["id"]]


def test_a_refused_access_token_is_refreshed_once_for_the_phone(client, login, emulator):
    me = login("token")
    requests.post(f"{emulator.base_url}_emulator/expire_token", timeout=5).raise_for_status()

    resp = client.post(f"{ME}/phone", headers=me,
                       json={"code": phone_code(emulator.base_url, "token")})

    assert resp.status_code == 200 and resp.json["verified"]
    log = requests.get(f"{emulator.base_url}_emulator/log", timeout=5).json()["requests"]
    assert [r["errcode"] for r in log if r["endpoint"] == "getuserphonenumber"] == [40001, 0]
