"""What the OpenAPI document promises about every answer: the one error envelope."""

from __future__ import annotations


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
            for content in response.get("content", {}).values()}
    assert refs == {"HTTPError", "ValidationError"}
    assert all("default" in operation["responses"]  # any other error status: the envelope
               for operations in spec["paths"].values() for operation in operations.values())
