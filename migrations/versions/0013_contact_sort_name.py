"""contacts.sort_name and contacts.company_key: the name as it files alphabetically
(accents set aside, Unicode case folding, spaces collapsed), and the company folded alike,
both kept by the app. Lists by name walk sort_name, so "Émile" comes between "Ada" and "Zoë"
on both databases; they sorted by lower(name), which put every accented initial after Z
(SQLite's lower() folds only ASCII letters, and PostgreSQL's order follows the database's
collation). A search matches names and companies through them too, so "jose" finds "José"
and "nestle" finds "Nestlé". The list's index moves from lower(name) to
(owner_id, sort_name, id, company_key), which SQLite walks for such searches; PostgreSQL
gets a trigram index on each column.

Added in place on SQLite too (with a server default, as SQLite requires for a NOT NULL
column added to a table): rebuilding contacts in a batch migration would drop the search
index's triggers on it. Existing rows are filled here with the function written out below,
as a revision must not change when the application does.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 05:00:00

"""
import unicodedata

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

LENGTH = 255
SPELT_OUT = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d",
                           "þ": "th", "ħ": "h", "ı": "i", "ŀ": "l"})
BATCH = 1000


def _sort_name(name):
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.casefold().translate(SPELT_OUT).split())[:LENGTH]


# 0008's trigram indexes on contacts (PostgreSQL)
TRIGRAM_INDEXES = (("ix_contacts_name_trgm", "name"), ("ix_contacts_company_trgm", "company"))


def upgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    # Compared by code point on PostgreSQL too: a locale's collation would set spaces and
    # punctuation aside, unlike SQLite.
    kind = sa.String(length=LENGTH, collation="C") if postgresql else sa.String(length=LENGTH)
    op.add_column('contacts', sa.Column('sort_name', kind, nullable=False, server_default=''))
    op.add_column('contacts', sa.Column('company_key', sa.String(length=LENGTH), nullable=False,
                                        server_default=''))
    op.drop_index('ix_contacts_owner_lower_name', table_name='contacts')
    if postgresql:
        # Every row is written again below: keeping these GIN indexes up to date row by row
        # took most of the time (while contacts is locked); built again in one pass after.
        for name, _ in TRIGRAM_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    _fill_sort_names(op.get_bind())
    if postgresql:
        for name, column in TRIGRAM_INDEXES:
            op.execute(f"CREATE INDEX {name} ON contacts "
                       f"USING gin (lower({column}) gin_trgm_ops) WITH (fastupdate = off)")
        # A search finds names and companies with accents set aside through these
        # (folded already).
        for column in ("sort_name", "company_key"):
            op.execute(f"CREATE INDEX ix_contacts_{column}_trgm ON contacts "
                       f"USING gin ({column} gin_trgm_ops) WITH (fastupdate = off)")
    op.create_index('ix_contacts_owner_sort_name', 'contacts',
                    ['owner_id', 'sort_name', 'id', 'company_key'], unique=False)


def _fill_sort_names(bind):
    contacts = sa.table('contacts', sa.column('id', sa.Integer), sa.column('name', sa.String),
                        sa.column('company', sa.String), sa.column('sort_name', sa.String),
                        sa.column('company_key', sa.String))
    last = 0
    while True:
        rows = bind.execute(
            sa.select(contacts.c.id, contacts.c.name, contacts.c.company)
            .where(contacts.c.id > last)
            .order_by(contacts.c.id).limit(BATCH)
        ).all()
        if not rows:
            break
        folded = [(row.id, _sort_name(row.name), _sort_name(row.company or ""))
                  for row in rows]
        if bind.dialect.name == "sqlite":
            # Row by row: UPDATE ... FROM needs SQLite 3.33, and Rapport runs on older ones
            # (without the FTS5 trigram search, which then scans).
            bind.execute(
                contacts.update().where(contacts.c.id == sa.bindparam('row_id'))
                .values(sort_name=sa.bindparam('s'), company_key=sa.bindparam('c')),
                [{'row_id': i, 's': name, 'c': company} for i, name, company in folded],
            )
        else:  # one statement per batch
            values = ", ".join(f"(:i{n}, :s{n}, :c{n})" for n in range(len(folded)))
            params = {}
            for n, (i, name, company) in enumerate(folded):
                params[f"i{n}"], params[f"s{n}"], params[f"c{n}"] = i, name, company
            bind.execute(sa.text(
                "UPDATE contacts SET sort_name = v.column2, company_key = v.column3 "  # noqa: S608
                f"FROM (VALUES {values}) AS v WHERE contacts.id = v.column1"), params)
        last = rows[-1].id


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_contacts_sort_name_trgm")
        op.execute("DROP INDEX IF EXISTS ix_contacts_company_key_trgm")
    op.create_index('ix_contacts_owner_lower_name', 'contacts',
                    ['owner_id', sa.text('lower(name)'), 'id'], unique=False)
    op.drop_index('ix_contacts_owner_sort_name', table_name='contacts')
    for column in ("company_key", "sort_name"):
        if op.get_bind().dialect.name == "sqlite":
            # In place (SQLite 3.35 and later), not by a batch rebuild: see above.
            op.execute(f"ALTER TABLE contacts DROP COLUMN {column}")
        else:
            op.drop_column('contacts', column)
