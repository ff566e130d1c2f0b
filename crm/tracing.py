"""Each request's reference: sent back as X-Request-ID on every response, shown on error
pages and in 5xx problem+json bodies for a person to quote, and written in the log lines
about the request, so that what someone reports can be found in the logs.

Behind a reverse proxy that Rapport trusts (PROXY_FIX of 1 or more), the proxy's own id
is kept when it sends one (nginx: `proxy_set_header X-Request-ID $request_id;`), so its
access log and Rapport's lines share it; otherwise, and for an id that is not plain
letters, digits and . _ : -, Rapport makes one. A client reaching Rapport directly cannot
choose the id its request is logged under."""

from __future__ import annotations

import re
import secrets

from flask import Flask, current_app, g, has_request_context, request, session
from sqlalchemy import inspect

HEADER = "X-Request-ID"
# What a proxy's id may be: nginx's $request_id is 32 hex digits; UUIDs and the like pass.
# Nothing that could forge or split a log line.
_PROXY_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id() -> str | None:
    """The current request's reference (made on first use), None outside a request."""
    if not has_request_context():
        return None
    rid = g.get("request_id")
    if rid is None:
        sent = request.headers.get(HEADER, "")
        trusted = current_app.config.get("PROXY_FIX") and _PROXY_ID.fullmatch(sent)
        rid = g.request_id = sent if trusted else secrets.token_hex(8)
    return rid


def user_for_log() -> str:
    """The id of the request's user, else "-": the user already loaded (an API token's
    first, which a session cookie sent beside it does not make), or the one the signed
    session cookie names. Never a query: the line may be about the database failing."""
    if not has_request_context():
        return "-"
    for user in (g.get("api_user"), g.get("_login_user")):
        # The row's identity, kept by the session even when its attributes have expired
        # (asking is_authenticated would load them); None for the anonymous user.
        state = inspect(user, raiseerr=False) if user is not None else None
        if state is not None and state.identity:
            return str(state.identity[0])
    # Flask-Login keeps "id:session version" (User.get_id) in the cookie.
    claimed = str(session.get("_user_id") or "").partition(":")[0]
    return claimed if claimed.isdigit() else "-"


def about_request() -> str:
    """"METHOD /path (request ID, user ID)", for a log line about the current request. The
    path's line breaks and other control characters are written escaped (%0A in an address
    decodes to a line break), so an address cannot forge lines of the log."""
    path = "".join(c if c.isprintable() else repr(c)[1:-1] for c in request.path)
    return f"{request.method} {path} (request {request_id()}, user {user_for_log()})"


def register(app: Flask) -> None:
    """Send every response's reference back in X-Request-ID."""

    @app.after_request
    def send_request_id(response):
        response.headers[HEADER] = request_id()
        return response
