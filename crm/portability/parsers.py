"""Read uploaded files into import rows: LinkedIn connections, any CSV, vCard 3.0 and 4.0.

Parsers only read: they turn a file into ImportRow values (raw, not yet validated) and
never touch the database. crm.portability.importer validates, matches and writes.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from urllib.parse import quote

from crm.models.types import name_key

# A medium reference: "key:email" for a built-in, "id:12" for a medium picked by id
# (the CSV mapping), "name:Mastodon" for one named in a file (created when missing), "pair:"
# for a handle written as "Medium: handle" (the medium's name is found by the importer).
MediumRef = str


@dataclass
class ImportRow:
    """One record of a file as read, before validation."""

    number: int  # line of a CSV record's start, or position of a vCard (1-based)
    name: str = ""
    company: str = ""
    title: str = ""
    location: str = ""
    notes: str = ""
    tags: list[str] = field(default_factory=list)
    # (medium ref, raw handle, label)
    handles: list[tuple[MediumRef, str, str]] = field(default_factory=list)
    origin_medium: MediumRef | None = None
    origin_date: date | None = None
    time_zone: str = ""  # an IANA name, checked by the importer
    keep_in_touch: str = ""  # a number of days, as written; checked by the importer
    introduced_by: str = ""  # the introducer's name, looked up among the user's contacts
    private: bool = False  # never shown to a coach (Rapport's own exports say so)
    archived: bool = False
    error: str | None = None  # the file itself is unreadable here


class FileError(ValueError):
    """The whole file cannot be read as the chosen format; the message says why."""


def decode_upload(data: bytes) -> str:
    """Decode an uploaded file: UTF-8 (with or without a byte-order mark), else Windows-1252.
    FileError if the text holds a NUL character: no export has one (PostgreSQL could not
    store it), so the file is damaged or not text. A file of a known binary kind (a
    workbook, a PDF, a picture) is refused by its kind first."""
    for magic, kind in _BINARY_KINDS:
        if data.startswith(magic):
            raise FileError(f"This file is {kind}, not a contacts export in text: save or "
                            "export the contacts as CSV or vCard (.vcf) and upload that file.")
    text = _decode(data)
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise FileError(f"Line {line} holds a NUL character, which no contacts export has: "
                        "the file is damaged or is not a text file. Export it again.")
    return text


# The first bytes of files people upload instead of an export: what each file is.
_BINARY_KINDS = (
    (b"PK\x03\x04", "an Excel workbook (.xlsx) or another zip archive"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG picture"),
    (b"\xff\xd8\xff", "a JPEG picture"),
    (b"\xd0\xcf\x11\xe0", "an older Office file (an Excel .xls, a Word .doc or an Outlook .msg)"),
)


# A character UTF-8 writes in two to four bytes: a file holding one is UTF-8.
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _decode(data: bytes) -> str:
    """UTF-8, UTF-16 with its byte-order mark, or Windows-1252 (Excel's CSV on Windows).
    A file that is UTF-8 but for some bytes (two files pasted together) is refused, naming
    the line, rather than read as Windows-1252, which would garble every accent in it; so
    is a byte Windows-1252 does not define. Nothing is replaced silently."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16").lstrip("\ufeff")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8-sig").lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        # UTF-8 with a few stray bytes, or Windows-1252 in which a pair of letters happens
        # to form a UTF-8 character ("ß“", "É’")? The kind there is more of decides.
        stray = sum(0xDC80 <= ord(ch) <= 0xDCFF
                    for ch in data.decode("utf-8", errors="surrogateescape"))
        if len(_UTF8_SEQUENCE.findall(data)) > stray:
            raise FileError(
                f"Line {_line_of(data, exc.start)} is not UTF-8 text, though the rest of the "
                "file is: save the whole file as UTF-8 (CSV UTF-8 in Excel) and upload it "
                "again.") from None
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise FileError(
            f"Line {_line_of(data, exc.start)} holds a byte that is neither UTF-8 nor "
            "Windows-1252 text: save the file as UTF-8 and upload it again.") from None


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


# --- CSV ---------------------------------------------------------------------------


