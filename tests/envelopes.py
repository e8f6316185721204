"""The one error envelope, checked on every error answer the suite provokes.

``details.fields`` is the only place a field is named: a list of ``{field, code, message}``.
Other keys of ``details`` carry data that is not a field (``missing_materials``,
``uncovered_units``, ``retry_after_seconds``, …), never a per-field map or the old keys.
"""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

OLD_FIELD_KEYS = {"invalid_fields", "missing_fields", "unknown", "invalid", "missing"}


def check_envelope(body: Any) -> None:
    assert isinstance(body, dict) and list(body) == ["code", "message", "details"], body
    assert isinstance(body["code"], str) and body["code"], body
    assert isinstance(body["message"], str) and body["message"], body
    details = body["details"]
    assert isinstance(details, dict), body
    assert not OLD_FIELD_KEYS & set(details), f"fields named outside details.fields: {body}"
    if "fields" in details:
        fields = details["fields"]
        assert isinstance(fields, list), body
        assert all(isinstance(f, dict) and set(f) == {"field", "code", "message"}
                   and all(isinstance(v, str) and v for v in f.values()) for f in fields), body
    for key, value in details.items():
        if key != "fields" and isinstance(value, dict):
            assert not any(isinstance(v, dict) and "code" in v for v in value.values()), (
                f"details.{key} is a per-field map: {body}")


class EnvelopeCheckingClient(FlaskClient):
    """The test client, checking the envelope of every JSON error answer it receives."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        if response.status_code >= 400 and response.mimetype == "application/json":
            check_envelope(response.get_json())
        return response
