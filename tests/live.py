"""The service as `make run` starts it, for tests over real HTTP.

Behaviour that exists only under the real server (gunicorn's sendfile, several worker
processes, the separate worker, ports) is invisible to Flask's test client. This starts the
processes of ``Procfile.dev`` with the preparation of the Makefile's ``migrate`` target, both
read from those files so the tier cannot drift from `make run`; only the environment differs
(a temporary database and MEDIA_ROOT, free ports, the test MariaDB and Redis).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
from gunicorn.ctl.client import ControlClient, ControlClientError
from requests.adapters import HTTPAdapter
from sqlalchemy import create_engine, make_url

from config.settings import SETTINGS
from config.settings import load as load_settings
from media import store as media_store
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the project's .venv/bin, as `make run` puts it on PATH
DEMO_PASSWORD = "demo-password-1"  # noqa: S105 - README's demo staff password
METRICS_TOKEN = "live-metrics-token-" + "m" * 16  # noqa: S105 - the scrape's bearer token
PUBLIC_VERIFY_LIMIT = 20  # per minute, small enough to prove the limit over HTTP
# what the environment of `make run` may carry that must not leak into a test server
PROCESS_ENV = ("HOST", "PORT", "WEB_CONCURRENCY", "WEB_THREADS", "WEB_TIMEOUT",
               "WECHAT_EMULATOR_PORT", "ELICENSE_LIBRARY_PORT", "FLASK_APP",
               "DEMO_STAFF_PASSWORD",
               # config/gunicorn.conf.py sets it for its own workers (a test that reads that
               # file leaves it in this process); the worker and the migrations count nothing
               "PROMETHEUS_MULTIPROC_DIR")


def procfile(path: Path = ROOT / "Procfile.dev") -> dict[str, list[str]]:
    """``name: command`` lines of a Procfile."""
    lines = (line.split(":", 1) for line in path.read_text().splitlines() if ":" in line)
    return {name.strip(): shlex.split(command) for name, command in lines}


def migrate_commands(path: Path = ROOT / "Makefile") -> list[list[str]]:
    """Arguments of the ``$(BIN)/flask …`` lines of the Makefile's ``migrate`` recipe (the
    system-package script aside: `make test` has run it)."""
    recipe = re.search(r"^migrate:.*\n((?:\t.*\n)+)", path.read_text(), re.MULTILINE)
    assert recipe, "the Makefile has no migrate target"
    lines = [line.strip() for line in recipe.group(1).splitlines()]
    assert all(line.startswith(("$(BIN)/flask ", "./scripts/")) for line in lines), lines
    return [shlex.split(line)[1:] for line in lines if line.startswith("$(BIN)/flask ")]


# the `flask …` commands one after another in one interpreter: each loads the app afresh as
# its own process would, without paying the imports four times
RUN_FLASK_COMMANDS = """
import json, sys
from flask.cli import cli
for args in json.loads(sys.argv[1]):
    cli.main(args=args, prog_name="flask", standalone_mode=False)
"""


class Response:
    """A requests response shaped like Flask's test response, so the suite's helpers work."""

    def __init__(self, resp: requests.Response) -> None:
        self.raw = resp
        self.status_code = resp.status_code
        self.headers = resp.headers
        self.data = resp.content

    @property
    def json(self):
        is_json = self.headers.get("Content-Type", "").startswith("application/json")
        return self.raw.json() if is_json else None


class Client:
    """``get/post/patch/put/delete(path, json=, data=, headers=, content_type=)`` over HTTP."""

    def __init__(self, base_url: str, source_address: str | None = None,
                 seen: list[requests.Response] | None = None) -> None:
        self.base_url = base_url
        self.seen = seen  # every response appended, when given (the cluster's served-by)
        self.http = requests.Session()
        if source_address:  # another client address, e.g. 127.0.0.2 for a fresh rate limit
            adapter = SourceAddressAdapter(source_address)
            self.http.mount("http://", adapter)

    def open(self, method: str, path: str, *, headers=None, content_type=None,
             **kwargs) -> Response:
        headers = dict(headers or {})
        if content_type:
            headers["Content-Type"] = content_type
        url = path if path.startswith("http") else self.base_url + path
        resp = self.http.request(method, url, headers=headers, timeout=30, **kwargs)
        if self.seen is not None:
            self.seen.append(resp)
        return Response(resp)

    def get(self, path: str, **kwargs) -> Response:
        return self.open("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> Response:
        return self.open("POST", path, **kwargs)

    def patch(self, path: str, **kwargs) -> Response:
        return self.open("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs) -> Response:
        return self.open("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs) -> Response:
        return self.open("DELETE", path, **kwargs)


class SourceAddressAdapter(HTTPAdapter):
    """Connections from a chosen loopback address (any of 127.0.0.0/8 reaches 127.0.0.1)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__(pool_maxsize=32)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        return super().init_poolmanager(*args, **kwargs)


