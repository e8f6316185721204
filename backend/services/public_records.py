"""The public record of each license (``license_public_records``): what a public scan shows —
the face and its state, the 证照标识 of the license and of each permit with the permit's state
and validity, the joint inspection's date and outcome — as one JSON array in one row.

Why: a scan of a code no web process keeps (``verification.Verdicts``) reads one column of
one row by a unique key, where the five-table join it is made of cost MariaDB three times the
CPU (0.11 vs 0.29-0.35 ms a scan) and the whole scan 1.08 instead of 1.31 ms of CPU
(docs/bench-http.md, round 8).

The join stays the definition, and a record is never trusted while it may be behind it:

1. a transaction that changes anything a record is made of (the license, its permits, their
   e-licenses, the application's inspections: :func:`_noted`, after each flush) empties
   those licenses' records in the same transaction (:func:`_empty_noted`), so from its
   commit a scan reads them through the join;
2. after the commit, :func:`rewrite` fills them again in a transaction of its own (on a
   connection of its own, once the committed one is back in the pool): it first
   locks the record rows, then reads the join as now committed (READ COMMITTED), so two
   rewrites of one license run one after the other and the later reads what the earlier
   could not have seen. Only these two steps lock record rows, each as its transaction's
   last writes, and a rewrite reads without locking: neither waits for the other while
   holding what the other needs, so no deadlock.

A rewrite that fails (the database gone at that moment) leaves the record empty: scans stay
right, through the join, until the next change or `flask licenses public-records` (which
rewrites every record the same way, a batch at a time, while the service runs). A change
made by a Core UPDATE of those columns is not seen by the ORM: none does today
(``elicenses.sealed`` touches no column of the record); one that does must :func:`note` its
licenses.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import date
from functools import lru_cache, partial
from itertools import chain
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, bindparam, delete, event, func, insert, select, update
from sqlalchemy.orm import Session, SessionTransaction, aliased
from sqlalchemy.sql import Select

from backend.coalescing import Coalescer
from backend.extensions import autocommit_rows, engine_of
from backend.models import Elicense, Inspection, License, LicenseItem, LicensePublicRecord
from backend.models.elicenses import COMBINED
from backend.services.licenses import PublicItem, PublicLicense, plausible_number

log = logging.getLogger(__name__)

_COMBINED = aliased(Elicense)
_PERMIT = aliased(Elicense)
_SOURCES = {"identifier": _COMBINED.identifier, "inspected_on": Inspection.concluded_on,
            "inspection_outcome": Inspection.outcome}
_COLUMNS = [_SOURCES.get(f.name) or getattr(License, f.name)
            for f in fields(PublicLicense) if f.name != "items"]
_ITEM_COLUMNS = [_PERMIT.identifier if f.name == "identifier" else getattr(LicenseItem, f.name)
                 for f in fields(PublicItem)]
# A row is the license's id, then two JSON arrays: its values and one permit's with the
# permit's id last (one value each for the driver to parse, not 22)
_JOIN = (
    select(License.id, func.json_array(*_COLUMNS),
           func.json_array(*_ITEM_COLUMNS, LicenseItem.id))
    .outerjoin(_COMBINED, (_COMBINED.license_id == License.id)
               & (_COMBINED.item_code == COMBINED))
    .outerjoin(Inspection, (Inspection.application_id == License.application_id)
               & (Inspection.kind == "joint"))
    .outerjoin(License.items)
    .outerjoin(_PERMIT, (_PERMIT.license_id == LicenseItem.license_id)
               & (_PERMIT.item_code == LicenseItem.item_code)))
_BY_IDS = _JOIN.where(License.id.in_(bindparam("ids", expanding=True)))
_BY_NUMBER = _JOIN.where(License.license_no == bindparam("license_no"))
_READERS: WeakKeyDictionary[Engine, Coalescer] = WeakKeyDictionary()  # one per database
_NO_ROW = object()
# (position, parse) of the values JSON carries as text (dates) or 0/1 (booleans)
_TYPED = {cls: [(i, {"date": date.fromisoformat, "bool": bool}[kind])
                for i, kind in enumerate(f.type.split(" |")[0] for f in fields(cls))
                if kind in ("date", "bool")]
          for cls in (PublicLicense, PublicItem)}


def _typed(cls: type, values: list) -> list:
    """``cls``'s fields (in order) as read from JSON, as their Python values."""
    for i, parse in _TYPED[cls]:
        if values[i] is not None:
            values[i] = parse(values[i])
    return values


