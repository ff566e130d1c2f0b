"""The `crm` commands: create-user and demo."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
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


# --- found by the README and CLI audit -------------------------------------------------


def test_values_too_long_for_the_database_are_refused_on_every_database(runner, count):
    long_name = runner.invoke(args=["create-user", "p@example.com", "--name", "x" * 121,
                                    "--password", NEW_PASSWORD])
    long_email = runner.invoke(args=["demo", "--email", "x" * 250 + "@example.com"])
    long_worker = runner.invoke(args=["worker", "--once", "--worker-id", "w" * 81])

    for result, hint in ((long_name, "--name"), (long_email, "--email"),
                         (long_worker, "--worker-id")):
        assert result.exit_code == 2 and hint in result.output, result.output
        assert "Traceback" not in result.output
    assert count(User) == 0


def test_demo_makes_accounts_as_the_registration_form_does(runner, count):
    short = runner.invoke(args=["demo", "--email", "new@example.com", "--password", "pw"])
    invalid = runner.invoke(args=["demo", "--email", "notanemail"])
    assert short.exit_code == 2 and "at least 10 characters" in short.output
    assert invalid.exit_code == 2 and "@-sign" in invalid.output
    assert count(User) == 0


def test_revoking_a_token_id_no_row_can_have(runner, make_user):
    make_user(email="owner@example.com")
    result = runner.invoke(args=["token", "revoke", "owner@example.com", "99999999999"])
    assert result.exit_code == 1 and "has no token 99999999999" in result.output


def test_a_map_without_a_field_is_an_error_not_a_silently_ignored_column(
        runner, make_user, tmp_path, count):
    make_user(email="owner@example.com")
    people = tmp_path / "people.csv"
    people.write_text("Name,Mobile\nAda,+442079460958\n")
    result = runner.invoke(args=["import", "csv", str(people), "--user", "owner@example.com",
                                 "--map", "Mobile"])
    assert result.exit_code == 2 and "COLUMN=FIELD" in result.output
    assert count(Contact) == 0
    help_ = runner.invoke(args=["import", "csv", "--help"])
    assert "private" in help_.output and "keep_in_touch" in help_.output


def never_start_a_scheduler(monkeypatch) -> None:
    from apscheduler.schedulers.blocking import BlockingScheduler

    def start(self, *args, **kwargs):
        raise RuntimeError("the worker started on a database that cannot serve it")

    monkeypatch.setattr(BlockingScheduler, "start", start)


def test_an_unmigrated_database_says_to_run_db_upgrade(tmp_path, monkeypatch):
    """Every command, and /healthz, on a database with no tables yet."""
    from click.testing import CliRunner

    from crm import create_app
    from crm.cli import cli

    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    monkeypatch.setenv("CRM_SECRET_KEY", "a-secret-key-for-this-test-only")
    monkeypatch.setenv("CRM_DATABASE_URL", url)
    never_start_a_scheduler(monkeypatch)
    for args in (["create-user", "z@example.com", "--password", NEW_PASSWORD],
                 ["worker", "--once"], ["worker"], ["token", "list", "z@example.com"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1, (args, result.output)
        assert "run `crm db upgrade` first" in result.output

    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": url, "TESTING": True})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert "crm db upgrade" in response.get_json()["database"]


class Stop(Exception):
    """Ends a wait the test has seen enough of."""


def fake_sleep(slept: list[float], stop_after: int | None = None):
    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if stop_after is not None and len(slept) >= stop_after:
            raise Stop

    return sleep


def test_the_worker_waits_for_an_unreachable_database_and_once_stops_at_once(
        monkeypatch, caplog):
    """`crm worker` exited 1 at start when the database was down: systemd restarted it five
    times in a second, marked the unit failed, and reminders stopped for good."""
    import functools

    from click.testing import CliRunner
    from smtp import free_port

    from crm import cli as cli_module
    from crm.cli import cli

    monkeypatch.setenv("CRM_SECRET_KEY", "a-secret-key-for-this-test-only")
    monkeypatch.setenv("CRM_DATABASE_URL",
                       f"postgresql://nobody:hunter2@127.0.0.1:{free_port()}/x")
    never_start_a_scheduler(monkeypatch)
    slept: list[float] = []
    monkeypatch.setattr(cli_module, "wait_for_database", functools.partial(
        cli_module.wait_for_database, sleep=fake_sleep(slept, stop_after=3)))

    with caplog.at_level(logging.INFO, logger="crm.cli"):
        result = CliRunner().invoke(cli, ["worker"])

    assert isinstance(result.exception, Stop), result.output  # still waiting, not exited
    assert slept == [1, 2, 4]
    lines = [r.getMessage() for r in caplog.records if r.name == "crm.cli"]
    assert len(lines) == 3
    for line, seconds in zip(lines, slept, strict=True):
        assert line.startswith("database unreachable (") and "Connection refused" in line
        assert line.endswith(f"); retrying in {seconds}s")
        assert "\n" not in line and "hunter2" not in line
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in caplog.records
               if r.name == "crm.cli")

    slept.clear()
    once = CliRunner().invoke(cli, ["worker", "--once"])
    assert once.exit_code == 1, once.output
    assert "cannot use the database" in once.output and "Traceback" not in once.output
    assert slept == []


def _worker_on(monkeypatch, url: str):
    """`crm worker` on url, with its waits recorded instead of slept: (result, waits)."""
    import functools

    from click.testing import CliRunner

    from crm import cli as cli_module
    from crm.cli import cli

    monkeypatch.setenv("CRM_SECRET_KEY", "a-secret-key-for-this-test-only")
    monkeypatch.setenv("CRM_DATABASE_URL", url)
    never_start_a_scheduler(monkeypatch)
    slept: list[float] = []
    monkeypatch.setattr(cli_module, "wait_for_database", functools.partial(
        cli_module.wait_for_database, sleep=fake_sleep(slept, stop_after=3)))
    return CliRunner().invoke(cli, ["worker"]), slept


def test_the_worker_stops_at_once_for_a_database_that_is_not_there(monkeypatch):
    """A database name or role that does not exist is a mistake to fix, not an outage to
    wait out: the worker retried it forever."""
    import os

    from sqlalchemy.engine import make_url

    if not os.environ.get("CRM_TEST_DATABASE_URL"):
        pytest.skip("needs a PostgreSQL server to refuse the name")
    missing = make_url(os.environ["CRM_TEST_DATABASE_URL"]).set(
        database="rapport_no_such_database")

    result, slept = _worker_on(monkeypatch, missing.render_as_string(hide_password=False))

    assert result.exit_code == 1, result.output
    assert 'database "rapport_no_such_database" does not exist' in result.output
    assert slept == []


def test_the_worker_stops_at_once_for_a_sqlite_file_it_cannot_open(monkeypatch, tmp_path):
    """A wrong path is a mistake to fix: the worker retried "unable to open database file"
    forever."""
    result, slept = _worker_on(monkeypatch, f"sqlite:///{tmp_path}/no/such/folder/rapport.db")

    assert result.exit_code == 1, result.output
    assert "unable to open database file" in result.output
    assert slept == []


def test_the_wait_for_the_database_backs_off_to_a_cap_and_ends_when_it_answers(app):
    from sqlalchemy.exc import OperationalError

    from crm.cli import wait_for_database

    failures = [OperationalError("SELECT 1", {}, Exception("connection refused"))] * 8
    calls = []

    def check():
        calls.append(1)
        if failures:
            raise failures.pop()

    slept: list[float] = []
    with app.app_context():
        wait_for_database(check, sleep=fake_sleep(slept))
    assert slept == [1, 2, 4, 8, 16, 30, 30, 30]
    assert len(calls) == 9

    # What waiting does not mend is raised at once.
    def no_schema():
        raise OperationalError("SELECT", {}, Exception("no such table: alembic_version"))

    slept.clear()
    with app.app_context(), pytest.raises(OperationalError):
        wait_for_database(no_schema, sleep=fake_sleep(slept))
    assert slept == []


def test_a_setting_of_the_wrong_kind_stops_every_command_with_its_name(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from crm.cli import cli

    monkeypatch.setenv("CRM_SECRET_KEY", "a-secret-key-for-this-test-only")
    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}")
    for name, value, says in (("CRM_API_RATE_LIMIT", "garbage", "API_RATE_LIMIT"),
                              ("CRM_PROXY_FIX", "abc", "PROXY_FIX"),
                              ("CRM_SQLITE_BUSY_TIMEOUT_MS", "-5", "SQLITE_BUSY_TIMEOUT_MS"),
                              ("CRM_REMINDER_LEASE_SECONDS", "soon", "number of seconds"),
                              ("CRM_SMTP_TLS", "tls", "starttls, ssl or none"),
                              # Found by the operations audit: these were tracebacks.
                              ("CRM_DATABASE_URL", "notaurl", "must be sqlite:///PATH"),
                              ("CRM_DATABASE_URL", "mysql://u@h/db", "not 'mysql'"),
                              ("CRM_DATABASE_URL", "postgresql+psycopg2://u@h/db",
                               "No module named 'psycopg2'"),
                              # Found by the second operations audit: a malformed login
                              # limit switched throttling off; the others were tracebacks,
                              # or Secure cookies on plain http.
                              ("CRM_LOGIN_LIMIT_PER_ACCOUNT", "garbage", "LOGIN_LIMIT_PER_ACCOUNT"),
                              ("CRM_LOGIN_LIMIT_PER_IP", "5 per fortnight", "LOGIN_LIMIT_PER_IP"),
                              ("CRM_REGISTER_LIMIT_PER_IP", "lots", "REGISTER_LIMIT_PER_IP"),
                              ("CRM_RATELIMIT_STORAGE_URI", "bogus://x", "RATELIMIT_STORAGE_URI"),
                              ("CRM_RATELIMIT_STORAGE_URI", "async+memory://",
                               "RATELIMIT_STORAGE_URI"),
                              ("CRM_HTTPS", "maybe", "HTTPS (environment: CRM_HTTPS) must be"),
                              ("CRM_IMPORT_MAX_BYTES", "abc", "IMPORT_MAX_BYTES"),
                              # Found by review: a duration past year 9999 from now, or
                              # infinite, made every request or job that used it a 500.
                              ("CRM_API_IDEMPOTENCY_KEY_TTL_SECONDS", "100000000000",
                               "from 0 to 3,153,600,000 (100 years)"),
                              ("CRM_REMINDER_LEASE_SECONDS", "1e999", "REMINDER_LEASE_SECONDS"),
                              ("CRM_PASSWORD_RESET_MAX_AGE_SECONDS", "NaN",
                               "PASSWORD_RESET_MAX_AGE_SECONDS")):
        monkeypatch.setenv(name, value)
        for args in (["--help"], ["worker", "--once"]):
            result = CliRunner().invoke(cli, args)
            assert result.exit_code == 2, (name, args, result.output)
            assert says in result.output and "Traceback" not in result.output
        monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}")
        if name != "CRM_DATABASE_URL":
            monkeypatch.delenv(name)


def test_text_and_true_false_settings_from_the_environment_are_read_as_written(
        tmp_path, monkeypatch):
    """CRM_SECRET_KEY=12345 became a number (every page answered 500) and CRM_HTTPS=False
    a true string (Secure cookies on plain http, so nobody could log in)."""
    from crm import create_app

    monkeypatch.setenv("CRM_SECRET_KEY", "12345678901234567890")
    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}")
    for written, secure in (("False", False), ("off", False), ("yes", True), ("true", True)):
        monkeypatch.setenv("CRM_HTTPS", written)
        app = create_app()
        assert app.config["SECRET_KEY"] == "12345678901234567890"
        assert (app.config["HTTPS"], app.config["SESSION_COOKIE_SECURE"]) == (secure, secure)
    assert create_app().test_client().get("/login").status_code == 200
    # A quoted value (docker --env-file keeps the quotes) is read without them, as before.
    monkeypatch.setenv("CRM_SECRET_KEY", '"quoted-key"')
    monkeypatch.setenv("CRM_BASE_URL", '"https://crm.example.com"')
    quoted = create_app()
    assert (quoted.config["SECRET_KEY"], quoted.config["BASE_URL"]) == (
        "quoted-key", "https://crm.example.com")


def test_the_worker_once_refuses_a_database_behind_the_code(tmp_path, monkeypatch):
    """/healthz said "migrations pending" and `crm worker` refused; `--once` did half its
    jobs and exited 0."""
    from click.testing import CliRunner
    from flask_migrate import upgrade

    from crm import create_app
    from crm.cli import cli

    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    monkeypatch.setenv("CRM_SECRET_KEY", "a-secret-key-for-this-test-only")
    monkeypatch.setenv("CRM_DATABASE_URL", url)
    with create_app().app_context():
        upgrade(revision="0014")

    never_start_a_scheduler(monkeypatch)
    for args in (["worker", "--once"], ["worker"]):
        result = CliRunner().invoke(cli, args)

        assert result.exit_code == 1, result.output
        assert "migrations pending: the database is at 0014" in result.output
        assert "crm db upgrade" in result.output
