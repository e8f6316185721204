"""Uploaded files, served only through short-lived signed links, never from a static path.

The link names who it was issued to; at fetch time that subject must still own the file
(an <image> in the mini-program cannot send our bearer header, hence the signed link).
"""

from __future__ import annotations

from typing import BinaryIO

from apiflask import APIBlueprint
from flask import current_app, request, send_file

from backend.errors import BadRequest
from backend.extensions import db
from backend.services import materials
from media.errors import SignatureInvalid

bp = APIBlueprint("files", __name__, tag="文件")


@bp.get("/files/<token>")
@bp.doc(responses={403: "MEDIA_LINK_INVALID / MEDIA_LINK_EXPIRED", 404: "MEDIA_NOT_FOUND"})
def fetch(token: str):
    """按签名链接读取已上传的材料文件（链接短期有效，仅限文件所有人）"""
    store = current_app.extensions["media_store"]
    sha256, subject = store.verify(token)
    if not materials.subject_may_read(db.session, subject=subject, sha256=sha256):
        raise SignatureInvalid()
    with store.open(sha256) as probe:
        head = probe.read(8)
    is_pdf = head.startswith(b"%PDF-")
    # we only ever store our own re-encoded JPEGs, rendered license PNGs and checked PDFs
    mimetype = ("application/pdf" if is_pdf
                else "image/png" if head.startswith(b"\x89PNG") else "image/jpeg")
    # A fresh file, never read from: gunicorn sends it with sendfile() from the OS file
    # position, which a buffered read + seek(0) leaves past the first 4 KB.
    response = send_file(store.open(sha256), mimetype=mimetype, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    # images are our own re-encoded JPEGs; PDFs are kept as uploaded, so never rendered inline
    response.headers["Content-Disposition"] = (
        f"attachment; filename={sha256[:16]}.pdf" if is_pdf else "inline")
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response



def upload_stream() -> BinaryIO:
    """The uploaded file of a multipart request: field ``file``, as wx.uploadFile sends it."""
    upload = request.files.get("file")
    if upload is None:
        raise BadRequest("UPLOAD_FILE_MISSING", "请在表单字段 file 中上传文件")
    return upload.stream
