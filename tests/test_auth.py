"""Accounts: register, log in and out, settings, password storage, CSRF."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from support import PASSWORD, AuthActions, field_value, page_text
from werkzeug.security import check_password_hash

from crm.extensions import db
from crm.models import Contact, User


def _user(app, email):
    with app.app_context():
        return db.session.scalar(select(User).where(User.email == email))


def test_register_creates_account_and_logs_in(app, client, auth):
    response = auth.register("Bob@Example.com", name="  Bob Builder ", tz="Europe/Berlin")

    assert response.status_code == 302
    assert response.headers["Location"] == "/contacts"
    user = _user(app, "bob@example.com")
    assert user is not None
    assert (user.name, user.time_zone) == ("Bob Builder", "Europe/Berlin")
    # The new account is logged in straight away.
    home = client.get("/")
    assert "Hello, Bob Builder" in page_text(home.data)


def test_password_is_stored_as_scrypt_hash(app, auth):
    auth.register("carol@example.com", password="a long passphrase 1")

    stored = _user(app, "carol@example.com").password_hash
    assert stored.startswith("scrypt:")
    assert "a long passphrase 1" not in stored
    assert check_password_hash(stored, "a long passphrase 1")


def test_register_with_taken_email_case_insensitively(app, auth, count, make_user):
    make_user(email="bob@x.com")

    response = auth.register("Bob@X.com", name="Another Bob")

    assert response.status_code == 422
    assert "An account with this email exists already" in page_text(response.data)
    # The form comes back with what was typed.
    assert field_value(response.data, "name") == "Another Bob"
    assert count(User) == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tz": "Mars/Olympus_Mons"}, "Choose a time zone from the list."),
        ({"password": "short", "confirm": "short"}, "Use at least 10 characters."),
        ({"confirm": "something else entirely"}, "The passwords do not match."),
        ({"email": "not-an-email"}, "Enter a valid email address."),
        # Left empty, each field says what to do, as elsewhere (not WTForms' "This field is
        # required.").
        ({"name": ""}, "Enter your name."),
        ({"email": ""}, "Enter your email address."),
        ({"password": "", "confirm": "a long passphrase"}, "Choose a password."),
        ({"confirm": ""}, "Type the password again."),
    ],
)
def test_register_rejects_invalid_input(auth, count, overrides, message):
    fields = {"email": "dan@example.com", **overrides}

    response = auth.register(**fields)

    assert response.status_code == 422
    assert message in page_text(response.data)
    assert "This field is required." not in page_text(response.data)
    assert count(User) == 0


def test_login_succeeds_with_any_email_case(client, auth, make_user):
    make_user(email="ada@example.com", name="Ada Lovelace")

    response = auth.login("  ADA@Example.com ")

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "Hello, Ada Lovelace" in page_text(client.get("/").data)


def test_failed_logins_say_the_same_thing(client, auth, make_user):
    make_user(email="ada@example.com")

    wrong_password = auth.login("ada@example.com", password="not the password at all")
    unknown_email = auth.login("nobody@example.com", password="not the password at all")

    assert wrong_password.status_code == unknown_email.status_code == 422
    assert "That email and password do not match an account." in page_text(wrong_password.data)
    # Identical visible pages: nothing tells an attacker which accounts exist.
    assert page_text(wrong_password.data) == page_text(unknown_email.data)
    assert client.get("/contacts").status_code == 302


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/contacts", "/contacts"),
        ("/contacts?q=ada", "/contacts?q=ada"),
        ("https://evil.example", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("http:/evil.example", "/"),
    ],
)
def test_login_redirects_to_next_only_for_local_paths(auth, make_user, next_url, expected):
    make_user(email="ada@example.com")

    response = auth.login("ada@example.com", next=next_url)

    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_login_required_pages_carry_next_through_the_login_form(client):
    response = client.get("/contacts?q=ada")

    assert response.status_code == 302
    login_page = client.get(response.headers["Location"])
    assert field_value(login_page.data, "next") == "/contacts?q=ada"


def test_logout_is_post_only(client, logged_in):
    assert client.get("/logout").status_code == 405
    assert client.get("/contacts").status_code == 200  # still logged in

    response = client.post("/logout")

    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert client.get("/contacts").status_code == 302


def test_settings_change_name_and_time_zone(app, client, logged_in):
    response = client.post(
        "/settings",
        data={"action": "profile", "profile-name": "Augusta Ada King",
              "profile-time_zone": "Asia/Tokyo"},
    )

    assert response.status_code == 302
    user = _user(app, "ada@example.com")
    assert (user.name, user.time_zone) == ("Augusta Ada King", "Asia/Tokyo")


def _select(page: str, name: str) -> str:
    return re.search(rf'<select[^>]*name="{name}".*?</select>', page, re.S)[0]


def test_zone_selects_show_the_stored_zone_among_every_zone(client, logged_in, make_contact):
    # The zone options are rendered once per process; each page still selects its own.
    from crm.timezones import timezone_names

    client.post("/settings", data={"action": "profile", "profile-name": "Ada",
                                   "profile-time_zone": "America/Argentina/Buenos_Aires"})
    page = client.get("/settings").data.decode()
    assert field_value(page, "profile-time_zone") == "America/Argentina/Buenos_Aires"
    select = _select(page, "profile-time_zone")
    assert select.count("<option") == len(timezone_names())
    assert select.count("selected") == 1

    somewhere = make_contact(logged_in, name="Ines", time_zone="Asia/Kolkata").id
    nowhere = make_contact(logged_in, name="Noor").id
    assert field_value(client.get(f"/contacts/{somewhere}/edit").data, "time_zone") == "Asia/Kolkata"
    # No zone: nothing selected, so the browser sends the first option, "Not set".
    for url in (f"/contacts/{nowhere}/edit", "/contacts/new"):
        select = _select(client.get(url).data.decode(), "time_zone")
        assert "selected" not in select
        assert re.search(r"<option[^>]*>", select)[0] == '<option value="">'


def test_settings_reject_unknown_time_zone(app, client, logged_in):
    response = client.post(
        "/settings",
        data={"action": "profile", "profile-name": "Renamed",
              "profile-time_zone": "Europe/Atlantis"},
    )

    assert response.status_code == 422
    assert "Choose a time zone from the list." in page_text(response.data)
    user = _user(app, "ada@example.com")
    assert (user.name, user.time_zone) == ("Ada Lovelace", "UTC")


def _password_change(current, new="a brand new passphrase", confirm=None):
    return {
        "action": "password",
        "password-current_password": current,
        "password-new_password": new,
        "password-confirm": new if confirm is None else confirm,
    }


@pytest.mark.parametrize(("form", "data", "message"), [
    ("login", {"email": "", "password": "x"}, "Enter your email address."),
    ("login", {"email": "ada@example.com", "password": ""}, "Enter your password."),
    ("settings", {"action": "profile", "profile-name": "", "profile-time_zone": "UTC"},
     "Enter your name."),
    ("settings", _password_change(""), "Enter your current password."),
    ("settings", _password_change(PASSWORD, new=""), "Choose a new password."),
    ("settings", {**_password_change(PASSWORD), "password-confirm": ""},
     "Type the new password again."),
])
def test_a_field_left_empty_says_what_to_do(app, client, make_user, auth, form, data,
                                             message):
    """Login and settings said WTForms' "This field is required." where every other form
    says what to enter."""
    if form == "settings":
        auth.login_as(make_user(email="ada@example.com"))
    response = client.post(f"/{form}", data=data)

    assert response.status_code == 422
    text = page_text(response.data)
    assert message in text and "This field is required." not in text


def test_change_password_requires_the_current_one(app, client, logged_in):
    before = _user(app, "ada@example.com")

    response = client.post("/settings", data=_password_change("not my password at all"))

    assert response.status_code == 422
    assert "That is not your current password." in page_text(response.data)
    after = _user(app, "ada@example.com")
    assert after.password_hash == before.password_hash
    assert after.session_version == before.session_version


def test_change_password_ends_other_sessions_only(app, client, auth, logged_in):
    other_client = app.test_client()
    AuthActions(other_client).login_as(logged_in)
    assert other_client.get("/contacts").status_code == 200

    response = client.post("/settings", data=_password_change(PASSWORD))

    assert response.status_code == 302
    # This session stays logged in ...
    assert client.get("/contacts").status_code == 200
    # ... the other one is sent to the login page.
    kicked = other_client.get("/contacts")
    assert kicked.status_code == 302
    assert kicked.headers["Location"].startswith("/login")
    # Only the new password works from now on.
    auth.logout()
    assert auth.login("ada@example.com", password=PASSWORD).status_code == 422
    assert auth.login("ada@example.com", password="a brand new passphrase").status_code == 302


def test_changing_the_password_keeps_this_device_remembered(app, client, make_user):
    """"Keep me logged in" names the session version, which the change moved: the cookie
    was left naming the old one, so this device was logged out at the next browser
    restart, though the page said only the other sessions ended."""
    make_user(email="ada@example.com")
    other = app.test_client()
    for device in (client, other):
        device.post("/login", data={"email": "ada@example.com", "password": PASSWORD,
                                    "remember": "y"})
        assert device.get_cookie("remember_token") is not None

    assert client.post("/settings", data=_password_change(PASSWORD)).status_code == 302

    for device in (client, other):  # both browsers restart: only remember cookies are left
        device.delete_cookie("session")
    assert client.get("/contacts").status_code == 200
    kicked = other.get("/contacts")
    assert kicked.status_code == 302 and kicked.headers["Location"].startswith("/login")


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_post_without_csrf_token_is_refused(client, auth, count, logged_in):
    refused = client.post("/contacts/new", data={"name": "Grace Hopper"})

    assert refused.status_code == 400
    assert count(Contact) == 0

    # The same form with the token from the page goes through.
    token = field_value(client.get("/contacts/new").data, "csrf_token")
    accepted = client.post("/contacts/new", data={"name": "Grace Hopper", "csrf_token": token})
    assert accepted.status_code == 302
    assert count(Contact) == 1


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_register_without_csrf_token_creates_nothing(auth, count):
    response = auth.register("eve@example.com")

    assert response.status_code == 400
    assert count(User) == 0


@pytest.mark.parametrize("failed", [
    {"action": "profile", "profile-name": "", "profile-time_zone": "UTC"},
    {"action": "password", "password-current_password": "wrong",
     "password-new_password": "a brand new passphrase", "password-confirm": "different"},
])
def test_a_failed_settings_form_shows_the_others_as_stored(client, logged_in, failed):
    """Saving the reminder section after another section's error must not save defaults
    the page put there instead of the user's choice."""
    assert client.post("/settings", data={"action": "reminders", "reminders-email_mode": "digest",
                                          "reminders-digest_hour": "18"}).status_code == 302
    response = client.post("/settings", data=failed)
    assert response.status_code == 422
    assert field_value(response.data, "reminders-email_mode") == "digest"
    assert field_value(response.data, "reminders-digest_hour") == "18"
    assert field_value(response.data, "profile-name") == ("Ada Lovelace"
                                                          if failed["action"] == "password"
                                                          else "")


