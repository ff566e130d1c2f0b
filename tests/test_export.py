"""Exports: CSV, a vCard round trip into a fresh account, and a complete JSON export."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from crm.extensions import db
from crm.models import (
    ApiToken,
    CoachingNote,
    CoachLink,
    CoachLinkStatus,
    Contact,
    ContactChannel,
    ImportKind,
    User,
)
from crm.portability.services import import_file

HANDLES = [
    ("email", "ada@example.com", "work"),
    ("email", "ada.l@example.org", ""),
    ("phone", "+442079460958", "Mobile"),
    ("text_message", "+442079460959", ""),
    ("twitter", "@ada", ""),
    ("linkedin", "https://www.linkedin.com/in/ada-lovelace", "profile"),
    ("facebook", "https://www.facebook.com/ada.lovelace", ""),
    ("skype", "ada.lovelace", ""),
    ("video_call", "https://meet.example.com/ada", "weekly room"),
    ("face_to_face", "Royal Society, London", ""),
]


def network(app, make_user, make_contact, make_medium, medium):
    """A user whose contacts use every built-in medium and one of their own."""
    user = make_user(email="ada-owner@example.com")
    mastodon = make_medium(user, "Mastodon; the fediverse")
    solo = make_contact(user, name="Solo", origin_date=date(2019, 5, 4))
    ada = make_contact(user, name="Ada Lovelace", company="Analytical Engines, Ltd",
                       title="Mathematician", tags="math, poetry; verse",
                       notes="Line one, with a comma\nLine two; semicolon\\backslash",
                       origin_medium="linkedin", origin_date=date(2010, 11, 22),
                       location="London; Marylebone, UK", time_zone="Europe/London",
                       keep_in_touch_days=30, introduced_by=solo)
    zoe = make_contact(user, name="Zoë Ångström", company="Ørsted A/S",
                       origin_medium=mastodon, origin_date=None, introduced_by=ada,
                       time_zone="Pacific/Chatham")
    with app.app_context():
        for key, value, label in HANDLES:
            db.session.add(ContactChannel(contact_id=ada.id, medium_id=medium(key).id,
                                          value=value, label=label))
        db.session.add(ContactChannel(contact_id=zoe.id, medium_id=mastodon.id,
                                      value="@zoe@hachyderm.io", label="main"))
        db.session.commit()
    return user


def snapshot_contacts(app, user_id):
    with app.app_context():
        out = {}
        for c in db.session.scalars(select(Contact).where(Contact.owner_id == user_id)):
            out[c.name] = {
                "company": c.company, "title": c.title, "notes": c.notes,
                "location": c.location, "time_zone": c.time_zone,
                "keep_in_touch_days": c.keep_in_touch_days,
                "introduced_by": c.introduced_by.name if c.introduced_by else None,
                "tags": sorted(c.tag_names),
                "origin": (c.origin_medium.name if c.origin_medium else None, c.origin_date),
                "channels": sorted((ch.medium.name, ch.value, ch.label) for ch in c.channels),
            }
        return out


def test_vcard_export_imports_into_a_fresh_account_unchanged(
        app, client, auth, make_user, make_contact, make_medium, medium):
    owner = network(app, make_user, make_contact, make_medium, medium)
    auth.login_as(owner)

    response = client.get("/export/contacts.vcf")

    assert response.status_code == 200
    assert response.mimetype == "text/vcard"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.data.decode()
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))  # folded
    fresh = make_user(email="fresh@example.com")
    with app.app_context():
        plan, result = import_file(db.session.get(User, fresh.id), ImportKind.VCARD,
                                   "export.vcf", response.data)
        db.session.commit()
    assert (result.created, plan.invalid, result.mediums_created) == (
        3, [], ["Mastodon; the fediverse"])
    assert snapshot_contacts(app, fresh.id) == snapshot_contacts(app, owner.id)


def test_csv_export(app, client, auth, make_user, make_contact, make_medium, medium):
    owner = network(app, make_user, make_contact, make_medium, medium)
    auth.login_as(owner)

    response = client.get("/export/contacts.csv")

    rows = list(csv.DictReader(io.StringIO(response.data.decode())))
    assert [r["Name"] for r in rows] == ["Ada Lovelace", "Solo", "Zoë Ångström"]
    ada = rows[0]
    assert ada["Email"] == "ada@example.com; ada.l@example.org"
    assert ada["Phone"] == "'+442079460958"  # shown as text by spreadsheets
    assert ada["First met on"] == "LinkedIn" and ada["First met date"] == "2010-11-22"
    assert "Twitter: @ada" in ada["Other handles"]
    assert ada["Notes"] == "Line one, with a comma\nLine two; semicolon\\backslash"


def _owned_rows(app, user_id) -> dict[str, set[tuple]]:
    """Every row that is the user's: it points at the user, or at a row that is theirs."""
    with app.app_context():
        tables = db.metadata.sorted_tables
        rows = {t.name: db.session.execute(select(t)).mappings().all() for t in tables}
        owned: dict[str, set[tuple]] = {"users": {(user_id,)}}
        changed = True
        while changed:
            changed = False
            for table in tables:
                if table.name == "users":
                    continue
                keys = owned.setdefault(table.name, set())
                pk = [c.name for c in table.primary_key.columns]
                for row in rows[table.name]:
                    key = tuple(row[c] for c in pk)
                    if key in keys:
                        continue
                    for fk in table.foreign_keys:
                        target = owned.get(fk.column.table.name, set())
                        if (row[fk.parent.name],) in target:
                            keys.add(key)
                            changed = True
                            break
        return owned


