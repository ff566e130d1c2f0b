"""Helpers for tests that run the real `crm` and gunicorn processes.

Used by test_worker_processes.py and test_many_nodes.py: the environment a subprocess gets,
a fresh PostgreSQL database migrated with `crm db upgrade`, starting processes with their
output in log files (and always killing them at the end), and bounded polling.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from crm.extensions import db
from crm.models.reminder import Delivery, DeliveryChannel

PG_ENV = "CRM_TEST_DATABASE_URL"
ROOT = Path(__file__).resolve().parent.parent
SECRET = "worker-process-test-secret"


def console_script(name: str) -> list[str]:
    """A console script installed next to this interpreter (`crm`, `gunicorn`)."""
    script = Path(sys.executable).with_name(name)
    if script.exists():
        return [str(script)]
    if name == "crm":
        return [sys.executable, "-c", "from crm.cli import main; main()"]
    return [sys.executable, "-m", name]


def crm_command() -> list[str]:
    """The `crm` console script of this environment."""
    return console_script("crm")


def process_env(database_url: str, **settings) -> dict[str, str]:
    """The environment of a `crm` subprocess: this one's, minus any CRM_/FLASK_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "FLASK_"))}
    env.update({"CRM_DATABASE_URL": database_url, "CRM_SECRET_KEY": SECRET,
                "PYTHONUNBUFFERED": "1"})
    env.update({k: str(v) for k, v in settings.items()})
    return env


def migrate(database_url: str) -> None:
    """`crm db upgrade`, as a deployment builds its database."""
    result = subprocess.run(  # noqa: S603 - our own console script
        [*crm_command(), "db", "upgrade"], env=process_env(database_url), cwd=ROOT,
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@contextmanager
def migrated_postgres_database(prefix: str) -> Iterator[str]:
    """A fresh database on the CRM_TEST_DATABASE_URL server, migrated by `crm db upgrade`;
    dropped at the end (WITH FORCE, so a leftover connection cannot keep it)."""
    import psycopg

    base = make_url(os.environ[PG_ENV])
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    url = base.set(drivername="postgresql+psycopg", database=name).render_as_string(
        hide_password=False
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        migrate(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Processes:
    """Start subprocesses, each writing stdout and stderr to NAME.log in log_dir.

    Leaving the `with` block kills whatever is still running (even when a test failed)
    and closes the logs.
    """

    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self.started: list[subprocess.Popen] = []

    def start(self, args: list[str], env: dict[str, str], name: str) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        try:
            proc = subprocess.Popen(  # noqa: S603 - our own console scripts
                args, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, text=True,
            )
        except BaseException:
            log.close()
            raise
        proc.name = name
        proc.log_path = self.log_dir / f"{name}.log"
        proc.log_file = log
        self.started.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
        for proc in self.started:
            try:
                proc.wait(timeout=10)
            finally:
                proc.log_file.close()

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def stop(proc: subprocess.Popen, timeout: float = 15) -> int:
    """SIGTERM, as a service manager stops a process; the exit code."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def log_of(proc) -> str:
    return Path(proc.log_path).read_text()


def wait_until(condition: Callable[[], object], *, timeout: float, procs=(),
               what: str = "condition", interval: float = 0.1) -> None:
    """Poll condition() until true; fail on the deadline or if a process exits early."""
    deadline = time.monotonic() + timeout
    while not condition():
        for proc in procs:
            assert proc.poll() is None, (
                f"{getattr(proc, 'name', 'process')} exited early:\n{log_of(proc)[-3000:]}"
            )
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+) ")


def start_gunicorn(processes: Processes, env: dict[str, str], name: str, *,
                   workers: int, timeout: float = 60) -> tuple[subprocess.Popen, int]:
    """gunicorn 'crm:create_app()' with sync workers on a free 127.0.0.1 port.

    It binds port 0 itself and the port is read from its log, so no other process can
    take the port between choosing and binding it. Returns (process, port) once every
    worker has booted; the caller still waits for the app to answer.
    """
    proc = processes.start(
        [*console_script("gunicorn"), "crm:create_app()", "--bind", "127.0.0.1:0",
         "--workers", str(workers), "--worker-class", "sync", "--graceful-timeout", "10"],
        env, name,
    )
    found: list[int] = []

    def ready() -> bool:
        text = log_of(proc)
        if not found and (match := _LISTENING.search(text)):
            found.append(int(match.group(1)))
        return bool(found) and text.count("Booting worker with pid") >= workers

    wait_until(ready, timeout=timeout, procs=[proc], what=f"{name} to listen")
    return proc, found[0]


# What no process under test may ever log.
FAILURE_MARKERS = ("Traceback", "database is locked", "WORKER TIMEOUT", "deadlock detected",
                   "could not serialize", "[ERROR]", "[CRITICAL]", " ERROR ", " CRITICAL ")


def failures_in_logs(procs) -> dict[str, list[str]]:
    """Lines of each process's log that show a failure (for a traceback, the exception it
    ends with); empty when every log is clean."""
    found: dict[str, list[str]] = {}
    for proc in procs:
        lines = log_of(proc).splitlines()
        hits = []
        for n, line in enumerate(lines):
            if not any(marker in line for marker in FAILURE_MARKERS):
                continue
            if line.startswith("Traceback"):
                # The exception is the first line after the indented frames.
                line = next((later for later in lines[n + 1:]
                             if later and not later.startswith(" ")), line)
            hits.append(line)
        if hits:
            counts = Counter(hits)  # in order of first appearance
            found[proc.name] = [f"{line} (x{n})" if n > 1 else line
                                for line, n in list(counts.items())[:20]]
    return found


def scalar(app, query):
    """One value from the test's own connection to the shared database."""
    with app.app_context():
        return db.session.scalar(query)


def in_app_count(app) -> int:
    """In-app deliveries (notifications) made so far, by any worker."""
    return scalar(app, select(func.count()).select_from(Delivery)
                  .where(Delivery.channel == DeliveryChannel.IN_APP))
