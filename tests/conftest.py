"""Fixtures: the app factory on a fresh database per test, clients, and data factories.

Every test that uses `app` (directly or through `client`, `auth`, `make_*`) runs once on
SQLite and, when CRM_TEST_DATABASE_URL is set, once more on PostgreSQL; ids read
``test_x[sqlite]`` / ``test_x[postgresql]``. Mark a test ``sqlite_only`` to run it on SQLite
alone. ``@pytest.mark.app_config(KEY=value)`` adds settings to the test configuration.

No app context stays pushed during a test: each request gets its own context and session,
as in production. Test code that reads or writes the database opens
``with app.app_context():`` itself. The factories return detached objects whose columns
are loaded (``user.id``, ``contact.name`` work; relationships do not).
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from unittest import mock

import pytest
from flask import Flask
from jinja2 import BytecodeCache
from sqlalchemy import select
from sqlalchemy.engine import make_url
from support import PASSWORD, AuthActions

from crm import create_app
from crm.extensions import db

PG_ENV = "CRM_TEST_DATABASE_URL"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "app_config(**settings): extra settings for this test's create_app"
    )


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get(PG_ENV) else ["sqlite"]


def pytest_generate_tests(metafunc):
    """Run every database-backed test on each configured database."""
    if "db_backend" in metafunc.fixturenames:
        backends = _backends()
        if metafunc.definition.get_closest_marker("sqlite_only"):
            backends = ["sqlite"]
        metafunc.parametrize("db_backend", backends, indirect=True)


@pytest.fixture
def db_backend(request) -> str:
    """The database this test runs on: "sqlite" or "postgresql"."""
    return request.param


# --- PostgreSQL: one throwaway database per test session ------------------------------


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """Create a uniquely named database with the schema, and drop it at the end."""
    import psycopg

    base = make_url(os.environ[PG_ENV])
    name = f"rapport_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin_dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = base.set(drivername="postgresql+psycopg", database=name).render_as_string(
        hide_password=False
    )
    try:
        schema_app = create_app(_test_config(url))
        with schema_app.app_context():
            db.create_all()
            _stamp_head()
            db.session.commit()
            db.engine.dispose()
        yield url
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _stamp_head() -> None:
    """Record the schema create_all() made as the migrations' head, as `crm db upgrade`
    would (/healthz compares the two)."""
    from flask import current_app

    from crm.database import _code_revisions

    head, _ = _code_revisions(current_app.extensions["migrate"].directory)
    db.session.execute(db.text("CREATE TABLE IF NOT EXISTS alembic_version "
                               "(version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
    db.session.execute(db.text("DELETE FROM alembic_version"))
    db.session.execute(db.text("INSERT INTO alembic_version VALUES (:head)"), {"head": head})


def _empty_all_tables() -> None:
    """Delete every row and restart every id sequence.

    Not TRUNCATE: on PostgreSQL it rewrites each table's files and costs ~100 ms per test
    even on empty tables, while deleting the few rows a test leaves behind takes ~5 ms.
    Children go before parents (reverse dependency order); a foreign key left out of that
    order (use_alter, e.g. contacts.last_interaction_id) must be ON DELETE SET NULL.
    """
    tables = db.metadata.sorted_tables
    for table in reversed(tables):
        db.session.execute(table.delete())
    db.session.execute(
        db.text(
            "SELECT setval(pg_get_serial_sequence(t, 'id'), 1, false) "
            "FROM unnest(CAST(:tables AS text[])) AS t"
        ),
        {"tables": [f'"{t.name}"' for t in tables if "id" in t.c]},
    )


# --- the app --------------------------------------------------------------------------


class _SessionBytecodeCache(BytecodeCache):
    """Compile each template once per test session rather than once per test's app.

    Jinja keys each entry by template name and checks it against the source's checksum,
    so an edited template is compiled afresh. Rendering itself is untouched.
    """

    def __init__(self):
        self._store: dict[str, bytes] = {}

    def load_bytecode(self, bucket):
        data = self._store.get(bucket.key)
        if data is not None:
            bucket.bytecode_from_string(data)

    def dump_bytecode(self, bucket):
        self._store[bucket.key] = bucket.bytecode_to_string()


_TEMPLATE_CACHE = _SessionBytecodeCache()


def _test_config(database_url: str, **extra) -> dict:
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "DATABASE_URL": database_url,
        "WTF_CSRF_ENABLED": False,
        # Throttling has its own tests (test_hardening.py); elsewhere it only adds noise.
        "RATELIMIT_ENABLED": False,
    }
    config.update(extra)
    return config


@pytest.fixture
def app(request, db_backend, tmp_path) -> Iterator[Flask]:
    """A fresh app on an empty database that holds only the built-in mediums."""
    from crm.mediums.services import ensure_builtin_mediums

    extra: dict = {}
    for marker in reversed(list(request.node.iter_markers("app_config"))):
        extra.update(marker.kwargs)

    if db_backend == "postgresql":
        url = request.getfixturevalue("pg_database_url")
    else:
        url = f"sqlite:///{tmp_path / 'rapport-test.sqlite3'}"
    app = create_app(_test_config(url, **extra))
    app.jinja_env.bytecode_cache = _TEMPLATE_CACHE
    with app.app_context():
        if db_backend == "postgresql":
            _empty_all_tables()
        else:
            db.create_all()
            _stamp_head()
        ensure_builtin_mediums()
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def auth(client) -> AuthActions:
    """Register, log in and log out through the real endpoints (see support.AuthActions)."""
    return AuthActions(client)


# --- factories ------------------------------------------------------------------------


def _detach(obj):
    """Load obj's columns and detach it, so tests can read it outside an app context."""
    db.session.refresh(obj)
    db.session.expunge(obj)
    return obj


