"""Coaching privacy and history.

reminders.from_private_interaction: a follow-up made from a private interaction that was
then deleted (its interaction_id became NULL) stays the user's, and is never counted in a
coach's figures, which until now took "no interaction" for "a shared one".

Added in place on both databases, NOT NULL DEFAULT false: a batch rebuild of reminders on
SQLite would cascade into deliveries (ON DELETE CASCADE) when the old copy is dropped.
Follow-ups whose interaction was deleted before this revision cannot be told apart any
more and stay counted, as they were.

reminders.ended_by_interaction: a keep-in-touch reminder Rapport ended because an
interaction was logged (its completed_at is that interaction's time, perhaps a private
one's), told apart from one the user ended, which alone a coach's figures count.
Reminders ended before this revision are taken as the user's, as they were.

coaching_notes.coach_id becomes nullable, its foreign key ON DELETE SET NULL: a coach who
deletes their account leaves their notes to their clients, from "a former coach". On SQLite
coaching_notes is rebuilt (batch mode); no table refers to it, so dropping its old copy
cascades nowhere, and no search trigger is on it. Going back deletes the notes without an
author, which the older schema cannot hold.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 09:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


COACH_FK = 'fk_coaching_notes_coach_id_users'


def upgrade():
    op.add_column('reminders', sa.Column('from_private_interaction', sa.Boolean(),
                                         nullable=False, server_default=sa.false()))
    op.add_column('reminders', sa.Column('ended_by_interaction', sa.Boolean(),
                                         nullable=False, server_default=sa.false()))
    with op.batch_alter_table('coaching_notes', schema=None) as batch_op:
        batch_op.drop_constraint(COACH_FK, type_='foreignkey')
        batch_op.alter_column('coach_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(COACH_FK, 'users', ['coach_id'], ['id'],
                                    ondelete='SET NULL')


def downgrade():
    op.execute("DELETE FROM coaching_notes WHERE coach_id IS NULL")
    with op.batch_alter_table('coaching_notes', schema=None) as batch_op:
        batch_op.drop_constraint(COACH_FK, type_='foreignkey')
        batch_op.alter_column('coach_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(COACH_FK, 'users', ['coach_id'], ['id'],
                                    ondelete='CASCADE')
    for column in ('ended_by_interaction', 'from_private_interaction'):
        if op.get_bind().dialect.name == "sqlite":
            # In place (SQLite 3.35 and later), not by a batch rebuild: see above.
            op.execute(f"ALTER TABLE reminders DROP COLUMN {column}")
        else:
            op.drop_column('reminders', column)
