"""Licenses found by holder name or unified social credit code: the console's search

Revision ID: 7a3c9e4b1d20
Revises: 5e1f0c7d2a93
Create Date: 2026-11-30
"""

from alembic import op

revision = "7a3c9e4b1d20"
down_revision = "5e1f0c7d2a93"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("licenses") as batch:
        batch.create_index("ix_licenses_holder_name", ["holder_name"])
        batch.create_index("ix_licenses_credit_code", ["credit_code"])


def downgrade() -> None:
    with op.batch_alter_table("licenses") as batch:
        batch.drop_index("ix_licenses_credit_code")
        batch.drop_index("ix_licenses_holder_name")
