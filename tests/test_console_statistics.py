"""统计分析, 绩效考评 and the catalog's adjustment in the console (console/statistics.py,
console/admin.py) over the office month of tests/reform_cases.py: accessible tables with the
hand-worked figures, the CSV, the scorecard's PDF and Excel, and each role's reach."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from html.parser import HTMLParser

import pytest
import time_machine
from openpyxl import load_workbook
from pypdf import PdfReader

from backend.clock import CHINA
from tests.reform_cases import build
from tests.test_console_session import sign_in

MARCH = "/console/statistics?period=month&month=2025-03"


@pytest.fixture
def office(app):
    return build(app)[0]


class Tables(HTMLParser):
    """Each <table>: the heading before it, its caption and rows of [tag, scope, text]."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self._cell: list | None = None
        self._in_caption = self._in_heading = False
        self._heading = ""
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "h2":
            self._in_heading, self._heading = True, ""
        elif tag == "table":
            self.tables.append({"heading": self._heading, "caption": "", "rows": []})
        elif tag == "caption":
            self._in_caption = True
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
        elif tag in {"th", "td"} and self.tables:
            self._cell = [tag, dict(attrs).get("scope"), ""]
            self.tables[-1]["rows"][-1].append(self._cell)

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_heading = False
        elif tag == "caption":
            self._in_caption = False
        elif tag in {"th", "td"}:
            self._cell = None

    def handle_data(self, data):
        if self._in_heading:
            self._heading += data.strip()
        elif self._in_caption:
            self.tables[-1]["caption"] += data.strip()
        elif self._cell is not None:
            self._cell[2] += data.strip()

    def named(self, start: str) -> dict:
        """The table whose heading or caption starts with ``start``."""
        return next(t for t in self.tables
                    if t["heading"].startswith(start) or t["caption"].startswith(start))


def row_of(table: dict, name: str) -> list[str]:
    """The cells of the row whose header cell reads ``name``."""
    return [text for _, _, text in next(
        r for r in table["rows"] if ["th", "row", name] in r)]


def test_the_statistics_page_shows_march_by_county_as_accessible_tables(office, client):
    assert sign_in(client, username="stat-admin").status_code == 302
    page = client.get(f"{MARCH}&group_by=county")
    assert page.status_code == 200
    assert 'href="/console/statistics"' in page.text  # in the navigation
    tables = Tables(page.text)
    for table in tables.tables:  # every table: a caption, column headers, row headers
        assert table["caption"]
        assert all(scope == "col" for tag, scope, _ in table["rows"][0]), table["caption"]
        assert all(r[0][:2] == ["th", "row"] for r in table["rows"][1:]), table["caption"]
    counts = tables.named("办件量")
    assert counts["caption"] == "2025年3月 · 按县（市、区）"
    assert row_of(counts, "太原市小店区") == ["太原市小店区", "3", "2", "1", "1", "0", "1"]
    assert row_of(counts, "合计") == ["合计", "4", "3", "2", "1", "1", "1"]
    assert row_of(tables.named("审批事项办结"), "太原市迎泽区") == [
        "太原市迎泽区", "1", "1", "100.0%", "6", "6", "5", "10"]
    assert row_of(tables.named("改革红利"), "合计") == [
        "合计", "2", "0.5", "1", "8.5", "10", "8", "27.5", "19.5"]
    assert "好差评" not in [t["heading"] for t in tables.tables]  # no ratings yet

    export = client.get("/console/statistics.csv?period=month&month=2025-03&group_by=county")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert "statistics-2025-03-county.csv" in export.headers["Content-Disposition"]
    assert export.data.startswith("\ufeff".encode())  # Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(export.data.decode("utf-8-sig"))))
    header = rows[0]
    assert header[0] == "县（市、区）" and rows[-1][0] == "合计"
    xiaodian = next(r for r in rows if r[0] == "太原市小店区")
    assert xiaodian[header.index("办件量（件）·收件")] == "3"
    assert xiaodian[header.index("窗口受理·补正率（%）")] == "33.33"
    assert rows[-1][header.index("改革红利（每件发证平均）·分别办理需交材料（份）")] == "10.0"

    bad = client.get("/console/statistics?period=range&since=2025-03-02")
    assert bad.status_code == 422 and "请选择起止日期" in bad.text  # told in place
    assert client.get("/console/statistics?group_by=street").status_code == 404


