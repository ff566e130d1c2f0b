"""The tags page: every tag with its contacts counted, and renaming, merging and deleting tags
without losing a contact, with keep-in-touch reminders and the search following."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import select
from support import counting_queries, days_later, form_values, order_in, page_text

from crm.extensions import db
from crm.models import Contact, Tag
from crm.models.reminder import OPEN_STATUSES, Reminder, ReminderKind, ReminderStatus

NOW = datetime(2025, 3, 27, 10, 0, tzinfo=UTC)
MET = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    """Fix "now" before anyone logs in, so session cookies are signed on the same clock."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def tag_id(app, name: str, owner=None) -> int:
    """The id of the tag of that name (the owner's, when two users have one)."""
    with app.app_context():
        return db.session.scalar(select(Tag.id).where(
            Tag.name == name, *(() if owner is None else (Tag.owner_id == owner.id,))))


def tags_of(app, user) -> dict[str, int | None]:
    """The user's tags: name -> default cadence."""
    with app.app_context():
        return dict(db.session.execute(
            select(Tag.name, Tag.keep_in_touch_days).where(Tag.owner_id == user.id)).all())


def carried(app, contact) -> list[str]:
    with app.app_context():
        return db.session.get(Contact, contact.id).tag_names


def open_kit(app, contact) -> list[Reminder]:
    """The contact's open keep-in-touch reminders."""
    with app.app_context():
        rows = list(db.session.scalars(select(Reminder).where(
            Reminder.contact_id == contact.id, Reminder.kind == ReminderKind.KEEP_IN_TOUCH,
            Reminder.status.in_(OPEN_STATUSES)).order_by(Reminder.id)))
        db.session.expunge_all()
        return rows


def kit_due(app, contact) -> datetime:
    [reminder] = open_kit(app, contact)
    assert reminder.status == ReminderStatus.PENDING
    return reminder.due_at


def sent(client, url: str, **changes):
    """Submit the form the page at url shows, as a browser would, with changes."""
    page = client.get(url)
    assert page.status_code == 200
    data = form_values(page.data)
    data.update(changes)
    return client.post(url, data=data)


def found(client, q: str) -> str:
    return page_text(client.get("/contacts", query_string={"q": q}).data)


# --- the list -------------------------------------------------------------------------


def test_every_tag_is_listed_alphabetically_with_its_contacts(
        app, client, logged_in, make_contact):
    make_contact(logged_in, name="Ada", tags="Zürich, conf 2025, Éclair")
    make_contact(logged_in, name="Grace", tags="conf 2025, berlin")
    archived = make_contact(logged_in, name="Kath", tags="conf 2025")
    client.post(f"/contacts/{archived.id}/archive")
    client.post("/reminders/cadences", data={f"tag-{tag_id(app, 'berlin')}": "14"})

    page = client.get("/tags")

    assert page.status_code == 200
    text = page_text(page.data)
    assert order_in(page.data, ["berlin", "conf 2025", "Éclair", "Zürich"]) == [
        "berlin", "conf 2025", "Éclair", "Zürich"]
    assert "conf 2025 2 contacts, 1 archived" in text
    assert "berlin 1 contact · keep in touch every 14 days by default" in text
    assert "Zürich 1 contact Rename" in text  # no archived count when there are none
    body = page.data.decode()
    assert 'href="/contacts?tag=conf+2025"' in body
    assert 'href="/contacts?tag=conf+2025&amp;archived=1"' in body
    listed = page_text(client.get("/contacts?tag=conf+2025").data)
    assert "Ada" in listed and "Grace" in listed and "Kath" not in listed
    # Linked from the contact list and from the cadences page.
    assert 'href="/tags"' in client.get("/contacts").data.decode()
    assert 'href="/tags"' in client.get("/reminders/cadences").data.decode()


def test_no_tags_says_where_they_come_from(client, logged_in, make_contact):
    make_contact(logged_in, name="Ada")

    page = client.get("/tags")

    assert page.status_code == 200
    assert "No tags yet" in page_text(page.data)