def _records(text: str, delimiter: str = ",",
             skipped: int = 0) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, fields) for each CSV record; quoted line breaks kept.
    Lines are numbered as the user sees the file, `skipped` lines before the text.

    Strict: a quote never closed would otherwise take every later row into one cell."""
    mended = False
    while True:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        start = 1
        try:
            for fields in reader:
                yield start + skipped, fields
                start = reader.line_num + 1
            return
        except csv.Error as exc:
            if mended:
                raise FileError(f"The CSV is malformed near line {reader.line_num + skipped}: "
                                f"{exc}") from exc
        # The strict reader refuses blanks after a closing quote too, which a spreadsheet
        # passes over: read again from this record with them dropped, or say what is wrong.
        text = _mend_quotes(text, start, delimiter, skipped)
        skipped += start - 1
        mended = True


def _mend_quotes(text: str, start: int, delimiter: str, skipped: int) -> str:
    """The text from line `start` on, without the blanks between a closing quote and the
    delimiter or the line's end. FileError naming the line of a quote never closed, or of
    text after a closing quote; lines numbered after `skipped` others, as in _records."""
    breaks = [m.end() for m in _LINE_BREAK.finditer(text)]
    text = text[breaks[start - 2] if start > 1 else 0:]
    value_end = re.compile(f"[{re.escape(delimiter)}\r\n]")
    blanks = re.compile(" *" if delimiter == "\t" else "[ \t]*")
    pieces: list[str] = []
    position, line = 0, start + skipped
    while position < len(text):  # at the start of a value
        if text[position] == '"':
            close = text.find('"', position + 1)
            while close >= 0 and text.startswith('""', close):  # a quote inside the value
                close = text.find('"', close + 2)
            if close < 0:
                raise FileError(_quote_not_closed(line))
            opened, line = line, line + len(_LINE_BREAK.findall(text, position, close))
            end = blanks.match(text, close + 1).end()
            if end < len(text) and text[end] not in (delimiter, "\r", "\n"):
                if opened != line:  # the quote that would close it is lines later
                    raise FileError(_quote_not_closed(opened, text_on=line))
                raise FileError(
                    f"Line {line} has text after the closing quote of a value: put the whole "
                    "value in double quotes, doubling each quote inside it (\"\"), and "
                    "upload the file again.")
            pieces.append(text[position:close + 1])
        else:
            found = value_end.search(text, position)
            end = found.start() if found else len(text)
            pieces.append(text[position:end])
        position = end
        if position < len(text):  # a delimiter or a line break, then the next value
            after = 2 if text.startswith("\r\n", position) else 1
            if text[position] != delimiter:
                line += 1
            pieces.append(text[position:position + after])
            position += after
    return "".join(pieces)


def _quote_not_closed(line: int, text_on: int | None = None) -> str:
    where = (f" (line {text_on} has text after the quote that would close it)"
             if text_on is not None else "")
    return (f"Line {line} opens a quoted value (a double quote) that is not closed where the "
            f"value ends{where}, so the rows after it would run into one cell: close the "
            "quote, or double a quote inside the value (\"\"), and upload the file again.")


def sniff_delimiter(text: str) -> str:
    """Comma unless the first lines clearly use semicolons or tabs (spreadsheet exports)."""
    head = text[:4096]
    first = head.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] > counts[","] else ","


LINKEDIN_HEADER = ["first name", "last name", "url", "email address", "company", "position"]

_LINKEDIN_HEADER_LINE = re.compile(r"^first name,last name,url,email address,.*connected on",
                                   re.IGNORECASE | re.MULTILINE)

_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}


def parse_linkedin_date(raw: str) -> date | None:
    """LinkedIn's "22 Nov 2010" (older exports: 11/22/10, or ISO); blank is None."""
    value = raw.strip()
    if not value:
        return None
    parts = value.replace(",", " ").split()
    if len(parts) == 3 and parts[1][:3].lower() in _MONTHS and parts[0].isdigit():
        try:
            return date(int(parts[2]), _MONTHS[parts[1][:3].lower()], int(parts[0]))
        except (ValueError, OverflowError):  # 31 Feb; a year of twenty digits
            raise ValueError(f"“{value[:40]}” is not a date like 22 Nov 2010") from None
    for fmt in ("%Y-%m-%d", "%m/%d/%y", "%m/%d/%Y"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"“{value}” is not a date like 22 Nov 2010")


