"""The `crm` command group: Flask's CLI over create_app plus Rapport's own commands."""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Callable

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

log = logging.getLogger(__name__)


def _make_app():
    from crm import create_app
    from crm.config import ConfigError

    try:
        return create_app()
    except ConfigError as exc:  # every command, --help included, says so and stops
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)


def _database_errors(callback):
    """A command whose database is missing, unreachable or not migrated yet says so,
    instead of printing a traceback."""
    if getattr(callback, "rapport_database_errors", False):
        return callback

    @functools.wraps(callback)
    def wrapper(*args, **kwargs):
        from sqlalchemy.exc import DataError, OperationalError, ProgrammingError

        try:
            return callback(*args, **kwargs)
        except (OperationalError, ProgrammingError, DataError) as exc:
            raise click.ClickException(_explain(exc)) from exc

    wrapper.rapport_database_errors = True
    return wrapper


def _explain(exc) -> str:
    from sqlalchemy.exc import DataError

    from crm.database import first_line, schema_missing

    text = first_line(exc)
    if schema_missing(text):
        return (f"the database has no Rapport tables yet, or an older schema ({text}): run "
                "`crm db upgrade` first.")
    if isinstance(exc, DataError):
        return f"the database refused a value: {text}"
    return f"cannot use the database ({text}). Check CRM_DATABASE_URL and that it is running."


def _wrap_all(command: click.Command) -> None:
    if command.callback is not None:
        command.callback = _database_errors(command.callback)
    for sub in getattr(command, "commands", {}).values():
        _wrap_all(sub)


@click.group(cls=FlaskGroup, create_app=_make_app)
def cli():
    """Rapport: a relationship CRM."""


def main() -> None:
    """Entry point of the `crm` console script."""
    cli(prog_name="crm")


def register_commands(app: Flask) -> None:
    """Attach Rapport's commands so `flask --app crm` and `crm` offer the same ones."""
    app.cli.add_command(create_user)
    app.cli.add_command(set_password)
    app.cli.add_command(demo)
    app.cli.add_command(worker)
    app.cli.add_command(backup)
    # Import/export, API tokens and accounts (crm/portability/cli.py, crm/api/cli.py,
    # crm/auth/cli.py).
    from crm.api.cli import token_group
    from crm.auth.cli import users_group
    from crm.portability.cli import import_group

    app.cli.add_command(import_group)
    app.cli.add_command(token_group)
    app.cli.add_command(users_group)
    for command in app.cli.commands.values():  # Flask-Migrate's `db` too
        _wrap_all(command)


@click.command("create-user")
@click.argument("email")
@click.option("--name", default=None, help="Display name (defaults to the part before @).")
@click.option("--time-zone", default="UTC", show_default=True, help="IANA time zone.")
@click.password_option(help="Password (asked for when not given).")
@with_appcontext
def create_user(email: str, name: str | None, time_zone: str, password: str):
    """Create an account (its address counts as confirmed: whoever runs Rapport vouches for
    it)."""

    from crm.auth.services import EmailTaken, register_user
    from crm.extensions import db
    from crm.timezones import is_valid_timezone

    name = name or email.split("@")[0]
    _check_account(email, name, password, email_hint="EMAIL")
    if not is_valid_timezone(time_zone):
        raise click.BadParameter(f"unknown time zone {time_zone!r}", param_hint="--time-zone")
    try:
        user = register_user(email, name, password, time_zone, confirmed=True)
    except EmailTaken as exc:
        raise click.ClickException(f"an account with {email} exists already") from exc
    db.session.commit()
    click.echo(f"Created {user.email} (id {user.id}).")


@click.command("set-password")
@click.argument("email")
@click.password_option(help="The new password (asked for twice when not given).")
@with_appcontext
def set_password(email: str, password: str):
    """Set an account's password (someone who forgot theirs) and log out all its sessions."""

    from crm.auth.services import change_password, find_user_by_email
    from crm.extensions import db

    _check_password(password)
    user = find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"no account has the address {email}")
    change_password(user, password)
    db.session.commit()
    click.echo(f"New password set for {user.email}; every session of the account is logged out.")


def _check_account(email: str, name: str, password: str | None, *, email_hint: str) -> None:
    """The checks the registration form makes, for accounts made from a terminal."""
    from email_validator import EmailNotValidError, validate_email

    from crm.models.user import EMAIL_MAX_LENGTH, NAME_MAX_LENGTH

    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise click.BadParameter(str(exc), param_hint=email_hint) from exc
    if len(email) > EMAIL_MAX_LENGTH:
        raise click.BadParameter(f"at most {EMAIL_MAX_LENGTH} characters",
                                 param_hint=email_hint)
    if len(name.strip()) > NAME_MAX_LENGTH:
        raise click.BadParameter(f"at most {NAME_MAX_LENGTH} characters", param_hint="--name")
    if password is not None:
        _check_password(password)


def _check_password(password: str) -> None:
    """The registration form's rule for a new password, for one set from a terminal."""
    from crm.auth.forms import PASSWORD_MIN

    if len(password) < PASSWORD_MIN:
        raise click.BadParameter(f"use at least {PASSWORD_MIN} characters",
                                 param_hint="password")


