"""The schema comes from the Alembic migrations, and they agree with the models."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import make_url

from crm import create_app
from crm.extensions import db
from crm.models import BUILTIN_MEDIUMS, Medium

PG_ENV = "CRM_TEST_DATABASE_URL"


@pytest.fixture
def empty_database(db_backend, tmp_path) -> Iterator[str]:
    """A URL to a database with nothing in it."""
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        return
    import psycopg

    base = make_url(os.environ[PG_ENV])
    name = f"rapport_migrations_{os.getpid()}_{secrets.token_hex(4)}"
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _differences() -> list:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "target_metadata": db.metadata}
        )
        return compare_metadata(context, db.metadata)


def test_upgrade_gives_the_models_schema_and_the_builtin_mediums(empty_database):
    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": empty_database, "TESTING": True})
    with app.app_context():
        upgrade()
        assert _differences() == []
        names = dict(db.session.execute(
            select(Medium.key, Medium.name).where(Medium.owner_id.is_(None))).all())
        assert names == BUILTIN_MEDIUMS
        db.session.rollback()  # end the read before the migration takes the write lock
        # Down to nothing and back up again.
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert _differences() == []
        assert db.session.scalar(select(func.count()).select_from(Medium)) == 9
        db.engine.dispose()


def test_the_comparison_notices_a_schema_that_drifted(empty_database):
    """Guard against a comparison that cannot fail: drop an index and it must be reported."""
    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": empty_database, "TESTING": True})
    with app.app_context():
        upgrade()
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DROP INDEX ix_contacts_owner_last")
        assert any("ix_contacts_owner_last" in str(diff) for diff in _differences())
        db.engine.dispose()
