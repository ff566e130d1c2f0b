"""Reminder emails through a real SMTP server (aiosmtpd): the message itself, its signed
links, retries with backoff when the server is down, daily digests, and one SMTP
connection per batch."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from itsdangerous import URLSafeTimedSerializer
from smtp import HangingServer, free_port
from sqlalchemy import select
from support import PASSWORD, choose_the_digest, connection_drops, page_text

from crm import create_app
from crm.extensions import db
from crm.jobs import tasks
from crm.jobs.scheduler import _job
from crm.mail import Mailer
from crm.models.reminder import (
    Delivery,
    DeliveryChannel,
    DeliveryStatus,
    DigestRun,
    Reminder,
    ReminderStatus,
)
from crm.reminders import links

# Monday 2 June 2025, 14:00 in Berlin (CEST).
NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
BERLIN = "Europe/Berlin"
BASE = "https://rapport.example"
LINK = re.compile(re.escape(BASE) + r"/r/([A-Za-z0-9_.\-]+)")


@pytest.fixture(autouse=True)
def frozen():
    """One clock for the worker's `now`, link signatures and session cookies."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def mail_app(app, smtp_server):
    """The app pointed at the in-process SMTP server."""
    app.config.update(smtp_server.app_config(), BASE_URL=BASE)
    return app


@pytest.fixture
def user(make_user):
    return make_user(name="Ada Lovelace", email="ada@example.com", time_zone=BERLIN)


def within(moment: datetime, expected: datetime) -> bool:
    """A backoff counts from the failure: a little after the pass's injected start."""
    return expected <= moment < expected + timedelta(seconds=5)


def run(app, job, *args):
    with app.app_context():
        return job(*args)


def email_deliveries(app) -> list[Delivery]:
    with app.app_context():
        rows = list(db.session.scalars(
            select(Delivery).where(Delivery.channel == DeliveryChannel.EMAIL)
            .order_by(Delivery.id)
        ))
        db.session.expunge_all()
        return rows


def load(app, reminder_id) -> Reminder:
    with app.app_context():
        row = db.session.get(Reminder, reminder_id)
        db.session.expunge(row)
        return row


def parts(message) -> tuple[str, str]:
    return (message.get_body(preferencelist=("plain",)).get_content(),
            message.get_body(preferencelist=("html",)).get_content())


def tokens(app, text: str) -> dict[str, dict]:
    """The signed links in text, by action, with their payloads."""
    found = {}
    with app.test_request_context():
        for token in LINK.findall(text):
            payload = links.read_token(token)
            assert payload is not None, token
            found[payload["a"]] = {**payload, "token": token}
    return found


@pytest.fixture
def emailed(mail_app, smtp_server, user, make_contact, make_reminder):
    """A follow-up with Grace, due a minute ago, delivered and emailed."""
    grace = make_contact(user, name="Grace Hopper")
    reminder = make_reminder(user, contact=grace, kind="follow_up", title="Follow up with Grace",
                             notes="Ask about COBOL", due_at=NOW - timedelta(minutes=1))
    assert run(mail_app, tasks.deliver_due, NOW, "worker-1") == 1
    [message] = smtp_server.messages
    return reminder, grace, message


# --- the message -------------------------------------------------------------------------


def test_a_due_reminder_is_emailed_once_with_text_html_and_signed_links(
    mail_app, smtp_server, user, emailed
):
    reminder, grace, message = emailed
    [received] = smtp_server.received

    assert received.rcpt_tos == ["ada@example.com"]
    assert message["To"] == "ada@example.com"
    assert message["From"] == mail_app.config["MAIL_FROM"]
    assert message["Subject"] == "Follow up with Grace"
    text, html = parts(message)
    assert "Hello Ada Lovelace" in text
    assert "Ask about COBOL" in text
    assert "Due Monday 2 June 2025, 13:59 (Europe/Berlin)" in text
    assert "Overdue" not in text
    contact_url = f"{BASE}/contacts/{grace.id}"
    assert contact_url in text
    assert f'href="{contact_url}"' in html
    for body in (text, html):
        signed = tokens(mail_app, body)
        assert set(signed) == {"log", "snooze", "done"}
        for payload in signed.values():
            assert (payload["r"], payload["u"]) == (reminder.id, user.id)

    [delivery] = email_deliveries(mail_app)
    assert message["Message-ID"] == delivery.message_id
    assert (delivery.status, delivery.attempts, delivery.sent_at, delivery.last_error) == (
        DeliveryStatus.SENT, 1, NOW, None
    )
    assert delivery.occurrence == reminder.due_at

    # Nothing goes out twice.
    assert run(mail_app, tasks.deliver_due, NOW + timedelta(minutes=1), "worker-2") == 0
    run(mail_app, tasks.send_pending_emails, NOW + timedelta(days=1), "worker-2")
    assert len(smtp_server.messages) == 1


def test_a_late_reminder_email_says_it_is_overdue(mail_app, smtp_server, user, make_reminder):
    make_reminder(user, title="Send the contract", due_at=datetime(2025, 5, 30, 7, 0, tzinfo=UTC))

    run(mail_app, tasks.deliver_due, NOW, "worker-1")

    [message] = smtp_server.messages
    assert message["Subject"] == "Overdue: Send the contract"
    assert "Overdue since 30 May 2025, 09:00" in parts(message)[0]


def test_users_who_chose_no_email_or_a_digest_get_no_reminder_email(
    mail_app, smtp_server, make_user, make_reminder, count
):
    off = make_user()
    digest = make_user()
    with mail_app.app_context():
        from crm.models import User

        db.session.get(User, off.id).email_reminders = False
        db.session.get(User, digest.id).digest_enabled = True
        db.session.commit()
    for owner in (off, digest):
        make_reminder(owner, due_at=NOW - timedelta(minutes=1))

    assert run(mail_app, tasks.deliver_due, NOW, "worker-1") == 2

    assert smtp_server.messages == []
    assert count(Delivery, Delivery.channel == DeliveryChannel.EMAIL) == 0
    assert count(Delivery, Delivery.channel == DeliveryChannel.IN_APP) == 2


# --- signed links -------------------------------------------------------------------------


def test_the_snooze_link_asks_first_and_the_post_snoozes(mail_app, client, emailed):
    reminder, _, message = emailed
    token = tokens(mail_app, parts(message)[0])["snooze"]["token"]
    before = load(mail_app, reminder.id)

    page = client.get(f"/r/{token}")

    assert page.status_code == 200
    text = page_text(page.data)
    assert "Snooze this reminder?" in text
    # The zone is named, as in the email: the link may be opened anywhere.
    assert "Tomorrow, Tue 3 Jun, 09:00 (Europe/Berlin)" in text
    assert "Next week, Mon 9 Jun, 09:00 (Europe/Berlin)" in text
    after_get = load(mail_app, reminder.id)
    assert (after_get.status, after_get.due_at, after_get.snoozed_count) == (
        before.status, before.due_at, 0
    )
    assert before.status == ReminderStatus.DELIVERED

    done = client.post(f"/r/{token}", data={"until": "tomorrow"})

    assert done.status_code == 200
    assert "Snoozed until 3 Jun 2025, 09:00 (Europe/Berlin)." in page_text(done.data)
    snoozed = load(mail_app, reminder.id)
    assert snoozed.status == ReminderStatus.PENDING
    assert snoozed.due_at == datetime(2025, 6, 3, 7, 0, tzinfo=UTC)
    assert snoozed.snoozed_count == 1


def test_a_repeating_reminders_email_offers_its_edit_page_not_a_snooze(
    mail_app, smtp_server, user, make_reminder
):
    reminder = make_reminder(user, title="Weekly review", recurrence="weekly",
                             due_at=NOW - timedelta(minutes=1))

    run(mail_app, tasks.deliver_due, NOW, "worker-1")

    [message] = smtp_server.messages
    edit_url = f"{BASE}/reminders/{reminder.id}/edit"
    text, html = parts(message)
    assert "Snooze" not in text and "Snooze" not in html
    assert f"Change when it repeats: {edit_url}" in text
    assert f'href="{edit_url}"' in html
    for body in (text, html):
        assert set(tokens(mail_app, body)) == {"log", "done"}


def test_the_done_link_asks_first_and_the_post_marks_done(mail_app, client, emailed):
    reminder, _, message = emailed
    token = tokens(mail_app, parts(message)[0])["done"]["token"]

    assert "Mark this reminder done?" in page_text(client.get(f"/r/{token}").data)
    assert load(mail_app, reminder.id).status == ReminderStatus.DELIVERED

    response = client.post(f"/r/{token}")

    assert "Marked done." in page_text(response.data)
    assert load(mail_app, reminder.id).status == ReminderStatus.DONE
    # The link is spent: following it again changes nothing.
    again = client.post(f"/r/{token}")
    assert "already ended" in page_text(again.data)


def test_a_done_link_for_a_time_the_reminder_has_left_changes_nothing(mail_app, client,
                                                                      emailed):
    from crm.reminders import services

    reminder, _, message = emailed
    token = tokens(mail_app, parts(message)[0])["done"]["token"]
    with mail_app.app_context():  # then moved to next week (edited or snoozed)
        services.snooze(db.session.get(Reminder, reminder.id), NOW + timedelta(days=7))
        db.session.commit()

    response = client.post(f"/r/{token}")

    assert "This reminder was moved to 9 Jun 2025, 14:00 (Europe/Berlin) after this email: " \
           "nothing changed." in page_text(response.data)
    assert load(mail_app, reminder.id).status == ReminderStatus.PENDING


def test_a_snooze_link_for_a_time_the_reminder_has_left_changes_nothing(mail_app, client,
                                                                        emailed):
    from crm.reminders import services

    reminder, _, message = emailed
    token = tokens(mail_app, parts(message)[0])["snooze"]["token"]
    with mail_app.app_context():  # moved to next week since the email
        services.snooze(db.session.get(Reminder, reminder.id), NOW + timedelta(days=7))
        db.session.commit()

    response = client.post(f"/r/{token}", data={"until": "tomorrow"})

    assert "This reminder was moved to 9 Jun 2025, 14:00 (Europe/Berlin) after this email: " \
           "nothing changed." in page_text(response.data)
    after = load(mail_app, reminder.id)
    assert (after.due_at, after.snoozed_count) == (NOW + timedelta(days=7), 1)


