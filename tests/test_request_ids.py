"""Each request's reference (X-Request-ID): on every response, on the error a person meets,
and in the log line an operator looks it up by."""

from __future__ import annotations

import logging
import re

import pytest
from fixtures.api_client import ApiClient, make_token
from sqlalchemy.exc import DisconnectionError
from support import page_text

MADE = re.compile(r"[0-9a-f]{16}")


def failing(app, path: str, error: Exception) -> None:
    """A route at path that raises error, served as production serves it (no propagation)."""
    def fail(**_):
        raise error

    app.add_url_rule(path, path.strip("/").replace("/", "_"), fail)
    app.config["PROPAGATE_EXCEPTIONS"] = False


def test_every_response_carries_a_reference_of_its_own(client, logged_in):
    first, second, page = client.get("/ping"), client.get("/ping"), client.get("/contacts")
    ids = [r.headers["X-Request-ID"] for r in (first, second, page)]
    assert all(MADE.fullmatch(i) for i in ids), ids
    assert len(set(ids)) == 3


def test_a_client_cannot_choose_the_reference_it_is_logged_under(client):
    """Without a reverse proxy Rapport trusts (PROXY_FIX), the header a client sends is not
    taken: it could pass one person's reference for another's."""
    response = client.get("/ping", headers={"X-Request-ID": "0123456789abcdef"})
    assert MADE.fullmatch(response.headers["X-Request-ID"])
    assert response.headers["X-Request-ID"] != "0123456789abcdef"


@pytest.mark.app_config(PROXY_FIX=1)
@pytest.mark.parametrize("sent, kept", [
    ("7d4e2f0c9b8a41e6a3c5d2b1f0e9d8c7", True),  # nginx's $request_id
    ("3f2504e0-4f89-11d3-9a0c-0305e82c3301", True),  # a UUID
    ("a b", False),
    ("x" * 129, False),
    ("id;user=1", False),
    ("", False),
])
def test_a_trusted_proxys_reference_is_kept_when_it_is_plain(client, sent, kept):
    rid = client.get("/ping", headers={"X-Request-ID": sent}).headers["X-Request-ID"]
    if kept:
        assert rid == sent
    else:
        assert MADE.fullmatch(rid), rid


def test_a_server_error_shows_the_reference_the_log_line_is_found_by(app, client, logged_in,
                                                                     caplog):
    failing(app, "/broken", RuntimeError("boom"))
    with caplog.at_level(logging.ERROR):
        response = client.get("/broken")
    assert response.status_code == 500
    rid = response.headers["X-Request-ID"]
    assert MADE.fullmatch(rid)
    assert f"reference {rid}" in page_text(response.data)
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == (f"Exception on GET /broken (request {rid}, "
                                   f"user {logged_in.id})")
    assert record.exc_info[1].args == ("boom",)


def test_an_api_server_error_carries_its_reference(app, client, make_user, caplog):
    api = ApiClient(client, make_token(app, make_user()), None)
    failing(app, "/api/v1/broken", RuntimeError("boom"))
    with caplog.at_level(logging.ERROR):
        response = api.get("/broken")
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    rid = response.headers["X-Request-ID"]
    assert response.get_json()["request_id"] == rid
    assert any(f"(request {rid}, user " in r.getMessage() for r in caplog.records)


def test_an_address_cannot_forge_lines_of_the_log(app, client, caplog):
    """%0A in an address decodes to a line break: written as it is, the rest of the address
    would read as a log line of its own."""
    failing(app, "/broken/<rest>", RuntimeError("boom"))
    with caplog.at_level(logging.ERROR):
        rid = client.get("/broken/x%0A[2026-11-27] INFO all is well%09").headers["X-Request-ID"]
    [message] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert message == (f"Exception on GET /broken/x\\n[2026-11-27] INFO all is well\\t "
                       f"(request {rid}, user -)")
    assert "\n" not in message


def test_an_api_failure_names_the_tokens_user_not_a_cookies(app, client, logged_in,
                                                            make_user, caplog, monkeypatch):
    """A browser logged in as one user sending another's token: the request is the token's
    (its writes are), so is the line about it."""
    from crm.api import views

    script = make_user(email="script@example.com")
    api = ApiClient(client, make_token(app, script), None)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views.contacts, "create_contact", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    with caplog.at_level(logging.ERROR):
        response = api.post("/contacts", json={"name": "Ada"})
    assert response.status_code == 500
    rid = response.headers["X-Request-ID"]
    [message] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert message == f"Exception on POST /api/v1/contacts (request {rid}, user {script.id})"
    assert script.id != logged_in.id


def test_an_anonymous_request_is_logged_without_a_user(app, client, caplog):
    failing(app, "/broken", RuntimeError("boom"))
    with caplog.at_level(logging.ERROR):
        rid = client.get("/broken").headers["X-Request-ID"]
    assert any(r.getMessage() == f"Exception on GET /broken (request {rid}, user -)"
               for r in caplog.records)


def test_an_unreachable_database_says_the_reference_on_the_page_and_in_the_api(
        app, client, logged_in, caplog):
    failing(app, "/down", DisconnectionError("connection dropped"))
    failing(app, "/api/v1/down", DisconnectionError("connection dropped"))
    with caplog.at_level(logging.WARNING):
        page = client.get("/down")
        problem = client.get("/api/v1/down")
    assert page.status_code == problem.status_code == 503
    rid = page.headers["X-Request-ID"]
    assert f"reference {rid}" in page_text(page.data)
    assert problem.get_json()["request_id"] == problem.headers["X-Request-ID"]
    assert any(r.getMessage().startswith(
        f"database unavailable for GET /down (request {rid}, user {logged_in.id}):")
        for r in caplog.records)


def test_the_line_names_the_user_when_the_session_can_no_longer_load_it(app, client,
                                                                       logged_in, caplog):
    """A dropped connection after the user was read and expired (a commit): asking whether
    the user is logged in would load it again, and fail inside the error handler."""
    from flask_login import current_user

    from crm.extensions import db

    def fail():
        user = current_user._get_current_object()
        db.session.expire(user)
        db.session.connection().invalidate()
        raise DisconnectionError("connection dropped")

    app.add_url_rule("/dropped", "dropped", fail)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    with caplog.at_level(logging.WARNING):
        response = client.get("/dropped")
    assert response.status_code == 503
    rid = response.headers["X-Request-ID"]
    assert any(r.getMessage().startswith(
        f"database unavailable for GET /dropped (request {rid}, user {logged_in.id}):")
        for r in caplog.records)


def test_a_client_error_page_carries_the_header_but_no_reference_to_quote(client, logged_in):
    """A 404 is no fault to report: the header is there for an operator, the page says
    nothing more."""
    response = client.get("/contacts/999999")
    assert response.status_code == 404
    assert MADE.fullmatch(response.headers["X-Request-ID"])
    assert "reference" not in page_text(response.data)
