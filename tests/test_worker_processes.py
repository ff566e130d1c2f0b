"""Real `crm worker` processes against PostgreSQL: several workers deliver every reminder
exactly once, and a worker killed with SIGKILL after claiming loses nothing.

PostgreSQL only (the design's multi-worker deployment); needs CRM_TEST_DATABASE_URL, which
CI sets. The database is made here with `crm db upgrade`, as a deployment makes it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import timedelta

import pytest
from processes import (
    PG_ENV,
    ROOT,
    SECRET,
    Processes,
    crm_command,
    in_app_count,
    log_of,
    migrated_postgres_database,
    process_env,
    scalar,
    stop,
    wait_until,
)
from sqlalchemy import func, insert, inspect, select, text, update

from crm import create_app
from crm.extensions import db
from crm.jobs import tasks
from crm.models import User, utcnow
from crm.models.reminder import (
    Delivery,
    DeliveryChannel,
    DeliveryStatus,
    Reminder,
    ReminderStatus,
    WorkerHeartbeat,
)

pytestmark = pytest.mark.skipif(
    not os.environ.get(PG_ENV),
    reason=f"needs PostgreSQL: set {PG_ENV} (CI sets it) to run real worker processes",
)


@pytest.fixture(scope="module")
def database_url():
    """A fresh database migrated by `crm db upgrade`; dropped at the end."""
    with migrated_postgres_database("rapport_workers") as url:
        yield url


@pytest.fixture
def pg_app(database_url, smtp_server):
    """This process's view of the migrated database, emptied for each test."""
    app = create_app({"TESTING": True, "SECRET_KEY": SECRET, "DATABASE_URL": database_url,
                      **smtp_server.app_config()})
    with app.app_context():
        # The migrated tables, except the built-in mediums the migrations put in.
        tables = [t for t in inspect(db.engine).get_table_names()
                  if t not in ("mediums", "alembic_version")]
        db.session.execute(
            text("TRUNCATE TABLE " + ", ".join(f'"{t}"' for t in tables)
                 + " RESTART IDENTITY CASCADE")
        )
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def processes(tmp_path):
    """Start `crm` subprocesses; whatever is still running at the end is killed."""
    with Processes(tmp_path) as group:
        yield group.start


def wait_for_beats_after(app, moment, workers: int, procs) -> None:
    """Wait until each running worker has beaten after moment (its scheduler kept going)."""
    wait_until(
        lambda: scalar(app, select(func.count()).select_from(WorkerHeartbeat)
                       .where(WorkerHeartbeat.beat_at > moment)) >= workers,
        timeout=30, procs=procs, what="heartbeats after the last delivery",
    )


def add_users(app, n: int) -> list[tuple[int, str]]:
    with app.app_context():
        users = [User(email=f"person{k}@example.com", name=f"Person {k}", password_hash="x",
                      time_zone=zone, email_confirmed_at=utcnow())
                 for k, zone in zip(range(n), ["UTC", "Europe/Berlin", "America/New_York",
                                               "Asia/Tokyo"] * n, strict=False)]
        db.session.add_all(users)
        db.session.commit()
        return [(u.id, u.email) for u in users]


def add_due_reminders(app, users, count: int) -> None:
    """count one-off reminders, all due already, spread over the users (one INSERT)."""
    now = utcnow()
    with app.app_context():
        db.session.execute(
            insert(Reminder),
            [
                {"owner_id": users[k % len(users)][0], "kind": "custom", "title": f"Task {k}",
                 "notes": "", "status": ReminderStatus.PENDING,
                 "due_at": now - timedelta(seconds=k % 240), "time_zone": "UTC",
                 "recurrence": "none", "missed_occurrences": 0, "snoozed_count": 0,
                 "created_at": now, "updated_at": now}
                for k in range(count)
            ],
        )
        db.session.commit()


def sent_email_count(app) -> int:
    return scalar(app, select(func.count()).select_from(Delivery)
                  .where(Delivery.channel == DeliveryChannel.EMAIL,
                         Delivery.status == DeliveryStatus.SENT))


def worker_env(app, smtp_server, **extra) -> dict[str, str]:
    return process_env(
        app.config["DATABASE_URL"],
        **smtp_server.env(),
        CRM_REMINDER_DELIVERY_INTERVAL_SECONDS="0.2",
        CRM_REMINDER_BATCH_SIZE="50",
        CRM_WORKER_HEARTBEAT_SECONDS="0.5",
        **extra,
    )


def assert_delivered_exactly_once(app, smtp_server, users, count: int) -> None:
    with app.app_context():
        in_app = db.session.execute(
            select(Delivery.reminder_id, Delivery.user_id)
            .where(Delivery.channel == DeliveryChannel.IN_APP)
        ).all()
        emails = db.session.execute(
            select(Delivery.reminder_id, Delivery.message_id, Delivery.status, Delivery.attempts)
            .where(Delivery.channel == DeliveryChannel.EMAIL)
        ).all()
        statuses = Counter(db.session.scalars(select(Reminder.status)))
        owners = dict(db.session.execute(select(Reminder.id, Reminder.owner_id)).all())
    assert len(in_app) == count
    assert len({r for r, _ in in_app}) == count
    assert all(owners[r] == u for r, u in in_app)
    assert statuses == {ReminderStatus.DELIVERED: count}
    assert len(emails) == count
    assert {(s, a) for _, _, s, a in emails} == {(DeliveryStatus.SENT, 1)}

    received = smtp_server.received
    ids = [r.message["Message-ID"] for r in received]
    assert len(received) == count
    assert len(set(ids)) == count, Counter(ids).most_common(3)
    assert set(ids) == {m for _, m, _, _ in emails}
    by_message = {m: owners[r] for r, m, _, _ in emails}
    emails_of = dict(users)
    assert all(r.rcpt_tos == [emails_of[by_message[r.message["Message-ID"]]]]
               for r in received)


