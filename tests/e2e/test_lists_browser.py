"""In a real browser: every interaction in one list, filtered, searched by what was said and
paged; two near-duplicate tags merged into one from the tags page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from crm.contacts.services import ContactData, create_contact
from crm.extensions import db
from crm.models import User
from tests.e2e.conftest import screenshot
from tests.e2e.test_coaching_browser import register, seed_network

pytestmark = pytest.mark.e2e


def test_every_interaction_filtered_by_medium_and_paged(live_server, page):
    base, app = live_server
    app.config["INTERACTIONS_PER_PAGE"] = 3
    register(page, base, "Nia Networker", "nia@example.com")
    seed_network(app, "nia@example.com")  # eight interactions on seven mediums

    page.goto(base + "/")
    page.get_by_role("link", name="All interactions").click()
    items = page.locator("section[aria-label='Interactions'] li:has(.summary)")
    expect(items).to_have_count(3)
    page.get_by_role("link", name="Older →").click()
    expect(items).to_have_count(3)
    screenshot(page, "interactions-paged")

    page.get_by_label("Medium").select_option(label="Phone")
    page.get_by_role("button", name="Apply").click()
    expect(items).to_have_count(2)
    expect(page.get_by_text("Phone with Ada Lovelace", exact=True)).to_be_visible()
    expect(page.get_by_text("Phone with Pat Private", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Older →")).to_have_count(0)
    screenshot(page, "interactions-by-medium")

    page.get_by_label("From").fill("2026-01-10")  # after "To"
    page.get_by_label("To").fill("2026-01-01")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".field.has-error").first).to_be_visible()
    expect(items).to_have_count(0)
    screenshot(page, "interactions-bad-day")


def test_interactions_found_by_what_was_said_with_other_filters_and_pages(live_server, page):
    base, app = live_server
    app.config["INTERACTIONS_PER_PAGE"] = 2
    register(page, base, "Nia Networker", "nia@example.com")
    seed_network(app, "nia@example.com")  # "<medium> with <person>", three with Ada

    page.goto(base + "/interactions")
    items = page.locator("section[aria-label='Interactions'] li:has(.summary)")
    page.get_by_label("Search").fill("LOVELACE")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("Interactions that mention “LOVELACE”")).to_be_visible()
    expect(items).to_have_count(2)
    page.get_by_role("link", name="Older →").click()  # the search is kept while paging
    expect(items).to_have_count(1)
    expect(page.get_by_text("Twitter with Ada Lovelace", exact=True)).to_be_visible()
    expect(page.get_by_label("Search")).to_have_value("LOVELACE")
    screenshot(page, "interactions-searched")

    page.get_by_label("Medium").select_option(label="Phone")
    page.get_by_role("button", name="Apply").click()
    expect(items).to_have_count(1)
    expect(page.get_by_text("Phone with Ada Lovelace", exact=True)).to_be_visible()

    page.get_by_label("Search").fill("kubernetes")
    page.get_by_role("button", name="Apply").click()
    expect(items).to_have_count(0)
    expect(page.get_by_text("Nothing you logged mentions “kubernetes” with the other filters "
                            "above.")).to_be_visible()
    screenshot(page, "interactions-search-nothing")


def test_two_near_duplicate_tags_merge_into_one(live_server, page):
    base, app = live_server
    register(page, base, "Nia Networker", "nia@example.com")
    with app.app_context():
        user = db.session.query(User).filter_by(email="nia@example.com").one()
        create_contact(user, ContactData(name="Ada Lovelace", tags=["conf-2025"]))
        create_contact(user, ContactData(name="Grace Hopper", tags=["Conf 2025", "conf-2025"]))
        create_contact(user, ContactData(name="Alan Turing", tags=["Conf 2025"]))
        db.session.commit()

    page.goto(base + "/contacts")
    page.get_by_role("link", name="Tags").first.click()
    expect(page.get_by_role("heading", name="Tags")).to_be_visible()
    screenshot(page, "tags")
    page.get_by_role("link", name="Rename conf-2025").click()
    page.get_by_label("Name").fill("conf 2025")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Merge conf-2025 into Conf 2025?")).to_be_visible()
    screenshot(page, "tags-merge")
    page.get_by_role("button", name="Merge into conf 2025").click()

    expect(page.get_by_role("link", name="Rename conf-2025")).to_have_count(0)
    expect(page.get_by_text("3 contacts")).to_be_visible()
