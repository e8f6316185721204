"""Every kind of caller the API has, logged in for real: for tests that sweep all routes."""

from __future__ import annotations

STAFF_ROLES = {  # role → unit (reviewers and inspectors belong to one)
    "window_commissioner": None,
    "unit_reviewer": "approval_bureau",
    "inspection_coordinator": None,
    "inspector": "approval_bureau",
    "catalog_admin": None,
    "system_admin": None,
}


def every_identity(client, login, staff_login) -> dict[str, dict[str, str]]:
    """name → request headers: the applicant, each staff role and a department's API key."""
    identities = {"applicant": login()}
    for role, unit in STAFF_ROLES.items():
        identities[role] = staff_login(role, unit)[0]
    admin = identities["system_admin"]
    key = client.put("/api/staff/v1/notifications/departments/market", headers=admin,
                     json={}).json["api_key"]
    identities["department"] = {"X-Api-Key": key}
    return identities
