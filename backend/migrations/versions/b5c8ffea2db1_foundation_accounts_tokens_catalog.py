"""foundation: accounts, tokens, catalog

Revision ID: b5c8ffea2db1
Revises: 
Create Date: 2026-11-25 10:14:22.748720

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# UTC, microseconds on MariaDB too (backend.models.base.UTCDateTime)
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


# revision identifiers, used by Alembic.
revision = 'b5c8ffea2db1'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('access_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('subject_kind', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('expires_at', TIMESTAMP, nullable=False),
    sa.Column('revoked_at', TIMESTAMP, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_access_tokens_token_hash'))
    )
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_tokens_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index('ix_access_tokens_subject', ['subject_kind', 'subject_id'], unique=False)

    op.create_table('applicants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('unionid', sa.String(length=64), nullable=True),
    sa.Column('session_key_encrypted', sa.LargeBinary(length=256), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('last_login_at', TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_applicants')),
    sa.UniqueConstraint('openid', name=op.f('uq_applicants_openid'))
    )
    op.create_table('catalog_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('checksum', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=500), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('loaded_at', TIMESTAMP, nullable=False),
    sa.Column('loaded_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_versions')),
    sa.UniqueConstraint('checksum', name=op.f('uq_catalog_versions_checksum')),
    sa.UniqueConstraint('number', name=op.f('uq_catalog_versions_number'))
    )
    op.create_table('staff_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('unit_code', sa.String(length=64), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_accounts')),
    sa.UniqueConstraint('username', name=op.f('uq_staff_accounts_username'))
    )
    op.create_table('catalog_industries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('category', sa.String(length=50), nullable=False),
    sa.Column('pinyin_initials', sa.String(length=100), nullable=False),
    sa.Column('pinyin_full', sa.Text(), nullable=False),
    sa.Column('item_count', sa.Integer(), nullable=False),
    sa.Column('promised_days', sa.Integer(), nullable=False),
    sa.Column('retired', sa.Boolean(), nullable=False),
    sa.Column('estimated', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['catalog_versions.id'], name=op.f('fk_catalog_industries_version_id_catalog_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_industries')),
    sa.UniqueConstraint('version_id', 'code', name=op.f('uq_catalog_industries_version_id'))
    )
    with op.batch_alter_table('catalog_industries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_industries_version_id'), ['version_id'], unique=False)

    op.create_table('catalog_permit_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('approving_unit', sa.String(length=64), nullable=False),
    sa.Column('supervising_unit', sa.String(length=64), nullable=False),
    sa.Column('legal_days', sa.Integer(), nullable=False),
    sa.Column('promised_days', sa.Integer(), nullable=False),
    sa.Column('onsite_check', sa.String(length=16), nullable=False),
    sa.Column('estimated', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['catalog_versions.id'], name=op.f('fk_catalog_permit_items_version_id_catalog_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_permit_items')),
    sa.UniqueConstraint('version_id', 'code', name=op.f('uq_catalog_permit_items_version_id'))
    )
    with op.batch_alter_table('catalog_permit_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_permit_items_approving_unit'), ['approving_unit'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_permit_items_supervising_unit'), ['supervising_unit'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_permit_items_version_id'), ['version_id'], unique=False)



def downgrade():
    with op.batch_alter_table('catalog_permit_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_permit_items_version_id'))
        batch_op.drop_index(batch_op.f('ix_catalog_permit_items_supervising_unit'))
        batch_op.drop_index(batch_op.f('ix_catalog_permit_items_approving_unit'))

    op.drop_table('catalog_permit_items')
    with op.batch_alter_table('catalog_industries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_industries_version_id'))

    op.drop_table('catalog_industries')
    op.drop_table('staff_accounts')
    op.drop_table('catalog_versions')
    op.drop_table('applicants')
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_access_tokens_subject')
        batch_op.drop_index(batch_op.f('ix_access_tokens_expires_at'))

    op.drop_table('access_tokens')
