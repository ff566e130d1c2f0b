"""When the database is busy or unreachable: a clear 503 that reads nothing more from it, and
web processes that find a dropped PostgreSQL connection before a request fails on it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import psycopg
import pytest
from fixtures.api_client import problem_of
from sqlalchemy import event, select, text
from sqlalchemy.engine import make_url
from support import page_text

from crm import create_app
from crm.config import ConfigError
from crm.extensions import db
from crm.models import Contact

LOCK_WAIT_MS = 150


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def another_writer_holds_the_lock(app, db_backend: str, user_id: int) -> Iterator[None]:
    """Another process in the middle of a write: SQLite's write lock, or on PostgreSQL the
    user's row (which every writing request locks first), held until the block ends. The
    app waits LOCK_WAIT_MS for it (busy timeout; lock_timeout), then gives up."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if db_backend == "sqlite":
        import sqlite3

        holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    with app.app_context():
        @event.listens_for(db.engine, "connect")
        def _short_lock_wait(dbapi_connection, record):
            dbapi_connection.execute(f"SET lock_timeout = {LOCK_WAIT_MS}")

        db.engine.dispose()  # pooled connections were opened without it
    with psycopg.connect(_libpq(url)) as holder:
        holder.execute("SELECT id FROM users WHERE id = %s FOR UPDATE", (user_id,))
        yield
        holder.rollback()


@pytest.mark.app_config(SQLITE_BUSY_TIMEOUT_MS=LOCK_WAIT_MS)
def test_a_form_sent_while_the_database_is_busy_gets_a_clear_503_and_saves_nothing(
        app, client, logged_in, db_backend, count):
    """The error page used to take the layout's user (and on SQLite the write lock) again
    inside the error handler, which failed too: the browser got the server's bare
    "Internal Server Error" after twice the busy timeout."""
    form = {"name": "Grace Hopper", "company": "Navy"}
    with another_writer_holds_the_lock(app, db_backend, logged_in.id):
        response = client.post("/contacts/new", data=form,
                               headers={"Referer": "http://localhost/contacts/new"})
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "30"
        text_ = page_text(response.data)
        assert "Rapport is briefly unavailable" in text_
        assert "Nothing was saved" in text_ and "Back to the form" in text_
        assert 'href="/contacts/new"' in response.data.decode()
        assert "Log out" not in text_  # the layout's user was never asked for
        # Reading pages still answer meanwhile (SQLite's WAL; PostgreSQL's row lock).
        assert client.get("/contacts").status_code == 200
    assert count(Contact) == 0

    assert client.post("/contacts/new", data=form).status_code == 302  # the lock is free
    assert count(Contact) == 1


@pytest.mark.app_config(SQLITE_BUSY_TIMEOUT_MS=LOCK_WAIT_MS)
def test_an_api_write_while_the_database_is_busy_is_a_503_problem(app, api, db_backend, count):
    with another_writer_holds_the_lock(app, db_backend, api.user.id):
        response = api.post("/contacts", json={"name": "Grace Hopper"})
        problem = problem_of(response, 503)
        assert response.headers["Retry-After"] == "30"
        assert "Nothing was saved" in problem["detail"]
    assert count(Contact) == 0


@pytest.mark.parametrize("statement", [
    "SELEC 1",  # a mistake in a query
    "INSERT INTO mediums (name, no_such_col) VALUES ('x', 1)",  # a column the schema lacks
    "SELECT * FROM no_such_table",
    "too many parameters",
])
def test_a_fault_in_a_statement_is_a_server_error_not_an_outage(app, client, logged_in,
                                                                statement, caplog):
    """SQLite reports these as OperationalErrors, as it does a locked database, and psycopg
    reports too many parameters without a SQLSTATE, as it does a dropped connection: they
    are faults to fix, with their traceback in the log, not an outage to wait out (a 503
    that told the user to try again)."""
    def faulty():
        if statement == "too many parameters":
            db.session.execute(select(Contact.id).where(Contact.id.in_(range(300_000))))
        else:
            db.session.execute(text(statement))
        return "never"

    app.add_url_rule("/faulty", "faulty", faulty)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/faulty")
    assert response.status_code == 500
    assert "Something went wrong" in page_text(response.data)
    assert "Retry-After" not in response.headers
    assert any(r.exc_info for r in caplog.records if r.levelname == "ERROR")


def test_a_dropped_postgresql_connection_is_replaced_before_a_request_uses_it(
        app, client, logged_in, db_backend):
    """A restart, a failover or an idle cut ends the pooled connections: each web process
    answered its next request with an error (a form sent then was lost). The pool now
    pings a connection as it hands it out and replaces a dead one."""
    if db_backend != "postgresql":
        pytest.skip("SQLite has no server to lose")
    assert client.get("/contacts").status_code == 200
    with app.app_context():
        pids = {db.session.execute(text("SELECT pg_backend_pid()")).scalar()}
        db.session.rollback()
    with psycopg.connect(_libpq(app.config["SQLALCHEMY_DATABASE_URI"]),
                         autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    response = client.post("/contacts/new", data={"name": "Grace Hopper"})

    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(text("SELECT count(*) FROM contacts")) == 1


def test_postgresql_connections_time_out_and_keep_alive(request):
    """A server that stops answering fails the connection or the request within seconds
    (a partition hung requests until gunicorn killed its worker). A setting overrides one
    argument and keeps the others."""
    from crm.config import POSTGRESQL_CONNECT_ARGS

    if not os.environ.get("CRM_TEST_DATABASE_URL"):
        pytest.skip("libpq's connection parameters: needs PostgreSQL")
    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": request.getfixturevalue(
        "pg_database_url"), "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 3}}})
    with app.app_context(), db.engine.connect() as connection:
        parameters = connection.connection.dbapi_connection.info.get_parameters()
        db.engine.dispose()
    assert parameters["connect_timeout"] == "3"
    for name in ("keepalives_idle", "keepalives_interval", "keepalives_count",
                 "tcp_user_timeout"):
        assert parameters[name] == str(POSTGRESQL_CONNECT_ARGS[name]), name
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True


def test_engine_options_of_the_wrong_kind_stop_the_app():
    with pytest.raises(ConfigError, match="SQLALCHEMY_ENGINE_OPTIONS"):
        create_app({"SECRET_KEY": "x", "SQLALCHEMY_ENGINE_OPTIONS": "pool_size=10"})



def test_healthz_logs_why_the_database_is_unreachable_and_tells_only_that_it_is(caplog):
    """The load balancer gets 503 and the kind of error; the operator's log gets the
    reason (the body named only "OperationalError")."""
    app = create_app({"SECRET_KEY": "x", "DATABASE_URL":
                      "postgresql://rapport@127.0.0.1:1/nowhere"})
    with caplog.at_level("WARNING"):
        response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "error: OperationalError"
    assert "127.0.0.1" not in response.get_data(as_text=True)
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("healthz")]
    assert "port 1 failed" in line and "Connection refused" in line
