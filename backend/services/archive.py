"""档案: the archive package of every closed case, sealed so that anyone can verify it years
later with the package and a public key, without our database (晋政办发〔2022〕90号 四（二）:
"确保各审批事项档案材料的有效性、合法性和完整性"; the national rule for government-service
e-files, GB/T 42727-2023, which grew out of DA/T 85-2019 — what of it is confirmed and what
is our own naming: docs/archive.md).

When a case closes (license issued, 不予许可, 不予受理, withdrawn after acceptance) the
closing transaction queues one archive job in the outbox (:func:`queue`, channel
``archive``); the worker builds the package (:func:`build_due`). A later fact about the
closed case (a permit revoked, suspended or restored, the license changed, renewed,
replaced or cancelled) queues another job, which writes the NEXT version: a package, once
written, is never edited. A job whose facts a package already holds adds nothing
(idempotent: two workers, a replay, a retried job).

A package (``media.bags``) is a BagIt bag (RFC 8493) zipped, kept in the media store by its
SHA-256, holding under ``data/``:

- ``record.json`` — the structured record: the application as submitted (form, answers,
  the tailored notice of items and materials), the catalog version it was made under, every
  decision with who, when and why, the joint inspection, the license and its e-license
  identifiers (证照标识) with their history, every file listed with its digest, and the
  timeline;
- ``catalog/catalog-v<n>.json`` — that catalog version whole (its rules);
- ``materials/<code>/…`` — every material file; those of ``application_form.PERSONAL_MATERIALS``
  (identity documents) encrypted, ``.fernet``;
- ``documents/<kind>-<round>.pdf`` — every issued process document (受理通知书, 补正告知书,
  不予受理决定书, 整改通知书 …) as issued;
- ``inspection/…`` — the inspection photos;
- ``license/license-v<n>.pdf|png`` — the sealed license file and its face;
- ``personal/form-personal.json.fernet`` — the ID-card and phone numbers of the form;
- ``metadata.json`` — the package's metadata (归档信息包元数据, docs/archive.md).

The bag-info carries the package metadata; ``signature/<kid>.<scheme>.sig`` are detached
signatures over ``tagmanifest-sha256.txt`` by every non-retired license signing key (the
QR's per-key-id scheme: Ed25519 raw 64 bytes, SM2 with SM3 as DER), next to each key's
public PEM.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import InvalidToken
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from backend import workflow
from backend.clock import CHINA
from backend.errors import Conflict, NotFound, RuleViolation
from backend.models import (
    Application,
    ApplicationEvent,
    CatalogVersion,
    IssuedDocument,
    StaffAccount,
)
from backend.models.archive import ArchiveEvent, ArchivePackage
from backend.models.base import utcnow
from backend.security import permissions, sm2
from backend.security.signatures import Keyring
from backend.services import (
    application_form,
    applications,
    archive_rules,
    documents,
    elicenses,
    issued,
    licenses,
    ratings,
)
from media import bags
from notifications.outbox import ARCHIVE, PENDING, SENDING, SENT, OutboxMessage

log = logging.getLogger(__name__)

# a later fact about a closed case: a new version of its package
AFTER_CLOSING = frozenset({"license.item_revoked", "license.item_suspended",
                           "license.item_restored", "license.cancelled", "license.changed",
                           "license.renewed", "license.replaced"})
TRIGGERS = frozenset(ratings.CLOSING_EVENTS) | AFTER_CLOSING
LEASE = timedelta(minutes=10)
RETRY = timedelta(minutes=5)
FORMAT = "yiye-archive-package/1"
_MEDIA_EXT = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf",
              "image/heic": "heic", "image/heif": "heif"}
_SIG = re.compile(r"(?P<kid>[A-Za-z0-9_-]{1,16})\.(?P<scheme>ed25519|sm2)\.sig")
ENCRYPTED = ".fernet"


# --- queueing, in the closing transaction -------------------------------------------------


def closing_of(application: Application) -> ratings.Closing | None:
    """How and when the case closed (its record class), or None while it runs."""
    return ratings.closing_of(application)


def queue(session: Session, application: Application, event: ApplicationEvent) -> None:
    """Queue the archive job of ``event`` (a closing or a later fact) in the caller's
    transaction, when the case is closed; nothing otherwise."""
    if event.action not in TRIGGERS or closing_of(application) is None:
        return
    if event.id is None:
        session.flush()
    key = f"archive:{application.id}:{event.id}"
    if any(isinstance(m, OutboxMessage) and m.dedupe_key == key for m in session.new):
        return
    session.add(OutboxMessage(event="archive.build", aggregate=f"application:{application.id}",
                              dedupe_key=key, channel=ARCHIVE, target="archive",
                              payload={"application_id": application.id,
                                       "event_id": event.id}, due_at=utcnow()))


# --- the worker's step ----------------------------------------------------------------------


def build_due(session: Session, *, limit: int = 20, stop: Any = None) -> int:
    """Build the packages of due archive jobs (claimed by compare-and-set, so any number of
    workers may run this); a failed build is retried later. The number built or found
    already built. ``stop`` (a ``threading.Event``): once set, no further job is started."""
    done = 0
    now = utcnow()
    ids = session.scalars(select(OutboxMessage.id).where(
        OutboxMessage.channel == ARCHIVE,
        or_(((OutboxMessage.status == PENDING) & (OutboxMessage.due_at <= now)),
            ((OutboxMessage.status == SENDING) & (OutboxMessage.locked_until < now))))
        .order_by(OutboxMessage.id).limit(limit)).all()
    session.commit()
    for message_id in ids:
        if stop is not None and stop.is_set():
            break
        token = uuid.uuid4().hex
        claimed = session.execute(update(OutboxMessage).where(
            OutboxMessage.id == message_id,
            or_(OutboxMessage.status == PENDING,
                (OutboxMessage.status == SENDING) & (OutboxMessage.locked_until < now)))
            .values(status=SENDING, claim_token=token, locked_until=utcnow() + LEASE,
                    attempts=OutboxMessage.attempts + 1)).rowcount
        session.commit()
        if not claimed:
            continue
        message = session.get(OutboxMessage, message_id)
        try:
            build(session, message.payload["application_id"], message.payload["event_id"])
            session.flush()
            session.execute(update(OutboxMessage).where(
                OutboxMessage.id == message_id, OutboxMessage.claim_token == token)
                .values(status=SENT, sent_at=utcnow(), locked_until=None, last_error=None))
            session.commit()
            done += 1
        except Exception as error:
            session.rollback()
            log.exception("archive build failed; retried later",
                          extra={"outbox_id": message_id})
            session.execute(update(OutboxMessage).where(
                OutboxMessage.id == message_id, OutboxMessage.claim_token == token)
                .values(status=PENDING, due_at=utcnow() + RETRY, locked_until=None,
                        error_class="transient", last_error=type(error).__name__[:1000]))
            session.commit()
    return done


def build(session: Session, application_id: int, event_id: int | None = None,
          ) -> ArchivePackage | None:
    """The package holding the case up to ``event_id`` (default: its newest event): the
    existing version when one holds it already, else the next version, written once. None
    for a case that is not closed."""
    application = session.get(Application, application_id)
    closing = closing_of(application) if application is not None else None
    if closing is None:
        return None
    latest = latest_package(session, application_id)
    if latest is not None and event_id is not None and latest.last_event_id >= event_id:
        return latest
    last_event = max(e.id for e in application.events)
    if latest is not None and latest.last_event_id >= last_event:
        return latest
    version = latest.version + 1 if latest is not None else 1
    context = _Context.of_app()
    files, metadata = contents(session, application, context, version=version,
                               previous=latest)
    retain_until = retention_end(closing.at, closing.stage, context.retention)
    info = bag_info(application, metadata, version=version, previous=latest,
                    context=context)
    name = bag_name(application, version)
    package, tagmanifest = bags.make(files, bag_name=name, info=info,
                                     sign=lambda m: signature_files(context.keyring, m))
    row = ArchivePackage(
        application_id=application.id, version=version, bag_name=name,
        record_class=closing.stage, last_event_id=last_event,
        sha256=context.store.put(package), byte_size=len(package),
        tagmanifest_sha256=hashlib.sha256(tagmanifest).hexdigest(),
        signed_by=",".join(sorted(context.keyring.schemes())), closed_at=closing.at,
        retain_until=retain_until,
        # a legal hold is on the case: a version written under it is held too
        legal_hold=bool(latest and latest.legal_hold),
        legal_hold_reason=latest.legal_hold_reason if latest else None)
    from backend.services import twins  # noqa: PLC0415

    row, made = twins.insert_or_find(session, row, select(ArchivePackage).where(
        ArchivePackage.application_id == application.id, ArchivePackage.version == version))
    if made:
        _log(session, row, "built", "worker", {"version": version, "sha256": row.sha256,
                                               "last_event_id": last_event})
    return row


def latest_package(session: Session, application_id: int) -> ArchivePackage | None:
    return session.scalar(select(ArchivePackage).where(
        ArchivePackage.application_id == application_id)
        .order_by(ArchivePackage.version.desc()).limit(1))


def packages_of(session: Session, application_id: int) -> list[ArchivePackage]:
    return list(session.scalars(select(ArchivePackage).where(
        ArchivePackage.application_id == application_id).order_by(ArchivePackage.version)))


# --- what a package holds -------------------------------------------------------------------


@dataclass
class _Context:
    store: Any
    keyring: Keyring
    secret_key: str
    fernet: Any
    personal_materials: frozenset[str]
    retention: dict[str, int | None]
    source_organization: str

    @classmethod
    def of_app(cls) -> _Context:
        ext = current_app.extensions
        settings = ext["settings"]
        return cls(store=ext["media_store"], keyring=ext["license_keyring"],
                   secret_key=settings.SECRET_KEY,
                   fernet=archive_rules.personal_keys(settings.ARCHIVE_PERSONAL_DATA_KEYS,
                                                      settings.SECRET_KEY),
                   personal_materials=application_form.PERSONAL_MATERIALS,
                   retention=archive_rules.retention_years(settings.ARCHIVE_RETENTION_YEARS),
                   source_organization=settings.ARCHIVE_SOURCE_ORGANIZATION)


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _staff(session: Session, staff_id: int | None) -> dict[str, Any] | None:
    staff = session.get(StaffAccount, staff_id) if staff_id else None
    if staff is None:
        return None
    return {"id": staff.id, "name": staff.display_name, "role": staff.role,
            "unit": staff.unit_code}


def _read(store, sha256: str) -> bytes:
    with store.open(sha256) as f:
        return f.read()


def _ext(content: bytes, media_type: str | None = None) -> str:
    if media_type in _MEDIA_EXT:
        return _MEDIA_EXT[media_type]
    if content.startswith(b"\xff\xd8"):
        return "jpg"
    if content.startswith(b"\x89PNG"):
        return "png"
    return "pdf" if content.startswith(b"%PDF") else "bin"


def contents(session: Session, application: Application, context: _Context, *, version: int,
             previous: ArchivePackage | None) -> tuple[dict[str, bytes], dict[str, Any]]:
    """{path under data/: bytes} of the package and its metadata (``metadata.json``)."""
    store = context.store
    files: dict[str, bytes] = {}
    listed: list[dict[str, Any]] = []

    def add(path: str, content: bytes, *, kind: str, encrypt: bool = False,
            **about: Any) -> str:
        plain_sha = hashlib.sha256(content).hexdigest()
        if encrypt:
            content, path = context.fernet.encrypt(content), path + ENCRYPTED
        files[path] = content
        listed.append({"path": f"data/{path}", "kind": kind, "sha256": plain_sha,
                       "byte_size": len(content), "encrypted": encrypt, **about})
        return f"data/{path}"

    bundle = applications.bundle_of(session, application)
    version_row = session.get(CatalogVersion, application.catalog_version_id)
    add(f"catalog/catalog-v{version_row.number}.json",
        _json(bundle.document.model_dump(mode="json")), kind="catalog",
        catalog_version=version_row.number)
    for f in application.files:
        content = _read(store, f.sha256)
        add(f"materials/{f.material_code}/{f.position:02d}-{f.sha256[:12]}."
            f"{_ext(content, f.media_type)}", content, kind="material",
            encrypt=f.material_code in context.personal_materials,
            material_code=f.material_code, position=f.position, media_type=f.media_type,
            uploaded_at=_iso(f.uploaded_at))
    for kind in documents.TITLES:  # a notice issued before notices were kept: kept now
        if documents.applies(application, kind):
            issued.kept(session, application, kind,
                        lambda kind=kind: documents.issue(session, application, kind,
                                                          staff=None))
    for doc in session.scalars(select(IssuedDocument).where(
            IssuedDocument.application_id == application.id).order_by(IssuedDocument.id)):
        add(f"documents/{doc.kind}-{doc.round}.pdf", _read(store, doc.sha256),
            kind="process_document", document_kind=doc.kind, round=doc.round,
            number=doc.number, issued_at=_iso(doc.issued_at),
            issued_by=_staff(session, doc.issued_by))
    inspection = application.inspection
    if inspection is not None:
        for result in inspection.results:
            for n, sha in enumerate(result.photos, start=1):
                content = _read(store, sha)
                add(f"inspection/round{result.round}/{result.item_code}/{n:02d}-{sha[:12]}."
                    f"{_ext(content)}", content, kind="inspection_photo",
                    round=result.round, item_code=result.item_code)
    license_ = licenses.of_application(session, application)
    if license_ is not None:
        face = licenses.face(session, license_)
        if face.pdf_sha256:
            add(f"license/license-v{face.version}.pdf", _read(store, face.pdf_sha256),
                kind="license_file", license_version=face.version)
        add(f"license/license-v{face.version}.png", _read(store, face.png_sha256),
            kind="license_face", license_version=face.version)
    sensitive = applications.sensitive_values(application, context.secret_key)
    if sensitive:
        add("personal/form-personal.json", _json(sensitive), kind="personal_data",
            encrypt=True, fields=sorted(sensitive))
    record = _record(session, application, bundle, version_row, license_, listed)
    files["record.json"] = _json(record)
    closing = closing_of(application)
    metadata = _metadata(application, record, closing, version=version, previous=previous,
                         context=context)
    files["metadata.json"] = _json(metadata)
    return files, metadata


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True,
                      default=_plain).encode() + b"\n"


def _plain(value: Any) -> str:
    """Dates and times as ISO 8601 (JSON has neither)."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _record(session: Session, application: Application, bundle, version_row: CatalogVersion,
            license_, listed: list[dict[str, Any]]) -> dict[str, Any]:
    """The structured record: what was applied for, decided, by whom, when and why."""
    document = bundle.document
    items = []
    for item in application.items:
        spec = document.permit_items.get(item.item_code)
        items.append({
            "item_code": item.item_code, "name": spec.name if spec else item.item_code,
            "approving_unit": document.unit_ref(item.approving_unit),
            "supervising_unit": document.unit_ref(spec.supervising_unit) if spec else None,
            "legal_basis": spec.legal_basis if spec else None,
            "status": item.status, "status_label": workflow.label(item.status,
                                                                  workflow.ItemState),
            "reason": item.reason, "promised_days": item.promised_days,
            "due_on": _iso(item.due_on), "decided_at": _iso(item.decided_at),
            "decided_by": _staff(session, item.decided_by), "opinion": item.opinion,
            "materials": [m["code"] for m in bundle.notice["materials"]
                          if item.item_code in [i["code"] for i in m["items"]]]})
    timeline = [{"id": e.id, "at": _iso(e.at), "actor": e.actor_label,
                 "actor_kind": e.actor_kind, "actor_id": e.actor_id, "actor_role": e.actor_role,
                 "action": e.action, "item_code": e.item_code, "from_state": e.from_state,
                 "to_state": e.to_state, "reason": e.reason, "message": e.message,
                 "data": e.data} for e in application.events]
    decisions = [t for t in timeline if t["to_state"] in _DECISION_STATES
                 or t["action"] in AFTER_CLOSING]
    inspection = application.inspection
    return {
        "format": FORMAT,
        "application": {
            "id": application.id, "submission_number": application.submission_number,
            "acceptance_number": application.acceptance_number,
            "industry": applications.industry_of(session, application),
            "status": application.status, "status_label": workflow.label(application.status),
            "answers": application.answers,
            "form": application.form_values,  # ID-card and phone numbers: personal/ (encrypted)
            "deferred_materials": application.deferred_materials,
            "supplement_notice": application.supplement_notice,
            "created_at": _iso(application.created_at),
            "submitted_at": _iso(application.submitted_at),
            "accepted_at": _iso(application.accepted_at),
            "accepted_on": _iso(application.accepted_on),
            "decided_at": _iso(application.decided_at),
            "decision_reason": application.decision_reason},
        "catalog": {"version": version_row.number, "title": version_row.title,
                    "checksum": version_row.checksum, "source": version_row.source,
                    "loaded_at": _iso(version_row.loaded_at),
                    "file": f"data/catalog/catalog-v{version_row.number}.json"},
        "notice": bundle.notice,
        "items": items,
        "decisions": decisions,
        "inspection": None if inspection is None else {
            "status": inspection.status, "item_codes": inspection.item_codes,
            "scheduled_on": _iso(inspection.scheduled_on), "window": inspection.window,
            "address": inspection.address, "rectification": inspection.rectification,
            "rectification_deadline": _iso(inspection.rectification_deadline),
            "recheck_mode": inspection.recheck_mode, "outcome": inspection.outcome,
            "concluded_on": _iso(inspection.concluded_on),
            "members": [{"staff": _staff(session, m.staff_id), "unit": m.unit_code}
                        for m in inspection.members],
            "results": [{"round": r.round, "item_code": r.item_code, "result": r.result,
                         "notes": r.notes, "demands": r.demands, "photos": r.photos,
                         "confirmed_materials": r.confirmed_materials,
                         "inspector": _staff(session, r.inspector_id),
                         "recorded_at": _iso(r.recorded_at)} for r in inspection.results]},
        "license": None if license_ is None else {
            "license_no": license_.license_no, "version": license_.version,
            "status": license_.status, "status_reason": license_.status_reason,
            "holder_name": license_.holder_name, "credit_code": license_.credit_code,
            "premises": license_.premises_address,
            "issuing_authority": license_.issuing_authority,
            "issued_on": _iso(license_.issued_on), "valid_until": _iso(license_.valid_until),
            "identifier": license_.identifier,
            "items": [{"item_code": i.item_code, "name": i.item_name,
                       "sub_license_no": i.sub_license_no, "identifier": i.identifier,
                       "status": i.status, "status_reason": i.status_reason,
                       "valid_until": _iso(i.valid_until)} for i in license_.items],
            "elicenses": elicenses.records_of(license_),
            "elicense_history": elicenses.history(license_)},
        "files": listed,
        "timeline": timeline,
    }


