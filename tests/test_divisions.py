"""The division list the premises picker shows: exactly the codes the form accepts, cacheable."""

from __future__ import annotations

from backend.services import entity

URL = "/api/mp/v1/divisions"


def test_every_listed_pair_is_accepted_by_the_form_and_every_accepted_code_is_listed(client):
    resp = client.get(URL)
    assert resp.status_code == 200
    body = resp.json
    assert body["province"] == {"code": "140000", "name": "山西省"}
    listed = {(c["code"], k["code"]): (c["name"], k["name"])
              for c in body["cities"] for k in c["counties"]}
    for (city, county), (city_name, county_name) in listed.items():
        accepted = entity.division(city, county)  # the form's own check
        assert (accepted.city_name, accepted.county_name) == (city_name, county_name)
    table = entity.load_divisions()
    assert set(listed) == {(city, county) for county, (city, _) in table.counties.items()}
    assert [c["code"] for c in body["cities"]] == sorted(table.cities)
    assert len(body["cities"]) == 11 and len(listed) == 117
    taiyuan = body["cities"][0]
    assert taiyuan["name"] == "太原市" and {"code": "140105", "name": "小店区"} in \
        taiyuan["counties"]


def test_the_list_is_cacheable_and_revalidates_to_304(client):
    first = client.get(URL)
    etag = first.headers["ETag"]
    assert "public" in first.headers["Cache-Control"] and "max-age=86400" in \
        first.headers["Cache-Control"]
    again = client.get(URL, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    stale = client.get(URL, headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200 and stale.json == first.json
    for also in (f'"other", W/{etag}', "*"):  # a proxy's weak form, a list, any version
        assert client.get(URL, headers={"If-None-Match": also}).status_code == 304, also


def test_the_divisions_are_in_the_openapi_document(client):
    operation = client.get("/openapi.json").json["paths"]["/api/mp/v1/divisions"]["get"]
    assert set(operation["responses"]) >= {"200", "304"}
