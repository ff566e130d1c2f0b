"""The schema comes from the Alembic migrations, and they agree with the models."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import column, func, insert, inspect, select, table, update
from sqlalchemy.engine import make_url

from crm import create_app
from crm.extensions import db
from crm.models import (
    BUILTIN_MEDIUMS,
    Initiator,
    Interaction,
    Medium,
    User,
    interaction_participants,
)
from crm.models.contact import include_object_for
from crm.models.search_index import include_name

PG_ENV = "CRM_TEST_DATABASE_URL"

# The newest migration, the revision a fully upgraded database is at.
HEAD = ScriptDirectory(
    str(Path(__file__).resolve().parent.parent / "migrations")).get_current_head()


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
    """What autogenerate would write, with the options migrations/env.py gives it."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "target_metadata": db.metadata,
                  "include_name": include_name,
                  "include_object": include_object_for(connection.dialect.name)},
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
        # Autogenerate does not see triggers: the head schema must still have the ones
        # that keep participants' times (a SQLite batch rebuild would drop them).
        triggers = db.session.scalars(db.text(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
            if db.engine.dialect.name == "postgresql"
            else "SELECT name FROM sqlite_master WHERE type = 'trigger'")).all()
        assert {"tr_participants_occurred_at", "tr_interactions_occurred_at"} <= set(triggers)
        db.session.rollback()
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


# The columns of contacts an older revision has (the model's table has newer ones).
CONTACTS_AT_0006 = table(
    "contacts", *(column(name) for name in (
        "id", "owner_id", "name", "company", "title", "location", "notes", "is_private",
        "created_at", "updated_at")))


def test_participant_times_are_backfilled_and_kept_by_the_migrated_triggers(empty_database):
    """0007 copies occurred_at into existing participant rows, and its triggers keep the
    copy for rows written later by any statement, not only by the app's services."""
    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": empty_database, "TESTING": True})
    p = interaction_participants

    def interaction(id_, when):
        return insert(Interaction.__table__).values(
            id=id_, owner_id=1, medium_id=phone, occurred_at=when, initiated_by="me",
            summary=f"Interaction {id_}", notes="", is_private=False)

    def times():
        rows = db.session.execute(select(p.c.interaction_id, p.c.occurred_at)
                                  .order_by(p.c.interaction_id)).all()
        db.session.rollback()
        return rows

    with app.app_context():
        upgrade(revision="0006")
        phone = db.session.scalar(select(Medium.id).where(Medium.key == "phone"))
        db.session.rollback()
        with db.engine.begin() as connection:
            connection.execute(insert(User.__table__).values(
                id=1, email="a@example.com", name="A", password_hash="x"))
            connection.execute(insert(CONTACTS_AT_0006).values(
                id=1, owner_id=1, name="Ada", company="", title="", location="", notes="",
                is_private=False, created_at=datetime(2026, 1, 1), updated_at=datetime(2026, 1, 1)))
            connection.execute(interaction(1, datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)))
            connection.execute(insert(p).values(interaction_id=1, contact_id=1))
        upgrade()
        assert times() == [(1, datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC))]

        with db.engine.begin() as connection:
            connection.execute(interaction(2, datetime(2026, 3, 1, tzinfo=UTC)))
            connection.execute(insert(p).values(interaction_id=2, contact_id=1))
            connection.execute(update(Interaction.__table__).where(Interaction.id == 1)
                               .values(occurred_at=datetime(2025, 12, 31, 23, tzinfo=UTC)))
        assert times() == [(1, datetime(2025, 12, 31, 23, tzinfo=UTC)),
                           (2, datetime(2026, 3, 1, tzinfo=UTC))]

        downgrade(revision="0006")
        assert "occurred_at" not in {
            c["name"] for c in inspect(db.engine).get_columns("interaction_participants")}
        db.engine.dispose()


