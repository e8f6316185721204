"""`make bench` (`python -m bench`): the product over real HTTP beside bare Flask, in one run.

Starts its own MariaDB, Redis and WeChat emulator; migrates, loads the catalog and seeds
10 000 licenses in bulk; starts the product under gunicorn with config/gunicorn.conf.py
("backend.app:create_app()", as the Procfile) and a bare Flask JSON endpoint
(bench/bare.py) with the same settings; drives both with wrk (2 threads, 32 connections);
measures 20 concurrent photo uploads; seeds up to 1 000 000 licenses for the last row; prints
the table and writes it to docs/bench-http.txt.

Every row is measured in ``--rounds`` rounds (3), one after another, each between two runs of
bare Flask (bare, row, bare, row, bare, row, bare): a row's ratio in a round is to the mean of
the bare runs just before and after it (the machine drifts), and the table gives the median
of the rounds, with their spread, so a row passes on what it usually does, not on one lucky
or unlucky 10 s window. ``--profile`` then samples the workers with
py-spy and measures per-request overheads (docs/bench-http.md says what they showed).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import flask_migrate
import requests

from backend.app import create_app
from backend.extensions import db
from backend.security import signatures
from backend.services import catalog
from bench import seed, uploads, wrk
from config import settings as settings_module
from config.settings import PROJECT_ROOT
from tests import servers
from wechat_emulator.server import serve_in_thread

APPID, WECHAT_SECRET = "wx-bench-appid", "bench-secret"
OUT_OF_THE_WAY = "1000000000 per minute"
RATE_LIMITS = ("PUBLIC_VERIFY_RATE_LIMIT", "LOGIN_RATE_LIMIT", "UPLOAD_RATE_LIMIT",
               "SUBMIT_RATE_LIMIT")
MARIADB_ARGS = ("--innodb-buffer-pool-size=3G", "--innodb-max-dirty-pages-pct=0",
                "--innodb-log-file-size=256M", "--max-allowed-packet=64M", "--local-infile=1")
NOTICE_BODY = (b'{"answers": {"applicant_is_agent": false, "floor_area": 450, "investment": 80,'
               b' "sells_alcohol": true, "outdoor_sign": false, "sells_tobacco": false}}')
BASE = "/api/mp/v1"
WARM_CODES = 2_000  # of a cold row's codes, asked in its warm-up only


@dataclass
class Row:
    name: str
    goal: float | None  # ratio of req/s to bare
    p99_goal_ms: float | None = None
    runs: list[tuple[wrk.Result, float]] = field(default_factory=list)  # (result, bare req/s)

    @property
    def ratios(self) -> list[float]:
        return [result.rps / bare for result, bare in self.runs]

    def median(self, figure: str) -> float:
        """The median over the rounds of ``figure`` (rps, p50_ms, p99_ms or ratio)."""
        if figure == "ratio":
            return statistics.median(self.ratios)
        return statistics.median(getattr(result, figure) for result, _ in self.runs)

    @property
    def passed(self) -> bool:
        return self.median("ratio") >= self.goal and (
            self.p99_goal_ms is None or self.median("p99_ms") < self.p99_goal_ms)


class Table:
    """Rows measured in rounds, each round between two runs of bare Flask (``bare``): a row's
    ratio in a round is to the mean of the two."""

    def __init__(self, bare: Callable[[], wrk.Result]) -> None:
        self.rows: dict[str, Row] = {}
        self.bare_runs: list[wrk.Result] = []
        self._bare, self._round = bare, []

    def start_round(self, *, fresh: bool = False) -> None:
        """``fresh``: the bare run before this round is measured anew (a long pause since)."""
        if fresh or not self.bare_runs:
            self.bare_runs.append(self._bare())

    def add(self, row: Row, result: wrk.Result) -> None:
        self._round.append((self.rows.setdefault(row.name, row), result))

    def end_round(self) -> None:
        self.bare_runs.append(self._bare())
        reference = (self.bare_runs[-2].rps + self.bare_runs[-1].rps) / 2
        for row, result in self._round:
            row.runs.append((result, reference))
        self._round = []


class Gunicorn:
    """One gunicorn master with the project's config file; output to a log file."""

    def __init__(self, app_spec: str, env: dict[str, str], log: Path) -> None:
        self.port = servers.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", app_spec],
                cwd=PROJECT_ROOT, env=os.environ | env | {"PORT": str(self.port)},
                stdout=out, stderr=subprocess.STDOUT)

    def wait(self, path: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log}")
            try:
                if requests.get(self.url + path, timeout=5).status_code == 200:
                    return
            except requests.RequestException:  # not listening yet, or still importing
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn not ready on {self.url}; see {self.log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def product_env(database_url: str, redis_url: str, wechat_url: str, media_root: Path
                ) -> dict[str, str]:
    """The product's settings for the run: real services, rate limits out of the way."""
    return {"APP_ENV": "development", "SECRET_KEY": secrets.token_urlsafe(36),
            "DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "WECHAT_API_BASE": wechat_url, "WECHAT_APPID": APPID,
            "WECHAT_SECRET": WECHAT_SECRET, "MEDIA_ROOT": str(media_root),
            "LICENSE_SIGNING_KEYS": signatures.generate_key_text("bench"),
            "LICENSE_ACTIVE_KEY_ID": "bench", "LOG_LEVEL": "INFO"} | dict.fromkeys(
                RATE_LIMITS, OUT_OF_THE_WAY)


def prepare_database(env: dict[str, str]) -> settings_module.Settings:
    settings = settings_module.load(environ=env)
    app = create_app(settings_module.load(environ=env, LOG_LEVEL="WARNING"))
    with app.app_context():
        flask_migrate.upgrade()
        catalog.load(db.session, Path(settings.CATALOG_PATH), loaded_by="bench")
        db.session.commit()
        db.engine.dispose()
    return settings


def expect(url: str, *, method: str = "GET", body: bytes | None = None,
           check: Callable[[requests.Response], bool] = lambda r: True) -> None:
    """One request before a row: the row measures what it claims (status and content)."""
    resp = requests.request(method, url, data=body, timeout=30,
                            headers={"Content-Type": "application/json"} if body else {})
    if resp.status_code != 200 or not check(resp):
        raise RuntimeError(f"{method} {url}: {resp.status_code} {resp.text[:300]}")


def is_valid(resp: requests.Response) -> bool:
    if resp.headers["Content-Type"].startswith("application/json"):
        return resp.json()["verdict"] == "valid"
    return "有效" in resp.text


def measure(url: str, path: str = "/", *, seconds: float, warmup: float, **kw) -> wrk.Result:
    if warmup:
        wrk.run(url, path, seconds=warmup, **kw)
    result = wrk.run(url, path, seconds=seconds, **kw)
    if result.errors:
        raise RuntimeError(f"{path}: {result.errors} errors of {result.requests} requests")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10, help="length of one wrk run")
    parser.add_argument("--warmup", type=float, default=2, help="wrk warm-up before a row")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of every row; the table gives their median and spread")
    parser.add_argument("--large", type=int, default=1_000_000, help="licenses, last row")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "bench-http.txt")
    parser.add_argument("--profile", action="store_true",
                        help="then sample the workers with py-spy and time the overheads")
    parser.add_argument("--verify", action="store_true",
                        help="only /healthz and the verification rows (no uploads, catalog or"
                             " large seeding): a quick look at that path; --out not written")
    args = parser.parse_args(argv)
    started = datetime.now(UTC)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the emulator's access lines
    load_before = os.getloadavg()
    with services("yiye-bench-") as (work, env):
        started_here: list[Gunicorn] = []
        try:
            report = run(args, env, work, started_here)
        finally:
            for server in started_here:
                server.stop()
    text = render(report, args, started, load_before)
    print(text)
    if not args.verify:
        args.out.write_text(text)
        print(f"written to {args.out}")