def test_the_log_link_opens_the_interaction_form_for_the_contact(mail_app, client, emailed):
    reminder, grace, message = emailed
    token = tokens(mail_app, parts(message)[0])["log"]["token"]

    response = client.get(f"/r/{token}")

    assert response.status_code == 302
    assert response.headers["Location"] == f"/interactions/new?contact={grace.id}"
    assert load(mail_app, reminder.id).status == ReminderStatus.DELIVERED


def test_a_tampered_or_forged_link_is_404_and_an_expired_one_410_both_changing_nothing(
    mail_app, client, emailed, frozen
):
    reminder, _, message = emailed
    token = tokens(mail_app, parts(message)[0])["snooze"]["token"]
    payload, _, signature = token.rpartition(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    forged = URLSafeTimedSerializer("not-the-secret", salt="rapport.reminder-action").dumps(
        {"r": reminder.id, "u": reminder.owner_id, "a": "snooze", "o": NOW.isoformat()}
    )
    before = load(mail_app, reminder.id)

    for bad in (f"{payload}.{flipped}", token[:-4], forged, "garbage"):
        assert client.get(f"/r/{bad}").status_code == 404, bad
        assert client.post(f"/r/{bad}", data={"until": "tomorrow"}).status_code == 404, bad

    frozen.move_to(NOW + timedelta(days=31))
    assert client.post(f"/r/{token}", data={"until": "tomorrow"}).status_code == 410
    for bad in (f"{payload}.{flipped}", forged):  # an old forgery is still a forgery
        assert client.get(f"/r/{bad}").status_code == 404, bad
    after = load(mail_app, reminder.id)
    assert (after.status, after.due_at, after.snoozed_count) == (
        before.status, before.due_at, before.snoozed_count
    )


@pytest.mark.parametrize("action, in_app", [("done", "Mark it done in Rapport"),
                                             ("snooze", "Snooze it in Rapport"),
                                             ("log", None)])
def test_an_expired_link_says_so_and_leads_to_the_reminder(mail_app, client, emailed, frozen,
                                                           action, in_app):
    """Found in review: a month-old link from an email was a bare 'Not found'."""
    reminder, _, message = emailed
    token = tokens(mail_app, parts(message)[0])[action]["token"]
    frozen.move_to(NOW + timedelta(days=31))

    page = client.get(f"/r/{token}")

    assert page.status_code == 410
    text = page_text(page.data)
    assert "This link has expired" in text
    assert "The link in the reminder email is older than Rapport accepts" in text
    assert "Nothing changed." in text
    assert 'href="/reminders"' in page.data.decode()
    if in_app:
        assert in_app in text
        assert f'href="/reminders/{reminder.id}/{action}"' in page.data.decode()
    assert load(mail_app, reminder.id).status == ReminderStatus.DELIVERED


# --- footer and one-click unsubscribe (RFC 8058) ------------------------------------------

UNSUBSCRIBE = re.compile(re.escape(BASE) + r"/unsubscribe/([A-Za-z0-9_.\-]+)")


def assert_footer_and_unsubscribe(message, why: str) -> str:
    """The footer says why the email came, links to the settings and to a one-click
    unsubscribe, which the headers name too (unencoded, as mail providers read them); the
    unsubscribe URL."""
    raw = {name: value for name, value in message.raw_items()}
    header = "".join(raw["List-Unsubscribe"].split())  # unfolded
    assert "=?" not in header
    [url] = re.fullmatch(r"<(\S+)>", header).groups()
    assert UNSUBSCRIBE.fullmatch(url)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = parts(message)
    settings_url = f"{BASE}/settings#reminders"
    assert f"{why} Change that in your settings: {settings_url}\n" \
           f"Stop these emails: {url}" in text.replace("\r\n", "\n")
    assert why in html
    assert f'<a href="{settings_url}" style="color: #5b6475;">Change that in your settings</a>' \
        in html
    assert f'<a href="{url}" style="color: #5b6475;">Stop these emails</a>' in html
    return url


def test_a_reminder_email_has_a_footer_and_one_click_unsubscribe(emailed):
    """Found in review: the footer named the settings without a link, and there was no
    List-Unsubscribe."""
    assert_footer_and_unsubscribe(
        emailed[2], "You receive this because email reminders are on in your Rapport settings.")


def test_a_digest_has_a_footer_and_one_click_unsubscribe(mail_app, smtp_server, digest_user,
                                                         make_reminder):
    """Found in review: the digest said nothing of why it came or how to stop it."""
    make_reminder(digest_user, title="Today thing", local_date=date(2025, 6, 2),
                  local_time=time(17, 0))

    run(mail_app, tasks.send_digests, datetime(2025, 6, 2, 12, 0, tzinfo=UTC), "w")

    [digest] = smtp_server.messages
    url = assert_footer_and_unsubscribe(
        digest, "You receive this daily digest because you chose it in your Rapport settings.")
    # One click in the mail program (no session, no CSRF token) ends the digest.
    response = mail_app.test_client().post(url.removeprefix(BASE),
                                           data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    with mail_app.app_context():
        from crm.models import User

        owner = db.session.get(User, digest_user.id)
        assert (owner.email_reminders, owner.digest_enabled) == (False, False)
    assert run(mail_app, tasks.send_digests, datetime(2025, 6, 3, 12, 0, tzinfo=UTC), "w") == 0


def email_settings(app, user) -> tuple[bool, bool]:
    with app.app_context():
        from crm.models import User

        owner = db.session.get(User, user.id)
        return owner.email_reminders, owner.digest_enabled


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_the_unsubscribe_link_asks_on_get_and_a_tokenless_post_turns_emails_off(
    mail_app, smtp_server, user, emailed, make_user, make_reminder
):
    url = UNSUBSCRIBE.search(parts(emailed[2])[0]).group(0)
    path = url.removeprefix(BASE)
    scanner = mail_app.test_client()

    for method in ("get", "head"):  # a link scanner, a prefetch: nothing changes
        assert getattr(scanner, method)(path).status_code == 200
    page = scanner.get(path)
    assert "Stop reminder emails?" in page_text(page.data)
    assert 'form method="post"' in page.data.decode()
    assert email_settings(mail_app, user) == (True, False)

    # What a mail provider sends (RFC 8058): no cookie, no CSRF token.
    done = mail_app.test_client().post(path, data={"List-Unsubscribe": "One-Click"})

    assert done.status_code == 200
    text = page_text(done.data)
    assert "Reminder emails are off" in text
    assert "Turn them back on in your settings" in text
    assert 'href="/settings#reminders"' in done.data.decode()
    assert email_settings(mail_app, user) == (False, False)
    make_reminder(user, title="Later", due_at=NOW + timedelta(minutes=5))
    run(mail_app, tasks.deliver_due, NOW + timedelta(minutes=10), "w")
    assert len(smtp_server.messages) == 1  # the first email only
    # Again: nothing more to do, and it says so.
    again = mail_app.test_client().post(path)
    assert "Reminder emails were already off" in page_text(again.data)


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_only_a_genuine_unsubscribe_token_for_that_account_turns_emails_off(
    mail_app, client, user, emailed, make_user
):
    text = parts(emailed[2])[0]
    unsubscribe = UNSUBSCRIBE.search(text).group(1)
    action = tokens(mail_app, text)["done"]["token"]
    forged = URLSafeTimedSerializer("not-the-secret", salt="rapport.unsubscribe").dumps(
        {"u": user.id, "e": user.email, "p": "unsubscribe"})
    payload, _, signature = unsubscribe.rpartition(".")
    flipped = f"{payload}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}"

    # A reminder's action link is no unsubscribe token, nor the other way round.
    for bad in (action, forged, flipped, "garbage"):
        assert client.post(f"/unsubscribe/{bad}").status_code == 404, bad
    assert client.get(f"/r/{unsubscribe}").status_code == 404
    assert email_settings(mail_app, user) == (True, False)
    # The token names the address it was sent to: once the account's address changed (or
    # its id went to a new account), it names nobody.
    with mail_app.app_context():
        from crm.models import User

        db.session.get(User, user.id).email = "ada@elsewhere.example"
        db.session.commit()
    assert client.post(f"/unsubscribe/{unsubscribe}").status_code == 404
    assert email_settings(mail_app, user) == (True, False)


def test_a_deactivated_accounts_email_links_are_404_until_it_is_activated(
    mail_app, client, runner, user, emailed
):
    reminder, _, message = emailed
    text = parts(message)[0]
    found = tokens(mail_app, text)
    done, snooze, log = (f"/r/{found[a]['token']}" for a in ("done", "snooze", "log"))
    unsubscribe = UNSUBSCRIBE.search(text).group(0).removeprefix(BASE)
    assert runner.invoke(args=["users", "deactivate", user.email]).exit_code == 0

    # As the password and address links: nothing shown (not the reminder's title), nothing
    # changed, no way into the app.
    for path in (done, snooze, log, unsubscribe):
        page = client.get(path)
        assert page.status_code == 404, path
        assert "Follow up with Grace" not in page_text(page.data)
    for path, data in ((done, {}), (snooze, {"until": "tomorrow"}), (unsubscribe, {})):
        assert client.post(path, data=data).status_code == 404, path
    assert load(mail_app, reminder.id).status == ReminderStatus.DELIVERED
    assert email_settings(mail_app, user) == (True, False)

    assert runner.invoke(args=["users", "activate", user.email]).exit_code == 0
    assert "Follow up with Grace" in page_text(client.get(done).data)
    assert client.get(unsubscribe).status_code == 200
    assert client.get(log).status_code == 302


# --- failures and retries ----------------------------------------------------------------


@pytest.mark.app_config(EMAIL_MAX_ATTEMPTS=3, EMAIL_RETRY_BASE_SECONDS=60)
def test_an_unreachable_server_is_retried_with_backoff_then_shown_as_failed(
    app, client, auth, user, make_reminder, frozen
):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_TLS="none",
                      BASE_URL=BASE)
    reminder = make_reminder(user, title="Call the bank", due_at=NOW - timedelta(minutes=1))

    assert run(app, tasks.deliver_due, NOW, "worker-1") == 1

    [email] = email_deliveries(app)
    assert (email.status, email.attempts) == (DeliveryStatus.PENDING, 1)
    assert "cannot connect" in email.last_error
    assert within(email.next_attempt_at, NOW + timedelta(seconds=60))
    # The in-app notification stands regardless.
    assert load(app, reminder.id).status == ReminderStatus.DELIVERED

    auth.login_as(user)
    retrying = page_text(client.get("/reminders").data)
    assert "Email problems" in retrying
    assert "Attempt 1 failed; retrying" in retrying

    run(app, tasks.send_pending_emails, NOW + timedelta(seconds=59), "worker-1")
    assert email_deliveries(app)[0].attempts == 1  # not before its time

    second = email.next_attempt_at
    run(app, tasks.send_pending_emails, second, "worker-1")
    [email] = email_deliveries(app)
    assert (email.status, email.attempts) == (DeliveryStatus.PENDING, 2)
    assert within(email.next_attempt_at, second + timedelta(seconds=120))  # doubled

    run(app, tasks.send_pending_emails, email.next_attempt_at, "worker-1")
    [email] = email_deliveries(app)
    assert (email.status, email.attempts, email.next_attempt_at) == (
        DeliveryStatus.FAILED, 3, None
    )
    assert "cannot connect" in email.last_error

    run(app, tasks.send_pending_emails, NOW + timedelta(days=1), "worker-1")
    assert email_deliveries(app)[0].attempts == 3  # given up: no more attempts

    frozen.move_to(NOW + timedelta(minutes=5))
    failed = page_text(client.get("/reminders").data)
    assert "Gave up after 3 attempts" in failed
    assert "Call the bank" in failed
    assert "cannot connect" in failed
    assert "Call the bank" in page_text(client.get("/notifications").data)
    with app.app_context():
        [in_app] = db.session.scalars(
            select(Delivery).where(Delivery.channel == DeliveryChannel.IN_APP)
        ).all()
        assert in_app.reminder_id == reminder.id


@pytest.mark.app_config(EMAIL_RETRY_BASE_SECONDS=60)
def test_a_retry_after_the_server_is_back_sends_once_with_the_same_message_id(
    app, smtp_server, user, make_reminder
):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_TLS="none")
    make_reminder(user, due_at=NOW - timedelta(minutes=1))
    run(app, tasks.deliver_due, NOW, "worker-1")
    [failed] = email_deliveries(app)
    assert failed.attempts == 1

    app.config["SMTP_PORT"] = smtp_server.port
    run(app, tasks.send_pending_emails, NOW + timedelta(seconds=65), "worker-1")
    run(app, tasks.send_pending_emails, NOW + timedelta(seconds=600), "worker-1")

    [message] = smtp_server.messages
    [sent] = email_deliveries(app)
    assert (sent.status, sent.attempts, sent.last_error) == (DeliveryStatus.SENT, 2, None)
    assert message["Message-ID"] == sent.message_id == failed.message_id


