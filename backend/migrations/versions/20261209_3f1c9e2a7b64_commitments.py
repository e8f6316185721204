"""告知承诺制: the commitments applicants sign per permit item (text, version, time, signer,
and a false commitment found by the post-check), and post-checks (事后核查) as inspections of
kind ``post_check`` with a due day — so an application may now have several inspections: the
one joint visit (kind ``joint``, every existing row) and a post-check per item approved by
commitment.

Revision ID: 3f1c9e2a7b64
Revises: 3f1c9a7e2b40
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# UTC, microseconds on MariaDB too (backend.models.base.UTCDateTime)
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision = "3f1c9e2a7b64"
down_revision = "3f1c9a7e2b40"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "item_commitments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("catalog_version", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=2000), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=False),
        sa.Column("signed_at", TIMESTAMP, nullable=False),
        sa.Column("signed_by", sa.Integer(), nullable=False),
        sa.Column("found_false_at", TIMESTAMP, nullable=True),
        sa.Column("found_false_reason", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"],
                                name=op.f("fk_item_commitments_application_id_applications")),
        sa.ForeignKeyConstraint(["signed_by"], ["applicants.id"],
                                name=op.f("fk_item_commitments_signed_by_applicants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_commitments")),
        sa.UniqueConstraint("application_id", "item_code",
                            name=op.f("uq_item_commitments_application_id")),
    )
    # the index the foreign key needs comes first: MariaDB keeps the unique one until then
    with op.batch_alter_table("inspections") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), nullable=False,
                                   server_default="joint"))
        batch.add_column(sa.Column("due_on", sa.Date(), nullable=True))
        batch.create_index(batch.f("ix_inspections_application_id"), ["application_id"])
    with op.batch_alter_table("inspections") as batch:
        batch.drop_constraint(batch.f("uq_inspections_application_id"), type_="unique")


def downgrade() -> None:
    op.execute("DELETE FROM inspection_results WHERE inspection_id IN "
               "(SELECT id FROM inspections WHERE kind = 'post_check')")
    op.execute("DELETE FROM inspection_members WHERE inspection_id IN "
               "(SELECT id FROM inspections WHERE kind = 'post_check')")
    op.execute("DELETE FROM inspections WHERE kind = 'post_check'")
    with op.batch_alter_table("inspections") as batch:
        batch.create_unique_constraint(batch.f("uq_inspections_application_id"),
                                       ["application_id"])
    with op.batch_alter_table("inspections") as batch:
        batch.drop_index(batch.f("ix_inspections_application_id"))
        batch.drop_column("due_on")
        batch.drop_column("kind")
    op.drop_table("item_commitments")
