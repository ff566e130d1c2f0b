"""Online backups of the SQLite database (safe while the app and worker run)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import URL, make_url


class BackupError(Exception):
    """The backup cannot be made; the message says why."""


def sqlite_path(database_uri: str) -> Path:
    """The file behind a sqlite:/// URL."""
    url = make_url(database_uri)
    if url.get_backend_name() != "sqlite":
        # pg_dump reads libpq's URL: no "+psycopg". The password is left out rather than
        # masked: a command printed with "***" in it would fail as printed.
        libpq = URL.create(url.get_backend_name(), url.username, None, url.host, url.port,
                           url.database, url.query).render_as_string()
        password = (" Give the password with PGPASSWORD or ~/.pgpass, not on the command line."
                    if url.password else "")
        raise BackupError(
            "crm backup copies SQLite databases. For PostgreSQL use pg_dump: "
            f"pg_dump --format=custom --file=rapport.dump '{libpq}' "
            "(restore into an empty database with pg_restore --no-owner --dbname=URL "
            f"rapport.dump).{password}"
        )
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory database has nothing to back up")
    return Path(url.database)


def backup_sqlite(database_uri: str, destination: Path) -> int:
    """Copy the live database to destination with SQLite's online backup API.

    Writers may keep writing meanwhile; the copy is a consistent snapshot. It is taken in
    one step, inside one read transaction, which WAL lets writers work beside: copied in
    steps, it started over after every commit of another connection, and under steady
    writes a large database never finished. Returns the size of the backup in bytes.
    """
    source_path = sqlite_path(database_uri)
    if not source_path.exists():
        raise BackupError(f"no database at {source_path}")
    destination = Path(destination)
    if destination.exists():
        raise BackupError(f"{destination} exists already; choose a new file")
    partial = destination.with_name(destination.name + ".partial")
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
        try:
            target = sqlite3.connect(partial)
            try:
                source.backup(target, pages=-1)
                check = target.execute("PRAGMA integrity_check").fetchone()[0]
                if check != "ok":
                    raise BackupError(f"the copy failed its integrity check: {check}")
            finally:
                target.close()
        finally:
            source.close()
        partial.rename(destination)
    except (OSError, sqlite3.Error) as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"cannot back up {source_path} to {destination}: {exc}") from exc
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    return destination.stat().st_size
