"""The API keeps the web's rules: what a form refuses, the API refuses too, with a 422
naming the field, and nothing is stored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from fixtures.api_client import ApiClient, make_token

from crm.models import Interaction

NOW = datetime(2026, 7, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def api(app, client, make_user):
    user = make_user(email="api@example.com", time_zone="Europe/London")
    return ApiClient(client, make_token(app, user), user)


def problem_of(response, status):
    assert response.status_code == status, response.data
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    return body


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
