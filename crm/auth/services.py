"""Account writes and look-ups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask_login import LoginManager, current_user
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from crm.database import lock_user, user_by_id, writing_request
from crm.extensions import db
from crm.models import User, utcnow
from crm.models.user import new_session_version

# A real hash to compare against when the email is unknown, so both failures
# take the same time and say the same thing.
_DUMMY_HASH = generate_password_hash("rapport-timing-equaliser")


class EmailTaken(Exception):
    """An account with that email exists already."""


class AccountDeactivated(Exception):
    """The right password, for an account an operator has deactivated."""


def normalise_email(email: str) -> str:
    """Return the stored form of an email: stripped and lower-cased."""
    return email.strip().lower()


def hash_password(password: str) -> str:
    """Hash a password with scrypt."""
    return generate_password_hash(password, method="scrypt")


def find_user_by_email(email: str) -> User | None:
    """Return the account with this email, case-insensitively."""
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def register_user(email: str, name: str, password: str, time_zone: str = "UTC", *,
                  confirmed: bool = False) -> User:
    """Create an account; raise EmailTaken if the email is in use. Its address is
    unconfirmed unless `confirmed` (an operator vouches for it, `crm create-user`)."""
    if find_user_by_email(email) is not None:
        raise EmailTaken(email)
    user = User(
        email=normalise_email(email),
        name=name.strip(),
        password_hash=hash_password(password),
        time_zone=time_zone,
        email_confirmed_at=utcnow() if confirmed else None,
    )
    try:
        with db.session.begin_nested():  # two sign-ups with one email at once: one wins
            db.session.add(user)
            db.session.flush()
    except IntegrityError:
        raise EmailTaken(email) from None
    return user


def change_email(user: User, email: str) -> None:
    """Log in with another address at once; EmailTaken if another account has it. Emails go
    to it once it is confirmed: until then none, and a digest waiting for a retry is not
    sent to it."""
    email = normalise_email(email)
    if email == user.email:
        return
    if find_user_by_email(email) is not None:
        raise EmailTaken(email)
    try:
        with db.session.begin_nested():  # two accounts taking one address at once: one wins
            user.email = email
            user.email_confirmed_at = None
            db.session.flush()
    except IntegrityError:
        raise EmailTaken(email) from None
    _skip_waiting_digests(user, "not sent: the address changed and is not confirmed yet")


def authenticate(email: str, password: str) -> User | None:
    """Return the user if the email and password match an active account; None if they
    match no account. AccountDeactivated if they match a deactivated one: only the right
    password tells that the account exists."""
    user = find_user_by_email(email)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    if not user.is_active:
        raise AccountDeactivated(user.email)
    return user


# --- the organisation's accounts (operators: `crm users`) -------------------------------


def registration_open() -> bool:
    """Whether /register makes accounts (REGISTRATION); closed, only an operator does."""
    from flask import current_app

    return current_app.config["REGISTRATION"] == "open"


def allowed_domains() -> tuple[str, ...]:
    """The domains an address made at /register or chosen in Settings must be in (none:
    any), from REGISTRATION_DOMAINS."""
    from flask import current_app

    return current_app.config["REGISTRATION_DOMAINS"]


def address_allowed(email: str) -> bool:
    """Whether an address may be an account's in this organisation (REGISTRATION_DOMAINS):
    its domain is one of the listed ones, exactly."""
    domains = allowed_domains()
    return not domains or normalise_email(email).rpartition("@")[2] in domains


def domain_refusal() -> str:
    """What the email field says to an address in none of the allowed domains."""
    domains = [f"@{d}" for d in allowed_domains()]
    listed = domains[0] if len(domains) == 1 else ", ".join(domains[:-1]) + " or " + domains[-1]
    return f"Accounts here are for addresses ending in {listed} only."


@dataclass(frozen=True)
class AccountRow:
    """One account as `crm users list` shows it."""

    id: int
    email: str
    name: str
    created_at: datetime
    confirmed: bool
    active: bool
    contacts: int
    api_tokens: int  # not revoked


def list_accounts(user_id: int | None = None) -> list[AccountRow]:
    """Every account (or the one with user_id) with its counts of contacts and of API
    tokens not revoked, oldest first: one statement, however many accounts there are."""
    from crm.models import ApiToken, Contact

    contacts = (select(func.count(Contact.id)).where(Contact.owner_id == User.id)
                .correlate(User).scalar_subquery())
    tokens = (select(func.count(ApiToken.id))
              .where(ApiToken.user_id == User.id, ApiToken.revoked_at.is_(None))
              .correlate(User).scalar_subquery())
    query = select(User.id, User.email, User.name, User.created_at, User.email_confirmed_at,
                   User.is_active_account, contacts, tokens).order_by(User.id)
    if user_id is not None:
        query = query.where(User.id == user_id)
    return [AccountRow(id=r[0], email=r[1], name=r[2], created_at=r[3],
                       confirmed=r[4] is not None, active=r[5], contacts=r[6], api_tokens=r[7])
            for r in db.session.execute(query)]


def set_account_active(user: User, active: bool) -> bool:
    """Activate or deactivate an account, keeping every record; False if it was so already.

    Deactivating ends every session (the cookies do not come back on reactivation) and
    stops every email: its API tokens, logins and password links are refused while it is
    deactivated (User.is_active), the worker emails it nothing and a digest waiting for a
    retry is given up; its reminders still fall due in the app, so they wait for its return.
    """
    if user.is_active_account == active:
        return False
    user.is_active_account = active
    if not active:
        end_sessions(user)
        _skip_waiting_digests(user, "not sent: the account was deactivated")
    db.session.flush()
    return True


def change_password(user: User, new_password: str) -> None:
    """Set a new password and end every other session of this user."""
    user.password_hash = hash_password(new_password)
    end_sessions(user)


def password_matches(user: User, password: str) -> bool:
    """Whether this is the user's password, for a logged-in check (changing the password,
    deleting the account). Wrong answers count against the account like failed logins
    (LOGIN_LIMIT_PER_ACCOUNT): past the limit it answers 429 instead of checking, so a
    session someone else holds cannot be used to guess the password."""
    from crm.extensions import limiter

    key, items = f"password-check:{user.id}", _limits("LOGIN_LIMIT_PER_ACCOUNT")
    _refuse_past(items, key, "Too many wrong passwords for this account.")
    if check_password_hash(user.password_hash, password):
        return True
    for item in items:
        limiter.limiter.hit(item, key)
    return False


def count_address_change(user: User) -> None:
    """Count a try at changing the account's address (EMAIL_CHANGE_LIMIT_PER_ACCOUNT): it
    says whether another account has the address, so a session may not ask over and over
    (past the limit, 429)."""
    _count(user, "address-change", "EMAIL_CHANGE_LIMIT_PER_ACCOUNT",
           "Too many address changes tried for this account. Try again later.")


def _count(user: User, what: str, setting: str, message: str) -> None:
    """Count one try at something limited per account by `setting`; 429 past the limit."""
    from crm.extensions import limiter

    key, items = f"{what}:{user.id}", _limits(setting)
    _refuse_past(items, key, message)
    for item in items:
        limiter.limiter.hit(item, key)


def count_confirm_link(user: User) -> None:
    """Count a request to send the confirmation link again (ADDRESS_CONFIRM_LIMIT_PER_ACCOUNT):
    each emails an address nobody has confirmed, so a session may not ask over and over
    (past the limit, 429)."""
    _count(user, "confirm-link", "ADDRESS_CONFIRM_LIMIT_PER_ACCOUNT",
           "The link has been sent several times already. Try again later.")


def may_send_confirm_link(address: str) -> bool:
    """Whether a link to confirm this address may go to it now, counting it if so: a few a
    day at most (ADDRESS_CONFIRM_LIMIT_PER_ADDRESS), however often an account asks or moves
    to the address and back, as whoever has it may not own it."""
    from crm.extensions import limiter

    key = f"confirm-to:{address}"
    items = _limits("ADDRESS_CONFIRM_LIMIT_PER_ADDRESS")
    if any(not limiter.limiter.test(item, key) for item in items):
        return False
    for item in items:
        limiter.limiter.hit(item, key)
    return True


def _limits(setting: str) -> list:
    from flask import current_app
    from limits import parse_many

    enabled = current_app.config.get("RATELIMIT_ENABLED", True)
    return parse_many(current_app.config[setting]) if enabled else []


def _refuse_past(items: list, key: str, message: str) -> None:
    """429 when the key has used up any of the limits."""
    from werkzeug.exceptions import TooManyRequests

    from crm.extensions import limiter

    if any(not limiter.limiter.test(item, key) for item in items):
        raise TooManyRequests(message)


def end_sessions(user: User) -> None:
    """Log the user out everywhere: every session and remember-me cookie stops working."""
    user.session_version = new_session_version()
    db.session.flush()


def update_profile(user: User, *, name: str, time_zone: str) -> None:
    """Change the user's name and time zone (figures count months in it: they are stale)."""
    user.name = name.strip()
    if time_zone != user.time_zone:
        from crm.insights.cache import mark_changed

        user.time_zone = time_zone
        mark_changed([user.id])
    db.session.flush()


