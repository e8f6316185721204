"""Open review items by deadline: the index the overdue and due-soon lists read

Revision ID: 5e1f0c7d2a93
Revises: 4176f4d8e435
Create Date: 2026-11-29
"""

from alembic import op

revision = "5e1f0c7d2a93"
down_revision = "4176f4d8e435"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("application_items") as batch:
        batch.create_index("ix_application_items_status_due_on", ["status", "due_on"])


def downgrade() -> None:
    with op.batch_alter_table("application_items") as batch:
        batch.drop_index("ix_application_items_status_due_on")
