"""Choosing people in a form (an interaction's participants, who introduced a contact,
whom a reminder is about) without writing the whole network into the page.

A picker lists the people already chosen, then up to SUGGESTIONS others: the people
most recently in touch, or, once a term is typed, the people it finds (as the contact
search does: name, company, tag or handle, accents aside). Its cost is the same at
fifty contacts as at five thousand: a form used to list every contact, 479 KB and
30-40 ms at 5,000.

With app.js, typing asks /contacts/choices for the matches. Without it, the picker's
"Find" button sends the form back and it returns with the matches, nothing entered lost:
`finding()` tells a view that the form was sent to find people, not to be saved.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask import request
from sqlalchemy import Row

from crm.contacts.services import (
    active_contact_count,
    contacts_for,
    get_contacts,
    searched_contacts,
)
from crm.extensions import db
from crm.models import Contact, User
from crm.params import is_record_id, record_id

SUGGESTIONS = 30
TERM_MAX = 100  # as the contact list's search box
FIND = "find"  # the name of a picker's "Find" button
SAVE = "save"  # the name of the visible button that saves a form with a picker


@dataclass(frozen=True)
class Picker:
    """What a picker shows: (id, label) per person, the chosen ones first."""

    choices: list[tuple[int, str]]
    term: str
    found: int  # of the choices, those suggested or found (not chosen or kept)
    more: bool  # more people match (or exist) than are listed
    total: int  # the user's active contacts
    checked: frozenset[int] = frozenset()  # the chosen, each one the user may choose
    kept: frozenset[int] = frozenset()  # listed whether chosen or not (a search keeps them)

    @property
    def searchable(self) -> bool:
        """Whether the picker has a search box: not for a handful of people."""
        return bool(self.term) or self.total > 8

    @property
    def status(self) -> str:
        """What the picker says under its list."""
        return status_text(self.term, self.found, more=self.more, total=self.total)


def status_text(term: str, found: int, *, more: bool, total: int) -> str:
    """What a picker says under the people it lists, on the page and after a live search
    (/contacts/choices sends it to app.js)."""
    if term:
        if not found:
            return f"Nobody found for “{term}”."
        people = "1 person found" if found == 1 else f"{found} people found"
        return people + (" (the first ones: type more to narrow it)." if more else ".")
    if more:
        return (f"The {found} people most recently in touch, of {total:,}. "
                "Type to find anyone else.")
    return ""


def label(contact) -> str:
    """How a picker names a person: with their company, which tells two namesakes apart."""
    return f"{contact.name} ({contact.company})" if contact.company else contact.name


def finding() -> bool:
    """Whether this request sent a form to find people rather than to save it: its Find
    button, or Enter (the form's hidden default button, which has no name) after a term
    was typed into a picker and not yet searched for. The form's visible save button
    (name SAVE) always saves; Enter anywhere else, with every term as searched, saves."""
    if request.method != "POST":
        return False
    form = request.form
    if FIND in form:
        return True
    if SAVE in form:
        return False
    return any(name.endswith("_q") and form[name].strip() != form.get(f"{name}_shown", "").strip()
               for name in form)


def chosen_ids(field) -> list:
    """The ids a picker's field holds: as sent (each id a row can have, any other value
    left out) or as the form was filled to be shown (a stale edit's field left as opened
    is shown as stored now: crm.forms.EditForm)."""
    if request.method == "POST" and not getattr(field, "shown_as_stored", False):
        return submitted(field.name)
    data = field.data
    return list(data or ()) if isinstance(data, list | tuple) else [data]


def term_for(field_name: str) -> str:
    """The term typed into a picker's search box, when the form was sent back."""
    if request.method != "POST":
        return ""
    return request.form.get(f"{field_name}_q", "").replace("\x00", "").strip()[:TERM_MAX]


def submitted(field_name: str, *, limit: int = 500) -> list[int]:
    """The record ids a form sent for a picker (others are left for validation to refuse)."""
    ids = []
    for raw in request.form.getlist(field_name)[:limit]:
        try:
            ids.append(record_id(raw))
        except ValueError:
            continue
    return ids


