"""Reminder writes and queries for the web. The worker delivers; this module only
inserts, updates or cancels rows."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flask import abort
from sqlalchemy import Select, bindparam, case, func, select, true, update
from sqlalchemy.orm import selectinload

from crm.database import lock_user, off_index, writing_request
from crm.extensions import db
from crm.models import Contact, Interaction, Tag, User, contact_tags, utcnow
from crm.models.reminder import (
    OPEN_STATUSES,
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
from crm.reminders.schedule import DEFAULT_LOCAL_TIME, next_occurrence, occurrence_utc
from crm.timezones import local_to_utc, to_local, wall_minute

ENDED_STATUSES = (ReminderStatus.DONE, ReminderStatus.DISMISSED, ReminderStatus.CANCELLED)


class ReminderStateError(Exception):
    """The action does not apply to the reminder in its current state."""


class ReminderMovedError(ReminderStateError):
    """A notification or email is about a time the one-off reminder has left (edited or
    snoozed since): acting on it would act on the reminder's new time."""


@dataclass
class ReminderData:
    """A reminder as a form submits it: local date and time in the user's zone."""

    title: str
    local_date: date
    local_time: time = DEFAULT_LOCAL_TIME
    recurrence: Recurrence = Recurrence.NONE
    notes: str = ""
    contact: Contact | None = None


# -- scoping ---------------------------------------------------------------


def reminders_for(user: User) -> Select:
    """The scoping query: every reminder this user owns."""
    return select(Reminder).where(Reminder.owner_id == user.id)


def get_reminder_or_404(user: User, reminder_id: int) -> Reminder:
    """One of the user's reminders, or 404."""
    reminder = db.session.scalar(reminders_for(user).where(Reminder.id == reminder_id))
    if reminder is None:
        abort(404)
    return reminder


# -- creating and editing ----------------------------------------------------


def create_reminder(
    user: User,
    data: ReminderData,
    *,
    kind: ReminderKind = ReminderKind.CUSTOM,
    interaction_id: int | None = None,
) -> Reminder:
    """Schedule a reminder at a local wall time in the user's zone."""
    reminder = Reminder(
        owner_id=user.id,
        contact_id=data.contact.id if data.contact else None,
        interaction_id=interaction_id,
        kind=kind,
        title=data.title,
        notes=data.notes,
        status=ReminderStatus.PENDING,
        due_at=occurrence_utc(data.local_date, data.local_time, user.time_zone, utcnow()),
        local_time=data.local_time,
        time_zone=user.time_zone,
        recurrence=data.recurrence,
        anchor_date=data.local_date,
    )
    db.session.add(reminder)
    db.session.flush()
    return reminder


def default_local_date(user: User, now: datetime | None = None) -> date:
    """The date a new reminder starts on: the next 09:00 still ahead in the user's zone
    (today before nine, else tomorrow)."""
    local = wall_minute(now or utcnow(), user.time_zone)
    if local.time() < DEFAULT_LOCAL_TIME:
        return local.date()
    return local.date() + timedelta(days=1)


def follow_up_title(contact: Contact) -> str:
    """The default title of a follow-up with a contact."""
    return f"Follow up with {contact.name}"


KEEP_IN_TOUCH_NOT_EDITED = (
    "a keep-in-touch reminder follows the contact's cadence: change the cadence on the "
    "contact, or snooze the reminder")


