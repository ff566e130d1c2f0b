"""The worker brings stored network figures up to date after a change, so the next page
view reads them instead of aggregating the whole network itself."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select, update
from support import as_user, link

from crm.extensions import db
from crm.insights import cache, presenters, services
from crm.jobs import tasks
from crm.models import InsightSnapshot, User, utcnow


def _snapshot(app, owner, shared_only=False):
    """(snapshot version, the owner's current version, interactions in the snapshot)."""
    with app.app_context():
        snap = db.session.scalar(select(InsightSnapshot).where(
            InsightSnapshot.owner_id == owner.id, InsightSnapshot.shared_only == shared_only))
        current = db.session.get(User, owner.id).network_version
        if snap is None:
            return None, current, None
        return snap.version, current, json.loads(snap.payload)["interactions"]


def _refresh(app) -> int:
    with app.app_context():
        return tasks.refresh_figures(utcnow())


@pytest.fixture
def aggregations(monkeypatch):
    """Owners whose whole network is aggregated from here on, one list per aggregation."""
    calls: list[list[int]] = []
    real = services.network_figures

    def counting(owner_ids, **kwargs):
        calls.append(list(owner_ids))
        return real(owner_ids, **kwargs)

    monkeypatch.setattr(services, "network_figures", counting)
    return calls


@pytest.fixture
def stale(app, client, logged_in, make_contact, make_interaction):
    """The logged-in user's figures, stored after one interaction and made stale by a
    second; returns the contact both were with."""
    ada = make_contact(logged_in, name="Ada Lovelace")
    make_interaction(logged_in, ada)
    assert client.get("/").status_code == 200
    make_interaction(logged_in, ada, medium_key="skype")
    return ada


def test_the_worker_recomputes_figures_a_change_made_stale(
        app, client, logged_in, make_contact, make_interaction, aggregations):
    ada = make_contact(logged_in, name="Ada Lovelace")
    make_interaction(logged_in, ada)
    assert client.get("/").status_code == 200  # computes and stores the figures
    version, current, interactions = _snapshot(app, logged_in)
    assert (version, interactions) == (current, 1)

    make_interaction(logged_in, ada, medium_key="skype")  # the network changes
    assert _snapshot(app, logged_in)[0] != _snapshot(app, logged_in)[1]
    aggregations.clear()

    assert _refresh(app) == 1
    version, current, interactions = _snapshot(app, logged_in)
    assert (version, interactions) == (current, 2)
    assert aggregations == [[logged_in.id]]

    aggregations.clear()
    page = client.get("/")
    assert page.status_code == 200
    assert aggregations == []  # the page read the stored figures
    assert _refresh(app) == 0  # nothing is stale any more


def test_only_figures_someone_looked_at_are_refreshed(app, logged_in, make_contact,
                                                     make_interaction, aggregations):
    make_interaction(logged_in, make_contact(logged_in, name="Ada Lovelace"))

    assert _refresh(app) == 0
    assert aggregations == []
    assert _snapshot(app, logged_in)[0] is None


def test_a_coachs_view_of_a_client_is_refreshed_too(app, make_user, make_contact,
                                                    make_interaction, aggregations):
    clara = make_user(name="Clara Client", email="clara@example.com")
    colin = make_user(name="Colin Coach", email="colin@example.com")
    link(app, clara, colin)
    ada = make_contact(clara, name="Ada Lovelace")
    make_interaction(clara, ada)
    coach = as_user(app, colin)
    assert coach.get("/coach").status_code == 200  # stores the shared-only figures
    assert _snapshot(app, clara, shared_only=True)[2] == 1

    make_interaction(clara, ada, medium_key="phone")
    make_interaction(clara, ada, medium_key="twitter", is_private=True)  # never shared

    assert _refresh(app) == 1
    version, current, interactions = _snapshot(app, clara, shared_only=True)
    assert (version, interactions) == (current, 2)
    aggregations.clear()
    assert coach.get("/coach").status_code == 200
    assert aggregations == []


def test_refreshing_holds_no_write_lock_while_it_aggregates(app, db_backend, logged_in, stale,
                                                            monkeypatch):
    """On SQLite the aggregate runs in a read transaction: a web process can still write
    meanwhile (a write lock held for the whole aggregate would stall every one of them)."""
    if db_backend != "sqlite":
        pytest.skip("the write lock is SQLite's")
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    outcomes = []
    real = services.network_figures

    def aggregate_while_another_writes(owner_ids, **kwargs):
        figures = real(owner_ids, **kwargs)
        other = sqlite3.connect(path, isolation_level=None, timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")  # fails at once if the refresh held the lock
            other.execute("ROLLBACK")
            outcomes.append("wrote")
        except sqlite3.OperationalError as exc:
            outcomes.append(str(exc))
        finally:
            other.close()
        return figures

    monkeypatch.setattr(services, "network_figures", aggregate_while_another_writes)

    assert _refresh(app) == 1
    assert outcomes == ["wrote"]
    version, current, _ = _snapshot(app, logged_in)
    assert version == current


def test_the_worker_job_logs_what_it_refreshed_and_nothing_when_idle(app, logged_in, stale,
                                                                    caplog):
    from crm.jobs.scheduler import build_scheduler

    job = build_scheduler(app, "worker-1").get_job("refresh-figures")

    with caplog.at_level(logging.INFO, logger="crm.jobs.scheduler"):
        job.func()
        job.func()

    assert [r.getMessage() for r in caplog.records if r.name == "crm.jobs.scheduler"] == [
        "refresh_figures: 1"]
    version, current, interactions = _snapshot(app, logged_in)
    assert (version, interactions) == (current, 2)


def test_one_owner_whose_figures_fail_does_not_hold_up_the_others(
        app, make_user, make_contact, make_interaction, monkeypatch, caplog):
    owners = [make_user(name=name, email=f"{name.lower()}@example.com")
              for name in ("Ada", "Bea")]
    for owner in owners:
        person = make_contact(owner, name="Someone")
        make_interaction(owner, person)
        assert as_user(app, owner).get("/").status_code == 200
        make_interaction(owner, person, medium_key="phone")
    broken, fine = owners
    real = services.network_figures

    def failing_for_one(owner_ids, **kwargs):
        if owner_ids == [broken.id]:
            raise RuntimeError("a broken network")
        return real(owner_ids, **kwargs)

    monkeypatch.setattr(services, "network_figures", failing_for_one)

    assert _refresh(app) == 1
    assert _snapshot(app, fine)[0] == _snapshot(app, fine)[1]
    assert _snapshot(app, broken)[0] != _snapshot(app, broken)[1]
    assert f"figures of owner {broken.id} not refreshed" in caplog.text


def test_figures_a_page_stored_meanwhile_are_not_replaced_by_older_ones(
        app, client, logged_in, stale, make_interaction, monkeypatch):
    ada = stale  # two interactions with her
    real = services.network_figures
    calls, statuses = [], []

    def a_write_and_a_page_view_meanwhile(owner_ids, **kwargs):
        calls.append(owner_ids)
        figures = real(owner_ids, **kwargs)
        if len(calls) == 1:  # the worker's aggregate; then a write, and a page stores three
            make_interaction(logged_in, ada, medium_key="phone")
            # In a thread of its own, as in another process: no app context to share.
            page = threading.Thread(target=lambda: statuses.append(client.get("/").status_code))
            page.start()
            page.join()
            assert _snapshot(app, logged_in)[2] == 3
        return figures

    monkeypatch.setattr(services, "network_figures", a_write_and_a_page_view_meanwhile)

    assert _refresh(app) == 0
    assert statuses == [200]
    version, current, interactions = _snapshot(app, logged_in)
    assert (version, interactions) == (current, 3)


def test_two_workers_never_refresh_the_same_figures_at_once(app, logged_in, stale,
                                                           monkeypatch):
    real = services.network_figures
    calls, other_worker = [], []

    def another_worker_runs_meanwhile(owner_ids, **kwargs):
        calls.append(list(owner_ids))
        if len(calls) == 1:  # in a thread of its own, as in another process
            other = threading.Thread(target=lambda: other_worker.append(_refresh(app)))
            other.start()
            other.join()
        return real(owner_ids, **kwargs)

    monkeypatch.setattr(services, "network_figures", another_worker_runs_meanwhile)

    assert _refresh(app) == 1
    assert other_worker == [0]
    assert calls == [[logged_in.id]]
    version, current, interactions = _snapshot(app, logged_in)
    assert (version, interactions) == (current, 2)


def test_a_failed_refresh_is_taken_up_again_when_its_claim_lapses(app, logged_in, stale,
                                                                 monkeypatch, caplog):
    real = services.network_figures
    failing = [True]

    def flaky(owner_ids, **kwargs):
        if failing[0]:
            raise RuntimeError("the database went away")
        return real(owner_ids, **kwargs)

    monkeypatch.setattr(services, "network_figures", flaky)
    assert _refresh(app) == 0
    assert f"figures of owner {logged_in.id} not refreshed" in caplog.text

    failing[0] = False
    assert _refresh(app) == 0  # still claimed: not retried every few seconds
    with app.app_context():
        assert tasks.refresh_figures(utcnow() + cache.REFRESH_LEASE) == 1
    version, current, interactions = _snapshot(app, logged_in)
    assert (version, interactions) == (current, 2)


def test_figures_that_change_while_refreshed_are_refreshed_on_the_next_run(
        app, logged_in, stale, make_interaction, monkeypatch):
    real = services.network_figures
    calls = []

    def a_write_meanwhile(owner_ids, **kwargs):
        calls.append(owner_ids)
        figures = real(owner_ids, **kwargs)
        if len(calls) == 1:
            make_interaction(logged_in, stale, medium_key="phone")
        return figures

    monkeypatch.setattr(services, "network_figures", a_write_meanwhile)

    assert _refresh(app) == 0  # not stored: the network changed; the claim is let go
    assert _refresh(app) == 1
    version, current, interactions = _snapshot(app, logged_in)
    assert (version, interactions) == (current, 3)


def test_figures_stored_after_the_worker_chose_them_are_not_recomputed(
        app, client, logged_in, stale, monkeypatch, aggregations):
    real_claim = cache._claim
    statuses = []

    def a_page_view_first(*args):
        # In a thread of its own, as in another process: no app context to share.
        page = threading.Thread(target=lambda: statuses.append(client.get("/").status_code))
        page.start()
        page.join()
        return real_claim(*args)

    monkeypatch.setattr(cache, "_claim", a_page_view_first)
    aggregations.clear()

    assert _refresh(app) == 0
    assert statuses == [200]
    assert aggregations == [[logged_in.id]]  # the page's aggregate, not the worker's
    version, current, interactions = _snapshot(app, logged_in)
    assert (version, interactions) == (current, 2)


@pytest.mark.app_config(FIGURES_REFRESH_BATCH=1)
def test_figures_another_worker_is_refreshing_do_not_take_up_a_run(
        app, make_user, make_contact, make_interaction):
    owners = [make_user(name=name, email=f"{name.lower()}@example.com")
              for name in ("Bea", "Ada")]
    for owner in owners:  # Ada's figures are the more recently looked at
        person = make_contact(owner, name="Someone")
        make_interaction(owner, person)
        assert as_user(app, owner).get("/").status_code == 200
        make_interaction(owner, person, medium_key="phone")
    bea, ada = owners
    with app.app_context():  # another worker is refreshing Ada's
        db.session.execute(update(InsightSnapshot).where(InsightSnapshot.owner_id == ada.id)
                           .values(refreshing_until=utcnow() + cache.REFRESH_LEASE))
        db.session.commit()

    assert _refresh(app) == 1
    assert _snapshot(app, bea)[0] == _snapshot(app, bea)[1]
    assert _snapshot(app, ada)[0] != _snapshot(app, ada)[1]


@pytest.mark.app_config(FIGURES_REFRESH_SECONDS=0)
def test_a_worker_with_refreshing_turned_off_leaves_figures_alone(app, logged_in, stale,
                                                                  aggregations):
    aggregations.clear()

    with app.app_context():
        counts = tasks.run_all_once(utcnow(), "cron-worker")

    assert counts["figures"] == 0
    assert aggregations == []
    assert _snapshot(app, logged_in)[0] != _snapshot(app, logged_in)[1]


# -- expired figures -------------------------------------------------------------------------

T0 = datetime(2026, 11, 26, 12, tzinfo=UTC)
EXPIRED = timedelta(seconds=900)  # INSIGHTS_CACHE_SECONDS
GRACE = timedelta(seconds=300)  # INSIGHTS_GRACE_SECONDS


@pytest.fixture
def clock():
    """Time stands at T0 (before any login: a session signed later than now is refused)."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def viewed(clock, client, logged_in, make_contact, make_interaction, aggregations):
    """The logged-in user's figures, computed and stored at T0 by a dashboard view;
    returns the contact of the one interaction in them."""
    ada = make_contact(logged_in, name="Ada Lovelace")
    make_interaction(logged_in, ada)
    assert client.get("/").status_code == 200
    assert aggregations == [[logged_in.id]]
    aggregations.clear()
    return ada


def _times(app, owner):
    """(computed_at, wanted_at) of the owner's stored figures."""
    with app.app_context():
        snap = db.session.scalar(select(InsightSnapshot).where(
            InsightSnapshot.owner_id == owner.id, InsightSnapshot.shared_only.is_(False)))
        return snap.computed_at, snap.wanted_at


def test_expired_figures_are_shown_while_the_worker_recomputes_them(
        clock, app, client, logged_in, viewed, aggregations, builds):
    clock.shift(EXPIRED)
    page = client.get("/")
    assert page.status_code == 200
    assert "Ada Lovelace" in page.get_data(as_text=True)
    assert aggregations == []  # the page did not aggregate: it asked the worker to
    assert _times(app, logged_in) == (T0, T0 + EXPIRED)

    assert _refresh(app) == 1
    assert aggregations == [[logged_in.id]]
    assert _times(app, logged_in) == (T0 + EXPIRED, None)

    aggregations.clear()
    renders = len(builds)
    clock.shift(cache.AGED_RECHECK)  # the page looks again and shows the new figures
    assert client.get("/").status_code == 200
    assert aggregations == []
    assert len(builds) == renders + 1
    with app.app_context():
        shown = cache.figures([logged_in.id])[logged_in.id]
    assert shown.computed_at == T0 + EXPIRED
    assert _times(app, logged_in) == (T0 + EXPIRED, None)
    assert _refresh(app) == 0


@pytest.fixture
def builds(monkeypatch):
    """Each time a figures partial is rendered (its view built), one entry."""
    calls = []
    real = presenters.build

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(presenters, "build", counting)
    return calls


def test_expired_figures_are_asked_for_once(clock, app, client, logged_in, viewed):
    clock.shift(EXPIRED)
    assert client.get("/").status_code == 200
    clock.shift(cache.AGED_RECHECK)  # read again from the database, still expired
    assert client.get("/").status_code == 200
    assert _times(app, logged_in) == (T0, T0 + EXPIRED)


def test_expired_figures_are_never_shown_past_the_grace(clock, app, client, logged_in, viewed,
                                                       aggregations):
    clock.shift(EXPIRED + GRACE - timedelta(seconds=2))
    assert client.get("/").status_code == 200
    assert aggregations == []
    clock.shift(timedelta(seconds=2))  # past the grace, though just seen in this process
    assert client.get("/").status_code == 200
    assert aggregations == [[logged_in.id]]


def test_a_page_that_cannot_ask_for_expired_figures_still_shows_them(
        clock, app, db_backend, client, logged_in, viewed, aggregations):
    if db_backend != "sqlite":
        pytest.skip("SQLite's write lock")
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        clock.shift(EXPIRED)
        page = client.get("/")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert page.status_code == 200
    assert "Ada Lovelace" in page.get_data(as_text=True)
    assert aggregations == []
    assert _times(app, logged_in) == (T0, None)  # not asked for: a later view asks


@pytest.mark.app_config(
    SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 2, "max_overflow": 0, "pool_timeout": 0.1})
def test_a_page_with_no_connection_free_to_ask_for_expired_figures_still_shows_them(
        clock, app, client, logged_in, viewed, aggregations):
    with app.app_context():
        held = db.engine.connect()  # the request has the other one: no write aside
    try:
        clock.shift(EXPIRED)
        page = client.get("/")
    finally:
        held.close()
    assert page.status_code == 200
    assert "Ada Lovelace" in page.get_data(as_text=True)
    assert aggregations == []
    assert _times(app, logged_in) == (T0, None)  # not asked for: a later view asks


@pytest.mark.app_config(FIGURES_REFRESH_BATCH=1)
def test_changed_figures_are_refreshed_before_expired_ones(
        clock, app, make_user, make_contact, make_interaction, aggregations):
    owners = [make_user(name=name, email=f"{name.lower()}@example.com")
              for name in ("Ada", "Bea")]
    people = {}
    for owner in owners:  # Bea's figures are the more recent
        people[owner.id] = make_contact(owner, name="Someone")
        make_interaction(owner, people[owner.id])
        assert as_user(app, owner).get("/").status_code == 200
        clock.shift(timedelta(seconds=10))
    ada, bea = owners
    clock.shift(EXPIRED)
    assert as_user(app, bea).get("/").status_code == 200  # expired: asked for
    make_interaction(ada, people[ada.id], medium_key="phone")  # changed
    aggregations.clear()

    assert _refresh(app) == 1
    assert aggregations == [[ada.id]]


@pytest.mark.parametrize("expired_for", [
    pytest.param(EXPIRED + GRACE, id="past the grace"),
    pytest.param(EXPIRED, id="no grace", marks=pytest.mark.app_config(INSIGHTS_GRACE_SECONDS=0)),
])
def test_figures_expired_past_the_grace_are_computed_by_the_page(
        clock, app, client, logged_in, viewed, aggregations, expired_for):
    clock.shift(expired_for)
    assert client.get("/").status_code == 200
    assert aggregations == [[logged_in.id]]
    assert _times(app, logged_in) == (T0 + expired_for, None)


def test_expired_figures_of_a_changed_network_are_never_shown(
        clock, app, client, logged_in, viewed, aggregations, make_interaction):
    clock.shift(EXPIRED + timedelta(seconds=10))
    make_interaction(logged_in, viewed, medium_key="phone")
    aggregations.clear()

    assert client.get("/").status_code == 200
    assert aggregations == [[logged_in.id]]
    assert _snapshot(app, logged_in)[2] == 2


def test_a_coach_sees_a_clients_expired_figures_while_the_worker_recomputes_them(
        clock, app, make_user, make_contact, make_interaction, aggregations):
    clients = [make_user(name=f"Client {n}", email=f"client{n}@example.com") for n in (1, 2)]
    colin = make_user(name="Colin Coach", email="colin@example.com")
    for client_user in clients:
        link(app, client_user, colin)
        make_interaction(client_user, make_contact(client_user, name="Ada Lovelace"))
    coach = as_user(app, colin)
    assert coach.get("/coach").status_code == 200
    assert sorted(aggregations) == [sorted(c.id for c in clients)]
    aggregations.clear()

    clock.shift(EXPIRED)
    assert coach.get("/coach").status_code == 200
    assert aggregations == []
    with app.app_context():
        wanted = db.session.scalars(select(InsightSnapshot.wanted_at).where(
            InsightSnapshot.shared_only.is_(True))).all()
    assert wanted == [T0 + EXPIRED] * 2

    assert _refresh(app) == 2
    assert sorted(aggregations) == sorted([c.id] for c in clients)


def _interactions_stat(response) -> int:
    """The "interactions" figure at the top of a dashboard or a coach's client page."""
    found = re.search(r'class="n">(\d+)</span><span class="what">interactions',
                      response.get_data(as_text=True))
    return int(found.group(1))


def test_one_call_with_three_people_is_one_interaction(app, client, logged_in, make_user,
                                                       make_contact, make_interaction):
    trio = [make_contact(logged_in, name=name) for name in ("Ada", "Grace", "Alan")]
    make_interaction(logged_in, trio, medium_key="phone")
    make_interaction(logged_in, trio[:1], medium_key="email")
    hidden = make_contact(logged_in, name="Pat", is_private=True)
    make_interaction(logged_in, [trio[1], hidden], medium_key="skype", is_private=True)
    coach = make_user(email="coach@example.com")
    link(app, logged_in, coach)

    home = _interactions_stat(client.get("/"))
    coached = _interactions_stat(as_user(app, coach).get(f"/coach/clients/{logged_in.id}"))

    assert (home, coached) == (3, 2)  # not 6 and 4 participants; the private call stays out


def test_figures_stored_by_an_earlier_rapport_are_recomputed(app, client, logged_in,
                                                              make_contact, make_interaction):
    trio = [make_contact(logged_in, name=name) for name in ("Ada", "Grace", "Alan")]
    make_interaction(logged_in, trio)
    assert client.get("/").status_code == 200
    with app.app_context():  # as stored before: one per participant, no format
        snap = db.session.scalar(select(InsightSnapshot))
        payload = json.loads(snap.payload)
        payload.pop("format", None)
        snap.payload = json.dumps({**payload, "interactions": 3})
        db.session.commit()
        for name in list(app.extensions):
            if name.startswith("rapport.memo."):
                del app.extensions[name]  # a new process: nothing memoised

    assert _interactions_stat(client.get("/")) == 1
    assert _snapshot(app, logged_in)[2] == 1