_DECISION_STATES = frozenset({workflow.State.IN_REVIEW, workflow.State.NOT_ACCEPTED,
                              workflow.State.REFUSED, workflow.State.LICENSED,
                              workflow.State.WITHDRAWN, workflow.State.SUPPLEMENT_REQUESTED,
                              workflow.ItemState.APPROVED, workflow.ItemState.REFUSED,
                              workflow.ItemState.DROPPED, workflow.InspectionState.PASSED,
                              workflow.InspectionState.FAILED,
                              workflow.InspectionState.RECTIFYING})


def retention_end(closed_at: datetime, record_class: str,
                  years: Mapping[str, int | None]) -> date | None:
    """The last day a package is kept: closing day (China time) + the class's years; None
    when kept permanently."""
    span = years.get(record_class)
    if span is None:
        return None
    day = closed_at.astimezone(CHINA).date()
    return licenses.add_years(day, span)


def _metadata(application: Application, record: dict[str, Any], closing, *, version: int,
              previous: ArchivePackage | None, context: _Context) -> dict[str, Any]:
    """归档信息包元数据 (docs/archive.md says which names are confirmed in public sources)."""
    retention = context.retention.get(closing.stage)
    license_ = record["license"]
    return {
        "format": FORMAT,
        "package": {"version": version,
                    "supersedes_sha256": previous.sha256 if previous else None,
                    "supersedes_version": previous.version if previous else None},
        "档号": bag_name(application, version),
        "事项名称": [i["name"] for i in record["items"]],
        "事项编码": [i["item_code"] for i in record["items"]],
        "办件编号": application.submission_number,
        "受理编号": application.acceptance_number,
        "行业": record["application"]["industry"],
        "申请人": application.form_values.get("entity_name"),
        "统一社会信用代码": application.form_values.get("credit_code"),
        "办理结果": archive_rules.RECORD_CLASS_LABELS[closing.stage],
        "记录类别": closing.stage,
        "办结时间": _iso(closing.at),
        "受理时间": record["application"]["accepted_at"],
        "证照编号": license_["license_no"] if license_ else None,
        "证照标识": license_["identifier"] if license_ else None,
        "保管期限": "永久" if retention is None else f"{retention}年",
        "立档单位": context.source_organization,
        "个人信息": {"encryption": "Fernet (AES-128-CBC + HMAC-SHA256)",
                 "files": [f["path"] for f in record["files"] if f["encrypted"]]},
    }


