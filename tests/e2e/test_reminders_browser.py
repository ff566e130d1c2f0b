"""In a real browser: a follow-up set while logging an interaction reaches the inbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from crm.extensions import db
from crm.jobs import tasks
from crm.models import Delivery, Reminder, utcnow
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.e2e


def register(page, base: str) -> None:
    page.goto(base + "/register")
    page.get_by_label("Your name").fill("Katherine Johnson")
    page.get_by_label("Email").fill("katherine@example.com")
    page.get_by_label("Password", exact=True).fill("orbital mechanics")
    page.get_by_label("Repeat password").fill("orbital mechanics")
    page.get_by_label("Time zone").select_option("America/New_York")
    page.get_by_role("button", name="Create account").click()


def test_follow_up_set_when_logging_arrives_in_the_inbox(live_server, page):
    base, app = live_server
    register(page, base)
    page.goto(base + "/contacts/new")
    page.get_by_label("Name").fill("Dorothy Vaughan")
    page.get_by_role("button", name="Add contact").click()

    page.get_by_role("link", name="Log interaction", exact=True).first.click()
    page.get_by_label("Medium", exact=True).select_option(label="Skype")
    page.get_by_label("Summary").fill("Talked about FORTRAN")
    page.get_by_label("Follow up in (days)").fill("2")
    page.get_by_role("button", name="Log interaction").click()
    expect(page.get_by_text("Skype interaction logged. Follow-up set for")).to_be_visible()
    expect(page.locator("#reminders")).to_contain_text("Follow up with Dorothy Vaughan")
    expect(page.get_by_role("link", name="Inbox")).not_to_contain_text("1")

    with app.app_context():
        reminder = db.session.query(Reminder).one()
        assert reminder.local_time.hour == 9 and reminder.time_zone == "America/New_York"
        # One delivery pass, as the worker would run it once the follow-up is due.
        delivered = tasks.deliver_due(reminder.due_at + timedelta(seconds=5), "e2e-worker")
        tasks.heartbeat(utcnow(), "e2e-worker")
        assert delivered == 1
        assert db.session.query(Delivery).count() == 1

    page.reload()
    inbox = page.get_by_role("link", name="Inbox")
    expect(inbox).to_contain_text("1")
    expect(page.get_by_text("Reminders are paused")).to_have_count(0)
    inbox.click()
    expect(page.locator(".notifications li").first).to_contain_text("Follow up with Dorothy Vaughan")
    screenshot(page, "notifications")
    page.get_by_role("link", name="Open Dorothy Vaughan").click()
    expect(page.get_by_role("heading", name="Dorothy Vaughan", level=1)).to_be_visible()

    page.goto(base + "/reminders")
    screenshot(page, "reminders")
    page.get_by_role("link", name="Done… Follow up with Dorothy Vaughan").click()
    page.get_by_label("Log it as").select_option(label="Phone")
    page.get_by_role("button", name="Mark done").click()
    expect(page.get_by_text("Done. Interaction logged.")).to_be_visible()
    page.goto(base + "/reminders/history")
    expect(page.locator("main")).to_contain_text("Follow up with Dorothy Vaughan")
