"""A forgotten password: a signed link by email to choose a new one.

The link names the account and a fingerprint of its password hash and address, so it works
once: the new password (or any change of password or address since the email) changes the
fingerprint. It
expires after PASSWORD_RESET_MAX_AGE_SECONDS. The email is sent after the response has
gone out, so the page answers the same, as fast, whether the address has an account or
not, and the link is built on BASE_URL, never on the Host a request names.

A changed password, and a changed address (at the old address), are told by email too.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from email.message import EmailMessage

from flask import Flask, current_app, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from crm.database import first_line, lock_user, writing_request
from crm.extensions import db
from crm.mail import Mailer, MailError, build_message, make_message_id
from crm.models import User, utcnow
from crm.timezones import to_local

_SALT = "rapport.password-reset"


class ResetLinkSpent(Exception):
    """A link Rapport did sign that no longer works: too old, or the password has changed
    since (it was used)."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def _fingerprint(user: User) -> str:
    """Changes whenever the password or the address does (a link sent to an address the
    account has left must not open it); reveals nothing of the hash (the token's payload
    is signed, not encrypted)."""
    key = current_app.config["SECRET_KEY"].encode()
    held = f"{user.password_hash}\n{user.email}".encode()
    return hmac.new(key, held, hashlib.sha256).hexdigest()[:32]


def make_token(user: User) -> str:
    return _serializer().dumps({"u": user.id, "p": _fingerprint(user)})


def user_for_token(token: str) -> User | None:
    """The account a link resets, or None when the link is forged or its account gone.

    Raises ResetLinkSpent for a genuine link that is too old or already used."""
    serializer = _serializer()
    try:
        data = serializer.loads(token, max_age=current_app.config["PASSWORD_RESET_MAX_AGE_SECONDS"])
    except SignatureExpired as exc:  # genuine, only too old
        raise ResetLinkSpent from exc
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    # A POST reads it under its lock: the same link sent twice at once resets once.
    user = lock_user(data["u"]) if writing_request() else db.session.get(User, data["u"])
    if user is None or not user.is_active:
        return None
    if not hmac.compare_digest(str(data.get("p")), _fingerprint(user)):
        raise ResetLinkSpent
    return user


def can_email(app: Flask | None = None) -> bool:
    """Whether this server sends email at all (SMTP_HOST is set)."""
    return bool((app or current_app).config.get("SMTP_HOST"))


def email_after_response(response, kind: str, user: User,
                         build: Callable[[User], EmailMessage]) -> None:
    """Send an account email once the response has gone out, when this server sends email:
    the page takes no longer for it, and a mail server that is down fails nothing."""
    if not can_email():
        return
    app, user_id = current_app._get_current_object(), user.id
    response.call_on_close(lambda: send_account_email(app, kind, user_id, build))


def send_account_email(app: Flask, kind: str, user_id: int,
                       build: Callable[[User], EmailMessage]) -> bool:
    """Build (links on BASE_URL) and send one account email; a failure is logged, as the
    page that caused it has been answered already."""
    with app.app_context():
        try:
            user = db.session.get(User, user_id)
            if user is None or not user.is_active:
                return False
            with app.test_request_context(base_url=app.config["BASE_URL"].rstrip("/")):
                message = build(user)
            with Mailer() as mailer:
                mailer.send(message)
        except MailError as exc:
            app.logger.warning("%s email to user %s not sent: %s", kind, user_id,
                               first_line(exc))
            return False
        finally:
            db.session.remove()
        app.logger.info("%s email sent to user %s", kind, user_id)
        return True


def _message(user: User, to: str, subject: str, template: str, **context) -> EmailMessage:
    return build_message(
        to=to, subject=subject, template=template,
        message_id=make_message_id(f"{template}.{user.id}.{secrets.token_hex(8)}"),
        user=user, **context)


def reset_message(user: User) -> EmailMessage:
    """The email with the link to choose a new password."""
    return _message(
        user, user.email, "Rapport: choose a new password", "password_reset",
        reset_url=url_for("auth.reset_password", token=make_token(user), _external=True),
        minutes=current_app.config["PASSWORD_RESET_MAX_AGE_SECONDS"] // 60)


def password_changed_message(user: User) -> EmailMessage:
    """Tell the account its password changed, so a change nobody asked for is noticed."""
    return _message(
        user, user.email, "Rapport: your password was changed", "password_changed",
        when=to_local(utcnow(), user.time_zone),
        forgot_url=url_for("auth.forgot_password", _external=True))


def address_changed_message(old_address: str) -> Callable[[User], EmailMessage]:
    """Tell the old address the account now has another: its owner loses the account's
    emails, password links included, so a change nobody asked for must be seen there."""
    def build(user: User) -> EmailMessage:
        return _message(user, old_address, "Rapport: your email address was changed",
                        "address_changed", old_address=old_address,
                        when=to_local(utcnow(), user.time_zone))
    return build
