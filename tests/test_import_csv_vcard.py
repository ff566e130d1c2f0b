"""Generic CSV (with a column mapping) and vCard 3.0/4.0 imports."""

from __future__ import annotations

import pytest
from fixtures.portability import (
    VCARD3_APPLE,
    VCARD3_APPLE_LABELS,
    VCARD3_APPLE_SOCIAL,
    VCARD3_GOOGLE,
    VCARD4,
    VCARD_BROKEN,
    VCARD_DAMAGED_PHOTOS,
    google_csv,
    google_csv_2023,
    outlook_csv,
    vcard_file,
)
from sqlalchemy import select

from crm.contacts.channels import normalise_channel
from crm.extensions import db
from crm.mediums.services import mediums_for
from crm.models import Contact, ContactChannel, ImportKind, Medium, User
from crm.portability import parsers
from crm.portability.importer import ImportRefused
from crm.portability.services import import_file


def run(app, user, kind, data, **kwargs):
    with app.app_context():
        plan, result = import_file(db.session.get(User, user.id), kind, "file", data, **kwargs)
        db.session.commit()
        return plan, result


def people(app, user):
    with app.app_context():
        return {
            c.name: {"company": c.company, "title": c.title, "notes": c.notes,
                     "tags": c.tag_names, "location": c.location,
                     "channels": sorted((ch.medium.name, ch.value, ch.label)
                                        for ch in c.channels)}
            for c in db.session.scalars(select(Contact).where(Contact.owner_id == user.id))
        }


def test_google_csv_columns_are_guessed():
    header, body = parsers.read_csv_table(google_csv().decode())
    mapping = parsers.guess_mapping(header, [(5, "LinkedIn", "linkedin"), (4, "Twitter", "twitter")])

    named = {header[i]: field for i, field in mapping.items()}
    assert named == {
        "Name": "name", "Given Name": "first_name", "Family Name": "last_name",
        "Group Membership": "tags", "E-mail 1 - Value": "email", "Phone 1 - Value": "phone",
        "Organization 1 - Name": "company", "Organization 1 - Title": "title",
        "Notes": "notes", "Twitter": "medium:4",
    }
    assert [line for line, _ in body] == [2, 4, 5]  # Ada's notes hold a line break


def test_csv_import_with_the_mapping(app, make_user, medium):
    user = make_user()
    header, _ = parsers.read_csv_table(google_csv().decode())
    mapping = parsers.guess_mapping(header, [(medium("twitter").id, "Twitter", "twitter")])

    plan, result = run(app, user, ImportKind.CSV, google_csv(), mapping=mapping,
                       skip_invalid=True)

    assert plan.invalid == [(5, "Phone “not a number”: That is not a phone number. Start with "
                                "+ and the country code, e.g. +44 20 7946 0958.")]
    assert result.created == 2
    found = people(app, user)
    ada = found["Ada Lovelace"]
    # Google's "E-mail 1 - Type" labels each address of its cell, without the "* ".
    assert ada["channels"] == [("Email", "ada.l@example.org", "Work"),
                               ("Email", "ada@example.com", "Work"),
                               ("Phone", "+442079460958", "Mobile"), ("Twitter", "@ada", "")]
    assert ada["tags"] == ["Friends", "Math"]  # Google's "* myContacts" is not a tag
    assert ada["notes"] == "Met at the Royal Society,\nloves poetry"
    assert (ada["company"], ada["title"]) == ("Analytical Engines", "Mathematician")
    assert "Grace Hopper" in found  # first and last name make the name


