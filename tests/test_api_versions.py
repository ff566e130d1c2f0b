"""ETag and If-Match: two API clients editing one record never undo each other silently."""

from __future__ import annotations

from fixtures.api_client import problem_of

from crm.extensions import db
from crm.models import Contact, Interaction


def test_a_change_made_on_a_stale_version_is_refused_and_changes_nothing(app, api):
    ada = api.post("/contacts", json={"name": "Ada", "tags": ["math"]})
    assert ada.status_code == 201
    contact_id, read = ada.get_json()["id"], ada.headers["ETag"]
    assert api.get(f"/contacts/{contact_id}").headers["ETag"] == read

    # Another client adds a tag; this one, still holding what it read, replaces the tags.
    first = api.patch(f"/contacts/{contact_id}", json={"tags": ["math", "conference"]},
                      headers={"If-Match": read})
    assert first.status_code == 200 and first.headers["ETag"] != read
    stale = api.patch(f"/contacts/{contact_id}", json={"tags": ["math", "design"]},
                      headers={"If-Match": read})

    body = problem_of(stale, 412)
    assert "changed since the version in If-Match" in body["detail"]
    current = api.get(f"/contacts/{contact_id}")
    assert current.get_json()["tags"] == ["conference", "math"]  # nothing lost
    assert current.headers["ETag"] == first.headers["ETag"]

    # Read again, then the change goes through; so does one sent without If-Match, or "*".
    again = api.patch(f"/contacts/{contact_id}", json={"tags": ["math", "conference", "design"]},
                      headers={"If-Match": current.headers["ETag"]})
    assert again.status_code == 200
    assert again.get_json()["tags"] == ["conference", "design", "math"]
    assert api.patch(f"/contacts/{contact_id}", json={"title": "Countess"}).status_code == 200
    assert api.patch(f"/contacts/{contact_id}", json={"company": "Engines"},
                     headers={"If-Match": "*"}).status_code == 200


def test_a_get_answers_304_while_the_etag_is_current(api):
    created = api.post("/contacts", json={"name": "Grace"})
    contact_id, tag = created.get_json()["id"], created.headers["ETag"]

    unchanged = api.get(f"/contacts/{contact_id}", headers={"If-None-Match": tag})
    assert unchanged.status_code == 304 and unchanged.data == b""
    head = api.client.head(f"/api/v1/contacts/{contact_id}",
                           headers=api._headers({"If-None-Match": tag}))
    assert head.status_code == 304

    api.patch(f"/contacts/{contact_id}", json={"company": "US Navy"})
    changed = api.get(f"/contacts/{contact_id}", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.get_json()["company"] == "US Navy"


def test_the_etag_moves_with_any_change_to_what_a_client_reads(app, api, make_interaction):
    """Logging an interaction elsewhere (the web, another client) changes the contact's
    last interaction: its ETag moves, so a client holding the old one is refused."""
    created = api.post("/contacts", json={"name": "Ada"})
    contact_id, read = created.get_json()["id"], created.headers["ETag"]
    with app.app_context():
        contact = db.session.get(Contact, contact_id)
        db.session.expunge(contact)
    make_interaction(api.user, contact)

    problem_of(api.patch(f"/contacts/{contact_id}", json={"notes": "x"},
                         headers={"If-Match": read}), 412)


def test_deleting_a_stale_version_is_refused(app, api, count):
    created = api.post("/contacts", json={"name": "Ada"})
    contact_id, read = created.get_json()["id"], created.headers["ETag"]
    api.patch(f"/contacts/{contact_id}", json={"notes": "Met at the Royal Society"})

    problem_of(api.delete(f"/contacts/{contact_id}", headers={"If-Match": read}), 412)
    assert count(Contact) == 1
    fresh = api.get(f"/contacts/{contact_id}").headers["ETag"]
    assert api.delete(f"/contacts/{contact_id}", headers={"If-Match": fresh}).status_code == 204
    assert count(Contact) == 0


def test_interactions_carry_versions_too(app, api, medium, count):
    ada = api.post("/contacts", json={"name": "Ada"}).get_json()
    logged = api.post("/interactions", json={
        "medium_id": medium("phone").id, "occurred_at": "2024-03-01T10:00:00Z",
        "participant_ids": [ada["id"]], "summary": "Call"})
    assert logged.status_code == 201
    interaction_id, read = logged.get_json()["id"], logged.headers["ETag"]
    assert api.get(f"/interactions/{interaction_id}").headers["ETag"] == read

    assert api.patch(f"/interactions/{interaction_id}", json={"summary": "Long call"},
                     headers={"If-Match": read}).status_code == 200
    problem_of(api.patch(f"/interactions/{interaction_id}", json={"summary": "Short call"},
                         headers={"If-Match": read}), 412)
    problem_of(api.delete(f"/interactions/{interaction_id}", headers={"If-Match": read}), 412)
    assert api.get(f"/interactions/{interaction_id}").get_json()["summary"] == "Long call"
    assert count(Interaction) == 1


def test_the_openapi_document_describes_versions(api):
    paths = api.get("/openapi.json").get_json()["paths"]
    patch = paths["/contacts/{contact_id}"]["patch"]
    assert "412" in patch["responses"]
    assert "ETag" in patch["responses"]["200"]["headers"]
    assert {"name": "If-Match", "in": "header"}.items() <= next(
        p for p in patch["parameters"] if p["name"] == "If-Match").items()
    get = paths["/interactions/{interaction_id}"]["get"]
    assert "304" in get["responses"]
    assert any(p["name"] == "If-None-Match" for p in get["parameters"])
    assert "412" in paths["/interactions/{interaction_id}"]["delete"]["responses"]
