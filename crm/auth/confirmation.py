"""Confirming an account's address: a signed link sent to it.

Anyone can type anyone's address when they register or change theirs. Until the owner of
the address opens the link sent there, Rapport sends it no reminder emails, no digest and
no notices (a link to choose a new password still goes, as the owner asked for it). The
link names the account and a fingerprint of the address, so it confirms that address only:
once the account moves to another, it confirms nothing. It expires after
ADDRESS_CONFIRM_MAX_AGE_SECONDS; Settings sends a new one (ADDRESS_CONFIRM_LIMIT_PER_ACCOUNT).
Opening it confirms (GET): a mail scanner that follows it proves the address receives mail,
which is what confirming means. Choosing a new password from a reset link confirms too.
"""

from __future__ import annotations

from crm.auth.links import AccountLink, secret_digest
from crm.extensions import db
from crm.models import User, utcnow


class ConfirmLinkSpent(Exception):
    """A link Rapport did sign that confirms nothing now: too old, or for an address the
    account no longer has."""


def _fingerprint(user: User) -> str:
    """Names the account's address without showing it (the token is signed, not
    encrypted), and the account by when it was made too: SQLite hands a deleted account's
    id to the next one, which must not be confirmed by the links of the first."""
    return secret_digest(f"{user.created_at:%Y%m%d%H%M%S%f}\n{user.email}")


_LINK = AccountLink("rapport.confirm-address", "ADDRESS_CONFIRM_MAX_AGE_SECONDS", "e",
                    _fingerprint, ConfirmLinkSpent)


def make_token(user: User) -> str:
    return _LINK.make(user)


def confirm(token: str) -> User | None:
    """Confirm the address a link was sent to; the account, or None for a forged link or
    a deleted account. Raises ConfirmLinkSpent for a genuine link that confirms nothing
    now. Opening a link twice is no error: the address stays confirmed."""
    # A page view that writes: on SQLite its transaction takes the write lock from the
    # start (BEGIN IMMEDIATE), so no commit elsewhere between the read and the write fails
    # it; on PostgreSQL the user's row lock does it. Either way an address changed at the
    # same moment (in another tab) is read as it is after that change, never confirmed by
    # a link for the one before.
    db.session.connection(execution_options={"rapport_writes": True})
    user = _LINK.user(token, lock=True)
    if user is not None:
        mark_confirmed(user)
    return user


def mark_confirmed(user: User) -> None:
    """The address is its owner's (they opened a link sent to it)."""
    if user.email_confirmed_at is None:
        user.email_confirmed_at = utcnow()
        db.session.flush()
