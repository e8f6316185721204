"""电子证照 downloads and the e-license library: every download of an e-license by its
holder, with the stated purpose of use (用证事由), the client address and the expiry of its
link; and the pushes the e-license library is owed for the e-licenses that exist already

Every e-license event recorded so far (the 新发 the previous revision wrote for existing
licenses, and anything since) gets its push to the e-license library in the outbox, as
``backend.services.elicense_library.queue`` would have queued it, in the events' order and
before any change made after this upgrade: nothing the library should hold is missing, and
no status change reaches it before its e-license.

Revision ID: d5479a30843f
Revises: 8d41c2e7f9a6
Create Date: 2026-12-03
"""

from collections import Counter
from datetime import UTC, datetime
from types import SimpleNamespace

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# UTC, microseconds on MariaDB too (backend.models.base.UTCDateTime)
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision = "d5479a30843f"
down_revision = "8d41c2e7f9a6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "elicense_downloads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("license_id", sa.Integer(), nullable=False),
        sa.Column("elicense_id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=128), nullable=False),
        sa.Column("applicant_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("purpose_text", sa.String(length=100), nullable=True),
        sa.Column("client_address", sa.String(length=45), nullable=True),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["applicant_id"], ["applicants.id"],
                                name=op.f("fk_elicense_downloads_applicant_id_applicants")),
        sa.ForeignKeyConstraint(["elicense_id"], ["elicenses.id"],
                                name=op.f("fk_elicense_downloads_elicense_id_elicenses")),
        sa.ForeignKeyConstraint(["license_id"], ["licenses.id"],
                                name=op.f("fk_elicense_downloads_license_id_licenses")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_elicense_downloads")),
    )
    with op.batch_alter_table("elicense_downloads") as batch:
        batch.create_index(batch.f("ix_elicense_downloads_license_id"), ["license_id"])
    _queue_existing()


def downgrade() -> None:
    op.drop_table("elicense_downloads")


# --- the data, in SQL of this revision's tables (the ORM models may differ later) ----------

_TEXT = ("identifier", "previous_identifier", "type_code", "type_name", "definer_name",
         "issuer_code", "issuer_name", "issuer_level", "serial", "license_no", "name",
         "division_code", "holder_name", "holder_code", "holder_code_type", "service_item_name",
         "service_item_code", "status_code", "status_reason", "sealed_by", "item_code")
elicenses = sa.table(
    "elicenses", sa.column("id", sa.Integer()), sa.column("license_id", sa.Integer()),
    sa.column("version", sa.Integer()), sa.column("type_estimated", sa.Boolean()),
    sa.column("issuer_estimated", sa.Boolean()), sa.column("issued_on", sa.Date()),
    sa.column("valid_from", sa.Date()), sa.column("valid_until", sa.Date()),
    sa.column("sealed_at", sa.DateTime()), sa.column("extension", sa.JSON()),
    *(sa.column(name, sa.String()) for name in _TEXT))
elicense_events = sa.table(
    "elicense_events", sa.column("id", sa.Integer()), sa.column("elicense_id", sa.Integer()),
    sa.column("identifier", sa.String()), sa.column("previous_identifier", sa.String()),
    sa.column("operation_code", sa.String()),
    sa.column("status_code", sa.String()), sa.column("reason", sa.String()),
    sa.column("occurred_at", sa.DateTime()))
licenses = sa.table("licenses", sa.column("id", sa.Integer()), sa.column("version", sa.Integer()))
outbox = sa.table(
    "outbox_messages", *map(sa.column, ("event", "dedupe_key", "aggregate", "status",
                                        "attempts", "channel", "target")),
    sa.column("payload", sa.JSON()), sa.column("due_at", TIMESTAMP),
    sa.column("created_at", TIMESTAMP))


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None else None


def _queue_existing() -> None:
    # the service's own pure builder: the push queue() would have written, from plain rows
    from backend.services import elicense_library

    conn = op.get_bind()
    versions = dict(conn.execute(sa.select(licenses.c.id, licenses.c.version)).all())
    held = {}
    for row in conn.execute(sa.select(elicenses)).mappings():
        held[row["id"]] = SimpleNamespace(**(dict(row) | {"sealed_at": _utc(row["sealed_at"])}))
    taken = set(conn.scalars(sa.select(outbox.c.dedupe_key).where(
        outbox.c.dedupe_key.like("elicense:%"))))
    now = datetime.now(UTC).replace(tzinfo=None)
    seen: Counter[str] = Counter()
    for row in conn.execute(sa.select(elicense_events).order_by(elicense_events.c.id)
                            ).mappings().all():
        seen[row["identifier"]] += 1
        elicense = held[row["elicense_id"]]
        event = SimpleNamespace(**(dict(row) | {"occurred_at": _utc(row["occurred_at"])}))
        sequence = seen[row["identifier"]]
        values = elicense_library.push(
            elicense, event, sequence=sequence,
            face_version=versions[elicense.license_id] if sequence == 1 else None)
        if values["dedupe_key"] not in taken:
            conn.execute(outbox.insert().values(**values, status="pending", attempts=0,
                                                due_at=now, created_at=now))
