"""The `crm` command group: Flask's CLI over create_app plus Rapport's own commands."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext


def _make_app():
    from crm import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_make_app)
def cli():
    """Rapport: a relationship CRM."""


def main() -> None:
    """Entry point of the `crm` console script."""
    cli(prog_name="crm")


def register_commands(app: Flask) -> None:
    """Attach Rapport's commands so `flask --app crm` and `crm` offer the same ones."""
    app.cli.add_command(create_user)
    app.cli.add_command(demo)
    app.cli.add_command(worker)
    app.cli.add_command(backup)
    # Import/export and API tokens (crm/portability/cli.py, crm/api/cli.py).
    from crm.api.cli import token_group
    from crm.portability.cli import import_group

    app.cli.add_command(import_group)
    app.cli.add_command(token_group)


@click.command("create-user")
@click.argument("email")
@click.option("--name", default=None, help="Display name (defaults to the part before @).")
@click.option("--time-zone", default="UTC", show_default=True, help="IANA time zone.")
@click.password_option(help="Password (asked for when not given).")
@with_appcontext
def create_user(email: str, name: str | None, time_zone: str, password: str):
    """Create an account."""
    from email_validator import EmailNotValidError, validate_email

    from crm.auth.forms import PASSWORD_MIN
    from crm.auth.services import EmailTaken, register_user
    from crm.extensions import db
    from crm.timezones import is_valid_timezone

    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from exc
    if not is_valid_timezone(time_zone):
        raise click.BadParameter(f"unknown time zone {time_zone!r}", param_hint="--time-zone")
    if len(password) < PASSWORD_MIN:
        raise click.BadParameter(f"use at least {PASSWORD_MIN} characters", param_hint="password")
    try:
        user = register_user(email, name or email.split("@")[0], password, time_zone)
    except EmailTaken as exc:
        raise click.ClickException(f"an account with {email} exists already") from exc
    db.session.commit()
    click.echo(f"Created {user.email} (id {user.id}).")


@click.command("demo")
@click.option("--email", default="demo@example.com", show_default=True)
@click.option("--password", default=None, help="Password for a new demo account.")
@click.option("--seed", default=2010, show_default=True, type=int)
@with_appcontext
def demo(email: str, password: str | None, seed: int):
    """Load a realistic small network (about 20 contacts, 200 interactions) for EMAIL."""
    from crm.auth.services import find_user_by_email, register_user
    from crm.demo import DemoRefused, load_demo
    from crm.extensions import db

    user = find_user_by_email(email)
    generated = None
    if user is None:
        import secrets

        generated = password or secrets.token_urlsafe(12)
        user = register_user(email, "Demo User", generated, "Europe/London")
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


@click.command("worker")
@click.option("--once", is_flag=True, help="Run every job once and exit (for cron or tests).")
@click.option("--worker-id", default=None, help="Name in claims and heartbeats (default host:pid).")
@with_appcontext
def worker(once: bool, worker_id: str | None):
    """Deliver reminders: run the APScheduler worker until stopped (Ctrl-C or SIGTERM)."""
    import contextlib
    import logging
    import signal

    from flask import current_app

    from crm.jobs import tasks
    from crm.jobs.scheduler import build_scheduler
    from crm.models import utcnow

    worker_id = worker_id or tasks.default_worker_id()
    app = current_app._get_current_object()
    if once:
        counts = tasks.run_all_once(utcnow(), worker_id)
        click.echo(", ".join(f"{k}: {v}" for k, v in counts.items()))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # APScheduler logs two lines per run of every job (figures are refreshed every 5 s);
    # the jobs log what they did themselves (crm.jobs.scheduler), and failures.
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    scheduler = build_scheduler(app, worker_id)

    def stop(signum, frame):
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

    from flask import current_app

    from crm.backup import BackupError, backup_sqlite

    try:
        size = backup_sqlite(current_app.config["SQLALCHEMY_DATABASE_URI"], Path(path))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Backed up to {path} ({size:,} bytes).")