@dataclass
class LiveServer:
    """One running service: ``base_url``, its environment and helpers to sign people in."""

    mode: str
    env: dict[str, str]
    workdir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return int(self.env["PORT"])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def media_root(self) -> Path:
        return Path(self.env["MEDIA_ROOT"])

    @property
    def library_url(self) -> str:
        """The e-license library emulator's base URL (its holdings: ``_emulator/log``)."""
        return self.env["ELICENSE_LIBRARY_URL"]

    def client(self, source_address: str | None = None) -> Client:
        return Client(self.base_url, source_address)

    def login_applicant(self, user: str = "alice", *, consent: bool = True) -> dict[str, str]:
        """Auth headers of an applicant, through the WeChat emulator as a phone would; with
        ``consent``, having agreed to the privacy notice in force, as the mini-program asks
        before anything else."""
        resp = self.client().post("/api/mp/v1/auth/login",
                                  json={"code": f"test-{user}.{uuid.uuid4().hex[:8]}"})
        assert resp.status_code == 200, resp.json
        headers = {"Authorization": f"Bearer {resp.json['token']}"}
        if consent:
            agree_to_privacy_notice(self.client(), headers)
        return headers

    def login_staff(self, username: str, password: str = DEMO_PASSWORD) -> tuple[dict, dict]:
        """(auth headers, staff record) of a demo account (`flask staff demo`)."""
        resp = self.client().post("/api/staff/v1/auth/login",
                                  json={"username": username, "password": password})
        assert resp.status_code == 200, resp.json
        return {"Authorization": f"Bearer {resp.json['token']}"}, resp.json["staff"]

    def stored(self, url: str) -> tuple[str, bytes]:
        """(sha256, bytes in the media store: MEDIA_ROOT or the bucket) of the file a signed
        ``/files/{token}`` link names."""
        payload = urlsplit(url).path.rsplit("/", 1)[1].split(".")[0]
        sha256 = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).split(b":")[0]
        digest = sha256.decode()
        store = media_store.from_settings(load_settings(environ=self.env), b"-" * 32)
        with store.open(digest) as f:
            return digest, f.read()

    def logs(self) -> str:
        tails = (f"----- {path.name} -----\n{path.read_text(errors='replace')[-20000:]}"
                 for path in sorted((self.workdir / "logs").glob("*.log")))
        return f"timings (s): {self.timings}\n" + "\n".join(tails)

    def start(self) -> LiveServer:
        """Prepare the database as ``make migrate`` does, then start the Procfile.dev processes."""
        logs = self.workdir / "logs"
        started = time.monotonic()
        self.migrate()
        commands = procfile()
        names = ["web", "wechat", "library"] + (["worker"] if self.env.get("REDIS_URL") else [])
        for name in names:
            log = (logs / f"{name}.log").open("ab")
            self.processes[name] = subprocess.Popen(
                commands[name], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
            log.close()
        self._wait_ready()
        self.timings["start"] = time.monotonic() - started - self.timings["migrate"]
        return self

    def migrate(self) -> None:
        """The database prepared as ``make migrate`` prepares it (and the demo story)."""
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with (logs / "migrate.log").open("ab") as log:
            subprocess.run([sys.executable, "-c", RUN_FLASK_COMMANDS,
                            json.dumps(migrate_commands())],
                           cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                           check=True, timeout=180)
        self.timings["migrate"] = time.monotonic() - started

    def _wait_ready(self, timeout: float = 60.0) -> None:
        emulator = f"http://127.0.0.1:{self.env['WECHAT_EMULATOR_PORT']}/"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}\n{self.logs()}")
            try:
                if (requests.get(self.base_url + "/readyz", timeout=5).status_code == 200
                        and requests.get(emulator, timeout=2).status_code < 500
                        and requests.get(self.library_url, timeout=2).status_code == 200
                        and all(w["last_heartbeat"] >= 0 for w in self.web_workers())):
                    return
            except requests.RequestException:  # a worker still booting may not answer yet
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the service is not ready after {timeout}s\n{self.logs()}")

    def web_workers(self) -> list[dict]:
        """gunicorn's worker processes, from its control socket (``gunicornc show workers``).

        ``last_heartbeat`` turns non-negative once a worker has loaded the app and serves: the
        first worker's /readyz says nothing of the others, still booting on a busy machine.
        """
        try:
            with ControlClient(str(self.workdir / "gunicorn.ctl"), timeout=5) as ctl:
                workers = ctl.send_command("show workers")["workers"]
        except (ControlClientError, OSError):
            return [{"last_heartbeat": -1}]
        return [w | {"last_heartbeat": -1 if w["last_heartbeat"] is None else w["last_heartbeat"]}
                for w in workers]

    def stop(self) -> None:
        started = time.monotonic()
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.timings["stop"] = time.monotonic() - started


