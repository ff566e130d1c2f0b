"""Network figures. Every figure counts an interaction the same whatever its medium.

All functions take owner ids and a `shared_only` flag: a coach sees figures
computed without private contacts and private interactions. Each figure is one
aggregate query over any number of owners, so a page's query count does not
grow with the data or (for the coach page) with the number of clients.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import aliased

from crm.database import off_index
from crm.extensions import db
from crm.interactions.services import newest_interaction
from crm.models import (
    Contact,
    Initiator,
    Interaction,
    Medium,
    Reminder,
    ReminderKind,
    ReminderStatus,
    Tag,
    User,
    interaction_participants,
    utcnow,
)
from crm.models.reminder import OPEN_STATUSES
from crm.timezones import local_to_utc, to_local

# Recency buckets: (upper age in days, weight). An interaction counts by its age
# alone; its medium never enters the score.
RECENCY_WEIGHTS: tuple[tuple[int, float], ...] = (
    (30, 1.0),
    (90, 0.6),
    (180, 0.35),
    (365, 0.15),
)
OLDER_WEIGHT = 0.05
STRENGTH_SATURATION = 4.0
STRENGTH_EXPLANATION = (
    "Strength (0–100) grows with how often and how recently you have been in touch: an "
    "interaction in the last 30 days counts 1, in the last 3 months 0.6, 6 months 0.35, a "
    "year 0.15, older 0.05, on any medium alike; the sum s gives 100 × (1 − e^(−s/4))."
)
ACTIVE_DAYS = 90
COLD_FACTOR = 2.0
COLD_MIN_DAYS = 21


@dataclass
class Strength:
    contact_id: int
    score: int
    weight: float
    interactions: int
    last_at: datetime | None


@dataclass
class ColdContact:
    contact_id: int
    reason: str
    since: datetime | None
    days: int


@dataclass
class NetworkFigures:
    """Every figure one owner's dashboard (or a coach's view of them) shows."""

    owner_id: int
    contacts: int = 0
    archived: bool = False  # whether there are archived contacts, not counted in contacts
    active: int = 0
    interactions: int = 0
    strengths: list[Strength] = field(default_factory=list)
    cold: list[ColdContact] = field(default_factory=list)
    mix: dict[int, int] = field(default_factory=dict)  # medium id -> interactions
    mix_by_month: dict[str, dict[int, int]] = field(default_factory=dict)
    breadth: dict[int, int] = field(default_factory=dict)  # number of mediums -> contacts
    origins: dict[int, int] = field(default_factory=dict)  # medium id -> contacts
    paths: dict[tuple[int, int], int] = field(default_factory=dict)
    reciprocity: dict[str, int] = field(default_factory=dict)
    new_by_month: dict[str, int] = field(default_factory=dict)
    overdue_follow_ups: int = 0
    # Not stored with the snapshot: the version these figures were read at, when they were
    # computed, and the lapsed keep-in-touch cadences added to `cold` live
    # (crm.insights.cache keys rendered figures on all three).
    version: int = 0
    computed_at: datetime | None = None
    lapsed: tuple = ()


def cold_order(c: ColdContact):
    """Longest silent first."""
    return (-c.days, c.contact_id)


# -- helpers ------------------------------------------------------------------------


def _to_aware(value):
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=utcnow().tzinfo)


def month_keys(now: datetime, months: int) -> list[str]:
    """The last `months` calendar months, oldest first, as 'YYYY-MM'."""
    year, month = now.year, now.month
    keys = []
    for _ in range(months):
        keys.append(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return keys[::-1]


def strength_score(weight: float) -> int:
    """Map a recency-weighted interaction count to 0–100."""
    return round(100 * (1 - math.exp(-weight / STRENGTH_SATURATION)))


def _visible_interactions(owner_ids, shared_only: bool):
    """Join of interactions with their participants, scoped to owners (and sharing).

    Both sides carry the owner filter so the planner never reads other users'
    participant rows."""
    conditions = [Interaction.owner_id.in_(owner_ids), Contact.owner_id.in_(owner_ids)]
    if shared_only:
        conditions += [Interaction.is_private.is_(False), Contact.is_private.is_(False)]
    return conditions


def _participants_join(query):
    return query.join(
        interaction_participants, interaction_participants.c.interaction_id == Interaction.id
    ).join(Contact, Contact.id == interaction_participants.c.contact_id)


# -- figures ------------------------------------------------------------------------


def network_figures(
    owner_ids: list[int], *, now: datetime | None = None, shared_only: bool = False,
    months: int = 12, with_reminders: bool = True,
) -> dict[int, NetworkFigures]:
    """Every figure for each owner, in a fixed number of queries (pages use the cached
    crm.insights.cache.figures)."""
    now = now or utcnow()
    figures = {oid: NetworkFigures(owner_id=oid) for oid in owner_ids}
    if not owner_ids:
        return figures
    zones = _contact_counts(figures, owner_ids, now, shared_only)
    _per_contact(figures, owner_ids, now, shared_only)
    _mix_and_reciprocity(figures, owner_ids, now, shared_only, months, zones)
    _new_contacts(figures, owner_ids, now, shared_only, months, zones)
    if with_reminders:
        add_reminder_figures(figures, owner_ids, now=now, shared_only=shared_only)
    return figures


def add_reminder_figures(figures, owner_ids, *, now: datetime, shared_only: bool,
                         lapsed: bool = True) -> None:
    """Overdue follow-ups and (unless lapsed=False) lapsed cadences among the contacts
    going cold: they change with the clock, never cached."""
    _overdue_and_lapsed(figures, owner_ids, now, shared_only, lapsed)
    for fig in figures.values():
        if fig.lapsed:  # the stored part of `cold` is in order already
            fig.cold.sort(key=cold_order)


def _contact_filter(owner_ids, shared_only: bool):
    conditions = [Contact.owner_id.in_(owner_ids), Contact.archived_at.is_(None)]
    if shared_only:
        conditions.append(Contact.is_private.is_(False))
    return conditions


def _contact_counts(figures, owner_ids, now, shared_only) -> dict[int, str]:
    """Each owner's number of contacts, and whether they have archived ones (an empty
    network is not one whose contacts are all archived); returns each owner's time zone
    (same query)."""
    counted = (select(Contact.owner_id, func.count().label("n"))
               .where(*_contact_filter(owner_ids, shared_only))
               .group_by(Contact.owner_id).subquery())
    archived = exists().where(
        Contact.owner_id == User.id, Contact.archived_at.is_not(None),
        *([Contact.is_private.is_(False)] if shared_only else []))
    zones = dict.fromkeys(owner_ids, "UTC")
    for owner_id, zone, count, has_archived in db.session.execute(
        select(User.id, User.time_zone, counted.c.n, archived)
        .outerjoin(counted, counted.c.owner_id == User.id)
        .where(User.id.in_(owner_ids))
    ):
        figures[owner_id].contacts = count or 0
        figures[owner_id].archived = bool(has_archived)
        zones[owner_id] = zone or "UTC"
    return zones


def _local_month(column, owner_column, zones: dict[int, str], now: datetime, months: int):
    """('YYYY-MM' of column in its owner's zone for the last `months` local months, else
    None; those months per owner, oldest first). Each month starts at local midnight on
    its first day, an instant worked out in Python (zoneinfo, so clock changes count), and
    the database only compares: the same on SQLite and PostgreSQL, and cheap."""
    by_zone: dict[str, list[int]] = {}
    for owner_id, zone in zones.items():
        by_zone.setdefault(zone, []).append(owner_id)
    keys, whens = {}, []
    for zone, owners in by_zone.items():
        zone_keys = month_keys(to_local(now, zone), months)
        for owner_id in owners:
            keys[owner_id] = zone_keys
        year, month = int(zone_keys[-1][:4]), int(zone_keys[-1][5:])
        end = local_to_utc(datetime(year + month // 12, month % 12 + 1, 1), zone)
        for key in reversed(zone_keys):  # the newest month first: CASE takes the first match
            start = local_to_utc(datetime(int(key[:4]), int(key[5:]), 1), zone)
            whens.append((and_(owner_column.in_(owners), column >= start, column < end), key))
            end = start
    return case(*whens, else_=None), keys


def _weight_cents(now: datetime):
    """An interaction's recency weight in hundredths, as SQL: whole numbers add up exactly,
    in any grouping, so a contact's strength does not depend on how its rows were split."""
    return case(
        *[(Interaction.occurred_at >= now - timedelta(days=days), round(weight * 100))
          for days, weight in RECENCY_WEIGHTS],
        else_=round(OLDER_WEIGHT * 100),
    )


