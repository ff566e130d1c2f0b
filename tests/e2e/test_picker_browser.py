"""In a real browser: with a network larger than a picker lists, typing finds anyone, the
ticked people stay ticked, Enter in the search box searches and Enter elsewhere saves,
with JavaScript and without."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from crm.contacts.picker import SUGGESTIONS
from crm.contacts.services import ContactData, create_contact
from crm.extensions import db
from crm.interactions.services import InteractionData, log_interaction
from crm.mediums.services import mediums_for
from crm.models import Contact, Initiator, Interaction, User, utcnow
from tests.e2e.conftest import VIEWPORTS, screenshot
from tests.e2e.test_coaching_browser import register

pytestmark = pytest.mark.e2e


def seed(app, email: str, members: int) -> None:
    """`members` people in touch on successive days, and Zoë, never in touch."""
    with app.app_context():
        user = db.session.query(User).filter_by(email=email).one()
        phone = {m.key: m for m in mediums_for(user)}["phone"]
        for i in range(members):
            contact = create_contact(user, ContactData(name=f"Member {i:03d}"))
            log_interaction(user, InteractionData(
                medium=phone, occurred_at=utcnow() - timedelta(days=members - i),
                initiated_by=Initiator.ME, participants=[contact], summary=f"Call {i}"))
        create_contact(user, ContactData(name="Zoë Okafor", company="Nestlé",
                                         tags=["conference"]))
        db.session.commit()


def test_finding_people_beyond_the_suggestions(live_server, page):
    base, app = live_server
    register(page, base, "Nia Networker", "nia@example.com")
    seed(app, "nia@example.com", SUGGESTIONS + 10)

    page.goto(base + "/interactions/new")
    people = page.get_by_role("group", name="With")
    expect(people.get_by_role("checkbox")).to_have_count(SUGGESTIONS)
    expect(people.get_by_text(f"The {SUGGESTIONS} people most recently in touch, of "
                              f"{SUGGESTIONS + 11}.")).to_be_visible()
    # With JavaScript, the search is live: no Find button.
    expect(people.get_by_role("button", name="Find")).to_be_hidden()

    # Tick one of the suggestions, then find Zoë, never in touch, by her company without
    # its accent; Enter searches at once and does not submit the form.
    people.get_by_label("Member 039").check()
    search = people.get_by_label("Find people")
    search.fill("nestle")
    search.press("Enter")
    expect(people.get_by_label("Zoë Okafor (Nestlé)")).to_be_visible()
    expect(people.get_by_text("1 person found.")).to_be_visible()
    expect(page).to_have_url(base + "/interactions/new")
    # The ticked person stays; the other suggestions make way for what was found.
    expect(people.get_by_label("Member 039")).to_be_checked()
    expect(people.get_by_role("checkbox")).to_have_count(2)
    people.get_by_label("Zoë Okafor (Nestlé)").check()
    screenshot(page, "picker-found")

    # Clearing the term brings the suggestions back, the two ticked kept.
    search.fill("")
    expect(people.get_by_role("checkbox")).to_have_count(SUGGESTIONS + 1)
    expect(people.get_by_label("Zoë Okafor (Nestlé)")).to_be_checked()

    page.get_by_label("Medium", exact=True).select_option(label="Skype")
    # Enter in the summary saves: the term in the search box is the one searched for.
    search.fill("okafor")
    expect(people.get_by_text("1 person found.")).to_be_visible()
    page.get_by_label("Summary").fill("Planned the panel")
    page.get_by_label("Summary").press("Enter")
    expect(page.get_by_text("Skype interaction logged.")).to_be_visible()
    with app.app_context():
        logged = db.session.query(Interaction).filter_by(summary="Planned the panel").one()
        assert sorted(c.name for c in logged.participants) == ["Member 039", "Zoë Okafor"]


def test_choosing_an_introducer_by_search(live_server, page):
    base, app = live_server
    register(page, base, "Nia Networker", "nia@example.com")
    seed(app, "nia@example.com", SUGGESTIONS + 10)
    with app.app_context():
        member = db.session.query(Contact).filter_by(name="Member 000").one().id

    page.goto(f"{base}/contacts/{member}/edit")
    introducer = page.get_by_role("group", name="Introduced by")
    expect(introducer.get_by_label("— Nobody —")).to_be_checked()
    introducer.get_by_label("Find people").fill("conference")  # Zoë's tag
    expect(introducer.get_by_role("radio")).to_have_count(2)  # Nobody, and Zoë
    introducer.get_by_label("Zoë Okafor (Nestlé)").check()
    screenshot(page, "picker-introducer")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Changes saved.")).to_be_visible()
    expect(page.get_by_role("link", name="Zoë Okafor")).to_be_visible()


def test_finding_people_without_javascript(live_server, browser):
    """The Find button sends the form back with the people found, what was typed kept;
    Enter in another field still saves the form rather than finding people."""
    base, app = live_server
    context = browser.new_context(viewport=VIEWPORTS["laptop"], java_script_enabled=False)
    page = context.new_page()
    try:
        register(page, base, "Nia Networker", "nia@example.com")
        seed(app, "nia@example.com", SUGGESTIONS + 10)
        page.goto(base + "/interactions/new")
        people = page.get_by_role("group", name="With")
        page.get_by_label("Summary").fill("Planned the panel")
        people.get_by_label("Member 039").check()
        # Enter in the search box finds (the Find button does the same).
        people.get_by_label("Find people").fill("nestle")
        people.get_by_label("Find people").press("Enter")
        expect(people.get_by_text("1 person found.")).to_be_visible()
        expect(page.get_by_label("Summary")).to_have_value("Planned the panel")
        expect(people.get_by_label("Member 039")).to_be_checked()
        people.get_by_label("Zoë Okafor (Nestlé)").check()
        screenshot(page, "picker-without-javascript")
        page.get_by_label("Medium", exact=True).select_option(label="Skype")
        page.get_by_label("Summary").press("Enter")
        expect(page.get_by_text("Skype interaction logged.")).to_be_visible()
        with app.app_context():
            logged = db.session.query(Interaction).filter_by(summary="Planned the panel").one()
            assert sorted(c.name for c in logged.participants) == ["Member 039", "Zoë Okafor"]
    finally:
        context.close()


def test_an_archived_participant_unticked_can_be_ticked_again(live_server, page):
    base, app = live_server
    register(page, base, "Nia Networker", "nia@example.com")
    seed(app, "nia@example.com", 12)
    with app.app_context():
        user = db.session.query(User).filter_by(email="nia@example.com").one()
        gone = create_contact(user, ContactData(name="Gone Quiet"))
        phone = {m.key: m for m in mediums_for(user)}["phone"]
        call = log_interaction(user, InteractionData(
            medium=phone, occurred_at=utcnow() - timedelta(days=1),
            initiated_by=Initiator.ME, participants=[gone], summary="Last call"))
        gone.archived_at = utcnow()
        db.session.commit()
        call_id = call.id

    page.goto(f"{base}/interactions/{call_id}/edit")
    people = page.get_by_role("group", name="With")
    archived = people.get_by_label("Gone Quiet")
    expect(archived).to_be_checked()
    archived.uncheck()
    # No search finds an archived contact; the interaction's own stays listed anyway.
    people.get_by_label("Find people").fill("member 00")
    expect(people.get_by_text("people found")).to_be_visible()
    expect(archived).to_be_visible()
    archived.check()
    people.get_by_label("Member 001").check()
    page.get_by_role("button", name="Save interaction").click()
    expect(page.get_by_text("Interaction saved.")).to_be_visible()
    with app.app_context():
        saved = db.session.get(Interaction, call_id)
        assert sorted(c.name for c in saved.participants) == ["Gone Quiet", "Member 001"]
