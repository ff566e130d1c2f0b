"""Interaction search: one's interactions by what their summary or notes say.

PostgreSQL: pg_trgm GIN indexes on lower(summary) and lower(notes) of interactions, without
fastupdate, as the contact search's (0008); building them indexes the rows there are.

SQLite: an FTS5 table with the trigram tokenizer, search_interactions, holding each
interaction's summary and notes folded by rapport_fold (Unicode case folding, the function
the app registers on every SQLite connection, as 0011 made the contact tables) under the
interaction's id, triggers that keep it up to date, and a backfill of the interactions
there are. Without FTS5's trigram tokenizer (SQLite before 3.34) nothing is created and
the search scans.

The SQL is written out here rather than imported from crm.models.search_index, as a
revision must not change when the application does; the revision registers the fold
function on its own connection too.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-27 20:00:00

"""
import logging

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

logger = logging.getLogger("alembic.runtime.migration")

TRIGRAM_INDEXES = [
    ("ix_interactions_summary_trgm", "summary"),
    ("ix_interactions_notes_trgm", "notes"),
]

FTS = "search_interactions"
FTS_OPTIONS = "tokenize = 'trigram case_sensitive 1', columnsize = 0"
INSERT = (f"INSERT INTO {FTS}(rowid, summary, notes) "
          "VALUES (new.id, rapport_fold(new.summary), rapport_fold(new.notes));")


def _fold(text):
    return None if text is None else text.casefold()


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
        for name, column in TRIGRAM_INDEXES:
            # fastupdate off: no pending list of new rows for every search to read through.
            op.execute(f"CREATE INDEX {name} ON interactions "
                       f"USING gin (lower({column}) gin_trgm_ops) WITH (fastupdate = off)")
    elif bind.dialect.name == "sqlite":
        if not _fts5_trigram_available(bind):
            logger.warning("SQLite has no FTS5 trigram tokenizer: interaction search will scan")
            return
        bind.connection.dbapi_connection.create_function("rapport_fold", 1, _fold,
                                                         deterministic=True)
        op.execute(f"CREATE VIRTUAL TABLE {FTS} USING fts5(summary, notes, {FTS_OPTIONS})")
        # Delete first on insert too: a row left from a time without triggers (SQLite
        # reuses a deleted row's id) must not make the insert fail.
        op.execute(f"CREATE TRIGGER {FTS}_insert AFTER INSERT ON interactions BEGIN "
                   f"DELETE FROM {FTS} WHERE rowid = new.id; {INSERT} END")
        op.execute(f"CREATE TRIGGER {FTS}_update AFTER UPDATE OF summary, notes ON interactions "
                   f"BEGIN DELETE FROM {FTS} WHERE rowid = old.id; {INSERT} END")
        op.execute(f"CREATE TRIGGER {FTS}_delete AFTER DELETE ON interactions BEGIN "
                   f"DELETE FROM {FTS} WHERE rowid = old.id; END")
        op.execute(f"INSERT INTO {FTS}(rowid, summary, notes) "
                   "SELECT id, rapport_fold(summary), rapport_fold(notes) FROM interactions")


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for name, _ in TRIGRAM_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
        # pg_trgm stays: the contact search's indexes (0008) use it.
    elif bind.dialect.name == "sqlite":
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {FTS}_{event}")
        op.execute(f"DROP TABLE IF EXISTS {FTS}")
