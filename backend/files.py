"""Uploaded files, served only through short-lived signed links, never from a static path.

The link names who it was issued to; at fetch time that subject must still own the file
(an <image> in the mini-program cannot send our bearer header, hence the signed link).

Every file opens in the browser (``Content-Disposition: inline``), PDFs too, so a reviewer
reads an applicant's PDF in the browser's own viewer instead of a download to open by hand.
What makes that safe:

- we only ever store our own re-encoded JPEGs, our rendered license PNGs and PDFs that
  media/images.py re-validated with pikepdf: encrypted ones and any with active content
  (/JavaScript, /JS, /Launch, /AA, /EmbeddedFile(s), /RichMedia, /XFA anywhere in the file,
  escaped names decoded) are refused at upload, so what is served is a plain document;
- the type is ours (from the stored bytes' signature, not the upload's name or header) and
  ``X-Content-Type-Options: nosniff`` stops the browser from guessing another (a "PDF" read
  as HTML);
- ``Content-Security-Policy: default-src 'none'; sandbox`` puts the response in an opaque
  origin without scripts, forms, plugins' scripting or top navigation: should a file still
  carry something active, it runs nowhere near the console's origin and its session cookie.
  Chromium's PDF viewer (its built-in extension) renders under that sandbox: tried with
  Playwright in Debian's Chromium 156 (tests/test_files_browser.py opens a console link and
  sees the viewer, no download). A browser whose viewer refused the sandbox would show an
  empty page, not run the file, so the sandbox stays on.
"""

from __future__ import annotations

from typing import BinaryIO

from apiflask import APIBlueprint
from flask import Response, current_app, request, send_file

from backend.errors import BadRequest
from backend.extensions import db
from backend.services import materials
from media.errors import SignatureInvalid
from media.store import Download

bp = APIBlueprint("files", __name__, tag="文件")


@bp.get("/files/<token>")
@bp.doc(responses={403: "MEDIA_LINK_INVALID / MEDIA_LINK_EXPIRED", 404: "MEDIA_NOT_FOUND"})
def fetch(token: str):
    """按签名链接读取已上传的材料文件（链接短期有效，仅限文件所有人）"""
    store = current_app.extensions["media_store"]
    sha256, subject = store.verify(token)
    if not materials.subject_may_read(db.session, subject=subject, sha256=sha256):
        raise SignatureInvalid()
    stored = store.download(sha256)
    head = stored.file.read(8)
    is_pdf = head.startswith(b"%PDF-")
    # we only ever store our own re-encoded JPEGs, rendered license PNGs and checked PDFs
    mimetype = ("application/pdf" if is_pdf
                else "image/png" if head.startswith(b"\x89PNG") else "image/jpeg")
    if stored.path is not None:
        stored.file.close()
        # By path: werkzeug opens it fresh (gunicorn's sendfile() starts at the OS file
        # position, which a buffered read + seek(0) left past the first 4 KB), says its
        # length, and answers a Range (a download on weak 4G resumes); the
        # content-addressed name is a strong ETag.
        response = send_file(stored.path, mimetype=mimetype, max_age=0,
                             conditional=True, etag=sha256)
    else:  # an object of the bucket, streamed as it arrives: the same length, Range, ETag
        response = _streamed(stored, head, mimetype=mimetype, etag=sha256)
    response.headers["X-Content-Type-Options"] = "nosniff"
    # in the browser's viewer, sandboxed (the module's docstring); a PDF saved from it is named
    response.headers["Content-Disposition"] = (
        f"inline; filename={sha256[:16]}.pdf" if is_pdf else "inline")
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _streamed(stored: Download, head: bytes, *, mimetype: str, etag: str) -> Response:
    """A stored object sent in 64 KB chunks, never whole in memory, with what send_file
    gives a local file: Content-Length, a strong ETag (304 to If-None-Match) and byte
    ranges (werkzeug skips to the start of a range in the stream)."""

    def chunks():
        yield head
        while chunk := stored.file.read(64 * 1024):
            yield chunk

    response = Response(chunks(), mimetype=mimetype)
    response.call_on_close(stored.file.close)
    response.set_etag(etag)
    response.content_length = stored.size
    return response.make_conditional(request, accept_ranges=True, complete_length=stored.size)


# what any upload route may answer besides its own outcomes (OpenAPI descriptions)
UPLOAD_RESPONSES = {400: "UPLOAD_NOT_MULTIPART / UPLOAD_FILE_MISSING / UPLOAD_NOT_A_FILE",
                    413: "UPLOAD_TOO_LARGE", 415: "UPLOAD_TYPE_NOT_ALLOWED",
                    422: "UPLOAD_EMPTY / UPLOAD_CORRUPT / UPLOAD_TOO_MANY_PIXELS / UPLOAD_IMAGE_* /"
                         " UPLOAD_PDF_*"}


def upload_stream() -> BinaryIO:
    """The uploaded file of a multipart request: field ``file``, as wx.uploadFile sends it.

    Says which of the usual mistakes it is: not multipart at all (UPLOAD_NOT_MULTIPART), no
    field ``file`` (UPLOAD_FILE_MISSING), or a ``file`` part without a filename, which
    multipart parsers treat as text (UPLOAD_NOT_A_FILE); an empty file is the media
    checks' UPLOAD_EMPTY.
    """
    if request.mimetype != "multipart/form-data":
        raise BadRequest("UPLOAD_NOT_MULTIPART",
                         "请以 multipart/form-data 上传，文件放在表单字段 file 中",
                         {"content_type": request.mimetype})
    upload = request.files.get("file")
    if upload is None and "file" in request.form:
        raise BadRequest("UPLOAD_NOT_A_FILE",
                         "表单字段 file 不是文件：该部分缺少 filename（Content-Disposition）")
    if upload is None:
        raise BadRequest("UPLOAD_FILE_MISSING", "请求中没有表单字段 file，请在其中上传文件",
                         {"received_fields": sorted(request.form) + sorted(request.files)})
    return upload.stream
