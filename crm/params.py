"""What a request may carry as a row id, a page number or a search term.

Ids are 32-bit integers in the database: PostgreSQL refuses a larger number outright (an
error, not "no such row"), so a larger one is answered before any query is made, the same
way on both databases."""

from __future__ import annotations

from flask import abort, request

INT_MAX = 2**31 - 1
# Dates people give stay within these years: arithmetic beyond them (a reminder's next
# occurrence, conversion to a zone far ahead) would overflow Python's datetime.
YEAR_MIN, YEAR_MAX = 1900, 2200


def in_year_range(year: int) -> bool:
    """Whether a date in this year is one people may give (YEAR_MIN..YEAR_MAX)."""
    return YEAR_MIN <= year <= YEAR_MAX
# The contact, reminder and client lists stop at this page: a larger page number would
# make an offset beyond the database's integers (every list ends far sooner).
MAX_PAGE = 1_000_000


def is_record_id(number: int) -> bool:
    """Whether a row can have this id."""
    return 1 <= number <= INT_MAX


def record_id(value) -> int:
    """A submitted id as an int; ValueError unless it is one a row can have."""
    number = int(value)
    if not is_record_id(number):
        raise ValueError(f"{value!r} is not a record id")
    return number


def text_arg(name: str, max_length: int) -> str:
    """A text argument of the query string, at most max_length characters, without NUL
    characters (no stored text has one; PostgreSQL refuses them in a query)."""
    return request.args.get(name, "").replace("\x00", "")[:max_length]


def page_arg() -> int:
    """The ?page= argument: 1 when it is missing or not a number, at most MAX_PAGE."""
    return min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)


def reject_impossible_ids() -> None:
    """Before every request: an id in the URL that no row can have (beyond INT_MAX) is a
    404 like any id that is not yours, answered before any query is made."""
    if any(isinstance(value, int) and not is_record_id(value)
           for value in (request.view_args or {}).values()):
        abort(404)
