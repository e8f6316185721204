"""The console in a real browser: Playwright driving Debian's chromium (never
`playwright install`) against the service as `make run` starts it (tests/live.py).

Fixtures (tests/conftest.py): ``chromium``, the browser for the session; ``console``, a
signed-out tab at 1366×768 on the live server. Screenshots are kept as artifacts in
``var/test-artifacts/console/`` (ARTIFACTS).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

from playwright.sync_api import APIResponse, Browser, Locator, Page, expect

from tests.live import DEMO_PASSWORD, ROOT, LiveServer

ARTIFACTS = ROOT / "var" / "test-artifacts" / "console"
AXE = (Path(__file__).with_name("axe-4.14.1.min.js")).read_text(encoding="utf-8")
# WCAG 2.0/2.1 A and AA: what a public service's pages owe (GB/T 37668 follows WCAG 2.0 AA)
AXE_RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
DESKTOP = {"width": 1366, "height": 768}
TABLET = {"width": 800, "height": 1280}  # a 10-inch tablet held upright, CSS pixels


def executable() -> str:
    return shutil.which("chromium") or "/usr/bin/chromium"


@dataclass
class Console:
    """One browser tab on the console of ``server``."""

    page: Page
    server: LiveServer

    def open(self, path: str) -> Page:
        self.page.goto(self.server.base_url + path)
        return self.page

    def sign_in(self, username: str, password: str = DEMO_PASSWORD) -> Page:
        """Through the login form, as a person does; lands on the role's first page."""
        self.open("/console/login")
        self.page.get_by_label("用户名").fill(username)
        self.page.get_by_label("密码").fill(password)
        self.page.get_by_role("button", name="登录").click()
        expect(self.page.get_by_role("button", name="退出登录")).to_be_visible()
        return self.page

    def sign_out(self) -> None:
        self.page.get_by_role("button", name="退出登录").click()
        expect(self.page.get_by_role("button", name="登录")).to_be_visible()

    def confirm_every_action(self) -> None:
        """Say yes to each data-confirm question (accept, approve, issue…)."""
        self.page.on("dialog", lambda dialog: dialog.accept())

    def go_to(self, label: str) -> Page:
        """A page of the main navigation, by its label."""
        self.page.get_by_role("navigation", name="主导航").get_by_role(
            "link", name=label, exact=True).click()
        return self.page

    def fact(self, term: str) -> Locator:
        """The value beside ``term`` in a page's facts (a <dl>)."""
        return self.page.locator(
            f"xpath=//dt[normalize-space()='{term}']/following-sibling::dd[1]").first

    def fetch(self, link: Locator) -> APIResponse:
        """What a link answers (a PDF opened in a new tab), with this tab's cookies."""
        response = self.page.context.request.get(
            urljoin(self.page.url, link.get_attribute("href")))
        assert response.status == 200, (link, response.status)
        return response

    # --- the steps of a case, as each person does them in the console --------------------

    def open_case(self, number: str, tab: str = "待受理") -> Page:
        """The window: its queue, the tab of the case's state, the case by its number."""
        page = self.go_to("受理队列")
        page.get_by_role("navigation", name="按状态筛选").get_by_role("link", name=tab).click()
        page.locator("#queue").get_by_role("link", name=number, exact=True).click()
        expect(page.get_by_role("heading", name=f"申请 {number}")).to_be_visible()
        return page

    def accept_case(self) -> str:
        """The window on a case page: 容缺受理 (its missing materials wait for the visit); the
        受理通知书 link answers a PDF. Returns the acceptance number the page shows."""
        page = self.page
        page.get_by_role("region", name="办理操作").get_by_role("button", name="容缺受理").click()
        expect(page.get_by_role("status")).to_contain_text("已受理")
        link = page.get_by_role("link", name=re.compile("受理通知书"))
        expect(link).to_have_attribute("target", "_blank")
        notice = self.fetch(link)
        assert notice.headers["content-type"] == "application/pdf"
        assert notice.body().startswith(b"%PDF-")
        return self.fact("受理编号").inner_text().split("（")[0]

    def approve_item(self, opinion: str) -> None:
        """A unit reviewer on an item's page: 准予许可 with its opinion."""
        self.page.get_by_label("审查意见").fill(opinion)
        self.page.get_by_role("button", name="准予许可").click()
        expect(self.page.get_by_role("status")).to_contain_text("已准予许可")

    def open_inspection(self, acceptance_number: str, board: str = "联合核查") -> Page:
        """The coordinator's board or an inspector's visits: the case's card, by its
        acceptance number."""
        page = self.go_to(board)
        page.get_by_role("article").filter(has_text=f"受理编号 {acceptance_number}") \
            .get_by_role("link").first.click()
        return page

    def record_visit(self, photo: bytes, notes: str = "现场情况与申请一致") -> list[str]:
        """An inspector on the visit page: one photo, then 符合要求 for each item of their
        unit with the photo attached and the deferred materials confirmed where asked.
        Returns the items' names."""
        page = self.page
        page.get_by_label("拍摄或选择照片").set_input_files(
            files=[{"name": "site.jpg", "mimeType": "image/jpeg", "buffer": photo}])
        page.get_by_role("button", name="上传照片").click()
        expect(page.get_by_role("status")).to_contain_text("照片已上传")
        forms = page.locator("form").filter(has=page.get_by_role("button", name="记录结果"))
        names = [re.split(r"\s+第 \d+ 轮", heading)[0]
                 for heading in forms.get_by_role("heading").all_inner_texts()]
        for index in range(len(names)):
            item = forms.nth(index)
            item.get_by_label("符合要求", exact=True).check()
            item.get_by_label("核查记录").fill(notes)
            item.get_by_role("group", name="附核查照片").get_by_role("checkbox").first.check()
            for box in item.get_by_role("group", name="现场确认的容缺材料").get_by_role(
                    "checkbox").all():
                box.check()
            item.get_by_role("button", name="记录结果").click()
            expect(page.get_by_role("status")).to_contain_text("已记录核查结果")
        return names

    def conclude_inspection(self) -> None:
        """The coordinator on the inspection page: every result recorded, the visit ends."""
        self.page.get_by_role("button", name="结束核查").click()
        expect(self.page.get_by_role("status")).to_contain_text("已结束核查")

    def screenshot(self, name: str) -> Path:
        """A full-page picture kept as a test artifact (``name``.png)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
        self.page.wait_for_load_state("load")  # its pictures too
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_no_sideways_scroll(self) -> None:
        """Nothing on the page is wider than the window (no horizontal scrollbar)."""
        widths = self.page.evaluate(
            "() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"{self.page.url} scrolls sideways: {widths}"

    def assert_fits_a_tablet(self) -> None:
        """The page as it is, at TABLET size too: no sideways scroll (then back)."""
        before = self.page.viewport_size
        self.page.set_viewport_size(TABLET)
        try:
            self.assert_no_sideways_scroll()
        finally:
            self.page.set_viewport_size(before)

    def assert_accessible(self) -> None:
        """axe-core finds no WCAG A/AA violation on the page as it is now."""
        if not self.page.evaluate("() => typeof axe !== 'undefined'"):
            # evaluated by DevTools, not added as an inline <script> (add_script_tag): the
            # console's CSP (script-src 'self') refuses inline scripts, and it stays on
            self.page.evaluate(AXE)
        violations = self.page.evaluate(
            "async (tags) => (await axe.run(document, {runOnly: tags})).violations"
            ".map(v => ({id: v.id, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))"
            ".slice(0, 5)}))", AXE_RULES)
        assert not violations, f"{self.page.url}: " + "; ".join(
            f"{v['id']} ({v['help']}): {', '.join(v['nodes'])}" for v in violations)


def new_console(chromium: Browser, server: LiveServer, viewport=DESKTOP) -> Console:
    context = chromium.new_context(viewport=viewport, locale="zh-CN",
                                   timezone_id="Asia/Shanghai")
    context.set_default_timeout(15_000)
    return Console(context.new_page(), server)
