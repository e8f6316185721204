"""The benchmark's bulk-seeded licenses are licenses the app accepts (make bench relies on it:
a seeded code that verified as 无效 would measure the cheap refusal, not the lookup)."""

from __future__ import annotations

import pytest

from backend.services import elicense_ids
from bench import seed


def test_bulk_seeded_licenses_verify_as_valid(app, client):
    url = app.extensions["settings"].database_url
    if not url.startswith("mysql"):
        pytest.skip("bulk seeding is MariaDB's LOAD DATA, as make bench runs it")
    engine = seed.bulk_engine(url)
    try:
        seed.seed(engine, 20)
        seed.seed(engine, 30)  # topping up adds only the missing ones
        assert seed.count(engine) == 30
        assert 0 <= seed.settle(engine, seconds=2) < 4  # bounded, whatever InnoDB does
    finally:
        engine.dispose()
    paths = seed.verify_paths(app.extensions["license_keyring"], 30, 4)
    for path in paths:
        body = client.get(path).json
        assert body["verdict"] == "valid", body
        assert body["license_no"] == path.split("/")[-1].split("?")[0]
        assert [i["name"] for i in body["items"]] == ["食品经营许可", "城镇污水排入排水管网许可"]
        assert all(elicense_ids.is_valid(x) for x in (body["identifier"],
                                                      *(i["identifier"] for i in body["items"])))
    html = client.get(seed.verify_paths(app.extensions["license_keyring"], 30, 1,
                                        html=True)[0])
    assert "有效" in html.get_data(as_text=True)
