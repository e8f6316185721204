"""`flask archive …`: build, verify, open, hold, purge, export and derive the archive
packages of closed cases (backend/services/archive.py; docs/archive.md for auditors).

Every command that reads or changes a package is logged in ``archive_events`` as ``cli``
(the operator at the server's shell)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from backend.clock import today as today_in_china
from backend.extensions import db
from backend.models.archive import ArchivePackage
from backend.services import archive

archive_cli = AppGroup("archive", help="档案：办件归档信息包的生成、验证、保管与移交")


def _packages(text: str, version: int | None) -> list[ArchivePackage]:
    application = archive.find_application(db.session, text)
    if application is None:
        raise click.ClickException(f"no application {text!r} (submission, acceptance or "
                                   "license number, or a package path)")
    found = archive.packages_of(db.session, application.id)
    if version is not None:
        found = [p for p in found if p.version == version]
    if not found:
        raise click.ClickException(f"{text}: no archive package yet (is the case closed, "
                                   "and has the worker run?)")
    return found


def _echo_verdict(label: str, verdict, *, what: str = "bag valid") -> bool:
    if verdict.ok:
        kids = ", ".join(k for k, ok in verdict.signatures.items() if ok)
        click.echo(f"OK    {label}: {what}, signed by {kids}")
        return True
    click.echo(f"FAIL  {label}")
    for problem in verdict.problems:
        click.echo(f"      {problem.path or '(package)'}: {problem.reason}")
    return False


@archive_cli.command("verify")
@click.argument("target")
@click.option("--version", type=int, help="only this version (default: every version)")
def verify(target: str, version: int | None) -> None:
    """Verify the packages of an application (submission / acceptance / license number) or
    a package file or extracted bag directory: bag, SHA-256 manifests and signature. Exit
    status 1 naming each file that is not as written."""
    path = Path(target)
    if path.exists():
        ok = _echo_verdict(str(path), archive.verify_path(path))
    else:
        ok = True
        for package in _packages(target, version):
            if package.deleted_at is not None:
                click.echo(f"GONE  {package.bag_name}: deleted {package.deleted_at:%Y-%m-%d} "
                           f"after retention (tombstone, sha256 {package.sha256})")
                continue
            verdict = archive.verify_package(db.session, package, actor="cli")
            ok = _echo_verdict(package.bag_name, verdict) and ok
        db.session.commit()
    if not ok:
        raise SystemExit(1)


@archive_cli.command("build")
@click.argument("target")
def build(target: str) -> None:
    """Build (or find) the package of a closed case now, as the worker would."""
    application = archive.find_application(db.session, target)
    if application is None:
        raise click.ClickException(f"no application {target!r}")
    package = archive.build(db.session, application.id)
    db.session.commit()
    if package is None:
        raise click.ClickException(f"{target}: the case is not closed; nothing to archive")
    click.echo(f"{package.bag_name}  sha256 {package.sha256}  {package.byte_size} bytes")


@archive_cli.command("list")
@click.argument("target", required=False)
def list_packages(target: str | None) -> None:
    """Packages of one application, or all of them, with retention and hold."""
    rows = _packages(target, None) if target else list(db.session.scalars(
        select(ArchivePackage).order_by(ArchivePackage.id)))
    for p in rows:
        state = "deleted" if p.deleted_at else ("HOLD" if p.legal_hold else "kept")
        until = p.retain_until.isoformat() if p.retain_until else "permanent"
        click.echo(f"{p.bag_name:<36} {p.record_class:<13} until {until:<10} {state:<7} "
                   f"{p.sha256}")


@archive_cli.command("export")
@click.argument("targets", nargs=-1)
@click.option("--out", "dest", required=True, type=click.Path(path_type=Path),
              help="directory to write the batch to")
@click.option("--closed-from", type=click.DateTime(["%Y-%m-%d"]), help="closed on or after")
@click.option("--closed-to", type=click.DateTime(["%Y-%m-%d"]), help="closed before")
def export(targets: tuple[str, ...], dest: Path, closed_from, closed_to) -> None:
    """Export a batch for hand-over (移交): the package zips and the transfer list
    (移交清单.csv, transfer-list.json)."""
    if targets:
        packages = [p for t in targets for p in _packages(t, None)]
    else:
        query = select(ArchivePackage).where(ArchivePackage.deleted_at.is_(None))
        if closed_from:
            query = query.where(ArchivePackage.closed_at >= closed_from.astimezone())
        if closed_to:
            query = query.where(ArchivePackage.closed_at < closed_to.astimezone())
        packages = list(db.session.scalars(query.order_by(ArchivePackage.id)))
    packages = [p for p in packages if p.deleted_at is None]
    listing = archive.export(db.session, packages, dest, actor="cli")
    db.session.commit()
    click.echo(f"{listing['count']} package(s) written to {dest} with {archive.TRANSFER_LIST}")


@archive_cli.command("check-export")
@click.argument("dest", type=click.Path(exists=True, file_okay=False, path_type=Path))
def check_export(dest: Path) -> None:
    """Re-verify an exported batch: the transfer lists (signature, digests, CSV = JSON) and
    every package against its row."""
    ok = True
    for name, verdict in archive.check_export(dest).items():
        what = "lists agree" if name == archive.TRANSFER_LIST else "bag valid"
        ok = _echo_verdict(name, verdict, what=what) and ok
    if not ok:
        raise SystemExit(1)


@archive_cli.command("hold")
@click.argument("target")
@click.option("--reason", required=True, help="why (a case number, a court order …)")
@click.option("--release", is_flag=True, help="lift the hold instead")
def hold(target: str, reason: str, release: bool) -> None:
    """Put every version of an application's package under legal hold (or release it)."""
    for package in _packages(target, None):
        archive.set_hold(db.session, package, on=not release, reason=reason, actor="cli")
    db.session.commit()
    click.echo(("released " if release else "held ") + target)


