"""GET /api/v1/interactions by cursor and by what was said: a walk of a changing log that
sees each interaction once, filters a cursor keeps, and the web list's search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fixtures.api_client import ApiClient, make_token, problem_of

STAMP = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _walk(api, first: str, *, change=None) -> list[list[int]]:
    """The ids of each page, following next_cursor from `first` to the end; change(n) runs
    after the nth page is read."""
    pages, url = [], first
    while True:
        response = api.get(url)
        assert response.status_code == 200, response.data
        body = response.get_json()
        assert "total" not in body and "page" not in body
        pages.append([i["id"] for i in body["items"]])
        if change is not None:
            change(len(pages))
        if body["next_cursor"] is None:
            return pages
        url = "/interactions?" + _query(cursor=body["next_cursor"], per_page=body["per_page"])


def _query(**params) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


def _log(api, contact, at: datetime, summary: str, medium_id: int, **extra) -> int:
    created = api.post("/interactions", json={
        "medium_id": medium_id, "occurred_at": at.isoformat(), "participant_ids": [contact.id],
        "summary": summary, **extra})
    assert created.status_code == 201, created.data
    return created.get_json()["id"]


def test_a_walk_by_cursor_returns_each_interaction_once_while_the_log_changes(
        api, make_contact, medium):
    ada = make_contact(api.user, name="Ada")
    email = medium("email").id
    # Three at one instant (told apart by id), one private: hers, so listed.
    ids = [_log(api, ada, STAMP - timedelta(hours=n // 3), f"Talk {n}", email,
                is_private=n == 4) for n in range(9)]
    expected = sorted(ids, key=lambda i: (ids.index(i) // 3, -i))

    deleted, logged = expected[6], []

    def change(page: int):
        if page == 1:  # after the first page: one logged newer, one older; one deleted
            logged.append(_log(api, ada, STAMP + timedelta(hours=1), "Newest", email))
            logged.append(_log(api, ada, STAMP - timedelta(days=1), "Backdated", email))
            assert api.delete(f"/interactions/{deleted}").status_code == 204

    pages = _walk(api, "/interactions?cursor=&per_page=2", change=change)

    walked = [i for page in pages for i in page]
    assert len(walked) == len(set(walked))
    assert walked == [i for i in expected if i != deleted] + [logged[1]]
    assert all(len(page) == 2 for page in pages[:-1])


def test_a_numbered_page_still_counts_and_gives_a_cursor_to_go_on(api, make_contact, medium):
    ada = make_contact(api.user, name="Ada")
    ids = [_log(api, ada, STAMP - timedelta(hours=n), f"Talk {n}", medium("email").id)
           for n in range(5)]

    first = api.get("/interactions?per_page=2").get_json()
    assert (first["page"], first["total"], first["pages"]) == (1, 5, 3)
    assert [i["id"] for i in first["items"]] == ids[:2]
    rest = _walk(api, "/interactions?" + _query(cursor=first["next_cursor"], per_page=2))
    assert rest == [ids[2:4], ids[4:]]
    last = api.get("/interactions?per_page=2&page=3").get_json()
    assert last["next_cursor"] is None and last["total"] == 5
    body = problem_of(api.get("/interactions?" + _query(cursor=first["next_cursor"], page=2)),
                      422)
    assert set(body["errors"]) == {"page"}


def test_a_cursor_keeps_the_filters_it_was_made_with(api, make_contact, medium):
    ada, grace = make_contact(api.user, name="Ada"), make_contact(api.user, name="Grace")
    skype, email = medium("skype").id, medium("email").id
    wanted = []
    for n in range(12):
        who, on = (ada if n % 2 else grace), (skype if n % 3 else email)
        at = STAMP - timedelta(days=n)
        iid = _log(api, who, at, f"Talk {n}", on)
        if who is ada and on == skype and n < 10:
            wanted.append(iid)
    filters = {"contact_id": ada.id, "medium_id": skype, "since": "2025-05-22T12:00:00Z",
               "until": "2025-06-01T12:00:00+00:00", "per_page": 1}

    first = api.get("/interactions?" + _query(cursor="", **filters)).get_json()
    # Alone, the cursor goes on with its filters; with the very same ones too.
    alone = _walk(api, "/interactions?" + _query(cursor=first["next_cursor"], per_page=1))
    assert [i["id"] for i in first["items"]] + [p[0] for p in alone if p] == wanted
    same = api.get("/interactions?" + _query(**{**filters, "until": "2025-06-01T14:00:00+02:00"},
                                             cursor=first["next_cursor"]))
    assert [i["id"] for i in same.get_json()["items"]] == wanted[1:2]
    # Another filter, or one left out, is refused rather than mixed in.
    for other in ({"medium_id": email}, {"contact_id": ada.id}, {"q": "talk"},
                  {**filters, "contact_id": grace.id}):
        body = problem_of(api.get("/interactions?" + _query(
            cursor=first["next_cursor"], **other)), 400)
        assert "other filters" in body["detail"]


@pytest.mark.parametrize("mangle", [
    lambda c: "not-a-cursor",
    lambda c: c[:-3],
    lambda c: c[:-1] + ("A" if c[-1] not in "ABCD" else "Q"),  # the signature's last bits
    lambda c: "x" + c,
    lambda c: c + "." + c,
])
def test_a_cursor_rapport_did_not_give_is_a_400(api, make_contact, medium, mangle):
    ada = make_contact(api.user, name="Ada")
    for n in range(3):
        _log(api, ada, STAMP - timedelta(hours=n), f"Talk {n}", medium("email").id)
    cursor = api.get("/interactions?cursor=&per_page=1").get_json()["next_cursor"]

    body = problem_of(api.get("/interactions?" + _query(cursor=mangle(cursor))), 400)
    assert "cursor" in body["detail"]


def test_another_users_interactions_and_cursors_never_cross(app, client, api, make_user,
                                                            make_contact, medium):
    other = make_user(email="other@example.com")
    theirs = ApiClient(client, make_token(app, other), other)
    mine = [_log(api, make_contact(api.user, name="Ada"), STAMP - timedelta(hours=n),
                 f"My pricing {n}", medium("email").id) for n in range(3)]
    their_contact = make_contact(other, name="Theirs")
    for n in range(3):
        _log(theirs, their_contact, STAMP - timedelta(minutes=30 + 60 * n),
             f"Their pricing {n}", medium("email").id, is_private=True)
    their_cursor = theirs.get("/interactions?cursor=&per_page=1").get_json()["next_cursor"]

    assert _walk(api, "/interactions?cursor=&per_page=2") == [mine[:2], mine[2:]]
    assert _walk(api, "/interactions?q=pricing&per_page=2") == [mine[:2], mine[2:]]
    body = problem_of(api.get("/interactions?" + _query(cursor=their_cursor)), 400)
    assert "another" in body["detail"]
    problem_of(api.get(f"/interactions?contact_id={their_contact.id}&cursor="), 404)


def test_q_finds_what_was_said_in_any_case_as_the_web_list_does(api, make_contact, medium):
    ada, grace = make_contact(api.user, name="Ada"), make_contact(api.user, name="Grace")
    skype, email = medium("skype").id, medium("email").id
    coffee = _log(api, ada, STAMP, "Coffee about Kubernetes", skype)
    call = _log(api, grace, STAMP - timedelta(days=1), "Call with Grace", email,
                notes="She moved the CLUSTER to kubernetes last spring.")
    _log(api, ada, STAMP - timedelta(days=2), "Lunch", skype, notes="Nothing about work.")
    izmir = _log(api, ada, STAMP - timedelta(days=3), "Flight to İZMİR booked", email)

    def found(**params):
        response = api.get("/interactions?" + _query(**params))
        assert response.status_code == 200, response.data
        body = response.get_json()
        assert "total" not in body  # a search is never counted
        return [i["id"] for i in body["items"]]

    assert found(q="KUBER") == [coffee, call]
    assert found(q="  kubernetes ") == [coffee, call]
    assert found(q="cluster to kub") == [call]
    assert found(q="izmir") == [izmir]
    assert found(q="kubernetes", medium_id=email) == [call]
    assert found(q="kubernetes", contact_id=ada.id) == [coffee]
    assert found(q="kubernetes", until="2025-06-01T00:00:00Z") == [call]
    assert found(q="kubernetes", page=1) == [coffee, call]
    assert found(q="nobody said this") == []
    # Paged by cursor, the words kept.
    assert _walk(api, "/interactions?q=kubernetes&per_page=1") == [[coffee], [call]]
    body = problem_of(api.get("/interactions?q=kubernetes&page=2"), 422)
    assert set(body["errors"]) == {"page"}


@pytest.mark.parametrize(("q", "message"), [
    ("x" * 101, "Search for at most 100 characters."),
    ("kuber\x00netes", "Search for words without line breaks, tabs or hidden characters."),
    ("line\nbreak", "Search for words without line breaks, tabs or hidden characters."),
    ("tab\there", "Search for words without line breaks, tabs or hidden characters."),
    ("zero\u200bwidth", "Search for words without line breaks, tabs or hidden characters."),
])
def test_a_search_rapport_cannot_take_is_a_422_naming_q(api, q, message):
    body = problem_of(api.get("/interactions?" + _query(q=q)), 422)

    assert body["errors"] == {"q": message}


def test_the_openapi_document_describes_cursor_paging_and_search(client):
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/interactions"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}

    assert {"cursor", "q", "page", "per_page"} <= set(parameters)
    assert parameters["q"]["schema"]["maxLength"] == 100
    assert "400" in operation["responses"]
    envelopes = operation["responses"]["200"]["content"]["application/json"]["schema"]["oneOf"]
    schemas = document["components"]["schemas"]
    by_number, by_cursor = (schemas[e["$ref"].rsplit("/", 1)[1]] for e in envelopes)
    assert set(by_cursor["required"]) == {"items", "per_page", "next_cursor"}
    assert {"total", "next_cursor"} <= set(by_number["required"])
    assert "next_cursor" in operation["description"]


# --- contacts, by name ----------------------------------------------------------------


def test_a_walk_of_contacts_by_cursor_returns_each_once_while_the_list_changes(
        api, make_contact):
    names = ["Ada", "Émile", "Grace", "Hedy", "Joan", "Katherine", "Mary"]
    ids = {name: make_contact(api.user, name=name).id for name in names}
    later = []

    def change(page: int):
        if page == 1:  # after Ada and Émile: one added before, one after; Hedy deleted
            for name in ("Barbara", "Radia"):
                created = api.post("/contacts", json={"name": name})
                assert created.status_code == 201
                later.append(created.get_json()["id"])
            assert api.delete(f"/contacts/{ids['Hedy']}").status_code == 204

    pages, url = [], "/contacts?cursor=&per_page=2"
    while url:
        body = api.get(url).get_json()
        assert "total" not in body
        pages.append([c["name"] for c in body["items"]])
        change(len(pages))
        url = body["next_cursor"] and "/contacts?" + _query(cursor=body["next_cursor"],
                                                              per_page=2)

    assert pages == [["Ada", "Émile"], ["Grace", "Joan"], ["Katherine", "Mary"], ["Radia"]]


def test_a_contacts_cursor_keeps_its_filters_and_its_list(api, make_contact, medium):
    for n in range(5):
        make_contact(api.user, name=f"Tagged {n}", tags="conference")
        make_contact(api.user, name=f"Other {n}")
    first = api.get("/contacts?cursor=&per_page=2&tag=Conference").get_json()
    rest = api.get("/contacts?" + _query(cursor=first["next_cursor"])).get_json()

    assert [c["name"] for c in first["items"]] == ["Tagged 0", "Tagged 1"]
    assert [c["name"] for c in rest["items"]] == ["Tagged 2", "Tagged 3", "Tagged 4"]
    assert rest["next_cursor"] is None
    problem_of(api.get("/contacts?" + _query(cursor=first["next_cursor"], q="other")), 400)
    problem_of(api.get("/contacts?" + _query(cursor=first["next_cursor"][:-2])), 400)
    body = problem_of(api.get("/contacts?cursor=&sort=last"), 422)
    assert set(body["errors"]) == {"sort"}
    # A cursor of the interactions is no cursor of the contacts.
    ada = make_contact(api.user, name="Ada")
    for n in range(2):
        _log(api, ada, STAMP - timedelta(hours=n), f"Talk {n}", medium("email").id)
    theirs = api.get("/interactions?cursor=&per_page=1").get_json()["next_cursor"]
    problem_of(api.get("/contacts?" + _query(cursor=theirs)), 400)
    problem_of(api.get("/interactions?" + _query(cursor=first["next_cursor"])), 400)
