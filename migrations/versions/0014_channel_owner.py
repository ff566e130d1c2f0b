"""contact_channels.owner_id: each handle keeps its contact's owner, so that a search finds
one user's handles without reading every user's. The trigram index on lower(value) spans
every user: on PostgreSQL a common term ("com", in every email address) read all users'
matching handles before the owner was checked, a cost that grew with the installation.
An index on (owner_id, value, contact_id) lets PostgreSQL walk the user's own handles
instead when that is cheaper.

Added in place on both databases. SQLite cannot add a NOT NULL column without a default,
and a batch rebuild of contact_channels would drop the search index's triggers on it: the
column is added with DEFAULT 0, which the app never relies on (every insert gives the
owner; PostgreSQL, and SQLite databases made from the models, have no default and refuse
a row without one). On PostgreSQL the trigram index is dropped while every row is written
and built again after, as 0013 does for contacts.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 07:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

TRIGRAM_INDEX = "ix_contact_channels_value_trgm"  # 0008's, on lower(value) (PostgreSQL)
OWNER_INDEX = "ix_contact_channels_owner_value"


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE contact_channels ADD COLUMN owner_id INTEGER NOT NULL DEFAULT 0")
        op.execute("UPDATE contact_channels SET owner_id = "
                   "(SELECT owner_id FROM contacts WHERE contacts.id = contact_channels.contact_id)")
    else:
        op.add_column('contact_channels', sa.Column('owner_id', sa.Integer(), nullable=True))
        op.execute(f"DROP INDEX IF EXISTS {TRIGRAM_INDEX}")
        op.execute("UPDATE contact_channels SET owner_id = contacts.owner_id FROM contacts "
                   "WHERE contacts.id = contact_channels.contact_id")
        op.execute(f"CREATE INDEX {TRIGRAM_INDEX} ON contact_channels "
                   "USING gin (lower(value) gin_trgm_ops) WITH (fastupdate = off)")
        op.alter_column('contact_channels', 'owner_id', nullable=False)
    op.create_index(OWNER_INDEX, 'contact_channels', ['owner_id', 'value', 'contact_id'],
                    unique=False)


def downgrade():
    op.drop_index(OWNER_INDEX, table_name='contact_channels')
    if op.get_bind().dialect.name == "sqlite":
        # In place (SQLite 3.35 and later), not by a batch rebuild: see above.
        op.execute("ALTER TABLE contact_channels DROP COLUMN owner_id")
    else:
        op.drop_column('contact_channels', 'owner_id')
