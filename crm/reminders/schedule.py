"""Occurrence arithmetic in local wall time: never "add 24 hours in UTC"."""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta

from crm.models.reminder import Recurrence
from crm.timezones import local_to_utc, to_local

DEFAULT_LOCAL_TIME = time(9, 0)


def occurrence_utc(local_date: date, local_time: time, tz_name: str,
                   ahead_of: datetime | None = None) -> datetime:
    """The UTC instant of a wall time on a local date (gaps move forward, folds take the
    first, or the second when only it is ahead of ahead_of: see local_to_utc)."""
    return local_to_utc(datetime.combine(local_date, local_time), tz_name, ahead_of)


def _add_months(day: date, months: int, anchor_day: int) -> date:
    month_index = day.month - 1 + months
    year = day.year + month_index // 12
    month = month_index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(anchor_day, last))


def step(local_date: date, recurrence: Recurrence, anchor: date | None) -> date:
    """The local date of the occurrence after local_date."""
    anchor = anchor or local_date
    if recurrence == Recurrence.DAILY:
        return local_date + timedelta(days=1)
    if recurrence == Recurrence.WEEKLY:
        return local_date + timedelta(days=7)
    if recurrence == Recurrence.MONTHLY:
        return _add_months(local_date, 1, anchor.day)
    if recurrence == Recurrence.YEARLY:
        year = local_date.year + 1
        last = calendar.monthrange(year, anchor.month)[1]
        return date(year, anchor.month, min(anchor.day, last))
    raise ValueError("a one-off reminder has no next occurrence")


def next_occurrence(
    current_due: datetime,
    *,
    recurrence: Recurrence,
    local_time: time,
    tz_name: str,
    anchor: date | None,
    after: datetime,
    current_zone: str | None = None,
) -> tuple[datetime, int]:
    """The first occurrence after `after`, and how many occurrences were skipped to reach it.

    Steps from the current occurrence's local date, so a 09:00 reminder stays at 09:00
    across daylight-saving changes. That date is read in current_zone, the zone the
    current occurrence was set in, when the series moves on to another (tz_name): Monday
    09:00 in Sydney is Sunday in New York, and a weekly series would move to Sundays.
    """
    local_date = to_local(current_due, current_zone or tz_name).date()
    skipped = 0
    candidate = current_due
    while candidate <= after:
        local_date = step(local_date, recurrence, anchor)
        candidate = occurrence_utc(local_date, local_time, tz_name)
        if candidate <= after:
            skipped += 1
    return candidate, skipped