def test_the_search_index_migration_indexes_existing_rows_and_goes_back(empty_database):
    """0008 on a database with contacts: searches find them (SQLite: backfilled FTS rows),
    and going back to 0007 removes the index and keeps the rows. The rows are written at
    the head (the services write today's columns) and taken back to 0007 first."""
    from crm.auth.services import register_user
    from crm.contacts.services import ContactData, add_channel, create_contact, list_contacts
    from crm.models import User

    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": empty_database, "TESTING": True})
    with app.app_context():
        upgrade()
        user = register_user(email="old@example.com", name="Old", password="a-long-password",
                             time_zone="UTC")
        contact = create_contact(user, ContactData(name="Chidi Okafor", company="Lagos Labs",
                                                   tags=["Engineers"]))
        skype = db.session.scalar(select(Medium).where(Medium.key == "skype"))
        add_channel(contact, skype, "Quill.Zanzibar")
        db.session.commit()
        user_id = db.session.scalar(select(User.id))
        db.session.remove()
        downgrade(revision="0007")
        assert "search_contacts" not in inspect(db.engine).get_table_names()

        upgrade()
        user = db.session.get(User, user_id)
        for q in ("kafor", "LAGOS", "ngineer", "ll.zan"):
            assert [c.name for c in list_contacts(user, q=q).items] == ["Chidi Okafor"], q
        if db.engine.dialect.name == "sqlite":
            assert db.session.scalar(db.text("SELECT name FROM search_contacts")) == "chidi okafor"
        db.session.remove()

        downgrade(revision="0007")
        inspector = inspect(db.engine)
        assert not {"search_contacts", "search_tags"} & set(inspector.get_table_names())
        assert not [ix for ix in inspector.get_indexes("contacts") if "trgm" in ix["name"]]
        assert db.session.scalar(select(func.count()).select_from(User)) == 1
        db.engine.dispose()


@pytest.mark.sqlite_only
def test_the_search_fold_migration_refolds_existing_rows_and_goes_back(empty_database):
    """0011 on a database with contacts: the FTS rows written by 0008's lower() (which kept
    non-ASCII capitals) are folded again, so a search in any case finds them; going back to
    0010 puts lower() back. The rows are written at the head (the services write today's
    columns) and taken back to 0010 first."""
    from crm.auth.services import register_user
    from crm.contacts.services import ContactData, create_contact, list_contacts

    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": empty_database, "TESTING": True})
    with app.app_context():
        upgrade()
        user = register_user(email="old@example.com", name="Old", password="a-long-password",
                             time_zone="UTC")
        create_contact(user, ContactData(name="ÉMILE Zola", tags=["ΟΔΟΣ"]))
        db.session.commit()
        user_id = user.id
        db.session.remove()
        downgrade(revision="0010")

        def indexed():
            rows = (db.session.scalar(db.text("SELECT name FROM search_contacts")),
                    db.session.scalar(db.text("SELECT name FROM search_tags")))
            db.session.rollback()
            return rows

        assert indexed() == ("Émile zola", "ΟΔΟΣ")  # SQLite's lower(): ASCII only
        upgrade()
        assert indexed() == ("émile zola", "οδοσ")
        user = db.session.get(User, user_id)
        for q in ("émile", "ÉMILE", "οδοσ"):
            assert [c.name for c in list_contacts(user, q=q).items] == ["ÉMILE Zola"], q
        create_contact(user, ContactData(name="Ørsted"))  # the new triggers fold too
        db.session.commit()
        assert db.session.scalar(db.text(
            "SELECT name FROM search_contacts ORDER BY rowid DESC")) == "ørsted"
        db.session.rollback()

        downgrade(revision="0010")
        assert indexed() == ("Émile zola", "ΟΔΟΣ")
        db.engine.dispose()


def test_the_invitation_link_migration_keeps_coaching_notes_both_ways(empty_database):
    """0012 adds a column and an index in place: rebuilding coach_links on SQLite (a batch
    migration) would cascade into coaching_notes and delete them."""
    from crm.models import CoachingNote, CoachLink

    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": empty_database, "TESTING": True})
    with app.app_context():
        upgrade(revision="0011")
        with db.engine.begin() as connection:
            for uid in (1, 2):
                connection.execute(insert(User.__table__).values(
                    id=uid, email=f"u{uid}@example.com", name=f"U{uid}", password_hash="x"))
            connection.execute(insert(CoachLink.__table__).values(
                id=1, client_id=1, coach_id=2, coach_email="u2@example.com", status="active",
                share_notes=False, invited_at=datetime(2026, 1, 1, tzinfo=UTC)))
            connection.execute(insert(CoachingNote.__table__).values(
                id=1, link_id=1, coach_id=2, client_id=1, body="Keep going",
                created_at=datetime(2026, 1, 2, tzinfo=UTC)))

        def notes():
            count = db.session.scalar(select(func.count()).select_from(CoachingNote.__table__))
            db.session.rollback()
            return count

        upgrade()
        assert notes() == 1
        downgrade(revision="0011")
        assert notes() == 1
        assert "invite_token_hash" not in {
            c["name"] for c in inspect(db.engine).get_columns("coach_links")}
        db.engine.dispose()


