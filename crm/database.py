"""Engine-level settings that every connection needs."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine

_configured = False


def configure_engine_events() -> None:
    """Turn on WAL, a busy timeout and foreign keys for every SQLite connection."""
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
