"""licenses

Revision ID: 1e9d7b1ea3ad
Revises: 0110ce57a2af
Create Date: 2026-11-25 10:46:36.306735

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# UTC, microseconds on MariaDB too (backend.models.base.UTCDateTime)
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


# revision identifiers, used by Alembic.
revision = '1e9d7b1ea3ad'
down_revision = '0110ce57a2af'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('licenses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('license_no', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('industry_code', sa.String(length=64), nullable=False),
    sa.Column('industry_name', sa.String(length=100), nullable=False),
    sa.Column('industry_category', sa.String(length=50), nullable=False),
    sa.Column('holder_name', sa.String(length=200), nullable=False),
    sa.Column('credit_code', sa.String(length=18), nullable=False),
    sa.Column('premises_address', sa.String(length=300), nullable=False),
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('issuing_authority', sa.String(length=100), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('status_reason', sa.String(length=500), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.Column('lock_version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_licenses_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_licenses')),
    sa.UniqueConstraint('application_id', name=op.f('uq_licenses_application_id')),
    sa.UniqueConstraint('license_no', name=op.f('uq_licenses_license_no'))
    )
    op.create_table('license_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('license_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('unit_decisions', sa.JSON(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('decided_at', TIMESTAMP, nullable=True),
    sa.Column('lock_version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['license_id'], ['licenses.id'], name=op.f('fk_license_changes_license_id_licenses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_license_changes'))
    )
    with op.batch_alter_table('license_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_license_changes_license_id'), ['license_id'], unique=False)

    op.create_table('license_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('license_id', sa.Integer(), nullable=False),
    sa.Column('item_code', sa.String(length=64), nullable=False),
    sa.Column('item_name', sa.String(length=100), nullable=False),
    sa.Column('sub_license_no', sa.String(length=40), nullable=False),
    sa.Column('approving_unit', sa.String(length=64), nullable=False),
    sa.Column('supervising_unit', sa.String(length=64), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['license_id'], ['licenses.id'], name=op.f('fk_license_items_license_id_licenses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_license_items')),
    sa.UniqueConstraint('license_id', 'item_code', name=op.f('uq_license_items_license_id')),
    sa.UniqueConstraint('sub_license_no', name=op.f('uq_license_items_sub_license_no'))
    )
    with op.batch_alter_table('license_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_license_items_approving_unit'), ['approving_unit'], unique=False)

    op.create_table('license_renditions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('license_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('png_sha256', sa.String(length=64), nullable=False),
    sa.Column('pdf_sha256', sa.String(length=64), nullable=True),
    sa.Column('verify_url', sa.String(length=300), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['license_id'], ['licenses.id'], name=op.f('fk_license_renditions_license_id_licenses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_license_renditions')),
    sa.UniqueConstraint('license_id', 'version', name=op.f('uq_license_renditions_license_id'))
    )
    with op.batch_alter_table('license_renditions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_license_renditions_pdf_sha256'), ['pdf_sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_license_renditions_png_sha256'), ['png_sha256'], unique=False)



def downgrade():
    with op.batch_alter_table('license_renditions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_license_renditions_png_sha256'))
        batch_op.drop_index(batch_op.f('ix_license_renditions_pdf_sha256'))

    op.drop_table('license_renditions')
    with op.batch_alter_table('license_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_license_items_approving_unit'))

    op.drop_table('license_items')
    with op.batch_alter_table('license_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_license_changes_license_id'))

    op.drop_table('license_changes')
    op.drop_table('licenses')
