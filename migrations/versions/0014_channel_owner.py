"""contact_channels.owner_id: each handle keeps its contact's owner, so that a search finds
one user's handles without reading every user's. The trigram index on lower(value) spans
every user: on PostgreSQL a common term ("com", in every email address) read all users'
matching handles before the owner was checked, a cost that grew with the installation.
An index on (owner_id, value, contact_id) lets PostgreSQL walk the user's own handles
instead when that is cheaper.

Added in place on both databases, NOT NULL DEFAULT 0 (a batch rebuild of contact_channels
on SQLite would drop the search index's triggers on it), and filled with one UPDATE; on
PostgreSQL the trigram index is dropped while every row is written and built again after,
as 0013 does for contacts. A trigger gives a handle written without its owner (0) its
contact's, so the code of the release before keeps adding handles during a rolling deploy,
and no handle is ever left with owner 0. The SQL is written out here rather than imported
from crm.models.contact, as a revision must not change when the application does.

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


SQLITE_TRIGGER = """CREATE TRIGGER tr_contact_channels_owner AFTER INSERT ON contact_channels
WHEN NEW.owner_id = 0
BEGIN
    UPDATE contact_channels
    SET owner_id = (SELECT owner_id FROM contacts WHERE id = NEW.contact_id)
    WHERE id = NEW.id;
END"""
POSTGRESQL_TRIGGER = ("""CREATE OR REPLACE FUNCTION contact_channels_owner() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.owner_id IS NULL OR NEW.owner_id = 0 THEN
        SELECT owner_id INTO NEW.owner_id FROM contacts WHERE id = NEW.contact_id;
    END IF;
    RETURN NEW;
END $$""", """CREATE TRIGGER tr_contact_channels_owner BEFORE INSERT ON contact_channels
FOR EACH ROW EXECUTE FUNCTION contact_channels_owner()""")


def upgrade():
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column('contact_channels', sa.Column('owner_id', sa.Integer(), nullable=False,
                                                server_default=sa.text('0')))
    if sqlite:
        op.execute("UPDATE contact_channels SET owner_id = (SELECT owner_id FROM contacts "
                   "WHERE contacts.id = contact_channels.contact_id)")
        op.execute(SQLITE_TRIGGER)
    else:
        op.execute(f"DROP INDEX IF EXISTS {TRIGRAM_INDEX}")
        op.execute("UPDATE contact_channels SET owner_id = contacts.owner_id FROM contacts "
                   "WHERE contacts.id = contact_channels.contact_id")
        op.execute(f"CREATE INDEX {TRIGRAM_INDEX} ON contact_channels "
                   "USING gin (lower(value) gin_trgm_ops) WITH (fastupdate = off)")
        for statement in POSTGRESQL_TRIGGER:
            op.execute(statement)
    op.create_index(OWNER_INDEX, 'contact_channels', ['owner_id', 'value', 'contact_id'],
                    unique=False)


def downgrade():
    op.execute("DROP TRIGGER IF EXISTS tr_contact_channels_owner"
               + ("" if op.get_bind().dialect.name == "sqlite" else " ON contact_channels"))
    op.drop_index(OWNER_INDEX, table_name='contact_channels')
    if op.get_bind().dialect.name == "sqlite":
        # In place (SQLite 3.35 and later), not by a batch rebuild: see above.
        op.execute("ALTER TABLE contact_channels DROP COLUMN owner_id")
    else:
        op.execute("DROP FUNCTION IF EXISTS contact_channels_owner()")
        op.drop_column('contact_channels', 'owner_id')