def test_a_unit_reviewer_sees_their_own_unit_only(office, client):
    assert sign_in(client, username="stat-fire").status_code == 302
    page = client.get(MARCH)
    assert page.status_code == 200 and "统计范围：消防救援机构（只能查看本单位的统计）" in page.text
    counts = Tables(page.text).named("办件量")
    assert [r[0][2] for r in counts["rows"][1:]] == ["消防救援机构", "合计"]
    assert 'name="unit"' not in page.text  # no unit to choose
    assert client.get(f"{MARCH}&unit=approval_bureau").status_code == 404
    assert client.get("/console/statistics.csv?unit=approval_bureau").status_code == 404
    card = client.get("/console/scorecard?month=2025-03")
    assert card.status_code == 200 and "行政审批服务管理局" not in card.text
    assert row_of(Tables(card.text).named("2025年3月"), "消防救援机构")[-1] == "81"


def test_the_scorecard_page_prints_and_exports(office, client):
    assert sign_in(client, username="stat-admin").status_code == 302
    page = client.get("/console/scorecard?month=2025-03")
    assert page.status_code == 200 and 'href="/console/scorecard"' in page.text
    table = Tables(page.text).named("2025年3月")
    assert row_of(table, "消防救援机构")[:2] == ["消防救援机构", "1"]  # first
    assert row_of(table, "行政审批服务管理局")[-1] == "61.4"

    pdf = client.get("/console/scorecard.pdf?month=2025-03")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "消防救援机构" in text and "61.4" in text and "2025年3月" in text

    xlsx = client.get("/console/scorecard.xlsx?month=2025-03")
    assert xlsx.status_code == 200
    assert "scorecard-2025-03.xlsx" in xlsx.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(xlsx.data))["绩效考评"]
    assert ("消防救援机构", 81) in {(r[1], r[-1]) for r in sheet.iter_rows(values_only=True)}
    assert client.get("/console/scorecard?month=2025-3").status_code == 404


def test_the_catalog_page_flags_industries_with_few_cases(office, client, set_settings):
    set_settings(STATISTICS_LOW_VOLUME_CASES=2)
    # the year up to 2025-04-15 holds the office (signed in then: a session cookie signed
    # in the future is no session)
    with time_machine.travel(datetime(2025, 4, 15, 10, tzinfo=CHINA), tick=False):
        assert sign_in(client, username="stat-catalog").status_code == 302
        page = client.get("/console/catalog")
    assert page.status_code == 200
    assert "近一年（2024-04-16 至 2025-04-15）收件少于 2 件" in page.text
    table = Tables(page.text).named("现行目录各行业近一年办件情况")
    flagged = {r[0][2] for r in table["rows"][1:] if r[-1][2] == "建议评估调整"}
    assert len(flagged) == 27 and "书店" not in flagged and "网吧" in flagged
    assert row_of(table, "书店")[2:5] == ["4", "1", "0"]  # C, D, E, H; C accepted
    assert row_of(table, "网吧")[2:7] == ["1", "1", "1", "0", "9"]


