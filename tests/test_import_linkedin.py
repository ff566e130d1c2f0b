"""Importing LinkedIn's Connections.csv: quirks, matching on re-import, errors."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fixtures.portability import (
    generated_linkedin_rows,
    linkedin_csv,
    linkedin_row,
    sample_linkedin_rows,
)
from sqlalchemy import func, select

from crm.extensions import db
from crm.models import Contact, ContactChannel, ImportKind, Medium, User
from crm.portability import parsers
from crm.portability.importer import ImportRefused
from crm.portability.services import import_file


def run(app, user, data: bytes, **kwargs):
    with app.app_context():
        owner = db.session.get(User, user.id)
        plan, result = import_file(owner, ImportKind.LINKEDIN, "Connections.csv", data, **kwargs)
        db.session.commit()
        return plan, result


def contacts_of(app, user) -> dict[str, dict]:
    """name -> what the contact holds, for assertions."""
    with app.app_context():
        found = {}
        for c in db.session.scalars(select(Contact).where(Contact.owner_id == user.id)):
            found[c.name] = {
                "company": c.company, "title": c.title,
                "origin": (c.origin_medium.key if c.origin_medium else None, c.origin_date),
                "channels": sorted((ch.medium.key, ch.value) for ch in c.channels),
                "id": c.id,
            }
        return found


def test_parser_reads_past_the_notes_bom_quotes_and_line_breaks():
    text = parsers.decode_upload(linkedin_csv(sample_linkedin_rows()))

    rows = parsers.parse_linkedin(text)

    assert [r.name for r in rows] == ["Ada Lovelace", "Grace Hopper", "Zoë Ångström", "José Núñez"]
    # Line numbers as a text editor shows them: notes on lines 1-3, header on 4; Grace's
    # position holds a line break, so Zoë starts two lines after Grace.
    assert [r.number for r in rows] == [5, 6, 8, 9]
    assert rows[0].company == "Analytical Engines, Ltd"
    assert rows[1].title == "Rear Admiral\nCompilers & COBOL"
    assert rows[2].title == 'Ingeniør, "Wind"'
    assert rows[0].origin_date == date(2010, 11, 22)
    assert rows[3].handles == [("key:linkedin", "https://www.linkedin.com/in/jose-nunez", ""),
                               ("key:email", "jose.nunez@example.es", "")]
    assert rows[1].handles == [("key:linkedin", "https://www.linkedin.com/in/gracehopper", "")]


def test_parser_accepts_a_file_without_notes_or_bom():
    rows = parsers.parse_linkedin(parsers.decode_upload(
        linkedin_csv(sample_linkedin_rows()[:1], bom=False, notes=False)))
    assert [(r.number, r.name) for r in rows] == [(2, "Ada Lovelace")]


def test_a_file_that_is_not_a_linkedin_export_is_refused():
    with pytest.raises(parsers.FileError, match="First Name"):
        parsers.parse_linkedin("Name,Email\nAda,ada@example.com\n")


@pytest.mark.parametrize(("raw", "expected"), [
    ("22 Nov 2010", date(2010, 11, 22)), ("3 Jan 2012", date(2012, 1, 3)),
    ("2012-01-03", date(2012, 1, 3)), ("11/22/10", date(2010, 11, 22)), ("", None),
])
def test_connected_on_dates(raw, expected):
    assert parsers.parse_linkedin_date(raw) == expected


def test_each_row_becomes_a_contact_first_met_on_linkedin(app, make_user):
    user = make_user()

    plan, result = run(app, user, linkedin_csv(sample_linkedin_rows()))

    assert (result.created, result.updated, result.skipped) == (4, 0, 0)
    found = contacts_of(app, user)
    ada = found["Ada Lovelace"]
    assert ada["company"] == "Analytical Engines, Ltd" and ada["title"] == "Mathematician"
    assert ada["origin"] == ("linkedin", date(2010, 11, 22))
    assert ada["channels"] == [("email", "ada@example.com"),
                               ("linkedin", "https://www.linkedin.com/in/ada-lovelace")]
    assert found["Grace Hopper"]["channels"] == [
        ("linkedin", "https://www.linkedin.com/in/gracehopper")]  # empty email: no channel
    assert found["Zoë Ångström"]["company"] == "Ørsted A/S"


def test_reimporting_the_same_export_creates_no_duplicates(app, make_user, count):
    user = make_user()
    run(app, user, linkedin_csv(sample_linkedin_rows()))

    plan, result = run(app, user, linkedin_csv(sample_linkedin_rows()))

    assert (len(plan.new), len(plan.matched)) == (0, 4)
    assert (result.created, result.updated, result.unchanged) == (0, 0, 4)
    assert count(Contact, Contact.owner_id == user.id) == 4
    assert count(ContactChannel) == 6


def test_a_newer_export_matches_by_url_then_email_and_updates_the_job(app, make_user, count):
    user = make_user()
    run(app, user, linkedin_csv(sample_linkedin_rows()))
    newer = sample_linkedin_rows()
    newer[1] = linkedin_row("Grace", "Hopper", "gracehopper", "grace@example.com",
                            "Harvard", "Professor", "03 Jan 2012")  # new job, email now shared
    # José changed his profile URL: the email still says who he is.
    newer[3] = linkedin_row("José", "Núñez", "jose-nunez-2", "jose.nunez@example.es", "", "",
                            "01 Feb 2024")
    newer.append(linkedin_row("Alan", "Turing", "alan-turing", "", "Bletchley", "", "1 Jun 2024"))

    plan, result = run(app, user, linkedin_csv(newer))

    assert (result.created, result.updated, result.unchanged) == (1, 2, 2)
    found = contacts_of(app, user)
    assert count(Contact, Contact.owner_id == user.id) == 5
    grace = found["Grace Hopper"]
    assert (grace["company"], grace["title"]) == ("Harvard", "Professor")
    assert ("email", "grace@example.com") in grace["channels"]
    assert found["José Núñez"]["channels"] == [
        ("email", "jose.nunez@example.es"),
        ("linkedin", "https://www.linkedin.com/in/jose-nunez"),
        ("linkedin", "https://www.linkedin.com/in/jose-nunez-2"),
    ]


def test_an_existing_contact_with_the_email_is_matched_and_keeps_what_was_entered(
        app, make_user, make_contact, medium, count):
    user = make_user()
    ada = make_contact(user, name="Ada King", company="", title="Countess",
                       origin_medium="face_to_face")
    with app.app_context():
        db.session.add(ContactChannel(contact_id=ada.id, medium_id=medium("email").id,
                                      value="ada@example.com"))
        db.session.commit()

    plan, result = run(app, user, linkedin_csv(sample_linkedin_rows()[:1]))

    assert (result.created, result.updated) == (0, 1)
    found = contacts_of(app, user)
    assert list(found) == ["Ada King"]  # the name you gave stays
    assert found["Ada King"]["origin"] == ("face_to_face", None)  # first met stays
    assert found["Ada King"]["company"] == "Analytical Engines, Ltd"  # LinkedIn's job wins
    assert ("linkedin", "https://www.linkedin.com/in/ada-lovelace") in found["Ada King"]["channels"]


def test_repeated_rows_in_one_file_become_one_contact(app, make_user, count):
    user = make_user()
    rows = sample_linkedin_rows()[:1] * 3

    plan, result = run(app, user, linkedin_csv(rows))

    assert (result.created, result.repeated_rows) == (1, 2)
    assert count(Contact, Contact.owner_id == user.id) == 1


def test_a_bad_row_imports_nothing_and_is_reported(app, make_user, count):
    user = make_user()
    rows = sample_linkedin_rows()
    rows[1][2] = "https://example.com/not-linkedin"  # Grace, line 6
    rows[2][6] = "sometime in 2021"  # Zoë, line 8

    with app.app_context(), pytest.raises(ImportRefused) as refused:
        import_file(db.session.get(User, user.id), ImportKind.LINKEDIN, "c.csv",
                    linkedin_csv(rows))

    assert [n for n, _ in refused.value.invalid] == [6, 8]
    reasons = dict(refused.value.invalid)
    assert "LinkedIn" in reasons[6] and "profile link" in reasons[6]
    assert "Connected On" in reasons[8] and "sometime in 2021" in reasons[8]
    assert count(Contact) == 0


def test_skipping_bad_rows_imports_the_rest(app, make_user, count):
    user = make_user()
    rows = sample_linkedin_rows()
    rows[0][0] = rows[0][1] = ""  # no name, line 5

    plan, result = run(app, user, linkedin_csv(rows), skip_invalid=True)

    assert plan.invalid == [(5, "No name: the row needs a name (or a first or last name).")]
    assert (result.created, result.skipped) == (3, 1)
    assert count(Contact, Contact.owner_id == user.id) == 3


def test_a_large_export_imports_with_a_few_queries_per_thousand_rows(app, make_user, count):
    from sqlalchemy import event

    user = make_user()
    data = linkedin_csv(generated_linkedin_rows(3000))
    statements = []
    with app.app_context():
        engine = db.engine

        def counter(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", counter)
        try:
            import_file(db.session.get(User, user.id), ImportKind.LINKEDIN, "c.csv", data)
            db.session.commit()
        finally:
            event.remove(engine, "before_cursor_execute", counter)

    assert count(Contact, Contact.owner_id == user.id) == 3000
    assert len(statements) < 40, statements[:50]
    with app.app_context():
        linkedin = db.session.scalar(select(Medium.id).where(Medium.key == "linkedin"))
        assert db.session.scalar(select(func.count()).select_from(ContactChannel).where(
            ContactChannel.medium_id == linkedin)) == 3000


@pytest.mark.parametrize("raw", [
    "ada@example.com", "Ada.Lovelace+crm@Example.COM", "  jose.nunez@example.es ",
    "o'brien@example.com", "x@localhost", "a..b@example.com", ".a@example.com",
    "user@test", "zoë@example.dk", "ada@exämple.com", "plain", "a@b.c", "a@-example.com",
    "a" * 65 + "@example.com", "first_last-1%x@sub.example.co.uk",
    "https://www.linkedin.com/in/ada-lovelace", "http://linkedin.com/in/ada/",
    "https://uk.linkedin.com/in/ada", "https://www.linkedin.com/in/ada?trk=x",
    "https://www.linkedin.com/in/Zo%C3%AB-1", "https://www.linkedin.com/company/acme",
])
def test_the_fast_path_agrees_with_the_channel_validator(app, raw):
    """The import's shortcut for plain emails and profile links never disagrees."""
    from crm.contacts.channels import ChannelError, normalise_channel
    from crm.portability.importer import _fast_normalise

    with app.app_context():
        for key in ("email", "linkedin"):
            medium = db.session.scalar(select(Medium).where(Medium.key == key))
            fast = _fast_normalise(key, raw)
            try:
                full = normalise_channel(medium, raw)
            except ChannelError:
                full = None
            if fast is not None:
                assert fast == full, (key, raw)


