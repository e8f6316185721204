"""Each license's public record (``license_public_records``): what a public scan shows, as one
JSON array in one row, so a cold scan reads one row by one key instead of a five-table join
(``backend.services.public_records``). Each license there is gets an empty one here, in
plain SQL (the service's join may name columns of later revisions): scans read those
through the join, right but slower, until `flask licenses public-records` writes them.

Revision ID: 7d2e4a9c1b35
Revises: 3f6c1d2e8b90
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "7d2e4a9c1b35"
down_revision = "3f6c1d2e8b90"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "license_public_records",
        sa.Column("license_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("license_no", sa.String(length=32), nullable=False),
        sa.Column("record", sa.Text(length=2**24 - 1), nullable=True),  # MEDIUMTEXT
        sa.PrimaryKeyConstraint("license_id", name=op.f("pk_license_public_records")),
        sa.UniqueConstraint("license_no", name=op.f("uq_license_public_records_license_no")),
    )
    op.execute("INSERT INTO license_public_records (license_id, license_no, record)"
               " SELECT id, license_no, NULL FROM licenses")


def downgrade() -> None:
    op.drop_table("license_public_records")
