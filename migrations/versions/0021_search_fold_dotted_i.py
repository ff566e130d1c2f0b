"""SQLite's search tables hold text as crm.database.search_fold folds it, which now reads
Turkish's capital dotted İ as i before case folding (case folding alone made it i and a
combining dot, so "izmir" did not find "İZMİR"). The rows of the four tables are folded
again: written before, "İstanbul ofisi" stays "i̇stanbul ofisi" and a search for
"İstanbul", folded the new way, would not find it. The triggers call rapport_fold, which
the app registers with the new rule, so they are unchanged. PostgreSQL is unchanged (its
lower() gives i already).

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-27 21:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

# source table -> (FTS table, the source's indexed columns)
SQLITE_SOURCES = {
    "contacts": ("search_contacts", ("name", "company")),
    "contact_channels": ("search_contact_channels", ("value",)),
    "tags": ("search_tags", ("name",)),
    "interactions": ("search_interactions", ("summary", "notes")),
}


def _dotted_i_as_i(text):
    return None if text is None else text.replace("\u0130", "i").casefold()


def _case_folded(text):
    return None if text is None else text.casefold()


def _refold(fold):
    """Every row of each FTS table there is, folded with fold()."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    have = {row[0] for row in bind.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    bind.connection.dbapi_connection.create_function("rapport_refold", 1, fold,
                                                     deterministic=True)
    for source, (fts, columns) in SQLITE_SOURCES.items():
        if fts not in have:  # a SQLite without FTS5's trigram tokenizer: search scans
            continue
        cols = ", ".join(columns)
        folded = ", ".join(f"rapport_refold({c})" for c in columns)
        op.execute(f"DELETE FROM {fts}")
        op.execute(f"INSERT INTO {fts}(rowid, {cols}) SELECT id, {folded} FROM {source}")


def upgrade():
    _refold(_dotted_i_as_i)


def downgrade():
    _refold(_case_folded)