@pytest.mark.parametrize("encoding", ["cp1252", "utf-16"])
def test_an_outlook_export_imports_with_the_guessed_columns(app, make_user, encoding):
    # The display name "Ann Lee (ann@example.com)" was guessed an email, so every row was
    # invalid; "Title" (Dr.) took the title and "Job Title" was dropped.
    user = make_user()
    header, _ = parsers.read_csv_table(parsers.decode_upload(outlook_csv(encoding)))
    named = {header[i]: field for i, field in parsers.guess_mapping(header, []).items()}
    assert named["Job Title"] == "title" and named["E-mail 2 Address"] == "email"
    assert not {"Title", "E-mail Display Name", "E-mail 2 Display Name"} & set(named)

    plan, result = run(app, user, ImportKind.CSV, outlook_csv(encoding))

    assert plan.invalid == [] and result.created == 2
    found = people(app, user)
    francois = found["François Müller"]
    assert (francois["title"], francois["company"]) == ("Directeur financier",
                                                        "Société Générale")
    assert francois["channels"] == [("Email", "f.muller@example.fr", ""),
                                    ("Phone", "+33142142000", ""), ("Phone", "+33698765432", "")]
    assert francois["tags"] == ["Clients", "Finance"]
    assert francois["notes"] == "Préfère le café noir – “strong”."
    assert found["Søren Kierkegaard"]["channels"] == [("Email", "sk@example.org", ""),
                                                      ("Email", "soren@example.dk", "")]



def test_a_heading_naming_two_mediums_is_guessed_by_its_longest_name_in_any_order():
    """"Zoom URL" with mediums Zoom and URL was the medium that came first in the list (by
    name): the order of mediums decided. Now the longest name the heading starts or ends
    with, exactly one, whatever the order; two as long are no guess."""
    mediums = [(1, "Mastodon", "custom"), (2, "URL", "custom"), (3, "Zoom", "custom"),
               (4, "Work", "custom"), (5, "Chat", "custom")]
    header = ["Name", "Mastodon URL", "Zoom URL", "URL", "Work Chat"]
    for order in (mediums, list(reversed(mediums))):
        assert parsers.guess_mapping(header, order) == {
            0: "name", 1: "medium:1", 2: "medium:3", 3: "medium:2"}


def test_a_bare_title_column_is_still_the_title():
    assert parsers.guess_mapping(["Name", "Title"], []) == {0: "name", 1: "title"}
    assert parsers.guess_mapping(["Display Name", "Email"], []) == {0: "name", 1: "email"}


def test_google_csv_labels_of_2023_reach_the_handles(app, make_user):
    user = make_user()

    run(app, user, ImportKind.CSV, google_csv_2023())

    found = people(app, user)
    # "Middle Name" belongs to the name (it was left out: "John Tolkien"); a web page on
    # LinkedIn is the LinkedIn handle, as a vCard's URL is (it was left out).
    assert found["John Ronald Reuel Tolkien"]["channels"] == [
        ("Email", "jrrt@ox.example.ac.uk", "Work"), ("Email", "tolkien@example.com", "Home"),
        ("LinkedIn", "https://www.linkedin.com/in/jrr-tolkien", "Profile"),
        ("Phone", "+442079460958", "Mobile")]
    assert found["Zoë Ångström"]["channels"] == [("Email", "zoe@example.se", "Other"),
                                                ("Phone", "+4687906000", "Lab")]


def test_web_pages_of_a_csv_go_to_the_medium_of_their_site():
    text = ("Name,Website 1 - Label,Website 1 - Value,Website 2 - Value,Web Page\r\n"
            "Ada Lovelace,Profile,https://x.com/ada ::: https://ada.example.org,"
            "www.facebook.com/ada.lovelace,https://www.linkedin.com/in/ada-lovelace\r\n")
    header, _ = parsers.read_csv_table(text)
    mapping = parsers.guess_mapping(header, [])
    assert [mapping.get(i, "") for i in range(len(header))] == [
        "name", "", "website", "website", "website"]

    [ada] = parsers.parse_csv(text, mapping)

    assert ada.handles == [("key:twitter", "https://x.com/ada", "Profile"),
                           ("key:facebook", "www.facebook.com/ada.lovelace", ""),
                           ("key:linkedin", "https://www.linkedin.com/in/ada-lovelace", "")]
    # A page on no medium's site (a personal site) is kept in the notes: it was left out.
    assert ada.notes == "Web page (Profile): https://ada.example.org"