def test_json_export_holds_every_row_the_user_owns_and_nothing_else(
        app, client, auth, make_user, make_contact, make_medium, medium, make_interaction,
        make_reminder):
    owner = network(app, make_user, make_contact, make_medium, medium)
    other = make_user(email="other@example.com")
    coach = make_user(email="coach@example.com")
    theirs = make_contact(other, name="Not yours", tags="private")
    make_interaction(other, theirs)
    with app.app_context():
        ada = db.session.scalar(select(Contact).where(Contact.name == "Ada Lovelace"))
        solo = db.session.scalar(select(Contact).where(Contact.name == "Solo"))
        ada_id, solo_id = ada.id, solo.id
        link = CoachLink(client_id=owner.id, coach_id=coach.id, coach_email=coach.email,
                         status=CoachLinkStatus.ACTIVE)
        as_coach = CoachLink(client_id=other.id, coach_id=owner.id, coach_email=owner.email,
                             status=CoachLinkStatus.ACTIVE)
        db.session.add_all([link, as_coach])
        db.session.flush()
        db.session.add(CoachingNote(link_id=link.id, coach_id=coach.id, client_id=owner.id,
                                    body="Call Ada"))
        db.session.add(ApiToken(user_id=owner.id, name="script", token_hash="h" * 64,
                                prefix="rap_abc"))
        db.session.commit()
    ada_obj = type("C", (), {"id": ada_id})
    make_interaction(owner, [ada_obj, type("C", (), {"id": solo_id})], medium_key="skype",
                     occurred_at=datetime(2025, 1, 2, tzinfo=UTC))
    make_reminder(owner, local_date=date(2030, 1, 1), contact=ada_obj)
    auth.login_as(owner)
    client.post("/import", data={"kind": "vcard", "file": (io.BytesIO(b"BEGIN:VCARD\r\nVERSION:3.0"
                b"\r\nFN:X\r\nEND:VCARD\r\n"), "x.vcf")}, content_type="multipart/form-data")

    response = client.get("/export/rapport.json")

    assert response.status_code == 200 and response.mimetype == "application/json"
    export = json.loads(response.data)
    assert export["format"] == "rapport-export" and export["user_id"] == owner.id
    owned = _owned_rows(app, owner.id)
    with app.app_context():
        for table in db.metadata.sorted_tables:
            pk = [c.name for c in table.primary_key.columns]
            exported = {tuple(r[c] for c in pk) for r in export["tables"].get(table.name, [])}
            assert exported == owned.get(table.name, set()), table.name
    # Something of every kind was there to export, and no secret left.
    for name in ("contacts", "contact_channels", "tags", "contact_tags", "mediums",
                 "interactions", "interaction_participants", "reminders", "coach_links",
                 "coaching_notes", "api_tokens", "import_jobs"):
        assert export["tables"][name], name
    text = response.data.decode()
    assert "password_hash" not in text and "token_hash" not in text
    assert "Not yours" not in text