def bag_name(application: Application, version: int) -> str:
    number = re.sub(r"[^A-Za-z0-9-]", "-", application.submission_number
                    or f"app{application.id}")
    return f"yyz-{number}-v{version}"


def bag_info(application: Application, metadata: Mapping[str, Any], *, version: int,
             previous: ArchivePackage | None, context: _Context) -> dict[str, str]:
    """The bag-info fields: RFC 8493's reserved ones (Source-Organization, External-
    Identifier, External-Description, Bag-Group-Identifier, Internal-Sender-Identifier) and
    ours (``Yiye-…``)."""
    info = {
        "Source-Organization": context.source_organization,
        "External-Identifier": metadata["档号"],
        "External-Description": f"“一业一证”办件档案：{metadata['办件编号']}，"
                                f"{metadata['行业']['name']}，{metadata['办理结果']}",
        "Bag-Group-Identifier": f"yyz-{application.submission_number or application.id}",
        "Internal-Sender-Identifier": f"application:{application.id}",
        "Yiye-Package-Format": FORMAT,
        "Yiye-Package-Version": str(version),
        "Yiye-Record-Class": metadata["记录类别"],
        "Yiye-Closed-At": metadata["办结时间"],
        "Yiye-Retention": metadata["保管期限"],
        "Yiye-Signature": "signature/<kid>.<scheme>.sig over tagmanifest-sha256.txt",
    }
    if metadata["证照编号"]:
        info["Yiye-License-No"] = metadata["证照编号"]
    if previous is not None:
        info["Yiye-Supersedes-Sha256"] = previous.sha256
    return info


