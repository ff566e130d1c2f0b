"""A new user, in a real browser, builds a relationship across three mediums."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.e2e


def log_interaction(page, base, medium: str, when: str, summary: str, initiated: str) -> None:
    page.get_by_role("link", name="Log interaction", exact=True).first.click()
    page.get_by_label("Medium", exact=True).select_option(label=medium)
    page.get_by_label("When").fill(when)
    page.get_by_label(initiated).check()
    expect(page.get_by_role("group", name="With").get_by_label("Ada Lovelace")).to_be_checked()
    page.get_by_label("Summary").fill(summary)
    page.get_by_role("button", name="Log interaction").click()
    expect(page.get_by_text(f"{medium} interaction logged.")).to_be_visible()


def test_register_add_contact_and_see_the_path_across_mediums(live_server, page):
    base, _app = live_server
    page.goto(base + "/")
    screenshot(page, "landing")
    page.get_by_role("link", name="Create your account").click()

    page.get_by_label("Your name").fill("Grace Hopper")
    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_label("Password", exact=True).fill("correct horse battery")
    page.get_by_label("Repeat password").fill("correct horse battery")
    page.get_by_label("Time zone").select_option("Europe/London")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Welcome to Rapport, Grace Hopper.")).to_be_visible()
    screenshot(page, "contacts-empty")

    # A contact first met on Twitter, with a Twitter handle.
    page.get_by_role("link", name="Add your first contact").click()
    page.get_by_label("Name").fill("Ada Lovelace")
    page.get_by_label("Company").fill("Analytical Engines")
    page.get_by_label("First met on").select_option(label="Twitter")
    page.get_by_label("First met date").fill("2010-11-22")
    page.get_by_label("Tags").fill("mathematics, poetry")
    page.get_by_role("button", name="Add contact").click()
    expect(page.get_by_role("heading", name="Ada Lovelace", level=1)).to_be_visible()

    page.get_by_label("Medium", exact=True).select_option(label="Twitter")
    page.get_by_label("Handle, address or number").fill("https://x.com/ada_l")
    page.get_by_role("button", name="Add channel").click()
    expect(page.locator(".channel-list")).to_contain_text("@ada_l")

    log_interaction(page, base, "Twitter", "2026-11-02T18:30", "Swapped notes on engines",
                    "They reached out")
    log_interaction(page, base, "Phone", "2026-11-09T12:00", "First call about the project",
                    "I reached out")
    log_interaction(page, base, "Face-to-face", "2026-11-20T09:15", "Coffee in London",
                    "Mutual")

    # Oldest first, the three interactions are in the order they happened.
    page.get_by_role("link", name="Oldest first").click()
    items = page.locator(".timeline > li")
    expect(items).to_have_count(3)
    expect(items.nth(0)).to_contain_text("Twitter")
    expect(items.nth(0)).to_contain_text("Swapped notes on engines")
    expect(items.nth(1)).to_contain_text("Phone")
    expect(items.nth(2)).to_contain_text("Face-to-face")
    expect(items.nth(2)).to_contain_text("Coffee in London")

    # The origin and the path across mediums.
    expect(page.locator(".origin")).to_contain_text("First met on Twitter, 22 Nov 2010")
    steps = page.locator(".path > li")
    expect(steps).to_have_count(3)
    expect(steps.nth(0)).to_contain_text(re.compile(r"Twitter\s+first met 22 Nov 2010"))
    expect(steps.nth(1)).to_contain_text(re.compile(r"Phone\s+since 9 Nov 2026"))
    expect(steps.nth(2)).to_contain_text(re.compile(r"Face-to-face\s+since 20 Nov 2026"))
    screenshot(page, "contact-timeline")

    # The list shows the last interaction's medium and date.
    page.get_by_role("link", name="Contacts").click()
    row = page.locator(".contact-list li", has_text="Ada Lovelace")
    expect(row).to_contain_text("Face-to-face")
    expect(row).to_contain_text("20 Nov 2026")
    screenshot(page, "contacts-list")

    page.get_by_role("link", name="+ Log interaction").click()
    screenshot(page, "log-interaction")
