"""Coach links (a client shares their network with a coach) and coaching notes."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models.types import UTCDateTime, str_enum, utcnow
from crm.models.user import User


class CoachLinkStatus(enum.StrEnum):
    INVITED = "invited"
    ACTIVE = "active"
    DECLINED = "declined"
    REVOKED = "revoked"


class CoachLink(db.Model):
    __tablename__ = "coach_links"
    __table_args__ = (
        Index("ix_coach_links_coach_status", "coach_id", "status"),
        Index("ix_coach_links_client_status", "client_id", "status"),
        Index("ix_coach_links_email_status", "coach_email", "status"),
        Index("ix_coach_links_invite_token_hash", "invite_token_hash", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # NULL until someone with coach_email has an account (the invitation waits).
    coach_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    coach_email: Mapped[str] = mapped_column(String(254))
    status: Mapped[CoachLinkStatus] = mapped_column(
        str_enum(CoachLinkStatus, "coach_link_status"),
        default=CoachLinkStatus.INVITED,
    )
    share_notes: Mapped[bool] = mapped_column(Boolean, default=False)
    invited_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # SHA-256 of the invitation link's secret while the invitation is open: the link, which
    # the client sends their coach, is what accepts it. Rapport does not verify email
    # addresses, so the address alone must never be enough.
    invite_token_hash: Mapped[str | None] = mapped_column(String(64))

    client: Mapped[User] = relationship(foreign_keys=[client_id])
    coach: Mapped[User | None] = relationship(foreign_keys=[coach_id])


class CoachingNote(db.Model):
    """A coach's note to a client, shown on the client's dashboard."""

    __tablename__ = "coaching_notes"
    __table_args__ = (Index("ix_coaching_notes_client_created", "client_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("coach_links.id", ondelete="CASCADE"),
                                         index=True)
    # NULL once the coach deleted their account: the note stays the client's, from "a
    # former coach" (0015).
    coach_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    client_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    coach: Mapped[User | None] = relationship(foreign_keys=[coach_id])
    link: Mapped[CoachLink] = relationship()
