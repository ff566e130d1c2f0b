"""In a real browser: a client shares their network with a coach, then takes it back."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from crm.contacts.services import ContactData, create_contact
from crm.extensions import db
from crm.interactions.services import InteractionData, log_interaction
from crm.mediums.services import mediums_for
from crm.models import Initiator, User, utcnow
from tests.e2e.conftest import VIEWPORTS, screenshot, watch

pytestmark = pytest.mark.e2e


def register(page, base, name, email):
    page.goto(base + "/register")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill("a long passphrase")
    page.get_by_label("Repeat password").fill("a long passphrase")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text(f"Welcome to Rapport, {name}.")).to_be_visible()


def seed_network(app, email):
    """A small network across mediums for the client, with an introduction."""
    with app.app_context():
        user = db.session.query(User).filter_by(email=email).one()
        by_name = {m.name: m for m in mediums_for(user)}
        people = {}
        for name, origin, intro in [("Ada Lovelace", "Twitter", None),
                                    ("Grace Hopper", "LinkedIn", "Ada Lovelace"),
                                    ("Alan Turing", "Face-to-face", "Ada Lovelace"),
                                    ("Pat Private", "Phone", None)]:
            people[name] = create_contact(user, ContactData(
                name=name, origin_medium=by_name[origin],
                origin_date=(utcnow() - timedelta(days=400)).date(),
                introduced_by=people.get(intro)))
        plan = [("Ada Lovelace", "Twitter", 300), ("Ada Lovelace", "Skype", 120),
                ("Ada Lovelace", "Phone", 20), ("Grace Hopper", "LinkedIn", 200),
                ("Grace Hopper", "Video call", 35), ("Alan Turing", "Face-to-face", 60),
                ("Alan Turing", "Email", 5), ("Pat Private", "Phone", 3)]
        for who, medium, days in plan:
            log_interaction(user, InteractionData(
                medium=by_name[medium], occurred_at=utcnow() - timedelta(days=days),
                initiated_by=Initiator.ME if days % 2 else Initiator.THEM,
                participants=[people[who]], summary=f"{medium} with {who}"))
        db.session.commit()


def test_client_shares_with_a_coach_then_revokes(live_server, browser):
    base, app = live_server
    client_ctx = browser.new_context(viewport=VIEWPORTS["laptop"])
    coach_ctx = browser.new_context(viewport=VIEWPORTS["laptop"])
    clara, colin = client_ctx.new_page(), coach_ctx.new_page()
    client_errors, coach_errors = watch(clara), watch(colin)
    try:
        register(clara, base, "Clara Client", "clara@example.com")
        register(colin, base, "Colin Coach", "colin@example.com")
        seed_network(app, "clara@example.com")

        clara.goto(base + "/")
        expect(clara.get_by_role("heading", name="Strongest relationships")).to_be_visible()
        expect(clara.locator("svg.chart").first).to_be_visible()
        screenshot(clara, "dashboard")

        clara.get_by_role("link", name="Coaching").click()
        clara.get_by_label("Coach's email").fill("colin@example.com")
        clara.get_by_role("button", name="Create invitation link").click()
        ready = clara.get_by_text("Invitation for colin@example.com ready.")
        expect(ready).to_be_visible()
        join = re.search(r"https?://\S+/coaching/join/[A-Za-z0-9_-]+", ready.inner_text()).group(0)

        # Clara sends the link; Colin opens it, logged in.
        colin.goto(join)
        expect(colin.get_by_role("heading", name="Clara Client asks you to coach them")).to_be_visible()
        screenshot(colin, "coach-invitation")
        colin.get_by_role("button", name="Accept").click()
        expect(colin.get_by_text("You are now coaching Clara Client.")).to_be_visible()
        expect(colin.get_by_role("heading", name="Clara Client")).to_be_visible()
        expect(colin.locator("svg.chart").first).to_be_visible()
        screenshot(colin, "coach-clients")

        colin.get_by_role("link", name="Clara Client").click()
        expect(colin.get_by_role("heading", name="Paths across mediums")).to_be_visible()
        colin.get_by_role("main").get_by_role("link", name="Contacts").click()
        expect(colin.get_by_role("link", name="Pat Private")).to_be_visible()

        # The client marks Pat private: the coach no longer sees Pat.
        clara.goto(base + "/contacts")
        clara.get_by_role("link", name="Pat Private").click()
        clara.get_by_role("link", name="Edit", exact=True).click()
        clara.get_by_label("Private (never shown to a coach)").check()
        clara.get_by_role("button", name="Save changes").click()
        colin.reload()
        expect(colin.get_by_role("link", name="Ada Lovelace")).to_be_visible()
        expect(colin.get_by_role("link", name="Pat Private")).to_have_count(0)

        # The client revokes: the coach's next request is a 404.
        clara.goto(base + "/coaching")
        clara.once("dialog", lambda dialog: dialog.accept())
        clara.get_by_role("button", name="Revoke").click()
        expect(clara.get_by_text("colin@example.com no longer has access to your network.")).to_be_visible()
        response = colin.goto(colin.url)
        assert response.status == 404
        expect(colin.get_by_role("heading", name="Not found")).to_be_visible()
        assert not client_errors and not coach_errors, client_errors + coach_errors
    finally:
        client_ctx.close()
        coach_ctx.close()
