"""Isolation: nothing of one user's is visible to, or changeable by, another."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from support import AuthActions, page_text

from crm.extensions import db
from crm.models import Contact, ContactChannel, Medium

# Every URL argument that names a row, and which of A's rows to put in it.
ID_ARGUMENTS = {"contact_id", "interaction_id", "medium_id", "channel_id", "tag_id"}
# The areas this walk covers. Later areas (reminders, coaching, import, the API, ...)
# check their own isolation; within these, any new URL argument fails the walk until
# this file is taught about it.
FOUNDATION_BLUEPRINTS = {"contacts", "interactions", "mediums", "tags"}


def _hostile_form(ids, b_ids):
    """Data that would succeed on each kind of page if the scope check were missing.

    So a leak shows up as a change in the database, not merely as a 422.
    """
    return {
        "name": "Changed by B",
        "company": "B Corp",
        "tags": "stolen",
        "medium": str(ids["builtin_medium_id"]),
        "value": "b@example.com",
        "occurred_at": "2025-01-01T10:00",
        "initiated_by": "me",
        "participants": [str(b_ids["contact_id"])],
        "summary": "Changed by B",
        "move_to": str(ids["builtin_medium_id"]),
        "name_shown": "secret",
        "restore": "1",
    }


def snapshot(app) -> dict[str, list[tuple]]:
    """Every row of every table."""
    with app.app_context():
        return {
            table.name: [
                tuple(row)
                for row in db.session.execute(
                    select(table).order_by(*table.primary_key.columns)
                )
            ]
            for table in db.metadata.sorted_tables
        }


@pytest.fixture
def two_users(app, make_user, make_contact, make_interaction, make_medium, medium):
    """User A with one of everything; user B with a contact of their own, logged in."""
    a = make_user(name="Alice", email="alice@example.com")
    b = make_user(name="Bob", email="bob@example.com")
    a_medium = make_medium(a, "Alice's Mastodon")
    a_contact = make_contact(a, name="Ada Lovelace", tags="secret", origin_medium=a_medium)
    a_interaction = make_interaction(a, [a_contact], medium=a_medium,
                                     occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
                                     summary="Alice's private chat")
    with app.app_context():
        channel = ContactChannel(contact_id=a_contact.id, medium_id=medium("twitter").id,
                                 value="@ada_secret")
        db.session.add(channel)
        db.session.commit()
        a_channel_id = channel.id
        a_tag_id = db.session.get(Contact, a_contact.id).tags[0].id
    b_medium = make_medium(b, "Bob's Zoom")
    b_contact = make_contact(b, name="Bob's Friend", origin_medium=b_medium)  # b_medium in use
    a_ids = {
        "contact_id": a_contact.id,
        "interaction_id": a_interaction.id,
        "medium_id": a_medium.id,
        "channel_id": a_channel_id,
        "tag_id": a_tag_id,
        "builtin_medium_id": medium("email").id,
    }
    b_ids = {"contact_id": b_contact.id, "medium_id": b_medium.id}
    return a, b, a_ids, b_ids


def _routes_with_ids(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in FOUNDATION_BLUEPRINTS or not rule.arguments:
            continue
        unknown = rule.arguments - ID_ARGUMENTS
        assert not unknown, f"{rule.rule}: teach test_isolation about {unknown}"
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_every_route_with_an_id_is_404_for_another_user(app, client, two_users):
    a, b, a_ids, b_ids = two_users
    AuthActions(client).login_as(b)
    before = snapshot(app)
    checked = []

    for rule, method in _routes_with_ids(app):
        url = rule.build({arg: a_ids[arg] for arg in rule.arguments}, append_unknown=False)[1]
        response = client.open(url, method=method, data=_hostile_form(a_ids, b_ids))
        assert response.status_code == 404, f"{method} {url} gave {response.status_code}"
        checked.append(rule.endpoint)

    # The walk really covered each kind of row.
    assert {"contacts.show", "contacts.edit", "contacts.delete", "contacts.archive",
            "contacts.add_channel", "contacts.remove_channel", "interactions.edit",
            "interactions.delete", "mediums.edit", "mediums.delete", "tags.edit",
            "tags.delete"} <= set(checked)
    assert snapshot(app) == before


def test_another_users_channel_through_ones_own_contact_is_404(app, client, two_users):
    a, b, a_ids, b_ids = two_users
    AuthActions(client).login_as(b)
    before = snapshot(app)

    response = client.post(f"/contacts/{b_ids['contact_id']}/channels/{a_ids['channel_id']}/delete")

    assert response.status_code == 404
    assert snapshot(app) == before


@pytest.mark.parametrize(
    ("method", "query"), [("GET", "contact"), ("POST", "contact"), ("GET", "medium")]
)
def test_log_form_with_another_users_ids_is_404(app, client, two_users, method, query):
    a, b, a_ids, b_ids = two_users
    AuthActions(client).login_as(b)
    before = snapshot(app)
    value = a_ids["contact_id"] if query == "contact" else a_ids["medium_id"]

    response = client.open(f"/interactions/new?{query}={value}", method=method,
                           data=_hostile_form(a_ids, b_ids))

    assert response.status_code == 404
    assert snapshot(app) == before


def test_another_users_ids_in_forms_are_refused(app, client, two_users):
    a, b, a_ids, b_ids = two_users
    AuthActions(client).login_as(b)
    before = snapshot(app)

    attempts = [
        ("/contacts/new", {"name": "X", "introduced_by": str(a_ids["contact_id"])}),
        ("/contacts/new", {"name": "X", "origin_medium": str(a_ids["medium_id"])}),
        (f"/contacts/{b_ids['contact_id']}/edit",
         {"name": "X", "introduced_by": str(a_ids["contact_id"])}),
        (f"/contacts/{b_ids['contact_id']}/channels",
         {"medium": str(a_ids["medium_id"]), "value": "x"}),
        ("/interactions/new", {"medium": str(a_ids["medium_id"]), "occurred_at": "2025-01-01T10:00",
                               "participants": [str(b_ids["contact_id"])], "summary": "X"}),
        ("/interactions/new", {"medium": str(a_ids["builtin_medium_id"]),
                               "occurred_at": "2025-01-01T10:00",
                               "participants": [str(a_ids["contact_id"])], "summary": "X"}),
        (f"/mediums/{b_ids['medium_id']}/delete", {"move_to": str(a_ids["medium_id"])}),
    ]
    for url, data in attempts:
        response = client.post(url, data=data)
        assert response.status_code in (404, 422), f"{url} {data} gave {response.status_code}"

    assert snapshot(app) == before


def test_lists_and_search_show_only_ones_own(client, two_users):
    a, b, a_ids, b_ids = two_users
    AuthActions(client).login_as(b)

    pages = {
        "/": "Alice's private chat",
        "/contacts": "Ada Lovelace",
        "/contacts?q=ada": "Ada Lovelace",
        "/contacts?q=@ada_secret": "Ada Lovelace",
        "/contacts?tag=secret": "Ada Lovelace",
        "/contacts?archived=1": "Ada Lovelace",
        "/mediums": "Alice's Mastodon",
        "/contacts/new": "Ada Lovelace",
        "/interactions/new": "Ada Lovelace",
    }
    for url, secret in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        text = page_text(response.data)
        assert secret not in text, url
        assert "Alice's Mastodon" not in text, url

    # B's own things do show, so the absence above means something.
    assert "Bob's Friend" in page_text(client.get("/contacts").data)
    assert "Bob's Zoom" in page_text(client.get("/mediums").data)


def test_a_users_medium_names_do_not_block_another_user(app, client, two_users):
    a, b, a_ids, b_ids = two_users
    AuthActions(client).login_as(b)

    response = client.post("/mediums", data={"name": "Alice's Mastodon"})

    assert response.status_code == 302
    with app.app_context():
        owners = set(db.session.scalars(
            select(Medium.owner_id).where(Medium.name == "Alice's Mastodon")))
    assert owners == {a.id, b.id}
