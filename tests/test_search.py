"""Contact search through the search index: what it finds, that writes keep the index up to
date (on SQLite its triggers), and that nobody finds another user's contacts."""

from __future__ import annotations

import logging

import pytest
from fixtures.api_client import ApiClient, make_token
from fixtures.portability import linkedin_csv, linkedin_row
from sqlalchemy import create_engine, delete, inspect, select, text, update
from support import page_text

from crm.contacts.services import list_contacts
from crm.extensions import db
from crm.models import ContactChannel, ImportKind, Tag, User, search_index

PEOPLE = ["Ada Lovelace", "Grace Hopper", "Katherine Johnson"]


def found(client, q: str, names=PEOPLE) -> list[str]:
    """Which of names the contact list shows when searching q."""
    response = client.get("/contacts", query_string={"q": q})
    assert response.status_code == 200
    text_ = page_text(response.data)
    return [name for name in names if name in text_]


@pytest.fixture
def people(app, client, logged_in, make_contact, medium):
    """Ada (with a tag and a Skype name added through the page), Grace and Katherine."""
    ada = make_contact(logged_in, name="Ada Lovelace", company="Analytical Engines",
                       tags=["Mathematician", "Poets"])
    grace = make_contact(logged_in, name="Grace Hopper", company="US Navy", tags=["compilers"])
    katherine = make_contact(logged_in, name="Katherine Johnson", company="NASA Langley")
    response = client.post(f"/contacts/{ada.id}/channels",
                           data={"medium": str(medium("skype").id), "value": "Zanzibar.Quill"})
    assert response.status_code == 302
    return {"ada": ada, "grace": grace, "katherine": katherine}


@pytest.mark.parametrize("q, expected", [
    ("lovelace", ["Ada Lovelace"]),         # name
    ("VELAC", ["Ada Lovelace"]),            # mid-word, other case
    ("nAsA lAnG", ["Katherine Johnson"]),   # company, mixed case, across a space
    ("ytical eng", ["Ada Lovelace"]),       # company, mid-word
    ("HEMATIC", ["Ada Lovelace"]),          # tag, mid-word
    ("compil", ["Grace Hopper"]),           # tag
    ("bar.qu", ["Ada Lovelace"]),           # channel handle, mid-word, other case
    ("  hopper  ", ["Grace Hopper"]),       # surrounding blanks do not count
    ("son", ["Katherine Johnson"]),
    ("er", ["Grace Hopper", "Katherine Johnson"]),  # short: two letters, mid-word
    ("o", ["Ada Lovelace", "Grace Hopper", "Katherine Johnson"]),
    ("qx", []),
    ("nobody at all", []),
])
def test_search_finds_name_company_tag_and_handle(client, people, q, expected):
    assert found(client, q) == expected


@pytest.mark.parametrize("q", [
    "+44 20 7946 0958",      # as it was typed in
    "020 7946 0958",         # the national number, its leading 0
    "0044 (20) 7946-0958",   # the international prefix, brackets and a dash
    "+44 (0)20 7946 0958",   # the national 0 in brackets after the country code
    "7946 0958",             # a part of it, spaced
    "2079460958",
])
def test_a_phone_number_is_found_as_people_write_it(client, people, medium, q):
    """A phone handle is kept in E.164 (+442079460958): a number written with spaces, a
    national 0 or brackets finds it, in the contact list and in the people picker."""
    grace = people["grace"]
    response = client.post(f"/contacts/{grace.id}/channels",
                           data={"medium": str(medium("phone").id), "value": "+44 20 7946 0958"})
    assert response.status_code == 302
    client.post(f"/contacts/{people['katherine'].id}/channels",
                data={"medium": str(medium("phone").id), "value": "+1 202 555 0143"})

    assert found(client, q) == ["Grace Hopper"]
    choices = client.get("/contacts/choices", query_string={"q": q}).get_json()["choices"]
    assert [c["label"] for c in choices] == ["Grace Hopper (US Navy)"]


