"""Issued notices kept as issued: each printed notice's PDF stored once (media store, by
SHA-256) when the action issues it, and served as stored ever after

Applications issued before this revision have no row: their notice is rendered once, from
the data as it then stands, at its first download and stored from then on.

Revision ID: 3f6b2d9e8c14
Revises: 7a3c9e21d4b8
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# UTC, microseconds on MariaDB too (backend.models.base.UTCDateTime)
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision = "3f6b2d9e8c14"
down_revision = "7a3c9e21d4b8"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issued_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("byte_size", sa.Integer(), nullable=False),
        sa.Column("issued_at", TIMESTAMP, nullable=False),
        sa.Column("issued_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"],
                                name=op.f("fk_issued_documents_application_id_applications")),
        sa.ForeignKeyConstraint(["issued_by"], ["staff_accounts.id"],
                                name=op.f("fk_issued_documents_issued_by_staff_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issued_documents")),
        sa.UniqueConstraint("application_id", "kind", "round",
                            name=op.f("uq_issued_documents_application_id")),
    )
    with op.batch_alter_table("issued_documents") as batch:
        batch.create_index(batch.f("ix_issued_documents_sha256"), ["sha256"], unique=False)


def downgrade() -> None:
    op.drop_table("issued_documents")