def test_the_list_runs_as_many_statements_with_many_tags_and_contacts(
        app, client, logged_in, make_contact):
    make_contact(logged_in, tags="a, b")

    def statements() -> list[str]:
        client.get("/tags")  # warm up: connection set-up is not the page's cost
        with counting_queries(app) as seen:
            assert client.get("/tags").status_code == 200
        return seen

    few = statements()
    for n in range(30):
        make_contact(logged_in, tags=[f"tag {n % 12}", "a"])
    many = statements()

    assert len(many) == len(few) <= 6, "\n".join(many)
    assert "tag 11 2 contacts" in page_text(client.get("/tags").data)


# --- renaming ---------------------------------------------------------------------------


def test_rename_a_tag(app, client, logged_in, make_contact, frozen):
    ada = make_contact(logged_in, name="Ada", tags="conf-2025, design")
    with app.app_context():
        before = db.session.get(Contact, ada.id).updated_at
    conf = tag_id(app, "conf-2025")
    frozen.shift(60)

    response = sent(client, f"/tags/{conf}/edit", name="  Conf   2025 ")

    assert response.status_code == 302
    assert carried(app, ada) == ["Conf 2025", "design"]
    assert tag_id(app, "Conf 2025") == conf
    with app.app_context():
        assert db.session.get(Contact, ada.id).updated_at > before  # the API's change marker
    assert "Ada" in page_text(client.get("/contacts?tag=conf+2025").data)
    assert "Conf 2025 1 contact" in page_text(client.get("/tags").data)


def test_rename_in_another_case_is_a_rename_not_a_merge(app, client, logged_in, make_contact):
    ada = make_contact(logged_in, name="Ada", tags="berlin")

    response = sent(client, f"/tags/{tag_id(app, 'berlin')}/edit", name="BERLIN")

    assert response.status_code == 302
    assert carried(app, ada) == ["BERLIN"]
    assert tags_of(app, logged_in) == {"BERLIN": None}


@pytest.mark.parametrize("name, message", [
    ("", "Give the tag a name."),
    ("   ", "Give the tag a name."),
    ("x" * 41, "A tag can have at most 40 characters: this one has 41."),
    ("conf\n2025", "A tag's name cannot hold line breaks, tabs or invisible characters."),
    ("conf\t2025", "A tag's name cannot hold line breaks, tabs or invisible characters."),
    ("conf\u200b", "A tag's name cannot hold line breaks, tabs or invisible characters."),
    ("conf, 2025", "A tag's name cannot hold a comma: commas separate tags on a contact's "
                   "form."),
    ("conf\x00", "Remove the NUL character from this text."),
])
def test_a_bad_name_is_refused_and_nothing_changes(
        app, client, logged_in, make_contact, name, message):
    ada = make_contact(logged_in, name="Ada", tags="conf")

    response = sent(client, f"/tags/{tag_id(app, 'conf')}/edit", name=name)

    assert response.status_code == 422
    assert message in page_text(response.data)
    assert carried(app, ada) == ["conf"]


def test_a_name_as_long_as_the_contact_form_allows_is_taken(
        app, client, logged_in, make_contact):
    ada = make_contact(logged_in, name="Ada", tags="conf")

    assert sent(client, f"/tags/{tag_id(app, 'conf')}/edit", name="y" * 40).status_code == 302
    assert carried(app, ada) == ["y" * 40]


# --- merging ----------------------------------------------------------------------------


def test_renaming_onto_another_tags_name_asks_then_merges(
        app, client, logged_in, make_contact, count):
    ada = make_contact(logged_in, name="Ada", tags="conf-2025")
    grace = make_contact(logged_in, name="Grace", tags="conf-2025, Conf 2025, design")
    kath = make_contact(logged_in, name="Kath", tags="Conf 2025")
    old, into = tag_id(app, "conf-2025"), tag_id(app, "Conf 2025")

    asked = sent(client, f"/tags/{old}/edit", name="conf 2025")

    assert asked.status_code == 200
    text = page_text(asked.data)
    assert "Merge conf-2025 into Conf 2025?" in text
    assert "1 contact carrying conf-2025 moves to Conf 2025." in text
    assert "1 contact carrying both keeps one tag." in text
    assert "Neither tag has a default cadence" in text
    assert count(Tag) == 3 and carried(app, ada) == ["conf-2025"]  # nothing yet

    merged = client.post(f"/tags/{old}/edit", data=form_values(asked.data))

    assert merged.status_code == 302
    assert tags_of(app, logged_in) == {"conf 2025": None, "design": None}  # the name typed
    assert tag_id(app, "conf 2025") == into
    for contact in (ada, kath):
        assert carried(app, contact) == ["conf 2025"]
    assert carried(app, grace) == ["conf 2025", "design"]
    assert "conf 2025 3 contacts" in page_text(client.get("/tags").data)