def test_a_vcards_web_page_on_no_mediums_site_is_kept_in_the_notes_once(app, make_user):
    """A blog's URL was left out of the contact; now a line of the notes, which a second
    import of the same file does not repeat."""
    user = make_user()
    card = (b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada Lovelace\r\nNOTE:Met at the Royal Society\r\n"
            b"URL:https://ada.blog\r\nitem1.URL:https\\://www.linkedin.com/in/ada-lovelace\r\n"
            b"END:VCARD\r\n")

    run(app, user, ImportKind.VCARD, card)
    _, again = run(app, user, ImportKind.VCARD, card)

    ada = people(app, user)["Ada Lovelace"]
    assert ada["notes"] == "Met at the Royal Society\n\nWeb page: https://ada.blog"
    assert ada["channels"] == [("LinkedIn", "https://www.linkedin.com/in/ada-lovelace", "")]
    assert again.unchanged == 1


@pytest.mark.parametrize("heading", ["Website", "URL", "Home page"])
def test_a_column_named_after_a_medium_of_yours_is_that_medium_not_a_web_page(
        app, make_user, make_medium, heading):
    # Guessed as a web page, it kept only LinkedIn, Twitter and Facebook links: the rest,
    # handles on the user's own medium of that name, were dropped without a word.
    user = make_user()
    own = make_medium(user, heading.upper())  # the same name as the app compares names
    make_medium(user, "Blog")
    data = (f"Name,{heading},Web Page,Website 1 - Value\r\n"
            "Ada Lovelace,https://ada.example.org,https://x.com/ada,https://ada.blog\r\n")
    header, _ = parsers.read_csv_table(data)
    with app.app_context():
        mediums = [(m.id, m.name, m.key) for m in mediums_for(db.session.get(User, user.id))]
    mapping = parsers.guess_mapping(header, mediums)
    # Only the heading that is a medium's name changes: the others stay web pages.
    assert mapping == {0: "name", 1: f"medium:{own.id}", 2: "website", 3: "website"}

    run(app, user, ImportKind.CSV, data.encode(), mapping=mapping)

    assert people(app, user)["Ada Lovelace"]["channels"] == sorted([
        (heading.upper(), "https://ada.example.org", ""), ("Twitter", "@ada", "")])


def test_apple_item_labels_reach_the_handles(app, make_user):
    user = make_user()

    run(app, user, ImportKind.VCARD, vcard_file(VCARD3_APPLE_LABELS))

    assert people(app, user)["Zoë Ångström"]["channels"] == [
        ("Email", "zoe.private@example.com", "Old uni"), ("Email", "zoe@kth.example.se", "Other"),
        ("LinkedIn", "https://www.linkedin.com/in/zoe-angstrom", ""),
        ("Phone", "+46701234567", ""), ("Phone", "+4687906000", "Lab")]


def test_csv_with_semicolons_and_a_handle_column(app, make_user, medium, make_medium):
    user = make_user()
    mastodon = make_medium(user, "Mastodon")
    data = b'Full name;Mastodon;Tags\nAda Lovelace;@ada@hachyderm.io;"math; poetry"\n'
    header, _ = parsers.read_csv_table(data.decode())
    mapping = parsers.guess_mapping(header, [(mastodon.id, "Mastodon", None)])
    assert mapping == {0: "name", 1: f"medium:{mastodon.id}", 2: "tags"}

    run(app, user, ImportKind.CSV, data, mapping=mapping)

    ada = people(app, user)["Ada Lovelace"]
    assert ada["channels"] == [("Mastodon", "@ada@hachyderm.io", "")]
    assert sorted(ada["tags"]) == ["math", "poetry"]


def test_apple_social_profiles_by_user_name_make_their_links(app, make_user):
    # "x-apple:jane-doe-123" as a LinkedIn link made Jane's whole card invalid.
    user = make_user()

    plan, result = run(app, user, ImportKind.VCARD, vcard_file(VCARD3_APPLE_SOCIAL))

    assert plan.invalid == [] and result.created == 2
    found = people(app, user)
    assert found["Jane Doe"]["channels"] == [
        ("Email", "jane.doe@example.com", "work"),
        ("Facebook", "https://www.facebook.com/jane.doe", ""),
        ("LinkedIn", "https://www.linkedin.com/in/jane-doe-123", ""),
        ("Twitter", "@janedoe", "")]
    # A profile with neither a link nor a user name is left out; the card imports.
    assert found["Chidi Okafor"]["channels"] == [
        ("Facebook", "https://www.facebook.com/chidi.okafor", ""),
        ("Phone", "+447911123456", "")]