def update_reminder(user: User, reminder: Reminder, data: ReminderData) -> bool:
    """Change an open reminder's text and time; given a new time, a delivered one becomes
    pending again. The edit form shows the current occurrence: when its date, time and
    repetition come back unchanged, only the text changes, so a series keeps its anchor
    (the 31st, 29 February, 02:30 on a day that skips it) and nothing is delivered twice.
    Whether it moved (a new time or repetition)."""
    if not reminder.is_open:
        raise ReminderStateError("an ended reminder cannot be edited")
    if reminder.kind == ReminderKind.KEEP_IN_TOUCH:
        raise ReminderStateError(KEEP_IN_TOUCH_NOT_EDITED)
    if reminder.status == ReminderStatus.CLAIMED:
        raise ReminderStateError("the reminder is being delivered right now; try again")
    reminder.title = data.title
    reminder.notes = data.notes
    reminder.contact_id = data.contact.id if data.contact else None
    shown = wall_minute(reminder.due_at, user.time_zone)
    if (data.recurrence, data.local_date, data.local_time) == (
            reminder.recurrence, shown.date(), shown.time()):
        db.session.flush()
        return False
    if (data.recurrence, data.local_date) != (reminder.recurrence, shown.date()):
        # A new day starts the series anew; a new time of day alone keeps its anchor (the
        # 31st, shown as 28 February this month, stays the 31st in March).
        reminder.anchor_date = data.local_date
    reminder.local_time = data.local_time
    reminder.time_zone = user.time_zone
    reminder.recurrence = data.recurrence
    reminder.due_at = occurrence_utc(data.local_date, data.local_time, user.time_zone, utcnow())
    # Its notifications and emails are about the time it had: nothing to read or act on.
    _mark_notifications_read([reminder.id], utcnow())
    _skip_waiting_emails(reminder.id, "not sent: the reminder was moved")
    _reset_for_new_occurrence(reminder)
    db.session.flush()
    return True


def follow_time_zone(user: User) -> int:
    """After the user changed time zone: their pending reminders fall due at the same local
    wall time in the new zone (09:00 stays 09:00), repeating ones from then on. Keep-in-touch
    reminders are left alone (they count days from an interaction, not a wall time), and so
    are claimed ones (being delivered now) and delivered ones (history). How many moved."""
    moved = 0
    for reminder in db.session.scalars(
        select(Reminder).where(
            Reminder.owner_id == user.id,
            Reminder.status == ReminderStatus.PENDING,
            Reminder.kind != ReminderKind.KEEP_IN_TOUCH,
            Reminder.time_zone != user.time_zone,
        )
    ):
        local = to_local(reminder.due_at, reminder.time_zone)
        wall = reminder.local_time or local.time().replace(tzinfo=None)
        reminder.due_at = occurrence_utc(local.date(), wall, user.time_zone)
        reminder.time_zone = user.time_zone
        moved += 1
    db.session.flush()
    return moved


def _reset_for_new_occurrence(reminder: Reminder) -> None:
    reminder.status = ReminderStatus.PENDING
    reminder.delivered_at = None
    reminder.overdue_since = None
    reminder.missed_occurrences = 0
    reminder.claimed_by = None
    reminder.claim_expires_at = None


# -- acting on a reminder ----------------------------------------------------


def mark_done(reminder: Reminder, *, occurrence: datetime | None = None,
              now: datetime | None = None) -> None:
    """Done with an occurrence: a one-off ends. Of a recurring series, an occurrence already
    delivered (before the current due time) is acknowledged; the upcoming one is done ahead
    of time, so the series moves on to the one after it instead of delivering it. Without
    an occurrence, Done is about a delivered one while its notification is unread, else
    about the upcoming one. A one-off moved since that occurrence is refused."""
    _ensure_actionable(reminder, occurrence)
    now = now or utcnow()
    unread = _mark_notifications_read([reminder.id], now)
    if reminder.recurrence != Recurrence.NONE:
        upcoming = not unread if occurrence is None else occurrence >= reminder.due_at
        if not upcoming:  # a delivered occurrence acknowledged: its email retry is not sent
            _skip_waiting_emails(reminder.id, "not sent: the reminder was marked done",
                                 occurrence=occurrence, before=reminder.due_at)
        if upcoming and reminder.local_time is not None:
            reminder.due_at, _ = next_occurrence(
                reminder.due_at, recurrence=reminder.recurrence,
                local_time=reminder.local_time, tz_name=reminder.time_zone,
                anchor=reminder.anchor_date, after=reminder.due_at)
            db.session.flush()
        return
    reminder.status = ReminderStatus.DONE
    reminder.completed_at = now
    db.session.flush()
    _next_keep_in_touch(reminder)