@pytest.mark.parametrize("first, again", [
    ("ΟΔΟΣ", "οδοσ"), ("Straße", "STRASSE"), ("Café", "Cafe\u0301"), ("Ｍastodon", "mastodon"),
])
def test_a_name_that_is_another_tags_in_any_case_or_spelling_merges(
        app, client, logged_in, make_contact, first, again):
    ada = make_contact(logged_in, name="Ada", tags=first)
    make_contact(logged_in, name="Grace", tags="other")
    other = tag_id(app, "other")

    asked = sent(client, f"/tags/{other}/edit", name=again)

    assert asked.status_code == 200 and f"Merge other into {first}?" in page_text(asked.data)
    assert client.post(f"/tags/{other}/edit", data=form_values(asked.data)).status_code == 302
    [merged] = tags_of(app, logged_in)
    assert merged == unicodedata.normalize("NFC", again)  # one spelling of "é"
    assert carried(app, ada) == [merged]


@pytest.mark.parametrize("choice, days", [("merged", 14), ("into", 30)])
def test_a_merge_keeps_the_cadence_chosen_and_reminders_follow(
        app, client, logged_in, make_contact, make_interaction, choice, days):
    only_old = make_contact(logged_in, name="Ada", tags="conf-2025")
    only_into = make_contact(logged_in, name="Grace", tags="Conf 2025")
    both = make_contact(logged_in, name="Kath", tags="conf-2025, Conf 2025")
    for contact in (only_old, only_into, both):
        make_interaction(logged_in, contact, "video_call", MET)
    old, into = tag_id(app, "conf-2025"), tag_id(app, "Conf 2025")
    client.post("/reminders/cadences", data={f"tag-{old}": "14", f"tag-{into}": "30"})
    assert kit_due(app, both) == days_later(MET, 14, "UTC")

    asked = sent(client, f"/tags/{old}/edit", name="Conf 2025")
    assert "Both tags have a default cadence: choose the one the merged tag keeps." in \
        page_text(asked.data)
    refused = client.post(f"/tags/{old}/edit", data=form_values(asked.data))

    assert refused.status_code == 422
    assert "Choose the default cadence the merged tag keeps." in page_text(refused.data)
    assert tags_of(app, logged_in) == {"conf-2025": 14, "Conf 2025": 30}

    merged = client.post(f"/tags/{old}/edit",
                         data={**form_values(refused.data), "keep_cadence": choice})

    assert merged.status_code == 302
    assert tags_of(app, logged_in) == {"Conf 2025": days}
    for contact in (only_old, only_into, both):
        assert kit_due(app, contact) == days_later(MET, days, "UTC")
        assert carried(app, contact) == ["Conf 2025"]


def test_a_merge_keeps_the_one_cadence_there_is(
        app, client, logged_in, make_contact, make_interaction):
    ada = make_contact(logged_in, name="Ada", tags="conf-2025")
    grace = make_contact(logged_in, name="Grace", tags="Conf 2025")
    for contact in (ada, grace):
        make_interaction(logged_in, contact, "video_call", MET)
    old = tag_id(app, "conf-2025")
    client.post("/reminders/cadences", data={f"tag-{old}": "",
                                             f"tag-{tag_id(app, 'Conf 2025')}": "21"})
    assert open_kit(app, ada) == []

    asked = sent(client, f"/tags/{old}/edit", name="conf 2025")
    assert "The merged tag keeps in touch every 21 days by default, Conf 2025’s cadence." in \
        page_text(asked.data)
    assert client.post(f"/tags/{old}/edit", data=form_values(asked.data)).status_code == 302

    assert tags_of(app, logged_in) == {"conf 2025": 21}
    assert kit_due(app, ada) == days_later(MET, 21, "UTC")  # it took the cadence it merged into


