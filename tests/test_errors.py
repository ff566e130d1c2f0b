"""Error responses: what they carry besides the status, for pages and the API alike."""

from __future__ import annotations

import re

import pytest
from fixtures.api_client import ApiClient, make_token
from support import PASSWORD, page_text


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


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_a_form_of_an_ended_session_says_why_and_leads_back_to_the_form(app, make_user, count):
    """Tokens live as long as the session: "open too long" was not why, and the page led
    only home, away from the form whose text the browser still holds."""
    from crm.models import Contact

    make_user(email="ann@example.com")
    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    client.post("/login", data={"email": "ann@example.com", "password": PASSWORD,
                                "csrf_token": token})
    form = client.get("/contacts/new").get_data(as_text=True)
    stale = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
    client.post("/logout", data={"csrf_token": stale})

    response = client.post("/contacts/new?next=/contacts", data={
        "name": "Ada", "csrf_token": stale},
        headers={"Referer": "http://localhost/contacts/new?next=/contacts"})

    assert response.status_code == 400
    text = page_text(response.get_data(as_text=True))
    assert "Your session ended while the form was open" in text
    assert 'href="/contacts/new?next=/contacts">Back to the form' in response.get_data(
        as_text=True)
    assert count(Contact) == 0

    # A form posted from another site gets no way "back" to it.
    elsewhere = client.post("/contacts/new", data={"name": "Ada", "csrf_token": "x"},
                            headers={"Referer": "https://evil.example/contacts/new"})
    assert elsewhere.status_code == 400
    assert "Back to the form" not in elsewhere.get_data(as_text=True)
