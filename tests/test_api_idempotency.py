"""Idempotency keys on the API's writes: a request retried with the same Idempotency-Key
is answered with the first answer, byte for byte, and changes nothing; the same key on
another request is refused; keys are per user, expire, and a repeat arriving while the
first request runs waits for it instead of running twice."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from fixtures.api_client import ApiClient, make_token, problem_of
from sqlalchemy import create_engine, text
from support import connection_drops, page_text

from crm.api.idempotency import delete_expired
from crm.config import MAX_SECONDS
from crm.extensions import db
from crm.models import Contact, ContactChannel, Interaction, Medium, Reminder, Tag, utcnow

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
KEY = {"Idempotency-Key": "9b2f6c1e-retry-me"}
WAIT_LIMIT_S = 30


def stored_keys(app) -> list:
    from crm.models import IdempotencyKey

    with app.app_context():
        rows = list(db.session.scalars(db.select(IdempotencyKey).order_by(IdempotencyKey.id)))
        db.session.expunge_all()
        return rows


def same_answer(first, again) -> None:
    """The replay is the first answer: status, body and the headers a client reads."""
    assert again.status_code == first.status_code
    assert again.data == first.data
    for header in ("Content-Type", "ETag", "Location"):
        assert again.headers.get(header) == first.headers.get(header)
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"


@pytest.fixture
def ada(api, make_contact):
    return make_contact(api.user, name="Ada Lovelace")


@pytest.fixture
def others(app, api, ada, make_contact, make_interaction, make_medium) -> dict:
    """Ids of more of the user's records a write may change: two tags (by name), a handle
    of Ada's, an interaction with her and two mediums of the user's own, one unused."""
    from crm.contacts.services import add_channel

    bob = make_contact(api.user, name="Bob Kahn", tags=["friends", "old friends"])
    logged = make_interaction(api.user, ada)
    mastodon = make_medium(api.user, "Mastodon")
    unused = make_medium(api.user, "Signal")
    with app.app_context():
        handle = add_channel(db.session.get(Contact, ada.id), db.session.get(Medium, mastodon.id),
                             "@ada@example.social")
        db.session.commit()
        tags = {t.name: t.id for t in db.session.get(Contact, bob.id).tags}
        return {**tags, "handle": handle.id, "interaction": logged.id, "mastodon": mastodon.id,
                "unused medium": unused.id}


@pytest.fixture
def reminder(api, make_reminder):
    return make_reminder(api.user, title="Call Ada", due_at=NOW - timedelta(hours=1))


# Each write endpoint, given the ids of Ada, her reminder, the Email medium and the others
# above: its request, and the model whose rows a second run would add to or take from.
WRITES = {
    "create contact": lambda ids: ("post", "/contacts", {"name": "Grace Hopper"}, Contact),
    "update contact": lambda ids: ("patch", f"/contacts/{ids['ada']}", {"tags": ["math"]},
                                   Contact),
    "delete contact": lambda ids: ("delete", f"/contacts/{ids['ada']}", None, Contact),
    "add handle": lambda ids: ("post", f"/contacts/{ids['ada']}/channels",
                               {"medium_id": ids["email"], "value": "ada@example.com"},
                               ContactChannel),
    "log interaction": lambda ids: ("post", "/interactions", {
        "medium_id": ids["email"], "occurred_at": "2026-11-26T09:30:00Z",
        "participant_ids": [ids["ada"]], "summary": "Coffee"}, Interaction),
    "remove handle": lambda ids: ("delete", f"/contacts/{ids['ada']}/channels/{ids['handle']}",
                                  None, ContactChannel),
    "update interaction": lambda ids: ("patch", f"/interactions/{ids['interaction']}",
                                       {"summary": "Lunch"}, Interaction),
    "delete interaction": lambda ids: ("delete", f"/interactions/{ids['interaction']}", None,
                                       Interaction),
    "add medium": lambda ids: ("post", "/mediums", {"name": "Bluesky"}, Medium),
    "rename medium": lambda ids: ("patch", f"/mediums/{ids['mastodon']}", {"name": "Fediverse"},
                                  Medium),
    "delete medium": lambda ids: ("delete", f"/mediums/{ids['unused medium']}", None, Medium),
    "create reminder": lambda ids: ("post", "/reminders", {
        "title": "Send the paper", "due_at": "2026-12-01T09:00:00Z"}, Reminder),
    "snooze reminder": lambda ids: ("post", f"/reminders/{ids['reminder']}/snooze",
                                    {"until": "2026-12-02T09:00:00Z"}, Reminder),
    "mark reminder done": lambda ids: ("post", f"/reminders/{ids['reminder']}/done", None,
                                       Reminder),
    "rename tag": lambda ids: ("patch", f"/tags/{ids['friends']}", {"name": "pals"}, Tag),
    "merge tag": lambda ids: ("post", f"/tags/{ids['old friends']}/merge",
                              {"into_id": ids["friends"]}, Tag),
    "delete tag": lambda ids: ("delete", f"/tags/{ids['friends']}", None, Tag),
}


def write_ids(ada, reminder, medium, others) -> dict:
    return {"ada": ada.id, "reminder": reminder.id, "email": medium("email").id, **others}


def rows_of(app, model) -> list[tuple]:
    """Every row of the model's table, every column: what a write changes."""
    with app.app_context():
        return sorted(map(tuple, db.session.execute(db.select(*model.__table__.columns))),
                      key=repr)


