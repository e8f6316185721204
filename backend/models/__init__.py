"""ORM models, one module per aggregate. Importing this package registers every table."""

from backend.models.accounts import (
    AccessToken,
    Applicant,
    StaffAccount,
    StaffBindingCode,
    WalkIn,
)
from backend.models.applications import (
    Application,
    ApplicationEvent,
    ApplicationItem,
    IdempotencyRecord,
    Inspection,
    InspectionMember,
    InspectionResult,
    IssuedDocument,
    MaterialFile,
)
from backend.models.calendar import CalendarDay
from backend.models.catalog import CatalogIndustry, CatalogPermitItem, CatalogVersion
from backend.models.elicenses import Elicense, ElicenseDownload, ElicenseEvent
from backend.models.licenses import License, LicenseChange, LicenseItem, LicenseRendition
from backend.models.notifications import (
    DepartmentEndpoint,
    DepartmentRecord,
    InboxMessage,
    WechatSubscription,
)
from backend.models.ratings import RectificationTask, ServiceRating
from backend.models.statistics import StatisticsDay, StatisticsWatermark
from notifications.outbox import OutboxMessage

__all__ = [
    "AccessToken",
    "Applicant",
    "Application",
    "ApplicationEvent",
    "ApplicationItem",
    "CalendarDay",
    "CatalogIndustry",
    "CatalogPermitItem",
    "CatalogVersion",
    "DepartmentEndpoint",
    "DepartmentRecord",
    "Elicense",
    "ElicenseDownload",
    "ElicenseEvent",
    "IdempotencyRecord",
    "InboxMessage",
    "Inspection",
    "InspectionMember",
    "InspectionResult",
    "IssuedDocument",
    "License",
    "LicenseChange",
    "LicenseItem",
    "LicenseRendition",
    "MaterialFile",
    "OutboxMessage",
    "RectificationTask",
    "ServiceRating",
    "StaffAccount",
    "StaffBindingCode",
    "StatisticsDay",
    "StatisticsWatermark",
    "WalkIn",
    "WechatSubscription",
]
