"""On a phone (390px, a touch screen): long content wraps instead of widening the page,
charts stay readable, and what people tap is big enough. Found by a review of every page
at 390×844 with long names, notes holding URLs and long addresses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta

import pytest

from crm.auth.services import register_user
from crm.coaching import services as coaching
from crm.contacts.services import ContactData, add_channel, create_contact
from crm.extensions import db
from crm.interactions.services import InteractionData, log_interaction
from crm.mediums.services import create_medium, mediums_for
from crm.models import Initiator, utcnow
from crm.reminders.services import ReminderData, create_reminder
from tests.e2e.conftest import screenshot, watch

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
PASSWORD = "a long passphrase"
LONG_NAME = "Maximilian von Hohenzollern-Sigmaringen-Wolfeschlegelsteinhausenbergerdorff"
URL = "https://example.com/a/very/long/url/that/has/no/spaces/in/it/at/all/and/keeps/going"
LONG_MEDIUM = "PyCon Europe 2025 — Hallway Track & Sprints (Dublin)"
COACH_EMAIL = "another.coach.with.a.really.long.email.address@coaching-company.example.org"


@dataclass
class Network:
    client_id: int
    long_contact_id: int


def build(app) -> Network:
    """A client whose network has long content everywhere, and a coach who sees it."""
    with app.app_context():
        user = register_user("clara@example.com", "Clara Client", PASSWORD, "Europe/London")
        coach = register_user("colin@example.com", "Colin Coach", PASSWORD, "Europe/London")
        mediums = {m.name: m for m in mediums_for(user)}
        mediums[LONG_MEDIUM] = create_medium(user, LONG_MEDIUM)
        used = ["Email", "Phone", "Twitter", "LinkedIn", "Skype", "Video call", LONG_MEDIUM]
        long_one = create_contact(user, ContactData(
            name=LONG_NAME, company="Supercalifragilisticexpialidociousconsultingservicesinternational.com",
            notes=f"See {URL}", origin_medium=mediums["Email"],
            origin_date=date.today() - timedelta(days=400), keep_in_touch_days=7))
        twin = create_contact(user, ContactData(name="Someone Else", introduced_by=long_one))
        for person in (long_one, twin):  # possible duplicates, for a long reason
            add_channel(person, mediums["LinkedIn"], "https://www.linkedin.com/in/"
                        "maximilian-alexander-friedrich-von-hohenzollern-1234567890")
            add_channel(person, mediums["Email"],
                        "averyveryverylongemailaddress.with.dots@subdomain.example.co.uk")
        people = [long_one, twin]
        for i, origin in enumerate(used):
            people.append(create_contact(user, ContactData(
                name=f"Person {i}", origin_medium=mediums[origin], introduced_by=long_one,
                origin_date=date.today() - timedelta(days=300))))
        # Every relationship later uses every medium: the paths chart has a column each.
        for day, medium in enumerate(used):
            for person in people:
                log_interaction(user, InteractionData(
                    medium=mediums[medium], occurred_at=utcnow() - timedelta(days=30 + 40 * day),
                    initiated_by=Initiator.ME, participants=[person], summary="Catch-up"))
        create_reminder(user, ReminderData(
            title=f"Send {LONG_NAME} the {URL}", local_date=date.today() - timedelta(days=3),
            local_time=time(9, 0), contact=long_one))
        coaching.invite_coach(user, COACH_EMAIL)
        link, _ = coaching.invite_coach(user, coach.email, share_notes=True)
        coaching.accept(coach, link)
        coaching.add_note(coach, link, f"Reconnect via {URL}\nSecond line.")
        db.session.commit()
        return Network(client_id=user.id, long_contact_id=long_one.id)


@pytest.fixture
def network(live_server):
    base, app = live_server
    return base, build(app)


@pytest.fixture
def phone(browser):
    """Two logged-in phone tabs, the client's and the coach's."""
    contexts, pages, errors = [], {}, []
    for email in ("clara@example.com", "colin@example.com"):
        context = browser.new_context(viewport=PHONE, has_touch=True, locale="en-GB",
                                      timezone_id="Europe/London")
        context.set_default_timeout(15000)
        contexts.append(context)
        pages[email] = context.new_page()
        errors += watch(pages[email])
    yield pages
    for context in contexts:
        context.close()
    assert not errors, f"Errors on the page: {errors}"


def log_in(page, base, email):
    page.goto(base + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/")


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_long_content_wraps_instead_of_widening_the_page(network, phone):
    base, net = network
    clara, colin = phone["clara@example.com"], phone["colin@example.com"]
    log_in(clara, base, "clara@example.com")
    log_in(colin, base, "colin@example.com")
    pages = [(clara, "/", "phone-dashboard"),
             (clara, "/coaching", "phone-coaching"),
             (clara, "/duplicates", "phone-duplicates"),
             (clara, f"/contacts/{net.long_contact_id}", "phone-contact"),
             (colin, f"/coach/clients/{net.client_id}", "phone-coach-client"),
             (colin, f"/coach/clients/{net.client_id}/contacts/{net.long_contact_id}",
              "phone-coach-contact"),
             (colin, "/coach", "phone-coach")]
    wide = {}
    for page, url, name in pages:
        page.goto(base + url)
        if page_width(page) > PHONE["width"]:
            wide[url] = page_width(page)
        screenshot(page, name)
        page.set_viewport_size(PHONE)
    assert wide == {}

    # The address of a pending invitation is shown once (it was also the name above it).
    clara.goto(base + "/coaching")
    invitation = clara.locator(".plain-list li").filter(has_text=COACH_EMAIL)
    assert invitation.locator("xpath=./span[1]").inner_text().count(COACH_EMAIL) == 1
    # A long name leaves the score in the card, beside it.
    clara.goto(base + "/")
    row = clara.locator("ol.ranked .row").filter(has_text=LONG_NAME).first
    score, card = row.locator(".score").bounding_box(), row.bounding_box()
    assert score["x"] + score["width"] <= card["x"] + card["width"] + 1


def test_the_avatar_stays_round_beside_a_long_name(network, phone):
    base, net = network
    clara, colin = phone["clara@example.com"], phone["colin@example.com"]
    log_in(clara, base, "clara@example.com")
    log_in(colin, base, "colin@example.com")
    for page, url in ((clara, f"/contacts/{net.long_contact_id}"),
                      (colin, f"/coach/clients/{net.client_id}/contacts/{net.long_contact_id}")):
        page.goto(base + url)
        box = page.locator(".identity .avatar").bounding_box()
        assert abs(box["width"] - box["height"]) < 1 and box["width"] >= 50, (url, box)


CHART_TEXT = """svg => {
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  const box = svg.parentElement;
  return {px: 11 * scale, scrolls: box.scrollWidth > box.clientWidth};
}"""
NEWEST_IN_VIEW = """svg => {
  const box = svg.parentElement.getBoundingClientRect();
  const bars = [...svg.querySelectorAll('rect')].map(r => r.getBoundingClientRect());
  const newest = bars.reduce((a, b) => (b.right > a.right ? b : a));
  return newest.left >= box.left - 1 && newest.right <= box.right + 1;
}"""

# What a month chart shows before it is scrolled: a year under some month, and its scale.
YEAR_AND_SCALE_IN_VIEW = """svg => {
  const box = svg.parentElement.getBoundingClientRect();
  const inView = t => {
    const r = t.getBoundingClientRect();
    return r.left >= box.left - 1 && r.right <= box.right + 1;
  };
  const texts = [...svg.querySelectorAll('text')];
  return {year: texts.some(t => /^\\d{4}$/.test(t.textContent) && inView(t)),
          scale: texts.filter(t => t.classList.contains('value')).every(inView)};
}"""


def test_charts_scroll_rather_than_shrink_and_start_at_the_newest_month(network, phone):
    base, net = network
    clara, colin = phone["clara@example.com"], phone["colin@example.com"]
    log_in(clara, base, "clara@example.com")
    log_in(colin, base, "colin@example.com")

    # Paths across mediums and Introductions grow with the data: on the phone they keep
    # their 11px text and scroll (the paths chart was drawn at half size, its text ~6px).
    for heading in ("Paths across mediums", "Introductions"):
        chart = clara.locator("section.card").filter(has_text=heading).locator("svg.chart")
        text = chart.evaluate(CHART_TEXT)
        assert text["px"] >= 10 and text["scrolls"], (heading, text)
    # Bar charts (medium mix, origins, breadth, who reached out) fit a phone's card at
    # close to their size (drawn 440 wide they were shrunk to 8px values).
    for heading in ("Medium mix", "Where relationships began", "Breadth", "Who reached out"):
        chart = clara.locator("section.card").filter(
            has=clara.get_by_role("heading", name=heading, exact=True)).locator("svg.chart")
        assert chart.evaluate(CHART_TEXT)["px"] >= 10, heading
    # A long medium's column label is shortened, with the whole name as its tooltip.
    paths = clara.locator("section.card").filter(has_text="Paths across mediums")
    assert paths.locator(f"svg text.tick:has(title:text-is('{LONG_MEDIUM}'))").count() == 1

    # Month by month, the newest month is in view (the oldest was, and the rest hidden).
    months = clara.locator("section.card").filter(has_text="Medium mix over the last 12 months")
    assert months.locator("svg.chart").evaluate(NEWEST_IN_VIEW)
    colin.goto(base + "/coach")
    new = colin.locator("div").filter(
        has=colin.get_by_role("heading", name="New contacts per month")).last
    assert new.locator("svg.chart").evaluate(NEWEST_IN_VIEW)
    # The month labels carry their year, and the year and the scale are in view where the
    # chart opens (they were at its oldest end, off-screen).
    ticks = months.locator("svg.chart text.tick").all_text_contents()
    assert str(date.today().year) in ticks or str(date.today().year - 1) in ticks
    for chart in (months.locator("svg.chart"), new.locator("svg.chart")):
        assert chart.evaluate(YEAR_AND_SCALE_IN_VIEW) == {"year": True, "scale": True}
    screenshot(clara, "phone-charts")


def test_what_people_tap_on_a_phone_is_big_enough(network, phone):
    """Links close together were 16-19px tall, checkboxes 13-18px."""
    base, net = network
    clara = phone["clara@example.com"]
    log_in(clara, base, "clara@example.com")

    def height(url, locator):
        clara.goto(base + url)
        return clara.locator(locator).first.bounding_box()["height"]

    targets = {
        "Show archived": ("/contacts", "main .sub a"),
        "Oldest first": (f"/contacts/{net.long_contact_id}", "a:text('Oldest first')"),
        "a ranked name": ("/", "ol.ranked .row > a"),
        "a reminders link": ("/reminders", "main .sub a"),
        "About …": ("/reminders", "p.small a"),
    }
    small = {what: h for what, (url, loc) in targets.items() if (h := height(url, loc)) < 40}
    assert small == {}
    assert height("/coaching", "input[type=checkbox]") >= 24