def test_a_damaged_photo_leaves_the_card_readable(app, make_user):
    # Rapport keeps no photos; a damaged one made vobject refuse the whole card.
    user = make_user()

    plan, result = run(app, user, ImportKind.VCARD, vcard_file(VCARD_DAMAGED_PHOTOS))

    assert plan.invalid == [] and result.created == 2
    found = people(app, user)
    assert (found["Card Broken"]["title"], found["Card Broken"]["channels"]) == (
        "Archivist", [("Email", "broken@example.com", "")])
    assert (found["Ann Lee"]["company"], found["Ann Lee"]["channels"]) == (
        "Initech", [("Phone", "+447911123456", "")])


def test_vcards_from_google_apple_and_vcard4(app, make_user):
    user = make_user()

    plan, result = run(app, user, ImportKind.VCARD,
                       vcard_file(VCARD3_GOOGLE, VCARD3_APPLE, VCARD4))

    assert (result.created, plan.invalid) == (3, [])
    found = people(app, user)
    ada = found["Ada Lovelace"]
    assert ada["company"] == "Analytical Engines, Ltd"
    assert ada["notes"] == ("First programmer. This note is long enough that Google folds it "
                            "over more than one line, with an escaped comma.")
    assert ada["tags"] == ["Math"]
    assert ada["channels"] == [("Email", "ada@example.com", "work"),
                               ("LinkedIn", "https://www.linkedin.com/in/ada-lovelace", ""),
                               ("Phone", "+442079460958", "")]
    zoe = found["Zoë Ångström"]
    assert (zoe["company"], zoe["title"]) == ("Ørsted A/S", "Ingeniør")
    assert zoe["channels"] == [("Email", "zoe@example.dk", "home"),
                               ("LinkedIn", "https://www.linkedin.com/in/zoe-angstrom", ""),
                               ("Phone", "+4532123456", ""), ("Skype", "zoe.angstrom", ""),
                               ("Twitter", "@zoe_a", "")]
    grace = found["Grace Hopper"]
    assert grace["tags"] == ["COBOL", "Navy"]
    assert grace["notes"] == 'Coined "debugging".\nSecond line.'
    assert ("Phone", "+12025550101", "") in grace["channels"]


def test_a_first_met_date_later_than_today_is_an_invalid_row(app, make_user, count):
    """Found in review: the form and the API refuse it, an import kept 5 May 2099."""
    user = make_user()
    data = b"Name,First met date\nAda,2099-05-05\nGrace,2020-01-02\n"

    with app.app_context(), pytest.raises(ImportRefused) as refused:
        import_file(db.session.get(User, user.id), ImportKind.CSV, "f.csv", data)
    assert refused.value.invalid == [(2, "First met date 2099-05-05 is later than today.")]
    assert count(Contact) == 0


def test_a_bad_card_stops_the_import_unless_skipped(app, make_user, count):
    user = make_user()
    data = vcard_file(VCARD3_GOOGLE, VCARD_BROKEN)

    with app.app_context(), pytest.raises(ImportRefused) as refused:
        import_file(db.session.get(User, user.id), ImportKind.VCARD, "f.vcf", data)
    assert refused.value.invalid == [(2, "Email “not-an-email”: That is not a valid email "
                                         "address: An email address must have an @-sign.")]
    assert count(Contact) == 0

    plan, result = run(app, user, ImportKind.VCARD, data, skip_invalid=True)
    assert (result.created, result.skipped) == (1, 1)


def test_an_unreadable_card_is_an_invalid_row_and_the_others_still_read():
    text = VCARD3_GOOGLE + "BEGIN:VCARD\r\nVERSION:3.0\r\nthis is not a property\r\nEND:VCARD\r\n"
    rows = parsers.parse_vcards(text)
    assert rows[0].name == "Ada Lovelace" and rows[0].error is None
    assert rows[1].error.startswith("The card starting on line 15 cannot be read")


def test_a_file_without_cards_is_refused():
    with pytest.raises(parsers.FileError):
        parsers.parse_vcards("Name,Email\n")


