"""政务服务"好差评": the applicant's rating of each closed case (once per application and
closing stage) and the rectification task a bad rating opens for the unit it concerns

Revision ID: 9c4e2a7b5d13
Revises: 9c5ade6f480f
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# UTC, microseconds on MariaDB too (backend.models.base.UTCDateTime)
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision = "9c4e2a7b5d13"
down_revision = "9c5ade6f480f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("applicant_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("closed_at", TIMESTAMP, nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("rated_at", TIMESTAMP, nullable=False),
        sa.Column("rated_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"],
                                name=op.f("fk_service_ratings_application_id_applications")),
        sa.ForeignKeyConstraint(["applicant_id"], ["applicants.id"],
                                name=op.f("fk_service_ratings_applicant_id_applicants")),
        sa.ForeignKeyConstraint(["recorded_by"], ["staff_accounts.id"],
                                name=op.f("fk_service_ratings_recorded_by_staff_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_ratings")),
        sa.UniqueConstraint("application_id", "stage",
                            name=op.f("uq_service_ratings_application_id")),
    )
    with op.batch_alter_table("service_ratings") as batch:
        batch.create_index(batch.f("ix_service_ratings_applicant_id"), ["applicant_id"])
        batch.create_index("ix_service_ratings_rated_on_unit",
                           ["rated_on", "unit_code", "score"])
    op.create_table(
        "rectification_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rating_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", TIMESTAMP, nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("verified_at", TIMESTAMP, nullable=True),
        sa.Column("verified_by", sa.Integer(), nullable=True),
        sa.Column("founded", sa.Boolean(), nullable=True),
        sa.Column("verification_notes", sa.String(length=1000), nullable=True),
        sa.Column("followed_up_at", TIMESTAMP, nullable=True),
        sa.Column("followed_up_by", sa.Integer(), nullable=True),
        sa.Column("contacted_at", TIMESTAMP, nullable=True),
        sa.Column("contact_method", sa.String(length=16), nullable=True),
        sa.Column("applicant_said", sa.String(length=1000), nullable=True),
        sa.Column("applicant_satisfied", sa.Boolean(), nullable=True),
        sa.Column("closed_at", TIMESTAMP, nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("closed_by", sa.Integer(), nullable=True),
        sa.Column("closing_note", sa.String(length=1000), nullable=True),
        sa.Column("lock_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["rating_id"], ["service_ratings.id"],
                                name=op.f("fk_rectification_tasks_rating_id_service_ratings")),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"],
                                name=op.f("fk_rectification_tasks_application_id_applications")),
        sa.ForeignKeyConstraint(["verified_by"], ["staff_accounts.id"],
                                name=op.f("fk_rectification_tasks_verified_by_staff_accounts")),
        sa.ForeignKeyConstraint(["followed_up_by"], ["staff_accounts.id"],
                                name=op.f("fk_rectification_tasks_followed_up_by_staff_accounts")),
        sa.ForeignKeyConstraint(["closed_by"], ["staff_accounts.id"],
                                name=op.f("fk_rectification_tasks_closed_by_staff_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rectification_tasks")),
        sa.UniqueConstraint("rating_id", name=op.f("uq_rectification_tasks_rating_id")),
    )
    with op.batch_alter_table("rectification_tasks") as batch:
        batch.create_index(batch.f("ix_rectification_tasks_application_id"), ["application_id"])
        batch.create_index(batch.f("ix_rectification_tasks_opened_on"), ["opened_on"])
        batch.create_index(batch.f("ix_rectification_tasks_closed_on"), ["closed_on"])
        batch.create_index("ix_rectification_tasks_unit_status",
                           ["unit_code", "status", "due_on"])
        batch.create_index("ix_rectification_tasks_status_due_on", ["status", "due_on"])


def downgrade() -> None:
    op.drop_table("rectification_tasks")
    op.drop_table("service_ratings")
