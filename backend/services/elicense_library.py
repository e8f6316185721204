"""The province's e-license library (省电子证照库): what we push there, queued with the change.

晋政办发〔2022〕90号 二（六）: the permits bundled in the 行业综合许可证 are kept as electronic
licenses, held by the province's e-license library. Every issue (01 新发), change (09 变更),
renewal (02 延续), status change (03 暂扣, 06 暂扣发还, 05 注销/撤销/吊销, 04 过期失效) of the
combined license and of each permit is an ``ElicenseEvent`` (``backend.services.elicenses``);
:func:`queue` turns each into one outbox row in the transaction that wrote it, so the change
and its push commit together or not at all. The worker delivers them
(``notifications.library``: retried with backoff, refused for good on a definitive answer,
replayed by an administrator) one e-license at a time, oldest first.

Each push is the e-license as it was at that change: a new version (序号 1 of its 证照标识)
with its GB/T 36903 record (``elicenses.record``) and, when sent, the sealed PDF of the
license face it was issued on (:func:`sealed_file`: a permit's file is the license's, since
the permits are printed on it); a status change with its number in the identifier's history
(2, 3 …). The library dedupes on 证照标识 + 序号 (``elicense_library/README.md``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.clock import CHINA
from backend.models import ElicenseEvent, License, LicenseRendition
from backend.models.base import utcnow
from backend.services import elicense_ids, elicenses
from media import seal
from notifications import outbox
from notifications.library import TARGET, SealedFile
from notifications.outbox import ELICENSE, OutboxMessage

# the outbox event of each national operation (as the deliveries page lists them)
EVENTS = {"01": "elicense.issued", "02": "elicense.renewed", "03": "elicense.suspended",
          "04": "elicense.expired", "05": "elicense.withdrawn", "06": "elicense.restored",
          "09": "elicense.changed"}


def queue(session: Session, events: Iterable[ElicenseEvent]) -> list[OutboxMessage]:
    """One push per e-license event, in the caller's transaction, in the events' order.

    Flushes (each push is keyed by its event's id). A new version's push names the license
    face version it was issued on (``face_version``), whose sealed file it carries when sent.
    """
    events = list(events)
    if not events:
        return []
    session.flush()
    rows = []
    for event in events:
        elicense = event.elicense
        sequence = 1 + sum(1 for e in elicense.events
                           if e.identifier == event.identifier and e.id < event.id)
        face = session.get(License, elicense.license_id).version if sequence == 1 else None
        row = OutboxMessage(**push(elicense, event, sequence=sequence, face_version=face),
                            due_at=utcnow())
        session.add(row)
        rows.append(row)
    outbox.ring_after_commit(session)
    return rows


def push(elicense: Any, event: Any, *, sequence: int, face_version: int | None
         ) -> dict[str, Any]:
    """The outbox row (column values) pushing ``event`` of ``elicense``, the ``sequence``-th
    change of its 证照标识: a new version (1: 新发, 延续, 变更) with the record as the
    e-license now is and the license face version (``face_version``) whose file it carries,
    or a status change. Pure: the migration that queued the e-licenses made before pushes
    existed passes plain rows."""
    occurred = event.occurred_at or utcnow()
    common = {"operation_code": event.operation_code,
              "operation_label": elicenses.OPERATION_LABELS[event.operation_code],
              "sequence": sequence,
              "occurred_at": occurred.astimezone(CHINA).isoformat(), "reason": event.reason}
    if sequence == 1:  # the version this event made, in the status it made it
        same = event.status_code == elicense.status_code
        record = elicenses.record(elicense) | {
            "identifier": event.identifier, "previous_identifier": event.previous_identifier,
            "version": elicense_ids.parse(event.identifier).version_text,
            "status_code": event.status_code,
            "status_label": elicenses.STATUS_LABELS[event.status_code],
            "status_description": elicense.status_reason if same else None}
        body = common | {"record": record}
        path = "api/v1/elicenses"
    else:
        body = common | {"status_code": event.status_code,
                         "status_label": elicenses.STATUS_LABELS[event.status_code],
                         "status_description": elicense.status_reason}
        path = f"api/v1/elicenses/{event.identifier}/status-changes"
        face_version = None
    return {"event": EVENTS[event.operation_code], "aggregate": f"elicense:{elicense.id}",
            "dedupe_key": f"elicense:{event.id}", "channel": ELICENSE, "target": TARGET,
            "payload": {"elicense_event_id": event.id, "identifier": event.identifier,
                        "sequence": sequence, "license_id": elicense.license_id,
                        "face_version": face_version, "path": path, "body": body}}


def sealed_file(session: Session, license_id: int, face_version: int) -> SealedFile | None:
    """The sealed PDF of a license's face ``face_version``: as rendered, or rendered and
    sealed now if it is the current face nobody has viewed yet (``licenses.face``); None if
    that face was replaced before it was ever made. Raises ``Unavailable`` while the seal
    cannot be applied. Needs the running app (its media store, keys and seal)."""
    from backend.services import licenses  # noqa: PLC0415 - licenses queues through here

    license_ = session.get(License, license_id)
    if license_ is None:
        return None
    face = session.scalar(select(LicenseRendition).where(
        LicenseRendition.license_id == license_id, LicenseRendition.version == face_version))
    if face is None and license_.version == face_version:
        face = licenses.face(session, license_)
    if face is None or not face.pdf_sha256:
        return None
    with current_app.extensions["media_store"].open(face.pdf_sha256) as f:
        content = f.read()
    return SealedFile(name=f"{license_.license_no}-{face_version}.pdf", content=content,
                      sealed_by=license_.issuing_authority, sealed_at=seal.signing_time(content))


def status(session: Session, *, configured: bool) -> dict[str, Any]:
    """For administrators: whether the library is configured and how many pushes wait
    (all of them wait while it is not: nothing is lost, they go once it is set)."""
    waiting = session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.channel == ELICENSE, OutboxMessage.status == outbox.PENDING)) or 0
    return {"configured": configured, "waiting": waiting}
