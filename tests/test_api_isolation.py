"""Token isolation: user A's token sees and changes none of user B's data."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fixtures.api_client import ApiClient, make_token
from sqlalchemy import select

from crm.api.views import spec
from crm.extensions import db
from crm.models import ContactChannel, Tag


def snapshot(app):
    with app.app_context():
        return {
            t.name: [tuple(r) for r in db.session.execute(
                select(t).order_by(*t.primary_key.columns))]
            for t in db.metadata.sorted_tables if t.name != "api_tokens"
        }


@pytest.fixture
def two(app, client, make_user, make_contact, make_interaction, make_medium, make_reminder,
        medium):
    """B owns one of everything; A has a token and a contact of their own."""
    a = make_user(email="a@example.com")
    b = make_user(email="b@example.com")
    b_medium = make_medium(b, "B's Mastodon")
    b_contact = make_contact(b, name="B's secret friend", tags="secret, B's other",
                             origin_medium=b_medium)
    b_interaction = make_interaction(b, b_contact, medium=b_medium,
                                     occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
                                     summary="B's private chat")
    b_reminder = make_reminder(b, local_date=date(2030, 1, 1), contact=b_contact,
                               title="B's reminder")
    with app.app_context():
        channel = ContactChannel(contact_id=b_contact.id, medium_id=medium("email").id,
                                 value="secret@example.com")
        db.session.add(channel)
        db.session.commit()
        b_ids = {"contact_id": b_contact.id, "interaction_id": b_interaction.id,
                 "medium_id": b_medium.id, "reminder_id": b_reminder.id,
                 "channel_id": channel.id,
                 **{key: db.session.scalar(select(Tag.id).where(Tag.name == name))
                    for key, name in (("tag_id", "secret"), ("other_tag_id", "B's other"))}}
    a_contact = make_contact(a, name="A's friend")
    return ApiClient(client, make_token(app, a), a), a_contact, b_ids


def _valid_body(ep, a_contact, b_ids, medium):
    """A body that would succeed if the scope check were missing."""
    bodies = {
        "ContactPatch": {"name": "Changed by A"},
        "ChannelInput": {"medium_id": medium("email").id, "value": "a@example.com"},
        "InteractionPatch": {"summary": "Changed by A"},
        "MediumInput": {"name": "Renamed by A"},
        "SnoozeInput": {"until": "2031-01-01T00:00:00Z"},
        "TagPatch": {"name": "Renamed by A"},
        "TagMerge": {"into_id": b_ids["other_tag_id"]},
    }
    return bodies.get(ep.body.name) if ep.body is not None else None


def test_every_endpoint_with_an_id_is_404_for_another_users_row(app, two, medium):
    api, a_contact, b_ids = two
    before = snapshot(app)
    checked = []

    for ep in spec.endpoints:
        if not ep.path_params:
            continue
        path = ep.path.format(**{name: b_ids[name] for name in ep.path_params})
        response = api.client.open("/api/v1" + path, method=ep.method,
                                   json=_valid_body(ep, a_contact, b_ids, medium),
                                   headers={"Authorization": f"Bearer {api.token}"})
        assert response.status_code == 404, f"{ep.method} {path}: {response.status_code}"
        assert response.mimetype == "application/problem+json"
        checked.append(ep.name)

    assert len(checked) == 19
    assert snapshot(app) == before


def test_a_channel_of_another_user_through_ones_own_contact_is_404(app, two):
    api, a_contact, b_ids = two
    before = snapshot(app)
    response = api.delete(f"/contacts/{a_contact.id}/channels/{b_ids['channel_id']}")
    assert response.status_code == 404
    assert snapshot(app) == before


def test_lists_show_only_ones_own(two):
    api, a_contact, b_ids = two
    for path in ("/contacts", "/contacts?q=secret", "/contacts?tag=secret",
                 "/contacts?archived=true", "/interactions", "/reminders", "/mediums", "/tags",
                 f"/contacts/{a_contact.id}/channels"):
        response = api.get(path)
        assert response.status_code == 200, path
        text = response.data.decode()
        assert "secret" not in text and "B's" not in text, path
    assert api.get("/contacts").get_json()["items"][0]["name"] == "A's friend"
    for path in (f"/interactions?contact_id={b_ids['contact_id']}",
                 f"/reminders?contact_id={b_ids['contact_id']}",
                 f"/interactions?medium_id={b_ids['medium_id']}"):
        assert api.get(path).status_code == 404, path


def test_another_users_ids_in_a_body_are_refused(app, two, medium):
    api, a_contact, b_ids = two
    before = snapshot(app)
    attempts = [
        ("/contacts", {"name": "X", "origin_medium_id": b_ids["medium_id"]}, "origin_medium_id"),
        ("/contacts", {"name": "X", "introduced_by_id": b_ids["contact_id"]}, "introduced_by_id"),
        (f"/contacts/{a_contact.id}/channels", {"medium_id": b_ids["medium_id"], "value": "x"},
         "medium_id"),
        ("/interactions", {"medium_id": medium("email").id, "occurred_at": "2025-01-01T10:00:00Z",
                           "participant_ids": [a_contact.id, b_ids["contact_id"]],
                           "summary": "X"}, "participant_ids"),
        ("/interactions", {"medium_id": b_ids["medium_id"], "occurred_at": "2025-01-01T10:00:00Z",
                           "participant_ids": [a_contact.id], "summary": "X"}, "medium_id"),
        ("/reminders", {"title": "X", "due_at": "2030-01-01T09:00:00Z",
                        "contact_id": b_ids["contact_id"]}, "contact_id"),
    ]
    for path, body, field in attempts:
        response = api.post(path, json=body)
        assert response.status_code == 422, (path, body)
        assert field in response.get_json()["errors"], (path, body)
    response = api.patch(f"/contacts/{a_contact.id}",
                         json={"introduced_by_id": b_ids["contact_id"]})
    assert response.status_code == 422
    assert snapshot(app) == before