def test_a_connection_drop_mid_batch_does_not_hold_the_emails_for_the_lease(
        mail_app, smtp_server, frozen, user, make_reminder):
    """The database went away after the batch was claimed: the running worker forgot its
    claims, and the emails waited five minutes for the reaper."""
    for n in range(3):
        make_reminder(user, title=f"Call {n}", due_at=NOW - timedelta(minutes=1))
    run(mail_app, tasks.deliver_in_app, NOW, "worker-1")
    send = _job(mail_app, tasks.send_pending_emails, "worker-1")

    # The first message's claim is renewed just before it is built: the statement fails.
    with connection_drops(mail_app, "UPDATE deliveries SET claim_expires_at") as left:
        send()
    assert left == [0]
    assert smtp_server.messages == []
    assert {d.claimed_by for d in email_deliveries(mail_app)} == {"worker-1"}

    frozen.shift(30)  # the next run, well within the lease
    send()
    send()
    assert len(smtp_server.messages) == 3
    assert {m["Subject"] for m in smtp_server.messages} == {"Call 0", "Call 1", "Call 2"}
    assert {(d.status, d.claimed_by) for d in email_deliveries(mail_app)} == {
        (DeliveryStatus.SENT, None)}


def test_a_worker_never_sends_what_another_process_with_its_id_holds(
        mail_app, smtp_server, user, make_reminder, monkeypatch):
    """Two workers share an ID (containers that share a hostname, each worker pid 1): while
    one is in the middle of its batch, the other's pass sends none of it."""
    make_reminder(user, due_at=NOW - timedelta(minutes=1))
    run(mail_app, tasks.deliver_in_app, NOW, "host:1")
    real_send = Mailer.send
    other: list[int | None] = []

    def send(self, message):
        real_send(self, message)
        if not other:  # sent, not yet settled: the other process runs a pass
            other.append(None)
            other[0] = run(mail_app, tasks.send_pending_emails, NOW, "host:1")

    monkeypatch.setattr(Mailer, "send", send)
    assert run(mail_app, tasks.send_pending_emails, NOW, "host:1") == 1
    assert other == [0]
    assert len(smtp_server.messages) == 1


@pytest.fixture
def hanging(app):
    """An SMTP server that accepts connections and never answers (0.3 s timeout)."""
    with HangingServer() as server:
        app.config.update(server.app_config(timeout=0.3), BASE_URL=BASE)
        yield server


def test_a_hanging_smtp_server_never_holds_up_in_app_notifications(app, hanging, user,
                                                                   make_reminder):
    from crm.jobs.scheduler import build_scheduler

    ids = [make_reminder(user, due_at=NOW - timedelta(minutes=n + 1)).id for n in range(3)]
    jobs = {job.id: job for job in build_scheduler(app, "worker-1").get_jobs()}

    jobs["deliver-due"].func()

    assert hanging.connections == 0  # in-app delivery never talks to SMTP
    assert {load(app, i).status for i in ids} == {ReminderStatus.DELIVERED}
    assert [d.status for d in email_deliveries(app)] == [DeliveryStatus.PENDING] * 3

    jobs["send-emails"].func()  # email has a job of its own

    assert hanging.connections == 1


@pytest.mark.app_config(EMAIL_RETRY_BASE_SECONDS=60)
def test_a_server_that_times_out_ends_the_email_pass_and_backs_off_from_the_failure(
    app, hanging, user, make_reminder
):
    for n in range(3):
        make_reminder(user, due_at=NOW - timedelta(minutes=n + 1))
    run(app, tasks.deliver_in_app, NOW, "worker-1")

    run(app, tasks.send_pending_emails, NOW, "worker-1")

    assert hanging.connections == 1  # one timeout, not one per queued email
    first, *rest = email_deliveries(app)
    assert (first.status, first.attempts) == (DeliveryStatus.PENDING, 1)
    assert "cannot connect" in first.last_error
    # Backoff counts from the failure, 0.3 s into the pass, not from its start.
    assert first.next_attempt_at >= NOW + timedelta(seconds=60.3)
    for delivery in rest:  # given back untried: no attempt spent
        assert (delivery.status, delivery.attempts, delivery.claimed_by) == (
            DeliveryStatus.PENDING, 0, None)
        assert delivery.next_attempt_at >= NOW + timedelta(seconds=60.3)


def test_a_worker_asked_to_stop_gives_back_the_emails_it_has_not_sent(
    mail_app, smtp_server, user, make_reminder
):
    for n in range(3):
        make_reminder(user, due_at=NOW - timedelta(minutes=n + 1))
    run(mail_app, tasks.deliver_in_app, NOW, "worker-1")

    tasks.stop_requested.set()
    try:
        assert run(mail_app, tasks.send_pending_emails, NOW, "worker-1") == 0
    finally:
        tasks.stop_requested.clear()

    assert smtp_server.messages == []
    assert {(d.status, d.attempts, d.claimed_by) for d in email_deliveries(mail_app)} == {
        (DeliveryStatus.PENDING, 0, None)}


def after_first_email(monkeypatch, action):
    """Run action once, in a thread of its own (as the web app would), right after the
    worker sent its first email."""
    import threading

    from crm.mail import Mailer

    waiting = [action]

    class Interrupted(Mailer):
        def send(self, message):
            super().send(message)
            while waiting:
                thread = threading.Thread(target=waiting.pop())
                thread.start()
                thread.join()

    monkeypatch.setattr(tasks, "Mailer", Interrupted)


def queue_in_order(app, reminders) -> None:
    """Deliver each reminder in-app in a pass of its own, so their emails go in this order."""
    for n, reminder in enumerate(reminders):
        run(app, tasks.deliver_in_app, reminder.due_at + timedelta(seconds=1), f"w{n}")


def test_nothing_is_emailed_for_an_account_or_contact_deleted_while_a_batch_is_out(
    mail_app, smtp_server, user, make_user, make_contact, make_reminder, monkeypatch
):
    from crm.contacts.services import delete_contact
    from crm.models import Contact, User
    from crm.portability.services import delete_account

    leaver = make_user(name="Leaver", email="leaver@example.com", time_zone=BERLIN)
    kept, gone = make_contact(user, name="Kept"), make_contact(user, name="Gone")
    queue_in_order(mail_app, [
        make_reminder(user, contact=kept, title="About Kept", due_at=NOW - timedelta(minutes=3)),
        make_reminder(user, contact=gone, title="About Gone", due_at=NOW - timedelta(minutes=2)),
        make_reminder(leaver, title="Leaver's own", due_at=NOW - timedelta(minutes=1)),
    ])

    def delete():
        with mail_app.app_context():
            delete_contact(db.session.get(Contact, gone.id))
            delete_account(db.session.get(User, leaver.id))
            db.session.commit()

    after_first_email(monkeypatch, delete)
    assert run(mail_app, tasks.send_pending_emails, NOW, "worker-1") == 1

    assert [m["Subject"] for m in smtp_server.messages] == ["About Kept"]
    assert [d.status for d in email_deliveries(mail_app)] == [DeliveryStatus.SENT]