def parse_linkedin(text: str) -> list[ImportRow]:
    """Rows of LinkedIn's Connections.csv: notes first, then the header, then connections."""
    records = _records(text)
    columns: dict[str, int] | None = None
    rows: list[ImportRow] = []
    for line, fields in records:
        if columns is None:
            lowered = [f.strip().lower() for f in fields]
            if lowered[:2] == ["first name", "last name"]:
                missing = [h for h in LINKEDIN_HEADER if h not in lowered]
                if missing:
                    raise FileError(
                        "This looks like a LinkedIn export but lacks the columns: "
                        + ", ".join(m.title() for m in missing)
                    )
                columns = {name: lowered.index(name) for name in lowered if name}
            continue
        if not any(f.strip() for f in fields):
            continue
        rows.append(_linkedin_row(line, fields, columns))
    if columns is None:
        raise FileError(
            "No “First Name, Last Name, URL, Email Address, Company, Position, Connected On” "
            "header was found. Upload the Connections.csv file from LinkedIn's data export."
        )
    return rows


def _linkedin_row(line: int, fields: list[str], columns: dict[str, int]) -> ImportRow:
    def get(name: str) -> str:
        index = columns.get(name)
        return fields[index].strip() if index is not None and index < len(fields) else ""

    row = ImportRow(number=line)
    row.name = " ".join(f"{get('first name')} {get('last name')}".split())
    row.company = get("company")
    row.title = get("position")
    url = get("url")
    if url:
        row.handles.append(("key:linkedin", url, ""))
    email = get("email address")
    if email:
        row.handles.append(("key:email", email, ""))
    row.origin_medium = "key:linkedin"
    try:
        row.origin_date = parse_linkedin_date(get("connected on"))
    except ValueError as exc:
        row.error = f"Connected On: {exc}."
    return row


# Generic CSV: what each column can become.
FIELD_LABELS = {
    "": "— Ignore this column —",
    "name": "Name",
    "first_name": "First name",
    "middle_name": "Middle name",
    "last_name": "Last name",
    "email": "Email address",
    "phone": "Phone number",
    "company": "Company",
    "title": "Title",
    "location": "Location",
    "tags": "Tags",
    "notes": "Notes",
    "private": "Private (yes / no)",
    "archived": "Archived (yes / no)",
    "time_zone": "Time zone (e.g. Europe/Berlin)",
    "origin_medium": "First met on (a medium's name)",
    "origin_date": "First met date",
    "introduced_by": "Introduced by (a contact's name)",
    "keep_in_touch": "Keep in touch every (days)",
    "other_handles": "Other handles (“Medium: handle; …”)",
    "website": "Web page (a LinkedIn, Twitter or Facebook profile becomes a handle there, "
               "any other page a line of the notes)",
}

_PHRASES = {
    "first_name": {"first name", "given name", "firstname", "first"},
    "middle_name": {"middle name", "additional name", "middle names", "middlename"},
    "last_name": {"last name", "family name", "surname", "lastname"},
    "name": {"name", "full name", "display name", "contact", "contact name", "fn"},
    "title": {"title", "job title", "position", "role"},
    "location": {"location", "city", "address", "town"},
    "tags": {"tags", "tag", "labels", "groups", "categories", "group membership"},
    "notes": {"notes", "note", "comments", "comment", "description"},
    "private": {"private"},
    "archived": {"archived"},
    "time_zone": {"time zone", "timezone", "tz"},
    "origin_medium": {"first met on", "met on", "first met medium"},
    "origin_date": {"first met date", "first met", "date first met"},
    "introduced_by": {"introduced by", "introducer", "referred by"},
    "keep_in_touch": {"keep in touch days", "keep in touch", "keep in touch every days",
                      "cadence"},
    "other_handles": {"other handles", "handles"},
    "website": {"website", "website value", "web site", "web page", "homepage", "home page",
                "url"},
}
_YES = {"yes", "y", "true", "1", "x"}


def _phrase(heading: str) -> tuple[list[str], str]:
    """A heading's words, and its phrase without numbers ("E-mail 2 Address": e mail address)."""
    words = re.sub(r"[^a-z]+", " ", heading.lower()).split()
    return words, " ".join(w for w in words if not w.isdigit())


def _guess_field(heading: str) -> str:
    words, phrase = _phrase(heading)
    # About a value, not the value: Google's "E-mail 1 - Type", Outlook's "E-mail Display
    # Name" ("Ann Lee (ann@example.com)"), which is no email address.
    if {"type", "label"} & set(words) or ("display" in words and phrase != "display name"):
        return ""
    if "email" in words or "mail" in words:
        return "email"
    if {"phone", "mobile", "telephone", "tel", "cell"} & set(words):
        return "phone"
    if {"company", "organization", "organisation", "employer", "org"} & set(words):
        return "title" if "title" in words else "company"
    for target, phrases in _PHRASES.items():
        if phrase in phrases:
            return target
    return ""


