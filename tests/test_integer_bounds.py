"""Every integer a client sends is bounded by its schema: out of range is 404 or 422, never 500.

Generated from /openapi.json: each integer path or query parameter and each integer body
field gets 2⁶³, 2⁶⁴, −1 and the values just past its documented range, as each kind of
caller, so a new route or field is covered without touching this file.
"""

from __future__ import annotations

from typing import Any

import pytest

from backend.api_types import JSON_SAFE_INT
from tests.identities import every_identity
from tests.test_app import assert_envelope

PATH_SAMPLES = {"code": "restaurant", "action": "suspend", "day": "2026-01-01"}


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _numbers(spec: dict, schema: dict, pointer: tuple[str, ...], seen=()) -> list:
    """(pointer, schema) of every integer or number reachable in a request schema."""
    schema = _resolve(spec, schema)
    if id(schema) in seen:
        return []
    seen = (*seen, id(schema))
    found = [(pointer, schema)] if schema.get("type") in {"integer", "number"} else []
    for alternative in schema.get("anyOf", []) + schema.get("oneOf", []):
        found += _numbers(spec, alternative, pointer, seen)
    for name, sub in schema.get("properties", {}).items():
        found += _numbers(spec, sub, (*pointer, name), seen)
    if "items" in schema:
        found += _numbers(spec, schema["items"], (*pointer, "0"), seen)
    if isinstance(schema.get("additionalProperties"), dict):
        found += _numbers(spec, schema["additionalProperties"], (*pointer, "k"), seen)
    return found


def _targets(spec: dict) -> list[tuple[str, str, str, tuple[str, ...], dict]]:
    """(method, path, location, pointer, schema) for every number a request carries."""
    out = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                for pointer, schema in _numbers(spec, parameter["schema"], (parameter["name"],)):
                    out.append((method, path, parameter["in"], pointer, schema))
            content = operation.get("requestBody", {}).get("content", {})
            for body in content.get("application/json", {}).values():
                for pointer, schema in _numbers(spec, body, ()):
                    out.append((method, path, "body", pointer, schema))
    return out


def _out_of_range(schema: dict, location: str) -> list[Any]:
    low, high = schema.get("minimum"), schema.get("maximum")
    values = [2**63, 2**64, -1] + [v for v in (low and low - 1, high and high + 1) if v]
    values = [v for v in values if not (low is not None and high is not None and low <= v <= high)]
    return values + (["²"] if location != "body" else [])


def _nest(pointer: tuple[str, ...], value: Any) -> Any:
    for part in reversed(pointer):
        value = [value] if part == "0" else {part: value}
    return value


def _request(spec_path: str, location: str, pointer: tuple[str, ...], value: Any):
    """The URL and JSON body that put ``value`` at ``pointer``, the rest harmless."""
    path, query, body = spec_path, "", None
    parameters = {p.strip("{}") for p in spec_path.split("/") if p.startswith("{")}
    for name in parameters:
        sample = str(value) if (location, pointer[0]) == ("path", name) else \
            PATH_SAMPLES.get(name, "1" if name.endswith("_id") else "x")
        path = path.replace("{" + name + "}", sample)
    if location == "query":
        query = f"?{pointer[0]}={value}"
    elif location == "body":
        body = _nest(pointer, value)
    return path + query, body


@pytest.fixture
def spec(client) -> dict:
    return client.get("/openapi.json").json


def test_every_number_a_client_sends_has_a_documented_range(spec):
    unbounded = [(m, p, loc, ".".join(ptr)) for m, p, loc, ptr, schema in _targets(spec)
                 if schema.get("minimum") is None or schema.get("maximum") is None
                 or schema["maximum"] > JSON_SAFE_INT]
    assert unbounded == []


def test_out_of_range_integers_are_404_or_422_never_500(client, login, staff_login, spec):
    identities = list(every_identity(client, login, staff_login).values())
    checked = 0
    for method, spec_path, location, pointer, schema in _targets(spec):
        for value in _out_of_range(schema, location):
            url, body = _request(spec_path, location, pointer, value)
            for headers in identities:  # the first caller allowed past authentication
                resp = client.open(url, method=method.upper(), json=body, headers=headers)
                assert resp.status_code < 500, (method, url, body, resp.json)
                if resp.status_code not in {401, 403}:
                    break
            where = f"{method} {url} {body}"
            if location == "path":
                assert resp.status_code == 404, where
            else:
                fields = assert_envelope(resp, 422, "REQUEST_INVALID")["details"]["fields"]
                assert any(f["field"].startswith(".".join(pointer)) for f in fields), where
            checked += 1
    assert checked > 100


def test_a_catalog_version_past_2_63_is_422(client):
    resp = client.get("/api/mp/v1/industries/restaurant?version=9223372036854775808")
    field, = assert_envelope(resp, 422, "REQUEST_INVALID")["details"]["fields"]
    assert field["field"] == "version" and field["message"] == "数值过大"