def act_on(app, reminder_id, change) -> None:
    from crm.auth.services import update_reminder_settings
    from crm.models import User
    from crm.reminders import services

    with app.app_context():
        reminder = db.session.get(Reminder, reminder_id)
        later = NOW + timedelta(seconds=20)
        if change == "email off":
            update_reminder_settings(db.session.get(User, reminder.owner_id),
                                     email_mode="off", digest_hour=8)
        elif change == "snoozed":
            services.snooze(reminder, NOW + timedelta(days=7), now=later)
        else:
            {"done": services.mark_done, "dismissed": services.dismiss}[change](reminder,
                                                                               now=later)
        db.session.commit()


@pytest.mark.app_config(EMAIL_RETRY_BASE_SECONDS=60)
@pytest.mark.parametrize("recurrence, change", [
    ("none", "done"), ("none", "dismissed"), ("none", "snoozed"), ("none", "email off"),
    ("daily", "done"), ("daily", "dismissed"),
])
def test_a_retry_is_not_sent_once_the_user_has_acted_or_turned_email_off(
    app, client, auth, smtp_server, user, make_reminder, recurrence, change
):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_TLS="none")
    reminder = make_reminder(user, due_at=NOW - timedelta(minutes=1), recurrence=recurrence,
                             title="Call Ann")
    run(app, tasks.deliver_due, NOW, "worker-1")
    assert email_deliveries(app)[0].attempts == 1  # failed: to be retried

    act_on(app, reminder.id, change)
    app.config["SMTP_PORT"] = smtp_server.port
    run(app, tasks.send_pending_emails, NOW + timedelta(minutes=5), "worker-1")

    assert smtp_server.messages == []
    [email] = email_deliveries(app)
    assert (email.status, email.attempts, email.next_attempt_at, email.claimed_by) == (
        DeliveryStatus.SKIPPED, 1, None, None)
    assert email.last_error.startswith("not sent: ")
    auth.login_as(user)
    assert "Email problems" not in page_text(client.get("/reminders").data)


@pytest.mark.app_config(EMAIL_RETRY_BASE_SECONDS=60)
def test_a_repeating_reminders_retry_is_sent_though_the_series_moved_on(
    app, smtp_server, user, make_reminder
):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_TLS="none")
    make_reminder(user, due_at=NOW - timedelta(minutes=1), recurrence="daily")
    run(app, tasks.deliver_due, NOW, "worker-1")

    app.config["SMTP_PORT"] = smtp_server.port
    run(app, tasks.send_pending_emails, NOW + timedelta(minutes=5), "worker-1")

    assert len(smtp_server.messages) == 1
    assert email_deliveries(app)[0].status == DeliveryStatus.SENT


@pytest.mark.app_config(EMAIL_RETRY_BASE_SECONDS=60)
@pytest.mark.parametrize("recurrence", ["none", "weekly"])
def test_reading_the_notification_is_not_acting_on_the_reminder(
    app, smtp_server, user, make_reminder, recurrence
):
    """Found in review: "Mark all read" between the in-app delivery and the email (now
    separate jobs) stopped a repeating reminder's email, as if marked done."""
    from crm.models import User
    from crm.reminders.services import mark_all_read

    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_TLS="none")
    make_reminder(user, due_at=NOW - timedelta(minutes=1), recurrence=recurrence)
    run(app, tasks.deliver_due, NOW, "worker-1")  # the email fails: a retry waits
    with app.app_context():
        mark_all_read(db.session.get(User, user.id))
        db.session.commit()

    app.config["SMTP_PORT"] = smtp_server.port
    run(app, tasks.send_pending_emails, NOW + timedelta(minutes=5), "worker-1")
    assert len(smtp_server.messages) == 1
    assert email_deliveries(app)[0].status == DeliveryStatus.SENT


@pytest.mark.parametrize("minutes_a_message", [2, 4, 6])
def test_a_batch_slower_than_the_lease_is_never_sent_twice(
    mail_app, smtp_server, user, make_reminder, monkeypatch, minutes_a_message
):
    """Each message takes minutes (a slow server); after each, the reaper and a second
    worker run. The lease (5 minutes) is renewed as the batch goes, and a message whose
    claim lapsed anyway (6 minutes on one message) is left to the worker that took it."""
    import threading

    queue_in_order(mail_app, [make_reminder(user, title=f"R{n}",
                                            due_at=NOW - timedelta(minutes=5 - n))
                              for n in range(4)])
    clock = [NOW]

    def meanwhile():
        with mail_app.app_context():
            tasks.reap_stale_claims(clock[0])
            tasks.send_pending_emails(clock[0], "worker-2", lambda: clock[0])

    prepare, first = tasks._prepare_email, []

    def after_a_while(*args):
        if threading.current_thread() is threading.main_thread():
            if first:  # the previous message took minutes
                clock[0] += timedelta(minutes=minutes_a_message)
                thread = threading.Thread(target=meanwhile)
                thread.start()
                thread.join()
            first.append(False)
        return prepare(*args)

    monkeypatch.setattr(tasks, "_prepare_email", after_a_while)
    with mail_app.app_context():
        tasks.send_pending_emails(NOW, "worker-1", lambda: clock[0])

    subjects = [m["Subject"] for m in smtp_server.messages]
    assert sorted(subjects) == ["R0", "R1", "R2", "R3"]  # each once
    assert {d.status for d in email_deliveries(mail_app)} == {DeliveryStatus.SENT}
    if minutes_a_message < 5:
        assert smtp_server.connections == 1  # the first worker kept its whole batch


# --- batching ----------------------------------------------------------------------------


def test_a_batch_of_emails_shares_one_smtp_connection(mail_app, smtp_server, make_user,
                                                      make_reminder):
    owners = [make_user(), make_user()]
    for n in range(5):
        make_reminder(owners[n % 2], due_at=NOW - timedelta(minutes=n + 1))

    run(mail_app, tasks.deliver_due, NOW, "worker-1")

    received = smtp_server.received
    assert len(received) == 5
    assert smtp_server.connections == 1
    assert len({r.peer for r in received}) == 1
    assert sorted(r.rcpt_tos[0] for r in received) == sorted(
        [owners[0].email] * 3 + [owners[1].email] * 2
    )
    assert len({r.message["Message-ID"] for r in received}) == 5


@pytest.mark.app_config(REMINDER_BATCH_SIZE=2)
def test_each_batch_opens_one_connection(mail_app, smtp_server, user, make_reminder):
    for n in range(5):
        make_reminder(user, due_at=NOW - timedelta(minutes=n + 1))

    run(mail_app, tasks.deliver_due, NOW, "worker-1")

    assert len(smtp_server.messages) == 5
    assert smtp_server.connections == 3  # batches of 2, 2 and 1


def test_an_email_claim_takes_at_most_its_limit(mail_app, user, make_reminder):
    mail_app.config["SMTP_HOST"] = None  # queue nothing yet
    for n in range(7):
        make_reminder(user, due_at=NOW - timedelta(minutes=n + 1))
    run(mail_app, tasks.deliver_due, NOW, "worker-1")
    with mail_app.app_context():
        from sqlalchemy import insert

        rows = db.session.scalars(
            select(Delivery).where(Delivery.channel == DeliveryChannel.IN_APP)
        ).all()
        db.session.execute(insert(Delivery), [
            {"reminder_id": d.reminder_id, "user_id": d.user_id,
             "channel": DeliveryChannel.EMAIL, "occurrence": d.occurrence,
             "status": DeliveryStatus.PENDING, "attempts": 0, "next_attempt_at": NOW,
             "created_at": NOW}
            for d in rows
        ])
        db.session.commit()

    first = run(mail_app, tasks.claim_pending_emails, NOW, "worker-a", 3)
    second = run(mail_app, tasks.claim_pending_emails, NOW, "worker-b", 3)
    third = run(mail_app, tasks.claim_pending_emails, NOW, "worker-a", 3)

    assert (len(first), len(second), len(third)) == (3, 3, 1)
    assert len(set(first) | set(second) | set(third)) == 7


# --- digests -----------------------------------------------------------------------------


@pytest.fixture
def digest_user(mail_app, client, auth, make_user):
    """A New York user who chose a daily digest at 08:00, through the settings page."""
    user = make_user(name="Grace Hopper", email="grace@example.com",
                     time_zone="America/New_York")
    choose_the_digest(client, auth, user)
    return user


