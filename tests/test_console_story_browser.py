"""Issue #11's acceptance: a case from acceptance to license, worked entirely in the console
by the people whose work it is, each at their own desk in Chromium over the real server.

Only what a person uses: labels, buttons, links and what the pages say. The application
comes from the mini-program over the real HTTP API (tests/test_live.py);
the printed license is fetched over HTTP and its QR code read back to the public verify page.
"""

from __future__ import annotations

import io
import re

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from tests.media_files import phone_jpeg
from tests.test_console_units_browser import INSPECTORS, next_workday
from tests.test_live import UNITS, fetch_stored, public_verdict, submitted_over_http

QR = zxingcpp.BarcodeFormat.QRCode  # decode QR codes only: a license's print is not a 1-D code

pytestmark = pytest.mark.parametrize("live_server", ["mariadb-redis"], indirect=True)


def test_a_case_from_acceptance_to_license_in_the_browser(desk, live_server):
    sent = submitted_over_http(live_server, "i11-story")
    number, deferred = sent["submission_number"], sent["deferred_materials"]
    assert deferred  # accepted with materials still to come (容缺受理)
    units = {i["approving_unit"]["code"]: i["approving_unit"]["name"] for i in sent["items"]}
    assert set(units) == set(UNITS)
    lanes = {code: sorted(i["name"] for i in sent["items"] if i["approving_unit"]["code"] == code)
             for code in units}

    # 一窗受理: window1 finds it in the queue and accepts it, its missing materials deferred
    window = desk("window1")
    page = window.open_case(number)
    window.assert_accessible()
    accept = page.get_by_role("region", name="办理操作")
    expect(accept).to_contain_text("须在联合现场核查时由核查人员确认")
    for material in (m["name"] for m in sent["materials"] if m["code"] in deferred):
        expect(accept.get_by_role("listitem").filter(has_text=material)).to_be_visible()
    acceptance_number = window.accept_case()
    window.screenshot("story-01-accept")

    # 并联审批: each unit's reviewer sees only its own items of the case and approves them
    for unit, (username, _) in UNITS.items():
        reviewer = desk(username)
        page = reviewer.go_to("本单位审查")
        rows = page.get_by_role("row").filter(has_text=acceptance_number)
        assert sorted(rows.get_by_role("link").all_inner_texts()) == lanes[unit], username
        for name in lanes[unit]:
            rows.get_by_role("link", name=name, exact=True).click()
            expect(page.get_by_role("heading", level=1)).to_have_text(name)
            expect(reviewer.fact("审批单位")).to_have_text(units[unit])
            if unit == "fire":
                reviewer.assert_accessible()
                reviewer.screenshot("story-02-review")
            reviewer.approve_item("符合条件，准予许可")
            page.get_by_role("link", name="← 本单位审查").click()
        expect(page.get_by_role("row").filter(has_text=acceptance_number)).to_have_count(0)

    # 一同核查: coordinator1 picks one inspector of each unit with the team picker
    coordinator = desk("coordinator1")
    page = coordinator.open_inspection(acceptance_number)
    schedule = page.get_by_role("form", name="安排现场核查")
    schedule.get_by_label("核查日期").fill(next_workday().isoformat())
    for unit, (_, inspector) in UNITS.items():
        group = schedule.get_by_role("group", name=re.compile(units[unit]))
        expect(group).to_contain_text("还需本单位核查人员")
        group.get_by_label(INSPECTORS[inspector]).check()
        expect(group).to_contain_text("已有核查人员")
    coordinator.assert_accessible()
    coordinator.screenshot("story-03-schedule")
    schedule.get_by_role("button", name="安排核查").click()
    expect(page.get_by_role("status")).to_contain_text("已安排联合核查")

    # each inspector records their own unit's items, with a photo, on their visit page
    for n, (unit, (_, username)) in enumerate(UNITS.items()):
        inspector = desk(username)
        inspector.open_inspection(acceptance_number, board="我的核查任务")
        if n == 0:
            inspector.assert_accessible()
        assert sorted(inspector.record_visit(phone_jpeg(seed=60 + n))) == lanes[unit]
        if n == 0:
            inspector.screenshot("story-04-visit")

    # the coordinator concludes: all pass, the case is approved
    page = coordinator.open_inspection(acceptance_number)
    coordinator.conclude_inspection()
    expect(coordinator.fact("状态")).to_have_text("核查通过")
    coordinator.screenshot("story-05-inspection-passed")

    # 一证准营: window1 finds it under 待发证 and issues the license from the case page
    page = window.open_case(number, tab="待发证")
    expect(window.fact("核查组")).to_contain_text(INSPECTORS["inspector1"])
    window.screenshot("story-06-approved")
    page.get_by_role("button", name="核发行业综合许可证").click()
    expect(page.get_by_role("status")).to_contain_text("已核发行业综合许可证")
    license_no = window.fact("许可证").inner_text()
    window.screenshot("story-07-issued")

    # the license page, found by its number, with its face fetched and its QR code read
    page = window.go_to("许可证")
    page.get_by_label(re.compile("证号")).fill(license_no)
    page.get_by_role("button", name="查找").click()
    page.get_by_role("link", name=license_no, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(license_no)
    expect(page.get_by_text("有效", exact=True).first).to_be_visible()  # the verdict, then items
    window.assert_accessible()
    window.screenshot("story-08-license")
    http = live_server.client()
    face = fetch_stored(live_server, http, page.get_by_role("link", name="证面图片")
                        .get_attribute("href"))
    pdf = fetch_stored(live_server, http, page.get_by_role("link", name="PDF")
                       .get_attribute("href"))
    assert pdf.startswith(b"%PDF-")
    [scanned] = [b.text for b in zxingcpp.read_barcodes(Image.open(io.BytesIO(face)), formats=QR)]
    expect(page.get_by_role("link", name="扫码核验地址")).to_have_attribute("href", scanned)
    assert public_verdict(http, scanned) == ("valid", "有效")
    page.get_by_role("link", name="扫码核验地址").click()
    expect(page.get_by_text("有效").first).to_be_visible()
    page.reload()  # a verdict the web process keeps: its page served as kept bytes
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", "valid")
    expect(page.get_by_text(license_no).first).to_be_visible()
    window.screenshot("story-09-license")
