"""Contacts: create, validate, edit, archive, delete, search, paginate and sort."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
from fixtures.api_client import ApiClient, make_token
from sqlalchemy import select
from support import field_error, field_value, form_values, order_in, page_text

from crm.extensions import db
from crm.models import (
    Contact,
    ContactChannel,
    ImportKind,
    Interaction,
    Medium,
    Tag,
    User,
    contact_tags,
)
from crm.models import interaction_participants as participants


def _contact(app, contact_id):
    with app.app_context():
        contact = db.session.get(Contact, contact_id)
        if contact is not None:
            contact.tag_names  # noqa: B018 - load the tags before the session closes
        return contact


def _only_contact(app):
    with app.app_context():
        contact = db.session.scalar(select(Contact))
        contact.tag_names  # noqa: B018
        return contact


def test_create_contact_with_every_field(app, client, logged_in, make_contact, medium):
    grace = make_contact(logged_in, name="Grace Hopper")
    twitter = medium("twitter")

    response = client.post(
        "/contacts/new",
        data={
            "name": " Ada Lovelace ",
            "company": "Analytical Engines",
            "title": "Mathematician",
            "location": "London",
            "time_zone": "Europe/London",
            "tags": "conference, Design, design , berlin,, ,conference",
            "origin_medium": str(twitter.id),
            "origin_date": "2024-03-05",
            "introduced_by": str(grace.id),
            "keep_in_touch_days": "30",
            "notes": "Wrote the first program.",
            "is_private": "y",
        },
    )

    assert response.status_code == 302
    ada = _contact(app, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert (ada.owner_id, ada.name, ada.company, ada.title, ada.location) == (
        logged_in.id, "Ada Lovelace", "Analytical Engines", "Mathematician", "London"
    )
    assert ada.time_zone == "Europe/London"
    assert sorted(ada.tag_names, key=str.lower) == ["berlin", "conference", "Design"]
    assert (ada.origin_medium_id, ada.origin_date) == (twitter.id, date(2024, 3, 5))
    assert ada.introduced_by_id == grace.id
    assert (ada.keep_in_touch_days, ada.notes, ada.is_private) == (
        30, "Wrote the first program.", True
    )


def test_tags_are_shared_between_contacts_case_insensitively(app, client, logged_in, count):
    client.post("/contacts/new", data={"name": "Ada", "tags": "Conference"})
    client.post("/contacts/new", data={"name": "Grace", "tags": "conference, navy"})

    assert count(Tag) == 2
    assert count(contact_tags) == 3


def test_a_tag_typed_with_a_combining_accent_is_the_same_tag(app, client, logged_in, count):
    """"Café" pasted from macOS is often e + a combining accent: it made a second "Café"
    tag, and filtering by one missed the contacts of the other."""
    client.post("/contacts/new", data={"name": "Ann", "tags": "Caf\u00e9"})
    client.post("/contacts/new", data={"name": "Ben", "tags": "Cafe\u0301"})

    assert count(Tag) == 1
    listed = page_text(client.get("/contacts", query_string={"tag": "Cafe\u0301"}).data)
    assert "Ann" in listed and "Ben" in listed


def test_missing_name_keeps_what_was_typed(client, logged_in, count):
    response = client.post(
        "/contacts/new",
        data={"name": "", "company": "Analytical Engines", "tags": "maths, poetry",
              "notes": "Met at the salon.", "location": "London"},
    )

    assert response.status_code == 422
    assert "Give the contact a name." in page_text(response.data)
    values = form_values(response.data)
    assert values["company"] == ["Analytical Engines"]
    assert values["tags"] == ["maths, poetry"]
    assert values["location"] == ["London"]
    assert values["notes"] == ["Met at the salon."]
    assert count(Contact) == 0


def test_blank_name_is_missing_too(client, logged_in, count):
    response = client.post("/contacts/new", data={"name": "   ", "company": "Analytical Engines"})

    assert response.status_code == 422
    assert "Give the contact a name." in page_text(response.data)
    assert count(Contact) == 0


def test_tag_longer_than_40_characters_is_rejected(client, logged_in, count):
    response = client.post("/contacts/new", data={"name": "Ada", "tags": "ok, " + "x" * 41})

    assert response.status_code == 422
    assert "Each tag can have at most 40 characters" in page_text(response.data)
    assert count(Contact) == 0
    assert count(Tag) == 0


def test_tag_of_exactly_40_characters_is_fine(app, client, logged_in):
    response = client.post("/contacts/new", data={"name": "Ada", "tags": "y" * 40})

    assert response.status_code == 302
    assert _only_contact(app).tag_names == ["y" * 40]


def test_origin_medium_must_be_visible_to_the_user(
    client, logged_in, make_user, make_medium, count
):
    theirs = make_medium(make_user(), "Their conference")

    response = client.post("/contacts/new", data={"name": "Ada", "origin_medium": str(theirs.id)})

    assert response.status_code == 422
    # Read as one deleted meanwhile: nothing about someone else's medium is told.
    assert "The medium you chose was deleted since you opened the form" in page_text(
        response.data)
    assert "Their conference" not in page_text(response.data)
    assert count(Contact) == 0


def test_edit_contact(app, client, logged_in, make_contact):
    ada = make_contact(logged_in, name="Ada", company="Old Co", tags=["a", "b"])
    form = client.get(f"/contacts/{ada.id}/edit")
    assert form.status_code == 200
    assert field_value(form.data, "tags") == "a, b"
    assert field_value(form.data, "company") == "Old Co"

    response = client.post(
        f"/contacts/{ada.id}/edit",
        data={"name": "Ada King", "company": "New Co", "tags": "b, c"},
    )

    assert response.status_code == 302
    assert response.headers["Location"] == f"/contacts/{ada.id}"
    saved = _contact(app, ada.id)
    assert (saved.name, saved.company) == ("Ada King", "New Co")
    assert sorted(saved.tag_names) == ["b", "c"]


def test_introduction_cycle_is_refused(app, client, logged_in, make_contact):
    ada = make_contact(logged_in, name="Ada")
    babbage = make_contact(logged_in, name="Charles Babbage", introduced_by=ada)
    mary = make_contact(logged_in, name="Mary Somerville", introduced_by=babbage)

    response = client.post(
        f"/contacts/{ada.id}/edit", data={"name": "Ada", "introduced_by": str(mary.id)}
    )

    assert response.status_code == 422
    assert "Ada introduced that person" in page_text(response.data)
    assert _contact(app, ada.id).introduced_by_id is None


def test_a_contact_cannot_introduce_themselves(app, client, logged_in, make_contact):
    ada = make_contact(logged_in, name="Ada")

    response = client.post(
        f"/contacts/{ada.id}/edit", data={"name": "Ada", "introduced_by": str(ada.id)}
    )

    assert response.status_code == 422
    assert _contact(app, ada.id).introduced_by_id is None


def test_archive_and_restore(app, client, logged_in, make_contact):
    ada = make_contact(logged_in, name="Ada Lovelace")
    make_contact(logged_in, name="Grace Hopper")

    response = client.post(f"/contacts/{ada.id}/archive", follow_redirects=True)

    assert response.status_code == 200
    assert "Ada Lovelace archived." in page_text(response.data)
    assert _contact(app, ada.id).archived_at is not None
    active = page_text(client.get("/contacts").data)
    assert "Grace Hopper" in active and "Ada Lovelace" not in active
    archived = page_text(client.get("/contacts?archived=1").data)
    assert "Ada Lovelace" in archived and "Grace Hopper" not in archived
    assert client.get(f"/contacts/{ada.id}").status_code == 200  # still reachable

    client.post(f"/contacts/{ada.id}/archive", data={"restore": "1"}, follow_redirects=True)

    assert _contact(app, ada.id).archived_at is None
    assert "Ada Lovelace" in page_text(client.get("/contacts").data)


def test_a_network_all_archived_is_not_called_empty(client, logged_in, make_contact,
                                                   make_interaction):
    """With every contact archived, the contact list and the dashboard say so and lead to
    the archived list, instead of asking for a first contact."""
    gone = make_contact(logged_in, name="Gone Person")
    make_interaction(logged_in, gone, summary="Farewell drinks")
    assert client.get("/").status_code == 200  # figures counted before the archiving

    client.post(f"/contacts/{gone.id}/archive")

    for url in ("/contacts", "/"):
        body = client.get(url).get_data(as_text=True)
        text = page_text(body)
        assert "Every contact is archived" in text, url
        assert 'href="/contacts?archived=1"' in body, url
        assert "first contact" not in text and "starts here" not in text, url
    assert "1 archived contact," in page_text(client.get("/contacts").data)
    # A search, a tag or the archived list itself are not that case.
    assert "Every contact is archived" not in page_text(client.get("/contacts?q=zz").data)
    assert "Gone Person" in page_text(client.get("/contacts?archived=1").data)


def test_a_network_with_no_contacts_asks_for_the_first(client, logged_in):
    for url in ("/contacts", "/"):
        text = page_text(client.get(url).data)
        assert "Add your first contact" in text and "is archived" not in text, url


def test_a_tag_on_the_archived_list_filters_the_archived_list(client, logged_in,
                                                              make_contact):
    """A tag's link keeps the list it is on (archived, and its sort) and starts its search
    and pages afresh: it opened the active list, where nothing matched."""
    ada = make_contact(logged_in, name="Ada Lovelace", tags=["Poets"])
    make_contact(logged_in, name="Grace Hopper", tags=["Poets"])
    client.post(f"/contacts/{ada.id}/archive")

    body = client.get("/contacts?archived=1&sort=-name&q=love").get_data(as_text=True)
    [link] = set(re.findall(r'class="tag" href="([^"]+)"', body))
    link = unescape(link)

    assert parse_qs(urlsplit(link).query) == {
        "archived": ["1"], "sort": ["-name"], "tag": ["Poets"]}
    text = page_text(client.get(link).data)
    assert "Ada Lovelace" in text
    assert "Grace Hopper" not in text and "Nothing matches" not in text


def test_an_archived_contacts_page_asks_to_restore_before_logging(client, logged_in,
                                                                  make_contact, count):
    """Found by the walk-through: "Log interaction" led to a form that could not choose
    them ("Choose at least one person"), and "Set a follow-up" to a reminder about nobody."""
    zed = make_contact(logged_in, name="Zed")
    client.post(f"/contacts/{zed.id}/archive")

    page = client.get(f"/contacts/{zed.id}").get_data(as_text=True)
    assert "Restore them to log interactions" in page_text(page)
    assert f"/interactions/new?contact={zed.id}" not in page
    assert f"/reminders/new?contact={zed.id}" not in page
    asked = client.get(f"/interactions/new?contact={zed.id}", follow_redirects=True)
    assert asked.request.path == f"/contacts/{zed.id}"
    assert "Restore Zed to log interactions with them." in page_text(asked.data)
    # An old "Set a follow-up" link for them made a reminder about nobody.
    asked = client.post(f"/reminders/new?contact={zed.id}", data={
        "title": "Follow up with Zed", "local_date": "2099-01-01", "local_time": "09:00",
        "recurrence": "none"}, follow_redirects=True)
    assert asked.request.path == f"/contacts/{zed.id}"
    assert "Restore Zed to set reminders about them." in page_text(asked.data)
    from crm.models.reminder import Reminder

    assert count(Reminder) == 0

    client.post(f"/contacts/{zed.id}/archive", data={"restore": "1"})
    page = client.get(f"/contacts/{zed.id}").get_data(as_text=True)
    assert f"/interactions/new?contact={zed.id}" in page and "Restore them" not in page


def test_delete_asks_for_confirmation_first(client, logged_in, make_contact, make_interaction,
                                            count):
    ada = make_contact(logged_in, name="Ada Lovelace")
    grace = make_contact(logged_in, name="Grace Hopper")
    make_interaction(logged_in, [ada])
    make_interaction(logged_in, [ada, grace])

    page = client.get(f"/contacts/{ada.id}/delete")

    assert page.status_code == 200
    text = page_text(page.data)
    assert "Delete Ada Lovelace?" in text
    assert "1 interaction with only Ada Lovelace will be deleted" in text
    assert "1 interaction shared with other people will stay" in text
    assert count(Contact, Contact.id == ada.id) == 1

    response = client.post(f"/contacts/{ada.id}/delete")

    assert response.status_code == 302
    assert response.headers["Location"] == "/contacts"
    assert count(Contact, Contact.id == ada.id) == 0


def test_delete_says_which_reminders_and_introductions_go_with_the_contact(
        client, logged_in, make_contact, make_reminder, count):
    from crm.models.reminder import Reminder

    ada = make_contact(logged_in, name="Ada Lovelace", keep_in_touch_days=30)  # one open
    make_reminder(logged_in, contact=ada, kind="follow_up", local_date=date(2031, 1, 1))
    for status in ("done", "dismissed"):
        make_reminder(logged_in, contact=ada, kind="follow_up", local_date=date(2024, 1, 1),
                      status=status)
    make_reminder(logged_in, title="Not about Ada", local_date=date(2031, 1, 1))
    for name in ("Grace Hopper", "Alan Turing"):
        make_contact(logged_in, name=name, introduced_by=ada)

    text = page_text(client.get(f"/contacts/{ada.id}/delete").data)

    assert ("2 open reminders about Ada Lovelace and 2 in your reminder history will be "
            "deleted.") in text
    assert ("2 contacts introduced by Ada Lovelace will no longer say who introduced them."
            in text)
    client.post(f"/contacts/{ada.id}/delete")
    assert count(Reminder) == 1  # as the page said
    quiet = make_contact(logged_in, name="Quiet")
    text = page_text(client.get(f"/contacts/{quiet.id}/delete").data)
    assert "open reminder" not in text and "reminder history" not in text  # nothing to say
    assert "introduced by Quiet" not in text


def test_deleting_a_contact_keeps_shared_interactions(
    app, client, logged_in, make_contact, make_interaction, count, medium
):
    ada = make_contact(logged_in, name="Ada Lovelace", tags=["maths"])
    grace = make_contact(logged_in, name="Grace Hopper", introduced_by=ada)
    solo = make_interaction(logged_in, [ada], occurred_at=datetime(2025, 1, 1, tzinfo=UTC))
    shared = make_interaction(logged_in, [ada, grace], occurred_at=datetime(2025, 1, 2, tzinfo=UTC))
    graces_own = make_interaction(logged_in, [grace], occurred_at=datetime(2025, 1, 3, tzinfo=UTC))
    with app.app_context():
        db.session.add(ContactChannel(contact_id=ada.id, medium_id=medium("skype").id,
                                      value="ada.lovelace"))
        db.session.commit()

    response = client.post(f"/contacts/{ada.id}/delete")

    assert response.status_code == 302
    assert count(Interaction, Interaction.id == solo.id) == 0
    assert count(Interaction, Interaction.id.in_([shared.id, graces_own.id])) == 2
    assert count(participants) == 2  # shared → Grace, Grace's own → Grace
    assert count(participants, participants.c.contact_id == grace.id) == 2
    assert count(ContactChannel) == 0
    assert count(contact_tags) == 0
    grace_after = _contact(app, grace.id)
    assert grace_after.introduced_by_id is None
    assert grace_after.last_interaction_id == graces_own.id


@pytest.fixture
def searchable(app, logged_in, make_contact, medium):
    ada = make_contact(logged_in, name="Ada Lovelace", company="Analytical Engines",
                       tags=["Mathematician"])
    make_contact(logged_in, name="Grace Hopper", company="US Navy", tags=["compilers"])
    with app.app_context():
        db.session.add(ContactChannel(contact_id=ada.id, medium_id=medium("twitter").id,
                                      value="@ada_l"))
        db.session.commit()
    return ada


@pytest.mark.parametrize("q", ["lovelace", "ANALYTICAL", "mathem", "@ada", "ada_"])
def test_search_by_name_company_tag_and_handle(client, searchable, q):
    response = client.get("/contacts", query_string={"q": q})

    assert response.status_code == 200
    text = page_text(response.data)
    assert "Ada Lovelace" in text
    assert "Grace Hopper" not in text


def test_search_without_match_and_with_like_wildcards(client, searchable):
    # Unescaped, "a%e" and "a_a" would match "Ada Lovelace" as LIKE patterns.
    for q in ("nobody", "%", "a%e", "a_a"):
        text = page_text(client.get("/contacts", query_string={"q": q}).data)
        assert "Ada Lovelace" not in text and "Grace Hopper" not in text
        assert "No contacts match" in text


def test_filter_by_tag(client, searchable):
    text = page_text(client.get("/contacts?tag=compilers").data)

    assert "Grace Hopper" in text
    assert "Ada Lovelace" not in text


NAMES = ["Kilo Tester", "alfa Tester", "Echo Tester", "Charlie Tester", "India Tester",
         "Bravo Tester", "Juliett Tester", "Golf Tester", "Delta Tester", "Hotel Tester",
         "Foxtrot Tester", "Lima Tester"]


@pytest.mark.app_config(CONTACTS_PER_PAGE=5)
def test_pagination(client, logged_in, make_contact):
    for name in NAMES:
        make_contact(logged_in, name=name)
    alphabetical = sorted(NAMES, key=str.lower)

    pages = [page_text(client.get(f"/contacts?page={n}").data) for n in (1, 2, 3)]

    for n, text in enumerate(pages):
        shown = [name for name in NAMES if name in text]
        assert order_in(text, shown) == alphabetical[n * 5 : n * 5 + 5]
    assert "Page 2 of 3 · 12 contacts" in pages[1]
    # Past the end: an empty page, not an error, and not the welcome of an empty network
    # (found by the walk-through), with the way back.
    beyond = client.get("/contacts?page=9&sort=name")
    assert beyond.status_code == 200
    text = page_text(beyond.data)
    assert not [name for name in NAMES if name in text]
    assert "Nothing on page 9" in text and "starts here" not in text
    back = re.search(r'href="([^"]*)">Go to the last page<', beyond.get_data(as_text=True))[1]
    assert unescape(back) == "/contacts?page=3&sort=name"
    # A search is not counted: its way back is the first page.
    searched = client.get("/contacts?q=tester&page=9").get_data(as_text=True)
    assert "There are fewer matches than that." in page_text(searched)
    back = re.search(r'href="([^"]*)">Go to the first page<', searched)[1]
    assert unescape(back) == "/contacts?q=tester"


@pytest.mark.app_config(INTERACTIONS_PER_PAGE=2)
def test_a_timeline_page_past_the_end_leads_to_the_last(client, logged_in, make_contact,
                                                         make_interaction):
    ada = make_contact(logged_in, name="Ada")
    for day in range(1, 6):
        make_interaction(logged_in, ada, "phone", datetime(2026, 11, day, 9, tzinfo=UTC),
                         summary=f"Call {day}")
    beyond = client.get(f"/contacts/{ada.id}?page=7&order=oldest")
    text = page_text(beyond.data)
    assert "Nothing on page 7" in text and "No interactions yet" not in text
    last = re.search(r'href="([^"]*)">Go to the last page<', beyond.get_data(as_text=True))[1]
    assert unescape(last) == f"/contacts/{ada.id}?page=3&order=oldest"
    assert "Call 5" in page_text(client.get(unescape(last)).data)


def test_sort_by_name(client, logged_in, make_contact):
    for name in NAMES[:6]:
        make_contact(logged_in, name=name)
    expected = sorted(NAMES[:6], key=str.lower)

    assert order_in(client.get("/contacts?sort=name").data, NAMES[:6]) == expected
    assert order_in(client.get("/contacts").data, NAMES[:6]) == expected
    assert order_in(client.get("/contacts?sort=-name").data, NAMES[:6]) == expected[::-1]
    # An unknown sort falls back to the name.
    assert order_in(client.get("/contacts?sort=evil").data, NAMES[:6]) == expected


# In alphabetical order: accents set aside, letters without a decomposition spelt out.
FILED = ["ada Byron", "Bea Quist", "Émile Zola", "Łukasz Nowak", "Øyvind Berg", "Zoë Adams"]


def test_names_with_accents_are_filed_among_the_others(app, client, logged_in, make_contact,
                                                        make_interaction):
    """Lists by name sorted by lower(name), which put every accented initial after Z:
    SQLite's lower() folds only ASCII letters and PostgreSQL's order follows the database's
    collation (C here). The list, its reverse, the pickers and the API agree."""
    made = {name: make_contact(logged_in, name=name) for name in reversed(FILED)}

    assert order_in(client.get("/contacts").data, FILED) == FILED
    assert order_in(client.get("/contacts?sort=-name").data, FILED) == FILED[::-1]
    assert order_in(client.get("/interactions/new").data, FILED) == FILED
    api = ApiClient(client, make_token(app, logged_in), logged_in)
    listed = api.get("/contacts?sort=name").get_json()["items"]
    assert [c["name"] for c in listed] == FILED

    # An interaction lists its people in the same order (found in review).
    make_interaction(logged_in, [made[name] for name in reversed(FILED)], "phone")
    timeline = client.get(f"/contacts/{made['ada Byron'].id}").data.split(b"Timeline", 1)[1]
    assert order_in(timeline, FILED[1:]) == FILED[1:]

    # A new name files the contact anew: "Ægir" goes between "ada" and "Bea".
    assert client.post(f"/contacts/{made['Zoë Adams'].id}/edit",
                       data={"name": "Ægir Adams"}).status_code == 302
    renamed = ["ada Byron", "Ægir Adams", *FILED[1:-1]]
    assert order_in(client.get("/contacts").data, renamed) == renamed


def test_a_contacts_tags_are_shown_alphabetically(app, client, logged_in, make_contact):
    """Tag chips came in the database's order of raw names: capitals first, accented
    initials after z (found in review); the list of tags, the contact page, the contact
    list and the API now agree."""
    tags = ["zoo", "Été", "Berlin", "ada"]
    filed = ["ada", "Berlin", "Été", "zoo"]
    ada = make_contact(logged_in, name="Ada Lovelace", tags=tags)

    page = client.get(f"/contacts/{ada.id}").get_data(as_text=True)
    chips = re.findall(r'class="tag" href="[^"]*">([^<]+)<', page)
    assert chips == filed
    listed = client.get("/contacts").get_data(as_text=True)
    assert re.findall(r'class="tag" href="[^"]*">([^<]+)<', listed) == filed
    api = ApiClient(client, make_token(app, logged_in), logged_in)
    assert api.get(f"/contacts/{ada.id}").get_json()["tags"] == filed


def test_imported_names_are_filed_alphabetically(app, client, logged_in, make_contact):
    """Imports insert contacts without the ORM: the column's default files them too."""
    from crm.portability.services import import_file

    make_contact(logged_in, name="Zoë Adams")
    with app.app_context():
        user = db.session.get(User, logged_in.id)
        import_file(user, ImportKind.CSV, "people.csv",
                    "Name\nÉmile Zola\nada Byron\n".encode())
        db.session.commit()
    filed = ["ada Byron", "Émile Zola", "Zoë Adams"]
    assert order_in(client.get("/contacts").data, filed) == filed


