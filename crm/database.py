"""Engine-level settings that every connection needs."""

from __future__ import annotations

import functools
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

_configured = False
SEARCH_FOLD = "rapport_fold"  # the SQLite function search_fold() is registered as
DEFAULT_BUSY_TIMEOUT_MS = 15000
BUSY_TIMEOUT_KEY = "rapport_busy_timeout_ms"
WRITE_LOCK_POLL_MS = 2
ASIDE_LOCK_WAIT_MS = 50


def configure_engine_events() -> None:
    """Turn on WAL, a busy timeout and foreign keys for every SQLite connection, and
    begin write transactions with BEGIN IMMEDIATE."""
    global _configured
    if _configured:
        return
    _configured = True

    @event.listens_for(Engine, "connect")
    def _sqlite_pragmas(dbapi_connection, connection_record):
        module = type(dbapi_connection).__module__
        if not module.startswith("sqlite3"):
            return
        from flask import current_app, has_app_context

        timeout = DEFAULT_BUSY_TIMEOUT_MS
        if has_app_context():
            timeout = int(current_app.config.get("SQLITE_BUSY_TIMEOUT_MS", timeout))
        connection_record.info[BUSY_TIMEOUT_KEY] = timeout
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={timeout}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # The search index's triggers and searches fold case with Python's rules (SQLite's
        # lower() folds only ASCII letters).
        dbapi_connection.create_function(SEARCH_FOLD, 1, search_fold, deterministic=True)
        # SQLAlchemy's "begin" event below issues BEGIN itself; pysqlite's implicit
        # BEGIN would come late, after the first reads of a transaction.
        dbapi_connection.isolation_level = None

    @event.listens_for(Engine, "begin")
    def _sqlite_begin(conn):
        if conn.dialect.name != "sqlite":
            return
        # A transaction that reads and then writes must take the write lock up front:
        # upgrading a read lock later fails at once ("database is locked") when another
        # process committed in between, instead of waiting for the busy timeout.
        if _expects_writes(conn):
            _begin_immediate(conn)
        else:
            conn.exec_driver_sql("BEGIN")


def search_fold(text: str | None) -> str | None:
    """Text as SQLite's search index holds it, and as a term is compared with it: folded
    by Unicode case folding, so "ÉMILE" finds "Émile" and "ΟΔΟΣ" finds "Οδός"'s tag.
    Turkish's capital dotted İ folds to i, as PostgreSQL's lower() folds it (case folding
    alone makes it i and a combining dot, which "izmir" is not found in). PostgreSQL folds
    with its own lower() on both sides instead (its trigram indexes are on lower(column))."""
    return None if text is None else text.replace("\u0130", "i").casefold()


def _begin_immediate(conn) -> None:
    """BEGIN IMMEDIATE, waiting for the write lock in steps of WRITE_LOCK_POLL_MS.

    SQLite's own busy handler sleeps longer and longer (up to 100 ms a time) while it
    waits, so under steady contention a writer sleeps on long after the lock is free;
    polling in short steps hands the lock on within a couple of milliseconds. The whole
    wait is still bounded by the connection's busy timeout (SQLITE_BUSY_TIMEOUT_MS)."""
    fairy = conn.connection
    raw = fairy.dbapi_connection
    timeout_ms = fairy.info.get(BUSY_TIMEOUT_KEY, DEFAULT_BUSY_TIMEOUT_MS)
    wait_ms = min(timeout_ms, conn.get_execution_options().get("rapport_lock_wait_ms",
                                                               timeout_ms))
    deadline = time.monotonic() + wait_ms / 1000
    raw.execute(f"PRAGMA busy_timeout={WRITE_LOCK_POLL_MS}")
    try:
        while time.monotonic() < deadline:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                # SQLITE_BUSY and its extended codes (recovery, snapshot, timeout).
                if getattr(exc, "sqlite_errorcode", 0) & 0xFF != sqlite3.SQLITE_BUSY:
                    break
        # Out of time (or another error): a last try through SQLAlchemy, which reports
        # the failure like any other statement's.
        raw.execute("PRAGMA busy_timeout=0")
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    finally:
        raw.execute(f"PRAGMA busy_timeout={timeout_ms}")


