"""Which staff role may do what: one table, consulted by the services before each action.

Deny by default (OWASP ASVS V4): an action not in the table, or a role not listed for it,
is refused. This is the role gate only; object-level checks (the reviewer's unit, the
inspector's assignment) happen in the services on every read and write.
"""

from __future__ import annotations

from backend.errors import PermissionDenied
from backend.models import StaffAccount

ACTIONS: dict[str, frozenset[str]] = {
    "application.accept": frozenset({"window_commissioner"}),
    "application.request_supplements": frozenset({"window_commissioner"}),
    "application.reject": frozenset({"window_commissioner"}),
    "application.drop_item": frozenset({"window_commissioner"}),
    "application.refuse": frozenset({"window_commissioner"}),
    "application.assist": frozenset({"window_commissioner"}),  # 帮办代办 for a walk-in
    "application.view_any": frozenset({"window_commissioner", "inspection_coordinator",
                                       "system_admin"}),
    "review.decide": frozenset({"unit_reviewer"}),
    "review.list_unit": frozenset({"unit_reviewer"}),
    "inspection.schedule": frozenset({"inspection_coordinator"}),
    "inspection.conclude": frozenset({"inspection_coordinator"}),
    "inspection.record_result": frozenset({"inspector"}),
    "inspection.list_mine": frozenset({"inspector"}),
    "inspection.list_all": frozenset({"inspection_coordinator"}),
    "time_limits.view": frozenset({"inspection_coordinator", "window_commissioner",
                                   "system_admin"}),
    "calendar.edit": frozenset({"system_admin", "catalog_admin"}),
    "catalog.view": frozenset({"catalog_admin", "system_admin"}),
    "catalog.load": frozenset({"catalog_admin"}),
    "staff.manage": frozenset({"system_admin"}),
    "notifications.admin": frozenset({"system_admin"}),
    "staff.binding_code": frozenset({"inspector", "inspection_coordinator"}),
    "license.issue": frozenset({"window_commissioner"}),
    "license.view": frozenset({"window_commissioner", "inspection_coordinator", "inspector",
                               "unit_reviewer", "system_admin"}),
    "license.verify_full": frozenset({"inspector", "inspection_coordinator",
                                      "window_commissioner", "unit_reviewer", "system_admin"}),
    "license.decide_request": frozenset({"window_commissioner"}),
    "license.handle_requests": frozenset({"window_commissioner", "unit_reviewer"}),
    "license.review_change": frozenset({"unit_reviewer"}),
    "license.item_status": frozenset({"unit_reviewer"}),
    # 好差评: the window hands its tablet to the applicant; a bad rating's rectification task
    # is worked by the unit it concerns and overseen by administrators
    "rating.record_at_window": frozenset({"window_commissioner"}),
    "rectification.view": frozenset({"unit_reviewer", "system_admin"}),
    "rectification.act": frozenset({"unit_reviewer"}),
    # 统计与绩效考评: administrators see every unit, a unit's reviewers their own unit only
    # (the object check is backend.services.statistics.scope_of)
    "statistics.view": frozenset({"system_admin", "catalog_admin", "unit_reviewer"}),
    "statistics.view_all": frozenset({"system_admin", "catalog_admin"}),
    # who downloaded a license's e-licenses, why and from where (client addresses)
    "license.downloads": frozenset({"system_admin"}),
    # 档案: the window archives the cases it closes (PRODUCT.md); a package's personal data
    # (encrypted inside it) is opened by administrators only, every opening logged
    "archive.view": frozenset({"window_commissioner", "system_admin"}),
    "archive.verify": frozenset({"window_commissioner", "system_admin"}),
    "archive.open": frozenset({"system_admin"}),
}


def allowed(role: str, action: str) -> bool:
    return role in ACTIONS.get(action, frozenset())


def require(staff: StaffAccount, action: str) -> None:
    if not allowed(staff.role, action):
        raise PermissionDenied("FORBIDDEN_ROLE", "您的角色无权执行此操作", {"action": action})
