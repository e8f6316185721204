"""Fixtures: real MariaDB and Redis started for the run, the WeChat emulator over real HTTP,
and one app per database backend — every test that takes ``app`` runs on SQLite AND MariaDB.

Isolation is by cleaning rows after each test (not a rolled-back transaction) so that code
which commits, and later workers in other processes, see real committed data.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import flask_migrate
import pytest
from argon2 import PasswordHasher
from flask import Flask
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import delete, func
from sqlalchemy.orm import Session

from backend import rate_limits
from backend.app import create_app
from backend.extensions import db
from backend.models import CatalogIndustry, CatalogPermitItem, CatalogVersion
from backend.services import catalog, public_records
from backend.services import staff as staff_service
from config import settings as settings_module
from elicense_library.server import serve_in_thread as serve_library
from tests import browser as browser_tools
from tests import live, servers
from tests.envelopes import EnvelopeCheckingClient
from wechat_emulator.server import serve_in_thread

APPID, SECRET = "wx-test-appid", "test-secret"
STAFF_PASSWORD = "lantern-orchard-quietly-58"  # passes the zxcvbn check of staff passwords
CATALOG_FILE = Path(__file__).resolve().parent.parent / "config" / "catalog" / "catalog.yaml"


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="yiye-test-") as d:
        yield Path(d)


@pytest.fixture(scope="session")
def redis_url(workdir: Path) -> Iterator[str]:
    yield from _external_or_started("TEST_REDIS_URL", workdir / "redis", servers.start_redis)


@pytest.fixture(scope="session")
def mariadb_url(workdir: Path) -> Iterator[str]:
    yield from _external_or_started("TEST_MARIADB_URL", workdir / "mariadb",
                                    servers.start_mariadb)


@pytest.fixture(scope="session")
def seaweedfs(workdir: Path) -> Iterator[str]:
    """A real S3 endpoint (SeaweedFS, tests/servers.py) with the bucket ``servers.S3_BUCKET``
    and the credentials ``servers.S3_ACCESS_KEY`` / ``S3_SECRET_KEY``; started on first use."""
    yield from _external_or_started("TEST_S3_URL", workdir / "seaweedfs",
                                    servers.start_seaweedfs)


def _external_or_started(variable: str, directory: Path, start) -> Iterator[str]:
    """The server's URL: the one ``variable`` names, else one started in ``directory`` for
    the session and stopped after it."""
    if url := servers.external(variable):
        yield url
        return
    directory.mkdir()
    server = start(directory)
    yield server.url
    server.stop()


@pytest.fixture
def s3_store(seaweedfs: str):
    """An S3 media store on the test SeaweedFS, under a key prefix of its own per test."""
    from media.store import S3MediaStore, s3_client  # noqa: PLC0415

    client = s3_client(endpoint=seaweedfs, region="us-east-1",
                       access_key=servers.S3_ACCESS_KEY, secret_key=servers.S3_SECRET_KEY)
    return S3MediaStore(client, servers.S3_BUCKET, b"k" * 32, prefix=f"t-{uuid.uuid4().hex}/")


@pytest.fixture(scope="session")
def emulator():
    with serve_in_thread(APPID, SECRET) as server:
        yield server


@pytest.fixture(scope="session")
def library():
    """The e-license library emulator (elicense_library), where every test app pushes."""
    with serve_library() as server:
        yield server


def make_settings(**overrides) -> settings_module.Settings:
    """Test settings: nothing read from the real environment."""
    base = {"APP_ENV": "test", "SECRET_KEY": "test-secret-key-" + "x" * 32,
            "WECHAT_APPID": APPID, "WECHAT_SECRET": SECRET, "LOG_LEVEL": "WARNING",
            "WECHAT_TIMEOUT_SECONDS": 3.0,
            # the tests' department receivers listen on 127.0.0.1; the refusal of such
            # addresses is tested with this off (test_notifications_api.py)
            "WEBHOOK_ALLOW_PRIVATE": True}
    return settings_module.load(environ={}, **(base | overrides))


@pytest.fixture(scope="session")
def _apps() -> Iterator[dict[str, Flask]]:
    """The apps made so far, by backend, kept for the whole session: pytest tears a
    parametrized session fixture down whenever the parameter changes, and under
    pytest-xdist a worker's tests switch backends often — the app itself is made once."""
    made: dict[str, Flask] = {}
    yield made
    for app in made.values():
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "mariadb"])
def app(request, _apps, workdir: Path, redis_url: str, emulator, library) -> Flask:
    """The app on one backend, migrated from empty by Alembic, with the catalog loaded."""
    if request.param in _apps:
        return _apps[request.param]
    if request.param == "sqlite":
        database_url = f"sqlite:///{workdir / 'test.db'}"
    else:
        database_url = request.getfixturevalue("mariadb_url")
    app = create_app(make_settings(DATABASE_URL=database_url, REDIS_URL=redis_url,
                                   WECHAT_API_BASE=emulator.base_url,
                                   ELICENSE_LIBRARY_URL=library.base_url,
                                   MEDIA_ROOT=str(workdir / f"media-{request.param}")))
    app.test_client_class = EnvelopeCheckingClient  # every error answer of the suite checked
    with app.app_context():
        flask_migrate.upgrade()
        catalog.load(db.session, CATALOG_FILE, loaded_by="tests")
        db.session.commit()
    _apps[request.param] = app
    return app


