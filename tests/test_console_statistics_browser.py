"""统计分析 in Chromium over the real server (the demo story of `make migrate` in it): an
administrator picks a grouping, reads the tables, exports the CSV; the page passes axe-core
and fits the screen (the navigation test opens 绩效考评 and the catalog page for each role)."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect
from pypdf import PdfReader

pytestmark = pytest.mark.parametrize("live_server", ["mariadb-redis"], indirect=True)


def test_an_administrator_reads_the_months_figures_by_county_and_exports_them(console):
    page = console.sign_in("admin1")
    console.go_to("统计分析")
    expect(page.get_by_role("heading", name="统计分析", level=1)).to_be_visible()
    page.get_by_label("分组").select_option("county")
    page.get_by_role("button", name="查询").click()
    expect(page).to_have_url(re.compile(r"group_by=county"))
    counts = page.get_by_role("table", name=re.compile("办件量"))
    expect(counts).to_contain_text("按县（市、区）")
    # the demo story's cases are all in 小店区: its row and the total
    expect(counts.get_by_role("row").filter(has_text="太原市小店区")).to_have_count(1)
    expect(counts.get_by_role("row").filter(has_text="合计")).to_have_count(1)
    dividend = page.get_by_role("table", name=re.compile("改革红利"))
    expect(dividend.get_by_role("columnheader", name="跑窗口次数")).to_be_visible()
    console.assert_no_sideways_scroll()
    console.assert_fits_a_tablet()
    console.assert_accessible()
    console.screenshot("statistics-by-county")

    export = console.fetch(page.get_by_role("link", name="导出 CSV"))
    assert export.headers["content-type"].startswith("text/csv")
    lines = export.body().decode("utf-8-sig").splitlines()
    assert lines[0].startswith("县（市、区）,办件量（件）·收件")
    assert any(line.startswith("太原市小店区,") for line in lines)
    assert lines[-1].startswith("合计,")


def test_the_dashboard_draws_its_charts_and_a_count_opens_its_cases(console):
    page = console.sign_in("admin1")
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" else None)  # a CSP refusal would show here
    console.open("/console/dashboard")
    expect(page.get_by_role("heading", name="统计概览：全省", level=1)).to_be_visible()
    expect(page.locator("body")).to_have_attribute("data-charts", "drawn")
    for chart in ("chart-trend", "chart-units"):  # Chart.js drew on each canvas
        assert page.evaluate(f"() => !!Chart.getChart(document.getElementById('{chart}'))")
    trend = page.evaluate("() => Chart.getChart(document.getElementById('chart-trend'))"
                          ".data.datasets.map(d => d.label)")
    assert trend == ["收件（件）", "发证（件）", "平均用时（工作日）"]
    console.assert_no_sideways_scroll()
    console.assert_fits_a_tablet()
    console.assert_accessible()
    console.screenshot("statistics-dashboard")
    assert not errors, errors

    counts = page.get_by_role("table", name=re.compile("办件量"))
    link = counts.get_by_role("row").filter(has_text="合计").get_by_role("link").first
    expected = link.inner_text()
    link.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("办件：合计")
    expect(page.locator("#cases-behind")).to_be_visible()
    assert f"共 {expected} 件" in page.inner_text("main")


def test_an_administrator_finds_which_unit_was_slowest_in_a_county_and_why(console):
    """The question the dashboard answers: the administrator picks 小店区 (the demo story's
    county), reads the month's slowest unit, and opens the items behind its figure — the
    longest first, each with its working days and whether it was late."""
    page = console.sign_in("admin1")
    console.open("/console/dashboard")
    page.get_by_label("县（市、区）").select_option(label="太原市小店区")
    page.get_by_role("button", name="查看").click()
    expect(page).to_have_url(re.compile(r"county=140105"))
    expect(page.get_by_role("heading", name="统计概览：太原市小店区", level=1)).to_be_visible()
    slowest = page.get_by_role("region", name=re.compile("事项平均用时最长的审批单位"))
    expect(slowest).to_contain_text("平均")
    unit = slowest.locator("strong").inner_text()
    console.assert_accessible()
    console.screenshot("statistics-dashboard-county")

    slowest.get_by_role("link", name=re.compile("查看其办结事项")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"办结事项：太原市小店区 · {unit}")
    rows = page.locator("#items-behind tbody tr[data-application]")
    expect(rows.first).to_be_visible()
    days = [int(d) for d in page.locator("#items-behind tbody tr[data-application] td:nth-child(6)"
                                         ).all_inner_texts()]
    assert days == sorted(days, reverse=True)  # the longest first
    console.assert_no_sideways_scroll()
    console.assert_accessible()
    console.screenshot("statistics-slowest-unit-items")


def test_the_scorecard_prints_and_exports_whole_files_over_the_real_server(console):
    """The PDF and the workbook as gunicorn sends them: whole (the length said matches), a
    PDF that opens with the units in it, a workbook that opens with a row per unit."""
    page = console.sign_in("admin1")
    console.go_to("绩效考评")
    for name in ("打印（PDF）", "导出 Excel"):
        got = console.fetch(page.get_by_role("link", name=name))
        body = got.body()
        assert int(got.headers["content-length"]) == len(body), name
        if name.startswith("打印"):
            text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages)
            assert "绩效考评" in text and "行政审批" in text
        else:
            sheet = load_workbook(io.BytesIO(body)).active
            assert sheet.max_row > 2 and any(
                "行政审批" in str(cell.value) for row in sheet.iter_rows() for cell in row)
