"""Second review of deactivated accounts: defects reproduced through the app."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from crm.jobs import tasks
from crm.mail import Mailer

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _elsewhere(work):
    """Run work in a thread of its own, as another process would (its own session)."""
    done = []
    thread = threading.Thread(target=lambda: done.append(work()))
    thread.start()
    thread.join()
    assert done, "it failed"
    return done[0]


def test_an_account_deactivated_during_a_digest_pass_is_still_sent_its_digest(
        mail_app, frozen, client, auth, runner, smtp_server, make_user, make_reminder,
        monkeypatch):
    """The pass reads its digest users once; a leaver deactivated while the digests before
    theirs go out (one SMTP session for hundreds at 08:00) is emailed all the same, though
    the README says the worker emails a deactivated account nothing."""
    for email in ("stayer@example.com", "leaver@example.com"):
        user = make_user(email=email)
        auth.login_as(user)
        assert client.post("/settings", data={"action": "reminders",
                                              "reminders-email_mode": "digest",
                                              "reminders-digest_hour": "8"}).status_code == 302
        make_reminder(user, title="Today", due_at=NOW + timedelta(hours=2))
    send = Mailer.send

    def send_then_deactivate(self, message):
        send(self, message)
        if message["To"] == "stayer@example.com":  # the operator acts meanwhile
            result = _elsewhere(lambda: runner.invoke(
                args=["users", "deactivate", "leaver@example.com"]))
            assert result.exit_code == 0, result.output

    monkeypatch.setattr(Mailer, "send", send_then_deactivate)
    with mail_app.app_context():
        tasks.send_digests(NOW, "w")

    assert [m["To"] for m in smtp_server.messages] == ["stayer@example.com"]