def test_reimporting_vcards_matches_instead_of_duplicating(app, make_user, count):
    user = make_user()
    data = vcard_file(VCARD3_GOOGLE, VCARD3_APPLE, VCARD4)
    run(app, user, ImportKind.VCARD, data)

    plan, result = run(app, user, ImportKind.VCARD, data)

    assert (result.created, result.unchanged) == (0, 3)
    assert count(Contact, Contact.owner_id == user.id) == 3


def test_a_medium_named_in_a_file_is_created_once(app, make_user, count):
    user = make_user()
    card = ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada\r\n"
            "X-RAPPORT-CHANNEL;X-MEDIUM=Mastodon:@ada@hachyderm.io\r\nEND:VCARD\r\n")

    plan, result = run(app, user, ImportKind.VCARD, (card + card.replace("Ada", "Bob")).encode())

    assert result.mediums_created == ["Mastodon"]
    assert count(Medium, Medium.owner_id == user.id) == 1


OFFICE = (b"Name,Email,Phone,Notes\n"
          b"Bob Office,bob@example.com,+44 20 7946 0958,Likes chess\n"
          b"Carol Office,carol@example.com,+44 20 7946 0958,Runs marathons\n")


def test_two_people_sharing_an_office_phone_stay_two(app, make_user):
    user = make_user()
    _, result = run(app, user, ImportKind.CSV, OFFICE)
    assert (result.created, result.repeated_rows) == (2, 0)
    found = people(app, user)
    assert found["Carol Office"]["notes"] == "Runs marathons"
    assert ("Email", "carol@example.com", "") in found["Carol Office"]["channels"]
    assert ("Email", "carol@example.com", "") not in found["Bob Office"]["channels"]

    before = people(app, user)
    _, again = run(app, user, ImportKind.CSV, OFFICE)  # matched by email and name
    assert (again.created, people(app, user)) == (0, before)



SMITHS = (b"Name,Company,Notes\n"
          b"John Smith,Bakery,Makes sourdough\n"
          b"John Smith,Bank,Manages loans\n")


def test_two_people_of_one_name_at_different_companies_stay_two(app, make_user):
    user = make_user()
    _, result = run(app, user, ImportKind.CSV, SMITHS)
    assert (result.created, result.repeated_rows) == (2, 0)
    with app.app_context():
        smiths = sorted((c.company, c.notes) for c in db.session.scalars(
            select(Contact).where(Contact.owner_id == user.id)))
    assert smiths == [("Bakery", "Makes sourdough"), ("Bank", "Manages loans")]

    _, again = run(app, user, ImportKind.CSV, SMITHS)  # each matches its own
    assert (again.created, again.updated) == (0, 0)


def with_handles(app, make_contact, user, name, *handles):
    """A contact of the user holding (medium, value) handles, stored as the app stores them."""
    contact = make_contact(user, name=name)
    with app.app_context():
        db.session.add_all(ContactChannel(contact_id=contact.id, medium_id=medium.id,
                                          value=normalise_channel(medium, value))
                           for medium, value in handles)
        db.session.commit()
    return contact


def handles_csv(*rows: tuple[str, str]) -> bytes:
    lines = ["Name,Other handles"] + [f'{name},"{pairs}"' for name, pairs in rows]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("key, value, alone", [
    ("skype", "ada.king1", True), ("twitter", "@ada", True), ("email", "ada@example.com", True),
    ("linkedin", "https://www.linkedin.com/in/ada", True),
    ("facebook", "https://www.facebook.com/ada", True),
    ("video_call", "https://meet.example.com/ada", True), ("Mastodon", "@ada@hachyderm.io", True),
    ("phone", "+442079460958", False), ("text_message", "+442079460958", False),
    ("WhatsApp", "+44 20 7946 0958", False), ("face_to_face", "Royal Society", False),
])
def test_the_form_of_a_handle_decides_whether_it_matches_alone_not_its_medium(
        app, make_user, make_contact, medium, make_medium, key, value, alone):
    user = make_user()
    on = make_medium(user, key) if key[0].isupper() else medium(key)
    ada = with_handles(app, make_contact, user, "Ada Lovelace", (on, value))

    # A married name: the same person by an email or a profile link; a phone number can be
    # an office line, a free-text place anyone's, so those need the names to agree.
    king, _ = run(app, user, ImportKind.CSV, handles_csv(("Ada King", f"{on.name}: {value}")))
    same, _ = run(app, user, ImportKind.CSV, handles_csv(("ada lovelace", f"{on.name}: {value}")))

    assert [p.existing_id for p in king.matched] == ([ada.id] if alone else [])
    assert [p.existing_id for p in same.matched] == [ada.id]


