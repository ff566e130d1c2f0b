"""Signed links in reminder emails: they open a confirmation page; the change is a POST.

The one-click unsubscribe link of every email is signed the same way under a salt and
purpose of its own, so neither kind of link can stand in for the other."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from crm.models.reminder import Reminder

ACTIONS = ("log", "snooze", "done")
_SALT = "rapport.reminder-action"
_UNSUBSCRIBE_SALT = "rapport.unsubscribe"
_UNSUBSCRIBE = "unsubscribe"


def _serializer(salt: str = _SALT) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


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


def make_unsubscribe_token(user) -> str:
    """Sign (user, address, purpose): a link for this account at the address it mailed."""
    return _serializer(_UNSUBSCRIBE_SALT).dumps(
        {"u": user.id, "e": user.email, "p": _UNSUBSCRIBE})


def read_unsubscribe_token(token: str) -> dict | None:
    """The signed payload, or None when it is forged or not an unsubscribe token.

    It does not expire: a mail provider offers the link as long as the email is kept."""
    try:
        data = _serializer(_UNSUBSCRIBE_SALT).loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("p") != _UNSUBSCRIBE:
        return None
    return data


def unsubscribe_url(user) -> str:
    """An absolute one-click unsubscribe URL (needs a request context with the base URL)."""
    return url_for("reminders.unsubscribe", token=make_unsubscribe_token(user), _external=True)
