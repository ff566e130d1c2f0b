"""The answers to API writes sent with an Idempotency-Key, kept for a while so that a
client retrying one is answered again instead of the write being made twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import db
from crm.models.types import UTCDateTime, utcnow

IDEMPOTENCY_KEY_MAX_LENGTH = 255


class IdempotencyKey(db.Model):
    __tablename__ = "idempotency_keys"
    # One answer per key and user: another user's same key is another key.
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(IDEMPOTENCY_KEY_MAX_LENGTH))
    # SHA-256 of the method, path and body: the same key on another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int]
    # JSON: the headers of the answer a client reads (Content-Type, ETag, Location).
    headers: Mapped[str] = mapped_column(Text)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    # Expired after API_IDEMPOTENCY_KEY_TTL_SECONDS; the worker deletes expired rows.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
