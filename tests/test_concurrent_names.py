"""Two requests naming the same new tag or medium at the same time (PostgreSQL).

Tag and medium names are unique per owner by name_key (Unicode case folding), which no
database constraint can say; the exact-name unique constraint alone turned the second of
two racing requests into a 500. Each test holds one writer's transaction open after it
created the name, sends the racing request through the app, waits until PostgreSQL shows
that request waiting on a lock (or finished), then lets the first writer commit.

SQLite cannot race this way (its write transactions take turns, BEGIN IMMEDIATE), so these
tests run on PostgreSQL only.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, select, text
from support import as_user

from crm.extensions import db
from crm.models import Contact, Medium, Tag, User

WAIT_LIMIT_S = 30


@pytest.fixture
def postgresql(db_backend):
    if db_backend != "postgresql":
        pytest.skip("SQLite write transactions take turns: there is no race to lose")


def _race(app, hold_open, racing_request):
    """Run hold_open(session) in a transaction of its own and keep it open until
    racing_request() is waiting on a lock or done; then commit it. Returns the racing
    request's response."""
    created = threading.Event()
    release = threading.Event()
    errors: list[BaseException] = []

    def first_writer():
        try:
            with app.app_context():
                hold_open()
                db.session.flush()
                created.set()
                release.wait(WAIT_LIMIT_S)
                db.session.commit()
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
            created.set()

    writer = threading.Thread(target=first_writer)
    writer.start()
    assert created.wait(WAIT_LIMIT_S)
    response: list = []

    def race():
        try:
            response.append(racing_request())
        except BaseException as exc:  # a 500 in production; raised here under TESTING
            errors.append(exc)

    racer = threading.Thread(target=race)
    racer.start()
    watcher = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        deadline = time.monotonic() + WAIT_LIMIT_S
        with watcher.connect() as conn:
            while racer.is_alive() and time.monotonic() < deadline:
                waiting = conn.execute(text(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE NOT l.granted AND a.datname = current_database()")).scalar()
                if waiting:
                    break
                conn.rollback()
    finally:
        watcher.dispose()
        release.set()
        writer.join(WAIT_LIMIT_S)
        racer.join(WAIT_LIMIT_S)
    assert not errors, errors
    return response[0]


def _tags(app, user):
    with app.app_context():
        return sorted(db.session.scalars(select(Tag.name).where(Tag.owner_id == user.id)))


@pytest.mark.parametrize("first, second", [("Clients", "Clients"), ("clients", "CLIENTS")])
def test_two_contacts_naming_one_new_tag_at_once_share_it(app, postgresql, make_user,
                                                         first, second):
    from crm.contacts.services import ContactData, create_contact

    user = make_user()
    client = as_user(app, user)

    def hold_open():
        create_contact(db.session.get(User, user.id), ContactData(name="Ann", tags=[first]))

    response = _race(app, hold_open, lambda: client.post(
        "/contacts/new", data={"name": "Bob", "tags": second}))

    assert response.status_code == 302
    assert _tags(app, user) == [first]
    with app.app_context():
        tagged = db.session.scalars(
            select(Contact.name).join(Contact.tags).where(Contact.owner_id == user.id)
            .order_by(Contact.name)).all()
    assert tagged == ["Ann", "Bob"]


@pytest.mark.parametrize("first, second", [("Mastodon", "Mastodon"), ("mastodon", "MASTODON")])
def test_two_requests_adding_one_new_medium_at_once(app, postgresql, make_user, first, second):
    from crm.mediums.services import create_medium

    user = make_user()
    client = as_user(app, user)

    def hold_open():
        create_medium(db.session.get(User, user.id), first)

    response = _race(app, hold_open, lambda: client.post("/mediums", data={"name": second}))

    assert response.status_code == 422
    assert "already" in response.get_data(as_text=True)
    with app.app_context():
        own = db.session.scalars(select(Medium.name).where(Medium.owner_id == user.id)).all()
    assert own == [first]


def test_an_import_naming_a_medium_made_since_its_preview_uses_it(app, postgresql, make_user):
    """The medium appears between the preview and the confirmation: the import files the
    handles under it instead of failing to create it a second time."""
    from crm.portability.importer import plan_import, run_import
    from crm.portability.parsers import ImportRow

    user = make_user()
    row = ImportRow(number=1, name="Ann Example",
                    handles=[("name:Mastodon", "@ann@example.social", "")])
    with app.app_context():
        plan = plan_import(db.session.get(User, user.id), [row])
    assert plan.new_mediums == ["Mastodon"]

    def hold_open():
        from crm.mediums.services import create_medium

        create_medium(db.session.get(User, user.id), "Mastodon")

    def confirm():
        with app.app_context():
            result = run_import(db.session.get(User, user.id), plan)
            db.session.commit()
            return result

    result = _race(app, hold_open, confirm)

    assert result.mediums_created == []
    with app.app_context():
        mastodon = db.session.scalars(
            select(Medium).where(Medium.owner_id == user.id, Medium.name == "Mastodon")).all()
        assert len(mastodon) == 1
        ann = db.session.scalars(select(Contact).where(Contact.owner_id == user.id)).one()
        assert [c.medium_id for c in ann.channels] == [mastodon[0].id]