def choosable(user: User, ids: Iterable[int], *, keep: Iterable[Contact] = (),
              exclude_id: int | None = None) -> list[Contact]:
    """Of these ids, the user's contacts a picker may have chosen, by name: active ones,
    archived ones only among `keep` (an edited record's own). Others' ids are absent.
    What a submitted picker is validated against: one query, never the whole network."""
    kept = {c.id for c in keep}
    return [c for c in get_contacts(user, [i for i in ids if i != exclude_id])
            if not c.is_archived or c.id in kept]


def joined(names: list[str]) -> str:
    """Names as a sentence says them: "Ada", "Ada and Bob", "Ada, Bob and Chen"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def refusal(user: User, ids: Iterable, choices, generic: str) -> str | None:
    """Why a picker's submission names people it may not choose, or None when every id is
    among its choices: who is archived (restore them or choose someone else), that someone
    chosen was deleted since the form was shown (any id that is not one of the user's
    contacts: an id of someone else's is told apart from a deleted one by nothing), else
    `generic`. Only a refusal pays for the query."""
    allowed = {c[0] for c in choices}
    missing = [i for i in dict.fromkeys(ids) if i is not None and i not in allowed]
    if not missing:
        return None
    rows = [i for i in missing if isinstance(i, int) and is_record_id(i)]
    own = get_contacts(user, rows)
    archived = [c.name for c in own if c.is_archived]
    if archived:
        return (f"{joined(archived)} {'is' if len(archived) == 1 else 'are'} archived: "
                "restore them or choose someone else.")
    if len(own) < len(rows):
        return "A person you chose was deleted since you opened the form: choose someone else."
    return generic


def submitted_one(user: User, field_name: str, *, keep: Contact | None = None,
                  exclude_id: int | None = None) -> list[tuple[int | None, str]]:
    """A one-person picker's choices to validate a submission against: none, and the
    contact sent if it may be chosen (`keep`, the record's own, even when archived)."""
    found = choosable(user, submitted(field_name, limit=1),
                      keep=[keep] if keep is not None else (), exclude_id=exclude_id)
    return [(None, ""), *((c.id, c.name) for c in found)]


def suggestions(user: User, term: str = "", *, exclude: Iterable[int] = (),
                limit: int = SUGGESTIONS) -> tuple[list[Row], bool]:
    """Up to `limit` active contacts (id, name, company, sort_name) and whether there are
    more, by name: those the term finds, or without a term those most recently in touch
    (the contact list's "last interaction" order, and its index). One query."""
    excluded = [i for i in exclude if i is not None]
    if term.strip():
        query = searched_contacts(user, term).order_by(Contact.sort_name, Contact.id)
    else:
        query = contacts_for(user).order_by(
            Contact.last_interaction_at.desc().nulls_last(), Contact.id.desc())
    query = query.where(Contact.archived_at.is_(None))
    if excluded:
        query = query.where(Contact.id.not_in(excluded))
    # Only what a picker shows: no Contact is built for a suggestion.
    query = query.with_only_columns(Contact.id, Contact.name, Contact.company, Contact.sort_name)
    found = list(db.session.execute(query.limit(limit + 1)))
    return sorted(found[:limit], key=lambda c: (c.sort_name, c.id)), len(found) > limit


def picker(user: User, *, chosen: Iterable[int] = (), term: str = "",
           exclude_id: int | None = None, keep: Iterable[Contact] = ()) -> Picker:
    """The picker for a form: the chosen people that may be chosen (see choosable), the
    `keep` contacts even when not chosen (an edited interaction's archived participants),
    then suggestions, by name. Two queries, and the count of the network once per version
    of it."""
    ids = [i for i in dict.fromkeys(chosen) if isinstance(i, int) and is_record_id(i)]
    listed = {c.id: c for c in choosable(user, ids, keep=keep, exclude_id=exclude_id)}
    checked = frozenset(listed)
    for contact in keep:
        if contact.id != exclude_id:
            listed.setdefault(contact.id, contact)
    found, more = suggestions(user, term, exclude=[*listed, exclude_id])
    choices = [(c.id, label(c)) for c in [*listed.values(), *found]]
    return Picker(choices=choices, term=term, found=len(found), more=more,
                  total=active_contact_count(user), checked=checked,
                  kept=frozenset(c.id for c in keep if c.id != exclude_id))
