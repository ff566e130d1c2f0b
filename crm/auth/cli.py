"""`crm users list|deactivate|activate|delete`: the organisation's accounts, from a terminal."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


def _user(email: str):
    """The account with this address; exit 1 saying so when there is none."""
    from crm.auth.services import find_user_by_email

    user = find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"no account has the address {email}")
    return user


@click.group("users")
def users_group():
    """The accounts: list them, deactivate, activate or delete one."""


@users_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
@with_appcontext
def list_(as_json: bool):
    """Every account: address, name, when it was made, whether its address is confirmed,
    whether it is active, and its contacts and API tokens (not revoked)."""
    from crm.auth.services import list_accounts

    accounts = list_accounts()
    if as_json:
        import json

        click.echo(json.dumps([{
            "id": a.id, "email": a.email, "name": a.name,
            "created": a.created_at.date().isoformat(), "confirmed": a.confirmed,
            "active": a.active, "contacts": a.contacts, "api_tokens": a.api_tokens,
        } for a in accounts], ensure_ascii=False, indent=2))
        return
    if not accounts:
        click.echo("No accounts yet: `crm create-user EMAIL` makes one.")
        return
    rows = [("ID", "EMAIL", "NAME", "CREATED", "ADDRESS", "STATUS", "CONTACTS", "TOKENS")]
    rows += [(str(a.id), a.email, a.name, a.created_at.date().isoformat(),
              "confirmed" if a.confirmed else "unconfirmed",
              "active" if a.active else "deactivated", str(a.contacts), str(a.api_tokens))
             for a in accounts]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    numeric = {0, 6, 7}
    for row in rows:
        click.echo("  ".join(cell.rjust(width) if i in numeric else cell.ljust(width)
                             for i, (cell, width) in enumerate(zip(row, widths, strict=True)))
                   .rstrip())


@users_group.command("deactivate")
@click.argument("email")
@with_appcontext
def deactivate(email: str):
    """Suspend EMAIL's account, keeping everything in it: its sessions end, its API tokens
    and logins are refused, and nothing is emailed to it until it is activated again."""
    from crm.auth.services import set_account_active
    from crm.extensions import db

    user = _user(email)
    if not set_account_active(user, False):
        click.echo(f"{user.email} is deactivated already.")
        return
    db.session.commit()
    click.echo(f"Deactivated {user.email}: its sessions are ended and its API tokens refused; "
               "everything in it is kept. `crm users activate` undoes it.")


@users_group.command("activate")
@click.argument("email")
@with_appcontext
def activate(email: str):
    """Let EMAIL's deactivated account be used again (logging in anew)."""
    from crm.auth.services import set_account_active
    from crm.extensions import db

    user = _user(email)
    if not set_account_active(user, True):
        click.echo(f"{user.email} is active already.")
        return
    db.session.commit()
    click.echo(f"Activated {user.email}: it can log in again.")


@users_group.command("delete")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def delete(email: str, yes: bool):
    """Delete EMAIL's account and everything in it, as the person deleting it in Settings
    does. This cannot be undone."""
    from crm.auth.services import list_accounts
    from crm.database import lock_user
    from crm.extensions import db
    from crm.portability.services import delete_account

    user_id = _user(email).id
    if not yes:
        [account] = list_accounts(user_id)
        # End the transaction before asking: a command's transaction holds SQLite's write
        # lock (BEGIN IMMEDIATE), and every web write and the worker would wait for the
        # answer, then fail with "database is locked".
        db.session.rollback()
        click.confirm(f"Delete the account {account.email} ({account.name}) and its "
                      f"{_counted(account.contacts, 'contact')}, with every interaction and "
                      "reminder? This cannot be undone", abort=True)
    # Read again under the user's lock, as deleting it in Settings does: what changed while
    # it asked (a contact added, the account deleted, its id even taken by a new account,
    # as SQLite may) is seen, and the counts are of what goes.
    user = lock_user(user_id)
    if user is None or (not yes and user.created_at != account.created_at):
        raise click.ClickException(f"no account has the address {email} any more")
    address = user.email
    counts = delete_account(user)
    db.session.commit()
    click.echo(f"Deleted {address}, with {_counted(counts['contacts'], 'contact')} and "
               f"{_counted(counts['interactions'], 'interaction')}.")


def _counted(number: int, noun: str) -> str:
    """A count and its noun: 1 contact, 2 contacts."""
    return f"{number} {noun}{'' if number == 1 else 's'}"
