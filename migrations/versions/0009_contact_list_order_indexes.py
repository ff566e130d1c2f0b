"""Indexes the contact list walks in order: by lower(name), and most recent first.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 17:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_contacts_owner_lower_name', 'contacts',
                    ['owner_id', sa.text('lower(name)'), 'id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        # On SQLite a backward scan of ix_contacts_owner_last is this order already.
        op.create_index('ix_contacts_owner_recent', 'contacts',
                        ['owner_id', sa.text('last_interaction_at DESC NULLS LAST'),
                         sa.text('id DESC')], unique=False)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_contacts_owner_recent', table_name='contacts')
    op.drop_index('ix_contacts_owner_lower_name', table_name='contacts')
