"""Several web nodes and reminder workers on one database, under load.

The deployments of the design ("Running"), as real processes: gunicorn web nodes serving
`crm:create_app()` and `crm worker` processes, on a database built with `crm db upgrade`.
Eight clients, each with its own logged-in session, log interactions through the real form
(POST /interactions/new with the CSRF token scraped from the page), alternating between
the web nodes, while reminders fall due and the workers deliver them. Afterwards:

- every POST answered 302 to the contact page (no errors, no "database is locked");
- exactly the interactions sent are stored, each with the time it was sent (no lost or
  doubled writes);
- each contact's last-interaction fields match a recomputation from the log;
- every reminder has exactly one in-app delivery;
- no process logged a traceback, a lock error or a worker timeout.

PostgreSQL: two web nodes (gunicorn, 2 sync workers each) and two workers; needs
CRM_TEST_DATABASE_URL, which CI sets. SQLite: one web node with 4 sync workers and one
worker on a temporary file (WAL, busy timeout, BEGIN IMMEDIATE for writes). Both take
5,000 interactions; each test takes 65-90 s on a quiet 2-core machine (the timings print
with -s).

The last test forces, on PostgreSQL, the interleaving of two nodes logging for the same
contact that the load can only meet by chance.
"""

from __future__ import annotations

import http.client
import os
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest
from processes import (
    PG_ENV,
    SECRET,
    Processes,
    crm_command,
    failures_in_logs,
    in_app_count,
    log_of,
    migrate,
    migrated_postgres_database,
    process_env,
    scalar,
    start_gunicorn,
    stop,
    wait_until,
)
from sqlalchemy import func, insert, select

from crm import create_app
from crm.extensions import db
from crm.models import Contact, Interaction, User, interaction_participants, utcnow
from crm.models.reminder import (
    Delivery,
    DeliveryChannel,
    Reminder,
    ReminderStatus,
    WorkerHeartbeat,
)
from crm.timezones import local_to_utc, to_local

PASSWORD = "many nodes, one database"
TIME_ZONE = "Europe/Berlin"  # not UTC: the form's local times are converted on the way in
CONTACT_NAMES = ["Ada", "Babbage", "Curie", "Darwin", "Euler", "Faraday"]
CLIENTS = 8
REQUEST_TIMEOUT = 60  # seconds; gunicorn's own worker timeout is 30
READ_EVERY = 25  # each client views the contact page after every READ_EVERY posts
MAX_ERRORS = 20  # a broken deployment fails the test after this many, not after the load


@dataclass
class Shape:
    """One deployment under one load."""

    web_nodes: int  # gunicorn masters, each on its own port
    web_workers: int  # sync workers per gunicorn
    crm_workers: int  # `crm worker` processes
    interactions: int  # POSTs in total, over CLIENTS clients
    reminders: int  # due while the load runs
    reminders_over: float  # seconds from the start of the load over which they fall due
    load_deadline: float  # seconds the load may take at most


@dataclass(repr=False)
class Outcome:
    """What the clients saw."""

    sent: dict[str, tuple[datetime, list[int]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)  # the load is over

    def failed(self, message: str) -> None:
        """Record a failure (the caller holds the lock); enough of them end the load."""
        self.errors.append(message)
        if len(self.errors) >= MAX_ERRORS:
            self.stop.set()


# -- a browser-like client: one session, cookies, CSRF token ------------------------------


_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"'
                   r'|value="([^"]+)" name="csrf_token"')


