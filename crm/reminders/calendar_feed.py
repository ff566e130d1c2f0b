"""The calendar feed (RFC 5545): every open reminder as an event with an alarm."""

from __future__ import annotations

from datetime import timedelta

from icalendar import Alarm, Calendar, Event
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm.extensions import db
from crm.models import User, utcnow
from crm.models.reminder import OPEN_STATUSES, Reminder

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
        event.add("dtstart", reminder.due_at)
        event.add("dtend", reminder.due_at + EVENT_LENGTH)
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
    return cal.to_ical()
