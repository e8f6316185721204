"""The versioned industry catalog: load, reload, change, retire, search — via CLI and API."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from backend.models import CatalogVersion
from backend.services import catalog
from miniprogram_api.schemas import IndustryQuery, VersionQuery
from tests.conftest import CATALOG_FILE
from tests.test_app import assert_envelope

MP = "/api/mp/v1"


def catalog_data() -> dict:
    return yaml.safe_load(CATALOG_FILE.read_text(encoding="utf-8"))


def write_catalog(tmp_path: Path, data: dict, name: str = "catalog.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def load_cli(app, path: Path):
    return app.test_cli_runner().invoke(args=["catalog", "load", "--path", str(path)])


def version_count(session) -> int:
    return session.scalar(select(func.count()).select_from(CatalogVersion))


def test_catalog_has_the_28_first_batch_industries(client):
    body = client.get("/api/mp/v1/industries").json
    assert body["catalog_version"] == 1
    assert body["total"] == 28 == len(body["industries"])
    restaurant = next(i for i in body["industries"] if i["code"] == "restaurant")
    assert restaurant["name"] == "饭店" and restaurant["category"] == "餐饮"
    assert restaurant["item_count"] >= 1 and restaurant["promised_days"] >= 1
    seed = {i["name"] for i in body["industries"]}
    assert {"饭店", "小餐饮", "咖啡馆", "书店", "农资店", "电影放映场所", "便利店", "药店"} <= seed


def test_every_item_names_units_basis_and_time_limits():
    data = catalog_data()
    for code, item in data["permit_items"].items():
        assert item["legal_basis"], code
        assert item["approving_unit"] in data["units"], code
        assert item["supervising_unit"] in data["units"], code
        assert 0 <= item["promised_days"] <= item["legal_days"], code
        assert item["onsite_check"] in {"always", "as_needed", "never"}, code


def test_reloading_an_unchanged_file_creates_no_version(app, session):
    result = load_cli(app, CATALOG_FILE)
    assert result.exit_code == 0, result.output
    assert "unchanged, still version 1" in result.output
    assert version_count(session) == 1


def test_a_changed_file_becomes_a_new_version_and_the_old_stays_readable(app, client, tmp_path,
                                                                          session):
    data = catalog_data()
    old_days = data["permit_items"]["food_business"]["promised_days"]
    data["permit_items"]["food_business"]["promised_days"] = old_days - 1
    result = load_cli(app, write_catalog(tmp_path, data))
    assert result.exit_code == 0 and "new version 2" in result.output
    assert version_count(session) == 2

    def promised(version: int | None) -> int:
        url = "/api/mp/v1/industries/restaurant" + (f"?version={version}" if version else "")
        body = client.get(url).json
        return next(i["promised_days"] for i in body["base_items"] if i["code"] == "food_business")

    assert promised(None) == old_days - 1
    assert promised(1) == old_days
    assert client.get("/api/mp/v1/industries").json["catalog_version"] == 2


def test_a_retired_industry_leaves_the_list_but_old_versions_keep_it(app, client, tmp_path):
    data = catalog_data()
    data["industries"]["bakery"]["retired"] = True
    assert load_cli(app, write_catalog(tmp_path, data)).exit_code == 0
    codes = [i["code"] for i in client.get("/api/mp/v1/industries").json["industries"]]
    assert "bakery" not in codes and len(codes) == 27
    assert_envelope(client.get("/api/mp/v1/industries/bakery"), 404, "INDUSTRY_RETIRED")
    assert client.get("/api/mp/v1/industries/bakery?version=1").status_code == 200


@pytest.mark.parametrize("breakage", [
    lambda d: d["permit_items"]["food_business"].update(approving_unit="nowhere"),
    lambda d: d["permit_items"]["food_business"].update(promised_days=999),
    lambda d: d["industries"]["restaurant"].update(items=["no_such_item"]),
    lambda d: d["industries"]["restaurant"].update(colour="red"),
])
def test_an_invalid_file_is_refused_and_nothing_is_stored(app, session, tmp_path, breakage):
    data = catalog_data()
    breakage(data)
    result = load_cli(app, write_catalog(tmp_path, data))
    assert result.exit_code != 0
    assert "nothing loaded" in result.output
    assert version_count(session) == 1


def test_unparseable_yaml_is_refused(app, session, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("industries: [unclosed", encoding="utf-8")
    assert load_cli(app, path).exit_code != 0
    assert version_count(session) == 1


@pytest.mark.parametrize("q, expected", [
    ("饭店", "restaurant"), ("fd", "restaurant"), ("fandian", "restaurant"),
    ("药", "pharmacy"), ("yd", "pharmacy"), ("书", "bookstore"),
])
def test_search_by_chinese_name_or_pinyin(client, q, expected):
    body = client.get("/api/mp/v1/industries", query_string={"q": q}).json
    assert expected in [i["code"] for i in body["industries"]]
    assert body["total"] < 28


def test_search_by_category(client):
    body = client.get("/api/mp/v1/industries", query_string={"q": "餐饮"}).json
    assert {"restaurant", "cafe", "small_eatery"} <= {i["code"] for i in body["industries"]}


def test_search_treats_wildcards_literally(client):
    assert client.get("/api/mp/v1/industries", query_string={"q": "%"}).json["total"] == 0


def test_overlong_query_is_422(client):
    assert_envelope(client.get("/api/mp/v1/industries", query_string={"q": "饭" * 51}), 422,
                    "REQUEST_INVALID")


def test_unknown_industry_is_404(client):
    body = assert_envelope(client.get("/api/mp/v1/industries/spaceport"), 404,
                           "INDUSTRY_NOT_FOUND")
    assert body["details"]["industry"] == "spaceport"


def test_unknown_version_is_404(client):
    assert_envelope(client.get("/api/mp/v1/industries/restaurant?version=99"), 404,
                    "CATALOG_VERSION_NOT_FOUND")


def test_estimates_report_lists_unverified_facts(app):
    result = app.test_cli_runner().invoke(args=["catalog", "estimates"])
    assert result.exit_code == 0
    assert '"permit_items"' in result.output


def test_administrators_see_what_is_still_estimated(client, staff_login):
    admin, _ = staff_login("catalog_admin")
    body = client.get("/api/staff/v1/catalog/estimates", headers=admin).json
    assert body["catalog_version"] == 1
    assert body["permit_items"] and all(r["notes"] for r in body["permit_items"])
    # every e-license type code is still a placeholder: the combined license's and each item's
    types = {r["code"]: r["type_code"] for r in body["elicense_types"]}
    assert types["combined_license"] == "111400000000000003001"
    assert set(types) == {"combined_license", *catalog_data()["permit_items"]}
    # 告知承诺: the texts and post-check windows are estimates too
    assert [(r["code"], r["post_check_days"]) for r in body["commitments"]] == [
        ("fire_safety_check", 20), ("public_health", 30)]
    assert all(r["name"] and r["notes"] for r in body["commitments"])
    versions = client.get("/api/staff/v1/catalog/versions", headers=admin).json["versions"]
    assert [v["number"] for v in versions] == [1]
    reviewer, _ = staff_login("unit_reviewer", "fire")
    assert client.get("/api/staff/v1/catalog/estimates", headers=reviewer).status_code == 403


# --- every error of a file in one pass: fields, references, keys given twice -----------------


def field_and_reference_errors() -> str:
    """One field error and two cross-references that do not resolve (#11)."""
    data = catalog_data()
    data["permit_items"]["food_business"]["legal_days"] = "twenty"
    data["permit_items"]["food_business"]["approving_unit"] = "nowhere"
    data["industries"]["restaurant"]["items"].append("no_such_item")
    return yaml.safe_dump(data, allow_unicode=True)


def test_an_elicense_type_code_names_one_license_type():
    """证照类型代码: 21 characters, the defining body's credit code first, used once."""
    from backend.services.catalog import check

    data = catalog_data()
    data["permit_items"]["sewage_discharge"]["elicense"]["code"] = \
        data["permit_items"]["food_business"]["elicense"]["code"]
    data["permit_items"]["outdoor_sign"]["elicense"]["code"] = "11140000000000000X116"
    data["combined_license"]["code"] = "1114000000000000030001"
    _, problems = check(yaml.safe_dump(data, allow_unicode=True))
    found = {(p.where, p.code) for p in problems}
    assert found == {
        ("permit_items › sewage_discharge › elicense › code", "duplicate_type_code"),
        ("permit_items › outdoor_sign › elicense › code", "value_error"),
        ("combined_license › code", "string_pattern_mismatch")}, found


def test_field_and_reference_errors_are_listed_in_one_pass_each_on_its_line():
    from backend.services.catalog import check

    text = field_and_reference_errors()
    document, problems = check(text)
    assert document is None
    extra = len(catalog_data()["industries"]["restaurant"]["items"])
    assert {(p.where, p.code) for p in problems} == {
        ("permit_items › food_business › legal_days", "int_parsing"),
        ("permit_items › food_business › approving_unit", "reference"),
        (f"industries › restaurant › items › {extra}", "reference")}
    assert [p.line for p in problems] == sorted(p.line for p in problems)  # file order
    lines = text.splitlines()
    shown = {p.code if p.code != "reference" else p.message: lines[p.line - 1] for p in problems}
    assert "legal_days: twenty" in shown["int_parsing"]
    assert "approving_unit: nowhere" in shown["引用了不存在的单位“nowhere”"]
    assert "no_such_item" in shown["引用了不存在的许可事项“no_such_item”"]


def test_the_cli_lists_field_and_reference_errors_together_and_loads_nothing(app, session,
                                                                             tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text(field_and_reference_errors(), encoding="utf-8")
    result = load_cli(app, path)
    assert result.exit_code != 0 and "nothing loaded: 3 problem(s)" in result.output
    assert "permit_items › food_business › legal_days" in result.output
    assert "引用了不存在的单位“nowhere”" in result.output
    assert "引用了不存在的许可事项“no_such_item”" in result.output
    assert version_count(session) == 1


def test_a_code_given_twice_is_an_error_not_a_silent_replacement(app, session, tmp_path):
    from backend.services.catalog import check

    text = CATALOG_FILE.read_text(encoding="utf-8").replace(
        "units:\n", "units:\n  fire: {name: 消防}\n", 1)
    _, problems = check(text)
    second = text.splitlines().index("  fire: {name: 消防救援机构}") + 1
    assert [(p.where, p.code, p.line) for p in problems] == [
        ("units › fire", "duplicate_key", second)]
    first = text.splitlines().index("units:") + 2
    assert f"第 {first} 行已有" in problems[0].message
    path = tmp_path / "catalog.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_cli(app, path).exit_code != 0 and version_count(session) == 1


@pytest.mark.parametrize("text", [
    "", "7", "- a\n- b\n", "format: 1\ncommon: 3\nunits: [a]\n",
    "permit_items: {x: {approving_unit: [1], materials: [3, {material: {}}], fields: 5}}\n"
    "industries: {r: {items: 5, questions: [[1]], rules: [{when: 3}, 7, {add_materials: 2}]}}\n",
    "units: {a: {name: A}}\npermit_items: {food: {approving_unit: b}}\n"
    "industries: {r: {items: [food, nope], rules: [{when: {q: true}, add_items: [gone]}]}}\n",
    "a: &x [*x]\n",
])
def test_a_malformed_file_is_reported_never_crashes(text):
    from backend.services.catalog import check

    document, problems = check(text)
    assert document is None and problems
    assert all(p.where and p.code and p.message for p in problems)


def test_references_are_checked_where_the_fields_around_them_are_wrong():
    from backend.services.catalog import check

    _, problems = check(
        "units: {a: {name: A}}\npermit_items: {food: {approving_unit: nobody}}\n"
        "industries: {r: {items: [food, nope],\n"
        "                 rules: [{when: {open_late: true}, add_items: [gone]}]}}\n")
    found = {(p.where, p.code) for p in problems}
    assert ("units", "missing") not in found and ("questions", "missing") in found
    assert {("permit_items › food › approving_unit", "reference"),
            ("industries › r › items › 1", "reference"),
            ("industries › r › rules › 0 › add_items › 0", "reference"),
            ("permit_items › food › legal_basis", "missing")} <= found
    assert ("industries › r › rules › 0 › when › open_late", "unasked_question") in found
    # a field error at the very place says it already: no reference error on top
    _, problems = check("units: {a: {name: A}}\npermit_items: {food: {approving_unit: B}}\n")
    assert [p.code for p in problems if "approving_unit" in p.where] == [
        "string_pattern_mismatch"]


@pytest.fixture
def query_validations(app, monkeypatch) -> list:
    """Each catalog query pydantic validates (a spy: validation still runs), with the answers
    kept so far forgotten."""
    monkeypatch.setitem(app.extensions, "catalog_answers", catalog.AnswerCache(
        app.extensions["settings"].CATALOG_CHECK_SECONDS))
    seen = []
    for schema in (IndustryQuery, VersionQuery):
        validate = schema.model_validate.__func__

        def spy(cls, data, _validate=validate, **kwargs):
            seen.append(cls.__name__)
            return _validate(cls, data, **kwargs)

        monkeypatch.setattr(schema, "model_validate", classmethod(spy))
    return seen


def test_a_plain_get_answered_before_is_not_validated_again(client, query_validations):
    """The mini-program's GETs (no query) of the list and of a detail are answered from the
    cache before their empty query is parsed and validated: the same bytes and ETag, 304 for
    that ETag. A search or a numbered version is validated every time."""
    for path in (f"{MP}/industries", f"{MP}/industries/restaurant"):
        first, again = client.get(path), client.get(path)
        assert first.status_code == again.status_code == 200
        assert again.data == first.data and again.headers["ETag"] == first.headers["ETag"]
        unchanged = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
        assert unchanged.status_code == 304 and unchanged.data == b""
    assert query_validations == ["IndustryQuery", "VersionQuery"]  # the first of each
    number = client.get(f"{MP}/industries").json["catalog_version"]
    for _ in range(2):
        assert client.get(f"{MP}/industries?q=fd").status_code == 200
        assert client.get(f"{MP}/industries/restaurant?version={number}").status_code == 200
    assert query_validations[2:] == ["IndustryQuery", "VersionQuery"] * 2
