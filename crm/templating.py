"""Jinja filters and globals: times shown in the viewer's zone."""

from __future__ import annotations

from datetime import date, datetime

from flask import Flask, g, request, url_for
from flask_login import current_user
from markupsafe import Markup, escape

from crm.contacts.channels import channel_href
from crm.timezones import to_local


def _viewer_zone() -> str:
    if current_user and current_user.is_authenticated:
        return current_user.time_zone
    return "UTC"


def localtime(value: datetime | None, fmt: str = "%-d %b %Y, %H:%M") -> str:
    """Format a UTC datetime in the viewer's time zone."""
    if value is None:
        return ""
    return to_local(value, _viewer_zone()).strftime(fmt)


def localdate(value: datetime | date | None, fmt: str = "%-d %b %Y") -> str:
    """Format a date, or a UTC datetime's local date."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_local(value, _viewer_zone())
    return value.strftime(fmt)


def localtime_for(value: datetime | None, user, fmt: str = "%-d %b %Y, %H:%M") -> str:
    """Format a UTC datetime in a given user's zone (emails have no logged-in viewer)."""
    if value is None:
        return ""
    return to_local(value, user.time_zone).strftime(fmt)


def iso_local(value: datetime | None) -> str:
    """A machine-readable timestamp for <time datetime>."""
    return "" if value is None else value.isoformat()


def show_as(endpoint: str, **values) -> None:
    """Name the page a POST shows again (a form with its errors), so that the page's links
    (sorting, paging, "come back here") lead to that page, not to the POST-only address."""
    g.shown_as = (endpoint, values)


def url_with(**changes) -> str:
    """This page's URL with some query arguments changed (None removes one)."""
    endpoint, values = g.get("shown_as") or (request.endpoint, request.view_args or {})
    args = request.args.to_dict()
    for key, val in changes.items():
        if val is None:
            args.pop(key, None)
        else:
            args[key] = val
    return url_for(endpoint, **values, **args)


def back_to(default: str) -> str:
    """Where the page was opened from (its `next`, a local path only), else default: what
    Cancel and a finished form lead back to."""
    from crm.auth.services import is_safe_next

    target = request.values.get("next")
    return target if is_safe_next(target) else default


def here() -> str:
    """This page's address (path and query), for links that come back to it."""
    if g.get("shown_as"):
        return url_with()
    return request.full_path.removesuffix("?")


def checklist(name: str, choices, chosen=(), kind: str = "checkbox", kept=()) -> Markup:
    """A checkbox (or radio button) in a label for each (value, label), checked when
    chosen; the value None is the blank choice (a radio button's "nobody"). A `kept`
    value's label is marked data-keep: a picker's search leaves it listed."""
    chosen = set(chosen or ())
    kept = set(kept or ())
    name = escape(name)
    kind = "radio" if kind == "radio" else "checkbox"
    return Markup("\n".join(  # noqa: S704 - every value and label escaped
        f'<label{" data-keep" if value in kept else ""}><input type="{kind}" name="{name}"'
        f' value="{"" if value is None else escape(value)}"'
        f'{" checked" if value in chosen else ""}> {escape(label)}</label>'
        for value, label in choices
    ))


def register(app: Flask) -> None:
    """Install the filters and globals."""
    app.add_template_filter(localtime)
    app.add_template_filter(localdate)
    app.add_template_filter(iso_local)
    app.add_template_filter(localtime_for)
    app.add_template_global(url_with)
    app.add_template_global(here)
    app.add_template_global(back_to)
    app.add_template_global(channel_href)
    app.add_template_global(checklist)
