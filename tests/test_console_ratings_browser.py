"""好差评 in Chromium over the real server: the window's rating tablet at 800×1280, held by
the applicant, and the rectification task its 不满意 opens, worked by the unit (bureau1)."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.browser import TABLET, new_console
from tests.test_live import submitted_over_http
from tests.test_workflow import post

pytestmark = pytest.mark.parametrize("live_server", ["mariadb-redis"], indirect=True)


def not_accepted_over_http(server) -> dict:
    """An application from the mini-program that window1 refuses to accept (不予受理)."""
    submitted = submitted_over_http(server, f"ratings-browser-{uuid.uuid4().hex[:8]}")
    window, _ = server.login_staff("window1")
    return post(server.client(), window, f"/applications/{submitted['id']}/reject",
                {"version": submitted["version"], "reason": "经营场所不在本县受理范围"})


def test_the_applicant_rates_on_the_tablet_and_the_unit_follows_up(chromium, live_server,
                                                                   desk):
    case = not_accepted_over_http(live_server)
    number = case["submission_number"]

    # the clerk opens the case on the tablet and hands it over
    tablet = new_console(chromium, live_server, TABLET)
    try:
        tablet.sign_in("window1")
        page = tablet.open(f"/console/applications/{case['id']}")
        page.get_by_role("link", name="请申请人在评价器上评价").click()
        expect(page.get_by_role("heading", name="请您对本次办理进行评价")).to_be_visible()
        expect(page.get_by_role("navigation", name="主导航")).to_have_count(0)
        levels = page.get_by_role("group", name="请选择您的满意程度").get_by_role("button")
        expect(levels).to_have_count(5)
        for button in levels.all():  # large enough for a finger
            assert button.bounding_box()["height"] >= 80
        tablet.assert_no_sideways_scroll()
        tablet.assert_accessible()
        tablet.screenshot("rating-tablet-levels")

        # the applicant chooses: 不满意, two reasons, a comment
        page.get_by_role("button", name="不满意", exact=True).click()
        expect(page.get_by_text("您选择了：不满意")).to_be_visible()
        page.get_by_label("办理时间长").check()
        page.get_by_label("补正内容未一次告知").check()
        page.get_by_label("意见或建议").fill("材料退回了两次，每次只说一个问题")
        tablet.assert_no_sideways_scroll()
        tablet.assert_accessible()
        tablet.screenshot("rating-tablet-reasons")
        page.get_by_role("button", name="提交评价").click()
        expect(page.get_by_role("status")).to_contain_text("感谢您的评价")
        expect(page.get_by_role("heading", name="您的评价：不满意")).to_be_visible()
        tablet.assert_no_sideways_scroll()
        tablet.screenshot("rating-tablet-thanks")
    finally:
        tablet.page.context.close()

    # the window's unit finds the task, verifies, follows up and closes it
    bureau = desk("bureau1")
    page = bureau.go_to("差评整改")
    expect(page.get_by_role("heading", name="差评整改")).to_be_visible()
    page.get_by_role("link", name=number).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"差评整改：{number}")
    expect(page.get_by_text("材料退回了两次，每次只说一个问题")).to_be_visible()
    bureau.assert_no_sideways_scroll()
    bureau.assert_fits_a_tablet()
    bureau.assert_accessible()
    bureau.screenshot("rectification-task")

    verify = page.locator("form").filter(has=page.get_by_role("button", name="记录核实情况"))
    verify.get_by_label("属实", exact=True).check()
    verify.get_by_label("核实情况").fill("两次补正未一次告知属实，已对窗口人员培训")
    verify.get_by_role("button", name="记录核实情况").click()
    expect(page.get_by_role("status")).to_contain_text("已记录核实情况")

    follow = page.locator("form").filter(has=page.get_by_role("button", name="记录回访"))
    follow.get_by_label("回访方式").select_option(label="电话")
    follow.get_by_label("申请人的意见").fill("接受说明，已重新提交申请")
    follow.get_by_label("满意", exact=True).check()
    follow.get_by_role("button", name="记录回访").click()
    expect(page.get_by_role("status")).to_contain_text("已记录回访")

    page.get_by_role("button", name="办结").click()
    expect(page.get_by_role("status")).to_contain_text("整改任务已办结")
    expect(bureau.fact("状态")).to_have_text("已办结")
    history = page.get_by_role("region", name="经办记录")
    expect(history).to_contain_text("差评整改：经核实，反映的问题属实")
    expect(history).to_contain_text("已电话回访申请人，申请人满意")
    expect(history).to_contain_text("行政审批局审核员（演示）")
    bureau.assert_accessible()
    bureau.screenshot("rectification-task-closed")