def _records(rows: Iterable[Sequence]) -> dict[int, PublicLicense]:
    """The join's rows as each license's record, its permits in the order they were bundled
    (put in order here, not by ORDER BY: MariaDB sorted JSON text in a temporary table)."""
    heads: dict[int, str] = {}
    permits: dict[int, list[list]] = {}
    for license_id, head, permit in rows:
        heads[license_id] = head
        values = json.loads(permit)
        if values[-1] is not None:  # a license with no permit has one row of nulls
            permits.setdefault(license_id, []).append(values)
    return {license_id: PublicLicense(
        *_typed(PublicLicense, json.loads(head)),
        items=tuple(PublicItem(*_typed(PublicItem, p[:-1]))
                    for p in sorted(permits.get(license_id, ()), key=lambda p: p[-1])))
        for license_id, head in heads.items()}


def _dumps(record: PublicLicense) -> str:
    """One JSON array: the license's values in field order, its permits' arrays last."""
    values = [getattr(record, f.name) for f in fields(PublicLicense) if f.name != "items"]
    items = [[getattr(item, f.name) for f in fields(PublicItem)] for item in record.items]
    return json.dumps([*values, items], ensure_ascii=False, separators=(",", ":"),
                      default=date.isoformat)


def _loads(text: str) -> PublicLicense:
    *values, items = json.loads(text)
    return PublicLicense(*_typed(PublicLicense, values),
                         items=tuple(PublicItem(*_typed(PublicItem, i)) for i in items))


def by_number(session: Session, license_no: str) -> PublicLicense | None:
    """What a public scan reads of license ``license_no`` (None: there is no such license):
    its record, by its number exactly, on a connection of its own in autocommit mode
    (``extensions.autocommit_rows``: what is committed, no transaction begun or ended), in one
    query with the records other threads of the process ask for at the same time
    (``coalescing``). An emptied record (a change being written) is read through the join;
    so is a missing one, logged as an error (a license loaded around the service)."""
    if not plausible_number(license_no):
        return None
    engine = engine_of(session)
    reader = _READERS.get(engine) or _READERS.setdefault(engine, Coalescer())
    text = reader.get(license_no, partial(_read, engine), _NO_ROW)
    if text is not None and text is not _NO_ROW:
        return _loads(text)
    found = _records(autocommit_rows(engine, _BY_NUMBER, {"license_no": license_no}))
    if found and text is _NO_ROW:
        log.error("license without its public record", extra={"license_no": license_no})
    return next(iter(found.values()), None)


def _read(engine: Engine, numbers: list[str]) -> dict[str, str | None]:
    """number → record text (None: emptied) of those of ``numbers`` that have a row."""
    size = 1 << (len(numbers) - 1).bit_length()  # a few statements, each compiled once
    values = {f"n{i}": numbers[min(i, len(numbers) - 1)] for i in range(size)}
    return dict(autocommit_rows(engine, _read_statement(size), values))


@lru_cache(maxsize=8)
def _read_statement(size: int) -> Select:
    return select(LicensePublicRecord.license_no, LicensePublicRecord.record).where(
        LicensePublicRecord.license_no.in_([bindparam(f"n{i}") for i in range(size)]))


def rewrite(engine: Engine, license_ids: Iterable[int]) -> int:
    """Write the records of ``license_ids`` while the service runs (after the commit that
    emptied them, or the command): their rows locked first, then the join read as committed
    now (see the module's docstring). A license with no row gets one; a row whose license is
    gone goes. The number written."""
    ids = sorted(set(license_ids))
    if engine.dialect.name in ("mysql", "mariadb"):
        engine = engine.execution_options(isolation_level="READ COMMITTED")
    with engine.begin() as connection:
        held = set(connection.scalars(
            select(LicensePublicRecord.license_id).where(
                LicensePublicRecord.license_id.in_(ids))
            .order_by(LicensePublicRecord.license_id).with_for_update()))
        records = _records(connection.execute(_BY_IDS, {"ids": ids}))
        rows = [{"id": license_id, "number": record.license_no, "text": _dumps(record)}
                for license_id, record in records.items()]
        if held & records.keys():
            connection.execute(update(LicensePublicRecord).where(
                LicensePublicRecord.license_id == bindparam("id")).values(
                license_no=bindparam("number"), record=bindparam("text")),
                [row for row in rows if row["id"] in held])
        if records.keys() - held:
            connection.execute(insert(LicensePublicRecord), [
                {"license_id": row["id"], "license_no": row["number"], "record": row["text"]}
                for row in rows if row["id"] not in held])
        if held - records.keys():  # licenses deleted since
            connection.execute(delete(LicensePublicRecord).where(
                LicensePublicRecord.license_id.in_(held - records.keys())))
    return len(records)


