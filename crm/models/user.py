"""Accounts."""

from __future__ import annotations

import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import db
from crm.models.types import UTCDateTime, utcnow


def new_network_version() -> int:
    """A random version: never the same twice in practice, so a memo keyed by it cannot
    answer for a bump that was rolled back, nor for a deleted account whose id a new
    account reuses (SQLite hands out the highest id again)."""
    return secrets.randbelow(2**31 - 2) + 1


def new_session_version() -> int:
    """A random session version: a login cookie names the user's id and this, so a cookie
    of a deleted account never opens the next account SQLite gives the same id, and a
    password change or a logout makes every earlier cookie fail."""
    return secrets.randbelow(2**31 - 2) + 1


EMAIL_MAX_LENGTH = 254  # RFC 5321
NAME_MAX_LENGTH = 120


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased and stripped, so uniqueness is case-insensitive.
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    password_hash: Mapped[str] = mapped_column(String(255))
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    digest_hour: Mapped[int] = mapped_column(Integer, default=8)
    # Email reminders: one email per reminder, or (digest_enabled) one daily digest.
    email_reminders: Mapped[bool] = mapped_column(Boolean, default=True)
    digest_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Secret in the calendar-feed URL; regenerated from settings.
    calendar_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Changed by every change to the user's contacts, interactions, tags or mediums;
    # cached figures computed at another version are stale (crm.insights.cache).
    network_version: Mapped[int] = mapped_column(
        Integer, default=lambda: new_network_version(), server_default="0")
    # Drawn anew when the password changes or the user logs out, so earlier sessions end.
    session_version: Mapped[int] = mapped_column(Integer, default=lambda: new_session_version())
    is_active_account: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the owner of `email` opened the link sent there (None: not yet, or the address
    # changed since). Reminder emails and notices go only to a confirmed address.
    email_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def email_confirmed(self) -> bool:
        return self.email_confirmed_at is not None

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self) -> bool:
        return self.is_active_account

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"