@pytest.mark.parametrize("q", ["0 794", "(020)", "1-0958", "020 7946 0959"])
def test_a_few_digits_or_another_number_find_no_phone(client, people, medium, q):
    """Digits alone match only when there are four or more, and then only where they are."""
    client.post(f"/contacts/{people['grace'].id}/channels",
                data={"medium": str(medium("phone").id), "value": "+44 20 7946 0958"})
    assert found(client, q) == []


UNICODE_PEOPLE = ["Émile Zola", "Ωμέγα Οδός", "Jürgen Weiß"]


@pytest.fixture
def unicode_people(make_contact, logged_in):
    make_contact(logged_in, name="Émile Zola", company="ÖKO GmbH", tags=["Éclair"])
    make_contact(logged_in, name="Ωμέγα Οδός", tags=["ΟΔΟΣ"])
    make_contact(logged_in, name="Jürgen Weiß", tags=["Straße"])


@pytest.mark.parametrize("q, expected", [
    ("Émile", ["Émile Zola"]),      # the exact spelling
    ("ÉMILE", ["Émile Zola"]),      # non-ASCII capitals, through the index
    ("émi", ["Émile Zola"]),
    ("öko", ["Émile Zola"]),        # company
    ("ÉCLAIR", ["Émile Zola"]),     # tag
    ("ΟΔΟΣ", ["Ωμέγα Οδός"]),       # tag, Greek capitals
    ("ΩΜΈΓΑ", ["Ωμέγα Οδός"]),      # name
    ("JÜRGEN", ["Jürgen Weiß"]),
    ("Ém", ["Émile Zola"]),         # short: scanned, folded alike
])
def test_search_ignores_case_in_every_alphabet(client, unicode_people, q, expected):
    assert found(client, q, UNICODE_PEOPLE) == expected


@pytest.mark.parametrize("q, expected", [
    ("emile", ["Émile Zola"]),      # typed without the accent
    ("EMILE Z", ["Émile Zola"]),
    ("juergen", []),                # accents set aside, not transliterated
    ("jurgen", ["Jürgen Weiß"]),
    ("weiss", ["Jürgen Weiß"]),     # ß folds to ss
    ("Ωμεγα", ["Ωμέγα Οδός"]),      # Greek tonos set aside
    ("em", ["Émile Zola"]),         # short: scanned, folded alike
    ("oko gmbh", ["Émile Zola"]),   # a company, "ÖKO GmbH"
    ("eclair", ["Émile Zola"]),     # a tag, "Éclair"
    ("strasse", ["Jürgen Weiß"]),   # a tag, "Straße" (PostgreSQL's lower() keeps ß)
    ("ok", ["Émile Zola"]),         # short: scanned, folded alike
    ("\u0301", []),                 # an accent alone folds to nothing: no name matches
    ("\u0301\u0301\u0301", []),       # (found in review: it matched every contact)
])
def test_a_name_is_found_with_its_accents_left_out(client, unicode_people, q, expected):
    """People type "jose" for "José" and "nestle" for "Nestlé": names, companies and tags
    match with accents set aside on both sides, through sort_name (the name as it files
    alphabetically), company_key and the tags folded in Python."""
    assert found(client, q, UNICODE_PEOPLE) == expected


@pytest.mark.parametrize("tag, expected", [
    ("ΟΔΟΣ", "Ωμέγα Οδός"), ("οδοσ", "Ωμέγα Οδός"), ("Οδος", "Ωμέγα Οδός"),
    ("éclair", "Émile Zola"), ("ÉCLAIR", "Émile Zola"), ("STRASSE", "Jürgen Weiß"),
])
def test_the_tag_filter_names_tags_as_tags_are_named(app, client, logged_in, unicode_people,
                                                     tag, expected):
    """Any spelling of a tag in another case lists its contacts, and the count agrees
    (it was cached under a key SQL lower() and Python disagreed on)."""
    assert found(client, "", UNICODE_PEOPLE) == UNICODE_PEOPLE  # fills the count cache
    response = client.get("/contacts", query_string={"tag": tag})
    assert found_in(response, UNICODE_PEOPLE) == [expected]
    api = ApiClient(client, make_token(app, logged_in), logged_in)
    body = api.get("/contacts", query_string={"tag": tag}).get_json()
    assert ([c["name"] for c in body["items"]], body["total"]) == ([expected], 1)


