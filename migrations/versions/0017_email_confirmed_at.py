"""users.email_confirmed_at: whether the account's address is confirmed (its owner opened the
link sent there). Reminder emails and notices go only to a confirmed address; accounts that
exist already were never asked, and keep receiving them (confirmed as of their creation).

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27 00:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('email_confirmed_at', sa.DateTime(), nullable=True))
    op.execute("UPDATE users SET email_confirmed_at = created_at")


def downgrade():
    with op.batch_alter_table('users') as batch:
        batch.drop_column('email_confirmed_at')
