"""Breaker findings on the archive (#15): packages an auditor meets outside the service."""

from __future__ import annotations

import csv
import io
import json
import shutil
import zipfile
from pathlib import Path

from backend.extensions import db
from backend.models import Application
from backend.services import archive
from media import bags
from tests.test_archive import _package_files, _stored, story  # noqa: F401 - fixture


def _v1(app, story) -> tuple[bytes, str, str]:  # noqa: F811
    with app.app_context():
        archive.build_due(db.session)
        (package,) = archive.packages_of(db.session, story["demo-licensed"])
        number = db.session.get(Application, story["demo-licensed"]).submission_number
        return _stored(package), package.bag_name, number


def _rezip(bag_dir: Path, out: Path, *, directories: bool) -> None:
    """What `cd x && zip -r out.zip <bag>` writes: a directory entry before its files."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(bag_dir.parent.joinpath(bag_dir.name).rglob("*")):
            name = path.relative_to(bag_dir.parent).as_posix()
            if path.is_dir():
                if directories:
                    zf.writestr(name + "/", b"")
            else:
                zf.write(path, name)
        if directories:
            zf.writestr(bag_dir.name + "/", b"")


def test_an_untouched_package_rezipped_with_directory_entries_verifies(app, story, tmp_path):  # noqa: F811
    """An auditor unzips a package, looks at it, zips it again (any zip tool writes directory
    entries): `flask archive verify` must judge it, not crash with IsADirectoryError."""
    data, bag_name, _ = _v1(app, story)
    bag = bags.unzip(data, tmp_path / "x")
    rezipped = tmp_path / "again.zip"
    _rezip(bag, rezipped, directories=True)
    result = app.test_cli_runner().invoke(args=["archive", "verify", str(rezipped)])
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert result.exit_code == 0 and "OK" in result.output, result.output


def test_a_zip_slip_member_is_a_named_failure_not_a_traceback(app, story, tmp_path):  # noqa: F811
    data, bag_name, _ = _v1(app, story)
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(evil, "w") as zf:
        for info in src.infolist():
            zf.writestr(info, src.read(info))
        zf.writestr(f"{bag_name}/../../escaped.txt", b"outside")
    result = app.test_cli_runner().invoke(args=["archive", "verify", str(evil)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert "FAIL" in result.output, result.output
    assert not (tmp_path / "escaped.txt").exists()


def test_a_package_renamed_as_another_version_does_not_verify_as_that_version(
        app, story, tmp_path):  # noqa: F811
    """The file and bag name say which case and version a package is (docs/archive.md); an
    old version 1 handed over under the name of version 2 (hiding the revocation) — or any
    case's package under another case's name — must not verify 'OK' under that name."""
    data, bag_name, number = _v1(app, story)
    bag = bags.unzip(data, tmp_path / "x")
    forged_name = bag_name.replace("-v1", "-v2")
    forged = bag.rename(bag.parent / forged_name)
    result = app.test_cli_runner().invoke(args=["archive", "verify", str(forged)])
    assert result.exit_code == 1, result.output


def test_check_export_reads_the_csv_transfer_list_archivists_sign_for(app, story, tmp_path):  # noqa: F811
    """移交清单.csv is the list handed over; check-export must hold it against the batch
    too, not only transfer-list.json (a changed CSV digest or a package struck from both
    lists goes unnoticed)."""
    _, _, number = _v1(app, story)
    out = tmp_path / "batch"
    runner = app.test_cli_runner()
    assert runner.invoke(args=["archive", "export", number, "--out", str(out)]).exit_code == 0
    listing = out / archive.TRANSFER_LIST
    rows = list(csv.DictReader(io.StringIO(listing.read_text(encoding="utf-8-sig"))))
    rows[0]["SHA-256"] = "0" * 64
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=archive.TRANSFER_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    listing.write_bytes(("\ufeff" + buffer.getvalue()).encode())
    checked = runner.invoke(args=["archive", "check-export", str(out)])
    assert checked.exit_code == 1, checked.output


def test_a_removed_or_added_payload_file_is_named(app, story, tmp_path):  # noqa: F811
    """"Change any file → verification fails and names the file": a file taken out of data/
    or slipped into it must be named, not only bag-info.txt's Payload-Oxum (which nobody
    changed)."""
    data, _, _ = _v1(app, story)
    original = bags.unzip(data, tmp_path / "x")
    runner = app.test_cli_runner()
    removed = Path(shutil.copytree(original, tmp_path / "removed" / original.name))
    (removed / "data/record.json").unlink()
    added = Path(shutil.copytree(original, tmp_path / "added" / original.name))
    (added / "data/materials/legal_rep_id/02-forged.jpg").write_bytes(b"forged evidence")
    for bag, named in ((removed, "data/record.json"),
                       (added, "data/materials/legal_rep_id/02-forged.jpg")):
        result = runner.invoke(args=["archive", "verify", str(bag)])
        assert result.exit_code == 1
        assert f"{named}:" in result.output, result.output


def test_a_stray_fetch_txt_is_a_named_failure_not_a_traceback(app, story, tmp_path):  # noqa: F811
    data, _, _ = _v1(app, story)
    bag = bags.unzip(data, tmp_path / "x")
    (bag / "fetch.txt").write_text("x\n")
    result = app.test_cli_runner().invoke(args=["archive", "verify", str(bag)])
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert result.exit_code == 1 and "fetch.txt" in result.output, result.output


def test_the_service_checks_a_stored_package_is_the_one_it_recorded(app, story):  # noqa: F811
    """`flask archive verify <case>` must prove the stored bytes are that case's package: a
    genuine package of ANOTHER case put in its place (a wrong backup restored, a swapped
    file) is not "OK" — the row records the package's SHA-256, its tag manifest's SHA-256,
    the case and the version, and none of them is compared."""
    from sqlalchemy import select  # noqa: PLC0415

    from backend.models import StaffAccount  # noqa: PLC0415
    from backend.services import window  # noqa: PLC0415

    with app.app_context():
        archive.build_due(db.session)
        (licensed,) = archive.packages_of(db.session, story["demo-licensed"])
        number = db.session.get(Application, story["demo-licensed"]).submission_number
        waiting = db.session.get(Application, story["demo-submitted"])
        window1 = db.session.scalar(select(StaffAccount).where(
            StaffAccount.username == "window1"))
        window.reject(db.session, staff=window1, application_id=waiting.id,
                      version=waiting.lock_version, reason="不属于本机关职权范围")
        db.session.commit()
        archive.build_due(db.session)
        (other,) = archive.packages_of(db.session, story["demo-submitted"])
        store = app.extensions["media_store"]
        store.path_of(licensed.sha256).write_bytes(_stored(other))
    result = app.test_cli_runner().invoke(args=["archive", "verify", number])
    assert result.exit_code == 1, result.output


def test_an_item_package_is_never_signed_from_a_tampered_source(app, story, tmp_path):  # noqa: F811
    """`flask archive item` re-signs with the service's keys: fed a package whose record was
    changed (an opinion rewritten), it must refuse — not turn the forgery into a package
    that verifies OK."""
    data, bag_name, _ = _v1(app, story)
    forged_record = None
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as zf:
        for info in src.infolist():
            content = src.read(info)
            if info.filename == f"{bag_name}/data/record.json":
                record = json.loads(content)
                record["items"][0]["opinion"] = "伪造的审批意见"
                forged_record = record
                content = json.dumps(record, ensure_ascii=False).encode()
            zf.writestr(info, content)
    source = tmp_path / "tampered.zip"
    source.write_bytes(out.getvalue())
    runner = app.test_cli_runner()
    assert runner.invoke(args=["archive", "verify", str(source)]).exit_code == 1
    item_code = forged_record["items"][0]["item_code"]
    derived = tmp_path / "item.zip"
    made = runner.invoke(args=["archive", "item", str(source), item_code, "--out", str(derived)])
    laundered = made.exit_code == 0 and runner.invoke(
        args=["archive", "verify", str(derived)]).exit_code == 0
    assert not laundered, made.output


def test_a_legal_hold_on_a_case_covers_the_version_written_after_it(app, story):  # noqa: F811
    """`flask archive hold <case>` holds "every version of an application's package"; a
    revocation after the hold writes version 2 — the case is still under the court's hold,
    so purge must not delete version 2 either."""
    from sqlalchemy import select  # noqa: PLC0415

    from backend.models import License, StaffAccount  # noqa: PLC0415
    from backend.models.archive import ArchivePackage  # noqa: PLC0415
    from backend.services import licenses  # noqa: PLC0415

    _, _, number = _v1(app, story)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["archive", "hold", number, "--reason", "诉讼保全"]).exit_code == 0
    with app.app_context():
        license_ = db.session.scalar(select(License).where(
            License.application_id == story["demo-licensed"]))
        item = license_.items[0]
        reviewer = db.session.scalar(select(StaffAccount).where(
            StaffAccount.role == "unit_reviewer", StaffAccount.unit_code == item.approving_unit))
        licenses.set_item_status(db.session, staff=reviewer, license_id=license_.id,
                                 item_code=item.item_code, action="revoke",
                                 reason="以欺骗手段取得许可", version=None)
        db.session.commit()
        assert archive.build_due(db.session) == 1
        for package in archive.packages_of(db.session, story["demo-licensed"]):
            package.retain_until = package.closed_at.date().replace(year=2000)
        db.session.commit()
    runner.invoke(args=["archive", "purge"])
    with app.app_context():
        versions = db.session.scalars(select(ArchivePackage).where(
            ArchivePackage.application_id == story["demo-licensed"])).all()
        assert [(p.version, p.deleted_at) for p in versions] == [(1, None), (2, None)]
