"""The console as staff meet it: in Chromium, over the real server."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from backend.services import demo
from tests.browser import TABLET, new_console
from tests.test_workflow import staff_get

# one mode is enough for pages; the API tiers cover both
pytestmark = pytest.mark.parametrize("live_server", ["mariadb-redis"], indirect=True)


def test_the_window_signs_in_sees_its_queue_and_signs_out(console):
    page = console.open("/console/window")
    expect(page).to_have_url(re.compile(r"/console/login"))
    console.sign_in("window1")
    expect(page.get_by_role("heading", name="受理队列")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/console/window$"))
    console.assert_no_sideways_scroll()
    console.screenshot("window-queue")
    console.sign_out()
    console.open("/console/window")
    expect(page.get_by_role("button", name="登录")).to_be_visible()


def test_a_wrong_password_is_said_in_place(console):
    page = console.open("/console/login")
    page.get_by_label("用户名").fill("window1")
    page.get_by_label("密码").fill("not-the-password")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text("STAFF_LOGIN_FAILED")
    expect(page.get_by_label("用户名")).to_have_value("window1")


def test_the_login_fits_a_tablet(chromium, live_server):
    tab = new_console(chromium, live_server, TABLET)
    tab.open("/console/login")
    tab.assert_no_sideways_scroll()
    tab.page.context.close()


def test_a_form_without_its_csrf_token_is_refused(console):
    page = console.open("/console/login")
    page.evaluate("document.querySelector('input[name=csrf_token]').remove()")
    page.get_by_label("用户名").fill("window1")
    page.get_by_label("密码").fill("demo-password-1")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text("CSRF_INVALID")
    console.open("/console/window")
    expect(page.get_by_role("button", name="登录")).to_be_visible()  # still signed out


ROLES = ["window1", "bureau1", "coordinator1", "inspector1", "catalog1", "admin1"]


@pytest.mark.parametrize("username", ROLES)
def test_every_page_of_the_navigation_fits_the_screen(console, username):
    """Each role's pages, found from its own navigation (a new page is covered the day it
    appears): each opens, nothing scrolls sideways at 1366×768 nor on a tablet, axe-core finds
    no WCAG A/AA violation, a screenshot is kept."""
    page = console.sign_in(username)
    links = page.get_by_role("navigation", name="主导航").get_by_role("link")
    targets = [(links.nth(i).inner_text(), links.nth(i).get_attribute("href"))
               for i in range(links.count())]
    assert targets, f"{username} has no page to go to"
    for label, href in targets:
        response = page.goto(console.server.base_url + href)
        assert response.status == 200, (label, href, response.status)
        console.assert_no_sideways_scroll()
        console.assert_fits_a_tablet()
        console.assert_accessible()
        console.screenshot(f"{username}-{href.strip('/').replace('/', '-')}")
def demo_detail(live_server, case: demo.Case) -> dict:
    """A demo case seeded by `make migrate` (`flask demo story`) as window1 reads it in the
    staff API, found by its entity's name among its industry's applications."""
    http, headers = live_server.client(), live_server.login_staff("window1")[0]
    page = staff_get(http, headers, f"/applications?status={case.goal}&industry={case.industry}")
    for summary in page["applications"]:
        detail = staff_get(http, headers, f"/applications/{summary['id']}")
        values = {f["code"]: f["value"] for s in detail["form"] for f in s["fields"]}
        if values["entity_name"] == case.fields["entity_name"]:
            return detail
    raise AssertionError(f"{case.openid} is not in the {case.goal} queue: {page}")


def demo_number(live_server, case: demo.Case) -> str:
    return demo_detail(live_server, case)["submission_number"]


def test_a_newcomer_finds_the_demo_story_in_the_window_queue(console, live_server):
    waiting, licensed = (demo_number(live_server, c) for c in (demo.SUBMITTED, demo.LICENSED))
    page = console.sign_in("window1")
    queue = page.locator("#queue")
    expect(page.get_by_role("link", name="待受理")).to_have_attribute("aria-current",
                                                                         "page")
    expect(queue.get_by_role("row").filter(has_text=waiting)).to_contain_text("面包烘焙店")
    console.screenshot("demo-window-queue")
    page.get_by_role("link", name="已发证").click()
    expect(page).to_have_url(re.compile(r"/console/window\?status=licensed$"))
    expect(queue.get_by_role("row").filter(has_text=licensed)).to_contain_text("饭店")
    expect(queue).not_to_contain_text(waiting)


def test_a_reviewer_typing_another_units_item_url_gets_not_found(console, live_server):
    """The café of the demo story waits on 消防's review: its item page is fire1's, and
    bureau1 typing its address learns nothing, not even that it exists."""
    http, fire = live_server.client(), live_server.login_staff("fire1")[0]
    task = staff_get(http, fire, "/reviews")["reviews"][0]
    console.sign_in("fire1")
    page = console.open(f"/console/reviews/{task['id']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(task["item_name"])
    console.sign_out()
    console.sign_in("bureau1")
    response = page.goto(f"{live_server.base_url}/console/reviews/{task['id']}")
    assert response.status == 404
    expect(page.get_by_role("alert")).to_contain_text("不存在")
    expect(page.locator("body")).not_to_contain_text(task["item_name"])
    console.screenshot("review-item-of-another-unit")
