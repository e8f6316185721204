"""The published guides (/guides): the pages, the questionnaire giving the API's very notice,
the blank forms and examples, the catalog as open data and its changelog. In-process here;
in Chromium over the real server in tests/test_guides_browser.py."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from html.parser import HTMLParser
from urllib.parse import urlencode

import pypdf
import pytest

from backend.catalog_format import CatalogDocument
from backend.extensions import db
from backend.services import catalog, guides
from tests.conftest import CATALOG_FILE

# (industry, answers as JSON): each gives one notice, from the API and from the page
ANSWER_TABLE = [
    ("cafe", {"applicant_is_agent": False, "floor_area": 80, "investment": 10,
              "discharges_sewage": False, "outdoor_sign": False}),
    ("cafe", {"applicant_is_agent": True, "floor_area": 450, "investment": 80,
              "discharges_sewage": True, "outdoor_sign": True}),
    ("cafe", {"applicant_is_agent": False, "floor_area": 300.5, "investment": 30.5,
              "discharges_sewage": False, "outdoor_sign": True}),
    ("restaurant", {"applicant_is_agent": False, "floor_area": 450, "investment": 80,
                    "sells_alcohol": True, "outdoor_sign": False, "sells_tobacco": True}),
    ("bookstore", None),  # every question answered "no" / its minimum
    ("pharmacy", None),
    ("convenience_store", None),
]


def _default_answers(document: CatalogDocument, code: str) -> dict:
    industry = document.industries[code]
    answers = {}
    for q in [*document.common.questions, *industry.questions]:
        question = document.questions[q]
        answers[q] = (False if question.type == "bool" else question.options[0].value
                      if question.type == "choice" else (question.minimum or 0) + 120)
    return answers


class _Notice(HTMLParser):
    """What a notice page shows, read from its markup: items, materials with their 容缺
    marking, items not needed, the summary."""

    def __init__(self) -> None:
        super().__init__()
        self.items, self.materials, self.not_applicable = [], [], []
        self.summary, self._in_summary = "", 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if "notice-item" in classes:
            self.items.append(a["data-code"])
        if "notice-material" in classes:
            self.materials.append((a["data-code"], a["data-deferral"]))
        if "notice-not-applicable" in classes:
            self.not_applicable.append(a["data-code"])
        if a.get("id") == "summary":
            self._in_summary = 1
        elif self._in_summary and tag == "strong" and not self.summary:
            self._in_summary = 2

    def handle_data(self, data):
        if self._in_summary == 2:
            self.summary += data

    def handle_endtag(self, tag):
        if self._in_summary == 2 and tag == "strong":
            self._in_summary = 0


def _form_query(answers: dict) -> str:
    return urlencode({k: ("yes" if v else "no") if isinstance(v, bool) else v
                      for k, v in answers.items()})


def _document(app) -> CatalogDocument:
    with app.app_context():
        return catalog.document_of(catalog.current_version(db.session))


def test_the_index_lists_industries_and_finds_them_by_name_and_pinyin_initials(client):
    page = client.get("/guides/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "咖啡馆" in text and "饭店" in text and "书店" in text
    for q in ("咖啡", "kfg", "KFG", "kafei"):
        found = client.get("/guides/", query_string={"q": q}).get_data(as_text=True)
        assert "/guides/industries/cafe" in found, q
        assert "/guides/industries/restaurant" not in found, q
    none = client.get("/guides/", query_string={"q": "宇宙飞船"}).get_data(as_text=True)
    assert "找到 0 个行业" in none


def test_an_industry_guide_shows_items_units_materials_forms_and_windows(client, app):
    text = client.get("/guides/industries/cafe").get_data(as_text=True)
    document = _document(app)
    food = document.permit_items["food_business"]
    for shown in (food.name, food.legal_basis, "行政审批服务管理局", "市场监督管理局",
                  f"法定 {food.legal_days} 个工作日", f"承诺 {food.promised_days} 个工作日",
                  food.conditions[0], "不收费", "可容缺", "不可容缺",
                  "多个事项共用，只交一份", "食品经营许可申请书",
                  "/guides/forms/food_application_form/blank.pdf",
                  "/guides/forms/food_application_form/example.pdf",
                  # conditional: the fire check, open to 告知承诺
                  "视经营情形办理的事项", document.permit_items["fire_safety_check"].name,
                  "可告知承诺办理的事项", "承诺书全文",
                  document.permit_items["fire_safety_check"].commitment.text.split("\n")[0],
                  f"许可后 {document.permit_items['fire_safety_check'].commitment.post_check_days}"
                  " 个工作日内事后核查",
                  # where to apply: every city, windows flagged estimated
                  "太原市", "小店区政务服务中心“一业一证”综合窗口", "吕梁市", "估计"):
        assert shown in text, shown


def test_an_unknown_industry_is_a_page_not_an_envelope(client):
    page = client.get("/guides/industries/spaceport")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "INDUSTRY_NOT_FOUND" in page.get_data(as_text=True)


@pytest.mark.parametrize(("code", "answers"), ANSWER_TABLE)
def test_the_questionnaire_page_gives_the_apis_notice(client, app, code, answers):
    answers = answers or _default_answers(_document(app), code)
    api = client.post(f"/api/mp/v1/industries/{code}/notice", json={"answers": answers})
    assert api.status_code == 200, api.json
    expected = api.json
    page = client.get(f"/guides/industries/{code}/notice?{_form_query(answers)}")
    assert page.status_code == 200
    shown = _Notice()
    shown.feed(page.get_data(as_text=True))
    assert shown.items == [i["code"] for i in expected["items"]]
    assert shown.materials == [(m["code"], m["deferral"]) for m in expected["materials"]]
    assert shown.not_applicable == [i["code"] for i in expected["not_applicable_items"]]
    assert shown.summary == expected["summary"]
    # and the printable notice says the same
    pdf = client.get(f"/guides/industries/{code}/notice.pdf?{_form_query(answers)}")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.data)).pages)
    flat = re.sub(r"\s+", "", text)
    for item in expected["items"]:
        assert re.sub(r"\s+", "", item["name"]) in flat
    for material in expected["materials"]:
        assert re.sub(r"\s+", "", material["name"])[:8] in flat


def test_wrong_answers_come_back_on_the_form_as_the_api_names_them(client):
    answers = {"applicant_is_agent": "no", "floor_area": "很大", "investment": "-5",
               "discharges_sewage": "yes"}  # outdoor_sign not answered
    page = client.get(f"/guides/industries/cafe/notice?{urlencode(answers)}")
    assert page.status_code == 422 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    api = client.post("/api/mp/v1/industries/cafe/notice", json={"answers": {
        "applicant_is_agent": False, "floor_area": "很大", "investment": -5,
        "discharges_sewage": True}})
    assert api.status_code == 422
    for problem in api.json["details"]["fields"]:
        assert problem["message"] in text, problem
    assert 'value="很大"' in text and 'value="yes" checked' in text


def test_blank_forms_and_examples_are_pdfs_from_the_field_definitions(client, app):
    document = _document(app)
    forms = [code for code, m in document.materials.items() if m.form]
    assert len(forms) >= 20
    for code in forms:
        form = guides.form_material(document, code)
        for kind in ("blank", "example"):
            resp = client.get(f"/guides/forms/{code}/{kind}.pdf")
            assert resp.status_code == 200 and resp.mimetype == "application/pdf", code
            text = "".join(p.extract_text()
                           for p in pypdf.PdfReader(io.BytesIO(resp.data)).pages)
            flat = re.sub(r"\s+", "", text)
            assert re.sub(r"\s+", "", document.materials[code].name) in flat
            for f in form["fields"]:
                assert re.sub(r"\s+", "", f.label) in flat, (code, f.label)
            assert ("示例样表" in flat) == (kind == "example")
            if kind == "example":
                assert "山西示例餐饮管理有限公司" in flat
    # every invented value passes its field's own check (a valid credit code, ID number …)
    for code in forms:
        for f in guides.form_material(document, code)["fields"]:
            if f.check:
                f.check(guides.example_value(f))
    assert client.get("/guides/forms/premises_layout/blank.pdf").status_code == 404


def test_the_catalog_json_of_a_version_round_trips_to_the_catalog(client, app):
    with app.app_context():
        version = catalog.current_version(db.session)
        number, checksum = version.number, version.checksum
        expected = catalog.document_of(version)
    resp = client.get(f"/api/public/v1/catalog/versions/{number}.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    data = json.loads(resp.data)
    assert data["catalog_version"] == number and data["checksum"] == checksum
    assert CatalogDocument.model_validate(data["document"]) == expected
    canonical = json.dumps(data["document"], ensure_ascii=False, sort_keys=True).encode()
    assert hashlib.sha256(canonical).hexdigest() == checksum
    # the file as data is a catalog that loads as the very same version
    with app.app_context():
        again, created = catalog.load_text(db.session, json.dumps(data["document"]),
                                           source="open-data.json", loaded_by="tests")
        assert (again.number, created) == (number, False)
    assert client.get("/api/public/v1/catalog/versions/999.json").status_code == 404


def test_the_catalog_csv_of_a_version_lists_every_item_and_material(client, app):
    document = _document(app)
    with app.app_context():
        number = catalog.current_version(db.session).number
    resp = client.get(f"/api/public/v1/catalog/versions/{number}.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    text = resp.data.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == guides.CSV_COLUMNS
    listed = {(r["industry_code"], r["item_code"], r["bundled"]) for r in rows}
    for code, industry in document.industries.items():
        if industry.retired:
            continue
        for item in industry.items:
            assert (code, item, "base") in listed
    for r in rows:
        item = document.permit_items[r["item_code"]]
        assert r["industry_name"] == document.industries[r["industry_code"]].name
        assert r["approving_unit"] == document.units[item.approving_unit].name
        assert (int(r["legal_days"]), int(r["promised_days"])) == (item.legal_days,
                                                                   item.promised_days)
        assert r["material_name"] == document.materials[r["material_code"]].name
        assert r["material_code"] in {u.material for u in
                                      [*document.common.materials, *item.materials]}


def test_the_changelog_names_what_a_version_changed(client, app):
    text = CATALOG_FILE.read_text(encoding="utf-8").replace(
        "name: 咖啡馆", "name: 咖啡店", 1)
    with app.app_context():
        new, created = catalog.load_text(db.session, text, source="v2.yaml", loaded_by="tests")
        db.session.commit()
        number = new.number
    assert created
    page = client.get(f"/guides/data/{number}/changes").get_data(as_text=True)
    assert "咖啡店" in page and "咖啡馆" in page and "行业：新增 0，删除 0，修改 1" in page
    first = client.get("/guides/data/1/changes").get_data(as_text=True)
    assert "首次发布" in first
    data = client.get("/guides/data").get_data(as_text=True)
    assert f"/api/public/v1/catalog/versions/{number}.csv" in data
    assert f"第 {number} 版（现行）" in data


def test_pages_are_cached_per_catalog_version(client):
    for url in ("/guides/", "/guides/industries/cafe", "/guides/industries/cafe/questions",
                "/guides/forms/food_application_form/example.pdf",
                "/guides/industries/cafe/notice?" + _form_query(ANSWER_TABLE[0][1])):
        first = client.get(url)
        assert first.status_code == 200, url
        assert first.headers["Cache-Control"] == "public, no-cache"
        again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and again.data == b"", url
    page = client.get("/guides/")
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy


def test_changing_the_answers_starts_from_the_ones_given(client):
    answers = ANSWER_TABLE[1][1]
    notice_page = client.get(f"/guides/industries/cafe/notice?{_form_query(answers)}")
    link = re.search(r'href="(/guides/industries/cafe/questions\?[^"]+)"',
                     notice_page.get_data(as_text=True))
    assert link, "no link back to the questions"
    form = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert 'name="floor_area" value="450"' in form
    assert 'name="applicant_is_agent" value="yes" checked' in form
    assert 'name="outdoor_sign" value="yes" checked' in form
