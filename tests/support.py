"""Helpers for tests: logging in through the endpoints and reading the HTML that comes back."""

from __future__ import annotations

import html
import re
from contextlib import contextmanager
from html.parser import HTMLParser

PASSWORD = "correct horse battery staple"
# The address links in emails are built on in tests that send them (the mail_app fixture).
MAIL_BASE_URL = "https://rapport.example.org"


class AuthActions:
    """Account actions through the real HTTP endpoints of one test client."""

    def __init__(self, client):
        self.client = client

    def register(self, email, password=PASSWORD, name="Ada Lovelace", tz="UTC", confirm=None,
                 next=None, **kwargs):
        data = {
            "name": name,
            "email": email,
            "password": password,
            "confirm": password if confirm is None else confirm,
            "time_zone": tz,
        }
        if next is not None:
            data["next"] = next
        return self.client.post("/register", data=data, **kwargs)

    def login(self, email, password=PASSWORD, next=None, **kwargs):
        data = {"email": email, "password": password}
        if next is not None:
            data["next"] = next
        return self.client.post("/login", data=data, **kwargs)

    def logout(self, **kwargs):
        return self.client.post("/logout", **kwargs)

    def login_as(self, user):
        """Log user in by writing the session Flask-Login reads (skips the slow scrypt check).

        The user loader still runs on every request, so a stale session version or an
        unknown user is refused exactly as it would be after a real login.
        """
        with self.client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True


# --- reading pages --------------------------------------------------------------------


_INLINE = "a|abbr|b|code|em|i|kbd|mark|s|small|span|strong|sub|sup|time|u"


def days_later(start, days: int, zone: str):
    """`days` days after start in the zone, at the same wall time: when a keep-in-touch
    cadence counted from start falls due."""
    from datetime import UTC, timedelta
    from zoneinfo import ZoneInfo

    wall = start.astimezone(ZoneInfo(zone)).replace(tzinfo=None) + timedelta(days=days)
    return wall.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def as_user(app, user):
    """A test client of its own, logged in as user."""
    client = app.test_client()
    AuthActions(client).login_as(user)
    return client


def choose_the_digest(client, auth, user, hour: int = 8) -> None:
    """Log the client in as user and choose a daily digest at that hour in Settings."""
    auth.login_as(user)
    response = client.post("/settings", data={"action": "reminders",
                                              "reminders-email_mode": "digest",
                                              "reminders-digest_hour": str(hour)})
    assert response.status_code == 302


def invite(client, email: str, **form) -> str:
    """Invite a coach from a client's logged-in test client: the path of the invitation
    link Rapport shows once (in the flash message)."""
    response = client.post("/coaching", data={"email": email, **form}, follow_redirects=True)
    found = re.search(r"https?://[^/\s]+(/coaching/join/[A-Za-z0-9_-]+)", page_text(response.data))
    assert found, page_text(response.data)
    return found.group(1)


def link(app, client_user, coach, status=None, share_notes=False, responded_at=None) -> int:
    """A coach link (active unless status says otherwise) answered at responded_at (now)."""
    from datetime import UTC, datetime

    from crm.extensions import db
    from crm.models import CoachLink, CoachLinkStatus

    with app.app_context():
        row = CoachLink(client_id=client_user.id, coach_id=coach.id if coach else None,
                        coach_email=coach.email if coach else "later@example.com",
                        status=status or CoachLinkStatus.ACTIVE, share_notes=share_notes,
                        responded_at=responded_at or datetime.now(UTC))
        db.session.add(row)
        db.session.commit()
        return row.id


def page_text(body: bytes | str) -> str:
    """The visible text of a page: tags dropped, entities decoded, white space collapsed."""
    if isinstance(body, bytes):
        body = body.decode()
    body = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", body)
    # Inline elements run into the text around them, as a browser shows them.
    body = re.sub(rf"(?is)</?(?:{_INLINE})\b[^>]*>", "", body)
    body = re.sub(r"(?s)<[^>]+>", " ", body)
    return " ".join(html.unescape(body).split())


def order_in(body: bytes | str, names: list[str]) -> list[str]:
    """names sorted by where each first appears in the page text; missing ones raise."""
    text = page_text(body)
    missing = [n for n in names if n not in text]
    assert not missing, f"not on the page: {missing}"
    return sorted(names, key=text.index)


class _FormReader(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.values: dict[str, list[str]] = {}
        self._select: str | None = None
        self._option: dict | None = None
        self._textarea: str | None = None
        self._buffer: list[str] = []

    def _add(self, name, value):
        self.values.setdefault(name, []).append(value)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._add(a["name"], a.get("value", "on"))
            elif kind not in ("submit", "button", "image", "reset", "file"):
                self._add(a["name"], a.get("value") or "")
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select:
            self._option = a
            self._buffer = []
        elif tag == "textarea":
            self._textarea = a.get("name")
            self._buffer = []

    def handle_data(self, data):
        if self._option is not None or self._textarea:
            self._buffer.append(data)

    def handle_endtag(self, tag):
        if tag == "option" and self._option is not None:
            self._close_option()
        elif tag == "select":
            if self._option is not None:
                self._close_option()
            self._select = None
        elif tag == "textarea" and self._textarea:
            # HTML drops one newline right after <textarea>.
            text = "".join(self._buffer)
            text = text[2:] if text.startswith("\r\n") else text.removeprefix("\n")
            self._add(self._textarea, text)
            self._textarea = None

    def _close_option(self):
        option, self._option = self._option, None
        if "selected" in option:
            value = option.get("value")
            self._add(self._select, value if value is not None else "".join(self._buffer).strip())


def form_values(body: bytes | str) -> dict[str, list[str]]:
    """What a browser would submit from the page's fields, as name -> list of values.

    Selects give their selected options, checkboxes and radios only when checked.
    """
    if isinstance(body, bytes):
        body = body.decode()
    reader = _FormReader()
    reader.feed(body)
    reader.close()
    return reader.values


def field_error(body, name: str) -> str | None:
    """The error a form shows on the field `name`, or None."""
    text = body.decode() if isinstance(body, bytes) else body
    found = re.search(rf'<span class="error" id="{name}-error">(.*?)</span>', text, re.S)
    return found and html.unescape(found.group(1))


def field_value(body, name: str) -> str | None:
    """The single submitted value of a field, or None."""
    values = form_values(body).get(name)
    return values[0] if values else None


# --- counting SQL ---------------------------------------------------------------------

_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@contextmanager
def counting_queries(app):
    """Collect the SQL statements run inside the block, leaving out transaction control
    (BEGIN/COMMIT): those are not queries a page chooses to make."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(_TRANSACTION_CONTROL):
            statements.append(statement)

    with before_each_statement(app, record):
        yield statements


@contextmanager
def before_each_statement(app, listener):
    """Call listener(conn, cursor, statement, parameters, context, executemany) before each
    SQL statement the app's engine runs inside the block."""
    from sqlalchemy import event

    from crm.extensions import db

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", listener)


# --- a connection that drops ------------------------------------------------------------


@contextmanager
def connection_drops(app, sql: str, times: int = 1):
    """The next `times` statements that hold `sql` (any case) fail as on a dropped
    connection (sqlalchemy's OperationalError), before they reach the database."""
    from sqlalchemy.exc import OperationalError

    left = [times]

    def drop(conn, cursor, statement, parameters, context, executemany):
        if left[0] and sql.upper() in statement.upper():
            left[0] -= 1
            raise OperationalError(statement, parameters, Exception(
                "consuming input failed: server closed the connection unexpectedly"))

    with before_each_statement(app, drop):
        yield left