def signature_files(keyring: Keyring, tagmanifest: bytes) -> dict[str, bytes]:
    """``<kid>.<scheme>.sig`` (Ed25519: raw 64 bytes; SM2: DER, as openssl writes it) and
    ``<kid>.<scheme>.pem`` (the public key) for every non-retired signing key."""
    schemes, pems = keyring.schemes(), keyring.public_key_pems()
    out = {}
    for kid, raw in keyring.sign_with_each(tagmanifest).items():
        scheme = schemes[kid]
        out[f"{kid}.{scheme}.sig"] = sm2.signature_der(raw) if scheme == "sm2" else raw
        out[f"{kid}.{scheme}.pem"] = pems[kid].encode()
    return out


_BAD_SIGNATURE = "签名无效：此签名文件或 tagmanifest-sha256.txt 被改动，或密钥已停用"


def signature_check(keyring: Keyring) -> bags.SignatureCheck:
    """Checks each ``signature/*.sig`` against the keyring's key of its kid (the public keys
    the service publishes — never the PEM inside the package, which anyone could replace)."""
    schemes = keyring.schemes()

    def check(tagmanifest: bytes, files: Mapping[str, bytes]):
        results: dict[str, bool] = {}
        problems = []
        for name, content in files.items():
            found = _SIG.fullmatch(name)
            if found is None:
                continue
            kid, scheme = found["kid"], found["scheme"]
            raw = content
            if scheme == "sm2":
                try:
                    r, s = decode_dss_signature(content)
                    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
                except (ValueError, OverflowError):
                    raw = b""
            ok = schemes.get(kid) == scheme and keyring.verify_raw(kid, raw, tagmanifest)
            results[kid] = ok
            if not ok:
                problems.append(bags.Problem(f"signature/{name}", _BAD_SIGNATURE if kid in schemes
                                             else "签名密钥不在本服务公布的公钥中"))
        if not results:
            problems.append(bags.Problem("signature/", "没有签名"))
        return results, problems

    return check