@pytest.mark.parametrize("write", list(WRITES))
def test_a_retried_write_replays_the_first_answer_and_changes_nothing(
        app, api, ada, reminder, medium, others, count, write):
    method, path, body, model = WRITES[write](write_ids(ada, reminder, medium, others))
    send = getattr(api, method)
    kwargs = {"json": body} if body is not None else {}

    with time_machine.travel(NOW, tick=False) as clock:
        first = send(path, headers=KEY, **kwargs)
        assert 200 <= first.status_code < 300, first.data
        rows = count(model)
        with app.app_context():
            done_state = db.session.get(Reminder, reminder.id).status
        clock.shift(timedelta(minutes=5))  # a fresh run would stamp a new updated_at
        again = send(path, headers=KEY, **kwargs)

    same_answer(first, again)
    assert count(model) == rows
    with app.app_context():
        assert db.session.get(Reminder, reminder.id).status == done_state
    assert len(stored_keys(app)) == 1


def test_without_a_key_a_retry_runs_again(api, count):
    for _ in range(2):
        assert api.post("/contacts", json={"name": "Grace Hopper"}).status_code == 201
    assert count(Contact) == 2


def test_the_same_key_on_another_request_is_422_and_changes_nothing(api, ada, count):
    first = api.post("/contacts", json={"name": "Grace Hopper"}, headers=KEY)
    assert first.status_code == 201

    for other in (
        lambda: api.post("/contacts", json={"name": "Alan Turing"}, headers=KEY),
        lambda: api.post("/mediums", json={"name": "Grace Hopper"}, headers=KEY),
        lambda: api.patch(f"/contacts/{ada.id}", json={"name": "Grace Hopper"}, headers=KEY),
    ):
        body = problem_of(other(), 422)
        assert "Idempotency-Key" in body["detail"] and "another request" in body["detail"]

    assert count(Contact) == 2  # Ada and Grace
    assert count(Medium, Medium.owner_id.is_not(None)) == 0
    # The first request, resent, is still answered from the key.
    assert api.post("/contacts", json={"name": "Grace Hopper"},
                    headers=KEY).headers["Idempotent-Replayed"] == "true"


def test_a_retried_patch_does_not_undo_a_change_made_in_between(api, ada, row):
    first = api.patch(f"/contacts/{ada.id}", json={"company": "Analytical Engines"},
                      headers=KEY)
    api.patch(f"/contacts/{ada.id}", json={"company": "Babbage & Co"})

    again = api.patch(f"/contacts/{ada.id}", json={"company": "Analytical Engines"},
                      headers=KEY)

    same_answer(first, again)
    assert row(Contact, ada.id).company == "Babbage & Co"


def test_the_same_body_in_another_spelling_of_json_is_the_same_request(api, count):
    first = api.post("/contacts", data='{"name": "Grace Hopper", "tags": ["navy"]}',
                     headers={**KEY, "Content-Type": "application/json"})
    again = api.post("/contacts", data='{ "tags":["navy"],\n "name":"Grace Hopper" }',
                     headers={**KEY, "Content-Type": "application/json"})

    same_answer(first, again)
    assert count(Contact) == 1


