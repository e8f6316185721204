"""档案: archive packages of closed cases (one row per immutable version, a tombstone once
deleted after retention) and the archive's audit log (built, verified, opened, exported,
held, deleted)

Every case closed before this revision gets its archive job in the outbox (channel
``archive``), as the closing transaction now queues it, so the worker seals those too.

Revision ID: 3f1c9a7e2b40
Revises: e3a1f6c2b9d4
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# UTC, microseconds on MariaDB too (backend.models.base.UTCDateTime)
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision = "3f1c9a7e2b40"
down_revision = "e3a1f6c2b9d4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_packages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("bag_name", sa.String(length=100), nullable=False),
        sa.Column("record_class", sa.String(length=16), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("byte_size", sa.Integer(), nullable=False),
        sa.Column("tagmanifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("signed_by", sa.String(length=100), nullable=False),
        sa.Column("closed_at", TIMESTAMP, nullable=False),
        sa.Column("retain_until", sa.Date(), nullable=True),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("legal_hold_reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("deleted_at", TIMESTAMP, nullable=True),
        sa.Column("deleted_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"],
                                name=op.f("fk_archive_packages_application_id_applications")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_packages")),
        sa.UniqueConstraint("application_id", "version",
                            name=op.f("uq_archive_packages_application_id")),
    )
    with op.batch_alter_table("archive_packages") as batch:
        batch.create_index(batch.f("ix_archive_packages_application_id"), ["application_id"])
        batch.create_index(batch.f("ix_archive_packages_sha256"), ["sha256"])
        batch.create_index("ix_archive_packages_retain_until", ["retain_until"])
    op.create_table(
        "archive_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=True),
        sa.Column("application_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["package_id"], ["archive_packages.id"],
                                name=op.f("fk_archive_events_package_id_archive_packages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_events")),
    )
    with op.batch_alter_table("archive_events") as batch:
        batch.create_index(batch.f("ix_archive_events_package_id"), ["package_id"])
        batch.create_index(batch.f("ix_archive_events_application_id"), ["application_id"])
    _queue_closed_cases()


def downgrade() -> None:
    op.execute(outbox.delete().where(outbox.c.channel == "archive"))
    op.drop_table("archive_events")
    op.drop_table("archive_packages")


applications = sa.table("applications", sa.column("id", sa.Integer()),
                        sa.column("status", sa.String()), sa.column("accepted_at", TIMESTAMP))
events = sa.table("application_events", sa.column("id", sa.Integer()),
                  sa.column("application_id", sa.Integer()))
outbox = sa.table(
    "outbox_messages", *map(sa.column, ("event", "dedupe_key", "aggregate", "status",
                                        "attempts", "channel", "target")),
    sa.column("payload", sa.JSON()), sa.column("due_at", TIMESTAMP),
    sa.column("created_at", TIMESTAMP))
# backend.services.ratings.CLOSED_STATES; withdrawn counts once accepted
CLOSED = ("licensed", "refused", "not_accepted")


def _queue_closed_cases() -> None:
    from datetime import UTC, datetime

    conn = op.get_bind()
    closed = sa.or_(applications.c.status.in_(CLOSED),
                    sa.and_(applications.c.status == "withdrawn",
                            applications.c.accepted_at.is_not(None)))
    rows = conn.execute(sa.select(applications.c.id, sa.func.max(events.c.id))
                        .join(events, events.c.application_id == applications.c.id)
                        .where(closed).group_by(applications.c.id)).all()
    taken = set(conn.scalars(sa.select(outbox.c.dedupe_key).where(
        outbox.c.dedupe_key.like("archive:%"))))
    now = datetime.now(UTC).replace(tzinfo=None)
    for application_id, event_id in rows:
        if f"archive:{application_id}:{event_id}" in taken:
            continue
        conn.execute(outbox.insert().values(
            event="archive.build", dedupe_key=f"archive:{application_id}:{event_id}",
            aggregate=f"application:{application_id}", status="pending", attempts=0,
            channel="archive", target="archive",
            payload={"application_id": application_id, "event_id": event_id},
            due_at=now, created_at=now))
