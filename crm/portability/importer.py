"""Validate, match and write imported rows, set-based.

plan_import reads the database a handful of times (every medium the user can use, the
handles and names of their contacts) and decides for every row: new contact, matches an
existing one, repeats an earlier row of the same file, or invalid (with the reason).
run_import then writes the plan with a few bulk statements per thousand rows; no query is
made per row. Like every service it adds and flushes but never commits: the caller's one
commit makes the whole import appear at once, and an error leaves nothing behind.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from flask import current_app
from sqlalchemy import bindparam, func, insert, select, update

from crm.contacts.channels import ChannelError, handle_key, normalise_channel
from crm.contacts.services import (
    combine_notes,
    combine_origins,
    leads_back,
    parse_tags,
    tags_by_key,
    tags_refusal,
)
from crm.extensions import db
from crm.mediums.services import MediumNameInvalid, medium_name, visible_to
from crm.models import (
    Contact,
    ContactChannel,
    Medium,
    Tag,
    User,
    contact_tags,
    interaction_participants,
    name_key,
    utcnow,
)
from crm.models.contact import CADENCE_MAX_DAYS, TAG_MAX_LENGTH
from crm.models.types import alphabetical_key
from crm.params import YEAR_MAX, YEAR_MIN, in_year_range
from crm.portability.parsers import ImportRow
from crm.timezones import is_valid_timezone, local_today, to_local

CHUNK = 1000
MAX_TAGS = 30
_LIMITS = {"name": 120, "company": 120, "title": 120, "location": 120, "notes": 20000}
_FIELD_NAMES = {"name": "Name", "company": "Company", "title": "Title", "location": "Location",
                "notes": "Notes"}
# A handle in the form of a phone number (on any medium: Phone, Text message, a WhatsApp of
# one's own) can be several people's (an office line, a family landline), and so can free
# text with spaces in it (a venue, "Monday call"); such a handle joins two records only when
# their names agree too. Every other handle (an email, a profile link, an @handle, a Skype
# name) is one person's: it matches whatever the name (a married name, a nickname). The
# form decides, never the medium.
_PHONE_FORM = re.compile(r"(?:tel:)?\+?[0-9 ().\-/]+")


def _shared_form(value: str) -> bool:
    """Whether a handle's form lets several people hold it: a phone number or spaced text."""
    value = value.strip()
    if _PHONE_FORM.fullmatch(value) and 6 <= sum(ch.isdigit() for ch in value) <= 15:
        return True
    return any(ch.isspace() for ch in value)


class ImportRefused(Exception):
    """The file has invalid rows and the user did not choose to skip them."""

    def __init__(self, invalid: list[tuple[int, str]]):
        super().__init__(f"{len(invalid)} invalid row(s)")
        self.invalid = invalid


@dataclass
class PlannedContact:
    """What one contact of the file becomes: a new contact, or additions to an existing one."""

    rows: list[int]
    name: str
    company: str = ""
    title: str = ""
    location: str = ""
    notes: str = ""
    tags: list[str] = field(default_factory=list)
    # (medium id, or "new:<name>" for a medium to create; value; label)
    channels: list[tuple[int | str, str, str]] = field(default_factory=list)
    origin_medium: int | str | None = None
    origin_date: date | None = None
    time_zone: str | None = None
    keep_in_touch_days: int | None = None
    introduced_by: str = ""  # a name, linked to the one contact of that name after writing
    private: bool = False
    archived: bool = False
    existing_id: int | None = None

    def absorb(self, other: PlannedContact) -> None:
        """Fold a repeat of this contact (a later row of the file) into it."""
        self.rows.extend(other.rows)
        for name in ("company", "title", "location", "time_zone", "keep_in_touch_days",
                     "introduced_by"):
            if not getattr(self, name) and getattr(other, name):
                setattr(self, name, getattr(other, name))
        self.notes = combine_notes(self.notes, other.notes)
        if name_key(other.name) != name_key(self.name):  # a handle joined them: keep the name
            self.notes = combine_notes(self.notes, also_known_as(other.name))
        self.private = self.private or other.private  # privacy only ever tightens
        seen = {name_key(t) for t in self.tags}
        self.tags.extend(t for t in other.tags if name_key(t) not in seen)
        have = {(m, handle_key(v)) for m, v, _ in self.channels}
        self.channels.extend(c for c in other.channels if (c[0], handle_key(c[1])) not in have)
        self.origin_medium, self.origin_date = combine_origins(
            (self.origin_medium, self.origin_date), (other.origin_medium, other.origin_date))


