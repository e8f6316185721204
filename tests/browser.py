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


def new_console(chromium: Browser, server: LiveServer, viewport=DESKTOP) -> Console:
    context = chromium.new_context(viewport=viewport, locale="zh-CN",
                                   timezone_id="Asia/Shanghai")
    context.set_default_timeout(15_000)
    return Console(context.new_page(), server)
