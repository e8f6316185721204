"""Settings: every environment variable the service reads, once, with its type and default.

One table (warehouse's ``maybe_set`` idea) so that README, .env.example and code cannot drift:
`flask settings` prints it. Nothing reads ``os.environ`` anywhere else.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from zxcvbn import zxcvbn

from backend import proxies
from backend.security import seals
from backend.security.signatures import Keyring
from backend.services import elicense_ids

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WECHAT_PRODUCTION_BASE = "https://api.weixin.qq.com/"
DEV_SECRET_KEY = "dev-only-not-secret"  # noqa: S105 - refused in production below
APP_ENVS = ("development", "test", "production")
SECRET_KEY_MIN_CHARS = 32
SECRET_KEY_MIN_BITS = 128
METRICS_TOKEN_MIN_CHARS = 32
# zxcvbn reads at most this many characters; a longer key must be strong in its first 72
_ESTIMATOR_MAX_CHARS = 72
# words a hand-made key is likely built from: the estimator counts each as one guess
_KEY_WORDS = (DEV_SECRET_KEY, "test-secret-key", "change-me", "random-characters", "secret",
              "yiye", "yizheng", "shanxi")


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Setting:
    env: str
    default: Any
    coerce: Callable[[str], Any] = str
    doc: str = ""


SETTINGS: tuple[Setting, ...] = (
    Setting("APP_ENV", "development", str,
            "exactly development | test | production; anything else refuses to start"),
    Setting("SECRET_KEY", DEV_SECRET_KEY, str,
            "signs and encrypts server-side secrets; production: ≥ 32 characters and "
            "≥ 128 bits by zxcvbn, e.g. secrets.token_urlsafe(32)"),
    Setting("DATABASE_URL", "", str,
            "SQLAlchemy URL; empty = SQLite file under var/ (trying out only); "
            "production: mysql+pymysql://… (MySQL/MariaDB)"),
    Setting("REDIS_URL", "", str,
            "redis://…; empty = in-process defaults (trying out only); production: required"),
    Setting("WECHAT_APPID", "wx-dev-appid", str, "mini-program AppID"),
    Setting("WECHAT_SECRET", "dev-secret", str, "mini-program AppSecret"),
    Setting("WECHAT_API_BASE", "http://127.0.0.1:8081/", str, "WeChat API base URL"),
    Setting("WECHAT_TIMEOUT_SECONDS", 5.0, float, "timeout of one WeChat HTTP call"),
    Setting("MP_TOKEN_TTL_SECONDS", 7 * 24 * 3600, int, "lifetime of a mini-program token"),
    Setting("PRIVACY_NOTICE_VERSION", "2026-12-01", str,
            "version of the mini-program's privacy notice in force (《个人信息保护指引》); an "
            "applicant must agree to it before the form accepts personal data or a phone "
            "number is asked of WeChat; a new version asks everyone again"),
    Setting("COLLABORATION_CODE_TTL_MINUTES", 24 * 60, int,
            "lifetime of a one-time code inviting a colleague to help with an application"),
    Setting("MAX_JSON_BYTES", 64 * 1024, int, "largest accepted JSON request body"),
    Setting("CONSOLE_IDLE_MINUTES", 30, int,
            "the staff console signs out a session unused this long (its token is revoked)"),
    Setting("LOGIN_RATE_LIMIT", "300 per minute", str,
            "login attempts per client address. Generous: a carrier NAT puts a town's phones "
            "behind one address, and a login needs a fresh one-time wx.login code that only "
            "WeChat issues, so there is nothing to guess; it stops one address flooding "
            "code2session (5 a second), not a morning rush"),
    Setting("BIND_RATE_LIMIT", "10 per minute", str,
            "staff binding-code attempts per WeChat user (the codes are 8 digits)"),
    Setting("CATALOG_PATH", str(PROJECT_ROOT / "config" / "catalog" / "catalog.yaml"), str,
            "catalog data file loaded by `flask catalog load`"),
    Setting("CATALOG_CHECK_SECONDS", 1.0, float,
            "how often a web process asks which catalog version is in force (a newly loaded "
            "version is served within this time)"),
    Setting("STATISTICS_LOW_VOLUME_CASES", 10, int,
            "an industry of the catalog that received fewer applications in a year is "
            "flagged for the catalog administrator (目录动态调整)"),
    Setting("SCORECARD_PATH", str(PROJECT_ROOT / "config" / "scorecard.yaml"), str,
            "the weights of the 绩效考评 scorecard (YAML); checked at start"),
    Setting("MEDIA_ROOT", str(PROJECT_ROOT / "var" / "media"), str,
            "uploaded files, by SHA-256; never under a static web path"),
    Setting("MEDIA_S3_ENDPOINT", "", str,
            "empty = files on local disk under MEDIA_ROOT (one web host); an http(s) URL of "
            "S3-compatible object storage (SeaweedFS, MinIO, a cloud's) = files in "
            "MEDIA_S3_BUCKET, shared by every web host and worker (media/store.py)"),
    Setting("MEDIA_S3_BUCKET", "yiye-media", str,
            "the bucket, private (no public policy: files are served only through signed "
            "/files links); made by the operator, /readyz reports it unreachable otherwise"),
    Setting("MEDIA_S3_ACCESS_KEY", "", str,
            "S3 access key id (production: required with MEDIA_S3_ENDPOINT)"),
    Setting("MEDIA_S3_SECRET_KEY", "", str,
            "S3 secret access key (production: required with MEDIA_S3_ENDPOINT)"),
    Setting("MEDIA_S3_REGION", "us-east-1", str,
            "region the requests are signed for (SeaweedFS and MinIO accept any)"),
    Setting("MEDIA_S3_PREFIX", "", str,
            "key prefix inside the bucket, e.g. yiye/ when the bucket is shared"),
    Setting("UPLOAD_MAX_BYTES", 10 * 1024 * 1024, int, "largest accepted upload"),
    Setting("UPLOAD_MAX_PIXELS", 50_000_000, int, "largest image (pixels) decoded"),
    Setting("IMAGE_PROCESSES", 2, int,
            "processes per web process that validate and re-encode uploads (media/pool.py), "
            "at a lower CPU priority than the web threads; web processes × this ≈ cores; 0 = "
            "in the request's own thread (debugging)"),
    Setting("MEDIA_URL_TTL_SECONDS", 300, int, "lifetime of a signed file link"),
    Setting("UPLOAD_RATE_LIMIT", "60 per minute", str, "uploads per applicant"),
    Setting("SUBMIT_RATE_LIMIT", "10 per minute", str,
            "submissions and new applications per applicant"),
    Setting("LICENSE_VERIFY_BASE_URL", "", str,
            "https origin (optionally with a path prefix) of the public verification page "
            "printed in license QR codes; empty = the served address (HOST, PORT)"),
    Setting("LICENSE_SIGNING_KEYS", "", str,
            "license QR keys, comma-separated: kid:base64url-seed (Ed25519) or "
            "kid:sm2:base64url-d (SM2 with SM3, GB/T 32918 / GB/T 32905, default user ID "
            "1234567812345678, for a GB/T 39786 密评 deployment) — the scheme is per kid, the "
            "QR format the same (backend/security/signatures.py); empty = the fixed "
            "development key"),
    Setting("LICENSE_ACTIVE_KEY_ID", "", str,
            "the kid that signs new QR codes; switching it to an SM2 kid switches new codes "
            "to SM2 while codes printed under the other kids keep verifying"),
    Setting("LICENSE_RETIRED_KEY_IDS", "", str, "kids that no longer verify"),
    Setting("LICENSE_FONT_PATH", "", str, "CJK font for license images; empty = search"),
    # the digital seal of the license PDF (media/seal.py, backend/security/seals.py)
    Setting("LICENSE_SEALER", seals.PADES, str,
            "what seals the license PDF: pades (a PAdES signature with the key below) or "
            "package.module:factory, a callable(settings) returning a media.seal.Sealer "
            "(e.g. the province's seal server)"),
    Setting("LICENSE_SEAL_PKCS12", "", str,
            "the issuing authority's seal key, certificate and chain as one PKCS#12 file "
            "(.p12/.pfx); or LICENSE_SEAL_KEY + LICENSE_SEAL_CERT. None set = development "
            "certificates made once under var/seal/ (production refuses)"),
    Setting("LICENSE_SEAL_KEY", "", str, "the seal's private key file, PEM or DER"),
    Setting("LICENSE_SEAL_CERT", "", str, "the seal's certificate file, PEM or DER"),
    Setting("LICENSE_SEAL_CHAIN", "", str,
            "the CA certificates above the seal's, one PEM file (embedded in each signature)"),
    Setting("LICENSE_SEAL_PASSPHRASE", "", str, "unlocks the PKCS#12 file or the key"),
    Setting("LICENSE_SEAL_TIMESTAMP_URL", "", str,
            "an RFC 3161 timestamp service: seals become PAdES B-T; empty = B-B (the signing "
            "time is this server's clock)"),
    Setting("LICENSE_CACHE_SECONDS", 600, int,
            "how long a web process keeps a valid public verdict (a change drops it at once)"),
    Setting("LICENSE_CACHE_ENTRIES", 5_000, int,
            "valid public verdicts a web process keeps at most (~1.3 KB each, ~7 KB once its "
            "page was shown: at most ~35 MB)"),
    Setting("ELICENSE_ISSUER_CODES", "", str,
            "统一社会信用代码 of each issuing unit per county, for 证照标识 (GB/T 36904): "
            "COUNTY/UNIT=CODE,… (140105/approval_bureau=11140105MB0123456U: the county's "
            "approval bureau issues the combined license and its own permits; other catalog "
            "units their own). A unit not listed gets a stand-in code flagged estimated"),
    Setting("ELICENSE_LIBRARY_URL", "", str,
            "base URL of the province's e-license library (elicense_library/README.md); "
            "every issue, change and status change is pushed there through the outbox; "
            "empty = pushes are kept queued (the console's 消息投递 page says so) and sent "
            "once it is set; `make run` sets the emulator's"),
    Setting("ELICENSE_LIBRARY_TIMEOUT_SECONDS", 20.0, float,
            "timeout of one push to the e-license library (it carries the sealed PDF)"),
    Setting("ELICENSE_DOWNLOAD_TTL_SECONDS", 300, int,
            "lifetime of the link a holder gets to download an e-license (用证)"),
    Setting("PUBLIC_VERIFY_RATE_LIMIT", "60 per minute", str,
            "public verification requests per client address, the page and its JSON "
            "twin counted together"),
    Setting("WORKER_POLL_SECONDS", 5.0, float, "how often the worker looks for due work"),
    # 政务服务"好差评" (国办发〔2019〕51号; backend/services/ratings.py)
    Setting("RATING_WINDOW_DAYS", 30, int,
            "calendar days after a case closes (licensed, refused, not accepted, withdrawn "
            "after acceptance) during which the applicant may rate it, once"),
    Setting("RECTIFICATION_WORKING_DAYS", 15, int,
            "working days a unit has to verify a 不满意 / 非常不满意 rating, follow up with the "
            "applicant and close its rectification task; later, the task is overdue"),
    # 档案: the archive package of every closed case (backend/services/archive.py, docs/archive.md)
    Setting("ARCHIVE_RETENTION_YEARS", "licensed:30,refused:10,not_accepted:10,withdrawn:10",
            str,
            "retention per record class (how the case closed), in years from closing, or "
            "permanent; comma-separated class:years; a class left out is kept permanently"),
    Setting("ARCHIVE_PERSONAL_DATA_KEYS", "", str,
            "comma-separated Fernet keys (base64url of 32 bytes) encrypting the personal data "
            "inside packages (ID-card and phone numbers, identity documents); the first "
            "encrypts, every one decrypts (rotation); empty = derived from SECRET_KEY "
            "(development; production refuses)"),
    Setting("ARCHIVE_SOURCE_ORGANIZATION", "山西省“一业一证”审批服务", str,
            "bag-info Source-Organization of every package (the archiving body)"),
    # notifications (notifications/README.md)
    Setting("NOTIFY_TEMPLATES_PATH", "", str,
            "per-event messages and WeChat template ids; empty = notifications/templates.yaml"),
    Setting("WECHAT_MINIPROGRAM_STATE", "formal", str,
            "which mini-program a subscribe message opens: formal | trial | developer"),
    Setting("NOTIFY_TICK_SECONDS", 60.0, float, "how often the worker runs the periodic tick"),
    Setting("NOTIFY_REMINDER_HOUR", 9, int,
            "Beijing hour from which the day's reminders and staff overdue lists go out"),
    Setting("NOTIFY_LEASE_SECONDS", 60.0, float,
            "a claimed delivery's lease: longer than one send (WeChat and webhook timeouts)"),
    Setting("NOTIFY_RETRY_BASE_SECONDS", 30.0, float, "first retry delay; doubles per attempt"),
    Setting("NOTIFY_RETRY_MAX_SECONDS", 3600.0, float, "longest delay between two attempts"),
    Setting("NOTIFY_MAX_ATTEMPTS", 15, int, "attempts before a delivery is marked failed"),
    Setting("NOTIFY_WEBHOOK_TIMEOUT_SECONDS", 10.0, float, "timeout of one department webhook"),
    Setting("WEBHOOK_ALLOW_PRIVATE", False, _bool,
            "let department webhooks go to loopback, private, link-local and other non-public "
            "addresses (a receiver on 127.0.0.1 in tests and development); off, such URLs are "
            "refused when configured and at every send; production refuses true"),
    Setting("NOTIFY_FEED_SETTLE_SECONDS", 30.0, float,
            "age before a department record shows in the pull feed (commit-order safety)"),
    Setting("MEDIA_ORPHAN_GRACE_HOURS", 24.0, float,
            "age before a stored file no row refers to is deleted by the tick"),
    Setting("LOG_LEVEL", "INFO", str, "DEBUG | INFO | WARNING | ERROR"),
    # Prometheus metrics (backend/metrics.py, docs/operations.md)
    Setting("METRICS_TOKEN", "", str,
            "bearer token a Prometheus scrape of /metrics must send (Authorization: Bearer …); "
            "empty = /metrics answers 404; production: at least 32 characters, e.g. "
            "secrets.token_urlsafe(32)"),
    Setting("METRICS_DIR", "", str,
            "where gunicorn's worker processes keep their request counts for /metrics, in a "
            "subdirectory named by PORT (prometheus_client's PROMETHEUS_MULTIPROC_DIR, set by "
            "config/gunicorn.conf.py and emptied when gunicorn starts); empty = var/metrics"),
    Setting("PUBLIC_BASE_URL", "", str,
            "where this service is reached; empty = the served address (HOST, PORT); "
            "production: required, https"),
    Setting("HOST", "127.0.0.1", str, "address gunicorn binds (config/gunicorn.conf.py)"),
    Setting("PORT", 8000, int, "port gunicorn serves"),
    Setting("WEB_THREADS", 32, int,
            "threads per web process (config/gunicorn.conf.py), and database connections "
            "each keeps; most wait (slow uploads, image processes, the database)"),
    Setting("WEB_PIN_CPUS", True, _bool,
            "with two or more web processes, run each on a CPU of its own "
            "(config/gunicorn.conf.py): its threads hand the GIL to each other on one core"),
    Setting("PROXY_FIX_X_FOR", 0, int,
            "reverse proxies in front that append X-Forwarded-For (the client's address for "
            "rate limits and logs is the entry the outermost one appended); 0 = no proxy, "
            "the socket's peer is the client"),
    Setting("FORWARDED_ALLOW_IPS", "127.0.0.1,::1", str,
            "addresses or CIDR networks of the proxies whose X-Forwarded-* headers are "
            "believed (gunicorn and the app read this one list); * = any peer"),
)


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build with :func:`load` (env) and override in tests."""

    values: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def database_url(self) -> str:
        if self.values["DATABASE_URL"]:
            return self.values["DATABASE_URL"]
        var = PROJECT_ROOT / "var"
        var.mkdir(exist_ok=True)
        return f"sqlite:///{var / 'yiye.db'}"

    def flask_config(self) -> dict[str, Any]:
        return dict(self.values) | {"SQLALCHEMY_DATABASE_URI": self.database_url}