def test_two_users_with_the_same_key_are_independent(app, client, api, make_user, count):
    other = ApiClient(client, make_token(app, make_user(email="b@example.com")), None)

    mine = api.post("/contacts", json={"name": "Grace Hopper"}, headers=KEY)
    theirs = other.post("/contacts", json={"name": "Grace Hopper"}, headers=KEY)
    theirs_different = other.post("/contacts", json={"name": "Alan Turing"},
                                  headers={"Idempotency-Key": "second"})
    mine_again = api.post("/contacts", json={"name": "Alan Turing"},
                          headers={"Idempotency-Key": "second"})

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in theirs.headers
    assert mine.get_json()["id"] != theirs.get_json()["id"]
    assert theirs_different.status_code == mine_again.status_code == 201
    assert "Idempotent-Replayed" not in mine_again.headers
    assert count(Contact) == 4


def test_another_token_of_the_same_user_shares_the_users_keys(app, client, api, count):
    second = ApiClient(client, make_token(app, api.user, name="laptop"), api.user)

    first = api.post("/contacts", json={"name": "Grace Hopper"}, headers=KEY)
    again = second.post("/contacts", json={"name": "Grace Hopper"}, headers=KEY)

    same_answer(first, again)
    assert count(Contact) == 1


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "clé", "tab\there", "del\x7f"])
def test_an_invalid_key_is_400_and_changes_nothing(api, count, key):
    response = api.post("/contacts", json={"name": "Grace Hopper"},
                        headers={"Idempotency-Key": key})

    body = problem_of(response, 400)
    assert "Idempotency-Key" in body["detail"]
    assert count(Contact) == 0


def test_a_key_of_255_printable_characters_is_taken(api, count):
    key = {"Idempotency-Key": "~" + "a" * 253 + "!"}
    first = api.post("/contacts", json={"name": "Grace Hopper"}, headers=key)
    again = api.post("/contacts", json={"name": "Grace Hopper"}, headers=key)

    same_answer(first, again)
    assert count(Contact) == 1


def test_a_key_on_a_read_is_ignored(api):
    response = api.get("/contacts", headers={"Idempotency-Key": "é" * 300})
    assert response.status_code == 200
    assert "Idempotent-Replayed" not in response.headers


def test_a_failed_validation_is_not_kept_the_corrected_request_may_reuse_the_key(app, api,
                                                                                 count):
    """A 4xx changed nothing, so nothing is kept: resent, it is checked again, and the
    client may correct its body and send it with the same key."""
    invalid = api.post("/contacts", json={"name": ""}, headers=KEY)
    assert problem_of(invalid, 422)["errors"]["name"]
    assert "Idempotent-Replayed" not in api.post(
        "/contacts", json={"name": ""}, headers=KEY).headers
    assert stored_keys(app) == []

    corrected = api.post("/contacts", json={"name": "Grace Hopper"}, headers=KEY)
    again = api.post("/contacts", json={"name": "Grace Hopper"}, headers=KEY)

    assert corrected.status_code == 201
    same_answer(corrected, again)
    assert count(Contact) == 1


def test_a_request_that_failed_is_run_again(app, api, count, monkeypatch):
    """A 500 rolls everything back, the key included: the retry really runs."""
    from crm.contacts import services

    original = services.create_contact

    def fails_after_writing(user, data):
        original(user, data)
        db.session.flush()
        raise RuntimeError("the server fell over")

    monkeypatch.setattr(services, "create_contact", fails_after_writing)
    with pytest.raises(RuntimeError):
        api.post("/contacts", json={"name": "Grace Hopper"}, headers=KEY)
    monkeypatch.undo()
    assert count(Contact) == 0 and stored_keys(app) == []

    retried = api.post("/contacts", json={"name": "Grace Hopper"}, headers=KEY)

    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    assert count(Contact) == 1


@pytest.mark.parametrize("write", list(WRITES))
def test_no_write_is_committed_without_its_key(app, api, ada, reminder, medium, others,
                                               write):
    """Every write endpoint leaves its commit to the route, which keeps the key with it: when
    keeping the key fails, the write is not there either."""
    method, path, body, model = WRITES[write](write_ids(ada, reminder, medium, others))
    before = rows_of(app, model)
    with connection_drops(app, "INSERT INTO idempotency_keys"):
        dropped = getattr(api, method)(path, headers=KEY,
                                       **({"json": body} if body is not None else {}))
    problem_of(dropped, 503)
    assert rows_of(app, model) == before
    assert stored_keys(app) == []