def test_the_digest_arrives_once_a_day_at_the_local_hour(
    mail_app, smtp_server, digest_user, make_user, make_reminder
):
    ny = "America/New_York"
    make_reminder(digest_user, title="Overdue thing", local_date=date(2025, 6, 1),
                  local_time=time(15, 0))
    make_reminder(digest_user, title="Today thing", local_date=date(2025, 6, 2),
                  local_time=time(17, 0))
    make_reminder(digest_user, title="Tomorrow thing", local_date=date(2025, 6, 3),
                  local_time=time(9, 0))
    make_reminder(digest_user, title="Finished thing", local_date=date(2025, 6, 2),
                  local_time=time(10, 0), status=ReminderStatus.DONE)
    other = make_user(time_zone=ny)
    make_reminder(other, title="Someone else's", local_date=date(2025, 6, 2))
    # The overdue one fired in-app; a digest user gets no email for it on its own.
    assert run(mail_app, tasks.deliver_due, datetime(2025, 6, 2, 11, 0, tzinfo=UTC), "w") == 1
    messages_for = lambda: [m for m in smtp_server.messages  # noqa: E731
                            if m["To"] == "grace@example.com"]
    assert messages_for() == []

    # 07:59 in New York (EDT, UTC-4): not yet.
    assert run(mail_app, tasks.send_digests, datetime(2025, 6, 2, 11, 59, tzinfo=UTC), "w") == 0
    assert messages_for() == []

    assert run(mail_app, tasks.send_digests, datetime(2025, 6, 2, 12, 0, tzinfo=UTC), "w") == 1
    [digest] = messages_for()
    assert digest["Subject"] == "Rapport: 1 due today, 1 overdue"
    text, html = parts(digest)
    assert "Monday 2 June 2025" in text
    # The digest names the zone its times are in, as a reminder email does.
    assert text.splitlines()[2:4] == ["Your Rapport digest for Monday 2 June 2025.",
                                      "Times are in America/New_York."]
    assert "Times are in America/New_York." in html
    for title in ("Overdue thing", "Today thing"):
        assert title in text
        assert title in html
    for title in ("Tomorrow thing", "Finished thing", "Someone else's"):
        assert title not in text
    assert text.index("Today thing") < text.index("Overdue thing")

    # Later the same local day (up to 23:59 in New York): nothing more.
    for later in (datetime(2025, 6, 2, 12, 30, tzinfo=UTC),
                  datetime(2025, 6, 3, 3, 59, tzinfo=UTC)):
        assert run(mail_app, tasks.send_digests, later, "w") == 0
    assert len(messages_for()) == 1

    # The next local day, at 08:00 again.
    assert run(mail_app, tasks.send_digests, datetime(2025, 6, 3, 12, 0, tzinfo=UTC), "w") == 1
    assert len(messages_for()) == 2
    assert len({m["Message-ID"] for m in messages_for()}) == 2
    with mail_app.app_context():
        runs = db.session.scalars(select(DigestRun).order_by(DigestRun.local_date)).all()
        assert [(r.local_date, r.status) for r in runs if r.user_id == digest_user.id] == [
            (date(2025, 6, 2), DeliveryStatus.SENT), (date(2025, 6, 3), DeliveryStatus.SENT)
        ]
        assert [r.message_id for r in runs] == [m["Message-ID"] for m in messages_for()]


def test_a_digest_lists_what_was_delivered_earlier_that_day_as_due_today(
    mail_app, client, smtp_server, digest_user, make_reminder
):
    """Found in review: a daily reminder before the digest hour never reached a digest user
    by email (delivered in-app, the series had moved on to tomorrow by 08:00), and a one-off
    due at 07:30 that day was listed as overdue."""
    make_reminder(digest_user, title="Daily note", local_date=date(2025, 6, 2),
                  local_time=time(7, 0), recurrence="daily")
    make_reminder(digest_user, title="One-off", local_date=date(2025, 6, 2),
                  local_time=time(7, 30))
    snoozed = make_reminder(digest_user, title="Snoozed", local_date=date(2025, 6, 2),
                            local_time=time(7, 30))
    # The worker runs every quarter of an hour from 06:00 on 2 June to 08:00 on 3 June.
    moment = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)
    while moment <= datetime(2025, 6, 3, 12, 0, tzinfo=UTC):
        run(mail_app, tasks.deliver_due, moment, "w")
        if moment == datetime(2025, 6, 2, 11, 45, tzinfo=UTC):  # 07:45, after its delivery
            client.post(f"/reminders/{snoozed.id}/snooze",
                        data={f"snooze{snoozed.id}-until": "tomorrow"})  # 3 June, 09:00
        run(mail_app, tasks.send_digests, moment, "w")
        moment += timedelta(minutes=15)

    first, second = smtp_server.messages
    assert first["Subject"] == "Rapport: 2 due today, 0 overdue"
    text, html = parts(first)
    assert text.splitlines()[5:8] == ["Due today (2):", "- Daily note (07:00)",
                                      "- One-off (07:30)"]
    assert "Daily note" in html and "Snoozed" not in text + html
    # The next day: that day's occurrence, and the one-off still waiting since yesterday.
    assert second["Subject"] == "Rapport: 2 due today, 1 overdue"
    assert parts(second)[0].splitlines()[5:11] == [
        "Due today (2):", "- Daily note (07:00)", "- Snoozed (09:00)", "",
        "Overdue (1):", "- One-off (due 2 Jun 2025, 07:30)"]


def test_a_digest_leaves_out_an_occurrence_already_done_in_the_app(
    mail_app, client, smtp_server, digest_user, make_reminder
):
    """Found in review: done on today's occurrence of a series (from the inbox, before the
    digest hour) only marks its notification read; the digest listed it all the same."""
    daily = make_reminder(digest_user, title="Daily note", local_date=date(2025, 6, 2),
                          local_time=time(7, 0), recurrence="daily")
    make_reminder(digest_user, title="Weekly review", local_date=date(2025, 6, 2),
                  local_time=time(7, 0), recurrence="weekly")
    run(mail_app, tasks.deliver_due, datetime(2025, 6, 2, 11, 0, tzinfo=UTC), "w")  # 07:00
    occurrence = "2025-06-02T11:00:00+00:00"
    assert client.post(f"/reminders/{daily.id}/done", query_string={"occurrence": occurrence},
                       data={}).status_code == 302

    run(mail_app, tasks.send_digests, datetime(2025, 6, 2, 12, 0, tzinfo=UTC), "w")  # 08:00

    [digest] = smtp_server.messages
    assert digest["Subject"] == "Rapport: 1 due today, 0 overdue"
    text, _ = parts(digest)
    assert "Weekly review (07:00)" in text and "Daily note" not in text


def test_a_digest_puts_today_first_and_lists_only_the_latest_overdue(
    mail_app, smtp_server, digest_user, make_reminder
):
    """Found in review: 600 overdue reminders came first, every one of them, in a 195 KB
    email whose 'Due today' Gmail clipped away; the HTML part was one line."""
    for day in range(1, 31):  # 1 to 30 May, 10:00 in New York
        make_reminder(digest_user, title=f"Overdue {day} May", local_date=date(2025, 5, day),
                      local_time=time(10, 0))
    make_reminder(digest_user, title="Board meeting prep", local_date=date(2025, 6, 2),
                  local_time=time(16, 0))

    run(mail_app, tasks.send_digests, datetime(2025, 6, 2, 12, 0, tzinfo=UTC), "w")

    [digest] = smtp_server.messages
    assert digest["Subject"] == "Rapport: 1 due today, 30 overdue"
    text, html = parts(digest)
    reminders_url = f"{BASE}/reminders"
    for body in (text, html):
        assert body.index("Due today") < body.index("Board meeting prep") < \
            body.index("Overdue (30)")
        listed = re.findall(r"Overdue (\d+) May", body)
        assert listed == [str(day) for day in range(30, 5, -1)]  # 25, latest first
        assert "…and 5 more overdue" in body
    assert f"…and 5 more overdue: {reminders_url}" in text
    assert f'<a href="{reminders_url}" style="color: #2d5bd7;">…and 5 more overdue</a>' in html
    # One item a line in the HTML source.
    assert [line.count("<li>") for line in html.splitlines() if "<li>" in line] == [1] * 26


def test_a_digest_retry_is_not_given_back_while_its_claim_lasts(
    mail_app, smtp_server, digest_user, make_reminder, monkeypatch
):
    """The lease of a retry counts from when it was taken, not from the first attempt: a
    retry taken long after it could otherwise be reaped mid-send and sent twice."""
    make_reminder(digest_user, title="Today thing", local_date=date(2025, 6, 2),
                  local_time=time(17, 0))
    mail_app.config["SMTP_PORT"] = free_port()
    eight = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
    assert run(mail_app, tasks.send_digests, eight, "w1") == 0  # failed: retry later
    mail_app.config["SMTP_PORT"] = smtp_server.port

    real_send = tasks._send_digest
    monkeypatch.setattr(tasks, "_send_digest", lambda *args: (0, False))  # w1 takes it, stalls
    ten_past = eight + timedelta(minutes=10)
    assert run(mail_app, tasks.send_digests, ten_past, "w1") == 0
    monkeypatch.setattr(tasks, "_send_digest", real_send)

    lease = timedelta(seconds=mail_app.config["REMINDER_LEASE_SECONDS"])
    assert run(mail_app, tasks.reap_stale_claims, ten_past + timedelta(minutes=1)) == 0
    assert run(mail_app, tasks.send_digests, ten_past + timedelta(minutes=1), "w2") == 0
    assert smtp_server.messages == []
    # The claim lapses (w1 died): another worker takes the digest up and sends it once.
    assert run(mail_app, tasks.reap_stale_claims, ten_past + lease + timedelta(seconds=1)) == 1
    assert run(mail_app, tasks.send_digests, ten_past + lease + timedelta(seconds=1), "w2") == 1
    assert len(smtp_server.messages) == 1


def digest_users(app, make_user, make_reminder, n: int) -> list:
    """n New York users with a digest at 08:00 and one reminder due on 2 June."""
    from crm.models import User

    people = [make_user(email=f"digest{i}@example.com", time_zone="America/New_York")
              for i in range(n)]
    with app.app_context():
        for person in people:
            row = db.session.get(User, person.id)
            row.email_reminders, row.digest_enabled, row.digest_hour = True, True, 8
        db.session.commit()
    for person in people:
        make_reminder(person, title="Today thing", local_date=date(2025, 6, 2),
                      local_time=time(17, 0))
    return people


def test_the_digests_of_one_run_share_one_smtp_session(mail_app, smtp_server, make_user,
                                                       make_reminder):
    digest_users(mail_app, make_user, make_reminder, 3)
    before = smtp_server.connections
    assert run(mail_app, tasks.send_digests, datetime(2025, 6, 2, 12, 0, tzinfo=UTC), "w") == 3
    assert sorted(m["To"] for m in smtp_server.messages) == [
        f"digest{i}@example.com" for i in range(3)]
    assert smtp_server.connections - before == 1


