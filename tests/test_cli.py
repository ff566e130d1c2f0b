"""The `crm` commands: create-user and demo."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine
from sqlalchemy import func, select

from crm.extensions import db
from crm.models import BUILTIN_MEDIUMS, Contact, Interaction, Medium, User

NEW_PASSWORD = "a fine long password"


def _user(app, email):
    with app.app_context():
        return db.session.scalar(select(User).where(User.email == email))


def test_create_user(app, runner, auth):
    result = runner.invoke(
        args=["create-user", "Carol@Example.com", "--name", "Carol Shaw",
              "--time-zone", "Europe/Paris"],
        input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n",
    )

    assert result.exit_code == 0, result.output
    assert "Created carol@example.com" in result.output
    user = _user(app, "carol@example.com")
    assert (user.name, user.time_zone) == ("Carol Shaw", "Europe/Paris")
    # The password typed at the prompt is the one that logs in.
    assert auth.login("carol@example.com", password=NEW_PASSWORD).status_code == 302


def test_create_user_defaults_name_and_zone(app, runner):
    result = runner.invoke(args=["create-user", "dan@example.com", "--password", NEW_PASSWORD])

    assert result.exit_code == 0, result.output
    user = _user(app, "dan@example.com")
    assert (user.name, user.time_zone) == ("dan", "UTC")


def test_create_user_with_taken_email(runner, make_user, count):
    make_user(email="dup@example.com")

    result = runner.invoke(args=["create-user", "DUP@example.com", "--password", NEW_PASSWORD])

    assert result.exit_code != 0
    assert "an account with DUP@example.com exists already" in result.output
    assert count(User) == 1


def test_create_user_with_unknown_time_zone(runner, count):
    result = runner.invoke(
        args=["create-user", "erin@example.com", "--time-zone", "Mars/Olympus",
              "--password", NEW_PASSWORD]
    )

    assert result.exit_code == 2
    assert "unknown time zone 'Mars/Olympus'" in result.output
    assert count(User) == 0


def test_create_user_with_bad_email_or_short_password(runner, count):
    bad_email = runner.invoke(args=["create-user", "not-an-email", "--password", NEW_PASSWORD])
    short = runner.invoke(args=["create-user", "fay@example.com", "--password", "short"])

    assert bad_email.exit_code == 2
    assert "EMAIL" in bad_email.output
    assert short.exit_code == 2
    assert "at least 10 characters" in short.output
    assert count(User) == 0


def test_demo_loads_a_network_on_every_builtin_medium(app, runner, auth):
    with time_machine.travel(datetime(2026, 3, 1, 12, tzinfo=UTC), tick=False):
        result = runner.invoke(args=["demo", "--email", "demo@example.com"])

    assert result.exit_code == 0, result.output
    user = _user(app, "demo@example.com")
    with app.app_context():
        contacts = db.session.scalar(
            select(func.count()).select_from(Contact).where(Contact.owner_id == user.id)
        )
        interactions = db.session.scalar(
            select(func.count()).select_from(Interaction).where(Interaction.owner_id == user.id)
        )
        keys = set(
            db.session.scalars(
                select(Medium.key).join(Interaction).where(Interaction.owner_id == user.id)
            )
        )
        latest = db.session.scalar(
            select(func.max(Interaction.occurred_at)).where(Interaction.owner_id == user.id)
        )
        with_last_interaction = db.session.scalar(
            select(func.count())
            .select_from(Contact)
            .where(Contact.owner_id == user.id, Contact.last_interaction_id.is_not(None))
        )
    assert 15 <= contacts <= 30
    assert 150 <= interactions <= 250
    assert keys == set(BUILTIN_MEDIUMS)
    assert latest < datetime(2026, 3, 1, 12, tzinfo=UTC)  # nothing in the future
    assert f"Loaded {contacts} contacts and {interactions} interactions" in result.output
    # A generated password is shown once, and it logs in.
    password = result.output.split("Log in as demo@example.com with password: ")[1].strip()
    assert auth.login("demo@example.com", password=password).status_code == 302
    # The denormalised last-interaction facts were kept up to date while loading.
    assert with_last_interaction > 0


def test_demo_refuses_an_account_that_has_contacts(runner, make_user, make_contact, count):
    user = make_user(email="busy@example.com")
    make_contact(user, name="Ada Lovelace")

    result = runner.invoke(args=["demo", "--email", "busy@example.com"])

    assert result.exit_code != 0
    assert "already has 1 contact" in result.output
    assert count(Contact) == 1
    assert count(Interaction) == 0
