"""digest_runs.claimed_by: the worker that claimed a digest, as reminders, deliveries and
account emails record theirs, so a worker whose pass failed after claiming one (its
database connection dropped) takes it up on its next pass instead of leaving it to wait
for the lease. Digests claimed before this migration have none: the reaper gives them
back when their lease lapses, as before.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-27 23:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('digest_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=80), nullable=True))


def downgrade():
    with op.batch_alter_table('digest_runs', schema=None) as batch_op:
        batch_op.drop_column('claimed_by')
