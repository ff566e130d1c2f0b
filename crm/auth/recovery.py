"""A forgotten password: a signed link by email to choose a new one.

The link names the account and a fingerprint of its password hash and address, so it works
once: the new password (or any change of password or address since the email) changes the
fingerprint. It expires after PASSWORD_RESET_MAX_AGE_SECONDS. The request only queues the
email (a row of account_emails); the worker sends it, as it sends reminder emails, so no
web process waits for a mail server and the page says the same whether the address has an
account or not. The link is built on BASE_URL, never on the Host a request names.

A changed password, and a changed address (at the old address), are told by email too.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage

from flask import current_app, url_for

from crm.auth import confirmation
from crm.auth.links import AccountLink, secret_digest
from crm.database import writing_request
from crm.extensions import db
from crm.mail import build_message, make_message_id
from crm.models import AccountEmail, AccountEmailKind, User
from crm.timezones import to_local


class ResetLinkSpent(Exception):
    """A link Rapport did sign that no longer works: too old, or the password or address has
    changed since (it was used)."""


def _fingerprint(user: User) -> str:
    """Changes whenever the password or the address does (a link sent to an address the
    account has left must not open it); reveals nothing of the hash (the token's payload
    is signed, not encrypted)."""
    return secret_digest(f"{user.password_hash}\n{user.email}")


_LINK = AccountLink("rapport.password-reset", "PASSWORD_RESET_MAX_AGE_SECONDS", "p",
                    _fingerprint, ResetLinkSpent)


def make_token(user: User) -> str:
    return _LINK.make(user)


def user_for_token(token: str) -> User | None:
    """The account a link resets, or None when the link is forged or its account gone.

    Raises ResetLinkSpent for a genuine link that is too old or already used."""
    # A POST reads it under its lock: the same link sent twice at once resets once.
    return _LINK.user(token, lock=writing_request())


def can_email() -> bool:
    """Whether this server sends email at all (SMTP_HOST is set)."""
    return bool(current_app.config.get("SMTP_HOST"))


def queue_email(user: User, kind: AccountEmailKind, to: str | None = None) -> bool:
    """Queue an email about the account for the worker, in the caller's transaction: it
    goes if the change that caused it is committed, and no web process waits for a mail
    server. Whether it was queued: nothing is when this server sends no email, nor a notice
    of a changed password to an address nobody has confirmed (the caller decides for the
    old address of a changed one, which was confirmed or not before the change), nor a link
    to confirm an address that has had its few links today."""
    if not can_email():
        return False
    if kind == AccountEmailKind.PASSWORD_CHANGED and not user.email_confirmed:
        return False
    if kind == AccountEmailKind.CONFIRM_ADDRESS:
        from crm.auth.services import may_send_confirm_link

        if not may_send_confirm_link(user.email):
            return False
    db.session.add(AccountEmail(
        user_id=user.id, kind=kind, to_address=to or user.email,
        new_address=user.email if kind == AccountEmailKind.ADDRESS_CHANGED else None))
    db.session.flush()
    return True


def not_wanted(email: AccountEmail, user: User, now: datetime) -> str | None:
    """Why a queued account email is not sent any more, or None."""
    if not user.is_active:
        return "not sent: the account is deactivated"
    if email.kind in _LINKS:
        age = (now - email.created_at).total_seconds()
        if age >= current_app.config[_LINKS[email.kind]]:
            return "not sent: its link would have expired"
        if email.to_address != user.email:
            return "not sent: the account's address has changed"
    if email.kind == AccountEmailKind.CONFIRM_ADDRESS and user.email_confirmed:
        return "not sent: the address is confirmed already"
    return None


# Account emails that carry a link, and the setting that says how long it works.
_LINKS = {AccountEmailKind.PASSWORD_RESET: "PASSWORD_RESET_MAX_AGE_SECONDS",
          AccountEmailKind.CONFIRM_ADDRESS: "ADDRESS_CONFIRM_MAX_AGE_SECONDS"}


def account_message(email: AccountEmail, user: User) -> EmailMessage:
    """The email a queued row stands for (needs a request context on BASE_URL). Its
    Message-ID is the row's, the same on every attempt."""
    message_id = make_message_id(f"account-email.{email.id}")
    when = to_local(email.created_at, user.time_zone)
    if email.kind == AccountEmailKind.PASSWORD_RESET:
        return build_message(
            to=email.to_address, subject="Rapport: choose a new password",
            template="password_reset", message_id=message_id, user=user,
            reset_url=url_for("auth.reset_password", token=make_token(user), _external=True),
            minutes=current_app.config["PASSWORD_RESET_MAX_AGE_SECONDS"] // 60)
    if email.kind == AccountEmailKind.CONFIRM_ADDRESS:
        return build_message(
            to=email.to_address, subject="Rapport: confirm your email address",
            template="confirm_address", message_id=message_id, email=email.to_address,
            confirm_url=url_for("auth.confirm_address", token=confirmation.make_token(user),
                                _external=True),
            days=current_app.config["ADDRESS_CONFIRM_MAX_AGE_SECONDS"] // 86400)
    if email.kind == AccountEmailKind.PASSWORD_CHANGED:
        return build_message(
            to=email.to_address, subject="Rapport: your password was changed",
            template="password_changed", message_id=message_id, user=user, when=when,
            forgot_url=url_for("auth.forgot_password", _external=True))
    return build_message(
        to=email.to_address, subject="Rapport: your email address was changed",
        template="address_changed", message_id=message_id, user=user, when=when,
        old_address=email.to_address, new_address=email.new_address or user.email)
