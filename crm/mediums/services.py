"""Queries and writes for mediums. No function here orders mediums by anything but name."""

from __future__ import annotations

import functools

from flask import abort
from sqlalchemy import Select, bindparam, func, or_, select, update

from crm.contacts.channels import handle_key, keep_label
from crm.database import lock_user
from crm.extensions import db
from crm.models import (
    BUILTIN_MEDIUMS,
    Contact,
    ContactChannel,
    Interaction,
    Medium,
    User,
    name_key,
)
from crm.models.types import holds_hidden_characters, tidy_name
from crm.params import is_record_id


class MediumNameTaken(Exception):
    """The user can already see a medium with that name."""


class MediumNameInvalid(ValueError):
    """The name cannot be a medium's; the message says why."""


def medium_name(raw: str) -> str:
    """A medium's name as stored: inner white space collapsed to one space, as imports
    read names ("Text  message" would become the built-in "Text message" on the way back
    in), and no line breaks, tabs or invisible characters."""
    if holds_hidden_characters(raw):
        raise MediumNameInvalid(
            "A medium's name cannot hold line breaks, tabs or invisible characters.")
    name = tidy_name(raw)
    if not name:
        raise MediumNameInvalid("Give the medium a name.")
    return name


def visible_to(user: User):
    """The scoping condition: built-ins plus the user's own mediums."""
    return _visible_to_owner(user.id)


def _visible_to_owner(owner_id):
    """visible_to for an owner's id, or for a bind parameter standing for one."""
    return or_(Medium.owner_id.is_(None), Medium.owner_id == owner_id)


@functools.cache
def _mediums_of_owner() -> Select:
    # Built once per process: every form and list that offers mediums runs it (see
    # crm.database.user_by_id).
    return select(Medium).where(_visible_to_owner(bindparam("owner_id")))


def mediums_for(user: User) -> list[Medium]:
    """Every medium the user can choose, in Medium.sort_key's order (as the charts)."""
    return sorted(db.session.scalars(_mediums_of_owner(), {"owner_id": user.id}),
                  key=Medium.sort_key)


def get_medium_or_404(user: User, medium_id: int) -> Medium:
    """A medium the user can use, or 404."""
    medium = db.session.scalar(select(Medium).where(Medium.id == medium_id, visible_to(user)))
    if medium is None:
        abort(404)
    return medium


MEDIUM_DELETED = ("The medium you chose was deleted since you opened the form: choose "
                  "another.")
NOT_YOUR_MEDIUM = "Choose one of your mediums."


def medium_refusal(medium_id: int) -> str:
    """Why a form may not use this medium id, not one the user sees: deleted since the form
    was shown (an id of someone else's medium is told apart from a deleted one by nothing),
    or, for no id a row can have, not theirs to choose."""
    return MEDIUM_DELETED if is_record_id(medium_id) else NOT_YOUR_MEDIUM


def get_own_medium_or_404(user: User, medium_id: int) -> Medium:
    """One of the user's own (editable) mediums, or 404."""
    medium = db.session.scalar(
        select(Medium).where(Medium.id == medium_id, Medium.owner_id == user.id)
    )
    if medium is None:
        abort(404)
    return medium


def _named(user: User, name: str, exclude_id: int | None = None) -> Medium | None:
    """The medium the user sees by this name (compared by name_key), if any."""
    return next((medium for medium in db.session.scalars(
        select(Medium).where(visible_to(user), Medium.id != (exclude_id or 0)))
        if name_key(medium.name) == name_key(name)), None)


def _check_name_free(user: User, name: str, exclude_id: int | None = None) -> None:
    """MediumNameTaken if a medium the user sees has this name. Holds the user's lock
    (lock_user) from here to the commit, so two requests cannot both find a new name free."""
    lock_user(user.id)
    if _named(user, name, exclude_id) is not None:
        raise MediumNameTaken(name)


def create_medium(user: User, name: str) -> Medium:
    """Add a medium of the user's own."""
    name = medium_name(name)
    _check_name_free(user, name)
    medium = Medium(name=name, owner_id=user.id)
    db.session.add(medium)
    db.session.flush()
    return medium


def medium_named(user: User, name: str) -> tuple[Medium, bool]:
    """The medium the user sees by this name, created as the user's own when there is none
    (an import naming a medium made in another tab since its preview); True if created."""
    try:
        return create_medium(user, name), True
    except MediumNameTaken:  # create_medium held the user's lock while it looked
        return _named(user, medium_name(name)), False