def test_sort_by_last_interaction(client, logged_in, make_contact, make_interaction):
    ada = make_contact(logged_in, name="Ada Lovelace")
    grace = make_contact(logged_in, name="Grace Hopper")
    make_contact(logged_in, name="Alan Turing")  # never contacted
    katherine = make_contact(logged_in, name="Katherine Johnson")
    make_interaction(logged_in, [ada], occurred_at=datetime(2025, 3, 1, tzinfo=UTC))
    make_interaction(logged_in, [grace], occurred_at=datetime(2025, 1, 1, tzinfo=UTC))
    make_interaction(logged_in, [katherine], occurred_at=datetime(2025, 2, 1, tzinfo=UTC))
    # An older interaction logged later must not move Grace up.
    make_interaction(logged_in, [grace], occurred_at=datetime(2024, 12, 1, tzinfo=UTC))
    names = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson"]

    recent_first = order_in(client.get("/contacts?sort=last").data, names)
    oldest_first = order_in(client.get("/contacts?sort=-last").data, names)

    assert recent_first == ["Ada Lovelace", "Katherine Johnson", "Grace Hopper", "Alan Turing"]
    assert oldest_first == ["Grace Hopper", "Katherine Johnson", "Ada Lovelace", "Alan Turing"]


def test_list_shows_last_interaction_medium_and_date(client, logged_in, make_contact,
                                                     make_interaction):
    ada = make_contact(logged_in, name="Ada Lovelace")
    make_contact(logged_in, name="Grace Hopper")
    make_interaction(logged_in, [ada], medium_key="phone",
                     occurred_at=datetime(2025, 2, 1, 10, tzinfo=UTC))
    make_interaction(logged_in, [ada], medium_key="skype",
                     occurred_at=datetime(2025, 3, 4, 10, tzinfo=UTC))

    text = page_text(client.get("/contacts").data)

    assert "Ada Lovelace Last: Skype 4 Mar 2025" in text
    assert "Grace Hopper No interactions yet" in text