def found_in(response, names) -> list[str]:
    assert response.status_code == 200
    text_ = page_text(response.data)
    return [name for name in names if name in text_]


def test_the_api_searches_the_same_way(app, client, logged_in, people):
    api = ApiClient(client, make_token(app, logged_in), logged_in)

    for q, expected in (("ANALYTIC", ["Ada Lovelace"]), ("bar.qu", ["Ada Lovelace"]),
                        ("er", ["Grace Hopper", "Katherine Johnson"])):
        body = api.get("/contacts", query_string={"q": q}).get_json()
        assert [c["name"] for c in body["items"]] == expected, q
        assert body["total"] == len(expected)


WILDCARD_NAMES = ["100% Pure", "100 Pure", "Snake_case Co", "Snakexcase Co",
                  "Back\\slash", "Backxslash", "Star*Power", "StarXPower",
                  "What?Now", "WhatANow", "Box [abc] Ltd", "Box b Ltd"]


@pytest.mark.parametrize("q, expected", [
    ("0% p", ["100% Pure"]),
    ("%", ["100% Pure"]),
    ("e_c", ["Snake_case Co"]),
    ("_", ["Snake_case Co"]),
    ("k\\s", ["Back\\slash"]),
    ("\\", ["Back\\slash"]),
    ("r*p", ["Star*Power"]),
    ("*", ["Star*Power"]),
    ("t?n", ["What?Now"]),
    ("[abc]", ["Box [abc] Ltd"]),
    ("[b", []),
])
def test_wildcards_in_the_search_are_literal(client, logged_in, make_contact, q, expected):
    for name in WILDCARD_NAMES:
        make_contact(logged_in, name=name)

    assert found(client, q, WILDCARD_NAMES) == expected


def test_search_follows_a_renamed_contact(client, people):
    ada = people["ada"]
    response = client.post(f"/contacts/{ada.id}/edit",
                           data={"name": "Augusta King", "company": "Difference Engines",
                                 "tags": "Poets"})
    assert response.status_code == 302

    assert found(client, "lovelace") == []
    assert found(client, "analytical") == []
    assert found(client, "augusta k", ["Augusta King"]) == ["Augusta King"]
    assert found(client, "DIFFERENCE", ["Augusta King"]) == ["Augusta King"]
    # The tag taken off the contact no longer finds her; the one kept still does.
    assert found(client, "mathem", ["Augusta King"]) == []
    assert found(client, "poets", ["Augusta King"]) == ["Augusta King"]


def test_search_follows_channel_changes(app, client, logged_in, people, medium):
    ada, grace = people["ada"], people["grace"]
    with app.app_context():
        channel_id = db.session.scalar(
            select(ContactChannel.id).where(ContactChannel.contact_id == ada.id))
        db.session.execute(update(ContactChannel).where(ContactChannel.id == channel_id)
                           .values(value="Ocelot.Tango"))
        db.session.commit()

    assert found(client, "zanzibar") == []
    assert found(client, "lot.tan") == ["Ada Lovelace"]

    response = client.post(f"/contacts/{ada.id}/channels/{channel_id}/delete")
    assert response.status_code == 302
    assert found(client, "ocelot") == []

    client.post(f"/contacts/{grace.id}/channels",
                data={"medium": str(medium("face_to_face").id), "value": "Harvard Mark I"})
    assert found(client, "ARD MARK") == ["Grace Hopper"]


def test_search_follows_tag_renames_and_deletions(app, client, logged_in, people):
    with app.app_context():
        db.session.execute(update(Tag).where(Tag.name == "compilers")
                           .values(name="Programming languages"))
        db.session.commit()

    assert found(client, "compil") == []
    assert found(client, "ming lang") == ["Grace Hopper"]

    with app.app_context():
        db.session.execute(delete(Tag).where(Tag.name == "Programming languages"))
        db.session.commit()

    assert found(client, "ming lang") == []
    assert found(client, "hopper") == ["Grace Hopper"]