@click.command("demo")
@click.option("--email", default="demo@example.com", show_default=True)
@click.option("--password", default=None, help="Password for a new demo account.")
@click.option("--seed", default=2010, show_default=True, type=int)
@with_appcontext
def demo(email: str, password: str | None, seed: int):
    """Load a realistic small network (about 20 contacts, 200 interactions) into the
    account of --email, made first (with a generated password unless --password) when
    there is none."""
    from crm.auth.services import find_user_by_email, register_user
    from crm.demo import DemoRefused, load_demo
    from crm.extensions import db

    user = find_user_by_email(email)
    generated = None
    if user is None:
        import secrets

        _check_account(email, "Demo User", password, email_hint="--email")
        generated = password or secrets.token_urlsafe(12)
        user = register_user(email, "Demo User", generated, "Europe/London", confirmed=True)
    try:
        counts = load_demo(user, seed=seed)
    except DemoRefused as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(
        f"Loaded {counts['contacts']} contacts and {counts['interactions']} interactions "
        f"for {user.email}."
    )
    if generated and not password:
        click.echo(f"Log in as {user.email} with password: {generated}")


# The long-running worker's waits for an unreachable database: 1, 2, 4, … up to 30 s.
DATABASE_RETRY_FIRST_SECONDS = 1
DATABASE_RETRY_MAX_SECONDS = 30


def wait_for_database(check: Callable[[], None],
                      sleep: Callable[[float], None] = time.sleep) -> None:
    """Run check until the database answers, waiting a capped backoff while it cannot be
    reached: a worker started before its database (a reboot, a failover) waits for it
    instead of exiting, which under systemd's start limit left it stopped for good. Any
    other error (no schema, migrations pending) is raised at once."""
    from crm.database import unavailable
    from crm.extensions import db

    delay = DATABASE_RETRY_FIRST_SECONDS
    while True:
        try:
            check()
            return
        except Exception as exc:
            db.session.rollback()
            reason = unavailable(exc)
            if reason is None:
                raise
        log.warning("database unreachable (%s); retrying in %ss", reason, delay)
        sleep(delay)
        delay = min(delay * 2, DATABASE_RETRY_MAX_SECONDS)


@click.command("worker")
@click.option("--once", is_flag=True, help="Run every job once and exit (for cron or tests).")
@click.option("--worker-id", default=None,
              help="Name in claims and heartbeats (default host:pid and a random suffix).")
@with_appcontext
def worker(once: bool, worker_id: str | None):
    """Deliver reminders: run the APScheduler worker until stopped (Ctrl-C or SIGTERM)."""
    import contextlib
    import signal

    from flask import current_app

    from crm.database import migrations_pending
    from crm.extensions import db
    from crm.jobs import tasks
    from crm.jobs.scheduler import build_scheduler
    from crm.models import utcnow

    if worker_id is not None and not 0 < len(worker_id) <= tasks.WORKER_ID_MAX_LENGTH:
        raise click.BadParameter(f"1 to {tasks.WORKER_ID_MAX_LENGTH} characters",
                                 param_hint="--worker-id")
    worker_id = worker_id or tasks.default_worker_id()
    app = current_app._get_current_object()

    def check_database() -> None:
        # A database without the schema, or whose migrations are behind this code, stops the
        # worker here with a message, instead of every job logging a failure every few
        # seconds, forever (or --once doing half its work and exiting 0).
        pending = migrations_pending(db.session)
        if pending is not None:
            raise click.ClickException(
                f"migrations pending: the database is at {pending[0]} and this code needs "
                f"{pending[1]}: run `crm db upgrade` first.")
        tasks.check_database(utcnow(), worker_id)

    if once:  # cron or a script: say so at once
        check_database()
        counts = tasks.run_all_once(utcnow(), worker_id)
        click.echo(", ".join(f"{k}: {v}" for k, v in counts.items()))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    wait_for_database(check_database)
    # APScheduler logs two lines per run of every job (figures are refreshed every 5 s);
    # the jobs log what they did themselves (crm.jobs.scheduler), and failures.
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    scheduler = build_scheduler(app, worker_id)

    def stop(signum, frame):
        tasks.stop_requested.set()  # an email pass gives back what it has not sent
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    click.echo(f"Rapport worker {worker_id} delivering reminders; Ctrl-C stops it.")
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()
    click.echo("Worker stopped.")


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@with_appcontext
def backup(path: str):
    """Copy the SQLite database to PATH, safely while the app runs (PostgreSQL: pg_dump)."""
    from pathlib import Path

    from crm.backup import BackupError, backup_sqlite
    from crm.extensions import db

    # The engine's URL, not the setting: Flask-SQLAlchemy reads a relative SQLite path
    # from the instance folder, and so must the backup (it read the working directory).
    database_uri = db.engine.url.render_as_string(hide_password=False)
    try:
        size = backup_sqlite(database_uri, Path(path))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Backed up to {path} ({size:,} bytes).")