def test_reimporting_ones_own_vcard_adds_nothing_to_notes_with_line_breaks(
        app, client, auth, make_user, make_contact, medium):
    owner = make_user(email="owner@example.com")
    make_contact(owner, name="Zoë Ångström", notes="Met at the fjord.\r\n\r\nLikes tea.\r\nNo milk.")
    auth.login_as(owner)
    before = snapshot_contacts(app, owner.id)
    exported = client.get("/export/contacts.vcf").data
    for _ in range(2):
        with app.app_context():
            import_file(db.session.get(User, owner.id), ImportKind.VCARD, "mine.vcf", exported)
            db.session.commit()
    assert snapshot_contacts(app, owner.id) == before


def _flags(app, user_id):
    with app.app_context():
        return {c.name: (c.is_private, c.is_archived) for c in db.session.scalars(
            select(Contact).where(Contact.owner_id == user_id))}


@pytest.mark.parametrize("kind, path", [(ImportKind.VCARD, "/export/contacts.vcf"),
                                        (ImportKind.CSV, "/export/contacts.csv")])
def test_private_and_archived_contacts_come_back_so(app, client, auth, make_user,
                                                     make_contact, kind, path):
    owner = make_user(email="owner@example.com")
    make_contact(owner, name="Shared Sam", notes="shared")
    make_contact(owner, name="Private Pat", is_private=True, notes="secret")
    archived = make_contact(owner, name="Archived Ann")
    auth.login_as(owner)
    assert client.post(f"/contacts/{archived.id}/archive").status_code == 302
    exported = client.get(path).data
    fresh = make_user(email="fresh@example.com")

    with app.app_context():
        import_file(db.session.get(User, fresh.id), kind, "mine", exported)
        db.session.commit()

    assert _flags(app, fresh.id) == {"Shared Sam": (False, False),
                                     "Private Pat": (True, False),
                                     "Archived Ann": (False, True)}


def test_an_import_makes_a_contact_private_never_public(app, make_user, make_contact):
    owner = make_user(email="owner@example.com")
    sam = make_contact(owner, name="Sam Shared")
    pat = make_contact(owner, name="Pat Private", is_private=True)
    data = (b"Name,Private\nSam Shared,yes\nPat Private,no\n")
    with app.app_context():
        import_file(db.session.get(User, owner.id), ImportKind.CSV, "flags.csv", data)
        db.session.commit()
    flags = _flags(app, owner.id)
    assert (flags[sam.name][0], flags[pat.name][0]) == (True, True)


def test_csv_export_cells_never_run_as_formulas_and_come_back_as_written(
        app, client, auth, make_user, make_contact, medium):
    owner = make_user(email="owner@example.com")
    eve = make_contact(owner, name="Eve", company="=HYPERLINK(\"http://evil\",\"x\")",
                       notes="- first point\n- second", title="@admin")
    with app.app_context():
        db.session.add(ContactChannel(contact_id=eve.id, medium_id=medium("phone").id,
                                      value="+442079460958"))
        db.session.commit()
    auth.login_as(owner)
    exported = client.get("/export/contacts.csv").data
    [row] = list(csv.DictReader(io.StringIO(exported.decode())))
    assert (row["Company"], row["Title"], row["Phone"], row["Notes"]) == (
        "'=HYPERLINK(\"http://evil\",\"x\")", "'@admin", "'+442079460958",
        "'- first point\n- second")

    fresh = make_user(email="fresh@example.com")
    with app.app_context():
        import_file(db.session.get(User, fresh.id), ImportKind.CSV, "mine.csv", exported)
        db.session.commit()
        eve = db.session.scalar(select(Contact).where(Contact.owner_id == fresh.id))
        assert (eve.company, eve.title, eve.notes) == (
            "=HYPERLINK(\"http://evil\",\"x\")", "@admin", "- first point\n- second")
        assert [ch.value for ch in eve.channels] == ["+442079460958"]


