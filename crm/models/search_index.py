"""The search index: trigram indexes that answer substring searches of contacts (name,
company, tags, handles) and of interactions (summary, notes).

PostgreSQL: pg_trgm GIN indexes on lower(contacts.name), lower(contacts.company),
lower(contact_channels.value), lower(tags.name), lower(interactions.summary) and
lower(interactions.notes), declared on the models (PostgreSQL only) so that
`LIKE '%term%'` on those expressions is index-assisted.

SQLite: four FTS5 tables with the trigram tokenizer, one row per contact (name, company),
per channel (value), per tag (name) and per interaction (summary, notes), holding the
case-folded text under the source row's id: rapport_fold(), the Python function
crm.database.search_fold that every SQLite connection of the app registers (SQLite's own
lower() folds only ASCII letters). Triggers on contacts, contact_channels, tags and
interactions keep them up to date. Which contacts carry a tag, and which contact a channel
belongs to, are read from contact_tags and contact_channels at search time, so moving a tag
or a channel needs no trigger. GLOB on a trigram table (and MATCH with a quoted phrase,
which the interaction search uses) is answered from the index and checked against the
stored text, so a match is exactly "the folded text contains the folded term".

Both the schema built by `db.create_all()` (events below) and migrations 0008 (contacts)
and 0019 (interactions) create them. A later migration that rebuilds one of the source
tables in SQLite batch mode (copy, drop, rename) drops their triggers with the old table
and must create them again; until then the searches that read them fall back to scanning
(`sqlite_search_index_ready` notices).
"""

from __future__ import annotations

import logging
import weakref

from sqlalchemy import DDL, Column, Integer, MetaData, Table, Text, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from crm.database import SEARCH_FOLD
from crm.extensions import db

logger = logging.getLogger(__name__)

# -- PostgreSQL --------------------------------------------------------------------------

# The trigram operator class comes from pg_trgm, a trusted extension since PostgreSQL 13:
# the database owner may create it without being a superuser.
event.listen(
    db.metadata,
    "before_create",
    DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"),
)

# -- SQLite ------------------------------------------------------------------------------

# Columns hold rapport_fold(...) of the source text; case_sensitive 1 lets GLOB (which has no
# escape clause to get wrong) use the index; columnsize=0 drops the unused length table.
_FTS_OPTIONS = "tokenize = 'trigram case_sensitive 1', columnsize = 0"

# Table objects to build queries with; they live outside db.metadata, so create_all and
# autogenerate leave them alone.
_fts_metadata = MetaData()
search_contacts = Table(
    "search_contacts", _fts_metadata,
    Column("rowid", Integer, primary_key=True), Column("name", Text), Column("company", Text),
)
search_contact_channels = Table(
    "search_contact_channels", _fts_metadata,
    Column("rowid", Integer, primary_key=True), Column("value", Text),
)
search_tags = Table(
    "search_tags", _fts_metadata,
    Column("rowid", Integer, primary_key=True), Column("name", Text),
)
search_interactions = Table(
    "search_interactions", _fts_metadata,
    Column("rowid", Integer, primary_key=True), Column("summary", Text), Column("notes", Text),
)

# source table -> (FTS table, the source's indexed columns)
_SOURCES = {
    "contacts": ("search_contacts", ("name", "company")),
    "contact_channels": ("search_contact_channels", ("value",)),
    "tags": ("search_tags", ("name",)),
    "interactions": ("search_interactions", ("summary", "notes")),
}
# What each search reads: contact search the first three, interaction search the last.
CONTACT_SOURCES = ("contacts", "contact_channels", "tags")
INTERACTION_SOURCES = ("interactions",)


# The SQL below is assembled from the constant names above only (hence the noqa: S608).


