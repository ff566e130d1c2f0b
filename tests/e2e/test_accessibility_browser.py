"""In a real browser, for keyboard and screen-reader users: a failed form puts focus on
its error summary, the people picker searches on Enter instead of submitting the form and
says how many it found, and focus is drawn in a colour that stands out (3:1 or more)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from crm.extensions import db
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.e2e


def test_keyboard_and_screen_reader_basics(live_server, page):
    base, app = live_server
    page.goto(base + "/register")
    page.get_by_label("Your name").fill("Annie Easley")
    page.get_by_label("Email").fill("annie@example.com")
    page.get_by_label("Password", exact=True).fill("centaur rocket stage")
    page.get_by_label("Repeat password").fill("centaur rocket stage")
    page.get_by_role("button", name="Create account").click()
    with app.app_context():  # more than eight people, so the picker has a search box
        from crm.auth.services import find_user_by_email
        from crm.contacts.services import ContactData, create_contact

        user = find_user_by_email("annie@example.com")
        for name in ("Margaret Hamilton", "Mary Jackson", *(f"Colleague {n}" for n in range(8))):
            create_contact(user, ContactData(name=name))
        db.session.commit()

    # A failed form: focus is on the summary, which links to the field.
    page.goto(base + "/contacts/new")
    page.get_by_role("button", name="Add contact").click()
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link", name="Name: Give the contact a name.")).to_be_visible()
    screenshot(page, "form-error-summary")

    # The people picker's search: Enter searches, it does not submit the interaction form.
    page.goto(base + "/interactions/new")
    people = page.get_by_role("group", name="With")
    search = people.get_by_label("Find people")
    search.fill("marg")
    search.press("Enter")
    expect(page).to_have_url(base + "/interactions/new")
    expect(page.locator("[data-error-summary]")).to_have_count(0)
    expect(people.get_by_text("1 person found.")).to_be_attached()
    expect(people.get_by_label("Margaret Hamilton")).to_be_visible()
    expect(people.get_by_label("Mary Jackson")).to_have_count(0)

    # Sent without anyone chosen: the summary's link takes focus to the people.
    page.get_by_role("button", name="Log interaction").click()
    page.locator("[data-error-summary]").get_by_role(
        "link", name="With: Choose at least one person.").click()
    expect(people).to_be_focused()

    # Focus is drawn in the dark accent, not the pale yellow of before (1.85:1 on white).
    page.goto(base + "/contacts")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineColor")
    assert outline == "rgb(31, 69, 170)", outline
