"""The contact search index: pg_trgm GIN indexes on PostgreSQL, FTS5 trigram tables on SQLite.

PostgreSQL: the pg_trgm extension (trusted since PostgreSQL 13, so the database owner may
create it) and GIN indexes on lower(name) and lower(company) of contacts, lower(value) of
contact_channels and lower(name) of tags, without fastupdate (see crm/models/contact.py);
building them indexes the rows there are.

SQLite: FTS5 tables with the trigram tokenizer holding the lower-cased text of each
contact (name, company), channel (value) and tag (name) under the source row's id, triggers
that keep them up to date, and a backfill of the rows there are. Without FTS5's trigram
tokenizer (SQLite before 3.34) nothing is created and search keeps scanning.

The SQL is written out here rather than imported from crm.models.search_index, as a
revision must not change when the application does.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 09:00:00.000000

"""
import logging

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

logger = logging.getLogger("alembic.runtime.migration")

TRIGRAM_INDEXES = [
    ("ix_contacts_name_trgm", "contacts", "name"),
    ("ix_contacts_company_trgm", "contacts", "company"),
    ("ix_contact_channels_value_trgm", "contact_channels", "value"),
    ("ix_tags_name_trgm", "tags", "name"),
]

FTS_OPTIONS = "tokenize = 'trigram case_sensitive 1', columnsize = 0"

# source table -> (FTS table, the source's indexed columns)
SQLITE_SOURCES = {
    "contacts": ("search_contacts", ("name", "company")),
    "contact_channels": ("search_contact_channels", ("value",)),
    "tags": ("search_tags", ("name",)),
}


def _sqlite_upgrade(source, fts, columns):
    """The FTS table for one source table, its three triggers and its backfill."""
    cols = ", ".join(columns)
    new = ", ".join(f"lower(new.{c})" for c in columns)
    lowered = ", ".join(f"lower({c})" for c in columns)
    insert = f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new});"
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({cols}, {FTS_OPTIONS})",
        # Delete first on insert too: a row left from a time without triggers (SQLite
        # reuses a deleted row's id) must not make the insert fail.
        f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {source} BEGIN "
        f"DELETE FROM {fts} WHERE rowid = new.id; {insert} END",
        f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {cols} ON {source} BEGIN "
        f"DELETE FROM {fts} WHERE rowid = old.id; {insert} END",
        f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {source} BEGIN "
        f"DELETE FROM {fts} WHERE rowid = old.id; END",
        f"INSERT INTO {fts}(rowid, {cols}) SELECT id, {lowered} FROM {source}",
    ]


def _fts5_trigram_available(bind) -> bool:
    try:
        bind.exec_driver_sql(
            "CREATE VIRTUAL TABLE temp.search_probe USING fts5(x, tokenize = 'trigram')")
    except sa.exc.OperationalError:
        return False
    bind.exec_driver_sql("DROP TABLE temp.search_probe")
    return True


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, table, column in TRIGRAM_INDEXES:
            # fastupdate off: no pending list of new rows for every search to read through.
            op.execute(f"CREATE INDEX {name} ON {table} "
                       f"USING gin (lower({column}) gin_trgm_ops) WITH (fastupdate = off)")
    elif bind.dialect.name == "sqlite":
        if not _fts5_trigram_available(bind):
            logger.warning("SQLite has no FTS5 trigram tokenizer: contact search will scan")
            return
        for source, (fts, columns) in SQLITE_SOURCES.items():
            for statement in _sqlite_upgrade(source, fts, columns):
                op.execute(statement)


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for name, _, _ in TRIGRAM_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
        # pg_trgm stays: other objects in the database may use it, and it costs nothing.
    elif bind.dialect.name == "sqlite":
        for fts, _ in SQLITE_SOURCES.values():
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {fts}_{event}")
            op.execute(f"DROP TABLE IF EXISTS {fts}")
