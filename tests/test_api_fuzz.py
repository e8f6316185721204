"""Schemathesis over /openapi.json: generated requests to every operation, as every kind of
caller, must never get a 5xx, and every answer must match what the document says.

In-process (WSGI), on SQLite only, with a few examples per operation and caller so the
sweep stays under a minute; each defect it finds gets a specific regression test of its own.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.identities import every_identity

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))  # more for a deeper local hunt
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture
def fuzz_app(app):
    """SQLite in the suite; FUZZ_DATABASES=all adds MariaDB for a local hunt."""
    if os.environ.get("FUZZ_DATABASES") != "all" and \
            app.config["SQLALCHEMY_DATABASE_URI"].startswith("mysql"):
        pytest.skip("the fuzz runs on one database (SQLite) in the suite")
    return app


def test_no_operation_answers_5xx_or_off_its_schema(fuzz_app, client, login, staff_login):
    identities = every_identity(client, login, staff_login)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 70
    for operation in operations:
        _fuzz(operation, _callers(operation.path, identities), CHECKS, failures)
    assert failures == [], "\n\n".join(failures)


def _fuzz(operation, callers: dict[str, dict[str, str]], checks: list,
          failures: list[str]) -> None:
    """A few generated requests to one operation, each sent as every caller."""

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def run(case):
        for name, headers in callers.items():
            response = case.call(headers=headers)
            try:
                case.validate_response(response, checks=checks, headers=headers)
            except (Failure, FailureGroup) as found:  # collected: one report for the sweep
                failures.append(f"{operation.label} as {name}: {_summary(found)}\n"
                                f"    {case.as_curl_command(headers=headers)}")
                return

    run()


def _summary(found: Failure | FailureGroup) -> str:
    each = found.exceptions if isinstance(found, FailureGroup) else (found,)
    return "; ".join(f"{f.title}: {str(f).splitlines()[-1][:300]}" for f in each)


def _callers(path: str, identities: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Who calls this path: applicants the mini-program API, staff and departments the staff
    API; also nobody, so the unauthenticated answers are checked too."""
    if path.startswith("/api/mp/"):
        names = ["applicant", "inspector"]  # inspectors scan licenses from the mini-program
    elif path == "/api/staff/v1/departments/feed":
        names = ["department"]
    elif path.startswith("/api/staff/"):
        names = [n for n in identities if n not in {"applicant", "department"}]
    else:
        names = []
    return {"anonymous": {}} | {n: identities[n] for n in names}