def also_known_as(name: str) -> str:
    """The note that keeps a name an import joined to a contact of another name (by an
    email or a profile: a married name, a nickname, or a file that got it wrong)."""
    return f"Also known as {name}."


@dataclass
class ImportPlan:
    """The preview: what confirming will do, row by row."""

    total_rows: int
    new: list[PlannedContact]
    matched: list[PlannedContact]
    invalid: list[tuple[int, str]]
    repeated_rows: int
    new_mediums: list[str]
    # LinkedIn is where a connection's company and position live: a newer export updates them.
    overwrite: tuple[str, ...] = ()
    matched_names: dict[int, str] = field(default_factory=dict)


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    repeated_rows: int = 0
    mediums_created: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "repeated_rows": self.repeated_rows,
            "mediums_created": self.mediums_created,
        }


# --- planning ------------------------------------------------------------------------


class _Mediums:
    """Every medium the user can use, looked up by key, id or name."""

    def __init__(self, user: User):
        self.by_id: dict[int, Medium] = {}
        self.by_key: dict[str, Medium] = {}
        self.by_name: dict[str, Medium] = {}
        for medium in db.session.scalars(select(Medium).where(visible_to(user))):
            self.by_id[medium.id] = medium
            if medium.key:
                self.by_key[medium.key] = medium
            self.by_name[name_key(medium.name)] = medium
        self.to_create: dict[str, str] = {}  # name_key -> name as written

    def split_pair(self, text: str) -> tuple[str, str]:
        """("name:<medium>", handle) of a "Medium: handle" pair: the longest name of the
        user's mediums (or of one the file creates) the text starts with, before a colon;
        otherwise the text up to its first colon names the medium."""
        known = [m.name for m in self.by_id.values()] + list(self.to_create.values())
        colons = [i for i, c in enumerate(text) if c == ":"]
        for name in sorted(known, key=len, reverse=True):
            # Compared folded, split in the text as written: folding can change a length
            # ("STRASSE" is "Straße" folded, with one letter more).
            key = name_key(name)
            at = next((i for i in colons if name_key(text[:i]) == key), None)
            if at is not None:
                return f"name:{name}", text[at + 1:].strip()
        medium, _, handle = text.partition(":")
        return f"name:{medium.strip()}", handle.strip()

    def resolve(self, ref: str) -> tuple[int | str, Medium]:
        """(medium id or "new:<name>", a Medium to normalise handles with)."""
        kind, _, value = ref.partition(":")
        if kind == "key" and value in self.by_key:
            medium = self.by_key[value]
            return medium.id, medium
        if kind == "id" and value.isdigit() and int(value) in self.by_id:
            medium = self.by_id[int(value)]
            return medium.id, medium
        if kind == "name":
            try:
                name = medium_name(value)[:60]
            except MediumNameInvalid:
                raise LookupError(ref) from None
            medium = self.by_name.get(name_key(name))
            if medium is not None:
                return medium.id, medium
            if name:
                self.to_create.setdefault(name_key(name), name)
                # A medium of one's own normalises as free text, like every custom medium.
                return f"new:{self.to_create[name_key(name)]}", Medium(name=name, key=None)
        raise LookupError(ref)


