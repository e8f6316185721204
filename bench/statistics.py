"""`make bench-statistics` (`python -m bench.statistics`): the statistics dashboard's figures
at 10 000 and 1 000 000 applications (issue 14, part 6; docs/bench-statistics.txt).

Starts its own MariaDB, migrates and loads the catalog, then seeds licensed applications in
bulk (LOAD DATA, bench/seed.py's loader) spread over the days of 2025, the counties of
太原 and the catalog's industries, each with two permit items decided by their units and the
timeline a case has (submitted, accepted, each item decided, license issued). At each size:
the summary rebuilt set-based (statistics_summary.rebuild), then the dashboard's figures by
unit for a month and for the year from the summary tables — and the same figures by the path
that scans the cases (at the larger size the month only). Goal: under a second at 1 000 000.
Its MariaDB and the files it loads live under var/ (a shared /tmp may be swept).
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text

from backend.app import create_app
from backend.extensions import db
from backend.models import (
    Applicant,
    Application,
    ApplicationEvent,
    ApplicationItem,
    CatalogIndustry,
    CatalogPermitItem,
    CatalogVersion,
    License,
)
from backend.services import catalog, statistics, statistics_summary
from bench import seed
from bench.__main__ import MARIADB_ARGS, prepare_database, product_env
from config import settings as settings_module
from config.settings import PROJECT_ROOT
from tests import servers

COUNTIES = ("140105", "140106", "140107", "140108", "140109", "140110", "140121", "140122",
            "140123", "140181")
YEAR = 2025
GOAL_SECONDS = 1.0
NOTES = """#
# Notes (issue 14, part 6):
# - "summary" reads the worker's statistics_days rows (month rows for whole months, day rows
#   for the rest); "scan" is the path before the summary tables (every case of the period
#   read and grouped at request time), kept as statistics.compute(source="scan").
# - The read cost depends on the number of summary rows (days or months x groups), not on
#   the number of applications: a year by unit reads about twelve month rows a unit.
# - "summary rebuilt": the whole summary built set-based (statistics_summary.rebuild, the
#   worker's first round and `flask statistics rebuild`): a month at a time, the cases' facts
#   read once for every grouping, grouped by day. Afterwards each worker tick recomputes
#   only the days with new events (usually today).
# - At the larger size the scan is timed once, for the month only: a year's scan of every
#   case would take many minutes (it grows with the cases; at 10 000 it is shown above).
"""
OUT = PROJECT_ROOT / "docs" / "bench-statistics.txt"
WORK = PROJECT_ROOT / "var" / "bench"


def seed_cases(engine, total: int) -> float:
    """Add licensed applications until there are ``total``; returns the seconds it took."""
    started = time.monotonic()
    with engine.begin() as conn:
        have = conn.scalar(select(func.count()).select_from(Application.__table__))
        if have >= total:
            return 0.0
        version_id = conn.scalar(select(func.max(CatalogVersion.id)))
        industries = conn.scalars(select(CatalogIndustry.code).where(
            CatalogIndustry.version_id == version_id).order_by(CatalogIndustry.id)).all()
        items = conn.execute(select(CatalogPermitItem.code, CatalogPermitItem.approving_unit,
                                    CatalogPermitItem.promised_days).where(
            CatalogPermitItem.version_id == version_id).order_by(CatalogPermitItem.id)).all()
        document = catalog.document_of(db.session.get(CatalogVersion, version_id))
        answers = {q: 0 for rule in [*document.common.rules, *(
            r for industry in document.industries.values() for r in industry.rules)]
            for q in rule.when}  # every guidance question answered "no" (0)
        applicant_id = conn.execute(insert(Applicant).values(
            openid=f"bench-{secrets.token_hex(4)}")).inserted_primary_key[0]
        bases = {model: conn.scalar(select(func.coalesce(func.max(model.id), 0)))
                 for model in (Application, ApplicationItem, ApplicationEvent, License)}
        numbers = range(have, total)

        def accepted(n: int) -> date:
            return date(YEAR, 1, 1) + timedelta(days=n % 365)

        def at(day: date, hour: int) -> datetime:  # hour CST, stored UTC
            return datetime(day.year, day.month, day.day, hour - 8, tzinfo=UTC).replace(
                tzinfo=None)

        def two(n: int):
            return items[n % len(items)], items[(n * 7 + 3) % len(items)] \
                if (n * 7 + 3) % len(items) != n % len(items) else items[(n + 1) % len(items)]

        conn.execute(text("SET unique_checks = 0, foreign_key_checks = 0"))
        with tempfile.TemporaryDirectory(prefix="bench-statistics-", dir=WORK) as tmp:
            tmp = Path(tmp)
            seed._load(conn, tmp, Application.__table__,
                       ["id", "industry_code", "form_values", "accepted_on", "accepted_at"],
                       ([bases[Application] + 1 + i, industries[n % len(industries)],
                         seed._tsv({"premises_county_code": COUNTIES[n * 7 % len(COUNTIES)]}),
                         accepted(n).isoformat(), seed._tsv(at(accepted(n), 10))]
                        for i, n in enumerate(numbers)),
                       {"applicant_id": applicant_id, "catalog_version_id": version_id,
                        "answers": answers, "deferred_materials": [], "status": "licensed"})
            seed._load(conn, tmp, ApplicationItem.__table__,
                       ["id", "application_id", "item_code", "approving_unit", "promised_days",
                        "due_on", "decided_at"],
                       ([bases[ApplicationItem] + 1 + 2 * i + k, bases[Application] + 1 + i,
                         item.code, item.approving_unit, item.promised_days,
                         (accepted(n) + timedelta(days=4 + k)).isoformat(),
                         seed._tsv(at(accepted(n) + timedelta(days=3 + 2 * (n % 3) * k), 11))]
                        for i, n in enumerate(numbers) for k, item in enumerate(two(n))),
                       {"status": "approved", "reason": "bench", "decided_by": 1,
                        "opinion": "同意"})
            seed._load(conn, tmp, License.__table__,
                       ["id", "application_id", "license_no", "industry_code", "county_code",
                        "issued_on"],
                       ([bases[License] + 1 + i, bases[Application] + 1 + i,
                         seed.license_number(n), industries[n % len(industries)],
                         COUNTIES[n * 7 % len(COUNTIES)],
                         (accepted(n) + timedelta(days=7)).isoformat()]
                        for i, n in enumerate(numbers)),
                       {"industry_name": "行业", "industry_category": "类别",
                        "holder_name": "晋味饭店", "credit_code": "91110000600037341L",
                        "premises_address": "山西省太原市",
                        "issuing_authority": "行政审批服务管理局",
                        "valid_until": seed.VALID_UNTIL})

            def timeline():
                event_id = bases[ApplicationEvent]
                for i, n in enumerate(numbers):
                    case_id, day = bases[Application] + 1 + i, accepted(n)
                    steps = [(at(day, 9), "application.submitted", None, "draft"),
                             (at(day, 10), "application.accepted", None, "submitted")]
                    steps += [(at(day + timedelta(days=3 + 2 * (n % 3) * k), 11),
                               "item.approved", item.code, "in_review")
                              for k, item in enumerate(two(n))]
                    steps.append((at(day + timedelta(days=7), 10), "license.issued", None,
                                  "approved"))
                    for when, action, item_code, before in steps:
                        event_id += 1
                        yield [event_id, case_id, seed._tsv(when), action,
                               seed._tsv(item_code), before]

            seed._load(conn, tmp, ApplicationEvent.__table__,
                       ["id", "application_id", "at", "action", "item_code", "from_state"],
                       timeline(), {"actor_kind": "system", "actor_label": "bench",
                                    "actor_role": "system", "message": "bench", "data": {}})
        conn.execute(text("SET unique_checks = 1, foreign_key_checks = 1"))
    return time.monotonic() - started


def timed(call, repeat: int = 3) -> tuple[float, float]:
    """(first, best of ``repeat``) seconds of ``call``."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        runs.append(time.perf_counter() - started)
        db.session.rollback()
    return runs[0], min(runs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--no-write", action="store_true", help="do not write the report")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    lines = [f"# python -m bench.statistics --sizes {' '.join(map(str, args.sizes))}",
             f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; MariaDB {' '.join(MARIADB_ARGS)}",
             "# seconds: first call, best of 3; figures by unit (every unit, as an"
             " administrator's dashboard)"]

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)
        if not args.no_write:  # what is measured so far, should a larger size not finish
            OUT.write_text("\n".join(lines) + "\n" + NOTES, encoding="utf-8")

    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-statistics-", dir=WORK) as work:
        work = Path(work)
        (work / "mariadb").mkdir()
        (work / "mariadb-tmp").mkdir()  # its temporary tables out of a shared /tmp's sweeps
        mariadb = servers.start_mariadb(work / "mariadb", (
            *MARIADB_ARGS, f"--tmpdir={work / 'mariadb-tmp'}"))
        try:
            env = product_env(mariadb.url, "", "http://127.0.0.1:9", work / "media")
            prepare_database(env)
            app = create_app(settings_module.load(environ=env, LOG_LEVEL="WARNING"))
            engine = seed.bulk_engine(mariadb.url)
            month = statistics.month_period(YEAR, 6)
            year = statistics.period_of("year", year=YEAR)
            with app.app_context():
                for size in sorted(args.sizes):
                    seeded = seed_cases(engine, size)
                    db.session.rollback()  # a fresh snapshot: the seeded rows are seen
                    seed.settle(engine)
                    started = time.monotonic()
                    days = statistics_summary.rebuild(db.session)
                    db.session.commit()
                    summarised = time.monotonic() - started
                    say(f"{size:>9} applications: seeded in {seeded:.1f} s; summary rebuilt"
                        f" in {summarised:.1f} s ({days} days)")
                    small = size == min(args.sizes)
                    for name, period in (("month", month), ("year", year)):
                        # the year's scan at the largest size would take many minutes
                        sources = ("summary", "scan") if small or name == "month" \
                            else ("summary",)
                        for source in sources:
                            first, best = timed(lambda p=period, s=source: statistics.compute(
                                db.session, period=p, group_by="unit", unit=None, source=s),
                                repeat=3 if small or source == "summary" else 1)
                            verdict = "" if source == "scan" else \
                                (" ok" if best < GOAL_SECONDS else " OVER GOAL")
                            say(f"{'':>9} {name:<5} by unit, {source:<7}: first {first:.3f} s,"
                                f" best {best:.3f} s{verdict}")
        finally:
            mariadb.stop()
    if not args.no_write:
        print(f"written to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
