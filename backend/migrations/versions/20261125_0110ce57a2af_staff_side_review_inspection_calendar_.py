"""staff side: review, inspection, calendar, outbox

Revision ID: 0110ce57a2af
Revises: 3baa3ab8b48a
Create Date: 2026-11-25 10:31:18.996967

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# UTC, microseconds on MariaDB too (backend.models.base.UTCDateTime)
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


# revision identifiers, used by Alembic.
revision = '0110ce57a2af'
down_revision = '3baa3ab8b48a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('calendar_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('is_workday', sa.Boolean(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_calendar_days'))
    )
    op.create_table('outbox_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=False),
    sa.Column('aggregate', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('due_at', TIMESTAMP, nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=1000), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('sent_at', TIMESTAMP, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_outbox_messages_dedupe_key'))
    )
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_messages_aggregate'), ['aggregate'], unique=False)
        batch_op.create_index('ix_outbox_messages_due', ['status', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_messages_event'), ['event'], unique=False)

    op.create_table('staff_binding_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('expires_at', TIMESTAMP, nullable=False),
    sa.Column('used_at', TIMESTAMP, nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_accounts.id'], name=op.f('fk_staff_binding_codes_staff_id_staff_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_binding_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_staff_binding_codes_code_hash'))
    )
    with op.batch_alter_table('staff_binding_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_binding_codes_staff_id'), ['staff_id'], unique=False)

    op.create_table('inspections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('item_codes', sa.JSON(), nullable=False),
    sa.Column('scheduled_on', sa.Date(), nullable=True),
    sa.Column('window', sa.String(length=32), nullable=True),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('reschedule_used', sa.Boolean(), nullable=False),
    sa.Column('reschedule_reason', sa.String(length=500), nullable=True),
    sa.Column('rectification', sa.JSON(), nullable=True),
    sa.Column('rectification_deadline', sa.Date(), nullable=True),
    sa.Column('recheck_mode', sa.String(length=16), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('lock_version', sa.Integer(), nullable=False, server_default='1'),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_inspections_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspections')),
    sa.UniqueConstraint('application_id', name=op.f('uq_inspections_application_id'))
    )
    with op.batch_alter_table('inspections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspections_status'), ['status'], unique=False)

    op.create_table('inspection_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inspection_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('unit_code', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['inspection_id'], ['inspections.id'], name=op.f('fk_inspection_members_inspection_id_inspections')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_accounts.id'], name=op.f('fk_inspection_members_staff_id_staff_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_members')),
    sa.UniqueConstraint('inspection_id', 'staff_id', name=op.f('uq_inspection_members_inspection_id'))
    )
    with op.batch_alter_table('inspection_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_members_staff_id'), ['staff_id'], unique=False)

    op.create_table('inspection_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inspection_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('item_code', sa.String(length=64), nullable=False),
    sa.Column('result', sa.String(length=16), nullable=False),
    sa.Column('notes', sa.String(length=1000), nullable=False),
    sa.Column('demands', sa.JSON(), nullable=False),
    sa.Column('photos', sa.JSON(), nullable=False),
    sa.Column('confirmed_materials', sa.JSON(), nullable=False),
    sa.Column('inspector_id', sa.Integer(), nullable=False),
    sa.Column('recorded_at', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['inspection_id'], ['inspections.id'], name=op.f('fk_inspection_results_inspection_id_inspections')),
    sa.ForeignKeyConstraint(['inspector_id'], ['staff_accounts.id'], name=op.f('fk_inspection_results_inspector_id_staff_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_results')),
    sa.UniqueConstraint('inspection_id', 'round', 'item_code', name=op.f('uq_inspection_results_inspection_id'))
    )
    with op.batch_alter_table('application_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('actor_role', sa.String(length=32), nullable=False, server_default='applicant'))
        batch_op.add_column(sa.Column('item_code', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('from_state', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('to_state', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('reason', sa.String(length=1000), nullable=True))

    with op.batch_alter_table('application_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('promised_days', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('due_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('decided_at', TIMESTAMP, nullable=True))
        batch_op.add_column(sa.Column('decided_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('opinion', sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column('applicant_consents_to_drop', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('lock_version', sa.Integer(), nullable=False, server_default='1'))
        batch_op.create_index(batch_op.f('ix_application_items_due_on'), ['due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_application_items_status'), ['status'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_application_items_decided_by_staff_accounts'), 'staff_accounts', ['decided_by'], ['id'])

    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acceptance_number', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('accepted_at', TIMESTAMP, nullable=True))
        batch_op.add_column(sa.Column('accepted_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('supplement_notice', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('paused_since', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('paused_working_days', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('decided_at', TIMESTAMP, nullable=True))
        batch_op.add_column(sa.Column('decision_reason', sa.String(length=1000), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_applications_acceptance_number'), ['acceptance_number'])

    with op.batch_alter_table('staff_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('locked_until', TIMESTAMP, nullable=True))
        batch_op.add_column(sa.Column('wechat_openid', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_staff_accounts_wechat_openid'), ['wechat_openid'])



def downgrade():
    with op.batch_alter_table('staff_accounts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_staff_accounts_wechat_openid'), type_='unique')
        batch_op.drop_column('wechat_openid')
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_logins')

    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_applications_acceptance_number'), type_='unique')
        batch_op.drop_column('decision_reason')
        batch_op.drop_column('decided_at')
        batch_op.drop_column('paused_working_days')
        batch_op.drop_column('paused_since')
        batch_op.drop_column('supplement_notice')
        batch_op.drop_column('accepted_on')
        batch_op.drop_column('accepted_at')
        batch_op.drop_column('acceptance_number')

    with op.batch_alter_table('application_items', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_application_items_decided_by_staff_accounts'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_application_items_status'))
        batch_op.drop_index(batch_op.f('ix_application_items_due_on'))
        batch_op.drop_column('lock_version')
        batch_op.drop_column('applicant_consents_to_drop')
        batch_op.drop_column('opinion')
        batch_op.drop_column('decided_by')
        batch_op.drop_column('decided_at')
        batch_op.drop_column('due_on')
        batch_op.drop_column('promised_days')

    with op.batch_alter_table('application_events', schema=None) as batch_op:
        batch_op.drop_column('reason')
        batch_op.drop_column('to_state')
        batch_op.drop_column('from_state')
        batch_op.drop_column('item_code')
        batch_op.drop_column('actor_role')

    op.drop_table('inspection_results')
    with op.batch_alter_table('inspection_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_members_staff_id'))

    op.drop_table('inspection_members')
    with op.batch_alter_table('inspections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspections_status'))

    op.drop_table('inspections')
    with op.batch_alter_table('staff_binding_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_binding_codes_staff_id'))

    op.drop_table('staff_binding_codes')
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_messages_event'))
        batch_op.drop_index('ix_outbox_messages_due')
        batch_op.drop_index(batch_op.f('ix_outbox_messages_aggregate'))

    op.drop_table('outbox_messages')
    op.drop_table('calendar_days')
