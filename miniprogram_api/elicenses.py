"""The holder's electronic licenses (电子证照) and their downloads, each with its stated purpose
of use (用证事由): ``backend.services.elicense_downloads``."""

from __future__ import annotations

from flask import current_app, request, url_for

from backend.extensions import db
from backend.services import elicense_downloads
from miniprogram_api import bp
from miniprogram_api.auth import token_auth
from miniprogram_api.schemas import DownloadIn, DownloadOut, HeldElicenseList


@bp.get("/elicenses")
@bp.auth_required(token_auth)
@bp.output(HeldElicenseList)
def my_elicenses():
    """我的电子证照：行业综合许可证及其所含各项许可（证照标识、名称、状态、有效期），及用证事由"""
    rows = elicense_downloads.list_own(db.session, applicant=token_auth.current_user)
    return {"total": len(rows), "elicenses": rows, "purposes": elicense_downloads.purposes()}


@bp.post("/elicenses/<identifier>/download")
@bp.auth_required(token_auth)
@bp.input(DownloadIn)
@bp.output(DownloadOut, status_code=201)
@bp.doc(responses={404: "ELICENSE_NOT_FOUND：不存在或不是本人的",
                   409: "ELICENSE_SUPERSEDED（已有新版本）/ ELICENSE_NOT_VALID（非有效状态）",
                   422: "ELICENSE_ID_INVALID（证照标识格式或校验位不对）/ "
                        "DOWNLOAD_PURPOSE_INVALID（用证事由）"})
def download_elicense(identifier: str, json_data: DownloadIn):
    """下载一张电子证照：须说明用证事由；每次下载都有记录，返回的链接短期有效"""
    settings = current_app.extensions["settings"]
    row, token = elicense_downloads.download(
        db.session, applicant=token_auth.current_user, identifier=identifier,
        purpose=json_data.purpose, purpose_text=json_data.purpose_text,
        client_address=request.remote_addr, ttl_seconds=settings.ELICENSE_DOWNLOAD_TTL_SECONDS,
        store=current_app.extensions["media_store"])
    db.session.commit()  # the record, and a first view's rendered face
    return {"identifier": row.identifier, "name": row.elicense.name, "purpose": row.purpose,
            "purpose_label": elicense_downloads.PURPOSES[row.purpose],
            "purpose_text": row.purpose_text, "url": url_for("files.fetch", token=token,
                                                             _external=True),
            "expires_at": row.expires_at, "file_sha256": row.file_sha256}, 201
