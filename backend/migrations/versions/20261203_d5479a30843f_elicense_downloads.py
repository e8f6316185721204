"""电子证照 downloads: every download of an e-license by its holder, with the stated purpose
of use (用证事由), the client address and the expiry of its link

Revision ID: d5479a30843f
Revises: 9c5ade6f480f
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# UTC, microseconds on MariaDB too (backend.models.base.UTCDateTime)
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision = "d5479a30843f"
down_revision = "9c5ade6f480f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "elicense_downloads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("license_id", sa.Integer(), nullable=False),
        sa.Column("elicense_id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=128), nullable=False),
        sa.Column("applicant_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("purpose_text", sa.String(length=100), nullable=True),
        sa.Column("client_address", sa.String(length=45), nullable=True),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["applicant_id"], ["applicants.id"],
                                name=op.f("fk_elicense_downloads_applicant_id_applicants")),
        sa.ForeignKeyConstraint(["elicense_id"], ["elicenses.id"],
                                name=op.f("fk_elicense_downloads_elicense_id_elicenses")),
        sa.ForeignKeyConstraint(["license_id"], ["licenses.id"],
                                name=op.f("fk_elicense_downloads_license_id_licenses")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_elicense_downloads")),
    )
    with op.batch_alter_table("elicense_downloads") as batch:
        batch.create_index(batch.f("ix_elicense_downloads_license_id"), ["license_id"])


def downgrade() -> None:
    op.drop_table("elicense_downloads")
