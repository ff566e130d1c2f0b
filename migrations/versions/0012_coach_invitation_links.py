"""coach_links.invite_token_hash: an invitation is accepted through the link the client
sends their coach (its secret's SHA-256 is kept), no longer by whoever holds the invited
address in Rapport, which never verifies addresses. Invitations still open get no link
here; the client makes one from the coaching page.

A column and a unique index, both added in place on SQLite too: rebuilding coach_links
there would cascade into coaching_notes.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 00:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('coach_links', sa.Column('invite_token_hash', sa.String(length=64),
                                           nullable=True))
    op.create_index('ix_coach_links_invite_token_hash', 'coach_links', ['invite_token_hash'],
                    unique=True)


def downgrade():
    op.drop_index('ix_coach_links_invite_token_hash', table_name='coach_links')
    if op.get_bind().dialect.name == "sqlite":
        # In place (SQLite 3.35 and later), not by a batch rebuild: see above.
        op.execute("ALTER TABLE coach_links DROP COLUMN invite_token_hash")
    else:
        op.drop_column('coach_links', 'invite_token_hash')
