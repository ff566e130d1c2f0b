"""What screen readers and keyboards get from the pages' markup (found by the accessibility
audit); tests/e2e covers focus and the filter in a real browser."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from support import link

from crm.models import CoachLinkStatus


def _tag(body: str, pattern: str) -> str:
    found = re.search(pattern, body)
    assert found, pattern
    return found.group(0)


def test_every_hint_shown_is_read_with_its_field(client):
    """Hints given to the field macro (the password rule) were shown but not announced."""
    body = client.get("/register").get_data(as_text=True)
    password = _tag(body, r'<input[^>]*id="password"[^>]*>')
    assert 'aria-describedby="password-hint"' in password
    assert 'id="password-hint"' in body


def test_a_failed_form_opens_with_a_summary_that_links_each_error(client, logged_in):
    body = client.post("/contacts/new", data={"name": "", "keep_in_touch_days": "0"}
                       ).get_data(as_text=True)
    summary = _tag(body, r'<div class="form-error"[^>]*>')
    assert 'role="alert"' in summary and 'tabindex="-1"' in summary
    assert 'data-error-summary' in summary
    assert re.search(r'<a href="#name">Name: Give the contact a name\.</a>', body)
    assert re.search(r'<a href="#keep_in_touch_days">Keep in touch every \(days\): Enter a '
                     r'number of days from 1 to 3650, or leave it empty\.</a>', body)


def test_a_radio_group_error_is_tied_to_its_radios(client, logged_in, make_reminder):
    reminder = make_reminder(logged_in, due_at=datetime.now(UTC) + timedelta(days=1))
    until = f"snooze{reminder.id}-until"
    body = client.post(f"/reminders/{reminder.id}/snooze", data={until: "date"}
                       ).get_data(as_text=True)
    fieldset = _tag(body, r'<fieldset class="field has-error"[^>]*>')
    assert f'aria-describedby="{until}-error"' in fieldset
    assert re.search(rf'<span class="error" id="{until}-error">Choose the date to snooze '
                     r'until\.</span>', body)
    radios = re.findall(rf'<input[^>]*name="{until}"[^>]*>', body)
    assert len(radios) == 3 and all('aria-invalid="true"' in r for r in radios)
    assert f'<a href="#{until}-0">Snooze until: Choose the date' in body


def test_chart_tables_have_headers_and_heatmap_numbers_are_dark(
        client, logged_in, make_contact, make_interaction):
    for i in range(4):
        contact = make_contact(logged_in, name=f"Person {i}", origin_medium="twitter")
        make_interaction(logged_in, [contact], "phone", datetime(2026, 1, 5 + i, tzinfo=UTC))
    body = client.get("/").get_data(as_text=True)
    for table in re.findall(r'<table class="figures">.*?</table>', body, re.S):
        assert "<th" in table, table[:120]
    assert 'class="cell" fill="#fff"' not in body
    # A strength score is read as one: "strength 22 of 100", not a bare number.
    assert re.search(r'<span class="visually-hidden">strength </span>\d+<span '
                     r'class="visually-hidden"> of 100,</span>', body)
    opacities = [float(o) for o in re.findall(r'fill-opacity="([0-9.]+)"', body)]
    assert opacities and max(opacities) <= 0.70


def test_coaching_buttons_say_whom_they_act_on(app, client, logged_in, make_user):
    make_user(name="Carla Coach", email="carla@example.com")
    link(app, logged_in, None, status=CoachLinkStatus.INVITED)
    own = client.get("/coaching").get_data(as_text=True)
    assert 'Cancel invitation<span class="visually-hidden"> of later@example.com</span>' in own
    assert 'New invitation link<span class="visually-hidden"> for later@example.com</span>' in own