@pytest.mark.parametrize("kind", [ImportKind.LINKEDIN, ImportKind.CSV])
def test_an_import_fills_first_met_only_where_it_contradicts_nothing(
        app, make_user, make_contact, make_interaction, medium, kind):
    user = make_user()
    people = {}
    for name in ("Earlier", "Later", "Dated", "Fresh", "Skype"):
        people[name] = make_contact(user, name=name, origin_date=(
            date(2009, 1, 1) if name == "Dated" else None),
            origin_medium="skype" if name == "Skype" else None)
        with app.app_context():
            db.session.add(ContactChannel(contact_id=people[name].id, value=f"{name}@example.com",
                                          medium_id=medium("email").id))
            db.session.commit()
    make_interaction(user, people["Earlier"], "skype", datetime(2008, 5, 1, 12, tzinfo=UTC))
    make_interaction(user, people["Later"], "skype", datetime(2015, 5, 1, 12, tzinfo=UTC))
    if kind == ImportKind.LINKEDIN:  # first met on LinkedIn, the day they connected
        met, data = "linkedin", linkedin_csv([linkedin_row(n, "X", "", f"{n}@example.com")
                                              for n in people])
    else:  # the same from a CSV, on another medium
        met, data = "twitter", "".join(
            [f"{n},{n}@example.com,Twitter,2010-11-22\n" for n in people]).encode()
        data = b"Name,Email,First met on,First met date\n" + data
    with app.app_context():
        import_file(db.session.get(User, user.id), kind, "file", data)
        db.session.commit()

    origins = {name: c["origin"] for name, c in contacts_of(app, user).items()}
    assert origins == {
        "Earlier": (None, None),  # they spoke on Skype two years before
        "Later": (met, date(2010, 11, 22)),
        "Dated": (None, date(2009, 1, 1)),  # the date you entered stays, alone
        "Fresh": (met, date(2010, 11, 22)),
        "Skype": ("skype", None),  # a recorded origin is never replaced
    }