def test_a_handle_in_other_case_is_the_one_the_contact_has(app, make_user, make_contact,
                                                           medium):
    """Found in review: the contact form compared handles case folded, imports lower-cased
    them, so "CAFÉ STRASSE" was a second handle beside "Café Straße" on import only."""
    user = make_user()
    ada = with_handles(app, make_contact, user, "Ada", (medium("face_to_face"), "Café Straße"))
    plan, _ = run(app, user, ImportKind.CSV, handles_csv(("Ada", "Face-to-face: CAFÉ STRASSE")))
    assert [p.existing_id for p in plan.matched] == [ada.id]
    assert people(app, user)["Ada"]["channels"] == [("Face-to-face", "Café Straße", "")]


def test_a_medium_named_in_other_case_splits_its_handle_where_written(
        app, make_user, make_medium):
    """Found by the medium audit: "STRASSE: @ada" for a medium "Straße" gave the handle
    ": @ada" (the text was cut at the folded name's length)."""
    user = make_user()
    make_medium(user, "Straße")
    plan, _ = run(app, user, ImportKind.CSV, handles_csv(("Ada", "STRASSE: @ada; straße: @bo")))
    [ada] = plan.new
    assert sorted(value for _, value, _ in ada.channels) == ["@ada", "@bo"]


@pytest.mark.parametrize("swap", [False, True])
def test_handles_of_two_contacts_pick_one_whatever_the_mediums(
        app, make_user, make_contact, medium, swap):
    a, b = (medium("skype"), medium("twitter")) if swap else (medium("twitter"), medium("skype"))
    row = ("Ada", f"{a.name}: handle_one; {b.name}: handle_two; Email: most@example.com")
    found = []
    for most in (None, "most@example.com"):
        user = make_user()
        older = with_handles(app, make_contact, user, "Older", (a, "handle_one"))
        newer = with_handles(app, make_contact, user, "Newer", (b, "handle_two"),
                             *([(medium("email"), most)] if most else []))
        plan, _ = run(app, user, ImportKind.CSV, handles_csv(row))
        found.append([{older.id: "older", newer.id: "newer"}[p.existing_id]
                      for p in plan.matched])

    # As many of the row's handles each: the older contact, whichever medium its handle is
    # on; more of them on one: that one.
    assert found == [["older"], ["newer"]]


def test_an_earlier_row_is_picked_by_its_handles_not_their_mediums(app, make_user, medium):
    user = make_user()
    plan, result = run(app, user, ImportKind.CSV, handles_csv(
        ("First", "Skype: handle_one"), ("Second", "Twitter: handle_two"),
        ("Third", "Twitter: handle_two; Skype: handle_one")))

    assert result.repeated_rows == 1
    assert [p.rows for p in plan.new] == [[2, 4], [3]]


def test_imported_handles_keep_their_contacts_owner(app, make_user, make_contact):
    """Each handle an import writes (Core inserts, not the ORM) carries its contact's owner:
    a search reads only the user's own handles."""
    from sqlalchemy import text

    ada, bob = make_user(), make_user()
    make_contact(bob, name="Bob's own")
    run(app, ada, ImportKind.VCARD, vcard_file(VCARD3_GOOGLE, VCARD4))
    run(app, bob, ImportKind.VCARD, vcard_file(VCARD3_GOOGLE, VCARD3_APPLE))
    with app.app_context():
        rows = db.session.execute(text(
            "SELECT ch.owner_id, c.owner_id FROM contact_channels ch "
            "JOIN contacts c ON c.id = ch.contact_id")).all()
    assert rows and all(mine == theirs for mine, theirs in rows), rows
    assert {theirs for _, theirs in rows} == {ada.id, bob.id}
