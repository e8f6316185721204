"""ORM models, one module per aggregate. Importing this package registers every table."""

from backend.models.accounts import AccessToken, Applicant, StaffAccount
from backend.models.applications import (
    Application,
    ApplicationEvent,
    ApplicationItem,
    IdempotencyRecord,
    MaterialFile,
)
from backend.models.catalog import CatalogIndustry, CatalogPermitItem, CatalogVersion

__all__ = [
    "AccessToken",
    "Applicant",
    "Application",
    "ApplicationEvent",
    "ApplicationItem",
    "CatalogIndustry",
    "CatalogPermitItem",
    "CatalogVersion",
    "IdempotencyRecord",
    "MaterialFile",
    "StaffAccount",
]
