"""What an upload that is not one is told: no field, a field that is not a file, an empty file.

Each through HTTP as a client would send it; nothing is stored in any case.
"""

from __future__ import annotations

import pytest
from werkzeug.test import encode_multipart

from tests.test_app import assert_envelope
from tests.test_applications import BASE, draft, media_files

NO_FILENAME = (  # a text part named "file": what a hand-built multipart body often sends
    b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\n\xff\xd8\xff\xe0 bytes\r\n'
    b"--b--\r\n")


MALFORMED = {
    "no-field": (encode_multipart({"other": "x"})[1], None, 400, "UPLOAD_FILE_MISSING"),
    "no-filename": (NO_FILENAME, "multipart/form-data; boundary=b", 400, "UPLOAD_NOT_A_FILE"),
    "empty": (b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
              b"Content-Type: image/jpeg\r\n\r\n\r\n--b--\r\n",
              "multipart/form-data; boundary=b", 422, "UPLOAD_EMPTY"),
    "json": (b'{"file": "x"}', "application/json", 400, "UPLOAD_NOT_MULTIPART"),
    # the file sent as the raw body, as a hand-written client or curl --data-binary does
    "pdf": (b"%PDF-1.4\n%%EOF\n", "application/pdf", 400, "UPLOAD_NOT_MULTIPART"),
    "jpeg": (b"\xff\xd8\xff\xe0 bytes", "image/jpeg", 400, "UPLOAD_NOT_MULTIPART"),
    "octet-stream": (b"\xff\xd8\xff\xe0 bytes", "application/octet-stream", 400,
                     "UPLOAD_NOT_MULTIPART"),
    "urlencoded": (b"file=x", "application/x-www-form-urlencoded", 400, "UPLOAD_NOT_MULTIPART"),
    "text": (b"x", "text/plain", 400, "UPLOAD_NOT_MULTIPART"),
}


# the evidence route reads the file itself only while a rectification is open
@pytest.mark.parametrize("body, content_type, status, code, place", [
    pytest.param(*row, place, id=f"{name}-{place}") for name, row in MALFORMED.items()
    for place in ("materials/premises_proof", "inspection/evidence")
    if place.startswith("materials") or row[3] == "UPLOAD_NOT_MULTIPART"])
def test_each_malformed_upload_says_what_is_wrong(app, client, login, body, content_type,
                                                  status, code, place):
    """Every upload route reads its own body: a non-multipart one is UPLOAD_NOT_MULTIPART,
    never the JSON routes' 415 (issue 10)."""
    headers = login()
    detail = draft(client, headers)
    if content_type is None:
        boundary, body = encode_multipart({"other": "x"})
        content_type = f"multipart/form-data; boundary={boundary}"
    resp = client.post(f"{BASE}/{detail['id']}/{place}", headers=headers,
                       data=body, content_type=content_type)
    message = assert_envelope(resp, status, code)["message"]
    assert "file" in message or code == "UPLOAD_EMPTY"
    stored = client.get(f"{BASE}/{detail['id']}", headers=headers).json["materials"]
    assert all(m["files"] == [] for m in stored) and media_files(app) == []
