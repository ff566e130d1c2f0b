"""Coach links and what a coach may read. Every coach read goes through
`active_link_or_404`, checked on each request, and shows only shared data."""

from __future__ import annotations

import secrets

from flask import abort
from sqlalchemy import exists, select
from sqlalchemy.orm import joinedload, selectinload

from crm.api.tokens import hash_token
from crm.auth.services import normalise_email
from crm.contacts.services import name_or_company_contains
from crm.database import writing_request
from crm.extensions import db
from crm.interactions.services import newest_interaction, with_contact
from crm.models import (
    CoachingNote,
    CoachLink,
    CoachLinkStatus,
    Contact,
    Interaction,
    User,
    interaction_participants,
    utcnow,
)

OPEN = (CoachLinkStatus.INVITED, CoachLinkStatus.ACTIVE)


def _client_active():
    """The link's client is not deactivated. A deactivated client shares nothing while it
    is (`crm users deactivate`): their coaches see them as after the client ended coaching,
    and an invitation they sent cannot be answered; all of it comes back on activation.
    A condition on the link's own statement (a subquery, so a link read under its row lock
    does not lock the client's row too), never a statement of its own."""
    return exists().where(User.id == CoachLink.client_id, User.is_active_account.is_(True))


class CoachingError(Exception):
    """The request does not make sense in the link's current state; the message says why."""


# -- the client's side ---------------------------------------------------------------


def links_for_client(client: User) -> list[CoachLink]:
    """The client's coach links, newest first (ended ones too, as history)."""
    return list(
        db.session.scalars(
            select(CoachLink)
            .where(CoachLink.client_id == client.id)
            .order_by(CoachLink.invited_at.desc(), CoachLink.id.desc())
            .options(joinedload(CoachLink.coach))
        )
    )


def invite_coach(client: User, email: str, *, share_notes: bool = False
                 ) -> tuple[CoachLink, str]:
    """Invite a coach: the invitation and the secret of its link (shown once), which the
    client sends the coach; whoever opens it, logged in, may accept. The address is the
    client's note of whom they invited; it is never looked up (that would tell who uses
    Rapport) and never accepts anything by itself."""
    email = normalise_email(email)
    if email == client.email:
        raise CoachingError("You cannot be your own coach.")
    existing = db.session.scalar(
        select(CoachLink).where(
            CoachLink.client_id == client.id,
            CoachLink.coach_email == email,
            CoachLink.status.in_(OPEN),
        )
    )
    if existing is not None:
        raise CoachingError("You have already invited this coach.")
    link = CoachLink(
        client_id=client.id,
        coach_id=None,
        coach_email=email,
        status=CoachLinkStatus.INVITED,
        share_notes=share_notes,
        invited_at=utcnow(),
    )
    db.session.add(link)
    return link, new_invitation_link(link)


def new_invitation_link(link: CoachLink) -> str:
    """A new secret for an open invitation's link (the old link stops working)."""
    if link.status != CoachLinkStatus.INVITED:
        raise CoachingError("Only an open invitation has a link.")
    token = secrets.token_urlsafe(32)
    link.invite_token_hash = hash_token(token)
    db.session.flush()
    return token


def _for_change(query):
    """A link a request is about to change is read under its row lock: the coach accepting
    and the client revoking at once take turns, and the second sees the first's answer
    (a client and a coach are two users, so their own locks do not order them)."""
    if writing_request():
        return query.with_for_update().execution_options(populate_existing=True)
    return query


def client_link_or_404(client: User, link_id: int) -> CoachLink:
    """One of the client's links, or 404."""
    link = db.session.scalar(_for_change(
        select(CoachLink).where(CoachLink.id == link_id, CoachLink.client_id == client.id)
    ))
    if link is None:
        abort(404)
    return link


def revoke(link: CoachLink) -> None:
    """End the coach's access; it takes effect on their next request."""
    if link.status not in OPEN:
        raise CoachingError("This link has already ended.")
    link.status = CoachLinkStatus.REVOKED
    link.revoked_at = utcnow()
    link.invite_token_hash = None  # an invitation's link stops working too
    db.session.flush()


def set_share_notes(link: CoachLink, share: bool) -> None:
    """Choose whether the coach sees notes on contacts and interactions."""
    if link.status not in OPEN:
        raise CoachingError("This link has ended.")
    link.share_notes = share
    db.session.flush()