def _sqlite_statements() -> list[str]:
    """CREATE statements for the FTS tables and their triggers, safe to run twice."""
    statements = []
    for source, (fts, columns) in _SOURCES.items():
        cols = ", ".join(columns)
        new = ", ".join(f"{SEARCH_FOLD}(new.{c})" for c in columns)
        insert = f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new});"  # noqa: S608
        delete = f"DELETE FROM {fts} WHERE rowid = old.id;"  # noqa: S608
        replace = f"DELETE FROM {fts} WHERE rowid = new.id; {insert}"  # noqa: S608
        statements += [
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5({cols}, {_FTS_OPTIONS})",
            # Delete first on insert too: a row left over from a time without triggers
            # (SQLite reuses a deleted row's id) must not make the insert fail.
            f"CREATE TRIGGER IF NOT EXISTS {fts}_insert AFTER INSERT ON {source} "
            f"BEGIN {replace} END",
            f"CREATE TRIGGER IF NOT EXISTS {fts}_update AFTER UPDATE OF {cols} ON {source} "
            f"BEGIN {delete} {insert} END",
            f"CREATE TRIGGER IF NOT EXISTS {fts}_delete AFTER DELETE ON {source} "
            f"BEGIN {delete} END",
        ]
    return statements


def _sqlite_object_names(sources=tuple(_SOURCES)) -> set[str]:
    return {
        name
        for fts, _ in (_SOURCES[source] for source in sources)
        for name in (fts, f"{fts}_insert", f"{fts}_update", f"{fts}_delete")
    }


def _fts5_trigram_available(connection: Connection) -> bool:
    """Whether this SQLite has FTS5 with the trigram tokenizer (3.34 and later)."""
    try:
        connection.exec_driver_sql(
            "CREATE VIRTUAL TABLE temp.search_probe USING fts5(x, tokenize = 'trigram')"
        )
    except OperationalError:  # "no such module: fts5" or "no such tokenizer: trigram"
        return False
    connection.exec_driver_sql("DROP TABLE temp.search_probe")
    return True


def create_sqlite_search_index(connection: Connection) -> bool:
    """Create the FTS tables and triggers, and fill the tables from the rows there are.

    Returns False, with a warning, when this SQLite has no FTS5 trigram tokenizer:
    search then scans with LIKE, which gives the same results, slower.
    """
    if not _fts5_trigram_available(connection):
        logger.warning("SQLite %s has no FTS5 trigram tokenizer; search will scan",
                       connection.dialect.server_version_info)
        return False
    for statement in _sqlite_statements():
        connection.exec_driver_sql(statement)
    for source, (fts, columns) in _SOURCES.items():
        cols = ", ".join(columns)
        folded = ", ".join(f"{SEARCH_FOLD}({c})" for c in columns)
        connection.exec_driver_sql(f"DELETE FROM {fts}")  # noqa: S608
        connection.exec_driver_sql(
            f"INSERT INTO {fts}(rowid, {cols}) SELECT id, {folded} FROM {source}"  # noqa: S608
        )
    return True


@event.listens_for(db.metadata, "after_create")
def _create_search_index(metadata, connection: Connection, **kw) -> None:
    if connection.dialect.name == "sqlite":
        create_sqlite_search_index(connection)


_missing: weakref.WeakKeyDictionary[Engine, frozenset[str]] = weakref.WeakKeyDictionary()


def sqlite_search_index_ready(connection: Connection, sources=CONTACT_SOURCES) -> bool:
    """Whether this SQLite database has the FTS tables of these source tables and every
    trigger that fills them.

    Checked once per engine; when something is missing, the searches that read it scan
    (same results) and a warning says so once.
    """
    engine = connection.engine
    missing = _missing.get(engine)
    if missing is None:
        wanted = _sqlite_object_names()
        present = set(connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')"
        ).scalars())
        missing = _missing[engine] = frozenset(wanted - present)
        if missing:
            logger.warning("The search index is missing %s; searches that need it will scan",
                           ", ".join(sorted(missing)))
    return not missing & _sqlite_object_names(sources)


# -- Alembic autogenerate ----------------------------------------------------------------

_FTS_SHADOWS = ("data", "idx", "content", "docsize", "config")
SQLITE_INDEX_TABLES = frozenset(
    name
    for fts, _ in _SOURCES.values()
    for name in (fts, *(f"{fts}_{shadow}" for shadow in _FTS_SHADOWS))
)


def include_name(name, type_, parent_names) -> bool:
    """Autogenerate hook: the SQLite FTS tables (and FTS5's own shadow tables) are not
    models; migrations 0008 and 0019 own them."""
    return not (type_ == "table" and name in SQLITE_INDEX_TABLES)