def _per_contact(figures, owner_ids, now, shared_only) -> None:
    """One pass over every (interaction, participant) pair, grouped by contact and medium:
    each contact's recency-weighted strength and usual rhythm (going cold), and the mediums
    it was reached on with the first use of each (breadth, origins, paths)."""
    rows = db.session.execute(
        _participants_join(
            select(
                Contact.owner_id,
                Contact.id,
                Contact.origin_medium_id,
                Interaction.medium_id,
                func.sum(_weight_cents(now)),
                func.count(Interaction.id),
                func.min(Interaction.occurred_at),
                func.max(Interaction.occurred_at),
            )
        )
        .where(*_visible_interactions(owner_ids, shared_only), Contact.archived_at.is_(None))
        .group_by(Contact.owner_id, Contact.id, Contact.origin_medium_id, Interaction.medium_id)
    )
    per_contact: dict[tuple[int, int], dict] = {}
    for owner_id, contact_id, origin_id, medium_id, cents, count, first, last in rows:
        first, last = _to_aware(first), _to_aware(last)
        entry = per_contact.setdefault((owner_id, contact_id), {
            "origin": origin_id, "uses": {}, "cents": 0, "count": 0, "first": first,
            "last": last})
        entry["uses"][medium_id] = first
        entry["cents"] += int(cents or 0)
        entry["count"] += count
        entry["first"] = min(entry["first"], first)
        entry["last"] = max(entry["last"], last)
    _strengths_and_rhythm(figures, per_contact, now)
    # Contacts with a recorded origin and no interaction yet still began somewhere.
    origin_rows = db.session.execute(
        select(Contact.owner_id, Contact.id, Contact.origin_medium_id).where(
            *_contact_filter(owner_ids, shared_only), Contact.origin_medium_id.is_not(None)
        )
    )
    for owner_id, contact_id, origin_id in origin_rows:
        per_contact.setdefault((owner_id, contact_id), {"origin": origin_id, "uses": {}})
    _first_logged_on_ties(per_contact, owner_ids, shared_only)
    _breadth_origins_paths(figures, per_contact)


