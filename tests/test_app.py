"""The service shell: health, readiness, OpenAPI, the error envelope, request ids, settings."""

from __future__ import annotations

import base64
import json
import logging
import secrets

import pytest
from pythonjsonlogger.json import JsonFormatter

from backend.app import create_app
from backend.security.signatures import DEV_SEED as DEV_SEED_BYTES
from backend.security.signatures import dev_keyring, license_message
from config.settings import DEV_SECRET_KEY, SettingsError, load
from tests import servers
from tests.conftest import make_settings


def assert_envelope(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body = resp.json
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], dict)
    if "fields" in body["details"]:  # one shape for every error that names fields
        assert all(set(f) == {"field", "code", "message"} and f["message"]
                   for f in body["details"]["fields"]), body["details"]["fields"]
    return body


def bad_fields(resp, status: int, code: str) -> dict[str, dict]:
    """The envelope's ``details.fields`` by field name."""
    return {f["field"]: f for f in assert_envelope(resp, status, code)["details"]["fields"]}


def test_healthz_answers_ok(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_reports_database_and_redis(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.json["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_fails_naming_redis_when_redis_stops(tmp_path):
    redis = servers.start_redis(tmp_path)
    app = create_app(make_settings(DATABASE_URL=f"sqlite:///{tmp_path / 'r.db'}",
                                   REDIS_URL=redis.url))
    client = app.test_client()
    try:
        assert client.get("/readyz").status_code == 200
        redis.stop()
        body = assert_envelope(client.get("/readyz"), 503, "NOT_READY")
        assert body["details"]["checks"] == {"database": "ok", "redis": "failed"}
        assert "redis" in body["message"]
    finally:
        redis.stop()


def test_readyz_fails_naming_database_when_unreachable(tmp_path):
    app = create_app(make_settings(
        DATABASE_URL=f"mysql+pymysql://app:app@127.0.0.1:{servers.free_port()}/none"))
    body = assert_envelope(app.test_client().get("/readyz"), 503, "NOT_READY")
    assert body["details"]["checks"] == {"database": "failed"}


def test_openapi_document_lists_the_api(client):
    spec = client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.")
    for path in ["/api/mp/v1/auth/login", "/api/mp/v1/me", "/api/mp/v1/industries",
                 "/api/mp/v1/industries/{code}", "/api/mp/v1/industries/{code}/notice",
                 "/healthz", "/readyz"]:
        assert path in spec["paths"], path
    assert spec["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"


def test_docs_page_loads_swagger_from_our_own_host(client):
    page = client.get("/docs").get_data(as_text=True)
    assert "/docs/static/swagger-ui-bundle.js" in page
    assert "cdn." not in page
    with client.get("/docs/static/swagger-ui-bundle.js") as js:
        assert js.status_code == 200 and len(js.data) > 100_000


def test_unknown_path_is_404_envelope(client):
    assert_envelope(client.get("/api/mp/v1/nope"), 404, "NOT_FOUND")


def test_wrong_method_is_405_envelope(client):
    assert_envelope(client.delete("/api/mp/v1/industries"), 405, "METHOD_NOT_ALLOWED")


def test_malformed_json_is_400_envelope(client):
    resp = client.post("/api/mp/v1/auth/login", data="{not json",
                       content_type="application/json")
    assert_envelope(resp, 400, "REQUEST_MALFORMED")


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data; boundary=b"])
def test_non_json_body_is_415_envelope(client, content_type):
    """Only upload routes take multipart; a JSON route says what it takes."""
    resp = client.post("/api/mp/v1/auth/login", data="code=x", content_type=content_type)
    assert_envelope(resp, 415, "REQUEST_UNSUPPORTED_MEDIA_TYPE")


def test_oversized_body_is_413_envelope(client):
    resp = client.post("/api/mp/v1/auth/login", json={"code": "x" * 70_000})
    assert_envelope(resp, 413, "REQUEST_TOO_LARGE")


def test_wrong_types_are_422_with_every_field_in_chinese(client):
    resp = client.post("/api/mp/v1/auth/login", json={"code": 5, "extra": 1})
    fields = bad_fields(resp, 422, "REQUEST_INVALID")
    assert fields["code"]["message"] == "应为文本"
    assert fields["extra"]["code"] == "EXTRA_FORBIDDEN"


def test_unexpected_error_is_500_envelope_without_internals(tmp_path):
    app = create_app(make_settings(DATABASE_URL=f"sqlite:///{tmp_path / 'e.db'}"))

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    resp = app.test_client().get("/boom", headers={"X-Request-ID": "req-123"})
    body = assert_envelope(resp, 500, "SERVER_ERROR")
    assert "secret" not in resp.get_data(as_text=True)
    assert body["details"]["request_id"] == "req-123"


def test_request_id_is_honoured_or_generated(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-1"}).headers["X-Request-ID"] \
        == "abc-1"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id <script>"}).headers
    assert len(generated["X-Request-ID"]) == 32


def test_access_log_is_json_with_request_id(client, caplog):
    with caplog.at_level(logging.INFO, logger="yiye.access"):
        client.get("/healthz", headers={"X-Request-ID": "log-check-1"})
    record = [r for r in caplog.records if r.name == "yiye.access"][-1]
    handler = next(h for h in logging.getLogger().handlers
                   if isinstance(h.formatter, JsonFormatter))
    line = json.loads(handler.format(record))
    assert line["request_id"] == "log-check-1"
    assert line["status"] == 200 and line["path"] == "/healthz" and line["level"] == "INFO"


# A production environment that starts: every override below breaks exactly one setting.
STRONG_SECRET = "Qm3vT8pXw2LrZc9KfJ4hNb7YsUe1GdA6oWiRtEyV0qH"  # secrets.token_urlsafe(32)
PRODUCTION = {
    "APP_ENV": "production", "SECRET_KEY": STRONG_SECRET,
    "WECHAT_API_BASE": "https://api.weixin.qq.com/",
    "WECHAT_APPID": "wx0123456789abcdef", "WECHAT_SECRET": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "LICENSE_SIGNING_KEYS": f"k2026a:{'B' * 42}w,k2025b:{'C' * 42}w",
    "LICENSE_ACTIVE_KEY_ID": "k2026a",
    "LICENSE_VERIFY_BASE_URL": "https://yyyz.sx.gov.cn",
}
DEV_SEED = base64.urlsafe_b64encode(DEV_SEED_BYTES).rstrip(b"=").decode()


@pytest.mark.parametrize("overrides, problem", [
    ({"WECHAT_API_BASE": "http://127.0.0.1:8081/"}, "WECHAT_API_BASE"),
    ({"WECHAT_APPID": ""}, "WECHAT_APPID"),
    ({"WECHAT_SECRET": ""}, "WECHAT_SECRET"),
    ({"WECHAT_SECRET": "dev-secret"}, "WECHAT_SECRET"),
    ({"LICENSE_VERIFY_BASE_URL": "http://yyyz.sx.gov.cn"}, "LICENSE_VERIFY_BASE_URL"),
    ({"LICENSE_SIGNING_KEYS": ""}, "LICENSE_SIGNING_KEYS"),
    ({"LICENSE_ACTIVE_KEY_ID": ""}, "LICENSE_ACTIVE_KEY_ID"),
    ({"LICENSE_ACTIVE_KEY_ID": "k2099z"}, "LICENSE_SIGNING_KEYS"),
    ({"LICENSE_SIGNING_KEYS": "k2026a:not-a-seed"}, "LICENSE_SIGNING_KEYS"),
    # the public development key: as itself, under another kid, beside a real key, retired
    ({"LICENSE_SIGNING_KEYS": f"dev1:{DEV_SEED}", "LICENSE_ACTIVE_KEY_ID": "dev1"},
     "LICENSE_SIGNING_KEYS.*development"),
    ({"LICENSE_SIGNING_KEYS": f"k2026a:{DEV_SEED}"}, "LICENSE_SIGNING_KEYS.*development"),
    ({"LICENSE_SIGNING_KEYS": f"k2026a:{'B' * 42}w,old:{DEV_SEED}"},
     "LICENSE_SIGNING_KEYS.*development"),
    ({"LICENSE_SIGNING_KEYS": f"k2026a:{'B' * 42}w,old:{DEV_SEED}",
      "LICENSE_RETIRED_KEY_IDS": "old"}, "LICENSE_SIGNING_KEYS.*development"),
    # the development kid with another seed: codes minted as "dev1" must never verify
    ({"LICENSE_SIGNING_KEYS": f"k2026a:{'B' * 42}w,dev1:{'D' * 42}w"},
     "LICENSE_SIGNING_KEYS.*development"),
])
def test_production_refuses_development_and_missing_settings(overrides, problem):
    with pytest.raises(SettingsError, match=problem):
        load(environ=PRODUCTION | overrides)


@pytest.mark.parametrize("secret", [
    "short",
    "s" * 40,                                   # one character
    "a" * 32,
    "abcd" * 10,                                # a repeated short pattern
    "abcdefghijklmnopqrstuvwxyz0123456789ABCD",  # a sequence
    "qwertyuiopasdfghjklzxcvbnm1234567890",     # keyboard rows
    DEV_SECRET_KEY,
    DEV_SECRET_KEY + "-" + STRONG_SECRET,       # derived from the development key
    DEV_SECRET_KEY.upper() + STRONG_SECRET,
    "test-secret-key-" + "x" * 32,              # the test fixture's
    "change-me-to-32+-random-characters",       # the .env.example placeholder
    "0f1e2d3c4b5a69788796a5b4c3d2e1f0",         # 32 hex characters: 128 bits at most
    "correct horse battery staple 2026",        # a passphrase is a password, not a key
])
def test_production_refuses_weak_or_development_secret_keys(secret):
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        load(environ=PRODUCTION | {"SECRET_KEY": secret})


@pytest.mark.parametrize("secret", [
    STRONG_SECRET,
    secrets.token_urlsafe(32),
    secrets.token_hex(32),
    secrets.token_urlsafe(96),                  # longer than the estimator reads
])
def test_production_accepts_generated_secret_keys(secret):
    assert load(environ=PRODUCTION | {"SECRET_KEY": secret}).SECRET_KEY == secret


@pytest.mark.parametrize("app_env", [
    "Production", "production ", " production", "prod", "PRODUCTION", "live", "dev",
])
def test_app_env_outside_the_known_values_refuses_to_start(app_env):
    with pytest.raises(SettingsError, match="APP_ENV"):
        load(environ=PRODUCTION | {"APP_ENV": app_env})
    with pytest.raises(SettingsError, match="APP_ENV"):
        load(environ={"APP_ENV": app_env})


@pytest.mark.parametrize("app_env", ["development", "test"])
def test_development_and_test_keep_their_defaults(app_env):
    assert load(environ={"APP_ENV": app_env}).APP_ENV == app_env


def test_the_app_starts_in_production_with_good_settings(tmp_path):
    app = create_app(load(environ=PRODUCTION | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}", "LOG_LEVEL": "WARNING"}))
    assert app.extensions["settings"].APP_ENV == "production"
    assert app.test_client().get("/healthz").json == {"status": "ok"}
    keyring = app.extensions["license_keyring"]
    assert sorted(keyring.public_keys()) == ["k2025b", "k2026a"]
    # a code minted offline with the public development key does not verify
    kid, sig = dev_keyring().sign(license_message("JZ1401052026000123", 1))
    assert not keyring.verify(kid, sig, license_message("JZ1401052026000123", 1))
    assert not keyring.verify("k2026a", sig, license_message("JZ1401052026000123", 1))


def test_settings_come_from_the_environment():
    settings = load(environ={"PORT": "1", "MP_TOKEN_TTL_SECONDS": "60", "REDIS_URL": ""})
    assert settings.MP_TOKEN_TTL_SECONDS == 60
    assert settings.REDIS_URL == ""
    assert settings.database_url.startswith("sqlite:///")


def test_an_id_beyond_the_database_range_is_not_found(client, login):
    headers = login()
    for url in ("/api/mp/v1/applications/70918090412964064005919107710976",
                "/api/mp/v1/licenses/2147483648", "/api/mp/v1/applications/0"):
        assert_envelope(client.get(url, headers=headers), 404, "NOT_FOUND")
