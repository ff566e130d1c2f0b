"""Queries and writes for the tags page. Tags are listed by Tag.sort_key, as everywhere."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort
from sqlalchemy import and_, case, delete, func, select, update

from crm.contacts.services import tag_refusal, tags_by_key
from crm.database import lock_user
from crm.extensions import db
from crm.models import Contact, Tag, User, contact_tags, name_key, utcnow
from crm.models.contact import TAG_MAX_LENGTH
from crm.models.types import tidy_name
from crm.reminders.services import contacts_tagged, sync_keep_in_touch


class TagNameInvalid(ValueError):
    """The name cannot be a tag's; the message says why."""


def tag_name(raw: str) -> str:
    """A tag's name as a rename stores it, checked as the contact form checks the tags
    typed there (parse_tags, ContactForm.validate_tags): white space collapsed, at most
    TAG_MAX_LENGTH characters; and what every way a tag comes in refuses (tag_refusal)."""
    refusal = tag_refusal(raw)
    if refusal:
        raise TagNameInvalid(refusal)
    name = tidy_name(raw)
    if not name:
        raise TagNameInvalid("Give the tag a name.")
    if len(name) > TAG_MAX_LENGTH:
        raise TagNameInvalid(f"A tag can have at most {TAG_MAX_LENGTH} characters: this "
                             f"one has {len(name)}.")
    return name


@dataclass
class TagUse:
    """A tag and how many of the user's contacts carry it."""

    tag: Tag
    active: int
    archived: int


def _uses(user: User, *where) -> list[TagUse]:
    """The user's tags (those matching where), each with its contacts counted, in one
    aggregate statement, alphabetically (Tag.sort_key)."""
    archived = Contact.archived_at.is_not(None)
    rows = db.session.execute(
        select(Tag,
               func.count(case((~archived, Contact.id))),
               func.count(case((archived, Contact.id))))
        .outerjoin(contact_tags, contact_tags.c.tag_id == Tag.id)
        .outerjoin(Contact, Contact.id == contact_tags.c.contact_id)
        .where(Tag.owner_id == user.id, *where)
        .group_by(Tag.id)
    ).all()
    return sorted((TagUse(tag, active, archived) for tag, active, archived in rows),
                  key=lambda use: use.tag.sort_key())


def tags_in_use(user: User) -> list[TagUse]:
    """Every tag of the user with how many contacts carry it, active and archived."""
    return _uses(user)


def tag_use(user: User, tag: Tag) -> TagUse:
    """How many contacts carry one of the user's tags."""
    return _uses(user, Tag.id == tag.id)[0]


def own_tag(user: User, tag_id: int) -> Tag | None:
    """One of the user's tags, or None."""
    return db.session.scalar(select(Tag).where(Tag.id == tag_id, Tag.owner_id == user.id))


def get_own_tag_or_404(user: User, tag_id: int) -> Tag:
    """One of the user's tags, or 404."""
    tag = own_tag(user, tag_id)
    if tag is None:
        abort(404)
    return tag


def namesake(user: User, tag: Tag, name: str) -> Tag | None:
    """The user's other tag that has this name (compared by name_key, as tags typed on a
    contact's form are), which renaming tag to it would merge it into. A name no tag has
    takes the user's lock (tags_by_key), held to the commit, so that no other request
    makes a tag of that name meanwhile."""
    other = tags_by_key(user, [name]).get(name_key(name))
    return other if other is not None and other.id != tag.id else None


def _touch_carriers(tag_ids: list[int]) -> None:
    """Move updated_at of the contacts carrying these tags: their tags, part of what the
    API shows of them, change by statements no onupdate sees."""
    db.session.execute(
        update(Contact)
        .where(Contact.id.in_(select(contact_tags.c.contact_id)
                              .where(contact_tags.c.tag_id.in_(tag_ids))))
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False))