# --- changing one's email address ---------------------------------------------------------


def change_email(client, email, password=PASSWORD):
    return client.post("/settings", data={"action": "email", "email-email": email,
                                          "email-current_password": password})


def test_changing_the_email_address_moves_the_login_to_it(app, client, auth, make_user):
    """People change jobs and addresses; the login and the reminders follow them."""
    user = make_user(email="ada@old.example")
    auth.login_as(user)
    response = change_email(client, " Ada@New.Example ")
    assert response.status_code == 302
    assert "Your address is now ada@new.example" in page_text(client.get("/settings").data)
    assert _user(app, "ada@new.example").id == user.id
    fresh = AuthActions(app.test_client())
    assert fresh.login("ada@old.example").status_code == 422
    assert fresh.login("ada@new.example").status_code == 302


@pytest.mark.parametrize(("email", "password", "message"), [
    ("ada@new.example", "not my password at all", "That is not your current password."),
    ("bob@example.com", PASSWORD, "Another account has this address."),
    ("ADA@old.example", PASSWORD, "That is your address already."),
    ("not an address", PASSWORD, "Enter a valid email address."),
    ("", PASSWORD, "Enter the new address."),
    ("ada@new.example", "", "Enter your current password."),
])
def test_a_refused_email_change_says_why_and_changes_nothing(app, client, auth, make_user,
                                                             email, password, message):
    auth.login_as(make_user(email="ada@old.example"))
    make_user(email="bob@example.com")
    response = change_email(client, email, password)
    assert response.status_code == 422
    assert message in page_text(response.data)
    assert field_value(response.data, "email-email") == email
    assert _user(app, "ada@old.example") is not None


@pytest.mark.app_config(RATELIMIT_ENABLED=True, EMAIL_CHANGE_LIMIT_PER_ACCOUNT="2 per hour")
def test_tries_at_changing_the_address_are_limited(app, client, auth, make_user):
    """Found by the review: each try tells whether another account has the address, so a
    session could ask about every address it liked."""
    auth.login_as(make_user(email="ada@old.example"))
    make_user(email="bob@example.com")
    codes = [change_email(client, f"someone{i}@example.com", "wrong password at that").status_code
             for i in range(2)]
    third = change_email(client, "bob@example.com")
    assert codes == [422, 422] and third.status_code == 429
    assert "Another account has this address" not in page_text(third.data)
    assert _user(app, "ada@old.example") is not None
