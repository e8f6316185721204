"""电子证照: a 证照标识 (GB/T 36904) and the GB/T 36903 core metadata for every license and
every bundled permit, their status history with national operation codes, and the day each
joint inspection concluded

Existing data is brought in line, as ``backend.services.elicenses`` would have made it:

- every license and each of its permits gets its e-license at version 001 (type codes from
  the catalog version in force, else the application's own, else the uncatalogued
  placeholder; issuer codes from ELICENSE_ISSUER_CODES, else stand-ins flagged estimated),
  with the national status of its current verdict and one 01 新发 event "补记";
- a permit not revoked whose validity ends before its license's (a renewal made before
  renewals renewed the permits) is renewed to the license's end: nothing stays expired
  under a valid license;
- a concluded inspection's ``concluded_on`` is the Beijing date of its last
  ``inspection.passed`` / ``inspection.failed`` event.

Revision ID: 9c5ade6f480f
Revises: 3f6b2d9e8c14
Create Date: 2026-12-02
"""

from datetime import UTC, date, datetime
from types import SimpleNamespace

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# UTC, microseconds on MariaDB too (backend.models.base.UTCDateTime)
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision = "9c5ade6f480f"
down_revision = "3f6b2d9e8c14"
branch_labels = None
depends_on = None

BATCH = 500