# --- deleting ---------------------------------------------------------------------------


def test_delete_a_tag_keeps_its_contacts_and_reminders_follow(
        app, client, logged_in, make_contact, make_interaction, count):
    ada = make_contact(logged_in, name="Ada", tags="conference")
    grace = make_contact(logged_in, name="Grace", tags="conference, family")
    kath = make_contact(logged_in, name="Kath", tags="conference")
    client.post(f"/contacts/{kath.id}/archive")
    for contact in (ada, grace):
        make_interaction(logged_in, contact, "video_call", MET)
    conference = tag_id(app, "conference")
    client.post("/reminders/cadences",
                data={f"tag-{conference}": "14", f"tag-{tag_id(app, 'family')}": "60"})
    assert kit_due(app, grace) == days_later(MET, 14, "UTC")

    asked = client.get(f"/tags/{conference}/delete")
    text = page_text(asked.data)
    assert "3 contacts (1 of them archived) will lose this tag." in text
    assert "Its default cadence, every 14 days, goes with it" in text
    assert count(Tag) == 2  # nothing yet

    deleted = client.post(f"/tags/{conference}/delete", data=form_values(asked.data),
                          follow_redirects=True)

    assert deleted.status_code == 200
    assert "conference deleted: 3 contacts lost it, and no contact was deleted." in \
        page_text(deleted.data)
    assert tags_of(app, logged_in) == {"family": 60}
    assert count(Contact) == 3
    assert carried(app, ada) == [] and carried(app, grace) == ["family"]
    assert open_kit(app, ada) == []  # its only cadence went
    assert kit_due(app, grace) == days_later(MET, 60, "UTC")  # the cadence left to them


# --- what is refused --------------------------------------------------------------------


def test_another_users_tags_are_neither_shown_nor_changed(
        app, client, logged_in, make_user, make_contact):
    other = make_user()
    theirs = make_contact(other, name="Not Yours", tags="secret, shared")
    make_contact(logged_in, name="Ada", tags="shared")
    secret = tag_id(app, "secret", other)

    assert "secret" not in page_text(client.get("/tags").data)
    for url in (f"/tags/{secret}/edit", f"/tags/{secret}/delete"):
        assert client.get(url).status_code == 404
        gone = client.post(url, data={"name": "mine", "name_shown": "secret"})
        assert gone.status_code == 404 and "No such tag" in page_text(gone.data)
    # Renaming one's own tag to the other user's tag's name is no merge with it.
    assert sent(client, f"/tags/{tag_id(app, 'shared', logged_in)}/edit",
                name="secret").status_code == 302
    assert tags_of(app, other) == {"secret": None, "shared": None}
    assert carried(app, theirs) == ["secret", "shared"]
    assert tags_of(app, logged_in) == {"secret": None}


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_every_post_needs_the_csrf_token(app, client, logged_in, make_contact, count):
    make_contact(logged_in, name="Ada", tags="conf-2025, Conf 2025")
    old = tag_id(app, "conf-2025")

    for url, data in ((f"/tags/{old}/edit", {"name": "renamed"}),
                      (f"/tags/{old}/edit", {"name": "conf 2025",
                                             "merge_into": str(tag_id(app, "Conf 2025"))}),
                      (f"/tags/{old}/delete", {"name_shown": "conf-2025"})):
        assert client.post(url, data=data).status_code == 400
    assert tags_of(app, logged_in) == {"conf-2025": None, "Conf 2025": None}

    assert sent(client, f"/tags/{old}/delete").status_code == 302
    assert count(Tag) == 1


HOSTILE = ["", "\x00", "a" * 5000, "-1", "0", "2147483648", "9" * 30, "None", "<script>",
           "{}", "[]", '{"name": "1"}', "1/1", "merged", "into"]


