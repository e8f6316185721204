"""Who applies: the legal representative (法定代表人/负责人) or an authorised agent (受托人),
as the guidance answer says; an agent adds the 授权委托书 and their own identity."""

from __future__ import annotations

import json

import pytest

from backend.security.masking import mask_id_number, mask_phone
from tests import test_console_window
from tests.live import LiveServer
from tests.media_files import phone_jpeg
from tests.test_app import bad_fields
from tests.test_applications import (
    BASE,
    VALID_AGENT,
    VALID_ENTITY,
    draft,
    fields_of,
    fill,
    upload,
    upload_required,
)
from tests.test_console_window import CASE, act, version_of
from tests.test_issued_documents import text_of
from tests.test_licenses import SHOP
from tests.test_workflow import RESTAURANT, accepted, post, staff_get, submitted

window_client = test_console_window.window_client
AGENT_FIELDS = ["agent_name", "agent_id_number", "agent_phone"]


def test_the_guidance_answer_decides_who_applies(client, login):
    me = login("who")
    by_rep = draft(client, me, applicant_is_agent=False)
    by_agent = draft(client, me, applicant_is_agent=True)

    assert not set(AGENT_FIELDS) & set(fields_of(by_rep))
    assert {"power_of_attorney", "agent_id"}.isdisjoint(m["code"] for m in by_rep["materials"])
    agent_section = next(s for s in by_agent["form"] if s["code"] == "agent")
    assert [f["code"] for f in agent_section["fields"]] == AGENT_FIELDS
    assert all(f["required"] for f in agent_section["fields"])
    assert [s["code"] for s in by_agent["form"]][:3] == ["entity", "agent", "contact"]
    codes = {m["code"]: m for m in by_agent["materials"]}
    assert codes["power_of_attorney"]["state"] == "missing"
    assert codes["agent_id"]["state"] == "missing"


def test_the_agent_identity_is_sealed_and_masked_like_the_representative(client, login):
    me = login("masked-agent")
    detail = fill(client, me, draft(client, me, applicant_is_agent=True))

    fields = fields_of(detail)
    assert fields["agent_id_number"]["value"] == mask_id_number(VALID_AGENT["agent_id_number"])
    assert fields["agent_phone"]["value"] == mask_phone(VALID_AGENT["agent_phone"])
    assert fields["agent_id_number"]["sensitive"] and fields["agent_name"]["value"] == "李四"
    shown = client.get(f"{BASE}/{detail['id']}", headers=me).get_data(as_text=True)
    assert VALID_AGENT["agent_id_number"] not in shown and VALID_AGENT["agent_phone"] not in shown


@pytest.mark.parametrize(("code", "value", "problem"), [
    ("agent_id_number", "110105194912310021", "ID_NUMBER_INVALID"),  # check digit
    ("agent_id_number", "11010519491331002X", "ID_NUMBER_INVALID"),  # no such date
    ("agent_id_number", "1101051949", "ID_NUMBER_INVALID"),
    ("agent_id_number", VALID_ENTITY["legal_rep_id_number"], "AGENT_IS_LEGAL_REP"),
    ("agent_phone", "1234", "PHONE_INVALID"),
    ("agent_name", " \u200b ", "FIELD_REQUIRED"),
    ("agent_name", "李" * 51, "FIELD_TOO_LONG"),
])
def test_agent_fields_are_validated(client, login, code, value, problem):
    me = login("validator")
    detail = draft(client, me, applicant_is_agent=True)
    client.patch(f"{BASE}/{detail['id']}", headers=me, json={"fields": {
        "legal_rep_id_number": VALID_ENTITY["legal_rep_id_number"]}})

    resp = client.patch(f"{BASE}/{detail['id']}", headers=me, json={"fields": {code: value}})

    assert bad_fields(resp, 422, "FORM_INVALID")[f"fields.{code}"]["code"] == problem


def test_a_representative_applying_in_person_has_no_agent_fields(client, login):
    me = login("in-person")
    detail = draft(client, me, applicant_is_agent=False)

    resp = client.patch(f"{BASE}/{detail['id']}", headers=me,
                        json={"fields": {"agent_name": "李四"}})

    assert bad_fields(resp, 422, "FORM_INVALID")["fields.agent_name"]["code"] == "FIELD_UNKNOWN"


def test_an_agent_without_the_power_of_attorney_cannot_submit_over_http(live_server: LiveServer):
    http = live_server.client()
    me = live_server.login_applicant("agent-over-http")
    detail = draft(http, me, "restaurant", **RESTAURANT, applicant_is_agent=True)
    detail = fill(http, me, detail, agent_name=None, agent_id_number=None, agent_phone=None)
    bare = {**detail, "materials": [m for m in detail["materials"]
                                    if m["code"] != "power_of_attorney"]}
    upload_required(http, me, bare, skip_deferrable=True)

    refused = http.post(f"{BASE}/{detail['id']}/submit", headers=me)

    assert refused.status_code == 422 and refused.json["code"] == "APPLICATION_INCOMPLETE"
    assert [m["code"] for m in refused.json["details"]["missing_materials"]] == [
        "power_of_attorney"]
    assert {f["field"] for f in refused.json["details"]["fields"]} == {
        f"fields.{c}" for c in AGENT_FIELDS}
    assert http.get(f"{BASE}/{detail['id']}", headers=me).json["status"] == "draft"
    # the agent adds their identity and the 授权委托书: now it goes
    assert http.patch(f"{BASE}/{detail['id']}", headers=me,
                      json={"fields": VALID_AGENT}).status_code == 200
    assert upload(http, me, detail["id"], "power_of_attorney",
                  phone_jpeg(400, 300, seed=77)).status_code == 201
    done = http.post(f"{BASE}/{detail['id']}/submit", headers=me)
    assert done.status_code == 200, done.json


def test_the_acceptance_notice_names_the_representative_and_the_agent(
        window_client, client, login, session):
    app = submitted(client, login("notice-agent"), **RESTAURANT, applicant_is_agent=True)

    resp = act(window_client, app["id"], "accept", version=version_of(session, app["id"]))

    assert resp.status_code == 302
    flat = text_of(window_client.get(f"{CASE}/{app['id']}/documents/acceptance.pdf").data)
    assert f"法定代表人（负责人）：{VALID_ENTITY['legal_rep_name']}" in flat
    assert f"受托人：{VALID_AGENT['agent_name']}，凭授权委托书代为办理" in flat
    assert VALID_AGENT["agent_id_number"] not in flat


def test_the_license_of_an_agent_application_names_the_holder_not_the_agent(
        client, login, staff_login):
    applicant = login("agent-licensed")
    commissioner, _ = staff_login("window_commissioner")
    reviewer, _ = staff_login("unit_reviewer", "approval_bureau")
    detail = accepted(client, applicant, commissioner, "convenience_store", **SHOP,
                      applicant_is_agent=True)
    for task in staff_get(client, reviewer, "/reviews")["reviews"]:
        post(client, reviewer, f"/reviews/{task['id']}/approve",
             {"version": task["version"], "opinion": "备案材料齐全"})

    issued = post(client, commissioner, f"/applications/{detail['id']}/license", status=201)

    mine = client.get(f"/api/mp/v1/licenses/{issued['id']}", headers=applicant)
    assert mine.status_code == 200, mine.json
    assert mine.json["holder_name"] == VALID_ENTITY["entity_name"]
    for shown in (json.dumps(mine.json, ensure_ascii=False),
                  json.dumps(issued, ensure_ascii=False)):
        assert VALID_AGENT["agent_name"] not in shown
        assert VALID_AGENT["agent_id_number"] not in shown