def _rows(tables: tuple[str, ...]) -> dict[str, int]:
    with db.engine.connect() as connection:
        return {t: connection.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()  # noqa: S608
                for t in tables}


def test_down_to_the_first_revision_and_back_up_keeps_every_row(empty_database):
    """Found by the operations audit: on SQLite a batch change to users (0002, 0005)
    rebuilds the table, and dropping the old copy ran every ON DELETE CASCADE pointing at
    users: every contact, handle, tag and interaction was gone, reported as a success."""
    from crm.auth.services import register_user
    from crm.contacts.channels import normalise_channel
    from crm.contacts.services import ContactData, add_channel, create_contact
    from crm.interactions.services import InteractionData, log_interaction
    from crm.models import Initiator

    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": empty_database, "TESTING": True})
    with app.app_context():
        upgrade()
        user = register_user("ada@example.com", "Ada", "a long passphrase", "UTC")
        email = db.session.scalar(select(Medium).where(Medium.key == "email"))
        grace = create_contact(user, ContactData(name="Grace", tags=["navy"]))
        add_channel(grace, email, normalise_channel(email, "grace@example.com"))
        log_interaction(user, InteractionData(
            medium=email, occurred_at=datetime(2026, 1, 5, 9, tzinfo=UTC),
            participants=[grace], initiated_by=Initiator.ME, summary="Hello"))
        db.session.commit()
        db.session.remove()
        tables = ("users", "contacts", "contact_channels", "tags", "contact_tags",
                  "interactions", "interaction_participants")
        before = _rows(tables)
        assert all(before.values()), before

        downgrade(revision="0001")
        assert _rows(tables) == before
        upgrade()
        assert _rows(tables) == before
        if db.engine.dialect.name == "sqlite":  # the pooled connection enforces them again
            with db.engine.connect() as connection:
                assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        db.engine.dispose()


def test_healthz_says_when_migrations_are_pending(empty_database):
    """Found by the operations audit: at 0011 under this code /healthz answered 200 while
    the coaching pages failed; the load balancer could not tell the node was not ready. A
    database ahead of the code (upgraded first, during a deploy) stays healthy."""
    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": empty_database, "TESTING": True})
    client = app.test_client()  # each request in a context (and a session) of its own
    with app.app_context():
        upgrade(revision="0013")
    behind = client.get("/healthz")
    assert behind.status_code == 503
    assert behind.get_json()["database"] == (
        f"error: migrations pending, the database is at 0013 and this code needs {HEAD} "
        "(run crm db upgrade)")
    with app.app_context():
        upgrade()
    assert client.get("/healthz").get_json()["database"] == "ok"
    with app.app_context(), db.engine.begin() as connection:
        # a revision a later deploy brings, which this code does not know
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    assert client.get("/healthz").get_json()["database"] == "ok"
    with app.app_context():
        db.engine.dispose()


def test_a_command_on_an_older_schema_says_to_run_db_upgrade(empty_database, monkeypatch):
    """Found by the operations audit: a missing column (not a missing table) was reported
    as "Check CRM_DATABASE_URL and that it is running"."""
    from click.testing import CliRunner

    from crm.cli import cli

    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": empty_database, "TESTING": True})
    with app.app_context():
        upgrade(revision="0009")
        db.engine.dispose()
    monkeypatch.setenv("CRM_SECRET_KEY", "a-secret-key-for-this-test-only")
    monkeypatch.setenv("CRM_DATABASE_URL", empty_database)
    result = CliRunner().invoke(cli, ["worker", "--once"])
    assert result.exit_code == 1, result.output
    assert "run `crm db upgrade` first" in result.output


