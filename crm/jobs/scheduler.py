"""The worker's APScheduler. Built on demand by `crm worker`; never started at import."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from crm.database import unavailable
from crm.extensions import db
from crm.jobs import tasks
from crm.models import utcnow

log = logging.getLogger(__name__)
IDEMPOTENCY_CLEANUP_SECONDS = 3600


class Outage:
    """What a worker's jobs have said about an unreachable database: one warning per job
    kind while it lasts (they used to log a traceback each per run: 84 in 35 s), and one
    line once every job that warned has run again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failing: set[str] = set()

    def failed(self, job: str, reason: str) -> None:
        with self._lock:
            first = job not in self._failing
            self._failing.add(job)
        if first:
            log.warning("job %s: database unreachable (%s); retrying each run", job, reason)

    def faulted(self, job: str) -> None:
        """The job failed for a fault of its own (logged with its traceback): it no longer
        waits for the database, nor holds back the line that says it is reachable."""
        self.succeeded(job)

    def succeeded(self, job: str) -> None:
        """The job ran: once every job that failed for the database has run again, one
        line says so (a job that succeeds meanwhile says nothing of the others)."""
        with self._lock:
            was_failing = job in self._failing
            self._failing.discard(job)
            back = was_failing and not self._failing
        if back:
            log.info("database reachable again")


def _job(app: Flask, func: Callable[..., object], *args,
         outage: Outage | None = None) -> Callable[[], None]:
    """Run a task in an app context with the current time; what it did (a non-zero count)
    is logged, and a failure is logged, not fatal: an unreachable database in a line (see
    Outage), anything else with its traceback."""
    outage = outage or Outage()

    def run() -> None:
        with app.app_context():
            now: datetime = utcnow()
            try:
                done = func(now, *args)
            except Exception as exc:
                db.session.rollback()
                reason = unavailable(exc)
                if reason is None:
                    log.exception("job %s failed", func.__name__)
                    outage.faulted(func.__name__)
                else:
                    outage.failed(func.__name__, reason)
                return
            finally:
                db.session.remove()
            outage.succeeded(func.__name__)
            if done:  # a count of what the job did: quiet when there was nothing to do
                log.info("%s: %s", func.__name__, done)

    run.__name__ = func.__name__
    return run


def build_scheduler(app: Flask, worker_id: str) -> BlockingScheduler:
    """A BlockingScheduler with an in-memory store and the worker's interval jobs.

    Each job has max_instances=1 and coalesce=True. misfire_grace_time=None
    means a late run still runs; what "late" means for reminders is decided by
    the tasks themselves (see crm.jobs.tasks), not by APScheduler.
    """
    config = app.config
    scheduler = BlockingScheduler(
        jobstores={"default": MemoryJobStore()},
        # A thread for each job, so a long figure refresh never holds up a delivery.
        executors={"default": ThreadPoolExecutor(max_workers=8)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone="UTC",
    )
    outage = Outage()

    def job(func, *args):
        return _job(app, func, *args, outage=outage)

    jobs = [
        ("heartbeat", job(tasks.heartbeat, worker_id), config["WORKER_HEARTBEAT_SECONDS"]),
        ("deliver-due", job(tasks.deliver_in_app, worker_id),
         config["REMINDER_DELIVERY_INTERVAL_SECONDS"]),
        # Email in a job of its own: a slow or hanging SMTP server never holds up in-app.
        ("send-emails", job(tasks.send_pending_emails, worker_id),
         config["REMINDER_DELIVERY_INTERVAL_SECONDS"]),
        # Links to choose a new password and notices of account changes: soon after asked.
        ("send-account-emails", job(tasks.send_account_emails, worker_id),
         config["ACCOUNT_EMAIL_INTERVAL_SECONDS"]),
        ("send-digests", job(tasks.send_digests, worker_id), config["DIGEST_INTERVAL_SECONDS"]),
        ("sweep-keep-in-touch", job(tasks.sweep_keep_in_touch),
         config["KEEP_IN_TOUCH_SWEEP_SECONDS"]),
        ("reap-stale-claims", job(tasks.reap_stale_claims), config["REAP_INTERVAL_SECONDS"]),
        # Expired keys are ignored at once: deleting them is only housekeeping.
        ("delete-expired-idempotency-keys", job(tasks.delete_expired_idempotency_keys),
         IDEMPOTENCY_CLEANUP_SECONDS),
    ]
    if tasks.figures_refresh_enabled(config):  # else pages compute figures themselves
        jobs.append(("refresh-figures", job(tasks.refresh_figures),
                     config["FIGURES_REFRESH_SECONDS"]))
    for job_id, func, seconds in jobs:
        # next_run_time=now: a worker that starts catches up at once.
        scheduler.add_job(func, "interval", seconds=float(seconds), id=job_id, name=job_id,
                          next_run_time=datetime.now().astimezone())
    return scheduler
