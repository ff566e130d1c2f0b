"""`crm token create|list|revoke`: personal access tokens from a terminal."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


def _user(email: str):
    from crm.auth.services import find_user_by_email

    user = find_user_by_email(email)
    if user is None:
        raise click.BadParameter(f"no account with the email {email}", param_hint="EMAIL")
    return user


@click.group("token")
def token_group():
    """Personal access tokens for the REST API."""


@token_group.command("create")
@click.argument("email")
@click.option("--name", required=True, help="What the token is for.")
@with_appcontext
def create(email: str, name: str):
    """Create a token for EMAIL and print it (it is shown this once)."""
    from crm.api.tokens import create_token
    from crm.extensions import db

    user = _user(email)
    if not user.is_active:
        raise click.ClickException(
            f"{user.email} is deactivated: its tokens are refused until "
            "`crm users activate` lets it be used again.")
    try:
        token, plain = create_token(user, name)
    except ValueError as exc:
        raise click.BadParameter("give the token a name", param_hint="--name") from exc
    db.session.commit()
    click.echo(f"Created token {token.id} “{token.name}” for {email}. Copy it now; it is not "
               "shown again:", err=True)
    click.echo(plain)


@token_group.command("list")
@click.argument("email")
@with_appcontext
def list_(email: str):
    """List EMAIL's tokens (never the tokens themselves)."""
    from crm.api.tokens import list_tokens

    for token in list_tokens(_user(email)):
        state = "revoked" if token.revoked_at else "active"
        used = token.last_used_at.isoformat() if token.last_used_at else "never"
        click.echo(f"{token.id}\t{token.prefix}…\t{state}\tlast used {used}\t{token.name}")


@token_group.command("revoke")
@click.argument("email")
@click.argument("token_id", type=int)
@with_appcontext
def revoke(email: str, token_id: int):
    """Revoke one of EMAIL's tokens by id."""
    from crm.api.tokens import revoke_token, tokens_for
    from crm.extensions import db
    from crm.models import ApiToken
    from crm.params import is_record_id

    user = _user(email)
    token = db.session.scalar(tokens_for(user).where(ApiToken.id == token_id)) if is_record_id(
        token_id) else None
    if token is None:
        raise click.ClickException(f"{email} has no token {token_id}")
    revoke_token(token)
    db.session.commit()
    click.echo(f"Revoked token {token_id} “{token.name}”.")
