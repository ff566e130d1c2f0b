"""Configuration: defaults, then instance/config.py, then CRM_* environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask


class Defaults:
    """Settings every deployment starts from."""

    SECRET_KEY: str | None = None
    DATABASE_URL: str | None = None  # None means SQLite in the instance folder
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    SQLITE_BUSY_TIMEOUT_MS = 15000
    CONTACTS_PER_PAGE = 25
    INTERACTIONS_PER_PAGE = 50
    PHONE_DEFAULT_REGION: str | None = None  # e.g. "GB" to accept national numbers
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # tokens live as long as the session


def load_config(app: Flask, test_config: dict | None) -> None:
    """Layer the configuration and settle the database URL."""
    app.config.from_object(Defaults)
    if test_config is None:
        _ensure_instance_config(app)
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("CRM")
    else:
        app.config.from_mapping(test_config)

    url = app.config.get("DATABASE_URL") or _default_sqlite_url(app)
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(url)
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError(
            "No SECRET_KEY: set CRM_SECRET_KEY or put SECRET_KEY in instance/config.py"
        )


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgres:// URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _default_sqlite_url(app: Flask) -> str:
    return "sqlite:///" + str(Path(app.instance_path) / "rapport.sqlite3")


def _ensure_instance_config(app: Flask) -> None:
    """Create the instance folder, and a config with a fresh secret key, on first run."""
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    config_file = instance / "config.py"
    if config_file.exists() or os.environ.get("CRM_SECRET_KEY"):
        return
    content = (
        '"""Local settings for this Rapport instance (generated on first run)."""\n\n'
        f"SECRET_KEY = {secrets.token_urlsafe(48)!r}\n"
    )
    # O_EXCL: two processes starting at once must not overwrite each other's key.
    try:
        fd = os.open(config_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as fh:
        fh.write(content)
