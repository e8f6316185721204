"""The composition root: ``create_app`` binds extensions, blueprints, errors and CLI."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import swagger_ui_bundle
from apiflask import APIFlask
from flask import Response, current_app, request, send_from_directory
from werkzeug.routing import IntegerConverter

from backend import cli, files, health, http_errors, public
from backend import logging as app_logging
from backend.api_types import INT32_MAX
from backend.errors import UnsupportedMediaType
from backend.extensions import db, limiter, migrate
from backend.security import signatures
from config import settings as settings_module
from config.settings import Settings
from media.store import MediaStore

MIGRATIONS = Path(__file__).parent / "migrations"
SWAGGER_STATIC = Path(swagger_ui_bundle.swagger_ui_path)


def create_app(settings: Settings | None = None) -> APIFlask:
    settings = settings or settings_module.load()
    app_logging.configure(settings.LOG_LEVEL)
    app = APIFlask(
        __name__, title="一业一证 API", version="1",
        spec_path="/openapi.json", docs_path="/docs",
    )
    app.config.update(settings.flask_config())
    app.config.update(
        SECRET_KEY=settings.SECRET_KEY,
        MAX_CONTENT_LENGTH=settings.MAX_JSON_BYTES,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url),
        SPEC_FORMAT="json",
        INFO={"description": "山西省“一业一证”改革：小程序接口与工作人员接口。"
                             "错误统一为 {code, message, details}。"},
        SECURITY_SCHEMES={"BearerAuth": {"type": "http", "scheme": "bearer"}},
        SWAGGER_UI_CSS="/docs/static/swagger-ui.css",
        SWAGGER_UI_BUNDLE_JS="/docs/static/swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS="/docs/static/swagger-ui-standalone-preset.js",
        RATELIMIT_STORAGE_URI=settings.REDIS_URL or "memory://",
        # X-RateLimit-* headers cost two more Redis round trips on every request; a refused
        # request still says when to come back (Retry-After, backend.http_errors)
        RATELIMIT_HEADERS_ENABLED=False,
    )
    app.extensions["settings"] = settings
    app.json.sort_keys = False  # keep {code, message, details} and schema order
    app.json.ensure_ascii = False  # Chinese as UTF-8, not \u escapes
    app_logging.init_app(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS), render_as_batch=True)
    limiter.init_app(app)
    from backend import redis_client  # noqa: PLC0415 - needs the settings above
    redis_client.init_app(app)

    link_key = hashlib.sha256(b"media-links:" + settings.SECRET_KEY.encode()).digest()
    app.extensions["media_store"] = MediaStore(Path(settings.MEDIA_ROOT), link_key)

    app.extensions["license_keyring"] = (
        signatures.Keyring.from_settings(settings.LICENSE_SIGNING_KEYS,
                                         settings.LICENSE_ACTIVE_KEY_ID,
                                         settings.LICENSE_RETIRED_KEY_IDS)
        if settings.LICENSE_SIGNING_KEYS else signatures.dev_keyring())

    # an id past what the database column holds is simply not found (not an overflow)
    app.url_map.converters["int"] = DatabaseId
    app.spec_processor(_complete_spec)  # APIFlask keeps one processor
    http_errors.register_error_handlers(app)
    _register_blueprints(app)
    cli.register(app)

    @app.get("/docs/static/<path:filename>")
    @app.doc(hide=True)
    def swagger_static(filename: str):
        return send_from_directory(SWAGGER_STATIC, filename)

    app.before_request(_allow_upload_size)
    app.before_request(_require_json_body)
    app.after_request(_refuse_framing)

    logging.getLogger(__name__).debug("app created", extra={"app_env": settings.APP_ENV})
    return app


def _decimal_range(maximum: int) -> str:
    """A regex matching exactly 1 … ``maximum`` written in ASCII digits, no leading zero."""
    digits = str(maximum)
    options = [rf"[1-9][0-9]{{0,{len(digits) - 2}}}", digits]
    for i, digit in enumerate(digits):
        low = 1 if i == 0 else 0
        if int(digit) > low:
            options.append(f"{digits[:i]}[{low}-{int(digit) - 1}][0-9]{{{len(digits) - i - 1}}}")
    return "(?:" + "|".join(options) + ")"


UPLOAD_ENDPOINTS = {"mp.upload_material", "mp.upload_evidence", "staff.upload_photo"}


def _allow_upload_size() -> None:
    """Only upload routes take bodies past MAX_JSON_BYTES."""
    if request.endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = current_app.extensions["settings"].UPLOAD_MAX_BYTES + 65536


class DatabaseId(IntegerConverter):
    """``<int:…>`` in routes: 1 … 2³¹−1 in ASCII digits, the range of our integer keys.

    The range is in the regex, not only in ``to_python``: Werkzeug picks the rule by regex
    and method first, so a number refused later made a PATCH or POST route answer 405.
    """

    regex = _decimal_range(INT32_MAX)

    def __init__(self, url_map, fixed_digits: int = 0, min: int | None = 1,  # noqa: A002
                 max: int | None = INT32_MAX, signed: bool = False) -> None:  # noqa: A002
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def _complete_spec(spec: dict) -> dict:
    return http_errors.document_any_error(_document_path_ids(spec))


def _document_path_ids(spec: dict) -> dict:
    """APIFlask documents ``<int:…>`` as a bare integer; state DatabaseId's range."""
    for operations in spec["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["schema"].get("type") == "integer":
                    parameter["schema"].update(minimum=1, maximum=INT32_MAX)
    return spec


def _require_json_body() -> None:
    """A body on a JSON endpoint must say it is JSON. An upload route reads its own body
    (``files.upload_stream``), so any other body there is its UPLOAD_NOT_MULTIPART."""
    if request.endpoint in UPLOAD_ENDPOINTS:
        return
    if request.method in {"POST", "PUT", "PATCH"} and request.content_length:
        if not request.is_json:
            raise UnsupportedMediaType("REQUEST_UNSUPPORTED_MEDIA_TYPE",
                                       "请求体须为 JSON（Content-Type: application/json）",
                                       {"content_type": request.mimetype})


def _refuse_framing(response: Response) -> Response:
    """No site may frame our HTML pages (clickjacking): ``frame-ancestors 'none'`` joins the
    page's own Content-Security-Policy, and X-Frame-Options for browsers without CSP 2."""
    if response.mimetype == "text/html":
        policy = response.headers.get("Content-Security-Policy", "").strip().rstrip(";")
        if "frame-ancestors" not in policy:
            policy = f"{policy}; frame-ancestors 'none'" if policy else "frame-ancestors 'none'"
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Frame-Options"] = "DENY"
    return response


def _engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        return {}
    # a dead pooled connection reconnects transparently; recycle below MySQL's wait_timeout
    return {"pool_pre_ping": True, "pool_recycle": 1800}


def _register_blueprints(app: APIFlask) -> None:
    from backend.console import bp as console_bp  # noqa: PLC0415
    from miniprogram_api import bp as miniprogram_bp  # noqa: PLC0415

    app.register_blueprint(health.bp)
    app.register_blueprint(files.bp)
    app.register_blueprint(public.bp)
    app.register_blueprint(miniprogram_bp)
    app.register_blueprint(console_bp)
