"""In a real browser: a forgotten password, from the login page to logged in again; two
tabs editing one contact."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from crm.jobs import tasks
from crm.models import utcnow
from tests.e2e.conftest import screenshot
from tests.e2e.test_coaching_browser import register

pytestmark = pytest.mark.e2e


def run_the_worker(app) -> None:
    """What the worker's send-account-emails job does on its next run."""
    with app.app_context():
        tasks.send_account_emails(utcnow(), "worker-1")


def test_a_forgotten_password_is_replaced_from_an_emailed_link(live_server, page, smtp_server):
    base, app = live_server
    app.config.update(smtp_server.app_config(), BASE_URL=base)
    register(page, base, "Nia Networker", "nia@example.com")
    page.get_by_role("button", name="Log out").click()

    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_text("Enter the email address you log in with.").first).to_be_visible()
    screenshot(page, "forgot-password")
    page.get_by_label("Email").fill("nia@example.com")
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_text("If nia@example.com is the address of an account")).to_be_visible()

    run_the_worker(app)
    [email] = [m for m in smtp_server.received  # beside the link that confirms the address
               if m.message["Subject"] == "Rapport: choose a new password"]
    text = email.message.get_body(("plain",)).get_content()
    link = re.search(r"http://\S+/reset-password/\S+", text).group(0)
    page.goto(link)
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password", exact=True).fill("a brand new passphrase")
    page.get_by_label("Repeat new password").fill("a different passphrase")
    page.get_by_role("button", name="Save the new password").click()
    expect(page.get_by_text("The passwords do not match.").first).to_be_visible()
    screenshot(page, "reset-password")
    page.get_by_label("New password", exact=True).fill("a brand new passphrase")
    page.get_by_label("Repeat new password").fill("a brand new passphrase")
    page.get_by_role("button", name="Save the new password").click()
    expect(page.get_by_text("Your password is changed, and you are logged in.")).to_be_visible()

    page.goto(link)  # once only
    expect(page.get_by_role("heading", name="This link no longer works")).to_be_visible()
    screenshot(page, "reset-link-spent")
    page.get_by_role("button", name="Log out").click()
    page.get_by_label("Email").fill("nia@example.com")
    page.get_by_label("Password", exact=True).fill("a brand new passphrase")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_a_new_address_is_confirmed_from_the_emailed_link(live_server, page, smtp_server):
    base, app = live_server
    app.config.update(smtp_server.app_config(), BASE_URL=base)
    register(page, base, "Nia Networker", "nia@example.com")
    expect(page.get_by_text("open the link we sent to nia@example.com")).to_be_visible()
    page.goto(base + "/")
    expect(page.get_by_text("Confirm your address to get reminder emails.")).to_be_visible()
    page.get_by_role("link", name="Get a link").click()
    expect(page.get_by_text("nia@example.com is not confirmed yet.")).to_be_visible()
    screenshot(page, "settings-address-not-confirmed")
    page.get_by_role("button", name="Email me a link to confirm it").click()
    expect(page.get_by_text("A link is on its way to nia@example.com.")).to_be_visible()

    run_the_worker(app)
    assert [m.rcpt_tos for m in smtp_server.received] == [["nia@example.com"]] * 2
    text = smtp_server.received[0].message.get_body(("plain",)).get_content()
    page.goto(re.search(r"http://\S+/confirm-address/\S+", text).group(0))
    expect(page.get_by_role("heading", name="Address confirmed")).to_be_visible()
    screenshot(page, "address-confirmed")
    page.goto(base + "/settings")
    expect(page.get_by_text("You log in with nia@example.com, and reminder emails go to it.")
           ).to_be_visible()


def test_two_tabs_editing_one_contact_keep_both_and_settle_a_clash(live_server, page):
    """A phone and a laptop open one contact's edit form: what each changed is kept, and a
    field both changed comes back for the person to settle, typed text intact."""
    base, app = live_server
    register(page, base, "Nia Networker", "nia@example.com")
    page.goto(base + "/contacts/new")
    page.get_by_label("Name", exact=True).fill("Ada Lovelace")
    page.get_by_role("button", name="Add contact").click()
    edit_url = page.url.rstrip("/") + "/edit"
    other = page.context.new_page()
    page.goto(edit_url)
    other.goto(edit_url)

    page.get_by_label("Company").fill("Analytical Engines")
    page.get_by_label("Notes").fill("Met at the Babbage talk.")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Analytical Engines").first).to_be_visible()

    other.get_by_label("Title", exact=True).fill("Mathematician")
    other.get_by_label("Notes").fill("Wants the notes on the engine.")
    other.get_by_role("button", name="Save changes").click()
    expect(other.get_by_text("Changed since you opened this form, to “Met at the Babbage "
                             "talk.”").first).to_be_visible()
    expect(other.get_by_label("Notes")).to_have_value("Wants the notes on the engine.")
    # What the other tab saved shows as it is now, and the title as typed here.
    expect(other.get_by_label("Company")).to_have_value("Analytical Engines")
    expect(other.get_by_label("Title", exact=True)).to_have_value("Mathematician")
    screenshot(other, "stale-edit-conflict")
    other.get_by_role("button", name="Save changes").click()  # mine, on purpose
    expect(other.get_by_text("Mathematician").first).to_be_visible()
    expect(other.get_by_text("Analytical Engines").first).to_be_visible()  # theirs, kept
    expect(other.get_by_text("Wants the notes on the engine.").first).to_be_visible()
    other.close()


def test_an_organisation_keeps_sign_up_to_its_addresses_and_suspends_a_leaver(live_server,
                                                                             page):
    """Sign-up closed, then kept to the organisation's domain; a leaver's account
    deactivated from the command line while they are logged in."""
    from crm.auth.services import find_user_by_email, set_account_active
    from crm.extensions import db

    base, app = live_server
    app.config["REGISTRATION"] = "closed"
    page.goto(base + "/login")
    expect(page.get_by_role("link", name="Create an account")).to_have_count(0)
    page.goto(base + "/register")
    expect(page.get_by_role("heading", name="Sign-up is closed")).to_be_visible()
    screenshot(page, "sign-up-closed")

    app.config.update(REGISTRATION="open", REGISTRATION_DOMAINS=("example.org",))
    page.goto(base + "/register")
    page.get_by_label("Your name").fill("Lee Leaver")
    page.get_by_label("Email").fill("lee@gmail.com")
    page.get_by_label("Password", exact=True).fill("a long passphrase")
    page.get_by_label("Repeat password").fill("a long passphrase")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#email-error")).to_have_text(
        "Accounts here are for addresses ending in @example.org only.")
    expect(page.get_by_label("Your name")).to_have_value("Lee Leaver")
    screenshot(page, "sign-up-other-domain")
    register(page, base, "Lee Leaver", "lee@example.org")

    with app.app_context():  # what `crm users deactivate lee@example.org` does
        set_account_active(find_user_by_email("lee@example.org"), False)
        db.session.commit()
    page.get_by_role("link", name="Contacts").first.click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("Email").fill("lee@example.org")
    page.get_by_label("Password").fill("a long passphrase")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("This account is deactivated")).to_be_visible()
    screenshot(page, "login-deactivated")