def test_hostile_values_in_any_field_never_error_nor_change_what_was_not_confirmed(
        app, client, logged_in, make_contact):
    make_contact(logged_in, name="Ada", tags="conf-2025, Conf 2025")
    old = tag_id(app, "conf-2025")
    fields = ("base", "merge_into", "cadences_shown", "keep_cadence", "name_shown")
    for url in (f"/tags/{old}/edit", f"/tags/{old}/delete"):
        for field in fields:
            for value in HOSTILE:
                response = client.post(url, data={"name": "conf 2025", field: value})
                assert response.status_code < 500, (url, field, value)
    # Only a merge confirmed for the tag it names happens, and a deletion confirmed for the
    # name shown: neither was.
    assert tags_of(app, logged_in) == {"conf-2025": None, "Conf 2025": None}
    for value in HOSTILE:  # a name is refused or taken
        assert client.post(f"/tags/{old}/edit", data={"name": value}).status_code in (
            200, 302, 422), value


# --- stale pages ------------------------------------------------------------------------


def test_a_rename_from_a_page_shown_before_another_rename_says_so(
        app, client, logged_in, make_contact):
    ada = make_contact(logged_in, name="Ada", tags="conf")
    conf = tag_id(app, "conf")
    stale = form_values(client.get(f"/tags/{conf}/edit").data)
    assert sent(client, f"/tags/{conf}/edit", name="Conference").status_code == 302

    clash = client.post(f"/tags/{conf}/edit", data={**stale, "name": "Summit"})

    assert clash.status_code == 409
    assert "Changed since you opened this form, to “Conference”." in page_text(clash.data)
    assert carried(app, ada) == ["Conference"]
    # Saved again, knowing.
    assert client.post(f"/tags/{conf}/edit", data=form_values(clash.data)).status_code == 302
    assert carried(app, ada) == ["Summit"]


def test_renaming_a_tag_deleted_since_says_it_is_gone(app, client, logged_in, make_contact):
    make_contact(logged_in, name="Ada", tags="conf")
    conf = tag_id(app, "conf")
    stale = form_values(client.get(f"/tags/{conf}/edit").data)
    assert sent(client, f"/tags/{conf}/delete").status_code == 302

    gone = client.post(f"/tags/{conf}/edit", data={**stale, "name": "Summit"})

    assert gone.status_code == 404
    assert "deleted or merged into another since the page you came from was shown" in \
        page_text(gone.data)
    assert tags_of(app, logged_in) == {}


def test_a_merge_confirmed_after_its_tags_changed_asks_again(
        app, client, logged_in, make_contact):
    ada = make_contact(logged_in, name="Ada", tags="conf-2025")
    grace = make_contact(logged_in, name="Grace", tags="Conf 2025")
    old, into = tag_id(app, "conf-2025"), tag_id(app, "Conf 2025")
    asked = form_values(sent(client, f"/tags/{old}/edit", name="conf 2025").data)

    # The tag it would merge into got a cadence meanwhile: the page did not say so.
    client.post("/reminders/cadences", data={f"tag-{old}": "", f"tag-{into}": "30"})
    again = client.post(f"/tags/{old}/edit", data=asked)
    assert again.status_code == 409
    assert "A default cadence of these tags has changed since this page was shown" in \
        page_text(again.data)
    assert "every 30 days by default, Conf 2025’s cadence" in page_text(again.data)
    assert carried(app, ada) == ["conf-2025"]

    # ...then was renamed: confirming now would merge into nothing, so it asks again.
    assert sent(client, f"/tags/{into}/edit", name="Summit").status_code == 302
    renamed = client.post(f"/tags/{old}/edit", data=form_values(again.data))
    assert renamed.status_code == 409
    assert "has been renamed or deleted since you confirmed" in page_text(renamed.data)
    assert tags_of(app, logged_in) == {"conf-2025": None, "Summit": 30}
    # Sent once more, it is the plain rename the page now says.
    assert client.post(f"/tags/{old}/edit", data=form_values(renamed.data)).status_code == 302
    assert carried(app, ada) == ["conf 2025"] and carried(app, grace) == ["Summit"]


