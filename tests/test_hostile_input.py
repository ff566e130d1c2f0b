"""Inputs that once answered 500: each now gets a clear answer and stores nothing wrong.

Found by probing every route on both databases with hostile values; the general sweeps
(every edge value through every form field and query argument) are in test_hardening.py.
"""

from __future__ import annotations

import io
from datetime import date

import pytest
from fixtures.api_client import ApiClient, make_token
from fixtures.portability import vcard_file
from sqlalchemy import select
from support import page_text

from crm.extensions import db
from crm.models import Contact, ContactChannel, ImportJob, Medium, Tag


def _tags(app, user) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(select(Tag.name).where(Tag.owner_id == user.id)))


# -- names that fold differently in Python, SQLite and PostgreSQL ---------------------------

@pytest.mark.parametrize("first, again", [
    ("ΟΔΟΣ", "ΟΔΟΣ"), ("ΟΔΟΣ", "οδοσ"), ("Été", "été"), ("İstanbul", "İstanbul"),
    ("Straße", "STRASSE"),
])
def test_a_tag_named_again_in_any_case_is_the_same_tag(app, client, logged_in, first, again):
    assert client.post("/contacts/new", data={"name": "Ada", "tags": first}).status_code == 302
    assert client.post("/contacts/new", data={"name": "Bea", "tags": again}).status_code == 302
    assert _tags(app, logged_in) == [first]


def test_a_tag_named_again_through_the_api_is_the_same_tag(app, make_user):
    user = make_user(email="api@example.com")
    api = ApiClient(app.test_client(), make_token(app, user), user)
    for name in ("Ada", "Bea"):
        assert api.post("/contacts", json={"name": name, "tags": ["ΟΔΟΣ"]}
                        ).status_code == 201
    assert _tags(app, user) == ["ΟΔΟΣ"]


@pytest.mark.parametrize("first, again", [("ΟΔΟΣ", "ΟΔΟΣ"), ("ΟΔΟΣ", "οδοσ"), ("Été", "ÉTÉ")])
def test_a_medium_named_again_in_any_case_is_refused(client, logged_in, count, first, again):
    assert client.post("/mediums", data={"name": first}).status_code == 302
    response = client.post("/mediums", data={"name": again})
    assert response.status_code == 422
    assert "You already have a medium with that name." in page_text(response.data)
    assert count(Medium, Medium.owner_id == logged_in.id) == 1


def test_renaming_a_medium_to_another_in_any_case_is_refused(app, client, logged_in,
                                                             make_medium):
    make_medium(logged_in, "ΟΔΟΣ")
    other = make_medium(logged_in, "Mastodon")
    response = client.post(f"/mediums/{other.id}/edit", data={"name": "οδοσ"})
    assert response.status_code == 422
    assert "You already have a medium with that name." in page_text(response.data)


def test_an_import_naming_one_medium_in_two_cases_creates_it_once(app, make_user, count):
    from crm.models import ImportKind, User
    from crm.portability.services import import_file

    user = make_user()
    cards = [f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{name}\r\n"
             f"X-RAPPORT-CHANNEL;X-MEDIUM={medium}:{handle}\r\nEND:VCARD\r\n"
             for name, medium, handle in (("Ada", "ΚΟΣΜΟΣ", "ada"), ("Bea", "κοσμοσ", "bea"))]
    with app.app_context():
        _, result = import_file(db.session.get(User, user.id), ImportKind.VCARD, "f.vcf",
                                vcard_file(*cards))
        db.session.commit()
    assert result.created == 2
    assert count(Medium, Medium.owner_id == user.id) == 1
    assert count(ContactChannel) == 2


# -- handles that grow past 255 characters when stored as links -----------------------------

LONG_PROFILE = "linkedin.com/in/" + "a" * 239  # 255 characters; 267 as the stored link


def test_a_handle_too_long_as_a_link_is_a_form_error(client, logged_in, make_contact, medium,
                                                     count):
    ada = make_contact(logged_in, name="Ada Lovelace")
    response = client.post(f"/contacts/{ada.id}/channels",
                           data={"medium": str(medium("linkedin").id), "value": LONG_PROFILE})
    assert response.status_code == 422
    assert "Keep it under 256 characters: as a full link it has 267." in page_text(
        response.data)
    assert count(ContactChannel) == 0


def test_a_handle_too_long_as_a_link_is_a_problem_in_the_api(app, make_user, make_contact,
                                                             medium, count):
    user = make_user(email="api@example.com")
    api = ApiClient(app.test_client(), make_token(app, user), user)
    ada = make_contact(user, name="Ada Lovelace")
    response = api.post(f"/contacts/{ada.id}/channels",
                        json={"medium_id": medium("linkedin").id, "value": LONG_PROFILE})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert count(ContactChannel) == 0


def test_an_import_row_with_a_handle_too_long_as_a_link_is_an_invalid_row(app, make_user, count):
    from crm.models import ImportKind, User
    from crm.portability.importer import ImportRefused
    from crm.portability.services import import_file

    user = make_user()
    data = ("First Name,Last Name,URL,Email Address,Company,Position,Connected On\r\n"
            f"Ada,Lovelace,http://{LONG_PROFILE},,,,01 Jan 2020\r\n").encode()
    with app.app_context(), pytest.raises(ImportRefused) as refused:
        import_file(db.session.get(User, user.id), ImportKind.LINKEDIN, "c.csv", data)
    [(line, reason)] = refused.value.invalid
    assert line == 2 and "Keep it under 256 characters" in reason
    assert count(Contact) == 0


# -- dates and times ---------------------------------------------------------------------------

