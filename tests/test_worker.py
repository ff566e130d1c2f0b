"""The worker's jobs (crm.jobs.tasks) with an injected clock: delivery exactly once, atomic
claims, reaping dead workers' claims, catching up after downtime, the heartbeat and the
"reminders are paused" banner, and `crm worker --once`."""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from sqlalchemy import func, select
from support import connection_drops, page_text

from crm.extensions import db
from crm.jobs import tasks
from crm.jobs.scheduler import Outage, _job, build_scheduler
from crm.models import utcnow
from crm.models.reminder import (
    Delivery,
    DeliveryChannel,
    DeliveryStatus,
    Reminder,
    ReminderStatus,
    WorkerHeartbeat,
)

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
BERLIN = "Europe/Berlin"


def run(app, job, *args):
    with app.app_context():
        return job(*args)


def load(app, reminder_id) -> Reminder:
    with app.app_context():
        row = db.session.get(Reminder, reminder_id)
        db.session.expunge(row)
        return row


def deliveries(app, *where) -> list[Delivery]:
    with app.app_context():
        rows = list(db.session.scalars(select(Delivery).where(*where).order_by(Delivery.id)))
        db.session.expunge_all()
        return rows


@pytest.fixture
def user(make_user):
    return make_user(name="Ada Lovelace", email="ada@example.com", time_zone=BERLIN)


# --- delivering ------------------------------------------------------------------------


def test_a_due_reminder_is_delivered_in_app_once(app, user, make_reminder):
    reminder = make_reminder(user, title="Call Grace", due_at=NOW - timedelta(minutes=1))

    assert run(app, tasks.deliver_due, NOW, "worker-1") == 1

    [delivery] = deliveries(app)
    assert (delivery.reminder_id, delivery.user_id, delivery.channel, delivery.status) == (
        reminder.id, user.id, DeliveryChannel.IN_APP, DeliveryStatus.SENT
    )
    assert delivery.occurrence == reminder.due_at
    assert delivery.sent_at == NOW
    assert delivery.overdue_since is None  # a minute late is on time
    after = load(app, reminder.id)
    assert after.status == ReminderStatus.DELIVERED
    assert after.delivered_at == NOW
    assert (after.claimed_by, after.claim_expires_at) == (None, None)

    # The next passes find nothing to do.
    assert run(app, tasks.deliver_due, NOW, "worker-1") == 0
    assert run(app, tasks.deliver_due, NOW + timedelta(hours=1), "worker-2") == 0
    assert len(deliveries(app)) == 1


def test_a_reminder_is_not_delivered_before_it_is_due(app, user, make_reminder):
    reminder = make_reminder(user, due_at=NOW + timedelta(seconds=1))

    assert run(app, tasks.deliver_due, NOW, "worker-1") == 0
    assert load(app, reminder.id).status == ReminderStatus.PENDING
    assert deliveries(app) == []

    assert run(app, tasks.deliver_due, NOW + timedelta(seconds=1), "worker-1") == 1


def test_without_smtp_only_in_app_deliveries_are_made(app, user, make_reminder):
    for minutes in (1, 2, 3):
        make_reminder(user, due_at=NOW - timedelta(minutes=minutes))

    run(app, tasks.deliver_due, NOW, "worker-1")

    assert {d.channel for d in deliveries(app)} == {DeliveryChannel.IN_APP}
    assert len(deliveries(app)) == 3


@pytest.mark.app_config(REMINDER_BATCH_SIZE=4)
def test_one_pass_delivers_every_due_reminder_in_batches(app, user, make_reminder):
    ids = {make_reminder(user, due_at=NOW - timedelta(minutes=m)).id for m in range(10)}

    assert run(app, tasks.deliver_due, NOW, "worker-1") == 10

    assert {d.reminder_id for d in deliveries(app)} == ids


