"""The web import: upload → preview with counts → confirm; limits and refusals; the CLI."""

from __future__ import annotations

import io

import pytest
from fixtures.portability import (
    NOT_TEXT_FILES,
    VCARD3_APPLE,
    google_csv,
    linkedin_csv,
    sample_linkedin_rows,
    unclosed_quote_csv,
    unclosed_quote_linkedin,
)
from sqlalchemy import select
from support import page_text

from crm.extensions import db
from crm.models import Contact, ImportJob, ImportStatus


def upload(client, data: bytes, kind="linkedin", name="Connections.csv"):
    return client.post("/import", data={"kind": kind, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_upload_preview_confirm(client, logged_in, count, row):
    page = client.get("/import")
    assert page.status_code == 200
    assert "LinkedIn connections" in page_text(page.data)

    response = upload(client, linkedin_csv(sample_linkedin_rows()))
    assert response.status_code == 302
    preview = client.get(response.headers["Location"])
    text = page_text(preview.data)
    assert "4 new contacts" in text and "0 matching existing contacts" in text
    assert "0 invalid rows" in text and "Zoë Ångström" in text
    assert count(Contact) == 0  # nothing until confirmed

    done = client.post("/import/1/run")
    assert done.status_code == 302
    assert count(Contact, Contact.owner_id == logged_in.id) == 4
    job = row(ImportJob, 1)
    assert job.status == ImportStatus.DONE and job.content is None
    result = page_text(client.get("/import/1").data)
    assert "4 contacts added" in result

    # A second upload of the same file: all four match, nothing new.
    upload(client, linkedin_csv(sample_linkedin_rows()))
    text = page_text(client.get("/import/2").data)
    assert "0 new contacts" in text and "4 matching existing contacts" in text


def test_a_bad_row_refuses_the_import_and_lists_row_and_reason(client, logged_in, count):
    rows = sample_linkedin_rows()
    rows[2][3] = "zoe-at-example"  # Zoë, line 8
    upload(client, linkedin_csv(rows))

    preview = page_text(client.get("/import/1").data)
    assert "1 invalid row" in preview
    assert "8 Email “zoe-at-example”: That is not a valid email address" in preview

    refused = client.post("/import/1/run")
    assert refused.status_code == 422
    assert "Nothing was imported" in page_text(refused.data)
    assert count(Contact) == 0

    skipped = client.post("/import/1/run", data={"skip_invalid": "y"})
    assert skipped.status_code == 302
    assert count(Contact) == 3
    assert "1 invalid row skipped" in page_text(client.get("/import/1").data)


def test_csv_mapping_step(client, logged_in, count):
    upload(client, google_csv(), kind="csv", name="google.csv")
    page = client.get("/import/1")
    text = page_text(page.data)
    assert "Match the columns" in text and "E-mail 1 - Value" in text
    assert "ada@example.com ::: ada.l@example.org" in text  # the sample rows show

    # Map only the name and the email: the bad phone is ignored, Grace (no Name) is invalid.
    mapping = {f"col_{i}": "" for i in range(12)}
    mapping.update({"col_0": "name", "col_5": "email"})
    assert client.post("/import/1/mapping", data=mapping).status_code == 302
    text = page_text(client.get("/import/1").data)
    assert "2 new contacts" in text and "1 invalid row" in text

    bad = client.post("/import/1/mapping", data={f"col_{i}": "" for i in range(12)})
    assert bad.status_code == 422
    assert "Map at least one column to Name" in page_text(bad.data)

    client.post("/import/1/run", data={"skip_invalid": "y"})
    assert count(Contact) == 2


def test_the_import_button_says_it_skips_the_invalid_rows_and_does(client, logged_in, count):
    """Found in review: with invalid rows, the button read "Import 3 contacts" and the
    import was refused unless "Skip the invalid rows" had been ticked."""
    upload(client, linkedin_csv(sample_linkedin_rows()))
    assert "Import 4 contacts</button>" in client.get("/import/1").get_data(as_text=True)

    rows = sample_linkedin_rows()
    rows[2][3] = rows[3][3] = "not-an-address"
    upload(client, linkedin_csv(rows))
    html = client.get("/import/2").get_data(as_text=True)
    assert "Import 2 contacts, skipping 2 invalid rows</button>" in html
    form = html[html.index('class="stack import-run"'):]
    form = form[:form.index("</form>")]
    assert '<input type="hidden" name="skip_invalid" value="y">' in form

    # What the form sends (the button's words hold): the valid rows, without a checkbox.
    done = client.post("/import/2/run", data={"skip_invalid": "y"})
    assert done.status_code == 302 and count(Contact) == 2


@pytest.mark.app_config(IMPORT_MAX_BYTES=2000)
def test_an_upload_over_the_import_limit_is_refused_with_the_limit(client, logged_in, count):
    response = upload(client, b"x" * 3000)
    assert response.status_code == 422
    assert "Rapport imports files up to 1 kB at a time" in page_text(response.data)
    assert count(ImportJob) == 0


@pytest.mark.app_config(MAX_CONTENT_LENGTH=4096)
def test_an_upload_over_the_request_limit_gets_a_clear_message(client, logged_in, count):
    response = upload(client, b"x" * 10000)
    assert response.status_code == 413
    assert "larger than Rapport accepts" in page_text(response.data)
    assert count(ImportJob) == 0


def test_a_file_of_the_wrong_kind_is_refused_at_upload(client, logged_in):
    response = upload(client, b"Name,Email\nAda,ada@example.com\n", kind="linkedin")
    assert response.status_code == 422
    assert "No “First Name, Last Name" in page_text(response.data)


@pytest.mark.parametrize("kind, data, line", [
    ("linkedin", b"First Name,Last Name,URL,Email Address,Company,Position,Connected On\r\n"
                 b"Ada\x00,Lovelace,,,,,01 Jan 2020\r\n", 2),
    ("csv", b"Name,Company\nAda Lovelace,Analytical\x00Engines\n", 2),
    ("vcard", b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada\x00Lovelace\r\nEND:VCARD\r\n", 3),
])
def test_a_file_with_a_nul_character_is_refused_at_upload(client, logged_in, count, kind, data,
                                                          line):
    response = upload(client, data, kind=kind)
    assert response.status_code == 422
    assert f"Line {line} holds a NUL character" in page_text(response.data)
    assert count(ImportJob) == 0 and count(Contact) == 0


@pytest.mark.parametrize("kind, data, message", [
    ("csv", unclosed_quote_csv(), "Line 3 opens a quoted value (a double quote) that is not "
     "closed"),
    ("linkedin", unclosed_quote_linkedin(), "Line 8 opens a quoted value (a double quote) that "
     "is not closed"),
    # The quote closes, but text follows it: the value was not quoted as CSV quotes.
    ("csv", b'Name,Company\r\nAda Lovelace,"Analytical" Engines\r\nAlan Turing,Bletchley\r\n',
     "Line 2 has text after the closing quote of a value"),
    # The quote on line 2 is not closed: the next quote, on line 3, has text after it.
    ("csv", b'Name,Company\r\nAda,"Analytical Engines\r\nAlan,"Bletchley" Park\r\n',
     "Line 2 opens a quoted value (a double quote) that is not closed where the value ends "
     "(line 3 has text after the quote that would close it)"),
    ("csv", b'sep=;\nName;Company;Notes\nAda;"Analytical\nEngines";ok\nAlan;"Bletchley;x\n',
     "Line 5 opens a quoted value (a double quote) that is not closed"),
], ids=["csv", "linkedin", "text-after-quote", "text-after-a-later-quote", "sep-line"])
def test_a_quote_left_open_is_refused_naming_its_line(client, logged_in, count, kind, data,
                                                      message):
    # Read leniently, every row after the open quote was one cell of one contact.
    response = upload(client, data, kind=kind)
    assert response.status_code == 422
    assert message in page_text(response.data)
    assert count(ImportJob) == 0 and count(Contact) == 0


@pytest.mark.parametrize("kind, data, companies", [
    ("csv", b'Name,Company\r\n"Lovelace, Ada","Analytical Engines" \r\nBob,"Y"\t,\r\n',
     {"Analytical Engines", "Y"}),
    ("linkedin", linkedin_csv(sample_linkedin_rows()[:2]).replace(
        b'"Analytical Engines, Ltd"', b'"Analytical Engines, Ltd" \t'),
     {"Analytical Engines, Ltd", "US Navy"}),
    ("csv", b'sep=;\nName;Company\n"Lovelace, Ada";"Analytical\nEngines"  \nBob;Y\n',
     {"Analytical\nEngines", "Y"}),
], ids=["csv", "linkedin", "sep-line"])
def test_blanks_after_a_closing_quote_are_passed_over(app, client, logged_in, row, kind, data,
                                                      companies):
    # They were refused as a quote left open, though it closes and no rows run together.
    response = upload(client, data, kind=kind)
    assert response.status_code == 302
    client.post("/import/1/run")
    assert row(ImportJob, 1).status == ImportStatus.DONE
    with app.app_context():
        assert set(db.session.scalars(select(Contact.company))) == companies


@pytest.mark.parametrize("kind", ["csv", "linkedin", "vcard"])
@pytest.mark.parametrize("name, what", [
    ("xlsx", "an Excel workbook (.xlsx)"), ("pdf", "a PDF document"), ("png", "a PNG picture"),
    ("jpeg", "a JPEG picture"), ("xls", "an older Office file (an Excel .xls"),
])
def test_a_file_that_is_not_text_is_refused_saying_what_it_is(client, logged_in, count, kind,
                                                              name, what):
    # It was "Line 1 is not UTF-8 text" or "holds a NUL character": no help to the user.
    response = upload(client, NOT_TEXT_FILES[name], kind=kind, name=f"contacts.{name}")
    assert response.status_code == 422
    text = page_text(response.data)
    assert f"This file is {what}" in text and "export the contacts as CSV or vCard" in text
    assert count(ImportJob) == 0


@pytest.mark.parametrize("data, kind", [
    (VCARD3_APPLE.encode(), "“vCard”"),
    (linkedin_csv(sample_linkedin_rows()), "“LinkedIn connections”"),
    (linkedin_csv(sample_linkedin_rows(), notes=False, bom=False), "“LinkedIn connections”"),
], ids=["vcard", "linkedin", "linkedin-without-notes"])
def test_another_kind_of_export_uploaded_as_csv_names_its_kind(client, logged_in, count, data,
                                                               kind):
    response = upload(client, data, kind="csv")
    assert response.status_code == 422
    assert f"choose {kind} as what you are importing" in page_text(response.data)
    assert count(ImportJob) == 0


def test_the_cli_refuses_a_file_with_a_nul_character(runner, make_user, count, tmp_path):
    make_user(email="cli@example.com")
    path = tmp_path / "contacts.csv"
    path.write_bytes(b"Name,Company\nAda Lovelace,Analytical\x00Engines\n")
    for kind in ("csv", "linkedin"):
        result = runner.invoke(args=["import", kind, str(path), "--user", "cli@example.com"])
        assert result.exit_code == 1, result.output
        assert "Line 2 holds a NUL character" in result.output
    assert count(Contact) == 0


def test_cancel_forgets_the_upload(client, logged_in, count):
    upload(client, linkedin_csv(sample_linkedin_rows()))
    client.post("/import/1/cancel")
    assert count(ImportJob) == 0 and count(Contact) == 0


def test_cancelling_an_import_that_has_run_keeps_its_record(client, logged_in, count):
    """The preview open in a second tab after the import ran in the first: its Cancel must
    not delete the record of what was added, nor say that nothing was."""
    upload(client, linkedin_csv(sample_linkedin_rows()))
    assert client.post("/import/1/run").status_code == 302
    response = client.post("/import/1/cancel", follow_redirects=True)
    text = page_text(response.data)
    assert "That import has run already; nothing was cancelled." in text
    assert "nothing was imported" not in text and "4 contacts added" in text
    assert count(ImportJob) == 1 and count(Contact) == 4


def test_another_users_import_is_404(client, logged_in, make_user, auth, count):
    upload(client, linkedin_csv(sample_linkedin_rows()))
    auth.login_as(make_user())
    for method, url in [("GET", "/import/1"), ("POST", "/import/1/run"),
                        ("POST", "/import/1/mapping"), ("POST", "/import/1/cancel")]:
        assert client.open(url, method=method).status_code == 404, url
    assert count(ImportJob) == 1 and count(Contact) == 0


def test_cli_imports_each_format(runner, make_user, count, tmp_path):
    user = make_user(email="cli@example.com")
    path = tmp_path / "Connections.csv"
    path.write_bytes(linkedin_csv(sample_linkedin_rows()))

    result = runner.invoke(args=["import", "linkedin", str(path), "--user", "cli@example.com"])

    assert result.exit_code == 0, result.output
    assert "4 new, 0 updated" in result.output
    assert count(Contact, Contact.owner_id == user.id) == 4

    csv_path = tmp_path / "google.csv"
    csv_path.write_bytes(google_csv())
    refused = runner.invoke(args=["import", "csv", str(csv_path), "--user", "cli@example.com"])
    assert refused.exit_code == 1
    assert "row 5: Phone “not a number”" in refused.output
    assert "nothing imported: 1 invalid row(s)" in refused.output
    assert count(Contact) == 4

    mapped = runner.invoke(args=["import", "csv", str(csv_path), "--user", "cli@example.com",
                                 "--map", "Phone 1 - Value=", "--map", "Twitter=Twitter"])
    assert mapped.exit_code == 0, mapped.output
    assert count(Contact) == 6


def test_cli_skip_invalid_and_vcard(runner, make_user, count, tmp_path):
    from fixtures.portability import VCARD3_GOOGLE, VCARD_BROKEN, vcard_file

    make_user(email="cli@example.com")
    path = tmp_path / "contacts.vcf"
    path.write_bytes(vcard_file(VCARD3_GOOGLE, VCARD_BROKEN))

    result = runner.invoke(args=["import", "vcard", str(path), "--user", "cli@example.com",
                                 "--skip-invalid"])

    assert result.exit_code == 0, result.output
    assert "skipped card 2" in result.output
    assert count(Contact) == 1
    unknown = runner.invoke(args=["import", "vcard", str(path), "--user", "nobody@example.com"])
    assert unknown.exit_code == 2