def _notes_to(client: User):
    return (
        select(CoachingNote)
        .where(CoachingNote.client_id == client.id)
        .order_by(CoachingNote.created_at.desc(), CoachingNote.id.desc())
        .options(joinedload(CoachingNote.coach))
    )


def _coaching_now(client_id, coach_id):
    """Whether the coach has an active link with the client. Notes belong to the pair, not
    to one link: a coach revoked and invited again still wrote the earlier ones."""
    return exists().where(
        CoachLink.client_id == client_id,
        CoachLink.coach_id == coach_id,
        CoachLink.status == CoachLinkStatus.ACTIVE,
    )


def notes_for_client(client: User, *, limit: int = 5) -> list[CoachingNote]:
    """The newest coaching notes from coaches the client still shares with (the dashboard's
    few), newest first."""
    return list(db.session.scalars(
        _notes_to(client)
        .where(_coaching_now(CoachingNote.client_id, CoachingNote.coach_id))
        .limit(limit)))


def all_notes_for_client(client: User, *, page: int, per_page: int):
    """Every note the client's coaches wrote them, newest first, a page at a time: the
    client keeps them when a coaching relationship ends."""
    return db.paginate(_notes_to(client), page=page, per_page=per_page, error_out=False)


def coaches_of(client: User) -> set[int]:
    """The ids of the coaches the client shares with now (an active link)."""
    return set(db.session.scalars(
        select(CoachLink.coach_id).where(
            CoachLink.client_id == client.id,
            CoachLink.status == CoachLinkStatus.ACTIVE,
            CoachLink.coach_id.is_not(None),
        )
    ))


# -- the coach's side ------------------------------------------------------------------


def invitation_by_link_or_404(token: str) -> CoachLink:
    """The open invitation an invitation link names, or 404 (a wrong, used or replaced
    link, or one from a client deactivated since). The link, which the client sent their
    coach, is the only way to an invitation: Rapport does not verify email addresses, so
    holding the invited address in Rapport proves nothing."""
    link = db.session.scalar(_for_change(
        select(CoachLink).where(
            CoachLink.invite_token_hash == hash_token(token[:200]),
            CoachLink.status == CoachLinkStatus.INVITED,
            _client_active(),
        )
    ))
    if link is None:
        abort(404)
    return link


def _answering(coach: User, link: CoachLink) -> None:
    if link.client_id == coach.id:
        raise CoachingError("This is your own invitation: send the link to your coach.")


def accept(coach: User, link: CoachLink) -> None:
    """Start coaching this client; the link is used up."""
    _answering(coach, link)
    already = db.session.scalar(select(CoachLink.id).where(
        CoachLink.client_id == link.client_id, CoachLink.coach_id == coach.id,
        CoachLink.status == CoachLinkStatus.ACTIVE))
    if already is not None:
        raise CoachingError(f"You already coach {link.client.name}.")
    link.coach_id = coach.id
    link.status = CoachLinkStatus.ACTIVE
    link.responded_at = utcnow()
    link.invite_token_hash = None
    db.session.flush()


def decline(coach: User, link: CoachLink) -> None:
    """Turn the invitation down; the link is used up."""
    _answering(coach, link)
    link.coach_id = coach.id
    link.status = CoachLinkStatus.DECLINED
    link.responded_at = utcnow()
    link.invite_token_hash = None
    db.session.flush()


def active_links_for_coach(coach: User, *, page: int = 1, per_page: int = 10):
    """A page of the clients currently sharing with this coach, longest-standing first
    (a deactivated client is not sharing)."""
    return db.paginate(
        select(CoachLink)
        .where(CoachLink.coach_id == coach.id, CoachLink.status == CoachLinkStatus.ACTIVE,
               _client_active())
        .order_by(CoachLink.responded_at, CoachLink.id)
        .options(joinedload(CoachLink.client)),
        page=page, per_page=per_page, error_out=False, max_per_page=100,
    )


def _link(coach: User, client_id: int, status: CoachLinkStatus, *conditions
          ) -> CoachLink | None:
    """The coach's latest link to this client in this status, the client loaded."""
    return db.session.scalar(
        select(CoachLink)
        .where(
            CoachLink.coach_id == coach.id,
            CoachLink.client_id == client_id,
            CoachLink.status == status,
            *conditions,
        )
        .order_by(CoachLink.id.desc())
        .limit(1)
        .options(joinedload(CoachLink.client))
    )


