"""用证: the holder lists and downloads each e-license they hold from the mini-program, stating
the purpose of use (用证事由); every download is recorded, the link expires, nobody else's
e-license is reachable, and administrators read the records."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from backend.models import ElicenseDownload, LicenseRendition
from backend.services import elicense_ids
from tests.test_app import assert_envelope, bad_fields
from tests.test_console_admin import signed_in
from tests.test_licenses import issue_shop_license
from tests.test_seal import assert_sealed
from tests.test_workflow import STAFF, post, staff_get

MP = "/api/mp/v1"
FILING, DEVICE = "food_prepackaged_filing", "device_class2_filing"


@pytest.fixture
def licensed(client, login, staff_login):
    return issue_shop_license(client, login, staff_login)


def held(client, headers) -> dict:
    resp = client.get(f"{MP}/elicenses", headers=headers)
    assert resp.status_code == 200, resp.json
    return resp.json


def download(client, headers, identifier: str, purpose: str = "bank", **extra):
    return client.post(f"{MP}/elicenses/{identifier}/download", headers=headers,
                       json={"purpose": purpose, **extra})


def fetch(client, url: str):
    """GET a signed file link; the answer read whole and closed."""
    with client.get(urlsplit(url).path) as resp:
        resp.get_data()
        return resp


def recorded(session) -> list[ElicenseDownload]:
    session.expire_all()
    return list(session.scalars(select(ElicenseDownload).order_by(ElicenseDownload.id)))


def test_the_holder_lists_the_license_and_each_permit_with_the_purposes(client, licensed):
    shown = held(client, licensed["applicant"])
    issued = licensed["license"]
    assert shown["total"] == 3
    assert [(e["kind"], e["item_code"], e["identifier"]) for e in shown["elicenses"]] == [
        ("combined", None, issued["elicense"]["identifier"]),
        *(("permit", i["code"], i["elicense"]["identifier"]) for i in issued["items"])]
    combined = shown["elicenses"][0]
    assert combined | {"identifier": None} == {
        "identifier": None, "name": "行业综合许可证", "kind": "combined", "item_code": None,
        "license_id": issued["id"], "license_no": issued["license_no"], "version": "001",
        "status_code": "01", "status_label": "有效", "valid_from": issued["issued_on"],
        "valid_until": None, "downloadable": True}
    assert {p["code"]: p["needs_text"] for p in shown["purposes"]} == {
        "bank": False, "lease": False, "government": False, "bidding": False,
        "partner": False, "display": False, "other": True}
    assert all(p["label"] for p in shown["purposes"])


def test_a_download_states_its_purpose_is_recorded_and_gets_the_sealed_file(
        client, licensed, session, staff_login):
    applicant, issued = licensed["applicant"], licensed["license"]
    permit = issued["items"][0]["elicense"]["identifier"]
    before = datetime.now(UTC)
    resp = download(client, applicant, permit, "other", purpose_text="  办理食品经营许可证年检 ")
    assert resp.status_code == 201, resp.json
    got = resp.json
    assert got["identifier"] == permit and got["name"] == "仅销售预包装食品备案凭证"
    assert (got["purpose"], got["purpose_label"], got["purpose_text"]) == (
        "other", "其他", "办理食品经营许可证年检")
    expires = datetime.fromisoformat(got["expires_at"])
    assert timedelta(seconds=290) < expires - before <= timedelta(seconds=301)
    pdf = fetch(client, got["url"])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    # a permit's file is the license's sealed face: the permits are printed on it
    face = session.scalar(select(LicenseRendition.pdf_sha256).where(
        LicenseRendition.license_id == issued["id"]))
    assert hashlib.sha256(pdf.data).hexdigest() == got["file_sha256"] == face
    assert_sealed(pdf.data, authority=issued["issuing_authority"])

    combined = download(client, applicant, issued["elicense"]["identifier"], "lease")
    assert combined.status_code == 201 and combined.json["file_sha256"] == face
    [first, second] = recorded(session)
    assert (first.identifier, first.purpose, first.purpose_text, first.client_address) == (
        permit, "other", "办理食品经营许可证年检", "127.0.0.1")
    assert first.applicant_id == second.applicant_id and first.license_id == issued["id"]
    assert (second.identifier, second.purpose, second.purpose_text) == (
        issued["elicense"]["identifier"], "lease", None)

    # administrators read the records: the staff API and the console's license page
    admin, _ = staff_login("system_admin")
    records = staff_get(client, admin, f"/licenses/{issued['id']}/downloads")
    assert [(d["identifier"], d["purpose_label"], d["client_address"])
            for d in records["downloads"]] == [
        (issued["elicense"]["identifier"], "经营场所租赁", "127.0.0.1"),
        (permit, "其他", "127.0.0.1")]
    assert records["downloads"][1]["purpose_text"] == "办理食品经营许可证年检"
    assert_envelope(client.get(f"{STAFF}/licenses/{issued['id']}/downloads",
                               headers=licensed["commissioner"]), 403, "FORBIDDEN_ROLE")
    signed_in(client, session, "sysadmin-dl", "system_admin")
    page = client.get(f"/console/licenses/{issued['id']}").text
    assert "下载用证记录" in page and "办理食品经营许可证年检" in page and "经营场所租赁" in page


@pytest.mark.parametrize(("body", "status", "code", "field", "problem"), [
    ({"purpose": "other"}, 422, "DOWNLOAD_PURPOSE_INVALID", "purpose_text", "FIELD_REQUIRED"),
    ({"purpose": "other", "purpose_text": "查"}, 422, "DOWNLOAD_PURPOSE_INVALID",
     "purpose_text", "FIELD_REQUIRED"),
    ({"purpose": "bank", "purpose_text": "开户"}, 422, "DOWNLOAD_PURPOSE_INVALID",
     "purpose_text", "FIELD_NOT_ALLOWED"),
    ({"purpose": "gossip"}, 422, "REQUEST_INVALID", "purpose", None),
    ({}, 422, "REQUEST_INVALID", "purpose", None),
])
def test_a_download_without_a_good_purpose_is_refused_and_not_recorded(
        client, licensed, session, body, status, code, field, problem):
    identifier = licensed["license"]["elicense"]["identifier"]
    resp = client.post(f"{MP}/elicenses/{identifier}/download", headers=licensed["applicant"],
                       json=body)
    fields = bad_fields(resp, status, code)
    assert field in fields and fields[field]["message"]
    assert not fields[field]["message"].isascii()  # told in Chinese
    if problem:
        assert fields[field]["code"] == problem
    assert recorded(session) == []


def test_the_link_expires(client, licensed, monkeypatch):
    got = download(client, licensed["applicant"],
                   licensed["license"]["elicense"]["identifier"]).json
    assert fetch(client, got["url"]).status_code == 200
    later = datetime.fromisoformat(got["expires_at"]).timestamp()
    monkeypatch.setattr("media.store.time", SimpleNamespace(time=lambda: later))
    assert_envelope(fetch(client, got["url"]), 403, "MEDIA_LINK_EXPIRED")


def test_a_short_lifetime_is_a_setting(client, licensed, set_settings):
    set_settings(ELICENSE_DOWNLOAD_TTL_SECONDS=1)
    got = download(client, licensed["applicant"],
                   licensed["license"]["elicense"]["identifier"]).json
    expires = datetime.fromisoformat(got["expires_at"]).timestamp()
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    assert_envelope(fetch(client, got["url"]), 403, "MEDIA_LINK_EXPIRED")


def test_another_applicant_reaches_nothing(client, licensed, login, session):
    other = login("stranger")
    assert held(client, other)["elicenses"] == []
    identifier = licensed["license"]["elicense"]["identifier"]
    mine = assert_envelope(download(client, other, identifier), 404, "ELICENSE_NOT_FOUND")
    unknown = str(elicense_ids.parse(identifier).next_version())  # well formed, held by nobody
    assert assert_envelope(download(client, other, unknown), 404,
                           "ELICENSE_NOT_FOUND")["message"] == mine["message"]
    wrong = identifier[:-1] + ("A" if identifier[-1] != "A" else "B")
    fields = bad_fields(download(client, licensed["applicant"], wrong), 422,
                        "ELICENSE_ID_INVALID")
    assert fields["identifier"]["code"] == "ELICENSE_ID_CHECK"
    assert recorded(session) == []


def test_only_the_current_version_in_force_is_downloaded(client, licensed, session):
    applicant, reviewer = licensed["applicant"], licensed["reviewer"]
    old = licensed["license"]["elicense"]["identifier"]
    client.post(f"{MP}/licenses/{licensed['license']['id']}/requests", headers=applicant,
                json={"kind": "change", "changes": {"holder_name": "晋味便利店（新）"},
                      "reason": "更名"})
    pending = staff_get(client, reviewer, "/license-requests")["requests"][0]
    changed = post(client, reviewer, f"/license-requests/{pending['id']}/decide",
                   {"version": pending["version"], "approve": True, "opinion": "同意变更"})
    superseded = assert_envelope(download(client, applicant, old), 409, "ELICENSE_SUPERSEDED")
    assert superseded["details"]["current_identifier"] == changed["elicense"]["identifier"]
    assert download(client, applicant, changed["elicense"]["identifier"]).status_code == 201

    device = next(i for i in changed["items"] if i["code"] == DEVICE)
    post(client, reviewer, f"/licenses/{changed['id']}/items/{DEVICE}/suspend",
         {"version": changed["lock_version"], "reason": "整改"})
    refused = assert_envelope(download(client, applicant, device["elicense"]["identifier"]),
                              409, "ELICENSE_NOT_VALID")
    assert refused["details"]["status_code"] == "02" and "暂扣" in refused["message"]
    assert [e["downloadable"] for e in held(client, applicant)["elicenses"]] == [
        True, True, False]
    assert len(recorded(session)) == 1