# --- verification, opening, retention, transfer --------------------------------------------


def _actor(staff: StaffAccount | None) -> str:
    return f"staff:{staff.id} {staff.display_name}" if staff is not None else "cli"


def _log(session: Session, package: ArchivePackage | None, action: str, actor: str,
         detail: dict[str, Any] | None = None, application_id: int | None = None) -> None:
    session.add(ArchiveEvent(package_id=package.id if package else None,
                             application_id=package.application_id if package
                             else application_id, action=action, actor=actor[:100],
                             detail=detail or {}))


def find_application(session: Session, text: str) -> Application | None:
    """An application by submission number, acceptance number, license number or id."""
    text = text.strip()
    found = session.scalar(select(Application).where(or_(
        Application.submission_number == text, Application.acceptance_number == text)))
    if found is None:
        license_ = licenses.by_number(session, text)
        found = session.get(Application, license_.application_id) if license_ else None
    if found is None and text.isdigit():
        found = session.get(Application, int(text))
    return found


def package_bytes(package: ArchivePackage, *, recorded: bool = True) -> bytes:
    """The stored zip of ``package``. ``recorded`` (downloads, openings): bytes that are not
    the package this row recorded are never handed out — 409 ARCHIVE_PACKAGE_ALTERED (a
    swapped or damaged file; :func:`verify_package` reads them to say what is wrong)."""
    if package.deleted_at is not None:
        raise NotFound("ARCHIVE_PACKAGE_DELETED", "档案包已在保管期满后删除（仅余记录）",
                       {"version": package.version})
    data = _read(current_app.extensions["media_store"], package.sha256)
    if recorded and hashlib.sha256(data).hexdigest() != package.sha256:
        raise Conflict("ARCHIVE_PACKAGE_ALTERED",
                       "存储的档案包与登记的不一致，请先验证档案包并从备份恢复",
                       {"version": package.version})
    return data


def verify_package(session: Session, package: ArchivePackage, *, actor: str) -> bags.Verdict:
    """Check a stored package (bag, manifests, signature, its name against its bag-info) AND
    that the stored bytes are the package this row recorded: the zip's SHA-256, the tag
    manifest's SHA-256, the bag name (档号), the version and the case — a genuine package of
    another case or version in its place fails. Logged."""
    data = package_bytes(package, recorded=False)
    verdict = _verify(data)
    verdict.problems += _recorded_problems(package, data, verdict)
    _log(session, package, "verified", actor, {"ok": verdict.ok, "files": verdict.files})
    return verdict


def _recorded_problems(package: ArchivePackage, data: bytes,
                       verdict: bags.Verdict) -> list[bags.Problem]:
    found = hashlib.sha256(data).hexdigest()
    problems = []
    if found != package.sha256:
        problems.append(bags.Problem("", f"存储的档案包不是登记的那一个（SHA-256 应为 "
                                         f"{package.sha256}，实为 {found}）"))
    if verdict.tagmanifest_sha256 and verdict.tagmanifest_sha256 != package.tagmanifest_sha256:
        problems.append(bags.Problem(bags.TAGMANIFEST, "与登记的标签清单 SHA-256 不符"))
    expected = {"External-Identifier": package.bag_name,
                "Yiye-Package-Version": str(package.version),
                "Internal-Sender-Identifier": f"application:{package.application_id}"}
    for key, value in expected.items():
        if verdict.info.get(key) != value:
            problems.append(bags.Problem("bag-info.txt", f"{key} 应为 {value}（登记），"
                                                         f"实为 {verdict.info.get(key)}"))
    return problems


