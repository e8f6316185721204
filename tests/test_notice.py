"""The one-time notice (一次告知) tailored by guidance answers, as the catalog says."""

from __future__ import annotations

import json

import pytest

from miniprogram_api.schemas import NoticeIn
from tests.test_app import assert_envelope, bad_fields
from tests.test_catalog import catalog_data, load_cli, write_catalog

NOTICE = "/api/mp/v1/industries/restaurant/notice"


def neutral_answers(client, industry: str) -> dict:
    """Answers that add nothing: no to every yes/no, small numbers, the first option."""
    questions = client.get(f"/api/mp/v1/industries/{industry}").json["questions"]
    neutral = {"bool": False, "number": 50, "choice": None}
    return {q["code"]: neutral[q["type"]] if q["type"] != "choice" else q["options"][0]["value"]
            for q in questions}


def notice(client, industry: str, **answers) -> dict:
    body = neutral_answers(client, industry) | answers
    resp = client.post(f"/api/mp/v1/industries/{industry}/notice", json={"answers": body})
    assert resp.status_code == 200, resp.json
    return resp.json


def item_codes(n: dict) -> set[str]:
    return {i["code"] for i in n["items"]}


def material_codes(n: dict) -> set[str]:
    return {m["code"] for m in n["materials"]}


def test_industry_detail_has_questions_and_all_possible_items(client):
    body = client.get("/api/mp/v1/industries/restaurant").json
    assert body["industry"]["name"] == "饭店"
    question_codes = {q["code"] for q in body["questions"]}
    assert {"floor_area", "investment", "sells_alcohol"} <= question_codes
    conditional = {i["code"] for i in body["conditional_items"]}
    assert "fire_safety_check" in conditional
    food = next(i for i in body["base_items"] if i["code"] == "food_business")
    assert food["approving_unit"]["name"] and food["legal_basis"] and food["conditions"]


def test_restaurant_notice_differs_with_floor_area_across_the_fire_threshold(client):
    small = notice(client, "restaurant", floor_area=120, investment=50)
    large = notice(client, "restaurant", floor_area=450, investment=50)
    assert "fire_safety_check" not in item_codes(small)
    assert "fire_safety_check" in item_codes(large)
    fire = next(i for i in large["items"] if i["code"] == "fire_safety_check")
    assert "300" in fire["why"]
    assert fire["supervising_unit"]["code"] == "fire"
    assert "fire_safety_check" in {i["code"] for i in small["not_applicable_items"]}
    # a safety-critical item's materials are never deferrable (容缺)
    fire_materials = [m for m in large["materials"]
                      if [i["code"] for i in m["items"]] == ["fire_safety_check"]]
    assert fire_materials and all(m["deferral"] == "safety_critical" for m in fire_materials)
    assert large["joint_inspection"]["required"] is True


def test_restaurant_notice_differs_when_selling_alcohol(client):
    dry = notice(client, "restaurant", sells_alcohol=False)
    wet = notice(client, "restaurant", sells_alcohol=True)
    assert (item_codes(dry), material_codes(dry)) != (item_codes(wet), material_codes(wet))


def test_shared_material_is_listed_once_naming_every_item_it_serves(client):
    n = notice(client, "restaurant", floor_area=450, investment=50)
    codes = [m["code"] for m in n["materials"]]
    assert len(codes) == len(set(codes))
    shared = [m for m in n["materials"] if len(m["items"]) == len(n["items"]) > 1]
    assert shared, "common materials (e.g. 营业执照) serve every item"


def test_promised_time_is_the_longest_item_not_the_sum(client):
    n = notice(client, "restaurant", floor_area=450, investment=50)
    days = [i["promised_days"] for i in n["items"]]
    assert n["promised_days"] == max(days)
    assert n["serial_promised_days"] == sum(days)
    assert len(days) >= 2


def test_prepackaged_only_replaces_the_food_license_with_a_filing(client):
    full = notice(client, "convenience_store", prepackaged_only=False)
    filing = notice(client, "convenience_store", prepackaged_only=True)
    assert "food_business" in item_codes(full) and "food_business" not in item_codes(filing)
    assert "food_prepackaged_filing" in item_codes(filing)


def test_agent_application_adds_power_of_attorney(client):
    own = notice(client, "bookstore", applicant_is_agent=False)
    agent = notice(client, "bookstore", applicant_is_agent=True)
    added = material_codes(agent) - material_codes(own)
    assert added and all(m["required"] for m in agent["materials"] if m["code"] in added)


def test_unknown_question_is_422_and_names_it(client):
    answers = neutral_answers(client, "restaurant") | {"has_rocket": True}
    body = assert_envelope(client.post("/api/mp/v1/industries/restaurant/notice",
                                       json={"answers": answers}), 422, "QUESTION_UNKNOWN")
    assert body["details"]["fields"] == [{"field": "answers.has_rocket",
                                          "code": "QUESTION_UNKNOWN",
                                          "message": "该行业没有情形问题“has_rocket”"}]


@pytest.mark.parametrize("question, value", [
    ("sells_alcohol", "yes"), ("floor_area", True), ("floor_area", -5), ("floor_area", "大"),
])
def test_invalid_answer_value_is_422(client, question, value):
    answers = neutral_answers(client, "restaurant") | {question: value}
    body = assert_envelope(client.post("/api/mp/v1/industries/restaurant/notice",
                                       json={"answers": answers}), 422, "ANSWER_INVALID")
    assert [f["field"] for f in body["details"]["fields"]] == [f"answers.{question}"]


