"""Column types shared by the models."""

from __future__ import annotations

import enum
import unicodedata
from datetime import UTC, datetime

from sqlalchemy import DateTime, Enum
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def name_key(name: str) -> str:
    """What makes two tag or medium names the same name: equal after Unicode case folding
    ("ΟΔΟΣ", "Οδος" and "οδοσ" are one tag) and compatibility normalisation ("Café" typed
    with a combining accent, as text copied on macOS often is, is "Café"; a full-width
    "Ｍastodon" is "Mastodon"): Unicode's caseless matching, NFKC_Casefold. Names are
    compared in Python with this, never with SQL lower(), which on SQLite folds only ASCII
    letters and on PostgreSQL differs from Python in places (a final sigma, a dotted
    capital I)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


# Characters nobody types in a name that would make two names look alike or break lines:
# zero-width space, word joiner, byte-order mark, and the bidirectional controls.
_INVISIBLE = frozenset("\u200b\u2060\ufeff\u202a\u202b\u202c\u202d\u202e"
                       "\u2066\u2067\u2068\u2069")


def holds_hidden_characters(text: str) -> bool:
    """Whether text holds line breaks, tabs or invisible characters, which no medium's or
    tag's name given on its own page may hold."""
    return any(unicodedata.category(c) == "Cc" or c in _INVISIBLE for c in text)


def tidy_name(raw: str) -> str:
    """A medium's or tag's name as stored: inner white space collapsed to one space and one
    spelling of each letter (NFC: "é" typed as e and a combining accent is "é")."""
    return unicodedata.normalize("NFC", " ".join(raw.split()))


# Letters no Unicode decomposition takes to a base letter, as they are usually spelt
# when a name is filed alphabetically (after case folding).
_SPELT_OUT = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d",
                            "þ": "th", "ħ": "h", "ı": "i", "ŀ": "l"})
SORT_NAME_LENGTH = 255


def alphabetical_key(name: str) -> str:
    """Where a name goes in an alphabetical list: accents set aside ("Émile" with "Emile",
    between "Ada" and "Zoë", not after "Zoë" as by code point), Unicode case folding
    ("Straße" with "Strasse"), spaces collapsed. Contacts store it (sort_name) so that both
    databases list them in this one order; SQLite's lower() folds only ASCII letters and
    PostgreSQL's order depends on the database's collation."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.casefold().translate(_SPELT_OUT).split())[:SORT_NAME_LENGTH]


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