def test_ended_reminders_are_not_delivered(app, user, make_reminder):
    for status in (ReminderStatus.DONE, ReminderStatus.DISMISSED, ReminderStatus.CANCELLED):
        make_reminder(user, due_at=NOW - timedelta(hours=1), status=status)

    assert run(app, tasks.deliver_due, NOW, "worker-1") == 0
    assert deliveries(app) == []


# --- claiming ----------------------------------------------------------------------------


def test_interleaved_claims_of_two_workers_never_overlap(app, user, make_reminder):
    ids = {make_reminder(user, due_at=NOW - timedelta(minutes=m)).id for m in range(7)}

    first = run(app, tasks.claim_due_reminders, NOW, "worker-a", 3)
    second = run(app, tasks.claim_due_reminders, NOW, "worker-b", 3)
    third = run(app, tasks.claim_due_reminders, NOW, "worker-a", 3)
    fourth = run(app, tasks.claim_due_reminders, NOW, "worker-b", 3)

    assert (len(first), len(second), len(third), fourth) == (3, 3, 1, [])
    assert not set(first) & set(second)
    assert not (set(first) | set(second)) & set(third)
    assert set(first) | set(second) | set(third) == ids
    for rid in first + third:
        claimed = load(app, rid)
        assert (claimed.status, claimed.claimed_by) == (ReminderStatus.CLAIMED, "worker-a")
        assert claimed.claim_expires_at == NOW + timedelta(seconds=300)
    # A worker delivers only its own claims.
    assert run(app, tasks.deliver_claimed, second, NOW, "worker-a") == 0
    assert run(app, tasks.deliver_claimed, second, NOW, "worker-b") == 3
    assert run(app, tasks.deliver_claimed, first + third, NOW, "worker-a") == 4
    assert sorted(d.reminder_id for d in deliveries(app)) == sorted(ids)


