"""档案 in Chromium over the real server: the demo office's licensed case (`flask demo story`
at start-up) has been sealed by the worker process, and the window's 验证档案包 checks it."""

from __future__ import annotations

import io
import re
import time
import zipfile
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.parametrize("live_server", ["mariadb-redis"], indirect=True)


def test_the_window_verifies_a_closed_cases_archive_package(desk, live_server):
    window = desk("window1")
    page = window.go_to("受理队列")
    licensed = page.get_by_role("navigation", name="按状态筛选").get_by_role("link", name="已发证")
    licensed.click()
    expect(licensed).to_have_attribute("aria-current", "page")  # the queue swapped in (htmx)
    # oldest first: the demo story's restaurant, licensed before the server started
    page.locator("#queue").get_by_role("link").first.click()
    archive = page.get_by_role("region", name="档案")
    button = archive.get_by_role("button", name="验证档案包 第1版")
    deadline = time.monotonic() + 60
    while not button.count() and time.monotonic() < deadline:  # the worker seals it
        page.wait_for_timeout(500)
        page.reload()
    expect(button).to_be_visible()
    button.click()
    status = page.get_by_role("region", name="档案").get_by_role("status")
    expect(status).to_contain_text("档案包第 1 版验证通过")
    expect(status).to_contain_text("dev1")
    window.assert_accessible()
    window.assert_no_sideways_scroll()
    window.screenshot("archive-verified")

    # an administrator downloads it as gunicorn sends it: whole, and a zip that opens
    admin = desk("admin1")
    admin.open(re.match(r"/console/applications/\d+", urlsplit(page.url).path).group())
    got = admin.fetch(admin.page.get_by_role("link", name="下载档案包 第1版"))
    body = got.body()
    assert int(got.headers["content-length"]) == len(body)
    with zipfile.ZipFile(io.BytesIO(body)) as bag:
        assert bag.testzip() is None
        assert any(n.endswith("/tagmanifest-sha256.txt") for n in bag.namelist())
