"""The published guides as people meet them: Debian's Chromium over the real server, on a
phone (375×812) and at a desk (1366×768), with and without JavaScript. Every guide page is
checked with axe-core (no WCAG A/AA violation), for sideways scrolling and for requests to
anyone but us; screenshots are kept in var/test-artifacts/guides/."""

from __future__ import annotations

import io
import re
from urllib.parse import urlparse

import pypdf
import pytest
import yaml
from playwright.sync_api import expect

from tests import browser as browser_tools
from tests.conftest import CATALOG_FILE

pytestmark = pytest.mark.parametrize("live_server", ["mariadb-redis"], indirect=True)
ARTIFACTS = browser_tools.ARTIFACTS.parent / "guides"
PHONE = {"width": 375, "height": 812}
SIZES = {"phone": PHONE, "desktop": browser_tools.DESKTOP}
MAX_PAGE_BYTES = 100_000  # a guide page, styles included, on 4G


def _tab(chromium, live_server, viewport, *, javascript: bool = True):
    context = chromium.new_context(viewport=viewport, locale="zh-CN",
                                   timezone_id="Asia/Shanghai", java_script_enabled=javascript,
                                   is_mobile=viewport is PHONE, has_touch=viewport is PHONE)
    context.set_default_timeout(15_000)
    tab = browser_tools.Console(context.new_page(), live_server)
    origin = urlparse(live_server.base_url).netloc
    tab.elsewhere = []
    tab.page.on("request", lambda r: urlparse(r.url).netloc in {origin, ""}
                or r.url.startswith(("data:", "about:")) or tab.elsewhere.append(r.url))
    return tab


def _guide_paths() -> list[str]:
    industries = yaml.safe_load(CATALOG_FILE.read_text(encoding="utf-8"))["industries"]
    return ["/guides/", "/guides/?q=kfg", "/guides/data", "/guides/data/1/changes",
            *(f"/guides/industries/{code}" for code, i in industries.items()
              if not i.get("retired")),
            "/guides/industries/cafe/questions",
            "/guides/industries/cafe/notice?applicant_is_agent=yes&floor_area=450"
            "&investment=80&discharges_sewage=yes&outdoor_sign=yes",
            "/guides/industries/cafe/notice?floor_area=abc",  # the form with its errors
            "/guides/industries/spaceport",  # the not-found page
            "/v/NOT-A-LICENSE"]  # the verification page shares the look


def _check(tab, path: str, size: str) -> None:
    response = tab.page.goto(tab.server.base_url + path)
    assert response.status in {200, 404, 422}, (path, response.status)
    assert len(response.body()) < MAX_PAGE_BYTES, (path, len(response.body()))
    tab.assert_no_sideways_scroll()
    tab.assert_accessible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^a-z0-9_-]+", "-", path.lower()).strip("-")[:80] or "index"
    tab.page.screenshot(path=str(ARTIFACTS / f"{size}-{name}.png"), full_page=True)
    assert not tab.elsewhere, (path, tab.elsewhere)


@pytest.mark.parametrize("size", SIZES)
def test_every_guide_page_is_accessible_and_fits_phone_and_desk(chromium, live_server, size):
    tab = _tab(chromium, live_server, SIZES[size])
    try:
        for path in _guide_paths():
            _check(tab, path, size)
    finally:
        tab.page.context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_newcomer_finds_what_to_prepare_for_a_cafe_from_a_phone(chromium, live_server,
                                                                  javascript):
    tab = _tab(chromium, live_server, PHONE, javascript=javascript)
    page = tab.open("/guides/")
    try:
        page.get_by_label("行业名称或拼音首字母").fill("kfg")
        page.get_by_role("button", name="搜索").click()
        expect(page.get_by_role("status")).to_contain_text("找到 1 个行业")
        page.get_by_role("link", name="咖啡馆").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("咖啡馆")
        page.get_by_role("link", name="回答问题，生成一次告知单").click()
        page.get_by_role("group", name=re.compile("委托他人")).get_by_label("否").check()
        page.get_by_label(re.compile("营业面积")).fill("450")
        page.get_by_label(re.compile("工程投资额")).fill("80")
        page.get_by_role("group", name=re.compile("污水")).get_by_label("是").check()
        page.get_by_role("group", name=re.compile("招牌")).get_by_label("否").check()
        page.get_by_role("button", name="生成一次告知单").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("一次告知单")
        items = page.locator(".notice-item h3").all_inner_texts()
        assert any("食品经营许可" in i for i in items)
        assert any("消防安全检查" in i for i in items)
        assert any("排水" in i for i in items)
        expect(page.locator(".notice-material").first).to_be_visible()
        if javascript:  # both run as scripts in the page: none run without JavaScript
            tab.assert_no_sideways_scroll()
            tab.assert_accessible()
        pdf = tab.fetch(page.get_by_role("link", name="下载 PDF（可打印）"))
        assert pdf.headers["content-type"] == "application/pdf"
        text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.body())).pages)
        assert "咖啡馆" in text and "食品经营许可" in text
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = f"phone-cafe-story-{'js' if javascript else 'nojs'}.png"
        page.screenshot(path=str(ARTIFACTS / name), full_page=javascript)
        assert not tab.elsewhere
    finally:
        tab.page.context.close()


def test_guides_are_cached_per_version_over_the_real_server(live_server):
    http = live_server.client()
    for path in ("/guides/", "/guides/industries/cafe",
                 "/guides/forms/food_application_form/blank.pdf"):
        first = http.get(path)
        assert first.status_code == 200 and first.headers["Cache-Control"] == "public, no-cache"
        again = http.get(path, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and again.data == b""
    data = http.get("/api/public/v1/catalog/versions/1.json")
    assert data.status_code == 200
    assert data.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert data.json["catalog_version"] == 1
    csv_file = http.get("/api/public/v1/catalog/versions/1.csv")
    assert csv_file.headers["Content-Type"].startswith("text/csv")
    assert csv_file.data.decode("utf-8-sig").startswith("industry_code,")
