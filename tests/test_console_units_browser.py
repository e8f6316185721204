"""The units' review and the joint inspection in Chromium over the real server: one
application submitted and accepted through the real HTTP API, reviewed by fire1, scheduled
by coordinator1 with the team picker, recorded by the inspectors, concluded."""

from __future__ import annotations

import uuid
from datetime import timedelta

import chinese_calendar
import pytest
from playwright.sync_api import expect

from backend import clock
from tests.media_files import phone_jpeg
from tests.test_live import submitted_over_http
from tests.test_workflow import post

pytestmark = pytest.mark.parametrize("live_server", ["mariadb-redis"], indirect=True)

INSPECTORS = {"inspector1": "行政审批局核查员（演示）", "inspector2": "消防核查员（演示）",
              "inspector3": "烟草专卖核查员（演示）"}


def accepted_over_http(server) -> dict:
    submitted = submitted_over_http(server, f"units-browser-{uuid.uuid4().hex[:8]}")
    window, _ = server.login_staff("window1")
    return post(server.client(), window, f"/applications/{submitted['id']}/accept",
                {"version": submitted["version"]})


def next_workday():
    day = clock.today() + timedelta(days=1)
    while not chinese_calendar.is_workday(day):
        day += timedelta(days=1)
    return day


def test_review_schedule_record_and_conclude_one_application(console, live_server):
    application = accepted_over_http(live_server)
    inspection_id = application["inspection"]["id"]
    fire_item = next(i for i in application["items"] if i["approving_unit"]["code"] == "fire")
    page = console.page
    console.confirm_every_action()

    # 并联审批: fire1 sees its queue and decides its own item
    console.sign_in("fire1")
    expect(page.get_by_role("heading", name="本单位审查")).to_be_visible()
    expect(page.get_by_role("link", name="本单位审查")).to_have_attribute("aria-current", "page")
    console.assert_no_sideways_scroll()
    console.screenshot("review-queue")
    console.open(f"/console/reviews/{fire_item['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(fire_item["name"])
    expect(page.locator("img.page").first).to_be_visible()
    console.assert_no_sideways_scroll()
    console.screenshot("review-item")
    console.approve_item("消防设施符合要求，准予许可")
    expect(page.get_by_text("意见：消防设施符合要求，准予许可")).to_be_visible()
    console.sign_out()

    # 一同核查: coordinator1 schedules with the team picker; a short team is refused in place
    console.sign_in("coordinator1")
    expect(page.get_by_role("heading", name="联合核查", exact=True)).to_be_visible()
    console.assert_no_sideways_scroll()
    console.screenshot("inspection-board")
    page.locator(f'a[href="/console/inspections/{inspection_id}"]').first.click()
    form = page.locator("form.schedule")
    form.get_by_label("核查日期").fill(next_workday().isoformat())
    fire_unit = form.locator('fieldset.unit[data-unit="fire"]')
    expect(fire_unit).to_contain_text("还需本单位核查人员")
    form.get_by_label(INSPECTORS["inspector1"]).check()
    form.get_by_role("button", name="安排核查").click()
    expect(page.get_by_role("alert").first).to_contain_text("INSPECTION_SCHEDULE_INVALID")
    expect(page.locator("form.schedule")).to_contain_text("还缺少：消防救援机构")
    expect(form.get_by_label(INSPECTORS["inspector1"])).to_be_checked()
    form.get_by_label(INSPECTORS["inspector2"]).check()
    expect(fire_unit).to_contain_text("已有核查人员")  # said as the box is ticked
    form.get_by_label(INSPECTORS["inspector3"]).check()
    console.assert_no_sideways_scroll()
    console.screenshot("inspection-schedule")
    form.get_by_role("button", name="安排核查").click()
    expect(page.get_by_role("status")).to_contain_text("已安排联合核查")
    console.sign_out()

    # each inspector: a photo, then a result for every item of their unit
    for n, username in enumerate(INSPECTORS, start=1):
        console.sign_in(username)
        expect(page.get_by_role("heading", name="我的核查任务")).to_be_visible()
        page.locator(f'a[href="/console/visits/{inspection_id}"]').first.click()
        assert console.record_visit(phone_jpeg(seed=40 + n))
        if username == "inspector1":
            console.assert_no_sideways_scroll()
            console.screenshot("inspector-visit")
        console.sign_out()

    # the coordinator concludes: every item passed
    console.sign_in("coordinator1")
    console.open(f"/console/inspections/{inspection_id}")
    console.conclude_inspection()
    expect(page.locator(".facts")).to_contain_text("核查通过")