def guess_mapping(header: list[str], mediums: list[tuple[int, str, str | None]]) -> dict[int, str]:
    """A first guess at each column's field from its heading.

    mediums: (id, name, key) of every medium the user can use; a column named after one
    ("LinkedIn", "Twitter handle", "Mastodon") becomes a handle on it, also where its
    heading reads as a web page when it is exactly that medium's name ("Website", "URL").
    """
    mapping: dict[int, str] = {}
    # Outlook has "Title" (Mr., Dr.) beside "Job Title": the job is the title then.
    job_title = any(_guess_field(h) == "title" and _phrase(h)[1] != "title" for h in header)
    for index, heading in enumerate(header):
        guess = _guess_field(heading)
        if guess == "title" and job_title and _phrase(heading)[1] == "title":
            continue
        if guess == "website":
            # A column named after a medium of the user's ("Website", "URL") holds handles on
            # it: every value a handle there, where a web page keeps only profiles as handles.
            guess = next((f"medium:{medium_id}" for medium_id, medium_name, _ in mediums
                          if name_key(medium_name) == name_key(heading)), guess)
        if not guess:
            guess = _medium_named_in(heading, mediums)
        if guess and (guess not in mapping.values() or guess in _REPEATABLE
                      or guess.startswith("medium:")):
            mapping[index] = guess
    return mapping


def _medium_named_in(heading: str, mediums) -> str | None:
    """The medium a heading names: the one it is exactly, else the one whose name it starts
    or ends with, the longest such name ("Zoom URL" with mediums Zoom and URL is Zoom's,
    whichever comes first in a list); two as long, or none, is no guess."""
    h = " ".join(heading.lower().split())
    found: dict[int, list[int]] = {}
    for medium_id, medium_name, key in mediums:
        lowered = " ".join(medium_name.lower().split())
        if key in ("email", "phone"):  # the email and phone fields take those
            continue
        if h == lowered:
            return f"medium:{medium_id}"
        if h.startswith(lowered + " ") or h.endswith(" " + lowered):
            found.setdefault(len(lowered), []).append(medium_id)
    longest = found.get(max(found, default=0), [])
    return f"medium:{longest[0]}" if len(longest) == 1 else None


_REPEATABLE = {"email", "phone", "tags", "notes", "website"}
# Values in one cell: Google's " ::: ", or semicolons.
_CELL_VALUES = re.compile(r"\s*(?::::|;)\s*")


# Excel's first line naming the delimiter ("sep=;"), written for spreadsheets elsewhere.
_SEP_LINE = re.compile(r"sep=([,;\t|])[ \t]*(?:\r\n|\r|\n)", re.IGNORECASE)