def test_three_worker_processes_deliver_a_thousand_reminders_exactly_once(
    pg_app, smtp_server, processes
):
    users = add_users(pg_app, 4)
    env = worker_env(pg_app, smtp_server)
    workers = [processes([*crm_command(), "worker", "--worker-id", f"proc-{n}"], env,
                         f"worker-{n}") for n in range(3)]
    # All three are up and polling before the reminders appear, so they compete for them.
    wait_until(lambda: scalar(pg_app, select(func.count()).select_from(WorkerHeartbeat)) == 3,
               timeout=60, procs=workers, what="three heartbeats")

    add_due_reminders(pg_app, users, 1000)
    wait_until(lambda: in_app_count(pg_app) >= 1000 and sent_email_count(pg_app) >= 1000
               and len(smtp_server.received) >= 1000,
               timeout=120, procs=workers, what="1,000 deliveries and emails")
    # Let every worker run on past the finish line: nothing is left to deliver twice.
    wait_for_beats_after(pg_app, utcnow() + timedelta(seconds=0.5), 3, procs=workers)
    for worker in workers:
        assert stop(worker) == 0, log_of(worker)[-3000:]
        assert "Worker stopped." in log_of(worker)

    assert_delivered_exactly_once(pg_app, smtp_server, users, 1000)
    # One SMTP connection per batch of at most 50: at least 20, and far fewer than messages.
    assert 20 <= smtp_server.connections <= 200


DOOMED = textwrap.dedent(
    """
    import sys, time
    from crm import create_app
    from crm.jobs import tasks
    from crm.models import utcnow

    app = create_app()
    with app.app_context():
        ids = tasks.claim_due_reminders(utcnow(), "doomed", int(sys.argv[1]))
    print("claimed", len(ids), flush=True)
    time.sleep(600)  # killed here, holding the claim, before delivering anything
    """
)


def test_a_worker_killed_after_claiming_loses_nothing_and_duplicates_nothing(
    pg_app, smtp_server, processes
):
    users = add_users(pg_app, 3)
    add_due_reminders(pg_app, users, 200)
    before_claim = utcnow()
    doomed = subprocess.Popen(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", DOOMED, "120"], cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env=process_env(pg_app.config["DATABASE_URL"], CRM_REMINDER_LEASE_SECONDS="600"),
    )
    try:
        assert doomed.stdout.readline().split() == ["claimed", "120"]
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
        doomed.stdout.close()
    assert doomed.returncode == -signal.SIGKILL
    doomed_ids = claimed_by(pg_app, "doomed")
    assert len(doomed_ids) == 120
    with pg_app.app_context():
        leases = db.session.scalars(
            select(Reminder.claim_expires_at).where(Reminder.id.in_(doomed_ids))
        ).all()
    assert all(before_claim + timedelta(seconds=600) <= lease <= utcnow()
               + timedelta(seconds=600) for lease in leases)

    survivor = processes(
        [*crm_command(), "worker", "--worker-id", "survivor"],
        worker_env(pg_app, smtp_server, CRM_REAP_INTERVAL_SECONDS="0.2"),
        "survivor",
    )
    # The survivor delivers the 80 nobody held, and leaves the dead worker's live lease be.
    wait_until(lambda: in_app_count(pg_app) >= 80 and len(smtp_server.received) >= 80,
               timeout=60, procs=[survivor], what="the 80 unclaimed reminders")
    wait_for_beats_after(pg_app, utcnow() + timedelta(seconds=1), 1, procs=[survivor])
    assert claimed_by(pg_app, "doomed") == doomed_ids
    assert in_app_count(pg_app) == 80
    assert len(smtp_server.received) == 80

    # The lease runs out: the clock the survivor reaps by passes it.
    with pg_app.app_context():
        db.session.execute(
            update(Reminder).where(Reminder.id.in_(doomed_ids))
            .values(claim_expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    wait_until(lambda: in_app_count(pg_app) >= 200 and len(smtp_server.received) >= 200,
               timeout=60, procs=[survivor], what="all 200 deliveries and emails")
    wait_for_beats_after(pg_app, utcnow() + timedelta(seconds=0.5), 1, procs=[survivor])
    assert stop(survivor) == 0, log_of(survivor)[-3000:]

    assert_delivered_exactly_once(pg_app, smtp_server, users, 200)
    assert claimed_by(pg_app, "doomed") == set()


def claimed_by(app, worker_id: str) -> set[int]:
    """Reminders a worker holds a claim on."""
    with app.app_context():
        return set(db.session.scalars(
            select(Reminder.id).where(Reminder.status == ReminderStatus.CLAIMED,
                                      Reminder.claimed_by == worker_id)
        ))


def test_a_claim_on_the_migrated_schema_takes_at_most_its_limit(pg_app):
    """The claim query on the schema the migrations build (not create_all)."""
    users = add_users(pg_app, 1)
    add_due_reminders(pg_app, users, 3)
    with pg_app.app_context():
        now = utcnow()
        assert len(tasks.claim_due_reminders(now, "a", 2)) == 2
        assert len(tasks.claim_due_reminders(now, "b", 2)) == 1
