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
    ItemCommitment,
    MaterialFile,
)
from backend.models.archive import ArchiveEvent, ArchivePackage
from backend.models.calendar import CalendarDay
from backend.models.catalog import CatalogIndustry, CatalogPermitItem, CatalogVersion
from backend.models.elicenses import Elicense, ElicenseDownload, ElicenseEvent
from backend.models.identity import (
    ApplicationCollaborator,
    CollaborationInvite,
    PrivacyConsent,
)
from backend.models.licenses import (
    License,
    LicenseChange,
    LicenseItem,
    LicensePublicRecord,
    LicenseRendition,
)
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
    "ApplicationCollaborator",
    "ApplicationEvent",
    "ApplicationItem",
    "ArchiveEvent",
    "ArchivePackage",
    "CalendarDay",
    "CatalogIndustry",
    "CatalogPermitItem",
    "CatalogVersion",
    "CollaborationInvite",
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
    "ItemCommitment",
    "License",
    "LicenseChange",
    "LicenseItem",
    "LicensePublicRecord",
    "LicenseRendition",
    "MaterialFile",
    "OutboxMessage",
    "PrivacyConsent",
    "RectificationTask",
    "ServiceRating",
    "StaffAccount",
    "StaffBindingCode",
    "StatisticsDay",
    "StatisticsWatermark",
    "WalkIn",
    "WechatSubscription",
]
