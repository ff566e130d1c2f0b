"""Interactions: one touch of a relationship, on any medium, with one or more contacts."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import DDL, Boolean, Column, ForeignKey, Index, String, Table, Text, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models.contact import Contact, trigram_index
from crm.models.medium import Medium
from crm.models.types import UTCDateTime, str_enum, utcnow

interaction_participants = Table(
    "interaction_participants",
    db.metadata,
    Column(
        "interaction_id", ForeignKey("interactions.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    # A copy of interactions.occurred_at, kept by the database triggers below, so that
    # "this contact's interactions in time order" is one walk of the index below:
    # a timeline page reads its 25 rows whether the contact has 10 or 10,000.
    Column("occurred_at", UTCDateTime, nullable=True),
    # Covers timelines (contact, time order) and per-contact figures (contact -> ids).
    Index("ix_interaction_participants_contact_occurred",
          "contact_id", "occurred_at", "interaction_id"),
)

# The triggers that keep interaction_participants.occurred_at equal to its interaction's
# occurred_at, whoever writes (the ORM, bulk statements, imports, merges). Migration 0007
# creates the same ones. A later migration that rebuilds either table on SQLite (batch
# mode "recreate") drops them and must create them again.
PARTICIPANT_TIME_DDL = {
    "sqlite": (
        """CREATE TRIGGER tr_participants_occurred_at AFTER INSERT ON interaction_participants
        WHEN NEW.occurred_at IS NULL
        BEGIN
            UPDATE interaction_participants
            SET occurred_at = (SELECT occurred_at FROM interactions WHERE id = NEW.interaction_id)
            WHERE interaction_id = NEW.interaction_id AND contact_id = NEW.contact_id;
        END""",
        """CREATE TRIGGER tr_interactions_occurred_at AFTER UPDATE OF occurred_at ON interactions
        BEGIN
            UPDATE interaction_participants SET occurred_at = NEW.occurred_at
            WHERE interaction_id = NEW.id;
        END""",
    ),
    "postgresql": (
        """CREATE OR REPLACE FUNCTION participants_occurred_at() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.occurred_at IS NULL THEN
                SELECT occurred_at INTO NEW.occurred_at
                FROM interactions WHERE id = NEW.interaction_id;
            END IF;
            RETURN NEW;
        END $$""",
        """CREATE TRIGGER tr_participants_occurred_at BEFORE INSERT ON interaction_participants
        FOR EACH ROW EXECUTE FUNCTION participants_occurred_at()""",
        """CREATE OR REPLACE FUNCTION interactions_occurred_at() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE interaction_participants SET occurred_at = NEW.occurred_at
            WHERE interaction_id = NEW.id;
            RETURN NULL;
        END $$""",
        """CREATE TRIGGER tr_interactions_occurred_at AFTER UPDATE OF occurred_at ON interactions
        FOR EACH ROW WHEN (OLD.occurred_at IS DISTINCT FROM NEW.occurred_at)
        EXECUTE FUNCTION interactions_occurred_at()""",
    ),
}

for _dialect, _statements in PARTICIPANT_TIME_DDL.items():
    for _statement in _statements:
        event.listen(interaction_participants, "after_create",
                     DDL(_statement).execute_if(dialect=_dialect))


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
    __table_args__ = (
        Index("ix_interactions_owner_occurred", "owner_id", "occurred_at"),
        # All one's interactions on one medium (/interactions?medium=), newest first: walked
        # in order, however seldom the medium is used (the index above would read the whole
        # log to fill a page of a medium used twice in ten years).
        Index("ix_interactions_owner_medium_occurred", "owner_id", "medium_id", "occurred_at"),
    )

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
        secondary=interaction_participants, order_by=(Contact.sort_name, Contact.id)
    )

    def __repr__(self) -> str:
        return f"<Interaction {self.id} {self.occurred_at:%Y-%m-%d}>"


# Interactions by what was said (/interactions?q=): PostgreSQL's trigram indexes; SQLite's
# FTS table is crm.models.search_index.search_interactions.
trigram_index("ix_interactions_summary_trgm", Interaction.summary)
trigram_index("ix_interactions_notes_trgm", Interaction.notes)