def test_workers_claiming_at_the_same_time_never_claim_the_same_reminder(app, user,
                                                                        make_reminder):
    with app.app_context():
        from sqlalchemy import insert

        db.session.execute(
            insert(Reminder),
            [
                {"owner_id": user.id, "kind": "custom", "title": f"R{n}", "notes": "",
                 "status": ReminderStatus.PENDING, "due_at": NOW - timedelta(seconds=n),
                 "time_zone": BERLIN, "recurrence": "none", "missed_occurrences": 0,
                 "snoozed_count": 0, "created_at": NOW, "updated_at": NOW}
                for n in range(120)
            ],
        )
        db.session.commit()
    claims: dict[str, list[int]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker(name: str) -> None:
        mine: list[int] = []
        try:
            with app.app_context():
                start.wait()
                while batch := tasks.claim_due_reminders(NOW, name, 7):
                    mine.extend(batch)
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        claims[name] = mine

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    everything = [rid for mine in claims.values() for rid in mine]
    assert len(everything) == 120
    assert len(set(everything)) == 120
    with app.app_context():
        by_worker = dict(
            db.session.execute(
                select(Reminder.claimed_by, func.count()).group_by(Reminder.claimed_by)
            ).all()
        )
    assert by_worker == {name: len(mine) for name, mine in claims.items() if mine}


def test_a_dead_workers_claim_is_reaped_after_its_lease_and_delivered_once(app, user,
                                                                          make_reminder):
    reminder = make_reminder(user, due_at=NOW - timedelta(minutes=1))
    claimed = run(app, tasks.claim_due_reminders, NOW, "dies-mid-batch", 10)
    assert claimed == [reminder.id]

    # Within the lease, nobody else touches it.
    assert run(app, tasks.reap_stale_claims, NOW + timedelta(seconds=299)) == 0
    assert run(app, tasks.deliver_due, NOW + timedelta(seconds=299), "survivor") == 0
    assert load(app, reminder.id).claimed_by == "dies-mid-batch"

    later = NOW + timedelta(seconds=301)
    assert run(app, tasks.reap_stale_claims, later) == 1
    assert load(app, reminder.id).status == ReminderStatus.PENDING
    assert run(app, tasks.deliver_due, later, "survivor") == 1
    # The dead worker wakes up and tries to finish its batch: it no longer owns it.
    assert run(app, tasks.deliver_claimed, claimed, later, "dies-mid-batch") == 0

    [delivery] = deliveries(app)
    assert delivery.reminder_id == reminder.id
    assert load(app, reminder.id).status == ReminderStatus.DELIVERED


# --- catching up --------------------------------------------------------------------------


def test_a_connection_drop_mid_delivery_does_not_hold_the_claims_for_the_lease(
        app, user, make_reminder):
    """The delivery transaction failed after the claim had committed: the running worker
    forgot its claims, and their reminders waited five minutes for the reaper."""
    due = [make_reminder(user, title=f"Call {n}", due_at=NOW - timedelta(minutes=1))
           for n in range(3)]
    deliver = _job(app, tasks.deliver_in_app, "worker-1")  # as the running worker runs it

    with time_machine.travel(NOW, tick=False), \
            connection_drops(app, "INSERT INTO deliveries") as left:
        deliver()
    assert left == [0]
    assert deliveries(app) == []
    assert {load(app, r.id).claimed_by for r in due} == {"worker-1"}

    later = NOW + timedelta(seconds=30)  # the next run, well within the lease
    with time_machine.travel(later, tick=False):
        deliver()
        deliver()
    assert sorted(d.reminder_id for d in deliveries(app)) == sorted(r.id for r in due)
    for reminder in due:
        after = load(app, reminder.id)
        assert (after.status, after.delivered_at, after.claimed_by) == (
            ReminderStatus.DELIVERED, later, None)


def test_a_worker_leaves_another_workers_claims_alone(app, user, make_reminder):
    theirs = make_reminder(user, due_at=NOW - timedelta(minutes=1))
    deliver = _job(app, tasks.deliver_in_app, "worker-2")
    with time_machine.travel(NOW, tick=False), \
            connection_drops(app, "INSERT INTO deliveries"):
        deliver()  # worker-2's pass failed after its claim committed

    assert run(app, tasks.deliver_in_app, NOW, "worker-1") == 0

    assert load(app, theirs.id).claimed_by == "worker-2"
    assert run(app, tasks.deliver_in_app, NOW, "worker-2") == 1


def test_a_worker_leaves_the_claims_of_another_process_with_its_id_alone(app, user,
                                                                        make_reminder):
    """Two containers that share a hostname each run their worker as pid 1, or one
    --worker-id is given twice: a claim under this worker's ID that no failed pass of this
    process left is the other process's, in the middle of its batch."""
    theirs = make_reminder(user, due_at=NOW - timedelta(minutes=1))
    assert run(app, tasks.claim_due_reminders, NOW, "host:1", 10) == [theirs.id]

    assert run(app, tasks.deliver_in_app, NOW + timedelta(seconds=30), "host:1") == 0
    assert load(app, theirs.id).status == ReminderStatus.CLAIMED
    assert deliveries(app) == []


def test_a_failed_pass_never_takes_up_a_claim_reaped_and_taken_under_its_id(
        app, user, make_reminder):
    """The database was away for longer than the lease: the failed pass's claim was reaped,
    and another process with the same ID claimed the reminder afresh. It is that process's."""
    reminder = make_reminder(user, due_at=NOW - timedelta(minutes=1))
    deliver = _job(app, tasks.deliver_in_app, "host:1")
    with time_machine.travel(NOW, tick=False), \
            connection_drops(app, "INSERT INTO deliveries"):
        deliver()
    after_lease = NOW + timedelta(seconds=app.config["REMINDER_LEASE_SECONDS"] + 1)
    assert run(app, tasks.reap_stale_claims, after_lease) == 1
    assert run(app, tasks.claim_due_reminders, after_lease, "host:1", 10) == [reminder.id]

    assert run(app, tasks.deliver_in_app, after_lease + timedelta(seconds=1), "host:1") == 0
    assert load(app, reminder.id).status == ReminderStatus.CLAIMED
    assert deliveries(app) == []


def test_the_default_worker_id_is_host_pid_and_differs_in_every_process():
    first, second = tasks.default_worker_id(), tasks.default_worker_id()
    assert first.startswith(f"{socket.gethostname()}:{os.getpid()}:")
    assert first != second
    assert len(first) <= tasks.WORKER_ID_MAX_LENGTH


def test_a_worker_down_for_two_days_delivers_every_overdue_reminder_once(app, user,
                                                                         make_reminder):
    down_since = NOW - timedelta(days=2)
    late = [make_reminder(user, title=f"Late {h}", due_at=down_since + timedelta(hours=h))
            for h in (1, 20, 47)]
    recent = make_reminder(user, title="Just due", due_at=NOW - timedelta(minutes=2))

    assert run(app, tasks.deliver_due, NOW, "back-up") == 4

    by_reminder = {d.reminder_id: d for d in deliveries(app)}
    assert set(by_reminder) == {r.id for r in [*late, recent]}
    for reminder in late:
        assert by_reminder[reminder.id].overdue_since == reminder.due_at
        after = load(app, reminder.id)
        assert after.overdue_since == reminder.due_at
        assert after.status == ReminderStatus.DELIVERED
    assert by_reminder[recent.id].overdue_since is None
    assert load(app, recent.id).overdue_since is None
    assert run(app, tasks.deliver_due, NOW + timedelta(minutes=1), "back-up") == 0
    assert len(deliveries(app)) == 4


def test_the_inbox_says_a_late_reminder_was_overdue(app, client, auth, user, make_reminder):
    make_reminder(user, title="Late one", due_at=datetime(2025, 5, 31, 7, 0, tzinfo=UTC))
    run(app, tasks.deliver_due, NOW, "back-up")

    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        auth.login_as(user)
        text = page_text(client.get("/notifications").data)

    assert "Late one" in text
    assert "overdue since 31 May 2025, 09:00" in text  # in Berlin, CEST


def test_a_missed_daily_reminder_is_delivered_once_and_resumes_at_nine_local(
    app, user, make_reminder
):
    daily = make_reminder(user, title="Daily check", recurrence="daily",
                          local_date=date(2025, 3, 28), local_time=time(9, 0))
    assert daily.due_at == datetime(2025, 3, 28, 8, 0, tzinfo=UTC)  # 09:00 CET
    # Down from Friday until Sunday 10:00 CEST, the day the clocks change.
    now = datetime(2025, 3, 30, 8, 0, tzinfo=UTC)

    assert run(app, tasks.deliver_due, now, "back-up") == 1

    [delivery] = deliveries(app)
    assert delivery.occurrence == daily.due_at
    assert delivery.overdue_since == daily.due_at
    after = load(app, daily.id)
    assert after.missed_occurrences == 2  # Saturday's and Sunday's 09:00
    assert after.overdue_since == daily.due_at
    assert after.status == ReminderStatus.PENDING
    assert after.due_at == datetime(2025, 3, 31, 7, 0, tzinfo=UTC)  # Monday 09:00 CEST
    assert run(app, tasks.deliver_due, now + timedelta(hours=2), "back-up") == 0

    # Monday it fires on time, for that occurrence only.
    assert run(app, tasks.deliver_due, after.due_at, "back-up") == 1
    on_time = load(app, daily.id)
    assert (on_time.missed_occurrences, on_time.overdue_since) == (0, None)
    assert on_time.due_at == datetime(2025, 4, 1, 7, 0, tzinfo=UTC)
    assert [d.occurrence for d in deliveries(app)] == [daily.due_at, after.due_at]


def test_a_series_being_delivered_when_its_owner_changes_zone_follows_them(
        app, user, make_reminder):
    """Found by the reminder audit: a daily 09:00 claimed by a worker when its owner moved
    from New York to Berlin stayed at New York's 09:00 (15:00 in Berlin) for good."""
    from crm.models import User
    from crm.reminders.services import follow_time_zone

    with app.app_context():
        db.session.get(User, user.id).time_zone = "America/New_York"
        db.session.commit()
    daily = make_reminder(user, title="Daily check", recurrence="daily",
                          local_date=date(2025, 6, 2), local_time=time(9, 0))
    assert daily.due_at == datetime(2025, 6, 2, 13, 0, tzinfo=UTC)  # 09:00 EDT
    now = daily.due_at
    assert run(app, tasks.claim_due_reminders, now, "worker-1", 10) == [daily.id]
    with app.app_context():  # the settings page moves pending reminders only
        owner = db.session.get(User, user.id)
        owner.time_zone = BERLIN
        assert follow_time_zone(owner) == 0
        db.session.commit()

    assert run(app, tasks.deliver_claimed, [daily.id], now, "worker-1") == 1
    after = load(app, daily.id)
    assert (after.time_zone, after.due_at) == (BERLIN, datetime(2025, 6, 3, 7, 0, tzinfo=UTC))


def test_a_weekly_series_moving_west_while_delivered_keeps_its_weekday(app, user,
                                                                      make_reminder):
    """Found by the time-zone review: Monday 09:00 in Sydney is Sunday in New York, and the
    next occurrence was stepped from that Sunday: the series moved to Sundays for good."""
    from crm.models import User
    from crm.reminders.services import follow_time_zone

    with app.app_context():
        db.session.get(User, user.id).time_zone = "Australia/Sydney"
        db.session.commit()
    weekly = make_reminder(user, title="Weekly review", recurrence="weekly",
                           local_date=date(2025, 6, 2), local_time=time(9, 0))  # a Monday
    now = weekly.due_at + timedelta(seconds=5)
    assert run(app, tasks.claim_due_reminders, now, "worker-1", 10) == [weekly.id]
    with app.app_context():
        owner = db.session.get(User, user.id)
        owner.time_zone = "America/New_York"
        follow_time_zone(owner)
        db.session.commit()

    assert run(app, tasks.deliver_claimed, [weekly.id], now, "worker-1") == 1
    after = load(app, weekly.id)
    # Monday 9 June, 09:00 in New York.
    assert after.due_at == datetime(2025, 6, 9, 13, 0, tzinfo=UTC)


def test_a_weekly_reminder_keeps_nine_local_across_the_autumn_change(app, user,
                                                                     make_reminder):
    weekly = make_reminder(user, recurrence="weekly", local_date=date(2025, 10, 20),
                           local_time=time(9, 0))
    assert weekly.due_at == datetime(2025, 10, 20, 7, 0, tzinfo=UTC)  # CEST

    run(app, tasks.deliver_due, weekly.due_at, "worker-1")

    assert load(app, weekly.id).due_at == datetime(2025, 10, 27, 8, 0, tzinfo=UTC)  # CET


# --- heartbeat, banner, health ---------------------------------------------------------------


def test_the_banner_shows_when_no_worker_has_beaten_for_ten_minutes(app, client, auth, user):
    with time_machine.travel(NOW, tick=False) as clock:
        auth.login_as(user)
        assert "Reminders are paused" in page_text(client.get("/").data)

        run(app, tasks.heartbeat, NOW, "worker-1")
        assert "Reminders are paused" not in page_text(client.get("/").data)

        clock.move_to(NOW + timedelta(minutes=9, seconds=59))
        assert "Reminders are paused" not in page_text(client.get("/reminders").data)

        clock.move_to(NOW + timedelta(minutes=10, seconds=1))
        assert "Reminders are paused" in page_text(client.get("/reminders").data)

        run(app, tasks.heartbeat, NOW + timedelta(minutes=10, seconds=1), "worker-2")
        assert "Reminders are paused" not in page_text(client.get("/").data)

    with app.app_context():
        beats = {b.worker_id: b.beat_at for b in db.session.scalars(select(WorkerHeartbeat))}
    assert beats == {"worker-1": NOW, "worker-2": NOW + timedelta(minutes=10, seconds=1)}


def test_the_banner_is_for_logged_in_users_only(client):
    assert "Reminders are paused" not in page_text(client.get("/").data)


def test_healthz_reports_the_database_and_the_worker(app, client):
    with time_machine.travel(NOW, tick=False) as clock:
        before = client.get("/healthz")
        assert before.status_code == 200
        assert before.json["database"] == "ok"
        assert before.json["worker"]["status"] == "stale"
        assert before.json["worker"]["last_heartbeat"] is None
        assert before.json["status"] == "degraded"

        run(app, tasks.heartbeat, NOW - timedelta(seconds=30), "worker-1")
        alive = client.get("/healthz").json
        assert alive["status"] == "ok"
        assert alive["worker"]["status"] == "ok"
        assert alive["worker"]["seconds_since_heartbeat"] == 30.0
        assert datetime.fromisoformat(alive["worker"]["last_heartbeat"]) == NOW - timedelta(
            seconds=30
        )

        clock.move_to(NOW + timedelta(minutes=11))
        stale = client.get("/healthz").json
        assert (stale["status"], stale["worker"]["status"]) == ("degraded", "stale")


# --- the command and the scheduler ------------------------------------------------------------


def test_crm_worker_once_runs_every_job_and_delivers(app, runner, user, make_reminder):
    reminder = make_reminder(user, due_at=utcnow() - timedelta(minutes=1))

    result = runner.invoke(args=["worker", "--once", "--worker-id", "cli-worker"])

    assert result.exit_code == 0, result.output
    assert "delivered: 1" in result.output
    assert load(app, reminder.id).status == ReminderStatus.DELIVERED
    assert len(deliveries(app)) == 1
    with app.app_context():
        assert db.session.get(WorkerHeartbeat, "cli-worker") is not None

    again = runner.invoke(args=["worker", "--once", "--worker-id", "cli-worker"])
    assert "delivered: 0" in again.output
    assert len(deliveries(app)) == 1


def test_an_outage_is_one_line_per_job_and_one_when_the_database_is_back(
        app, user, make_reminder, caplog):
    """A database down for 35 s made the worker log 84 tracebacks, 5,029 lines."""
    make_reminder(user, due_at=NOW - timedelta(minutes=1))
    outage = Outage()
    deliver = _job(app, tasks.deliver_in_app, "worker-1", outage=outage)
    beat = _job(app, tasks.heartbeat, "worker-1", outage=outage)

    def messages():
        return [(r.levelno, r.getMessage()) for r in caplog.records
                if r.name == "crm.jobs.scheduler"]

    with caplog.at_level(logging.INFO, logger="crm.jobs.scheduler"), \
            time_machine.travel(NOW, tick=False):
        with connection_drops(app, "", times=1000):  # every statement, every run
            for _ in range(5):
                deliver()
                beat()
        assert messages() == [
            (logging.WARNING, "job deliver_in_app: database unreachable (consuming input "
                              "failed: server closed the connection unexpectedly); retrying "
                              "each run"),
            (logging.WARNING, "job heartbeat: database unreachable (consuming input failed: "
                              "server closed the connection unexpectedly); retrying each run"),
        ]
        assert all(r.exc_info is None for r in caplog.records)

        caplog.clear()
        beat()
        deliver()
        beat()
        assert messages() == [(logging.INFO, "database reachable again"),
                              (logging.INFO, "deliver_in_app: 1")]

        # Anything else keeps its traceback, every time.
        caplog.clear()
        broken = _job(app, lambda now: 1 / 0, outage=outage)
        broken()
        broken()
        assert [r.exc_info[0] for r in caplog.records] == [ZeroDivisionError] * 2


def test_one_job_failing_for_the_database_while_others_run_is_still_one_warning(
        app, user, make_reminder, caplog):
    """The heartbeat succeeding between two failed deliveries said "database reachable
    again" each time, and the next failure warned anew."""
    make_reminder(user, due_at=NOW - timedelta(minutes=1))
    outage = Outage()
    deliver = _job(app, tasks.deliver_in_app, "worker-1", outage=outage)
    beat = _job(app, tasks.heartbeat, "worker-1", outage=outage)
    with caplog.at_level(logging.INFO, logger="crm.jobs.scheduler"), \
            time_machine.travel(NOW, tick=False):
        with connection_drops(app, "reminders", times=1000):
            for _ in range(3):
                deliver()
                beat()
        levels = [r.levelno for r in caplog.records if r.name == "crm.jobs.scheduler"]
        assert levels == [logging.WARNING]
        caplog.clear()
        deliver()
        assert [r.getMessage() for r in caplog.records] == [
            "database reachable again", "deliver_in_app: 1"]


def test_a_job_that_fails_for_a_fault_after_an_outage_is_no_longer_waiting_for_it(
        app, caplog):
    """It stayed "failing for the database" for good: no "reachable again", and no warning
    when the next outage came."""
    from sqlalchemy import text

    outage = Outage()
    mode = ["down"]

    def job(now):
        if mode[0] == "fault":
            return db.session.execute(text("SELEC 1"))
        return db.session.execute(text("SELECT 1"))

    run = _job(app, job, outage=outage)
    with caplog.at_level(logging.INFO, logger="crm.jobs.scheduler"):
        with connection_drops(app, "SELECT 1", times=1):
            run()
        mode[0] = "fault"
        run()
        mode[0] = "down"
        with connection_drops(app, "SELECT 1", times=1):
            run()
    assert [(r.levelno, r.getMessage().split(":")[0]) for r in caplog.records] == [
        (logging.WARNING, "job job"), (logging.ERROR, "job job failed"),
        (logging.INFO, "database reachable again"), (logging.WARNING, "job job")]


def test_a_fault_in_a_statement_is_logged_with_its_traceback_not_as_an_outage(app, caplog):
    """SQLite reports a mistake in a statement as an OperationalError, as it does a locked
    database: the worker logged it once as "database unreachable", then nothing."""
    from sqlalchemy import text

    outage = Outage()
    faulty = _job(app, lambda now: db.session.execute(text("SELEC 1")), outage=outage)
    with caplog.at_level(logging.INFO, logger="crm.jobs.scheduler"):
        faulty()
        faulty()
    assert [(r.levelno, bool(r.exc_info)) for r in caplog.records] == [(logging.ERROR, True)] * 2


@pytest.mark.app_config(FIGURES_REFRESH_SECONDS=0)
def test_a_worker_can_leave_figure_refreshing_to_others(app):
    jobs = {job.id for job in build_scheduler(app, "worker-2").get_jobs()}

    assert "refresh-figures" not in jobs
    assert "deliver-due" in jobs


def test_the_scheduler_is_built_on_demand_and_not_started(app):
    scheduler = build_scheduler(app, "worker-1")

    assert not scheduler.running
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"heartbeat", "deliver-due", "send-emails", "send-account-emails",
                         "send-digests", "sweep-keep-in-touch", "reap-stale-claims",
                         "refresh-figures", "delete-expired-idempotency-keys"}
    assert jobs["send-account-emails"].trigger.interval == timedelta(seconds=5)
    assert jobs["deliver-due"].trigger.interval == timedelta(seconds=30)
    assert jobs["send-emails"].trigger.interval == timedelta(seconds=30)
    assert jobs["refresh-figures"].trigger.interval == timedelta(seconds=5)