def test_missing_answers_are_listed_all_at_once(client):
    expected = {q["code"] for q in client.get("/api/mp/v1/industries/restaurant").json["questions"]}
    fields = bad_fields(client.post("/api/mp/v1/industries/restaurant/notice",
                                    json={"answers": {}}), 422, "ANSWERS_INCOMPLETE")
    assert fields.keys() == {f"answers.{q}" for q in expected}
    assert {f["code"] for f in fields.values()} == {"ANSWER_MISSING"}


def test_every_kind_of_answer_problem_in_one_list(client):
    """Unknown, invalid and missing answers together, each under ``answers.<question>``."""
    asked = {q["code"] for q in client.get("/api/mp/v1/industries/restaurant").json["questions"]}
    fields = bad_fields(client.post("/api/mp/v1/industries/restaurant/notice",
                                    json={"answers": {"floor_area": -5, "bogus": 1}}),
                        422, "QUESTION_UNKNOWN")
    assert {k: f["code"] for k, f in fields.items()} == {
        "answers.bogus": "QUESTION_UNKNOWN", "answers.floor_area": "ANSWER_INVALID",
        **{f"answers.{q}": "ANSWER_MISSING" for q in asked - {"floor_area"}}}
    assert "不能小于" in fields["answers.floor_area"]["message"]


@pytest.mark.parametrize("payload", [{"answers": []}, {"answers": {"a": [1]}}, {}, {"x": 1}])
def test_malformed_notice_body_is_422(client, payload):
    assert_envelope(client.post("/api/mp/v1/industries/restaurant/notice", json=payload), 422,
                    "REQUEST_INVALID")


def test_notice_for_unknown_industry_is_404(client):
    assert_envelope(client.post("/api/mp/v1/industries/spaceport/notice", json={"answers": {}}),
                    404, "INDUSTRY_NOT_FOUND")


def test_notice_summarises_in_chinese(client):
    n = notice(client, "restaurant", floor_area=450, investment=50)
    assert f"共需办理 {len(n['items'])} 个许可事项" in n["summary"]
    assert f"{n['promised_days']} 个工作日" in n["summary"]


def test_an_ineligible_answer_blocks_with_its_reason(client):
    questions = client.get("/api/mp/v1/industries/internet_cafe").json["questions"]
    assert any(q["code"] == "near_school_200m" for q in questions)
    n = notice(client, "internet_cafe", near_school_200m=True)
    assert n["eligible"] is False and n["blocked_reasons"]
    assert n["summary"].startswith("按您的回答，暂不符合办理条件")


def post_notice(client, body: bytes, **headers):
    return client.post(NOTICE, data=body, content_type="application/json", headers=headers)


@pytest.fixture
def validations(monkeypatch) -> list:
    """Each notice body pydantic validates (a spy: validation still runs)."""
    seen, validate = [], NoticeIn.model_validate.__func__

    def spy(cls, data, **kwargs):
        seen.append(data)
        return validate(cls, data, **kwargs)

    monkeypatch.setattr(NoticeIn, "model_validate", classmethod(spy))
    return seen


def test_a_body_answered_before_is_answered_again_without_validating_it(client, validations):
    """The same bytes get the same notice and ETag from the cache, not parsed and validated
    again; the same answers in other bytes are validated and get the same notice."""
    answers = neutral_answers(client, "restaurant") | {"floor_area": 450, "sells_alcohol": True}
    body = json.dumps({"answers": answers}).encode()
    first, again = post_notice(client, body), post_notice(client, body)
    assert first.status_code == again.status_code == 200
    assert again.data == first.data and again.headers["ETag"] == first.headers["ETag"]
    assert len(validations) == 1
    unchanged = post_notice(client, body, **{"If-None-Match": first.headers["ETag"]})
    assert unchanged.status_code == 304 and unchanged.data == b""
    reordered = post_notice(client, json.dumps(
        {"answers": dict(reversed(answers.items()))}, indent=1).encode())
    assert reordered.data == first.data and len(validations) == 2


def test_a_refused_body_is_refused_every_time(client, validations):
    """Only answers are kept: a refusal is worked out again for every request."""
    bad = json.dumps({"answers": {"floor_area": -5}}).encode()
    for _ in range(2):
        assert_envelope(post_notice(client, bad), 422, "ANSWER_INVALID")
    for _ in range(2):
        assert_envelope(client.post("/api/mp/v1/industries/spaceport/notice", data=bad,
                                    content_type="application/json"), 404,
                        "INDUSTRY_NOT_FOUND")
    assert len(validations) == 4


def test_the_same_body_gets_the_notice_of_a_new_catalog_version(app, client, tmp_path):
    body = json.dumps({"answers": neutral_answers(client, "restaurant")}).encode()
    before = post_notice(client, body).json
    data = catalog_data()
    data["permit_items"]["food_business"]["promised_days"] -= 1
    assert load_cli(app, write_catalog(tmp_path, data)).exit_code == 0
    after = post_notice(client, body).json
    assert after["catalog_version"] == before["catalog_version"] + 1
    days = {n["catalog_version"]: next(i["promised_days"] for i in n["items"]
                                       if i["code"] == "food_business") for n in (before, after)}
    assert days[after["catalog_version"]] == days[before["catalog_version"]] - 1
