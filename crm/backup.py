"""Online backups of the SQLite database (safe while the app and worker run)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """The backup cannot be made; the message says why."""


def sqlite_path(database_uri: str) -> Path:
    """The file behind a sqlite:/// URL."""
    url = make_url(database_uri)
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            "crm backup copies SQLite databases. For PostgreSQL use pg_dump, e.g. "
            "pg_dump --format=custom --file=rapport.dump \"$CRM_DATABASE_URL\" "
            "(restore with pg_restore --clean --dbname=...)."
        )
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory database has nothing to back up")
    return Path(url.database)


def backup_sqlite(database_uri: str, destination: Path, *, pages_per_step: int = 1024) -> int:
    """Copy the live database to destination with SQLite's online backup API.

    Writers may keep writing meanwhile; the copy is a consistent snapshot.
    Returns the size of the backup in bytes.
    """
    source_path = sqlite_path(database_uri)
    if not source_path.exists():
        raise BackupError(f"no database at {source_path}")
    destination = Path(destination)
    if destination.exists():
        raise BackupError(f"{destination} exists already; choose a new file")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(partial)
    try:
        source.backup(target, pages=pages_per_step)
        check = target.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"the copy failed its integrity check: {check}")
    finally:
        target.close()
        source.close()
    partial.rename(destination)
    return destination.stat().st_size
