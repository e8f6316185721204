"""Each license's public record (backend.services.public_records): rewritten in the commit of
every change to what it is made of, read by a cold public scan, rebuilt by a command.

(The suite also checks, after every test, that no license's record differs from the join:
tests/conftest.py ``_clean_state``.)"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import flask_migrate
import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from backend import clock
from backend.extensions import db
from backend.models import Elicense, Inspection, License, LicenseItem, LicensePublicRecord
from backend.services import public_records
from tests.test_licenses import issue_shop_license, public, sent_to_the_database

FILING = "food_prepackaged_filing"


@pytest.fixture
def licensed(client, login, staff_login):
    return issue_shop_license(client, login, staff_login)


def stored(session, number: str) -> str | None:
    return session.scalar(select(LicensePublicRecord.record).where(
        LicensePublicRecord.license_no == number))


def test_a_change_to_any_part_rewrites_the_record_in_its_commit(licensed, session, app):
    """The license, one permit, one e-license or the joint inspection changed alone (each
    its own commit, through the ORM) is on the next scan; a change rolled back is not, and
    leaves nothing to write at the next commit."""
    number = licensed["license"]["license_no"]
    license_ = session.get(License, licensed["license"]["id"])
    concluded = clock.today() - timedelta(days=2)

    session.add(Inspection(application_id=license_.application_id, status="passed",
                           item_codes=[FILING], outcome="passed", concluded_on=concluded))
    session.commit()
    assert public_records.by_number(session, number).inspected_on == concluded

    item = next(i for i in license_.items if i.item_code == FILING)
    item.status, item.status_reason = "suspended", "检查发现问题"
    session.commit()
    read = public_records.by_number(session, number)
    assert [(i.item_code, i.status, i.status_reason) for i in read.items
            if i.item_code == FILING] == [(FILING, "suspended", "检查发现问题")]

    elicense = session.scalars(select(Elicense).where(
        Elicense.license_id == license_.id, Elicense.item_code == "")).one()
    elicense.identifier = elicense.identifier[:-1] + "X"
    session.commit()
    assert public_records.by_number(session, number).identifier == elicense.identifier

    license_.holder_name = "新名称便利店"
    session.commit()
    before = stored(session, number)
    assert '"新名称便利店"' in before

    with app.app_context():
        engine = db.engine
    with Session(engine) as transaction:  # the test's own session commits each statement
        transaction.get(License, license_.id).holder_name = "不会提交的名称"
        transaction.flush()
        assert public_records._NOTED in transaction.info
        transaction.rollback()
        assert public_records._NOTED not in transaction.info
    assert stored(session, number) == before
    assert public_records.stale(session.connection()) == []


def test_scans_made_together_read_their_records_in_one_query_each_its_own(
        licensed, app, session, monkeypatch):
    """Sixteen threads scanning at once on MariaDB, while the first one's query is held at
    the driver: the fifteen others' records come in one query (counted where it leaves),
    and each thread gets its own license's record or, for a number with none, None."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("counted at pymysql")
    number = licensed["license"]["license_no"]
    asked = [number if i % 3 == 0 else f"{number}{i:02}" for i in range(16)]
    with app.app_context():
        engine = db.engine
    expected = public_records.by_number(session, number)
    import pymysql.connections  # noqa: PLC0415

    def held_until_the_others_queue(connection, command, sql):
        text = sql.decode() if isinstance(sql, bytes) else sql
        if not held and "license_public_records" in text:  # not other threads' statements
            held.append(text)
            reader = public_records._READERS[engine]
            deadline = time.monotonic() + 10
            while len(reader._queue) < len(asked) - 1:
                assert time.monotonic() < deadline, "the other scans never queued"
                time.sleep(0.001)
        return send(connection, command, sql)

    def scan(license_no):
        with Session(engine) as own:
            return public_records.by_number(own, license_no)

    held: list = []
    with (sent_to_the_database(app, monkeypatch) as sent, monkeypatch.context() as patch,
          ThreadPoolExecutor(len(asked)) as pool):
        send = pymysql.connections.Connection._execute_command
        patch.setattr(pymysql.connections.Connection, "_execute_command",
                      held_until_the_others_queue)
        first = pool.submit(scan, asked[0])
        while not held:
            time.sleep(0.001)
        rest = pool.map(scan, asked[1:])
        read = [first.result(), *rest]
    assert read == [expected if n == number else None for n in asked]
    selects = [sql for _, sql in sent if sql.upper().startswith("SELECT")]
    gathered = [sql for sql in selects if "FROM license_public_records" in sql]
    assert len(gathered) == 2 and all(n in gathered[1] for n in asked[1:]), gathered
    missing = [n for n in asked if n != number]  # read through the join, each alone
    joins = [sql for sql in selects if sql not in gathered]
    assert sorted(n for n in missing for sql in joins if f"'{n}'" in sql) == sorted(missing)
    assert len(joins) == len(missing), joins


