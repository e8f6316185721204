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

from playwright.sync_api import Browser, Page, expect

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

    def screenshot(self, name: str) -> Path:
        """A full-page picture kept as a test artifact (``name``.png)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
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