def test_quotes_and_carets_in_medium_names_and_labels_survive_the_vcard(
        app, client, auth, make_user, make_contact, make_medium, count):
    from crm.models import Medium

    owner = make_user(email="owner@example.com")
    hub = make_medium(owner, 'The "Hub", Berlin ^2')
    ada = make_contact(owner, name="Ada Lovelace")
    with app.app_context():
        db.session.add(ContactChannel(contact_id=ada.id, medium_id=hub.id, value="ada-desk",
                                      label='home "x"'))
        db.session.commit()
    auth.login_as(owner)
    exported = client.get("/export/contacts.vcf").data
    assert b"^'" in exported  # RFC 6868: a parameter cannot hold a double quote

    fresh = make_user(email="fresh@example.com")
    for user in (fresh, owner):  # a fresh account, then the same one again
        with app.app_context():
            import_file(db.session.get(User, user.id), ImportKind.VCARD, "mine.vcf", exported)
            db.session.commit()
    assert snapshot_contacts(app, fresh.id) == snapshot_contacts(app, owner.id)
    assert count(Medium, Medium.owner_id == owner.id) == 1


def _keep_in_touch(app, user_id):
    from crm.models import Reminder, ReminderKind

    with app.app_context():
        return sorted(db.session.scalars(
            select(Contact.name).join(Reminder, Reminder.contact_id == Contact.id).where(
                Reminder.owner_id == user_id, Reminder.kind == ReminderKind.KEEP_IN_TOUCH)))


def test_csv_export_imports_into_a_fresh_account_with_every_detail(
        app, client, auth, make_user, make_contact, make_medium, medium):
    """The CSV's own headings map themselves; handle labels, which the format has no room
    for, are all that differs from the vCard round trip."""
    owner = network(app, make_user, make_contact, make_medium, medium)
    auth.login_as(owner)
    exported = client.get("/export/contacts.csv").data
    fresh = make_user(email="fresh@example.com")

    with app.app_context():
        plan, result = import_file(db.session.get(User, fresh.id), ImportKind.CSV,
                                   "contacts.csv", exported)
        db.session.commit()

    assert (result.created, plan.invalid, result.mediums_created) == (
        3, [], ["Mastodon; the fediverse"])
    want = snapshot_contacts(app, owner.id)
    for details in want.values():
        details["channels"] = sorted((m, v, "") for m, v, _ in details["channels"])
    assert snapshot_contacts(app, fresh.id) == want
    assert _keep_in_touch(app, fresh.id) == ["Ada Lovelace"]


@pytest.mark.parametrize("kind, path", [(ImportKind.VCARD, "/export/contacts.vcf"),
                                        (ImportKind.CSV, "/export/contacts.csv")])
def test_reimporting_ones_own_export_changes_nothing(
        app, client, auth, make_user, make_contact, make_medium, medium, kind, path):
    owner = network(app, make_user, make_contact, make_medium, medium)
    auth.login_as(owner)
    before = snapshot_contacts(app, owner.id)

    with app.app_context():
        _, result = import_file(db.session.get(User, owner.id), kind, "mine",
                                client.get(path).data)
        db.session.commit()

    assert (result.created, result.updated, result.unchanged) == (0, 0, 3)
    assert snapshot_contacts(app, owner.id) == before