def _validate(row: ImportRow, mediums: _Mediums, phone_region: str | None, today: date,
              own_tags: Iterable[str] = ()) -> PlannedContact | str:
    """A PlannedContact for a good row, or the reason it is invalid. A tag the user has
    already, as stored (`own_tags`), passes the rule for tag names, as a contact's own tags
    do on its form: an export of tags made before the rule imports again."""
    if row.error:
        return row.error
    name = " ".join(row.name.split())
    if not name:
        return "No name: the row needs a name (or a first or last name)."
    values = {"name": name, "company": row.company.strip(), "title": row.title.strip(),
              "location": row.location.strip(), "notes": row.notes.strip()}
    for key, limit in _LIMITS.items():
        if len(values[key]) > limit:
            return f"{_FIELD_NAMES[key]} is longer than {limit} characters."
    refusal = tags_refusal(row.tags, carried=own_tags)
    if refusal:
        return refusal
    tags = parse_tags(",".join(row.tags))
    for tag in tags:
        if len(tag) > TAG_MAX_LENGTH:
            return f"The tag “{tag[:20]}…” is longer than {TAG_MAX_LENGTH} characters."
    if len(tags) > MAX_TAGS:
        return f"More than {MAX_TAGS} tags."
    channels: list[tuple[int | str, str, str]] = []
    seen = set()
    for ref, raw, label in row.handles:
        if ref == "pair:":
            ref, raw = mediums.split_pair(raw)
        try:
            medium_ref, medium = mediums.resolve(ref)
        except LookupError:
            return "A column is mapped to a medium that no longer exists."
        value = _fast_normalise(medium.key, raw)
        if value is None:
            try:
                value = normalise_channel(medium, raw, phone_region=phone_region)
            except ChannelError as exc:
                return f"{medium.name} “{raw.strip()[:60]}”: {exc}"
        if (medium_ref, handle_key(value)) not in seen:
            seen.add((medium_ref, handle_key(value)))
            channels.append((medium_ref, value, (label or "").strip()[:40]))
    origin = None
    if row.origin_medium:
        try:
            origin, _ = mediums.resolve(row.origin_medium)
        except LookupError:
            origin = None
    if row.origin_date is not None and not in_year_range(row.origin_date.year):
        return (f"First met date {row.origin_date.isoformat()} is not between {YEAR_MIN} "
                f"and {YEAR_MAX}.")
    if row.origin_date is not None and row.origin_date > today:  # as the form and the API
        return f"First met date {row.origin_date.isoformat()} is later than today."
    time_zone = row.time_zone.strip()
    if time_zone and not is_valid_timezone(time_zone):
        return (f"Time zone “{time_zone[:60]}” is not one Rapport knows: use a name like "
                "Europe/Berlin or America/New_York.")
    cadence = row.keep_in_touch.strip()
    if cadence and not (cadence.isascii() and cadence.isdigit()
                        and 1 <= int(cadence) <= CADENCE_MAX_DAYS):
        return (f"Keep in touch “{cadence[:20]}” is not a number of days between 1 and "
                f"{CADENCE_MAX_DAYS}.")
    introducer = " ".join(row.introduced_by.split())
    if len(introducer) > _LIMITS["name"]:
        return f"Introduced by is longer than {_LIMITS['name']} characters."
    return PlannedContact(
        rows=[row.number],
        tags=tags,
        channels=channels,
        origin_medium=origin,
        origin_date=row.origin_date,
        time_zone=time_zone or None,
        keep_in_touch_days=int(cadence) if cadence else None,
        introduced_by=introducer,
        private=row.private,
        archived=row.archived,
        **values,
    )


_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
)
_PLAIN_LINKEDIN = re.compile(r"https?://(?:www\.)?linkedin\.com(/in/[A-Za-z0-9%_.~-]+)/?")
# Special-use names email_validator refuses; such addresses take the full path.
_SPECIAL_TLDS = {"arpa", "invalid", "local", "localhost", "onion", "test", "internal", "home",
                 "lan", "corp", "intranet", "private"}


