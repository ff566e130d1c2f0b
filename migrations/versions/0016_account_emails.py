"""account_emails: emails about the account itself (a link to choose a new password, a
changed password, a changed address), queued by the web request and sent by the worker.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27 00:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'account_emails',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.Enum('password_reset', 'password_changed', 'address_changed',
                                  name='account_email_kind', native_enum=False, length=32),
                  nullable=False),
        sa.Column('to_address', sa.String(length=254), nullable=False),
        sa.Column('new_address', sa.String(length=254), nullable=True),
        sa.Column('status', sa.Enum('pending', 'sending', 'sent', 'failed', 'skipped',
                                    name='delivery_status', native_enum=False, length=20),
                  nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
        sa.Column('claimed_by', sa.String(length=80), nullable=True),
        sa.Column('claim_expires_at', sa.DateTime(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_account_emails_status_next', 'account_emails',
                    ['status', 'next_attempt_at'])
    op.create_index('ix_account_emails_user_id', 'account_emails', ['user_id'])


def downgrade():
    op.drop_index('ix_account_emails_user_id', table_name='account_emails')
    op.drop_index('ix_account_emails_status_next', table_name='account_emails')
    op.drop_table('account_emails')