def rebuild(engine: Engine, license_ids: Iterable[int] | None = None, batch: int = 1000
            ) -> int:
    """The records of ``license_ids`` (None: every license's) anew while the service runs
    (`flask licenses public-records`; the bench's seed after a bulk load): :func:`rewrite` a
    batch at a time, each in a transaction of its own, so a change committed meanwhile is
    never written back over. The number written."""
    if license_ids is None:
        with engine.connect() as connection:
            license_ids = list(connection.scalars(select(License.id)))
    ids = sorted(set(license_ids))
    return sum(rewrite(engine, ids[start:start + batch]) for start in range(0, len(ids), batch))


def stale(connection: Connection, batch: int = 1000) -> list[str]:
    """The numbers of the licenses whose record is missing or differs from what the join
    reads now, and of records left without a license: none while every change goes through
    the service (`flask licenses public-records --check`; the suite checks after each test)."""
    ids, found = list(connection.scalars(select(License.id))), []
    for start in range(0, len(ids), batch):
        chunk = ids[start:start + batch]
        kept = dict(connection.execute(select(
            LicensePublicRecord.license_id, LicensePublicRecord.record).where(
            LicensePublicRecord.license_id.in_(chunk))).all())
        found += [record.license_no for license_id, record in
                  _records(connection.execute(_BY_IDS, {"ids": chunk})).items()
                  if kept.get(license_id) != _dumps(record)]
    return found + list(connection.scalars(select(LicensePublicRecord.license_no).where(
        LicensePublicRecord.license_id.not_in(select(License.id)))))


_NOTED = "public_records.noted"  # session.info: (license ids, application ids) changed
_EMPTIED = "public_records.emptied"  # session.info: license ids emptied in this transaction
_COMMITTED = "public_records.committed"  # …and committed: to rewrite


def note(session: Session, license_ids: Iterable[int] = (),
         application_ids: Iterable[int] = ()) -> None:
    """Rewrite these licenses' records (those of these applications') at commit."""
    licenses, applications = session.info.setdefault(_NOTED, (set(), set()))
    licenses.update(license_ids)
    applications.update(application_ids)


@event.listens_for(Session, "after_flush")
def _noted(session: Session, _context) -> None:
    """Each flushed change to what a record is made of notes its license (by its application
    for an inspection, which may come before the license)."""
    for row in chain(session.new, session.dirty, session.deleted):
        if isinstance(row, License):
            note(session, [row.id])
        elif isinstance(row, LicenseItem | Elicense):
            note(session, [row.license_id])
        elif isinstance(row, Inspection):
            note(session, application_ids=[row.application_id])


@event.listens_for(Session, "before_commit")
def _empty_noted(session: Session) -> None:
    """In the changing transaction: the noted licenses' records emptied (a row made for a
    new license), so from this commit on a scan reads them through the join. Only at the
    outermost commit (a SAVEPOINT's release fires this too): emptying is the transaction's
    last write, one UPDATE taking the rows in key order, as a rewrite does."""
    session.flush()  # commit flushes after this event: what is pending is noted first
    if _NOTED not in session.info or session.in_nested_transaction():
        return
    licenses, applications = session.info.pop(_NOTED)
    if applications:
        licenses |= set(session.scalars(select(License.id).where(
            License.application_id.in_(applications))))
    licenses.discard(None)
    if not licenses:
        return
    session.execute(update(LicensePublicRecord).where(
        LicensePublicRecord.license_id.in_(licenses)).values(record=None))
    new = session.execute(select(License.id, License.license_no).where(
        License.id.in_(licenses), License.id.not_in(select(LicensePublicRecord.license_id)))
    ).all()
    if new:
        session.execute(insert(LicensePublicRecord), [
            {"license_id": license_id, "license_no": number, "record": None}
            for license_id, number in new])
    session.info[_EMPTIED] = licenses


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    """What the outermost commit emptied is to rewrite (only it empties: ``_empty_noted``)."""
    if _EMPTIED in session.info:
        session.info[_COMMITTED] = session.info.pop(_EMPTIED)


@event.listens_for(Session, "after_transaction_end")
def _rewrite_committed(session: Session, transaction: SessionTransaction) -> None:
    """When the outermost transaction ends: after a commit, once it has given its connection
    back (a rewrite takes one of its own: holding both, every web thread at once would need
    two), the records it emptied are written; after a rollback nothing noted is kept. Not
    on a SAVEPOINT's rollback (``after_rollback`` fires for those too): what the enclosing
    transaction noted before it still commits with it."""
    if transaction.parent is not None:
        return
    session.info.pop(_NOTED, None)
    session.info.pop(_EMPTIED, None)
    emptied = session.info.pop(_COMMITTED, None)
    if not emptied:
        return
    try:
        rewrite(session.get_bind(), emptied)
    except Exception:  # the commit stands; scans read these licenses through the join
        log.exception("public records not rewritten", extra={"licenses": sorted(emptied)[:10]})