def verify_path(path: Path) -> bags.Verdict:
    """Check a package held outside the service (a zip or an extracted bag directory); a
    zip file named like a package (``yyz-…``) must hold the bag of that name."""
    verdict = _verify(path)
    if path.is_file() and path.stem.startswith("yyz-") and verdict.bag_name \
            and path.stem != verdict.bag_name:
        verdict.problems.append(bags.Problem(path.name, f"文件名与包名 {verdict.bag_name} 不符"))
    return verdict


def _verify(source: bytes | Path, keyring: Keyring | None = None) -> bags.Verdict:
    """bags.check with the service's keys, plus the package's name tied to its content."""
    verdict = bags.check(source, signature_check(
        keyring or current_app.extensions["license_keyring"]))
    verdict.problems += _name_problems(verdict)
    return verdict


def _name_problems(verdict: bags.Verdict) -> list[bags.Problem]:
    """The bag's name (its directory, 档号) against bag-info's External-Identifier and
    Yiye-Package-Version (and Yiye-Item-Code): bag-info is in the signed tag manifest, the
    directory name is not — a package renamed as another version or case is named here."""
    if not verdict.bag_name or not verdict.info:
        return []
    info, name = verdict.info, verdict.bag_name
    problems = []
    identifier = info.get("External-Identifier")
    if identifier != name:
        problems.append(bags.Problem("bag-info.txt", f"包名 {name} 与 External-Identifier "
                                                     f"{identifier} 不符"))
    version, item = info.get("Yiye-Package-Version"), info.get("Yiye-Item-Code")
    suffix = _safe_name(f"-v{version}" + (f"-{item}" if item else ""))
    if not version or not name.endswith(suffix):
        problems.append(bags.Problem("bag-info.txt", f"包名 {name} 与 Yiye-Package-Version "
                                                     f"{version} 不符"))
    return problems


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "-", text)[:100]


def for_staff(session: Session, *, staff: StaffAccount, application_id: int,
              ) -> list[ArchivePackage]:
    """The packages of a case, for a role that may see archives (404 otherwise, like an
    application that does not exist)."""
    if not permissions.allowed(staff.role, "archive.view"):
        raise NotFound("APPLICATION_NOT_FOUND", "申请不存在", {"application_id": application_id})
    from backend.services import window  # noqa: PLC0415

    window.get_for_staff(session, staff, application_id)
    return packages_of(session, application_id)


def _version_for_staff(session: Session, staff: StaffAccount, application_id: int,
                       version: int) -> ArchivePackage:
    package = next((p for p in for_staff(session, staff=staff, application_id=application_id)
                    if p.version == version), None)
    if package is None:
        raise NotFound("ARCHIVE_PACKAGE_NOT_FOUND", "没有该版本的档案包", {"version": version})
    return package


def verify_for_staff(session: Session, *, staff: StaffAccount, application_id: int,
                     version: int) -> tuple[ArchivePackage, bags.Verdict]:
    """The console's 验证档案包: one version of a case's package, verified and logged."""
    permissions.require(staff, "archive.verify")
    package = _version_for_staff(session, staff, application_id, version)
    return package, verify_package(session, package, actor=_actor(staff))


def download_for_staff(session: Session, *, staff: StaffAccount, application_id: int,
                       version: int) -> tuple[ArchivePackage, bytes]:
    """The zip of one version, for a role that may open packages (``archive.open``); its
    personal data stays encrypted inside. Logged as an opening of the whole package."""
    permissions.require(staff, "archive.open")
    package = _version_for_staff(session, staff, application_id, version)
    data = package_bytes(package)
    _log(session, package, "opened", _actor(staff), {"path": "*", "download": True})
    return package, data


def open_file(session: Session, *, staff: StaffAccount | None, package: ArchivePackage,
              path: str, actor: str | None = None) -> bytes:
    """A file of a package, decrypted when it is personal data: only a role allowed to open
    packages (``archive.open``; the CLI as an operator), and every opening logged."""
    if staff is not None:
        permissions.require(staff, "archive.open")
    with tempfile.TemporaryDirectory(prefix="archive-") as tmp:
        root = bags.unzip(package_bytes(package), Path(tmp))
        target = (root / path).resolve()
        if root.resolve() not in target.parents or not target.is_file():
            raise NotFound("ARCHIVE_FILE_NOT_FOUND", "档案包中没有该文件", {"path": path})
        content = target.read_bytes()
    if path.endswith(ENCRYPTED):
        ext = current_app.extensions["settings"]
        try:
            content = archive_rules.personal_keys(ext.ARCHIVE_PERSONAL_DATA_KEYS,
                                                  ext.SECRET_KEY).decrypt(content)
        except InvalidToken:
            raise RuleViolation("ARCHIVE_KEY_MISMATCH", "个人信息密钥与档案包不符，无法打开",
                                {"path": path}) from None
    _log(session, package, "opened", actor or _actor(staff), {"path": path})
    return content


def set_hold(session: Session, package: ArchivePackage, *, on: bool, reason: str,
             actor: str) -> ArchivePackage:
    """Put a package under legal hold or release it; logged. A hold is on the case: while
    any version of it is held, no version is deleted (:func:`purge_expired`), and a version
    written later inherits the hold (:func:`build`)."""
    package.legal_hold, package.legal_hold_reason = on, reason if on else None
    _log(session, package, "hold" if on else "released", actor, {"reason": reason})
    return package


