"""insight_snapshots.wanted_at (a page showed the figures after they expired and asks the
worker to recompute them) and refreshing_until (a worker's claim on recomputing them);
digest_runs.claim_expires_at (a worker's claim on sending a digest, first try or retry).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 21:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('insight_snapshots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wanted_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('refreshing_until', sa.DateTime(), nullable=True))
    with op.batch_alter_table('digest_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_expires_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('digest_runs', schema=None) as batch_op:
        batch_op.drop_column('claim_expires_at')
    with op.batch_alter_table('insight_snapshots', schema=None) as batch_op:
        batch_op.drop_column('refreshing_until')
        batch_op.drop_column('wanted_at')
