"""`flask` commands: catalog, staff, licenses, settings and the background worker."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from backend.errors import DomainError
from backend.extensions import db
from backend.services import calendar, catalog, demo, materials, staff

catalog_cli = AppGroup("catalog", help="行业目录：加载与查看版本")
staff_cli = AppGroup("staff", help="工作人员账号")
calendar_cli = AppGroup("calendar", help="工作日历：法定节假日与调休")
demo_cli = AppGroup("demo", help="演示数据（仅开发与测试环境）")
statistics_cli = AppGroup("statistics", help="统计分析：汇总表")
licenses_cli = AppGroup("licenses", help="行业综合许可证")

CHINA_TZ = timezone(timedelta(hours=8))  # 北京时间, no daylight saving


@catalog_cli.command("load")
@click.option("--path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="catalog file (default: CATALOG_PATH)")
@click.option("--by", "loaded_by", default="cli", help="who loads it, for the record")
def catalog_load(path: Path | None, loaded_by: str) -> None:
    """Load the catalog file; a changed file becomes a new version."""
    path = path or Path(current_app.extensions["settings"].CATALOG_PATH)
    try:
        version, created = catalog.load(db.session, path, loaded_by=loaded_by)
    except catalog.CatalogFileInvalid as error:
        raise click.ClickException(
            f"catalog file invalid, nothing loaded: {len(error.problems)} problem(s)\n"
            + "\n".join(f"  {problem}" for problem in error.problems)) from error
    db.session.commit()
    state = "loaded as new version" if created else "unchanged, still version"
    click.echo(f"catalog {path.name}: {state} {version.number} "
               f"({len(version.industries)} industries)")


@catalog_cli.command("versions")
def catalog_versions() -> None:
    """List catalog versions, newest last."""
    for v in catalog.list_versions(db.session):
        retired = sum(i.retired for i in v.industries)
        click.echo(f"v{v.number}  {v.loaded_at:%Y-%m-%d %H:%M}  {v.loaded_by:<10} "
                   f"{len(v.industries)} industries ({retired} retired)  {v.checksum[:12]}")


@catalog_cli.command("estimates")
@click.option("--version", "number", type=int, help="version number (default: current)")
def catalog_estimates(number: int | None) -> None:
    """Facts still marked estimated, for administrators to verify."""
    report = catalog.estimates(catalog.get_version(db.session, number))
    click.echo(json.dumps(report, ensure_ascii=False, indent=2))


@staff_cli.command("create")
@click.option("--username", required=True)
@click.option("--name", "display_name", required=True)
@click.option("--role", required=True, type=click.Choice(sorted(staff.ROLES)))
@click.option("--unit", "unit_code", default=None, help="unit code for reviewers and inspectors")
@click.option("--county", "county_code", default=None,
              help="county code (GB/T 2260) of county-level staff: their dashboard's county")
@click.password_option()
def staff_create(username: str, display_name: str, role: str, unit_code: str | None,
                 county_code: str | None, password: str) -> None:
    """Create a staff account (the password must pass the zxcvbn strength check)."""
    with _refused_as_click_error():
        account = staff.create(db.session, username=username, display_name=display_name,
                               role=role, unit_code=unit_code, password=password,
                               county_code=county_code)
    db.session.commit()
    click.echo(f"created staff account {account.username} ({staff.ROLES[role]})")


@staff_cli.command("demo")
@click.option("--password", envvar="DEMO_STAFF_PASSWORD", default=staff.DEMO_PASSWORD,
              show_default=True)
def staff_demo(password: str) -> None:
    """Create the demo staff accounts (never in production)."""
    if current_app.extensions["settings"].APP_ENV == "production":
        raise click.ClickException("demo accounts are refused in production")
    with _refused_as_click_error():
        created = staff.ensure_demo_accounts(db.session, password=password)
    db.session.commit()
    click.echo(f"demo staff: {len(created)} created, password {password!r}")


@demo_cli.command("story")
def demo_story() -> None:
    """Seed the demo story: one case in each state of the window's work (never in production)."""
    settings = current_app.extensions["settings"]
    if settings.APP_ENV == "production":
        raise click.ClickException("the demo story is refused in production")
    context = demo.Context(
        store=current_app.extensions["media_store"], limits=materials.limits_from(settings),
        keyring=current_app.extensions["license_keyring"],
        verify_base_url=settings.LICENSE_VERIFY_BASE_URL,
        font_path=settings.LICENSE_FONT_PATH or None, secret_key=settings.SECRET_KEY,
        sealer=current_app.extensions["license_sealer"])
    with _refused_as_click_error():
        told = demo.story(db.session, context)
    for case in told:
        click.echo(case.line())
    created = sum(bool(case.steps) for case in told)
    click.echo(f"demo story: {created} of {len(told)} cases changed"
               + ("" if created else " (already seeded)"))


