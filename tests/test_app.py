"""The service shell: health, readiness, OpenAPI, the error envelope, request ids, settings."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import runpy
import secrets
import subprocess
import threading
import time
from datetime import datetime

import honcho.environ as honcho_environ
import pytest
from click.testing import CliRunner
from dotenv import dotenv_values
from flask.cli import FlaskGroup

from backend import health
from backend import logging as app_logging
from backend.app import create_app
from backend.periodic import Periodic
from backend.security.signatures import DEV_SEED as DEV_SEED_BYTES
from backend.security.signatures import dev_keyring, license_message
from config.settings import DEV_SECRET_KEY, PROJECT_ROOT, SETTINGS, SettingsError, load
from tests import seal_files, servers
from tests.conftest import make_settings
from tests.envelopes import check_envelope
from tests.live import BIN


def assert_envelope(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body = resp.json
    check_envelope(body)  # one shape; fields named only in details.fields
    assert body["code"] == code
    return body


def bad_fields(resp, status: int, code: str) -> dict[str, dict]:
    """The envelope's ``details.fields`` by field name."""
    return {f["field"]: f for f in assert_envelope(resp, status, code)["details"]["fields"]}


def test_healthz_answers_ok(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_reports_database_and_redis(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.json["checks"] == {"database": "ok", "media": "ok", "redis": "ok"}


def test_readyz_fails_naming_redis_when_redis_stops(tmp_path):
    redis = servers.start_redis(tmp_path)
    app = create_app(make_settings(DATABASE_URL=f"sqlite:///{tmp_path / 'r.db'}",
                                   REDIS_URL=redis.url))
    client = app.test_client()
    try:
        assert client.get("/readyz").status_code == 200
        redis.stop()
        body = assert_envelope(client.get("/readyz"), 503, "NOT_READY")
        assert body["details"]["checks"] == {"database": "ok", "media": "ok", "redis": "failed"}
        assert "redis" in body["message"]
    finally:
        redis.stop()


def test_readyz_fails_naming_database_when_unreachable(tmp_path, caplog):
    """And says so in its log (a probe has no access line)."""
    app = create_app(make_settings(
        DATABASE_URL=f"mysql+pymysql://app:app@127.0.0.1:{servers.free_port()}/none"))
    logger = logging.getLogger("backend.health")
    logger.addHandler(caplog.handler)  # create_app gave the root logger its own handler
    try:
        body = assert_envelope(app.test_client().get("/readyz"), 503, "NOT_READY")
    finally:
        logger.removeHandler(caplog.handler)
    assert body["details"]["checks"] == {"database": "failed", "media": "ok"}
    assert [(r.levelname, r.getMessage(), r.failed) for r in caplog.records
            if r.name == "backend.health"] == [("WARNING", "not ready", ["database"])]


def test_readyz_names_the_media_bucket_when_it_does_not_answer(tmp_path, seaweedfs):
    """On object storage the bucket is part of readiness: a host that cannot read the files
    leaves the load balancer's pool (wrong credentials, a missing bucket, no S3 at all)."""
    from tests.servers import S3_ACCESS_KEY, S3_BUCKET, S3_SECRET_KEY  # noqa: PLC0415

    def readiness(**s3) -> dict:
        settings = {"MEDIA_S3_ENDPOINT": seaweedfs, "MEDIA_S3_BUCKET": S3_BUCKET,
                    "MEDIA_S3_ACCESS_KEY": S3_ACCESS_KEY, "MEDIA_S3_SECRET_KEY": S3_SECRET_KEY}
        app = create_app(make_settings(DATABASE_URL=f"sqlite:///{tmp_path / 'm.db'}",
                                       **(settings | s3)))
        with app.test_client().get("/readyz") as resp:
            return resp.status_code, resp.json

    assert readiness() == (200, {"status": "ready", "checks": {"database": "ok", "media": "ok"}})
    for wrong in ({"MEDIA_S3_SECRET_KEY": "guessed"}, {"MEDIA_S3_BUCKET": "no-such-bucket"},
                  {"MEDIA_S3_ENDPOINT": f"http://127.0.0.1:{servers.free_port()}"}):
        status, body = readiness(**wrong)
        assert status == 503 and body["details"]["checks"]["media"] == "failed", wrong
        assert "media" in body["message"]


@pytest.mark.parametrize("settings, problem", [
    ({"MEDIA_S3_ENDPOINT": "s3.example.org"}, "MEDIA_S3_ENDPOINT must start with http"),
    ({"MEDIA_S3_ENDPOINT": "http://s3.internal:8333", "MEDIA_S3_BUCKET": ""},
     "MEDIA_S3_BUCKET must name the bucket"),
])
def test_a_media_bucket_setting_that_cannot_work_refuses_to_start(settings, problem):
    with pytest.raises(SettingsError, match=problem):
        make_settings(**settings)


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


def _nested(depth: int) -> str:
    """``depth`` nested arrays and objects."""
    return '{"answers":' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


@pytest.mark.parametrize("depth", [33, 1000, 30_000])
def test_json_nested_too_deep_is_400_envelope_everywhere(client, staff_login, depth):
    """Past the parser's recursion limit the parse raised RecursionError (500); and no
    schema of ours nests past 3 levels, so any body past 32 is refused the same way."""
    staff = staff_login("system_admin")[0]
    for path, headers in [("/api/mp/v1/industries/restaurant/notice", {}),
                          ("/api/staff/v1/auth/login", {}),
                          ("/api/staff/v1/calendar/2026-01-01", staff)]:
        resp = client.open(path, method="PUT" if "calendar" in path else "POST",
                           data=_nested(depth), headers=headers,
                           content_type="application/json")
        assert_envelope(resp, 400, "REQUEST_MALFORMED")


def test_json_nested_as_deep_as_allowed_reaches_validation(client):
    resp = client.post("/api/mp/v1/industries/restaurant/notice", data=_nested(32),
                       content_type="application/json")
    assert bad_fields(resp, 422, "REQUEST_INVALID").keys() == {"answers"}


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
    path = "/api/mp/v1/industries"
    assert client.get(path, headers={"X-Request-ID": "abc-1"}).headers["X-Request-ID"] \
        == "abc-1"
    generated = client.get(path, headers={"X-Request-ID": "bad id <script>"}).headers
    assert len(generated["X-Request-ID"]) == 32
    # the id goes into the access line as it is: a line break after it is not "well formed"
    # (gunicorn refuses one in a header; a server in front may not)
    trailing = client.get(path, environ_base={"HTTP_X_REQUEST_ID": "abc-1\n"}).headers
    assert len(trailing["X-Request-ID"]) == 32


def test_probes_pass_the_request_log_by(client):
    """The load balancer's and the process manager's probes get no request id (nor an access
    line or request metrics: tests/test_live.py, tests/test_metrics.py); the next request
    does, and a log line written during a probe carries no earlier request's id."""
    for path in sorted(health.PROBES):
        answer = client.get(path, headers={"X-Request-ID": "probe-1"})
        assert answer.status_code == 200 and "X-Request-ID" not in answer.headers
        assert app_logging.request_id_var.get() is None
    assert client.get("/api/mp/v1/industries").headers["X-Request-ID"]


@pytest.mark.parametrize("path", ["/healthz", '/v/a"b\\c\n{}', "/指南/餐饮"])
def test_an_access_line_is_a_json_line_of_the_same_shape_as_every_other(path):
    """The access line is written directly (backend.logging.access_line); it must parse and
    read as the formatter would have written it, whatever the path holds."""
    line = app_logging.access_line("log-check-1", "GET", path, 404, 0.012345)
    assert "\n" not in line
    parsed = json.loads(line)
    record = logging.LogRecord("yiye.access", logging.INFO, __file__, 1, "request", None, None)
    record.__dict__.update(request_id="log-check-1", method="GET", path=path, status=404,
                           duration_ms=12.35)
    expected = json.loads(app_logging.json_formatter().format(record))
    assert list(parsed) == list(expected)
    assert {k: v for k, v in parsed.items() if k != "time"} == {
        k: v for k, v in expected.items() if k != "time"}
    assert abs(datetime.strptime(parsed["time"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
               - time.time()) < 5


# A production environment that starts: every override below breaks exactly one setting.
STRONG_SECRET = "Qm3vT8pXw2LrZc9KfJ4hNb7YsUe1GdA6oWiRtEyV0qH"  # secrets.token_urlsafe(32)
PRODUCTION = {
    "APP_ENV": "production", "SECRET_KEY": STRONG_SECRET,
    "WECHAT_API_BASE": "https://api.weixin.qq.com/",
    "WECHAT_APPID": "wx0123456789abcdef", "WECHAT_SECRET": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "LICENSE_SIGNING_KEYS": f"k2026a:{'B' * 42}w,k2025b:{'C' * 42}w",
    "LICENSE_ACTIVE_KEY_ID": "k2026a",
    "LICENSE_VERIFY_BASE_URL": "https://yyyz.sx.gov.cn",
    "PUBLIC_BASE_URL": "https://api.yyyz.sx.gov.cn",
    "DATABASE_URL": "mysql+pymysql://yiye:pw@db.internal:3306/yiye?charset=utf8mb4",
    "REDIS_URL": "redis://redis.internal:6379/0",
    # Fernet.generate_key(): the archive's personal data key
    "ARCHIVE_PERSONAL_DATA_KEYS": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
} | seal_files.production_env()
DEV_SEED = base64.urlsafe_b64encode(DEV_SEED_BYTES).rstrip(b"=").decode()


@pytest.mark.parametrize("overrides, problem", [
    ({"WECHAT_API_BASE": "http://127.0.0.1:8081/"}, "WECHAT_API_BASE"),
    ({"WEBHOOK_ALLOW_PRIVATE": "true"}, "WEBHOOK_ALLOW_PRIVATE"),
    ({"WECHAT_APPID": ""}, "WECHAT_APPID"),
    ({"WECHAT_SECRET": ""}, "WECHAT_SECRET"),
    ({"WECHAT_SECRET": "dev-secret"}, "WECHAT_SECRET"),
    ({"ARCHIVE_PERSONAL_DATA_KEYS": ""}, "ARCHIVE_PERSONAL_DATA_KEYS"),
    ({"ARCHIVE_PERSONAL_DATA_KEYS": "not-a-key"}, "ARCHIVE_PERSONAL_DATA_KEYS"),
    ({"ARCHIVE_RETENTION_YEARS": "licensed:forever"}, "ARCHIVE_RETENTION_YEARS"),
    ({"LICENSE_VERIFY_BASE_URL": "http://yyyz.sx.gov.cn"}, "LICENSE_VERIFY_BASE_URL"),
    # PRODUCT.md: MySQL/MariaDB and Redis in production; SQLite and memory for trying out
    ({"DATABASE_URL": ""}, "DATABASE_URL.*MySQL"),
    ({"DATABASE_URL": "sqlite:////srv/yiye/yiye.db"}, "DATABASE_URL.*MySQL"),
    ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
    ({"REDIS_URL": ""}, "REDIS_URL"),
    ({"REDIS_URL": "memory://"}, "REDIS_URL"),
    # the links printed in QR codes and file links need a real https host
    ({"PUBLIC_BASE_URL": ""}, "PUBLIC_BASE_URL.*https"),  # else the served 127.0.0.1
    ({"PUBLIC_BASE_URL": "http://api.yyyz.sx.gov.cn"}, "PUBLIC_BASE_URL.*https"),
    ({"LICENSE_VERIFY_BASE_URL": ""}, "LICENSE_VERIFY_BASE_URL.*https"),
    ({"LICENSE_VERIFY_BASE_URL": "https://"}, "LICENSE_VERIFY_BASE_URL"),
    ({"LICENSE_VERIFY_BASE_URL": "https:///v"}, "LICENSE_VERIFY_BASE_URL"),
    ({"LICENSE_VERIFY_BASE_URL": "https://:443"}, "LICENSE_VERIFY_BASE_URL"),
    ({"LICENSE_VERIFY_BASE_URL": "https://yyyz.sx.gov.cn?x=1"}, "LICENSE_VERIFY_BASE_URL"),
    ({"LICENSE_VERIFY_BASE_URL": "https://yyyz.sx.gov.cn/#top"}, "LICENSE_VERIFY_BASE_URL"),
    ({"LICENSE_VERIFY_BASE_URL": "https://user@yyyz.sx.gov.cn"}, "LICENSE_VERIFY_BASE_URL"),
    ({"LICENSE_VERIFY_BASE_URL": "https://yyyz.sx.gov.cn:99999"}, "LICENSE_VERIFY_BASE_URL"),
    ({"LICENSE_VERIFY_BASE_URL": "https://yyyz sx.gov.cn"}, "LICENSE_VERIFY_BASE_URL"),
    # surrounding whitespace is not part of a value: the default stays the default
    ({"WECHAT_SECRET": "dev-secret "}, "WECHAT_SECRET"),
    ({"WECHAT_SECRET": "\tdev-secret\n"}, "WECHAT_SECRET"),
    ({"WECHAT_APPID": " wx-dev-appid"}, "WECHAT_APPID"),
    ({"WECHAT_SECRET": "   "}, "WECHAT_SECRET"),
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
    # applicants' files in a bucket anyone on the network could read
    ({"MEDIA_S3_ENDPOINT": "http://s3.internal:8333"}, "MEDIA_S3_ACCESS_KEY"),
    ({"MEDIA_S3_ENDPOINT": "http://s3.internal:8333", "MEDIA_S3_ACCESS_KEY": "yiye"},
     "MEDIA_S3_SECRET_KEY"),
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
], ids=["chosen", "urlsafe-32", "hex-32", "urlsafe-96"])  # stable ids: pytest-xdist workers
def test_production_accepts_generated_secret_keys(secret):
    assert load(environ=PRODUCTION | {"SECRET_KEY": secret}).SECRET_KEY == secret


@pytest.mark.parametrize("app_env", [
    "Production", "prod", "PRODUCTION", "live", "dev", "pro duction",
])
def test_app_env_outside_the_known_values_refuses_to_start(app_env):
    with pytest.raises(SettingsError, match="APP_ENV"):
        load(environ=PRODUCTION | {"APP_ENV": app_env})
    with pytest.raises(SettingsError, match="APP_ENV"):
        load(environ={"APP_ENV": app_env})


@pytest.mark.parametrize("app_env", ["production ", " production", "production\n"])
def test_surrounding_whitespace_is_stripped_so_production_keeps_its_guards(app_env):
    assert load(environ=PRODUCTION | {"APP_ENV": app_env}).APP_ENV == "production"
    with pytest.raises(SettingsError, match="production"):  # the guards hold
        load(environ={"APP_ENV": app_env})


@pytest.mark.parametrize("reader", ["honcho", "python-dotenv"])
def test_env_example_means_its_defaults_to_both_readers(reader):
    """`.env.example` copied to `.env` is read by honcho (`make run`) and by python-dotenv
    (`flask`): both must see the documented defaults. honcho drops the spaces of an unquoted
    value ("30 per minute" became "30perminute"), so such values are quoted."""
    text = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
    environ = (honcho_environ.parse(text) if reader == "honcho"
               else {k: v or "" for k, v in dotenv_values(stream=io.StringIO(text)).items()})
    read, defaults = load(environ=environ).values, load(environ={}).values
    assert {k: v for k, v in read.items() if v != defaults[k]} == {
        "SECRET_KEY": "change-me-to-32+-random-characters"}


def test_settings_lose_surrounding_whitespace_in_every_environment():
    settings = load(environ={"PORT": " 9000 ", "WECHAT_SECRET": " s3cret\t",
                             "LOGIN_RATE_LIMIT": "5 per minute  ", "REDIS_URL": "  "})
    assert settings.PORT == 9000 and settings.WECHAT_SECRET == "s3cret"
    assert settings.LOGIN_RATE_LIMIT == "5 per minute" and settings.REDIS_URL == ""


@pytest.mark.parametrize("url", ["https://", "ftp://example.cn", "example.cn", "http://a b",
                                 "http://example.cn/?q=1", "http://example.cn:0x50"])
def test_a_base_url_without_a_real_host_is_refused_in_development_too(url):
    for name in ("LICENSE_VERIFY_BASE_URL", "PUBLIC_BASE_URL"):
        with pytest.raises(SettingsError, match=name):
            load(environ={name: url})


@pytest.mark.parametrize("url", ["https://yyyz.sx.gov.cn", "https://yyyz.sx.gov.cn:8443",
                                 "https://www.sx.gov.cn/yyyz", "https://[2001:db8::1]"])
def test_production_accepts_https_base_urls_with_a_host_and_a_path_prefix(url):
    settings = load(environ=PRODUCTION | {"LICENSE_VERIFY_BASE_URL": url,
                                          "PUBLIC_BASE_URL": url})
    assert settings.LICENSE_VERIFY_BASE_URL == url and settings.PUBLIC_BASE_URL == url


@pytest.mark.parametrize("app_env", ["development", "test"])
def test_development_and_test_keep_their_defaults(app_env):
    assert load(environ={"APP_ENV": app_env}).APP_ENV == app_env


def production_settings(mariadb_url: str, redis_url: str):
    """PRODUCTION on the test run's own MariaDB and Redis (the rate limiter's storage is
    process-wide: an app made with another Redis would move it under the other tests)."""
    return load(environ=PRODUCTION | {"DATABASE_URL": mariadb_url, "REDIS_URL": redis_url,
                                      "LOG_LEVEL": "WARNING"})


def test_the_app_starts_in_production_with_good_settings(mariadb_url, redis_url):
    app = create_app(production_settings(mariadb_url, redis_url))
    assert app.extensions["settings"].APP_ENV == "production"
    assert app.test_client().get("/healthz").json == {"status": "ok"}
    keyring = app.extensions["license_keyring"]
    assert sorted(keyring.public_keys()) == ["k2025b", "k2026a"]
    # a code minted offline with the public development key does not verify
    kid, sig = dev_keyring().sign(license_message("JZ1401052026000123", 1))
    assert not keyring.verify(kid, sig, license_message("JZ1401052026000123", 1))
    assert not keyring.verify("k2026a", sig, license_message("JZ1401052026000123", 1))


GUNICORN_CONF = PROJECT_ROOT / "config" / "gunicorn.conf.py"


def settings_free_environ(**env: str) -> dict[str, str]:
    """This process's environment without any setting (`make test` exports PORT …), plus
    ``env``."""
    names = {s.env for s in SETTINGS} | {"GUNICORN_CMD_ARGS", "WEB_CONCURRENCY"}
    return {k: v for k, v in os.environ.items() if k not in names} | env


def test_gunicorn_refuses_unsafe_production_settings_in_one_line(tmp_path):
    """What an operator sees: the reason on one line and a failed exit, no traceback."""
    env = settings_free_environ(**(PRODUCTION | {"REDIS_URL": ""}))
    started = subprocess.run([str(BIN / "gunicorn"), "-c", str(GUNICORN_CONF),
                              "backend.app:create_app()"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
    assert started.returncode != 0
    assert started.stderr.strip().splitlines() == [
        "refusing to start: production requires REDIS_URL (redis://…): without it rate limits "
        "are counted per process and the worker runs in the web process"], started.stderr


def test_each_gunicorn_has_a_control_socket_of_its_own(monkeypatch):
    """gunicorn's default (~/.gunicorn/gunicorn.ctl) is one path for the whole machine: a
    second instance took over the first one's socket."""
    paths = set()
    for port in ("8000", "9000"):
        monkeypatch.setattr(os, "environ", settings_free_environ(PORT=port))
        paths.add(runpy.run_path(str(GUNICORN_CONF))["control_socket"])
    assert paths == {str(PROJECT_ROOT / "var" / f"gunicorn-{port}.ctl")
                     for port in ("8000", "9000")}


def readme_flask_commands() -> set[tuple[str, ...]]:
    """Every `flask …` command the README names, as its words (``("staff", "create")``)."""
    text = (PROJECT_ROOT / "README.md").read_text()
    return {tuple(words.split())
            for words in re.findall(r"(?:^|`)flask((?: [a-z][a-z-]*)+)", text, re.MULTILINE)}


def test_flask_finds_the_app_in_a_fresh_shell_with_the_venv_activated(tmp_path):
    """As the README says: `. .venv/bin/activate`, then `flask …` — no FLASK_APP exported
    (only the Makefile used to export it: "No such command 'staff'")."""
    env = settings_free_environ(MEDIA_ROOT=str(tmp_path / "media"))
    env.pop("FLASK_APP", None)
    ran = subprocess.run([str(BIN / "flask"), "staff", "create", "--help"], env=env,
                         cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert "--username" in ran.stdout


def test_every_flask_command_in_the_readme_exists(app):
    commands = readme_flask_commands()
    assert {("staff", "create"), ("db", "upgrade"), ("worker",)} <= commands
    cli = FlaskGroup(create_app=lambda: app)  # plugin commands (flask db) included
    for words in sorted(commands):
        result = CliRunner().invoke(cli, [*words, "--help"])
        assert result.exit_code == 0, (words, result.output)


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


def test_a_pooled_connection_killed_while_idle_is_replaced_not_an_error(app, client,
                                                                         monkeypatch):
    """No ping on every checkout (a round trip per request), yet a connection that died in
    the pool (server restart, wait_timeout) is found by the ping after a quiet spell."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite has no server connection to lose")
    from sqlalchemy import create_engine, text  # noqa: PLC0415

    from backend import extensions  # noqa: PLC0415
    from backend.extensions import db  # noqa: PLC0415

    with app.app_context():
        db.engine.dispose()
        ids = []
        for _ in range(2):  # busy: the same pooled connection, no ping in between
            ids.append(db.session.scalar(text("SELECT CONNECTION_ID()")))
            db.session.remove()
        assert ids[0] == ids[1]
        killer = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
        with killer.connect() as conn:
            conn.execute(text(f"KILL CONNECTION {ids[0]}"))
        killer.dispose()
    monkeypatch.setattr(extensions, "IDLE_PING_SECONDS", 0.0)  # it has now sat "long enough"
    resp = client.get("/api/mp/v1/industries/restaurant?version=1")
    assert resp.status_code == 200 and resp.json["industry"]["code"] == "restaurant"
    with app.app_context():
        assert db.session.scalar(text("SELECT CONNECTION_ID()")) != ids[0]
        db.session.remove()


def test_a_connection_goes_back_to_the_pool_with_one_rollback_at_most(app):
    """A request that read something costs one ROLLBACK, not two (the Session's and then the
    pool's); a connection handed back with a transaction still open is rolled back."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite's transactions are not a server round trip")
    from sqlalchemy import text  # noqa: PLC0415

    from backend.extensions import db  # noqa: PLC0415

    def rollbacks() -> int:
        with db.engine.connect() as conn:  # its own ROLLBACK happens after this read
            return int(conn.execute(text("SHOW GLOBAL STATUS LIKE 'Com_rollback'")).one()[1])

    with app.app_context():
        before = rollbacks()
        db.session.scalar(text("SELECT 1"))
        db.session.remove()
        assert rollbacks() - before == 2  # the session's, and the counting connection's own

        raw = db.engine.raw_connection()  # DBAPI use, as a library might do
        cursor = raw.cursor()
        cursor.execute("SELECT COUNT(*) FROM staff_accounts FOR UPDATE")  # opens a transaction
        cursor.execute("SELECT CONNECTION_ID(), @@in_transaction")
        connection_id, in_transaction = cursor.fetchone()
        assert in_transaction == 1
        raw.close()  # back to the pool, transaction open
        again = db.engine.raw_connection()
        cursor = again.cursor()
        cursor.execute("SELECT CONNECTION_ID(), @@in_transaction")
        assert cursor.fetchone() == (connection_id, 0)  # the same connection, rolled back
        again.close()


def test_a_periodic_thread_runs_once_per_process_and_again_in_a_forked_one():
    """The access-line writer and the metrics applier (backend.periodic): one thread per
    process however many requests ask; a forked gunicorn worker has none of its parent's,
    and its first request starts its own."""
    calls = []
    periodic = Periodic("test-periodic", 0.01, lambda: calls.append(os.getpid()))
    before = threading.active_count()
    for _ in range(50):
        periodic.ensure()
    assert threading.active_count() == before + 1
    deadline = time.monotonic() + 5
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(calls) >= 3 and set(calls) == {os.getpid()}
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the forked process: its own thread, its own calls
        try:
            periodic._action = lambda: os.write(write, b"x")  # noqa: SLF001
            periodic.ensure()
            time.sleep(0.5)
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(child, 0)
    seen = os.read(read, 100)
    os.close(read)
    assert status == 0 and len(seen) >= 3


def test_request_threads_leave_the_writing_of_lines_to_the_process_writer(monkeypatch):
    """Under load a request thread that writes gives up the interpreter lock and queues to get
    it back: access lines are gathered and written by the process's writer thread, within
    FLUSH_SECONDS, all of them and in order; a WARNING goes out at once."""
    read, write = os.pipe()
    writers = []
    real_write = os.write

    def recording_write(fd, data):
        writers.append(threading.current_thread())
        return real_write(fd, data)

    monkeypatch.setattr(app_logging.os, "write", recording_write)
    handler = app_logging._LineHandler(os.fdopen(write, "w"))  # noqa: SLF001
    for i in range(2000):  # a few seconds of one worker's access lines
        handler.write_line(json.dumps({"i": i, "pad": "x" * 200}))
    received = bytearray()
    deadline = time.monotonic() + 5
    while received.count(b"\n") < 2000 and time.monotonic() < deadline:
        received += os.read(read, 1 << 16)
    assert [json.loads(line)["i"] for line in received.decode().splitlines()] == list(
        range(2000))
    assert writers and threading.current_thread() not in writers
    handler.write_line('{"level": "WARNING"}', now=True)
    assert threading.current_thread() in writers  # at once, by the thread that logged it
    assert os.read(read, 100) == b'{"level": "WARNING"}\n'
    os.close(read)


def test_the_lines_of_two_processes_on_one_slow_pipe_never_splice():
    """gunicorn's web processes share one stdout, often a pipe read by a collector that lags.
    Each process writes its gathered lines in batches; a batch is whole lines of at most
    PIPE_BUF bytes per write, the size the kernel never splits: every line arrives whole."""
    read, write = os.pipe()
    go_read, go_write = os.pipe()
    children = []
    for name in "ab":
        child = os.fork()
        if child == 0:
            try:
                os.close(read)
                os.read(go_read, 1)  # both start together
                handler = app_logging._LineHandler(os.fdopen(write, "w"))  # noqa: SLF001
                for i in range(600):
                    handler.write_line(json.dumps({"p": name, "i": i, "pad": name * 1500}))
                handler.flush()
            finally:
                os._exit(0)
        children.append(child)
    os.close(write)
    os.write(go_write, b"xx")
    received = bytearray()
    while chunk := os.read(read, 4096):  # a collector that lags behind
        received += chunk
        time.sleep(0.0005)
    os.close(read)
    for child in children:
        assert os.waitpid(child, 0)[1] == 0
    lines = received.decode().splitlines()
    parsed = [json.loads(line) for line in lines]  # a spliced line would not parse
    assert sorted((p["p"], p["i"]) for p in parsed) == [(n, i) for n in "ab" for i in range(600)]