def _fast_normalise(key: str | None, raw: str) -> str | None:
    """The normalised handle for the plain, common shapes, computed without the full
    validator (10,000 rows of a LinkedIn export in milliseconds); None means "ask
    crm.contacts.channels.normalise_channel", which stays the authority. A test checks
    that both give the same answer."""
    value = raw.strip()
    if key == "email":
        if len(value) <= 254 and _PLAIN_EMAIL.fullmatch(value):
            local, domain = value.rsplit("@", 1)
            if len(local) <= 64 and domain.rsplit(".", 1)[1].lower() not in _SPECIAL_TLDS:
                return f"{local}@{domain.lower()}"
        return None
    if key == "linkedin":
        match = _PLAIN_LINKEDIN.fullmatch(value)
        stored = "https://www.linkedin.com" + match.group(1) if match else ""
        if match and len(stored) <= 255:  # longer: normalise_channel says why not
            return stored
    return None


def _match_keys(planned: PlannedContact) -> list[tuple[int | str, str]]:
    return [(medium_ref, handle_key(value)) for medium_ref, value, _ in planned.channels]


def plan_import(user: User, rows: list[ImportRow], *, overwrite: Iterable[str] = ()
                ) -> ImportPlan:
    """Decide what each row becomes, reading the user's contacts a few times in all."""
    mediums = _Mediums(user)
    phone_region = current_app.config.get("PHONE_DEFAULT_REGION")
    invalid: list[tuple[int, str]] = []
    good: list[PlannedContact] = []
    today = local_today(user.time_zone)
    own_tags = set(db.session.scalars(select(Tag.name).where(Tag.owner_id == user.id))
                   ) if any(row.tags for row in rows) else set()
    for row in rows:
        result = _validate(row, mediums, phone_region, today, own_tags)
        if isinstance(result, str):
            invalid.append((row.number, result))
        else:
            good.append(result)

    existing_by_handle = _existing_handles(user) if any(p.channels for p in good) else {}
    nameless = any(not p.channels for p in good)
    existing_by_name = _existing_names(user) if nameless else {}

    by_key: dict[tuple, list[PlannedContact]] = {}
    by_existing: dict[int, PlannedContact] = {}
    new: list[PlannedContact] = []
    matched: list[PlannedContact] = []
    repeated = 0

    def joins(key, name_a: str, company_a: str, name_b: str, company_b: str) -> bool:
        """A handle that is one person's joins two records whatever their names; a phone
        number or spaced text (an office line) only when their names agree too; a name
        alone, only when the companies do not differ (two John Smiths, a baker and a
        banker)."""
        if key[0] == "name":
            return not company_a or not company_b or name_key(company_a) == name_key(company_b)
        return not _shared_form(key[1]) or name_key(name_a) == name_key(name_b)

    for planned in good:
        keys = _match_keys(planned)
        lookup = keys if keys else [("name", name_key(planned.name))]
        # Handles may point to different records: the one holding most of them wins, then
        # the earliest row of the file (the oldest contact, below), whatever the mediums.
        hits: dict[int, int] = {}
        rows_of: dict[int, PlannedContact] = {}
        for k in lookup:
            for e in by_key.get(k, ()):
                if joins(k, e.name, e.company, planned.name, planned.company):
                    hits[e.rows[0]] = hits.get(e.rows[0], 0) + 1
                    rows_of[e.rows[0]] = e
        first_row = _most_hits(hits)
        if first_row is not None:
            earlier = rows_of[first_row]
            earlier.absorb(planned)
            repeated += 1
            for k in _match_keys(earlier) or lookup:
                if earlier not in by_key.setdefault(k, []):
                    by_key[k].append(earlier)
            continue
        if keys:
            hits = {}
            for k in keys:
                for contact_id, name in existing_by_handle.get(k, {}).items():
                    if joins(k, name, "", planned.name, ""):
                        hits[contact_id] = hits.get(contact_id, 0) + 1
            existing_id = _most_hits(hits)
        else:
            fits = [cid for cid, company in existing_by_name.get(lookup[0][1], [])
                    if joins(lookup[0], "", company, "", planned.company)]
            existing_id = fits[0] if len(fits) == 1 else None
        if existing_id is not None and existing_id in by_existing:
            by_existing[existing_id].absorb(planned)
            repeated += 1
            continue
        planned.existing_id = existing_id
        if existing_id is None:
            new.append(planned)
        else:
            matched.append(planned)
            by_existing[existing_id] = planned
        for k in lookup:
            by_key.setdefault(k, []).append(planned)

    matched_names = {}
    ids = [p.existing_id for p in matched]
    for start in range(0, len(ids), CHUNK):
        matched_names.update(db.session.execute(
            select(Contact.id, Contact.name).where(Contact.id.in_(ids[start:start + CHUNK]))
        ).all())
    for planned in matched:
        if name_key(planned.name) != name_key(matched_names.get(planned.existing_id, "")):
            planned.notes = combine_notes(planned.notes, also_known_as(planned.name))
    return ImportPlan(
        total_rows=len(rows),
        new=new,
        matched=matched,
        invalid=invalid,
        repeated_rows=repeated,
        new_mediums=sorted(mediums.to_create.values(), key=str.lower),
        overwrite=tuple(overwrite),
        matched_names=matched_names,
    )


