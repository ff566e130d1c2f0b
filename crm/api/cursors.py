"""The API's cursors: where a page of a list ends, and the filters it was asked with,
signed so that a client can hand them back but not make or change one. Each list signs
its own (a cursor of the interactions is no cursor of the contacts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

P = TypeVar("P")


class CursorRefused(Exception):
    """A cursor that cannot continue this request; the message says why, for a person."""


def _serializer(list_name: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"],
                             salt=f"rapport.api-cursor.{list_name}")


def make_cursor(list_name: str, user_id: int, filters: dict, after: Any) -> str:
    """A cursor for the page of list_name after the position `after` (a JSON value), with
    the same filters (JSON values), for this user alone."""
    return _serializer(list_name).dumps({"u": user_id, "p": after, "f": filters})


def read_cursor(list_name: str, token: str, user_id: int,
                position: Callable[[Any], P]) -> tuple[dict, P]:
    """The filters and position (read by `position`, which raises ValueError or TypeError
    for what is not one) that a cursor this user was given for list_name carries;
    CursorRefused for anything else (cut short, changed, another list's or user's, or
    signed with another key)."""
    try:
        data = _serializer(list_name).loads(token)
    except BadSignature as exc:
        raise CursorRefused(
            "The cursor is not one Rapport gave for this list (cut short or changed, or "
            "from before a change of the server's secret key): start again without it."
        ) from exc
    try:
        owner, after, filters = data["u"], position(data["p"]), data["f"]
    except (TypeError, KeyError, ValueError) as exc:
        raise CursorRefused("The cursor is not one Rapport gave: start again without it."
                            ) from exc
    if owner != user_id or not isinstance(filters, dict):
        raise CursorRefused("The cursor was made for another user's list: start again "
                            "without it.")
    return filters, after