def _first_logged_on_ties(per_contact, owner_ids, shared_only) -> None:
    """Where a contact without a recorded origin was first reached on two mediums at the
    same instant, the one logged first (the lower interaction id, as everywhere else)
    began it: entry["logged"] = {medium id: first interaction id at that instant}. Ties are
    rare, so this reads only their interactions, in one query when there are any; no
    medium outranks another by its own id."""
    tied = {}
    for (_owner_id, contact_id), entry in per_contact.items():
        uses = entry["uses"]
        if entry["origin"] is None and len(uses) > 1:
            first = min(uses.values())
            if sum(1 for t in uses.values() if t == first) > 1:
                tied[contact_id] = (entry, first)
    if not tied:
        return
    rows = db.session.execute(
        _participants_join(select(Contact.id, Interaction.medium_id, Interaction.occurred_at,
                                  func.min(Interaction.id)))
        .where(*_visible_interactions(owner_ids, shared_only), Contact.id.in_(list(tied)),
               Interaction.occurred_at.in_({first for _, first in tied.values()}))
        .group_by(Contact.id, Interaction.medium_id, Interaction.occurred_at)
    )
    for contact_id, medium_id, occurred_at, interaction_id in rows:
        entry, first = tied[contact_id]
        if _to_aware(occurred_at) == first:
            entry.setdefault("logged", {})[medium_id] = interaction_id