def _most_hits(hits: dict[int, int]) -> int | None:
    """The id with the most hits; of equals, the lowest (the oldest contact, the earliest
    row)."""
    return min(hits, key=lambda i: (-hits[i], i), default=None)


def _existing_handles(user: User) -> dict[tuple[int, str], dict[int, str]]:
    """(medium id, lower-cased handle) -> {id: name} of the user's contacts that have it."""
    found: dict[tuple[int, str], dict[int, str]] = {}
    rows = db.session.execute(
        select(ContactChannel.medium_id, ContactChannel.value, ContactChannel.contact_id,
               Contact.name)
        .join(Contact, Contact.id == ContactChannel.contact_id)
        .where(Contact.owner_id == user.id)
    )
    for medium_id, value, contact_id, name in rows:
        found.setdefault((medium_id, handle_key(value)), {})[contact_id] = name
    return found


def _existing_names(user: User) -> dict[str, list[tuple[int, str]]]:
    """name_key(name) -> [(contact id, company)] of the user's contacts. Compared in
    Python: SQL lower() folds only ASCII on SQLite ("Zoë Ångström")."""
    found: dict[str, list[tuple[int, str]]] = {}
    for contact_id, name, company in db.session.execute(
        select(Contact.id, Contact.name, Contact.company).where(Contact.owner_id == user.id)
    ):
        found.setdefault(name_key(" ".join(name.split())), []).append((contact_id, company or ""))
    return found


# --- writing -------------------------------------------------------------------------