def agree_to_privacy_notice(client, headers: dict[str, str]) -> None:
    """Agree to the privacy notice in force, as the mini-program's first screen asks."""
    version = client.get("/api/mp/v1/me/privacy-consent", headers=headers).json["current_version"]
    resp = client.post("/api/mp/v1/me/privacy-consent", headers=headers,
                       json={"version": version})
    assert resp.status_code == 200, resp.json


def environment(workdir: Path, *, database_url: str, redis_url: str = "") -> dict[str, str]:
    """`make run`'s environment, on free ports and the given database and Redis."""
    reserved = {s.env for s in SETTINGS} | set(PROCESS_ENV)
    env = {k: v for k, v in os.environ.items() if k not in reserved}
    emulator_port, library_port = free_port(), free_port()
    return env | {
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
        "FLASK_APP": "backend.app:create_app",
        "PORT": str(free_port()),
        "WECHAT_EMULATOR_PORT": str(emulator_port),
        "WECHAT_API_BASE": f"http://127.0.0.1:{emulator_port}/",
        "ELICENSE_LIBRARY_PORT": str(library_port),
        "ELICENSE_LIBRARY_URL": f"http://127.0.0.1:{library_port}/",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "MEDIA_ROOT": str(workdir / "media"),
        # a control socket of its own: gunicorn's default is one path for the whole machine
        "GUNICORN_CMD_ARGS": f"--control-socket {workdir / 'gunicorn.ctl'}",
        "PUBLIC_VERIFY_RATE_LIMIT": f"{PUBLIC_VERIFY_LIMIT} per minute",
        # as in production, behind one reverse proxy on the loopback (FORWARDED_ALLOW_IPS's
        # default): X-Forwarded-For from 127.0.0.1 names the client, from elsewhere it is ignored
        "PROXY_FIX_X_FOR": "1",
        "METRICS_TOKEN": METRICS_TOKEN,
        "METRICS_DIR": str(workdir / "metrics"),  # each gunicorn under it by its PORT
    }


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fresh_database(url: str, name: str) -> str:
    """A new, empty database next to the test MariaDB's (the user may create ``yiye_*``)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 "
                             "COLLATE utf8mb4_unicode_ci")
    engine.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)