def test_a_hanging_server_holds_up_one_digest_not_every_one(mail_app, smtp_server, make_user,
                                                           make_reminder):
    """At a server that accepts and never answers, a run waits out one timeout, not one per
    digest: the digests after the failed one wait for the next run, unclaimed."""
    digest_users(mail_app, make_user, make_reminder, 3)
    eight = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
    with HangingServer() as hanging:
        mail_app.config.update(hanging.app_config(timeout=0.3))
        assert run(mail_app, tasks.send_digests, eight, "w") == 0
        assert hanging.connections == 1
    with mail_app.app_context():
        [failed] = db.session.scalars(select(DigestRun)).all()
        assert (failed.status, failed.attempts) == (DeliveryStatus.PENDING, 1)
    # The server is back: the two never tried go out at once, the failed one when its
    # retry is due; each once.
    mail_app.config.update(smtp_server.app_config())
    assert run(mail_app, tasks.send_digests, eight + timedelta(seconds=30), "w") == 2
    assert run(mail_app, tasks.send_digests, eight + timedelta(seconds=60), "w") == 1
    assert run(mail_app, tasks.send_digests, eight + timedelta(minutes=5), "w") == 0
    assert len(smtp_server.messages) == 3


def another_worker_runs(app, clock) -> None:
    """Meanwhile, on another worker: the reaper, then the digest job (each every minute)."""
    import threading

    def jobs():
        with app.app_context():
            tasks.reap_stale_claims(clock[0])
            tasks.send_digests(clock[0], "worker-2", lambda: clock[0])

    thread = threading.Thread(target=jobs)
    thread.start()
    thread.join()


def test_a_digest_claimed_late_in_a_long_run_is_not_sent_twice(
    mail_app, smtp_server, make_user, make_reminder, monkeypatch
):
    """Found in review: the first digests of a run at 08:00 took longer than the lease; the
    next one was claimed with a lease counted from the run's start, lapsed already, so
    another worker's reaper gave it to that worker, and both sent it."""
    from crm.mail import Mailer

    digest_users(mail_app, make_user, make_reminder, 2)
    lease = timedelta(seconds=mail_app.config["REMINDER_LEASE_SECONDS"])
    clock = [datetime(2025, 6, 2, 12, 0, tzinfo=UTC)]
    sends: list[str] = []

    class Slow(Mailer):
        def send(self, message):
            sends.append(message["To"])
            if len(sends) == 1:
                clock[0] += lease + timedelta(seconds=1)  # the first took that long
            elif len(sends) == 2:
                another_worker_runs(mail_app, clock)
            return super().send(message)

    monkeypatch.setattr(tasks, "Mailer", Slow)
    with mail_app.app_context():
        tasks.send_digests(clock[0], "worker-1", lambda: clock[0])

    assert sorted(m["To"] for m in smtp_server.messages) == [
        "digest0@example.com", "digest1@example.com"]  # each once
    with mail_app.app_context():
        assert {(r.status, r.attempts) for r in db.session.scalars(select(DigestRun))} == {
            (DeliveryStatus.SENT, 1)}


def test_a_digest_whose_claim_lapsed_before_it_went_is_left_to_the_worker_that_took_it(
    mail_app, smtp_server, make_user, make_reminder, monkeypatch
):
    """Claimed, then held up longer than the lease before it went (a stalled machine): the
    reaper gave it to another worker, which sent it. The first one does not send it too."""
    digest_users(mail_app, make_user, make_reminder, 1)
    lease = timedelta(seconds=mail_app.config["REMINDER_LEASE_SECONDS"])
    clock = [datetime(2025, 6, 2, 12, 0, tzinfo=UTC)]
    send_digest, stalled = tasks._send_digest, []

    def stalling(*args):
        if not stalled:  # worker-1, between its claim and its digest
            stalled.append(True)
            clock[0] += lease + timedelta(seconds=1)
            another_worker_runs(mail_app, clock)
        return send_digest(*args)

    monkeypatch.setattr(tasks, "_send_digest", stalling)
    with mail_app.app_context():
        assert tasks.send_digests(clock[0], "worker-1", lambda: clock[0]) == 0

    assert len(smtp_server.messages) == 1
    with mail_app.app_context():
        [sent] = db.session.scalars(select(DigestRun)).all()
        assert (sent.status, sent.attempts) == (DeliveryStatus.SENT, 1)


def digest_claims(app) -> list[tuple[DeliveryStatus, str | None, int]]:
    """Each digest's status, the worker holding its claim, and its attempts."""
    with app.app_context():
        return [(r.status, r.claimed_by, r.attempts)
                for r in db.session.scalars(select(DigestRun).order_by(DigestRun.id))]


def digest_pass_fails_after_its_claim(app, make_reminder, user, worker_id: str) -> None:
    """At 08:00 in New York (NOW), the running worker's digest pass claims the user's digest,
    and its connection drops as it reads what the digest lists."""
    make_reminder(user, title="Today thing", local_date=date(2025, 6, 2),
                  local_time=time(17, 0))
    with connection_drops(app, "FROM reminders") as left:
        _job(app, tasks.send_digests, worker_id)()
    assert left == [0]
    assert digest_claims(app) == [(DeliveryStatus.SENDING, worker_id, 0)]


def test_a_connection_drop_mid_digest_does_not_hold_it_for_the_lease(
        mail_app, smtp_server, frozen, digest_user, make_reminder):
    """The database went away after a digest was claimed: the running worker forgot its
    claim, and the digest waited five minutes for the reaper."""
    digest_pass_fails_after_its_claim(mail_app, make_reminder, digest_user, "worker-1")
    assert smtp_server.messages == []

    frozen.shift(30)  # the next run, well within the lease
    send = _job(mail_app, tasks.send_digests, "worker-1")
    send()
    send()

    [digest] = smtp_server.messages
    assert digest["To"] == "grace@example.com" and "Today thing" in parts(digest)[0]
    assert digest_claims(mail_app) == [(DeliveryStatus.SENT, None, 1)]


def test_another_worker_waits_out_the_lease_of_a_digest_a_failed_pass_holds(
        mail_app, smtp_server, digest_user, make_reminder):
    digest_pass_fails_after_its_claim(mail_app, make_reminder, digest_user, "worker-1")
    lease = timedelta(seconds=mail_app.config["REMINDER_LEASE_SECONDS"])

    within = NOW + lease - timedelta(seconds=1)
    assert run(mail_app, tasks.reap_stale_claims, within) == 0
    assert run(mail_app, tasks.send_digests, within, "worker-2") == 0
    assert digest_claims(mail_app) == [(DeliveryStatus.SENDING, "worker-1", 0)]

    after = NOW + lease + timedelta(seconds=1)
    assert run(mail_app, tasks.reap_stale_claims, after) == 1
    assert run(mail_app, tasks.send_digests, after, "worker-2") == 1
    # worker-1 comes back: what it held was reaped and sent by worker-2.
    assert run(mail_app, tasks.send_digests, after + timedelta(seconds=1), "worker-1") == 0
    assert len(smtp_server.messages) == 1
    assert digest_claims(mail_app) == [(DeliveryStatus.SENT, None, 1)]


def test_a_failed_pass_never_takes_up_a_digest_another_process_with_its_id_claimed(
        mail_app, smtp_server, digest_user, make_reminder, monkeypatch):
    """Two workers share an ID (containers that share a hostname, each worker pid 1). The
    database was away for longer than the lease: the failed pass's claim was reaped, and
    the other process claimed the digest afresh; while it is sending it, the first
    process's next pass sends nothing."""
    digest_pass_fails_after_its_claim(mail_app, make_reminder, digest_user, "host:1")
    other_process = create_app({key: mail_app.config[key] for key in (
        "TESTING", "SECRET_KEY", "BASE_URL", "SMTP_HOST", "SMTP_PORT", "SMTP_TLS",
        "SMTP_TIMEOUT_SECONDS")} | {"DATABASE_URL": mail_app.config["SQLALCHEMY_DATABASE_URI"]})
    after = NOW + timedelta(seconds=mail_app.config["REMINDER_LEASE_SECONDS"] + 1)
    assert run(other_process, tasks.reap_stale_claims, after) == 1
    real_send = Mailer.send
    first: list[int | None] = []

    def send(self, message):
        if not first:  # claimed by the other process, going out: the first one's next pass
            first.append(None)
            first[0] = run(mail_app, tasks.send_digests, after + timedelta(seconds=1), "host:1")
        real_send(self, message)

    monkeypatch.setattr(Mailer, "send", send)
    try:
        assert run(other_process, tasks.send_digests, after, "host:1") == 1
    finally:
        with other_process.app_context():
            db.engine.dispose()

    assert first == [0]
    assert len(smtp_server.messages) == 1
    assert digest_claims(mail_app) == [(DeliveryStatus.SENT, None, 1)]


def test_a_late_digest_does_not_hold_back_the_next_days(mail_app, smtp_server, digest_user,
                                                        make_reminder):
    """Found by the reminder audit: with the worker back at 23:00 on 1 June, the 2 June
    digest waited until 11:00 (twelve hours after the catch-up), after an item at 10:00 it
    listed as due today."""
    make_reminder(digest_user, title="Call the bank", local_date=date(2025, 6, 1),
                  local_time=time(12, 0))  # overdue from then on: every digest lists it
    eleven_pm = datetime(2025, 6, 2, 3, 0, tzinfo=UTC)  # 23:00 on 1 June in New York
    assert run(mail_app, tasks.send_digests, eleven_pm, "w") == 1
    eight_am = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)  # 08:00 on 2 June
    assert run(mail_app, tasks.send_digests, eight_am, "w") == 1
    assert len(smtp_server.messages) == 2


