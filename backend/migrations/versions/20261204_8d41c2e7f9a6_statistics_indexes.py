"""Statistics of a period: the timeline's events by action and time, items by decision time

Revision ID: 8d41c2e7f9a6
Revises: 9c4e2a7b5d13
Create Date: 2026-12-05
"""

from alembic import op

revision = "8d41c2e7f9a6"
down_revision = "9c4e2a7b5d13"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("application_events") as batch:
        batch.create_index("ix_application_events_action_at", ["action", "at"])
    with op.batch_alter_table("application_items") as batch:
        batch.create_index("ix_application_items_decided_at", ["decided_at"])


def downgrade() -> None:
    with op.batch_alter_table("application_items") as batch:
        batch.drop_index("ix_application_items_decided_at")
    with op.batch_alter_table("application_events") as batch:
        batch.drop_index("ix_application_events_action_at")
