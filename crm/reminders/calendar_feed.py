"""The calendar feed (RFC 5545): every open reminder as an event with an alarm; a
repeating one as a repeating event from its next occurrence."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm.extensions import db
from crm.models import User, utcnow
from crm.models.reminder import OPEN_STATUSES, Recurrence, Reminder
from crm.timezones import to_local

EVENT_LENGTH = timedelta(minutes=15)


def render(user: User, *, base_url: str) -> bytes:
    """The user's feed as iCalendar bytes."""
    cal = Calendar()
    cal.add("prodid", "-//Rapport//Reminders//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "Rapport reminders")
    cal.add("x-wr-timezone", user.time_zone)
    reminders = db.session.scalars(
        select(Reminder)
        .where(Reminder.owner_id == user.id, Reminder.status.in_(OPEN_STATUSES))
        .order_by(Reminder.due_at, Reminder.id)
        .options(selectinload(Reminder.contact))
    )
    stamp = utcnow()
    host = base_url.split("://", 1)[-1].split("/")[0] or "rapport"
    for reminder in reminders:
        event = Event()
        event.add("uid", f"reminder-{reminder.id}@{host}")
        event.add("dtstamp", stamp)
        start = _local_start(reminder)
        event.add("dtstart", start)
        event.add("dtend", start + EVENT_LENGTH)
        rule = repeat_rule(reminder)
        if rule is not None:
            event.add("rrule", rule)
        event.add("summary", reminder.title)
        description = reminder.notes or ""
        if reminder.contact is not None:
            url = f"{base_url}/contacts/{reminder.contact_id}"
            event.add("url", url)
            description = (description + "\n\n" if description else "") + url
        if description:
            event.add("description", description)
        event.add("status", "CONFIRMED")
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", reminder.title)
        alarm.add("trigger", timedelta(0))
        event.add_component(alarm)
        cal.add_component(event)
    cal.add_missing_timezones()  # a VTIMEZONE for each zone a repeating event names
    return cal.to_ical()


def _local_start(reminder: Reminder) -> datetime:
    """A one-off's instant (UTC); a repeating reminder's next occurrence at its wall time in
    its zone, which its RRULE repeats in that zone, across daylight-saving changes."""
    if reminder.recurrence == Recurrence.NONE or reminder.local_time is None:
        return reminder.due_at
    day = to_local(reminder.due_at, reminder.time_zone).date()
    return datetime.combine(day, reminder.local_time, tzinfo=ZoneInfo(reminder.time_zone))


def repeat_rule(reminder: Reminder) -> dict | None:
    """The RRULE of a repeating reminder, as Rapport steps it (crm.reminders.schedule): a
    monthly one on the 29th to 31st falls on a shorter month's last day, a yearly one on
    29 February on the 28th in other years."""
    if reminder.recurrence == Recurrence.NONE or reminder.local_time is None:
        return None
    anchor = reminder.anchor_date or to_local(reminder.due_at, reminder.time_zone).date()
    if reminder.recurrence == Recurrence.DAILY:
        return {"freq": "daily"}
    if reminder.recurrence == Recurrence.WEEKLY:
        return {"freq": "weekly"}
    if reminder.recurrence == Recurrence.MONTHLY:
        if anchor.day <= 28:
            return {"freq": "monthly", "bymonthday": anchor.day}
        return {"freq": "monthly", "bymonthday": list(range(28, anchor.day + 1)),
                "bysetpos": -1}
    if (anchor.month, anchor.day) == (2, 29):
        return {"freq": "yearly", "bymonth": 2, "bymonthday": [28, 29], "bysetpos": -1}
    return {"freq": "yearly", "bymonth": anchor.month, "bymonthday": anchor.day}
