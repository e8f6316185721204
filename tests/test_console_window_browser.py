"""一窗受理 in Chromium over the real server: an application sent from the mini-program API
is found in the window's queue, opened, accepted, and its 受理通知书 answers a PDF."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.test_live import submitted_over_http
from tests.test_notice import notice
from tests.test_workflow import RESTAURANT

pytestmark = pytest.mark.parametrize("live_server", ["mariadb-redis"], indirect=True)


def test_the_window_accepts_from_the_queue_and_prints_the_notice(console, live_server):
    notice(live_server.client(), "restaurant", **RESTAURANT)  # 办事指南 first
    number = submitted_over_http(live_server, "i11-window-accept")["submission_number"]

    page = console.sign_in("window1")
    expect(page.get_by_role("heading", name="受理队列")).to_be_visible()
    waiting = page.get_by_role("navigation", name="按状态筛选").get_by_role("link", name="待受理")
    expect(waiting).to_have_attribute("aria-current", "page")
    assert int(waiting.locator(".count").inner_text()) >= 1
    console.assert_no_sideways_scroll()
    console.screenshot("window-queue-counts")

    page.get_by_role("link", name=number).click()
    expect(page.get_by_role("heading", name=f"申请 {number}")).to_be_visible()
    expect(page.get_by_text("太原市小店区晋味饭店有限公司").first).to_be_visible()
    rotate = page.get_by_role("button", name="旋转 90°").first
    rotate.click()
    expect(page.locator("img.page").first).to_have_class(re.compile(r"rotate-90"))
    console.assert_no_sideways_scroll()
    console.screenshot("window-case")

    page.once("dialog", lambda dialog: dialog.accept())  # data-confirm asks first
    assert console.accept_case().startswith("SL")
    console.assert_no_sideways_scroll()