def _strengths_and_rhythm(figures, per_contact, now) -> None:
    """Recency-weighted counts per contact, and each contact's usual rhythm."""
    active_since = now - timedelta(days=ACTIVE_DAYS)
    for (owner_id, contact_id), entry in per_contact.items():
        count, first, last = entry["count"], entry["first"], entry["last"]
        weight = entry["cents"] / 100
        fig = figures[owner_id]
        fig.strengths.append(Strength(contact_id, strength_score(weight), weight, count, last))
        if last and last >= active_since:
            fig.active += 1
        # Going cold: silent for much longer than the usual gap between interactions.
        if count >= 3 and first and last and last > first:
            usual = (last - first) / (count - 1)
            silent = now - last
            if silent > max(usual * COLD_FACTOR, timedelta(days=COLD_MIN_DAYS)):
                fig.cold.append(ColdContact(
                    contact_id,
                    f"usually every {_days(max(usual.days, 1))}; silent for "
                    f"{_days(silent.days)}",
                    last,
                    silent.days,
                ))
    for fig in figures.values():
        fig.strengths.sort(key=lambda s: (-s.weight, s.contact_id))
        fig.cold.sort(key=cold_order)


def _breadth_origins_paths(figures, per_contact) -> None:
    """Per contact: where the relationship began and which mediums it moved to."""
    for (owner_id, _contact_id), entry in per_contact.items():
        fig = figures[owner_id]
        uses = entry["uses"]
        mediums = set(uses)
        origin = entry["origin"]
        if origin is None and uses:
            # No recorded origin: the relationship began on its first interaction's medium
            # (of two at one instant, the one logged first: _first_logged_on_ties).
            logged = entry.get("logged", {})
            origin = min(uses, key=lambda m: (uses[m], logged.get(m, 0)))
        if origin is not None:
            mediums.add(origin)
            fig.origins[origin] = fig.origins.get(origin, 0) + 1
            for later in mediums - {origin}:
                fig.paths[(origin, later)] = fig.paths.get((origin, later), 0) + 1
        if mediums:
            fig.breadth[len(mediums)] = fig.breadth.get(len(mediums), 0) + 1


def _mix_and_reciprocity(figures, owner_ids, now, shared_only, months, zones) -> None:
    """One pass over the interactions, grouped by medium, month and who reached out:
    interactions per medium overall and per month (the owner's) for the last months, and
    reciprocity. An interaction with several participants is still one interaction."""
    month, keys_of = _local_month(Interaction.occurred_at, Interaction.owner_id, zones, now,
                                  months)
    query = select(
        Interaction.owner_id, Interaction.medium_id, month, Interaction.initiated_by,
        func.count(),
    ).where(Interaction.owner_id.in_(owner_ids))
    if shared_only:
        visible = _participants_join(select(Interaction.id)).where(
            *_visible_interactions(owner_ids, shared_only)
        )
        query = query.where(Interaction.id.in_(visible.scalar_subquery()))
    rows = db.session.execute(query.group_by(
        Interaction.owner_id, Interaction.medium_id, month, Interaction.initiated_by))
    for owner_id, medium_id, month_key, initiated_by, count in rows:
        fig = figures[owner_id]
        fig.interactions += count  # each interaction once, however many took part
        fig.mix[medium_id] = fig.mix.get(medium_id, 0) + count
        if month_key is not None:
            by_medium = fig.mix_by_month.setdefault(month_key, {})
            by_medium[medium_id] = by_medium.get(medium_id, 0) + count
        key = initiated_by.value if isinstance(initiated_by, Initiator) else str(initiated_by)
        fig.reciprocity[key] = fig.reciprocity.get(key, 0) + count
    for owner_id, fig in figures.items():
        fig.mix_by_month = {k: fig.mix_by_month.get(k, {}) for k in keys_of[owner_id]}
        for who in Initiator:
            fig.reciprocity.setdefault(who.value, 0)


