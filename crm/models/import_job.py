"""An import in progress: the uploaded file waits here between preview and confirm."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import db
from crm.models.types import UTCDateTime, str_enum, utcnow


class ImportKind(enum.StrEnum):
    LINKEDIN = "linkedin"
    CSV = "csv"
    VCARD = "vcard"

    @property
    def label(self) -> str:
        return {"linkedin": "LinkedIn connections", "csv": "CSV file", "vcard": "vCard file"}[
            self.value
        ]


class ImportStatus(enum.StrEnum):
    PREVIEW = "preview"  # uploaded, waiting for the user to confirm
    DONE = "done"
    FAILED = "failed"


class ImportJob(db.Model):
    __tablename__ = "import_jobs"
    __table_args__ = (Index("ix_import_jobs_owner_created", "owner_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[ImportKind] = mapped_column(
        str_enum(ImportKind, "import_kind")
    )
    status: Mapped[ImportStatus] = mapped_column(
        str_enum(ImportStatus, "import_status"),
        default=ImportStatus.PREVIEW,
    )
    filename: Mapped[str] = mapped_column(String(255), default="")
    # The decoded file; cleared once the import has run, so it is not kept around.
    content: Mapped[str | None] = mapped_column(Text)
    # JSON: the column mapping of a generic CSV import ({"0": "name", ...}).
    mapping: Mapped[str | None] = mapped_column(Text)
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    # JSON: what the run did (created, updated, skipped) once it is done.
    result: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
