"""A material's PDF opens in the browser's own viewer from the console, sandboxed: over
the real server, and in Chromium (backend/files.py says why this is safe)."""

from __future__ import annotations

import pytest

from backend.services import demo
from tests.test_console_browser import demo_detail

pytestmark = pytest.mark.parametrize("live_server", ["mariadb-redis"], indirect=True)
PDF_VIEWER = "chrome-extension://mhjfbmdgcfjbbpaeojofohoefgiehjai/"  # Chromium's built-in


def files_of(detail: dict, media_type: str) -> list[dict]:
    return [f for m in detail["materials"] for f in m["files"] if f["media_type"] == media_type]


def test_pdfs_and_images_are_served_inline_sandboxed_and_typed(live_server):
    detail = demo_detail(live_server, demo.SUBMITTED)
    http = live_server.client()
    for media_type in ("application/pdf", "image/jpeg"):
        resp = http.get(files_of(detail, media_type)[0]["url"])
        assert resp.status_code == 200 and resp.headers["Content-Type"] == media_type
        assert resp.headers["Content-Disposition"].startswith("inline")
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_a_pdf_opens_in_chromiums_viewer_not_as_a_download(console, live_server):
    detail = demo_detail(live_server, demo.SUBMITTED)
    page = console.sign_in("window1")
    console.open(f"/console/applications/{detail['id']}")
    downloads = []
    page.on("download", lambda d: downloads.append(d))
    link = page.get_by_role("link", name="PDF 文件").first
    with page.context.expect_page() as opened:
        link.click()
    viewer = opened.value
    viewer.on("download", lambda d: downloads.append(d))
    viewer.wait_for_load_state()
    assert viewer.evaluate("document.contentType") == "application/pdf"
    for _ in range(50):  # the viewer's frame attaches a moment after the load
        if any(f.url.startswith(PDF_VIEWER) for f in viewer.frames):
            break
        viewer.wait_for_timeout(100)
    assert any(f.url.startswith(PDF_VIEWER) for f in viewer.frames), [
        f.url for f in viewer.frames]
    assert not downloads
