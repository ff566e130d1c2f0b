"""Writes that race on PostgreSQL: each test holds one writer's transaction open after its
change (a delete, a password change, a new tag...), sends the racing request through the
app, waits until PostgreSQL shows that request waiting on a lock (or finished), then lets
the first writer commit. The racing request must see the first one's outcome: no 500, no
deadlock, nothing lost or doubled.

Every request that writes takes its user's row lock first (crm.database.lock_user), so one
user's writes take turns; a client and a coach answering the same link take turns on the
link's row. SQLite cannot race this way (its write transactions take turns, BEGIN
IMMEDIATE), so these tests run on PostgreSQL only.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, func, select, text
from support import PASSWORD, as_user, invite

from crm.extensions import db
from crm.models import CoachLink, CoachLinkStatus, Contact, Interaction, Medium, Tag, User

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


def _contacts(app, user):
    with app.app_context():
        return sorted(db.session.scalars(select(Contact.name).where(Contact.owner_id == user.id)))


def test_logging_with_a_contact_being_deleted_refuses_the_contact(app, postgresql, make_user,
                                                                  make_contact, medium):
    """The log waits for the delete, then finds the contact gone: a form error, not a
    500 on the participants' foreign key, and no interaction without participants."""
    from crm.contacts.services import delete_contact

    user = make_user()
    ann = make_contact(user, name="Ann")
    client = as_user(app, user)

    def hold_open():
        delete_contact(db.session.get(Contact, ann.id))

    response = _race(app, hold_open, lambda: client.post("/interactions/new", data={
        "medium": str(medium("phone").id), "occurred_at": "2026-01-02T10:00",
        "initiated_by": "me", "participants": [str(ann.id)], "summary": "Call"}))

    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Interaction)) == 0


def test_editing_a_contact_being_deleted_answers_404(app, postgresql, make_user, make_contact):
    from crm.contacts.services import delete_contact

    user = make_user()
    ann = make_contact(user, name="Ann")
    client = as_user(app, user)

    def hold_open():
        delete_contact(db.session.get(Contact, ann.id))

    response = _race(app, hold_open, lambda: client.post(
        f"/contacts/{ann.id}/edit", data={"name": "Ann Edited"}))

    assert response.status_code == 404
    assert _contacts(app, user) == []


def test_a_password_change_ends_a_session_writing_at_that_moment(app, postgresql, make_user):
    """The other session's request waits for the change and is then logged out; it used
    to read the old session version first and go on writing."""
    from crm.auth.services import change_password

    user = make_user()
    other_session = as_user(app, user)

    def hold_open():
        change_password(db.session.get(User, user.id), "a new long password")

    response = _race(app, hold_open, lambda: other_session.post(
        "/contacts/new", data={"name": "Written after the change"}))

    assert response.status_code == 302 and response.location.startswith("/login")
    assert _contacts(app, user) == []


def test_two_password_changes_at_once_end_both_other_sessions(app, postgresql, make_user):
    from crm.auth.services import change_password

    user = make_user()
    with app.app_context():
        before = db.session.get(User, user.id).session_version
    client = as_user(app, user)

    def hold_open():
        change_password(db.session.get(User, user.id), "first new long password")

    response = _race(app, hold_open, lambda: client.post("/settings", data={
        "action": "password", "password-current_password": PASSWORD,
        "password-new_password": "second new long password",
        "password-confirm": "second new long password"}))

    # The second change comes from a session the first one ended: it is logged out.
    assert response.status_code == 302 and response.location.startswith("/login")
    from werkzeug.security import check_password_hash

    with app.app_context():
        after = db.session.get(User, user.id)
        assert after.session_version != before
        assert check_password_hash(after.password_hash, "first new long password")


def test_signing_up_twice_with_one_email_at_once(app, postgresql, client):
    from crm.auth.services import register_user

    def hold_open():
        register_user("twice@example.com", "First", "a long password one", "UTC")

    response = _race(app, hold_open, lambda: client.post("/register", data={
        "name": "Second", "email": "twice@example.com", "password": "a long password two",
        "confirm": "a long password two", "time_zone": "UTC"}))

    assert response.status_code == 422
    assert "exists already" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(User.name).where(
            User.email == "twice@example.com")).all() == ["First"]


def test_a_coach_accepting_as_the_client_revokes(app, postgresql, make_user):
    """The acceptance waits for the revocation and finds no invitation left: the coach
    never gains access to a client who said no."""
    from crm.coaching.services import revoke

    client_user = make_user()
    coach = make_user()
    join = invite(as_user(app, client_user), coach.email)
    with app.app_context():
        link_id = db.session.scalar(select(CoachLink.id))
    coach_client = as_user(app, coach)

    def hold_open():
        revoke(db.session.get(CoachLink, link_id))

    response = _race(app, hold_open, lambda: coach_client.post(join, data={"answer": "accept"}))

    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(CoachLink, link_id).status == CoachLinkStatus.REVOKED
    assert coach_client.get(f"/coach/clients/{client_user.id}").status_code == 404


def test_an_api_edit_of_a_contact_being_deleted_answers_404(app, postgresql, make_user,
                                                            make_contact, client):
    from fixtures.api_client import ApiClient, make_token

    from crm.contacts.services import delete_contact

    user = make_user()
    ann = make_contact(user, name="Ann")
    api = ApiClient(client, make_token(app, user), user)

    def hold_open():
        delete_contact(db.session.get(Contact, ann.id))

    response = _race(app, hold_open, lambda: api.patch(f"/contacts/{ann.id}",
                                                       json={"tags": ["new"]}))

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert _contacts(app, user) == []
