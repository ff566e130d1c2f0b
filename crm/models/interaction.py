"""Interactions: one touch of a relationship, on any medium, with one or more contacts."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Column, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models.contact import Contact
from crm.models.medium import Medium
from crm.models.types import UTCDateTime, str_enum, utcnow

interaction_participants = Table(
    "interaction_participants",
    db.metadata,
    Column(
        "interaction_id", ForeignKey("interactions.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    # Covering index for "this contact's interactions" (timelines, per-contact figures).
    Index("ix_interaction_participants_contact_interaction", "contact_id", "interaction_id"),
)


class Initiator(enum.StrEnum):
    """Who reached out."""

    ME = "me"
    THEM = "them"
    MUTUAL = "mutual"

    @property
    def label(self) -> str:
        return {"me": "I reached out", "them": "They reached out", "mutual": "Mutual"}[self.value]


class Interaction(db.Model):
    __tablename__ = "interactions"
    __table_args__ = (Index("ix_interactions_owner_occurred", "owner_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    medium_id: Mapped[int] = mapped_column(ForeignKey("mediums.id"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    initiated_by: Mapped[Initiator] = mapped_column(
        str_enum(Initiator, "initiator", length=10),
        default=Initiator.ME,
    )
    summary: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    medium: Mapped[Medium] = relationship()
    participants: Mapped[list[Contact]] = relationship(
        secondary=interaction_participants, order_by=Contact.name
    )

    def __repr__(self) -> str:
        return f"<Interaction {self.id} {self.occurred_at:%Y-%m-%d}>"