def test_an_import_fills_missing_details_and_links_introducers_by_name(app, make_user,
                                                                       make_contact):
    """A matched contact gains a time zone, cadence and introducer it lacks, never loses
    its own; the introducer may be a row of the same file; a name two contacts share, or
    one that would close a circle of introductions, links nothing."""
    owner = make_user(email="owner@example.com")
    ann = make_contact(owner, name="Ann Able", time_zone="Asia/Tokyo")
    make_contact(owner, name="Bob Twin", company="Bakery")
    make_contact(owner, name="Bob Twin", company="Bank")
    data = (b"Name,Time zone,Keep in touch (days),Introduced by,First met date\n"
            b"Ann Able,Europe/Paris,14,Cleo New,2001-02-03\n"
            b"Cleo New,,,Ann Able,\n"
            b"Dan Doe,America/New_York,,Bob Twin,\n")

    with app.app_context():
        plan, result = import_file(db.session.get(User, owner.id), ImportKind.CSV,
                                   "people.csv", data)
        db.session.commit()
        contacts = {c.name: c for c in db.session.scalars(
            select(Contact).where(Contact.owner_id == owner.id))}
        got = {name: (c.time_zone, c.keep_in_touch_days,
                      c.introduced_by.name if c.introduced_by else None, c.origin_date)
               for name, c in contacts.items() if name != "Bob Twin"}

    assert (plan.invalid, result.created, result.updated) == ([], 2, 1)
    assert got == {
        "Ann Able": ("Asia/Tokyo", 14, "Cleo New", date(2001, 2, 3)),
        "Cleo New": (None, None, None, None),  # Ann is introduced by Cleo: no circle
        "Dan Doe": ("America/New_York", None, None, None),  # two Bob Twins
    }
    assert contacts["Ann Able"].id == ann.id
    assert _keep_in_touch(app, owner.id) == ["Ann Able"]


def test_bad_details_in_a_file_are_reported_by_row_and_nothing_is_imported(app, make_user,
                                                                           count):
    owner = make_user(email="owner@example.com")
    data = (b"Name,Time zone,Keep in touch (days),First met date,Other handles\n"
            b"Good Row,Europe/Berlin,30,2020-01-02,Mastodon: @good@example.social\n"
            b"Bad Zone,Mars/Olympus,,,\n"
            b"Bad Cadence,,0,,\n"
            b"Huge Cadence,,99999999999999999999,,\n"
            b"Bad Date,,,31 Foo 2020,\n"
            b"Old Date,,,1066-10-14,\n"
            b"Bad Handles,,,,just a handle\n")

    from crm.portability.importer import ImportRefused

    with app.app_context(), pytest.raises(ImportRefused) as refused:
        import_file(db.session.get(User, owner.id), ImportKind.CSV, "bad.csv", data)
    reasons = dict(refused.value.invalid)
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8]
    assert "Mars/Olympus" in reasons[3] and "Europe/Berlin" in reasons[3]
    assert "between 1 and 3650" in reasons[4] and "between 1 and 3650" in reasons[5]
    assert "31 Foo 2020" in reasons[6]
    assert "between 1900 and 2200" in reasons[7]
    assert "Mastodon: @ann@example.social" in reasons[8]
    assert count(Contact, Contact.owner_id == owner.id) == 0


def test_export_files_are_named_with_the_users_date(client, auth, make_user):
    """At 09:00 on New Year's Day in Auckland it is still 31 December in UTC."""
    import time_machine

    user = make_user(email="kiwi@example.com", time_zone="Pacific/Auckland")
    with time_machine.travel(datetime(2025, 12, 31, 20, 0, tzinfo=UTC), tick=False):
        auth.login_as(user)
        names = [client.get(path).headers["Content-Disposition"] for path in (
            "/export/contacts.csv", "/export/contacts.vcf", "/export/rapport.json")]
    assert [n.split('"')[1] for n in names] == [
        "rapport-contacts-2026-01-01.csv", "rapport-contacts-2026-01-01.vcf",
        "rapport-export-2026-01-01.json"]