@pytest.fixture(scope="session")
def password_hash() -> str:
    """One real scrypt hash of PASSWORD, computed once per session."""
    from crm.auth.services import hash_password

    return hash_password(PASSWORD)


_serial = itertools.count(1)


@pytest.fixture
def make_user(app, password_hash):
    """Create an account through crm.auth.services.register_user and commit.

    Hashing with scrypt costs ~0.1 s, so when the password is the default PASSWORD the
    factory hands register_user the one hash precomputed for the session (a real scrypt
    hash of PASSWORD, so logging in through /login works). The substitution is scoped to
    the register_user call; any other password, and every other caller, hashes for real.
    Its address is confirmed unless confirmed=False (as an account of `crm create-user`).
    """
    from crm.auth import services as auth_services

    def factory(**overrides):
        n = next(_serial)
        password = overrides.pop("password", PASSWORD)
        fields = {"email": f"user{n}@example.com", "name": f"User {n}", "time_zone": "UTC",
                  "confirmed": True}
        fields.update(overrides)
        with app.app_context():
            if password == PASSWORD:
                with mock.patch.object(auth_services, "hash_password", lambda _: password_hash):
                    user = auth_services.register_user(password=password, **fields)
            else:
                user = auth_services.register_user(password=password, **fields)
            db.session.commit()
            return _detach(user)

    return factory


def _medium_by_key(key: str):
    from crm.models import Medium

    medium = db.session.scalar(select(Medium).where(Medium.key == key, Medium.owner_id.is_(None)))
    if medium is None:
        raise LookupError(f"no built-in medium {key!r}")
    return medium


def _resolve_medium(value):
    from crm.models import Medium

    if value is None:
        return None
    if isinstance(value, str):
        return _medium_by_key(value)
    return db.session.get(Medium, value if isinstance(value, int) else value.id)


@pytest.fixture
def medium(app):
    """medium("twitter") -> the built-in Medium with that key (detached)."""

    def fetch(key: str):
        with app.app_context():
            return _detach(_medium_by_key(key))

    return fetch


@pytest.fixture
def make_medium(app):
    """Create one of the user's own mediums through the service and commit."""
    from crm.mediums.services import create_medium
    from crm.models import User

    def factory(user, name: str):
        with app.app_context():
            m = create_medium(db.session.get(User, user.id), name)
            db.session.commit()
            return _detach(m)

    return factory


@pytest.fixture
def make_contact(app):
    """Create a contact through crm.contacts.services.create_contact and commit.

    Overrides are ContactData fields; origin_medium may be a built-in key, a Medium or an
    id; introduced_by a Contact or an id; tags a list or a comma-separated string.
    """
    from crm.contacts.services import ContactData, create_contact, parse_tags
    from crm.models import Contact, User

    def factory(user, **overrides):
        n = next(_serial)
        overrides.setdefault("name", f"Contact {n}")
        with app.app_context():
            if isinstance(overrides.get("tags"), str):
                overrides["tags"] = parse_tags(overrides["tags"])
            if "origin_medium" in overrides:
                overrides["origin_medium"] = _resolve_medium(overrides["origin_medium"])
            introducer = overrides.get("introduced_by")
            if introducer is not None:
                overrides["introduced_by"] = db.session.get(
                    Contact, introducer if isinstance(introducer, int) else introducer.id
                )
            contact = create_contact(db.session.get(User, user.id), ContactData(**overrides))
            db.session.commit()
            return _detach(contact)

    return factory


