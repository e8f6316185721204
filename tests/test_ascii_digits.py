"""Every number read from text accepts ASCII digits only: str.isdigit(), int(), float(),
Decimal() and the regex ``\\d`` also take ² ٣ ३ ３, and int('²') raises after isdigit() said
yes. (The verification paths have their own table in test_licenses.)"""

from __future__ import annotations

import re

import pytest
from werkzeug.exceptions import NotFound

from backend.services import entity, inspections
from config.settings import SettingsError, load
from notifications import signing
from tests.test_app import assert_envelope

NON_ASCII = ["٣", "३", "３", "²"]  # Arabic-Indic, Devanagari, fullwidth, superscript


def _arabic(text: str) -> str:
    return "".join(chr(0x660 + int(c)) if c.isdigit() else c for c in text)


def _url(rule: str, number: str) -> str:
    def fill(match: re.Match) -> str:
        converter = match["converter"] or ""
        if converter == "int":
            return number
        return converter[4:].split(",")[0] if converter.startswith("any(") else "x"
    return re.sub(r"<(?:(?P<converter>[^>:]+):)?\w+>", fill, rule)


@pytest.mark.parametrize("digit", NON_ASCII)
def test_no_route_takes_a_non_ascii_id(app, digit):
    """/applications/３ was application 3."""
    adapter = app.url_map.bind("localhost")
    routes = [r for r in app.url_map.iter_rules() if "<int:" in r.rule]
    assert routes
    for rule in routes:
        method = sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
        assert adapter.match(_url(rule.rule, "3"), method=method)[0] == rule.endpoint
        with pytest.raises(NotFound):
            adapter.match(_url(rule.rule, digit), method=method)


@pytest.mark.parametrize("area", ["٣٠", "३०", "1٣"])
def test_floor_area_in_other_scripts_is_refused(area):
    with pytest.raises(entity.FieldInvalid) as problem:
        entity.floor_area(area)
    assert problem.value.code == "FLOOR_AREA_INVALID"
    assert entity.floor_area("30") == 30


def test_a_binding_code_in_other_digits_is_refused_as_malformed(client, login):
    resp = client.post("/api/mp/v1/staff/bind", headers=login(),
                       json={"code": _arabic("12345678")})
    body = assert_envelope(resp, 422, "REQUEST_INVALID")
    assert "code" in str(body["details"])


@pytest.mark.parametrize("window", ["0٩:00-12:00", "09:00-1２:00", "09:0०-12:00"])
def test_an_inspection_window_in_other_digits_is_refused(window):
    assert inspections.WINDOW.match("09:00-12:00")
    assert inspections.WINDOW.match(window) is None


@pytest.mark.parametrize("raw", ["٦٠٠", "６００", "60x"])
def test_a_numeric_setting_in_other_digits_stops_start_up(raw):
    with pytest.raises(SettingsError, match="LICENSE_CACHE_SECONDS"):
        load(environ={"LICENSE_CACHE_SECONDS": raw})
    assert load(environ={"LICENSE_CACHE_SECONDS": "600"}).LICENSE_CACHE_SECONDS == 600


def test_a_webhook_timestamp_in_other_digits_does_not_verify():
    now = 1_790_000_000
    for stamp in (_arabic(str(now)), "".join(chr(0xFF10 + int(c)) for c in str(now))):
        signature = signing.sign("secret", stamp, b"{}")
        assert not signing.verify("secret", stamp, b"{}", signature, now=now)
    assert signing.verify("secret", str(now), b"{}", signing.sign("secret", str(now), b"{}"),
                          now=now)