def test_a_permit_removed_leaves_the_record(licensed, session):
    number = licensed["license"]["license_no"]
    license_ = session.get(License, licensed["license"]["id"])
    license_.items.remove(next(i for i in license_.items if i.item_code == FILING))
    session.commit()
    assert [i.item_code for i in public_records.by_number(session, number).items] == [
        i.item_code for i in session.scalars(select(LicenseItem).where(
            LicenseItem.license_id == license_.id).order_by(LicenseItem.id))]
    assert FILING not in stored(session, number)


def test_a_missing_record_is_answered_from_the_join_and_the_command_writes_it(
        licensed, session, app, client, caplog):
    """A record lost (a restore, SQL by hand) costs speed, not the answer: the scan reads the
    join and logs an error; `flask licenses public-records --check` names the license and
    fails, the command writes it back, and the check passes."""
    number = licensed["license"]["license_no"]
    kept = stored(session, number)
    session.execute(delete(LicensePublicRecord))
    session.commit()
    app.extensions["verdicts"].clear()
    assert public(client, licensed["license"]["verify_url"])["verdict"] == "valid"
    assert any(r.getMessage() == "license without its public record"
               and r.license_no == number for r in caplog.records)

    runner = app.test_cli_runner()
    check = runner.invoke(args=["licenses", "public-records", "--check"])
    assert check.exit_code == 1 and number in check.output.split()
    written = runner.invoke(args=["licenses", "public-records"])
    assert written.exit_code == 0 and "public records written: 1" in written.output
    assert stored(session, number) == kept
    again = runner.invoke(args=["licenses", "public-records", "--check"])
    assert again.exit_code == 0 and "public records differing: 0" in again.output


def test_the_migration_gives_each_license_an_empty_record_the_command_fills(
        app, licensed, session, client):
    """Upgrading a database with licenses: each gets an empty record (plain SQL, whatever
    later revisions add), its scans are read through the join, silently (no error line: the
    record is there, being written), and the command fills them."""
    number = licensed["license"]["license_no"]
    kept = stored(session, number)
    session.close()
    with app.app_context():
        db.session.remove()
        flask_migrate.downgrade(revision="3f6c1d2e8b90")
        flask_migrate.upgrade()
    assert session.scalar(select(LicensePublicRecord.record).where(
        LicensePublicRecord.license_no == number)) is None
    app.extensions["verdicts"].clear()
    assert public(client, licensed["license"]["verify_url"])["verdict"] == "valid"
    written = app.test_cli_runner().invoke(args=["licenses", "public-records"])
    assert written.exit_code == 0 and "public records written: 1" in written.output
    assert stored(session, number) == kept


def test_a_change_empties_the_record_in_its_transaction_and_a_failed_rewrite_stays_right(
        licensed, session, app, monkeypatch, client):
    """Until its commit, a change's transaction holds the record emptied; after it, the record
    is written again. When that rewrite fails, the commit stands and scans read the license
    through the join (right, slower) until the command writes it."""
    number = licensed["license"]["license_no"]
    item = session.scalars(select(LicenseItem).where(
        LicenseItem.license_id == licensed["license"]["id"],
        LicenseItem.item_code == FILING)).one()
    with app.app_context():
        engine = db.engine
    with Session(engine) as transaction:
        transaction.get(LicenseItem, item.id).status = "suspended"
        transaction.flush()
        public_records._empty_noted(transaction)
        assert transaction.scalar(select(LicensePublicRecord.record).where(
            LicensePublicRecord.license_no == number)) is None
        transaction.rollback()
    assert stored(session, number) is not None

    monkeypatch.setattr(public_records, "rewrite", lambda *_: 1 / 0)
    item.status, item.status_reason = "revoked", "吊销"
    session.commit()
    assert stored(session, number) is None
    app.extensions["verdicts"].clear()
    shown = public(client, licensed["license"]["verify_url"])
    assert [i["status"] for i in shown["items"] if i["name"] == item.item_name] == ["revoked"]
    monkeypatch.undo()
    check = app.test_cli_runner().invoke(args=["licenses", "public-records", "--check"])
    assert check.exit_code == 1 and number in check.output.split()
    assert app.test_cli_runner().invoke(args=["licenses", "public-records"]).exit_code == 0
    assert '"revoked"' in stored(session, number)


