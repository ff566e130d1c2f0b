"""Deleting an account: confirmed with the password; all data goes; coach links end."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from support import PASSWORD, page_text

from crm.extensions import db
from crm.models import (
    CoachingNote,
    CoachLink,
    CoachLinkStatus,
    Contact,
    ContactChannel,
    User,
)


def rows_touching(app, user_id) -> dict[str, int]:
    """Per table, the rows that point at the user directly."""
    with app.app_context():
        found = {}
        for table in db.metadata.sorted_tables:
            cols = [fk.parent for fk in table.foreign_keys if fk.column.table.name == "users"]
            if table.name == "users":
                cols = [table.c.id]
            for col in cols:
                n = len(db.session.execute(select(table).where(col == user_id)).all())
                if n:
                    found[f"{table.name}.{col.name}"] = n
        return found


def test_delete_account_removes_everything_and_ends_coach_links(
        app, client, auth, make_user, make_contact, make_interaction, make_reminder,
        make_medium, medium, count, runner):
    user = make_user(email="leaver@example.com")
    other = make_user(email="stayer@example.com")
    mastodon = make_medium(user, "Mastodon")
    ada = make_contact(user, name="Ada", tags="math", origin_medium=mastodon)
    make_interaction(user, ada, medium=mastodon)
    make_reminder(user, local_date=date(2030, 1, 1), contact=ada)
    kept = make_contact(other, name="Other's friend")
    with app.app_context():
        db.session.add(ContactChannel(contact_id=ada.id, medium_id=medium("email").id,
                                      value="ada@example.com"))
        as_client = CoachLink(client_id=user.id, coach_id=other.id, coach_email=other.email,
                              status=CoachLinkStatus.ACTIVE)
        as_coach = CoachLink(client_id=other.id, coach_id=user.id, coach_email=user.email,
                             status=CoachLinkStatus.ACTIVE)
        db.session.add_all([as_client, as_coach])
        db.session.flush()
        db.session.add(CoachingNote(link_id=as_coach.id, coach_id=user.id, client_id=other.id,
                                    body="Keep going"))
        db.session.commit()
    token = runner.invoke(args=["token", "create", user.email, "--name", "script"]).output.split()[-1]
    assert client.get("/api/v1/contacts", headers={"Authorization": f"Bearer {token}"}
                      ).status_code == 200
    assert rows_touching(app, user.id)
    auth.login_as(user)

    page = client.get("/account/delete")
    assert page.status_code == 200 and "Delete my account" in page_text(page.data)
    wrong = client.post("/account/delete", data={"password": "nope", "understand": "y"})
    assert wrong.status_code == 422 and "That is not your password" in page_text(wrong.data)
    unticked = client.post("/account/delete", data={"password": PASSWORD})
    assert unticked.status_code == 422
    assert count(User, User.id == user.id) == 1

    response = client.post("/account/delete", data={"password": PASSWORD, "understand": "y"})

    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert rows_touching(app, user.id) == {}
    # Their clients keep the notes and the links, ended; their own links as a client go.
    assert count(CoachLink, CoachLink.client_id == user.id) == 0
    assert count(CoachLink, CoachLink.client_id == other.id, CoachLink.coach_id.is_(None),
                 CoachLink.status == CoachLinkStatus.REVOKED) == count(CoachLink) == 1
    assert count(CoachingNote, CoachingNote.coach_id.is_(None)) == count(CoachingNote) == 1
    assert count(Contact, Contact.id == kept.id) == 1  # the other user's data stays
    assert count(User, User.id == other.id) == 1
    # The session is over, the password no longer works, neither does the token.
    assert client.get("/contacts").status_code == 302
    assert auth.login("leaver@example.com").status_code == 422
    assert client.get("/api/v1/contacts", headers={"Authorization": f"Bearer {token}"}
                      ).status_code == 401


def test_settings_links_to_export_and_deletion(client, logged_in):
    text = page_text(client.get("/settings").data)
    assert "Export your data" in text and "Delete your account" in text
    assert "API tokens" in text


def test_a_coach_who_deletes_their_account_leaves_their_notes_to_the_client(
        app, make_user):
    """Found in review: a coach deleting their account took every note they wrote and the
    client's record of the coaching with it, though /coaching/notes keeps every note, also
    after coaching ends."""
    import support
    from support import as_user

    clara = make_user(name="Clara Client", email="clara@example.com")
    colin = make_user(name="Colin Coach", email="colin@example.com")
    client_http, coach_http = as_user(app, clara), as_user(app, colin)
    assert coach_http.post(support.invite(client_http, colin.email),
                           data={"answer": "accept"}).status_code == 302
    note = "Reconnect with three LinkedIn contacts."
    assert coach_http.post(f"/coach/clients/{clara.id}/notes",
                           data={"body": note}).status_code == 302

    assert coach_http.post("/account/delete", data={"password": PASSWORD, "understand": "y"}
                           ).status_code == 302

    notes = page_text(client_http.get("/coaching/notes").data)
    assert f"{note} A former coach," in notes and "Colin Coach" not in notes
    assert note not in page_text(client_http.get("/").data)  # nobody coaches her now
    coaching = page_text(client_http.get("/coaching").data)
    assert "colin@example.com" in coaching and "ended" in coaching


@pytest.mark.sqlite_only
def test_the_search_index_forgets_a_deleted_accounts_words(
        app, client, auth, make_user, make_contact, make_interaction):
    """SQLite's FTS tables hold a copy of the text: it goes with the account."""
    from sqlalchemy import text

    user = make_user(email="leaver@example.com")
    make_interaction(user, make_contact(user, name="Ada Kubernetes"),
                     summary="Talked about Kubernetes", notes="Secret kubernetes plans")
    stayer = make_user(email="stayer@example.com")
    make_interaction(stayer, make_contact(stayer, name="Grace"), summary="Kubernetes too")
    auth.login_as(user)

    response = client.post("/account/delete", data={"password": PASSWORD, "understand": "y"})

    assert response.status_code == 302
    with app.app_context():
        assert db.session.execute(text(
            "SELECT summary, notes FROM search_interactions")).all() == [("kubernetes too", "")]
        assert db.session.execute(text("SELECT name FROM search_contacts")).all() == [
            ("grace",)]