def test_a_run_that_leaves_broken_references_is_rolled_back_whole(empty_database, db_backend):
    """Found in review: on SQLite each migration committed on its own, so the foreign-key
    check after a run reported the failure with the migrations already applied."""
    if db_backend != "sqlite":
        pytest.skip("PostgreSQL enforces foreign keys throughout a migration")
    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": empty_database, "TESTING": True})
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:  # a row whose owner is gone, made by hand
            raw = connection.connection.driver_connection
            raw.execute("PRAGMA foreign_keys=OFF")
            raw.execute("INSERT INTO contacts (owner_id, name, company, title, location, notes, "
                        "is_private, created_at, updated_at) VALUES (999, 'Orphan', '', '', '', "
                        "'', 0, '2026-01-01', '2026-01-01')")
            connection.invalidate()
        with pytest.raises(SystemExit):  # Flask-Migrate logs the RuntimeError and exits
            downgrade(revision="0011")
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql(
                "SELECT version_num FROM alembic_version").scalar() == HEAD
            columns = {c[1] for c in connection.exec_driver_sql(
                "PRAGMA table_info(coach_links)")}
            contact_columns = {c[1] for c in connection.exec_driver_sql(
                "PRAGMA table_info(contacts)")}
            channel_columns = {c[1] for c in connection.exec_driver_sql(
                "PRAGMA table_info(contact_channels)")}
        assert "invite_token_hash" in columns  # 0012's downgrade was rolled back too
        assert "sort_name" in contact_columns  # and 0013's
        assert "owner_id" in channel_columns  # and 0014's
        db.engine.dispose()


def test_healthz_says_when_it_cannot_read_the_migrations(app, client, monkeypatch):
    """Found in review: an installation without its migrations folder (a built wheel, which
    the README warns against) answered 500."""
    monkeypatch.setattr(app.extensions["migrate"], "directory", "/nonexistent/migrations")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "cannot read the migrations" in response.get_json()["database"]


def test_the_sort_name_migration_files_existing_contacts_and_goes_back(empty_database):
    """0013 fills sort_name and company_key for the contacts there are (in batches), so the
    list by name files "Émile" before "Zoë" at once, and searches find "Émile" and "Nestlé"
    without their accents; going back to 0012 keeps every contact and the
    lower(name) index. Added in place, so SQLite's search triggers on contacts survive."""
    from crm.contacts.services import list_contacts

    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": empty_database, "TESTING": True})
    names = ["Zoë Adams", "Émile Zola", "ada Byron", "Øyvind Berg"]
    with app.app_context():
        upgrade(revision="0012")
        with db.engine.begin() as connection:
            connection.execute(insert(User.__table__).values(
                id=1, email="a@example.com", name="A", password_hash="x"))
            for n, name in enumerate(names, start=1):
                connection.execute(insert(CONTACTS_AT_0006).values(
                    id=n, owner_id=1, name=name, company="Nestlé" if n == 1 else "", title="",
                    location="", notes="",
                    is_private=False, created_at=datetime(2026, 1, 1),
                    updated_at=datetime(2026, 1, 1)))
        upgrade()
        user = db.session.get(User, 1)
        assert [c.name for c in list_contacts(user).items] == [
            "ada Byron", "Émile Zola", "Øyvind Berg", "Zoë Adams"]
        assert [c.name for c in list_contacts(user, q="zola").items] == ["Émile Zola"]
        assert [c.name for c in list_contacts(user, q="emile").items] == ["Émile Zola"]
        assert [c.name for c in list_contacts(user, q="nestle").items] == ["Zoë Adams"]
        db.session.remove()
        if db.engine.dialect.name == "postgresql":  # by code point, as on SQLite
            with db.engine.connect() as connection:
                assert connection.exec_driver_sql(
                    "SELECT collation_name FROM information_schema.columns "
                    "WHERE table_name = 'contacts' AND column_name = 'sort_name'").scalar() == "C"

        downgrade(revision="0012")
        inspector = inspect(db.engine)
        assert not {"sort_name", "company_key"} & {
            c["name"] for c in inspector.get_columns("contacts")}
        with db.engine.connect() as connection:  # SQLite's inspector skips expression indexes
            indexes = {row[0] for row in connection.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'index'"
                if connection.dialect.name == "sqlite"
                else "SELECT indexname FROM pg_indexes WHERE tablename = 'contacts'")}
        assert "ix_contacts_owner_lower_name" in indexes
        assert "ix_contacts_owner_sort_name" not in indexes
        assert _rows(("contacts",)) == {"contacts": 4}
        db.engine.dispose()


CHANNELS_AT_0013 = table("contact_channels", *(column(name) for name in (
    "id", "contact_id", "medium_id", "value", "label")))


