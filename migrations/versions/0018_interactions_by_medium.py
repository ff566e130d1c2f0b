"""ix_interactions_owner_medium_occurred: all one's interactions on one medium, newest first,
walked in order however seldom the medium is used.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27 00:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_interactions_owner_medium_occurred', 'interactions',
                    ['owner_id', 'medium_id', 'occurred_at'])


def downgrade():
    op.drop_index('ix_interactions_owner_medium_occurred', table_name='interactions')
