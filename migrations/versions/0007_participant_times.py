"""interaction_participants.occurred_at, kept by triggers, and a (contact, time) index.

A contact's timeline walks ix_interaction_participants_contact_occurred in time order
and stops after one page, instead of sorting the contact's whole history.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 16:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# A frozen copy of crm.models.interaction.PARTICIPANT_TIME_DDL as of this revision.
TRIGGERS = {
    "sqlite": (
        """CREATE TRIGGER tr_participants_occurred_at AFTER INSERT ON interaction_participants
        WHEN NEW.occurred_at IS NULL
        BEGIN
            UPDATE interaction_participants
            SET occurred_at = (SELECT occurred_at FROM interactions WHERE id = NEW.interaction_id)
            WHERE interaction_id = NEW.interaction_id AND contact_id = NEW.contact_id;
        END""",
        """CREATE TRIGGER tr_interactions_occurred_at AFTER UPDATE OF occurred_at ON interactions
        BEGIN
            UPDATE interaction_participants SET occurred_at = NEW.occurred_at
            WHERE interaction_id = NEW.id;
        END""",
    ),
    "postgresql": (
        """CREATE OR REPLACE FUNCTION participants_occurred_at() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.occurred_at IS NULL THEN
                SELECT occurred_at INTO NEW.occurred_at
                FROM interactions WHERE id = NEW.interaction_id;
            END IF;
            RETURN NEW;
        END $$""",
        """CREATE TRIGGER tr_participants_occurred_at BEFORE INSERT ON interaction_participants
        FOR EACH ROW EXECUTE FUNCTION participants_occurred_at()""",
        """CREATE OR REPLACE FUNCTION interactions_occurred_at() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE interaction_participants SET occurred_at = NEW.occurred_at
            WHERE interaction_id = NEW.id;
            RETURN NULL;
        END $$""",
        """CREATE TRIGGER tr_interactions_occurred_at AFTER UPDATE OF occurred_at ON interactions
        FOR EACH ROW WHEN (OLD.occurred_at IS DISTINCT FROM NEW.occurred_at)
        EXECUTE FUNCTION interactions_occurred_at()""",
    ),
}
DROPS = {
    "sqlite": (
        "DROP TRIGGER IF EXISTS tr_participants_occurred_at",
        "DROP TRIGGER IF EXISTS tr_interactions_occurred_at",
    ),
    "postgresql": (
        "DROP TRIGGER IF EXISTS tr_participants_occurred_at ON interaction_participants",
        "DROP TRIGGER IF EXISTS tr_interactions_occurred_at ON interactions",
        "DROP FUNCTION IF EXISTS participants_occurred_at()",
        "DROP FUNCTION IF EXISTS interactions_occurred_at()",
    ),
}


def upgrade():
    with op.batch_alter_table('interaction_participants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('occurred_at', sa.DateTime(), nullable=True))
    op.execute(
        "UPDATE interaction_participants SET occurred_at = (SELECT occurred_at FROM "
        "interactions WHERE interactions.id = interaction_participants.interaction_id)"
    )
    with op.batch_alter_table('interaction_participants', schema=None) as batch_op:
        batch_op.drop_index('ix_interaction_participants_contact_interaction')
        batch_op.create_index('ix_interaction_participants_contact_occurred',
                              ['contact_id', 'occurred_at', 'interaction_id'], unique=False)
    for statement in TRIGGERS.get(op.get_bind().dialect.name, ()):
        op.execute(statement)


def downgrade():
    for statement in DROPS.get(op.get_bind().dialect.name, ()):
        op.execute(statement)
    with op.batch_alter_table('interaction_participants', schema=None) as batch_op:
        batch_op.drop_index('ix_interaction_participants_contact_occurred')
        batch_op.create_index('ix_interaction_participants_contact_interaction',
                              ['contact_id', 'interaction_id'], unique=False)
        batch_op.drop_column('occurred_at')