def test_the_channel_owner_migration_fills_every_handles_owner_and_goes_back(empty_database):
    """0014 copies each handle's contact's owner into contact_channels.owner_id, so that a
    search reads the user's handles only; the handles keep being found (on SQLite through
    the search triggers on contact_channels, which an in-place change keeps). Going back to
    0013 drops the column and keeps every handle."""
    from crm.contacts.services import list_contacts

    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": empty_database, "TESTING": True})
    with app.app_context():
        upgrade(revision="0013")
        with db.engine.begin() as connection:
            email = connection.execute(select(Medium.id).where(Medium.key == "email")).scalar()
            for uid in (1, 2):
                connection.execute(insert(User.__table__).values(
                    id=uid, email=f"u{uid}@example.com", name="U", password_hash="x"))
            for cid, owner in ((1, 1), (2, 2), (3, 1)):
                connection.execute(insert(CONTACTS_AT_0006).values(
                    id=cid, owner_id=owner, name=f"Person {cid}", company="", title="",
                    location="", notes="", is_private=False, created_at=datetime(2026, 1, 1),
                    updated_at=datetime(2026, 1, 1)))
            for chid, cid in ((10, 1), (11, 2), (12, 3), (13, 3)):
                connection.execute(insert(CHANNELS_AT_0013).values(
                    id=chid, contact_id=cid, medium_id=email,
                    value=f"person{chid}@shared.example", label=""))
        upgrade()
        with db.engine.connect() as connection:
            owners = dict(connection.exec_driver_sql(
                "SELECT id, owner_id FROM contact_channels ORDER BY id").all())
        assert owners == {10: 1, 11: 2, 12: 1, 13: 1}
        # A handle written without its owner, as the release before 0014 writes them
        # during a rolling deploy, is given its contact's by the trigger.
        with db.engine.begin() as connection:
            connection.execute(insert(CHANNELS_AT_0013).values(
                id=14, contact_id=2, medium_id=email, value="zq@elsewhere.example", label=""))
            assert connection.exec_driver_sql(
                "SELECT owner_id FROM contact_channels WHERE id = 14").scalar() == 2
        one, two = db.session.get(User, 1), db.session.get(User, 2)
        assert [c.id for c in list_contacts(one, q="shared.example").items] == [1, 3]
        assert [c.id for c in list_contacts(two, q="shared.example").items] == [2]
        assert [c.id for c in list_contacts(one, q="n13@").items] == [3]
        # Two characters: no trigram index, the user's handles through owner_id.
        assert [c.id for c in list_contacts(one, q="13").items] == [3]
        assert [c.id for c in list_contacts(two, q="11").items] == [2]
        assert [c.id for c in list_contacts(two, q="zq").items] == [2]
        assert [c.id for c in list_contacts(one, q="zq").items] == []
        db.session.remove()
        assert not _differences()

        downgrade(revision="0013")
        assert "owner_id" not in {c["name"] for c in inspect(db.engine).get_columns(
            "contact_channels")}
        assert _rows(("contact_channels",)) == {"contact_channels": 5}
        with db.engine.begin() as connection:  # the trigger went with the column
            connection.execute(insert(CHANNELS_AT_0013).values(
                id=15, contact_id=1, medium_id=email, value="after@example.com", label=""))
        db.engine.dispose()


REMINDERS_AT_0014 = table(
    "reminders", *(column(name) for name in (
        "id", "owner_id", "contact_id", "interaction_id", "kind", "title", "notes", "status",
        "due_at", "time_zone", "recurrence", "missed_occurrences", "snoozed_count",
        "created_at", "updated_at")))
DELIVERIES_AT_0014 = table(
    "deliveries", *(column(name) for name in (
        "id", "reminder_id", "user_id", "channel", "occurrence", "status", "attempts",
        "created_at")))