def test_search_forgets_a_deleted_contact(app, client, people):
    grace = people["grace"]
    # Following the redirect shows (and so uses up) the "deleted" message that names her.
    assert client.post(f"/contacts/{grace.id}/delete", follow_redirects=True).status_code == 200

    assert found(client, "hopper") == []
    assert found(client, "navy") == []
    assert found(client, "compilers") == []


def test_search_never_shows_another_users_contacts(
    app, client, logged_in, make_user, make_contact, medium
):
    other = make_user(name="Someone Else")
    theirs = make_contact(other, name="Okafor Theirs", company="Okafor Holdings",
                          tags=["okafor-tag"])
    with app.app_context():
        db.session.add(ContactChannel(contact_id=theirs.id, medium_id=medium("skype").id,
                                      value="okafor.handle"))
        db.session.commit()
    make_contact(logged_in, name="Chidi Okafor")
    names = ["Okafor Theirs", "Chidi Okafor"]

    for q in ("okafor", "OKAF", "holdings", "okafor-tag", "tag", "r.han", "ok", "o"):
        shown = found(client, q, names)
        assert "Okafor Theirs" not in shown, q
    assert found(client, "okafor", names) == ["Chidi Okafor"]
    # The same through the service, counted (the API's list counts its matches).
    with app.app_context():
        me = db.session.get(User, logged_in.id)
        for q in ("okafor", "holdings", "handle", "tag"):
            page = list_contacts(me, q=q)
            assert [c.name for c in page.items] == (["Chidi Okafor"] if q == "okafor" else [])
            assert page.total == len(page.items)


def test_archived_tag_filter_and_sort_still_apply(client, logged_in, make_contact):
    make_contact(logged_in, name="Beta Okafor", tags=["work"])
    make_contact(logged_in, name="alpha Okafor", tags=["home"])
    archived = make_contact(logged_in, name="Gamma Okafor", tags=["work"])
    client.post(f"/contacts/{archived.id}/archive", follow_redirects=True)
    names = ["Beta Okafor", "alpha Okafor", "Gamma Okafor"]

    assert found(client, "okafor", names) == ["Beta Okafor", "alpha Okafor"]
    shown = page_text(client.get("/contacts?q=okafor&sort=-name").data)
    assert shown.index("Beta Okafor") < shown.index("alpha Okafor")
    assert [n for n in names if n in page_text(client.get("/contacts?q=okafor&tag=work").data)
            ] == ["Beta Okafor"]
    assert [n for n in names if n in page_text(
        client.get("/contacts?q=okafor&archived=1").data)] == ["Gamma Okafor"]


@pytest.mark.app_config(CONTACTS_PER_PAGE=2)
def test_search_pages(client, logged_in, make_contact):
    names = [f"Okafor {letter}" for letter in "ABCDE"]
    for name in reversed(names):
        make_contact(logged_in, name=name)

    pages = [page_text(client.get(f"/contacts?q=kafor&page={n}").data) for n in (1, 2, 3)]

    assert [[n for n in names if n in text_] for text_ in pages] == [
        names[0:2], names[2:4], names[4:5]]


# --- SQLite: the FTS5 tables ----------------------------------------------------------


@pytest.mark.sqlite_only
def test_the_sqlite_index_holds_folded_text_and_is_used(app, client, people):
    with app.app_context():
        rows = db.session.execute(text(
            "SELECT rowid, name, company FROM search_contacts ORDER BY rowid")).all()
        assert [tuple(r) for r in rows] == [
            (people["ada"].id, "ada lovelace", "analytical engines"),
            (people["grace"].id, "grace hopper", "us navy"),
            (people["katherine"].id, "katherine johnson", "nasa langley"),
        ]
        assert db.session.scalar(text("SELECT value FROM search_contact_channels")) == (
            "zanzibar.quill")
        statements = []

        def record(conn, cursor, statement, *args):
            statements.append(statement)

        from sqlalchemy import event

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            list_contacts(db.session.get(User, people["ada"].owner_id), q="lovelace")
            list_contacts(db.session.get(User, people["ada"].owner_id), q="lo")
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
    searches = [s for s in statements if "FROM contacts" in s and "LIMIT" in s]
    assert "search_contacts.name GLOB" in searches[0]
    assert "search_contacts" not in searches[1]  # two letters: no trigram to look up


