"""DELETE /contacts/{id}: what goes with the contact, what stays, and what it says so."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from crm.models import Reminder


@pytest.fixture
def network(api, medium):
    """Ann; Bob, with a reminder, a handle and a keep-in-touch cadence; Cat, whom Bob
    introduced; a lunch Ann and Bob shared and a call with Bob alone."""
    def post(path, body):
        response = api.post(path, json=body)
        assert response.status_code == 201, response.data
        return response.get_json()

    ann = post("/contacts", {"name": "Ann"})
    bob = post("/contacts", {"name": "Bob", "keep_in_touch_days": 30})
    post(f"/contacts/{bob['id']}/channels", {"medium_id": medium("email").id,
                                             "value": "bob@example.com"})
    cat = post("/contacts", {"name": "Cat", "introduced_by_id": bob["id"]})
    sent = {"medium_id": medium("phone").id, "occurred_at": "2025-01-01T09:00:00Z"}
    lunch = post("/interactions", {**sent, "participant_ids": [ann["id"], bob["id"]],
                                   "summary": "Lunch"})
    call = post("/interactions", {**sent, "participant_ids": [bob["id"]], "summary": "Call"})
    paper = post("/reminders", {"title": "Send Bob the paper", "contact_id": bob["id"],
                                "due_at": "2030-01-01T09:00:00Z"})
    return {"ann": ann, "bob": bob, "cat": cat, "lunch": lunch, "call": call, "paper": paper}


def test_deleting_a_contact_does_what_its_description_says(api, client, network, count):
    bob, cat, lunch = network["bob"], network["cat"], network["lunch"]
    assert count(Reminder, Reminder.contact_id == bob["id"]) == 2  # the paper, keep in touch

    assert api.delete(f"/contacts/{bob['id']}").status_code == 204

    assert api.get(f"/reminders/{network['paper']['id']}").status_code == 404
    assert count(Reminder) == 0
    assert api.get(f"/interactions/{network['call']['id']}").status_code == 404
    assert api.get(f"/interactions/{lunch['id']}").get_json()["participant_ids"] == [
        network["ann"]["id"]]
    assert api.get(f"/contacts/{cat['id']}").get_json()["introduced_by_id"] is None

    doc = client.get("/api/v1/openapi.json").get_json()
    said = doc["paths"]["/contacts/{contact_id}"]["delete"]["description"]
    for fact in ("every reminder about them", "interactions only they took part in",
                 "introduced_by_id null"):
        assert fact in said, fact


def test_deleting_a_contact_moves_updated_at_of_the_records_it_changes(api, network, medium):
    """Cat loses introduced_by_id and the lunch a participant: their JSON changed, so their
    updated_at moves. Ann's and a lunch without Bob do not change, nor does their stamp."""
    ann, bob, cat, lunch = network["ann"], network["bob"], network["cat"], network["lunch"]
    other = api.post("/interactions", json={
        "medium_id": medium("phone").id, "occurred_at": "2024-01-01T09:00:00Z",
        "participant_ids": [ann["id"]], "summary": "Without Bob"}).get_json()
    ann = api.get(f"/contacts/{ann['id']}").get_json()

    with time_machine.travel(datetime(2030, 1, 1, 9, tzinfo=UTC), tick=False):
        assert api.delete(f"/contacts/{bob['id']}").status_code == 204

    cat_after = api.get(f"/contacts/{cat['id']}").get_json()
    assert (cat_after["introduced_by_id"], cat_after["updated_at"]) == (
        None, "2030-01-01T09:00:00Z")
    lunch_after = api.get(f"/interactions/{lunch['id']}").get_json()
    assert (lunch_after["participant_ids"], lunch_after["updated_at"]) == (
        [ann["id"]], "2030-01-01T09:00:00Z")
    assert api.get(f"/contacts/{ann['id']}").get_json() == ann
    assert api.get(f"/interactions/{other['id']}").get_json() == other