@archive_cli.command("purge")
@click.option("--today", "day", type=click.DateTime(["%Y-%m-%d"]),
              help="the day to judge retention by (default: today, China time)")
def purge(day) -> None:
    """Delete packages past their retention and not on hold; each leaves a tombstone row."""
    today: date = day.date() if day else today_in_china()
    gone = archive.purge_expired(db.session, today=today, actor="cli")
    db.session.commit()
    for p in gone:
        click.echo(f"deleted {p.bag_name} (kept until {p.retain_until}); tombstone kept")
    click.echo(f"{len(gone)} package(s) deleted")


@archive_cli.command("open")
@click.argument("target")
@click.argument("path")
@click.option("--version", type=int, help="default: the newest")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def open_file(target: str, path: str, version: int | None, out: Path) -> None:
    """Write one file of a package (decrypted when it is personal data) to OUT; logged."""
    package = _packages(target, version)[-1]
    content = archive.open_file(db.session, staff=None, package=package, path=path,
                                actor="cli")
    db.session.commit()
    out.write_bytes(content)
    click.echo(f"{path} → {out} ({len(content)} bytes)")


@archive_cli.command("item")
@click.argument("package_zip", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("item_code")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def item(package_zip: Path, item_code: str, out: Path) -> None:
    """Derive one permit item's package from an application's package zip (one this
    service recorded, and that verifies whole; refused otherwise)."""
    try:
        data = archive.derive_item(db.session, package_zip.read_bytes(), item_code)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    out.write_bytes(data)
    click.echo(f"{item_code}: {out} ({len(data)} bytes)")


@archive_cli.command("public-keys")
def public_keys() -> None:
    """The public keys packages are verified with (publish them): kid, scheme, raw
    base64url, PEM."""
    keyring = current_app.extensions["license_keyring"]
    pems, raws = keyring.public_key_pems(), keyring.public_keys()
    for kid, scheme in keyring.schemes().items():
        click.echo(f"{kid} {scheme} {raws[kid]}")
        click.echo(pems[kid], nl=False)
