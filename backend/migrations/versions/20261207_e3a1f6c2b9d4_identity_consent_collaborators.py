"""Who applies and how they vouch: verified phone, privacy consent, collaborators

Revision ID: e3a1f6c2b9d4
Revises: d5479a30843f
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# UTC, microseconds on MariaDB too (backend.models.base.UTCDateTime)
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision = "e3a1f6c2b9d4"
down_revision = "d5479a30843f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("applicants") as batch:
        batch.add_column(sa.Column("phone_sealed", sa.LargeBinary(length=256), nullable=True))
        batch.add_column(sa.Column("phone_verified_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("erased_at", TIMESTAMP, nullable=True))
    op.create_table(
        "privacy_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("applicant_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("agreed_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["applicant_id"], ["applicants.id"],
                                name=op.f("fk_privacy_consents_applicant_id_applicants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_consents")),
        sa.UniqueConstraint("applicant_id", "version",
                            name=op.f("uq_privacy_consents_applicant_id")),
    )
    with op.batch_alter_table("privacy_consents") as batch:
        batch.create_index(batch.f("ix_privacy_consents_applicant_id"), ["applicant_id"])
    op.create_table(
        "application_collaborators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("applicant_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("added_at", TIMESTAMP, nullable=False),
        sa.Column("removed_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"],
            name=op.f("fk_application_collaborators_application_id_applications")),
        sa.ForeignKeyConstraint(
            ["applicant_id"], ["applicants.id"],
            name=op.f("fk_application_collaborators_applicant_id_applicants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_collaborators")),
        sa.UniqueConstraint("application_id", "applicant_id",
                            name=op.f("uq_application_collaborators_application_id")),
    )
    with op.batch_alter_table("application_collaborators") as batch:
        batch.create_index(batch.f("ix_application_collaborators_application_id"),
                           ["application_id"])
        batch.create_index(batch.f("ix_application_collaborators_applicant_id"),
                           ["applicant_id"])
    op.create_table(
        "collaboration_invites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("used_at", TIMESTAMP, nullable=True),
        sa.Column("used_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"],
            name=op.f("fk_collaboration_invites_application_id_applications")),
        sa.ForeignKeyConstraint(["used_by"], ["applicants.id"],
                                name=op.f("fk_collaboration_invites_used_by_applicants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collaboration_invites")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_collaboration_invites_code_hash")),
    )
    with op.batch_alter_table("collaboration_invites") as batch:
        batch.create_index(batch.f("ix_collaboration_invites_application_id"),
                           ["application_id"])


def downgrade() -> None:
    op.drop_table("collaboration_invites")
    op.drop_table("application_collaborators")
    op.drop_table("privacy_consents")
    with op.batch_alter_table("applicants") as batch:
        batch.drop_column("erased_at")
        batch.drop_column("phone_verified_at")
        batch.drop_column("phone_sealed")