def test_the_coaching_privacy_migration_keeps_reminders_and_notes_both_ways(
        empty_database):
    """0015 adds reminders.from_private_interaction in place: existing reminders are not
    from a private interaction, and going back drops the column without rebuilding
    reminders on SQLite (which would cascade into their deliveries). It lets a note
    outlive its coach's account (coach_id SET NULL); going back keeps the notes that
    still have their coach."""
    from crm.models import CoachingNote, CoachLink

    at = datetime(2026, 1, 2, tzinfo=UTC)
    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": empty_database, "TESTING": True})
    with app.app_context():
        upgrade(revision="0014")
        with db.engine.begin() as connection:
            for uid in (1, 2, 3):
                connection.execute(insert(User.__table__).values(
                    id=uid, email=f"u{uid}@example.com", name=f"U{uid}", password_hash="x"))
            for lid, coach in ((1, 2), (2, 3)):
                connection.execute(insert(CoachLink.__table__).values(
                    id=lid, client_id=1, coach_id=coach, coach_email=f"u{coach}@example.com",
                    status="active", share_notes=False, invited_at=at))
                connection.execute(insert(CoachingNote.__table__).values(
                    id=lid, link_id=lid, coach_id=coach, client_id=1, body="Keep going",
                    created_at=at))
            connection.execute(insert(REMINDERS_AT_0014).values(
                id=1, owner_id=1, kind="follow_up", title="Follow up", notes="",
                status="delivered", due_at=at, time_zone="UTC", recurrence="none",
                missed_occurrences=0, snoozed_count=0, created_at=at, updated_at=at))
            connection.execute(insert(DELIVERIES_AT_0014).values(
                id=1, reminder_id=1, user_id=1, channel="in_app", occurrence=at,
                status="sent", attempts=1, created_at=at))

        upgrade()
        assert _rows(("coaching_notes",)) == {"coaching_notes": 2}
        with db.engine.begin() as connection:
            assert tuple(connection.exec_driver_sql(
                "SELECT from_private_interaction, ended_by_interaction FROM reminders"
            ).one()) in ((False, False), (0, 0))
            # A coach leaves (their links lose them first, as deleting an account does).
            connection.exec_driver_sql("UPDATE coach_links SET coach_id = NULL WHERE id = 2")
            connection.exec_driver_sql("DELETE FROM users WHERE id = 3")
            assert connection.exec_driver_sql(
                "SELECT id, coach_id FROM coaching_notes ORDER BY id").all() == [(1, 2), (2, None)]
        downgrade(revision="0014")
        assert not {"from_private_interaction", "ended_by_interaction"} & {
            c["name"] for c in inspect(db.engine).get_columns("reminders")}
        assert _rows(("reminders", "deliveries", "coaching_notes")) == {
            "reminders": 1, "deliveries": 1, "coaching_notes": 1}
        db.engine.dispose()


def test_accounts_from_before_0017_keep_their_reminder_emails(empty_database):
    """Nobody was asked to confirm an address before 0017: accounts that exist then count
    as confirmed (as of their creation), so their reminder emails do not stop."""
    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": empty_database, "TESTING": True})
    created = datetime(2024, 5, 1, 9, 30)
    with app.app_context():
        upgrade(revision="0016")
        with db.engine.begin() as connection:
            connection.execute(insert(table(
                "users", column("email"), column("name"), column("password_hash"),
                column("time_zone"), column("digest_hour"), column("email_reminders"),
                column("digest_enabled"), column("network_version"), column("session_version"),
                column("is_active_account"), column("created_at"),
            )).values(email="ada@example.com", name="Ada", password_hash="x", time_zone="UTC",
                      digest_hour=8, email_reminders=True, digest_enabled=False,
                      network_version=1, session_version=1, is_active_account=True,
                      created_at=created))
        upgrade()
        user = db.session.scalar(select(User))
        assert user.email_confirmed_at == created.replace(tzinfo=UTC)
        db.session.remove()
        db.engine.dispose()


