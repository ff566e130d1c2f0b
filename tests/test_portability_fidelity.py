"""Imports, exports and merges that keep every detail: profile links addressed by number,
names joined by a handle, rows with cells the header does not have, files of mixed
encodings, values with Unicode line separators, absurd dates, and first-met origins."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from fixtures.portability import linkedin_csv, linkedin_row, vcard_file
from sqlalchemy import select

from crm.contacts.services import combine_origins
from crm.extensions import db
from crm.models import Contact, ContactChannel, ImportKind, Interaction, Reminder, User, utcnow
from crm.portability import exporter, parsers
from crm.portability.duplicates import merge_contacts
from crm.portability.importer import ImportRefused
from crm.portability.services import import_file


def run(app, user, kind, data, **kwargs):
    with app.app_context():
        plan, result = import_file(db.session.get(User, user.id), kind, "file", data, **kwargs)
        db.session.commit()
        return plan, result


def contacts_of(app, user) -> dict[str, Contact]:
    with app.app_context():
        found = db.session.scalars(select(Contact).where(Contact.owner_id == user.id)).all()
        for contact in found:
            _ = contact.tag_names, [(ch.medium.name, ch.value, ch.label) for ch in contact.channels]
        db.session.expunge_all()
        return {c.name: c for c in found}


def handles(contact: Contact) -> list[tuple[str, str, str]]:
    return sorted((ch.medium.name, ch.value, ch.label) for ch in contact.channels)


def card(name: str, *lines: str) -> str:
    return "".join(["BEGIN:VCARD\r\n", "VERSION:3.0\r\n", f"FN:{name}\r\n",
                    *(f"{line}\r\n" for line in lines), "END:VCARD\r\n"])


# --- profile links addressed by number ------------------------------------------------


def test_profile_links_addressed_by_number_stay_two_people(app, make_user):
    """Facebook's profile.php?id= and LinkedIn's old profile/view?id= name the person in
    the query: cut to the path, every such link was one handle and the import folded
    different people into one contact, dropping their names."""
    user = make_user()
    data = vcard_file(
        card("Ann Alpha", "URL;TYPE=facebook:https://www.facebook.com/profile.php?id=100001"),
        card("Bob Beta", "URL;TYPE=facebook:https://m.facebook.com/profile.php?id=100002&ref=x"),
        card("Cy Gamma", "URL:https://www.linkedin.com/profile/view?id=777"),
        card("Dee Delta", "URL:https://www.linkedin.com/profile/view?id=888"),
    )

    plan, result = run(app, user, ImportKind.VCARD, data)

    assert (result.created, plan.repeated_rows, plan.invalid) == (4, 0, [])
    found = contacts_of(app, user)
    assert handles(found["Bob Beta"]) == [
        ("Facebook", "https://www.facebook.com/profile.php?id=100002", "")]
    assert handles(found["Dee Delta"]) == [
        ("LinkedIn", "https://www.linkedin.com/profile/view?id=888", "")]


def test_a_numbered_profile_link_without_its_number_is_refused(client, auth, make_user,
                                                               make_contact, medium, count):
    user = make_user()
    contact = make_contact(user, name="Ann")
    auth.login_as(user)
    response = client.post(f"/contacts/{contact.id}/channels", data={
        "medium": medium("facebook").id, "value": "https://www.facebook.com/profile.php"})

    assert response.status_code == 422
    assert "needs its id=" in response.get_data(as_text=True)
    assert count(ContactChannel) == 0


# --- rows joined by a handle keep both names ------------------------------------------


def test_a_row_joined_to_another_by_its_email_keeps_its_name_in_the_notes(app, make_user,
                                                                         make_contact):
    """A handle that is one person's joins two records whatever their names (a married
    name); the other name used to vanish without trace."""
    user = make_user()
    make_contact(user, name="Grace Hopper", notes="Navy.")
    with app.app_context():
        owner = db.session.get(User, user.id)
        from crm.contacts.services import add_channel
        from crm.mediums.services import mediums_for
        email = next(m for m in mediums_for(owner) if m.key == "email")
        grace = db.session.scalar(select(Contact).where(Contact.owner_id == user.id))
        add_channel(grace, email, "grace@example.com")
        db.session.commit()
    data = (b"Name,Email\r\nAnn Smith,ann@example.com\r\nAnn Jones,ANN@example.com\r\n"
            b"Grace B. Murray,grace@example.com\r\n")

    plan, result = run(app, user, ImportKind.CSV, data)
    assert (result.created, result.updated, plan.repeated_rows) == (1, 1, 1)
    found = contacts_of(app, user)
    assert found["Ann Smith"].notes == "Also known as Ann Jones."
    assert found["Grace Hopper"].notes == "Navy.\n\nAlso known as Grace B. Murray."

    # Importing the same file again adds nothing twice.
    _, again = run(app, user, ImportKind.CSV, data)
    assert (again.created, again.updated) == (0, 0)
    assert contacts_of(app, user)["Ann Smith"].notes == "Also known as Ann Jones."


# --- CSV rows and cells ----------------------------------------------------------------


def test_a_row_with_more_cells_than_the_header_is_invalid_not_cut(app, make_user, count):
    """An unquoted comma shifts the cells after it; the extra cells were dropped
    silently ("Met at PyCon" kept of "Met at PyCon, Berlin, 2019")."""
    user = make_user()
    data = (b"Name,Email,Notes\r\nAda,ada@example.com,Loves poetry\r\n"
            b"Ann,ann@example.com,Met at PyCon, Berlin, 2019\r\n"
            b'Bea,bea@example.com,"Met at PyCon, Berlin"\r\n')

    with pytest.raises(ImportRefused) as refused:
        run(app, user, ImportKind.CSV, data)
    assert refused.value.invalid == [(3, "This row has 5 cells and the header 3: a value "
                                         "holding the delimiter needs double quotes around it.")]
    assert count(Contact) == 0

    _, result = run(app, user, ImportKind.CSV, data, skip_invalid=True)
    assert result.created == 2
    assert contacts_of(app, user)["Bea"].notes == "Met at PyCon, Berlin"


def test_an_excel_sep_line_names_the_delimiter(app, make_user):
    user = make_user()
    data = b"sep=;\r\nName;Company;Notes\r\nAda;Analytical Engines;First, and best\r\nBad;;\r\n"
    header, body = parsers.read_csv_table(data.decode())
    assert header == ["Name", "Company", "Notes"]
    assert [line for line, _ in body] == [3, 4]  # numbered as the file's lines

    _, result = run(app, user, ImportKind.CSV, data)
    assert result.created == 2
    ada = contacts_of(app, user)["Ada"]
    assert (ada.company, ada.notes) == ("Analytical Engines", "First, and best")


# --- encodings -------------------------------------------------------------------------


def test_a_utf8_file_with_a_stray_windows_byte_is_refused_naming_the_line(app, make_user,
                                                                         count):
    """Read as Windows-1252, every accent of the UTF-8 lines turned into mojibake."""
    user = make_user()
    data = ("Name,Company\r\nZoë Ångström,Ørsted\r\n".encode()
            + "Renée Dupont,Café\r\n".encode("cp1252"))

    with pytest.raises(parsers.FileError, match=r"^Line 3 is not UTF-8 text"):
        run(app, user, ImportKind.CSV, data)
    assert count(Contact) == 0


def test_windows_1252_files_still_import_and_undefined_bytes_are_refused(app, make_user):
    user = make_user()
    _, result = run(app, user, ImportKind.CSV,
                    "Name,Company\r\nRenée Dupont,Café “Flore”\r\n".encode("cp1252"))
    assert result.created == 1
    assert contacts_of(app, user)["Renée Dupont"].company == "Café “Flore”"

    with pytest.raises(parsers.FileError, match="neither UTF-8 nor Windows-1252"):
        parsers.decode_upload(b"Name\r\nAnn\r\nBad \x81 byte\r\n")


# --- line separators inside values --------------------------------------------------


@pytest.mark.parametrize("separator", ["\u2028", "\x85", "\x0c", "\x1c"])
def test_a_vcard_export_whose_notes_hold_a_line_separator_imports_back(
        app, make_user, make_contact, separator):
    user, fresh = make_user(), make_user()
    make_contact(user, name="Ann", notes=f"Pasted{separator}from a web page")
    make_contact(user, name="Bob", notes="Plain")
    with app.app_context():
        data = exporter.contacts_vcard(db.session.get(User, user.id)).encode()

    plan, result = run(app, fresh, ImportKind.VCARD, data)

    assert (plan.invalid, result.created) == ([], 2)
    assert contacts_of(app, fresh)["Ann"].notes == f"Pasted{separator}from a web page"


# --- dates -----------------------------------------------------------------------------


def test_a_year_of_twenty_digits_is_an_invalid_row_not_an_error(app, client, auth, make_user,
                                                                 count):
    user = make_user()
    rows = [linkedin_row("Ada", "Lovelace", "ada"),
            linkedin_row("Bad", "Year", "bad-year", connected="1 Jan 20101231231231231231")]

    with pytest.raises(ImportRefused) as refused:
        run(app, user, ImportKind.LINKEDIN, linkedin_csv(rows))
    (line, reason), = refused.value.invalid
    assert "is not a date like 22 Nov 2010" in reason
    assert count(Contact) == 0

    with pytest.raises(ImportRefused) as refused:
        run(app, user, ImportKind.CSV,
            b"Name,First met date\r\nAda,22 Nov 2010\r\nBad,31 Dec 99999999999999999999\r\n")
    assert refused.value.invalid[0][0] == 3

    # The preview shows the row as invalid (it answered 500 on every visit).
    auth.login_as(user)
    response = client.post("/import", data={
        "kind": "csv", "file": (io.BytesIO(b"Name,First met date\r\nBad,1 Jan 20101231231231231231\r\n"),
                                "c.csv")}, content_type="multipart/form-data",
                           follow_redirects=True)
    assert response.status_code in (200, 422)
    assert "is not a date like 22 Nov 2010" in response.get_data(as_text=True)


# --- first-met origins ------------------------------------------------------------------


@pytest.mark.parametrize(("kept", "added", "expected"), [
    ((None, None), (7, date(2011, 5, 6)), (7, date(2011, 5, 6))),
    ((None, None), (None, date(2011, 5, 6)), (None, date(2011, 5, 6))),  # a date alone
    ((7, None), (None, date(2011, 5, 6)), (7, date(2011, 5, 6))),  # each fills the other
    ((None, date(2011, 5, 6)), (7, None), (7, date(2011, 5, 6))),
    ((7, date(2015, 1, 1)), (7, date(2011, 5, 6)), (7, date(2011, 5, 6))),  # the earlier
    ((7, date(2011, 5, 6)), (8, date(2015, 1, 1)), (7, date(2011, 5, 6))),
    ((7, None), (8, date(2015, 1, 1)), (8, date(2015, 1, 1))),  # a dated claim wins whole
    ((None, date(2011, 5, 6)), (8, date(2015, 1, 1)), (None, date(2011, 5, 6))),
    ((7, date(2011, 5, 6)), (8, date(2011, 5, 6)), (7, date(2011, 5, 6))),  # tie: kept
    ((7, None), (8, None), (7, None)),
])
def test_two_origins_combine_without_losing_a_date_or_a_medium(kept, added, expected):
    assert combine_origins(kept, added) == expected


def test_merging_keeps_a_first_met_date_that_has_no_medium(app, make_user, make_contact,
                                                            medium):
    """The flash says nothing was lost; a date-only origin was dropped."""
    user = make_user()
    keep = make_contact(user, name="Ann Keep", origin_medium="phone")
    drop = make_contact(user, name="Ann Drop", origin_date=date(2011, 5, 6))
    phone = medium("phone")
    with app.app_context():
        merge_contacts(db.session.get(User, user.id), db.session.get(Contact, keep.id),
                       db.session.get(Contact, drop.id))
        db.session.commit()
        kept = db.session.get(Contact, keep.id)
        assert (kept.origin_medium_id, kept.origin_date) == (phone.id, date(2011, 5, 6))


def test_repeated_rows_of_a_file_keep_a_first_met_date_without_a_medium(app, make_user):
    user = make_user()
    data = (b"Name,Email,First met date,First met on\r\n"
            b"Ann,ann@example.com,2011-05-06,\r\nAnn,ann@example.com,,Phone\r\n")
    run(app, user, ImportKind.CSV, data)
    ann = contacts_of(app, user)["Ann"]
    assert ann.origin_date == date(2011, 5, 6) and ann.origin_medium_id is not None


# --- merging: handles and what sync clients see ---------------------------------------


def test_merging_compares_handles_as_everywhere_else_and_keeps_a_label(app, make_user,
                                                                      make_contact, medium):
    user = make_user()
    keep = make_contact(user, name="Ann")
    drop = make_contact(user, name="Ann B.")
    email, own = medium("email"), medium("phone")
    with app.app_context():
        custom_values = [(keep.id, "STRASSE 1", ""), (drop.id, "Straße 1", ""),
                         (keep.id, "ann@example.com", ""), (drop.id, "Ann@Example.com", "home")]
        for contact_id, value, label in custom_values:
            db.session.add(ContactChannel(
                contact_id=contact_id, owner_id=user.id, label=label, value=value,
                medium_id=email.id if "@" in value else own.id))
        db.session.commit()
        merge_contacts(db.session.get(User, user.id), db.session.get(Contact, keep.id),
                       db.session.get(Contact, drop.id))
        db.session.commit()
    assert handles(contacts_of(app, user)["Ann"]) == [
        ("Email", "ann@example.com", "home"), ("Phone", "STRASSE 1", "")]


def test_merging_moves_updated_at_of_every_record_whose_json_it_changes(
        app, make_user, make_contact, make_interaction, make_reminder):
    """A sync client relies on updated_at: the merge rewrote participants, introductions
    and reminders with bulk statements that left it as it was."""
    user = make_user()
    keep, drop = make_contact(user, name="Ann"), make_contact(user, name="Ann B.")
    introduced = make_contact(user, name="Cat", introduced_by=drop)
    met = make_interaction(user, [drop])
    both = make_interaction(user, [keep, drop])
    reminder = make_reminder(user, contact=drop, due_at=utcnow() + timedelta(days=3))
    long_ago = utcnow() - timedelta(days=30)
    with app.app_context():
        for model, ids in ((Interaction, [met.id, both.id]), (Contact, [introduced.id]),
                           (Reminder, [reminder.id])):
            db.session.execute(model.__table__.update().where(model.id.in_(ids))
                               .values(updated_at=long_ago))
        db.session.commit()
        merge_contacts(db.session.get(User, user.id), db.session.get(Contact, keep.id),
                       db.session.get(Contact, drop.id))
        db.session.commit()
        moved = [db.session.get(model, i).updated_at for model, i in (
            (Interaction, met.id), (Interaction, both.id), (Contact, introduced.id),
            (Reminder, reminder.id))]
    assert all(when > long_ago + timedelta(days=29) for when in moved), moved


# --- a CSV export comes back as it was ------------------------------------------------


def test_a_csv_export_brings_back_a_lone_tag_with_a_semicolon_and_typed_apostrophes(
        app, make_user, make_contact):
    user, fresh = make_user(), make_user()
    make_contact(user, name="Ann", tags=["Q&A; misc"], notes="'=not a formula, a quote")
    make_contact(user, name="Bob", tags=["poetry", "verse"], notes="=SUM(A1)")
    with app.app_context():
        data = exporter.contacts_csv(db.session.get(User, user.id))
    cells = {row[0]: row for row in csv.reader(io.StringIO(data))}
    assert cells["Ann"][15] == "''=not a formula, a quote"  # still text in a spreadsheet

    run(app, fresh, ImportKind.CSV, data.encode())

    found = contacts_of(app, fresh)
    assert found["Ann"].tag_names == ["Q&A; misc"]
    assert found["Ann"].notes == "'=not a formula, a quote"
    assert sorted(found["Bob"].tag_names) == ["poetry", "verse"]
    assert found["Bob"].notes == "=SUM(A1)"


def test_a_vcard_21_note_with_quoted_printable_soft_line_breaks(app, make_user):
    """Older phones (Nokia, Android 2) write long notes and names in vCard 2.1's
    quoted-printable, breaking lines with a trailing "="; the card was refused."""
    user = make_user()
    data = (b"BEGIN:VCARD\r\nVERSION:2.1\r\nN:Nokia;Nils;;;\r\nFN:Nils Nokia\r\n"
            b"NOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:first line=0D=0A=\r\n"
            b"second line caf=C3=A9 and a long=\r\n tail\r\n"
            b"TEL;CELL:+44 20 7946 0958\r\nEND:VCARD\r\n")

    plan, result = run(app, user, ImportKind.VCARD, data)

    assert (plan.invalid, result.created) == ([], 1)
    nils = contacts_of(app, user)["Nils Nokia"]
    assert nils.notes == "first line\nsecond line café and a long tail"
    assert handles(nils) == [("Phone", "+442079460958", "")]


def test_a_quoted_printable_value_ending_the_card_does_not_swallow_the_next(app, make_user):
    user = make_user()
    data = (b"BEGIN:VCARD\r\nVERSION:2.1\r\nFN:Ann\r\n"
            b"NOTE;ENCODING=QUOTED-PRINTABLE:Hello=\r\nEND:VCARD\r\n"
            b"BEGIN:VCARD\r\nVERSION:2.1\r\nFN:Bob\r\nEND:VCARD\r\n")

    plan, result = run(app, user, ImportKind.VCARD, data)

    assert (plan.invalid, result.created) == ([], 2)
    assert contacts_of(app, user)["Ann"].notes == "Hello"


@pytest.mark.parametrize("text", ["Name,Notes\r\nAnna,„Viele Grüße und Spaß“\r\n",
                                  "Name,Company\r\nJosé,JOSÉ’S BAR – café\r\n"])
def test_windows_1252_text_whose_letters_look_like_utf8_still_imports(app, make_user, text):
    """"ß“" and "É’" in Windows-1252 happen to be UTF-8 characters: one such pair made the
    whole file count as UTF-8 with stray bytes, and it was refused."""
    user = make_user()
    _, result = run(app, user, ImportKind.CSV, text.encode("cp1252"))
    assert result.created == 1
    contact = next(iter(contacts_of(app, user).values()))
    assert text.split("\r\n")[1].split(",")[1] in (contact.notes, contact.company)
