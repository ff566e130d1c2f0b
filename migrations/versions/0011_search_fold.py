"""SQLite's contact search index folds case with Python's rules: its triggers and rows hold
rapport_fold(text) (Unicode case folding, a function the app registers on every SQLite
connection) instead of lower(text), which folds only ASCII letters, so "ÉMILE" finds
"Émile". PostgreSQL is unchanged: searches there fold the term with the same lower() its
trigram indexes use.

The SQL is written out here rather than imported from crm.models.search_index, as a
revision must not change when the application does; the revision registers the function
on its own connection too.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 23:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

# source table -> (FTS table, the source's indexed columns)
SQLITE_SOURCES = {
    "contacts": ("search_contacts", ("name", "company")),
    "contact_channels": ("search_contact_channels", ("value",)),
    "tags": ("search_tags", ("name",)),
}


def _fold(text):
    return None if text is None else text.casefold()


def _rebuild(fold):
    """The three triggers of each FTS table, and its rows, folding with fold()."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    have = {row[0] for row in bind.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    bind.connection.dbapi_connection.create_function("rapport_fold", 1, _fold,
                                                     deterministic=True)
    for source, (fts, columns) in SQLITE_SOURCES.items():
        if fts not in have:  # a SQLite without FTS5's trigram tokenizer: search scans
            continue
        cols = ", ".join(columns)
        new = ", ".join(f"{fold}(new.{c})" for c in columns)
        folded = ", ".join(f"{fold}({c})" for c in columns)
        insert = f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new});"
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {fts}_{event}")
        op.execute(f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {source} BEGIN "
                   f"DELETE FROM {fts} WHERE rowid = new.id; {insert} END")
        op.execute(f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {cols} ON {source} BEGIN "
                   f"DELETE FROM {fts} WHERE rowid = old.id; {insert} END")
        op.execute(f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {source} BEGIN "
                   f"DELETE FROM {fts} WHERE rowid = old.id; END")
        op.execute(f"DELETE FROM {fts}")
        op.execute(f"INSERT INTO {fts}(rowid, {cols}) SELECT id, {folded} FROM {source}")


def upgrade():
    _rebuild("rapport_fold")


def downgrade():
    _rebuild("lower")
