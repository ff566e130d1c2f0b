"""Telling a database that cannot be reached from other database errors, in one line."""

from __future__ import annotations

import re

from sqlalchemy.exc import DBAPIError, OperationalError

# A password in a URL or a libpq keyword string, should a driver ever quote one.
_SECRET = re.compile(r"(?P<keep>://[^:/@\s]*:|password\s*=\s*)[^@\s]+(?P<at>@?)", re.IGNORECASE)


def schema_missing(text: str) -> bool:
    """Whether a database's message says a table or column is missing (not migrated)."""
    return ("no such table" in text or "no such column" in text
            or (("relation" in text or "column" in text) and "does not exist" in text))


def first_line(exc: BaseException) -> str:
    """The first line of the database's own message, without a password."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    line = text.splitlines()[0] if text else exc.__class__.__name__
    return _SECRET.sub(lambda m: f"{m['keep']}***{m['at']}", line)


def unreachable(exc: BaseException) -> str | None:
    """The first line of the error when it says the database cannot be reached (refused,
    dropped, timed out: an OperationalError or a disconnect), else None. A missing schema
    is not an outage: waiting does not mend it."""
    if not isinstance(exc, DBAPIError):
        return None
    if not (exc.connection_invalidated or isinstance(exc, OperationalError)):
        return None
    line = first_line(exc)
    return None if schema_missing(line) else line
