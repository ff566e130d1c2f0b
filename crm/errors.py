"""Error pages: HTML for people, problem+json under /api."""

from __future__ import annotations

import math
import time
from urllib.parse import urlsplit

from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError

from crm.database import unavailable
from crm.extensions import db
from crm.tracing import about_request, request_id

# What a 503 for an unreachable database asks clients to wait.
UNAVAILABLE_RETRY_SECONDS = 30


def wants_problem_json() -> bool:
    """API paths answer errors as application/problem+json."""
    return request.path.startswith("/api/")


def problem(status: int, title: str, detail: str | None = None, **extra):
    """Build an RFC 9457 problem response."""
    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def _retry_after() -> str | None:
    """Seconds until the breached rate limit resets, when Flask-Limiter knows."""
    from crm.extensions import limiter

    current = limiter.current_limit
    if current is None:
        return None
    return str(max(1, math.ceil(current.reset_at - time.time())))


def _minutes(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _allow(error: HTTPException) -> dict[str, str]:
    """The error's Allow header, which a 405 must carry (RFC 9110 15.5.6): the responses
    built here are new ones and would drop it."""
    return {name: value for name, value in error.get_headers() if name == "Allow"}


def _same_site_referrer() -> str | None:
    """The page a request came from (path and query), when it is one of this site's."""
    from crm.auth.services import is_safe_next

    if not request.referrer:
        return None
    parts = urlsplit(request.referrer)
    if parts.netloc != request.host or parts.scheme not in ("http", "https"):
        return None
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return target if is_safe_next(target) else None


def register(app: Flask) -> None:
    """Install the handlers."""

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        if wants_problem_json():
            return problem(400, "Bad Request", error.description)
        # Tokens live as long as the session (WTF_CSRF_TIME_LIMIT is None): a form fails
        # this check when the session it came from has ended, or when it came from
        # another site. Back to the form only when it was one of ours, where the browser
        # usually still holds what was typed.
        return (
            render_template(
                "errors/error.html",
                code=400,
                title="This form has expired",
                message="Your session ended while the form was open (you logged out in "
                "this browser), or the form came from another site. "
                "Nothing was saved. Go back to the form: your browser usually still holds "
                "what you typed; reload the page and send it again.",
                back=_same_site_referrer(),
            ),
            400,
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if wants_problem_json():
            response = problem(error.code or 500, error.name, error.description)
            response.headers.update(_allow(error))
            return response
        if error.code == 429:
            retry = _retry_after()
            wait = f" Try again in {_minutes(int(retry))}." if retry else " Try again later."
            response = render_template(
                "errors/error.html", code=429, title="Too many attempts",
                message=f"{error.description}{wait} Nothing you entered was saved.",
            )
            return response, 429, ({"Retry-After": retry} if retry else {})
        messages = {
            403: ("Not allowed", "You do not have access to this page."),
            404: ("Not found", "There is nothing here, or it is not yours to see."),
            405: ("Not allowed", "That action is not available here."),
            413: ("Too large", "That upload or form is larger than Rapport accepts."),
        }
        title, message = messages.get(error.code or 500, (error.name, error.description))
        response = render_template(
            "errors/error.html", code=error.code, title=title, message=message
        )
        return response, error.code, _allow(error)

    @app.errorhandler(500)
    def server_error(error):
        db.session.rollback()
        if wants_problem_json():
            return problem(500, "Internal Server Error", request_id=request_id())
        return (
            render_template(
                "errors/error.html",
                code=500,
                title="Something went wrong",
                message="Nothing you entered was saved. Please try again in a moment.",
                reference=request_id(),
            ),
            500,
        )

    app.register_error_handler(InternalServerError, server_error)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(DisconnectionError)
    @app.errorhandler(PoolTimeoutError)
    def database_unavailable(error):
        """The database cannot be reached or is busy (down, restarting, locked by another
        writer past the busy timeout, a statement cancelled): 503 with Retry-After. The page
        reads nothing from the database: the layout's user, unread count and worker banner
        would each try it again (on SQLite, a second wait for the lock) and fail inside the
        handler, leaving the server's bare "Internal Server Error"."""
        reason = unavailable(error)
        if reason is None:
            # A fault (an error in a statement, a missing table: SQLite reports both as an
            # OperationalError), not an outage to wait out: a 500, logged with its traceback.
            current_app.log_exception((type(error), error, error.__traceback__))
            return server_error(error)
        current_app.logger.warning("database unavailable for %s: %s", about_request(), reason)
        try:
            db.session.rollback()
        except SQLAlchemyError:
            db.session.remove()  # the connection is gone: the next request gets another
        retry = {"Retry-After": str(UNAVAILABLE_RETRY_SECONDS)}
        detail = ("Rapport cannot reach its database right now. Nothing was saved. "
                  "Try again in a moment.")
        if wants_problem_json():
            response = problem(503, "Service Unavailable", detail, request_id=request_id())
            response.headers.update(retry)
            return response
        page = current_app.jinja_env.get_template("errors/unavailable.html").render(
            code=503, title="Rapport is briefly unavailable", reference=request_id(),
            message=detail + (" Go back to the form: your browser usually still holds what "
                              "you typed." if request.method == "POST" else ""),
            back=_same_site_referrer() if request.method == "POST" else None,
        )
        return page, 503, retry