def _new_contacts(figures, owner_ids, now, shared_only, months, zones) -> None:
    """Contacts added per month (the owner's), for the last months."""
    month, keys_of = _local_month(Contact.created_at, Contact.owner_id, zones, now, months)
    rows = db.session.execute(
        select(Contact.owner_id, month, func.count())
        .where(*_contact_filter(owner_ids, shared_only))
        .group_by(Contact.owner_id, month)
    )
    for owner_id, fig in figures.items():
        fig.new_by_month = dict.fromkeys(keys_of[owner_id], 0)
    for owner_id, month_key, count in rows:
        if month_key is not None:
            figures[owner_id].new_by_month[month_key] = count


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def _overdue_and_lapsed(figures, owner_ids, now, shared_only, lapsed=True) -> None:
    """Overdue follow-ups, and contacts whose keep-in-touch cadence has lapsed: one row
    per owner and lapsed contact (plus one for the other overdue reminders). A follow-up
    is about someone: a reminder about nobody (plan the week) is the user's own to-do, not
    a figure of their network, and never a coach's to see."""
    lapsed_contact = case(
        (Reminder.kind == ReminderKind.KEEP_IN_TOUCH, Reminder.contact_id), else_=None)
    # Being about someone is contact_id set (the contact's row goes with its reminders):
    # joining contacts to say so let PostgreSQL hash every contact of the installation,
    # other users' too, on each dashboard view. Only a coach's view joins them, for privacy.
    query = (
        select(Reminder.owner_id, lapsed_contact, func.count(), func.min(Reminder.due_at))
        .where(
            Reminder.owner_id.in_(owner_ids),
            Reminder.status.in_(OPEN_STATUSES),
            Reminder.due_at < now,
            Reminder.contact_id.is_not(None),
        )
        .group_by(Reminder.owner_id, lapsed_contact)
    )
    rows = []
    if shared_only:
        # Nothing a coach sees may depend on private contacts or interactions. Follow-ups
        # made from a private interaction are not counted, also once it is deleted. A
        # keep-in-touch reminder's due date counts from the contact's last interaction, so
        # it is used only when that one is shared; contacts whose last interaction is
        # private are worked out from their shared interactions instead (_shared_lapsed).
        source, last = aliased(Interaction), aliased(Interaction)
        query = (
            query.join(Contact, Contact.id == Reminder.contact_id)
            .outerjoin(source, source.id == Reminder.interaction_id)
            .outerjoin(last, last.id == Contact.last_interaction_id)
            .where(
                Contact.is_private.is_(False),
                Reminder.from_private_interaction.is_(False),
                or_(source.id.is_(None), source.is_private.is_(False)),
                or_(lapsed_contact.is_(None), last.id.is_(None), last.is_private.is_(False)),
            )
        )
        if lapsed:
            rows = _shared_lapsed(owner_ids, now)
    if not lapsed:  # only the count of overdue follow-ups
        query = query.where(lapsed_contact.is_(None))
    cold_ids: dict[int, set[int]] = {}
    added: dict[int, list[ColdContact]] = defaultdict(list)
    for owner_id, contact_id, count, due_at in [*db.session.execute(query), *rows]:
        fig = figures[owner_id]
        if contact_id is None:
            fig.overdue_follow_ups += count
            continue
        if owner_id not in cold_ids:
            cold_ids[owner_id] = {c.contact_id for c in fig.cold}
        if contact_id not in cold_ids[owner_id]:
            due_at = _to_aware(due_at)
            days = (now - due_at).days
            added[owner_id].append(ColdContact(
                contact_id, f"keep-in-touch lapsed {_days(days)} ago", due_at, days))
    for owner_id, entries in added.items():
        figures[owner_id].cold.extend(entries)
        figures[owner_id].lapsed = tuple(sorted((c.contact_id, c.days) for c in entries))