def test_list_dates_are_in_the_viewers_time_zone(client, auth, make_user, make_contact,
                                                 make_interaction):
    user = make_user(time_zone="Pacific/Auckland")
    auth.login_as(user)
    ada = make_contact(user, name="Ada Lovelace")
    # 20:00 UTC on 4 March is already 5 March in Auckland.
    make_interaction(user, [ada], medium_key="skype",
                     occurred_at=datetime(2025, 3, 4, 20, tzinfo=UTC))

    assert "Last: Skype 5 Mar 2025" in page_text(client.get("/contacts").data)


def test_a_count_in_the_same_transaction_as_a_write_sees_the_write(app, make_user):
    """The list's total is memoised per network version; a write bumps the version in the
    database and on the loaded user alike, so the next count in that transaction is new."""
    from crm.contacts.services import ContactData, create_contact, list_contacts
    from crm.models import User

    owner = make_user()
    with app.app_context():
        user = db.session.get(User, owner.id)
        assert list_contacts(user).total == 0
        create_contact(user, ContactData(name="Ada Lovelace"))
        db.session.flush()
        assert list_contacts(user).total == 1
        db.session.rollback()


@pytest.mark.parametrize("tz", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_first_met_cannot_be_later_than_the_users_today(app, client, auth, make_user, tz):
    """Found by the walk-through: 5 May 2099 was kept, and the path read "Phone first met
    5 May 2099" after interactions of 2026. Today is the user's own (UTC+14 or UTC-11)."""
    user = make_user(email=f"{tz[-4:].lower()}@example.com", time_zone=tz)
    auth.login_as(user)
    api = ApiClient(client, make_token(app, user), user)
    # Noon UTC tomorrow (the session stays valid): 02:00 the day after at UTC+14, 01:00
    # tomorrow at UTC-11.
    instant = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) \
        + timedelta(days=1)
    local = instant.astimezone(ZoneInfo(tz)).date()
    with time_machine.travel(instant, tick=False):
        for day, accepted in ((local, True), (local + timedelta(days=1), False)):
            posted = client.post("/contacts/new", data={"name": f"Met {day}",
                                                        "origin_date": day.isoformat()})
            created = api.post("/contacts", json={"name": f"API {day}",
                                                  "origin_date": day.isoformat()})
            if accepted:
                assert (posted.status_code, created.status_code) == (302, 201)
                assert posted.location.startswith("/contacts/")
            else:
                assert posted.status_code == 422, posted.location
                assert "First met can't be later than today." in page_text(posted.data)
                assert created.status_code == 422
                assert created.get_json()["errors"] == {
                    "origin_date": "First met can't be later than today."}
    with app.app_context():
        names = set(db.session.scalars(select(Contact.name).where(Contact.owner_id == user.id)))
    assert names == {f"Met {local}", f"API {local}"}


