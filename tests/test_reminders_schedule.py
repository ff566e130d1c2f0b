"""Occurrence arithmetic: recurring reminders keep their local wall time in the user's zone.

2025 changes: Europe/Berlin springs forward on 30 March (02:00 -> 03:00) and falls back on
26 October (03:00 -> 02:00); America/New_York springs forward on 9 March and falls back on
2 November (02:00 -> 01:00).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from crm.models.reminder import Recurrence
from crm.reminders.schedule import next_occurrence, occurrence_utc
from crm.timezones import to_local

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
NINE = time(9, 0)

# (zone, day before the change, change day, UTC hour of 09:00 before, after)
CHANGES = [
    pytest.param(BERLIN, date(2025, 3, 29), date(2025, 3, 30), 8, 7, id="berlin-spring"),
    pytest.param(BERLIN, date(2025, 10, 25), date(2025, 10, 26), 7, 8, id="berlin-autumn"),
    pytest.param(NEW_YORK, date(2025, 3, 8), date(2025, 3, 9), 14, 13, id="new-york-spring"),
    pytest.param(NEW_YORK, date(2025, 11, 1), date(2025, 11, 2), 13, 14, id="new-york-autumn"),
]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def series(start: datetime, recurrence: Recurrence, local_time: time, tz: str, anchor: date,
           count: int) -> list[datetime]:
    """The next `count` occurrences after start, each stepped from the one before."""
    out, current = [], start
    for _ in range(count):
        current, skipped = next_occurrence(current, recurrence=recurrence, local_time=local_time,
                                           tz_name=tz, anchor=anchor, after=current)
        assert skipped == 0
        out.append(current)
    return out


def local(value: datetime, tz: str) -> tuple[date, time]:
    wall = to_local(value, tz)
    return wall.date(), wall.time()


@pytest.mark.parametrize(("tz", "before", "change", "hour_before", "hour_after"), CHANGES)
def test_nine_oclock_is_nine_oclock_on_both_sides_of_the_change(tz, before, change,
                                                                hour_before, hour_after):
    assert occurrence_utc(before, NINE, tz) == utc(before.year, before.month, before.day,
                                                   hour_before)
    assert occurrence_utc(change, NINE, tz) == utc(change.year, change.month, change.day,
                                                   hour_after)


@pytest.mark.parametrize(("tz", "before", "change", "hour_before", "hour_after"), CHANGES)
def test_daily_reminder_steps_in_local_time_across_the_change(tz, before, change,
                                                              hour_before, hour_after):
    start = occurrence_utc(before, NINE, tz)

    following = series(start, Recurrence.DAILY, NINE, tz, before, 3)

    assert [local(o, tz) for o in following] == [
        (before + timedelta(days=n), NINE) for n in (1, 2, 3)
    ]
    # The UTC gap across the change is 23 or 25 hours, never a fixed 24.
    assert following[0] - start == timedelta(hours=24 + hour_after - hour_before)
    assert following[1] - following[0] == timedelta(hours=24)


@pytest.mark.parametrize(("tz", "before", "change", "hour_before", "hour_after"), CHANGES)
def test_weekly_reminder_steps_in_local_time_across_the_change(tz, before, change,
                                                               hour_before, hour_after):
    week_before = change - timedelta(days=7)
    start = occurrence_utc(week_before, NINE, tz)

    following = series(start, Recurrence.WEEKLY, NINE, tz, week_before, 2)

    assert [local(o, tz) for o in following] == [(change, NINE), (change + timedelta(7), NINE)]
    assert following[0] - start == timedelta(hours=7 * 24 + hour_after - hour_before)


@pytest.mark.parametrize(
    ("tz", "day", "expected_utc"),
    [
        pytest.param(BERLIN, date(2025, 3, 30), utc(2025, 3, 30, 1, 0), id="berlin"),
        pytest.param(NEW_YORK, date(2025, 3, 9), utc(2025, 3, 9, 7, 0), id="new-york"),
    ],
)
def test_a_time_skipped_by_spring_forward_moves_to_the_first_valid_minute(tz, day,
                                                                          expected_utc):
    due = occurrence_utc(day, time(2, 30), tz)

    assert due == expected_utc
    assert local(due, tz) == (day, time(3, 0))


def test_a_daily_0230_reminder_is_0300_on_the_gap_day_and_0230_again_after():
    start = occurrence_utc(date(2025, 3, 29), time(2, 30), BERLIN)

    following = series(start, Recurrence.DAILY, time(2, 30), BERLIN, date(2025, 3, 29), 3)

    assert [local(o, BERLIN) for o in following] == [
        (date(2025, 3, 30), time(3, 0)),
        (date(2025, 3, 31), time(2, 30)),
        (date(2025, 4, 1), time(2, 30)),
    ]


@pytest.mark.parametrize(
    ("tz", "day", "wall", "expected_utc"),
    [
        # 01:30 happens twice in New York on 2 November: first in EDT (UTC-4).
        pytest.param(NEW_YORK, date(2025, 11, 2), time(1, 30), utc(2025, 11, 2, 5, 30),
                     id="new-york"),
        # 02:30 happens twice in Berlin on 26 October: first in CEST (UTC+2).
        pytest.param(BERLIN, date(2025, 10, 26), time(2, 30), utc(2025, 10, 26, 0, 30),
                     id="berlin"),
    ],
)
def test_an_ambiguous_time_takes_its_first_occurrence(tz, day, wall, expected_utc):
    assert occurrence_utc(day, wall, tz) == expected_utc


def test_a_daily_0130_reminder_in_new_york_fires_once_on_the_fall_back_day():
    start = occurrence_utc(date(2025, 11, 1), time(1, 30), NEW_YORK)

    following = series(start, Recurrence.DAILY, time(1, 30), NEW_YORK, date(2025, 11, 1), 2)

    assert following == [utc(2025, 11, 2, 5, 30), utc(2025, 11, 3, 6, 30)]


def test_monthly_on_the_31st_clamps_to_the_last_day_and_returns_to_the_31st():
    anchor = date(2025, 1, 31)
    start = occurrence_utc(anchor, NINE, BERLIN)

    following = series(start, Recurrence.MONTHLY, NINE, BERLIN, anchor, 5)

    assert [local(o, BERLIN) for o in following] == [
        (date(2025, 2, 28), NINE),
        (date(2025, 3, 31), NINE),  # across the spring change, still 09:00
        (date(2025, 4, 30), NINE),
        (date(2025, 5, 31), NINE),
        (date(2025, 6, 30), NINE),
    ]


def test_monthly_on_the_31st_uses_the_29th_of_february_in_a_leap_year():
    anchor = date(2024, 1, 31)

    following = series(occurrence_utc(anchor, NINE, NEW_YORK), Recurrence.MONTHLY, NINE,
                       NEW_YORK, anchor, 2)

    assert [local(o, NEW_YORK)[0] for o in following] == [date(2024, 2, 29), date(2024, 3, 31)]


def test_yearly_on_29_february_is_28_february_in_common_years_and_29_in_leap_years():
    anchor = date(2024, 2, 29)

    following = series(occurrence_utc(anchor, NINE, BERLIN), Recurrence.YEARLY, NINE, BERLIN,
                       anchor, 4)

    assert [local(o, BERLIN) for o in following] == [
        (date(2025, 2, 28), NINE),
        (date(2026, 2, 28), NINE),
        (date(2027, 2, 28), NINE),
        (date(2028, 2, 29), NINE),
    ]


def test_next_occurrence_after_a_gap_skips_to_the_first_future_one_and_counts_the_missed():
    start = occurrence_utc(date(2025, 3, 28), NINE, BERLIN)
    # Three days later at 10:00 local: the 29th, 30th and 31st at 09:00 have passed.
    after = occurrence_utc(date(2025, 3, 31), time(10, 0), BERLIN)

    following, skipped = next_occurrence(start, recurrence=Recurrence.DAILY, local_time=NINE,
                                         tz_name=BERLIN, anchor=date(2025, 3, 28), after=after)

    assert local(following, BERLIN) == (date(2025, 4, 1), NINE)
    assert skipped == 3


def test_a_one_off_reminder_has_no_next_occurrence():
    start = occurrence_utc(date(2025, 3, 28), NINE, BERLIN)

    with pytest.raises(ValueError):
        next_occurrence(start, recurrence=Recurrence.NONE, local_time=NINE, tz_name=BERLIN,
                        anchor=None, after=start)