def _shared_lapsed(owner_ids, now: datetime) -> list[tuple]:
    """(owner, contact, 1, due) for each shared contact with a keep-in-touch reminder whose
    last interaction is private, when its reminder would be overdue had private interactions
    never existed: the owner's rule (keep_in_touch_due_from) counted from the last shared
    interaction, or from when the contact was added, with the reminders the user ended and
    the time they snoozed the open one to. Usually a handful of contacts."""
    from sqlalchemy.orm import selectinload

    from crm.reminders.schedule import occurrence_utc
    from crm.reminders.services import effective_cadence, keep_in_touch_due_from

    last_shared = newest_interaction(interaction_participants.c.occurred_at, shared_only=True)
    last = aliased(Interaction)
    found = db.session.execute(
        select(Contact, last_shared)
        .join(last, last.id == Contact.last_interaction_id)
        .where(
            *_contact_filter(owner_ids, True),
            last.is_private.is_(True),
            Contact.id.in_(select(Reminder.contact_id).where(
                Reminder.owner_id.in_(owner_ids),
                Reminder.kind == ReminderKind.KEEP_IN_TOUCH,
                Reminder.status.in_(OPEN_STATUSES),
            )),
        )
        .options(selectinload(Contact.tags))
    ).all()
    if not found:
        return []
    contact_ids = [contact.id for contact, _ in found]
    tag_cadences = dict(db.session.execute(
        select(Tag.id, Tag.keep_in_touch_days)
        .where(Tag.owner_id.in_(owner_ids), Tag.keep_in_touch_days.is_not(None))
    ).all())
    # The user's own acts on the reminders, which do not depend on interactions: when they
    # last ended one (done or dismissed), and when they snoozed the open one to. One that
    # Rapport ended because an interaction was logged is no act of theirs: its time is
    # that interaction's, perhaps a private one's.
    kit = (Reminder.kind == ReminderKind.KEEP_IN_TOUCH, Reminder.contact_id.in_(contact_ids))
    ended = dict(db.session.execute(
        select(Reminder.contact_id, func.max(Reminder.completed_at))
        .where(*kit, Reminder.status.in_((ReminderStatus.DONE, ReminderStatus.DISMISSED)),
               Reminder.ended_by_interaction.is_(False))
        .group_by(Reminder.contact_id)
    ).all())
    snoozed: dict[int, datetime] = {}
    for contact_id, day, at, zone in db.session.execute(
        select(Reminder.contact_id, Reminder.anchor_date, Reminder.local_time,
               Reminder.time_zone)
        .where(*kit, Reminder.status.in_(OPEN_STATUSES), Reminder.snoozed_count > 0,
               Reminder.anchor_date.is_not(None), Reminder.local_time.is_not(None))
    ):
        # Its due_at is no use here: a later private interaction may have pushed it on.
        # The snooze wrote the chosen time into anchor_date and local_time, which nothing
        # else changes on a keep-in-touch reminder.
        until = occurrence_utc(day, at, zone)
        snoozed[contact_id] = max(until, snoozed.get(contact_id, until))
    zones = dict(db.session.execute(  # cadences count days in the owner's zone
        select(User.id, User.time_zone).where(User.id.in_({c.owner_id for c, _ in found}))
    ).all())
    rows = []
    for contact, last_at in found:
        cadence = effective_cadence(contact, tag_cadences)
        start = _to_aware(last_at or contact.created_at)
        if not cadence or start is None:
            continue
        due = keep_in_touch_due_from(start, cadence, zones.get(contact.owner_id),
                                     ended_at=_to_aware(ended.get(contact.id)),
                                     snoozed_until=snoozed.get(contact.id))
        if due < now:
            rows.append((contact.owner_id, contact.id, 1, due))
    return rows


def due_and_overdue(owner_id: int, *, now: datetime, tz_end_of_day: datetime, limit: int = 20):
    """Open reminders due before the end of the user's day, soonest first.

    Their contacts come in a second query by id: joined into this one, PostgreSQL would
    hash every contact in the database before applying the limit."""
    from sqlalchemy.orm import selectinload

    return list(
        db.session.scalars(
            select(Reminder)
            .where(
                Reminder.owner_id == owner_id,
                Reminder.status.in_(OPEN_STATUSES),
                Reminder.due_at < tz_end_of_day,
            )
            .order_by(Reminder.due_at, Reminder.id)
            .limit(limit)
            .options(selectinload(Reminder.contact))
        )
    )


def contact_names(contact_ids) -> dict[int, Contact]:
    """Contacts by id for labelling figures: one query, run even when there are none, so
    a page's query count does not depend on the data."""
    ids = list(set(contact_ids))
    return {c.id: c for c in db.session.scalars(select(Contact).where(Contact.id.in_(ids)))}


def mediums_by_id(owner_ids) -> dict[int, Medium]:
    """Every medium any of these owners can see."""
    return {
        m.id: m
        for m in db.session.scalars(
            select(Medium).where(or_(Medium.owner_id.is_(None), Medium.owner_id.in_(owner_ids)))
        )
    }


