"""Signed links in reminder emails: they open a confirmation page; the change is a POST."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

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


def read_token(token: str) -> dict | None:
    """The signed payload, or None when it is forged or older than the configured age."""
    try:
        data = _serializer().loads(token, max_age=current_app.config["REMINDER_LINK_MAX_AGE"])
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("a") not in ACTIONS:
        return None
    return data


def action_url(reminder: Reminder, action: str, occurrence: datetime) -> str:
    """An absolute URL for an email (needs a request context with the base URL)."""
    return url_for("reminders.email_action", token=make_token(reminder, action, occurrence),
                   _external=True)