def test_moving_west_after_the_digest_does_not_send_that_day_again(
    mail_app, smtp_server, make_user, make_reminder, client, auth
):
    from crm.models import User

    tokyo = make_user(name="Kenji", email="kenji@example.com", time_zone="Asia/Tokyo")
    with mail_app.app_context():
        db.session.get(User, tokyo.id).digest_enabled = True
        db.session.commit()
    make_reminder(tokyo, title="Call the bank", local_date=date(2025, 6, 9),
                  local_time=time(12, 0))  # overdue, so every digest has something
    eight_jst = datetime(2025, 6, 9, 23, 0, tzinfo=UTC)  # 08:00 on 10 June in Tokyo
    assert run(mail_app, tasks.send_digests, eight_jst, "w") == 1
    with mail_app.app_context():
        db.session.get(User, tokyo.id).time_zone = "America/Los_Angeles"  # 16:00 on 9 June
        db.session.commit()

    assert run(mail_app, tasks.send_digests, eight_jst + timedelta(minutes=6), "w") == 0
    # 10 June had its digest (in Tokyo); the next is 11 June at 08:00 in Los Angeles.
    assert run(mail_app, tasks.send_digests, datetime(2025, 6, 10, 15, 0, tzinfo=UTC),
               "w") == 0
    assert run(mail_app, tasks.send_digests, datetime(2025, 6, 11, 15, 0, tzinfo=UTC),
               "w") == 1
    assert len(smtp_server.messages) == 2


def test_no_digest_when_nothing_is_due(mail_app, smtp_server, digest_user, make_reminder):
    make_reminder(digest_user, title="Next week", local_date=date(2025, 6, 9))

    assert run(mail_app, tasks.send_digests, datetime(2025, 6, 2, 12, 0, tzinfo=UTC), "w") == 0
    assert run(mail_app, tasks.send_digests, datetime(2025, 6, 2, 13, 0, tzinfo=UTC), "w") == 0

    assert smtp_server.messages == []


@pytest.mark.app_config(EMAIL_RETRY_BASE_SECONDS=60)
def test_a_digest_that_could_not_be_sent_is_retried_and_sent_once(
    mail_app, smtp_server, digest_user, make_reminder
):
    make_reminder(digest_user, title="Today thing", local_date=date(2025, 6, 2),
                  local_time=time(17, 0))
    mail_app.config["SMTP_PORT"] = free_port()
    eight = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)

    assert run(mail_app, tasks.send_digests, eight, "w") == 0
    with mail_app.app_context():
        [failed] = db.session.scalars(select(DigestRun)).all()
        assert (failed.status, failed.attempts) == (DeliveryStatus.PENDING, 1)
        assert failed.next_attempt_at == eight + timedelta(seconds=60)

    mail_app.config["SMTP_PORT"] = smtp_server.port
    assert run(mail_app, tasks.send_digests, eight + timedelta(seconds=30), "w") == 0
    assert run(mail_app, tasks.send_digests, eight + timedelta(seconds=60), "w") == 1
    assert run(mail_app, tasks.send_digests, eight + timedelta(hours=1), "w") == 0

    [digest] = smtp_server.messages
    assert "Today thing" in parts(digest)[0]
    with mail_app.app_context():
        [sent] = db.session.scalars(select(DigestRun)).all()
        assert (sent.status, sent.attempts, sent.message_id) == (
            DeliveryStatus.SENT, 2, digest["Message-ID"]
        )


def digest_failed_once(mail_app, digest_user, make_reminder) -> None:
    """2 June's digest (listing an overdue reminder) failed once: a retry waits."""
    make_reminder(digest_user, title="Overdue thing", local_date=date(2025, 6, 1),
                  local_time=time(17, 0))  # overdue from then on: every digest lists it
    mail_app.config["SMTP_PORT"] = free_port()
    assert run(mail_app, tasks.send_digests, datetime(2025, 6, 2, 12, 0, tzinfo=UTC), "w") == 0


@pytest.mark.app_config(EMAIL_RETRY_BASE_SECONDS=60)
def test_a_digest_still_failing_when_its_day_ends_is_given_up_not_retrying_forever(
    mail_app, client, smtp_server, digest_user, make_reminder
):
    """Found in review: a digest that failed on 2 June was never taken up again after its
    day, yet the reminders page said "retrying" for good."""
    digest_failed_once(mail_app, digest_user, make_reminder)
    mail_app.config["SMTP_PORT"] = smtp_server.port
    assert run(mail_app, tasks.send_digests, datetime(2025, 6, 3, 12, 0, tzinfo=UTC), "w") == 1

    with mail_app.app_context():
        runs = {r.local_date: r.status for r in db.session.scalars(select(DigestRun))}
    assert runs == {date(2025, 6, 2): DeliveryStatus.FAILED, date(2025, 6, 3): DeliveryStatus.SENT}
    problems = page_text(client.get("/reminders").data)
    assert "Gave up after 1 attempt —" in problems and "retrying" not in problems


@pytest.mark.app_config(EMAIL_RETRY_BASE_SECONDS=60)
def test_turning_the_digest_off_ends_a_digest_waiting_for_a_retry(
    mail_app, client, digest_user, make_reminder
):
    digest_failed_once(mail_app, digest_user, make_reminder)
    assert "retrying" in page_text(client.get("/reminders").data)

    client.post("/settings", data={"action": "reminders", "reminders-email_mode": "each",
                                   "reminders-digest_hour": "8"})
    assert "Email problems" not in page_text(client.get("/reminders").data)
    with mail_app.app_context():
        [waiting] = db.session.scalars(select(DigestRun)).all()
        assert (waiting.status, waiting.next_attempt_at) == (DeliveryStatus.SKIPPED, None)


@pytest.fixture
def smtp_in_transaction(monkeypatch):
    """Whether the worker had a database transaction open at each SMTP conversation."""
    from crm.mail import Mailer

    seen: list[bool] = []

    class Watched(Mailer):
        def send(self, message):
            seen.append(db.session().in_transaction())
            return super().send(message)

    monkeypatch.setattr(tasks, "Mailer", Watched)
    return seen


@pytest.mark.app_config(EMAIL_RETRY_BASE_SECONDS=60)
def test_no_database_transaction_is_open_while_smtp_talks(
    mail_app, smtp_server, digest_user, user, make_reminder, smtp_in_transaction
):
    """On SQLite a worker's transaction holds the write lock: web writes would fail with
    "database is locked" while a slow server took a digest or a reminder email."""
    make_reminder(digest_user, title="Today thing", local_date=date(2025, 6, 2),
                  local_time=time(17, 0))
    make_reminder(user, due_at=NOW - timedelta(minutes=1))
    eight = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)

    run(mail_app, tasks.deliver_due, eight, "w")
    mail_app.config["SMTP_PORT"] = free_port()  # a failed digest is recorded after SMTP too
    assert run(mail_app, tasks.send_digests, eight, "w") == 0
    mail_app.config["SMTP_PORT"] = smtp_server.port
    assert run(mail_app, tasks.send_digests, eight + timedelta(minutes=2), "w") == 1

    assert len(smtp_server.messages) == 2
    assert smtp_in_transaction == [False, False, False]


@pytest.mark.app_config(EMAIL_MAX_ATTEMPTS=2, EMAIL_RETRY_BASE_SECONDS=60)
def test_a_digest_that_could_not_be_sent_is_shown_as_an_email_problem(
    mail_app, client, digest_user, make_reminder, frozen
):
    make_reminder(digest_user, title="Today thing", local_date=date(2025, 6, 2),
                  local_time=time(17, 0))
    mail_app.config["SMTP_PORT"] = free_port()
    eight = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
    assert page_text(client.get("/reminders").data).count("Email problems") == 0

    run(mail_app, tasks.send_digests, eight, "w")

    retrying = page_text(client.get("/reminders").data)
    assert "Email problems" in retrying
    assert "Daily digest for Monday 2 June" in retrying
    assert "Attempt 1 failed; retrying" in retrying
    assert "cannot connect" in retrying

    run(mail_app, tasks.send_digests, eight + timedelta(minutes=2), "w")

    failed = page_text(client.get("/reminders").data)
    assert "Daily digest for Monday 2 June" in failed
    assert "Gave up after 2 attempts" in failed


# --- found by the security audit --------------------------------------------------------


def test_a_line_break_in_a_title_never_stops_anyones_email(
        mail_app, smtp_server, user, make_user, make_reminder):
    """A title from the API or an import may hold a line break, which an email header
    cannot: the subject is one line, and nothing is smuggled into the headers."""
    bob = make_user(name="Bob", email="bob@example.com", time_zone=BERLIN)
    make_reminder(user, title="Hello\r\nBcc: evil@example.com", due_at=NOW - timedelta(minutes=2))
    make_reminder(bob, title="Bob's own", due_at=NOW - timedelta(minutes=1))

    run(mail_app, tasks.deliver_due, NOW, "worker-1")

    subjects = sorted(m["Subject"] for m in smtp_server.messages)
    assert subjects == ["Bob's own", "Hello Bcc: evil@example.com"]
    assert all(m["Bcc"] is None for m in smtp_server.messages)
    assert {d.status for d in email_deliveries(mail_app)} == {DeliveryStatus.SENT}


def test_an_email_that_cannot_be_built_fails_alone(mail_app, smtp_server, user, make_user,
                                                    make_reminder, monkeypatch):
    bob = make_user(name="Bob", email="bob@example.com", time_zone=BERLIN)
    broken = make_reminder(user, title="Cannot be built", due_at=NOW - timedelta(minutes=2))
    make_reminder(bob, title="Bob's own", due_at=NOW - timedelta(minutes=1))
    build = tasks._reminder_email

    def failing(delivery, owner):
        if delivery.reminder_id == broken.id:
            raise ValueError("a template could not render")
        return build(delivery, owner)

    monkeypatch.setattr(tasks, "_reminder_email", failing)
    run(mail_app, tasks.deliver_due, NOW, "worker-1")

    assert [m["Subject"] for m in smtp_server.messages] == ["Bob's own"]
    by_reminder = {d.reminder_id: d for d in email_deliveries(mail_app)}
    assert by_reminder[broken.id].status == DeliveryStatus.FAILED
    assert "cannot be built" in by_reminder[broken.id].last_error
    assert by_reminder[broken.id].claimed_by is None


