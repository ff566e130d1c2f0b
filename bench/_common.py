"""Helpers the benchmarks share: databases to create and drop, free ports, the machine."""

from __future__ import annotations

import os
import platform
import socket
import sqlite3
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_DB_PREFIX = "rapport_bench_"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _psycopg_url(url: str) -> str:
    """A URL psycopg accepts (no SQLAlchemy driver suffix)."""
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    return url


def _with_database(admin_url: str, name: str) -> str:
    base, _, _ = _psycopg_url(admin_url).rpartition("/")
    return f"{base}/{name}"


def pg_reachable(admin_url: str) -> str | None:
    """None when the server answers, else the reason it does not."""
    import psycopg

    try:
        with psycopg.connect(_psycopg_url(admin_url), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "skip PostgreSQL"
        return f"{exc.__class__.__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
    return None


def pg_create_database(admin_url: str, label: str = "pages") -> str:
    """Create a fresh rapport_bench_* database; return its SQLAlchemy URL."""
    import psycopg

    name = f"{BENCH_DB_PREFIX}{label}_{os.getpid()}_{int(time.time())}"
    with psycopg.connect(_psycopg_url(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return "postgresql+psycopg://" + _with_database(admin_url, name)[len("postgresql://"):]


def pg_drop_database(admin_url: str, url: str) -> None:
    """Drop a database pg_create_database made (only rapport_bench_* names)."""
    import psycopg

    name = url.rpartition("/")[2]
    if not name.startswith(BENCH_DB_PREFIX):
        raise ValueError(f"refusing to drop {name!r}: not a benchmark database")
    with psycopg.connect(_psycopg_url(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_version(url: str) -> str:
    import psycopg

    with psycopg.connect(_psycopg_url(url)) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_header(title: str, pg_url: str | None = None) -> list[str]:
    """Dated lines naming the machine, Python and the database versions."""
    u = platform.uname()
    lines = [
        f"{title}: {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"machine: {u.system} {u.release} {u.machine}; {os.cpu_count()} CPUs ({cpu_model()})",
        f"python: {platform.python_version()} ({sys.executable})",
        f"sqlite: {sqlite3.sqlite_version}",
    ]
    if pg_url:
        try:
            lines.append(f"postgresql: {pg_version(pg_url)}")
        except Exception as exc:  # noqa: BLE001
            lines.append(f"postgresql: unavailable ({exc.__class__.__name__})")
    return lines
