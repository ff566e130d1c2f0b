"""Sessions, password checks and invitations against someone else's hands (found by the
security audit)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from support import PASSWORD, AuthActions, as_user, page_text

from crm.extensions import db
from crm.models import User


def _copy_session(app, client):
    """Another browser holding the same cookies (copied, stolen or left behind)."""
    other = app.test_client()
    for name in ("session", "remember_token"):
        cookie = client.get_cookie(name)
        if cookie is not None:
            other.set_cookie(name, cookie.value)
    return other


def test_a_deleted_accounts_cookies_never_open_the_next_account(app, db_backend):
    """SQLite gives a new account the id of the deleted one; a login cookie named only
    the id and a session version that every account started at, 1."""
    first = app.test_client()
    assert AuthActions(first).register("first@example.com", name="First").status_code == 302
    kept = _copy_session(app, first)
    assert first.post("/account/delete", data={"password": PASSWORD, "understand": "y"}
                      ).status_code == 302

    second = app.test_client()
    assert AuthActions(second).register("second@example.com", name="Second").status_code == 302
    with app.app_context():
        [account] = db.session.scalars(select(User)).all()
    if db_backend == "sqlite":
        assert account.email == "second@example.com" and account.id == 1  # the same id

    response = kept.get("/settings")
    assert response.status_code == 302 and response.location.startswith("/login")


def test_logging_out_ends_the_session_on_the_server_too(app, client, auth, make_user):
    make_user(email="leaver@example.com")
    assert client.post("/login", data={"email": "leaver@example.com", "password": PASSWORD,
                                       "remember": "y"}).status_code == 302
    copied = _copy_session(app, client)
    assert copied.get("/settings").status_code == 200

    client.post("/logout")

    response = copied.get("/settings")
    assert response.status_code == 302 and response.location.startswith("/login")


@pytest.mark.app_config(RATELIMIT_ENABLED=True, LOGIN_LIMIT_PER_ACCOUNT="3 per minute",
                        LOGIN_LIMIT_PER_IP="1000 per minute")
def test_password_checks_in_settings_and_account_deletion_are_throttled(app, make_user,
                                                                        count):
    """A session in someone else's hands cannot be used to guess the password."""
    user = make_user(email="held@example.com")
    client = as_user(app, user)
    for _ in range(2):
        assert client.post("/account/delete", data={"password": "guess one", "understand": "y"}
                           ).status_code == 422
    assert client.post("/settings", data={
        "action": "password", "password-current_password": "guess two",
        "password-new_password": "a new long password",
        "password-confirm": "a new long password"}).status_code == 422

    blocked = client.post("/account/delete", data={"password": PASSWORD, "understand": "y"})
    assert blocked.status_code == 429
    assert "Too many wrong passwords for this account." in page_text(blocked.data)
    assert count(User) == 1


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_logging_in_gives_a_new_csrf_token(app, make_user):
    make_user(email="fresh@example.com")
    client = app.test_client()

    def token(path):
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"',
                         client.get(path).get_data(as_text=True)).group(1)

    before = token("/login")
    assert client.post("/login", data={"email": "fresh@example.com", "password": PASSWORD,
                                       "csrf_token": before}).status_code == 302
    after = token("/contacts/new")
    assert after != before
    # The token of before the login no longer passes.
    stale = client.post("/contacts/new", data={"name": "Planted", "csrf_token": before})
    assert stale.status_code == 400


def test_an_invitation_does_not_tell_whether_an_address_has_an_account(app, make_user):
    client_user = make_user(email="client@example.com")
    make_user(email="known@example.com", name="Known Coach")
    clara = as_user(app, client_user)
    said = []
    for address in ("known@example.com", "unknown@example.com"):
        response = clara.post("/coaching", data={"email": address}, follow_redirects=True)
        text = page_text(response.data).replace(address, "ADDRESS")
        said.append(re.search(r"Invitation for ADDRESS ready\..*?/coaching/join/", text).group(0))
    assert said[0] == said[1]
    page = page_text(clara.get("/coaching").data)
    assert "Known Coach" not in page


def test_pickers_escape_names_and_keep_what_is_chosen(client, logged_in, make_contact):
    # The people pickers are written in one step, not by WTForms or a template loop.
    hostile = make_contact(logged_in, name='<b onclick="x">Zoë</b> & co', company="<i>Acme</i>")
    introduced = make_contact(logged_in, name="Ines", introduced_by=hostile)
    escaped = "&lt;b onclick=&#34;x&#34;&gt;Zoë&lt;/b&gt; &amp; co (&lt;i&gt;Acme&lt;/i&gt;)"
    for url in ("/interactions/new", "/contacts/new", "/reminders/new",
                f"/contacts/{introduced.id}/edit"):
        page = client.get(url).data.decode()
        assert "<b onclick" not in page and "<i>Acme" not in page, url
        assert escaped in page, url
    edit = client.get(f"/contacts/{introduced.id}/edit").data.decode()
    assert (f'<input type="radio" name="introduced_by" value="{hostile.id}" checked> '
            f'{escaped}</label>') in edit
    logged = client.get(f"/interactions/new?contact={hostile.id}").data.decode()
    assert f'name="participants" value="{hostile.id}" checked>' in logged
