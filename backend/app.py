"""The composition root: ``create_app`` binds extensions, blueprints, errors and CLI."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import swagger_ui_bundle
from apiflask import APIFlask
from flask import Request, Response, current_app, request, send_from_directory
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SecureCookieSessionInterface
from werkzeug.routing import IntegerConverter

from backend import cli, files, guides, health, http_errors, metrics, proxies, public
from backend import logging as app_logging
from backend.api_types import INT32_MAX
from backend.errors import UnsupportedMediaType
from backend.extensions import (
    autocommit_when_asked,
    db,
    limiter,
    migrate,
    ping_when_idle,
    rollback_only_when_open,
)
from backend.security import seals, signatures
from backend.services import catalog, scorecard, verification
from config import settings as settings_module
from config.settings import Settings
from media import pool
from media import store as media_store

MIGRATIONS = Path(__file__).parent / "migrations"
SWAGGER_STATIC = Path(swagger_ui_bundle.swagger_ui_path)


def create_app(settings: Settings | None = None) -> APIFlask:
    settings = settings or settings_module.load()
    app_logging.configure(settings.LOG_LEVEL)
    app = Service(
        __name__, title="一业一证 API", version="1",
        spec_path="/openapi.json", docs_path="/docs",
    )
    app.json = BoundedJSONProvider(app)
    app.config.update(settings.flask_config())
    app.config.update(
        SECRET_KEY=settings.SECRET_KEY,
        MAX_CONTENT_LENGTH=settings.MAX_JSON_BYTES,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url, settings.WEB_THREADS),
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
        # Redis counts and caches; it is not the record. While it is out of reach limits let
        # requests through (and log) rather than fail them: the database still answers
        RATELIMIT_SWALLOW_ERRORS=True,
    )
    app.extensions["settings"] = settings
    app.json.sort_keys = False  # keep {code, message, details} and schema order
    app.json.ensure_ascii = False  # Chinese as UTF-8, not \u escapes
    metrics.init_app(app)

    db.init_app(app)
    if not settings.database_url.startswith("sqlite"):
        with app.app_context():
            ping_when_idle(db.engine)
            rollback_only_when_open(db.engine)
            autocommit_when_asked(db.engine)
    migrate.init_app(app, db, directory=str(MIGRATIONS), render_as_batch=True)
    limiter.init_app(app)
    _limit_only_limited_routes(app)
    app.session_interface = _ConsoleOnlySession()
    from backend import redis_client  # noqa: PLC0415 - needs the settings above
    redis_client.init_app(app)

    link_key = hashlib.sha256(b"media-links:" + settings.SECRET_KEY.encode()).digest()
    app.extensions["media_store"] = media_store.from_settings(settings, link_key)
    pool.configure(settings.IMAGE_PROCESSES)

    app.extensions["catalog_answers"] = catalog.AnswerCache(settings.CATALOG_CHECK_SECONDS)
    app.extensions["verdicts"] = verification.Verdicts(
        app.extensions["redis"], seconds=settings.LICENSE_CACHE_SECONDS,
        entries=settings.LICENSE_CACHE_ENTRIES)
    app.extensions["license_keyring"] = (
        signatures.Keyring.from_settings(settings.LICENSE_SIGNING_KEYS,
                                         settings.LICENSE_ACTIVE_KEY_ID,
                                         settings.LICENSE_RETIRED_KEY_IDS)
        if settings.LICENSE_SIGNING_KEYS else signatures.dev_keyring())
    app.extensions["license_sealer"] = seals.sealer_from_settings(settings)
    # the 绩效考评 weights, checked with the settings (SCORECARD_PATH)
    app.extensions["scorecard_weights"] = scorecard.load_weights(Path(settings.SCORECARD_PATH))

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

    if settings.PROXY_FIX_X_FOR:
        app.wsgi_app = proxies.TrustedProxyFix(
            app.wsgi_app, hops=settings.PROXY_FIX_X_FOR,
            trusted=proxies.networks(settings.FORWARDED_ALLOW_IPS))
    app.wsgi_app = app_logging.RequestLog(app.wsgi_app, observe=metrics.observe_request,
                                          probes=health.PROBES)
    app.before_request(_check_body)
    app.after_request(_refuse_framing)

    logging.getLogger(__name__).debug("app created", extra={"app_env": settings.APP_ENV})
    return app


class Service(APIFlask):
    """The app. No view or hook of ours is a coroutine, so Flask's check of each one on every
    request (``inspect.iscoroutinefunction``, five a request, a twentieth of /healthz's
    time) is not made: an ``async def`` view would fail its first test, returning a
    coroutine where a response belongs."""

    def ensure_sync(self, func):
        return func


MAX_JSON_DEPTH = 32


class BoundedJSONProvider(DefaultJSONProvider):
    """Every JSON request body is parsed here (``request.get_json``): a body nested past
    ``MAX_JSON_DEPTH`` arrays/objects is malformed, the 400 REQUEST_MALFORMED envelope.

    The parser recurses per level, so about 1000 levels raised RecursionError (a 500), and
    where exactly depended on the call stack above it; our deepest schema nests 3 levels
    (``FormPatchIn.fields`` → a list), so 32 refuses nothing valid and answers the same at
    any depth, before any schema or service walks the value.
    """

    def loads(self, s: str | bytes, **kwargs) -> object:
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
        level, depth = [value], 0
        while level := [v for v in level if isinstance(v, dict | list)]:  # breadth first
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
            level = [child for v in level for child in (v.values() if isinstance(v, dict) else v)]
        return value


def _decimal_range(maximum: int) -> str:
    """A regex matching exactly 1 … ``maximum`` written in ASCII digits, no leading zero."""
    digits = str(maximum)
    options = [rf"[1-9][0-9]{{0,{len(digits) - 2}}}", digits]
    for i, digit in enumerate(digits):
        low = 1 if i == 0 else 0
        if int(digit) > low:
            options.append(f"{digits[:i]}[{low}-{int(digit) - 1}][0-9]{{{len(digits) - i - 1}}}")
    return "(?:" + "|".join(options) + ")"


class _ConsoleOnlySession(SecureCookieSessionInterface):
    """Only the browser console (``/console``, console/session.py) keeps a cookie session;
    the APIs carry tokens in headers, so no API request builds the signer, and writing to
    ``flask.session`` there raises."""

    def open_session(self, app, request):
        if request.path.startswith(CONSOLE_PREFIX):
            return super().open_session(app, request)
        return None


def _limit_only_limited_routes(app: APIFlask) -> None:
    """A route under ``@limiter.limit`` checks its limit in the decorator's wrapper. The
    limiter's app-wide hooks serve default and application limits and X-RateLimit headers,
    none of which we use, yet cost every request; they are dropped (a Flask-Limiter upgrade
    that changes them fails here, at start)."""
    ours = {limiter._check_request_limit, limiter._Limiter__release_context}  # noqa: SLF001
    for config in ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION", "RATELIMIT_META"):
        assert not app.config.get(config), f"{config} needs the limiter's app-wide hook"
    hooks = (app.before_request_funcs[None], app.after_request_funcs[None],
             app.teardown_request_funcs[None])
    before = sum(map(len, hooks))
    for funcs in hooks:
        funcs[:] = [f for f in funcs if f not in ours
                    and getattr(f, "args", None) != (limiter,)]  # the headers' partial
    if before - sum(map(len, hooks)) != 3:
        raise RuntimeError("Flask-Limiter's app-wide hooks were not found")


CONSOLE_PREFIX = "/console"

UPLOAD_ENDPOINTS = {"mp.upload_material", "mp.upload_evidence", "staff.upload_photo",
                    "console.catalog_upload", "console.assisted_upload", "console.visit_photo"}


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


BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _check_body() -> None:
    """Only upload routes take bodies past MAX_JSON_BYTES, and read them themselves
    (``files.upload_stream``: any other body there is UPLOAD_NOT_MULTIPART); the console's
    pages take browser forms; a body on any other endpoint must say it is JSON.

    Runs on every request, so the request is looked up once: each ``request.…`` through
    Flask's proxy costs ~1.5 µs, and this hook made six (8 µs of a POST's ~150; round 9)."""
    req = request._get_current_object()  # noqa: SLF001 - werkzeug's documented LocalProxy call
    if req.method not in BODY_METHODS:
        return
    if req.endpoint in UPLOAD_ENDPOINTS:
        req.max_content_length = current_app.extensions["settings"].UPLOAD_MAX_BYTES + 65536
    elif _has_body(req) and req.blueprint != "console" and not req.is_json:
        raise UnsupportedMediaType("REQUEST_UNSUPPORTED_MEDIA_TYPE",
                                   "请求体须为 JSON（Content-Type: application/json）",
                                   {"content_type": req.mimetype})


def _has_body(req: Request) -> bool:
    """A declared length, or a body sent in chunks (HTTP/1.1 ``Transfer-Encoding: chunked``
    declares none)."""
    return bool(req.content_length) or "chunked" in req.headers.get(
        "Transfer-Encoding", "").lower()


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


def _engine_options(url: str, threads: int) -> dict:
    if url.startswith("sqlite"):
        return {}
    # recycle below MySQL's wait_timeout; a connection idle for a while is pinged at checkout
    # (backend.extensions.ping_when_idle), a busy one is not: a ping on every checkout cost a
    # round trip per request. One kept connection per web thread: past the pool's size each
    # busy request opened and closed a connection of its own (issue 20's rush); they are
    # opened only when needed.
    # the pool's rollback on return only when a transaction is open (rollback_only_when_open),
    # and none at all for a connection in autocommit mode (extensions.autocommit_rows)
    return {"pool_recycle": 1800, "pool_size": threads, "max_overflow": 4,
            "pool_reset_on_return": None, "skip_autocommit_rollback": True}


def _register_blueprints(app: APIFlask) -> None:
    from console import bp as console_bp  # noqa: PLC0415
    from console.layout import error_page  # noqa: PLC0415
    from console.session import cookie_config, csrf  # noqa: PLC0415
    from miniprogram_api import bp as miniprogram_bp  # noqa: PLC0415
    from staff_api import bp as staff_bp  # noqa: PLC0415

    app.register_blueprint(health.bp)
    app.register_blueprint(files.bp)
    app.register_blueprint(public.bp)
    app.register_blueprint(guides.bp)
    app.register_blueprint(miniprogram_bp)
    app.register_blueprint(staff_bp)
    app.config.update(cookie_config(app.extensions["settings"].APP_ENV == "production"))
    csrf.init_app(app)
    app.register_blueprint(console_bp)
    app.extensions["error_pages"] = {CONSOLE_PREFIX: error_page,
                                     guides.PREFIX: guides.error_page}