def _tags_moved(user: User) -> None:
    """After contacts' tags moved by bulk statements: stale the network's cached figures,
    counts and tag lists, and the tags of contacts loaded in this session."""
    from crm.insights.cache import mark_changed

    mark_changed([user.id])
    for loaded in list(db.session.identity_map.values()):
        if isinstance(loaded, Contact):
            db.session.expire(loaded, ["tags", "updated_at"])


def rename_tag(user: User, tag: Tag, name: str) -> None:
    """Give one of the user's tags a new name that no other of their tags has (namesake);
    the search index follows (triggers on SQLite, an expression index on PostgreSQL)."""
    if tag.name == name:
        return
    _touch_carriers([tag.id])
    tag.name = name
    db.session.flush()


@dataclass
class MergeImpact:
    """What merging one tag into another does to the contacts carrying them."""

    moving: int  # carry the merged tag only: they take the other
    both: int  # carry both: they keep one
    kept: int  # carry the other only


def merge_impact(tag: Tag, into: Tag) -> MergeImpact:
    """How many contacts merging tag into `into` moves, in one statement."""
    carriers = (
        select(func.count().label("carried"), func.min(contact_tags.c.tag_id).label("one"))
        .where(contact_tags.c.tag_id.in_((tag.id, into.id)))
        .group_by(contact_tags.c.contact_id)
        .subquery())

    def counted(*where):
        return func.count(case((and_(*where), 1)))

    moving, both, kept = db.session.execute(select(
        counted(carriers.c.carried == 1, carriers.c.one == tag.id),
        counted(carriers.c.carried == 2),
        counted(carriers.c.carried == 1, carriers.c.one == into.id),
    ).select_from(carriers)).one()
    return MergeImpact(moving, both, kept)


def merge_cadences(tag: Tag, into: Tag) -> list[int]:
    """The default cadences a merge of tag into `into` can keep: two, to choose between,
    when each tag has its own; else the one there is, kept without asking, or none."""
    return sorted({tag.keep_in_touch_days, into.keep_in_touch_days} - {None})


def merge_tags(user: User, tag: Tag, into: Tag, name: str, keep_in_touch_days: int | None
               ) -> None:
    """Merge tag into `into`, which takes the name typed (the same name in another case or
    spelling) and the default cadence chosen: every contact carrying tag carries `into`
    instead, once; tag goes. Keep-in-touch reminders follow the cadences now in force."""
    lock_user(user.id)
    cadences_involved = bool(tag.keep_in_touch_days or into.keep_in_touch_days)
    _touch_carriers([tag.id] if into.name == name else [tag.id, into.id])
    carrying_into = select(contact_tags.c.contact_id).where(contact_tags.c.tag_id == into.id)
    db.session.execute(delete(contact_tags).where(
        contact_tags.c.tag_id == tag.id, contact_tags.c.contact_id.in_(carrying_into)))
    db.session.execute(update(contact_tags).where(contact_tags.c.tag_id == tag.id)
                       .values(tag_id=into.id))
    db.session.delete(tag)
    db.session.flush()  # its name is free before into may take it
    into.name, into.keep_in_touch_days = name, keep_in_touch_days
    db.session.flush()
    _tags_moved(user)
    if cadences_involved:  # else no contact's cadence changes
        sync_keep_in_touch(user.id, contacts_tagged([into.id]))


def delete_tag(user: User, tag: Tag) -> None:
    """Delete one of the user's tags; the contacts carrying it are kept, without it, and
    their keep-in-touch reminders follow the cadences left to them."""
    lock_user(user.id)
    had_cadence = bool(tag.keep_in_touch_days)
    carriers = contacts_tagged([tag.id])
    _touch_carriers([tag.id])
    db.session.execute(delete(contact_tags).where(contact_tags.c.tag_id == tag.id))
    db.session.delete(tag)
    db.session.flush()
    _tags_moved(user)
    if had_cadence:  # else no contact's cadence changes
        sync_keep_in_touch(user.id, carriers)
