"""Queries and writes for contacts, tags and channels."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from flask import abort
from sqlalchemy import Select, and_, bindparam, exists, false, func, or_, select, union_all
from sqlalchemy.orm import joinedload, selectinload

from crm.contacts.channels import handle_key
from crm.database import SEARCH_FOLD, lock_user, off_index, search_fold, touch_if_changed
from crm.extensions import db
from crm.memo import memo
from crm.models import (
    Contact,
    ContactChannel,
    Interaction,
    Medium,
    Tag,
    User,
    contact_tags,
    interaction_participants,
    name_key,
    search_index,
    utcnow,
)
from crm.models.reminder import OPEN_STATUSES, Reminder
from crm.models.types import alphabetical_key, holds_hidden_characters, tidy_name
from crm.timezones import local_today, to_local

SORTS = ("name", "-name", "last", "-last")


@dataclass
class ContactData:
    """What a contact form submits, already validated."""

    name: str
    company: str = ""
    title: str = ""
    location: str = ""
    time_zone: str | None = None
    notes: str = ""
    tags: list[str] = field(default_factory=list)
    origin_medium: Medium | None = None
    origin_date: date | None = None
    introduced_by: Contact | None = None
    keep_in_touch_days: int | None = None
    is_private: bool = False


@dataclass
class MediumUse:
    """One step of a relationship's path across mediums."""

    medium: Medium
    first_used: datetime | date
    count: int
    is_origin: bool = False
    # Of mediums first used at one instant, the one logged first (lower id) comes first.
    first_logged: int = 0


def contacts_for(user: User) -> Select:
    """The scoping query: every contact this user owns."""
    return contacts_of(user.id)


def contacts_of(owner_id) -> Select:
    """contacts_for an owner's id, or for a bind parameter standing for one (a statement
    built once per process)."""
    return select(Contact).where(Contact.owner_id == owner_id)


def get_contact_or_404(user: User, contact_id: int) -> Contact:
    """One of the user's contacts, or 404."""
    contact = db.session.scalar(contacts_for(user).where(Contact.id == contact_id))
    if contact is None:
        abort(404)
    return contact


def get_contact_page_or_404(user: User, contact_id: int) -> Contact:
    """A contact with what its page shows loaded up front: introducer, tags, channels."""
    contact = db.session.scalar(
        contacts_for(user)
        .where(Contact.id == contact_id)
        .options(
            joinedload(Contact.introduced_by),
            selectinload(Contact.tags),
            selectinload(Contact.channels),
        )
    )
    if contact is None:
        abort(404)
    return contact


def get_contacts(user: User, ids: list[int]) -> list[Contact]:
    """The user's contacts among ids, by name as an interaction lists its participants;
    others' ids are silently absent."""
    if not ids:
        return []
    return list(db.session.scalars(_contacts_among(), {"owner_id": user.id, "ids": ids}))


@functools.cache
def _contacts_among() -> Select:
    # Built once per process: every form that chooses people validates them with it (see
    # crm.database.user_by_id).
    return (contacts_of(bindparam("owner_id"))
            .where(Contact.id.in_(bindparam("ids", expanding=True)))
            .order_by(Contact.sort_name, Contact.id))


def search_condition(user: User, q: str):
    """Match a name, company, tag or channel handle containing q, by scanning the user's
    contacts (searched_contacts uses the search index where it can)."""
    contains = containing(q.strip())
    return or_(
        name_or_company_contains(q),
        Contact.id.in_(_ids_by_tag(user, contains)),
        Contact.id.in_(_ids_by_folded_tag(user, q)),
        *(Contact.id.in_(_ids_by_channel(user, containing(term)))
          for term in handle_terms(q.strip())),
    )


# A phone number as people write it: digits, with spaces and + - ( ) . / between them.
_PHONE_WRITTEN = re.compile(r"[0-9\s+\-()./]+")