def off_index(column):
    """The column's value in a form no index answers (column + 0), for a test that must
    stay in a query without steering its plan. Without statistics SQLite takes the index
    that matches the most terms, usually the owner's, even when another one (a contact's,
    the search matches) leads to far fewer rows."""
    return column + 0


def _expects_writes(conn) -> bool:
    """Requests that change data and every CLI or worker transaction write; page views
    and API reads only read. The rapport_writes execution option says so explicitly
    (True for a write aside in a page view, False for the worker's long reads)."""
    declared = conn.get_execution_options().get("rapport_writes")
    if declared is not None:
        return bool(declared)
    return not _reading_request()


def _reading_request() -> bool:
    from flask import has_request_context, request

    return has_request_context() and request.method in ("GET", "HEAD", "OPTIONS")


# What a write aside can fail with short of a bug, and what its callers skip the write on:
# a lock not had in time, a conflict with a concurrent write (DBAPIError), or no free
# connection in the pool (TimeoutError).
ASIDE_FAILURES = (DBAPIError, PoolTimeout)


@contextmanager
def write_aside() -> Iterator[Connection]:
    """A connection for a small write a request makes on the side (a token's last use,
    a cache row), which must never wait on the request itself.

    In a reading request it is a short transaction of its own, committed at the end of the
    block, which waits at most ASIDE_LOCK_WAIT_MS for a lock (then the caller skips the
    write: a long import elsewhere must not hold up a page view). In a writing request the
    request already holds SQLite's only write lock, so a second connection would wait for
    it until the busy timeout: the write goes into a savepoint of the request's own
    transaction instead, and is kept if the request commits."""
    from crm.extensions import db

    if _reading_request():
        with db.engine.connect().execution_options(
                rapport_writes=True, rapport_lock_wait_ms=ASIDE_LOCK_WAIT_MS) as connection, \
                connection.begin():
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{ASIDE_LOCK_WAIT_MS}ms'")
            yield connection
    else:
        with db.session.begin_nested():
            yield db.session.connection()


def writing_request() -> bool:
    """A request that may change data (not GET, HEAD or OPTIONS)."""
    from flask import has_request_context

    return has_request_context() and not _reading_request()


def lock_user(user_id: int):
    """The user, read again under its row lock, which is held until the transaction ends
    (PostgreSQL; SQLite ignores FOR UPDATE, its write transactions take turns already).

    Every request that writes takes its user's lock first (crm.auth.services.load_user,
    the API's authentication), so one user's writes take turns as on SQLite: two tabs
    editing one contact, a delete racing an edit, a merge racing a log, a double-clicked
    import confirmation, see each other's commits instead of deadlocking, answering 500 or
    losing rows, and every transaction locks the user before any of their rows. Services
    that create or rename tags and mediums (unique per user by name_key, which no
    constraint can say) take it too, for callers outside a request. The read refreshes a
    User already loaded (a changed session version, a deleted account); None if the user
    is gone."""
    from crm.extensions import db

    return db.session.scalars(user_by_id(locked=True), {"user_id": user_id}).first()


@functools.cache
def user_by_id(*, locked: bool = False):
    """SELECT the user whose id is the parameter `user_id`; `locked`: under its row lock,
    refreshing a User already loaded (lock_user). Every request runs one of these, so the
    statement is built once per process rather than per request (building a statement and
    its cache key cost about twice as much as running it on SQLite)."""
    from sqlalchemy import bindparam, select

    from crm.models import User

    statement = select(User).where(User.id == bindparam("user_id"))
    if locked:
        # FOR NO KEY UPDATE: writers of one user still take turns, but a foreign key to the
        # user (the worker inserting a delivery while it holds the reminder) is not blocked,
        # which would deadlock with a request that locked the user and then the reminder.
        statement = statement.with_for_update(key_share=True).execution_options(
            populate_existing=True)
    return statement