def run_import(user: User, plan: ImportPlan, *, skip_invalid: bool = False) -> ImportResult:
    """Write the plan with bulk statements. Refuses (writing nothing) when rows are invalid
    and skip_invalid is off."""
    if plan.invalid and not skip_invalid:
        raise ImportRefused(plan.invalid)
    from crm.mediums.services import medium_named

    result = ImportResult(skipped=len(plan.invalid), repeated_rows=plan.repeated_rows)
    created_mediums: dict[str, int] = {}
    for name in plan.new_mediums:
        medium, created = medium_named(user, name)
        created_mediums[f"new:{name}"] = medium.id
        if created:
            result.mediums_created.append(medium.name)

    def medium_id(ref):
        return created_mediums.get(ref, ref) if isinstance(ref, str) else ref

    now = utcnow()
    params = [
        {
            "owner_id": user.id, "name": p.name, "company": p.company, "title": p.title,
            "location": p.location, "notes": p.notes, "time_zone": p.time_zone,
            "keep_in_touch_days": p.keep_in_touch_days,
            "origin_medium_id": medium_id(p.origin_medium), "origin_date": p.origin_date,
            "is_private": p.private, "archived_at": now if p.archived else None,
            "created_at": now, "updated_at": now,
        }
        for p in plan.new
    ]
    for planned, contact_id in zip(plan.new, _insert_contacts(user, params, now), strict=True):
        planned.existing_id = contact_id
    result.created = len(plan.new)

    existing_channels = _channels_of([p.existing_id for p in plan.matched])
    existing_tags = _tag_links_of([p.existing_id for p in plan.matched])
    changed = _update_matched(user, plan, medium_id, now)

    channel_rows = []
    for planned in [*plan.new, *plan.matched]:
        have = existing_channels.get(planned.existing_id, set())
        for ref, value, label in planned.channels:
            mid = medium_id(ref)
            if (mid, handle_key(value)) in have:
                continue
            have.add((mid, handle_key(value)))
            channel_rows.append({"contact_id": planned.existing_id, "owner_id": user.id,
                                 "medium_id": mid, "value": value, "label": label})
            changed.add(planned.existing_id)
    for start in range(0, len(channel_rows), CHUNK * 5):
        db.session.execute(insert(ContactChannel.__table__), channel_rows[start:start + CHUNK * 5])

    tag_ids = _ensure_tags(user, {t for p in [*plan.new, *plan.matched] for t in p.tags})
    link_rows = []
    tagged: set[int] = set()
    for planned in [*plan.new, *plan.matched]:
        have = existing_tags.get(planned.existing_id, set())
        for tag in planned.tags:
            tid = tag_ids[name_key(tag)]
            if tid in have:
                continue
            have.add(tid)
            link_rows.append({"contact_id": planned.existing_id, "tag_id": tid})
            tagged.add(planned.existing_id)
            changed.add(planned.existing_id)
    for start in range(0, len(link_rows), CHUNK * 5):
        db.session.execute(insert(contact_tags), link_rows[start:start + CHUNK * 5])

    changed |= _link_introducers(user, [*plan.new, *plan.matched])

    matched_ids = {p.existing_id for p in plan.matched}
    result.updated = len(changed & matched_ids)
    result.unchanged = len(matched_ids - changed)
    db.session.flush()
    db.session.expire_all()
    with_cadence = {p.existing_id for p in [*plan.new, *plan.matched] if p.keep_in_touch_days}
    _sync_cadences(user, tagged, tag_ids, with_cadence)
    from crm.insights.cache import mark_changed

    mark_changed([user.id])  # the bulk inserts above bypass the ORM's change tracking
    return result


def _insert_contacts(user: User, params: list[dict], now) -> list[int]:
    """Insert the new contacts with executemany and read their ids back in row order.

    Ids are read back by the import's own creation instant rather than with RETURNING,
    which on SQLite would mean one statement per row; both databases number the rows of
    one transaction's inserts in order, and the names confirm the pairing.
    """
    if not params:
        return []
    contacts = Contact.__table__
    for start in range(0, len(params), CHUNK * 5):
        db.session.execute(insert(contacts), params[start:start + CHUNK * 5])
    rows = db.session.execute(
        select(contacts.c.id, contacts.c.name)
        .where(contacts.c.owner_id == user.id, contacts.c.created_at == now)
        .order_by(contacts.c.id)
    ).all()
    if [r.name for r in rows] != [p["name"] for p in params]:
        raise RuntimeError("imported contacts could not be paired with their rows")
    return [r.id for r in rows]


