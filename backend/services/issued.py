"""Printed notices kept as issued (文书存档): an issued notice is a record.

The action that issues a notice (受理, 一次性告知补正, 不予受理, 整改意见) renders it ONCE, in its
own transaction, stores the PDF in the media store (content-addressed, as uploads and license
faces are) and writes one ``IssuedDocument`` row: (application, kind, round) → number, digest,
size, when and by whom. Every later download serves those bytes, so a reprint is
byte-identical and the archive (or a court) sees exactly what was sent, whatever the
application says today. An action that fails rolls its row back with it (the stored bytes,
referenced by no row, are swept as orphans).

Migration path: an application whose notice was issued before this table existed has no row;
its notice is rendered once, from the data as it stands then, on its first download, and
stored from then on (:func:`kept`).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from backend.models import Application, IssuedDocument, StaffAccount
from backend.models.base import utcnow
from backend.services import twins
from media import documents as printed


def issue(session: Session, application: Application, *, kind: str, round_: int,
          notice: printed.Notice, staff: StaffAccount | None) -> IssuedDocument:
    """Render ``notice`` once, store its bytes and record it; the twin of a concurrent
    issuance of the same (application, kind, round) is returned instead."""
    settings = current_app.extensions["settings"]
    pdf = printed.render(notice, font_path=settings.LICENSE_FONT_PATH or None)
    row = IssuedDocument(application_id=application.id, kind=kind, round=round_,
                         number=notice.number, sha256=_store().put(pdf), byte_size=len(pdf),
                         issued_at=utcnow(), issued_by=staff.id if staff is not None else None)
    return twins.insert_or_find(session, row, _of(application.id, kind, round_))[0]


def latest(session: Session, application_id: int, kind: str) -> IssuedDocument | None:
    """The last issued notice of this kind (the newest round)."""
    return session.scalar(select(IssuedDocument)
                          .where(IssuedDocument.application_id == application_id,
                                 IssuedDocument.kind == kind)
                          .order_by(IssuedDocument.round.desc()).limit(1))


def kept(session: Session, application: Application, kind: str,
         first_time: Callable[[], IssuedDocument]) -> bytes:
    """The PDF of the notice as issued; ``first_time`` issues it (migration path) when the
    application's notice predates this record."""
    row = latest(session, application.id, kind) or first_time()
    with _store().open(row.sha256) as f:
        return f.read()


def _store():
    return current_app.extensions["media_store"]


def _of(application_id: int, kind: str, round_: int) -> Select[tuple[IssuedDocument]]:
    return select(IssuedDocument).where(IssuedDocument.application_id == application_id,
                                        IssuedDocument.kind == kind,
                                        IssuedDocument.round == round_)
