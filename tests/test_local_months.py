"""Figures by month count the owner's months: what happens on the morning of the 1st in
Auckland is that month's, not the previous one's (found by the time audit)."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine

from crm.insights.services import network_figures


def _log_then_figures(app, make_user, make_contact, make_interaction, zone, when):
    user = make_user(time_zone=zone)
    with time_machine.travel(when, tick=False):
        contact = make_contact(user, name="Added this morning")
        make_interaction(user, [contact], "phone", when)
    with app.app_context():
        return network_figures([user.id], now=when)[user.id]


def test_the_first_morning_of_a_month_in_auckland_is_that_month(
        app, make_user, make_contact, make_interaction, medium):
    # 1 February 2026, 08:00 in Auckland (NZDT, UTC+13): still 31 January in UTC.
    fig = _log_then_figures(app, make_user, make_contact, make_interaction,
                            "Pacific/Auckland", datetime(2026, 1, 31, 19, 0, tzinfo=UTC))
    assert list(fig.new_by_month)[-2:] == ["2026-01", "2026-02"]
    assert (fig.new_by_month["2026-02"], fig.new_by_month["2026-01"]) == (1, 0)
    assert fig.mix_by_month["2026-02"] == {medium("phone").id: 1}


def test_the_last_evening_of_a_month_in_los_angeles_is_that_month(
        app, make_user, make_contact, make_interaction, medium):
    # 31 January 2026, 20:00 in Los Angeles (PST, UTC-8): already 1 February in UTC.
    fig = _log_then_figures(app, make_user, make_contact, make_interaction,
                            "America/Los_Angeles", datetime(2026, 2, 1, 4, 0, tzinfo=UTC))
    assert list(fig.new_by_month)[-1] == "2026-01"
    assert fig.new_by_month["2026-01"] == 1
    assert fig.mix_by_month["2026-01"] == {medium("phone").id: 1}


def test_a_month_starts_at_local_midnight_across_a_clock_change(
        app, make_user, make_contact, make_interaction, medium):
    """London: 1 April 00:30 BST is 31 March 23:30 UTC; it belongs to April."""
    fig = _log_then_figures(app, make_user, make_contact, make_interaction,
                            "Europe/London", datetime(2026, 3, 31, 23, 30, tzinfo=UTC))
    assert fig.mix_by_month["2026-04"] == {medium("phone").id: 1}
    assert fig.mix_by_month["2026-03"] == {}


def test_changing_time_zone_recounts_the_months_on_the_next_view(
        app, client, auth, make_user, make_contact, make_interaction):
    when = datetime(2026, 1, 31, 19, 0, tzinfo=UTC)
    user = make_user(email="mover@example.com", time_zone="UTC")
    with time_machine.travel(when, tick=False):
        auth.login_as(user)
        make_interaction(user, [make_contact(user, name="Ann")], "phone", when)
        before = client.get("/").get_data(as_text=True)
        response = client.post("/settings", data={
            "action": "profile", "profile-name": "Mover",
            "profile-time_zone": "Pacific/Auckland"})
        assert response.status_code == 302
        after = client.get("/").get_data(as_text=True)
    # The months table under the chart: the call counts in February once in Auckland.
    assert "<tr><td>2026-01</td><td class=\"num\">1</td>" in before
    assert "<td>2026-02</td>" not in before
    assert "<tr><td>2026-02</td><td class=\"num\">1</td>" in after
