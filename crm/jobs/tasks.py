"""The worker's jobs. Each takes `now` so tests can inject time, and commits its own work.

Catch-up policy (in code, not in APScheduler's misfire settings): every pass
delivers every reminder whose due time has passed, however long ago. A one-off
reminder delivered more than REMINDER_LATE_AFTER_SECONDS after it was due is
marked "overdue since" its due time. A recurring reminder whose worker was down
across several occurrences is delivered once, for the earliest missed
occurrence, marked overdue with the number of occurrences it stands for; its
next occurrence is the first one still in the future. Nothing is dropped, and
nothing is delivered twice: a Delivery row per (reminder, channel, occurrence)
is unique.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from flask import current_app, url_for
from sqlalchemy import and_, case, func, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import joinedload, selectinload

from crm.extensions import db
from crm.mail import Mailer, MailError, MailServerError, build_message, make_message_id
from crm.models import User
from crm.models.reminder import (
    OPEN_STATUSES,
    AccountEmail,
    Delivery,
    DeliveryChannel,
    DeliveryStatus,
    DigestRun,
    Recurrence,
    Reminder,
    ReminderKind,
    ReminderStatus,
    WorkerHeartbeat,
)
from crm.reminders import links
from crm.reminders.schedule import next_occurrence
from crm.timezones import to_local

log = logging.getLogger(__name__)


WORKER_ID_MAX_LENGTH = 80  # claimed_by and worker_heartbeats.worker_id


# Set when the worker is asked to stop (SIGTERM): an email pass gives the rest of its batch
# back instead of sending it, so stopping waits for one message at most.
stop_requested = threading.Event()


class PassClock:
    """The time during a pass: the injected start, moved on by the real time the pass has
    taken, so a backoff or a lease counts from when it is set (one SMTP timeout is
    seconds), not from when the pass began."""

    def __init__(self, start: datetime) -> None:
        self.start, self.began = start, time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.began)


def default_worker_id() -> str:
    """host:pid:random. host:pid alone is not unique: containers that share a hostname
    (host networking) each run their worker as pid 1."""
    suffix = f":{os.getpid()}:{secrets.token_hex(3)}"
    return socket.gethostname()[:WORKER_ID_MAX_LENGTH - len(suffix)] + suffix


def _is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def _cfg(name: str):
    return current_app.config[name]


# -- claiming -------------------------------------------------------------------


def _claim(model, due, pending, claimed, worker_id: str, lease_until: datetime) -> list[int]:
    """Atomically move the rows `due` selects from `pending` to `claimed` for this worker.

    PostgreSQL: UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n) RETURNING,
    so concurrent workers take disjoint rows without waiting. SQLite: a conditional
    UPDATE … WHERE status = pending RETURNING; writers are serialised, and a row another
    worker took in between simply is not returned.
    """
    if _is_postgres():
        # A materialized CTE runs the locking SELECT once. As a plain IN (subquery) the
        # planner may rescan it per outer row, each rescan skipping the rows this very
        # statement already took, so one claim could take far more than `limit` rows.
        picked = due.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
        ids_clause = model.id.in_(select(picked.c.id))
    else:
        candidates = list(db.session.scalars(due))
        if not candidates:
            db.session.rollback()
            return []
        ids_clause = model.id.in_(candidates)
    taken = list(
        db.session.scalars(
            update(model)
            .where(ids_clause, model.status == pending)
            .values(status=claimed, claimed_by=worker_id, claim_expires_at=lease_until)
            .returning(model.id)
            .execution_options(synchronize_session=False)
        )
    )
    db.session.commit()
    return taken


def claim_due_reminders(now: datetime, worker_id: str, limit: int) -> list[int]:
    """Atomically take up to `limit` due reminders for this worker, under a lease."""
    due = (
        select(Reminder.id)
        .where(Reminder.status == ReminderStatus.PENDING, Reminder.due_at <= now)
        .order_by(Reminder.due_at, Reminder.id)
        .limit(limit)
    )
    lease_until = now + timedelta(seconds=_cfg("REMINDER_LEASE_SECONDS"))
    return _claim(Reminder, due, ReminderStatus.PENDING, ReminderStatus.CLAIMED, worker_id,
                  lease_until)


def deliver_claimed(ids: list[int], now: datetime, worker_id: str) -> int:
    """Deliver in-app (and queue email) for claimed reminders, in one transaction.

    The first statement re-asserts the claim, so a reminder whose lease was
    reaped and taken by another worker is left to that worker.
    """
    if not ids:
        return 0
    lease_until = now + timedelta(seconds=_cfg("REMINDER_LEASE_SECONDS"))
    owned = list(
        db.session.scalars(
            update(Reminder)
            .where(
                Reminder.id.in_(ids),
                Reminder.status == ReminderStatus.CLAIMED,
                Reminder.claimed_by == worker_id,
            )
            .values(claim_expires_at=lease_until)
            .returning(Reminder.id)
            .execution_options(synchronize_session=False)
        )
    )
    if not owned:
        db.session.commit()
        return 0
    rows = db.session.execute(
        select(
            Reminder.id, Reminder.owner_id, Reminder.due_at, Reminder.recurrence,
            User.email_reminders, User.digest_enabled, User.email_confirmed_at,
            User.is_active_account,
        )
        .join(User, User.id == Reminder.owner_id)
        .where(Reminder.id.in_(owned))
    ).all()
    already = set(
        db.session.execute(
            select(Delivery.reminder_id, Delivery.occurrence).where(
                Delivery.reminder_id.in_(owned), Delivery.channel == DeliveryChannel.IN_APP
            )
        ).all()
    )
    late_cutoff = now - timedelta(seconds=_cfg("REMINDER_LATE_AFTER_SECONDS"))
    email_on = bool(_cfg("SMTP_HOST"))
    in_app: list[dict] = []
    emails: list[dict] = []
    one_off: list[int] = []
    recurring: list[int] = []
    for row in rows:
        (one_off if row.recurrence == Recurrence.NONE else recurring).append(row.id)
        if (row.id, row.due_at) in already:
            continue  # this occurrence was delivered before (e.g. edited back to it)
        overdue_since = row.due_at if row.due_at < late_cutoff else None
        common = {"reminder_id": row.id, "user_id": row.owner_id, "occurrence": row.due_at,
                  "overdue_since": overdue_since, "attempts": 0, "created_at": now}
        in_app.append({**common, "channel": DeliveryChannel.IN_APP,
                       "status": DeliveryStatus.SENT, "sent_at": now, "next_attempt_at": None,
                       "message_id": None})
        # A deactivated account's reminders are delivered in the app, waiting for its
        # return; nothing is emailed to it.
        if (email_on and row.email_reminders and not row.digest_enabled
                and row.email_confirmed_at is not None and row.is_active_account):
            emails.append({**common, "channel": DeliveryChannel.EMAIL,
                           "status": DeliveryStatus.PENDING, "sent_at": None,
                           "next_attempt_at": now,
                           "message_id": make_message_id(
                               f"reminder-{row.id}-{row.due_at:%Y%m%dT%H%M%SZ}")})
    for batch in (in_app, emails):
        if batch:
            db.session.execute(insert(Delivery), batch)
    if one_off:
        db.session.execute(
            update(Reminder)
            .where(Reminder.id.in_(one_off))
            .values(
                status=ReminderStatus.DELIVERED,
                delivered_at=now,
                overdue_since=case((Reminder.due_at < late_cutoff, Reminder.due_at), else_=None),
                missed_occurrences=0,
                claimed_by=None,
                claim_expires_at=None,
            )
            .execution_options(synchronize_session=False)
        )
    for reminder, zone in db.session.execute(
            select(Reminder, User.time_zone).join(User, User.id == Reminder.owner_id)
            .where(Reminder.id.in_(recurring))):
        overdue = reminder.due_at if reminder.due_at < late_cutoff else None
        _advance(reminder, now, overdue, zone)
    db.session.commit()
    return len(in_app)


def _advance(reminder: Reminder, now: datetime, overdue_since: datetime | None,
             zone: str) -> None:
    """Past a delivered occurrence. A series goes on in its owner's zone: one being
    delivered when they changed zone was left where it was (reminders.services.
    follow_time_zone moves only pending ones), and follows them from its next occurrence."""
    reminder.delivered_at = now
    reminder.overdue_since = overdue_since
    reminder.claimed_by = None
    reminder.claim_expires_at = None
    if reminder.recurrence == Recurrence.NONE or reminder.local_time is None:
        reminder.status = ReminderStatus.DELIVERED
        reminder.missed_occurrences = 0
        return
    following, skipped = next_occurrence(
        reminder.due_at,
        recurrence=reminder.recurrence,
        local_time=reminder.local_time,
        tz_name=zone,
        anchor=reminder.anchor_date,
        after=now,
        current_zone=reminder.time_zone,  # the delivered occurrence's date is in its zone
    )
    reminder.time_zone = zone
    reminder.missed_occurrences = skipped
    reminder.due_at = following
    reminder.status = ReminderStatus.PENDING


def deliver_due(now: datetime, worker_id: str) -> int:
    """One pass: claim and deliver every due reminder in batches, then send queued email
    (`crm worker --once`; the running worker sends email in a job of its own)."""
    total = deliver_in_app(now, worker_id)
    send_pending_emails(now, worker_id)
    return total


# What this process's failed passes left claimed, per (table, worker ID): each row's id and
# the latest its lease may run to (None: not known yet, the pass is still going). A pass that
# failed after its claim committed (the connection dropped mid-delivery) would otherwise leave
# its rows claimed until the lease ran out. Kept in this process's memory, never found by the
# worker ID in the database: another live process may share the ID (containers that share a
# hostname, each worker pid 1, or one --worker-id given twice) and hold rows of its own.
InHand = dict[int, datetime | None]


def _left_over() -> dict[tuple[str, str], InHand]:
    return current_app.extensions.setdefault("crm.jobs.left_over", {})


@contextmanager
def _pass_claims(model, worker_id: str, lease_end: Callable[[], datetime]) -> Iterator[InHand]:
    """The claims one pass has in hand, starting with those the failed pass before it left.
    The pass adds what it claims and drops what it settles or gives back; when it fails,
    what is still in hand is kept for the next pass, with lease_end() (the latest lease the
    pass may have set) for the rows it claimed or took up itself."""
    key = (model.__tablename__, worker_id)
    in_hand: InHand = dict(_left_over().pop(key, {}))
    try:
        yield in_hand
    except Exception:
        if in_hand:
            until = lease_end()
            _left_over()[key] = {row: held or until for row, held in in_hand.items()}
        raise


def _take_up(model, claimed, worker_id: str, now: datetime, in_hand: InHand) -> list[int]:
    """The rows a failed pass left in hand that are still this worker's: claimed under its
    ID, under a lease still running (a lapsed one is the reaper's) and no later than any this
    process set (a later one is another process's that shares the ID and claimed the row
    after it was reaped). Each is re-asserted again before it is used."""
    return list(_still_held(model, claimed, worker_id, now, in_hand))


def _still_held(model, claimed, worker_id: str, now: datetime,
                in_hand: InHand) -> dict[int, datetime]:
    """_take_up's rows, each with the lease it is held under as read: a statement that
    re-asserts the claim on that very lease cannot take one claimed afresh meanwhile."""
    if not in_hand:
        return {}
    rows = db.session.execute(
        select(model.id, model.claim_expires_at)
        .where(model.id.in_(in_hand), model.status == claimed, model.claimed_by == worker_id)
        .order_by(model.id)
    ).all()
    db.session.rollback()  # a read: leave no transaction open
    held = {row.id: row.claim_expires_at for row in rows if row.claim_expires_at is not None
            and now < row.claim_expires_at <= (in_hand[row.id] or row.claim_expires_at)}
    in_hand.clear()
    in_hand.update(dict.fromkeys(held))  # this pass re-asserts them: its own lease decides
    return held


def deliver_in_app(now: datetime, worker_id: str) -> int:
    """Claim and deliver every due reminder in batches, queueing their emails; no SMTP."""
    batch = int(_cfg("REMINDER_BATCH_SIZE"))
    lease_until = now + timedelta(seconds=_cfg("REMINDER_LEASE_SECONDS"))
    with _pass_claims(Reminder, worker_id, lambda: lease_until) as in_hand:
        total = deliver_claimed(
            _take_up(Reminder, ReminderStatus.CLAIMED, worker_id, now, in_hand), now, worker_id)
        in_hand.clear()  # delivered in one transaction, or left to another worker
        while True:
            ids = claim_due_reminders(now, worker_id, batch)
            if not ids:
                break
            in_hand.update(dict.fromkeys(ids))
            total += deliver_claimed(ids, now, worker_id)
            in_hand.clear()
            if len(ids) < batch:
                break
    return total


# -- email ----------------------------------------------------------------------


def claim_pending_emails(now: datetime, worker_id: str, limit: int) -> list[int]:
    """Atomically take email deliveries whose next attempt is due."""
    return _claim_due_emails(Delivery, now, worker_id, limit,
                             Delivery.channel == DeliveryChannel.EMAIL)


def _claim_due_emails(model, now: datetime, worker_id: str, limit: int, *where) -> list[int]:
    """Atomically take the emails of a table (Delivery, AccountEmail) whose next attempt is
    due, soonest first."""
    due = (
        select(model.id)
        .where(*where, model.status == DeliveryStatus.PENDING, model.next_attempt_at <= now)
        .order_by(model.next_attempt_at, model.id)
        .limit(limit)
    )
    lease_until = now + timedelta(seconds=_cfg("REMINDER_LEASE_SECONDS"))
    return _claim(model, due, DeliveryStatus.PENDING, DeliveryStatus.SENDING, worker_id,
                  lease_until)


def send_pending_emails(now: datetime, worker_id: str,
                        clock: Callable[[], datetime] | None = None) -> int:
    """Send every due email delivery over one SMTP connection per batch.

    Each email is built from its rows as they are just before it is sent, so a reminder,
    contact or account deleted while a batch is out gets nothing more. When the server
    cannot be reached, times out or hangs up, the pass ends there: the message that met it
    counts an attempt and backs off, and the rest of the batch is given back untried (no
    attempt counted) for EMAIL_RETRY_BASE_SECONDS, so a dead server costs one SMTP timeout
    a pass, not one per queued email.

    The claim's lease counts from when it is taken and is renewed as the batch goes, and
    each message re-asserts its claim before it is sent, so a batch slower than the lease
    is never sent twice; only a crash resends, at most the message in flight. `clock`
    (default: `now` moved on by real time) is injectable for tests."""
    return _send_queued(Delivery, claim_pending_emails, _prepare_email, "email delivery",
                        now, worker_id, clock)


# Builds a claimed email: (attempts so far, the message), or None when there is nothing to
# send; given the row's id, the worker and the lease to renew its claim to.
Prepare = Callable[[int, str, datetime], tuple[int, EmailMessage] | None]


def _send_queued(model, claim: Callable[[datetime, str, int], list[int]], prepare: Prepare,
                 what: str, now: datetime, worker_id: str,
                 clock: Callable[[], datetime] | None) -> int:
    """Send the queued emails of a table (Delivery, AccountEmail) as send_pending_emails
    says: the claims a failed pass left first, then batches claimed with `claim`."""
    if not _cfg("SMTP_HOST"):
        return 0
    batch = int(_cfg("REMINDER_BATCH_SIZE"))
    clock = clock or PassClock(now)
    lease = timedelta(seconds=_cfg("REMINDER_LEASE_SECONDS"))
    with _pass_claims(model, worker_id, lambda: clock() + lease) as in_hand:
        held = _take_up(model, DeliveryStatus.SENDING, worker_id, clock(), in_hand)
        sent, more = _send_batch(model, prepare, what, held, now, worker_id, clock, in_hand)
        while more:
            ids = claim(clock(), worker_id, batch)
            if not ids:
                break
            in_hand.update(dict.fromkeys(ids))
            done, more = _send_batch(model, prepare, what, sorted(ids), now, worker_id, clock,
                                     in_hand)
            sent += done
            if len(ids) < batch:
                break
    return sent


def _send_batch(model, prepare: Prepare, what: str, ids: list[int], now: datetime,
                worker_id: str, clock: Callable[[], datetime],
                in_hand: InHand) -> tuple[int, bool]:
    """Send claimed emails in order on one connection: how many went, and whether the
    pass may go on (not when the server is down or the worker is stopping). Each one
    settled or given back leaves in_hand."""
    lease = timedelta(seconds=_cfg("REMINDER_LEASE_SECONDS"))
    renewed = clock()
    sent = 0
    with Mailer() as mailer:
        for index, email_id in enumerate(ids):
            if stop_requested.is_set():
                _give_back(model, ids[index:], worker_id, clock(), in_hand)
                return sent, False
            # The rest of the batch stays this worker's: renewed well before it could lapse
            # (one message takes at most a few SMTP timeouts).
            if clock() - renewed > lease / 4:
                renewed = clock()
                _renew(model, ids[index:], worker_id, renewed + lease)
            prepared = prepare(email_id, worker_id, clock() + lease)
            db.session.commit()  # nothing open while SMTP talks
            if prepared is None:
                in_hand.pop(email_id, None)  # settled, or not this worker's any more
                continue
            attempts, message = prepared
            server_down = False
            try:
                mailer.send(message)
            except MailError as exc:
                server_down = isinstance(exc, MailServerError)
                values = _failure_values(attempts, str(exc), clock())
                log.warning("%s %s failed (attempt %s): %s", what, email_id,
                            values["attempts"], exc)
            else:
                values = {"status": DeliveryStatus.SENT, "sent_at": now,
                          "attempts": attempts + 1, "last_error": None}
                sent += 1
            # One commit per message: a crash resends at most the message in flight.
            _settle(model, email_id, **values)
            in_hand.pop(email_id, None)
            if server_down:
                retry_at = clock() + timedelta(seconds=int(_cfg("EMAIL_RETRY_BASE_SECONDS")))
                _give_back(model, ids[index + 1:], worker_id, retry_at, in_hand)
                return sent, False
    return sent, True


def _held(model, ids: list[int], worker_id: str):
    """An UPDATE of the emails (Delivery, AccountEmail) among ids that this worker still has
    claimed."""
    return (
        update(model)
        .where(model.id.in_(ids), model.status == DeliveryStatus.SENDING,
               model.claimed_by == worker_id)
        .execution_options(synchronize_session=False)
    )


def _renew(model, ids: list[int], worker_id: str, lease_until: datetime) -> None:
    """Extend this worker's claim on deliveries it still holds."""
    if ids:
        db.session.execute(_held(model, ids, worker_id).values(claim_expires_at=lease_until))
    db.session.commit()


def _prepare_email(delivery_id: int, worker_id: str, lease_until: datetime):
    """(attempts, message) for a claimed delivery, read afresh, its claim renewed to
    lease_until; None when there is nothing to send: the claim lapsed and was given back or
    taken over, the delivery is gone (its reminder, contact or account was deleted), it is
    not wanted any more, or its email cannot be built (that fails for good: it would be
    built the same way again)."""
    if not _renew_one(Delivery, delivery_id, worker_id, lease_until):
        return None
    row = db.session.execute(
        select(Delivery, User)
        .join(User, User.id == Delivery.user_id)
        .where(Delivery.id == delivery_id)
        .options(joinedload(Delivery.reminder).joinedload(Reminder.contact))
    ).first()
    if row is None:
        return None
    delivery, user = row
    return _built(Delivery, "email delivery", delivery_id, delivery.attempts,
                  _not_wanted(delivery, user), lambda: _reminder_email(delivery, user))


def _built(model, what: str, email_id: int, attempts: int, not_wanted: str | None,
           build: Callable[[], EmailMessage]) -> tuple[int, EmailMessage] | None:
    """(attempts, message) for a claimed email; None, the row settled, when it is no longer
    wanted (skipped, the reason kept) or cannot be built (failed for good: it would be
    built the same way again)."""
    if not_wanted:
        _settle(model, email_id, status=DeliveryStatus.SKIPPED, last_error=not_wanted,
                next_attempt_at=None)
        return None
    try:
        return attempts, build()
    except Exception as exc:  # any error building one email is that email's
        log.exception("%s %s cannot be built", what, email_id)
        _settle(model, email_id, status=DeliveryStatus.FAILED, attempts=attempts + 1,
                last_error=f"the email cannot be built: {exc}"[:1000], next_attempt_at=None)
        return None


def _not_wanted(delivery: Delivery, user: User) -> str | None:
    """Why an email is no longer wanted (not sent), or None: the account was deactivated,
    the user turned reminder emails off (or chose the digest), moved to an address not
    confirmed yet, or already acted on this occurrence: ended the
    reminder, or moved or snoozed a one-off. (Done on a repeating reminder's occurrence, or
    moving the series, marks its waiting emails skipped there and then: reading the
    notification, "Mark all read" included, is not acting on it.)"""
    reminder = delivery.reminder
    if not user.is_active:
        return "not sent: the account is deactivated"
    if not user.email_reminders or user.digest_enabled:
        return "not sent: reminder emails were turned off"
    if not user.email_confirmed:
        return "not sent: the account's address is not confirmed"
    if reminder.status not in OPEN_STATUSES:
        return f"not sent: the reminder was {reminder.status.value}"
    if reminder.recurrence == Recurrence.NONE and reminder.due_at != delivery.occurrence:
        return "not sent: the reminder was moved"
    if reminder.kind == ReminderKind.KEEP_IN_TOUCH and reminder.contact_id is not None \
            and db.session.scalar(select(Reminder.id).where(
                Reminder.owner_id == reminder.owner_id,
                Reminder.contact_id == reminder.contact_id,
                Reminder.kind == ReminderKind.KEEP_IN_TOUCH, Reminder.id != reminder.id,
                Reminder.status == ReminderStatus.PENDING, Reminder.snoozed_count > 0,
            ).limit(1)) is not None:
        # Delivered as a merge made another reminder of this person the one kept, its
        # snooze the user's word (sync_keep_in_touch ends this one at its next pass).
        return "not sent: keep in touch with this contact was snoozed"
    return None


def _settle(model, email_id: int, **values) -> None:
    """Record what became of a claimed email and release the claim."""
    db.session.execute(
        update(model)
        .where(model.id == email_id)
        .values(claimed_by=None, claim_expires_at=None, **values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _renew_one(model, email_id: int, worker_id: str, lease_until: datetime) -> bool:
    """Extend the claim on one delivery; False when this worker no longer holds it."""
    held = _held(model, [email_id], worker_id).values(claim_expires_at=lease_until)
    return bool(db.session.execute(held).rowcount)


def _give_back(model, ids: list[int], worker_id: str, next_attempt_at: datetime,
               in_hand: InHand) -> None:
    """Release claimed email deliveries untried: no attempt counted."""
    if ids:
        db.session.execute(_held(model, ids, worker_id).values(
            status=DeliveryStatus.PENDING, claimed_by=None, claim_expires_at=None,
            next_attempt_at=next_attempt_at))
    db.session.commit()
    for given in ids:
        in_hand.pop(given, None)


def _failure_values(attempts: int, error: str, now: datetime) -> dict:
    """Retry with exponential backoff; after the last attempt the delivery has failed."""
    attempts += 1
    if attempts >= int(_cfg("EMAIL_MAX_ATTEMPTS")):
        return {"attempts": attempts, "last_error": error[:1000],
                "status": DeliveryStatus.FAILED, "next_attempt_at": None}
    delay = int(_cfg("EMAIL_RETRY_BASE_SECONDS")) * 2 ** (attempts - 1)
    return {"attempts": attempts, "last_error": error[:1000], "status": DeliveryStatus.PENDING,
            "next_attempt_at": now + timedelta(seconds=delay)}


# -- account emails -------------------------------------------------------------


def send_account_emails(now: datetime, worker_id: str,
                        clock: Callable[[], datetime] | None = None) -> int:
    """Send the queued emails about accounts (crm.auth.recovery: a link to choose a new
    password, a changed password or address), each once, as reminder emails are sent
    (send_pending_emails: claims, leases, retries, a stopping worker giving back the rest).
    A link that would have expired by now, or that was asked for at an address the account
    has since left, is not sent."""
    return _send_queued(AccountEmail, claim_account_emails,
                        lambda email_id, worker, lease_until: _prepare_account_email(
                            email_id, worker, lease_until, now),
                        "account email", now, worker_id, clock)


def claim_account_emails(now: datetime, worker_id: str, limit: int) -> list[int]:
    """Atomically take account emails whose next attempt is due."""
    return _claim_due_emails(AccountEmail, now, worker_id, limit)


def _prepare_account_email(email_id: int, worker_id: str, lease_until: datetime,
                           now: datetime):
    """(attempts, message) for a claimed account email, read afresh, its claim renewed;
    None when there is nothing to send (the claim lapsed, the account is gone, the email is
    no longer wanted, or it cannot be built)."""
    from crm.auth import recovery

    if not _renew_one(AccountEmail, email_id, worker_id, lease_until):
        return None
    row = db.session.execute(
        select(AccountEmail, User).join(User, User.id == AccountEmail.user_id)
        .where(AccountEmail.id == email_id)
    ).first()
    if row is None:
        return None
    email, user = row

    def build() -> EmailMessage:
        with current_app.test_request_context(
                base_url=current_app.config["BASE_URL"].rstrip("/")):
            return recovery.account_message(email, user)

    return _built(AccountEmail, "account email", email_id, email.attempts,
                  recovery.not_wanted(email, user, now), build)


def _record_failure(run: DigestRun, error: str, now: datetime) -> None:
    for key, value in _failure_values(run.attempts, error, now).items():
        setattr(run, key, value)
    _release(run)
    log.warning("digest %s failed (attempt %s): %s", run.id, run.attempts, error)


def _account_links(user: User) -> dict[str, str]:
    """The links every email's footer gives (needs a request context with the base URL)."""
    return {
        "reminders_url": url_for("reminders.index", _external=True),
        "settings_url": url_for("auth.settings", _anchor="reminders", _external=True),
        "unsubscribe_url": links.unsubscribe_url(user),
    }


def _reminder_email(delivery: Delivery, user: User):
    reminder = delivery.reminder
    base = current_app.config["BASE_URL"].rstrip("/")
    with current_app.test_request_context(base_url=base):
        context = {
            "user": user,
            "reminder": reminder,
            "contact": reminder.contact,
            "occurrence_local": to_local(delivery.occurrence, user.time_zone),
            "overdue_since_local": (
                to_local(delivery.overdue_since, user.time_zone) if delivery.overdue_since else None
            ),
            "contact_url": (
                url_for("contacts.show", contact_id=reminder.contact_id, _external=True)
                if reminder.contact_id
                else None
            ),
            "log_url": links.action_url(reminder, "log", delivery.occurrence),
            # A repeating reminder is edited, not snoozed: offer its edit page instead.
            "snooze_url": (
                links.action_url(reminder, "snooze", delivery.occurrence)
                if reminder.recurrence == Recurrence.NONE
                else None
            ),
            "edit_url": url_for("reminders.edit", reminder_id=reminder.id, _external=True),
            "done_url": links.action_url(reminder, "done", delivery.occurrence),
            **_account_links(user),
        }
        subject = reminder.title
        if delivery.overdue_since:
            subject = f"Overdue: {subject}"
        return build_message(
            to=user.email,
            subject=subject,
            template="reminder",
            message_id=delivery.message_id,
            **context,
        )


# -- digests --------------------------------------------------------------------


def send_digests(now: datetime, worker_id: str,
                 clock: Callable[[], datetime] | None = None) -> int:
    """Send each digest user one email a day, at or after their local digest hour.

    A run at 08:00 in one zone may take longer than the lease: each digest's lease counts
    from when it is claimed, and is renewed just before it is sent, provided this worker
    still holds it, so one reaped and taken up by another worker meanwhile is not sent
    twice. What a pass that failed (its database connection dropped) left claimed, this
    worker's next pass takes up at once instead of leaving it to wait for the lease, as it
    does reminders and emails (_pass_claims). `clock` (default: `now` moved on by real
    time) is injectable for tests."""
    if not _cfg("SMTP_HOST"):
        return 0
    clock = clock or PassClock(now)
    lease = timedelta(seconds=_cfg("REMINDER_LEASE_SECONDS"))
    # Digests a failed pass sent before it could record them (run id -> when): the mail is
    # out, so the next pass records them as sent rather than giving them back to go again.
    sent_unrecorded: dict[int, datetime] = _left_over().setdefault(
        ("digest_runs:sent", worker_id), {})
    with _pass_claims(DigestRun, worker_id, lambda: clock() + lease) as in_hand:
        held = _still_held(DigestRun, DeliveryStatus.SENDING, worker_id, clock(), in_hand)
        _record_sent_digests({run_id: lease_end for run_id, lease_end in held.items()
                              if run_id in sent_unrecorded}, worker_id, sent_unrecorded)
        sent_unrecorded.clear()  # recorded, or reaped and no longer this worker's
        _give_back_digests({run_id: lease_end for run_id, lease_end in held.items()
                            if run_id in in_hand}, worker_id, clock(), in_hand)
        return _send_due_digests(now, worker_id, clock, in_hand, sent_unrecorded)


def _record_sent_digests(held: dict[int, datetime], worker_id: str,
                         sent_unrecorded: dict[int, datetime]) -> None:
    """Record as sent the digests a failed pass sent but could not record, each only under
    the lease it was read with (as _give_back_digests)."""
    for run_id, lease_end in held.items():
        db.session.execute(
            update(DigestRun)
            .where(DigestRun.id == run_id, DigestRun.status == DeliveryStatus.SENDING,
                   DigestRun.claimed_by == worker_id, DigestRun.claim_expires_at == lease_end)
            .values(status=DeliveryStatus.SENT, sent_at=sent_unrecorded[run_id],
                    attempts=DigestRun.attempts + 1, claimed_by=None, claim_expires_at=None)
            .execution_options(synchronize_session=False)
        )
    if held:
        db.session.commit()


def _give_back_digests(held: dict[int, datetime], worker_id: str, now: datetime,
                       in_hand: InHand) -> None:
    """Make the digests a failed pass of this worker left claimed due again at once, each
    only under the lease it was read with (_still_held). Given back rather than sent as
    they are: the pass then takes each one up as it does any retry, so one whose user's
    local day has ended meanwhile fails as such a retry does, and is not sent a day late."""
    if held:
        db.session.execute(
            update(DigestRun)
            .where(DigestRun.status == DeliveryStatus.SENDING, DigestRun.claimed_by == worker_id,
                   or_(*(and_(DigestRun.id == run_id, DigestRun.claim_expires_at == lease_end)
                         for run_id, lease_end in held.items())))
            .values(status=DeliveryStatus.PENDING, claimed_by=None, claim_expires_at=None,
                    next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
        _skip_digests_not_wanted(DigestRun.id.in_(list(held)))
        db.session.commit()
    in_hand.clear()


def _digest_refusal():
    """Why a user is sent no daily digest, as SQL of the users row (NULL: one is sent): the
    one rule for the users a pass takes, the digests given back to users who no longer
    qualify, and a user read again just before their digest goes."""
    return case(
        (User.is_active_account.is_not(True), "not sent: the account was deactivated"),
        (or_(User.email_reminders.is_not(True), User.digest_enabled.is_not(True)),
         "not sent: the daily digest was turned off"),
        (User.email_confirmed_at.is_(None), "not sent: the account's address is not confirmed"),
        else_=None,
    )


def _skip_digests_not_wanted(which) -> None:
    """Digests given back (by a pass, or the reaper) to users who no longer qualify
    (_digest_refusal: the digest turned off, the account deactivated, the address changed
    and not confirmed yet): skipped with the reason, as the settings skip one waiting
    (crm.auth.services), else no pass takes them up again and they are listed as retrying
    for good."""
    refusal = (select(_digest_refusal()).where(User.id == DigestRun.user_id)
               .correlate(DigestRun).scalar_subquery())
    db.session.execute(
        update(DigestRun)
        .where(which, DigestRun.status == DeliveryStatus.PENDING, refusal.is_not(None))
        .values(status=DeliveryStatus.SKIPPED, next_attempt_at=None, last_error=refusal)
        .execution_options(synchronize_session=False)
    )


def _send_due_digests(now: datetime, worker_id: str, clock: Callable[[], datetime],
                      in_hand: InHand, sent_unrecorded: dict[int, datetime]) -> int:
    """send_digests' pass: each digest it claims is in hand until it is settled."""
    users = list(
        db.session.scalars(
            select(User).where(_digest_refusal().is_(None))
        )
    )
    # A user who moved west lives a local day over again, or one before it: its digest (or
    # a later day's) went out already. A late digest, by contrast, never holds back the next
    # day's (it used to be kept 12 hours after any digest: 2 June's came at 11:00, after a
    # catch-up of 1 June's at 23:00).
    latest = dict(db.session.execute(
        select(DigestRun.user_id, func.max(DigestRun.local_date))
        .where(DigestRun.user_id.in_([u.id for u in users]))
        .group_by(DigestRun.user_id)
    ).all()) if users else {}
    sent = 0
    # One SMTP session for every digest of this run (at 08:00 in one zone, an organisation
    # has hundreds). A server that is down or hangs costs one timeout: the digests after
    # it are not taken this run, and the next one (a minute later) tries again.
    with Mailer() as mailer:
        for user in users:
            local_now = to_local(now, user.time_zone)
            if local_now.hour < user.digest_hour or latest.get(user.id, local_now.date()) > \
                    local_now.date():
                continue
            claimed = _claim_digest_run(user, local_now.date(), clock(), worker_id, in_hand)
            if claimed is None:
                continue
            run_id, run, held_until = claimed
            done, server_down = _send_digest(run, held_until, user, now, local_now,
                                             _Noting(mailer, run_id, now, sent_unrecorded),
                                             clock, in_hand)
            in_hand.pop(run_id, None)  # settled, or not this worker's any more
            sent_unrecorded.pop(run_id, None)
            sent += done
            if server_down:
                break
    # The reads above (users with no digest due) leave a transaction open: end it, so the
    # next job of `crm worker --once` starts afresh (SQLAlchemy warned "Connection is
    # already established", an error under the tests' warning filter).
    db.session.rollback()
    return sent


@dataclass
class _Noting:
    """The pass's mailer, noting each digest it got out (should recording it as sent fail,
    the next pass records it rather than sending it again)."""

    mailer: Mailer
    run_id: int
    now: datetime
    sent: dict[int, datetime]

    def send(self, message) -> None:
        self.mailer.send(message)
        self.sent[self.run_id] = self.now


def _claim_digest_run(user: User, local_date, now: datetime, worker_id: str,
                      in_hand: InHand) -> tuple[int, DigestRun, datetime] | None:
    """Create (or take up a retry of) today's digest row, claimed for this worker for the
    lease from now: its id, the row and when its claim lapses; None when another worker
    has it. The row is in hand before its claim commits: should the pass fail from there
    on, the next one takes it up (_still_held drops it if the claim never committed)."""
    from sqlalchemy.exc import IntegrityError

    held_until = now + timedelta(seconds=_cfg("REMINDER_LEASE_SECONDS"))
    run = db.session.scalar(
        select(DigestRun).where(DigestRun.user_id == user.id, DigestRun.local_date == local_date)
    )
    if run is None:
        # An earlier day's digest still waiting for a retry is not sent any more (its day is
        # over, and today's lists what is still due): it failed, and says so.
        db.session.execute(
            update(DigestRun)
            .where(DigestRun.user_id == user.id, DigestRun.local_date < local_date,
                   DigestRun.status == DeliveryStatus.PENDING)
            .values(status=DeliveryStatus.FAILED, next_attempt_at=None)
            .execution_options(synchronize_session=False)
        )
        run = DigestRun(user_id=user.id, local_date=local_date, status=DeliveryStatus.SENDING,
                        message_id=make_message_id(f"digest-{user.id}-{local_date:%Y%m%d}"),
                        claimed_by=worker_id, claim_expires_at=held_until)
        db.session.add(run)
        try:
            db.session.flush()
            # Its id, read before the commit expires the row: read after, it would begin the
            # next transaction there, on SQLite holding the write lock from then on.
            run_id = run.id
            in_hand[run_id] = held_until  # the lease it sets: no later one is this pass's
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            return None
        return run_id, run, held_until
    if run.status != DeliveryStatus.PENDING or (run.next_attempt_at and run.next_attempt_at > now):
        return None
    run_id = run.id
    taken = db.session.execute(
        update(DigestRun)
        .where(DigestRun.id == run_id, DigestRun.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.SENDING, claimed_by=worker_id, claim_expires_at=held_until)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken:
        in_hand[run_id] = held_until
    db.session.commit()
    if not taken:
        return None
    db.session.refresh(run)
    return run.id, run, held_until


def _renew_digest_claim(run: DigestRun, held_until: datetime,
                        clock: Callable[[], datetime], in_hand: InHand) -> bool:
    """Renew this worker's claim on a digest for a full lease; False when it no longer
    holds it: the claim lapsed (the reaper may give it to another worker at any moment) or
    was reaped and taken up already (another claim's expiry, not the one it set)."""
    now = clock()
    if held_until <= now:
        return False
    lease = timedelta(seconds=_cfg("REMINDER_LEASE_SECONDS"))
    # The latest lease this pass sets, noted before it is: a later one is another
    # process's (same worker ID) that claimed the digest after the reaper.
    in_hand[run.id] = now + lease
    renewed = db.session.execute(
        update(DigestRun)
        .where(DigestRun.id == run.id, DigestRun.status == DeliveryStatus.SENDING,
               DigestRun.claim_expires_at == held_until)
        .values(claim_expires_at=now + lease)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return bool(renewed)


# How many overdue reminders a digest lists; it counts the rest and links to them.
DIGEST_OVERDUE_SHOWN = 25


@dataclass(frozen=True)
class DigestItem:
    """One line of a digest: a reminder at the occurrence the digest tells of."""

    reminder: Reminder
    due_at: datetime

    @property
    def title(self) -> str:
        return self.reminder.title

    @property
    def contact_id(self) -> int | None:
        return self.reminder.contact_id


def _digest_items(user: User, start_of_day: datetime, end_of_day: datetime,
                  now: datetime) -> list[DigestItem]:
    """What a user's digest lists, each reminder once, soonest first: open reminders due
    before the end of their local day, and the occurrences of open series delivered in-app
    earlier today and not yet read or acted on in the app (done on an occurrence marks its
    notification read). A digest user gets no email of their own for those, and a series
    moves on to its next occurrence once one is delivered: its due time alone would leave
    out every occurrence before the digest hour."""
    items = {
        reminder.id: DigestItem(reminder, reminder.due_at)
        for reminder in db.session.scalars(
            select(Reminder)
            .where(
                Reminder.owner_id == user.id,
                Reminder.status.in_(OPEN_STATUSES),
                Reminder.due_at < end_of_day,
            )
            .options(selectinload(Reminder.contact))
        )
    }
    delivered_today = db.session.execute(
        select(Reminder, Delivery.occurrence)
        .join(Delivery, Delivery.reminder_id == Reminder.id)
        .where(
            Delivery.user_id == user.id,
            Delivery.channel == DeliveryChannel.IN_APP,
            Delivery.occurrence >= start_of_day,
            Delivery.occurrence <= now,
            Delivery.read_at.is_(None),  # seen or done in the app already
            Reminder.owner_id == user.id,
            Reminder.status.in_(OPEN_STATUSES),
            # A one-off is where its row says: one snoozed out of today is not listed.
            Reminder.recurrence != Recurrence.NONE,
        )
        .order_by(Delivery.occurrence)
        .options(selectinload(Reminder.contact))
    ).all()
    for reminder, occurrence in delivered_today:
        items.setdefault(reminder.id, DigestItem(reminder, occurrence))
    return sorted(items.values(), key=lambda item: (item.due_at, item.reminder.id))


def _send_digest(run: DigestRun, held_until: datetime, user: User, now: datetime,
                 local_now: datetime, mailer: Mailer,
                 clock: Callable[[], datetime], in_hand: InHand) -> tuple[int, bool]:
    """Send one user's digest on the run's SMTP session, if this worker still holds its
    claim: (1 if sent else 0, whether the server is down or hanging)."""
    from crm.reminders.schedule import occurrence_utc

    start_of_day = occurrence_utc(local_now.date(), datetime.min.time(), user.time_zone)
    end_of_day = occurrence_utc(local_now.date() + timedelta(days=1), datetime.min.time(),
                                user.time_zone)
    items = _digest_items(user, start_of_day, end_of_day, now)
    if not items:
        run.status = DeliveryStatus.SENT
        run.last_error = "nothing due"
        run.sent_at = now
        _release(run)
        db.session.commit()
        return 0, False
    # Due earlier today is due today, delivered or not; overdue is from an earlier day.
    # Today's come first; overdue ones follow, the most recently due first and no more than
    # DIGEST_OVERDUE_SHOWN of them (600 of them made a 195 KB email that Gmail clipped
    # before today's), the rest counted and left to the reminders page.
    overdue = [item for item in reversed(items) if item.due_at < start_of_day]
    due_today = [item for item in items if item.due_at >= start_of_day]
    base = current_app.config["BASE_URL"].rstrip("/")
    try:
        message = _digest_message(run, user, local_now, due_today, overdue, base)
    except SQLAlchemyError:
        raise  # the database, not the digest: the pass fails, and the next takes it up
    except Exception as exc:  # as for any email (_built): it would be built the same way again
        log.exception("digest %s cannot be built", run.id)
        run.status = DeliveryStatus.FAILED
        run.attempts += 1
        run.last_error = f"the email cannot be built: {exc}"[:1000]
        run.next_attempt_at = None
        _release(run)
        db.session.commit()
        return 0, False
    # No transaction while SMTP talks: on SQLite a worker's transaction holds the write lock,
    # and web writes would fail with "database is locked" while a server is slow.
    db.session.commit()
    # The pass read its users once, minutes ago perhaps: read again (the renewal below ends
    # the transaction before SMTP talks).
    unwanted = _digest_not_wanted(user)
    if unwanted is not None:
        run.status = DeliveryStatus.SKIPPED
        run.last_error = unwanted
        run.next_attempt_at = None
        _release(run)
        db.session.commit()
        return 0, False
    # A claim that lapsed may have been reaped and given to another worker, which sends it.
    if not _renew_digest_claim(run, held_until, clock, in_hand):
        log.warning("digest %s not sent: its claim lapsed before it could go", run.id)
        return 0, False
    try:
        mailer.send(message)
    except MailError as exc:
        _record_failure(run, str(exc), now)
        db.session.commit()
        return 0, isinstance(exc, MailServerError)
    run.status = DeliveryStatus.SENT
    run.sent_at = now
    run.attempts += 1
    _release(run)
    db.session.commit()
    return 1, False


def _digest_not_wanted(user: User) -> str | None:
    """Why a digest the pass chose is not sent after all, or None: the user read again
    (_digest_refusal), as the pass read its users minutes ago perhaps."""
    return db.session.scalar(select(_digest_refusal()).where(User.id == user.id))


def _digest_message(run: DigestRun, user: User, local_now: datetime, due_today, overdue,
                    base: str) -> EmailMessage:
    with current_app.test_request_context(base_url=base):
        return build_message(
            to=user.email,
            subject=f"Rapport: {len(due_today)} due today, {len(overdue)} overdue",
            template="digest",
            message_id=run.message_id,
            user=user,
            due_today=due_today,
            overdue=overdue[:DIGEST_OVERDUE_SHOWN],
            overdue_count=len(overdue),
            local_date=local_now.date(),
            **_account_links(user),
            contact_url=lambda r: url_for("contacts.show", contact_id=r.contact_id,
                                          _external=True),
        )


def _release(run: DigestRun) -> None:
    """The digest is settled (sent, or waiting for a retry): no worker holds it."""
    run.claimed_by = None
    run.claim_expires_at = None


# -- housekeeping -----------------------------------------------------------------


def reap_stale_claims(now: datetime) -> int:
    """Give back claims whose lease ran out (a worker died mid-batch)."""
    reminders = db.session.execute(
        update(Reminder)
        .where(Reminder.status == ReminderStatus.CLAIMED, Reminder.claim_expires_at < now)
        .values(status=ReminderStatus.PENDING, claimed_by=None, claim_expires_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    emails = sum(db.session.execute(
        update(model)
        .where(model.status == DeliveryStatus.SENDING, model.claim_expires_at < now)
        .values(status=DeliveryStatus.PENDING, claimed_by=None, claim_expires_at=None,
                next_attempt_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount or 0 for model in (Delivery, AccountEmail))
    # A retry is claimed long after the row was created: its own claim decides, never
    # created_at (rows claimed before claim_expires_at existed fall back to it).
    stale_digest = now - timedelta(seconds=_cfg("REMINDER_LEASE_SECONDS"))
    digests = db.session.execute(
        update(DigestRun)
        .where(DigestRun.status == DeliveryStatus.SENDING, DigestRun.sent_at.is_(None),
               or_(DigestRun.claim_expires_at < now,
                   and_(DigestRun.claim_expires_at.is_(None),
                        DigestRun.created_at < stale_digest)))
        .values(status=DeliveryStatus.PENDING, claimed_by=None, claim_expires_at=None,
                next_attempt_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if digests:
        _skip_digests_not_wanted(DigestRun.next_attempt_at == now)
    db.session.commit()
    return (reminders or 0) + emails + (digests or 0)


def delete_expired_idempotency_keys(now: datetime) -> int:
    """Delete the API's idempotency keys that expired (crm.api.idempotency): past their
    time they are ignored already, and would only take room."""
    from crm.api.idempotency import delete_expired

    deleted = delete_expired(now)
    db.session.commit()
    return deleted


def sweep_keep_in_touch(now: datetime) -> int:
    """Settle every contact's keep-in-touch reminder with its cadence."""
    from crm.reminders.services import sync_keep_in_touch

    changed = 0
    for owner_id in list(db.session.scalars(select(User.id).order_by(User.id))):
        changed += sync_keep_in_touch(owner_id)
        db.session.commit()
    return changed


def figures_refresh_enabled(config) -> bool:
    """FIGURES_REFRESH_SECONDS=0 leaves refreshing figures to other workers."""
    return float(config["FIGURES_REFRESH_SECONDS"]) > 0


def refresh_figures(now: datetime) -> int:
    """Bring stored network figures up to date after changes (crm.insights.cache)."""
    from crm.insights.cache import refresh_stale

    if not figures_refresh_enabled(current_app.config):
        return 0
    return refresh_stale(now, limit=_cfg("FIGURES_REFRESH_BATCH"))


def heartbeat(now: datetime, worker_id: str) -> None:
    """Record that this worker is alive."""
    beat = db.session.get(WorkerHeartbeat, worker_id)
    if beat is None:
        db.session.add(WorkerHeartbeat(worker_id=worker_id, hostname=socket.gethostname(),
                                       pid=os.getpid(), started_at=now, beat_at=now))
    else:
        beat.beat_at = now
    db.session.commit()


def check_database(now: datetime, worker_id: str) -> None:
    """Fail at once, with the database's own error, when it is unreachable or its schema is
    missing or older than this code: a heartbeat, and a row read from each table the
    delivery jobs use. A running worker's jobs only log their failures."""
    heartbeat(now, worker_id)
    for model in (User, Reminder, Delivery, DigestRun, AccountEmail):
        db.session.execute(select(model).limit(1)).all()
    db.session.rollback()


def run_all_once(now: datetime, worker_id: str) -> dict[str, int]:
    """Every job once, in a sensible order (used by `crm worker --once` and tests)."""
    heartbeat(now, worker_id)
    reaped = reap_stale_claims(now)
    expired_keys = delete_expired_idempotency_keys(now)
    swept = sweep_keep_in_touch(now)
    delivered = deliver_due(now, worker_id)
    account_emails = send_account_emails(now, worker_id)
    digests = send_digests(now, worker_id)
    figures = refresh_figures(now)
    return {"reaped": reaped, "swept": swept, "delivered": delivered,
            "account emails": account_emails, "digests": digests, "figures": figures,
            "expired idempotency keys": expired_keys}
