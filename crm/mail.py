"""Outgoing email over SMTP: one connection per batch, with timeouts."""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from email.headerregistry import HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, formataddr

from flask import current_app, render_template

from crm.models import utcnow


class MailError(Exception):
    """Sending failed; the message says why."""


class MailServerError(MailError):
    """The server cannot be reached or stopped answering: every message would fail the same
    way now, so a batch stops at the first one."""


class _OneLineHeader(UnstructuredHeader):
    """A header of ASCII URLs, sent on one line (up to SMTP's 998 characters): the default
    policy would turn a URL longer than 78 characters into RFC 2047 encoded words, which
    mail providers do not read as a List-Unsubscribe URL."""

    def fold(self, *, policy) -> str:
        return f"{self.name}: {self}{policy.linesep}"


_headers = HeaderRegistry()
_headers.map_to_type("list-unsubscribe", _OneLineHeader)
_POLICY = default_policy.clone(header_factory=_headers)


def build_message(
    *,
    to: str,
    subject: str,
    template: str,
    message_id: str,
    unsubscribe_url: str | None = None,
    **context,
) -> EmailMessage:
    """A text + HTML email from templates/email/<template>.txt and .html, with RFC 8058
    one-click unsubscribe headers when given its URL."""
    message = EmailMessage(policy=_POLICY)
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = to
    # One line: a title or a name may hold line breaks (the API, an import), which a
    # header cannot (the email library refuses them, and they must never start a header).
    message["Subject"] = " ".join(subject.split())
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(utcnow())
    message["Auto-Submitted"] = "auto-generated"
    if unsubscribe_url:
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    context["unsubscribe_url"] = unsubscribe_url
    message.set_content(render_template(f"email/{template}.txt", **context))
    message.add_alternative(render_template(f"email/{template}.html", **context), subtype="html")
    return message


def make_message_id(local_part: str) -> str:
    """A stable Message-ID: the same delivery always gets the same one."""
    domain = current_app.config["MAIL_FROM"].rsplit("@", 1)[-1].strip(">") or "rapport.local"
    return f"<{local_part}@{domain}>"


def sender_address(name: str, email: str) -> str:
    """Format a display name and address for a header."""
    return formataddr((name, email))


class Mailer:
    """An SMTP session reused for a batch: `with Mailer() as m: m.send(msg)`."""

    def __init__(self, config=None):
        self.config = config or current_app.config
        self.connection: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        host, port = cfg["SMTP_HOST"], int(cfg["SMTP_PORT"])
        timeout = float(cfg["SMTP_TIMEOUT_SECONDS"])
        tls = str(cfg["SMTP_TLS"]).lower()
        try:
            if tls == "ssl":
                conn = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                        context=ssl.create_default_context())
            else:
                conn = smtplib.SMTP(host, port, timeout=timeout)
                if tls in ("starttls", "true", "1", "yes"):  # else none (check_config)
                    conn.starttls(context=ssl.create_default_context())
            if cfg.get("SMTP_USER"):
                conn.login(cfg["SMTP_USER"], cfg.get("SMTP_PASSWORD") or "")
        except (OSError, smtplib.SMTPException) as exc:
            raise MailServerError(f"cannot connect to {host}:{port}: "
                                  f"{exc or exc.__class__.__name__}") from exc
        return conn

    def send(self, message: EmailMessage) -> None:
        """Send one message on the batch's connection, reconnecting once if a connection
        that served earlier messages dropped (a server may close an idle session).

        MailServerError: the server is unreachable, timed out or hung up; MailError: it
        refused this message (a recipient, the sender or the data)."""
        reused = self.connection is not None
        if self.connection is None:
            self.connection = self._connect()
        try:
            self.connection.send_message(message)
        except smtplib.SMTPServerDisconnected as exc:
            self.connection = None
            if not reused:
                raise MailServerError(f"server disconnected: {exc}") from exc
            self.send(message)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused,
                smtplib.SMTPDataError) as exc:
            self.close()
            raise MailError(str(exc) or exc.__class__.__name__) from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.abandon()  # a QUIT to a server that stopped answering would wait again
            raise MailServerError(str(exc) or exc.__class__.__name__) from exc

    def abandon(self) -> None:
        """Drop the connection without a goodbye."""
        if self.connection is not None:
            with contextlib.suppress(OSError):
                self.connection.close()
            self.connection = None

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.connection.quit()
            self.connection = None