@pytest.fixture(autouse=True)
def _clean_state(request) -> Iterator[None]:
    """After each test: delete every row but the baseline catalog; reset Redis and the
    emulators."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        db.session.rollback()
        # every license the test made or changed still has the public record a scan reads
        # (asserted once the rows are gone, so the next test starts clean either way)
        stale = public_records.stale(db.session.connection())
        db.session.rollback()
        baseline = [db.session.query(func.min(CatalogVersion.id)).scalar()]
        for table in reversed(db.metadata.sorted_tables):
            if table.name in {"catalog_versions", "catalog_industries", "catalog_permit_items",
                              "calendar_days", "alembic_version"}:
                continue
            db.session.execute(delete(table))
        for model in (CatalogIndustry, CatalogPermitItem):
            db.session.execute(delete(model).where(model.version_id.not_in(baseline)))
        db.session.execute(delete(CatalogVersion).where(CatalogVersion.id.not_in(baseline)))
        db.session.commit()
        catalog.versions_changed()
        shutil.rmtree(app.extensions["settings"].MEDIA_ROOT, ignore_errors=True)
        app.extensions["verdicts"].clear()
        redis = app.extensions["redis"]
        if redis is not None:
            redis.flushdb()
            rate_limits.forget_held()
    request.getfixturevalue("emulator").reset()
    request.getfixturevalue("library").reset()
    assert stale == [], f"public records stale: {stale}"


FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch):
    """argon2 at production cost takes ~120 ms a hash; tests use cheap parameters."""
    monkeypatch.setattr(staff_service, "_hasher", FAST_HASHER)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def set_settings(app, monkeypatch):
    """Change settings of the running app for one test, e.g. a rate limit: what is read
    per request (limits, lifetimes) follows at once."""

    def _set(**changes) -> None:
        values = dict(app.extensions["settings"].values) | changes
        monkeypatch.setitem(app.extensions, "settings", settings_module.Settings(values))

    return _set


@pytest.fixture
def session(app) -> Iterator[Session]:
    """A session of the test's own, for arranging and asserting.

    Autocommit, so each read sees what requests committed (MariaDB's REPEATABLE READ would
    otherwise freeze the test's view), and no app context left pushed, so every request
    gets a fresh session as in production.
    """
    with app.app_context():
        engine = db.engine
    with Session(engine.execution_options(isolation_level="AUTOCOMMIT")) as own:
        yield own


@pytest.fixture
def login(client):
    """Log an applicant in through the real WeChat flow; returns auth headers."""

    def _login(user: str = "alice", *, consent: bool = True) -> dict[str, str]:
        code = f"test-{user}.{uuid.uuid4().hex[:8]}"
        resp = client.post("/api/mp/v1/auth/login", json={"code": code})
        assert resp.status_code == 200, resp.json
        headers = {"Authorization": f"Bearer {resp.json['token']}"}
        if consent:  # the privacy notice, agreed to before anything personal is given
            live.agree_to_privacy_notice(client, headers)
        return headers

    return _login


@pytest.fixture
def staff_login(client, session):
    """Create a staff account and log it in through the staff API; returns (headers, id)."""
    made = iter(range(1, 1000))

    def _login(role: str, unit: str | None = None) -> tuple[dict[str, str], int]:
        username = f"{role[:12]}-{unit or 'all'}-{next(made)}"
        account = staff_service.create(session, username=username, display_name=username,
                                       role=role, unit_code=unit, password=STAFF_PASSWORD)
        session.commit()
        resp = client.post("/api/staff/v1/auth/login",
                           json={"username": username, "password": STAFF_PASSWORD})
        assert resp.status_code == 200, resp.json
        return {"Authorization": f"Bearer {resp.json['token']}"}, account.id

    return _login


@pytest.fixture(scope="session")
def _live_servers() -> Iterator[dict[str, live.LiveServer]]:
    """The live servers started so far, by mode, stopped at the end of the session (kept
    across parameter switches, as ``_apps``)."""
    started: dict[str, live.LiveServer] = {}
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture(scope="session", params=["embedded", "mariadb-redis"])
def live_server(request, _live_servers, workdir: Path) -> live.LiveServer:
    """The service as `make run` starts it (tests/live.py), over real HTTP: once on the
    embedded default (SQLite file, no Redis), once on MariaDB + Redis with the worker process.

    Its own database and Redis db, so the ``app`` fixture's cleaning never touches it (a
    TEST_MARIADB_URL user needs CREATE on ``yiye_%``, as tests/servers.py grants). The public
    verification limit is small (``live.PUBLIC_VERIFY_LIMIT`` per minute per client address):
    tests that count requests use a client address of their own (``client(source_address=)``).
    """
    if request.param in _live_servers:
        return _live_servers[request.param]
    root = workdir / f"live-{request.param}"
    if request.param == "embedded":
        env = live.environment(root, database_url=f"sqlite:///{root / 'yiye.db'}")
    else:
        redis_url = request.getfixturevalue("redis_url").rsplit("/", 1)[0] + "/1"
        database_url = live.fresh_database(request.getfixturevalue("mariadb_url"), "yiye_live")
        env = live.environment(root, database_url=database_url, redis_url=redis_url)
    server = live.LiveServer(request.param, env, root)
    _live_servers[request.param] = server
    return server.start()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Debian's chromium under Playwright (tests/browser.py), one for the whole session."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_tools.executable(),
                                             args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def console(chromium, live_server) -> Iterator[browser_tools.Console]:
    """A signed-out console tab at 1366×768 on the live server; closed after the test."""
    tab = browser_tools.new_console(chromium, live_server)
    yield tab
    tab.page.context.close()


@pytest.fixture
def desk(chromium, live_server) -> Iterator[Callable[[str], browser_tools.Console]]:
    """``desk(username)``: that staff member's own signed-in tab (a browser context of its
    own, as each works at their own desk), saying yes to confirmations; closed after."""
    tabs: dict[str, browser_tools.Console] = {}

    def at(username: str) -> browser_tools.Console:
        if username not in tabs:
            tabs[username] = browser_tools.new_console(chromium, live_server)
            tabs[username].sign_in(username)
            tabs[username].confirm_every_action()
        return tabs[username]

    yield at
    for tab in tabs.values():
        tab.page.context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test over a live server shows that server's logs."""
    report = yield
    server = getattr(item, "funcargs", {}).get("live_server")
    if report.failed and server is not None:
        report.sections.append((f"live server ({server.mode}) logs", server.logs()))
    return report