@contextmanager
def services(prefix: str) -> Iterator[tuple[Path, dict[str, str]]]:
    """A work directory with a private MariaDB, Redis and WeChat emulator for one run:
    (directory, the product's environment on them)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        (work / "redis").mkdir()
        (work / "mariadb").mkdir()
        redis_server = servers.start_redis(work / "redis")
        mariadb = servers.start_mariadb(work / "mariadb", MARIADB_ARGS)
        try:
            with serve_in_thread(APPID, WECHAT_SECRET) as emulator:
                yield work, product_env(mariadb.url, redis_server.url, emulator.base_url,
                                        work / "media")
        finally:
            mariadb.stop()
            redis_server.stop()


def run(args, env: dict[str, str], work: Path, started_here: list[Gunicorn]) -> dict:
    say = lambda message: print(f"[bench {time.strftime('%H:%M:%S')}] {message}",  # noqa: E731
                                flush=True)
    settings = prepare_database(env)
    keyring = signatures.Keyring.from_settings(settings.LICENSE_SIGNING_KEYS,
                                               settings.LICENSE_ACTIVE_KEY_ID,
                                               settings.LICENSE_RETIRED_KEY_IDS)
    engine = seed.bulk_engine(settings.database_url)
    say(f"seeded 10 000 licenses in {seed.seed(engine, 10_000):.1f} s, written back in"
        f" {seed.settle(engine):.1f} s")

    product = Gunicorn("backend.app:create_app()", env, work / "product.log")
    started_here.append(product)
    # the bare app gets the same config file; REDIS_URL only keeps its post_worker_init from
    # starting the product's in-process background worker
    bare = Gunicorn("bench.bare:app", {"REDIS_URL": env["REDIS_URL"]}, work / "bare.log")
    started_here.append(bare)
    product.wait("/healthz")
    bare.wait("/")
    report: dict = {"versions": versions(settings.database_url, env["REDIS_URL"]),
                    "gunicorn": f"{os.environ.get('WEB_CONCURRENCY') or 2} workers ×"
                                f" {settings.WEB_THREADS} threads"}

    if not args.verify:
        say("uploads: 20 concurrent 12 MP photos")
        report["uploads"] = uploads.run(product.url, product.process.pid)

    timing = {"seconds": args.seconds, "warmup": args.warmup}

    def bare_run() -> wrk.Result:
        result = measure(bare.url, **timing)
        say(f"bare Flask: {result.rps:.0f} req/s")
        return result

    table = Table(bare_run)

    def row(name: str, goal: float | None, path: str, p99_goal_ms: float | None = None,
            **kw) -> None:
        result = measure(product.url, path, **(timing | kw))
        say(f"{name}: {result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms, p99"
            f" {result.p99_ms:.1f} ms")
        table.add(Row(name, goal, p99_goal_ms), result)

    one_json = seed.verify_paths(keyring, 10_000, 1)[0]
    one_html = seed.verify_paths(keyring, 10_000, 1, html=True)[0]
    # a cold row's codes: WARM_CODES asked before its first round (a web process keeps
    # verdicts), then a share of the rest each round, none asked twice (as many for 1 000 000)
    per_round = (10_000 - WARM_CODES) // args.rounds

    def rounds(measure_round: Callable[[int], None], *, fresh: bool = False) -> None:
        """A row's rounds, each between two runs of bare Flask: bare, row, bare, row, …, bare
        (the run after a round is the one before the next, and the last one the next row's
        first). ``fresh``: the bare run before the first round is measured anew."""
        for round_ in range(args.rounds):
            table.start_round(fresh=fresh and round_ == 0)
            measure_round(round_)
            table.end_round()

    def cold(name: str, goal: float | None, population: int) -> None:
        paths = seed.verify_paths(keyring, population, WARM_CODES + per_round * args.rounds,
                                  seed=population)
        warm, fresh = paths[:WARM_CODES], paths[WARM_CODES:]
        for path in random.Random(1).sample(warm, 5):
            expect(product.url + path, check=is_valid)
        wrk.run(product.url, paths=warm, seconds=args.warmup, once=True)
        rounds(lambda round_: row(name, goal, fresh[round_ * per_round], once=True, warmup=0,
                                  paths=fresh[round_ * per_round:][:per_round]), fresh=True)

    expect(product.url + "/healthz")
    rounds(lambda _: row("/healthz", 0.9, "/healthz"))
    if not args.verify:
        catalog_rows(product.url, row, rounds)
    expect(product.url + one_json, check=is_valid)  # and now it is cached
    rounds(lambda _: row("public verify JSON, one code (cached)", 0.6, one_json,
                         p99_goal_ms=50))
    expect(product.url + one_html, check=is_valid)
    rounds(lambda _: row("public verify page HTML, one code (cached)", 0.6, one_html))
    cold("public verify JSON, random codes of 10 000 (cold)", 0.3, 10_000)
    if not args.verify:
        say(f"seeding up to {args.large:,} licenses")
        report["seed_large_s"] = seed.seed(engine, args.large)
        report["settle_s"] = seed.settle(engine)
        cold(f"same, random codes of {args.large:,} licenses", None, args.large)
    report |= {"table": table, "licenses": seed.count(engine), "per_round": per_round}
    if args.profile:
        from bench import diagnose  # noqa: PLC0415 - py-spy is only in the bench extra

        report["diagnosis"] = diagnose.run(product, env, {
            "healthz": "/healthz", "industries": f"{BASE}/industries",
            "verify-cached": one_json}, work)
    return report


def catalog_rows(url: str, row, rounds) -> None:
    expect(url + f"{BASE}/industries")
    rounds(lambda _: row("industry list /api/mp/v1/industries", 0.7, f"{BASE}/industries"))
    expect(url + f"{BASE}/industries/restaurant")
    rounds(lambda _: row("industry detail …/industries/restaurant", 0.7,
                         f"{BASE}/industries/restaurant"))
    notice = f"{BASE}/industries/restaurant/notice"
    expect(url + notice, method="POST", body=NOTICE_BODY)
    rounds(lambda _: row("tailored notice (POST, same answers)", 0.6, notice, method="POST",
                         body=NOTICE_BODY))


def versions(database_url: str, redis_url: str) -> str:
    import redis  # noqa: PLC0415
    from sqlalchemy import create_engine, text  # noqa: PLC0415

    engine = create_engine(database_url)
    with engine.connect() as conn:
        mariadb = conn.scalar(text("SELECT VERSION()"))
    engine.dispose()
    redis_version = redis.Redis.from_url(redis_url).info()["redis_version"]
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    version = importlib.metadata.version
    return (f"Python {platform.python_version()}, Flask {version('flask')},"
            f" gunicorn {version('gunicorn')}, MariaDB {mariadb}, Redis {redis_version},"
            f" {wrk_version.split(' [')[0].strip()}")


def render(report: dict, args, started: datetime, load_before: tuple) -> str:
    table: Table = report["table"]
    rows = list(table.rows.values())
    bare = table.bare_runs
    head = (f"{'path':<52}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'× bare':>8}"
            f"{'rounds':>12}  goal")
    lines = [
        f"make bench — {started:%Y-%m-%d %H:%M} UTC, {machine()}",
        report["versions"],
        f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}"
        " (other work on the machine makes absolute figures noisy; ratios are in one run)",
        f"wrk -t{wrk.THREADS} -c{wrk.CONNECTIONS}, {args.seconds:g} s a row after"
        f" {args.warmup:g} s warm-up; gunicorn -c config/gunicorn.conf.py"
        f" ({report['gunicorn']}) for both",
        f"product: MariaDB + Redis, LOG_LEVEL=INFO; rate limits set out of the way for the"
        f" bench ({', '.join(RATE_LIMITS)} = {OUT_OF_THE_WAY}; the limiter still runs)",
        f"{args.rounds} rounds a row, one after another, each between two runs of bare Flask"
        " (bare, row, bare, row, …); a row's ratio in a round is to the mean of the bare runs"
        " just before and after it; figures are the median of the rounds, 'rounds' the lowest"
        " and highest ratio",
        "",
        head, "-" * len(head),
        f"{'bare Flask JSON (median of its runs)':<52}"
        f"{statistics.median(r.rps for r in bare):>8.0f}"
        f"{statistics.median(r.p50_ms for r in bare):>9.2f}"
        f"{statistics.median(r.p99_ms for r in bare):>9.2f}{1:>8.2f}"
        f"  (runs: {', '.join(f'{r.rps:.0f}' for r in bare)} req/s)",
    ]
    small = next(r for r in rows if r.name.endswith("(cold)"))
    for row in rows:
        if row.goal is not None:
            goal = f"≥ {row.goal:g}" + (f", p99 < {row.p99_goal_ms:g} ms"
                                         if row.p99_goal_ms else "")
            goal += "  PASS" if row.passed else "  FAIL"
        else:
            p50_ratio = row.median("p50_ms") / small.median("p50_ms")
            goal = (f"p50 {p50_ratio:.2f}× the 10 000 figure, goal < 1.3× "
                    + ("PASS" if p50_ratio < 1.3 else "FAIL"))
        spread = f"{min(row.ratios):.2f}–{max(row.ratios):.2f}"
        lines.append(f"{row.name:<52}{row.median('rps'):>8.0f}{row.median('p50_ms'):>9.2f}"
                     f"{row.median('p99_ms'):>9.2f}{row.median('ratio'):>8.2f}{spread:>12}"
                     f"  {goal}")
    lines += [
        "",
        "cold rows: each code asked once (wrk walks a shuffled list of signed codes, each thread"
        f" its own half; {report['per_round']:,} codes a round), none of them in the warm-up;"
        " codes signed with the server's keyring.",
        f"licenses in the database at the end: {report['licenses']:,}"
        + (f" (bulk seeding to that size took {report['seed_large_s']:.0f} s, InnoDB then"
           f" wrote its pages back in {report['settle_s']:.0f} s before the row)"
           if "seed_large_s" in report else ""),
    ]
    if "uploads" in report:
        lines += ["", "uploads under load (one product server, fresh workers):",
                  *("  " + line for line in report["uploads"].lines())]
    if "diagnosis" in report:
        lines += ["", "diagnosis (--profile): see docs/bench-http.md", *report["diagnosis"]]
    return "\n".join(lines) + "\n"


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    os_name = next((line.split("=", 1)[1].strip('"')
                    for line in Path("/etc/os-release").read_text().splitlines()
                    if line.startswith("PRETTY_NAME=")), platform.system())
    return f"{os.cpu_count()} × {cpu}, {os_name}, Linux {platform.release()}"


if __name__ == "__main__":
    main()
