"""Cached network figures: recomputed when the network changes or the copy is old."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import db
from crm.models.types import UTCDateTime


class InsightSnapshot(db.Model):
    __tablename__ = "insight_snapshots"

    owner_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # The coach's view (no private contacts or interactions) is cached separately.
    shared_only: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    # users.network_version when computed: any change to the network makes it stale.
    version: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[str] = mapped_column(Text)
    # Set when a page showed these figures after INSIGHTS_CACHE_SECONDS (within the grace):
    # the worker recomputes them next, so the page does not have to.
    wanted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A worker is recomputing them until then (crm.insights.cache.refresh_stale).
    refreshing_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
