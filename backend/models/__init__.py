"""ORM models, one module per aggregate. Importing this package registers every table."""

from backend.models.accounts import AccessToken, Applicant, StaffAccount
from backend.models.catalog import CatalogIndustry, CatalogPermitItem, CatalogVersion

__all__ = [
    "AccessToken",
    "Applicant",
    "CatalogIndustry",
    "CatalogPermitItem",
    "CatalogVersion",
    "StaffAccount",
]