def read_csv_table(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the (line, fields) records of a generic CSV."""
    if _BEGIN.match(text.lstrip().split("\n", 1)[0].strip()):
        raise FileError("This file is a vCard (it starts with BEGIN:VCARD): choose “vCard” "
                        "as what you are importing and upload it again.")
    sep_line = _SEP_LINE.match(text)
    if sep_line:
        delimiter, text, skipped = sep_line.group(1), text[sep_line.end():], 1
    else:
        delimiter, skipped = sniff_delimiter(text), 0
    header: list[str] | None = None
    body: list[tuple[int, list[str]]] = []
    for line, fields in _records(text, delimiter, skipped):
        if header is None:
            if any(f.strip() for f in fields):
                header = [f.strip() for f in fields]
            continue
        if any(f.strip() for f in fields):
            body.append((line, fields))
    if header is None:
        raise FileError("The file is empty: there is no header row.")
    lowered = [h.lower() for h in header]
    if (set(LINKEDIN_HEADER) <= set(lowered) and "connected on" in lowered) or (
            lowered == ["notes:"] and _LINKEDIN_HEADER_LINE.search(text)):
        raise FileError("This file is LinkedIn's Connections.csv: choose “LinkedIn "
                        "connections” as what you are importing and upload it again.")
    return header, body


def split_tags(raw: str, *, commas_only: bool = False) -> list[str]:
    """Tags in a cell: separated by Google's " ::: ", else by commas (Rapport's export; a
    tag never holds one, so "poetry; verse" stays one tag), else by semicolons. In a file
    Rapport exported (commas_only) only commas separate: a lone tag "Q&A; misc" is one."""
    raw = raw or ""
    parts = re.split("," if commas_only else ":::" if ":::" in raw
                     else "," if "," in raw else ";", raw)
    seen: dict[str, str] = {}
    for part in parts:
        name = " ".join(part.split())
        if name.startswith("* ") or name.lower() == "mycontacts":  # Google's system group
            continue
        if name and name_key(name) not in seen:
            seen[name_key(name)] = name
    return list(seen.values())


# The columns of Rapport's own CSV export (crm.portability.exporter), recognised on import.
CSV_EXPORT_COLUMNS = ["Name", "Company", "Title", "Location", "Time zone", "Email", "Phone",
                      "Tags", "First met on", "First met date", "Introduced by",
                      "Keep in touch (days)", "Private", "Archived", "Last interaction",
                      "Notes", "Other handles"]
# Where a line ends in an uploaded file: CR and LF only. A value may hold U+2028, a form
# feed or NEL, which str.splitlines() would also break at.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def guard_cell(value: str) -> str:
    """A CSV cell a spreadsheet shows as text, never runs: an apostrophe before a leading
    =, +, -, @, tab or CR (so "=HYPERLINK(...)" in a note cannot act on whoever opens the
    export). Rapport's import takes it off again (unguard_cell). A value that already
    starts with apostrophes before such a character gets one more, so the ones typed
    survive the round trip."""
    return "'" + value if _formula_behind_apostrophes(value) else value


def unguard_cell(value: str) -> str:
    """A cell as written before guard_cell."""
    guarded = value.startswith("'") and _formula_behind_apostrophes(value)
    return value[1:] if guarded else value


def _formula_behind_apostrophes(value: str) -> bool:
    return value.lstrip("'").startswith(FORMULA_STARTS)


def parse_csv(text: str, mapping: dict[int, str]) -> list[ImportRow]:
    """Rows of a generic CSV under a column mapping ({column index: field})."""
    header, body = read_csv_table(text)
    # Rapport's own export: its tags are separated by commas only.
    ours = header == CSV_EXPORT_COLUMNS
    label_columns = _label_columns(header)
    rows = []
    for line, fields in body:
        row = ImportRow(number=line)
        if any(f.strip() for f in fields[len(header):]):
            # An unquoted comma in a value shifts every cell after it: refused, not cut.
            row.error = (f"This row has {len(fields)} cells and the header {len(header)}: "
                         "a value holding the delimiter needs double quotes around it.")
            rows.append(row)
            continue
        first = middle = last = ""
        notes: list[str] = []
        for index, target in mapping.items():
            if not target or index >= len(fields):
                continue
            value = unguard_cell(fields[index].strip())
            if not value:
                continue
            label = _cell_label(fields, label_columns.get(index, ()))
            if target == "name":
                row.name = value
            elif target == "first_name":
                first = value
            elif target == "middle_name":
                middle = value
            elif target == "last_name":
                last = value
            elif target in ("email", "phone", "website"):
                for part in _CELL_VALUES.split(value):
                    # A web page is a handle where it is a profile on a medium, as in a vCard;
                    # any other page is kept in the notes.
                    key = _host_medium(part) if target == "website" else target
                    if part and key:
                        row.handles.append((f"key:{key}", part, label))
                    elif part:
                        notes.append(web_page_note(part, label))
            elif target in ("company", "title", "location"):
                setattr(row, target, value)
            elif target == "tags":
                row.tags.extend(t for t in split_tags(value, commas_only=ours)
                                if t not in row.tags)
            elif target == "notes":
                notes.append(value)
            elif target in ("private", "archived"):
                setattr(row, target, value.strip().lower() in _YES)
            elif target in ("time_zone", "keep_in_touch", "introduced_by"):
                setattr(row, target, value)
            elif target == "origin_medium":
                row.origin_medium = f"name:{value}"
            elif target == "origin_date":
                try:
                    row.origin_date = parse_linkedin_date(value)
                except ValueError as exc:
                    row.error = f"First met date: {exc}."
            elif target == "other_handles":
                _other_handles(row, value)
            elif target.startswith("medium:"):
                row.handles.append(("id:" + target.split(":", 1)[1], value, label))
        if not row.name:
            row.name = " ".join(f"{first} {middle} {last}".split())
        row.notes = "\n\n".join(notes)
        rows.append(row)
    return rows


def _label_columns(header: list[str]) -> dict[int, tuple[int, ...]]:
    """Google's label columns of each "… - Value" column: "E-mail 1 - Label" (its 2023
    layout) or "E-mail 1 - Type" (before), the first written taking precedence."""
    index = {heading.lower(): i for i, heading in enumerate(header)}
    found = {}
    for i, heading in enumerate(header):
        value = re.fullmatch(r"(.+?)\s*-\s*value", heading.strip(), re.IGNORECASE)
        if value:
            found[i] = tuple(index[f"{value.group(1).lower()} - {kind}"]
                             for kind in ("label", "type")
                             if f"{value.group(1).lower()} - {kind}" in index)
    return found


def _cell_label(fields: list[str], columns: tuple[int, ...]) -> str:
    """A handle's label from its label columns; Google's "* " marks the primary one."""
    for column in columns:
        label = fields[column].strip().removeprefix("*").strip() if column < len(fields) else ""
        if label:
            return label[:40]
    return ""


def _other_handles(row: ImportRow, cell: str) -> None:
    """Rapport's CSV "Other handles": "Medium: handle", a line each (or, written by hand,
    separated by semicolons). Which colon ends the medium's name is decided with the user's
    mediums (a name may hold one), so each pair goes on as a "pair:" reference."""
    parts = _LINE_BREAK.split(cell)
    if len(parts) == 1 and all(":" in p for p in parts[0].split(";")):
        parts = parts[0].split(";")  # unless a medium's name holds the semicolon
    for part in parts:
        if not part.strip():
            continue
        medium, colon, handle = part.partition(":")
        if not colon or not medium.strip() or not handle.strip():
            row.error = (f"Other handles: “{part.strip()[:60]}” is not a medium's name and a "
                         "handle, like “Mastodon: @ann@example.social”.")
            return
        row.handles.append(("pair:", part.strip(), ""))


# --- vCard ---------------------------------------------------------------------------

_QUOTED_PRINTABLE = re.compile(r"QUOTED-PRINTABLE", re.IGNORECASE)
_BEGIN = re.compile(r"^BEGIN:VCARD\s*$", re.IGNORECASE)
_END = re.compile(r"^END:VCARD\s*$", re.IGNORECASE)
_SOCIAL_HOSTS = {
    "linkedin.com": "linkedin",
    "twitter.com": "twitter",
    "x.com": "twitter",
    "facebook.com": "facebook",
    "fb.com": "facebook",
}
_SOCIAL_TYPES = {"linkedin": "linkedin", "twitter": "twitter", "x": "twitter",
                 "facebook": "facebook", "skype": "skype"}
_KNOWN_TYPES = {"internet", "pref", "voice", "cell", "text", "home", "work", "x400", "msg",
                "fax", "pager", "video", "other", "main", "iphone", "mobile", "x-mobile"}


def split_cards(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each BEGIN:VCARD … END:VCARD block.

    A quoted-printable value (vCard 2.1, as older phones write notes and names) that ends
    a line with "=" goes on on the next line: the lines are joined here, which vobject
    does not do."""
    cards = []
    current: list[str] | None = None
    start = 0
    soft_break = False
    for number, line in enumerate(_LINE_BREAK.split(text), 1):
        if current is None:
            if _BEGIN.match(line.strip()):
                current, start = [line], number
            continue
        if soft_break:
            if not (_END.match(line.strip()) or _BEGIN.match(line.strip())):
                current[-1] = current[-1][:-1] + line
                soft_break = current[-1].endswith("=")
                continue
            # A value ending in a dangling "=" at the card's end: the card ends here.
            current[-1], soft_break = current[-1][:-1], False
        current.append(line)
        soft_break = line.endswith("=") and _QUOTED_PRINTABLE.search(line.split(":", 1)[0])
        if _END.match(line.strip()):
            cards.append((start, "\r\n".join(current) + "\r\n"))
            current = None
    if current is not None:
        cards.append((start, "\r\n".join(current) + "\r\n"))
    return cards