def test_the_write_and_its_key_are_committed_together(app, api, count):
    """Keeping the answer fails (the connection drops): the write it answers is not
    committed either, and the retry really runs."""
    with connection_drops(app, "INSERT INTO idempotency_keys") as left:
        dropped = api.post("/contacts", json={"name": "Grace Hopper"}, headers=KEY)
    assert left == [0]

    problem_of(dropped, 503)
    assert count(Contact) == 0 and stored_keys(app) == []
    retried = api.post("/contacts", json={"name": "Grace Hopper"}, headers=KEY)
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert count(Contact) == 1 and len(stored_keys(app)) == 1


@pytest.mark.app_config(API_IDEMPOTENCY_KEY_TTL_SECONDS=3600)
def test_a_key_expires_after_its_time(app, api, count):
    with time_machine.travel(NOW, tick=False) as clock:
        first = api.post("/contacts", json={"name": "Grace Hopper"}, headers=KEY)
        clock.shift(timedelta(seconds=3599))
        assert api.post("/contacts", json={"name": "Grace Hopper"},
                        headers=KEY).headers["Idempotent-Replayed"] == "true"
        clock.shift(timedelta(seconds=2))
        # Expired: forgotten, even before the worker deletes it; another request may use it.
        later = api.post("/contacts", json={"name": "Alan Turing"}, headers=KEY)
        again = api.post("/contacts", json={"name": "Alan Turing"}, headers=KEY)

    assert first.status_code == later.status_code == 201
    assert "Idempotent-Replayed" not in later.headers
    same_answer(later, again)
    assert count(Contact) == 2
    assert [k.created_at for k in stored_keys(app)] == [NOW + timedelta(seconds=3601)]


@pytest.mark.app_config(API_IDEMPOTENCY_KEY_TTL_SECONDS=3600)
def test_the_worker_deletes_expired_keys(app, api, make_user, client):
    from crm.jobs import tasks

    other = ApiClient(client, make_token(app, make_user(email="b@example.com")), None)
    with time_machine.travel(NOW, tick=False) as clock:
        api.post("/contacts", json={"name": "Grace Hopper"}, headers=KEY)
        other.post("/contacts", json={"name": "Grace Hopper"}, headers=KEY)
        clock.shift(timedelta(minutes=30))
        api.post("/contacts", json={"name": "Alan Turing"}, headers={"Idempotency-Key": "b"})

    with app.app_context():
        assert tasks.delete_expired_idempotency_keys(NOW + timedelta(seconds=3600)) == 0
        assert tasks.delete_expired_idempotency_keys(NOW + timedelta(seconds=3601)) == 2
    assert [k.key for k in stored_keys(app)] == ["b"]
    with app.app_context():
        assert tasks.delete_expired_idempotency_keys(NOW + timedelta(hours=2)) == 1
    assert stored_keys(app) == []


def test_the_worker_runs_the_cleanup(app):
    from crm.jobs.scheduler import build_scheduler

    job = build_scheduler(app, "worker-1").get_job("delete-expired-idempotency-keys")
    assert job is not None
    assert job.trigger.interval == timedelta(hours=1)


@pytest.mark.parametrize("second_name", ["Grace Hopper", "Alan Turing"])
def test_a_repeat_arriving_while_the_first_runs_waits_for_it_and_replays_it(
        app, api, count, db_backend, monkeypatch, second_name):
    """Two real requests at once, each with its own connection: the repeat arrives while
    the first holds its transaction open (inside the service), waits on the user's lock
    (PostgreSQL) or the write lock (SQLite), then answers with the first one's answer, or
    the 422 when it is another request."""
    import crm.database
    from crm.contacts import services

    original_create, original_begin = services.create_contact, crm.database._begin_immediate
    first_inside, release, second_waiting = (threading.Event() for _ in range(3))
    runs: list[str] = []

    def held_open(user, data):
        runs.append(data.name)
        contact = original_create(user, data)
        db.session.flush()
        first_inside.set()
        release.wait(WAIT_LIMIT_S)
        return contact

    def begin_waiting(conn):
        if first_inside.is_set():
            second_waiting.set()
        original_begin(conn)

    monkeypatch.setattr(services, "create_contact", held_open)
    monkeypatch.setattr(crm.database, "_begin_immediate", begin_waiting)
    responses: dict[str, object] = {}
    errors: list[BaseException] = []

    def send(name, contact_name):
        try:
            client = ApiClient(app.test_client(), api.token, api.user)
            responses[name] = client.post("/contacts", json={"name": contact_name},
                                          headers=KEY)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
            first_inside.set()

    first = threading.Thread(target=send, args=("first", "Grace Hopper"))
    first.start()
    assert first_inside.wait(WAIT_LIMIT_S)
    second = threading.Thread(target=send, args=("second", second_name))
    second.start()
    try:
        if db_backend == "postgresql":
            _wait_for_a_lock_wait(app, second)
        else:
            assert second_waiting.wait(WAIT_LIMIT_S)
        time.sleep(0.05)
        assert second.is_alive()  # still waiting while the first holds its transaction
    finally:
        release.set()
        first.join(WAIT_LIMIT_S)
        second.join(WAIT_LIMIT_S)

    assert not errors, errors
    assert runs == ["Grace Hopper"]
    assert responses["first"].status_code == 201
    if second_name == "Grace Hopper":
        same_answer(responses["first"], responses["second"])
    else:
        assert "another request" in problem_of(responses["second"], 422)["detail"]
    assert count(Contact) == 1


