"""Signed links in reminder emails: they open a confirmation page; the change is a POST."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from crm.models.reminder import Reminder

ACTIONS = ("log", "snooze", "done")
_SALT = "rapport.reminder-action"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def make_token(reminder: Reminder, action: str, occurrence: datetime) -> str:
    """Sign (reminder, owner, action, occurrence)."""
    if action not in ACTIONS:
        raise ValueError(action)
    return _serializer().dumps(
        {"r": reminder.id, "u": reminder.owner_id, "a": action, "o": occurrence.isoformat()}
    )


class LinkExpired(Exception):
    """A link Rapport did sign, older than REMINDER_LINK_MAX_AGE: its payload is genuine."""

    def __init__(self, data: dict) -> None:
        super().__init__("the link has expired")
        self.data = data


def _valid(data) -> bool:
    return isinstance(data, dict) and data.get("a") in ACTIONS


def read_token(token: str) -> dict | None:
    """The signed payload, or None when it is forged or tampered with.

    Raises LinkExpired for a genuine link older than the configured age."""
    serializer = _serializer()
    try:
        data = serializer.loads(token, max_age=current_app.config["REMINDER_LINK_MAX_AGE"])
    except SignatureExpired as exc:  # the signature checked out; only its age did not
        data = serializer.load_payload(exc.payload) if exc.payload is not None else None
        if _valid(data):
            raise LinkExpired(data) from exc
        return None
    except BadSignature:
        return None
    return data if _valid(data) else None


def action_url(reminder: Reminder, action: str, occurrence: datetime) -> str:
    """An absolute URL for an email (needs a request context with the base URL)."""
    return url_for("reminders.email_action", token=make_token(reminder, action, occurrence),
                   _external=True)