def test_a_digest_sent_before_the_connection_dropped_is_not_sent_again(
        mail_app, smtp_server, frozen, digest_user, make_reminder):
    """Review: the digest went out, then the connection dropped as it was recorded as
    sent. The worker's next pass (30 s later) gave it back and sent it a second time."""
    make_reminder(digest_user, title="Today thing", local_date=date(2025, 6, 2),
                  local_time=time(17, 0))
    from sqlalchemy.exc import OperationalError
    from support import before_each_statement

    left = [1]

    def drop(conn, cursor, statement, parameters, context, executemany):
        # Once the digest went out: the statement recording it as sent fails.
        if left[0] and smtp_server.messages and statement.upper().startswith(
                "UPDATE DIGEST_RUNS"):
            left[0] -= 1
            raise OperationalError(statement, parameters, Exception(
                "consuming input failed: server closed the connection unexpectedly"))

    with before_each_statement(mail_app, drop):
        _job(mail_app, tasks.send_digests, "worker-1")()
    assert left == [0]
    assert len(smtp_server.messages) == 1

    frozen.shift(30)
    send = _job(mail_app, tasks.send_digests, "worker-1")
    send()
    send()
    assert len(smtp_server.messages) == 1
    assert [(s, c) for s, c, _ in digest_claims(mail_app)] == [(DeliveryStatus.SENT, None)]



def test_a_digest_that_cannot_be_built_does_not_hold_back_everyone_elses(
        mail_app, smtp_server, frozen, make_user, make_reminder, monkeypatch):
    """Review: one user's digest raised while it was built (its pass failed with it
    claimed). Each later pass took it up again at once, raised again, and ended before
    the users after it: their digests never went out. (Before 0022 it waited out its
    lease, and the passes in between sent the others'.)"""
    digest_users(mail_app, make_user, make_reminder, 3)
    real_build = tasks.build_message

    def build(**kwargs):
        if kwargs["to"] == "digest0@example.com" and kwargs.get("template") == "digest":
            raise ValueError("cannot encode this one")
        return real_build(**kwargs)

    monkeypatch.setattr(tasks, "build_message", build)
    send = _job(mail_app, tasks.send_digests, "w")
    for _ in range(4):  # four runs, a minute apart: well within the lease
        send()
        frozen.shift(60)
    assert sorted(m["To"] for m in smtp_server.messages) == [
        "digest1@example.com", "digest2@example.com"]


@pytest.mark.app_config(EMAIL_RETRY_BASE_SECONDS=60)
def test_a_retry_taken_up_before_a_dropped_connection_goes_on_the_next_run(
        mail_app, smtp_server, frozen, digest_user, make_reminder):
    """a digest that failed once is taken up for its retry (its claim committed),
    then the connection drops as the row is read back. The worker's next run, a minute
    later, left it alone: it waited out the lease (five minutes) for the reaper."""
    from sqlalchemy.exc import OperationalError
    from support import before_each_statement

    digest_failed_once(mail_app, digest_user, make_reminder)
    mail_app.config["SMTP_PORT"] = smtp_server.port
    frozen.shift(60)  # the retry is due
    seen_claim, left = [False], [1]

    def drop(conn, cursor, statement, parameters, context, executemany):
        upper = statement.upper()
        if upper.startswith("UPDATE DIGEST_RUNS SET STATUS"):
            seen_claim[0] = True
        elif left[0] and seen_claim[0] and upper.startswith("SELECT") \
                and "FROM DIGEST_RUNS" in upper:
            left[0] -= 1
            raise OperationalError(statement, parameters, Exception(
                "consuming input failed: server closed the connection unexpectedly"))

    with before_each_statement(mail_app, drop):
        _job(mail_app, tasks.send_digests, "worker-1")()
    assert left == [0]
    assert smtp_server.messages == []
    assert digest_claims(mail_app) == [(DeliveryStatus.SENDING, "worker-1", 1)]

    frozen.shift(60)  # the next run, well within the lease
    _job(mail_app, tasks.send_digests, "worker-1")()
    assert len(smtp_server.messages) == 1
    assert digest_claims(mail_app) == [(DeliveryStatus.SENT, None, 2)]


@pytest.mark.app_config(EMAIL_RETRY_BASE_SECONDS=60)
@pytest.mark.parametrize("change", [
    {"action": "reminders", "reminders-email_mode": "each", "reminders-digest_hour": "8"},
    {"action": "email", "email-email": "grace@new.example",
     "email-current_password": PASSWORD},
], ids=["digest turned off", "address changed"])
def test_turning_the_digest_off_while_a_failed_pass_holds_its_retry_ends_it(
        mail_app, client, smtp_server, frozen, digest_user, make_reminder, change):
    """a digest that failed once is taken up for its retry, and the pass fails
    (the connection dropped) with it claimed. The user turns the digest off (or moves to
    an address not confirmed yet) meanwhile: the worker's next run gives the retry back,
    and, the user having no digest any more, it stayed under Email problems as 'retrying'
    for good (fd9669a ended only one waiting, not one held; the give-back then knew only
    the digest turned off)."""
    digest_failed_once(mail_app, digest_user, make_reminder)
    mail_app.config["SMTP_PORT"] = smtp_server.port
    frozen.shift(60)
    with connection_drops(mail_app, "FROM reminders") as left:
        _job(mail_app, tasks.send_digests, "worker-1")()
    assert left == [0]
    assert digest_claims(mail_app) == [(DeliveryStatus.SENDING, "worker-1", 1)]

    assert client.post("/settings", data=change).status_code == 302
    frozen.shift(60)
    _job(mail_app, tasks.send_digests, "worker-1")()
    frozen.shift(3600)
    _job(mail_app, tasks.send_digests, "worker-1")()

    assert smtp_server.messages == []
    assert "retrying" not in page_text(client.get("/reminders").data)


def test_a_pass_that_hung_before_failing_never_takes_up_a_digest_its_twin_claimed(
        mail_app, smtp_server, digest_user, make_reminder, monkeypatch):
    """two workers share an ID. The first one's digest pass claims the digest
    at 08:00 and its connection hangs for ten minutes before it drops (no TCP keepalive).
    Meanwhile the claim lapsed, was reaped, and the other process claimed the digest
    afresh. While that one sends it, the first process's next pass takes the claim for
    its own (its lease is within 'the latest the failed pass may have set', counted from
    when it failed, not from when it claimed), gives it back and sends it: twice."""
    from sqlalchemy.exc import OperationalError
    from support import before_each_statement

    make_reminder(digest_user, title="Today thing", local_date=date(2025, 6, 2),
                  local_time=time(17, 0))
    lease = timedelta(seconds=mail_app.config["REMINDER_LEASE_SECONDS"])
    now = [NOW]
    left = [1]

    def hang_then_drop(conn, cursor, statement, parameters, context, executemany):
        if left[0] and "FROM REMINDERS" in statement.upper():
            left[0] -= 1
            now[0] = NOW + 2 * lease  # the connection hung, then dropped
            raise OperationalError(statement, parameters, Exception(
                "consuming input failed: server closed the connection unexpectedly"))

    with before_each_statement(mail_app, hang_then_drop), mail_app.app_context():
        with pytest.raises(OperationalError):
            tasks.send_digests(NOW, "host:1", lambda: now[0])
        db.session.rollback()
        db.session.remove()
    assert digest_claims(mail_app) == [(DeliveryStatus.SENDING, "host:1", 0)]

    other_process = create_app({key: mail_app.config[key] for key in (
        "TESTING", "SECRET_KEY", "BASE_URL", "SMTP_HOST", "SMTP_PORT", "SMTP_TLS",
        "SMTP_TIMEOUT_SECONDS")} | {"DATABASE_URL": mail_app.config["SQLALCHEMY_DATABASE_URI"]})
    reaped_at = NOW + lease + timedelta(seconds=1)
    assert run(other_process, tasks.reap_stale_claims, reaped_at) == 1
    real_send = Mailer.send
    first: list[int | None] = []

    def send(self, message):
        if not first:  # the other process's digest, going out: the first one's next pass
            first.append(None)
            first[0] = run(mail_app, tasks.send_digests, NOW + 2 * lease + timedelta(
                seconds=30), "host:1")
        real_send(self, message)

    monkeypatch.setattr(Mailer, "send", send)
    try:
        claimed_at = NOW + 2 * lease - timedelta(seconds=10)
        assert run(other_process, tasks.send_digests, claimed_at, "host:1") == 1
    finally:
        with other_process.app_context():
            db.engine.dispose()

    assert first == [0]
    assert len(smtp_server.messages) == 1


@pytest.mark.app_config(EMAIL_RETRY_BASE_SECONDS=60)
def test_turning_the_digest_off_while_a_dead_worker_holds_its_retry_ends_it(
        mail_app, client, smtp_server, frozen, digest_user, make_reminder):
    """as above, but the worker holding the retry died: the reaper gives it back
    after the lease, and it stays under Email problems as 'retrying' for good."""
    digest_failed_once(mail_app, digest_user, make_reminder)
    mail_app.config["SMTP_PORT"] = smtp_server.port
    frozen.shift(60)
    with connection_drops(mail_app, "FROM reminders") as left:
        _job(mail_app, tasks.send_digests, "worker-dead")()
    assert left == [0]
    client.post("/settings", data={"action": "reminders", "reminders-email_mode": "each",
                                   "reminders-digest_hour": "8"})
    frozen.shift(mail_app.config["REMINDER_LEASE_SECONDS"] + 1)
    _job(mail_app, tasks.reap_stale_claims)()
    _job(mail_app, tasks.send_digests, "worker-2")()

    assert smtp_server.messages == []
    assert "retrying" not in page_text(client.get("/reminders").data)
