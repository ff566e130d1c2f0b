"""Reminders, their deliveries per channel, and the worker's heartbeat."""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models.contact import Contact
from crm.models.types import UTCDateTime, str_enum, utcnow


class ReminderKind(enum.StrEnum):
    FOLLOW_UP = "follow_up"
    KEEP_IN_TOUCH = "keep_in_touch"
    CUSTOM = "custom"

    @property
    def label(self) -> str:
        return {"follow_up": "Follow up", "keep_in_touch": "Keep in touch", "custom": "Reminder"}[
            self.value
        ]


class ReminderStatus(enum.StrEnum):
    """Where a reminder is in its life.

    pending: waiting for due_at; claimed: a worker holds a lease on it;
    delivered: the user has been told and has not acted yet; done, dismissed
    and cancelled are ends (kept as history, never deleted).
    """

    PENDING = "pending"
    CLAIMED = "claimed"
    DELIVERED = "delivered"
    DONE = "done"
    DISMISSED = "dismissed"
    CANCELLED = "cancelled"


class Recurrence(enum.StrEnum):
    NONE = "none"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    YEARLY = "yearly"


class DeliveryChannel(enum.StrEnum):
    IN_APP = "in_app"
    EMAIL = "email"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    # An email no longer wanted when its (re)try came: the user acted first or turned email
    # off; last_error says which.
    SKIPPED = "skipped"


OPEN_STATUSES = (ReminderStatus.PENDING, ReminderStatus.CLAIMED, ReminderStatus.DELIVERED)


class Reminder(db.Model):
    __tablename__ = "reminders"
    __table_args__ = (
        # The worker's claim query: pending rows by due time.
        Index("ix_reminders_status_due", "status", "due_at"),
        Index("ix_reminders_owner_status_due", "owner_id", "status", "due_at"),
        Index("ix_reminders_contact_kind", "contact_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="SET NULL"), index=True
    )
    # Made from a private interaction since deleted: interaction_id is then NULL, and the
    # reminder stays the user's but must never count in what a coach sees (0015).
    from_private_interaction: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false())
    # A keep-in-touch reminder Rapport ended because an interaction was logged, not the
    # user (0015): its completed_at is that interaction's time, which may be a private
    # interaction's, so a coach's figures never count it as the user's own act.
    ended_by_interaction: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false())
    kind: Mapped[ReminderKind] = mapped_column(str_enum(ReminderKind, "reminder_kind"))
    title: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ReminderStatus] = mapped_column(
        str_enum(ReminderStatus, "reminder_status"), default=ReminderStatus.PENDING
    )
    # The next (or current) occurrence, in UTC.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Wall time and zone the occurrence was set in; recurring ones step in local time.
    local_time: Mapped[time | None] = mapped_column(Time)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    recurrence: Mapped[Recurrence] = mapped_column(
        str_enum(Recurrence, "recurrence"), default=Recurrence.NONE
    )
    # The local date of the first occurrence: monthly and yearly rules keep its day.
    anchor_date: Mapped[date | None] = mapped_column(Date)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the worker delivered late: the occurrence's due time.
    overdue_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    missed_occurrences: Mapped[int] = mapped_column(Integer, default=0)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    snoozed_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    contact: Mapped[Contact | None] = relationship()

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def has_left(self, occurrence: datetime) -> bool:
        """Whether a one-off was moved (edited or snoozed) since its occurrence at that time,
        so a notification of it no longer speaks for the reminder. A series' earlier
        occurrences stay its own: Done on one of them acknowledges it."""
        return self.recurrence == Recurrence.NONE and occurrence != self.due_at

    def __repr__(self) -> str:
        return f"<Reminder {self.id} {self.kind} {self.status} {self.due_at}>"


class Delivery(db.Model):
    """One occurrence of a reminder on one channel. The unique key makes it happen once."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("reminder_id", "channel", "occurrence"),
        Index("ix_deliveries_channel_status_next", "channel", "status", "next_attempt_at"),
        Index("ix_deliveries_user_unread", "user_id", "channel", "read_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reminder_id: Mapped[int] = mapped_column(ForeignKey("reminders.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[DeliveryChannel] = mapped_column(str_enum(DeliveryChannel, "delivery_channel"))
    occurrence: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[str | None] = mapped_column(String(255))
    overdue_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    reminder: Mapped[Reminder] = relationship()


class DigestRun(db.Model):
    """A user's daily digest for one local date: sent once."""

    __tablename__ = "digest_runs"
    __table_args__ = (UniqueConstraint("user_id", "local_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    local_date: Mapped[date] = mapped_column(Date)
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, "digest_status"), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # While SENDING: the worker that claimed it (first attempt or retry, 0022), and when its
    # claim lapses.
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WorkerHeartbeat(db.Model):
    """Each worker process writes its last beat here; the web shows when none is recent."""

    __tablename__ = "worker_heartbeats"

    worker_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class AccountEmailKind(enum.StrEnum):
    PASSWORD_RESET = "password_reset"  # noqa: S105 - the link to choose a new password
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - told to the account
    ADDRESS_CHANGED = "address_changed"  # told at the old address
    CONFIRM_ADDRESS = "confirm_address"  # the link that confirms the account's address


class AccountEmail(db.Model):
    """An email about the account itself, queued by the web request that caused it (in its
    transaction) and sent by the worker, as reminder emails are: no web process talks to
    the mail server, and a server that is down is retried, not lost."""

    __tablename__ = "account_emails"
    __table_args__ = (Index("ix_account_emails_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[AccountEmailKind] = mapped_column(str_enum(AccountEmailKind, "account_email_kind",
                                                            length=32))
    to_address: Mapped[str] = mapped_column(String(254))
    # An address change: the address it was changed to (the account may move on again).
    new_address: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