def test_a_first_met_medium_deleted_since_the_form_was_shown_is_said_on_the_field(
        app, client, logged_in, make_medium, count):
    from crm.mediums.services import delete_medium

    zoom = make_medium(logged_in, "Zoom")
    with app.app_context():
        delete_medium(db.session.get(User, logged_in.id), db.session.get(Medium, zoom.id), None)
        db.session.commit()

    response = client.post("/contacts/new", data={
        "name": "Finn", "company": "Les Éditions", "origin_medium": str(zoom.id)})

    assert response.status_code == 422
    assert field_error(response.data, "origin_medium") == (
        "The medium you chose was deleted since you opened the form: choose another.")
    assert form_values(response.data)["company"] == ["Les Éditions"]
    assert count(Contact) == 0


@pytest.mark.parametrize("raw", ["often", "0", "99999999999999999999", "²"])
def test_a_cadence_that_is_not_a_number_of_days_gets_one_message(client, logged_in, raw, count):
    """Found by the review: a word showed "Not a valid integer value. Between 1 and 3650
    days.", two messages run together. Any bad value gets the one the cadences page says."""
    response = client.post("/contacts/new", data={"name": "Finn", "keep_in_touch_days": raw})

    assert response.status_code == 422
    assert field_error(response.data, "keep_in_touch_days") == (
        "Enter a number of days from 1 to 3650, or leave it empty.")
    assert form_values(response.data)["name"] == ["Finn"]
    assert count(Contact) == 0
