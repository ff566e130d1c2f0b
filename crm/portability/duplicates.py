"""Likely duplicate contacts, and merging two contacts into one without losing anything."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from sqlalchemy import and_, delete, func, select, update

from crm.contacts.channels import handle_key, keep_label
from crm.contacts.services import combine_notes, combine_origins, leads_back
from crm.database import SEARCH_FOLD
from crm.extensions import db
from crm.models import (
    Contact,
    ContactChannel,
    Interaction,
    Medium,
    Reminder,
    User,
    contact_tags,
    interaction_participants,
    utcnow,
)

NAME_SIMILARITY = 0.88


@dataclass
class DuplicatePair:
    """Two of the user's contacts that look like one person, and why."""

    first: Contact
    second: Contact
    reasons: list[str] = field(default_factory=list)


def name_key(name: str) -> str:
    """A name folded for comparison: no accents, case or punctuation; words in order."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def _similar(a: str, b: str) -> bool:
    if a == b:
        return True
    if sorted(a.split()) == sorted(b.split()):  # "Lovelace Ada" / "Ada Lovelace"
        return True
    return SequenceMatcher(None, a, b).ratio() >= NAME_SIMILARITY


def find_duplicates(user: User, limit: int = 200) -> list[DuplicatePair]:
    """Pairs sharing an email, phone or profile link (any handle), or with very similar names."""
    reasons: dict[tuple[int, int], list[str]] = {}

    def note(a: int, b: int, why: str) -> None:
        key = (min(a, b), max(a, b))
        if why not in reasons.setdefault(key, []):
            reasons[key].append(why)

    # Handles that differ only in case are one handle, in every alphabet: SQLite's lower()
    # folds only ASCII letters, so there the app's own folding (contacts.channels.handle_key)
    # is used; PostgreSQL's lower() follows its UTF-8 locale.
    fold = getattr(func, SEARCH_FOLD) if db.engine.dialect.name == "sqlite" else func.lower
    shared = (
        select(ContactChannel.medium_id, fold(ContactChannel.value).label("v"))
        .join(Contact, Contact.id == ContactChannel.contact_id)
        .where(Contact.owner_id == user.id)
        .group_by(ContactChannel.medium_id, fold(ContactChannel.value))
        .having(func.count(func.distinct(ContactChannel.contact_id)) > 1)
        .subquery()
    )
    rows = db.session.execute(
        select(ContactChannel.contact_id, Medium.name, ContactChannel.value, shared.c.v)
        .join(Contact, Contact.id == ContactChannel.contact_id)
        .join(Medium, Medium.id == ContactChannel.medium_id)
        .join(shared, and_(shared.c.medium_id == ContactChannel.medium_id,
                           shared.c.v == fold(ContactChannel.value)))
        .where(Contact.owner_id == user.id)
        .order_by(shared.c.v, ContactChannel.contact_id)
    ).all()
    groups: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for contact_id, medium_name, value, lowered in rows:
        groups.setdefault((medium_name, lowered), []).append((contact_id, value))
    for (medium_name, _), members in groups.items():
        ids = sorted({m[0] for m in members})
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                note(a, b, f"Same {medium_name} handle: {members[0][1]}")

    # Names: compare only within blocks that share a word, so large networks stay fast.
    names = db.session.execute(
        select(Contact.id, Contact.name).where(Contact.owner_id == user.id)
    ).all()
    keys = {cid: name_key(name) for cid, name in names}
    blocks: dict[str, list[int]] = {}
    for cid, key in keys.items():
        for word in set(key.split()):
            if len(word) >= 3:
                blocks.setdefault(word, []).append(cid)
    for members in blocks.values():
        if len(members) < 2 or len(members) > 200:
            continue
        members.sort()
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                if (a, b) in reasons and any(r.startswith("Similar") for r in reasons[(a, b)]):
                    continue
                if _similar(keys[a], keys[b]):
                    note(a, b, "Same name" if keys[a] == keys[b] else "Similar names")

    pairs = sorted(reasons.items(), key=lambda item: (-len(item[1]), item[0]))[:limit]
    ids = {i for (a, b), _ in pairs for i in (a, b)}
    contacts = {
        c.id: c for c in db.session.scalars(select(Contact).where(Contact.id.in_(ids)))
    } if ids else {}
    return [DuplicatePair(contacts[a], contacts[b], why) for (a, b), why in pairs]


def _introduced_through(contact_id: int, via_id: int) -> bool:
    """True when contact_id is via_id or was (indirectly) introduced by it, read from the
    database (the introductions were just moved by a bulk update)."""
    return leads_back(contact_id, via_id, lambda cid: db.session.scalar(
        select(Contact.introduced_by_id).where(Contact.id == cid)))


def merge_contacts(user: User, keep: Contact, drop: Contact) -> dict[str, int]:
    """Move everything of drop onto keep, then delete drop. Nothing is lost:

    interactions (a shared one keeps keep once), channels, tags, reminders and
    introductions move; keep's empty fields take drop's values; notes are joined; the
    earlier "first met" wins. Last-interaction facts and keep-in-touch are recomputed, and
    a keep-in-touch reminder either of them had snoozed stays snoozed (sync_keep_in_touch
    keeps the one snoozed latest of several).
    """
    from crm.interactions.services import refresh_last_interaction
    from crm.reminders.services import sync_keep_in_touch

    if keep.id == drop.id or keep.owner_id != user.id or drop.owner_id != user.id:
        raise ValueError("merge two different contacts of the same user")
    moved = {}
    now = utcnow()
    ip = interaction_participants
    # Bulk statements below rewrite other records' JSON (an interaction's participant_ids,
    # an introduction, a reminder's contact): their updated_at moves with it, as the API
    # promises sync clients.
    db.session.execute(
        update(Interaction).where(Interaction.id.in_(
            select(ip.c.interaction_id).where(ip.c.contact_id == drop.id)))
        .values(updated_at=now).execution_options(synchronize_session=False))
    both = select(ip.c.interaction_id).where(ip.c.contact_id == keep.id).scalar_subquery()
    db.session.execute(delete(ip).where(ip.c.contact_id == drop.id, ip.c.interaction_id.in_(both)))
    moved["interactions"] = db.session.execute(
        update(ip).where(ip.c.contact_id == drop.id).values(contact_id=keep.id)
    ).rowcount

    # Handles compared as everywhere else (handle_key); a repeated one's label is kept
    # when keep's copy has none.
    have = {(ch.medium_id, handle_key(ch.value)): ch for ch in db.session.scalars(
        select(ContactChannel).where(ContactChannel.contact_id == keep.id))}
    moved["channels"] = 0
    for channel in db.session.scalars(
        select(ContactChannel).where(ContactChannel.contact_id == drop.id)
    ):
        same = have.get((channel.medium_id, handle_key(channel.value)))
        if same is not None:
            keep_label(same, channel)
            db.session.delete(channel)
        else:
            channel.contact_id = keep.id
            have[(channel.medium_id, handle_key(channel.value))] = channel
            moved["channels"] += 1
    db.session.flush()

    kept_tags = select(contact_tags.c.tag_id).where(
        contact_tags.c.contact_id == keep.id).scalar_subquery()
    db.session.execute(delete(contact_tags).where(
        contact_tags.c.contact_id == drop.id, contact_tags.c.tag_id.in_(kept_tags)))
    moved["tags"] = db.session.execute(
        update(contact_tags).where(contact_tags.c.contact_id == drop.id)
        .values(contact_id=keep.id)).rowcount

    moved["reminders"] = db.session.execute(
        update(Reminder).where(Reminder.contact_id == drop.id, Reminder.owner_id == user.id)
        .values(contact_id=keep.id, updated_at=now)
        .execution_options(synchronize_session=False)).rowcount

    # Introductions: people drop introduced were introduced by keep; keep inherits
    # drop's introducer when it has none (never itself).
    moved["introductions"] = db.session.execute(
        update(Contact).where(Contact.introduced_by_id == drop.id, Contact.id != keep.id)
        .values(introduced_by_id=keep.id, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    inherited = drop.introduced_by_id
    if inherited is not None and _introduced_through(inherited, keep.id):
        inherited = None  # keep introduced them (directly or not): no cycle of introductions
    if keep.introduced_by_id in (drop.id, None):
        keep.introduced_by_id = inherited

    for name in ("company", "title", "location", "time_zone"):
        if not getattr(keep, name) and getattr(drop, name):
            setattr(keep, name, getattr(drop, name))
    keep.notes = combine_notes(keep.notes, drop.notes)
    keep.origin_medium_id, keep.origin_date = combine_origins(
        (keep.origin_medium_id, keep.origin_date), (drop.origin_medium_id, drop.origin_date))
    if keep.keep_in_touch_days is None:
        keep.keep_in_touch_days = drop.keep_in_touch_days
    elif drop.keep_in_touch_days:
        keep.keep_in_touch_days = min(keep.keep_in_touch_days, drop.keep_in_touch_days)
    keep.is_private = keep.is_private or drop.is_private
    if keep.created_at and drop.created_at and drop.created_at < keep.created_at:
        keep.created_at = drop.created_at

    db.session.execute(
        update(Contact).where(Contact.id == drop.id)
        .values(last_interaction_id=None, introduced_by_id=None)
        .execution_options(synchronize_session=False)
    )
    db.session.flush()
    db.session.execute(delete(Contact).where(Contact.id == drop.id)
                       .execution_options(synchronize_session=False))
    db.session.expunge(drop)
    db.session.flush()
    db.session.expire(keep)
    refresh_last_interaction([keep.id])
    from crm.insights.cache import mark_changed

    mark_changed([user.id])  # participants moved with bulk statements
    sync_keep_in_touch(user.id, [keep.id])
    return moved
