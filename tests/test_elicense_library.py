"""The e-license library emulator on its own, over real HTTP: what it checks and how it
refuses, idempotency per 证照标识 + 序号, the order of changes, the pull API's 用证事由, and
its faults (elicense_library/README.md)."""

from __future__ import annotations

import base64
import hashlib
import time

import pytest
import requests

from backend.services import elicense_ids

TYPE, ISSUER = "111400000000000003001", "11140105MB0123456U"
PDF = b"%PDF-1.7\n% a sealed license\n%%EOF\n"


@pytest.fixture
def fresh_library(library):
    library.reset()
    yield library
    library.reset()


def identifier(serial: str = "140105202601123456X", version: int = 1) -> str:
    return str(elicense_ids.compute(TYPE, ISSUER, serial, version))


def record(ident: str, *, previous: str | None = None, status: str = "01", **extra) -> dict:
    """A GB/T 36903 record as the service sends it (elicenses.record)."""
    return {"identifier": ident, "previous_identifier": previous, "type_code": TYPE,
            "type_name": "行业综合许可证", "license_no": "140105202601123456X",
            "name": "行业综合许可证", "version": ident.split(".")[-2], "issued_on": "20261202",
            "issuer_name": "太原市小店区行政审批服务管理局", "issuer_code": ISSUER,
            "issuer_level": "county", "valid_from": "20261202", "valid_until": "长期",
            "division_code": "140105", "holder_name": "晋味便利店",
            "holder_code": "91110000600037341L", "holder_code_type": "001",
            "service_item_name": "行业综合许可证核发（一业一证）", "status_code": status,
            "extension": {}} | extra


def sealed(content: bytes = PDF) -> dict:
    return {"name": "license.pdf", "media_type": "application/pdf",
            "sha256": hashlib.sha256(content).hexdigest(), "size": len(content),
            "content_base64": base64.b64encode(content).decode()}


def push(library, ident: str, *, operation: str = "01", previous: str | None = None,
         file: dict | None = None, **fields) -> requests.Response:
    body = {"operation_code": operation, "sequence": 1, "occurred_at": "2026-12-02T10:00:00",
            "record": record(ident, previous=previous, **fields),
            "file": sealed() if file is None else file}
    return requests.post(f"{library.base_url}api/v1/elicenses", json=body, timeout=5)


def change(library, ident: str, sequence: int, operation: str = "03", status: str = "02",
           **extra) -> requests.Response:
    return requests.post(f"{library.base_url}api/v1/elicenses/{ident}/status-changes", json={
        "operation_code": operation, "sequence": sequence, "status_code": status,
        "status_description": "整改", **extra}, timeout=5)


def held(library) -> dict:
    return requests.get(f"{library.base_url}_emulator/log", timeout=5).json()["held"]


