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
    ada = make_contact(user, name="Ada Lovelace", company="Analytical Engines, Ltd",
                       title="Mathematician", tags="math, poetry; verse",
                       notes="Line one, with a comma\nLine two; semicolon\\backslash",
                       origin_medium="linkedin", origin_date=date(2010, 11, 22))
    zoe = make_contact(user, name="Zoë Ångström", company="Ørsted A/S",
                       origin_medium=mastodon, origin_date=None)
    make_contact(user, name="Solo")
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
