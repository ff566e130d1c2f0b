"""Configuration layering, database URLs and the SQLite connection settings."""

from __future__ import annotations

import os
import stat
import threading

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from crm import create_app
from crm.config import load_config, normalise_database_url
from crm.extensions import db
from crm.models import Contact


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@db.example:5432/crm", "postgresql+psycopg://u:p@db.example:5432/crm"),
        ("postgresql://u@localhost/crm", "postgresql+psycopg://u@localhost/crm"),
        ("postgresql+psycopg://u@localhost/crm", "postgresql+psycopg://u@localhost/crm"),
        ("sqlite:////var/lib/rapport/crm.sqlite3", "sqlite:////var/lib/rapport/crm.sqlite3"),
        ("sqlite://", "sqlite://"),
    ],
)
def test_normalise_database_url(url, expected):
    assert normalise_database_url(url) == expected


@pytest.fixture
def clean_env(monkeypatch):
    """No CRM_* setting from the surrounding shell leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("CRM_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def instance_app(tmp_path):
    return Flask("rapport_config_test", instance_path=str(tmp_path / "instance"),
                 instance_relative_config=True)


def test_first_run_writes_a_private_secret_key_once(clean_env, instance_app):
    load_config(instance_app, None)

    config_file = os.path.join(instance_app.instance_path, "config.py")
    assert stat.S_IMODE(os.stat(config_file).st_mode) == 0o600
    key = instance_app.config["SECRET_KEY"]
    assert len(key) >= 48
    assert instance_app.config["SQLALCHEMY_DATABASE_URI"] == (
        "sqlite:///" + os.path.join(instance_app.instance_path, "rapport.sqlite3")
    )

    again = Flask("rapport_config_test", instance_path=instance_app.instance_path,
                  instance_relative_config=True)
    load_config(again, None)
    assert again.config["SECRET_KEY"] == key


def test_environment_overrides_the_instance_config(clean_env, instance_app):
    os.makedirs(instance_app.instance_path)
    with open(os.path.join(instance_app.instance_path, "config.py"), "w") as fh:
        fh.write("SECRET_KEY = 'from-file'\nCONTACTS_PER_PAGE = 10\nDATABASE_URL = 'sqlite://'\n")
    clean_env.setenv("CRM_DATABASE_URL", "postgres://rapport@db/rapport")
    clean_env.setenv("CRM_CONTACTS_PER_PAGE", "40")

    load_config(instance_app, None)

    assert instance_app.config["SECRET_KEY"] == "from-file"
    assert instance_app.config["CONTACTS_PER_PAGE"] == 40
    assert instance_app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://rapport@db/rapport"


def test_secret_key_from_the_environment_writes_no_file(clean_env, instance_app):
    clean_env.setenv("CRM_SECRET_KEY", "from-env")

    load_config(instance_app, None)

    assert instance_app.config["SECRET_KEY"] == "from-env"
    assert not os.path.exists(os.path.join(instance_app.instance_path, "config.py"))


def test_test_config_replaces_instance_config_and_environment(clean_env, instance_app):
    clean_env.setenv("CRM_CONTACTS_PER_PAGE", "99")

    load_config(instance_app, {"SECRET_KEY": "k", "DATABASE_URL": "sqlite://"})

    assert instance_app.config["CONTACTS_PER_PAGE"] == 25
    assert not os.path.exists(instance_app.instance_path)


def test_missing_secret_key_is_refused(instance_app):
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        load_config(instance_app, {"DATABASE_URL": "sqlite://"})


def test_create_app_without_test_config_uses_the_instance_folder(clean_env, tmp_path,
                                                                 monkeypatch):
    instance = tmp_path / "instance"
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(instance))

    threads_before = {t.ident for t in threading.enumerate()}

    app = create_app()

    assert app.instance_path == str(instance)
    assert (instance / "config.py").exists()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'rapport.sqlite3'}"
    # No scheduler (or anything else) starts a thread in the factory.
    assert {t.ident for t in threading.enumerate()} == threads_before


@pytest.mark.sqlite_only
@pytest.mark.app_config(SQLITE_BUSY_TIMEOUT_MS=4321)
def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(app):
    with app.app_context():
        pragma = {
            name: db.session.execute(text(f"PRAGMA {name}")).scalar()
            for name in ("foreign_keys", "journal_mode", "busy_timeout")
        }
        assert pragma == {"foreign_keys": 1, "journal_mode": "wal", "busy_timeout": 4321}


@pytest.mark.app_config(SQLITE_BUSY_TIMEOUT_MS=150)
def test_a_writer_waits_for_the_lock_only_as_long_as_the_busy_timeout(app, db_backend):
    """BEGIN IMMEDIATE polls for SQLite's write lock in short steps: while another process
    holds it past the busy timeout the transaction fails as SQLAlchemy's OperationalError,
    and once the lock is free the next one begins, with the busy timeout as configured."""
    if db_backend != "sqlite":
        pytest.skip("the write lock is SQLite's")
    import sqlite3
    import time

    from sqlalchemy.exc import OperationalError

    holder = sqlite3.connect(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"),
                             isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with app.app_context():
        try:
            started = time.monotonic()
            with pytest.raises(OperationalError, match="database is locked"):
                db.session.execute(text("SELECT 1"))
            assert time.monotonic() - started >= 0.14  # it waited out the busy timeout
            db.session.rollback()
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        # Outside a request every transaction begins with BEGIN IMMEDIATE: this one gets
        # the lock, on a connection that still waits 150 ms for it.
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar() == 150
        db.session.rollback()


def test_foreign_keys_are_enforced(app):
    with app.app_context():
        db.session.add(Contact(owner_id=424242, name="Nobody's"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