def test_a_delete_confirmed_after_a_rename_asks_again(app, client, logged_in, make_contact):
    ada = make_contact(logged_in, name="Ada", tags="conf")
    conf = tag_id(app, "conf")
    stale = form_values(client.get(f"/tags/{conf}/delete").data)
    assert sent(client, f"/tags/{conf}/edit", name="Family").status_code == 302

    again = client.post(f"/tags/{conf}/delete", data=stale)

    assert again.status_code == 409
    assert "This tag has been renamed to “Family” since this page was shown" in \
        page_text(again.data)
    assert carried(app, ada) == ["Family"]
    assert client.post(f"/tags/{conf}/delete",
                       data=form_values(again.data)).status_code == 302
    assert carried(app, ada) == []


# --- search -----------------------------------------------------------------------------


def test_search_finds_a_renamed_or_merged_tag_by_its_new_name_only(
        app, client, logged_in, make_contact):
    make_contact(logged_in, name="Ada Lovelace", tags="Mathematician")
    make_contact(logged_in, name="Grace Hopper", tags="compilers")
    make_contact(logged_in, name="Kath Johnson", tags="Programming languages")
    assert "Ada Lovelace" in found(client, "hematic")

    assert sent(client, f"/tags/{tag_id(app, 'Mathematician')}/edit",
                name="Analyst").status_code == 302

    assert "Ada Lovelace" not in found(client, "hematic")
    assert "Ada Lovelace" in found(client, "analys")
    assert "Ada Lovelace" in found(client, "ANALYST")

    asked = sent(client, f"/tags/{tag_id(app, 'compilers')}/edit",
                 name="programming LANGUAGES")
    assert client.post(f"/tags/{tag_id(app, 'compilers')}/edit",
                       data=form_values(asked.data)).status_code == 302

    assert "Grace Hopper" not in found(client, "compil")
    text = found(client, "ming lang")
    assert "Grace Hopper" in text and "Kath Johnson" in text


# --- found by the review of this page ------------------------------------------------------


def test_a_cadences_page_opened_before_a_merge_keeps_the_cadence_the_merge_kept(
        app, client, logged_in, make_contact, make_interaction):
    """The merge moved conf-2025's 14 days onto Conf 2025, which a Cadences page opened
    before it showed blank: saving that page unchanged set Conf 2025 to no cadence and
    cancelled every keep-in-touch reminder it drove, without a word."""
    ada = make_contact(logged_in, name="Ada", tags="conf-2025")
    make_contact(logged_in, name="Grace", tags="Conf 2025")
    make_interaction(logged_in, ada, "video_call", MET)
    old, into = tag_id(app, "conf-2025"), tag_id(app, "Conf 2025")
    client.post("/reminders/cadences", data={f"tag-{old}": "14", f"tag-{into}": ""})
    stale = form_values(client.get("/reminders/cadences").data)  # another tab, left open
    asked = sent(client, f"/tags/{old}/edit", name="Conf 2025")
    assert client.post(f"/tags/{old}/edit", data=form_values(asked.data)).status_code == 302
    assert tags_of(app, logged_in) == {"Conf 2025": 14} and len(open_kit(app, ada)) == 1

    assert client.post("/reminders/cadences", data=stale).status_code == 302  # as shown

    assert tags_of(app, logged_in) == {"Conf 2025": 14}
    assert len(open_kit(app, ada)) == 1


def test_a_cadence_changed_on_two_pages_comes_back_to_settle(app, client, logged_in,
                                                             make_contact):
    make_contact(logged_in, name="Ada", tags="berlin")
    berlin = tag_id(app, "berlin")
    stale = form_values(client.get("/reminders/cadences").data)
    assert client.post("/reminders/cadences", data={
        **stale, f"tag-{berlin}": "30"}).status_code == 302

    clash = client.post("/reminders/cadences", data={**stale, f"tag-{berlin}": "7"})

    assert clash.status_code == 409
    text = page_text(clash.data)
    assert "Changed since you opened this page, to every 30 days." in text
    assert tags_of(app, logged_in) == {"berlin": 30}
    assert client.post("/reminders/cadences",
                       data=form_values(clash.data)).status_code == 302  # mine, on purpose
    assert tags_of(app, logged_in) == {"berlin": 7}