class Session:
    """One user's browser: a cookie jar over http.client, speaking to any web node."""

    def __init__(self):
        self.cookies: dict[str, str] = {}

    def request(self, port: int, method: str, path: str, fields=None):
        headers = {"Host": f"127.0.0.1:{port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if fields is not None:
            body = urlencode(fields, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
        finally:
            conn.close()
        for header in response.msg.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                if morsel.value and "1970" not in morsel["expires"]:
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return response.status, response.getheader("Location") or "", text

    def csrf_token(self, port: int, path: str) -> str:
        status, _, page = self.request(port, "GET", path)
        assert status == 200, f"GET {path} answered {status}"
        match = _CSRF.search(page)
        assert match, f"no csrf_token on {path}"
        return match.group(1) or match.group(2)

    def log_in(self, port: int, email: str) -> None:
        token = self.csrf_token(port, "/login")
        status, location, page = self.request(
            port, "POST", "/login",
            {"csrf_token": token, "email": email, "password": PASSWORD, "next": ""},
        )
        assert status == 302, f"login answered {status}: {page[:500]}"


def gist(page: str) -> str:
    """What a response said, briefly: an HTML page's title, else the start of the text."""
    title = re.search(r"<title>(.*?)</title>", page, re.S)
    return title.group(1).strip() if title else page[:300]


# -- the data ----------------------------------------------------------------------------


def seed(app) -> tuple[int, str, dict[str, int], list[int]]:
    """One user (a real password hash, logged in through /login), a handful of contacts,
    and the mediums the form offers. Returns (user id, email, contact ids by name, mediums).
    """
    from crm.auth.services import register_user
    from crm.contacts.services import ContactData, create_contact
    from crm.mediums.services import mediums_for

    with app.app_context():
        user = register_user("many@example.com", "Many Nodes", PASSWORD, TIME_ZONE)
        contacts = {name: create_contact(user, ContactData(name=name)) for name in CONTACT_NAMES}
        db.session.commit()
        return (user.id, user.email, {name: c.id for name, c in contacts.items()},
                [m.id for m in mediums_for(user)])


def add_reminders(app, owner_id: int, count: int, start: datetime, over: float) -> None:
    """count one-off reminders falling due evenly from start over `over` seconds."""
    with app.app_context():
        db.session.execute(
            insert(Reminder),
            [
                {"owner_id": owner_id, "kind": "custom", "title": f"Due {k}", "notes": "",
                 "status": ReminderStatus.PENDING,
                 "due_at": start + timedelta(seconds=over * k / count),
                 "time_zone": "UTC", "recurrence": "none", "missed_occurrences": 0,
                 "snoozed_count": 0, "created_at": utcnow(), "updated_at": utcnow()}
                for k in range(count)
            ],
        )
        db.session.commit()


# -- the load ----------------------------------------------------------------------------


def client_run(k: int, session: Session, ports: list[int], count: int,
               contacts: dict[str, int], mediums: list[int], outcome: Outcome,
               deadline: float) -> None:
    """Client k logs `count` interactions, its requests alternating between the nodes."""
    rng = random.Random(k)
    token = session.csrf_token(ports[k % len(ports)], "/interactions/new")
    names = sorted(contacts)
    for i in range(count):
        if outcome.stop.is_set():
            return
        if time.monotonic() > deadline:
            with outcome.lock:
                outcome.failed(f"client {k}: load deadline passed after {i} posts")
            return
        port = ports[(k + i) % len(ports)]
        people = sorted(rng.sample(names, rng.choice((1, 1, 2))))
        # Mostly "just now", as the form defaults; now and then an earlier one.
        local = to_local(utcnow(), TIME_ZONE).replace(tzinfo=None, second=0, microsecond=0)
        if i % 4 == 3:
            local -= timedelta(minutes=rng.randrange(1, 60 * 24 * 30))
        summary = f"client {k} post {i}"
        fields = {
            "csrf_token": token,
            "medium": mediums[(k + i) % len(mediums)],
            "occurred_at": local.strftime("%Y-%m-%dT%H:%M"),
            "initiated_by": ("me", "them", "mutual")[i % 3],
            "participants": [contacts[n] for n in people],
            "summary": summary,
            "notes": "",
        }
        started = time.perf_counter()
        try:
            status, location, page = session.request(port, "POST", "/interactions/new", fields)
        except Exception as exc:  # noqa: BLE001 - every failure is reported below
            status, location, page = None, "", repr(exc)
        elapsed = time.perf_counter() - started
        expected = f"/contacts/{contacts[people[0]]}"  # the first participant by name
        with outcome.lock:
            outcome.latencies.append(elapsed)
            outcome.sent[summary] = (local, [contacts[n] for n in people])
            if status != 302 or not location.endswith(expected):
                outcome.failed(
                    f"client {k} post {i} to :{port}: {status} {location!r} {gist(page)!r}"
                )
                continue
        if i % READ_EVERY == READ_EVERY - 1:
            # Now and then the browser shows the contact page it was sent to, from the
            # other node: it renders, and the flashed messages waiting in the session
            # cookie are shown (and so leave the cookie).
            other = ports[(k + i + 1) % len(ports)]
            try:
                status, _, page = session.request(other, "GET", expected)
            except Exception as exc:  # noqa: BLE001 - reported like any failure
                status, page = None, repr(exc)
            if status != 200 or "interaction logged" not in page:
                with outcome.lock:
                    outcome.failed(
                        f"client {k} GET {expected} from :{other}: {status} {gist(page)!r}"
                    )


def run_load(sessions, ports, shape: Shape, contacts, mediums) -> Outcome:
    outcome = Outcome()
    deadline = time.monotonic() + shape.load_deadline
    shares = [shape.interactions // CLIENTS + (k < shape.interactions % CLIENTS)
              for k in range(CLIENTS)]
    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(client_run, k, sessions[k], ports, shares[k], contacts, mediums,
                               outcome, deadline) for k in range(CLIENTS)]
        try:
            for future in futures:
                future.result()
        finally:
            # A failing client or an interrupted test stops the others at their next post.
            outcome.stop.set()
    return outcome


# -- the checks --------------------------------------------------------------------------


def check_interactions(app, user_id: int, outcome: Outcome) -> None:
    """Exactly what was sent is stored, and the contacts' last-interaction facts agree."""
    with app.app_context():
        total = db.session.scalar(select(func.count()).select_from(Interaction))
        stored = db.session.execute(
            select(Interaction.id, Interaction.summary, Interaction.occurred_at)
            .where(Interaction.owner_id == user_id)
        ).all()
        links = db.session.execute(
            select(interaction_participants.c.interaction_id,
                   interaction_participants.c.contact_id)
        ).all()
        contacts = db.session.execute(
            select(Contact.id, Contact.name, Contact.last_interaction_id,
                   Contact.last_interaction_at).where(Contact.owner_id == user_id)
        ).all()

    summaries = [s for _, s, _ in stored]
    assert total == len(stored) == len(outcome.sent), (total, len(stored), len(outcome.sent))
    assert sorted(summaries) == sorted(outcome.sent)
    by_id = {i: (s, at) for i, s, at in stored}
    participants: dict[int, list[int]] = {}
    for interaction_id, contact_id in links:
        participants.setdefault(interaction_id, []).append(contact_id)
    wrong = [
        (summary, at, sorted(participants.get(i, [])), outcome.sent[summary])
        for i, (summary, at) in by_id.items()
        if at != local_to_utc(outcome.sent[summary][0], TIME_ZONE)
        or sorted(participants.get(i, [])) != sorted(outcome.sent[summary][1])
    ]
    assert not wrong, f"{len(wrong)} interactions stored differently from sent: {wrong[:5]}"

    # The latest interaction of each contact, by (occurred_at, id), recomputed from the log.
    latest: dict[int, tuple[datetime, int]] = {}
    for interaction_id, contact_id in links:
        key = (by_id[interaction_id][1], interaction_id)
        latest[contact_id] = max(latest.get(contact_id, key), key)
    mismatched = [
        f"{name}: stored ({last_id}, {last_at}), recomputed "
        f"({latest[cid][1]}, {latest[cid][0]})"
        for cid, name, last_id, last_at in contacts
        if (last_id, last_at) != (latest[cid][1], latest[cid][0])
    ]
    assert not mismatched, "last interaction wrong after concurrent logging:\n" + "\n".join(
        mismatched
    )


def check_deliveries(app, reminders: int) -> None:
    """Every reminder delivered, in-app, exactly once."""
    with app.app_context():
        ids = set(db.session.scalars(select(Reminder.id)))
        in_app = list(db.session.scalars(
            select(Delivery.reminder_id).where(Delivery.channel == DeliveryChannel.IN_APP)
        ))
        statuses = dict(db.session.execute(
            select(Reminder.status, func.count()).group_by(Reminder.status)
        ).all())
    assert len(ids) == reminders
    assert len(in_app) == len(set(in_app)) == reminders, (
        f"{len(in_app)} in-app deliveries for {len(set(in_app))} reminders of {reminders}"
    )
    assert set(in_app) == ids
    assert statuses == {ReminderStatus.DELIVERED: reminders}


# -- the run -----------------------------------------------------------------------------


def run_many_nodes(tmp_path, database_url: str, shape: Shape) -> dict[str, float]:
    """Start the deployment, load it, check everything; returns timings for the report."""
    timings: dict[str, float] = {}
    began = time.monotonic()
    app = create_app({"TESTING": True, "SECRET_KEY": SECRET, "DATABASE_URL": database_url})
    try:
        user_id, email, contacts, mediums = seed(app)
        web_env = process_env(database_url, CRM_RATELIMIT_ENABLED="false")
        worker_env = process_env(
            database_url,
            CRM_REMINDER_DELIVERY_INTERVAL_SECONDS="0.5",
            CRM_WORKER_HEARTBEAT_SECONDS="0.5",
            CRM_REMINDER_BATCH_SIZE="25",
        )
        with Processes(tmp_path) as group:
            webs, ports = [], []
            for n in range(shape.web_nodes):
                proc, port = start_gunicorn(group, web_env, f"web-{n}",
                                            workers=shape.web_workers)
                webs.append(proc)
                ports.append(port)
            workers = [
                group.start([*crm_command(), "worker", "--worker-id", f"node-{n}"], worker_env,
                            f"worker-{n}")
                for n in range(shape.crm_workers)
            ]
            everyone = webs + workers
            wait_until(
                lambda: scalar(app, select(func.count()).select_from(WorkerHeartbeat))
                == shape.crm_workers,
                timeout=60, procs=everyone, what="a heartbeat from every worker",
            )

            sessions = [Session() for _ in range(CLIENTS)]
            for k, session in enumerate(sessions):
                session.log_in(ports[k % len(ports)], email)
            timings["startup"] = time.monotonic() - began

            load_start = utcnow()
            add_reminders(app, user_id, shape.reminders, load_start + timedelta(seconds=1),
                          shape.reminders_over)
            started = time.monotonic()
            outcome = run_load(sessions, ports, shape, contacts, mediums)
            timings["load"] = time.monotonic() - started
            delivered_during_load = in_app_count(app)
            errors = outcome.errors
            # Fail at once, with what the processes logged, rather than wait on a broken run.
            assert not errors, (
                f"{len(errors)} failures (the load stops after {MAX_ERRORS}); the first:\n"
                + "\n".join(errors[:10]) + f"\nlogged: {failures_in_logs(everyone)}"
            )
            for proc in everyone:
                assert proc.poll() is None, f"{proc.name} died:\n{log_of(proc)[-3000:]}"

            # Every reminder is due by now or soon; wait (bounded) for the deliveries,
            # then for every worker to have run on past the finish line.
            wait_until(lambda: in_app_count(app) >= shape.reminders, timeout=60,
                       procs=workers, what=f"{shape.reminders} in-app deliveries")
            finish = utcnow()
            wait_until(
                lambda: scalar(app, select(func.count()).select_from(WorkerHeartbeat)
                               .where(WorkerHeartbeat.beat_at > finish + timedelta(seconds=1)))
                == shape.crm_workers,
                timeout=30, procs=workers, what="every worker to beat again after the last",
            )
            for proc in everyone:
                assert stop(proc) == 0, f"{proc.name}:\n{log_of(proc)[-3000:]}"
        timings["total"] = time.monotonic() - began

        latencies = sorted(outcome.latencies)
        timings["p50_ms"] = 1000 * latencies[len(latencies) // 2] if latencies else 0
        timings["p99_ms"] = 1000 * latencies[int(len(latencies) * 0.99)] if latencies else 0
        timings["max_ms"] = 1000 * latencies[-1] if latencies else 0
        timings["delivered_during_load"] = delivered_during_load
        print(f"\n{shape}\n{timings}")  # noqa: T201 - the report of a load test

        logs = failures_in_logs(everyone)
        assert not logs, logs
        assert len(outcome.sent) == shape.interactions
        check_interactions(app, user_id, outcome)
        check_deliveries(app, shape.reminders)
        # The reminders fell due while the clients were logging: the workers' claims and
        # deliveries ran against the web nodes' writes, not after them.
        assert delivered_during_load > 0
        return timings
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.mark.skipif(
    not os.environ.get(PG_ENV),
    reason=f"needs PostgreSQL: set {PG_ENV} (CI sets it) to run web nodes and workers on it",
)
def test_two_web_nodes_and_two_workers_on_postgresql(tmp_path):
    shape = Shape(web_nodes=2, web_workers=2, crm_workers=2, interactions=5000,
                  reminders=300, reminders_over=20, load_deadline=420)
    with migrated_postgres_database("rapport_nodes") as url:
        run_many_nodes(tmp_path, url, shape)


def test_one_web_node_with_four_workers_and_a_worker_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'rapport.sqlite3'}"
    migrate(url)
    shape = Shape(web_nodes=1, web_workers=4, crm_workers=1, interactions=5000,
                  reminders=300, reminders_over=20, load_deadline=420)
    run_many_nodes(tmp_path, url, shape)


# -- the race behind a wrong last interaction, step by step ------------------------------


@pytest.mark.skipif(
    not os.environ.get(PG_ENV),
    reason=f"needs PostgreSQL: set {PG_ENV} (CI sets it); SQLite serialises writers",
)
def test_two_nodes_logging_with_one_contact_at_once_keep_its_latest_interaction():
    """Node A logs "just now" and has not committed yet; node B logs an earlier one for the
    same contact. Whatever order they commit in, the contact's last interaction is A's.

    The load tests above can meet this interleaving only by chance (their last check sees
    the final state alone); here it is forced. B must not compute the contact's latest
    interaction from a snapshot taken while A was uncommitted and then overwrite A's
    answer (a lost update: B's earlier interaction would become the "last" one, and the
    keep-in-touch due date would follow it).
    """
    import psycopg
    from sqlalchemy.engine import make_url

    from crm.auth.services import register_user
    from crm.contacts.services import ContactData, create_contact
    from crm.interactions.services import InteractionData, log_interaction
    from crm.mediums.services import mediums_for
    from crm.models import Initiator

    with migrated_postgres_database("rapport_nodes_race") as url:
        app = create_app({"TESTING": True, "SECRET_KEY": SECRET, "DATABASE_URL": url})
        with app.app_context():
            user = register_user("race@example.com", "Race", PASSWORD, "UTC")
            contact_id = create_contact(user, ContactData(name="Ada")).id
            db.session.commit()
            user_id = user.id

        logged = threading.Event()  # A has logged (and written the contact), not committed
        commit = threading.Event()
        failures: list[BaseException] = []

        def node(occurred_at: datetime, summary: str, hold: bool) -> None:
            try:
                with app.app_context():
                    owner = db.session.get(User, user_id)
                    log_interaction(owner, InteractionData(
                        medium=mediums_for(owner)[0], occurred_at=occurred_at,
                        initiated_by=Initiator.ME,
                        participants=[db.session.get(Contact, contact_id)], summary=summary,
                    ))
                    if hold:
                        logged.set()
                        assert commit.wait(30)
                    db.session.commit()
                    db.session.remove()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test below
                failures.append(exc)
                logged.set()

        now = utcnow().replace(second=0, microsecond=0)
        a = threading.Thread(target=node, args=(now, "A: just now", True))
        b = threading.Thread(target=node, args=(now - timedelta(hours=1), "B: earlier", False))
        admin = make_url(url).set(drivername="postgresql").render_as_string(
            hide_password=False)
        try:
            a.start()
            assert logged.wait(30)
            b.start()
            # B runs until it waits for A (a lock) or is done; then A commits.
            with psycopg.connect(admin, autocommit=True) as conn:
                wait_until(
                    lambda: not b.is_alive() or conn.execute(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    ).fetchone()[0] > 0,
                    timeout=30, what="B to wait for A's lock or finish",
                )
        finally:
            commit.set()
            a.join(30)
            b.join(30)
        try:
            assert not failures, failures
            with app.app_context():
                latest = db.session.execute(
                    select(Interaction.id, Interaction.occurred_at)
                    .where(Interaction.summary == "A: just now")
                ).one()
                contact = db.session.get(Contact, contact_id)
                assert (contact.last_interaction_id, contact.last_interaction_at) == (
                    latest.id, latest.occurred_at)
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