def rename_medium(user: User, medium: Medium, name: str) -> None:
    """Rename one of the user's own mediums."""
    name = medium_name(name)
    _check_name_free(user, name, exclude_id=medium.id)
    medium.name = name
    db.session.flush()


def usage(medium: Medium) -> dict[str, int]:
    """How many interactions, channels and contact origins use the medium."""
    return {
        "interactions": db.session.scalar(
            select(func.count()).select_from(Interaction).where(Interaction.medium_id == medium.id)
        )
        or 0,
        "channels": db.session.scalar(
            select(func.count())
            .select_from(ContactChannel)
            .where(ContactChannel.medium_id == medium.id)
        )
        or 0,
        "origins": db.session.scalar(
            select(func.count()).select_from(Contact).where(Contact.origin_medium_id == medium.id)
        )
        or 0,
    }


class HandlesDoNotFit(ValueError):
    """Handles on the medium are not valid on the one they would move to."""

    def __init__(self, target: Medium, misfits: list[tuple[str, str, str]]):
        super().__init__(f"{len(misfits)} handles do not fit {target.name}")
        self.target = target
        self.misfits = misfits  # (contact name, handle, why)


def delete_medium(user: User, medium: Medium, move_to: Medium | None) -> None:
    """Delete the user's medium, first moving everything that uses it to move_to. Its
    handles are checked and normalised as handles on move_to (a Signal number moved to
    Phone becomes E.164); HandlesDoNotFit, before anything changes, names those that are
    not valid there."""
    counts = usage(medium)
    if any(counts.values()):
        if move_to is None or move_to.id == medium.id:
            raise ValueError("a medium in use needs somewhere for its interactions to go")
        moving = _handles_on(move_to, list(db.session.scalars(
            select(ContactChannel).where(ContactChannel.medium_id == medium.id))))
        db.session.execute(
            update(Interaction)
            .where(Interaction.medium_id == medium.id, Interaction.owner_id == user.id)
            .values(medium_id=move_to.id)
        )
        # A contact may already have the same handle on the target medium (or get it from
        # an earlier handle of this move): keep that one and drop the duplicate rather than
        # break the unique key. What the target holds is read once for every contact.
        # Handles compare by handle_key, as a handle added by hand is checked; the one
        # kept takes the dropped one's label if it has none.
        taken = {(kept.contact_id, handle_key(kept.value)): kept for kept in db.session.scalars(
            select(ContactChannel).where(
                ContactChannel.medium_id == move_to.id,
                ContactChannel.contact_id.in_({channel.contact_id for channel, _ in moving}),
            )
        )} if moving else {}
        for channel, value in moving:
            kept = taken.get((channel.contact_id, handle_key(value)))
            if kept is not None:
                keep_label(kept, channel)
                db.session.delete(channel)
            else:
                channel.medium_id, channel.value = move_to.id, value
                taken[(channel.contact_id, handle_key(value))] = channel
        db.session.execute(
            update(Contact)
            .where(Contact.origin_medium_id == medium.id, Contact.owner_id == user.id)
            .values(origin_medium_id=move_to.id)
        )
    db.session.delete(medium)
    db.session.flush()
    from crm.insights.cache import mark_changed

    mark_changed([user.id])  # interactions and origins moved with bulk statements


def _handles_on(target: Medium, channels: list[ContactChannel]
                ) -> list[tuple[ContactChannel, str]]:
    """Each channel with its handle as stored on target; HandlesDoNotFit if any is not
    valid there."""
    from flask import current_app

    from crm.contacts.channels import ChannelError, normalise_channel

    region = current_app.config.get("PHONE_DEFAULT_REGION")
    moving, misfits = [], []
    for channel in channels:
        try:
            moving.append((channel, normalise_channel(target, channel.value,
                                                      phone_region=region)))
        except ChannelError as exc:
            misfits.append((channel.contact.name, channel.value, str(exc)))
    if misfits:
        raise HandlesDoNotFit(target, misfits)
    return moving


def ensure_builtin_mediums() -> None:
    """Insert any missing built-in medium (the migration does this; tests call it)."""
    present = set(db.session.scalars(select(Medium.key).where(Medium.owner_id.is_(None))))
    for key, name in BUILTIN_MEDIUMS.items():
        if key not in present:
            db.session.add(Medium(key=key, name=name, owner_id=None))
    db.session.flush()
