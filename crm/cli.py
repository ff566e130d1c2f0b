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
    from crm.demo import load_demo
    from crm.extensions import db

    user = find_user_by_email(email)
    generated = None
    if user is None:
        import secrets

        generated = password or secrets.token_urlsafe(12)
        user = register_user(email, "Demo User", generated, "Europe/London")
    counts = load_demo(user, seed=seed)
    db.session.commit()
    click.echo(
        f"Loaded {counts['contacts']} contacts and {counts['interactions']} interactions "
        f"for {user.email}."
    )
    if generated and not password:
        click.echo(f"Log in as {user.email} with password: {generated}")
