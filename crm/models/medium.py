"""Mediums: where an interaction happened. Each has a name and nothing that ranks it."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import db
from crm.models.types import alphabetical_key

# key -> display name. The key only tells the channel validator what a handle
# looks like on that medium; it neither orders nor weighs anything.
BUILTIN_MEDIUMS: dict[str, str] = {
    "face_to_face": "Face-to-face",
    "phone": "Phone",
    "skype": "Skype",
    "twitter": "Twitter",
    "linkedin": "LinkedIn",
    "email": "Email",
    "facebook": "Facebook",
    "text_message": "Text message",
    "video_call": "Video call",
}


class Medium(db.Model):
    __tablename__ = "mediums"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    # NULL for built-ins, shared by everyone; a user's id for their own.
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str | None] = mapped_column(String(40), unique=True)

    def sort_key(self) -> tuple[str, int]:
        """Where the medium goes in every list of mediums: by name, alphabetically, the same
        on both databases (sorted in Python: SQLite's lower() folds only ASCII letters)."""
        return alphabetical_key(self.name), self.id

    @property
    def is_builtin(self) -> bool:
        return self.owner_id is None

    def __repr__(self) -> str:
        return f"<Medium {self.id} {self.name}>"