def test_the_interaction_search_migration_indexes_existing_rows_and_goes_back(empty_database):
    """0019 on a database with interactions: a search finds them by their summary and notes
    (SQLite: backfilled FTS rows, folded; PostgreSQL: the trigram indexes), new ones are
    indexed by the migrated triggers, and going back to 0018 removes the index and keeps
    the rows. The rows are written at the head and taken back to 0018 first."""
    from crm.auth.services import register_user
    from crm.contacts.services import ContactData, create_contact
    from crm.interactions.services import (
        ActivityFilters,
        InteractionData,
        activity,
        log_interaction,
    )

    def found(user, words):
        return [i.summary for i in activity(user, ActivityFilters(words=words)).items]

    def log(user, summary, notes=""):
        contact = create_contact(user, ContactData(name="Chidi Okafor"))
        phone = db.session.scalar(select(Medium).where(Medium.key == "phone"))
        log_interaction(user, InteractionData(
            medium=phone, occurred_at=datetime(2026, 1, 5, tzinfo=UTC),
            initiated_by=Initiator.ME, participants=[contact], summary=summary, notes=notes))
        db.session.commit()

    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": empty_database, "TESTING": True})
    with app.app_context():
        upgrade()
        user = register_user(email="old@example.com", name="Old", password="a-long-password",
                             time_zone="UTC")
        log(user, "KUBERNETES talk", notes="Ørsted's wind farms")
        user_id = user.id
        db.session.remove()
        downgrade(revision="0018")
        assert "search_interactions" not in inspect(db.engine).get_table_names()

        upgrade()
        user = db.session.get(User, user_id)
        for words in ("kubernetes", "ERNETES T", "ørsted", "ØRSTED'S", "wind farm"):
            assert found(user, words) == ["KUBERNETES talk"], words
        if db.engine.dialect.name == "sqlite":
            assert tuple(db.session.execute(db.text(
                "SELECT summary, notes FROM search_interactions")).one()) == (
                "kubernetes talk", "ørsted's wind farms")
        else:
            assert {"ix_interactions_summary_trgm", "ix_interactions_notes_trgm"} <= {
                ix["name"] for ix in inspect(db.engine).get_indexes("interactions")}
        log(user, "Seed round", notes="Term sheet")  # the migrated triggers index it
        assert found(user, "term sheet") == ["Seed round"]
        db.session.remove()

        downgrade(revision="0018")
        inspector = inspect(db.engine)
        assert "search_interactions" not in inspector.get_table_names()
        assert not [ix for ix in inspector.get_indexes("interactions") if "trgm" in ix["name"]]
        assert db.session.scalar(select(func.count()).select_from(Interaction)) == 2
        db.engine.dispose()


def test_the_dotted_i_migration_refolds_every_search_table_and_goes_back(empty_database):
    """0021 on SQLite: rows indexed while case folding alone made İ "i̇" (i and a combining
    dot) are folded again with İ read as i, in all four search tables, so "İstanbul" finds a
    handle and "izmir" an interaction written before; going back to 0020 folds them the old
    way. Found by review: a handle stored before search_fold changed was found no more."""
    from crm.auth.services import register_user
    from crm.contacts.services import ContactData, add_channel, create_contact, list_contacts
    from crm.interactions.services import (
        ActivityFilters,
        InteractionData,
        activity,
        log_interaction,
    )

    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": empty_database, "TESTING": True})
    with app.app_context():
        upgrade()
        user = register_user(email="old@example.com", name="Old", password="a-long-password",
                             time_zone="UTC")
        venue = db.session.scalar(select(Medium).where(Medium.key == "face_to_face"))
        grace = create_contact(user, ContactData(name="Grace Hopper", company="İZMİR Lab",
                                                 tags=["İstanbul"]))
        add_channel(grace, venue, "İstanbul ofisi")
        log_interaction(user, InteractionData(
            medium=venue, occurred_at=datetime(2026, 1, 5, tzinfo=UTC),
            initiated_by=Initiator.ME, participants=[grace], summary="Flight to İZMİR booked"))
        db.session.commit()
        user_id = user.id
        db.session.remove()

        def indexed():
            if db.engine.dialect.name != "sqlite":
                return None
            rows = tuple(db.session.scalar(db.text(f"SELECT {c} FROM {t}")) for t, c in (  # noqa: S608
                ("search_contacts", "company"), ("search_contact_channels", "value"),
                ("search_tags", "name"), ("search_interactions", "summary")))
            db.session.rollback()
            return rows

        downgrade(revision="0020")
        if db.engine.dialect.name == "sqlite":
            assert indexed() == ("i\u0307zmi\u0307r lab", "i\u0307stanbul ofisi",
                                 "i\u0307stanbul", "flight to i\u0307zmi\u0307r booked")
        upgrade()
        if db.engine.dialect.name == "sqlite":
            assert indexed() == ("izmir lab", "istanbul ofisi", "istanbul",
                                 "flight to izmir booked")
        user = db.session.get(User, user_id)
        for q in ("İstanbul ofisi", "istanbul OF", "İZMİR lab"):
            assert [c.name for c in list_contacts(user, q=q).items] == ["Grace Hopper"], q
        for words in ("izmir", "İzmir", "Izmir"):
            assert [i.summary for i in activity(user, ActivityFilters(words=words)).items] == [
                "Flight to İZMİR booked"], words
        db.session.remove()
        db.engine.dispose()