def test_a_delete_confirmed_after_another_tag_merged_into_it_asks_again(
        app, client, logged_in, make_contact, make_interaction):
    """The delete page of Conf 2025 said one contact loses it and no cadence goes; a merge
    in another tab then brought two contacts and a 14-day cadence into it, and confirming
    the old page deleted all of it, as only the name was checked."""
    make_contact(logged_in, name="Kath", tags="Conf 2025")
    ada = make_contact(logged_in, name="Ada", tags="conf-2025")
    make_contact(logged_in, name="Grace", tags="conf-2025")
    make_interaction(logged_in, ada, "video_call", MET)
    old, into = tag_id(app, "conf-2025"), tag_id(app, "Conf 2025")
    client.post("/reminders/cadences", data={f"tag-{old}": "14", f"tag-{into}": ""})
    shown = client.get(f"/tags/{into}/delete")
    assert "1 contact will lose this tag." in page_text(shown.data)
    asked = sent(client, f"/tags/{old}/edit", name="Conf 2025")  # another tab
    assert client.post(f"/tags/{old}/edit", data=form_values(asked.data)).status_code == 302

    confirmed = client.post(f"/tags/{into}/delete", data=form_values(shown.data))

    assert confirmed.status_code == 409
    assert "3 contacts will lose this tag." in page_text(confirmed.data)
    assert tags_of(app, logged_in) == {"Conf 2025": 14} and len(open_kit(app, ada)) == 1
    assert client.post(f"/tags/{into}/delete",
                       data=form_values(confirmed.data)).status_code == 302
    assert tags_of(app, logged_in) == {}


def test_a_cadence_cleared_after_a_422_is_cleared(app, client, logged_in, make_contact):
    """A page opened with Friends blank; another tab sets Friends to 14. Saving the first
    page with a typo in Work answers 422, whose page now shows Friends as 14 but still
    carries shown-<Friends> = "" (the value of the first page). The user, who sees 14,
    clears Friends and fixes Work: the blank equals the stale hidden value, so it is taken
    as "left as shown" and 14 is kept, while the page says "Cadences saved"."""
    make_contact(logged_in, name="Ada", tags="friends, work")
    friends, work_ = tag_id(app, "friends"), tag_id(app, "work")
    stale = form_values(client.get("/reminders/cadences").data)
    assert client.post("/reminders/cadences", data={
        **stale, f"tag-{friends}": "14"}).status_code == 302  # the other tab

    typo = client.post("/reminders/cadences", data={**stale, f"tag-{work_}": "abc"})
    assert typo.status_code == 422
    again = form_values(typo.data)
    assert again[f"tag-{friends}"] == ["14"]  # what the user now sees

    saved = client.post("/reminders/cadences", data={
        **again, f"tag-{friends}": "", f"tag-{work_}": "7"})

    assert saved.status_code == 302
    assert tags_of(app, logged_in) == {"friends": None, "work": 7}


def test_a_cadence_changed_after_a_422_saves_without_a_clash(app, client, logged_in,
                                                             make_contact):
    """Same 422 page: the user changes the Friends value it shows (14) to 30. The stale
    hidden value makes it a clash with "Changed since you opened this page, to every 14
    days", although 14 is exactly what this page showed."""
    make_contact(logged_in, name="Ada", tags="friends, work")
    friends, work_ = tag_id(app, "friends"), tag_id(app, "work")
    stale = form_values(client.get("/reminders/cadences").data)
    client.post("/reminders/cadences", data={**stale, f"tag-{friends}": "14"})
    typo = client.post("/reminders/cadences", data={**stale, f"tag-{work_}": "abc"})
    again = form_values(typo.data)

    saved = client.post("/reminders/cadences", data={
        **again, f"tag-{friends}": "30", f"tag-{work_}": "7"})

    assert saved.status_code == 302, page_text(saved.data)[-400:]
    assert tags_of(app, logged_in) == {"friends": 30, "work": 7}