def parse_vcards(text: str) -> list[ImportRow]:
    """One row per card; a card vobject cannot read is an invalid row, the others go on."""
    import vobject

    blocks = split_cards(text)
    if not blocks:
        raise FileError("No contact cards were found: a vCard file has BEGIN:VCARD lines.")
    rows = []
    for position, (line, block) in enumerate(blocks, 1):
        row = ImportRow(number=position)
        try:
            card = vobject.readOne(_without_media(block))
        except Exception as exc:  # vobject raises several kinds for broken input
            row.error = f"The card starting on line {line} cannot be read ({_short(exc)})."
            rows.append(row)
            continue
        try:
            _fill_from_card(row, card)
        except Exception as exc:
            row.error = f"The card starting on line {line} cannot be read ({_short(exc)})."
        rows.append(row)
    return rows


# A picture or sound, Base64 over many folded lines: Rapport keeps none, and a damaged one
# would make vobject refuse the whole card.
_MEDIA = re.compile(r"(?:[a-z0-9-]+\.)?(?:photo|logo|sound)[;:]", re.IGNORECASE)


def _without_media(card: str) -> str:
    """A card's text without its PHOTO, LOGO and SOUND properties and their folded lines
    (vCard 2.1 ends Base64 with a blank line)."""
    kept, dropping = [], False
    for line in _LINE_BREAK.split(card):
        if dropping and (not line.strip() or line[:1] in (" ", "\t")):
            continue
        dropping = bool(_MEDIA.match(line))
        if not dropping:
            kept.append(line)
    return "\r\n".join(kept)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]