def test_a_count_links_to_the_cases_behind_it_and_a_reviewer_only_to_their_own(
        app, client):
    office, cases = build(app)
    assert sign_in(client, username="stat-admin").status_code == 302
    page = client.get(MARCH + "&group_by=county").text
    links = re.findall(r'href="(/console/statistics/cases\?[^"]+)"', page)
    xiaodian = [link.replace("&amp;", "&") for link in links
                if "key=140105" in link and "figure=received" in link]
    assert len(xiaodian) == 1
    listed = client.get(xiaodian[0])
    assert listed.status_code == 200
    shown = set(map(int, re.findall(r'data-application="(\d+)"', listed.text)))
    assert shown == {cases[name].id for name in ("A", "C", "E")}
    assert "共 3 件" in listed.text
    client.post("/console/logout")

    assert sign_in(client, username="stat-fire").status_code == 302
    other = client.get("/console/statistics/cases?period=month&month=2025-03&group_by=unit"
                       "&key=approval_bureau&figure=received")
    assert other.status_code == 404
    own = client.get("/console/statistics/cases?period=month&month=2025-03&group_by=county"
                     "&key=140105&figure=received")
    assert set(map(int, re.findall(r'data-application="(\d+)"', own.text))) == {
        cases["A"].id}  # only the cases with a fire item


def test_the_dashboard_draws_the_province_for_an_administrator_and_a_unit_for_its_reviewer(
        app, client):
    build(app)
    assert sign_in(client, username="stat-admin").status_code == 302
    page = client.get("/console/dashboard?month=2025-03")
    assert page.status_code == 200
    assert "统计概览：全省" in page.text and "chart-4.5.1.umd.min.js" in page.text
    data = json.loads(re.search(r'<script type="application/json" id="dashboard-data">(.*?)'
                                r"</script>", page.text, re.S).group(1))
    assert data["months"][-1] == "2025-03" and len(data["months"]) == 12
    assert data["received"][-2:] == [1, 4]  # B in February; A, C, D, E in March
    assert data["licensed"][-1] == 2 and data["average_days"][-1] == 8.0
    assert "<script>" not in page.text  # no inline code (CSP script-src 'self')
    assert "/console/statistics/cases?" in page.text  # the counts drill down
    client.post("/console/logout")

    assert sign_in(client, username="stat-fire").status_code == 302
    own = client.get("/console/dashboard?month=2025-03")
    assert own.status_code == 200 and "统计概览：" in own.text and "全省" not in own.text
    assert client.get("/console/dashboard?month=2025-03&unit=approval_bureau").status_code \
        == 404


def test_which_unit_was_slowest_last_month_and_why_by_county(app, client):
    """An administrator picks 迎泽区 on the dashboard: the bureau is named slowest there (B's
    item, 6 working days, late) and its link lists that item, marked late; the province's
    slowest is the bureau too, B first of its three items."""
    build(app)
    assert sign_in(client, username="stat-admin").status_code == 302
    page = client.get("/console/dashboard?month=2025-03&county=140106")
    assert page.status_code == 200 and "统计概览：太原市迎泽区" in page.text
    slowest = re.search(r'<section class="slowest".*?</section>', page.text, re.S).group(0)
    assert "行政审批服务管理局" in slowest and "超期办结 1 项（超期率 100.0%）" in slowest
    link = re.search(r'id="slowest-items" href="([^"]+)"', slowest).group(1)
    assert "county=140106" in link and "unit=approval_bureau" in link
    items = client.get(link.replace("&amp;", "&"))
    assert items.status_code == 200 and "共办结 1 项，其中超期 1 项" in items.text
    assert re.search(r'<tr data-application="\d+" class="late">', items.text)
    assert "/console/statistics/cases?" in page.text and "county=140106" in page.text
    province = client.get("/console/statistics/items?month=2025-03&unit=approval_bureau")
    assert "共办结 3 项，其中超期 1 项" in province.text
    assert client.get("/console/dashboard?month=2025-03&county=999999").status_code == 404
    client.post("/console/logout")

    assert sign_in(client, username="stat-fire").status_code == 302
    assert client.get("/console/statistics/items?month=2025-03&unit=approval_bureau"
                      ).status_code == 404
    assert 'id="f-county"' not in client.get("/console/dashboard?month=2025-03").text