def active_link(coach: User, client_id: int) -> CoachLink | None:
    """The coach's active link to this client, now, or None (also while the client is
    deactivated: they share nothing then)."""
    return _link(coach, client_id, CoachLinkStatus.ACTIVE, _client_active())


def active_link_or_404(coach: User, client_id: int) -> CoachLink:
    """The scoping check of every coach view: an active link, now, or 404."""
    link = active_link(coach, client_id)
    if link is None:
        abort(404)
    return link


def suspended_link(coach: User, client_id: int) -> CoachLink | None:
    """The coach's active link to this client while the client is deactivated, or None:
    it tells a coach why a note was not saved."""
    link = _link(coach, client_id, CoachLinkStatus.ACTIVE)
    return link if link is not None and not link.client.is_active else None


def ended_link_or_404(coach: User, client_id: int) -> CoachLink:
    """The coach's link to this client that the client ended, or 404: it tells a coach
    whose client revoked access what became of their request, and a coach who never had
    this client nothing."""
    link = _link(coach, client_id, CoachLinkStatus.REVOKED)
    if link is None:
        abort(404)
    return link


def shared_contacts(link: CoachLink):
    """The scoping query for a coach: the client's contacts that are not private."""
    return select(Contact).where(
        Contact.owner_id == link.client_id,
        Contact.is_private.is_(False),
        Contact.archived_at.is_(None),
    )


def list_shared_contacts(link: CoachLink, *, q: str = "", page: int = 1, per_page: int = 25):
    """A page of the client's shared contacts, by name."""
    query = shared_contacts(link)
    if q.strip():
        query = query.where(name_or_company_contains(q))
    query = query.order_by(Contact.sort_name, Contact.id).options(
        selectinload(Contact.tags))
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def last_shared_interactions(contact_ids: list[int]) -> dict[int, Interaction]:
    """Each contact's latest interaction that is not private (with its medium), by contact
    id, in one query. A coach never sees contacts.last_interaction: it counts private
    interactions too, and would show their medium and date."""
    if not contact_ids:
        return {}
    latest = newest_interaction(interaction_participants.c.interaction_id, shared_only=True)
    rows = db.session.execute(
        select(Contact.id, Interaction)
        .join(Interaction, Interaction.id == latest)
        .where(Contact.id.in_(contact_ids))
        .options(joinedload(Interaction.medium))
    )
    return {contact_id: interaction for contact_id, interaction in rows}


def shared_contact_or_404(link: CoachLink, contact_id: int) -> Contact:
    """One shared contact of the client, or 404 (private contacts do not exist for a coach)."""
    contact = db.session.scalar(
        shared_contacts(link)
        .where(Contact.id == contact_id)
        .options(joinedload(Contact.introduced_by), selectinload(Contact.tags))
    )
    if contact is None:
        abort(404)
    return contact


def shared_timeline(link: CoachLink, contact: Contact, *, page: int = 1, per_page: int = 50):
    """The contact's interactions the client shares: never private ones."""
    query = with_contact(
        select(Interaction).where(
            Interaction.owner_id == link.client_id, Interaction.is_private.is_(False)
        ),
        contact.id,
    ).options(joinedload(Interaction.medium), selectinload(Interaction.participants))
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def add_note(coach: User, link: CoachLink, body: str) -> CoachingNote:
    """Write a coaching note the client sees on their dashboard."""
    note = CoachingNote(link_id=link.id, coach_id=coach.id, client_id=link.client_id,
                        body=body.strip(), created_at=utcnow())
    db.session.add(note)
    db.session.flush()
    return note


def notes_by_coach(link: CoachLink, *, limit: int = 20) -> list[CoachingNote]:
    """Notes this link's coach has written for the client, under this link or an earlier
    one between the two."""
    return list(
        db.session.scalars(
            select(CoachingNote)
            .where(CoachingNote.client_id == link.client_id,
                   CoachingNote.coach_id == link.coach_id)
            .order_by(CoachingNote.created_at.desc(), CoachingNote.id.desc())
            .limit(limit)
        )
    )