def _text(value) -> str:
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value if v).strip()
    return str(value or "").strip()


def _types(line) -> set[str]:
    found = set()
    for param in ("TYPE", "X-SERVICE-TYPE"):
        for value in line.params.get(param, []):
            found.update(v.strip().strip('"').lower() for v in value.split(","))
    if line.singletonparams:
        found.update(v.lower() for v in line.singletonparams)
    return found


def _label(types: set[str], line=None, grouped: dict[str, str] | None = None) -> str:
    if line is not None and line.params.get("X-LABEL"):
        return unparam(line.params["X-LABEL"][0]).strip()[:40]
    if line is not None and line.group and (grouped or {}).get(line.group.lower()):
        return grouped[line.group.lower()]
    extra = sorted(t for t in types - _KNOWN_TYPES if re.fullmatch(r"[a-z][a-z0-9 _-]{0,39}", t))
    return extra[0] if extra else ("work" if "work" in types else "home" if "home" in types
                                   else "")


def _grouped_labels(contents) -> dict[str, str]:
    """Apple's labels: "item1.X-ABLabel:Old uni" names the item1 line; its own labels are
    wrapped as "_$!<Other>!$_"."""
    labels = {}
    for line in contents.get("x-ablabel", []):
        value = _text(line.value)
        value = re.sub(r"^_\$!<(.*)>!\$_$", r"\1", value).strip()
        if line.group and value:
            labels[line.group.lower()] = value[:40]
    return labels


