"""Benchmark: deliver 10,000 due reminders with one worker and with two.

    .venv/bin/python bench/deliver_reminders.py [--reminders 10000] [--database-url URL]

Prints reminders per second for in-app delivery alone and for in-app plus email
to a local aiosmtpd server, with one and with two worker processes, and the SQL
statements per batch. Without --database-url it uses a temporary SQLite file;
pass a PostgreSQL URL (a database you can drop) to measure there.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiosmtpd.controller import Controller  # noqa: E402
from sqlalchemy import delete, event, insert, update  # noqa: E402

from crm import create_app  # noqa: E402
from crm.extensions import db  # noqa: E402
from crm.jobs import tasks  # noqa: E402
from crm.mediums.services import ensure_builtin_mediums  # noqa: E402
from crm.models import (  # noqa: E402
    Delivery,
    DeliveryChannel,
    Recurrence,
    Reminder,
    ReminderKind,
    ReminderStatus,
    User,
    utcnow,
)

BATCH = 200


class Sink:
    """Counts the messages an SMTP server receives."""

    def __init__(self, counter):
        self.counter = counter

    async def handle_DATA(self, server, session, envelope):
        with self.counter.get_lock():
            self.counter.value += 1
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_app(url: str, smtp_port: int | None):
    config = {
        "SECRET_KEY": "bench",
        "DATABASE_URL": url,
        "REMINDER_BATCH_SIZE": BATCH,
        "SMTP_HOST": "127.0.0.1" if smtp_port else None,
        "SMTP_PORT": smtp_port or 25,
        "SMTP_TLS": "none",
        "MAIL_FROM": "Rapport <bench@rapport.local>",
    }
    return create_app(config)


def seed(url: str, count: int) -> None:
    app = make_app(url, None)
    with app.app_context():
        db.drop_all()
        db.create_all()
        ensure_builtin_mediums()
        users = []
        for i in range(10):
            user = User(email=f"bench{i}@example.com", name=f"Bench {i}", password_hash="x",
                        time_zone="Europe/Berlin", email_confirmed_at=utcnow())
            db.session.add(user)
            users.append(user)
        db.session.flush()
        now = utcnow()
        rows = [
            {
                "owner_id": users[i % len(users)].id,
                "kind": ReminderKind.CUSTOM,
                "title": f"Reminder {i}",
                "notes": "",
                "status": ReminderStatus.PENDING,
                "due_at": now - timedelta(minutes=1 + i % 600),
                "time_zone": "Europe/Berlin",
                "recurrence": Recurrence.NONE,
                "missed_occurrences": 0,
                "snoozed_count": 0,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(count)
        ]
        for start in range(0, count, 2000):
            db.session.execute(insert(Reminder), rows[start : start + 2000])
        db.session.commit()


def reset(url: str) -> None:
    app = make_app(url, None)
    with app.app_context():
        db.session.execute(delete(Delivery))
        db.session.execute(
            update(Reminder).values(status=ReminderStatus.PENDING, claimed_by=None,
                                    claim_expires_at=None, delivered_at=None,
                                    overdue_since=None)
        )
        db.session.commit()


def work(url: str, smtp_port: int | None, worker_id: str, stats) -> None:
    app = make_app(url, smtp_port)
    with app.app_context():
        statements = [0]

        @event.listens_for(db.engine, "before_cursor_execute")
        def count(*args):
            statements[0] += 1

        now = utcnow()
        batches = 0
        while True:
            ids = tasks.claim_due_reminders(now, worker_id, BATCH)
            if not ids:
                break
            tasks.deliver_claimed(ids, now, worker_id)
            batches += 1
        in_app_statements = statements[0]
        tasks.send_pending_emails(now, worker_id)
        stats.put((worker_id, batches, in_app_statements, statements[0] - in_app_statements))


def run(url: str, workers: int, smtp_port: int | None, expected: int):
    stats = mp.Queue()
    procs = [mp.Process(target=work, args=(url, smtp_port, f"bench-{i}", stats))
             for i in range(workers)]
    started = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - started
    results = [stats.get() for _ in procs]
    app = make_app(url, None)
    with app.app_context():
        in_app = db.session.query(Delivery).filter_by(channel=DeliveryChannel.IN_APP).count()
    assert in_app == expected, f"expected {expected} in-app deliveries, found {in_app}"
    batches = sum(r[1] for r in results)
    per_batch = sum(r[2] for r in results) / max(batches, 1)
    return elapsed, per_batch, sum(r[3] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reminders", type=int, default=10_000)
    parser.add_argument("--database-url", default=os.environ.get("CRM_BENCH_DATABASE_URL"))
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{tmp.name}/bench.sqlite3"
    counter = mp.Value("i", 0)
    smtp_port = free_port()
    controller = Controller(Sink(counter), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    print(f"Delivering {args.reminders} due reminders on {url.split(':')[0]}, batches of {BATCH}")
    print(f"{'channels':<18}{'workers':>8}{'seconds':>10}{'reminders/s':>14}{'SQL/batch':>11}")
    seed(url, args.reminders)
    try:
        for label, port in (("in-app", None), ("in-app + email", smtp_port)):
            for workers in (1, 2):
                reset(url)
                counter.value = 0
                elapsed, per_batch, _ = run(url, workers, port, args.reminders)
                rate = args.reminders / elapsed
                print(f"{label:<18}{workers:>8}{elapsed:>10.2f}{rate:>14.0f}{per_batch:>11.1f}")
                if port:
                    assert counter.value == args.reminders, (counter.value, args.reminders)
    finally:
        controller.stop()
        tmp.cleanup()
    print("Target: at least 500 reminders/s in-app only. With email, each message costs one")
    print("SMTP transaction and one UPDATE + COMMIT; the SQL per in-app batch is constant.")


if __name__ == "__main__":
    mp.set_start_method("spawn")
    main()
