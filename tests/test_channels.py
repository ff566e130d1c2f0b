"""Channels: a contact's handle on a medium, checked and normalised per medium."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

import pytest
from sqlalchemy import select
from support import page_text

from crm.extensions import db
from crm.models import ContactChannel


@pytest.fixture
def ada(logged_in, make_contact):
    return make_contact(logged_in, name="Ada Lovelace")


@pytest.fixture
def add(client, ada, medium):
    """add(medium_key, value) posts the channel form for Ada."""

    def post(key, value, label="", **kwargs):
        return client.post(
            f"/contacts/{ada.id}/channels",
            data={"medium": str(medium(key).id), "value": value, "label": label},
            **kwargs,
        )

    return post


def _stored(app, contact_id):
    with app.app_context():
        return list(
            db.session.scalars(
                select(ContactChannel.value)
                .where(ContactChannel.contact_id == contact_id)
                .order_by(ContactChannel.id)
            )
        )


@pytest.mark.parametrize(
    ("key", "raw", "stored"),
    [
        ("email", "  Ada@Example.com ", "Ada@example.com"),
        ("phone", "+44 20 7946 0958", "+442079460958"),
        ("text_message", "+1 (212) 555-0123", "+12125550123"),
        ("twitter", "@ada_l", "@ada_l"),
        ("twitter", "https://x.com/ada_l", "@ada_l"),
        ("twitter", "twitter.com/ada_l/", "@ada_l"),
        ("twitter", "ada_l", "@ada_l"),
        ("linkedin", "linkedin.com/in/ada-lovelace/", "https://www.linkedin.com/in/ada-lovelace"),
        ("linkedin", "https://uk.linkedin.com/in/ada", "https://www.linkedin.com/in/ada"),
        ("facebook", "https://facebook.com/ada.lovelace", "https://www.facebook.com/ada.lovelace"),
        ("skype", "ada.lovelace", "ada.lovelace"),
        ("skype", "live:ada_1815", "live:ada_1815"),
        ("face_to_face", "The Royal Society", "The Royal Society"),
        ("video_call", "www.example.com/room/7", "https://www.example.com/room/7"),
    ],
)
def test_valid_handles_are_normalised(app, ada, add, key, raw, stored):
    response = add(key, raw)

    assert response.status_code == 302
    assert response.headers["Location"] == f"/contacts/{ada.id}#channels"
    assert _stored(app, ada.id) == [stored]


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        ("email", "ada-at-example.com", "That is not a valid email address"),
        ("phone", "020 7946 0958", "Start with + and the country code"),
        ("phone", "+44 12", "That phone number is not valid for its country."),
        ("phone", "call me maybe", "That is not a phone number."),
        ("twitter", "@this_handle_is_too_long", "An @handle has 1 to 15 letters"),
        ("twitter", "https://mastodon.social/@ada", "Give an @handle or a twitter.com / x.com"),
        ("linkedin", "https://example.com/in/ada", "Give a LinkedIn profile link"),
        ("linkedin", "https://linkedin.com.evil.example/in/ada", "Give a LinkedIn profile link"),
        ("linkedin", "https://www.linkedin.com/", "That LinkedIn link has no profile in it."),
        ("skype", "ada", "A Skype name starts with a letter"),
        ("skype", "1ada_lovelace", "A Skype name starts with a letter"),
        ("video_call", "https://nodot/room", "That link is not a valid http(s) address."),
    ],
)
def test_invalid_handles_are_rejected_with_a_reason(app, ada, add, key, raw, message):
    response = add(key, raw)

    assert response.status_code == 422
    assert message in page_text(response.data)
    assert _stored(app, ada.id) == []


@pytest.mark.app_config(PHONE_DEFAULT_REGION="GB")
def test_default_phone_region_allows_national_numbers(app, ada, add):
    assert add("phone", "020 7946 0958").status_code == 302

    assert _stored(app, ada.id) == ["+442079460958"]


def test_duplicate_channel_is_rejected(app, ada, add):
    assert add("twitter", "@ada_l").status_code == 302

    response = add("twitter", "https://x.com/ada_l")

    assert response.status_code == 422
    assert "Ada Lovelace already has that Twitter handle." in page_text(response.data)
    assert _stored(app, ada.id) == ["@ada_l"]


@pytest.mark.parametrize(("key", "first", "again"), [
    ("email", "ada@example.com", "ADA@example.com"),
    ("twitter", "@ada_l", "@Ada_L"),
])
def test_a_handle_differing_only_in_case_is_the_same_handle(app, ada, add, key, first, again):
    """Found by the walk-through: both were kept, though merges and imports see one."""
    assert add(key, first).status_code == 302

    response = add(key, again)

    assert response.status_code == 422
    assert "Ada Lovelace already has that" in page_text(response.data)
    assert _stored(app, ada.id) == [first]


def test_same_value_on_two_mediums_is_two_channels(app, ada, add):
    assert add("phone", "+44 20 7946 0958").status_code == 302
    assert add("text_message", "+442079460958").status_code == 302

    assert _stored(app, ada.id) == ["+442079460958", "+442079460958"]


def test_channel_needs_a_medium_and_a_value(app, client, ada, add):
    no_medium = client.post(f"/contacts/{ada.id}/channels", data={"medium": "", "value": "x"})
    no_value = add("email", "   ")

    assert no_medium.status_code == 422
    assert "Choose the medium this handle is on." in page_text(no_medium.data)
    assert no_value.status_code == 422
    assert "Enter a handle, address or number." in page_text(no_value.data)
    assert _stored(app, ada.id) == []


def test_channels_show_on_the_contact_page_with_links(client, ada, add):
    add("twitter", "@ada_l", label="personal")
    add("email", "ada@example.com")
    add("face_to_face", "The Royal Society")

    response = client.get(f"/contacts/{ada.id}")

    assert response.status_code == 200
    body = response.data.decode()
    assert 'href="https://x.com/ada_l"' in body
    assert 'href="mailto:ada@example.com"' in body
    text = page_text(body)
    assert "@ada_l (personal)" in text
    assert "The Royal Society" in text


def test_remove_channel(app, client, ada, add):
    add("twitter", "@ada_l")
    add("email", "ada@example.com")
    with app.app_context():
        twitter_id = db.session.scalar(
            select(ContactChannel.id).where(ContactChannel.value == "@ada_l")
        )

    response = client.post(f"/contacts/{ada.id}/channels/{twitter_id}/delete")

    assert response.status_code == 302
    assert _stored(app, ada.id) == ["ada@example.com"]


def test_remove_channel_of_another_contact_is_404(app, client, logged_in, ada, add, make_contact):
    add("twitter", "@ada_l")
    grace = make_contact(logged_in, name="Grace Hopper")
    with app.app_context():
        channel_id = db.session.scalar(select(ContactChannel.id))

    response = client.post(f"/contacts/{grace.id}/channels/{channel_id}/delete")

    assert response.status_code == 404
    assert _stored(app, ada.id) == ["@ada_l"]


@pytest.mark.app_config(INTERACTIONS_PER_PAGE=1)
def test_a_refused_handle_shows_the_contact_page_with_links_that_work(
        client, logged_in, ada, add, make_interaction):
    """Found by the walk-through: the page shown with the error lives at the POST-only
    /channels address, and its sorting, paging and edit links were built from it (405)."""
    for day in (1, 2):
        make_interaction(logged_in, ada, "phone", datetime(2026, 11, day, 10, tzinfo=UTC))
    refused = add("skype", "x y")
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    links = re.findall(r'href="([^"]+)"', page)
    ordering = next(h for h in links if "order=oldest" in h)
    paging = next(h for h in links if "page=2" in h)
    editing = next(h for h in links if "/interactions/" in h and "/edit" in h)
    for href in (ordering, paging, editing):
        assert "/channels" not in unescape(href), href
        assert client.get(unescape(href)).status_code == 200, href
    assert unescape(editing).endswith(f"next=/contacts/{ada.id}")


def test_the_channel_form_preselects_no_medium(client, ada):
    body = client.get(f"/contacts/{ada.id}").get_data(as_text=True)
    select = re.search(r'<select[^>]*name="medium".*?</select>', body, re.S).group(0)
    options = re.findall(r"<option[^>]*>([^<]*)</option>", select)
    chosen = re.findall(r"<option [^>]*selected[^>]*>([^<]*)</option>", select)

    assert options[0] == chosen[0] == "— Choose a medium —" and len(chosen) == 1


def test_a_handle_written_without_its_owner_gets_its_contacts(app, make_user, make_contact):
    """Each handle keeps its contact's owner (a search reads the user's handles only);
    one written without it, through the ORM or a bulk insert (as the release before it
    does during a rolling deploy), is given it by the database."""
    from sqlalchemy import insert

    from crm.models import Contact, Medium

    owner = make_user()
    ada = make_contact(owner, name="Ada")
    with app.app_context():
        email = db.session.scalar(select(Medium.id).where(Medium.key == "email"))
        contact = db.session.get(Contact, ada.id)
        by_contact = ContactChannel(contact=contact, medium_id=email, value="a@example.com")
        by_id = ContactChannel(contact_id=ada.id, medium_id=email, value="b@example.com")
        db.session.add_all([by_contact, by_id])
        db.session.execute(insert(ContactChannel.__table__).values(
            contact_id=ada.id, medium_id=email, value="c@example.com", label=""))
        db.session.commit()
        owners = db.session.scalars(select(ContactChannel.owner_id).where(
            ContactChannel.contact_id == ada.id)).all()
        assert owners == [owner.id] * 3
