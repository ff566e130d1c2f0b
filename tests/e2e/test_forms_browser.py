"""In a real browser: a form that writes is sent once, however quickly it is clicked."""

from __future__ import annotations

import threading

import pytest
from flask import request
from playwright.sync_api import expect

from crm.contacts.services import ContactData, create_contact
from crm.extensions import db
from crm.models import Interaction, User
from tests.e2e.test_coaching_browser import register

pytestmark = pytest.mark.e2e


def test_a_second_click_while_the_first_is_on_its_way_logs_nothing_more(live_server, page):
    base, app = live_server
    # The server holds each log-interaction POST until the test lets it go: a slow
    # network or server, during which an impatient person clicks again.
    arrived, go_on = threading.Semaphore(0), threading.Event()

    @app.before_request
    def hold_the_post():
        if request.method == "POST" and request.path == "/interactions/new":
            arrived.release()
            assert go_on.wait(15)

    register(page, base, "Nia Networker", "nia@example.com")
    with app.app_context():
        user = db.session.query(User).filter_by(email="nia@example.com").one()
        ada = create_contact(user, ContactData(name="Ada Lovelace"))
        db.session.commit()
        ada_id = ada.id

    page.goto(f"{base}/interactions/new?contact={ada_id}")
    page.get_by_label("Medium", exact=True).select_option(label="Phone")
    page.get_by_label("Summary").fill("Called about the talk")
    button = page.get_by_role("button", name="Log interaction")
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    button.click(no_wait_after=True)
    assert arrived.acquire(timeout=15)  # the first is at the server
    # Clicked twice more, and Enter, while the page waits for the answer (as input
    # events: a locator would wait for the navigation to finish first).
    page.mouse.click(x, y)
    page.mouse.click(x, y)
    page.keyboard.press("Enter")
    # Anything sent again would have reached the server by the time the first is let go.
    second = arrived.acquire(timeout=2)
    go_on.set()
    expect(page.get_by_text("Phone interaction logged.")).to_be_visible()
    with app.app_context():
        assert db.session.query(Interaction).count() == 1
    assert not second

    # Back on the form, it can be sent again: a second interaction, on purpose.
    page.go_back()
    page.get_by_label("Summary").fill("Called again")
    page.get_by_role("button", name="Log interaction").click()
    expect(page.get_by_text("Phone interaction logged.")).to_be_visible()
    with app.app_context():
        assert sorted(i.summary for i in db.session.query(Interaction)) == [
            "Called about the talk", "Called again"]
