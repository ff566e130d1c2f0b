"""The busiest pages run a small number of SQL queries that does not grow with the data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from support import counting_queries

from crm.contacts.services import ContactData, add_channel, create_contact
from crm.extensions import db
from crm.interactions.services import InteractionData, log_interaction
from crm.models import BUILTIN_MEDIUMS, Contact, Initiator, Medium, User

MAX_QUERIES = 12
KEYS = list(BUILTIN_MEDIUMS)


def queries_for(app, client, url) -> list[str]:
    client.get(url)  # warm up: connection set-up is not the page's cost
    with counting_queries(app) as statements:
        response = client.get(url)
    assert response.status_code == 200
    return statements


@pytest.fixture
def grow(app, logged_in):
    """grow(n) adds n contacts with tags, a channel, an introducer, an origin and interactions.

    Built through the services in one unit of work per call, to keep the test quick.
    """
    start = datetime(2025, 1, 1, tzinfo=UTC)
    made: list[int] = []

    def add(n):
        with app.app_context():
            user = db.session.get(User, logged_in.id)
            mediums = {m.key: m for m in db.session.scalars(
                select(Medium).where(Medium.key.is_not(None)))}
            for _ in range(n):
                i = len(made)
                contact = create_contact(user, ContactData(
                    name=f"Person {i:03d}", tags=[f"t{i % 4}", "all"],
                    origin_medium=mediums[KEYS[i % 9]],
                    introduced_by=db.session.get(Contact, made[-1]) if made else None,
                ))
                add_channel(contact, mediums["skype"], f"person.{i:03d}")
                for j in range(2):
                    others = [db.session.get(Contact, made[(i + j) % len(made)])] if made else []
                    log_interaction(user, InteractionData(
                        medium=mediums[KEYS[(i + j) % 9]],
                        occurred_at=start + timedelta(days=i, hours=j),
                        initiated_by=Initiator.ME, participants=[contact, *others],
                        summary=f"Talk {i}.{j}",
                    ))
                made.append(contact.id)
            db.session.commit()
        return list(made)

    return add


def test_contact_list_query_count_is_bounded(app, client, grow):
    urls = ["/contacts", "/contacts?sort=last", "/contacts?q=person", "/contacts?tag=all"]
    grow(3)
    small = {url: queries_for(app, client, url) for url in urls}
    grow(37)
    large = {url: queries_for(app, client, url) for url in urls}

    for url in urls:
        assert len(large[url]) == len(small[url]), url + "\n" + "\n".join(large[url])
        assert len(large[url]) <= MAX_QUERIES, url + "\n" + "\n".join(large[url])


def test_contact_page_query_count_is_bounded(app, client, logged_in, grow, make_interaction):
    people = grow(3)
    quiet = people[1]  # introduced by someone, like the busy one
    small = queries_for(app, client, f"/contacts/{quiet}")

    busy = grow(37)[-1]
    with app.app_context():
        user = db.session.get(User, logged_in.id)
        mediums = {m.key: m for m in db.session.scalars(
            select(Medium).where(Medium.key.is_not(None)))}
        # Thirty more interactions with the busiest contact, each shared with someone else.
        for day in range(30):
            log_interaction(user, InteractionData(
                medium=mediums[KEYS[day % 9]],
                occurred_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=day),
                initiated_by=Initiator.THEM,
                participants=[db.session.get(Contact, busy),
                              db.session.get(Contact, people[day % len(people)])],
                summary=f"Busy {day}",
            ))
        db.session.commit()
    large = queries_for(app, client, f"/contacts/{busy}")

    assert len(large) == len(small), "\n".join(large)
    assert len(large) <= MAX_QUERIES, "\n".join(large)


def test_logging_an_interaction_query_count_is_bounded(app, client, logged_in, grow):
    """The log-interaction POST runs as many statements for a contact with thirty
    interactions as for one with two: its last-interaction refresh probes an index."""
    people = grow(40)
    quiet, busy = people[0], people[-1]
    with app.app_context():
        user = db.session.get(User, logged_in.id)
        phone = db.session.scalar(select(Medium).where(Medium.key == "phone"))
        for day in range(30):
            log_interaction(user, InteractionData(
                medium=phone, occurred_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=day),
                initiated_by=Initiator.ME, participants=[db.session.get(Contact, busy)],
                summary=f"Busy {day}",
            ))
        db.session.commit()
        phone_id = phone.id

    def post(contact_id):
        with counting_queries(app) as statements:
            response = client.post("/interactions/new", data={
                "medium": phone_id, "occurred_at": "2026-03-01T10:00", "initiated_by": "me",
                "participants": contact_id, "summary": "Catch-up",
            })
        assert response.status_code == 302
        return statements

    post(quiet)  # warm up
    small, large = post(quiet), post(busy)

    assert len(large) == len(small), "\n".join(large)
    assert len(large) <= MAX_QUERIES + 1, "\n".join(large)  # + PostgreSQL's row lock
    with app.app_context():
        contact = db.session.get(Contact, busy)
        assert contact.last_interaction.summary == "Catch-up"
        assert contact.last_interaction_at == datetime(2026, 3, 1, 10, tzinfo=UTC)


def test_a_contacts_open_reminders_are_read_through_the_contact_index(
        app, client, logged_in, make_contact, make_reminder, db_backend):
    """Without statistics SQLite would rather walk the owner's (owner_id, status, due_at)
    index, through every open reminder the owner has, to find one contact's."""
    if db_backend != "sqlite":
        pytest.skip("PostgreSQL plans from its statistics")
    ada = make_contact(logged_in, name="Ada Lovelace")
    for day in range(1, 4):
        make_reminder(logged_in, due_at=datetime(2030, 1, day, tzinfo=UTC), contact=ada)

    statements = queries_for(app, client, f"/contacts/{ada.id}")

    [query] = [s for s in statements if "FROM reminders" in s and "contact_id = ?" in s]
    with app.app_context():
        plan = " ; ".join(row[3] for row in db.session.connection().exec_driver_sql(
            "EXPLAIN QUERY PLAN " + query, (None,) * query.count("?")))
    assert "ix_reminders_contact_kind" in plan, plan
