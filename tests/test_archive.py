"""档案: a closed case sealed into a signed BagIt package by the worker, complete, immutable
(a later revocation is version 2), verifiable offline with the standard tools, exported with a
transfer list, kept for its retention, its personal data encrypted and every opening logged.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from backend.errors import Conflict, PermissionDenied
from backend.extensions import db
from backend.models import (
    Application,
    IssuedDocument,
    License,
    MaterialFile,
    StaffAccount,
)
from backend.models.archive import ArchiveEvent, ArchivePackage
from backend.security.signatures import Keyring, generate_key_text
from backend.services import application_form, archive, archive_rules, demo, licenses, window
from backend.services import staff as staff_service
from media import bags
from notifications.outbox import ARCHIVE, OutboxMessage
from tests.test_console_session import csrf_of
from tests.test_demo import run_story

VENV_BIN = Path(sys.executable).parent
# the licensed demo case's legal representative and phone (backend/services/demo.py)
ID_NUMBER = demo.LICENSED.fields["legal_rep_id_number"]
PHONE = demo.LICENSED.fields["contact_phone"]


@pytest.fixture
def story(app) -> dict[str, int]:
    """The demo office (`flask demo story`): openid → application id."""
    with app.app_context():
        staff_service.ensure_demo_accounts(db.session)
        db.session.commit()
    run_story(app)
    with app.app_context():
        return {o: a.id for o, a in demo.demo_applications(db.session).items()}


def _staff(username: str) -> StaffAccount:
    return db.session.scalar(select(StaffAccount).where(StaffAccount.username == username))


def _package_files(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n.split("/", 1)[1]: zf.read(n) for n in zf.namelist()}


def _stored(package: ArchivePackage) -> bytes:
    return archive.package_bytes(package)


def _verifies(app, data: bytes) -> bool:
    return bags.check(data, archive.signature_check(app.extensions["license_keyring"])).ok


def test_a_closed_case_is_sealed_complete_once_and_a_revocation_is_version_2(app, story):
    licensed_id = story["demo-licensed"]
    with app.app_context():
        # queued in the closing transaction, built by the worker's step
        jobs = db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.channel == ARCHIVE)).all()
        assert [j.payload["application_id"] for j in jobs] == [licensed_id]
        assert archive.build_due(db.session) == 1
        assert archive.build_due(db.session) == 0  # idempotent: nothing due any more
        application = db.session.get(Application, licensed_id)
        archive.build(db.session, licensed_id)  # a replayed job adds nothing
        db.session.commit()
        (v1,) = archive.packages_of(db.session, licensed_id)
        assert (v1.version, v1.record_class, v1.signed_by) == (1, "licensed", "dev1")
        v1_bytes = _stored(v1)
        assert hashlib.sha256(v1_bytes).hexdigest() == v1.sha256
        files = _package_files(v1_bytes)
        record = json.loads(files["data/record.json"])
        listed = {f["path"]: f for f in record["files"]}

        # the checklist: what the package of a licensed case must hold
        assert record["application"]["submission_number"] == application.submission_number
        assert record["application"]["form"]["entity_name"] == \
            application.form_values["entity_name"]
        assert record["application"]["answers"] == application.answers
        assert record["catalog"]["checksum"] and \
            record["catalog"]["file"].removeprefix("data/") in {
                p.removeprefix("data/") for p in listed}
        catalog_doc = json.loads(files[record["catalog"]["file"]])
        assert application.industry_code in catalog_doc["industries"]
        assert {i["item_code"] for i in record["items"]} == {
            i.item_code for i in application.items}
        for item in record["items"]:  # every decision: who, when, why
            assert item["decided_by"]["name"] and item["decided_at"] and item["opinion"]
        assert {"application.accepted", "license.issued"} <= {
            d["action"] for d in record["decisions"]}
        assert len(record["timeline"]) == len(application.events)
        materials = db.session.scalars(select(MaterialFile).where(
            MaterialFile.application_id == licensed_id)).all()
        by_sha = {f["sha256"]: f for f in record["files"] if f["kind"] == "material"}
        assert set(by_sha) == {m.sha256 for m in materials}  # every material file
        fernet = archive_rules.personal_keys("", app.extensions["settings"].SECRET_KEY)
        personal_materials = application_form.PERSONAL_MATERIALS
        for m in materials:
            entry = by_sha[m.sha256]
            content = files[entry["path"]]
            if entry["encrypted"]:  # identity documents: encrypted at rest
                assert m.material_code in personal_materials
                content = fernet.decrypt(content)
            assert hashlib.sha256(content).hexdigest() == m.sha256
        docs = db.session.scalars(select(IssuedDocument).where(
            IssuedDocument.application_id == licensed_id)).all()
        assert docs and all(
            hashlib.sha256(files[f"data/documents/{d.kind}-{d.round}.pdf"]).hexdigest()
            == d.sha256 for d in docs)
        photos = [p for r in application.inspection.results for p in r.photos]
        assert photos and len([f for f in record["files"]
                               if f["kind"] == "inspection_photo"]) == len(photos)
        license_ = db.session.scalar(select(License).where(
            License.application_id == licensed_id))
        assert {"license_file", "license_face"} <= {f["kind"] for f in record["files"]}
        assert record["license"]["identifier"] == license_.identifier
        assert {i["identifier"] for i in record["license"]["items"]} == {
            i.identifier for i in license_.items}
        assert record["license"]["elicenses"]
        # personal data: no ID-card number in clear anywhere in the package
        assert not any(secret.encode() in content for content in files.values()
                       for secret in (ID_NUMBER, PHONE))
        personal = fernet.decrypt(files["data/personal/form-personal.json.fernet"])
        assert ID_NUMBER in personal.decode()
        assert _verifies(app, v1_bytes)

        # a later fact: a unit revokes its permit → version 2; version 1 untouched
        item = license_.items[0]
        reviewer = db.session.scalar(select(StaffAccount).where(
            StaffAccount.role == "unit_reviewer",
            StaffAccount.unit_code == item.approving_unit))
        licenses.set_item_status(db.session, staff=reviewer, license_id=license_.id,
                                 item_code=item.item_code, action="revoke",
                                 reason="以欺骗手段取得许可", version=None)
        db.session.commit()
        assert archive.build_due(db.session) == 1
        v1_again, v2 = archive.packages_of(db.session, licensed_id)
        assert v2.version == 2 and v1_again.sha256 == v1.sha256
        assert _stored(v1_again) == v1_bytes  # byte-identical
        v2_files = _package_files(_stored(v2))
        assert f"Yiye-Supersedes-Sha256: {v1.sha256}" in v2_files["bag-info.txt"].decode()
        v2_record = json.loads(v2_files["data/record.json"])
        revoked = next(i for i in v2_record["license"]["items"]
                       if i["item_code"] == item.item_code)
        assert revoked["status"] == "revoked"
        assert v2_record["decisions"][-1]["action"] == "license.item_revoked"
        assert _verifies(app, _stored(v2))

        # 不予受理 closes a case too: its package holds the decision document
        submitted_id = story["demo-submitted"]
        waiting = db.session.get(Application, submitted_id)
        window.reject(db.session, staff=_staff("window1"), application_id=submitted_id,
                      version=waiting.lock_version, reason="不属于本机关职权范围")
        db.session.commit()
        assert archive.build_due(db.session) == 1
        (refused,) = archive.packages_of(db.session, submitted_id)
        assert refused.record_class == "not_accepted"
        assert "data/documents/not_accepted-1.pdf" in _package_files(_stored(refused))
        assert archive.packages_of(db.session, story["demo-in-review"]) == []  # still open


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_one_changed_byte_anywhere_fails_and_names_the_file_also_offline(app, story, tmp_path):
    with app.app_context():
        archive.build_due(db.session)
        (package,) = archive.packages_of(db.session, story["demo-licensed"])
        data = _stored(package)
        keyring = app.extensions["license_keyring"]
    zipped = tmp_path / "package.zip"
    zipped.write_bytes(data)
    original = bags.unzip(data, tmp_path / "original")
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["archive", "verify", str(original)])
    assert ok.exit_code == 0 and "OK" in ok.output, ok.output
    assert runner.invoke(args=["archive", "verify", str(zipped)]).exit_code == 0
    material = next(p for p in (original / "data/materials").rglob("*.jpg"))
    targets = [material.relative_to(original).as_posix(), "data/record.json",
               "data/metadata.json", "bag-info.txt", "bagit.txt", "manifest-sha256.txt",
               "tagmanifest-sha256.txt", "signature/dev1.ed25519.sig"]
    for n, target in enumerate(targets):
        copy = Path(shutil.copytree(original, tmp_path / f"t{n}" / original.name))
        _flip(copy / target)
        result = runner.invoke(args=["archive", "verify", str(copy)])
        assert result.exit_code == 1, (target, result.output)
        with app.app_context():
            verdict = archive.verify_path(copy)
        assert not verdict.ok and target in verdict.files, (target, verdict.problems)
        assert f"{target}:" in result.output
    # the zip as stored: one byte of a member changed → that member is named
    tampered = bytearray(data)
    offset = data.index(b'"submission_number"')
    tampered[offset + 3] ^= 0x01
    with app.app_context():
        verdict = bags.check(bytes(tampered), archive.signature_check(keyring))
    assert verdict.files == ["data/record.json"]

    # offline, with the standard bagit tool and openssl and only the public key
    bagit_tool = [str(VENV_BIN / "bagit.py"), "--validate"]
    assert subprocess.run([*bagit_tool, str(original)], capture_output=True).returncode == 0
    broken = tmp_path / "t0" / original.name
    result = subprocess.run([*bagit_tool, str(broken)], capture_output=True, text=True)
    assert result.returncode != 0 and targets[0] in result.stderr
    public = tmp_path / "dev1.pem"  # the published key, not the copy inside the package
    public.write_text(keyring.public_key_pems()["dev1"])
    for bag, expected in ((original, 0), (tmp_path / "t6" / original.name, 1)):
        result = subprocess.run(  # noqa: S603 - fixed arguments, the system's openssl
            [shutil.which("openssl"), "pkeyutl", "-verify", "-pubin", "-inkey", str(public),
             "-rawin", "-in", str(bag / "tagmanifest-sha256.txt"),
             "-sigfile", str(bag / "signature/dev1.ed25519.sig")],
            capture_output=True, text=True)
        assert result.returncode == expected, result.stdout + result.stderr
    raw_key = keyring.public_keys()["dev1"]
    one_liner = (
        "import sys,base64;from cryptography.hazmat.primitives.asymmetric.ed25519 import "
        "Ed25519PublicKey as K;b=sys.argv[2];K.from_public_bytes(base64.urlsafe_b64decode("
        "sys.argv[1]+'==')).verify(open(b+'/signature/dev1.ed25519.sig','rb').read(),"
        "open(b+'/tagmanifest-sha256.txt','rb').read());print('OK')")
    good = subprocess.run([sys.executable, "-c", one_liner, raw_key, str(original)],
                          capture_output=True, text=True)
    assert good.returncode == 0 and good.stdout.strip() == "OK", good.stderr
    bad = subprocess.run([sys.executable, "-c", one_liner, raw_key,
                          str(tmp_path / "t6" / original.name)], capture_output=True)
    assert bad.returncode != 0
    assert base64.urlsafe_b64decode(raw_key + "==")  # the key is plain base64url


def test_export_round_trips_items_derive_retention_and_every_opening_is_logged(
        app, story, tmp_path):
    runner = app.test_cli_runner()
    with app.app_context():
        archive.build_due(db.session)
        (package,) = archive.packages_of(db.session, story["demo-licensed"])
        number = db.session.get(Application, story["demo-licensed"]).submission_number
        stored = _stored(package)
        package_id, package_sha = package.id, package.sha256
    out = tmp_path / "batch"
    result = runner.invoke(args=["archive", "export", number, "--out", str(out)])
    assert result.exit_code == 0, result.output
    (zip_name,) = [p.name for p in out.glob("*.zip")]
    assert (out / zip_name).read_bytes() == stored  # the package as sealed
    rows = list(csv.DictReader(io.StringIO((out / archive.TRANSFER_LIST).read_text(
        encoding="utf-8-sig"))))
    assert [(r["文件名"], r["SHA-256"], r["办件编号"]) for r in rows] == [
        (zip_name, package_sha, number)]
    checked = runner.invoke(args=["archive", "check-export", str(out)])
    assert checked.exit_code == 0 and "OK" in checked.output, checked.output
    _flip(out / zip_name)
    assert runner.invoke(args=["archive", "check-export", str(out)]).exit_code == 1

    # one package per permit item, derived from the application's, verifiable alike
    item_zip = tmp_path / "item.zip"
    with app.app_context():
        record = json.loads(_package_files(stored)["data/record.json"])
    item = record["items"][0]
    source = tmp_path / "p.zip"
    source.write_bytes(stored)
    result = runner.invoke(args=["archive", "item", str(source), item["item_code"],
                                 "--out", str(item_zip)])
    assert result.exit_code == 0, result.output
    derived = _package_files(item_zip.read_bytes())
    derived_record = json.loads(derived["data/record.json"])
    assert [i["item_code"] for i in derived_record["items"]] == [item["item_code"]]
    assert {f["material_code"] for f in derived_record["files"] if f["kind"] == "material"
            } <= set(item["materials"])
    assert f"Yiye-Source-Package-Sha256: {package_sha}" in derived["bag-info.txt"].decode()
    assert runner.invoke(args=["archive", "verify", str(item_zip)]).exit_code == 0

    # opening personal data is a role, and logged
    path = "data/personal/form-personal.json.fernet"
    with app.app_context():
        package = db.session.get(ArchivePackage, package_id)
        with pytest.raises(PermissionDenied):
            archive.open_file(db.session, staff=_staff("window1"), package=package, path=path)
        opened = archive.open_file(db.session, staff=_staff("admin1"), package=package,
                                   path=path)
        db.session.commit()
        assert ID_NUMBER in opened.decode()
        actions = [(e.action, e.actor) for e in db.session.scalars(
            select(ArchiveEvent).where(ArchiveEvent.package_id == package_id)
            .order_by(ArchiveEvent.id))]
        assert [a for a in actions if a[0] == "opened"] == [
            ("opened", f"staff:{_staff('admin1').id} {_staff('admin1').display_name}")]
        assert {"built", "exported"} <= {a for a, _ in actions}

    # retention: a held package survives its end; released, it goes and leaves a tombstone
    with app.app_context():
        package = db.session.get(ArchivePackage, package_id)
        package.retain_until = package.closed_at.date().replace(year=2000)
        db.session.commit()
    assert runner.invoke(args=["archive", "hold", number, "--reason", "诉讼保全"]).exit_code == 0
    assert "0 package(s) deleted" in runner.invoke(args=["archive", "purge"]).output
    assert runner.invoke(args=["archive", "hold", number, "--reason", "结案",
                               "--release"]).exit_code == 0
    assert "1 package(s) deleted" in runner.invoke(args=["archive", "purge"]).output
    with app.app_context():
        tombstone = db.session.get(ArchivePackage, package_id)
        assert tombstone.deleted_at is not None and tombstone.deleted_by == "cli"
        assert not app.extensions["media_store"].exists(tombstone.sha256)
        assert [e.action for e in db.session.scalars(select(ArchiveEvent).where(
            ArchiveEvent.package_id == package_id).order_by(ArchiveEvent.id))][-3:] == [
            "hold", "released", "deleted"]
    gone = runner.invoke(args=["archive", "verify", number])
    assert "GONE" in gone.output and package_sha in gone.output


def test_the_verify_button_is_the_windows_and_names_a_changed_file(app, story, client):
    from tests.test_console_session import sign_in

    with app.app_context():
        archive.build_due(db.session)
        (package,) = archive.packages_of(db.session, story["demo-licensed"])
    case = f"/console/applications/{story['demo-licensed']}"
    assert sign_in(client, "window1", password="demo-password-1").status_code == 302
    page = client.get(case)
    assert "验证档案包 第1版" in page.text
    resp = client.post(f"{case}/archive/1/verify", data={"csrf_token": csrf_of(page.text)})
    assert resp.status_code == 200 and "档案包第 1 版验证通过" in resp.text
    # opening (downloading) a package is the administrators', and logged
    path = app.extensions["media_store"].path_of(package.sha256)
    assert "下载档案包" not in page.text
    assert client.get(f"{case}/archive/1.zip").status_code == 403
    admin = app.test_client()
    assert sign_in(admin, "admin1", password="demo-password-1").status_code == 302
    assert "下载档案包 第1版" in admin.get(case).text
    download = admin.get(f"{case}/archive/1.zip")
    assert download.status_code == 200 and download.data == path.read_bytes()
    with app.app_context():
        opened = db.session.scalars(select(ArchiveEvent).where(
            ArchiveEvent.action == "opened")).all()
        assert [(e.actor.split()[0], e.detail) for e in opened] == [
            (f"staff:{_staff('admin1').id}", {"path": "*", "download": True})]
    # the stored bytes changed behind our back: the page names the file
    data = bytearray(path.read_bytes())
    data[data.index(b'"submission_number"') + 3] ^= 0x01
    path.write_bytes(bytes(data))
    resp = client.post(f"{case}/archive/1/verify", data={"csrf_token": csrf_of(page.text)})
    assert "验证未通过" in resp.text and "data/record.json" in resp.text
    with app.app_context():
        assert [e.detail["ok"] for e in db.session.scalars(select(ArchiveEvent).where(
            ArchiveEvent.action == "verified").order_by(ArchiveEvent.id))] == [True, False]
    # and bytes that are not the recorded package are never handed out
    assert admin.get(f"{case}/archive/1.zip").status_code == 409


def test_a_package_is_signed_by_every_key_ed25519_and_sm2_each_checked_by_openssl(tmp_path):
    ed25519, sm2 = generate_key_text("k2026a"), generate_key_text("g2026", "sm2")
    keyring = Keyring.from_settings(f"{ed25519},{sm2}", "k2026a")
    zipped, _ = bags.make({"record.json": b"{}"}, bag_name="yyz-test-v1", info={},
                          sign=lambda m: archive.signature_files(keyring, m))
    verdict = bags.check(zipped, archive.signature_check(keyring))
    assert verdict.ok and verdict.signatures == {"k2026a": True, "g2026": True}
    root = bags.unzip(zipped, tmp_path)
    pems = keyring.public_key_pems()
    for kid, scheme, extra in (("k2026a", "ed25519", []),
                               ("g2026", "sm2", ["-digest", "sm3", "-pkeyopt",
                                                 "distid:1234567812345678"])):
        key = tmp_path / f"{kid}.pem"
        key.write_text(pems[kid])
        result = subprocess.run(  # noqa: S603 - fixed arguments, the system's openssl
            [shutil.which("openssl"), "pkeyutl", "-verify", "-pubin", "-inkey", str(key),
             "-rawin", *extra, "-in", str(root / "tagmanifest-sha256.txt"),
             "-sigfile", str(root / f"signature/{kid}.{scheme}.sig")],
            capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    # a key retired since: its signature no longer counts, the other one still does
    retired = Keyring.from_settings(f"{ed25519},{sm2}", "k2026a", retired="g2026")
    verdict = bags.check(zipped, archive.signature_check(retired))
    assert verdict.signatures == {"k2026a": True, "g2026": False}
    assert verdict.files == ["signature/g2026.sm2.sig"]


# --- packages an auditor meets outside the service (breaker findings on #15) -----------------


def _v1(app, story: dict[str, int]) -> tuple[bytes, str, str]:
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


def test_an_untouched_package_rezipped_with_directory_entries_verifies(app, story, tmp_path):
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


def test_a_zip_slip_member_is_a_named_failure_not_a_traceback(app, story, tmp_path):
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


def test_a_package_renamed_as_another_version_fails_naming_the_mismatch(
        app, story, tmp_path):
    """The file and bag name say which case and version a package is (docs/archive.md); an
    old version 1 handed over under the name of version 2 (hiding the revocation) — or any
    case's package under another case's name — must not verify 'OK' under that name."""
    data, bag_name, number = _v1(app, story)
    bag = bags.unzip(data, tmp_path / "x")
    forged_name = bag_name.replace("-v1", "-v2")
    forged = bag.rename(bag.parent / forged_name)
    result = app.test_cli_runner().invoke(args=["archive", "verify", str(forged)])
    assert result.exit_code == 1, result.output
    assert f"bag-info.txt: 包名 {forged_name} 与 External-Identifier {bag_name} 不符" \
        in result.output
    zipped = tmp_path / f"{forged_name}.zip"  # the zip file renamed, the bag inside not
    zipped.write_bytes(data)
    result = app.test_cli_runner().invoke(args=["archive", "verify", str(zipped)])
    assert result.exit_code == 1 and f"{forged_name}.zip: 文件名与包名" in result.output


def test_check_export_holds_the_signed_transfer_lists_against_the_batch(app, story, tmp_path):
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
    assert f"{archive.TRANSFER_LIST}: 与 {archive.TRANSFER_MANIFEST}" in checked.output
    # a package struck from the batch and from BOTH lists: the lists' signature says so
    struck = tmp_path / "struck"
    assert runner.invoke(args=["archive", "export", number, "--out", str(struck)]
                         ).exit_code == 0
    ok = runner.invoke(args=["archive", "check-export", str(struck)])
    assert ok.exit_code == 0 and "OK    移交清单.csv" in ok.output, ok.output
    # offline, as docs/archive.md says: the lists' digests, then their signature
    assert subprocess.run(["sha256sum", "-c", archive.TRANSFER_MANIFEST], cwd=struck,  # noqa: S607
                          capture_output=True).returncode == 0
    public = tmp_path / "dev1.pem"
    with app.app_context():
        public.write_text(app.extensions["license_keyring"].public_key_pems()["dev1"])
    result = subprocess.run(  # noqa: S603 - fixed arguments, the system's openssl
        [shutil.which("openssl"), "pkeyutl", "-verify", "-pubin", "-inkey", str(public),
         "-rawin", "-in", str(struck / archive.TRANSFER_MANIFEST),
         "-sigfile", str(struck / "signature/dev1.ed25519.sig")], capture_output=True)
    assert result.returncode == 0, result.stdout + result.stderr
    listing = json.loads((struck / archive.TRANSFER_JSON).read_text())
    (struck / listing["packages"][0]["文件名"]).unlink()
    listing["packages"], listing["count"] = [], 0
    (struck / archive.TRANSFER_JSON).write_bytes(json.dumps(listing).encode())
    header = ",".join(archive.TRANSFER_COLUMNS) + "\r\n"
    (struck / archive.TRANSFER_LIST).write_bytes(("\ufeff" + header).encode())
    lines = [f"{hashlib.sha256((struck / n).read_bytes()).hexdigest()}  {n}\n"
             for n in (archive.TRANSFER_LIST, archive.TRANSFER_JSON)]
    (struck / archive.TRANSFER_MANIFEST).write_text("".join(lines))
    checked = runner.invoke(args=["archive", "check-export", str(struck)])
    assert checked.exit_code == 1 and "signature/dev1.ed25519.sig" in checked.output, \
        checked.output


def test_a_removed_or_added_payload_file_is_named(app, story, tmp_path):
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


def test_a_stray_fetch_txt_is_a_named_failure_not_a_traceback(app, story, tmp_path):
    data, _, _ = _v1(app, story)
    bag = bags.unzip(data, tmp_path / "x")
    (bag / "fetch.txt").write_text("x\n")
    result = app.test_cli_runner().invoke(args=["archive", "verify", str(bag)])
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert result.exit_code == 1 and "fetch.txt" in result.output, result.output


def test_verifying_a_case_fails_when_its_stored_bytes_are_another_cases_package(app, story):
    """`flask archive verify <case>` must prove the stored bytes are that case's package: a
    genuine package of ANOTHER case put in its place (a wrong backup restored, a swapped
    file) is not "OK" — the row records the package's SHA-256, its tag manifest's SHA-256,
    the case and the version, and none of them is compared."""
    with app.app_context():
        archive.build_due(db.session)
        (licensed,) = archive.packages_of(db.session, story["demo-licensed"])
        number = db.session.get(Application, story["demo-licensed"]).submission_number
        waiting = db.session.get(Application, story["demo-submitted"])
        window.reject(db.session, staff=_staff("window1"), application_id=waiting.id,
                      version=waiting.lock_version, reason="不属于本机关职权范围")
        db.session.commit()
        archive.build_due(db.session)
        (other,) = archive.packages_of(db.session, story["demo-submitted"])
        store = app.extensions["media_store"]
        store.path_of(licensed.sha256).write_bytes(_stored(other))
    result = app.test_cli_runner().invoke(args=["archive", "verify", number])
    assert result.exit_code == 1, result.output
    with app.app_context():  # and such bytes are never handed out as the case's package
        with pytest.raises(Conflict) as altered:
            archive.download_for_staff(db.session, staff=_staff("admin1"),
                                       application_id=story["demo-licensed"], version=1)
        assert altered.value.code == "ARCHIVE_PACKAGE_ALTERED"


def test_an_item_package_is_refused_from_a_tampered_or_unrecorded_source(app, story, tmp_path):
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
    assert made.exit_code == 1 and "data/record.json" in made.output, made.output
    # signed by our key and well named, but never recorded by the service: refused too
    with app.app_context():
        keyring = app.extensions["license_keyring"]
    stray, _ = bags.make({"record.json": json.dumps(forged_record).encode()},
                         bag_name="yyz-X-v1", info={"External-Identifier": "yyz-X-v1",
                                                    "Yiye-Package-Version": "1"},
                         sign=lambda m: archive.signature_files(keyring, m))
    source.write_bytes(stray)
    made = runner.invoke(args=["archive", "item", str(source), item_code, "--out", str(derived)])
    assert made.exit_code == 1 and "not a package this service recorded" in made.output


def test_a_legal_hold_on_a_case_covers_versions_written_after_it(app, story):
    """`flask archive hold <case>` holds "every version of an application's package"; a
    revocation after the hold writes version 2 — the case is still under the court's hold,
    so purge must not delete version 2 either."""
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


def test_an_agent_cases_power_of_attorney_is_sealed_encrypted(app, story):
    """授权委托书 carries the principal's and the agent's ID numbers: like the ID documents,
    it is encrypted inside the package (application_form.PERSONAL_MATERIALS)."""
    agent_id_number = "11010519491231002X"
    letter = f"%PDF-1.4 授权委托书 受托人 李四 身份证号 {agent_id_number}".encode()
    with app.app_context():
        application = db.session.get(Application, story["demo-licensed"])
        application.answers = {**application.answers, "applicant_is_agent": True}
        store = app.extensions["media_store"]
        for code in ("power_of_attorney", "agent_id"):
            db.session.add(MaterialFile(
                application_id=application.id, material_code=code, position=1,
                sha256=store.put(letter), media_type="application/pdf",
                byte_size=len(letter)))
        db.session.commit()
        archive.build_due(db.session)
        (package,) = archive.packages_of(db.session, application.id)
        files = _package_files(_stored(package))
    record = json.loads(files["data/record.json"])
    entry = next(f for f in record["files"] if f.get("material_code") == "power_of_attorney")
    assert entry["encrypted"] and entry["path"].endswith(archive.ENCRYPTED)
    assert not any(agent_id_number.encode() in content for content in files.values())
    fernet = archive_rules.personal_keys("", app.extensions["settings"].SECRET_KEY)
    assert fernet.decrypt(files[entry["path"]]) == letter