def refused(resp: requests.Response, status: int, code: str, field: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["code"] == code and body["message"] and body["field"] == field, body
    return body


def arm(library, **fault) -> None:
    resp = requests.post(f"{library.base_url}_emulator/faults", json=fault, timeout=5)
    assert resp.status_code == 201, resp.text


def test_a_pushed_version_is_held_once_with_its_file(fresh_library):
    ident = identifier()
    first = push(fresh_library, ident)
    assert first.status_code == 201 and first.json()["duplicate"] is False
    again = push(fresh_library, ident)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    [(key, version)] = held(fresh_library).items()
    assert key == ident and version["record"]["status_label"] == "有效"
    assert version["file"] == {"name": "license.pdf", "media_type": "application/pdf",
                               "sha256": hashlib.sha256(PDF).hexdigest(), "size": len(PDF)}
    assert [c["operation_code"] for c in version["changes"]] == ["01"]
    got = requests.get(f"{fresh_library.base_url}api/v1/elicenses/{ident}/file", timeout=5)
    assert got.content == PDF and got.headers["Content-Type"] == "application/pdf"


@pytest.mark.parametrize(("change_field", "status", "code", "field"), [
    ({"record": {"identifier": "CHECK"}}, 422, "IDENTIFIER_INVALID", "record.identifier"),
    ({"record": {"status_code": "06"}}, 422, "STATUS_CODE_UNKNOWN", "record.status_code"),
    ({"record": {"holder_code_type": "002"}}, 422, "HOLDER_CODE_TYPE_UNKNOWN",
     "record.holder_code_type"),
    ({"record": {"holder_name": ""}}, 422, "FIELD_MISSING", "record.holder_name"),
    ({"record": {"valid_until": "2031-12-01"}}, 422, "FIELD_INVALID", "record.valid_until"),
    ({"operation_code": "08"}, 422, "OPERATION_CODE_UNKNOWN", "operation_code"),
    ({"operation_code": "03"}, 422, "OPERATION_NOT_ALLOWED", "operation_code"),
    ({"sequence": 0}, 422, "FIELD_INVALID", "sequence"),
    ({"file": {"sha256": "0" * 64}}, 422, "FILE_INVALID", "file.sha256"),
    ({"file": {"content_base64": base64.b64encode(b"<html>").decode()}}, 422, "FILE_INVALID",
     "file.media_type"),
])
def test_a_bad_push_is_refused_with_its_code_and_nothing_is_held(fresh_library, change_field,
                                                                status, code, field):
    ident = identifier()
    body = {"operation_code": "01", "sequence": 1, "record": record(ident), "file": sealed()}
    for key, value in change_field.items():
        body[key] = body[key] | value if isinstance(value, dict) else value
    if body["record"]["identifier"] == "CHECK":  # the last character changed
        body["record"]["identifier"] = ident[:-1] + ("A" if ident[-1] != "A" else "B")
    resp = requests.post(f"{fresh_library.base_url}api/v1/elicenses", json=body, timeout=5)
    refused(resp, status, code, field)
    assert held(fresh_library) == {}


def test_a_body_that_is_not_json_is_refused(fresh_library):
    resp = requests.post(f"{fresh_library.base_url}api/v1/elicenses", data=b"[1",
                         headers={"Content-Type": "application/json"}, timeout=5)
    refused(resp, 400, "REQUEST_MALFORMED")


def test_status_changes_arrive_in_order_once_each(fresh_library):
    ident = identifier()
    refused(change(fresh_library, ident, 2), 404, "ELICENSE_UNKNOWN", "identifier")
    bad = ident[:-1] + ("A" if ident[-1] != "A" else "B")
    refused(change(fresh_library, bad, 2), 422, "IDENTIFIER_INVALID", "identifier")
    assert push(fresh_library, ident).status_code == 201
    refused(change(fresh_library, ident, 3), 409, "SEQUENCE_GAP", "sequence")
    refused(change(fresh_library, ident, 2, "03", "07"), 422, "STATUS_OPERATION_MISMATCH",
            "status_code")
    refused(change(fresh_library, ident, 2, "03", "08"), 422, "STATUS_CODE_UNKNOWN",
            "status_code")
    refused(change(fresh_library, ident, 2, "09", "01"), 422, "OPERATION_NOT_ALLOWED",
            "operation_code")
    assert change(fresh_library, ident, 2).status_code == 201
    assert change(fresh_library, ident, 2).json()["duplicate"] is True  # a retry
    refused(change(fresh_library, ident, 2, "05", "07"), 409, "SEQUENCE_CONFLICT", "sequence")
    assert change(fresh_library, ident, 3, "06", "01").status_code == 201
    assert change(fresh_library, ident, 4, "03", "02").status_code == 201  # suspended again
    version = held(fresh_library)[ident]
    assert [(c["sequence"], c["operation_code"], c["status_code"])
            for c in version["changes"]] == [(1, "01", "01"), (2, "03", "02"), (3, "06", "01"),
                                              (4, "03", "02")]
    assert version["record"]["status_code"] == "02"


def test_a_new_version_needs_its_previous_one(fresh_library):
    first, second = identifier(), identifier(version=2)
    refused(push(fresh_library, second, operation="09", previous=first), 409, "PREVIOUS_UNKNOWN",
            "record.previous_identifier")
    refused(push(fresh_library, second, operation="09"), 422, "FIELD_MISSING",
            "record.previous_identifier")
    assert push(fresh_library, first).status_code == 201
    assert push(fresh_library, second, operation="09", previous=first).status_code == 201
    holdings = held(fresh_library)
    assert holdings[first]["superseded_by"] == second
    assert holdings[second]["record"]["previous_identifier"] == first


def test_the_pull_api_asks_the_purpose_of_use(fresh_library):
    first, second = identifier(), identifier(version=2)
    push(fresh_library, first)
    push(fresh_library, second, operation="02", previous=first)
    url = f"{fresh_library.base_url}api/v1/elicenses"
    holder = {"holder_code": "91110000600037341L", "holder_code_type": "001"}
    refused(requests.get(url, params=holder, timeout=5), 422, "PURPOSE_REQUIRED", "purpose")
    refused(requests.get(url, params=holder | {"holder_code_type": "002", "purpose": "银行开户"},
                         timeout=5), 422, "HOLDER_CODE_TYPE_UNKNOWN", "holder_code_type")
    found = requests.get(url, params=holder | {"purpose": "银行开户"}, timeout=5).json()
    assert [r["identifier"] for r in found["elicenses"]] == [second]  # the current version
    log = requests.get(f"{fresh_library.base_url}_emulator/log", timeout=5).json()
    assert [p["purpose"] for p in log["pulls"]] == ["银行开户"]


def test_faults_fail_the_next_calls_then_the_library_answers(fresh_library):
    ident = identifier()
    arm(fresh_library, endpoint="push", http_status=503, times=2)
    assert [push(fresh_library, ident).status_code for _ in range(3)] == [503, 503, 201]
    other = identifier("140105202601654321X")
    arm(fresh_library, endpoint="push", http_status=422, code="HOLDER_UNKNOWN",
        message="持证主体未登记", identifier=other)
    refused(push(fresh_library, other), 422, "HOLDER_UNKNOWN")
    assert other not in held(fresh_library)
    assert push(fresh_library, other).status_code == 201

    # a late answer: the change is held although the caller stopped waiting
    arm(fresh_library, endpoint="status", delay_seconds=1.0)
    with pytest.raises(requests.Timeout):
        requests.post(f"{fresh_library.base_url}api/v1/elicenses/{ident}/status-changes",
                      json={"operation_code": "03", "sequence": 2, "status_code": "02"},
                      timeout=0.3)
    deadline = time.monotonic() + 3
    while len(held(fresh_library)[ident]["changes"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(held(fresh_library)[ident]["changes"]) == 2
    # the connection dropped after the change was held: the retry is a duplicate
    arm(fresh_library, endpoint="status", reset_connection=True)
    with pytest.raises(requests.ConnectionError):
        change(fresh_library, ident, 3, "06", "01")
    assert change(fresh_library, ident, 3, "06", "01").json()["duplicate"] is True


@pytest.mark.parametrize("spec", [{"endpoint": "push"}, {"endpoint": "nope", "http_status": 500},
                                  {"endpoint": "push", "http_status": 200},
                                  {"endpoint": "push", "http_status": 503, "times": 0},
                                  {"endpoint": "push", "colour": "red", "http_status": 503}])
def test_a_fault_that_makes_no_sense_is_refused(fresh_library, spec):
    resp = requests.post(f"{fresh_library.base_url}_emulator/faults", json=spec, timeout=5)
    assert resp.status_code == 400 and resp.json()["error"]


def test_down_answers_503_until_it_is_back(fresh_library):
    requests.post(f"{fresh_library.base_url}_emulator/down", json={"seconds": 30}, timeout=5)
    refused(push(fresh_library, identifier()), 503, "SERVICE_UNAVAILABLE")
    requests.post(f"{fresh_library.base_url}_emulator/down", json={"seconds": 0}, timeout=5)
    assert push(fresh_library, identifier()).status_code == 201
