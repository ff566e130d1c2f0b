"""The API keeps the web's rules: what a form refuses, the API refuses too, with a 422
naming the field, and nothing is stored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from fixtures.api_client import problem_of

from crm.models import Contact, Interaction, Reminder

NOW = datetime(2026, 7, 2, 12, 0, tzinfo=UTC)




# --- an interaction more than a day ahead --------------------------------------------


def test_an_interaction_more_than_a_day_ahead_is_refused_as_on_the_web(api, medium, count, row):
    with time_machine.travel(NOW, tick=False):
        ada = api.post("/contacts", json={"name": "Ada", "keep_in_touch_days": 30}).get_json()
        [nudge] = api.get(f"/reminders?contact_id={ada['id']}").get_json()["items"]
        sent = {"medium_id": medium("phone").id, "participant_ids": [ada["id"]],
                "summary": "typo: 2199 for 2019"}

        for when in ("2199-01-01T00:00:00Z", "2026-07-03T12:01:00Z", "2026-07-03T14:01:00+02:00"):
            body = problem_of(api.post("/interactions", json={**sent, "occurred_at": when}), 422)
            assert body["errors"] == {
                "occurred_at": "That is more than a day ahead. Log interactions that happened."}
        assert count(Interaction) == 0
        got = api.get(f"/contacts/{ada['id']}").get_json()
        assert got["last_interaction_at"] is None and got["updated_at"] == ada["updated_at"]
        assert api.get(f"/reminders/{nudge['id']}").get_json()["due_at"] == nudge["due_at"]

        # A day ahead at most is fine: the evening before, or a clock a little ahead.
        logged = api.post("/interactions", json={**sent, "occurred_at": "2026-07-03T12:00:00Z"})
        assert logged.status_code == 201, logged.data
        logged = logged.get_json()

        body = problem_of(api.patch(f"/interactions/{logged['id']}",
                                    json={"occurred_at": "2199-01-01T00:00:00Z",
                                          "summary": "Changed"}), 422)
        assert set(body["errors"]) == {"occurred_at"}
        assert api.get(f"/interactions/{logged['id']}").get_json() == logged  # nothing lost
        assert row(Interaction, logged["id"]).occurred_at == datetime(2026, 7, 3, 12, tzinfo=UTC)
        assert api.get(f"/contacts/{ada['id']}").get_json()["last_interaction_at"] == \
            "2026-07-03T12:00:00Z"
        # Other fields still change on their own.
        assert api.patch(f"/interactions/{logged['id']}",
                         json={"summary": "Changed"}).status_code == 200


def test_the_openapi_document_states_the_day_ahead_rule(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    for name in ("InteractionInput", "InteractionPatch"):
        assert "Not more than a day ahead" in \
            schemas[name]["properties"]["occurred_at"]["description"], name


# --- archived contacts, as a web picker offers them --------------------------------------


ARCHIVED = "Bob is archived: restore them first."


@pytest.fixture
def people(api):
    """Ann (active) and Bob (archived), of the token's user."""
    ann = api.post("/contacts", json={"name": "Ann"}).get_json()
    bob = api.post("/contacts", json={"name": "Bob", "keep_in_touch_days": 7}).get_json()
    return ann, bob


def archive(api, contact, archived=True):
    response = api.patch(f"/contacts/{contact['id']}", json={"archived": archived})
    assert response.status_code == 200, response.data