@pytest.mark.sqlite_only
def test_sqlite_search_scans_when_a_trigger_is_missing(app, client, people, caplog):
    with app.app_context():
        db.session.execute(text("DROP TRIGGER search_contacts_update"))
        db.session.commit()

    ada = people["ada"]
    # Without the trigger the index keeps her old name: only a scan can find the new one.
    client.post(f"/contacts/{ada.id}/edit", data={"name": "Augusta King", "tags": "Poets"})

    with caplog.at_level(logging.WARNING, logger="crm.models.search_index"):
        assert found(client, "usta k", names=["Augusta King"]) == ["Augusta King"]
        assert found(client, "velac", names=["Augusta King"]) == []
        assert found(client, "bar.qu", names=["Augusta King"]) == ["Augusta King"]
    assert "search_contacts_update" in caplog.text


@pytest.mark.sqlite_only
def test_sqlite_without_fts5_trigram_creates_no_index(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(search_index, "_fts5_trigram_available", lambda connection: False)
    engine = create_engine(f"sqlite:///{tmp_path / 'plain.sqlite3'}")
    with caplog.at_level(logging.WARNING, logger="crm.models.search_index"):
        db.metadata.create_all(engine)

    assert "no FTS5 trigram tokenizer" in caplog.text
    tables = set(inspect(engine).get_table_names())
    assert "contacts" in tables
    assert not tables & search_index.SQLITE_INDEX_TABLES
    engine.dispose()


def test_a_company_an_import_fills_in_is_found_without_its_accents(
        app, client, logged_in, make_contact, medium):
    """Imports update matched contacts' companies with a Core UPDATE, which sets
    company_key itself (the ORM keeps it elsewhere)."""
    from crm.portability.services import import_file

    ada = make_contact(logged_in, name="Ada King")
    with app.app_context():
        db.session.add(ContactChannel(contact_id=ada.id, medium_id=medium("email").id,
                                      value="ada@example.com"))
        db.session.commit()
        data = linkedin_csv([linkedin_row("Ada", "Lovelace", "ada-lovelace", "ada@example.com",
                                          "Société Générale", "Engineer", "01 Feb 2024")])
        import_file(db.session.get(User, logged_in.id), ImportKind.LINKEDIN, "Connections.csv",
                    data)
        db.session.commit()

    assert found(client, "societe generale", ["Ada King"]) == ["Ada King"]
    assert found(client, "Société", ["Ada King"]) == ["Ada King"]


def test_a_new_tag_is_found_without_its_accents_at_once(client, logged_in, make_contact):
    """The folded tags are kept per version of the network: a tag added since is
    searched at once."""
    ada = make_contact(logged_in, name="Ada Lovelace", tags=["poets"])
    assert found(client, "creme", ["Ada Lovelace"]) == []  # folds and keeps the tags

    assert client.post(f"/contacts/{ada.id}/edit",
                       data={"name": "Ada Lovelace", "tags": "poets, Crème"}).status_code == 302
    assert found(client, "creme", ["Ada Lovelace"]) == ["Ada Lovelace"]


@pytest.mark.parametrize("value, q", [
    ("ΠΑΡΟΣ port office", "Παρος"),    # logged in capitals, typed with a final sigma
    ("Καφέ Λόγος", "ΛΌΓΟΣ"),            # written with a final sigma, typed in capitals
])
# Found by review: the final-sigma fix reached the interaction search only.
def test_a_handle_ending_in_sigma_is_found_in_any_case(
        client, people, medium, value, q):
    """PostgreSQL's lower() makes Σ σ but keeps a final ς, so on PostgreSQL the contact
    search's handle lookup (containing(): lower() on both sides, no accent-free column to
    fall back on) does not find "ΠΑΡΟΣ" for "Παρος", while SQLite's casefold finds it, and
    the interaction search now finds it on both."""
    grace = people["grace"]
    response = client.post(f"/contacts/{grace.id}/channels",
                           data={"medium": str(medium("face_to_face").id), "value": value})
    assert response.status_code == 302
    assert found(client, q) == ["Grace Hopper"]
