"""Error responses: what they carry besides the status, for pages and the API alike."""

from __future__ import annotations

from fixtures.api_client import ApiClient, make_token


def allowed(response) -> set[str]:
    assert response.status_code == 405, response.data
    return {method.strip() for method in response.headers["Allow"].split(",")}


def test_a_405_from_the_api_says_which_methods_are_allowed(app, client, make_user):
    api = ApiClient(client, make_token(app, make_user()), None)

    response = api.client.put("/api/v1/contacts", json={}, headers=api._headers())
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 405
    assert allowed(response) == {"GET", "HEAD", "OPTIONS", "POST"}
    assert allowed(api.get("/reminders/1/done")) == {"OPTIONS", "POST"}


def test_a_405_page_says_which_methods_are_allowed(client, logged_in):
    response = client.put("/contacts")
    assert response.mimetype == "text/html"
    assert allowed(response) == {"GET", "HEAD", "OPTIONS"}
    assert allowed(client.get("/interactions/1/delete")) == {"OPTIONS", "POST"}