def handle_terms(term: str) -> list[str]:
    """What a handle is searched for: the term as typed and, for a term written as a phone
    number, its digits as a phone handle stored in E.164 holds them: "+44 20 7946 0958",
    "020 7946 0958" (a national leading 0 dropped; an international 00 too), "+44 (0)20
    7946 0958" (the national 0 shown in brackets after the country code) and "7946 0958"
    all find +442079460958."""
    if not _PHONE_WRITTEN.fullmatch(term):
        return [term]
    digits = re.sub(r"[^0-9]", "", re.sub(r"^(\s*(?:\+|00)\s*\d{1,3})\s*\(0\)", r"\1", term))
    digits = digits[2:] if digits.startswith("00") else digits.removeprefix("0")
    # Fewer digits than four would find numbers by chance.
    return [term, digits] if len(digits) >= 4 and digits != term else [term]


def name_or_company_contains(q: str):
    """A contact's name or company contains q, in any case, and also with accents set aside
    (through sort_name and company_key)."""
    contains, folded = containing(q.strip()), folded_contains(q)
    return or_(contains(Contact.name), folded(Contact.sort_name),
               contains(Contact.company), folded(Contact.company_key))


def folded_contains(term: str):
    """column -> "column contains the term" with accents set aside on both sides, for the
    columns that hold their text folded so (sort_name for the name, company_key): "jose"
    finds "José", "nestle" finds "Nestlé". A term that folds to nothing (combining marks
    alone) matches nothing."""
    folded = alphabetical_key(term)
    if not folded:
        return lambda column: false()
    like = f"%{escape_like(folded)}%"
    return lambda column: column.like(like, escape="\\")


def containing(term: str):
    """column -> "column contains term, in any case", with LIKE's wildcards in term taken
    literally. Both sides are folded alike: by search_fold (Python's case folding) on
    SQLite, whose lower() folds only ASCII letters; by lower() on PostgreSQL, where the
    trigram indexes are on lower(column)."""
    if db.session.get_bind().dialect.name == "sqlite":
        like = f"%{escape_like(search_fold(term))}%"
        return lambda column: getattr(func, SEARCH_FOLD)(column).like(like, escape="\\")
    like = f"%{escape_like(term)}%"
    if not _SIGMAS.search(term):
        return lambda column: func.lower(column).like(func.lower(like), escape="\\")
    # lower() makes Σ σ but keeps a word's final ς ("λογος" would not find "ΛΟΓΟΣ"): each
    # sigma stands for any letter in a LIKE the trigram indexes still answer, then the rows
    # found are checked with ς read as σ on both sides.
    loose = func.lower(_SIGMAS.sub("_", like))
    exact = func.translate(func.lower(like), "ς", "σ")
    return lambda column: and_(
        func.lower(column).like(loose, escape="\\"),
        func.translate(func.lower(column), "ς", "σ").like(exact, escape="\\"))


_SIGMAS = re.compile("[Σσς]")


