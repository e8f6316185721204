"""帮办代办: walk-in applicants (no openid) and the record of who applied for them

Revision ID: 7a3c9e21d4b8
Revises: 7a3c9e4b1d20
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# UTC, microseconds on MariaDB too (backend.models.base.UTCDateTime)
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision = "7a3c9e21d4b8"
down_revision = "7a3c9e4b1d20"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("applicants") as batch:
        batch.alter_column("openid", existing_type=sa.String(length=64), nullable=True)
    op.create_table(
        "walk_ins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("applicant_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("person_name", sa.String(length=50), nullable=False),
        sa.Column("id_document", sa.String(length=32), nullable=False),
        sa.Column("id_number_masked", sa.String(length=32), nullable=False),
        sa.Column("identity_checked_at", TIMESTAMP, nullable=False),
        sa.Column("claim_code_hash", sa.String(length=64), nullable=True),
        sa.Column("claim_code_expires_at", TIMESTAMP, nullable=True),
        sa.Column("claimed_at", TIMESTAMP, nullable=True),
        sa.Column("claimed_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["applicant_id"], ["applicants.id"],
                                name=op.f("fk_walk_ins_applicant_id_applicants")),
        sa.ForeignKeyConstraint(["claimed_by"], ["applicants.id"],
                                name=op.f("fk_walk_ins_claimed_by_applicants")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_accounts.id"],
                                name=op.f("fk_walk_ins_staff_id_staff_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_walk_ins")),
        sa.UniqueConstraint("applicant_id", name=op.f("uq_walk_ins_applicant_id")),
        sa.UniqueConstraint("claim_code_hash", name=op.f("uq_walk_ins_claim_code_hash")),
    )
    with op.batch_alter_table("walk_ins") as batch:
        batch.create_index(batch.f("ix_walk_ins_staff_id"), ["staff_id"], unique=False)


def downgrade() -> None:
    op.drop_table("walk_ins")
    op.execute("DELETE FROM applicants WHERE openid IS NULL")
    with op.batch_alter_table("applicants") as batch:
        batch.alter_column("openid", existing_type=sa.String(length=64), nullable=False)