def _wait_for_a_lock_wait(app, thread) -> None:
    """Return once a connection to the test's database waits for a lock."""
    watcher = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        deadline = time.monotonic() + WAIT_LIMIT_S
        with watcher.connect() as conn:
            while thread.is_alive() and time.monotonic() < deadline:
                if conn.execute(text(
                        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a "
                        "ON a.pid = l.pid WHERE NOT l.granted "
                        "AND a.datname = current_database()")).scalar():
                    return
                conn.rollback()
        raise AssertionError("the second request never waited for a lock")
    finally:
        watcher.dispose()


def test_the_openapi_document_describes_the_key_on_every_write(client):
    document = client.get("/api/v1/openapi.json").get_json()
    writes = [(path, method, op) for path, item in document["paths"].items()
              for method, op in item.items() if method in ("post", "patch", "delete")]
    assert writes
    for path, method, op in writes:
        params = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "header"}
        key = params["Idempotency-Key"]
        assert key["schema"]["maxLength"] == 255 and not key["required"], (path, method)
        assert "Idempotent-Replayed" in op["responses"][
            next(s for s in op["responses"] if s.startswith("2"))]["headers"]
        assert "Idempotency-Key" in op["responses"]["400"]["description"]
        assert "Idempotency-Key" in op["responses"]["422"]["description"]
    reads = [op for item in document["paths"].values() for method, op in item.items()
             if method == "get"]
    assert not any(p["name"] == "Idempotency-Key" for op in reads
                   for p in op.get("parameters", []))
    reference = page_text(client.get("/api/v1/docs").data)
    assert "Idempotent-Replayed: true" in reference and "keys last 24 hours" in reference


def test_the_writes_tried_above_are_every_write_of_the_api(client):
    """WRITES names every write endpoint, so each one is tried by the tests above (a new
    endpoint that committed by itself would keep its key in a transaction of its own)."""
    import re

    document = client.get("/api/v1/openapi.json").get_json()
    prefix = document["servers"][0]["url"] if document.get("servers") else "/api/v1"
    operations = {(method, re.sub(r"\{[^}]+\}", "{}", path.removeprefix(prefix)))
                  for path, item in document["paths"].items()
                  for method, op in item.items() if method in ("post", "patch", "delete")}
    ids = dict.fromkeys(["ada", "reminder", "email", "friends", "old friends", "handle",
                         "interaction", "mastodon", "unused medium"], 7)
    tried = {(method, re.sub(r"/\d+", "/{}", path))
             for method, path, _, _ in (write(ids) for write in WRITES.values())}
    assert operations - tried == set()


@pytest.mark.app_config(API_IDEMPOTENCY_KEY_TTL_SECONDS=MAX_SECONDS)
def test_the_longest_key_lifetime_the_configuration_takes_still_takes_keyed_writes(
        app, api, count):
    first = api.post("/contacts", json={"name": "Grace Hopper"}, headers=KEY)
    assert first.status_code == 201, first.data
    same_answer(first, api.post("/contacts", json={"name": "Grace Hopper"}, headers=KEY))
    with app.app_context():
        assert delete_expired(utcnow()) == 0
    assert count(Contact) == 1