def update_reminder_settings(user: User, *, email_mode: str, digest_hour: int) -> None:
    """Choose per-reminder emails, a daily digest at a local hour, or no emails."""
    if email_mode not in ("each", "digest", "off") or not 0 <= digest_hour <= 23:
        raise ValueError("invalid reminder settings")
    user.email_reminders = email_mode != "off"
    user.digest_enabled = email_mode == "digest"
    user.digest_hour = digest_hour
    if not user.digest_enabled:  # a digest waiting for a retry is no longer wanted
        _skip_waiting_digests(user, "not sent: the daily digest was turned off")
    db.session.flush()


def _skip_waiting_digests(user: User, reason: str) -> None:
    from crm.models.reminder import DeliveryStatus, DigestRun

    db.session.execute(
        update(DigestRun)
        .where(DigestRun.user_id == user.id, DigestRun.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.SKIPPED, next_attempt_at=None, last_error=reason)
        .execution_options(synchronize_session=False)
    )


def email_mode(user: User) -> str:
    """The user's reminder-email choice as the settings form names it."""
    if not user.email_reminders:
        return "off"
    return "digest" if user.digest_enabled else "each"


def is_safe_next(target: str | None) -> bool:
    """Allow only local paths as a post-login redirect."""
    if not target:
        return False
    if "\\" in target or any(ord(c) < 32 for c in target):
        return False
    parts = urlsplit(target)
    return (
        not parts.scheme
        and not parts.netloc
        and target.startswith("/")
        and not target.startswith("//")
    )


def load_user(user_id: str) -> User | None:
    """Load the session's user; a stale session version logs it out."""
    try:
        raw_id, raw_version = user_id.split(":", 1)
        uid, version = int(raw_id), int(raw_version)
    except ValueError:
        return None
    # A request that writes holds its user's lock from here (lock_user): it sees a password
    # changed or the account deleted by a request it waited for.
    user = lock_user(uid) if writing_request() else db.session.scalars(
        user_by_id(), {"user_id": uid}).first()
    if user is None or user.session_version != version or not user.is_active:
        return None
    return user


def lock_writing_user() -> None:
    """Before every request that writes: load its user now, which takes the user's lock
    (load_user, lock_user) before the view reads anything else."""
    if writing_request():
        current_user._get_current_object()


def configure_login(manager: LoginManager) -> None:
    """Wire Flask-Login to the user table."""
    manager.user_loader(load_user)
    manager.login_view = "auth.login"
    manager.login_message = "Please log in to continue."
    manager.login_message_category = "info"
