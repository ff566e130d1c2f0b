"""Accounts changing while the worker works: deactivated, or their digest turned off,
during a digest pass; and the locks a reminder email's link takes beside the worker
delivering that reminder."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select
from support import choose_the_digest

from crm.extensions import db
from crm.jobs import tasks
from crm.mail import Mailer

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _elsewhere(work):
    """Run work in a thread of its own, as another process would (its own session)."""
    done = []
    thread = threading.Thread(target=lambda: done.append(work()))
    thread.start()
    thread.join()
    assert done, "it failed"
    return done[0]


def _digest_users(client, auth, make_user, make_reminder, *emails) -> dict:
    """Users (by address) who chose the 08:00 digest in Settings, each with a reminder due
    today; the client is left logged in as the last."""
    users = {}
    for email in emails:
        users[email] = user = make_user(email=email)
        choose_the_digest(client, auth, user)
        make_reminder(user, title="Today", due_at=NOW + timedelta(hours=2))
    return users


def _while_the_first_digest_goes(monkeypatch, emails, change) -> dict:
    """Once the pass has sent its first digest (it takes its users in no set order),
    change(the address of the other of two digest users), as another process would.
    Returns {"sent": the first's address, "changed": the other's}."""
    send, seen = Mailer.send, {}

    def send_then_change(self, message):
        send(self, message)
        if not seen:
            seen["sent"] = message["To"]
            seen["changed"] = next(e for e in emails if e != message["To"])
            _elsewhere(lambda: change(seen["changed"]))

    monkeypatch.setattr(Mailer, "send", send_then_change)
    return seen


def test_an_account_deactivated_during_a_digest_pass_is_emailed_no_digest(
        mail_app, frozen, client, auth, runner, smtp_server, make_user, make_reminder,
        monkeypatch):
    """The pass reads its digest users once: a leaver deactivated while the digests before
    theirs go out (one SMTP session for hundreds at 08:00) was emailed all the same."""
    emails = ("stayer@example.com", "leaver@example.com")
    _digest_users(client, auth, make_user, make_reminder, *emails)

    def deactivate(email):
        result = runner.invoke(args=["users", "deactivate", email])
        assert result.exit_code == 0, result.output

    seen = _while_the_first_digest_goes(monkeypatch, emails, deactivate)
    with mail_app.app_context():
        tasks.send_digests(NOW, "w")

    assert [m["To"] for m in smtp_server.messages] == [seen["sent"]]


@pytest.mark.parametrize("mode", ["off", "each"])
def test_a_digest_turned_off_during_the_pass_is_not_sent(
        mail_app, frozen, client, auth, smtp_server, make_user, make_reminder, monkeypatch,
        mode):
    """Turned off (or changed to an email per reminder) in Settings while the digests before
    hers go out: the pass had read her as a digest user, and sent it all the same."""
    from crm.models.reminder import DigestRun

    emails = ("stayer@example.com", "changer@example.com")
    users = _digest_users(client, auth, make_user, make_reminder, *emails)

    def turn_off(email):
        auth.login_as(users[email])
        assert client.post("/settings", data={
            "action": "reminders", "reminders-email_mode": mode,
            "reminders-digest_hour": "8"}).status_code == 302

    seen = _while_the_first_digest_goes(monkeypatch, emails, turn_off)
    with mail_app.app_context():
        tasks.send_digests(NOW, "w")
        run = db.session.scalar(select(DigestRun).where(
            DigestRun.user_id == users[seen["changed"]].id))
        assert (run.status.value, run.last_error) == (
            "skipped", "not sent: the daily digest was turned off")

    assert [m["To"] for m in smtp_server.messages] == [seen["sent"]]


def test_an_email_done_link_and_the_worker_delivering_that_reminder_do_not_deadlock(
        app, db_backend, client, make_user, make_reminder):
    """The done link locks its owner before it updates the reminder it read; the worker
    claims that reminder meanwhile and, holding its row, inserts the delivery, whose
    foreign key check takes FOR KEY SHARE on the owner's row. Under FOR UPDATE each waited
    for the other and PostgreSQL aborted one ("deadlock detected"); the user's lock is FOR
    NO KEY UPDATE, which the check does not wait for. Any logged-in write of a reminder
    (lock_writing_user) met the worker the same way."""
    if db_backend != "postgresql":
        pytest.skip("row locks: PostgreSQL")
    from sqlalchemy import event

    from crm.extensions import db
    from crm.reminders import links

    with time_machine.travel(NOW - timedelta(hours=1), tick=False):
        owner = make_user(email="owner@example.com")
        reminder = make_reminder(owner, title="Call", due_at=NOW - timedelta(minutes=5))
    with app.app_context(), time_machine.travel(NOW, tick=False):
        from crm.models.reminder import Reminder
        due_at = db.session.get(Reminder, reminder.id).due_at
        token = links.make_token(db.session.get(Reminder, reminder.id), "done", due_at)
        engine = db.engine

    user_locked, reminder_locked = threading.Event(), threading.Event()
    web, worker = [], []

    def after(conn, cursor, statement, parameters, context, executemany):
        if threading.current_thread().name == "web" and "FROM reminders" in statement \
                and not user_locked.is_set():
            # The owner is locked, its reminder read (pending): the worker claims it now.
            user_locked.set()
            reminder_locked.wait(10)

    def before(conn, cursor, statement, parameters, context, executemany):
        if threading.current_thread().name == "worker" and \
                statement.startswith("INSERT INTO deliveries"):
            reminder_locked.set()

    def on_worker():
        user_locked.wait(10)
        with app.app_context():
            try:
                claimed = tasks.claim_due_reminders(NOW, "w", 10)
                db.session.commit()
                worker.append(tasks.deliver_claimed(claimed, NOW, "w"))
            except Exception as exc:  # noqa: BLE001
                worker.append(repr(exc))

    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "before_cursor_execute", before)
    try:
        threads = [threading.Thread(name="web", target=lambda: web.append(
                       client.post(f"/r/{token}").status_code)),
                   threading.Thread(name="worker", target=on_worker)]
        with time_machine.travel(NOW, tick=False):
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
    finally:
        event.remove(engine, "after_cursor_execute", after)
        event.remove(engine, "before_cursor_execute", before)
    assert web == [200] and worker == [1], (web, worker)