def _fill_from_card(row: ImportRow, card) -> None:
    contents = card.contents
    grouped = _grouped_labels(contents)
    fn = _text(contents["fn"][0].value) if "fn" in contents else ""
    if not fn and "n" in contents:
        n = contents["n"][0].value
        if hasattr(n, "given"):
            fn = " ".join(_text(p) for p in (n.prefix, n.given, n.additional, n.family, n.suffix)
                          if _text(p))
        else:
            fn = " ".join(reversed([p for p in str(n).split(";") if p]))
    row.name = " ".join(fn.split())
    if "org" in contents:
        org = contents["org"][0].value
        row.company = _text(org[0] if isinstance(org, list | tuple) and org else org)
    if "title" in contents:
        row.title = _text(contents["title"][0].value)
    if "adr" in contents:
        adr = contents["adr"][0].value
        city = getattr(adr, "city", "") or ""
        country = getattr(adr, "country", "") or ""
        row.location = ", ".join(_text(p) for p in (city, country) if _text(p))
    # Line breaks as the app keeps them (a quoted-printable note may carry CR LF).
    notes = [_text(n.value).replace("\r\n", "\n") for n in contents.get("note", [])
             if _text(n.value)]
    row.notes = "\n\n".join(notes)
    for line in contents.get("categories", []):
        value = line.value
        names = value if isinstance(value, list | tuple) else str(value).split(",")
        for name in names:
            tag = " ".join(str(name).split())
            if tag and tag.lower() != "mycontacts" and name_key(tag) not in {
                    name_key(t) for t in row.tags}:
                row.tags.append(tag)
    for line in contents.get("email", []):
        value = _text(line.value).removeprefix("mailto:")
        if value:
            row.handles.append(("key:email", value, _label(_types(line), line, grouped)))
    for line in contents.get("tel", []):
        value = _text(line.value).removeprefix("tel:")
        if value:
            types = _types(line)
            key = "text_message" if types & {"text", "msg"} and "voice" not in types else "phone"
            row.handles.append((f"key:{key}", value, _label(types, line, grouped)))
    for line in contents.get("x-socialprofile", []) + contents.get("socialprofile", []):
        _social(row, _text(line.value), _types(line), line.params.get("X-USER", [""])[0],
                _label(set(), line, grouped))
    for line in contents.get("url", []):
        value = re.sub(r"\\([:,;\\])", r"\1", _text(line.value))  # Google writes https\://
        key = _host_medium(value)
        if key:
            row.handles.append((f"key:{key}", value, ""))
        elif value:  # a page on no medium's site: kept in the notes
            row.notes = "\n\n".join(n for n in (row.notes, web_page_note(
                value, _label(_types(line), line, grouped))) if n)
    for line in contents.get("impp", []) + contents.get("x-skype", []):
        value = _text(line.value)
        types = _types(line)
        if value.lower().startswith("skype:") or "skype" in types or line.name == "X-SKYPE":
            handle = value.split(":", 1)[1] if ":" in value else value
            row.handles.append(("key:skype", handle.split("?")[0],
                                _label(set(), line, grouped)))
    for line in contents.get("x-twitter", []):
        row.handles.append(("key:twitter", _text(line.value), ""))
    for line in contents.get("x-rapport-channel", []):
        medium = unparam(line.params.get("X-MEDIUM", line.params.get("MEDIUM", [""]))[0])
        label = unparam(line.params.get("X-LABEL", [""])[0])
        if medium and _text(line.value):
            row.handles.append((f"name:{medium}", _text(line.value), label))
    for prop, attribute in (("x-rapport-time-zone", "time_zone"),
                            ("x-rapport-keep-in-touch", "keep_in_touch"),
                            ("x-rapport-introduced-by", "introduced_by")):
        if contents.get(prop):
            setattr(row, attribute, _text(contents[prop][0].value))
    row.private = any(_text(line.value).strip() == "1"
                      for line in contents.get("x-rapport-private", []))
    row.archived = any(_text(line.value).strip() == "1"
                       for line in contents.get("x-rapport-archived", []))
    for line in contents.get("x-rapport-first-met", []):
        medium = unparam(line.params.get("X-MEDIUM", line.params.get("MEDIUM", [""]))[0])
        if medium:
            row.origin_medium = f"name:{medium}"
        raw = _text(line.value)
        if raw:
            try:
                row.origin_date = date.fromisoformat(raw)
            except ValueError:
                row.error = f"X-RAPPORT-FIRST-MET: “{raw}” is not a date like 2010-11-22."


_CARET = re.compile(r"\^([\^n'])")


def unparam(value: str) -> str:
    """A vCard parameter value with its RFC 6868 caret encoding undone."""
    return _CARET.sub(lambda m: {"^": "^", "n": "\n", "'": '"'}[m.group(1)], value)


def web_page_note(url: str, label: str = "") -> str:
    """A web page on no medium's site (a personal site, a blog), as a line of the notes: an
    import keeps it there rather than leave it out."""
    return f"Web page{f' ({label})' if label else ''}: {url}"


def _host_medium(url: str) -> str | None:
    from urllib.parse import urlsplit

    parts = urlsplit(url if "://" in url else "https://" + url)
    host = parts.netloc.lower().split(":")[0].removeprefix("www.")
    for suffix, key in _SOCIAL_HOSTS.items():
        if host == suffix or host.endswith("." + suffix):
            return key
    return None


def _social(row: ImportRow, value: str, types: set[str], user: str, label: str = "") -> None:
    key = next((_SOCIAL_TYPES[t] for t in types if t in _SOCIAL_TYPES), None) or _host_medium(
        value
    )
    if key is None or not (value or user):
        return
    if value.lower().startswith("x-apple:"):  # Apple's "x-apple:name": the name, no link
        value, user = "", user or value.split(":", 1)[1]
    if key == "skype":
        value = user or value.split(":", 1)[-1].lstrip("/")
    elif key == "twitter" and user and not value.startswith(("http", "@")):
        value = user
    elif key in _PROFILE_LINKS and _host_medium(value) != key:
        if not user.strip():
            # No link to the profile and no name to make one: left out, rather than making
            # the whole card invalid.
            return
        value = _PROFILE_LINKS[key] + quote(user.strip(), safe="")
    row.handles.append((f"key:{key}", value or user, label))


# A profile's link from its user name, where a card gives only the name.
_PROFILE_LINKS = {"linkedin": "https://www.linkedin.com/in/",
                  "facebook": "https://www.facebook.com/"}
