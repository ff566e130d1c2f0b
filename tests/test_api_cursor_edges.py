"""The API's cursors at their edges (GET /api/v1/interactions and /contacts): filters sent
empty or false, times at the ends of the range, a filter's record deleted mid-walk."""

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


def _talks(api, make_contact, medium, count=3):
    from datetime import UTC, datetime, timedelta

    ada = make_contact(api.user, name="Ada")
    for n in range(count):
        created = api.post("/interactions", json={
            "medium_id": medium("email").id, "participant_ids": [ada.id],
            "occurred_at": (datetime(2025, 6, 1, 12, tzinfo=UTC) - timedelta(hours=n)).isoformat(),
            "summary": f"Talk {n}"})
        assert created.status_code == 201, created.data


def _no_server_error(api, url):
    """The status of GET url; a server error (raised in testing) fails the test."""
    try:
        response = api.get(url)
    except Exception as exc:  # TESTING propagates what a client sees as a 500
        raise AssertionError(f"GET {url} is a 500: {exc!r}") from exc
    assert response.status_code < 500, response.data
    return response


def test_a_since_in_range_where_given_but_not_in_utc_is_no_500_by_cursor(
        api, make_contact, medium):
    """since=1900-01-01T00:00:00+14:00 is accepted (its year is 1900), and a numbered page
    answers it; the cursor keeps it in UTC (1899-12-31T10:00Z), which _instant parses again
    with the range check: the first cursor page, a search, and the numbered page's
    next_cursor all raise FieldError, a 500."""
    _talks(api, make_contact, medium)
    since, until = quote("1900-01-01T00:00:00+14:00"), quote("2200-12-31T23:30:00-05:00")
    numbered = _no_server_error(api, f"/interactions?since={since}&per_page=1")
    assert numbered.status_code == 200
    assert _no_server_error(
        api, "/interactions?cursor=" + quote(numbered.get_json()["next_cursor"])
    ).status_code == 200
    assert _no_server_error(api, f"/interactions?cursor=&since={since}").status_code == 200
    assert _no_server_error(api, f"/interactions?q=talk&until={until}").status_code == 200


def test_a_cursor_whose_contact_is_gone_says_so(api, make_contact, medium):
    """README: a cursor whose contact was deleted since is a 404. The client sent only
    the cursor to /interactions, and the problem's detail is Werkzeug's "The requested URL
    was not found on the server. If you entered the URL manually please check your
    spelling": nothing says that the contact the cursor filters by is what is gone."""
    from datetime import UTC, datetime, timedelta

    ada = make_contact(api.user, name="Ada")
    for n in range(3):
        assert api.post("/interactions", json={
            "medium_id": medium("email").id, "participant_ids": [ada.id],
            "summary": f"Talk {n}",
            "occurred_at": (datetime(2025, 6, 1, tzinfo=UTC) - timedelta(hours=n)).isoformat(),
        }).status_code == 201
    cursor = api.get(f"/interactions?cursor=&per_page=1&contact_id={ada.id}"
                     ).get_json()["next_cursor"]
    assert api.delete(f"/contacts/{ada.id}").status_code == 204

    body = problem_of(api.get("/interactions?cursor=" + quote(cursor)), 404)

    assert "contact" in body["detail"].lower() and "spelling" not in body["detail"]


def test_an_interactions_search_cursor_sent_with_q_empty_is_a_400(
        api, make_contact, medium):
    """q= (empty) asks for no search, as a contacts cursor now reads it (a 400
    there, like archived=false). An interactions cursor of a search sent with q= walks on
    through the search the client asked not to make."""
    from datetime import UTC, datetime, timedelta

    ada = make_contact(api.user, name="Ada")
    stamp = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    for n, summary in enumerate(("Coffee one", "Lunch", "Coffee two", "Coffee three")):
        created = api.post("/interactions", json={
            "medium_id": medium("email").id, "participant_ids": [ada.id],
            "occurred_at": (stamp - timedelta(hours=n)).isoformat(), "summary": summary})
        assert created.status_code == 201, created.data
    first = api.get("/interactions?q=coffee&per_page=1").get_json()
    assert first["next_cursor"] is not None

    response = api.get("/interactions?q=&per_page=1&cursor=" + quote(first["next_cursor"]))

    assert "other filters" in problem_of(response, 400)["detail"]


def test_a_contacts_cursor_whose_tag_was_renamed_says_so_rather_than_end_the_walk(
        api, make_contact):
    """The walk filters by the tag's name: renamed (or merged, or deleted) since the last
    page, the next one was empty with next_cursor null, as if every contact had been
    read, and a sync stopped there believing it had them all."""
    for n in range(4):
        make_contact(api.user, name=f"Tagged {n}", tags="conference")
    first = api.get("/contacts?cursor=&per_page=2&tag=conference").get_json()
    tag = api.get("/tags").get_json()["items"][0]
    renamed = api.patch(f"/tags/{tag['id']}", json={"name": "events"},
                        headers={"If-Match": api.get(f"/tags/{tag['id']}").headers["ETag"]})
    assert renamed.status_code == 200, renamed.data

    body = problem_of(api.get("/contacts?cursor=" + quote(first["next_cursor"])), 404)

    assert "'conference'" in body["detail"] and "start again" in body["detail"]
    # The same name in another case is the same tag: the walk goes on.
    api.patch(f"/tags/{tag['id']}", json={"name": "Conference"},
              headers={"If-Match": api.get(f"/tags/{tag['id']}").headers["ETag"]})
    rest = api.get("/contacts?cursor=" + quote(first["next_cursor"])).get_json()
    assert [c["name"] for c in rest["items"]] == ["Tagged 2", "Tagged 3"]
