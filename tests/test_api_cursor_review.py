"""Review of the API's cursors (GET /api/v1/interactions and /contacts): defects found."""

from __future__ import annotations

from urllib.parse import quote

from fixtures.api_client import problem_of


def _archive(api, contact):
    etag = api.get(f"/contacts/{contact.id}").headers.get("ETag", "*")
    response = api.patch(f"/contacts/{contact.id}", json={"archived": True},
                         headers={"If-Match": etag})
    assert response.status_code == 200, response.data


def test_a_contacts_cursor_of_archived_contacts_sent_with_archived_false_is_a_400(
        api, make_contact):
    """A cursor carries its filters: sent with other ones it is a 400 (README, OpenAPI).
    archived=false is another filter than the cursor's archived=true, yet the walk goes on
    through the archived contacts the client asked not to see."""
    for name in ("Arch one", "Arch two"):
        _archive(api, make_contact(api.user, name=name))
    make_contact(api.user, name="Live")
    first = api.get("/contacts?cursor=&archived=true&per_page=1").get_json()
    assert first["next_cursor"] is not None

    response = api.get("/contacts?archived=false&per_page=1&cursor="
                       + quote(first["next_cursor"]))

    assert "other filters" in problem_of(response, 400)["detail"]