def purge_expired(session: Session, *, today: date, actor: str) -> list[ArchivePackage]:
    """Delete the bytes of every package past its retention whose case is not on hold (no
    version of it held); each row stays as a tombstone (digest, dates, who deleted it) and
    the deletion is logged."""
    store = current_app.extensions["media_store"]
    held_cases = select(ArchivePackage.application_id).where(
        ArchivePackage.legal_hold.is_(True))
    gone = list(session.scalars(select(ArchivePackage).where(
        ArchivePackage.deleted_at.is_(None), ArchivePackage.legal_hold.is_(False),
        ArchivePackage.application_id.not_in(held_cases),
        ArchivePackage.retain_until.is_not(None), ArchivePackage.retain_until < today)))
    for package in gone:
        package.deleted_at, package.deleted_by = utcnow(), actor[:100]
        _log(session, package, "deleted", actor, {"sha256": package.sha256,
                                                  "retain_until": _iso(package.retain_until)})
    session.flush()
    for package in gone:
        if not session.scalar(select(ArchivePackage.id).where(
                ArchivePackage.sha256 == package.sha256, ArchivePackage.deleted_at.is_(None))):
            store.delete(package.sha256)
    return gone


TRANSFER_LIST = "移交清单.csv"
TRANSFER_JSON = "transfer-list.json"
# the digests of both lists (``sha256sum -c`` reads it), signed like a package's tag manifest
TRANSFER_MANIFEST = "transfer-manifest-sha256.txt"
TRANSFER_COLUMNS = ("序号", "档号", "办件编号", "受理编号", "申请人", "办理结果", "办结时间",
                    "保管期限", "版本", "文件名", "字节数", "SHA-256")


def export(session: Session, packages: Iterable[ArchivePackage], dest: Path, *,
           actor: str) -> dict[str, Any]:
    """Write a batch for hand-over to the archives (移交): each package zip by its bag name,
    the transfer list (``移交清单.csv``, UTF-8 with BOM, and ``transfer-list.json``, the same
    rows) naming each with its digest, ``transfer-manifest-sha256.txt`` (the SHA-256 of both
    lists) and ``signature/<kid>.<scheme>.sig`` over it by the service's signing keys, as a
    package's tag manifest is signed: striking a package and its rows from the lists breaks
    the signature. Each export logged; the JSON listing returned."""
    dest.mkdir(parents=True, exist_ok=True)
    rows = []
    for n, package in enumerate(packages, start=1):
        data = package_bytes(package)
        name = f"{package.bag_name}.zip"
        (dest / name).write_bytes(data)
        application = session.get(Application, package.application_id)
        rows.append({"序号": n, "档号": package.bag_name,
                     "办件编号": application.submission_number,
                     "受理编号": application.acceptance_number or "",
                     "申请人": application.form_values.get("entity_name") or "",
                     "办理结果": archive_rules.RECORD_CLASS_LABELS[package.record_class],
                     "办结时间": _iso(package.closed_at),
                     "保管期限": "永久" if package.retain_until is None
                     else f"至{package.retain_until.isoformat()}",
                     "版本": package.version, "文件名": name, "字节数": len(data),
                     "SHA-256": hashlib.sha256(data).hexdigest()})
        _log(session, package, "exported", actor, {"file": name})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=TRANSFER_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    listing = {"format": "yiye-archive-transfer/1", "exported_at": _iso(utcnow()),
               "exported_by": actor, "count": len(rows), "packages": rows}
    lists = {TRANSFER_LIST: ("\ufeff" + out.getvalue()).encode(), TRANSFER_JSON: _json(listing)}
    for name, content in lists.items():
        (dest / name).write_bytes(content)
    manifest = "".join(f"{hashlib.sha256(c).hexdigest()}  {n}\n" for n, c in lists.items())
    (dest / TRANSFER_MANIFEST).write_bytes(manifest.encode())
    signatures = dest / bags.SIGNATURE_DIR
    signatures.mkdir(exist_ok=True)
    for name, content in signature_files(current_app.extensions["license_keyring"],
                                         manifest.encode()).items():
        (signatures / name).write_bytes(content)
    return listing


