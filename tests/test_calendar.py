"""The calendar feed: a secret URL per user, one event with an alarm per open reminder."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import islice

import pytest
import time_machine
from icalendar import Calendar

from crm.extensions import db
from crm.jobs import tasks
from crm.models import User
from crm.models.reminder import ReminderStatus

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
BERLIN = "Europe/Berlin"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def user(client, auth, make_user):
    user = make_user(name="Ada Lovelace", email="ada@example.com", time_zone=BERLIN)
    auth.login_as(user)
    return user


def calendar_address(app, client, user) -> str:
    client.post("/settings", data={"action": "calendar"})
    with app.app_context():
        token = db.session.get(User, user.id).calendar_token
    assert token
    page = client.get("/settings").data.decode()
    url = f"http://localhost/calendar/{token}.ics"
    assert url in page  # the settings page shows the address to subscribe to
    return f"/calendar/{token}.ics"


def events(body: bytes) -> list:
    return [c for c in Calendar.from_ical(body).walk() if c.name == "VEVENT"]


def test_the_feed_has_one_event_with_an_alarm_per_open_reminder(
    app, client, user, make_user, make_contact, make_reminder
):
    grace = make_contact(user, name="Grace Hopper")
    upcoming = make_reminder(user, title="Call Grace", contact=grace, notes="About COBOL",
                             local_date=date(2025, 6, 5))
    fired = make_reminder(user, title="Fired one", due_at=NOW - timedelta(hours=1))
    with app.app_context():
        tasks.deliver_due(NOW, "worker-1")
    for status in (ReminderStatus.DONE, ReminderStatus.DISMISSED, ReminderStatus.CANCELLED):
        make_reminder(user, title=f"Ended {status.value}", local_date=date(2025, 6, 6),
                      status=status)
    make_reminder(make_user(), title="Someone else's", local_date=date(2025, 6, 5))
    address = calendar_address(app, client, user)
    client.post("/logout")  # calendar apps have no session: the token is the key

    response = client.get(address)

    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    found = {str(e["SUMMARY"]): e for e in events(response.data)}
    assert set(found) == {"Call Grace", "Fired one"}
    call = found["Call Grace"]
    assert call.decoded("DTSTART") == upcoming.due_at == datetime(2025, 6, 5, 7, 0, tzinfo=UTC)
    assert call.decoded("DTEND") - call.decoded("DTSTART") == timedelta(minutes=15)
    assert str(call["URL"]) == f"http://localhost/contacts/{grace.id}"
    assert "About COBOL" in str(call["DESCRIPTION"])
    assert found["Fired one"].decoded("DTSTART") == fired.due_at
    uids = {str(e["UID"]) for e in found.values()}
    assert len(uids) == 2
    for event in found.values():
        [alarm] = [c for c in event.subcomponents if c.name == "VALARM"]
        assert str(alarm["ACTION"]) == "DISPLAY"
        assert alarm.decoded("TRIGGER") == timedelta(0)


def test_a_wrong_token_is_404(app, client, user):
    address = calendar_address(app, client, user)
    token = address.removeprefix("/calendar/").removesuffix(".ics")

    assert client.get(f"/calendar/{token[:-1]}x.ics").status_code == 404
    assert client.get("/calendar/short.ics").status_code == 404
    assert client.get("/calendar/" + "a" * 43 + ".ics").status_code == 404
    assert client.get(address).status_code == 200


def test_a_deactivated_accounts_feed_is_404_until_it_is_activated(
        app, client, user, runner, make_reminder):
    make_reminder(user, title="Call Grace", notes="About COBOL", local_date=date(2025, 6, 5))
    address = calendar_address(app, client, user)
    assert client.get(address).status_code == 200

    assert runner.invoke(args=["users", "deactivate", user.email]).exit_code == 0
    gone = client.get(address)

    # As for an unknown address: the leaver's calendar subscription learns nothing.
    assert gone.status_code == 404
    assert b"Call Grace" not in gone.data and b"COBOL" not in gone.data

    assert runner.invoke(args=["users", "activate", user.email]).exit_code == 0
    [event] = events(client.get(address).data)
    assert str(event["SUMMARY"]) == "Call Grace"


def test_no_address_until_one_is_created(app, client, user):
    page = client.get("/settings").data.decode()

    assert "Create calendar address" in page
    assert "/calendar/" not in page
    with app.app_context():
        assert db.session.get(User, user.id).calendar_token is None


def test_regenerating_the_address_invalidates_the_old_one(app, client, user, make_reminder):
    make_reminder(user, title="Still here", local_date=date(2025, 6, 5))
    old = calendar_address(app, client, user)
    assert client.get(old).status_code == 200

    new = calendar_address(app, client, user)

    assert new != old
    assert client.get(old).status_code == 404
    [event] = events(client.get(new).data)
    assert str(event["SUMMARY"]) == "Still here"


@pytest.mark.parametrize(("recurrence", "local_day", "expected"), [
    ("daily", date(2025, 6, 3), [date(2025, 6, 3), date(2025, 6, 4), date(2025, 6, 5)]),
    ("weekly", date(2025, 6, 3), [date(2025, 6, 3), date(2025, 6, 10), date(2025, 6, 17)]),
    ("monthly", date(2025, 7, 31), [date(2025, 7, 31), date(2025, 8, 31), date(2025, 9, 30),
                                   date(2025, 10, 31), date(2025, 11, 30)]),
    ("yearly", date(2028, 2, 29), [date(2028, 2, 29), date(2029, 2, 28), date(2030, 2, 28),
                                  date(2031, 2, 28), date(2032, 2, 29)]),
])
def test_a_repeating_reminder_is_a_repeating_event_at_its_wall_time(
        app, client, user, make_reminder, recurrence, local_day, expected):
    """Found by the operations audit: a weekly reminder was one event, which jumped to the
    next week once delivered; a calendar never showed what came after."""
    from dateutil.rrule import rrulestr

    make_reminder(user, title="Repeating", local_date=local_day, recurrence=recurrence)
    make_reminder(user, title="Once", local_date=date(2025, 6, 5))
    address = calendar_address(app, client, user)

    body = client.get(address).data
    found = {str(e["SUMMARY"]): e for e in events(body)}
    repeating, once = found["Repeating"], found["Once"]
    start = repeating.decoded("DTSTART")
    assert (start.date(), start.hour, str(start.tzinfo)) == (local_day, 9, BERLIN)
    rule = repeating["RRULE"].to_ical().decode()
    occurrences = list(islice(rrulestr(rule, dtstart=start.replace(tzinfo=None)),
                              len(expected)))
    assert [d.date() for d in occurrences] == expected
    assert all(d.hour == 9 for d in occurrences)  # the wall time, summer or winter
    assert b"BEGIN:VTIMEZONE" in body and b"TZID:Europe/Berlin" in body
    assert "RRULE" not in once  # a one-off stays one event, at its instant
    assert once.decoded("DTSTART") == datetime(2025, 6, 5, 7, 0, tzinfo=UTC)
