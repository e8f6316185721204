"""告知承诺 in Chromium over the real server: fire1 reads the applicant's signed commitment on
the item's page and approves it at once; coordinator1 finds the post-check on the board with
its due day."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.test_applications import BASE
from tests.test_commitments import FIRE, drafted, sign
from tests.test_console_units_browser import INSPECTORS, next_workday
from tests.test_workflow import post

pytestmark = pytest.mark.parametrize("live_server", ["mariadb-redis"], indirect=True)


def test_a_unit_approves_by_commitment_and_the_post_check_reaches_the_board(console,
                                                                           live_server):
    http = live_server.client()
    applicant = live_server.login_applicant(f"commit-browser-{uuid.uuid4().hex[:8]}")
    detail = drafted(http, applicant)
    assert sign(http, applicant, detail).status_code == 200
    submitted = http.post(f"{BASE}/{detail['id']}/submit", headers=applicant).json
    window, _ = live_server.login_staff("window1")
    accepted = post(http, window, f"/applications/{detail['id']}/accept",
                    {"version": submitted["version"]})
    fire_item = next(i for i in accepted["items"] if i["code"] == FIRE)
    page = console.page
    console.confirm_every_action()

    console.sign_in("fire1")
    console.open(f"/console/reviews/{fire_item['id']}")
    expect(page.get_by_role("heading", name="告知承诺", exact=True)).to_be_visible()
    expect(console.fact("承诺书")).to_contain_text("申请人已签署")
    page.get_by_text("承诺书全文").click()
    expect(page.get_by_text("承诺不实的，愿意承担被撤销许可")).to_be_visible()
    console.assert_accessible()
    console.assert_no_sideways_scroll()
    console.screenshot("commitment-review")
    page.get_by_role("button", name="告知承诺，当场准予许可").click()
    expect(page.get_by_role("status")).to_contain_text("已按告知承诺准予许可")
    expect(console.fact("状态")).to_have_text("准予许可")
    expect(console.fact("事后核查")).to_contain_text("待安排事后核查")
    console.assert_accessible()
    console.sign_out()

    console.sign_in("coordinator1")
    card = page.get_by_role("article").filter(
        has_text=f"受理编号 {accepted['acceptance_number']}")
    expect(card).to_contain_text("告知承诺事后核查：须于")
    expect(card).to_contain_text("公众聚集场所投入使用、营业前消防安全检查")
    console.assert_accessible()
    console.assert_no_sideways_scroll()
    console.screenshot("commitment-post-check-board")

    # the post-check's page: its due day; scheduled with the fire unit's inspector
    card.get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("告知承诺事后核查")
    expect(console.fact("核查期限")).to_contain_text("前")
    form = page.locator("form.schedule")
    form.get_by_label("核查日期").fill(next_workday().isoformat())
    form.get_by_label(INSPECTORS["inspector2"]).check()
    form.get_by_role("button", name="安排核查").click()
    expect(page.get_by_role("status")).to_contain_text("已安排事后核查")
    expect(console.fact("状态")).to_have_text("已安排事后核查")
    expect(page.get_by_label("整改期限")).to_have_count(0)  # a post-check has no rectification
    console.assert_accessible()
    console.assert_no_sideways_scroll()
    console.screenshot("commitment-post-check")
