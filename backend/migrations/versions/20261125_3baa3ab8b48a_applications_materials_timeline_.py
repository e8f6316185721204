"""applications, materials, timeline, idempotency

Revision ID: 3baa3ab8b48a
Revises: b5c8ffea2db1
Create Date: 2026-11-25 10:25:40.937435

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# UTC, microseconds on MariaDB too (backend.models.base.UTCDateTime)
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


# revision identifiers, used by Alembic.
revision = '3baa3ab8b48a'
down_revision = 'b5c8ffea2db1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('idempotency_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=100), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response', sa.JSON(), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_records')),
    sa.UniqueConstraint('scope', 'key', name=op.f('uq_idempotency_records_scope'))
    )
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_idempotency_records_created_at'), ['created_at'], unique=False)

    op.create_table('applications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('applicant_id', sa.Integer(), nullable=False),
    sa.Column('catalog_version_id', sa.Integer(), nullable=False),
    sa.Column('industry_code', sa.String(length=64), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('form_values', sa.JSON(), nullable=False),
    sa.Column('sensitive_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('deferred_materials', sa.JSON(), nullable=False),
    sa.Column('submission_number', sa.String(length=32), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.Column('submitted_at', TIMESTAMP, nullable=True),
    sa.Column('lock_version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['applicant_id'], ['applicants.id'], name=op.f('fk_applications_applicant_id_applicants')),
    sa.ForeignKeyConstraint(['catalog_version_id'], ['catalog_versions.id'], name=op.f('fk_applications_catalog_version_id_catalog_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_applications')),
    sa.UniqueConstraint('submission_number', name=op.f('uq_applications_submission_number'))
    )
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.create_index('ix_applications_applicant_status', ['applicant_id', 'status'], unique=False)

    op.create_table('application_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('at', TIMESTAMP, nullable=False),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_label', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('message', sa.String(length=1000), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_application_events_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_application_events'))
    )
    with op.batch_alter_table('application_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_application_events_application_id'), ['application_id'], unique=False)

    op.create_table('application_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('item_code', sa.String(length=64), nullable=False),
    sa.Column('approving_unit', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_application_items_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_application_items')),
    sa.UniqueConstraint('application_id', 'item_code', name=op.f('uq_application_items_application_id'))
    )
    with op.batch_alter_table('application_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_application_items_approving_unit'), ['approving_unit'], unique=False)

    op.create_table('material_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('material_code', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('thumbnail_sha256', sa.String(length=64), nullable=True),
    sa.Column('media_type', sa.String(length=32), nullable=False),
    sa.Column('byte_size', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('page_count', sa.Integer(), nullable=True),
    sa.Column('uploaded_at', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_material_files_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_material_files')),
    sa.UniqueConstraint('application_id', 'material_code', 'sha256', name=op.f('uq_material_files_application_id'))
    )
    with op.batch_alter_table('material_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_material_files_sha256'), ['sha256'], unique=False)



def downgrade():
    with op.batch_alter_table('material_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_material_files_sha256'))

    op.drop_table('material_files')
    with op.batch_alter_table('application_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_application_items_approving_unit'))

    op.drop_table('application_items')
    with op.batch_alter_table('application_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_application_events_application_id'))

    op.drop_table('application_events')
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_index('ix_applications_applicant_status')

    op.drop_table('applications')
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_idempotency_records_created_at'))

    op.drop_table('idempotency_records')