def test_two_changes_of_one_license_at_once_both_reach_the_record(licensed, app, session):
    """MariaDB: a permit suspended in one transaction (its snapshot taken before the other
    commits) while another renames the holder and commits first: the record ends with both,
    as the join reads them."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite runs one writer at a time")
    number, license_id = licensed["license"]["license_no"], licensed["license"]["id"]
    with app.app_context():
        engine = db.engine
    with Session(engine) as first, Session(engine) as second:
        item = first.scalars(select(LicenseItem).where(
            LicenseItem.license_id == license_id, LicenseItem.item_code == FILING)).one()
        item.status, item.status_reason = "suspended", "检查发现问题"
        first.flush()  # its snapshot is from before the other's commit
        second.get(License, license_id).holder_name = "改名后的便利店"
        second.commit()
        first.commit()
    record = public_records.by_number(session, number)
    assert record.holder_name == "改名后的便利店"
    assert [i.status for i in record.items if i.item_code == FILING] == ["suspended"]
    assert public_records.stale(session.connection()) == []


def test_savepoints_inside_a_change_neither_lose_nor_strand_its_records(licensed, app,
                                                                       session):
    """A change noted before a SAVEPOINT that is rolled back (``twins.insert_or_find`` on a
    concurrent twin) still reaches the record at the outer commit; one made in a SAVEPOINT
    that is released is rewritten after the outer commit, not left empty; an outer rollback
    leaves the record as it was."""
    number, license_id = licensed["license"]["license_no"], licensed["license"]["id"]
    with app.app_context():
        engine = db.engine
    with Session(engine) as transaction:
        transaction.get(License, license_id).holder_name = "保存点之前的改名"
        transaction.flush()
        savepoint = transaction.begin_nested()
        transaction.get(License, license_id).premises_address = "回滚掉的地址"
        transaction.flush()
        savepoint.rollback()
        transaction.commit()
    record = public_records.by_number(session, number)
    assert (record.holder_name, stored(session, number) is not None) == ("保存点之前的改名", True)
    assert record.premises_address != "回滚掉的地址"

    with Session(engine) as transaction:
        with transaction.begin_nested():
            item = transaction.scalars(select(LicenseItem).where(
                LicenseItem.license_id == license_id, LicenseItem.item_code == FILING)).one()
            item.status, item.status_reason = "suspended", "保存点内暂停"
        transaction.commit()
    assert [i.status for i in public_records.by_number(session, number).items
            if i.item_code == FILING] == ["suspended"]
    kept = stored(session, number)
    assert kept is not None

    with Session(engine) as transaction:
        transaction.get(License, license_id).holder_name = "不会提交"
        with transaction.begin_nested():
            transaction.get(License, license_id).premises_address = "也不会提交"
        transaction.rollback()
    assert stored(session, number) == kept
    assert public_records.stale(session.connection()) == []


def test_the_command_run_while_a_change_commits_never_writes_the_old_record_back(
        licensed, app, session):
    """MariaDB: `flask licenses public-records` started (its list of licenses read) before a
    change commits and is rewritten: each batch reads the join as committed when it runs."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite runs one writer at a time")
    number, license_id = licensed["license"]["license_no"], licensed["license"]["id"]
    with app.app_context():
        engine = db.engine
    started, pending = public_records.rewrite, [True]

    def rewrite_after_a_change(engine_, ids):
        if pending:  # before the first batch a change commits (its own rewrite is the real one)
            pending.pop()
            with Session(engine) as change:
                change.get(License, license_id).holder_name = "改名后的便利店"
                change.commit()
        return started(engine_, ids)

    public_records.rewrite = rewrite_after_a_change
    try:
        assert public_records.rebuild(engine) == 1
    finally:
        public_records.rewrite = started
    assert public_records.by_number(session, number).holder_name == "改名后的便利店"