def _channels_of(contact_ids: list[int]) -> dict[int, set[tuple[int, str]]]:
    found: dict[int, set[tuple[int, str]]] = {}
    for start in range(0, len(contact_ids), CHUNK):
        for contact_id, medium_id, value in db.session.execute(
            select(ContactChannel.contact_id, ContactChannel.medium_id, ContactChannel.value)
            .where(ContactChannel.contact_id.in_(contact_ids[start:start + CHUNK]))
        ):
            found.setdefault(contact_id, set()).add((medium_id, handle_key(value)))
    return found


def _tag_links_of(contact_ids: list[int]) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {}
    for start in range(0, len(contact_ids), CHUNK):
        for contact_id, tag_id in db.session.execute(
            select(contact_tags.c.contact_id, contact_tags.c.tag_id)
            .where(contact_tags.c.contact_id.in_(contact_ids[start:start + CHUNK]))
        ):
            found.setdefault(contact_id, set()).add(tag_id)
    return found


_UPDATABLE = ("company", "title", "location", "notes", "origin_medium_id", "origin_date",
              "is_private", "time_zone", "keep_in_touch_days")


def _update_matched(user: User, plan: ImportPlan, medium_id, now) -> set[int]:
    """Fill what existing contacts lack; never overwrite what the user entered
    (except plan.overwrite, e.g. LinkedIn's company and position)."""
    changed: set[int] = set()
    updates = []
    contacts = Contact.__table__
    by_id = {p.existing_id: p for p in plan.matched}
    ids = list(by_id)
    for start in range(0, len(ids), CHUNK):
        earliest = _first_interaction_days(user, ids[start:start + CHUNK])
        for row in db.session.execute(
            select(contacts.c.id, *(contacts.c[name] for name in _UPDATABLE))
            .where(contacts.c.id.in_(ids[start:start + CHUNK]))
        ).mappings():
            planned = by_id[row["id"]]
            values = {name: row[name] for name in _UPDATABLE}
            for name in ("company", "title", "location"):
                incoming = getattr(planned, name)
                if incoming and (not values[name] or name in plan.overwrite):
                    values[name] = incoming
            values["notes"] = combine_notes(values["notes"], planned.notes)
            # A file can make a contact private, never public again (nor archive it).
            values["is_private"] = values["is_private"] or planned.private
            values["origin_medium_id"], values["origin_date"] = _filled_origin(
                (values["origin_medium_id"], values["origin_date"]),
                (medium_id(planned.origin_medium), planned.origin_date),
                earliest.get(row["id"]),
            )
            for name in ("time_zone", "keep_in_touch_days"):
                if values[name] is None:
                    values[name] = getattr(planned, name)
            if any(values[name] != row[name] for name in _UPDATABLE):
                changed.add(row["id"])
                # company_key goes with the company (the ORM keeps it; this is Core).
                updates.append({"b_id": row["id"], "updated_at": now, **values,
                                "company_key": alphabetical_key(values["company"])})
    if updates:
        db.session.execute(
            update(contacts).where(contacts.c.id == bindparam("b_id")).values(
                {name: bindparam(name) for name in (*_UPDATABLE, "updated_at", "company_key")}
            ),
            updates,
        )
    return changed


def _first_interaction_days(user: User, contact_ids: list[int]) -> dict[int, date]:
    """Contact id -> the day (in the user's zone) of its earliest interaction, if any."""
    participants = interaction_participants.c
    return {
        contact_id: to_local(first, user.time_zone).date()
        for contact_id, first in db.session.execute(
            select(participants.contact_id, func.min(participants.occurred_at))
            .where(participants.contact_id.in_(contact_ids))
            .group_by(participants.contact_id)
        )
        if first is not None
    }


