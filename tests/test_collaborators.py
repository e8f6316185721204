"""Letting a colleague help: invited by a one-time code, they fill fields and upload; only the
owner (or the authorised agent) submits, withdraws or consents; removal is immediate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from backend.models import Application, ApplicationEvent, CollaborationInvite
from backend.models.base import utcnow
from tests.live import LiveServer
from tests.media_files import phone_jpeg
from tests.test_app import assert_envelope
from tests.test_applications import (
    BASE,
    VALID_ENTITY,
    draft,
    fields_of,
    fill,
    send_file,
    upload,
)
from tests.test_workflow import RESTAURANT, rectifying, scheduled

JOIN = f"{BASE}/join"


def invite(client, owner, app_id: int, role: str = "collaborator") -> str:
    resp = client.post(f"{BASE}/{app_id}/collaborators/invitations", headers=owner,
                       json={"role": role})
    assert resp.status_code == 201, resp.json
    assert len(resp.json["code"]) == 8 and resp.json["role"] == role
    return resp.json["code"]


def joined(client, helper, code: str) -> dict:
    resp = client.post(JOIN, headers=helper, json={"code": code})
    assert resp.status_code == 200, resp.json
    return resp.json


def test_a_collaborator_fills_and_uploads_but_cannot_submit_over_http(live_server: LiveServer):
    http = live_server.client()
    owner = live_server.login_applicant("collab-owner")
    helper = live_server.login_applicant("collab-helper")
    detail = draft(http, owner, "restaurant", **RESTAURANT)
    app_id = detail["id"]

    seen = joined(http, helper, invite(http, owner, app_id))
    assert seen["id"] == app_id
    saved = http.patch(f"{BASE}/{app_id}", headers=helper,
                       json={"fields": {"entity_name": VALID_ENTITY["entity_name"]}})
    assert saved.status_code == 200, saved.json
    sent = upload(http, helper, app_id, "premises_proof", phone_jpeg(400, 300, seed=5))
    assert sent.status_code == 201, sent.json
    link = sent.json["url"]
    assert http.http.get(link, timeout=10).status_code == 200
    refused = http.post(f"{BASE}/{app_id}/submit", headers=helper)
    withdraw = http.post(f"{BASE}/{app_id}/withdraw", headers=helper)
    assert refused.status_code == 403 and refused.json["code"] == "COLLABORATOR_NOT_ALLOWED"
    assert withdraw.status_code == 403
    mine = http.get(f"{BASE}/{app_id}", headers=owner).json
    assert mine["status"] == "draft"
    assert fields_of(mine)["entity_name"]["value"] == VALID_ENTITY["entity_name"]
    by = {e["action"]: e["actor"] for e in mine["timeline"]}
    assert by["collaborator.joined"] == by["material.uploaded"] == "协作人"
    assert by["application.form_saved"] == "协作人"
    assert by["collaborator.invited"] == "申请人"

    # the owner removes the helper: the very next request is refused, links included
    (member,) = http.get(f"{BASE}/{app_id}/collaborators", headers=owner).json["collaborators"]
    removed = http.delete(f"{BASE}/{app_id}/collaborators/{member['id']}", headers=owner)
    assert removed.status_code == 200 and removed.json["total"] == 0
    assert http.get(f"{BASE}/{app_id}", headers=helper).status_code == 404
    again = http.patch(f"{BASE}/{app_id}", headers=helper,
                       json={"fields": {"entity_name": "改名"}})
    assert again.status_code == 404 and again.json["code"] == "APPLICATION_NOT_FOUND"
    assert http.http.get(link, timeout=10).status_code in (403, 404)
    assert app_id not in [a["id"] for a in http.get(BASE, headers=helper).json["applications"]]


def test_an_invitation_code_works_once(client, login):
    owner, first, second = login("owner-once"), login("first"), login("second")
    detail = draft(client, owner)
    code = invite(client, owner, detail["id"])

    joined(client, first, code)
    reused = client.post(JOIN, headers=second, json={"code": code})

    assert_envelope(reused, 422, "COLLABORATION_CODE_INVALID")
    assert client.get(f"{BASE}/{detail['id']}", headers=second).status_code == 404


def test_an_expired_or_own_code_joins_nothing(client, login, session):
    owner, late = login("owner-late"), login("late")
    detail = draft(client, owner)
    old, own = invite(client, owner, detail["id"]), invite(client, owner, detail["id"])
    session.execute(update(CollaborationInvite).values(expires_at=utcnow() - timedelta(
        seconds=1)).where(CollaborationInvite.id == session.scalar(
            select(CollaborationInvite.id).order_by(CollaborationInvite.id).limit(1))))

    assert_envelope(client.post(JOIN, headers=late, json={"code": old}), 422,
                    "COLLABORATION_CODE_INVALID")
    assert_envelope(client.post(JOIN, headers=owner, json={"code": own}), 422,
                    "COLLABORATION_CODE_INVALID")


@pytest.mark.parametrize("code", ["1234567", "abcdefgh", "123456789"])
def test_a_malformed_code_is_refused(client, login, code):
    resp = client.post(JOIN, headers=login("typo"), json={"code": code})

    assert resp.status_code == 422


def test_only_the_owner_invites_and_removes(client, login):
    owner, helper, stranger = login("owner-only"), login("helper-only"), login("stranger")
    detail = draft(client, owner)
    joined(client, helper, invite(client, owner, detail["id"]))
    url = f"{BASE}/{detail['id']}/collaborators"
    (member,) = client.get(url, headers=helper).json["collaborators"]
    assert member["is_me"] and "****" in member["openid_masked"]

    by_helper = client.post(f"{url}/invitations", headers=helper, json={})
    remove_self = client.delete(f"{url}/{member['id']}", headers=helper)
    by_stranger = client.post(f"{url}/invitations", headers=stranger, json={})

    assert_envelope(by_helper, 403, "COLLABORATOR_NOT_ALLOWED")
    assert_envelope(remove_self, 403, "COLLABORATOR_NOT_ALLOWED")
    assert_envelope(by_stranger, 404, "APPLICATION_NOT_FOUND")
    assert_envelope(client.get(url, headers=stranger), 404, "APPLICATION_NOT_FOUND")


def test_an_agent_can_be_invited_only_for_an_application_through_an_agent(client, login):
    owner = login("owner-agent")
    in_person = draft(client, owner, applicant_is_agent=False)

    resp = client.post(f"{BASE}/{in_person['id']}/collaborators/invitations", headers=owner,
                       json={"role": "agent"})

    assert_envelope(resp, 422, "COLLABORATOR_AGENT_NOT_APPLICABLE")


def test_the_authorised_agent_submits_and_the_timeline_names_them(client, login, session):
    owner, agent = login("rep"), login("agent")
    detail = draft(client, owner, "restaurant", **RESTAURANT, applicant_is_agent=True)
    joined(client, agent, invite(client, owner, detail["id"], role="agent"))
    detail = fill(client, agent, detail)
    for seed, m in enumerate(detail["materials"], start=30):
        if m["state"] == "missing":
            assert upload(client, agent, detail["id"], m["code"],
                          phone_jpeg(400, 300, seed=seed)).status_code == 201

    resp = client.post(f"{BASE}/{detail['id']}/submit", headers=agent)

    assert resp.status_code == 200, resp.json
    event = session.scalar(select(ApplicationEvent).where(
        ApplicationEvent.action == "application.submitted"))
    assert event.actor_label == "受托人" and event.actor_kind == "applicant"
    assert event.actor_id != session.get(Application, detail["id"]).applicant_id


def test_consent_is_the_helpers_own(client, login):
    owner, shy = login("owner-consent"), login("shy-helper", consent=False)
    detail = draft(client, owner)
    joined(client, shy, invite(client, owner, detail["id"]))

    resp = client.patch(f"{BASE}/{detail['id']}", headers=shy,
                        json={"fields": {"legal_rep_name": "张三"}})
    scan = upload(client, shy, detail["id"], "legal_rep_id", phone_jpeg(400, 300, seed=7))

    assert_envelope(resp, 403, "PRIVACY_CONSENT_REQUIRED")
    assert_envelope(scan, 403, "PRIVACY_CONSENT_REQUIRED")


def test_a_code_handed_out_before_a_withdrawal_joins_nothing(client, login, session):
    """Inviting needs an application that can still be filled in; so does using a code."""
    owner, late = login("withdraw-owner"), login("late-helper")
    detail = draft(client, owner)
    code = invite(client, owner, detail["id"])
    assert client.post(f"{BASE}/{detail['id']}/withdraw", headers=owner).status_code == 200

    resp = client.post(JOIN, headers=late, json={"code": code})

    assert assert_envelope(resp, 409, "APPLICATION_NOT_EDITABLE")["details"]["status"] == \
        "withdrawn"
    assert client.get(f"{BASE}/{detail['id']}", headers=late).status_code == 404
    assert session.scalar(select(CollaborationInvite.used_at)) is None


def test_the_owner_lists_and_cancels_codes_not_yet_used(client, login, session):
    owner, helper, finder = login("owner-codes"), login("helper-codes"), login("finder")
    detail = draft(client, owner)
    url = f"{BASE}/{detail['id']}/collaborators/invitations"
    used, kept, lost = (invite(client, owner, detail["id"]) for _ in range(3))
    joined(client, helper, used)

    listed = client.get(url, headers=owner)
    assert listed.status_code == 200 and listed.json["total"] == 2
    assert {kept, lost}.isdisjoint(listed.get_data(as_text=True).split('"'))  # never shown again
    assert_envelope(client.get(url, headers=helper), 403, "COLLABORATOR_NOT_ALLOWED")
    first, second = (row["id"] for row in listed.json["invitations"])
    assert_envelope(client.delete(f"{url}/{first}", headers=helper), 403,
                    "COLLABORATOR_NOT_ALLOWED")

    cancelled = client.delete(f"{url}/{second}", headers=owner)

    assert cancelled.status_code == 200
    assert [r["id"] for r in cancelled.json["invitations"]] == [first]
    assert_envelope(client.post(JOIN, headers=finder, json={"code": lost}), 422,
                    "COLLABORATION_CODE_INVALID")
    assert_envelope(client.delete(f"{url}/{second}", headers=owner), 404, "INVITATION_NOT_FOUND")
    assert joined(client, finder, kept)["id"] == detail["id"]  # the other code still works
    event = session.scalar(select(ApplicationEvent).where(
        ApplicationEvent.action == "collaborator.invite_cancelled"))
    assert event.actor_label == "申请人"


def helpers_on_draft(client, login) -> tuple[dict, dict, object]:
    """(agent, collaborator, hook): the hook, given to ``tests.test_workflow.scheduled``,
    takes both on while the application is a draft made through an agent."""
    agent, collaborator = login("inspection-agent"), login("inspection-helper")

    def take_on(owner, detail):
        joined(client, agent, invite(client, owner, detail["id"], role="agent"))
        joined(client, collaborator, invite(client, owner, detail["id"]))

    return agent, collaborator, take_on


def test_the_agent_asks_to_move_the_visit_a_collaborator_may_not(client, login, staff_login,
                                                                  session):
    agent, collaborator, take_on = helpers_on_draft(client, login)
    _, _, _, detail, _ = scheduled(client, login, staff_login, session, on_draft=take_on,
                                   applicant_is_agent=True)
    url = f"{BASE}/{detail['id']}/inspection/reschedule"

    refused = client.post(url, headers=collaborator, json={"reason": "出差"})
    moved = client.post(url, headers=agent, json={"reason": "法定代表人出差"})

    assert_envelope(refused, 403, "COLLABORATOR_NOT_ALLOWED")
    assert moved.status_code == 200, moved.json
    assert moved.json["inspection"]["status"] == "reschedule_requested"
    event = session.scalar(select(ApplicationEvent).where(
        ApplicationEvent.action == "inspection.reschedule_requested"))
    assert event.actor_label == "受托人"


def test_the_agent_reports_the_rectification_a_collaborator_only_sends_photos(
        client, login, staff_login, session):
    agent, collaborator, take_on = helpers_on_draft(client, login)
    _, _, detail, _ = rectifying(client, login, staff_login, session, recheck_mode="photos",
                                 on_draft=take_on, applicant_is_agent=True)
    base = f"{BASE}/{detail['id']}/inspection"

    photo = send_file(client, f"{base}/evidence", collaborator, phone_jpeg(seed=21))
    by_helper = client.post(f"{base}/rectification", headers=collaborator, json={"note": "好了"})
    by_agent = client.post(f"{base}/rectification", headers=agent, json={"note": "已整改"})

    assert photo.status_code == 201, photo.json
    assert_envelope(by_helper, 403, "COLLABORATOR_NOT_ALLOWED")
    assert by_agent.status_code == 200, by_agent.json
    assert by_agent.json["inspection"]["status"] == "recheck"
    by = {e["action"]: e["actor"] for e in by_agent.json["timeline"]}
    assert by["material.uploaded"] == "协作人"
    assert by["inspection.rectification_submitted"] == "受托人"