def check_export(dest: Path) -> dict[str, bags.Verdict]:
    """Re-read an exported batch: the lists' signature and digests, the CSV's rows equal to
    the JSON's, and every package the list names there with its digest, its name, and
    verifying; a zip the list does not name fails too. {file name: Verdict}, the lists'
    own under ``移交清单.csv``."""
    lists = _check_transfer_lists(dest)
    out: dict[str, bags.Verdict] = {TRANSFER_LIST: lists}
    try:
        listing = json.loads((dest / TRANSFER_JSON).read_text(encoding="utf-8"))
        packages = list(listing["packages"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        lists.problems.append(bags.Problem(TRANSFER_JSON, f"无法读取：{error}"))
        packages = []
    for row in packages:
        path = dest / str(row["文件名"])
        if not path.is_file():
            out[row["文件名"]] = bags.Verdict(problems=[bags.Problem(row["文件名"], "缺失")])
            continue
        verdict = verify_path(path)
        if hashlib.sha256(path.read_bytes()).hexdigest() != row["SHA-256"]:
            verdict.problems.append(bags.Problem(row["文件名"], "与移交清单的 SHA-256 不符"))
        if verdict.bag_name and (row["档号"] != verdict.bag_name
                                 or row["文件名"] != f"{verdict.bag_name}.zip"):
            verdict.problems.append(bags.Problem(row["文件名"], f"与移交清单的档号 {row['档号']} "
                                                             f"不符（包名 {verdict.bag_name}）"))
        out[row["文件名"]] = verdict
    for path in sorted(dest.glob("*.zip")):
        if path.name not in out:
            out[path.name] = bags.Verdict(problems=[bags.Problem(path.name, "不在移交清单中")])
    return out


def _check_transfer_lists(dest: Path) -> bags.Verdict:
    verdict = bags.Verdict(bag_name=dest.name)
    manifest_path = dest / TRANSFER_MANIFEST
    manifest = manifest_path.read_bytes() if manifest_path.is_file() else b""
    if not manifest:
        verdict.problems.append(bags.Problem(TRANSFER_MANIFEST, "缺失"))
    signature_dir = dest / bags.SIGNATURE_DIR
    files = {p.name: p.read_bytes() for p in sorted(signature_dir.glob("*")) if p.is_file()
             } if signature_dir.is_dir() else {}
    verdict.signatures, problems = signature_check(
        current_app.extensions["license_keyring"])(manifest, files)
    verdict.problems += problems
    digests = dict(line.split("  ", 1)[::-1] for line in manifest.decode(errors="replace")
                   .splitlines() if "  " in line)
    for name in (TRANSFER_LIST, TRANSFER_JSON):
        path = dest / name
        if not path.is_file():
            verdict.problems.append(bags.Problem(name, "缺失"))
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digests.get(name):
            verdict.problems.append(bags.Problem(name, f"与 {TRANSFER_MANIFEST} 所列 SHA-256 不符"))
    try:
        csv_rows = list(csv.DictReader(io.StringIO(
            (dest / TRANSFER_LIST).read_text(encoding="utf-8-sig"))))
        json_rows = [{k: str(v) for k, v in row.items()} for row in json.loads(
            (dest / TRANSFER_JSON).read_text(encoding="utf-8"))["packages"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        verdict.problems.append(bags.Problem(TRANSFER_LIST, f"无法读取：{error}"))
    else:
        if csv_rows != json_rows:
            verdict.problems.append(bags.Problem(TRANSFER_LIST,
                                                 f"各行与 {TRANSFER_JSON} 不一致"))
    return verdict


# --- one package per permit item ------------------------------------------------------------


def derive_item(session: Session, package: bytes, item_code: str) -> bytes:
    """:func:`item_package` of a package this service recorded (its SHA-256 is an
    ``archive_packages`` row): never re-sign bytes of unknown origin. ValueError otherwise."""
    def recorded(sha: str) -> bool:
        return session.scalar(select(ArchivePackage.id).where(
            ArchivePackage.sha256 == sha)) is not None

    return item_package(package, item_code, current_app.extensions["license_keyring"],
                        recorded=recorded)


def item_package(package: bytes, item_code: str, keyring: Keyring, *,
                 recorded: Callable[[str], bool] | None = None) -> bytes:
    """The package of ONE permit item derived from the application's (archives stay per
    item, 物理打包): the item's lane, decisions and timeline entries, the materials it used,
    the inspection findings and photos about it, the process documents and license files of
    the case, and the catalog; re-bagged and signed, its bag-info naming the source package
    (Yiye-Source-Package-Sha256). Needs no database. The source is verified whole first
    (bag, manifests, a valid signature by ``keyring``, its name): ValueError naming what
    fails, for an item package as source, for a source whose SHA-256 ``recorded`` (when
    given) does not know, or for an unknown item — a changed source is never re-signed."""
    verdict = _verify(package, keyring)
    if not verdict.ok:
        raise ValueError("the source package does not verify; refused: " + "; ".join(
            f"{p.path or '(package)'}: {p.reason}" for p in verdict.problems))
    if verdict.info.get("Yiye-Item-Code"):
        raise ValueError("the source is already an item package; derive from the case's")
    sha = hashlib.sha256(package).hexdigest()
    if recorded is not None and not recorded(sha):
        raise ValueError(f"not a package this service recorded (sha256 {sha}); refused")
    with tempfile.TemporaryDirectory(prefix="archive-") as tmp:
        root = bags.unzip(package, Path(tmp))
        record = json.loads((root / "data/record.json").read_text())
        item = next((i for i in record["items"] if i["item_code"] == item_code), None)
        if item is None:
            raise ValueError(f"item {item_code!r} is not in this package")
        keep_materials = set(item["materials"])

        def wanted(f: dict[str, Any]) -> bool:
            if f["kind"] == "material":
                return f["material_code"] in keep_materials
            if f["kind"] == "inspection_photo":
                return f["item_code"] == item_code
            return True

        listed = [f for f in record["files"] if wanted(f)]
        files = {f["path"].removeprefix("data/"): (root / f["path"]).read_bytes()
                 for f in listed}
        record["items"] = [item]
        record["files"] = listed
        record["timeline"] = [e for e in record["timeline"]
                              if e["item_code"] in (None, item_code)]
        record["decisions"] = [e for e in record["decisions"]
                               if e["item_code"] in (None, item_code)]
        if record["inspection"]:
            record["inspection"]["results"] = [r for r in record["inspection"]["results"]
                                               if r["item_code"] == item_code]
        metadata = json.loads((root / "data/metadata.json").read_text())
        metadata["事项名称"], metadata["事项编码"] = [item["name"]], [item_code]
        metadata["档号"] = _safe_name(f"{metadata['档号']}-{item_code}")
        metadata["source_package_sha256"] = hashlib.sha256(package).hexdigest()
        files["record.json"], files["metadata.json"] = _json(record), _json(metadata)
        info = {k: v for k, v in bags.read_info(root).items()
                if k not in {"Bagging-Date", "Payload-Oxum", "Bag-Software-Agent"}}
        info |= {"External-Identifier": metadata["档号"], "Yiye-Item-Code": item_code,
                 "Yiye-Source-Package-Sha256": metadata["source_package_sha256"]}
        name = metadata["档号"]
        zipped, _ = bags.make(files, bag_name=name, info=info,
                              sign=lambda m: signature_files(keyring, m))
        return zipped
