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


@pytest.mark.parametrize("body, content_type, status, code", [
    (encode_multipart({"other": "x"})[1], None, 400, "UPLOAD_FILE_MISSING"),
    (NO_FILENAME, "multipart/form-data; boundary=b", 400, "UPLOAD_NOT_A_FILE"),
    (b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
     b"Content-Type: image/jpeg\r\n\r\n\r\n--b--\r\n", "multipart/form-data; boundary=b",
     422, "UPLOAD_EMPTY"),
    (b'{"file": "x"}', "application/json", 400, "UPLOAD_NOT_MULTIPART"),
], ids=["no-field", "no-filename", "empty", "json"])
def test_each_malformed_upload_says_what_is_wrong(app, client, login, body, content_type,
                                                  status, code):
    headers = login()
    detail = draft(client, headers)
    if content_type is None:
        boundary, body = encode_multipart({"other": "x"})
        content_type = f"multipart/form-data; boundary={boundary}"
    resp = client.post(f"{BASE}/{detail['id']}/materials/premises_proof", headers=headers,
                       data=body, content_type=content_type)
    message = assert_envelope(resp, status, code)["message"]
    assert "file" in message or code == "UPLOAD_EMPTY"
    stored = client.get(f"{BASE}/{detail['id']}", headers=headers).json["materials"]
    assert all(m["files"] == [] for m in stored) and media_files(app) == []
