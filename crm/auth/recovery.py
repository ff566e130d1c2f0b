"""A forgotten password: a signed link by email to choose a new one.

The link names the account and a fingerprint of its password hash, so it works once: the
new password (or any change of password since the email) changes the fingerprint. It
expires after PASSWORD_RESET_MAX_AGE_SECONDS. The email is sent after the response has
gone out, so the page answers the same, as fast, whether the address has an account or
not, and the link is built on BASE_URL, never on the Host a request names.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import Flask, current_app, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from crm.database import first_line, lock_user, writing_request
from crm.extensions import db
from crm.mail import Mailer, MailError, build_message, make_message_id
from crm.models import User

_SALT = "rapport.password-reset"


class ResetLinkSpent(Exception):
    """A link Rapport did sign that no longer works: too old, or the password has changed
    since (it was used)."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def _fingerprint(user: User) -> str:
    """Changes whenever the password does; reveals nothing of the hash (the token's
    payload is signed, not encrypted)."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, user.password_hash.encode(), hashlib.sha256).hexdigest()[:32]


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


def reset_message(user: User):
    """The email with the link (builds its URL on BASE_URL)."""
    base = current_app.config["BASE_URL"].rstrip("/")
    with current_app.test_request_context(base_url=base):
        return build_message(
            to=user.email,
            subject="Rapport: choose a new password",
            template="password_reset",
            message_id=make_message_id(f"password-reset.{user.id}.{secrets.token_hex(8)}"),
            user=user,
            reset_url=url_for("auth.reset_password", token=make_token(user), _external=True),
            minutes=current_app.config["PASSWORD_RESET_MAX_AGE_SECONDS"] // 60,
        )


def send_reset_email(app: Flask, user_id: int) -> bool:
    """Email the account its link; a failure is logged (the page said nothing of the
    account, so it cannot say the email failed)."""
    with app.app_context():
        user = db.session.get(User, user_id)
        if user is None or not user.is_active:
            return False
        try:
            with Mailer() as mailer:
                mailer.send(reset_message(user))
        except MailError as exc:
            app.logger.warning("password reset email to user %s not sent: %s",
                               user_id, first_line(exc))
            return False
        finally:
            db.session.remove()
        app.logger.info("password reset email sent to user %s", user_id)
        return True
