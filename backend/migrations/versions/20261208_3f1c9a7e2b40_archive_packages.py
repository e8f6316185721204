"""档案: archive packages of closed cases (one row per immutable version, a tombstone once
deleted after retention) and the archive's audit log (built, verified, opened, exported,
held, deleted)

Revision ID: 3f1c9a7e2b40
Revises: d5479a30843f
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# UTC, microseconds on MariaDB too (backend.models.base.UTCDateTime)
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision = "3f1c9a7e2b40"
down_revision = "d5479a30843f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_packages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("bag_name", sa.String(length=100), nullable=False),
        sa.Column("record_class", sa.String(length=16), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("byte_size", sa.Integer(), nullable=False),
        sa.Column("tagmanifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("signed_by", sa.String(length=100), nullable=False),
        sa.Column("closed_at", TIMESTAMP, nullable=False),
        sa.Column("retain_until", sa.Date(), nullable=True),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("legal_hold_reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("deleted_at", TIMESTAMP, nullable=True),
        sa.Column("deleted_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"],
                                name=op.f("fk_archive_packages_application_id_applications")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_packages")),
        sa.UniqueConstraint("application_id", "version",
                            name=op.f("uq_archive_packages_application_id")),
    )
    with op.batch_alter_table("archive_packages") as batch:
        batch.create_index(batch.f("ix_archive_packages_application_id"), ["application_id"])
        batch.create_index(batch.f("ix_archive_packages_sha256"), ["sha256"])
        batch.create_index("ix_archive_packages_retain_until", ["retain_until"])
    op.create_table(
        "archive_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=True),
        sa.Column("application_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["package_id"], ["archive_packages.id"],
                                name=op.f("fk_archive_events_package_id_archive_packages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_events")),
    )
    with op.batch_alter_table("archive_events") as batch:
        batch.create_index(batch.f("ix_archive_events_package_id"), ["package_id"])
        batch.create_index(batch.f("ix_archive_events_application_id"), ["application_id"])


def downgrade() -> None:
    op.drop_table("archive_events")
    op.drop_table("archive_packages")