def upgrade() -> None:
    op.create_table(
        "elicenses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("license_id", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("identifier", sa.String(length=128), nullable=False),
        sa.Column("previous_identifier", sa.String(length=128), nullable=True),
        sa.Column("type_code", sa.String(length=21), nullable=False),
        sa.Column("type_name", sa.String(length=100), nullable=False),
        sa.Column("type_estimated", sa.Boolean(), nullable=False),
        sa.Column("definer_name", sa.String(length=100), nullable=False),
        sa.Column("issuer_code", sa.String(length=18), nullable=False),
        sa.Column("issuer_name", sa.String(length=100), nullable=False),
        sa.Column("issuer_level", sa.String(length=16), nullable=False),
        sa.Column("issuer_estimated", sa.Boolean(), nullable=False),
        sa.Column("serial", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("license_no", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("division_code", sa.String(length=6), nullable=False),
        sa.Column("holder_name", sa.String(length=200), nullable=False),
        sa.Column("holder_code", sa.String(length=18), nullable=False),
        sa.Column("holder_code_type", sa.String(length=3), nullable=False),
        sa.Column("service_item_name", sa.String(length=100), nullable=False),
        sa.Column("service_item_code", sa.String(length=64), nullable=True),
        sa.Column("status_code", sa.String(length=2), nullable=False),
        sa.Column("status_reason", sa.String(length=500), nullable=True),
        sa.Column("sealed_at", TIMESTAMP, nullable=True),
        sa.Column("sealed_by", sa.String(length=100), nullable=True),
        sa.Column("extension", sa.JSON(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("lock_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["license_id"], ["licenses.id"],
                                name=op.f("fk_elicenses_license_id_licenses")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_elicenses")),
        sa.UniqueConstraint("identifier", name=op.f("uq_elicenses_identifier")),
        sa.UniqueConstraint("license_id", "item_code", name=op.f("uq_elicenses_license_id")),
    )
    op.create_table(
        "elicense_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("elicense_id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=128), nullable=False),
        sa.Column("previous_identifier", sa.String(length=128), nullable=True),
        sa.Column("operation_code", sa.String(length=2), nullable=False),
        sa.Column("status_code", sa.String(length=2), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("application_event_id", sa.Integer(), nullable=True),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["application_event_id"], ["application_events.id"],
                                name=op.f("fk_elicense_events_application_event_id_"
                                          "application_events")),
        sa.ForeignKeyConstraint(["elicense_id"], ["elicenses.id"],
                                name=op.f("fk_elicense_events_elicense_id_elicenses")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_elicense_events")),
    )
    with op.batch_alter_table("elicenses") as batch:
        batch.create_index("ix_elicenses_status_code", ["status_code", "valid_until"])
    with op.batch_alter_table("elicense_events") as batch:
        batch.create_index(batch.f("ix_elicense_events_elicense_id"), ["elicense_id"])
        batch.create_index(batch.f("ix_elicense_events_identifier"), ["identifier"])
    with op.batch_alter_table("inspections") as batch:
        batch.add_column(sa.Column("concluded_on", sa.Date(), nullable=True))
    _backfill_inspections()
    _backfill_elicenses()


def downgrade() -> None:
    with op.batch_alter_table("inspections") as batch:
        batch.drop_column("concluded_on")
    op.drop_table("elicense_events")
    op.drop_table("elicenses")


# --- the data, in SQL of this revision's tables (the ORM models may differ later) ----------

inspections = sa.table("inspections", sa.column("id"), sa.column("application_id"),
                       sa.column("outcome"), sa.column("concluded_on"))
events = sa.table("application_events", sa.column("application_id"), sa.column("action"),
                  sa.column("at"))
licenses = sa.table(
    "licenses", *map(sa.column, (
        "id", "application_id", "license_no", "version", "status", "status_reason",
        "industry_category", "industry_name", "holder_name", "credit_code", "premises_address",
        "county_code", "issued_on", "valid_until")))
items = sa.table("license_items", *map(sa.column, (
    "id", "license_id", "item_code", "item_name", "sub_license_no", "approving_unit",
    "supervising_unit", "required", "valid_until", "status", "status_reason")))
applications = sa.table("applications", sa.column("id"), sa.column("catalog_version_id"))
versions = sa.table("catalog_versions", sa.column("id"), sa.column("number"),
                    sa.column("document", sa.JSON()))


def _day(value) -> date | None:
    """A Date column as SQLite (text) or MariaDB (date) hands it back."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def _backfill_inspections() -> None:
    from backend.clock import CHINA

    conn = op.get_bind()
    concluded = sa.select(events.c.application_id, sa.func.max(events.c.at)).where(
        events.c.action.in_(("inspection.passed", "inspection.failed"))
    ).group_by(events.c.application_id)
    days = {}
    for application_id, at in conn.execute(concluded):
        at = datetime.fromisoformat(at) if isinstance(at, str) else at
        days[application_id] = at.replace(tzinfo=UTC).astimezone(CHINA).date()
    rows = conn.execute(sa.select(inspections.c.id, inspections.c.application_id).where(
        inspections.c.outcome.is_not(None))).all()
    for inspection_id, application_id in rows:
        if application_id in days:
            conn.execute(inspections.update().where(inspections.c.id == inspection_id)
                         .values(concluded_on=days[application_id]))


def _backfill_elicenses() -> None:
    # the services' own pure rules (status propagation, identifiers, metadata): the same
    # e-licenses issuing would have made, read from plain rows
    from backend.catalog_format import CatalogDocument
    from backend.clock import today
    from backend.services import elicenses
    from backend.services import licenses as license_rules

    conn = op.get_bind()
    documents = {}

    def document(version_id: int) -> CatalogDocument:
        if version_id not in documents:
            raw = conn.scalar(sa.select(versions.c.document).where(versions.c.id == version_id))
            documents[version_id] = CatalogDocument.model_validate(raw)
        return documents[version_id]

    in_force = conn.scalar(sa.select(versions.c.id).order_by(versions.c.number.desc()).limit(1))
    now = datetime.now(UTC).replace(tzinfo=None)
    day = today()
    last = 0
    while True:
        batch = conn.execute(sa.select(licenses, applications.c.catalog_version_id)
                             .join(applications, applications.c.id == licenses.c.application_id)
                             .where(licenses.c.id > last).order_by(licenses.c.id)
                             .limit(BATCH)).mappings().all()
        if not batch:
            break
        last = batch[-1]["id"]
        by_license: dict[int, list] = {row["id"]: [] for row in batch}
        for item in conn.execute(sa.select(items).where(items.c.license_id.in_(by_license))
                                 .order_by(items.c.id)).mappings():
            by_license[item["license_id"]].append(item)
        rows = []
        for row in batch:
            license_ = SimpleNamespace(**row, items=[], elicenses=[])
            license_.issued_on, license_.valid_until = (_day(row["issued_on"]),
                                                         _day(row["valid_until"]))
            for item in by_license[row["id"]]:
                item = SimpleNamespace(**{**item, "valid_until": _day(item["valid_until"]),
                                          "required": bool(item["required"])})
                if (license_.valid_until is not None and item.valid_until is not None
                        and item.status != "revoked" and item.valid_until < license_.valid_until):
                    item.valid_until = license_.valid_until
                    conn.execute(items.update().where(items.c.id == item.id)
                                 .values(valid_until=item.valid_until))
                license_.items.append(item)
            pinned = document(row["catalog_version_id"])
            chosen = (document(in_force), pinned) if in_force else (pinned,)
            for values in elicenses.first_versions(license_, chosen,
                                                   license_rules.states(license_, day),
                                                   today=day):
                rows.append(values | {"license_id": row["id"], "created_at": now,
                                      "updated_at": now, "lock_version": 1})
        op.bulk_insert(sa.table("elicenses", *(
            sa.column(name, sa.JSON()) if name == "extension" else sa.column(name)
            for name in rows[0])), rows)
    conn.execute(sa.text(
        "INSERT INTO elicense_events (elicense_id, identifier, operation_code, status_code, "
        "reason, occurred_at) SELECT id, identifier, '01', status_code, :reason, :now "
        "FROM elicenses"), {"reason": "补记：电子证照启用前核发", "now": now})