def _skip_waiting_emails(reminder_id: int, reason: str, *, occurrence: datetime | None = None,
                         before: datetime | None = None) -> None:
    """Emails still waiting to be sent (a retry after a failure) about what the user has
    just acted on are not sent: marked skipped with the reason. One being sent right now
    (claimed) goes out."""
    conditions = [Delivery.reminder_id == reminder_id,
                  Delivery.channel == DeliveryChannel.EMAIL,
                  Delivery.status == DeliveryStatus.PENDING]
    if occurrence is not None:
        conditions.append(Delivery.occurrence == occurrence)
    elif before is not None:
        conditions.append(Delivery.occurrence < before)
    db.session.execute(
        update(Delivery).where(*conditions)
        .values(status=DeliveryStatus.SKIPPED, last_error=reason, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )


def _next_keep_in_touch(reminder: Reminder) -> None:
    """A keep-in-touch reminder done or dismissed makes way for the next one, a cadence
    from now (the contact still has the cadence), at once rather than at the worker's next
    sweep."""
    if reminder.kind == ReminderKind.KEEP_IN_TOUCH and reminder.contact_id is not None:
        sync_keep_in_touch(reminder.owner_id, [reminder.contact_id])


def dismiss(reminder: Reminder, *, now: datetime | None = None) -> None:
    """Dismiss: the reminder ends without being done (a recurring series stops)."""
    _ensure_actionable(reminder)
    now = now or utcnow()
    _mark_notifications_read([reminder.id], now)
    reminder.status = ReminderStatus.DISMISSED
    reminder.completed_at = now
    db.session.flush()
    _next_keep_in_touch(reminder)


def snooze(reminder: Reminder, until: datetime, *, occurrence: datetime | None = None,
           now: datetime | None = None) -> None:
    """Move a one-off reminder to a later time; it will be delivered again then. Asked from
    the notification of an occurrence the reminder has left since, it is refused."""
    _ensure_actionable(reminder, occurrence)
    now = now or utcnow()
    if until <= now:
        raise ReminderStateError("snooze to a time in the future")
    if reminder.recurrence != Recurrence.NONE:
        raise ReminderStateError("a recurring reminder is edited, not snoozed")
    _mark_notifications_read([reminder.id], now)
    reminder.due_at = until
    reminder.snoozed_count = (reminder.snoozed_count or 0) + 1
    # The new time is a wall time in the owner's zone now, as for an edit. Left in a zone
    # the owner has since left (a delivered reminder is not moved by a zone change),
    # follow_time_zone would take it as in that zone and move it to the wrong wall time.
    owner = db.session.get(User, reminder.owner_id)  # usually loaded already: no query
    if owner is not None:
        reminder.time_zone = owner.time_zone
    local = to_local(until, reminder.time_zone)
    reminder.local_time = local.time().replace(second=0, microsecond=0)
    reminder.anchor_date = local.date()
    _reset_for_new_occurrence(reminder)
    db.session.flush()


def snooze_choices(user: User, now: datetime | None = None) -> dict[str, datetime]:
    """Tomorrow and next week at 09:00 in the user's zone."""
    now = now or utcnow()
    today = to_local(now, user.time_zone).date()
    return {
        "tomorrow": occurrence_utc(today + timedelta(days=1), DEFAULT_LOCAL_TIME, user.time_zone),
        "next_week": occurrence_utc(today + timedelta(days=7), DEFAULT_LOCAL_TIME, user.time_zone),
    }


def _ensure_actionable(reminder: Reminder, occurrence: datetime | None = None) -> None:
    if not reminder.is_open:
        raise ReminderStateError("this reminder has already ended")
    if reminder.status == ReminderStatus.CLAIMED:
        raise ReminderStateError("the reminder is being delivered right now; try again")
    if occurrence is not None and reminder.has_left(occurrence):
        raise ReminderMovedError("this reminder was moved after that notification")


def _mark_notifications_read(reminder_ids: list[int], now: datetime) -> int:
    """Mark the reminders' unread in-app notifications read; how many there were."""
    return db.session.execute(
        update(Delivery)
        .where(
            Delivery.reminder_id.in_(reminder_ids),
            Delivery.channel == DeliveryChannel.IN_APP,
            Delivery.read_at.is_(None),
        )
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount


# -- keep in touch -----------------------------------------------------------


def effective_cadence(contact: Contact, tag_cadences: dict[int, int]) -> int | None:
    """The contact's own cadence, else the shortest default of its tags."""
    if contact.keep_in_touch_days:
        return contact.keep_in_touch_days
    days = [tag_cadences[t.id] for t in contact.tags if t.id in tag_cadences]
    return min(days) if days else None


def cadence_due(start: datetime, cadence: int, zone_name: str | None) -> datetime:
    """When a keep-in-touch cadence counted from start falls due: `cadence` days on in the
    owner's zone, at the same wall time (24-hour days in UTC would put it an hour off after
    a clock change, and on another day near midnight)."""
    wall = to_local(start, zone_name).replace(tzinfo=None)
    return local_to_utc(wall + timedelta(days=cadence), zone_name)


def keep_in_touch_due_from(start: datetime, cadence: int, zone_name: str | None, *,
                           ended_at: datetime | None = None,
                           snoozed_until: datetime | None = None) -> datetime:
    """The keep-in-touch rule, the one place it is written: a cadence after start (the last
    interaction, else when the contact was added); a reminder the user ended (done or
    dismissed) at ended_at starts the next cycle from then unless start is later; one they
    snoozed waits at least until snoozed_until. The owner's reminders and a coach's view of
    them (counted from shared interactions only) both use it, so they cannot drift apart."""
    due = cadence_due(start, cadence, zone_name)
    if ended_at is not None:
        if ended_at.tzinfo is None:  # func.max loses the column type on some backends
            ended_at = ended_at.replace(tzinfo=UTC)
        due = max(due, cadence_due(ended_at, cadence, zone_name))
    if snoozed_until is not None:
        due = max(due, snoozed_until)
    return due


@functools.cache
def _keep_in_touch_reads(sweep: bool) -> tuple[Select, Select, Select, Select]:
    """sync_keep_in_touch's four reads, for the parameters owner_id and, unless sweeping
    every contact, ids: the contacts with their tags, the tags' cadences, and the contacts'
    open and ended keep-in-touch reminders. Built once per process, as every logged
    interaction runs them (see crm.database.user_by_id)."""
    owner = bindparam("owner_id")
    contacts = select(Contact).where(Contact.owner_id == owner).options(
        selectinload(Contact.tags))
    # The reminders of these contacts: all the owner's when sweeping them all (an IN list
    # of every contact would pass PostgreSQL's 65,535 parameters at a very large network).
    of_these = true()
    if not sweep:
        contacts = contacts.where(Contact.id.in_(bindparam("ids", expanding=True)))
        of_these = Reminder.contact_id.in_(bindparam("ids", expanding=True))
    cadences = select(Tag.id, Tag.keep_in_touch_days).where(
        Tag.owner_id == owner, Tag.keep_in_touch_days.is_not(None))
    open_reminders = select(Reminder).where(
        Reminder.owner_id == owner,
        Reminder.kind == ReminderKind.KEEP_IN_TOUCH,
        Reminder.status.in_(OPEN_STATUSES),
        of_these,
    )
    # A keep-in-touch reminder the user ended (done or dismissed) starts the next cycle
    # from that moment, unless an interaction since then is later still.
    ended = (
        select(Reminder.contact_id, func.max(Reminder.completed_at))
        .where(
            Reminder.owner_id == owner,
            Reminder.kind == ReminderKind.KEEP_IN_TOUCH,
            Reminder.status.in_((ReminderStatus.DONE, ReminderStatus.DISMISSED)),
            of_these,
        )
        .group_by(Reminder.contact_id)
    )
    return contacts, cadences, open_reminders, ended


def sync_keep_in_touch(owner_id: int, contact_ids=None) -> int:
    """Make each contact's keep-in-touch reminder match its cadence and last interaction.

    One open keep-in-touch reminder per contact at most. Returns how many rows changed.
    """
    params: dict = {"owner_id": owner_id}
    if contact_ids is not None:
        ids = list(set(contact_ids))
        if not ids:
            return 0
        params["ids"] = ids
    read_contacts, read_cadences, read_open, read_ended = _keep_in_touch_reads(
        contact_ids is None)
    contacts = list(db.session.scalars(read_contacts, params))
    if not contacts:
        return 0
    tag_cadences = dict(db.session.execute(read_cadences, params).all())
    open_reminders: dict[int, list[Reminder]] = {}
    for reminder in db.session.scalars(read_open, params):
        open_reminders.setdefault(reminder.contact_id, []).append(reminder)
    ended = dict(db.session.execute(read_ended, params).all())
    owner = db.session.get(User, owner_id)  # usually loaded already: no query
    owner_zone = (owner.time_zone if owner is not None else None) or "UTC"
    snoozes: dict[int, tuple[datetime, int, datetime | None]] | None = None  # when needed
    changed = 0
    ended_ids: list[int] = []  # their notifications are read: nothing left to act on
    for contact in contacts:
        cadence = None if contact.is_archived else effective_cadence(contact, tag_cadences)
        existing = sorted(open_reminders.get(contact.id, []), key=lambda r: r.id)
        snoozed = [r for r in existing if r.status == ReminderStatus.PENDING
                   and r.snoozed_count]
        if len(existing) > 1 and snoozed:
            # Several (a merge): the one snoozed latest is kept, whichever is oldest, even
            # when another was being delivered as they merged (see merge_contacts).
            latest = max(snoozed, key=lambda r: (r.due_at, r.id))
            existing = [latest] + [r for r in existing if r is not latest]
        if cadence is None:
            for reminder in existing:
                if reminder.status != ReminderStatus.CLAIMED:
                    reminder.status = ReminderStatus.CANCELLED
                    reminder.completed_at = utcnow()
                    ended_ids.append(reminder.id)
                    changed += 1
            continue
        start = contact.last_interaction_at or contact.created_at or utcnow()
        due = keep_in_touch_due_from(start, cadence, owner_zone, ended_at=ended.get(contact.id))
        keep = existing[0] if existing else None
        for extra in existing[1:]:
            if extra.status != ReminderStatus.CLAIMED:
                extra.status = ReminderStatus.CANCELLED
                extra.completed_at = utcnow()
                ended_ids.append(extra.id)
                changed += 1
        if keep is None:
            if snoozes is None:
                snoozes = _snoozes_set_aside(owner_id, true() if contact_ids is None
                                             else Reminder.contact_id.in_(ids))
            new = _new_keep_in_touch(owner_id, contact, cadence, due, owner_zone)
            set_aside = snoozes.get(contact.id)
            if set_aside is not None and _later(set_aside[2], ended.get(contact.id)):
                # Its cadence comes back (restored from the archive, given again): the
                # snooze the user chose for the last one still holds, unless they have
                # ended a keep-in-touch reminder since (it took the snooze over, or began
                # a new cycle).
                until, new.snoozed_count, _ = set_aside
                new.due_at = keep_in_touch_due_from(
                    start, cadence, owner_zone, ended_at=ended.get(contact.id),
                    snoozed_until=until)
            db.session.add(new)
            changed += 1
        elif keep.status == ReminderStatus.PENDING:
            if keep.snoozed_count:
                # Snoozed: it waits at least until the time the user chose.
                due = keep_in_touch_due_from(start, cadence, owner_zone,
                                             ended_at=ended.get(contact.id),
                                             snoozed_until=keep.due_at)
            if keep.due_at != due or keep.title != _kit_title(contact, cadence):
                keep.due_at = due
                keep.title = _kit_title(contact, cadence)
                changed += 1
        elif keep.status == ReminderStatus.DELIVERED:
            if _in_touch_since(contact, keep, due):
                # It is done, the next one waits. Done when they were in touch (a call
                # logged a day late counts from the call; stamped now, later syncs would
                # start the next cycle a day late).
                keep.status = ReminderStatus.DONE
                keep.completed_at = min(contact.last_interaction_at or utcnow(), utcnow())
                keep.ended_by_interaction = True  # not the user's act (a coach's view)
                ended_ids.append(keep.id)
                db.session.add(_new_keep_in_touch(owner_id, contact, cadence, due, owner_zone))
                changed += 2
            elif keep.title != _kit_title(contact, cadence):
                # A new cadence while it is out: the lapse it told of stands, told once. It
                # stays until the user acts on it, and the next cycle counts from then.
                keep.title = _kit_title(contact, cadence)
                changed += 1
        # A claimed reminder is the worker's for now; the next sweep settles it.
    if ended_ids:
        _mark_notifications_read(ended_ids, utcnow())
    db.session.flush()
    return changed


def _later(when: datetime | None, than: datetime | None) -> bool:
    """Whether `when` comes after `than` (None: never happened), whatever tzinfo a backend
    gives them."""
    if when is None or than is None:
        return than is None
    return when.replace(tzinfo=when.tzinfo or UTC) > than.replace(tzinfo=than.tzinfo or UTC)


def _snoozes_set_aside(owner_id: int, of_these
                       ) -> dict[int, tuple[datetime, int, datetime | None]]:
    """contact id -> (until, times snoozed, cancelled at) of each contact's latest snoozed
    keep-in-touch reminder that Rapport cancelled (archived, cadence taken away) before its
    snooze ran out."""
    found: dict[int, tuple[datetime, int, datetime | None]] = {}
    for contact_id, until, times, cancelled_at in db.session.execute(
        select(Reminder.contact_id, Reminder.due_at, Reminder.snoozed_count,
               Reminder.completed_at)
        .where(
            Reminder.owner_id == owner_id,
            Reminder.kind == ReminderKind.KEEP_IN_TOUCH,
            Reminder.status == ReminderStatus.CANCELLED,
            Reminder.snoozed_count > 0,
            Reminder.due_at > utcnow(),
            of_these,
        )
        .order_by(Reminder.completed_at, Reminder.id)
    ):
        found[contact_id] = (until, times, cancelled_at)  # the latest cancelled wins
    return found


def _in_touch_since(contact: Contact, reminder: Reminder, due: datetime) -> bool:
    """Whether the contact was in touch since a delivered keep-in-touch reminder's cycle
    began: an interaction at or after its due time, or one logged or corrected since it
    was delivered (a call from before it fired, logged late; a date put right) that moves
    the cycle past it. A longer cadence alone moves the due time too, and is no sign of
    being in touch."""
    last = contact.last_interaction_at
    if last is None or due <= reminder.due_at:
        return False
    if last >= reminder.due_at:
        return True
    if reminder.delivered_at is None or contact.last_interaction_id is None:
        return False
    written = db.session.execute(
        select(Interaction.created_at, Interaction.updated_at)
        .where(Interaction.id == contact.last_interaction_id)).first()
    return written is not None and max(w for w in written if w is not None) > \
        reminder.delivered_at


def _kit_title(contact: Contact, cadence: int) -> str:
    return f"Keep in touch with {contact.name} (every {cadence} days)"


def _new_keep_in_touch(owner_id, contact, cadence, due, zone) -> Reminder:
    return Reminder(
        owner_id=owner_id,
        contact_id=contact.id,
        kind=ReminderKind.KEEP_IN_TOUCH,
        title=_kit_title(contact, cadence),
        status=ReminderStatus.PENDING,
        due_at=due,
        time_zone=zone,
        recurrence=Recurrence.NONE,
    )


# -- reading -------------------------------------------------------------------


def _about(user: User, contact: Contact | None) -> Select:
    """The user's reminders about one contact, or every one of them (contact None)."""
    if contact is None:
        return reminders_for(user)
    # Through the contact's index, not (owner_id, status, due_at), which walks every open
    # reminder of the owner.
    return select(Reminder).where(
        Reminder.contact_id == contact.id, off_index(Reminder.owner_id) == user.id)


def open_reminders(user: User, *, contact: Contact, limit: int = 20) -> list[Reminder]:
    """A contact's open reminders, soonest first."""
    # The contact is loaded already, so each reminder.contact comes from the identity map.
    query = _about(user, contact).where(Reminder.status.in_(OPEN_STATUSES))
    return list(db.session.scalars(query.order_by(Reminder.due_at, Reminder.id).limit(limit)))


def open_reminders_page(user: User, *, page: int = 1, per_page: int = 25,
                        contact: Contact | None = None):
    """A page of the user's open reminders (about one contact, if given), soonest first
    (so what is due now leads), and how many of them all are due now (delivered, waiting
    for the user)."""
    open_ones = _about(user, contact).where(Reminder.status.in_(OPEN_STATUSES))
    # Both figures in one statement: the pagination's own count would be another.
    total, due_now = db.session.execute(open_ones.with_only_columns(
        func.count(), func.count(case((Reminder.status == ReminderStatus.DELIVERED, 1)))
    )).one()
    query = open_ones.order_by(Reminder.due_at, Reminder.id).options(
        selectinload(Reminder.contact))
    pagination = db.paginate(query, page=page, per_page=per_page, error_out=False, count=False)
    pagination.total = total
    return pagination, due_now


def reminder_history(user: User, *, page: int = 1, per_page: int = 25,
                     contact: Contact | None = None):
    """Ended reminders (about one contact, if given), most recent first."""
    query = (
        _about(user, contact)
        .where(Reminder.status.in_(ENDED_STATUSES))
        .order_by(Reminder.completed_at.desc(), Reminder.id.desc())
        .options(selectinload(Reminder.contact))
    )
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def email_problems(user: User, contact: Contact | None = None) -> list[Delivery | DigestRun]:
    """Reminder emails and daily digests that are being retried or have failed, newest
    first; about one contact, if given: their reminders' emails (a digest is about no one
    contact)."""
    troubled = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)
    query = (
        select(Delivery)
        .where(
            Delivery.user_id == user.id,
            Delivery.channel == DeliveryChannel.EMAIL,
            Delivery.attempts > 0,
            Delivery.status.in_(troubled),
        )
        .order_by(Delivery.created_at.desc())
        .limit(50)
        .options(selectinload(Delivery.reminder))
    )
    if contact is not None:
        query = query.join(Reminder, Reminder.id == Delivery.reminder_id).where(
            Reminder.contact_id == contact.id)
        return list(db.session.scalars(query))
    deliveries = db.session.scalars(query)
    digests = db.session.scalars(
        select(DigestRun)
        .where(DigestRun.user_id == user.id, DigestRun.attempts > 0,
               DigestRun.status.in_(troubled))
        .order_by(DigestRun.created_at.desc())
        .limit(50)
    )
    return sorted([*deliveries, *digests], key=lambda p: p.created_at, reverse=True)[:50]


def notifications(user: User, *, page: int = 1, per_page: int = 25):
    """The in-app inbox, newest first."""
    query = (
        select(Delivery)
        .where(Delivery.user_id == user.id, Delivery.channel == DeliveryChannel.IN_APP)
        .order_by(Delivery.created_at.desc(), Delivery.id.desc())
        .options(selectinload(Delivery.reminder).selectinload(Reminder.contact))
    )
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def unread_count_query(user_id) -> Select:
    """SELECT the number of in-app notifications the user has not read (user_id: an id or
    a bind parameter)."""
    return (
        select(func.count())
        .select_from(Delivery)
        .where(
            Delivery.user_id == user_id,
            Delivery.channel == DeliveryChannel.IN_APP,
            Delivery.read_at.is_(None),
        )
    )


def unread_count(user: User) -> int:
    """How many in-app notifications the user has not read."""
    return db.session.scalar(unread_count_query(user.id)) or 0


@functools.cache
def _layout_figures_statement() -> Select:
    # Built once per process: every page runs it (see crm.database.user_by_id).
    return select(
        unread_count_query(bindparam("user_id")).scalar_subquery(),
        select(func.max(WorkerHeartbeat.beat_at)).scalar_subquery(),
    )


def layout_figures(user: User) -> tuple[int, datetime | None]:
    """What every page's layout shows, in one round trip: the user's unread notifications
    and the latest beat of any reminder worker (None: no worker has run)."""
    unread, beat = db.session.execute(_layout_figures_statement(), {"user_id": user.id}).one()
    if beat is not None and beat.tzinfo is None:
        beat = beat.replace(tzinfo=UTC)
    return unread or 0, beat


def mark_all_read(user: User, now: datetime | None = None) -> int:
    """Mark every in-app notification read."""
    result = db.session.execute(
        update(Delivery)
        .where(
            Delivery.user_id == user.id,
            Delivery.channel == DeliveryChannel.IN_APP,
            Delivery.read_at.is_(None),
        )
        .values(read_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def tags_with_cadences(user: User) -> list[Tag]:
    """The user's tags, alphabetically, with their default cadences."""
    return sorted(db.session.scalars(select(Tag).where(Tag.owner_id == user.id)),
                  key=Tag.sort_key)


def set_tag_cadences(user: User, cadences: dict[int, int | None]) -> int:
    """Set default keep-in-touch days per tag id; resync the contacts that carry changed tags."""
    tags = {t.id: t for t in tags_with_cadences(user)}
    changed_tags = []
    for tag_id, days in cadences.items():
        tag = tags.get(tag_id)
        if tag is None:
            abort(404)
        if tag.keep_in_touch_days != days:
            tag.keep_in_touch_days = days
            changed_tags.append(tag_id)
    db.session.flush()
    if changed_tags:
        sync_keep_in_touch(user.id, contacts_tagged(changed_tags))
    return len(changed_tags)


def contacts_tagged(tag_ids) -> list[int]:
    """Ids of the contacts carrying any of these tags: those whose keep-in-touch reminder
    a change of the tags' cadences (a new default, a merge, a deletion) may move."""
    return list(db.session.scalars(
        select(contact_tags.c.contact_id).where(contact_tags.c.tag_id.in_(tag_ids)).distinct()))


def regenerate_calendar_token(user: User) -> str:
    """Give the user a new secret calendar-feed token; the old URL stops working."""
    user.calendar_token = secrets.token_urlsafe(32)
    db.session.flush()
    return user.calendar_token


# -- one-click unsubscribe ------------------------------------------------------------


def unsubscribing_user(data: dict | None) -> User | None:
    """The account a signed unsubscribe link names, while it still has the address the
    email went to (an account deleted, or an id reused, is nobody) and is not deactivated.
    A POST reads it under its row lock (crm.database.lock_user), so a deactivation that
    committed first is seen."""
    if not data or not isinstance(data.get("u"), int):
        return None
    user = lock_user(data["u"]) if writing_request() else db.session.get(User, data["u"])
    if user is None or user.email != data.get("e") or not user.is_active:
        return None
    return user


def stop_emails(user: User) -> bool:
    """Turn reminder emails and the digest off (as Settings does); False when already off."""
    from crm.auth.services import update_reminder_settings

    if not user.email_reminders:
        return False
    update_reminder_settings(user, email_mode="off", digest_hour=user.digest_hour)
    return True
