"""The API's cursors: where a page of a list ends, and the filters it was asked with,
signed so that a client can hand them back but not make or change one."""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from crm.interactions.services import Position

_SALT = "rapport.api-interactions-cursor"


class CursorRefused(Exception):
    """A cursor that cannot continue this request; the message says why, for a person."""


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def make_cursor(user_id: int, filters: dict, after: Position) -> str:
    """A cursor for the page after `after`, with the same filters (JSON values), for this
    user alone."""
    return _serializer().dumps({"u": user_id, "p": after.token, "f": filters})


def read_cursor(token: str, user_id: int) -> tuple[dict, Position]:
    """The filters and position a cursor this user was given carries; CursorRefused for
    anything else (cut short, changed, another user's, or signed with another key)."""
    try:
        data = _serializer().loads(token)
    except BadSignature as exc:
        raise CursorRefused(
            "The cursor is not one Rapport gave (cut short or changed, or from before a "
            "change of the server's secret key): start again without it.") from exc
    try:
        owner, position, filters = data["u"], Position.parse(data["p"]), data["f"]
    except (TypeError, KeyError, ValueError) as exc:
        raise CursorRefused("The cursor is not one Rapport gave: start again without it."
                            ) from exc
    if owner != user_id or not isinstance(filters, dict):
        raise CursorRefused("The cursor was made for another user's list: start again "
                            "without it.")
    return filters, position
