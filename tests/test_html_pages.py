"""Every HTML page the app serves refuses to be framed (clickjacking): found by walking the
URL map, not by a hand-picked list, so a new page is covered the day it appears."""

from __future__ import annotations

import re

from werkzeug.datastructures import Headers

# a value for each kind of path variable, so every GET route can be called
SAMPLE = {"int": "1", "default": "1", "path": "swagger-ui.css", "any": "x"}


def _url(rule) -> str:
    def fill(match: re.Match) -> str:
        converter = (match["converter"] or "default").split("(")[0]
        return SAMPLE[converter]
    return re.sub(r"<(?:(?P<converter>[^:>]+):)?(?P<name>\w+)>", fill, rule.rule)


def html_responses(app, client) -> dict[str, Headers]:
    out = {}
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        url = _url(rule)
        for query in ("", "?v=1&k=dev1&s=x"):
            with client.get(url + query) as resp:
                if resp.mimetype == "text/html":
                    out[url + query] = resp.headers
    return out


def test_every_html_page_refuses_framing(app, client):
    pages = html_responses(app, client)
    assert {"/v/1", "/docs"} <= set(pages), sorted(pages)  # the walk reaches the real pages
    for url, headers in pages.items():
        policy = headers.get("Content-Security-Policy", "")
        directives = {d.strip().split(" ", 1)[0]: d.strip() for d in policy.split(";")}
        assert directives.get("frame-ancestors") == "frame-ancestors 'none'", (url, policy)
        assert headers.get("X-Frame-Options") == "DENY", url


def test_the_verify_page_keeps_its_own_policy(client):
    policy = client.get("/v/1?v=1&k=dev1&s=x").headers["Content-Security-Policy"]
    assert [d.strip() for d in policy.split(";")] == [
        "default-src 'none'", "style-src 'unsafe-inline'", "frame-ancestors 'none'"]
