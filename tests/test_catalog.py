"""The versioned industry catalog: load, reload, change, retire, search — via CLI and API."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from backend.models import CatalogVersion
from tests.conftest import CATALOG_FILE
from tests.test_app import assert_envelope


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
    versions = client.get("/api/staff/v1/catalog/versions", headers=admin).json["versions"]
    assert [v["number"] for v in versions] == [1]
    reviewer, _ = staff_login("unit_reviewer", "fire")
    assert client.get("/api/staff/v1/catalog/estimates", headers=reviewer).status_code == 403