FAR = {"date": "9999-12-31", "time": "23:59"}


def test_a_reminder_beyond_the_year_2200_is_a_form_error(client, logged_in, count):
    from crm.models import Reminder

    response = client.post("/reminders/new", data={
        "title": "Far", "local_date": FAR["date"], "local_time": FAR["time"]})
    assert response.status_code == 422
    assert "Choose a date between 1900 and 2200." in page_text(response.data)
    assert count(Reminder) == 0


def test_a_follow_up_beyond_the_year_2200_is_a_form_error(client, logged_in, make_contact,
                                                          medium, count):
    from crm.models import Interaction

    ada = make_contact(logged_in, name="Ada Lovelace")
    response = client.post("/interactions/new", data={
        "medium": str(medium("phone").id), "participants": str(ada.id), "summary": "Call",
        "occurred_at": "2026-11-01T10:00", "initiated_by": "me",
        "follow_up_date": FAR["date"], "follow_up_time": FAR["time"]})
    assert response.status_code == 422
    assert "Choose a date between 1900 and 2200." in page_text(response.data)
    assert count(Interaction) == 0


@pytest.mark.parametrize("extra, message", [
    ({}, "Choose the date to snooze until."),
    (FAR, "Choose a date between 1900 and 2200."),
])
def test_snoozing_to_a_missing_or_far_date_is_a_form_error(app, client, logged_in,
                                                           make_reminder, extra, message):
    reminder = make_reminder(logged_in, local_date=date(2030, 1, 1), title="Call Ada")
    prefix = f"snooze{reminder.id}-"
    data = {prefix + "until": "date", **{prefix + k: v for k, v in extra.items()}}
    response = client.post(f"/reminders/{reminder.id}/snooze", data=data)
    assert response.status_code == 422
    assert message in page_text(response.data)


# -- edit forms posted without their fields ----------------------------------------------------

def test_a_contact_edit_without_tags_saves_no_tags(app, client, logged_in, make_contact):
    ada = make_contact(logged_in, name="Ada Lovelace", tags=["Math"])
    response = client.post(f"/contacts/{ada.id}/edit", data={"name": "Ada King"})
    assert response.status_code == 302
    with app.app_context():
        saved = db.session.get(Contact, ada.id)
        assert (saved.name, saved.tags) == ("Ada King", [])


def test_an_empty_interaction_edit_is_a_form_error(client, logged_in, make_contact,
                                                   make_interaction):
    ada = make_contact(logged_in, name="Ada Lovelace")
    interaction = make_interaction(logged_in, ada)
    response = client.post(f"/interactions/{interaction.id}/edit", data={})
    assert response.status_code == 422
    assert "Say when it happened." in page_text(response.data)


# -- other shapes of input ---------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["²", "٣", "9" * 5000])
def test_a_cadence_that_is_not_a_plain_number_is_a_form_error(app, client, logged_in, raw):
    with app.app_context():
        tag = Tag(owner_id=logged_in.id, name="Friends")
        db.session.add(tag)
        db.session.commit()
        tag_id = tag.id
    response = client.post("/reminders/cadences", data={f"tag-{tag_id}": raw})
    assert response.status_code == 422
    assert "Enter a number of days from 1 to 3650" in page_text(response.data)


def test_a_json_body_is_not_read_as_a_form(client, logged_in, count):
    for body in ({"name": 5}, {"name": ["Ada", "Bea"]}, {"keep_in_touch_days": 1e308}):
        response = client.post("/contacts/new", json=body)
        assert response.status_code == 422
        assert "Give the contact a name." in page_text(response.data)
    assert count(Contact) == 0


def test_a_json_body_at_the_login_form_is_not_read_as_a_form(app, make_user):
    client = app.test_client()
    make_user(email="ada@example.com")
    response = client.post("/login", json={"email": 5, "password": ["x"]})
    assert response.status_code == 422


def test_json_nested_too_deep_is_a_bad_request(app, make_user):
    user = make_user(email="api@example.com")
    api = ApiClient(app.test_client(), make_token(app, user), user)
    response = api.post("/contacts", data="[" * 100_000,
                        headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    anonymous = app.test_client().post("/login", data="[" * 100_000,
                                       headers={"Content-Type": "application/json"})
    assert anonymous.status_code == 422


def test_an_upload_named_with_a_nul_character_keeps_a_printable_name(app, client, logged_in):
    response = client.post("/import", content_type="multipart/form-data", data={
        "kind": "csv", "file": (io.BytesIO(b"Name\nAda Lovelace\n"), "my\x00contacts.csv")})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(ImportJob.filename)) == "mycontacts.csv"


def test_a_calendar_token_with_a_nul_character_is_not_found(client):
    assert client.get("/calendar/" + "a" * 24 + "%00.ics").status_code == 404


def test_a_file_sent_under_a_text_fields_name_is_a_form_error(app, client, logged_in,
                                                             make_contact):
    """Found by the review: a multipart POST with a file part named like a text field (the
    name, or an edit form's base) was a 500; the field now reads as not sent."""
    def upload():
        return (io.BytesIO(b"x"), "x.txt")

    new = client.post("/contacts/new", content_type="multipart/form-data",
                      data={"name": upload()})
    assert new.status_code == 422
    assert "Give the contact a name." in page_text(new.data)
    ada = make_contact(logged_in, name="Ada Lovelace")
    edit = client.post(f"/contacts/{ada.id}/edit", content_type="multipart/form-data",
                       data={"name": "Ada King", "base": upload()})
    assert edit.status_code == 302
    with app.app_context():
        assert db.session.get(Contact, ada.id).name == "Ada King"