def test_an_interaction_takes_an_archived_participant_only_if_it_has_them(api, people, medium,
                                                                          count):
    ann, bob = people
    sent = {"medium_id": medium("phone").id, "occurred_at": "2025-01-01T09:00:00Z",
            "summary": "Lunch"}
    shared = api.post("/interactions", json={**sent, "participant_ids": [ann["id"], bob["id"]]}
                      ).get_json()
    alone = api.post("/interactions", json={**sent, "participant_ids": [ann["id"]]}).get_json()
    archive(api, bob)
    cleo = api.post("/contacts", json={"name": "Cleo"}).get_json()
    archive(api, cleo)

    body = problem_of(api.post("/interactions", json={
        **sent, "participant_ids": [ann["id"], bob["id"]]}), 422)
    assert body["errors"] == {"participant_ids": ARCHIVED}
    body = problem_of(api.post("/interactions", json={
        **sent, "participant_ids": [cleo["id"], ann["id"], bob["id"]]}), 422)
    assert body["errors"] == {
        "participant_ids": "Bob and Cleo are archived: restore them first."}
    body = problem_of(api.post("/interactions", json={
        **sent, "participant_ids": [bob["id"], 999]}), 422)  # not theirs comes first
    assert body["errors"] == {"participant_ids": "Every participant must be one of your contacts."}
    body = problem_of(api.patch(f"/interactions/{alone['id']}", json={
        "participant_ids": [ann["id"], bob["id"]], "summary": "Changed"}), 422)
    assert body["errors"] == {"participant_ids": ARCHIVED}
    assert api.get(f"/interactions/{alone['id']}").get_json() == alone  # nothing lost
    assert count(Interaction) == 2
    assert api.get(f"/contacts/{bob['id']}").get_json()["last_interaction_at"] == \
        "2025-01-01T09:00:00Z"

    # An interaction keeps its own archived participant, as its edit form does.
    kept = api.patch(f"/interactions/{shared['id']}", json={
        "participant_ids": [bob["id"], ann["id"]], "summary": "Long lunch"})
    assert kept.status_code == 200, kept.data
    assert kept.get_json()["participant_ids"] == [ann["id"], bob["id"]]
    assert api.patch(f"/interactions/{shared['id']}", json={
        "participant_ids": [bob["id"]]}).get_json()["participant_ids"] == [bob["id"]]

    archive(api, bob, archived=False)  # restored, Bob can be chosen again
    assert api.post("/interactions", json={
        **sent, "participant_ids": [bob["id"]]}).status_code == 201


def test_a_contact_takes_an_archived_introducer_only_if_they_have_them(api, people, count):
    ann, bob = people
    cat = api.post("/contacts", json={"name": "Cat", "introduced_by_id": bob["id"]}).get_json()
    archive(api, bob)

    body = problem_of(api.post("/contacts", json={"name": "Dan",
                                                  "introduced_by_id": bob["id"]}), 422)
    assert body["errors"] == {"introduced_by_id": ARCHIVED}
    assert count(Contact) == 3
    body = problem_of(api.patch(f"/contacts/{ann['id']}", json={
        "introduced_by_id": bob["id"], "title": "Engineer"}), 422)
    assert body["errors"] == {"introduced_by_id": ARCHIVED}
    assert api.get(f"/contacts/{ann['id']}").get_json() == ann  # nothing lost
    body = problem_of(api.patch(f"/contacts/{ann['id']}", json={"introduced_by_id": 999}), 422)
    assert body["errors"] == {"introduced_by_id": "No such contact among yours."}
    body = problem_of(api.patch(f"/contacts/{ann['id']}", json={"introduced_by_id": ann["id"]}),
                      422)
    assert body["errors"] == {"introduced_by_id": "A contact cannot introduce themselves."}

    # Cat keeps the archived introducer she has, as her edit form does.
    kept = api.patch(f"/contacts/{cat['id']}", json={"introduced_by_id": bob["id"],
                                                     "title": "Designer"})
    assert kept.status_code == 200, kept.data
    assert (kept.get_json()["introduced_by_id"], kept.get_json()["title"]) == (bob["id"],
                                                                              "Designer")


def test_a_reminder_is_not_about_an_archived_contact(api, people, count):
    ann, bob = people
    archive(api, bob)
    before = count(Reminder)

    body = problem_of(api.post("/reminders", json={
        "title": "Ping Bob", "due_at": "2030-01-01T09:00:00Z", "contact_id": bob["id"]}), 422)
    assert body["errors"] == {"contact_id": ARCHIVED}
    assert count(Reminder) == before
    assert api.post("/reminders", json={
        "title": "Ping Ann", "due_at": "2030-01-01T09:00:00Z", "contact_id": ann["id"]}
    ).status_code == 201


def test_the_openapi_document_states_the_archived_rule(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    for name, field in (("InteractionInput", "participant_ids"), ("InteractionPatch",
                        "participant_ids"), ("ContactInput", "introduced_by_id"),
                        ("ContactPatch", "introduced_by_id"), ("ReminderInput", "contact_id")):
        assert "archived" in schemas[name]["properties"][field]["description"], (name, field)