def introductions(owner_id: int, *, shared_only: bool = False, limit: int = 80):
    """The introduction graph's edges (child, introducer), oldest contacts first."""
    conditions = [Contact.owner_id == owner_id, Contact.archived_at.is_(None)]
    if shared_only:
        conditions.append(Contact.is_private.is_(False))
    introducer = Contact.__table__.alias("introducer")
    edges = db.session.execute(
        select(Contact.id, Contact.introduced_by_id)
        .join(introducer, introducer.c.id == Contact.introduced_by_id)
        .where(*conditions, introducer.c.archived_at.is_(None),
               *( [introducer.c.is_private.is_(False)] if shared_only else []))
        .order_by(Contact.id)
        .limit(limit)
    ).all()
    return [(child, parent) for child, parent in edges]


def contact_figures(user_id: int, contact: Contact, *, now: datetime | None = None,
                    shared_only: bool = False) -> dict:
    """Strength, medium mix, reciprocity and first use per medium for one contact,
    in one aggregate query."""
    now = now or utcnow()
    conditions = [
        # Through the contact's participant index: the owner's (owner_id, medium_id, …)
        # index, which matches the GROUP BY, would read the owner's whole log.
        off_index(Interaction.owner_id) == user_id,
        interaction_participants.c.contact_id == contact.id,
    ]
    if shared_only:
        conditions.append(Interaction.is_private.is_(False))
    rows = db.session.execute(
        select(Interaction.medium_id, Interaction.initiated_by, func.count(),
               func.sum(_weight_cents(now)), func.min(Interaction.occurred_at))
        .join(interaction_participants,
              interaction_participants.c.interaction_id == Interaction.id)
        .where(*conditions)
        .group_by(Interaction.medium_id, Interaction.initiated_by)
    ).all()
    mix: dict[int, int] = defaultdict(int)
    first: dict[int, datetime] = {}
    reciprocity = {who.value: 0 for who in Initiator}
    cents = 0
    for medium_id, initiated_by, count, w, earliest in rows:
        mix[medium_id] += count
        earliest = _to_aware(earliest)
        if medium_id not in first or earliest < first[medium_id]:
            first[medium_id] = earliest
        key = initiated_by.value if isinstance(initiated_by, Initiator) else str(initiated_by)
        reciprocity[key] += count
        cents += int(w or 0)
    weight = cents / 100
    logged = _first_logged_at_ties(conditions, first)
    return {
        "strength": strength_score(weight),
        "weight": weight,
        "mix": dict(mix),
        "reciprocity": reciprocity,
        # The mediums the relationship has moved through, its origin included, as the
        # dashboard's breadth and the contact's path count them.
        "breadth": len(set(mix) | {contact.origin_medium_id} - {None}),
        "uses": [(mid, first[mid], mix[mid], logged.get(mid, 0)) for mid in mix],
    }


def _first_logged_at_ties(conditions, first: dict[int, datetime]) -> dict[int, int]:
    """{medium id: the lowest interaction id at its first use} for the mediums first used at
    the same instant as another, so that the contact page orders them as the dashboard
    decides an origin (_first_logged_on_ties): logged first, never by the medium. Ties are
    rare; without one, no query."""
    instants = [t for t, n in Counter(first.values()).items() if n > 1]
    if not instants:
        return {}
    rows = db.session.execute(
        select(Interaction.medium_id, Interaction.occurred_at, func.min(Interaction.id))
        .join(interaction_participants,
              interaction_participants.c.interaction_id == Interaction.id)
        .where(*conditions, Interaction.occurred_at.in_(instants))
        .group_by(Interaction.medium_id, Interaction.occurred_at)
    )
    return {medium_id: interaction_id for medium_id, occurred_at, interaction_id in rows
            if first.get(medium_id) == _to_aware(occurred_at)}


def today_bounds(tz_name: str, now: datetime) -> tuple[datetime, datetime]:
    """Start and end (UTC) of the user's local day."""
    from crm.reminders.schedule import occurrence_utc
    from crm.timezones import to_local

    local_day: date = to_local(now, tz_name).date()
    start = occurrence_utc(local_day, datetime.min.time(), tz_name)
    end = occurrence_utc(local_day + timedelta(days=1), datetime.min.time(), tz_name)
    return start, end


__all__ = [
    "ACTIVE_DAYS",
    "STRENGTH_EXPLANATION",
    "NetworkFigures",
    "contact_figures",
    "contact_names",
    "due_and_overdue",
    "introductions",
    "mediums_by_id",
    "network_figures",
    "today_bounds",
]