@contextlib.contextmanager
def _refused_as_click_error() -> Iterator[None]:
    """A refused command prints the domain error's code and Chinese message, exit 1."""
    try:
        yield
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(f"{error.code}: {error.message}") from None


@calendar_cli.command("seed")
@click.option("--year", "years", type=int, multiple=True,
              help="year to seed, repeatable (default: this year and next)")
@click.option("--by", default="seed", help="who seeds, for the record")
def calendar_seed(years: tuple[int, ...], by: str) -> None:
    """Seed holidays and 调休 from the State Council schedule known to chinese-calendar."""
    this_year = datetime.now(CHINA_TZ).year
    years = years or (this_year, this_year + 1)
    written = calendar.seed(db.session, years=years, by=by)
    db.session.commit()
    click.echo(f"calendar: {written} rows written for {', '.join(map(str, sorted(set(years))))}")
    unknown = sorted(y for y in set(years) if not calendar.library_knows(y))
    if unknown:
        click.echo(f"warning: chinese-calendar does not know {', '.join(map(str, unknown))} yet; "
                   "those years stay provisional (weekday rule) until an administrator enters "
                   "the published schedule with `flask calendar set`", err=True)


@calendar_cli.command("set")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="YYYY-MM-DD")
@click.option("--holiday/--workday", "holiday", required=True,
              help="a day off, or a working day (e.g. a worked weekend day)")
@click.option("--name", default="", help="e.g. 元旦, 春节调休上班")
@click.option("--by", required=True, help="administrator entering it, for the record")
def calendar_set(day: datetime, holiday: bool, name: str, by: str) -> None:
    """Enter one day of a published schedule (administrator)."""
    row = calendar.set_day(db.session, day=day.date(), is_workday=not holiday, name=name, by=by)
    db.session.commit()
    kind = "working day" if row.is_workday else "holiday"
    click.echo(f"{row.day:%Y-%m-%d} set as {kind} {row.name} by {row.updated_by}")


@calendar_cli.command("show")
@click.option("--year", type=int, help="year to list (default: this year)")
def calendar_show(year: int | None) -> None:
    """List the stored exceptions to the weekday rule of a year."""
    year = year or datetime.now(CHINA_TZ).year
    rows = calendar.list_days(db.session, year=year)
    if not rows:
        click.echo(f"{year}: no schedule stored, provisional (weekday rule)")
    for row in rows:
        kind = "上班" if row.is_workday else "休息"
        click.echo(f"{row.day:%Y-%m-%d} {'一二三四五六日'[row.day.weekday()]} {kind}  "
                   f"{row.name}  ({row.source}, {row.updated_by})")


@statistics_cli.command("rebuild")
def statistics_rebuild() -> None:
    """Build the statistics summary tables again from the cases, a month at a time (after
    a restore, or when the rules of a figure change); the worker keeps them up after."""
    from backend.services import statistics_summary  # noqa: PLC0415

    days = statistics_summary.rebuild(db.session, progress=lambda month, found: click.echo(
        f"{month:%Y-%m}: {found} days"))
    db.session.commit()
    click.echo(f"statistics summary rebuilt: {days} days")


@licenses_cli.command("public-records")
@click.option("--check", is_flag=True, help="only list the records that differ (exit 1 if any)")
def licenses_public_records(check: bool) -> None:
    """Write every license's public record (what a public scan reads) again from the
    license, its permits and e-licenses and the joint inspection: after a restore, a
    change made in SQL by hand or an upgrade that added them; every change through the
    service keeps them. Safe while the service runs (a batch at a time, as a change's own
    rewrite); --check may list a record a change is writing at that moment."""
    from backend.services import public_records  # noqa: PLC0415

    if check:
        stale = public_records.stale(db.session.connection())
        for number in stale:
            click.echo(number)
        click.echo(f"public records differing: {len(stale)}")
        raise SystemExit(1 if stale else 0)
    written = public_records.rebuild(db.engine)
    click.echo(f"public records written: {written}")


@click.command("settings")
def settings_command() -> None:
    """Print every setting the service reads, with its current value (secrets hidden)."""
    from config.settings import SETTINGS  # noqa: PLC0415

    values = current_app.extensions["settings"].values
    for s in SETTINGS:
        value = "***" if "SECRET" in s.env or "PASSPHRASE" in s.env else values[s.env]
        click.echo(f"{s.env}={value}    # {s.doc}")


@click.command("worker")
def worker_command() -> None:
    """Run the background worker (outbox delivery and the periodic tick) until stopped."""
    from backend import worker  # noqa: PLC0415

    worker.run_forever()


def register(app: Flask) -> None:
    from backend.archive_cli import archive_cli  # noqa: PLC0415

    for command in (catalog_cli, staff_cli, calendar_cli, demo_cli, statistics_cli, licenses_cli,
                    settings_command, worker_command, archive_cli):
        app.cli.add_command(command)
