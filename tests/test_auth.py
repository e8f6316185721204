"""WeChat login through real wechatpy HTTP calls to the emulator, and our bearer tokens."""

from __future__ import annotations

from datetime import timedelta

import requests
from sqlalchemy import func, select

from backend.models import AccessToken, Applicant
from backend.models.base import utcnow
from backend.security import secrets
from tests.test_app import assert_envelope


def fault(emulator, **spec) -> None:
    requests.post(emulator.base_url + "_emulator/faults", json=spec, timeout=5).raise_for_status()


def applicant_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Applicant))


def test_login_returns_our_token_and_keeps_session_key_server_side(client, session, emulator):
    resp = client.post("/api/mp/v1/auth/login", json={"code": "test-alice"})
    assert resp.status_code == 200
    body = resp.json
    assert set(body) == {"token", "token_type", "expires_at", "applicant_id"}
    assert len(body["token"]) >= 40
    applicant = session.get(Applicant, body["applicant_id"])
    session_key = secrets.unseal("test-secret-key-" + "x" * 32, applicant.session_key_encrypted)
    assert session_key and session_key not in resp.get_data(as_text=True)
    token_row = session.scalars(select(AccessToken)).one()
    assert token_row.token_hash != body["token"]  # only a digest is stored
    log = requests.get(emulator.base_url + "_emulator/log", timeout=5).json()
    assert any(r["endpoint"] == "jscode2session" for r in log["requests"])


def test_same_person_logging_in_twice_is_one_applicant(client, session):
    first = client.post("/api/mp/v1/auth/login", json={"code": "test-bob.1"}).json
    second = client.post("/api/mp/v1/auth/login", json={"code": "test-bob.2"}).json
    other = client.post("/api/mp/v1/auth/login", json={"code": "test-carol"}).json
    assert first["applicant_id"] == second["applicant_id"] != other["applicant_id"]
    assert first["token"] != second["token"]
    assert applicant_count(session) == 2


def test_me_answers_with_masked_openid(client, login):
    headers = login("dave")
    body = client.get("/api/mp/v1/me", headers=headers).json
    assert body["kind"] == "applicant"
    assert "****" in body["openid_masked"]


def test_reused_code_is_401_wechat_code_invalid(client, session):
    assert client.post("/api/mp/v1/auth/login", json={"code": "test-erin"}).status_code == 200
    resp = client.post("/api/mp/v1/auth/login", json={"code": "test-erin"})
    body = assert_envelope(resp, 401, "WECHAT_CODE_INVALID")
    assert body["details"]["wechat_errcode"] == 40163


def test_unknown_code_is_401_and_creates_nothing(client, session):
    body = assert_envelope(client.post("/api/mp/v1/auth/login", json={"code": "forged"}), 401,
                           "WECHAT_CODE_INVALID")
    assert body["details"]["wechat_errcode"] == 40029
    assert applicant_count(session) == 0


def test_wechat_busy_is_503_retryable_and_a_retry_succeeds(client, session, emulator):
    fault(emulator, endpoint="jscode2session", errcode=-1, times=1)
    resp = client.post("/api/mp/v1/auth/login", json={"code": "test-frank.1"})
    body = assert_envelope(resp, 503, "WECHAT_BUSY")
    assert body["details"]["retryable"] is True
    assert resp.headers["Retry-After"]
    assert applicant_count(session) == 0
    retry = client.post("/api/mp/v1/auth/login", json={"code": "test-frank.2"})
    assert retry.status_code == 200


def test_wechat_down_is_503(client, emulator):
    requests.post(emulator.base_url + "_emulator/down", json={"seconds": 30}, timeout=5)
    assert_envelope(client.post("/api/mp/v1/auth/login", json={"code": "test-gina"}), 503,
                    "WECHAT_BUSY")


def test_empty_code_is_422(client):
    assert_envelope(client.post("/api/mp/v1/auth/login", json={"code": ""}), 422,
                    "REQUEST_INVALID")


def test_me_without_token_is_401(client):
    assert_envelope(client.get("/api/mp/v1/me"), 401, "AUTH_REQUIRED")
    assert_envelope(client.get("/api/mp/v1/me", headers={"Authorization": "Bearer nope"}), 401,
                    "AUTH_REQUIRED")


def test_expired_token_is_401(client, session, login):
    headers = login("hank")
    token = session.scalars(select(AccessToken)).one()
    token.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    assert_envelope(client.get("/api/mp/v1/me", headers=headers), 401, "AUTH_REQUIRED")


def test_login_is_rate_limited_per_client(app, client):
    limit = int(app.extensions["settings"].LOGIN_RATE_LIMIT.split()[0])
    statuses = [client.post("/api/mp/v1/auth/login", json={"code": f"forged-{i}"}).status_code
                for i in range(limit + 1)]
    assert statuses[:limit] == [401] * limit
    resp = client.post("/api/mp/v1/auth/login", json={"code": "test-ivy"})
    assert_envelope(resp, 429, "RATE_LIMITED")
    assert int(resp.headers["Retry-After"]) > 0


def test_wechat_timeout_is_503_not_500(client, emulator):
    fault(emulator, endpoint="jscode2session", delay_seconds=4, times=1)
    assert_envelope(client.post("/api/mp/v1/auth/login", json={"code": "test-jack"}), 503,
                    "WECHAT_BUSY")
