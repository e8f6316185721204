"""Insert a row guarded by a unique key, or find the twin a concurrent request committed.

Two requests at once (a double tap, a weak-4G retry racing the original) may both look, find
nothing and insert; the unique key lets one in and refuses the other. The loser must then read
the winner's row, but a plain SELECT inside its own transaction reads the snapshot taken at
its first read (MariaDB/InnoDB REPEATABLE READ, "consistent nonlocking reads"), from before the
winner committed, and finds nothing. A locking read (``SELECT … LOCK IN SHARE MODE``) reads
the latest committed row instead; SQLite, one writer at a time, reads it anyway and ignores
the lock clause. The refused insert waited for the winner to commit, so the row is there.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

T = TypeVar("T")


def insert_or_find(session: Session, row: T, twin: Select[tuple[T]]) -> tuple[T, bool]:
    """(row, True) once ``row`` is flushed in a SAVEPOINT; (the committed twin ``twin``
    selects, False) if a concurrent request inserted it first. A conflict on any other unique
    key, with no twin to find, raises the IntegrityError."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        found = session.scalar(twin.with_for_update(read=True))
        if found is None:
            raise
        return found, False
    return row, True
