"""Queries and writes for interactions."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from flask import abort
from sqlalchemy import Select, bindparam, delete, func, literal_column, or_, select, update
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.util import identity_key

from crm.contacts.services import containing
from crm.database import off_index, search_fold, touch_if_changed
from crm.extensions import db
from crm.models import (
    Contact,
    Initiator,
    Interaction,
    Medium,
    Reminder,
    User,
    interaction_participants,
    search_index,
)
from crm.params import record_id
from crm.timezones import local_day_start


@dataclass
class InteractionData:
    """What the interaction form submits, already validated and in UTC."""

    medium: Medium
    occurred_at: datetime
    initiated_by: Initiator
    participants: list[Contact]
    summary: str
    notes: str = ""
    is_private: bool = False


# A day of grace: a meeting logged the evening before, or by someone whose clock or zone is
# a little ahead, is fine; anything later (2199 for 2019) is a typo, and it would make the
# contact's last interaction, and its keep-in-touch reminder, that far ahead.
AHEAD_GRACE = timedelta(days=1)
MORE_THAN_A_DAY_AHEAD = "That is more than a day ahead. Log interactions that happened."


def more_than_a_day_ahead(occurred_at: datetime, now: datetime) -> bool:
    """Whether an interaction's time is more than a day after now: too far ahead to have
    happened. Both naive wall times (the web form's) or both aware instants (the API's)."""
    return occurred_at > now + AHEAD_GRACE


def interactions_for(user: User) -> Select:
    """The scoping query: every interaction this user logged."""
    return select(Interaction).where(Interaction.owner_id == user.id)


def get_interaction_or_404(user: User, interaction_id: int) -> Interaction:
    """One of the user's interactions, or 404."""
    interaction = db.session.scalar(
        interactions_for(user)
        .where(Interaction.id == interaction_id)
        .options(selectinload(Interaction.participants))
    )
    if interaction is None:
        abort(404)
    return interaction


def timeline(user: User, contact: Contact, *, newest_first: bool = True, page: int = 1,
             per_page: int = 50, total: int | None = None):
    """A page of every interaction with this contact, on every medium, in time order.

    Pass `total` when the caller has counted the interactions already: the page's own
    count query would scan the owner's whole log on SQLite.
    """
    query = with_contact(interactions_for(user), contact.id, newest_first=newest_first).options(
        joinedload(Interaction.medium), selectinload(Interaction.participants)
    )
    if total is None:
        return db.paginate(query, page=page, per_page=per_page, error_out=False)
    pagination = db.paginate(query, page=page, per_page=per_page, error_out=False, count=False)
    pagination.total = total
    return pagination


def with_contact(query, contact_id: int, *, newest_first: bool = True):
    """Narrow an interaction query to one contact's, in time order (ties by id).

    Orders by the participants' copy of occurred_at, so the database walks
    ix_interaction_participants_contact_occurred and stops after one page."""
    ip = interaction_participants.c
    order = (
        (ip.occurred_at.desc(), ip.interaction_id.desc())
        if newest_first
        else (ip.occurred_at.asc(), ip.interaction_id.asc())
    )
    return (
        query.join(interaction_participants, ip.interaction_id == Interaction.id)
        .where(ip.contact_id == contact_id)
        .order_by(*order)
    )


def recent_interactions(user: User, limit: int = 10) -> list[Interaction]:
    """The user's latest interactions across all contacts and mediums."""
    return list(
        db.session.scalars(
            interactions_for(user)
            .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
            .limit(limit)
            .options(joinedload(Interaction.medium), selectinload(Interaction.participants))
        )
    )


@dataclass(frozen=True)
class ActivityFilters:
    """What the list of all one's interactions is narrowed to; None is any."""

    medium_id: int | None = None
    initiated_by: Initiator | None = None
    first_day: date | None = None  # local days of the user's zone, both included
    last_day: date | None = None
    contact_id: int | None = None
    words: str = ""  # text the summary or notes contain, in any case ("" is any)
    since: datetime | None = None  # instants (aware): at or after since, before until
    until: datetime | None = None


