"""A real SMTP server in the test process (aiosmtpd) that keeps what it receives.

    with SMTPServer() as smtp:
        app.config.update(smtp.app_config())
        ...
        smtp.messages   # email.message.EmailMessage objects, in arrival order
        smtp.connections  # how many SMTP sessions said EHLO/HELO

Each received message remembers the client's (host, port), so tests can tell how many
TCP connections a batch used.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    peer: tuple
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class Collector:
    """An aiosmtpd handler that accepts every message and counts sessions."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.greetings = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        session.host_name = hostname
        with self.lock:
            self.greetings += 1
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):  # noqa: N802
        session.host_name = hostname
        with self.lock:
            self.greetings += 1
        return f"250 {server.hostname}"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.received.append(
                Received(tuple(session.peer), envelope.mail_from, list(envelope.rcpt_tos),
                         message)
            )
        return "250 Message accepted for delivery"


class SMTPServer:
    """aiosmtpd's Controller on 127.0.0.1 and a free port, with a Collector handler."""

    def __init__(self) -> None:
        self.handler = Collector()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SMTPServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    def app_config(self) -> dict:
        """The settings that point the app's mailer at this server."""
        return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": self.port, "SMTP_TLS": "none",
                "SMTP_TIMEOUT_SECONDS": 5}

    def env(self) -> dict[str, str]:
        """The same settings as CRM_* environment variables for a `crm` subprocess."""
        return {"CRM_SMTP_HOST": "127.0.0.1", "CRM_SMTP_PORT": str(self.port),
                "CRM_SMTP_TLS": "none", "CRM_SMTP_TIMEOUT_SECONDS": "5"}

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    @property
    def messages(self) -> list[EmailMessage]:
        return [r.message for r in self.received]

    @property
    def connections(self) -> int:
        """SMTP sessions that greeted the server (smtplib says EHLO once per connection)."""
        with self.handler.lock:
            return self.handler.greetings

    def clear(self) -> None:
        with self.handler.lock:
            self.handler.received.clear()
            self.handler.greetings = 0

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Wait (bounded) until at least count messages arrived; return them."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages


class HangingServer:
    """A TCP server on 127.0.0.1 that accepts connections and never says a word, like an
    SMTP server that hangs: a client waits out its timeout. Counts the connections."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(50)
        self.port = self.socket.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.socket.accept()
            except OSError:  # closed
                return
            self.accepted.append(conn)

    def __enter__(self) -> HangingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self.socket.close()
        for conn in self.accepted:
            conn.close()

    @property
    def connections(self) -> int:
        return len(self.accepted)

    def app_config(self, timeout: float) -> dict:
        return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": self.port, "SMTP_TLS": "none",
                "SMTP_TIMEOUT_SECONDS": timeout}