def _filled_origin(known: tuple[int | None, date | None], incoming: tuple[int | None, date | None],
                   first_interaction: date | None) -> tuple[int | None, date | None]:
    """The first-met medium and date a matched contact ends up with: the file fills what is
    missing only where it contradicts nothing known, neither a recorded origin (its medium
    or its date) nor the contact's earliest interaction (a "first met" after it). The same
    rule for every medium and every file format; no import overwrites an origin."""
    (medium, day), (new_medium, new_day) = known, incoming
    if new_day is not None and first_interaction is not None and new_day > first_interaction:
        return known
    if None not in (medium, new_medium) and medium != new_medium:
        return known
    if None not in (day, new_day) and day != new_day:
        return known
    return (new_medium if medium is None else medium), (new_day if day is None else day)


def _link_introducers(user: User, planned: list[PlannedContact]) -> set[int]:
    """Set "introduced by" from the names the file gives, where a contact has none yet:
    to the one contact of that name (compared by name_key) after the import's writes, so
    an introducer may be a row of the same file. A name that fits no contact, or several,
    links nothing, and neither does one that would make a contact introduce itself, even
    through others (rows are linked in file order, so the earlier row of a circle keeps its
    introducer). Returns the contacts changed."""
    wanted = sorted((p for p in planned if p.introduced_by), key=lambda p: p.rows[0])
    if not wanted:
        return set()
    contacts = Contact.__table__
    introducer_of: dict[int, int | None] = {}
    by_name: dict[str, list[int]] = {}
    for contact_id, name, introduced_by_id in db.session.execute(
        select(contacts.c.id, contacts.c.name, contacts.c.introduced_by_id)
        .where(contacts.c.owner_id == user.id)
    ):
        introducer_of[contact_id] = introduced_by_id
        by_name.setdefault(name_key(" ".join(name.split())), []).append(contact_id)

    updates = []
    for p in wanted:
        fits = by_name.get(name_key(p.introduced_by), [])
        if len(fits) != 1 or introducer_of.get(p.existing_id) is not None:
            continue
        if leads_back(fits[0], p.existing_id, introducer_of.get):
            continue
        introducer_of[p.existing_id] = fits[0]
        updates.append({"b_id": p.existing_id, "introduced_by_id": fits[0],
                        "updated_at": utcnow()})
    if updates:
        db.session.execute(
            update(contacts).where(contacts.c.id == bindparam("b_id"))
            .values(introduced_by_id=bindparam("introduced_by_id"),
                    updated_at=bindparam("updated_at")),
            updates,
        )
    return {u["b_id"] for u in updates}


def _ensure_tags(user: User, names: set[str]) -> dict[str, int]:
    """name_key(tag name) -> id, creating the user's missing tags in one statement."""
    if not names:
        return {}
    wanted: dict[str, str] = {}
    for name in sorted(names):
        wanted.setdefault(name_key(name), name)
    found = {key: tag.id for key, tag in tags_by_key(user, wanted.values()).items()}
    missing = [{"owner_id": user.id, "name": wanted[k]} for k in wanted if k not in found]
    if missing:
        db.session.execute(insert(Tag.__table__), missing)
        names = [row["name"] for row in missing]
        for start in range(0, len(names), CHUNK):
            for tag_id, name in db.session.execute(
                select(Tag.id, Tag.name).where(
                    Tag.owner_id == user.id, Tag.name.in_(names[start:start + CHUNK]))
            ):
                found[name_key(name)] = tag_id
    return {k: found[k] for k in wanted}


def _sync_cadences(user: User, tagged: set[int], tag_ids: dict[str, int],
                   with_cadence: set[int]) -> None:
    """Keep-in-touch reminders for the contacts that now have a cadence: one of their own
    from the file, or a tag's default."""
    ids = set(with_cadence)
    if tagged and tag_ids and db.session.scalar(
        select(func.count()).select_from(Tag).where(
            Tag.id.in_(list(tag_ids.values())), Tag.keep_in_touch_days.is_not(None)
        )
    ):
        ids |= tagged
    if ids:
        from crm.reminders.services import sync_keep_in_touch

        sync_keep_in_touch(user.id, list(ids))
