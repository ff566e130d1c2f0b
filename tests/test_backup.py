"""`crm backup`: an online copy of the SQLite database that restores to a working app."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading

import pytest
from sqlalchemy import func, select

from crm import create_app
from crm.extensions import db
from crm.models import Contact, Interaction, User


@pytest.fixture
def sqlite_only(db_backend):
    if db_backend != "sqlite":
        pytest.skip("crm backup copies SQLite files; PostgreSQL uses pg_dump")


def test_backup_while_writing_then_restore(app, runner, sqlite_only, make_user, make_contact,
                                           make_interaction, tmp_path):
    user = make_user(email="keeper@example.com")
    people = [make_contact(user, name=f"Person {i}") for i in range(20)]
    make_interaction(user, people[:2], "phone")

    stop = threading.Event()
    written = []

    def keep_writing():
        from crm.contacts.services import ContactData, create_contact
        from crm.models import User

        with app.app_context():
            owner = db.session.get(User, user.id)
            while not stop.is_set() and len(written) < 200:
                create_contact(owner, ContactData(name=f"Late {len(written)}"))
                db.session.commit()
                written.append(1)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        result = runner.invoke(args=["backup", str(tmp_path / "copy.sqlite3")])
    finally:
        stop.set()
        writer.join()
    assert result.exit_code == 0, result.output
    assert "Backed up to" in result.output

    restored = create_app({"SECRET_KEY": "x", "DATABASE_URL": f"sqlite:///{tmp_path / 'copy.sqlite3'}",
                           "TESTING": True})
    with restored.app_context():
        contacts = db.session.scalar(select(func.count()).select_from(Contact))
        assert 20 <= contacts <= 20 + len(written)
        assert db.session.scalar(select(func.count()).select_from(Interaction)) == 1
        # The restored file is a working database for the app.
        assert restored.test_client().get("/healthz").status_code == 200

    again = runner.invoke(args=["backup", str(tmp_path / "copy.sqlite3")])
    assert again.exit_code != 0 and "exists already" in again.output


def test_backup_on_postgresql_points_to_pg_dump(app, runner, db_backend, tmp_path):
    if db_backend != "postgresql":
        pytest.skip("only PostgreSQL refuses")
    result = runner.invoke(args=["backup", str(tmp_path / "never-written.sqlite3")])
    assert result.exit_code != 0
    assert "pg_dump" in result.output and "--no-owner" in result.output
    assert not (tmp_path / "never-written.sqlite3").exists()
    # The command it prints works as printed: pg_dump understands its URL.
    url = re.search(r"'(postgresql://[^']+)'", result.output).group(1)
    assert "+psycopg" not in url
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.skip("no pg_dump on this machine to run the printed command with")
    dump = subprocess.run(  # noqa: S603 (the test database's own URL)
        [pg_dump, "--schema-only", "--file", str(tmp_path / "s.sql"), url],
        capture_output=True, text=True, timeout=60)
    assert dump.returncode == 0, dump.stderr
    assert "CREATE TABLE public.contacts" in (tmp_path / "s.sql").read_text()


def test_backup_errors_are_messages_and_leave_nothing_behind(app, runner, sqlite_only,
                                                             tmp_path):
    unreachable = runner.invoke(args=["backup", "/proc/no-such-dir/copy.sqlite3"])
    assert unreachable.exit_code == 1 and "Traceback" not in unreachable.output
    assert "cannot back up" in unreachable.output

    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("this is not a database\n" * 100)
    other = create_app({"SECRET_KEY": "x", "DATABASE_URL": f"sqlite:///{not_a_database}",
                        "TESTING": True})
    result = other.test_cli_runner().invoke(args=["backup", str(tmp_path / "copy.sqlite3")])
    assert result.exit_code == 1 and "not a database" in result.output
    assert not list(tmp_path.glob("copy.sqlite3*"))  # no copy, no .partial


def test_a_relative_sqlite_path_is_backed_up_from_the_instance_folder(tmp_path, monkeypatch):
    """Found by the operations audit: the app reads sqlite:///rel.sqlite3 in the instance
    folder, the backup read the working directory: "no database", or worse, a copy of
    another file that happened to be there."""
    import sqlite3

    from flask import Flask

    instance = tmp_path / "instance"
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(instance))
    monkeypatch.chdir(tmp_path)
    sqlite3.connect(tmp_path / "rel.sqlite3").close()  # a stray file of that name here
    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": "sqlite:///rel.sqlite3",
                      "TESTING": True})
    with app.app_context():
        db.create_all()
        db.session.add(User(email="live@example.com", name="Live", password_hash="x"))
        db.session.commit()

    result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "copy.sqlite3")])

    assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "copy.sqlite3") as copy:
        assert copy.execute("SELECT email FROM users").fetchall() == [("live@example.com",)]


def test_the_printed_pg_dump_command_leaves_the_password_out(tmp_path, monkeypatch):
    """Found by the operations audit: the password was printed as "***", so the command
    failed as printed."""
    from click.testing import CliRunner

    from crm.cli import cli

    monkeypatch.setenv("CRM_SECRET_KEY", "a-secret-key-for-this-test-only")
    monkeypatch.setenv("CRM_DATABASE_URL", "postgresql+psycopg://rapport:s3cret@db.internal/crm")
    result = CliRunner().invoke(cli, ["backup", str(tmp_path / "x.sqlite3")])
    assert result.exit_code != 0
    assert "'postgresql://rapport@db.internal/crm'" in result.output
    assert "s3cret" not in result.output and "***" not in result.output
    assert "PGPASSWORD or ~/.pgpass" in result.output