def escape_like(text: str) -> str:
    """Text for a LIKE pattern, its wildcards (and the escape character) taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# Both are scoped to the user's own rows, so the database never scans other users' tags
# or handles to answer one user's search.
def _ids_by_tag(user: User, contains) -> Select:
    return select(contact_tags.c.contact_id).where(contact_tags.c.tag_id.in_(
        select(Tag.id).where(Tag.owner_id == user.id, contains(Tag.name))
    ))


def _ids_by_folded_tag(user: User, term: str) -> Select:
    """The contacts carrying a tag whose name contains the term with accents set aside
    ("eclair" finds the tag "Éclair"). A user's tags are few: they are folded in Python,
    once per version of the network in each process, so a search runs no more statements
    than before."""
    folded = alphabetical_key(term)
    ids = []
    if folded:
        keys = memo("tag_keys").get_or_compute(
            user.id, user.network_version, utcnow(),
            lambda: [(tag_id, alphabetical_key(name)) for tag_id, name in db.session.execute(
                select(Tag.id, Tag.name).where(Tag.owner_id == user.id))],
        )
        ids = [tag_id for tag_id, key in keys if folded in key]
    return select(contact_tags.c.contact_id).where(contact_tags.c.tag_id.in_(ids))


def _ids_by_channel(user: User, contains) -> Select:
    # By the channel's own copy of its owner: PostgreSQL may walk the user's handles
    # (ix_contact_channels_owner_value) rather than every user's trigram matches.
    return select(ContactChannel.contact_id).where(
        ContactChannel.owner_id == user.id, contains(ContactChannel.value))


def searched_contacts(user: User, q: str) -> Select:
    """The user's contacts whose name, company, tag or channel handle contains q
    (case-insensitively), found through the search index where q allows it."""
    term = q.strip()
    if db.session.get_bind().dialect.name == "sqlite":
        term = search_fold(term)
        if _GLOB_LITERAL_RUN.search(term) and search_index.sqlite_search_index_ready(
            db.session.connection()
        ):
            # The few matching contacts are looked up by id, not found by walking every
            # contact of the user through the owner index and probing the matches.
            return select(Contact).where(
                Contact.id.in_(_fts_matches(user, term)), off_index(Contact.owner_id) == user.id
            )
    elif _WORD_RUN.search(term):
        return contacts_for(user).where(Contact.id.in_(_matching_ids(user, term)))
    # Trigrams need three characters in a row: a shorter term scans the user's contacts
    # (it matches many, so a page fills early), as does SQLite without the index.
    return contacts_for(user).where(search_condition(user, q))


# What a term needs for the trigram indexes to find it: three characters in a row that
# are not GLOB wildcards for SQLite's FTS5 tables; three letters or digits in a row for
# pg_trgm, which takes its trigrams from words.
_GLOB_LITERAL_RUN = re.compile(r"[^*?\[]{3}")
_WORD_RUN = re.compile(r"[^\W_]{3}")


def _matching_ids(user: User, term: str):
    """Ids of the user's contacts with a match, one SELECT per kind of text, so that
    PostgreSQL can answer each LIKE from its pg_trgm index (combined with the owner index
    for names and companies); an OR of subqueries would keep it from using any of them."""
    contains = containing(term)
    folded = folded_contains(term)
    mine = select(Contact.id).where(Contact.owner_id == user.id)
    return union_all(
        mine.where(contains(Contact.name)),
        mine.where(folded(Contact.sort_name)),
        mine.where(contains(Contact.company)),
        mine.where(folded(Contact.company_key)),
        _ids_by_tag(user, contains),
        _ids_by_folded_tag(user, term),
        *(_ids_by_channel(user, containing(handle)) for handle in handle_terms(term)),
    )


def _fts_matches(user: User, term: str):
    """Ids of contacts with a match, through SQLite's FTS5 trigram tables, which hold the
    folded text (term folded alike; owner checked by the caller; tags are the user's own)."""
    pattern = f"*{_escape_glob(term)}*"
    folded = folded_contains(term)
    contacts_fts = search_index.search_contacts
    tags_fts = search_index.search_tags
    channels_fts = search_index.search_contact_channels
    # IN (subquery) rather than joins: SQLite then runs each FTS lookup once instead of
    # probing the FTS table once per row of the other side.
    return union_all(
        select(contacts_fts.c.rowid).where(contacts_fts.c.name.op("GLOB")(pattern)),
        # Names and companies with accents set aside: no FTS table holds them; the
        # owner's part of the index that holds both is walked (about 1 ms at 5,000
        # contacts), never a row read.
        select(Contact.id).where(Contact.owner_id == user.id,
                                 or_(folded(Contact.sort_name), folded(Contact.company_key))),
        select(contacts_fts.c.rowid).where(contacts_fts.c.company.op("GLOB")(pattern)),
        select(contact_tags.c.contact_id).where(contact_tags.c.tag_id.in_(
            select(Tag.id).where(Tag.owner_id == user.id, Tag.id.in_(
                select(tags_fts.c.rowid).where(tags_fts.c.name.op("GLOB")(pattern))
            ))
        )),
        _ids_by_folded_tag(user, term),
        *(select(ContactChannel.contact_id).where(ContactChannel.id.in_(
            select(channels_fts.c.rowid).where(
                channels_fts.c.value.op("GLOB")(f"*{_escape_glob(handle)}*"))
        )) for handle in handle_terms(term)),
    )


def _escape_glob(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def list_contacts(
    user: User,
    *,
    q: str = "",
    tag: str = "",
    sort: str = "name",
    archived: bool = False,
    page: int = 1,
    per_page: int = 25,
    count_search: bool = True,
):
    """A page of the user's contacts, with what the list shows eagerly loaded.

    With count_search=False a search page has no total, only previous and next
    (counting every match costs as much as the search itself)."""
    query = _listed(user, q=q, tag=tag, archived=archived)
    if sort not in SORTS:
        sort = "name"
    name_order = (Contact.sort_name, Contact.id)
    if sort == "name":
        query = query.order_by(*name_order)
    elif sort == "-name":
        query = query.order_by(Contact.sort_name.desc(), Contact.id.desc())
    elif sort == "last":
        # Most recent first; never-contacted people last. Matches ix_contacts_owner_last.
        query = query.order_by(
            Contact.last_interaction_at.desc().nulls_last(), Contact.id.desc()
        )
    else:
        query = query.order_by(
            Contact.last_interaction_at.asc().nulls_last(), Contact.id.asc()
        )
    query = query.options(*_LISTED_WITH)
    if q.strip():
        if not count_search:
            # A search has no index to count with: fetch one row more than the page to
            # know whether there is a next page, instead of counting every match.
            return SearchPage(query, page=page, per_page=min(per_page, 100))
        return db.paginate(query, page=page, per_page=per_page, error_out=False,
                           max_per_page=100)
    total = _counted(user, (archived, name_key(tag)), query)
    pagination = db.paginate(query, page=page, per_page=per_page, error_out=False,
                             max_per_page=100, count=False)
    pagination.total = total
    return pagination


# What a list of contacts shows with each, eagerly loaded.
_LISTED_WITH = (
    selectinload(Contact.tags),
    # Many-to-one: joined into the page's own query rather than two more round trips.
    joinedload(Contact.last_interaction).joinedload(Interaction.medium),
)


def _listed(user: User, *, q: str, tag: str, archived: bool) -> Select:
    """The user's contacts the list's filters keep (in no order): found by q, carrying
    the tag, archived or not."""
    query = searched_contacts(user, q) if q.strip() else contacts_for(user)
    query = query.where(
        Contact.archived_at.is_not(None) if archived else Contact.archived_at.is_(None)
    )
    if tag:
        query = query.where(exists().where(contact_tags.c.contact_id == Contact.id,
                                           contact_tags.c.tag_id.in_(tags_named(user, tag))))
    return query


def tags_named(user: User, tag: str) -> list[int]:
    """The ids of the user's tags named tag, by name_key: in any case and alphabet, as tags
    are named (none: no tag of that name, renamed or deleted perhaps)."""
    return [tid for tid, name in db.session.execute(
        select(Tag.id, Tag.name).where(Tag.owner_id == user.id))
        if name_key(name) == name_key(tag)]


@dataclass(frozen=True)
class NamePosition:
    """Where a page of contacts by name ends: a contact's (sort_name, id), the list's
    order (compared by code point on both databases: sort_name's collation is "C")."""

    sort_name: str
    id: int

    @classmethod
    def of(cls, contact: Contact) -> NamePosition:
        return cls(contact.sort_name, contact.id)


@dataclass(frozen=True)
class NamePage:
    """A page of contacts by name and where the next one starts (None: the last page)."""

    items: list[Contact]
    after: NamePosition | None


def contacts_by_name(user: User, *, q: str = "", tag: str = "", archived: bool = False,
                     after: NamePosition | None = None, per_page: int = 25) -> NamePage:
    """A page of the user's contacts by name, as the list filters them, starting after a
    position rather than at an offset: one walk of ix_contacts_owner_sort_name from there
    (a search: its matches, sorted), one row more than a page telling whether there is
    more, no count. A contact added or deleted meanwhile neither repeats nor hides
    another; one renamed moves to where its new name files."""
    query = _listed(user, q=q, tag=tag, archived=archived).order_by(
        Contact.sort_name, Contact.id)
    if after is not None:
        # "After (name, id)" spelt with a bound on the name alone first, which both
        # databases walk the index from.
        query = query.where(Contact.sort_name >= after.sort_name,
                            or_(Contact.sort_name > after.sort_name, Contact.id > after.id))
    rows = list(db.session.scalars(query.limit(per_page + 1).options(*_LISTED_WITH)))
    items = rows[:per_page]
    return NamePage(items, NamePosition.of(items[-1]) if len(rows) > per_page else None)


def _counted(user: User, key: tuple, query: Select) -> int:
    """How many rows a list of the user's contacts has. Counting reads every one of them:
    once per version of the network in each process."""
    return memo("contact_counts").get_or_compute(
        (user.id, *key), user.network_version, utcnow(),
        lambda: db.session.scalar(
            select(func.count()).select_from(query.order_by(None).subquery())),
    )


def active_contact_count(user: User) -> int:
    """The user's contacts that are not archived (the contact list's own total)."""
    return _counted(user, (False, name_key("")),
                    contacts_for(user).where(Contact.archived_at.is_(None)))


def archived_contact_count(user: User) -> int:
    """The user's archived contacts (the archived list's own total)."""
    return _counted(user, (True, name_key("")),
                    contacts_for(user).where(Contact.archived_at.is_not(None)))


class SearchPage:
    """A page of search results without a total: previous and next only."""

    total = None

    def __init__(self, query: Select, *, page: int, per_page: int):
        self.page = max(page, 1)
        self.per_page = per_page
        rows = list(
            db.session.scalars(query.limit(per_page + 1).offset((self.page - 1) * per_page))
        )
        self.items = rows[:per_page]
        self.has_next = len(rows) > per_page
        self.has_prev = self.page > 1
        self.next_num = self.page + 1
        self.prev_num = self.page - 1
        self.pages = self.page + (1 if self.has_next else 0)


def tag_names(user: User) -> list[str]:
    """Every tag the user has, alphabetically."""
    return sorted(db.session.scalars(select(Tag.name).where(Tag.owner_id == user.id)),
                  key=alphabetical_key)


TAG_HIDDEN_CHARACTERS = "A tag's name cannot hold line breaks, tabs or invisible characters."
TAG_COMMA = "A tag's name cannot hold a comma: commas separate tags on a contact's form."


def tag_refusal(raw: str) -> str | None:
    """Why text given for one tag cannot be a tag's name, or None: no line break, tab or
    invisible character (as in a medium's name: holds_hidden_characters) and no comma (the
    contact form would read two tags). The one rule of every way a tag comes in: the tags
    page, the contact form, the API's contact tags and imports."""
    if holds_hidden_characters(raw):
        return TAG_HIDDEN_CHARACTERS
    if "," in raw:
        return TAG_COMMA
    return None


def tags_refusal(names, *, carried=()) -> str | None:
    """Why these tags, given for one contact, cannot be saved (tag_refusal of the first
    that cannot, quoted by what can be seen of it), or None. A tag the contact carries
    already, as stored (`carried`), passes: tags made before the rule are kept as they are."""
    kept = set(carried)
    for raw in names:
        message = tag_refusal(raw)
        if message and tidy_name(raw) not in kept:
            shown = "".join(ch for ch in raw if ch.isprintable()).strip()
            return f"Tag “{shown[:40]}”: {message}"
    return None


def parse_tags(raw: str) -> list[str]:
    """Split a comma-separated tag list, dropping blanks and repeats (case-insensitively)."""
    seen: dict[str, str] = {}
    for part in (raw or "").split(","):
        name = tidy_name(part)
        if name and name_key(name) not in seen:
            seen[name_key(name)] = name
    return list(seen.values())


def combine_notes(kept: str | None, added: str | None) -> str:
    """The notes of two records of one person (a merge, an import): the added notes follow
    the kept ones as paragraphs of their own, unless the kept notes hold them already as
    whole paragraphs (line breaks compared without CR), so merging or importing again adds
    nothing twice and no note is lost for being part of a longer one."""
    kept = kept or ""
    added = (added or "").replace("\r\n", "\n").strip()
    if not added:
        return kept
    if f"\n\n{added}\n\n" in f"\n\n{kept.replace(chr(13) + chr(10), chr(10)).strip()}\n\n":
        return kept
    return f"{kept}\n\n{added}" if kept else added


def combine_origins(kept: tuple[int | None, date | None], added: tuple[int | None, date | None]
                    ) -> tuple[int | None, date | None]:
    """Where two records of one person (a merge, an import's repeated rows) first met, as
    (medium id, date), either part possibly unknown. Two origins that differ (in medium or
    in date) are two claims: the earlier dated one stands whole (a dated one over one
    without a date; the kept one on a tie), since the first meeting is the earliest.
    Otherwise each fills what the other lacks, so no date or medium is lost. The rule looks
    at dates only, never at which medium it is."""
    (medium, day), (new_medium, new_day) = kept, added
    differ = (None not in (medium, new_medium) and medium != new_medium) or (
        None not in (day, new_day) and day != new_day)
    if differ:
        return added if new_day is not None and (day is None or new_day < day) else kept
    return (medium if medium is not None else new_medium, day if day is not None else new_day)


def tags_by_key(user: User, names) -> dict[str, Tag]:
    """name_key -> Tag of every tag the user has (a few dozen rows: the only way to compare
    names the same way on every database). When some of names are not among them, the
    caller is about to create them: the user's lock is taken and the tags read again, so
    a request naming the same new tag at once waits and finds it (lock_user)."""
    def read() -> dict[str, Tag]:
        return {name_key(t.name): t
                for t in db.session.scalars(select(Tag).where(Tag.owner_id == user.id))}

    existing = read()
    if any(name_key(name) not in existing for name in names):
        lock_user(user.id)
        existing = read()
    return existing


def _resolve_tags(user: User, names: list[str]) -> list[Tag]:
    """The user's tags of these names (matched by name_key), creating the missing ones."""
    if not names:
        return []
    existing = tags_by_key(user, names)
    tags = []
    for name in names:
        tag = existing.get(name_key(name))
        if tag is None:
            tag = Tag(owner_id=user.id, name=name)
            db.session.add(tag)
            existing[name_key(name)] = tag
        tags.append(tag)
    return tags


def _apply(user: User, contact: Contact, data: ContactData) -> None:
    contact.name = data.name
    contact.company = data.company
    contact.title = data.title
    contact.location = data.location
    contact.time_zone = data.time_zone or None
    contact.notes = data.notes
    contact.origin_medium_id = data.origin_medium.id if data.origin_medium else None
    contact.origin_date = data.origin_date
    contact.introduced_by_id = data.introduced_by.id if data.introduced_by else None
    contact.keep_in_touch_days = data.keep_in_touch_days
    contact.is_private = data.is_private
    contact.tags = _resolve_tags(user, data.tags)


def create_contact(user: User, data: ContactData) -> Contact:
    """Add a contact to the user's network."""
    contact = Contact(owner_id=user.id)
    _apply(user, contact, data)
    db.session.add(contact)
    db.session.flush()
    _cadence_changed(user.id, contact)
    return contact


def update_contact(user: User, contact: Contact, data: ContactData) -> None:
    """Save an edited contact."""
    if data.introduced_by is not None and _introduces_back(contact, data.introduced_by):
        raise ValueError("introduction cycle")
    _apply(user, contact, data)
    touch_if_changed(contact)
    db.session.flush()
    _cadence_changed(user.id, contact)


def _cadence_changed(owner_id: int, contact: Contact) -> None:
    from crm.reminders.services import sync_keep_in_touch

    sync_keep_in_touch(owner_id, [contact.id])


def _introduces_back(contact: Contact, introducer: Contact) -> bool:
    """True when introducer is contact itself or was (indirectly) introduced by contact."""
    return leads_back(introducer.id, contact.id,
                      lambda cid: db.session.get(Contact, cid).introduced_by_id)


def leads_back(start_id: int, target_id: int, introducer_of: Callable[[int], int | None]
               ) -> bool:
    """True when the chain of introductions from start_id (start_id, its introducer, theirs,
    ...) reaches target_id: making target_id's introducer start_id would close a circle.
    introducer_of(id) gives a contact's introducer's id, or None."""
    seen: set[int] = set()
    current: int | None = start_id
    while current is not None and current not in seen:
        if current == target_id:
            return True
        seen.add(current)
        current = introducer_of(current)
    return False


def set_archived(contact: Contact, archived: bool) -> None:
    """Archive or restore a contact; nothing about it is lost."""
    contact.archived_at = utcnow() if archived else None
    db.session.flush()
    _cadence_changed(contact.owner_id, contact)


def deletion_impact(contact: Contact) -> dict[str, int]:
    """What deleting a contact removes: solo interactions go, shared ones stay; their
    reminders go, open and ended; the people they introduced lose their "introduced by"."""
    solo = _solo_interaction_ids(contact)

    def counted(query: Select):
        return select(func.count()).select_from(query.subquery()).scalar_subquery()

    theirs = select(Reminder.id).where(Reminder.contact_id == contact.id)
    total, open_reminders, reminders, introduced = db.session.execute(select(
        counted(select(interaction_participants.c.interaction_id)
                .where(interaction_participants.c.contact_id == contact.id)),
        counted(theirs.where(Reminder.status.in_(OPEN_STATUSES))),
        counted(theirs),
        counted(select(Contact.id).where(Contact.introduced_by_id == contact.id)),
    )).one()
    return {"solo_interactions": len(solo), "shared_interactions": total - len(solo),
            "open_reminders": open_reminders, "ended_reminders": reminders - open_reminders,
            "introduced": introduced}


def _solo_interaction_ids(contact: Contact) -> list[int]:
    others = (
        select(interaction_participants.c.interaction_id)
        .where(interaction_participants.c.contact_id != contact.id)
        .scalar_subquery()
    )
    return list(
        db.session.scalars(
            select(interaction_participants.c.interaction_id).where(
                interaction_participants.c.contact_id == contact.id,
                interaction_participants.c.interaction_id.not_in(others),
            )
        )
    )


def delete_contact(contact: Contact) -> None:
    """Delete a contact, the interactions only they took part in, and their channels."""
    from sqlalchemy import update

    from crm.interactions.services import delete_interactions

    delete_interactions(contact.owner_id, _solo_interaction_ids(contact))
    # The database changes others' rows as the contact goes (ON DELETE SET NULL clears
    # introduced_by_id, CASCADE drops them from the interactions they shared), and no
    # onupdate fires for that: move updated_at, the API's change marker, here, while who
    # they were is still known. The interactions left with them are the shared ones.
    now = utcnow()
    db.session.execute(
        update(Contact)
        .where(Contact.introduced_by_id == contact.id)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(Interaction)
        .where(Interaction.id.in_(
            select(interaction_participants.c.interaction_id)
            .where(interaction_participants.c.contact_id == contact.id)
        ))
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.delete(contact)
    db.session.flush()


FIRST_MET_LATER_THAN_TODAY = "First met can't be later than today."


def first_met_later_than_today(user: User, when: date | None) -> bool:
    """Whether a first-met date lies after today in the user's zone."""
    return when is not None and when > local_today(user.time_zone)


def add_channel(contact: Contact, medium: Medium, value: str, label: str = "") -> ContactChannel:
    """Add a handle; the caller has normalised value already. A handle differing from one
    the contact has on the medium only in case is that one (as imports and the duplicate
    finder see it: ADA@example.com is ada@example.com)."""
    held = db.session.scalars(
        select(ContactChannel.value).where(
            ContactChannel.contact_id == contact.id,
            ContactChannel.medium_id == medium.id,
        )
    )
    if handle_key(value) in {handle_key(v) for v in held}:
        raise ValueError("duplicate channel")
    channel = ContactChannel(contact_id=contact.id, owner_id=contact.owner_id,
                             medium_id=medium.id, value=value, label=label)
    db.session.add(channel)
    contact.updated_at = utcnow()  # a handle is part of the contact
    db.session.flush()
    return channel


def get_channel_or_404(contact: Contact, channel_id: int) -> ContactChannel:
    """A channel of this contact, or 404."""
    channel = db.session.scalar(
        select(ContactChannel).where(
            ContactChannel.id == channel_id, ContactChannel.contact_id == contact.id
        )
    )
    if channel is None:
        abort(404)
    return channel


def remove_channel(channel: ContactChannel) -> None:
    """Remove one handle from a contact."""
    channel.contact.updated_at = utcnow()
    db.session.delete(channel)
    db.session.flush()


def medium_path(contact: Contact, uses, tz_name: str = "UTC") -> list[MediumUse]:
    """Every medium this relationship has used, in the order it was first used.

    The origin ("first met on") is the first step when it is known. The order
    is a fact about time; it grades no medium above another. `uses` is (medium id, first
    used, count, first logged) per medium, from insights.services.contact_figures. Days
    are the viewer's (tz_name), as the page shows them: the first-met date is a day there.
    """

    def day(value: datetime | date) -> date:
        return to_local(value, tz_name).date() if isinstance(value, datetime) else value

    medium_ids = {row[0] for row in uses}
    if contact.origin_medium_id:
        medium_ids.add(contact.origin_medium_id)
    # session.get serves mediums already loaded for this request without a query.
    mediums = {mid: db.session.get(Medium, mid) for mid in medium_ids}
    path: dict[int, MediumUse] = {}
    for mid, first, count, first_logged in uses:
        path[mid] = MediumUse(medium=mediums[mid], first_used=first, count=count,
                              first_logged=first_logged)
    origin_id = contact.origin_medium_id
    if origin_id and origin_id in mediums:
        origin = path.get(origin_id)
        if origin is None:
            path[origin_id] = MediumUse(
                medium=mediums[origin_id],
                first_used=contact.origin_date or contact.created_at,
                count=0,
                is_origin=True,
            )
        else:
            origin.is_origin = True
            if contact.origin_date and contact.origin_date < day(origin.first_used):
                origin.first_used = contact.origin_date
    # The origin leads on its own day; otherwise the moment of first use, then of two at
    # one moment the one logged first, as the dashboard decides where a relationship began.
    return sorted(
        path.values(),
        key=lambda u: (day(u.first_used), not u.is_origin, _instant(u.first_used),
                       u.first_logged),
    )


def _instant(value: datetime | date) -> str:
    return value.isoformat() if isinstance(value, datetime) else value.isoformat() + "T00:00"