def touch_if_changed(record) -> None:
    """Move record.updated_at when anything of it changed, its collections (tags,
    participants) included: the onupdate default fires only when the row itself is updated,
    and API clients read updated_at as the record's change marker."""
    from crm.extensions import db
    from crm.models import utcnow

    if db.session.is_modified(record, include_collections=True):
        record.updated_at = utcnow()


@functools.cache
def _code_revisions(directory: str) -> tuple[str, frozenset[str]]:
    """The migrations' head and every revision they know (read once per process)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(directory)
    return scripts.get_current_head(), frozenset(r.revision for r in scripts.walk_revisions())


def migrations_pending(session) -> tuple[str, str] | None:
    """(the database's revision, the code's) when the database is behind the code's
    migrations: pages and jobs that need the newer schema fail until `crm db upgrade`. A
    database ahead of the code (upgraded first, during a deploy) is fine: migrations only
    add what old code can ignore. Raises the database's error when it has no schema."""
    from flask import current_app

    current = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    head, known = _code_revisions(current_app.extensions["migrate"].directory)
    if current == head or (current is not None and current not in known):
        return None
    return current or "none", head


# -- telling an unavailable database from a fault ------------------------------------------

# A password in a URL or a libpq keyword string, should a driver ever quote one.
_SECRET = re.compile(r"(?P<keep>://[^:/@\s]*:|password\s*=\s*)[^@\s]+(?P<at>@?)", re.IGNORECASE)
# PostgreSQL's SQLSTATEs that waiting may mend: a connection exception (class 08), the server
# shutting down or starting (57P01-03), too many connections, a lock or statement timeout,
# a serialization failure or deadlock (class 40).
_TRANSIENT_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300", "55P03", "57014", "40")
# SQLite's messages for a database another process holds. (A file that cannot be opened is
# a wrong path or permission: a fault, which waiting does not mend.)
_SQLITE_UNAVAILABLE = ("database is locked", "database table is locked")
# What a driver error without a SQLSTATE (psycopg's) says when the connection itself failed:
# refused, timed out, closed under it. Its other such errors are the app's own faults (too
# many parameters in a statement, a NUL in text).
_CONNECTION_FAILED = ("connection", "consuming input failed", "could not send data",
                      "could not receive data", "timeout expired", "server closed")
# A connection the server refused for good: waiting mends none of these.
_REFUSED_FOR_GOOD = ("does not exist", "authentication failed", "no pg_hba.conf entry")


def first_line(exc: BaseException) -> str:
    """The first line of the database's own message, without a password."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    line = text.splitlines()[0] if text else exc.__class__.__name__
    return _SECRET.sub(lambda m: f"{m['keep']}***{m['at']}", line)


def schema_missing(text: str) -> bool:
    """Whether a database's message says a table or column is missing (not migrated)."""
    return ("no such table" in text or "no such column" in text
            or (("relation" in text or "column" in text) and "does not exist" in text))


def unavailable(exc: BaseException) -> str | None:
    """The first line of the error when it says the database cannot be used right now and
    waiting may mend it (unreachable, dropped, restarting, locked by another writer past the
    timeout, a statement cancelled), else None: an error in a statement, a missing table, a
    wrong database name or password are faults, reported as such. One rule for the web's 503
    and the worker's retries."""
    if isinstance(exc, (DisconnectionError, PoolTimeout)):
        return first_line(exc)
    if not isinstance(exc, DBAPIError):
        return None
    orig, line = exc.orig, first_line(exc)
    if exc.connection_invalidated:
        return line
    code = getattr(orig, "sqlstate", None)
    if code:
        return line if code.startswith(_TRANSIENT_SQLSTATES) else None
    if isinstance(orig, sqlite3.Error):
        return line if any(m in line.lower() for m in _SQLITE_UNAVAILABLE) else None
    lowered = line.lower()
    if not isinstance(exc, (OperationalError, InterfaceError)) or not any(
            m in lowered for m in _CONNECTION_FAILED):
        return None
    if any(m in lowered for m in _REFUSED_FOR_GOOD):
        return None
    return line
