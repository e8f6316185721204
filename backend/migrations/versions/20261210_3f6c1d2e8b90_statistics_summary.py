"""改革成效统计's summary tables: the additive figures of each CST day per group
and month (``statistics_days``), kept by the worker from the timeline, and how far it has read the
timeline (``statistics_watermarks``). Empty at upgrade: the worker's first round fills every
day, and until then the figures are scanned from the cases as before. And the county of
county-level staff (``staff_accounts.county_code``), whose dashboard is their county's.

Revision ID: 3f6c1d2e8b90
Revises: 3f1c9e2a7b64
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# UTC, microseconds on MariaDB too (backend.models.base.UTCDateTime)
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision = "3f6c1d2e8b90"
down_revision = "3f1c9e2a7b64"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "statistics_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("span", sa.String(length=8), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("grouping", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("tally", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statistics_days")),
        sa.UniqueConstraint("span", "day", "grouping", "key",
                            name=op.f("uq_statistics_days_span")),
    )
    with op.batch_alter_table("statistics_days") as batch:
        batch.create_index("ix_statistics_days_grouping_span_day", ["grouping", "span", "day"])
    op.create_table(
        "statistics_watermarks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statistics_watermarks")),
    )
    with op.batch_alter_table("staff_accounts") as batch:
        batch.add_column(sa.Column("county_code", sa.String(length=6), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_accounts") as batch:
        batch.drop_column("county_code")
    op.drop_table("statistics_watermarks")
    with op.batch_alter_table("statistics_days") as batch:
        batch.drop_index("ix_statistics_days_grouping_span_day")
    op.drop_table("statistics_days")
