"""`python -m backend.bench`: what a license scan costs, held against the quality anchors.

Runs the app in-process (no network, one core) on a throwaway SQLite database and, when
REDIS_URL is set, that Redis (flushed: use a scratch one); prints requests per second for a bare
endpoint, the public verification served from the cache and from the database, and the
database path at 10 000 and 100 000 licenses (an indexed lookup should stay flat).
Goals: cached ≥ 0.6 × bare, uncached ≥ 0.3 × bare, 10k → 100k ratio of medians < 1.5.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import date
from urllib.parse import urlsplit

import flask_migrate
from sqlalchemy import insert

from backend.app import create_app
from backend.extensions import db
from backend.models import Applicant, Application, CatalogVersion, License
from backend.security import signatures
from backend.services import catalog
from config import settings as settings_module
from config.settings import PROJECT_ROOT

REQUESTS = 2000


def _seed(count: int, start: int) -> None:
    """``count`` licenses with numbers start … start+count-1, in bulk (no ORM objects)."""
    version = db.session.query(CatalogVersion).first()
    applicant_id = db.session.execute(insert(Applicant).values(openid=f"bench-{start}")
                                      ).inserted_primary_key[0]
    apps = [{"applicant_id": applicant_id, "catalog_version_id": version.id,
             "industry_code": "restaurant", "answers": {}, "form_values": {},
             "deferred_materials": [], "status": "licensed"} for _ in range(count)]
    db.session.execute(insert(Application), apps)
    first_id = db.session.query(db.func.max(Application.id)).scalar() - count + 1
    db.session.execute(insert(License), [{
        "application_id": first_id + n, "license_no": f"14010520260{start + n:08d}",
        "industry_code": "restaurant", "industry_name": "饭店", "industry_category": "餐饮",
        "holder_name": "晋味饭店", "credit_code": "91110000600037341L",
        "premises_address": "山西省太原市小店区平阳路1号", "county_code": "140105",
        "issuing_authority": "太原市小店区行政审批服务管理局", "issued_on": date(2026, 11, 25),
    } for n in range(count)])
    db.session.commit()


def _rate(client, path: str) -> tuple[float, float]:
    """(requests per second, median latency in ms) over REQUESTS calls."""
    latencies = []
    started = time.perf_counter()
    for _ in range(REQUESTS):
        t = time.perf_counter()
        client.get(path)
        latencies.append(time.perf_counter() - t)
    return REQUESTS / (time.perf_counter() - started), statistics.median(latencies) * 1000


def main() -> None:
    redis_url = os.environ.get("REDIS_URL", "")
    if not redis_url:
        print("REDIS_URL not set: the cached path is not measured")
    with tempfile.TemporaryDirectory() as workdir:
        settings = settings_module.load(environ={}, APP_ENV="test", LOG_LEVEL="ERROR",
                                        DATABASE_URL=f"sqlite:///{workdir}/bench.db",
                                        REDIS_URL=redis_url,
                                        PUBLIC_VERIFY_RATE_LIMIT="1000000 per minute")
        app = create_app(settings)
        client = app.test_client()
        keyring = app.extensions["license_keyring"]
        if redis_url:
            app.extensions["redis"].flushdb()
        with app.app_context():
            flask_migrate.upgrade()
            catalog.load(db.session, PROJECT_ROOT / "config" / "catalog" / "catalog.yaml",
                         loaded_by="bench")
            db.session.commit()
            _seed(10_000, 0)

        def verify_path(number: str) -> str:
            url = urlsplit(signatures.build_verify_url("https://x", number, 1, keyring))
            return f"/api/public/v1/licenses/{number}?{url.query}"

        path = verify_path("14010520260" + "00004321")
        bare, bare_ms = _rate(client, "/healthz")
        print(f"in-process, {REQUESTS} requests each, one core")
        print(f"bare /healthz: {bare:.0f} req/s, median {bare_ms:.2f} ms")
        if redis_url:
            cached, cached_ms = _rate(client, path)
            print(f"verify, cached: {cached:.0f} req/s, median {cached_ms:.2f} ms,"
                  f" {cached / bare:.2f} × bare (goal ≥ 0.6)")
            app.extensions["redis"] = None  # the database path from here on
        small, small_ms = _rate(client, path)
        print(f"verify, database, 10 000 licenses: {small:.0f} req/s, median {small_ms:.2f} ms,"
              f" {small / bare:.2f} × bare (goal ≥ 0.3)")
        with app.app_context():
            _seed(90_000, 10_000)
        large, large_ms = _rate(client, verify_path("14010520260" + "00094321"))
        print(f"verify, database, 100 000 licenses: {large:.0f} req/s, median {large_ms:.2f} ms;"
              f" ratio of medians {large_ms / small_ms:.2f} (goal < 1.5)")


if __name__ == "__main__":
    main()
