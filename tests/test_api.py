"""The REST API: tokens, resources, errors, the OpenAPI document and the reference page."""

from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from fixtures.api_client import make_token, problem_of
from support import page_text

from crm import create_app
from crm.extensions import db
from crm.models import ApiToken, Interaction, Reminder, utcnow

# --- tokens ----------------------------------------------------------------------------


def test_no_token_bad_token_and_session_cookie_are_401(app, client, auth, make_user):
    user = make_user()
    for headers in ({}, {"Authorization": "Bearer rap_nope"}, {"Authorization": "Basic abc"}):
        response = client.get("/api/v1/contacts", headers=headers)
        problem_of(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    auth.login_as(user)
    assert client.get("/contacts").status_code == 200  # the session works for pages…
    problem_of(client.get("/api/v1/contacts"), 401)  # …not for the API


def test_a_write_whose_account_is_deactivated_before_its_lock_is_refused(
        app, api, count, monkeypatch):
    """A deactivation committing between the token's check and the user's lock: the write
    sees it under the lock and is refused, as the web's load_user refuses a session."""
    from sqlalchemy import update

    from crm.api import views
    from crm.models import Contact, User

    real_lock = views.lock_user

    def deactivated_first(user_id):
        # What a `crm users deactivate` committing just before the lock leaves it to read.
        db.session.execute(update(User).where(User.id == user_id)
                           .values(is_active_account=False))
        return real_lock(user_id)

    monkeypatch.setattr(views, "lock_user", deactivated_first)
    problem_of(api.post("/contacts", json={"name": "Grace"}), 401)
    assert count(Contact) == 0

    monkeypatch.setattr(views, "lock_user", real_lock)
    assert api.post("/contacts", json={"name": "Grace"}).status_code == 201


@pytest.mark.app_config(SQLITE_BUSY_TIMEOUT_MS=5000)
def test_api_reads_do_not_wait_for_the_write_lock(app, api, db_backend, row):
    """An API read never takes SQLite's write lock: while another process holds it, reads
    answer at once (recording the token's use waits 50 ms, not the 5 s busy timeout), and
    the token's last use is recorded by the first read after the lock is free."""
    if db_backend != "sqlite":
        pytest.skip("the write lock is SQLite's")
    import sqlite3
    import time

    writer = sqlite3.connect(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"),
                             isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    try:
        for _ in range(3):
            assert api.get("/contacts").status_code == 200
        assert api.get("/interactions").status_code == 200
        assert time.monotonic() - started < 2.5  # one busy timeout alone would be 5 s
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert row(ApiToken, 1).last_used_at is None  # skipped while the database was busy
    assert api.get("/contacts").status_code == 200
    assert row(ApiToken, 1).last_used_at is not None


# A pool of two: the request's connection and one for a write aside, which the test holds.
SMALL_POOL = {"pool_size": 2, "max_overflow": 0, "pool_timeout": 0.1}


@pytest.mark.app_config(SQLALCHEMY_ENGINE_OPTIONS=SMALL_POOL)
def test_a_read_with_no_connection_free_to_record_the_tokens_use_still_answers(app, api, row):
    with app.app_context():
        held = db.engine.connect()  # the pool's second connection
    try:
        assert api.get("/contacts").status_code == 200
    finally:
        held.close()
    assert row(ApiToken, 1).last_used_at is None  # skipped: no connection in time
    assert api.get("/contacts").status_code == 200
    assert row(ApiToken, 1).last_used_at is not None


@pytest.mark.app_config(SQLITE_BUSY_TIMEOUT_MS=100)
def test_a_writing_api_request_records_the_tokens_use_in_its_own_transaction(app, api, row):
    """A POST holds the write lock from its first statement: the token's last use goes into
    that transaction (a second connection would wait for the lock and give up)."""
    response = api.post("/contacts", json={"name": "Ada Lovelace"})

    assert response.status_code == 201, response.data
    assert row(ApiToken, 1).last_used_at is not None


def test_token_from_settings_is_shown_once_stored_hashed_and_revocable(app, client, logged_in,
                                                                        row, count):
    response = client.post("/settings/tokens", data={"token-name": "phone shortcut"})

    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    text = page_text(response.data)
    plain = re.search(r'value="(rap_[\w-]+)"', response.data.decode()).group(1)
    assert plain in text  # shown, in the example too
    token = row(ApiToken, 1)
    assert token.token_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert plain not in token.token_hash and token.prefix == plain[:12]
    settings = page_text(client.get("/settings").data)
    assert "phone shortcut" in settings and "never used" in settings
    assert plain not in settings and token.prefix in settings

    headers = {"Authorization": f"Bearer {plain}"}
    assert client.get("/api/v1/contacts", headers=headers).status_code == 200
    assert row(ApiToken, 1).last_used_at is not None
    assert "last used" in page_text(client.get("/settings").data)

    assert client.post("/settings/tokens/1/revoke").status_code == 302
    problem_of(client.get("/api/v1/contacts", headers=headers), 401)
    assert "revoked" in page_text(client.get("/settings").data)

    nameless = client.post("/settings/tokens", data={"token-name": ""})
    assert nameless.status_code == 422 and count(ApiToken) == 1


def test_revoking_another_users_token_is_404(client, auth, app, make_user, row):
    a, b = make_user(), make_user()
    make_token(app, a)
    auth.login_as(b)
    assert client.post("/settings/tokens/1/revoke").status_code == 404
    assert row(ApiToken, 1).revoked_at is None


def test_cli_token_create_list_revoke(app, client, runner, make_user):
    make_user(email="cli@example.com")
    created = runner.invoke(args=["token", "create", "cli@example.com", "--name", "sync"])
    assert created.exit_code == 0, created.output
    plain = created.output.strip().split()[-1]
    assert plain.startswith("rap_")
    assert client.get("/api/v1/mediums", headers={"Authorization": f"Bearer {plain}"}
                      ).status_code == 200
    listed = runner.invoke(args=["token", "list", "cli@example.com"])
    assert "sync" in listed.output and plain not in listed.output
    assert runner.invoke(args=["token", "revoke", "cli@example.com", "1"]).exit_code == 0
    assert client.get("/api/v1/mediums", headers={"Authorization": f"Bearer {plain}"}
                      ).status_code == 401
    assert runner.invoke(args=["token", "create", "nobody@example.com", "--name", "x"]
                         ).exit_code == 2


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_csrf_does_not_apply_to_the_token_api(api):
    response = api.post("/contacts", json={"name": "Ada"})
    assert response.status_code == 201


# --- contacts --------------------------------------------------------------------------


def test_contact_lifecycle(api, medium):
    created = api.post("/contacts", json={
        "name": "  Ada Lovelace ", "company": "Analytical Engines", "tags": ["math", "Math", "poetry"],
        "origin_medium_id": medium("twitter").id, "origin_date": "2010-11-22",
        "time_zone": "Europe/London", "keep_in_touch_days": 30,
    })
    assert created.status_code == 201
    ada = created.get_json()
    assert ada["name"] == "Ada Lovelace" and ada["tags"] == ["math", "poetry"]
    assert ada["origin_date"] == "2010-11-22" and ada["channels"] == []
    assert ada["archived"] is False

    got = api.get(f"/contacts/{ada['id']}").get_json()
    assert got == ada

    patched = api.patch(f"/contacts/{ada['id']}", json={"title": "Countess", "archived": True})
    assert patched.status_code == 200
    body = patched.get_json()
    assert body["title"] == "Countess" and body["archived"] is True
    assert body["company"] == "Analytical Engines"  # untouched

    assert api.delete(f"/contacts/{ada['id']}").status_code == 204
    problem_of(api.get(f"/contacts/{ada['id']}"), 404)


def test_contact_list_search_tag_and_pages(api, make_contact):
    for n in range(30):
        make_contact(api.user, name=f"Person {n:02d}", tags="conference" if n % 3 == 0 else "")
    make_contact(api.user, name="Ada Lovelace", company="Analytical Engines")

    first = api.get("/contacts?per_page=10").get_json()
    assert (first["total"], first["pages"], first["page"], len(first["items"])) == (31, 4, 1, 10)
    assert first["items"][0]["name"] == "Ada Lovelace"
    last = api.get("/contacts?per_page=10&page=4").get_json()
    assert [c["name"] for c in last["items"]] == ["Person 29"]
    assert [c["name"] for c in api.get("/contacts?q=analytical").get_json()["items"]] == [
        "Ada Lovelace"]
    assert api.get("/contacts?tag=conference").get_json()["total"] == 10


def test_validation_errors_name_each_field(api):
    body = problem_of(api.post("/contacts", json={
        "company": "x" * 121, "tags": ["ok", 3], "keep_in_touch_days": 0,
        "time_zone": "Mars/Olympus", "surprise": True, "origin_date": "22/11/2010",
    }), 422)
    assert set(body["errors"]) == {"name", "company", "tags", "keep_in_touch_days",
                                   "surprise", "origin_date"}
    assert body["errors"]["name"] == "This field is required."
    assert body["errors"]["surprise"] == "Unknown field."
    body = problem_of(api.post("/contacts", json={"name": "X", "time_zone": "Mars/Olympus",
                                                  "origin_medium_id": 999}), 422)
    assert set(body["errors"]) == {"time_zone", "origin_medium_id"}
    problem_of(api.post("/contacts", data="{not json", headers={"Content-Type": "application/json"}),
               400)
    problem_of(api.post("/contacts", json=["a list"]), 422)
    problem_of(api.patch("/contacts/1", json={}), 404)
    problem_of(api.get("/contacts?per_page=500"), 422)
    problem_of(api.get("/contacts?page=abc"), 422)
    problem_of(api.post("/contacts", json={"name": "nul\x00byte"}), 422)


def test_channels(api, medium):
    ada = api.post("/contacts", json={"name": "Ada"}).get_json()
    url = f"/contacts/{ada['id']}/channels"

    created = api.post(url, json={"medium_id": medium("twitter").id,
                                  "value": "https://x.com/ada_l", "label": "personal"})
    assert created.status_code == 201
    assert created.get_json()["value"] == "@ada_l"
    body = problem_of(api.post(url, json={"medium_id": medium("email").id, "value": "nope"}), 422)
    assert "email" in body["errors"]["value"]
    body = problem_of(api.post(url, json={"medium_id": medium("twitter").id,
                                          "value": "@ada_l"}), 422)
    assert body["errors"]["value"] == "The contact has this handle already."
    assert [c["value"] for c in api.get(url).get_json()] == ["@ada_l"]
    assert api.get(f"/contacts/{ada['id']}").get_json()["channels"][0]["label"] == "personal"
    channel_id = created.get_json()["id"]
    assert api.delete(f"{url}/{channel_id}").status_code == 204
    problem_of(api.delete(f"{url}/{channel_id}"), 404)


# --- interactions --------------------------------------------------------------------


def test_interactions(api, medium, make_contact, count):
    ada = make_contact(api.user, name="Ada")
    mary = make_contact(api.user, name="Mary")
    created = api.post("/interactions", json={
        "medium_id": medium("skype").id, "occurred_at": "2025-06-01T10:00:00+02:00",
        "participant_ids": [ada.id, mary.id], "summary": "Call", "initiated_by": "them",
    })
    assert created.status_code == 201
    call = created.get_json()
    assert call["occurred_at"] == "2025-06-01T08:00:00Z"
    assert call["participant_ids"] == sorted([ada.id, mary.id])
    api.post("/interactions", json={
        "medium_id": medium("face_to_face").id, "occurred_at": "2025-07-01T12:00:00Z",
        "participant_ids": [ada.id], "summary": "Lunch"})
    assert api.get(f"/contacts/{ada.id}").get_json()["last_interaction_at"] == \
        "2025-07-01T12:00:00Z"

    assert [i["summary"] for i in api.get("/interactions").get_json()["items"]] == [
        "Lunch", "Call"]
    assert [i["summary"] for i in api.get(f"/interactions?contact_id={mary.id}")
            .get_json()["items"]] == ["Call"]
    assert [i["summary"] for i in api.get(f"/interactions?medium_id={medium('skype').id}")
            .get_json()["items"]] == ["Call"]
    ranged = api.get("/interactions?since=2025-06-15T00:00:00Z&until=2025-08-01T00:00:00Z")
    assert [i["summary"] for i in ranged.get_json()["items"]] == ["Lunch"]
    problem_of(api.get("/interactions?since=yesterday"), 422)

    patched = api.patch(f"/interactions/{call['id']}", json={"participant_ids": [mary.id]})
    assert patched.get_json()["participant_ids"] == [mary.id]
    body = problem_of(api.post("/interactions", json={
        "medium_id": medium("skype").id, "occurred_at": "2025-06-01T10:00:00",
        "participant_ids": [], "summary": ""}), 422)
    assert set(body["errors"]) == {"occurred_at", "participant_ids", "summary"}
    assert "offset" in body["errors"]["occurred_at"]
    assert api.delete(f"/interactions/{call['id']}").status_code == 204
    assert count(Interaction) == 1


# --- mediums -------------------------------------------------------------------------


def test_mediums(api, medium, make_contact):
    names = [m["name"] for m in api.get("/mediums").get_json()]
    assert names == sorted(names, key=str.lower) and "Face-to-face" in names
    created = api.post("/mediums", json={"name": "Mastodon"})
    assert created.status_code == 201
    mastodon = created.get_json()
    assert mastodon["builtin"] is False
    problem_of(api.post("/mediums", json={"name": "mastodon"}), 422)
    assert api.patch(f"/mediums/{mastodon['id']}", json={"name": "Fediverse"}).get_json()[
        "name"] == "Fediverse"
    problem_of(api.patch(f"/mediums/{medium('phone').id}", json={"name": "Telephone"}), 403)
    problem_of(api.delete(f"/mediums/{medium('phone').id}"), 403)
    make_contact(api.user, name="Ada", origin_medium=mastodon["id"])
    problem_of(api.delete(f"/mediums/{mastodon['id']}"), 409)
    spare = api.post("/mediums", json={"name": "Zoom"}).get_json()
    assert api.delete(f"/mediums/{spare['id']}").status_code == 204


# --- reminders -----------------------------------------------------------------------


def test_a_series_starting_in_the_repeated_autumn_hour_starts_at_the_instant_given(api, app):
    # London, 26 October 2031: 01:30 comes twice, at 00:30Z (BST) and at 01:30Z (GMT).
    daily = api.post("/reminders", json={"title": "Night shift", "recurrence": "daily",
                                         "due_at": "2031-10-26T01:30:00Z"}).get_json()
    assert daily["due_at"] == "2031-10-26T01:30:00Z"
    with app.app_context():
        from crm.jobs import tasks

        assert tasks.deliver_due(datetime(2031, 10, 26, 1, 30, tzinfo=UTC), "w") == 1
    assert api.get(f"/reminders/{daily['id']}").get_json()["due_at"] == "2031-10-27T01:30:00Z"


def test_reminders(api, make_contact, row):
    ada = make_contact(api.user, name="Ada")
    now = utcnow().replace(microsecond=0)
    due = api.post("/reminders", json={"title": "Overdue", "due_at": (
        now - timedelta(hours=1)).isoformat(), "contact_id": ada.id})
    assert due.status_code == 201
    later = api.post("/reminders", json={"title": "Later", "due_at": "2031-03-01T09:00:00Z",
                                         "recurrence": "none"}).get_json()
    weekly = api.post("/reminders", json={"title": "Weekly", "due_at": "2031-03-03T09:00:00Z",
                                          "recurrence": "weekly"}).get_json()
    assert later["due_at"] == "2031-03-01T09:00:00Z" and later["time_zone"] == "Europe/London"
    assert weekly["due_at"] == "2031-03-03T09:00:00Z"

    assert [r["title"] for r in api.get("/reminders?when=due").get_json()["items"]] == ["Overdue"]
    assert [r["title"] for r in api.get("/reminders?when=upcoming").get_json()["items"]] == [
        "Later", "Weekly"]
    assert [r["title"] for r in api.get(f"/reminders?contact_id={ada.id}").get_json()[
        "items"]] == ["Overdue"]

    snoozed = api.post(f"/reminders/{later['id']}/snooze", json={"until": "2031-04-01T08:00:00Z"})
    assert snoozed.status_code == 200 and snoozed.get_json()["snoozed_count"] == 1
    body = problem_of(api.post(f"/reminders/{later['id']}/snooze",
                               json={"until": "2001-01-01T00:00:00Z"}), 422)
    assert "future" in body["errors"]["until"]
    problem_of(api.post(f"/reminders/{weekly['id']}/snooze",
                        json={"until": "2031-04-01T08:00:00Z"}), 409)
    done = api.post(f"/reminders/{due.get_json()['id']}/done")
    assert done.status_code == 200 and done.get_json()["status"] == "done"
    problem_of(api.post(f"/reminders/{due.get_json()['id']}/done"), 409)
    problem_of(api.post("/reminders", json={"title": "x", "due_at": "2031-01-01T00:00:00Z",
                                            "contact_id": 999}), 422)
    assert row(Reminder, later["id"]).due_at == datetime(2031, 4, 1, 8, tzinfo=UTC)


# --- rate limit ----------------------------------------------------------------------


@pytest.mark.app_config(API_RATE_LIMIT="3 per minute")
def test_rate_limit_per_token_with_retry_after(app, client, make_user):
    user = make_user()
    first, second = make_token(app, user, "one"), make_token(app, user, "two")

    def get(token):
        return client.get("/api/v1/mediums", headers={"Authorization": f"Bearer {token}"})

    with time_machine.travel(datetime(2026, 11, 26, 12, tzinfo=UTC), tick=False) as clock:
        assert [get(first).status_code for _ in range(4)] == [200, 200, 200, 429]
        clock.shift(20)
        limited = get(first)
        body = problem_of(limited, 429)
        assert limited.headers["Retry-After"] == "40" and "retry in 40 s" in body["detail"]
        assert get(second).status_code == 200  # per token
        clock.shift(41)
        assert get(first).status_code == 200


def _redis_or_skip(url: str) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {url}: {exc}")


REDIS_URL = os.environ.get("CRM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.mark.app_config(API_RATE_LIMIT="3 per minute", RATELIMIT_STORAGE_URI=REDIS_URL)
def test_rate_limit_is_shared_by_every_web_node_through_redis(app, make_user):
    """Two web processes on one Redis count one token's requests together."""
    _redis_or_skip(REDIS_URL)
    other_node = create_app({key: app.config[key] for key in (
        "TESTING", "SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "WTF_CSRF_ENABLED",
        "RATELIMIT_ENABLED", "API_RATE_LIMIT", "RATELIMIT_STORAGE_URI")} | {
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"]})
    headers = {"Authorization": f"Bearer {make_token(app, make_user())}"}
    try:
        nodes = [app.test_client(), other_node.test_client()]
        codes = [nodes[i % 2].get("/api/v1/mediums", headers=headers).status_code
                 for i in range(4)]
    finally:
        with other_node.app_context():
            db.engine.dispose()
    assert codes == [200, 200, 200, 429]


@pytest.mark.app_config(API_RATE_LIMIT="3 per minute", RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")
def test_an_unreachable_rate_limit_store_lets_requests_through(app, client, make_user, caplog):
    headers = {"Authorization": f"Bearer {make_token(app, make_user())}"}
    codes = [client.get("/api/v1/mediums", headers=headers).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 200]
    # Tried once, then left alone for a while rather than on every request.
    assert caplog.text.count("API rate limit storage failed") == 1


def test_a_malformed_api_rate_limit_stops_the_app_at_start(app):
    with pytest.raises(ValueError, match="API_RATE_LIMIT .*'lots' is not like"):
        create_app({"TESTING": True, "SECRET_KEY": "x", "API_RATE_LIMIT": "lots",
                    "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"]})


def test_rate_limit_setting_is_parsed():
    from crm.api.tokens import parse_rate

    def limit_and_seconds(text):
        item = parse_rate(text)
        return item.amount, item.get_expiry()

    assert limit_and_seconds("300 per minute") == (300, 60)
    assert limit_and_seconds("10/second") == (10, 1)
    assert limit_and_seconds("1000 per 2 hours") == (1000, 7200)
    with pytest.raises(ValueError):
        parse_rate("lots")


# --- the document and the reference ----------------------------------------------------


def test_openapi_document_is_generated_from_the_routes(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0"
    api_rules = {(rule.rule, method) for rule in app.url_map.iter_rules()
                 if rule.endpoint.startswith("api.") and rule.endpoint not in (
                     "api.openapi_document", "api.docs")
                 for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    assert len(documented) == len(api_rules) == 28
    contacts = doc["paths"]["/contacts"]["get"]
    assert {p["name"] for p in contacts["parameters"]} == {"q", "tag", "archived", "sort",
                                                           "cursor", "page", "per_page"}
    assert set(contacts["responses"]) == {"200", "400", "401", "404", "422", "429"}
    assert doc["components"]["schemas"]["ContactInput"]["required"] == ["name"]
    assert doc["paths"]["/mediums/{medium_id}"]["delete"]["responses"]["403"]


def test_reference_page_lists_endpoints_parameters_and_examples(client):
    assert client.get("/api").headers["Location"].endswith("/api/v1/docs")
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    text = page_text(page.data)
    for fragment in ("GET /contacts", "POST /interactions", "participant_ids",
                     "POST /reminders/{reminder_id}/snooze", "Authorization: Bearer",
                     "per_page", "Retry-After"):
        assert fragment in text, fragment
    assert b"<script>" not in page.data and b"cdn" not in page.data.lower()


def test_contact_totals_follow_every_change(api):
    """List totals are counted once per version of the network: each change shows at once."""
    def total(query=""):
        response = api.get("/contacts" + query)
        assert response.status_code == 200, response.data
        return response.get_json()["total"]

    ids = [api.post("/contacts", json={"name": f"Person {i}", "tags": ["team"] if i else []}
                    ).get_json()["id"] for i in range(3)]
    assert (total(), total("?tag=team"), total("?archived=true")) == (3, 2, 0)

    api.patch(f"/contacts/{ids[1]}", json={"archived": True})
    assert (total(), total("?tag=team"), total("?archived=true")) == (2, 1, 1)
    api.post("/contacts", json={"name": "Person 3", "tags": ["team"]})
    api.patch(f"/contacts/{ids[0]}", json={"tags": ["team"]})
    assert (total(), total("?tag=team"), total("?archived=true")) == (3, 3, 1)
    assert api.delete(f"/contacts/{ids[2]}").status_code == 204
    assert (total(), total("?tag=team"), total("?archived=true")) == (2, 2, 1)


# --- found by the API audit ------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "application/xml", None])
def test_a_body_not_sent_as_json_is_415_and_stores_nothing(api, content_type, count):
    from crm.models import Contact

    headers = {"Content-Type": content_type} if content_type else {}
    response = api.client.post("/api/v1/contacts", data='{"name": "Sent as text"}',
                               headers=api._headers(headers))
    body = problem_of(response, 415)
    assert "application/json" in body["detail"]
    assert count(Contact) == 0
    assert api.post("/contacts", json={"name": "Sent as JSON"}).status_code == 201
    assert api.client.post("/api/v1/contacts", data='{"name": "Vendor type"}', headers=api._headers(
        {"Content-Type": "application/merge-patch+json"})).status_code == 201


def test_the_medium_filter_answers_404_for_a_medium_not_yours(api, make_user, make_medium):
    other = make_user(email="other@example.com")
    theirs = make_medium(other, "Their channel")
    mine = make_medium(api.user, "My channel")
    problem_of(api.get(f"/interactions?medium_id={theirs.id}"), 404)
    assert api.get(f"/interactions?medium_id={mine.id}").status_code == 200


def test_a_reminder_about_a_contact_is_a_follow_up_as_on_the_web(api, make_contact):
    ada = make_contact(api.user, name="Ada")
    about = api.post("/reminders", json={"title": "Call Ada", "contact_id": ada.id,
                                         "due_at": "2031-03-01T09:00:00Z"}).get_json()
    alone = api.post("/reminders", json={"title": "Renew passport",
                                         "due_at": "2031-03-01T09:00:00Z"}).get_json()
    assert (about["kind"], alone["kind"]) == ("follow_up", "custom")


def test_updated_at_moves_when_tags_handles_or_participants_change(api, make_contact, medium):
    ada = make_contact(api.user, name="Ada")
    bob = make_contact(api.user, name="Bob")
    with time_machine.travel(datetime(2026, 1, 1, 9, tzinfo=UTC), tick=False) as clock:
        contact = api.post("/contacts", json={"name": "Cleo", "tags": ["a"]}).get_json()
        interaction = api.post("/interactions", json={
            "medium_id": medium("phone").id, "occurred_at": "2025-12-31T10:00:00Z",
            "participant_ids": [ada.id], "summary": "Call"}).get_json()
        stamps = []
        for change in (
            lambda: api.patch(f"/contacts/{contact['id']}", json={"tags": ["b"]}),
            lambda: api.post(f"/contacts/{contact['id']}/channels",
                             json={"medium_id": medium("skype").id, "value": "cleo.s"}),
            lambda: api.patch(f"/interactions/{interaction['id']}",
                              json={"participant_ids": [ada.id, bob.id]}),
        ):
            clock.shift(timedelta(minutes=5))
            assert change().status_code in (200, 201)
            stamps.append((api.get(f"/contacts/{contact['id']}").get_json()["updated_at"],
                           api.get(f"/interactions/{interaction['id']}").get_json()["updated_at"]))
    assert stamps == [("2026-01-01T09:05:00Z", "2026-01-01T09:00:00Z"),
                      ("2026-01-01T09:10:00Z", "2026-01-01T09:00:00Z"),
                      ("2026-01-01T09:10:00Z", "2026-01-01T09:15:00Z")]


def test_a_created_resource_says_where_it_is(api, medium, make_contact):
    """Every 201 of a resource one can GET carries its address in Location, and the OpenAPI
    document says so."""
    ada = make_contact(api.user, name="Ada Lovelace")
    for kind, body in (
            ("contact", {"name": "Grace Hopper"}),
            ("interaction", {"medium_id": medium("email").id, "summary": "Coffee",
                             "occurred_at": "2026-11-26T09:30:00Z", "participant_ids": [ada.id]}),
            ("medium", {"name": "Mastodon"}),
            ("reminder", {"title": "Send the paper", "due_at": "2030-12-01T09:00:00Z"})):
        created = api.post(f"/{kind}s", json=body)
        assert created.status_code == 201, (kind, created.data)
        location = created.headers["Location"]
        assert location == f"/api/v1/{kind}s/{created.get_json()['id']}", kind
        got = api.get(location.removeprefix("/api/v1"))
        assert got.status_code == 200 and got.get_json() == created.get_json(), kind
    document = api.client.get("/api/v1/openapi.json").get_json()
    for path in ("/contacts", "/interactions", "/mediums", "/reminders"):
        assert "Location" in document["paths"][path]["post"]["responses"]["201"]["headers"]
