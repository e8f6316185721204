"""What every console page shares, in Chromium over the real server: a long unbroken name
wraps instead of pushing the page sideways."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.test_live import submitted_over_http

pytestmark = pytest.mark.parametrize("live_server", ["mariadb-redis"], indirect=True)


def test_a_hundred_character_name_wraps_on_the_case_page(console, live_server):
    name = "晋" + "A" * 95 + "有限公司"
    case = submitted_over_http(live_server, "i11-ui-long-name", entity_name=name)
    page = console.sign_in("window1")
    console.open(f"/console/applications/{case['id']}")
    expect(page.get_by_role("heading", name=f"申请 {case['submission_number']}")).to_be_visible()
    console.assert_no_sideways_scroll()
    console.assert_fits_a_tablet()
    console.screenshot("case-long-name")