class SettingsError(ValueError):
    """A setting that would make the service unsafe or unable to run."""


def load(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read the table from the environment; ``overrides`` (tests) win over both.

    Values lose surrounding whitespace: no setting has meaningful leading or trailing spaces,
    and a space left after a value in a .env file or a secrets store must not make
    ``"dev-secret "`` pass for a real secret (nor ``" "`` for a set value).
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for s in SETTINGS:
        raw = (environ.get(s.env) or "").strip()
        values[s.env] = _coerce(s, raw) if raw else s.default
    values.update(overrides)
    for name in SERVED_ADDRESS_DEFAULTS:
        values[name] = values[name] or served_origin(values["HOST"], values["PORT"])
    _check(values)
    return Settings(values)


def _coerce(setting: Setting, raw: str) -> Any:
    """Numbers in ASCII digits only: int() and float() would also read ٣ or ３ as 3."""
    try:
        if setting.coerce in (int, float) and not raw.isascii():
            raise ValueError(raw)
        return setting.coerce(raw)
    except ValueError:
        raise SettingsError(f"{setting.env} must be a number in ASCII digits") from None


SERVED_ADDRESS_DEFAULTS = ("LICENSE_VERIFY_BASE_URL", "PUBLIC_BASE_URL")


def served_origin(host: str, port: int) -> str:
    """The origin gunicorn serves on: a QR printed by `PORT=9000 make run` must open port 9000.

    A wildcard bind (0.0.0.0, ::) names no address a phone could use, so it stands for the
    loopback; anything reached from elsewhere sets the base URLs explicitly (production must).
    """
    host = "127.0.0.1" if host in {"", "0.0.0.0", "::"} else host  # noqa: S104 - compared only
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _check(values: Mapping[str, Any]) -> None:
    """Refuse, at load, settings that cannot run or would be unsafe in production.

    APP_ENV is matched exactly in every environment (after the surrounding whitespace
    every value loses): a near miss ("Production", "prod") would otherwise run production
    with every guard below switched off.
    """
    if values["APP_ENV"] not in APP_ENVS:
        raise SettingsError(f"APP_ENV must be exactly one of {', '.join(APP_ENVS)}, "
                            f"not {values['APP_ENV']!r}")
    if values["WECHAT_MINIPROGRAM_STATE"] not in {"formal", "trial", "developer"}:
        raise SettingsError("WECHAT_MINIPROGRAM_STATE must be formal, trial or developer")
    if values["WEB_THREADS"] < 1:
        raise SettingsError("WEB_THREADS must be at least 1")
    if values["IMAGE_PROCESSES"] < 0:
        raise SettingsError("IMAGE_PROCESSES must be 0 (in the request's thread) or more")
    if not 1 <= values["RATING_WINDOW_DAYS"] <= 3650:
        raise SettingsError("RATING_WINDOW_DAYS must be between 1 and 3650")
    if not 1 <= values["RECTIFICATION_WORKING_DAYS"] <= 250:
        raise SettingsError("RECTIFICATION_WORKING_DAYS must be between 1 and 250 "
                            "(about a year of working days)")
    if values["STATISTICS_LOW_VOLUME_CASES"] < 0:
        raise SettingsError("STATISTICS_LOW_VOLUME_CASES must be 0 (flag none) or more")
    if values["PROXY_FIX_X_FOR"] < 0:
        raise SettingsError("PROXY_FIX_X_FOR must be 0 (no proxy) or the number of proxies")
    try:
        proxies.networks(values["FORWARDED_ALLOW_IPS"])
    except ValueError as error:
        raise SettingsError(f"FORWARDED_ALLOW_IPS: {error}") from None
    try:
        elicense_ids.parse_issuer_codes(values["ELICENSE_ISSUER_CODES"])
    except ValueError as error:
        raise SettingsError(f"ELICENSE_ISSUER_CODES: {error}") from None
    if values["ELICENSE_LIBRARY_URL"] and (
            problem := base_url_problem(values["ELICENSE_LIBRARY_URL"], https=False)):
        raise SettingsError(f"ELICENSE_LIBRARY_URL {problem}")
    from backend.services import archive_rules  # noqa: PLC0415

    try:
        archive_rules.retention_years(values["ARCHIVE_RETENTION_YEARS"])
        archive_rules.personal_keys(values["ARCHIVE_PERSONAL_DATA_KEYS"], "x")
    except ValueError as error:
        raise SettingsError(str(error)) from None
    if values["MEDIA_S3_ENDPOINT"]:
        if problem := base_url_problem(values["MEDIA_S3_ENDPOINT"], https=False):
            raise SettingsError(f"MEDIA_S3_ENDPOINT {problem}")
        if not values["MEDIA_S3_BUCKET"]:
            raise SettingsError("MEDIA_S3_BUCKET must name the bucket with MEDIA_S3_ENDPOINT")
    if values["ELICENSE_DOWNLOAD_TTL_SECONDS"] < 1:
        raise SettingsError("ELICENSE_DOWNLOAD_TTL_SECONDS must be at least 1")
    production = values["APP_ENV"] == "production"
    for name in SERVED_ADDRESS_DEFAULTS:
        if problem := base_url_problem(values[name], https=production):
            raise SettingsError(f"{name} {problem}")
    if production:
        _check_production(values)
    if problem := seals.settings_problem(values, production=production):
        raise SettingsError(problem)
    from backend.services import scorecard  # noqa: PLC0415 - the services import the settings' users

    try:
        scorecard.load_weights(Path(values["SCORECARD_PATH"]))
    except scorecard.WeightsInvalid as error:
        raise SettingsError(f"SCORECARD_PATH {error}") from None


PRODUCTION_DATABASES = ("mysql", "mariadb")  # PRODUCT.md: SQLite is for trying out only


def _check_production(values: Mapping[str, Any]) -> None:
    """PRODUCT.md's production: MySQL/MariaDB, Redis, real WeChat, own keys and secrets."""
    try:
        backend = make_url(values["DATABASE_URL"]).get_backend_name() \
            if values["DATABASE_URL"] else "sqlite"
    except ArgumentError:
        raise SettingsError("DATABASE_URL is not a database URL") from None
    if backend not in PRODUCTION_DATABASES:
        raise SettingsError("production requires DATABASE_URL of MySQL/MariaDB "
                            "(mysql+pymysql://…); SQLite is for trying out only")
    if urlsplit(values["REDIS_URL"]).scheme not in {"redis", "rediss", "unix"}:
        raise SettingsError("production requires REDIS_URL (redis://…): without it rate "
                            "limits are counted per process and the worker runs in the web "
                            "process")
    # the emulator is for development and tests only: production talks to WeChat itself
    if values["WECHAT_API_BASE"] != WECHAT_PRODUCTION_BASE:
        raise SettingsError(f"production requires WECHAT_API_BASE={WECHAT_PRODUCTION_BASE}")
    if values["WEBHOOK_ALLOW_PRIVATE"]:
        raise SettingsError("production refuses WEBHOOK_ALLOW_PRIVATE=true: an administrator "
                            "could point a webhook at our own network (SSRF)")
    if values["MEDIA_S3_ENDPOINT"] and not (values["MEDIA_S3_ACCESS_KEY"]
                                            and values["MEDIA_S3_SECRET_KEY"]):
        raise SettingsError("production requires MEDIA_S3_ACCESS_KEY and MEDIA_S3_SECRET_KEY "
                            "with MEDIA_S3_ENDPOINT: applicants' files in a bucket anyone "
                            "on the network could read")
    defaults = {s.env: s.default for s in SETTINGS}
    for name in ("WECHAT_APPID", "WECHAT_SECRET", "LICENSE_SIGNING_KEYS",
                 "LICENSE_ACTIVE_KEY_ID"):
        if values[name] == defaults[name]:
            raise SettingsError(f"production requires {name} (the default is for development)")
    if values["METRICS_TOKEN"] and len(values["METRICS_TOKEN"]) < METRICS_TOKEN_MIN_CHARS:
        raise SettingsError(f"production METRICS_TOKEN must be at least "
                            f"{METRICS_TOKEN_MIN_CHARS} characters (or empty: no /metrics)")
    if problem := secret_key_problem(values["SECRET_KEY"]):
        raise SettingsError(f"production SECRET_KEY {problem}")
    if not values["ARCHIVE_PERSONAL_DATA_KEYS"]:
        raise SettingsError("production requires ARCHIVE_PERSONAL_DATA_KEYS (a Fernet key: "
                            "python -c 'from cryptography.fernet import Fernet; "
                            "print(Fernet.generate_key().decode())'); keep it apart from "
                            "the archive, the personal data in packages is encrypted with it")
    try:
        keyring = Keyring.from_settings(values["LICENSE_SIGNING_KEYS"],
                                        values["LICENSE_ACTIVE_KEY_ID"],
                                        values["LICENSE_RETIRED_KEY_IDS"])
    except ValueError as error:
        raise SettingsError(f"LICENSE_SIGNING_KEYS / LICENSE_ACTIVE_KEY_ID: {error}") from None
    if keyring.holds_development_key():
        raise SettingsError("LICENSE_SIGNING_KEYS holds the development key or its kid "
                            "(public: anyone could mint valid codes); make a key with "
                            "`python -m backend.security.signatures KID`")


def base_url_problem(url: str, *, https: bool) -> str | None:
    """Why ``url`` cannot be the base of the links we print (QR codes, file links), or None.

    It needs a scheme and a real host, at most a path prefix after it (no user, query or
    fragment, which every link appended to it would carry along) and, when ``https``, the
    https scheme: ``https://`` alone would print QR codes no phone can open.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port outside 0–65535 or not a number
    except ValueError:
        return f"is not a URL: {url!r}"
    if https and parts.scheme != "https":
        return f"must be set to an https:// URL in production, not {url!r}"
    if parts.scheme not in {"http", "https"}:
        return f"must start with http:// or https://, not {url!r}"
    host = parts.hostname or ""
    if not host or not all(ch.isascii() and (ch.isalnum() or ch in ".-:") for ch in host) \
            or "@" in parts.netloc or parts.query or parts.fragment or "?" in url or "#" in url:
        return f"must be scheme://host[:port][/path-prefix], nothing else: {url!r}"
    return None


def secret_key_problem(key: str) -> str | None:
    """Why ``key`` is too weak for production, or None.

    The rule: at least 32 characters, not derived from the development key, and at least
    128 bits (10^38.5 guesses) by the zxcvbn estimator, which counts repeats, sequences,
    keyboard walks and dictionary words for little. What ``secrets.token_urlsafe(32)``
    (43 characters, 256 random bits) prints passes; 32 hex characters (128 bits, but
    estimated as 10^32 guesses) do not.
    """
    if len(key) < SECRET_KEY_MIN_CHARS:
        return f"must be at least {SECRET_KEY_MIN_CHARS} characters"
    if DEV_SECRET_KEY in key.lower():
        return "must not be derived from the development key"
    estimate = zxcvbn(key[:_ESTIMATOR_MAX_CHARS], user_inputs=list(_KEY_WORDS),
                      max_length=_ESTIMATOR_MAX_CHARS)
    bits = float(estimate["guesses_log10"]) * math.log2(10)
    if bits < SECRET_KEY_MIN_BITS:
        return (f"is guessable (about {bits:.0f} bits, {SECRET_KEY_MIN_BITS} needed); "
                "use e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    return None
