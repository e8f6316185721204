"""用证: the holder downloads each e-license they hold, stating the purpose of use.

晋政办发〔2022〕90号 二（六）: the permits bundled in the 行业综合许可证 are kept as electronic
licenses for the holder, who obtains each one. As national e-license libraries do, every
download states its purpose of use (用证事由) and is recorded (who, which version, purpose,
when, from which client address), and the file is reached through a link that expires
(ELICENSE_DOWNLOAD_TTL_SECONDS; the media store's signed links, checked against the holder
again when fetched).

Rules (documented here once):

- A holder lists and downloads only the e-licenses of their own licenses: anyone else's, like
  an unknown one, is 404 ``ELICENSE_NOT_FOUND``; a malformed 证照标识 is 422
  ``ELICENSE_ID_INVALID`` with its precise code.
- Only the current version of an e-license in force (01 有效) is downloadable: an earlier
  version's identifier is 409 ``ELICENSE_SUPERSEDED`` (naming the current one), a suspended,
  revoked, cancelled or lapsed one 409 ``ELICENSE_NOT_VALID``.
- The purpose is one of :data:`PURPOSES`; ``other`` (其他) needs the holder's own words
  (2–100 characters) and no other purpose takes them (422 ``DOWNLOAD_PURPOSE_INVALID``).
- The file: the sealed PDF of the license's current face, for the combined license and for
  each permit alike — the permits are printed on it, and its seal is theirs
  (``elicenses.sealed``); the e-license library holds the same file.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import Conflict, FieldsInvalid, NotFound
from backend.identifiers import clean_text
from backend.models import Applicant, Application, ElicenseDownload, License, StaffAccount
from backend.models.base import utcnow
from backend.models.elicenses import COMBINED, Elicense
from backend.security import permissions
from backend.services import elicense_ids, elicenses, licenses

# 用证事由: what a holder may state (code → what it means); "other" takes their own words
PURPOSES = {"bank": "银行开户、贷款等金融业务", "lease": "经营场所租赁",
            "government": "办理其他政务服务事项", "bidding": "招标投标、政府采购",
            "partner": "商务合作、供应商资质审核", "display": "经营场所亮证公示",
            "other": "其他"}
OTHER = "other"
PURPOSE_TEXT = (2, 100)  # characters of a stated 其他
DOWNLOADABLE = "01"  # 有效


def purposes() -> list[dict[str, Any]]:
    """The purposes a holder picks from: ``{code, label, needs_text}``."""
    return [{"code": code, "label": label, "needs_text": code == OTHER}
            for code, label in PURPOSES.items()]


def list_own(session: Session, *, applicant: Applicant) -> list[dict[str, Any]]:
    """Every e-license of the holder's licenses, newest license first, each combined license
    before its permits: ``{identifier, name, kind (combined | permit), item_code, license_id,
    license_no, version, status_code, status_label, valid_from, valid_until (None: 长期),
    downloadable}``."""
    out = []
    for license_ in licenses.list_own(session, applicant=applicant):
        mine = elicenses.of_license(license_)
        for code in (COMBINED, *(i.item_code for i in license_.items)):
            if code in mine:
                out.append(_view(license_, mine[code]))
    return out


def _view(license_: License, elicense: Elicense) -> dict[str, Any]:
    return {"identifier": elicense.identifier, "name": elicense.name,
            "kind": "combined" if elicense.item_code == COMBINED else "permit",
            "item_code": elicense.item_code or None, "license_id": license_.id,
            "license_no": elicense.license_no, "version": f"{elicense.version:03d}",
            "status_code": elicense.status_code,
            "status_label": elicenses.STATUS_LABELS[elicense.status_code],
            "valid_from": elicense.valid_from, "valid_until": elicense.valid_until,
            "downloadable": elicense.status_code == DOWNLOADABLE}


def download(session: Session, *, applicant: Applicant, identifier: str, purpose: str,
             purpose_text: str | None, client_address: str | None, ttl_seconds: int,
             store) -> tuple[ElicenseDownload, str]:
    """Record one download and sign its link: (the record, a media-store token for the
    sealed PDF valid ``ttl_seconds``, until ``record.expires_at``). The rules: module
    docstring. ``store``: the media store (``media.store.MediaStore``)."""
    try:
        found = elicenses.find(session, identifier)
    except elicense_ids.IdentifierInvalid as error:
        raise error.as_field("identifier") from None
    elicense, earlier = found if found is not None else (None, False)
    license_ = session.get(License, elicense.license_id) if elicense is not None else None
    if license_ is None or session.get(Application, license_.application_id
                                       ).applicant_id != applicant.id:
        raise NotFound("ELICENSE_NOT_FOUND", "电子证照不存在", {"identifier": identifier})
    if earlier:
        raise Conflict("ELICENSE_SUPERSEDED", "该证照标识已有新版本，请下载最新版本",
                       {"current_identifier": elicense.identifier})
    if elicense.status_code != DOWNLOADABLE:
        label = elicenses.STATUS_LABELS[elicense.status_code]
        raise Conflict("ELICENSE_NOT_VALID", f"该电子证照当前状态为“{label}”，不能下载用证",
                       {"status_code": elicense.status_code})
    text = _stated(purpose, purpose_text)
    face = licenses.face(session, license_)
    now = utcnow()
    token = store.sign(face.pdf_sha256, subject=f"applicant:{applicant.id}",
                       expires_in=ttl_seconds, now=now.timestamp())
    row = ElicenseDownload(
        license_id=license_.id, elicense_id=elicense.id, identifier=elicense.identifier,
        applicant_id=applicant.id, purpose=purpose, purpose_text=text,
        client_address=client_address, file_sha256=face.pdf_sha256, created_at=now,
        expires_at=datetime.fromtimestamp(int(now.timestamp() + ttl_seconds), UTC))
    session.add(row)
    return row, token


def _stated(purpose: str, purpose_text: str | None) -> str | None:
    """The holder's own words for 其他, checked (:data:`PURPOSE_TEXT`)."""
    text = clean_text(purpose_text or "") or None
    low, high = PURPOSE_TEXT
    problem = None
    if purpose not in PURPOSES:
        field, problem = "purpose", ("PURPOSE_UNKNOWN", "请从列出的用证事由中选择")
    elif purpose == OTHER and (text is None or not low <= len(text) <= high):
        field, problem = "purpose_text", ("FIELD_REQUIRED",
                                          f"用证事由选择“其他”时，请说明用途（{low}至{high}字）")
    elif purpose != OTHER and text is not None:
        field, problem = "purpose_text", ("FIELD_NOT_ALLOWED", "只有用证事由为“其他”时才需填写说明")
    if problem is not None:
        raise FieldsInvalid("DOWNLOAD_PURPOSE_INVALID",
                            {field: {"code": problem[0], "message": problem[1]}})
    return text


def of_license(session: Session, *, staff: StaffAccount, license_id: int
               ) -> list[dict[str, Any]]:
    """Every download of the license's e-licenses, newest first, for administrators
    (``license.downloads``; the license as :func:`licenses.get_for_staff` reaches it):
    ``{id, at, identifier, name, item_code, applicant_id, purpose, purpose_label,
    purpose_text, client_address, expires_at}``."""
    permissions.require(staff, "license.downloads")
    licenses.get_for_staff(session, staff=staff, license_id=license_id)
    rows = session.scalars(select(ElicenseDownload).where(
        ElicenseDownload.license_id == license_id).order_by(ElicenseDownload.id.desc()))
    return [{"id": r.id, "at": r.created_at, "identifier": r.identifier,
             "name": r.elicense.name, "item_code": r.elicense.item_code or None,
             "applicant_id": r.applicant_id, "purpose": r.purpose,
             "purpose_label": PURPOSES.get(r.purpose, r.purpose),
             "purpose_text": r.purpose_text, "client_address": r.client_address,
             "expires_at": r.expires_at} for r in rows]
