"""Engine-level settings that every connection needs."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine

_configured = False
# Execution options for a connection whose transactions write (see _expects_writes).
WRITES = {"rapport_writes": True}


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

        timeout = 15000
        if has_app_context():
            timeout = int(current_app.config.get("SQLITE_BUSY_TIMEOUT_MS", timeout))
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={timeout}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
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
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _expects_writes(conn) else "BEGIN")


def _expects_writes(conn) -> bool:
    """Requests that change data, connections opened with WRITES, and every CLI or
    worker transaction write; page views and API reads only read."""
    from flask import has_request_context, request

    if not has_request_context() or conn.get_execution_options().get("rapport_writes"):
        return True
    return request.method not in ("GET", "HEAD", "OPTIONS")