@dataclass(frozen=True)
class Position:
    """Where a page of the list ends: an interaction's (occurred_at, id), the list's order.

    A page starts after a position instead of at an offset, so it costs one index walk of
    a page's length however far back it is, and an interaction logged meanwhile neither
    repeats nor hides one (interactions at the same instant are told apart by id)."""

    occurred_at: datetime
    id: int

    _TOKEN = re.compile(r"(\d{8}T\d{6}\.\d{6})Z_(\d{1,10})")

    @classmethod
    def of(cls, interaction: Interaction) -> Position:
        return cls(interaction.occurred_at, interaction.id)

    @property
    def token(self) -> str:
        """The position as a page's link carries it (UTC, to the microsecond)."""
        return f"{self.occurred_at.astimezone(UTC):%Y%m%dT%H%M%S.%f}Z_{self.id}"

    @classmethod
    def parse(cls, token: str) -> Position:
        """A position from its token; ValueError for anything else."""
        found = cls._TOKEN.fullmatch(token)
        if found is None:
            raise ValueError(f"{token!r} is not a position")
        at = datetime.strptime(found[1], "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)
        return cls(at, record_id(found[2]))


@dataclass(frozen=True)
class ActivityPage:
    """A page of the list, newest first, and where the pages beside it start."""

    items: list[Interaction]
    older: Position | None  # "Older →" continues after it; None: nothing older
    newer: Position | None  # "← Newer" continues before it; None: this page is the newest


def activity(user: User, filters: ActivityFilters, *, older: Position | None = None,
             newer: Position | None = None, per_page: int = 25) -> ActivityPage:
    """A page of every interaction of the user, newest first (ties by id), narrowed by the
    filters: the page after `older`, the page before `newer`, or the newest page.

    One statement walks ix_interactions_owner_occurred (or, for one person's,
    ix_interaction_participants_contact_occurred) from the position and stops after a
    page and one more row, which tells whether there is more: no count, no offset. The
    page before `newer` is read oldest first and turned around; when it is short, it is
    the newest page (newer is None) and the caller shows that one instead. With words, the
    walk checks each interaction's text, or the few that the search index finds are
    sorted instead (see saying)."""
    query = saying(user, filters.words) if filters.words.strip() else interactions_for(user)
    backwards = newer is not None
    if filters.contact_id is not None:
        # Ordered by the participants' copy of occurred_at, on their index.
        query = with_contact(query, filters.contact_id, newest_first=not backwards)
        at, key = interaction_participants.c.occurred_at, interaction_participants.c.interaction_id
    else:
        at, key = Interaction.occurred_at, Interaction.id
        query = query.order_by(*((at.asc(), key.asc()) if backwards else (at.desc(), key.desc())))
    if filters.medium_id is not None:
        query = query.where(Interaction.medium_id == filters.medium_id)
    if filters.initiated_by is not None:
        query = query.where(Interaction.initiated_by == filters.initiated_by)
    if filters.first_day is not None:
        query = query.where(at >= local_day_start(filters.first_day, user.time_zone))
    if filters.last_day is not None:
        query = query.where(at < local_day_start(filters.last_day + timedelta(days=1),
                                                 user.time_zone))
    if filters.since is not None:
        query = query.where(at >= filters.since)
    if filters.until is not None:
        query = query.where(at < filters.until)
    # "Before (t, id)" spelt with a bound on t alone first: both databases walk the index
    # from there, whatever they make of the tie on id.
    if older is not None:
        query = query.where(at <= older.occurred_at,
                            or_(at < older.occurred_at, key < older.id))
    if newer is not None:
        query = query.where(at >= newer.occurred_at,
                            or_(at > newer.occurred_at, key > newer.id))
    rows = list(db.session.scalars(
        query.limit(per_page + 1).options(selectinload(Interaction.participants))))
    more, items = len(rows) > per_page, rows[:per_page]
    if backwards:
        items.reverse()
        return ActivityPage(items, older=Position.of(items[-1]) if items else None,
                            newer=Position.of(items[0]) if more else None)
    return ActivityPage(items, older=Position.of(items[-1]) if more else None,
                        newer=Position.of(items[0]) if older is not None and items else None)


# On SQLite, up to this many interactions (of every user) whose text holds a term are
# looked up through the search index and sorted; a term found more often is checked on the
# walk instead, which then fills a page after a few rows. Where the two cost the same: at
# the heavy networker's 100,000 interactions, 1,500 matches read by id and sorted cost
# 16 ms over the unsearched page and walked 41 ms (their newest are spread thinner), 900
# matches 13 ms by id; a term in 2,500 of 430,000 interactions takes a walk of about 4,000
# rows (about 12 ms) where the user's share is like everyone's.
FEW_MATCHES = 2500
MATCHES_READ = 2 * FEW_MATCHES


def saying(user: User, words: str) -> Select:
    """The scoping query narrowed to the interactions whose summary or notes contain words,
    in any case: folded as the contact search folds (crm.contacts.services.containing),
    wildcards taken literally.

    PostgreSQL chooses from its statistics between its trigram indexes on lower(summary)
    and lower(notes) (a rare term) and walking the log in order with the check (a common
    one). SQLite has no statistics to choose with: one statement asks its FTS5 table
    (search_interactions) whether the term is in at most MATCHES_READ interactions of
    everyone's, at most FEW_MATCHES of them the user's; if so, hers are looked up by id
    and sorted, else the walk checks each row, as it does for a term shorter than a
    trigram or without the index."""
    term = words.strip()
    contains = containing(term)
    said = or_(contains(Interaction.summary), contains(Interaction.notes))
    if db.session.get_bind().dialect.name != "sqlite":
        return interactions_for(user).where(said)
    if len(search_fold(term)) >= 3 and search_index.sqlite_search_index_ready(
            db.session.connection(), search_index.INTERACTION_SOURCES):
        fts = search_index.search_interactions
        # A phrase: the term's trigrams in a row, in either column; its own quotes doubled.
        phrase = '"' + search_fold(term).replace('"', '""') + '"'
        matching = select(fts.c.rowid).where(literal_column(fts.name).op("MATCH")(phrase))
        # The table holds every user's interactions: of its first matches (at most
        # MATCHES_READ), how many, and how many of them are the user's own. Others
        # mentioning a term a few thousand times must not make a user who mentions it
        # seldom walk her whole log; a term in more than MATCHES_READ is walked, as its
        # own matches could only be told by reading every one.
        counted = select(Interaction.owner_id).where(
            Interaction.id.in_(matching.limit(MATCHES_READ + 1))).subquery()
        found, own = db.session.execute(select(
            func.count(), func.count().filter(counted.c.owner_id == user.id))).one()
        if found <= MATCHES_READ and own <= FEW_MATCHES:
            # By id, then sorted: not found by walking the owner's (or a medium's) index
            # and probing the matches for each of its rows.
            return select(Interaction).where(
                Interaction.id.in_(matching), off_index(Interaction.owner_id) == user.id)
    if "\n" not in term:
        # One fold a row rather than two, which halves a walk through the whole log (a
        # rare term of two letters): across a line break, which the term has none of.
        said = contains(Interaction.summary + "\n" + Interaction.notes)
    return interactions_for(user).where(said)


def log_interaction(user: User, data: InteractionData) -> Interaction:
    """Record an interaction and refresh its participants' last-interaction facts."""
    interaction = Interaction(owner_id=user.id)
    _apply(interaction, data)
    db.session.add(interaction)
    db.session.flush()
    _contacts_changed(user.id, [c.id for c in data.participants])
    return interaction


def update_interaction(interaction: Interaction, data: InteractionData) -> list[Reminder]:
    """Save an edited interaction; both old and new participants are refreshed.

    Returns the open follow-ups it made about people it no longer has: they stay (the
    user may still want to follow up), and the page says so."""
    from crm.models.reminder import OPEN_STATUSES

    before = {c.id for c in interaction.participants}
    _apply(interaction, data)
    touch_if_changed(interaction)
    db.session.flush()
    _contacts_changed(interaction.owner_id, before | {c.id for c in data.participants})
    removed = before - {c.id for c in data.participants}
    if not removed:
        return []
    return list(db.session.scalars(
        select(Reminder)
        .where(Reminder.interaction_id == interaction.id, Reminder.contact_id.in_(removed),
               Reminder.status.in_(OPEN_STATUSES))
        .order_by(Reminder.id)
        .options(selectinload(Reminder.contact))
    ))


def delete_interaction(interaction: Interaction) -> None:
    """Delete one interaction."""
    delete_interactions(interaction.owner_id, [interaction.id])


def delete_interactions(owner_id: int, ids: list[int]) -> None:
    """Delete the owner's interactions among ids and refresh the contacts they touched."""
    if not ids:
        return
    touched = list(
        db.session.scalars(
            select(interaction_participants.c.contact_id)
            .where(interaction_participants.c.interaction_id.in_(ids))
            .distinct()
        )
    )
    # A follow-up made from a private interaction stays the user's once the interaction
    # goes (interaction_id becomes NULL), and keeps out of a coach's figures: say so now,
    # while the interaction still says it was private.
    db.session.execute(
        update(Reminder)
        .where(Reminder.interaction_id.in_(
            select(Interaction.id).where(Interaction.id.in_(ids),
                                         Interaction.owner_id == owner_id,
                                         Interaction.is_private.is_(True))))
        .values(from_private_interaction=True)
        .execution_options(synchronize_session=False)
    )
    # Clear the denormalised pointers first so the foreign key never dangles.
    db.session.execute(
        update(Contact)
        .where(Contact.last_interaction_id.in_(ids))
        .values(last_interaction_id=None, last_interaction_at=None)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        delete(interaction_participants).where(interaction_participants.c.interaction_id.in_(ids))
    )
    db.session.execute(
        delete(Interaction)
        .where(Interaction.id.in_(ids), Interaction.owner_id == owner_id)
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()
    from crm.insights.cache import mark_changed

    mark_changed([owner_id])  # bulk deletes bypass the ORM's change tracking
    _contacts_changed(owner_id, touched)


def _contacts_changed(owner_id: int, contact_ids) -> None:
    """Recompute last-interaction facts, then the keep-in-touch reminders that hang on them."""
    from crm.reminders.services import sync_keep_in_touch

    refresh_last_interaction(contact_ids)
    sync_keep_in_touch(owner_id, contact_ids)


def _apply(interaction: Interaction, data: InteractionData) -> None:
    interaction.medium_id = data.medium.id
    interaction.medium = data.medium
    interaction.occurred_at = data.occurred_at
    interaction.initiated_by = data.initiated_by
    interaction.participants = list(data.participants)
    interaction.summary = data.summary
    interaction.notes = data.notes
    interaction.is_private = data.is_private


def newest_interaction(column, *, shared_only: bool = False):
    """A column of interaction_participants (interaction_id, occurred_at) for the newest
    interaction of each Contact row of the enclosing statement, as a correlated subquery;
    shared_only leaves private interactions out. One index probe per contact on
    (contact_id, occurred_at, interaction_id), whose copy of occurred_at database triggers
    keep equal to the interaction's (0007): the cost does not grow with the contact's
    history (with shared_only, past its newest private interactions)."""
    parts = interaction_participants.c
    query = select(column).where(parts.contact_id == Contact.id)
    if shared_only:
        query = query.join(Interaction, Interaction.id == parts.interaction_id).where(
            Interaction.is_private.is_(False))
    return (
        query.order_by(parts.occurred_at.desc().nulls_last(), parts.interaction_id.desc())
        .limit(1)
        .correlate(Contact)
        .scalar_subquery()
    )


@functools.cache
def _lock_contacts_statement():
    # FOR NO KEY UPDATE: a plain FOR UPDATE would conflict with the key-share locks taken
    # by inserting interaction_participants rows (deadlocks). Built once per process, as
    # every logged, edited or deleted interaction runs it (see crm.database.user_by_id).
    return (select(Contact.id).where(Contact.id.in_(bindparam("ids", expanding=True)))
            .order_by(Contact.id).with_for_update(key_share=True))


@functools.cache
def _refresh_last_interaction_statement():
    parts = interaction_participants.c
    newest_id = newest_interaction(parts.interaction_id)
    newest_at = newest_interaction(parts.occurred_at)
    return (
        update(Contact)
        # Only contacts whose facts change: updated_at (in the API) moves only for them.
        .where(
            Contact.id.in_(bindparam("ids", expanding=True)),
            or_(
                Contact.last_interaction_id.is_distinct_from(newest_id),
                Contact.last_interaction_at.is_distinct_from(newest_at),
            ),
        )
        .values(last_interaction_id=newest_id, last_interaction_at=newest_at)
        .execution_options(synchronize_session=False)
    )


def refresh_last_interaction(contact_ids) -> None:
    """Recompute each contact's latest interaction from the log itself."""
    ids = list(set(contact_ids))
    if not ids:
        return
    # Lock the contacts first, in id order, so two nodes logging for the same contact
    # at once recompute one after the other and the later commit sees the earlier
    # one's interaction.
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(_lock_contacts_statement(), {"ids": ids})
    db.session.execute(_refresh_last_interaction_statement(), {"ids": ids})
    for contact_id in ids:  # contacts already loaded read the new values on next access
        contact = db.session.identity_map.get(identity_key(Contact, contact_id))
        if contact is not None:
            db.session.expire(
                contact, ["last_interaction_id", "last_interaction_at", "last_interaction",
                          "updated_at"]
            )
