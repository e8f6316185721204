"""What the OpenAPI document promises about every answer: the one error envelope."""

from __future__ import annotations

from tests.identities import every_identity


def test_every_error_response_is_documented_as_the_one_envelope(client):
    spec = client.get("/openapi.json").json
    components = spec["components"]["schemas"]
    for name in ("HTTPError", "ValidationError"):
        schema = components[name]
        assert schema["required"] == ["code", "message", "details"]
        fields = schema["properties"]["details"]["properties"]["fields"]
        assert fields["items"]["required"] == ["field", "code", "message"]
    refs = {content["schema"]["$ref"].rsplit("/", 1)[-1]
            for operations in spec["paths"].values() for operation in operations.values()
            for status, response in operation["responses"].items()
            if status >= "400" or status == "default"
            for mimetype, content in response.get("content", {}).items()
            if mimetype != "text/html"}  # a page (the citizen's verification) refuses as a page
    assert refs == {"HTTPError", "ValidationError"}
    assert all("default" in operation["responses"]  # any other error status: the envelope
               for operations in spec["paths"].values() for operation in operations.values())


# path parameters of `any(…)` rules, which the document leaves a bare string
ANY_PATH_VALUES = {"action": "suspend"}


def test_every_json_operation_refuses_a_body_nested_too_deep(client, login, staff_login):
    """Generated from /openapi.json: a body nested past any schema is 400 REQUEST_MALFORMED on
    every operation taking JSON, for each caller allowed in (others are refused 401/403 before
    the body is read), never a 500."""
    spec = client.get("/openapi.json").json
    callers = every_identity(client, login, staff_login) | {"anonymous": {}}
    deep = '{"a":' + "[" * 1000 + "]" * 1000 + "}"
    operations = [(method, path, operation) for path, operations in spec["paths"].items()
                  for method, operation in operations.items()
                  if "application/json" in operation.get("requestBody", {}).get("content", {})]
    assert len(operations) > 25
    for method, path, operation in operations:
        url = path.format(**{p["name"]: ANY_PATH_VALUES.get(p["name"], 1)
                             for p in operation.get("parameters", []) if p["in"] == "path"})
        answers = {name: client.open(url, method=method.upper(), data=deep, headers=headers,
                                     content_type="application/json")
                   for name, headers in callers.items()}
        statuses = {name: r.status_code for name, r in answers.items()}
        assert set(statuses.values()) <= {400, 401, 403}, (method, path, statuses)
        malformed = [name for name, r in answers.items() if r.status_code == 400]
        assert malformed, (method, path, statuses)
        for name in malformed:
            assert answers[name].json["code"] == "REQUEST_MALFORMED", (method, path, name)
