"""Materials (一套材料): photos and PDFs uploaded once per application and shared by every item
that needs them.

Uploads are untrusted: media.images validates by content and re-encodes; the bytes go to the
content-addressed store, so a retried upload of the same photo stores nothing new and adds
no second page.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from backend import workflow
from backend.errors import NotFound, RuleViolation
from backend.models import (
    Applicant,
    Application,
    License,
    LicenseRendition,
    MaterialFile,
    StaffAccount,
)
from backend.services import (
    application_form,
    applications,
    personal_data,
    timeline,
    twins,
    window,
)
from media import images, pool
from media.store import MediaStore

MAX_FILES_PER_MATERIAL = 20


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int
    max_pixels: int
    long_side: int = 2560


def limits_from(settings) -> UploadLimits:
    return UploadLimits(settings.UPLOAD_MAX_BYTES, settings.UPLOAD_MAX_PIXELS)


def _material_of(session: Session, application: Application, material_code: str) -> dict:
    bundle = applications.bundle_of(session, application)
    for material in bundle.notice["materials"]:
        if material["code"] == material_code:
            return material
    raise NotFound("MATERIAL_NOT_IN_APPLICATION", "本申请不需要此材料",
                   {"material_code": material_code})


def upload(session: Session, *, applicant: Applicant, application_id: int, material_code: str,
           stream: BinaryIO, store: MediaStore, limits: UploadLimits,
           actor: timeline.Actor = None, privacy_version: str | None = None,
           ) -> tuple[MaterialFile, bool]:
    """Add one page/photo to a material. Returns (file, created); a re-upload is not created.
    ``actor``: who does it when not the applicant (帮办代办). ``privacy_version``: the privacy
    notice the uploader must have agreed to before a file showing a person's data
    (``application_form.PERSONAL_MATERIALS``: ID cards, 授权委托书 …) is taken — 403
    PRIVACY_CONSENT_REQUIRED, nothing stored, like the form's personal fields; None when a
    commissioner uploads at the window (consent is taken there in person)."""
    application, who = applications.get_for(session, applicant=applicant,
                                            application_id=application_id,
                                            need=applications.EDIT)
    workflow.ensure_editable(application.status)
    material = _material_of(session, application, material_code)
    if privacy_version is not None and material_code in application_form.PERSONAL_MATERIALS:
        personal_data.require_consent(session, applicant, privacy_version)
    clean = clean_upload(session, stream, limits)
    return store_file(session, application, material_code=material_code,
                      label=material["name"], clean=clean, store=store,
                      actor=actor or who)


def clean_upload(session: Session, stream: BinaryIO, limits: UploadLimits, *,
                 photos_only: bool = False) -> images.Normalised:
    """Validate and re-encode an upload (media.images) in an image process (media.pool),
    after the request's checks and before it writes anything. The upload is spooled to a
    temporary file on the way, so a waiting request holds no copy in memory, and the read
    transaction of the checks is ended first, so the image work holds no database connection
    (loaded rows reload when next used). ``photos_only`` where the place takes photos: a PDF
    is then 415 UPLOAD_PHOTO_ONLY. Raises MediaRejected."""
    with tempfile.NamedTemporaryFile(prefix="upload-") as spool:
        images.copy_limited(stream, spool, limits.max_bytes)
        spool.flush()
        session.rollback()  # nothing is written yet: the connection goes back to the pool
        return pool.normalise(spool.name, max_bytes=limits.max_bytes,
                              max_pixels=limits.max_pixels, long_side=limits.long_side,
                              photos_only=photos_only)


def store_file(session: Session, application: Application, *, material_code: str, label: str,
               clean: images.Normalised, store: MediaStore, actor,
               ) -> tuple[MaterialFile, bool]:
    """Keep one cleaned file (:func:`clean_upload`) of an application (materials, inspection
    photos, rectification evidence); the same bytes twice are one file."""
    existing = session.scalar(_same_file(application.id, material_code, clean.sha256))
    if existing is not None:
        return existing, False
    count = _count(session, application.id, material_code)
    if count >= MAX_FILES_PER_MATERIAL:
        raise RuleViolation("MATERIAL_TOO_MANY_FILES",
                            f"每项材料最多上传 {MAX_FILES_PER_MATERIAL} 个文件")
    store.put(clean.content)
    thumbnail = store.put(clean.thumbnail) if clean.thumbnail else None
    row = MaterialFile(
        application_id=application.id, material_code=material_code, position=count + 1,
        sha256=clean.sha256, thumbnail_sha256=thumbnail, media_type=clean.media_type,
        byte_size=len(clean.content), width=clean.width, height=clean.height,
        page_count=clean.page_count,
    )
    # the same photo twice at once (a double tap): the second answers with the first's row
    row, created = twins.insert_or_find(session, row, _same_file(application.id, material_code,
                                                                 clean.sha256))
    if not created:
        return row, False
    timeline.record(session, application, actor=actor, action="material.uploaded",
                    message=f"上传“{label}”第 {row.position} 页")
    return row, True


def _same_file(application_id: int, material_code: str, sha256: str) -> Select:
    return select(MaterialFile).where(
        MaterialFile.application_id == application_id,
        MaterialFile.material_code == material_code, MaterialFile.sha256 == sha256)


def _count(session: Session, application_id: int, material_code: str) -> int:
    return session.scalar(select(func.count()).select_from(MaterialFile).where(
        MaterialFile.application_id == application_id,
        MaterialFile.material_code == material_code)) or 0


def _files(application: Application, material_code: str) -> list[MaterialFile]:
    return sorted((f for f in application.files if f.material_code == material_code),
                  key=lambda f: f.position)


def delete(session: Session, *, applicant: Applicant, application_id: int, material_code: str,
           file_id: int) -> Application:
    """Remove one page; the rest close ranks. The bytes stay until no application uses them."""
    application, who = applications.get_for(session, applicant=applicant,
                                            application_id=application_id,
                                            need=applications.EDIT)
    workflow.ensure_editable(application.status)
    files = _files(application, material_code)
    target = next((f for f in files if f.id == file_id), None)
    if target is None:
        raise NotFound("MATERIAL_FILE_NOT_FOUND", "文件不存在", {"file_id": file_id})
    application.files.remove(target)
    session.flush()
    _renumber([f for f in files if f is not target])
    timeline.record(session, application, actor=who, action="material.deleted",
                    message=f"删除材料第 {target.position} 页（{material_code}）")
    return application


def reorder(session: Session, *, applicant: Applicant, application_id: int, material_code: str,
            file_ids: list[int]) -> Application:
    """Put the pages in the given order; the list must name each page exactly once."""
    application, _ = applications.get_for(session, applicant=applicant,
                                          application_id=application_id,
                                          need=applications.EDIT)
    workflow.ensure_editable(application.status)
    files = {f.id: f for f in _files(application, material_code)}
    if sorted(file_ids) != sorted(files):
        raise RuleViolation("MATERIAL_ORDER_INVALID", "排序须包含该材料的每个文件且各一次",
                            {"expected": sorted(files)})
    _renumber([files[i] for i in file_ids])
    return application


def _renumber(files: list[MaterialFile]) -> None:
    for position, f in enumerate(files, start=1):
        f.position = position


def subject_may_read(session: Session, *, subject: str, sha256: str) -> bool:
    """Access check at fetch time: the applicant named in the link still owns (or helps
    with, not removed) an application holding the file (a material, a photo, a license
    image), or the staff member named in it may still see such an application."""
    kind, _, ident = subject.partition(":")
    if not ident.isdigit():
        return False
    holder_ids = set(session.scalars(select(MaterialFile.application_id).where(
        (MaterialFile.sha256 == sha256) | (MaterialFile.thumbnail_sha256 == sha256))))
    holder_ids |= set(session.scalars(
        select(License.application_id).join(LicenseRendition).where(
            (LicenseRendition.png_sha256 == sha256) | (LicenseRendition.pdf_sha256 == sha256))))
    holders = list(session.scalars(select(Application).where(Application.id.in_(holder_ids))))
    if kind == "applicant":
        applicant = session.get(Applicant, int(ident))
        return applicant is not None and any(
            a.applicant_id == applicant.id
            or applications.helper_role(session, a, applicant) is not None for a in holders)
    staff = session.get(StaffAccount, int(ident)) if kind == "staff" else None
    if staff is None or not staff.active:
        return False
    return any(window.staff_may_see(session, staff, a) for a in holders)