DEFAULT_OCCURRED_AT = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def make_interaction(app):
    """Log an interaction through crm.interactions.services.log_interaction and commit.

    contacts is one contact or a list; medium_key names a built-in, or pass medium= (a
    Medium or id) for a custom one. occurred_at must be aware; it defaults to a fixed time.
    """
    from crm.interactions.services import InteractionData, log_interaction
    from crm.models import Contact, Initiator, User

    def factory(user, contacts, medium_key: str = "email", occurred_at=None, **overrides):
        if not isinstance(contacts, list | tuple):
            contacts = [contacts]
        with app.app_context():
            medium = _resolve_medium(overrides.pop("medium", None) or medium_key)
            data = InteractionData(
                medium=medium,
                occurred_at=occurred_at or DEFAULT_OCCURRED_AT,
                initiated_by=Initiator(overrides.pop("initiated_by", "me")),
                participants=[db.session.get(Contact, c.id) for c in contacts],
                summary=overrides.pop("summary", f"Talked ({medium.name})"),
                **overrides,
            )
            interaction = log_interaction(db.session.get(User, user.id), data)
            db.session.commit()
            return _detach(interaction)

    return factory


@pytest.fixture
def count(app):
    """count(Model, *conditions) -> number of rows, read in a fresh app context."""
    from sqlalchemy import func

    def counter(model, *where) -> int:
        with app.app_context():
            query = select(func.count()).select_from(model)
            for condition in where:
                query = query.where(condition)
            return db.session.scalar(query)

    return counter


@pytest.fixture
def logged_in(client, auth, make_user):
    """A user, logged into `client` (session cookie, no password hashing)."""
    user = make_user(name="Ada Lovelace", email="ada@example.com")
    auth.login_as(user)
    return user


@pytest.fixture
def api(app, client, make_user):
    """An ApiClient (tests/fixtures/api_client.py) for a user with a personal token."""
    from fixtures.api_client import ApiClient, make_token

    user = make_user(email="api@example.com", time_zone="Europe/London")
    return ApiClient(client, make_token(app, user), user)


# --- reminders (appended; self-contained) ---------------------------------------------


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on 127.0.0.1 and a free port; see tests/smtp.py."""
    from smtp import SMTPServer

    with SMTPServer() as server:
        yield server


@pytest.fixture
def mail_app(app, smtp_server):
    """The app sending email to smtp_server, its links built on support.MAIL_BASE_URL."""
    from support import MAIL_BASE_URL

    app.config.update(smtp_server.app_config(), BASE_URL=MAIL_BASE_URL)
    return app


@pytest.fixture
def make_reminder(app):
    """Create a reminder through crm.reminders.services.create_reminder and commit.

    Give local_date (with local_time, recurrence, title, notes, contact, kind) as the forms
    do, or due_at= (aware) for a one-off at that exact instant. Any other keyword is a
    Reminder column set afterwards (status=..., claimed_by=...).
    """
    from crm.models import Contact, User
    from crm.models.reminder import Recurrence, ReminderKind
    from crm.reminders.schedule import DEFAULT_LOCAL_TIME
    from crm.reminders.services import ReminderData, create_reminder
    from crm.timezones import to_local

    def factory(user, *, local_date=None, local_time=None, due_at=None, recurrence="none",
                title=None, notes="", contact=None, kind="custom", **columns):
        with app.app_context():
            owner = db.session.get(User, user.id)
            if due_at is not None:
                local = to_local(due_at, owner.time_zone)
                local_date, local_time = local.date(), local.time().replace(tzinfo=None)
            data = ReminderData(
                title=title or f"Reminder {next(_serial)}",
                local_date=local_date,
                local_time=local_time or DEFAULT_LOCAL_TIME,
                recurrence=Recurrence(recurrence),
                notes=notes,
                contact=db.session.get(Contact, contact.id) if contact is not None else None,
            )
            reminder = create_reminder(owner, data, kind=ReminderKind(kind))
            if due_at is not None:
                reminder.due_at = due_at
            for name, value in columns.items():
                setattr(reminder, name, value)
            db.session.commit()
            return _detach(reminder)

    return factory



@pytest.fixture
def row(app):
    """row(Model, primary_key) -> that row read in a fresh app context (detached), or None."""

    def fetch(model, key):
        with app.app_context():
            obj = db.session.get(model, key)
            return None if obj is None else _detach(obj)

    return fetch
