"""Hardening: security headers, cookies, throttled login, size limits, and hostile input."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from support import AuthActions, page_text

from crm.extensions import db
from crm.params import INT_MAX


def test_every_page_carries_the_security_headers(client, logged_in):
    for url in ("/", "/contacts", "/login", "/static/css/app.css", "/healthz", "/nowhere"):
        response = client.get(url)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, url
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in response.headers  # plain HTTP here


def test_session_cookie_is_httponly_and_lax(client, auth, make_user):
    make_user(email="cookie@example.com")
    response = auth.login("cookie@example.com")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


@pytest.mark.app_config(HTTPS=True)
def test_https_setting_adds_hsts_and_secure_cookies(app, make_user):
    make_user(email="secure@example.com")
    client = app.test_client()
    response = AuthActions(client).login("secure@example.com", base_url="https://localhost")
    assert "Secure" in response.headers["Set-Cookie"]
    page = client.get("/login", base_url="https://localhost")
    assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")


@pytest.mark.app_config(RATELIMIT_ENABLED=True, LOGIN_LIMIT_PER_ACCOUNT="3 per minute",
                        LOGIN_LIMIT_PER_IP="1000 per minute")
def test_login_is_throttled_per_account_with_a_clear_message(app, make_user):
    make_user(email="target@example.com")
    client = app.test_client()
    for _ in range(3):
        assert AuthActions(client).login("target@example.com", password="wrong guess!").status_code == 422
    blocked = AuthActions(client).login("target@example.com", password="wrong guess!")
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    text = page_text(blocked.data)
    assert "Too many login attempts for this account." in text and "Try again in" in text
    # Even the right password waits: the account is throttled, not the guess.
    assert AuthActions(client).login("target@example.com").status_code == 429
    # Another account from the same address is not affected.
    make_user(email="other@example.com")
    assert AuthActions(client).login("other@example.com").status_code == 302


@pytest.mark.app_config(RATELIMIT_ENABLED=True, LOGIN_LIMIT_PER_IP="4 per minute",
                        LOGIN_LIMIT_PER_ACCOUNT="1000 per minute")
def test_login_is_throttled_per_address_across_accounts(app):
    client = app.test_client()
    codes = [AuthActions(client).login(f"spray{i}@example.com", password="x" * 12).status_code
             for i in range(6)]
    assert codes[:4] == [422] * 4 and codes[4:] == [429, 429]


@pytest.mark.app_config(RATELIMIT_ENABLED=True, REGISTER_LIMIT_PER_IP="2 per hour")
def test_registration_is_throttled_per_address(app, count):
    from crm.models import User

    codes = [AuthActions(app.test_client()).register(f"new{i}@example.com").status_code
             for i in range(3)]
    assert codes == [302, 302, 429]
    assert count(User) == 2


@pytest.mark.app_config(MAX_CONTENT_LENGTH=1024 * 1024)
def test_oversized_request_gets_a_clear_413_page(client, logged_in, count):
    from crm.models import Contact

    response = client.post("/contacts/new", data={"name": "Big", "notes": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413
    assert "larger than Rapport accepts" in page_text(response.data)
    assert count(Contact) == 0


# --- hostile input: never a 500, and nothing stored that validation rejected -------------

EDGES = ["", " ", "0", "-1", "2147483648", "99999999999999999999", "1e309", "NaN", "2026-02-30",
         "2026-11-26T25:61", "9999-12-31T23:59", "0001-01-01", "<script>x</script>",
         "' OR 1=1 --", "\x00", "a" * 5000, "None", "true", "../../etc/passwd"]
text = st.one_of(
    st.text(max_size=50),
    st.text(alphabet=st.characters(min_codepoint=0x80, max_codepoint=0x10FFFF,
                                   blacklist_categories=("Cs",)), max_size=30),
    st.sampled_from(EDGES),
)
FORMS = {
    "/contacts/new": ["name", "company", "title", "location", "time_zone", "tags", "origin_medium",
                      "origin_date", "introduced_by", "keep_in_touch_days", "notes", "is_private",
                      "introduced_by_q", "find"],
    "/interactions/new": ["medium", "occurred_at", "initiated_by", "participants", "summary",
                          "notes", "follow_up_days", "follow_up_date", "follow_up_time",
                          "participants_q", "find"],
    "/mediums": ["name"],
    "/reminders/new": ["title", "contact", "local_date", "local_time", "recurrence", "notes",
                       "contact_q", "find"],
    "/coaching": ["email", "share_notes"],
    "/settings": ["action", "profile-name", "profile-time_zone", "password-current_password",
                  "password-new_password", "password-confirm", "reminders-email_mode",
                  "reminders-digest_hour"],
}


def _rows(app):
    with app.app_context():
        return {t.name: db.session.execute(select(t)).all() for t in db.metadata.sorted_tables
                if t.name not in ("worker_heartbeats",)}


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(url=st.sampled_from(sorted(FORMS)), data=st.data())
def test_hostile_form_input_never_errors_and_rejections_store_nothing(app, client, logged_in,
                                                                      url, data):
    fields = FORMS[url]
    form = {name: data.draw(text, label=name) for name in fields
            if data.draw(st.booleans(), label=f"send {name}")}
    before = _rows(app)
    response = client.post(url, data=form)
    assert response.status_code < 500, (url, form, response.status_code)
    if response.status_code >= 400 or "find" in form:  # a picker's Find never saves
        assert _rows(app) == before, (url, form)


TEXT_FIELDS = {  # the text fields of each form, and what else a post must say
    "/contacts/new": (["name", "company", "title", "location", "tags", "notes"], {}),
    "/interactions/new": (["summary", "notes"], {}),
    "/mediums": (["name"], {}),
    "/reminders/new": (["title", "notes"], {}),
    "/coaching": (["email"], {}),
    "/settings": (["profile-name"], {"action": "profile"}),
}


def test_a_nul_character_in_any_text_field_is_a_form_error(app, client, logged_in):
    before = _rows(app)
    for url, (fields, extra) in TEXT_FIELDS.items():
        for name in fields:
            response = client.post(url, data={**extra, name: "Ada\x00Lovelace"})
            assert response.status_code == 422, (url, name, response.status_code)
            assert "Remove the NUL character from this text." in page_text(response.data), (
                url, name)
    assert _rows(app) == before


def test_every_edge_value_in_every_form_field_never_errors(client, logged_in):
    for url, fields in FORMS.items():
        for name in fields:
            for value in EDGES:
                response = client.post(url, data={name: value})
                assert response.status_code < 500, (url, name, value, response.status_code)


QUERIES = {  # what each page reads from its query string
    "/contacts": ["q", "tag", "sort", "archived", "page"],
    "/contacts/choices": ["q", "exclude"],
    "/contacts/{contact}": ["order", "page"],
    "/interactions": ["q", "medium", "by", "from", "to", "contact", "older", "newer"],
    "/interactions/new": ["contact", "medium", "next"],
    "/reminders/new": ["contact", "next"],
    "/reminders/history": ["page"],
    "/notifications": ["page"],
    "/coach": ["page"],
    "/": ["page"],
}


def test_every_edge_value_in_every_query_argument_never_errors(client, logged_in, make_contact):
    contact = make_contact(logged_in, name="Ada Lovelace")
    for path, names in QUERIES.items():
        for name in names:
            for value in EDGES:
                response = client.get(path.format(contact=contact.id), query_string={name: value})
                assert response.status_code < 500, (path, name, value, response.status_code)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(path=st.sampled_from(sorted(QUERIES)), data=st.data())
def test_hostile_query_strings_never_error(client, logged_in, make_contact, path, data):
    contact = make_contact(logged_in, name="Ada Lovelace")
    query = {name: data.draw(text, label=name) for name in QUERIES[path]
             if data.draw(st.booleans(), label=f"send {name}")}
    response = client.get(path.format(contact=contact.id), query_string=query)
    assert response.status_code < 500, (path, query, response.status_code)


# --- ids and page numbers beyond the database's integers ---------------------------------
# PostgreSQL refuses them outright (an error, not "no such row"), and SQLite a number
# beyond 64 bits; the app answers before it asks.

BEYOND = (str(INT_MAX + 1), "9" * 30)


@pytest.mark.parametrize("number", BEYOND)
def test_an_id_beyond_the_databases_integers_is_not_found_on_any_route(client, logged_in, app,
                                                                        number):
    checked = []
    for rule in app.url_map.iter_rules():
        if "<int:" not in rule.rule:
            continue
        path = re.sub(r"<[^>]+>", "x", re.sub(r"<int:\w+>", number, rule.rule))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method)
            assert response.status_code == 404, (method, path, response.status_code)
            if path.startswith("/api/"):
                assert response.mimetype == "application/problem+json"
            checked.append(path)
    assert len(set(checked)) > 20  # the contact, interaction, reminder, coach, API... routes


@pytest.mark.parametrize("path", [
    "/interactions/new?contact={n}", "/interactions/new?medium={n}", "/reminders/new?contact={n}",
    "/contacts?page={n}", "/contacts?q=ada&page={n}", "/coach?page={n}",
    "/reminders/history?page={n}", "/notifications?page={n}",
])
def test_ids_and_pages_beyond_the_databases_integers_in_a_query_are_ignored(client, logged_in,
                                                                            path):
    for number in BEYOND:
        assert client.get(path.format(n=number)).status_code == 200, number


def test_merging_with_an_id_beyond_the_databases_integers_is_not_found(client, logged_in,
                                                                     make_contact):
    ada = make_contact(logged_in, name="Ada Lovelace")
    for number in BEYOND:
        assert client.get(f"/contacts/{ada.id}/merge?other={number}").status_code == 404
        assert client.post(f"/contacts/{ada.id}/merge", data={"other": number}).status_code == 404


def test_a_participant_id_beyond_the_databases_integers_is_a_form_error(client, logged_in):
    for number in BEYOND:
        response = client.post("/interactions/new", data={
            "participants": number, "summary": "Call", "occurred_at": "2026-11-01T10:00",
            "initiated_by": "me"})
        assert response.status_code == 422
        assert "Choose people from your contacts." in page_text(response.data)
