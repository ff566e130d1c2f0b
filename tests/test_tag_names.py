"""One rule for what a tag's name may be, whichever way the tag comes in: the tags page, the
contact form, the API's contact tags and the imports all refuse a comma and line breaks,
tabs or invisible characters, each with the error it gives for other bad values."""

from __future__ import annotations

import io

import pytest
from fixtures.api_client import problem_of
from support import field_value, page_text

from crm.extensions import db
from crm.models import Contact, Tag

HIDDEN = "A tag's name cannot hold line breaks, tabs or invisible characters."
COMMA = "A tag's name cannot hold a comma: commas separate tags on a contact's form."
# Zero-width space, right-to-left override, a control character, a byte-order mark.
INVISIBLE = ["conf\u200b", "\u202econf", "conf\x01", "\ufeffconf"]


def shown(tag: str) -> str:
    """A tag as an error quotes it: what can be seen of it."""
    return "".join(ch for ch in tag if ch.isprintable())


def stored_tags(app) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(db.select(Tag.name)))


# --- the contact form -------------------------------------------------------------------


@pytest.mark.parametrize("tag", INVISIBLE + ["conf\t2025"])
def test_the_contact_form_refuses_a_tag_the_tags_page_would(
        app, client, logged_in, count, tag):
    response = client.post("/contacts/new", data={"name": "Ada", "tags": f"design, {tag}"})

    assert response.status_code == 422
    assert f"Tag “{shown(tag)}”: {HIDDEN}" in page_text(response.data)
    assert field_value(response.data, "tags") == f"design, {tag}"  # as typed, to correct
    assert count(Contact) == 0 and stored_tags(app) == []


def test_an_edit_refuses_a_new_bad_tag_and_keeps_one_the_contact_already_carries(
        app, client, logged_in, make_contact):
    """Stored tags are left as they are: a contact carrying one made before the rule can
    still be edited, its tag sent back as shown; a new bad one is refused."""
    ada = make_contact(logged_in, name="Ada", tags=["old\u200b"])

    refused = client.post(f"/contacts/{ada.id}/edit",
                          data={"name": "Ada", "tags": "old\u200b, new\u200b"})
    assert refused.status_code == 422
    assert f"Tag “new”: {HIDDEN}" in page_text(refused.data)

    saved = client.post(f"/contacts/{ada.id}/edit",
                        data={"name": "Ada King", "tags": "old\u200b, design"})
    assert saved.status_code == 302
    assert stored_tags(app) == ["design", "old\u200b"]


# --- the API ----------------------------------------------------------------------------


@pytest.mark.parametrize("tag, message", [
    *((tag, HIDDEN) for tag in INVISIBLE),
    ("conf\n2025", HIDDEN),
    ("conf, 2025", COMMA),
])
def test_the_api_refuses_such_a_tag_naming_the_field(app, api, count, tag, message):
    created = api.post("/contacts", json={"name": "Ada", "tags": ["design", tag]})

    assert problem_of(created, 422)["errors"] == {"tags": f"Tag “{shown(tag)}”: {message}"}
    assert count(Contact) == 0 and stored_tags(app) == []

    ada = api.post("/contacts", json={"name": "Ada", "tags": ["design"]}).get_json()
    patched = api.patch(f"/contacts/{ada['id']}", json={"tags": [tag], "company": "X"})
    assert problem_of(patched, 422)["errors"] == {"tags": f"Tag “{shown(tag)}”: {message}"}
    assert api.get(f"/contacts/{ada['id']}").get_json() == ada  # nothing changed


def test_the_api_keeps_a_tag_the_contact_already_carries(app, api, make_contact):
    ada = make_contact(api.user, name="Ada", tags=["old\u200b"])

    patched = api.patch(f"/contacts/{ada.id}", json={"tags": ["old\u200b", "design"]})

    assert patched.status_code == 200, patched.data
    assert stored_tags(app) == ["design", "old\u200b"]


# --- imports ----------------------------------------------------------------------------


def upload(client, data: bytes, kind: str, name: str):
    response = client.post("/import", data={"kind": kind, "file": (io.BytesIO(data), name)},
                           content_type="multipart/form-data")
    assert response.status_code == 302, page_text(response.data)
    return response.headers["Location"]


def vcard(name: str, categories: str) -> str:
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{name}\r\nN:{name};;;;\r\n"
            f"CATEGORIES:{categories}\r\nEND:VCARD\r\n")


@pytest.mark.parametrize("kind, name, data, row, message", [
    ("csv", "contacts.csv",
     "Name,Tags\nAda,design\nGrace,\"navy, conf\u200b\"\nKath,design\n".encode(),
     3, f"Tag “conf”: {HIDDEN}"),
    ("vcard", "contacts.vcf",
     (vcard("Ada", "design") + vcard("Grace", "navy,conf\u202e") + vcard("Kath", "design")
      ).encode(),
     2, f"Tag “conf”: {HIDDEN}"),
    # An escaped comma is a comma inside one category: it was read as a space.
    ("vcard", "contacts.vcf",
     (vcard("Ada", "design") + vcard("Grace", "navy,conf\\, 2025") + vcard("Kath", "design")
      ).encode(),
     2, f"Tag “conf, 2025”: {COMMA}"),
])
def test_an_import_reports_the_row_and_imports_nothing_unless_told_to_skip_it(
        app, client, logged_in, count, kind, name, data, row, message):
    preview = upload(client, data, kind, name)

    text = page_text(client.get(preview).data)
    assert "1 invalid row" in text and f"{row} {message}" in text

    refused = client.post(preview + "/run")
    assert refused.status_code == 422
    assert "Nothing was imported" in page_text(refused.data)
    assert count(Contact) == 0 and stored_tags(app) == []

    skipped = client.post(preview + "/run", data={"skip_invalid": "y"})
    assert skipped.status_code == 302
    assert count(Contact) == 2 and stored_tags(app) == ["design"]


def test_the_openapi_document_states_the_rule_for_a_contacts_tags(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    for name in ("ContactInput", "ContactPatch"):
        assert "invisible character" in schemas[name]["properties"]["tags"]["description"]


# Found by review: the row was invalid, although the form keeps a tag a contact carries.
def test_reimporting_own_export_keeps_a_tag_the_matched_contact_already_carries(
        app, client, logged_in, make_contact, count):
    make_contact(logged_in, name="Grace Hopper", tags=["old\u200b", "navy"])
    exported = client.get("/export/contacts.csv")
    assert exported.status_code == 200
    assert "old\u200b" in exported.get_data(as_text=True)

    uploaded = client.post("/import", data={"kind": "csv", "file": (
        io.BytesIO(exported.data), "rapport-contacts.csv")}, content_type="multipart/form-data")
    assert uploaded.status_code == 302, page_text(uploaded.data)
    preview = uploaded.headers["Location"]
    text = page_text(client.get(preview).data)
    assert "0 invalid rows" in text and "1 matching existing contact" in text, text[:400]

    ran = client.post(preview + "/run")
    assert ran.status_code == 302, page_text(ran.data)
    assert count(Contact) == 1
    with app.app_context():
        assert sorted(db.session.scalars(db.select(Tag.name))) == ["navy", "old\u200b"]
