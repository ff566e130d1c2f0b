"""Column types shared by the models."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import DateTime, Enum
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def name_key(name: str) -> str:
    """What makes two tag or medium names the same name: equal after Unicode case folding
    ("ΟΔΟΣ", "Οδος" and "οδοσ" are one tag). Names are compared in Python with this, never
    with SQL lower(), which on SQLite folds only ASCII letters and on PostgreSQL differs
    from Python in places (a final sigma, a dotted capital I)."""
    return name.casefold()


class UTCDateTime(TypeDecorator):
    """Store naive UTC on every database; hand back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def str_enum(cls: type[enum.Enum], name: str, length: int = 20) -> Enum:
    """A VARCHAR column holding an enum's values (no native database type to migrate)."""
    return Enum(cls, name=name, native_enum=False, length=length,
                values_callable=lambda e: [m.value for m in e])
